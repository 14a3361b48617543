"""The verdict rules: each check of a claim ends as one outcome, and the claim's headline counts them.

A check says ``metric(better) < metric(worse)`` (or, with ``factor``, that the worse arm's metric is at least
``factor`` times the better's). Its outcome is one of:

- **holds**: the gap is in the paper's direction by at least the critical value × its noise;
- **contradicted**: reversed by as much, with both arms converged;
- **not reached**: an arm has not converged (its training error still falling by more than :data:`PLATEAU`
  points over the last tenth of its run — or over the tenth before its rate fell under :data:`LIVE_RATE` of its
  peak, so that a rate decayed to nothing cannot pass for a plateau — or at chance), so the budget cannot speak
  to a claim about trained
  nets — unless the check is about early training (``epochs_to_25``, training time) or states something the
  paper shows at every point of training (``Check.early``);
- **below resolution**: the paper's own gap is smaller than the smallest gap this budget's test set and seeds
  can resolve (:func:`~convzoo.repro.stats.min_detectable_gap`), decided from the spec before any run;
- **inconclusive**: converged, resolvable, and the gap is within the noise.

Test errors are compared *paired* on the same images (:func:`~convzoo.repro.stats.paired_gap`); the seeds'
spread of the gap is added to the test set's noise, never divided into it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from convzoo.repro.results import ArmResult, Measure, measure
from convzoo.repro.spec import Budget, Check, Claim
from convzoo.repro.stats import CONFIDENCE, critical, final_slope, min_detectable_gap, paired_gap, unpack_bits

__all__ = [
    "AT_CHANCE",
    "LIVE_RATE",
    "BELOW_RESOLUTION",
    "CONTRADICTED",
    "HOLDS",
    "INCONCLUSIVE",
    "NOT_EVALUATED",
    "NOT_REACHED",
    "PLATEAU",
    "RULE_REVISIONS",
    "SEED_SD",
    "ArmStats",
    "CheckOutcome",
    "arm_stats",
    "converged",
    "headline",
    "judge_check",
    "power",
    "rules",
    "verdict",
]

AT_CHANCE = 10.0  # points of training error below chance within which an arm has barely started to learn
PLATEAU = 0.5  # points of training error an arm may still lose over the last tenth of its run and be converged
SLOPE_FRACTION = 0.1  # the final part of the run whose slope decides convergence
LIVE_RATE = 0.1  # a plateau counts where the rate was at least this share of its peak: one that could still move it
SEED_SD = 0.2  # points: the seed-to-seed sd of a gap the power table assumes (CIFAR ResNets' typical spread)
EARLY_METRICS = ("epochs_to_25", "train_s")  # metrics about how training starts or runs, not where it ends

HOLDS, CONTRADICTED, NOT_REACHED = "holds", "contradicted", "not reached"
BELOW_RESOLUTION, INCONCLUSIVE, NOT_EVALUATED = "below resolution", "inconclusive", "not evaluated"
OUTCOMES = (HOLDS, CONTRADICTED, NOT_REACHED, BELOW_RESOLUTION, INCONCLUSIVE)

RULE = (
    "each check compares two arms trained alike except for what the claim is about. Test errors are compared "
    f"image by image on the same test set (a paired test; McNemar's with one seed), the seeds' spread of the gap "
    f"added to the test set's noise; the check holds when the gap is in the paper's direction by at least the "
    f"{100 * CONFIDENCE:g}% two-sided critical value (Student's t with Welch–Satterthwaite degrees of freedom) "
    f"times that noise, and is contradicted when reversed by as much with both arms converged. An arm has "
    f"converged when its training error fell by at most {PLATEAU:g} points over the last tenth of its run "
    f"(slope × that length) — and over the tenth of the run before its learning rate fell under "
    f"{LIVE_RATE:g} × its peak, where it did: a plateau at a rate decayed to nothing is no plateau — and ended "
    f"more than {AT_CHANCE:g} points below chance; a check with an arm that has "
    "not is *not reached*, since the budget cannot speak to trained nets — except a check about how training "
    "starts (early training, training time), which needs only its better arm to have left chance. "
    "A check whose paper gap is smaller than the budget's smallest resolvable gap (the power table, from the "
    f"test set's size, the seeds and a seed sd of {SEED_SD:g} points, fixed before any run) is *below "
    "resolution*; a converged, resolvable check within the noise is inconclusive"
)


# revisions of the rules made after results were seen (when, what, why); every page re-judges its arms' recorded
# curves under the rules in force and lists these where its arms ran under older ones. A rule changes no arm's
# training, so no arm is re-trained for one: a re-run would replay the same curves.
RULE_REVISIONS = (
    (
        4,
        "2026-12-07",
        "a check about how training starts (early training, training time) needs only its better arm to have "
        "left chance",
        "seen on the demo's plain-56 at 85% on digits: a worse arm stuck at chance is the effect at its strongest; "
        "no published outcome changed",
    ),
    (
        5,
        "2026-12-07",
        f"convergence is also judged over the tenth of the run before the learning rate fell under {LIVE_RATE:g} "
        "× its peak, the larger fall counting",
        "seen on gap_vs_fc's long page: both heads were called converged (flat over the last tenth) while they "
        "still fell 1.9–3.3 points per tenth of the run before the rate was cut, because the last tenth ran at "
        "1/1000 of the peak rate; its check turned from contradicted to not reached, and no other published "
        "outcome changed",
    ),
)


def rules() -> dict[str, Any]:
    """The rules' constants, part of every spec hash."""
    return {
        "confidence": CONFIDENCE,
        "plateau": PLATEAU,
        "slope_fraction": SLOPE_FRACTION,
        "live_rate": LIVE_RATE,
        "at_chance": AT_CHANCE,
        "seed_sd": SEED_SD,
        "early_metrics": list(EARLY_METRICS),
        "version": 5,
    }


@dataclass(frozen=True)
class ArmStats:
    mean: float
    se: float
    seeds: int
    values: tuple[float, ...]


def arm_stats(measures: Sequence[Measure]) -> ArmStats:
    """Mean over seeds and its standard error: the seeds' spread ÷ √n combined with the sampling noise, which
    is divided by √n only when each seed was scored on data of its own (not a shared test set)."""
    if not measures:
        raise ValueError("no runs to summarize")
    n = len(measures)
    values = tuple(m.value for m in measures)
    mean = sum(values) / n
    sampling = math.sqrt(sum(m.noise**2 for m in measures) / n)
    if not all(m.shared for m in measures):
        sampling /= math.sqrt(n)
    seed_se = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) / math.sqrt(n) if n > 1 else 0.0
    return ArmStats(mean, math.hypot(seed_se, sampling), n, values)


def near_chance(train_err: float, classes: int) -> bool:
    """Whether a final training error (%) is within :data:`AT_CHANCE` points of chance for ``classes``."""
    return train_err >= 100 * (1 - 1 / max(classes, 2)) - AT_CHANCE


def at_chance(r: ArmResult) -> bool:
    err = next((row["train_err"] for row in reversed(r.rows) if "train_err" in row), None)
    classes = r.classes or 10  # results from before the count was recorded: CIFAR-10
    return err is not None and not r.diverged and near_chance(err, classes)


def converged(r: ArmResult) -> tuple[bool, float | None]:
    """(converged, the training error's fall over a tenth of the run, in points: at its end, or before its rate
    fell under :data:`LIVE_RATE` of its peak where it did, whichever is larger)."""
    if r.diverged:
        return True, None  # a failed run is final: the paper's "fails"
    pts = [(row["epoch"], row["train_err"]) for row in r.rows if "epoch" in row and "train_err" in row]
    if at_chance(r) or len(pts) < 3:
        return False, None
    falls = [_fall(pts, pts[-1][0]), _fall(_live(r.rows), pts[-1][0])]
    if falls[0] is None:
        return False, None
    fall = max(f for f in falls if f is not None)
    return fall <= PLATEAU, fall


def _live(rows: Sequence[Mapping[str, Any]]) -> list[tuple[float, float]]:
    """(epoch, training error) up to the last epoch whose rate was at least :data:`LIVE_RATE` of the run's peak;
    empty where the rate never fell under it (or was not logged): the run's end is then the only window."""
    pts = [(row["epoch"], row["train_err"], row["lr"]) for row in rows if {"epoch", "train_err", "lr"} <= row.keys()]
    if not pts:
        return []
    peak = max(lr for _, _, lr in pts)
    live = [i for i, (_, _, lr) in enumerate(pts) if lr >= LIVE_RATE * peak]
    if not live or live[-1] == len(pts) - 1:
        return []
    return [(e, v) for e, v, _ in pts[: live[-1] + 1]]


def _fall(pts: Sequence[tuple[float, float]], length: float) -> float | None:
    """The fall of the training error (points) over the stretch of ``length`` / 10 epochs ending at the last of
    ``pts``, from the least-squares slope (at least its last three points); None with fewer than three."""
    if len(pts) < 3:
        return None
    end = pts[-1][0]
    slope = final_slope([e for e, _ in pts], [v for _, v in pts], min(1.0, SLOPE_FRACTION * length / end))
    return None if slope is None else -slope * SLOPE_FRACTION * length


def _paper_value(claim: Claim, arm: str, metric: str) -> float | None:
    return next((p.value for p in claim.arm(arm).paper if p.metric == metric), None)


def power(claim: Claim, check: Check, budget: Budget, n_test: int, seeds: int) -> tuple[float | None, float | None]:
    """(the paper's gap, the smallest gap this budget resolves) for a test-error check; (None, None) where the
    paper prints no pair of figures or the metric is not a test error."""
    if check.metric not in ("test_err", "val_err"):
        return None, None
    b, w = (_paper_value(claim, a, check.metric) for a in (check.better, check.worse))
    if b is None or w is None:
        return None, None
    error = max(b, w, budget.error_floor)
    return w - check.factor * b, min_detectable_gap(n_test, error, seeds, SEED_SD)


@dataclass(frozen=True)
class CheckOutcome:
    check: Check
    outcome: str
    gap: float | None = None
    threshold: float | None = None
    better: ArmStats | None = None
    worse: ArmStats | None = None
    why: str = ""
    paired: bool = False
    se_test: float | None = None
    se_seed: float | None = None
    p_mcnemar: float | None = None
    paper_gap: float | None = None
    resolvable: float | None = None  # the smallest gap the budget resolves (power table)
    falls: Mapping[str, float | None] = field(default_factory=dict)  # arm → projected fall (convergence)
    unconverged: tuple[str, ...] = ()
    at_chance: tuple[str, ...] = ()  # arms whose every run ended within AT_CHANCE points of chance
    gap_alone: str = ""  # what the gap alone would say where the outcome is decided otherwise
    interleaved: bool = False  # a training-time check from interleaved step times: gap = saving in %

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["check"] = asdict(self.check)
        d["check"]["differs"] = dict(self.check.differs)
        d["falls"] = dict(self.falls)
        d["unconverged"] = list(self.unconverged)
        d["at_chance"] = list(self.at_chance)
        return d


def _gap(check: Check, better: list[ArmResult], worse: list[ArmResult]) -> dict[str, Any] | None:
    """The gap and its threshold: paired on per-image correctness where every run saved it, else unpaired."""
    if check.metric == "test_err" and all(r.correct for r in (*better, *worse)) and len(better) == len(worse):
        try:
            pb = [unpack_bits(r.correct, r.test_images) for r in sorted(better, key=lambda r: r.seed)]
            pw = [unpack_bits(r.correct, r.test_images) for r in sorted(worse, key=lambda r: r.seed)]
            g = paired_gap(pb, pw)
        except ValueError:
            g = None
        if g is not None:
            return {"gap": g.gap, "threshold": g.threshold, "paired": True, "se_test": g.se_test,
                    "se_seed": g.se_seed, "p_mcnemar": g.p_mcnemar}
    mb = [m for m in (measure(r, check.metric) for r in better) if m is not None]
    mw = [m for m in (measure(r, check.metric) for r in worse) if m is not None]
    if not mb or not mw:
        return None
    sb, sw = arm_stats(mb), arm_stats(mw)
    f = check.factor
    seeds = min(sb.seeds, sw.seeds)
    crit = critical(math.inf if seeds < 2 else seeds - 1)
    return {"gap": sw.mean - f * sb.mean, "threshold": crit * math.hypot(f * sb.se, sw.se), "paired": False}


def _saving(check: Check, timing: Mapping[str, Any]) -> dict[str, Any]:
    """A training-time check as the relative saving of the interleaved step times (factor 1: any saving)."""
    from convzoo.repro.timing import interleaved_saving

    s = interleaved_saving(timing["better"], timing["worse"])
    return {"gap": s["saving"], "threshold": s["critical"] * s["se"], "paired": True, "se_test": s["se"],
            "se_seed": 0.0, "interleaved": True}  # fmt: skip


def judge_check(
    claim: Claim,
    check: Check,
    budget: Budget,
    runs: Mapping[str, Sequence[ArmResult]],
    timing: Mapping[str, Any] | None = None,
) -> CheckOutcome | None:
    """The outcome of ``check`` from its arms' runs (None if an arm has none); a training-time check from its
    arms' interleaved step ``timing`` where measured (the saving in %, :mod:`convzoo.repro.timing`)."""
    better, worse = list(runs.get(check.better, ())), list(runs.get(check.worse, ()))
    if not better or not worse:
        return None
    g = _gap(check, better, worse) if timing is None else _saving(check, timing)
    stats = {}
    for name, rs in ((check.better, better), (check.worse, worse)):
        ms = [m for m in (measure(r, check.metric) for r in rs) if m is not None]
        stats[name] = arm_stats(ms) if ms else None
    falls: dict[str, float | None] = {}
    unconverged = []
    for r in (*better, *worse):
        ok, fall = converged(r)
        falls[f"{r.arm}-s{r.seed}"] = fall
        if not ok and r.arm not in unconverged:
            unconverged.append(r.arm)
    dead = tuple(name for name, rs in ((check.better, better), (check.worse, worse)) if all(at_chance(r) for r in rs))
    n_test = min(r.test_images for r in (*better, *worse))
    paper_gap, resolvable = power(claim, check, budget, n_test, min(len(better), len(worse)))
    base = CheckOutcome(
        check, INCONCLUSIVE, better=stats[check.better], worse=stats[check.worse], paper_gap=paper_gap,
        resolvable=resolvable, falls=falls, unconverged=tuple(unconverged), at_chance=dead,
    )
    if g is None:
        return CheckOutcome(**{**_fields(base), "outcome": NOT_REACHED, "why": "the metric was not recorded"})
    base = CheckOutcome(**{**_fields(base), **g})
    return _decide(base)


def _fields(o: CheckOutcome) -> dict[str, Any]:
    return {k: getattr(o, k) for k in o.__dataclass_fields__}


def _decide(o: CheckOutcome) -> CheckOutcome:
    gap, thr = o.gap or 0.0, o.threshold or 0.0
    alone = HOLDS if gap > 0 and gap >= thr else CONTRADICTED if gap < 0 and -gap >= thr else INCONCLUSIVE
    needs_trained = not o.check.early and o.check.metric not in EARLY_METRICS
    f = _fields(o)
    if o.check.metric in EARLY_METRICS:  # how training starts or how fast it runs: no convergence needed
        return CheckOutcome(**{**f, "outcome": alone})
    if o.resolvable is not None and o.paper_gap is not None and abs(o.paper_gap) < o.resolvable:
        why = f"the paper's gap {o.paper_gap:.2f} is under the {o.resolvable:.2f} points this budget resolves"
        if o.unconverged and needs_trained:
            why += f", and {_unconverged(o)}"
        return CheckOutcome(**{**f, "outcome": BELOW_RESOLUTION, "why": why, "gap_alone": _direction(alone)})
    # a check about trained nets needs both arms converged; one about how training starts or runs (``early``)
    # needs only the better arm to have left chance: a worse arm stuck at chance is the effect at its strongest
    if o.unconverged and (needs_trained or _dead(o, o.check.better)):
        why = _unconverged(o)
        return CheckOutcome(**{**f, "outcome": NOT_REACHED, "why": why, "gap_alone": _direction(alone)})
    return CheckOutcome(**{**f, "outcome": alone})


def _unconverged(o: CheckOutcome) -> str:
    """e.g. "allcnn still learning and model_c near chance at the end of the budget" (within AT_CHANCE points)."""
    learning = [a for a in o.unconverged if a not in o.at_chance]
    dead = [a for a in o.unconverged if a in o.at_chance]
    parts = [f"{' and '.join(learning)} still learning"] if learning else []
    parts += [f"{' and '.join(dead)} near chance"] if dead else []
    return f"{' and '.join(parts)} at the end of the budget"


def _direction(alone: str) -> str:
    """What the gap measured says by itself, where the outcome is decided otherwise: a direction, never a
    verdict (an arm still learning cannot contradict a claim about trained nets)."""
    return {HOLDS: "in the paper's direction beyond the noise", CONTRADICTED: "reversed beyond the noise"}.get(
        alone, "within the noise"
    )


def _dead(o: CheckOutcome, arm: str) -> bool:
    """Whether ``arm`` never left chance in any of its runs."""
    return arm in o.at_chance


def verdict(outcomes: Sequence[CheckOutcome], evaluated: bool = True) -> str:
    """holds (every check holds), contradicted (any check is), else undecided; not evaluated at smoke."""
    if not evaluated or not outcomes:
        return NOT_EVALUATED
    kinds = {o.outcome for o in outcomes}
    if CONTRADICTED in kinds:
        return CONTRADICTED
    return HOLDS if kinds == {HOLDS} else "undecided"


def headline(outcomes: Sequence[Mapping[str, Any] | CheckOutcome], budget: str) -> str:
    """e.g. "2 of 3 checks hold; 1 not reached at the cpu budget"."""
    kinds = [o["outcome"] if isinstance(o, Mapping) else o.outcome for o in outcomes]
    if not kinds:
        return f"no check evaluated at the {budget} budget"
    n = len(kinds)
    parts = [f"{kinds.count(HOLDS)} of {n} check{'s' if n > 1 else ''} hold{'s' if n == 1 else ''}"]
    parts += [f"{kinds.count(k)} {k}" for k in OUTCOMES[1:] if kinds.count(k)]
    return "; ".join(parts) + f" at the {budget} budget"
