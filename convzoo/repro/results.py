"""One arm's result (a small JSON file beside its run folder) and the metrics read from it.

The file is data: it is read back only as numbers under known keys, for an arm the claim declares; anything
else is refused with an error naming the file, and nothing is imported or called because of it.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from convzoo.repro.spec import Claim
from convzoo.trust_read import RejectedFile, read_json
from convzoo.trust_write import check_inside, write_file

__all__ = ["ArmResult", "Measure", "ResultFileError", "measure", "read_arm_result", "write_arm_result"]

MAX_RESULT_BYTES = 8 << 20
_ROW_KEYS = (
    "epoch",
    "step",
    "lr",
    "train_loss",
    "train_err",
    "val_err",
    "test_err",
    "epoch_s",
    "wall_s",
    "images_per_s",
    "val_loss",
    "test_loss",
)
_NUMBERS = ("wall_s", "images_per_s", "estimated_s")
_COUNTS = ("seed", "train_images", "test_images", "val_images", "macs", "params", "classes")


class ResultFileError(ValueError):
    """A result file that is not one we wrote (damaged, foreign or for an arm the claim does not have)."""


@dataclass
class ArmResult:
    arm: str
    seed: int
    rows: list[dict[str, float]]  # one per epoch: the trainer's metrics
    wall_s: float
    images_per_s: float
    train_images: int
    test_images: int
    val_images: int
    estimated_s: float
    resumed: bool = False
    macs: int = 0
    params: int = 0
    classes: int = 10
    diverged: str = ""  # the trainer's message if the loss became non-finite (the paper's "fail")
    correct: str = ""  # per-image correctness on the test set, packed (convzoo.repro.stats.pack_bits)
    arm_hash: str = ""  # the arm's spec at its budget (convzoo.repro.prereg.arm_hash)
    spec_hash: str = ""  # the claim's whole spec at its budget when the arm ran
    machine: dict[str, str] = field(default_factory=dict)  # CPU/GPU, threads, precision, torch
    commit: str = ""  # the convzoo commit that trained it
    epochs: float = 0.0  # the planned length (a diverged run's censored epochs_to_25 is this + 1)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def write_arm_result(path: Path, result: ArmResult) -> None:
    """Write atomically: a kill leaves either no file (the arm resumes) or the whole file; never through a link."""
    text = json.dumps(result.to_dict(), indent=1, allow_nan=False)
    write_file(path, text, owned=True, inside=path.parent)


def _finite(v: Any, key: str, path: Path) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise ResultFileError(f"{path}: {key} must be a finite number, got {str(v)[:40]!r}")
    return float(v)


def parse_arm_result(obj: Any, path: Path, claim: Claim) -> ArmResult:
    """Validate a decoded result file: known keys, finite numbers, an arm of ``claim``."""
    if not isinstance(obj, dict):
        raise ResultFileError(f"{path}: expected a JSON object, got {type(obj).__name__}")
    arm = obj.get("arm")
    if not isinstance(arm, str) or arm not in {a.name for a in claim.arms}:
        raise ResultFileError(f"{path}: arm {str(arm)[:40]!r} is not an arm of claim {claim.id!r}")
    rows_in = obj.get("rows")
    if not isinstance(rows_in, list) or len(rows_in) > 100_000:
        raise ResultFileError(f"{path}: rows must be a list of per-epoch metrics")
    rows = []
    for row in rows_in:
        if not isinstance(row, dict):
            raise ResultFileError(f"{path}: each row must be an object of metrics")
        rows.append({k: _finite(row[k], k, path) for k in _ROW_KEYS if k in row})
        if "epoch" not in row:
            raise ResultFileError(f"{path}: a row of metrics has no 'epoch'")
    counts = {}
    for k in _COUNTS:
        v = obj.get(k, 0)
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ResultFileError(f"{path}: {k} must be a non-negative integer, got {str(v)[:40]!r}")
        counts[k] = v
    text = {k: _text(obj, k, path, cap) for k, cap in _TEXT.items()}
    epochs = _finite(obj.get("epochs", 0.0), "epochs", path)
    return ArmResult(
        arm=arm,
        rows=rows,
        resumed=bool(obj.get("resumed", False)),
        machine=_machine(obj.get("machine", {}), path),
        epochs=epochs,
        **text,
        **counts,
        **{k: _finite(obj.get(k), k, path) for k in _NUMBERS},
    )


_TEXT = {"diverged": 1000, "correct": 200_000, "arm_hash": 64, "spec_hash": 64, "commit": 64}


def _text(obj: dict[str, Any], key: str, path: Path, cap: int) -> str:
    v = obj.get(key, "")
    if not isinstance(v, str) or len(v) > cap:
        raise ResultFileError(f"{path}: {key} must be a string of at most {cap} characters")
    return v


def _machine(v: Any, path: Path) -> dict[str, str]:
    if not isinstance(v, dict) or len(v) > 20:
        raise ResultFileError(f"{path}: machine must be an object of at most 20 strings")
    return {str(k)[:40]: str(x)[:200] for k, x in v.items()}


def read_arm_result(path: Path, claim: Claim) -> ArmResult | None:
    """The finished arm's result, or None if the arm has not finished (no file)."""
    check_inside(path.parent, path)  # a link never leads the read out of the claim's folder
    if not path.exists() and not path.is_symlink():
        return None
    try:  # regular files only, size, depth and digits capped (convzoo.trust_read)
        obj = read_json(path, cap_bytes=MAX_RESULT_BYTES, what="the arm's result")
    except RejectedFile as e:
        raise ResultFileError(f"{e}; delete it to train this arm again") from None
    return parse_arm_result(obj, path, claim)


@dataclass(frozen=True)
class Measure:
    """One metric of one run: its value and its sampling noise (a standard error in the same unit)."""

    value: float
    noise: float
    shared: bool = False  # scored on data every seed shares (the test set): seeds do not average its noise


def _last(rows: list[dict[str, float]], key: str) -> float | None:
    for row in reversed(rows):
        if key in row:
            return row[key]
    return None


def _binomial(err: float, n: int) -> float:
    p = min(max(err / 100, 0.0), 1.0)
    return 100 * math.sqrt(max(p * (1 - p), 1e-4) / max(n, 1))


def epochs_to(rows: list[dict[str, float]], target: float, start: float = 90.0) -> float:
    """Epochs until the training error first reaches ``target`` %, interpolated linearly between epochs from
    (0, ``start``) — chance on 10 classes; the run's length + 1 if it never does (a censored value)."""
    prev_e, prev_v = 0.0, start
    for row in rows:
        e, v = row.get("epoch", prev_e + 1), row.get("train_err", math.inf)
        if v <= target:
            return prev_e + (e - prev_e) * ((prev_v - target) / (prev_v - v) if prev_v > v else 1.0)
        prev_e, prev_v = e, v
    return prev_e + 1


def measure(result: ArmResult, metric: str) -> Measure | None:
    """``metric`` of one run with its noise; None if the run did not record it."""
    rows = result.rows
    if result.diverged and metric == "epochs_to_25":
        return Measure(result.epochs + 1, 0.0)  # never reached: censored at the run's length + 1
    if result.diverged and metric in ("test_err", "val_err", "train_err"):
        return Measure(100 * (1 - 1 / max(result.classes, 1)), 0.0)  # a failed run scores chance
    if metric in ("test_err", "val_err", "train_err"):
        v = _last(rows, metric)
        n = {"test_err": result.test_images, "val_err": result.val_images, "train_err": result.train_images}[
            metric
        ]
        return None if v is None else Measure(v, _binomial(v, n), shared=metric != "train_err")
    if metric == "train_s":
        times = [r["epoch_s"] for r in rows if "epoch_s" in r]
        if not times:
            return None
        spread = _std(times) if len(times) > 1 else 0.05 * times[0]
        return Measure(sum(times), spread * math.sqrt(len(times)))
    if metric == "epochs_to_25":
        return Measure(epochs_to(rows, 25.0), _crossing_noise(rows, 25.0, result.train_images)) if rows else None
    raise ValueError(f"unknown metric {metric!r}")


def _crossing_noise(rows: list[dict[str, float]], target: float, n: int) -> float:
    """The sampling noise of the epoch at which the training error crosses ``target``: the error's binomial
    noise on ``n`` images ÷ the curve's fall per epoch where it crosses (the seeds' spread is added by
    :func:`~convzoo.repro.verdict.arm_stats`); the run's length if it never crosses."""
    pts = [(r.get("epoch", i + 1.0), r["train_err"]) for i, r in enumerate(rows) if "train_err" in r]
    prev = (0.0, 90.0)
    for e, v in pts:
        if v <= target:
            slope = (prev[1] - v) / max(e - prev[0], 1e-9)
            return _binomial(target, n) / max(slope, 1e-3)
        prev = (e, v)
    return pts[-1][0] if pts else 1.0


def _std(xs: list[float]) -> float:
    m = sum(xs) / len(xs)
    return math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))
