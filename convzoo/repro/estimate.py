"""Each arm's length and estimated time on this machine: MACs (the inspector, on meta) × images ÷ rate."""

from __future__ import annotations

import fnmatch
import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from convzoo.repro.spec import (
    TRAIN_RATE_MACS,
    TRAIN_RATE_MACS_AVX512,
    TRAIN_RATE_MACS_BF16,
    Arm,
    Budget,
    Claim,
)
from convzoo.train.recipes import Recipe, get_recipe, scale_recipe

__all__ = [
    "DATA_SIZES",
    "ArmPlan",
    "arm_macs",
    "arm_recipe",
    "claim_elapsed",
    "claim_seconds",
    "plan",
    "scale_recipe",
    "train_rate",
]

# data spec → (training images, test images, image size); a folder of your own is estimated as CIFAR-10
DATA_SIZES: dict[str, tuple[int, int, tuple[int, int, int]]] = {
    "digits": (1438, 359, (1, 8, 8)),
    "cifar10": (50_000, 10_000, (3, 32, 32)),
    "cifar10-jpg": (50_000, 10_000, (3, 32, 32)),
    "": (1_281_167, 50_000, (3, 224, 224)),  # ImageNet (paper budgets of ImageNet claims)
}
# models (shell patterns of their names) that train at another rate per MAC than ResNet-20, as a multiple of the
# base rate, per precision, trainer-level (a tiny or a heavy net spends another share of its time outside its
# convolutions than ResNet-20 does). fp32, on the Intel Xeon with AVX-512 (December 2026): from the committed arms'
# wall time against arms of the same load, checked against `python benchmarks/model_rates.py` (one SGD step of
# each net, alternated in one run: ResNet-56/110 1.03-1.07×, NIN 1.30-1.37×, the All-CNN paper's nets 1.32-1.66×,
# WRN 1.54-1.58×, DenseNet-BC-100 0.35×, cnn4 1.28×). WRN's arms ran at 2× (the step alone says 1.55×);
# DenseNet's quiet arm at 0.5 (the step alone 0.35); cnn4's arms at ResNet-20's rate (its tiny step leaves the
# trainer's per-image work a larger share). bf16 (AMX Xeon): DenseNet-BC-100 0.37.
MODEL_RATE: dict[str, dict[str, float]] = {
    "fp32": {"densenet*": 0.5, "wrn*": 2.0, "nin*": 1.3, "*cnn_c": 1.5},
    "bf16": {"densenet*": 0.37},
}


def model_rate(model: str, precision: str = "fp32") -> float:
    """The multiple of the base training rate per MAC that ``model`` trains at in ``precision`` (1 unless
    measured otherwise)."""
    rates = MODEL_RATE.get(precision, {})
    return next((r for pattern, r in rates.items() if fnmatch.fnmatchcase(model, pattern)), 1.0)


@functools.cache
def native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX), so that budgets with autocast use it; from
    its flags where the kernel lists them (no torch), else as the trainer decides."""
    from convzoo.cpuinfo import cpu_flags, native_units

    flags, _ = cpu_flags()
    if flags:
        return bool(native_units("bf16", flags))
    import torch

    from convzoo.train.parts import amp_dtype

    return amp_dtype(torch.device("cpu")) == torch.bfloat16


def train_rate(amp: bool | None) -> tuple[float, str]:
    """(MAC/s, precision) a 2-core CPU like this one trains at: bf16 where the budget asks for autocast and
    the CPU has it natively, else fp32 (faster where it has AVX-512)."""
    if amp and native_bf16():
        return TRAIN_RATE_MACS_BF16, "bf16"
    return (TRAIN_RATE_MACS_AVX512 if avx512() else TRAIN_RATE_MACS), "fp32"


@functools.cache
def avx512() -> bool:
    """Whether this CPU has AVX-512 (its flags, read once), which trains fp32 faster than AVX2."""
    from convzoo.cpuinfo import cpu_flags

    return "avx512f" in cpu_flags()[0]


def arm_recipe(arm: Arm, budget: Budget) -> Recipe:
    """The arm's recipe with its own changes, then the budget's (before any shortening)."""
    return get_recipe(arm.recipe).replace(**arm.recipe_changes).replace(**budget.recipe_changes)


def recipe_steps(r: Recipe, steps_per_epoch: int) -> int:
    if r.iterations is not None:
        return int(r.iterations)
    if r.epochs is None:
        raise ValueError(f"recipe {r.name!r} sets neither epochs nor iterations")
    return max(1, math.ceil(r.epochs * steps_per_epoch))


MACS_PATH = Path(__file__).with_name("macs.json")
# the code that decides a model's MACs and parameters: the families, their layers, and the counter itself
MACS_SOURCES = ("registry.py", "models/*.py", "layers/*.py", "inspect/*.py")


def macs_key(model: str, overrides: tuple[tuple[str, object], ...], size: tuple[int, int, int]) -> str:
    return f"{model} {overrides!r} {size!r}"


_COUNTED: dict[str, tuple[int, int]] = {}  # what this process counted itself (what macs.json would hold)
_use_index = True  # off while macs_text counts afresh


@functools.cache
def _macs_index() -> dict[str, list[int]]:
    """The shipped counts of every claim's arms (``macs.json``), or nothing where the code they were counted
    from has changed since (their fingerprint) or the file does not read."""
    from convzoo.registry import index_fingerprint
    from convzoo.trust_read import read_json

    try:
        data = read_json(MACS_PATH, cap_bytes=1 << 20, what="the arms' MAC counts")
        if data["fingerprint"] != index_fingerprint(MACS_SOURCES):
            return {}
        return {str(k): [int(v[0]), int(v[1])] for k, v in data["macs"].items()}
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return {}


@functools.lru_cache(maxsize=256)
def _macs(
    model: str, overrides: tuple[tuple[str, object], ...], size: tuple[int, int, int]
) -> tuple[int, int]:
    key = macs_key(model, overrides, size)
    known = _macs_index().get(key) if _use_index else None
    if known is not None:
        return known[0], known[1]
    from convzoo.inspect import summary

    s = summary(model, size, num_classes=10, in_chans=size[0], **dict(overrides))
    _COUNTED[key] = (s.total_macs, s.total_params)
    return _COUNTED[key]


def fresh_counts(run: Callable[[], object]) -> dict[str, tuple[int, int]]:
    """Every count ``run`` makes with ``macs.json`` set aside: what the file should hold for what it plans."""
    global _use_index
    _macs.cache_clear()
    _COUNTED.clear()
    _use_index = False
    try:
        run()
    finally:
        _use_index = True
        _macs.cache_clear()
    return dict(_COUNTED)


def arm_macs(arm: Arm, size: tuple[int, int, int]) -> tuple[int, int]:
    """(MACs of one image, parameters) of the arm's model on ``size`` images, 10 classes."""
    return _macs(arm.model, tuple(sorted(arm.overrides.items())), size)


@dataclass(frozen=True)
class ArmPlan:
    arm: Arm
    train_images: int
    test_images: int
    epochs: float
    evaluations: int
    macs: int
    params: int
    seconds: float  # one seed


def data_sizes(budget: Budget, data: str | None = None) -> tuple[int, int, tuple[int, int, int]]:
    n_train, n_test, size = DATA_SIZES.get(data if data is not None else budget.data, DATA_SIZES["cifar10"])
    if budget.per_class is not None:
        n_train = min(n_train, 10 * budget.per_class)
    if budget.test_per_class is not None:
        n_test = min(n_test, 10 * budget.test_per_class)
    if budget.image_size is not None:
        size = (size[0], budget.image_size, budget.image_size)
    return n_train, n_test, size


def plan(claim: Claim, budget: Budget, data: str | None = None, rate: float | None = None) -> list[ArmPlan]:
    """Length, evaluations, MACs and estimated seconds (one seed) of every arm of ``claim`` at ``budget``, at
    ``rate`` MAC/s in fp32 (default: :func:`train_rate` of the budget on this CPU)."""
    from convzoo.registry import model_meta  # from the index: no family imported

    n_train, n_test, size = data_sizes(budget, data)
    base, precision = (rate, "fp32") if rate is not None else train_rate(budget.amp)
    out = []
    for arm in claim.arms_at(budget):
        r = arm_recipe(arm, budget)
        a_size = size
        if (data if data is not None else budget.data) == "":
            a_size = tuple(model_meta(arm.model).input_size)  # type: ignore[assignment]
        val = r.val_size if r.val_size >= 1 else int(r.val_size * n_train)
        train = n_train - int(val)
        spe = max(1, train // r.batch_size)
        epochs = budget.epochs if budget.epochs is not None else recipe_steps(r, spe) / spe
        evals = max(1, math.ceil(epochs / budget.eval_every))
        macs, params = arm_macs(arm, a_size)
        arm_rate = base * model_rate(arm.model, precision)
        seconds = macs * (3 * epochs * train + evals * (n_test + int(val))) / arm_rate
        out.append(ArmPlan(arm, train, n_test, epochs, evals, macs, params, seconds))
    return out


def claim_seconds(claim: Claim, budget: str, seeds: int | None = None) -> float:
    """The one estimate of a claim's time at ``budget`` on this machine (every arm × seed, one after another):
    what ``repro list``, the demo and the pages say."""
    b = claim.budget(budget)
    return sum(p.seconds for p in plan(claim, b)) * (seeds if seeds is not None else b.seeds)


def claim_elapsed(claim: Claim, budget: str, jobs: int = 2) -> float:
    """The estimated elapsed time of ``repro run --jobs N``: the arm-runs in the runner's order (each arm's seeds
    in turn), each started by the first of ``jobs`` processes to be free."""
    b = claim.budget(budget)
    free = [0.0] * max(1, jobs)
    for p in plan(claim, b):
        for _ in range(b.seeds):
            i = free.index(min(free))
            free[i] += p.seconds
    return max(free)


def human_time(s: float) -> str:
    """``42 s``, ``18 min``, ``5 h``: how the estimates are printed everywhere."""
    if s < 60:
        return f"{s:.0f} s"
    if s < 3600 * 2:
        return f"{s / 60:.0f} min"
    return f"{s / 3600:.0f} h"
