"""Pre-registration: a budget's whole spec as canonical data with a hash, and equal treatment of a check's arms.

The spec of a claim at a budget is everything that decides what is trained and how it is judged: each arm's
model, overrides and fully resolved recipe, the budget's data, length, seeds and precision, the checks, and the
verdict's rules and thresholds. Its hash is recorded in every result; ``repro report --publish`` refuses results
whose hash differs from today's spec, and a finished arm is reused only while its own hash is unchanged.
Labels, notes and the paper's figures are not part of it: rewording a page does not re-run an arm.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from convzoo.repro.spec import Arm, Budget, Check, Claim

__all__ = ["UnequalArms", "arm_hash", "arm_spec", "check_equal_treatment", "spec_hash", "claim_spec"]

# recipe fields that only say where the recipe came from; they change nothing trained
_RECIPE_TEXT = ("name", "source", "summary", "note")
_BUDGET_TEXT = ("note",)


class UnequalArms(ValueError):
    """A check whose arms are trained differently in something the claim does not declare."""


def _digest(obj: Any) -> str:
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _budget_dict(b: Budget) -> dict[str, Any]:
    d = asdict(b)
    for k in _BUDGET_TEXT:
        d.pop(k)
    return d


def resolved_recipe(arm: Arm, budget: Budget) -> dict[str, Any]:
    """The arm's recipe after its own and the budget's changes, without its descriptive text."""
    from convzoo.repro.estimate import arm_recipe

    d = arm_recipe(arm, budget).to_dict()
    for k in _RECIPE_TEXT:
        d.pop(k, None)
    return d


def arm_spec(arm: Arm, budget: Budget) -> dict[str, Any]:
    """What one arm trains at ``budget``: model, overrides, resolved recipe, and the budget's data and length."""
    b = _budget_dict(budget)
    b.pop("arms")
    return {"model": arm.model, "overrides": dict(arm.overrides), "recipe": resolved_recipe(arm, budget), "budget": b}


def arm_hash(arm: Arm, budget: Budget) -> str:
    return _digest(arm_spec(arm, budget))


def claim_spec(claim: Claim, budget: Budget) -> dict[str, Any]:
    """The whole pre-registered spec of ``claim`` at ``budget``: arms, checks, rules."""
    from convzoo.repro import verdict

    return {
        "claim": claim.id,
        "budget": budget.name,
        "arms": {a.name: arm_hash(a, budget) for a in claim.arms_at(budget)},
        "checks": [{k: v for k, v in asdict(c).items() if k != "says"} for c in claim.checks_at(budget)],
        "selections": {k: list(claim.candidates(k, budget)) for k in claim.selections},
        "rules": verdict.rules(),
    }


def spec_hash(claim: Claim, budget: Budget) -> str:
    return _digest(claim_spec(claim, budget))


def _differences(a: Mapping[str, Any], b: Mapping[str, Any], prefix: str = "") -> list[str]:
    out = []
    for k in sorted(set(a) | set(b)):
        va, vb = a.get(k), b.get(k)
        if isinstance(va, Mapping) and isinstance(vb, Mapping) and k != "model_kwargs":
            out += _differences(va, vb, f"{prefix}{k}.")
        elif va != vb:
            out.append(f"{prefix}{k}")
    return out


def undeclared(check: Check, claim: Claim, budget: Budget) -> list[str]:
    """The training differences between ``check``'s arms at ``budget`` that the check does not declare."""
    a, b = (arm_spec(claim.arm(claim.candidates(n, budget)[0]), budget)["recipe"] for n in (check.better, check.worse))
    a.pop("model_kwargs", None), b.pop("model_kwargs", None)  # model arguments: what a claim may be about
    diffs = _differences(a, b)
    return [d for d in diffs if d.split(".")[0] not in check.differs and d not in check.differs]


def check_equal_treatment(claim: Claim) -> None:
    """Refuse a claim whose check compares arms trained unalike in anything it does not declare."""
    for name, budget in claim.budgets.items():
        for c in claim.checks_at(budget):
            bad = undeclared(c, claim, budget)
            if bad:
                raise UnequalArms(
                    f"claim {claim.id!r}, {name} budget: the arms of check {c.better} vs {c.worse} differ in "
                    f"{', '.join(bad)}, which the check does not declare (Check.differs); train them alike or "
                    "declare why they differ"
                )


def unpublishable(claim: Claim, budget: Budget, results: Mapping[str, Any]) -> list[str]:
    """Why a results.json may not be published under today's spec: runs trained under another arm spec (or
    none recorded), or an arm with no run. Empty when every run matches."""
    problems = []
    for arm in claim.arms_at(budget):
        want = arm_hash(arm, budget)
        runs = next((a.get("runs", []) for a in results.get("arms", []) if a.get("name") == arm.name), [])
        if not runs:
            problems.append(f"{arm.name}: no finished run")
        for x in runs:
            got = x.get("arm_hash") or "none"
            if got != want:
                problems.append(f"{arm.name} seed {x.get('seed')}: trained under spec {got}, today's is {want}")
    return problems


def arms_dir(committed: str | Path, claim: Claim, budget: str) -> Path:
    """Where a budget's finished arms are committed: ``docs/repro/<claim>/<budget>/arms``."""
    return Path(committed) / claim.id / budget / "arms"


def committed_runs(claim: Claim, budget: Budget, committed: str | Path) -> tuple[list[str], list[str]]:
    """(arm-runs committed under today's arm spec, arm-runs still to train) of ``claim`` at ``budget``, as
    ``<arm>-s<seed>``: what ``repro run`` would skip and what it would train. A committed file of another spec,
    or one that does not read, is still to train."""
    done, todo = committed_results(claim, budget, committed)
    return list(done), todo


def committed_results(claim: Claim, budget: Budget, committed: str | Path) -> tuple[dict[str, Any], list[str]]:
    """:func:`committed_runs` with each committed run's :class:`~convzoo.repro.results.ArmResult`."""
    from convzoo.repro.results import ResultFileError, read_arm_result

    folder = arms_dir(committed, claim, budget.name)
    done: dict[str, Any] = {}
    todo: list[str] = []
    for arm in claim.arms_at(budget):
        for seed in range(budget.seeds):
            name = f"{arm.name}-s{seed}"
            try:
                r = read_arm_result(folder / f"{name}.json", claim) if folder.is_dir() else None
            except (ResultFileError, ValueError, OSError):
                r = None
            if r is not None and r.arm_hash == arm_hash(arm, budget):
                done[name] = r
            else:
                todo.append(name)
    return done, todo
