"""Reading a claim's JSON files back (``results.json``, ``claim.json``): through :mod:`convzoo.trust_read`
(size, depth and digit caps; regular files only), then validated against the claim's spec field by field
before anything renders them. Every refusal is a :class:`~convzoo.repro.results.ResultFileError` (a
``ValueError``) naming the file."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from convzoo.repro.results import ResultFileError
from convzoo.repro.spec import METRICS, Claim
from convzoo.trust_read import RejectedFile, read_json

__all__ = ["read_json_file", "read_results", "read_run_info"]

MAX_RESULTS_BYTES = 16 << 20
MAX_INFO_BYTES = 1 << 20
MAX_RUNS = 100  # seeds of one arm
MAX_CURVE = 10_000  # evaluations in one run's curve
MAX_TEXT = 2000


def read_json_file(path: Path, cap: int, what: str) -> Any:
    """The JSON value of ``path`` read by :func:`convzoo.trust_read.read_json`; refusals as ResultFileError."""
    try:
        return read_json(path, cap_bytes=cap, what=what)
    except RejectedFile as e:
        raise ResultFileError(str(e)) from None


def read_run_info(path: Path) -> dict[str, Any]:
    """``claim.json``'s data, command, seeds and machine ({} if there is no file; refused if damaged)."""
    if not os.path.lexists(path):
        return {}
    obj = read_json_file(path, MAX_INFO_BYTES, "the claim's run record")
    if not isinstance(obj, dict):
        raise ResultFileError(f"{path}: the claim's run record must be a JSON object")
    out: dict[str, Any] = {k: obj[k][:500] for k in ("data", "command") if isinstance(obj.get(k), str)}
    if _is_int(obj.get("seeds")) and 0 <= obj["seeds"] <= MAX_RUNS:
        out["seeds"] = obj["seeds"]
    if isinstance(obj.get("machine"), dict) and len(obj["machine"]) <= 20:
        out["machine"] = {str(k)[:40]: str(v)[:200] for k, v in obj["machine"].items()}
    return out


def read_results(path: Path, claim: Claim) -> dict[str, Any] | None:
    """A committed results.json of ``claim`` (plain JSON data for the renderer), or None if absent."""
    if not os.path.lexists(path):
        return None
    obj = read_json_file(path, MAX_RESULTS_BYTES, "the claim's results")
    if not isinstance(obj, dict) or obj.get("claim") != claim.id:
        raise ResultFileError(f"{path}: not the results of claim {claim.id!r}")
    if claim.kind == "trained":
        _check_trained(obj, path, claim)
    return obj


# --- field by field


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return (_is_int(v) or isinstance(v, float)) and math.isfinite(v)


def _need(ok: bool, path: Path, where: str, want: str) -> None:
    if not ok:
        raise ResultFileError(f"{path}: {where} must be {want}")


def _check_trained(obj: dict[str, Any], path: Path, claim: Claim) -> None:
    for key in ("checks", "machine", "verdict", "budget", "wall_s", "arms"):
        _need(key in obj, path, f"{key!r}", "present")
    _need(_is_number(obj["wall_s"]), path, "wall_s", "a finite number")
    _need(isinstance(obj["machine"], dict), path, "machine", "an object")
    for key in ("verdict", "budget", "claim"):
        _need(isinstance(obj[key], str) and len(obj[key]) <= MAX_TEXT, path, key, "a short string")
    arms = obj["arms"]
    _need(
        isinstance(arms, list) and len(arms) <= len(claim.arms), path, "arms", f"a list of {claim.id}'s arms"
    )
    seen: set[str] = set()
    for i, arm in enumerate(arms):
        _check_arm(arm, path, claim, f"arms[{i}]")
        _need(arm["name"] not in seen, path, f"arms[{i}]", f"listed once, not again as {arm['name']!r}")
        seen.add(arm["name"])
    checks = obj["checks"]
    _need(isinstance(checks, list) and len(checks) <= 100, path, "checks", "a list of checks")
    for i, c in enumerate(checks):
        ch = c.get("check") if isinstance(c, dict) else None
        _need(isinstance(ch, dict), path, f"checks[{i}]", "an object with a 'check'")
        for side in ("better", "worse"):
            known = seen | set(claim.selections)  # a selection stands for the best of its arms
            _need(ch.get(side) in known, path, f"checks[{i}].check.{side}", "an arm listed in 'arms'")
        _need(ch.get("metric") in METRICS, path, f"checks[{i}].check.metric", f"one of {', '.join(METRICS)}")


def _check_arm(arm: Any, path: Path, claim: Claim, where: str) -> None:
    names = {a.name for a in claim.arms}
    _need(isinstance(arm, dict) and arm.get("name") in names, path, where, f"an arm of claim {claim.id!r}")
    for key in ("label", "group", "model"):
        v = arm.get(key, "")
        _need(
            isinstance(v, str) and len(v) <= 200, path, f"{where}.{key}", "a string of at most 200 characters"
        )
    _need(isinstance(arm.get("overrides", {}), dict), path, f"{where}.overrides", "an object")
    for key in ("params", "macs"):
        v = arm.get(key)
        _need(v is None or (_is_int(v) and v >= 0), path, f"{where}.{key}", "null or a whole number")
    _check_measured(arm.get("measured"), path, f"{where}.measured")
    paper = arm.get("paper", [])
    _need(
        isinstance(paper, list) and all(_is_figure(p) for p in paper),
        path,
        f"{where}.paper",
        "a list of {metric, value, where}",
    )
    runs = arm.get("runs")
    _need(
        isinstance(runs, list) and len(runs) <= MAX_RUNS,
        path,
        f"{where}.runs",
        f"a list of ≤ {MAX_RUNS} runs",
    )
    for j, run in enumerate(runs):
        _check_run(run, path, f"{where}.runs[{j}]")


def _is_figure(p: Any) -> bool:
    return (
        isinstance(p, dict)
        and isinstance(p.get("metric"), str)
        and _is_number(p.get("value"))
        and isinstance(p.get("where"), str)
    )


def _check_measured(m: Any, path: Path, where: str) -> None:
    _need(
        isinstance(m, dict) and set(m) <= set(METRICS),
        path,
        where,
        f"an object keyed by {', '.join(METRICS)}",
    )
    for k, v in m.items():
        ok = isinstance(v, dict) and _is_number(v.get("mean")) and _is_number(v.get("se"))
        _need(ok and _is_int(v.get("seeds", 1)), path, f"{where}.{k}", "{mean, se, seeds} of finite numbers")
        values = v.get("values", [])
        _need(
            isinstance(values, list) and len(values) <= MAX_RUNS and all(map(_is_number, values)),
            path,
            f"{where}.{k}.values",
            "a list of finite numbers",
        )


def _check_run(run: Any, path: Path, where: str) -> None:
    _need(isinstance(run, dict), path, where, "an object")
    for key in ("wall_s", "estimated_s", "images_per_s"):
        _need(_is_number(run.get(key, 0.0)), path, f"{where}.{key}", "a finite number")
    for key in ("seed", "train_images", "test_images", "classes"):
        v = run.get(key, 0)
        _need(_is_int(v) and 0 <= v <= 2**53, path, f"{where}.{key}", "a whole number ≥ 0")
    _need(isinstance(run.get("diverged", ""), str), path, f"{where}.diverged", "a string")
    curve = run.get("curve")
    _need(
        isinstance(curve, list) and len(curve) <= MAX_CURVE,
        path,
        f"{where}.curve",
        f"a list of at most {MAX_CURVE} evaluations",
    )
    for k, p in enumerate(curve):
        ok = isinstance(p, dict) and "epoch" in p and all(map(_is_number, p.values()))
        _need(ok, path, f"{where}.curve[{k}]", "an object of finite numbers with an 'epoch'")
