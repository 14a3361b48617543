"""The verdict rule: each check's gap between arms against the noise of that gap.

For a check ``metric(better) < metric(worse)`` the gap is ``mean(worse) − mean(better)`` over seeds; for a
check of size, "``factor`` times better", it is ``mean(worse) − factor × mean(better)``. Each arm's
noise is a standard error: the spread between its seeds ÷ √seeds when there are at least two, never less than
the sampling noise of the metric itself (an error rate on n images: √(p(1−p)/n); a training time: the spread
between its epochs) ÷ √seeds. The check **holds** if gap ≥ Z × √(noise_better² + noise_worse²), **does not
hold** if gap ≤ −Z × that, and is **inconclusive** in between. The claim holds if every check holds, does not
hold if any check does not, and is inconclusive otherwise.

With one seed the rule can only set the gap against the sampling noise of the test set (or the timer): it
cannot tell a real difference from a lucky initialisation, so a "holds" from one seed says the gap is larger
than the test set's own noise, not that it would survive another seed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from convzoo.repro.results import Measure
from convzoo.repro.spec import Check

__all__ = [
    "HOLDS",
    "INCONCLUSIVE",
    "NOT_EVALUATED",
    "NOT_HOLDS",
    "AT_CHANCE",
    "Z",
    "CheckOutcome",
    "arm_stats",
    "judge",
    "verdict",
]

Z = 2.0
AT_CHANCE = 2.0  # points of training error below chance within which an arm "never left chance"
HOLDS, NOT_HOLDS, INCONCLUSIVE, NOT_EVALUATED = "holds", "does not hold", "inconclusive", "not evaluated"

RULE = (
    f"each check holds when the gap between its arms is at least {Z:g}× the noise of that gap (seed spread ÷ "
    "√seeds with ≥ 2 seeds, never below the metric's sampling noise), does not hold when it is reversed by as "
    "much, and is inconclusive otherwise; a check with an arm that never left chance (final training error "
    f"within {AT_CHANCE:g} points of chance) is inconclusive, since it measures a net that did not start to "
    "learn; the claim holds when every check holds and does not hold when any check does not"
)
ONE_SEED = (
    "one seed: the gaps are set against the sampling noise of the test set (or timer) only; seed-to-seed "
    "variation is not measured, so a verdict here would need more seeds to rule out a lucky initialisation"
)


@dataclass(frozen=True)
class ArmStats:
    mean: float
    se: float
    seeds: int
    values: tuple[float, ...]


def arm_stats(measures: Sequence[Measure]) -> ArmStats:
    """Mean over seeds and its standard error (seed spread ÷ √n, at least the sampling noise ÷ √n)."""
    if not measures:
        raise ValueError("no runs to summarize")
    n = len(measures)
    values = tuple(m.value for m in measures)
    mean = sum(values) / n
    sampling = math.sqrt(sum(m.noise**2 for m in measures) / n) / math.sqrt(n)
    seed_se = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) / math.sqrt(n) if n > 1 else 0.0
    return ArmStats(mean, max(seed_se, sampling), n, values)


@dataclass(frozen=True)
class CheckOutcome:
    check: Check
    outcome: str
    gap: float | None = None
    threshold: float | None = None
    better: ArmStats | None = None
    worse: ArmStats | None = None
    why: str = ""  # set where the rule's outcome was overridden (an arm at chance)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["check"] = asdict(self.check)
        return d


def judge(check: Check, better: ArmStats, worse: ArmStats) -> CheckOutcome:
    """``worse − factor × better`` against Z times its noise (``factor`` 1: the plain gap)."""
    f = check.factor
    gap = worse.mean - f * better.mean
    threshold = Z * math.sqrt((f * better.se) ** 2 + worse.se**2)
    if gap >= threshold and gap > 0:
        outcome = HOLDS
    elif gap <= -threshold and gap < 0:
        outcome = NOT_HOLDS
    else:
        outcome = INCONCLUSIVE
    return CheckOutcome(check, outcome, gap, threshold, better, worse)


def verdict(outcomes: Sequence[CheckOutcome], evaluated: bool = True) -> str:
    """The claim's verdict from its checks' outcomes (``evaluated=False``: the smoke budget)."""
    if not evaluated or not outcomes:
        return NOT_EVALUATED
    kinds = {o.outcome for o in outcomes}
    if NOT_HOLDS in kinds:
        return NOT_HOLDS
    if kinds == {HOLDS}:
        return HOLDS
    return INCONCLUSIVE


def judge_all(
    checks: Sequence[Check],
    stats: Mapping[tuple[str, str], ArmStats],
    at_chance: frozenset[str] = frozenset(),
) -> list[CheckOutcome]:
    """Every check whose two arms were measured (``stats[(arm, metric)]``); the others are left out. A check
    with an arm in ``at_chance`` (it never started to learn) is inconclusive whatever its gap."""
    out = []
    for c in checks:
        if (c.better, c.metric) not in stats or (c.worse, c.metric) not in stats:
            continue
        o = judge(c, stats[(c.better, c.metric)], stats[(c.worse, c.metric)])
        dead = [a for a in (c.better, c.worse) if a in at_chance]
        if dead:
            o = replace(
                o, outcome=INCONCLUSIVE, why=f"{' and '.join(dead)} at chance; gap alone: {o.outcome}"
            )
        out.append(o)
    return out
