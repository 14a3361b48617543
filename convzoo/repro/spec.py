"""What a claim is, as data: arms, budgets, the paper's figures and the checks its verdict is made of.

A *trained* claim names its arms (a registered model, its overrides, a recipe and recipe changes), the
checks that make up its verdict (``metric(better) < metric(worse)``) and one :class:`Budget` per budget
name. An *analytic* claim is computed exactly from the models themselves (see :mod:`convzoo.repro.analytic`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "BUDGETS",
    "METRICS",
    "Arm",
    "Budget",
    "Change",
    "Check",
    "Claim",
    "PaperFigure",
    "TRAIN_RATE_MACS",
    "TRAIN_RATE_MACS_AVX512",
    "TRAIN_RATE_MACS_BF16",
]

BUDGETS: tuple[str, ...] = ("smoke", "cpu", "long", "paper")

# Training throughput of a 2-core laptop-class CPU, in multiply-accumulates per second, counting a training
# image as 3 forward passes (forward + backward) and an evaluated image as 1. Measured on the project's 2-core
# AMD EPYC (AVX2, no native bf16, so fp32) when quiet, SGD steps of batch 128, channels_last: ResNet-20
# (40.6 M MACs) 243 img/s on 2 threads = 3.0e10 MAC/s (141 img/s, 1.7e10, on one thread); ResNet-110 runs at
# the same rate per MAC, DenseNet-BC-100 at about a third of it. Estimates scale with MACs; a machine shared
# with other jobs runs below this rate.
TRAIN_RATE_MACS: float = 3.0e10
# The same in fp32 on a 2-core CPU with AVX-512 (the Intel Xeon of December 2026, no native bf16), trainer-level
# and quiet (two arms at a time, one thread each, nothing else running): NIN's long-budget epochs (126 s for
# 10,000 images) and ResNet-110's cpu arms (16.1 and 15.3 min) give 3.7-3.9e10 per ResNet-20-equivalent MAC;
# with other jobs beside them (load 2.6-3.4) the same arms ran at ~3.0e10.
TRAIN_RATE_MACS_AVX512: float = 3.9e10
# The same with bf16 autocast on a 2-core CPU that computes bf16 natively (AVX512-BF16/AMX): ResNet-20 at 674 and
# 753 img/s on 2 threads (8.2e10, 9.2e10 MAC/s; `python benchmarks/train_throughput.py`) on a 2-core AMD EPYC
# with AVX512-BF16; one thread each, two claims at a time, ResNet-20 and ResNet-110 ran at ~6.4e10 per thread.
TRAIN_RATE_MACS_BF16: float = 9.0e10

# metric name → what it means (the unit of every error is percent; lower is better for all of them)
METRICS: dict[str, str] = {
    "test_err": "final test error (%)",
    "val_err": "final validation error (%)",
    "train_err": "final training error (%), measured on the augmented batches of the last epoch",
    "train_s": "seconds of training (sum over epochs, evaluation and data loading excluded)",
    "epochs_to_25": "epochs until the training error first reaches 25% (interpolated; the budget's length "
    "plus one if never)",
}


@dataclass(frozen=True)
class PaperFigure:
    """One number the paper reports for an arm, with where it is printed."""

    metric: str
    value: float
    where: str  # "Table 6", "Fig. 1", ...


@dataclass(frozen=True)
class Arm:
    """One trained configuration: ``create_model(model, **overrides)`` under ``recipe`` + ``recipe_changes``."""

    name: str
    model: str
    recipe: str
    overrides: Mapping[str, Any] = field(default_factory=dict)
    recipe_changes: Mapping[str, Any] = field(default_factory=dict)
    group: str = ""  # arms of one group share a panel of the curves figure
    label: str = ""
    paper: tuple[PaperFigure, ...] = ()

    @property
    def title(self) -> str:
        return self.label or self.name


@dataclass(frozen=True)
class Check:
    """One part of a verdict: the paper says ``metric(better) < metric(worse)``, or with ``factor`` > 1 that
    the worse arm's metric is at least ``factor`` times the better's (e.g. "six times faster")."""

    metric: str
    better: str
    worse: str
    says: str  # the statement in words
    factor: float = 1.0
    # training differences between the two arms beyond the model and its overrides, declared with the reason
    # (recipe field → why); any other difference is refused when the claim is loaded (equal treatment)
    differs: Mapping[str, str] = field(default_factory=dict)
    early: bool = False  # the paper's statement is about early training: it needs no converged arms


@dataclass(frozen=True)
class Budget:
    """How long and on what the arms train. ``epochs=None`` keeps the recipe's own length (paper budget)."""

    name: str
    data: str  # a --data spec; "" : the user must give one (--data PATH)
    epochs: float | None = None
    per_class: int | None = None  # training images per class (None: all)
    test_per_class: int | None = None  # test images per class (None: all)
    seeds: int = 1
    arms: tuple[str, ...] | None = None  # the arms run at this budget (None: every arm)
    eval_every: int = 1
    image_size: int | None = None
    recipe_changes: Mapping[str, Any] = field(default_factory=dict)  # for every arm
    amp: bool | None = None  # None: the recipe's choice
    channels_last: bool | None = None
    note: str = ""
    # the error level (%) the power table assumes for arms at this budget when the paper's is lower: what a
    # shortened run reaches, fixed before the run (see :func:`convzoo.repro.stats.min_detectable_gap`)
    error_floor: float = 0.0


@dataclass(frozen=True)
class Change:
    """A change to a budget's spec made after its first results: what, when (a date), why. Listed on the page;
    the arms it touches were re-run."""

    budget: str
    when: str
    what: str
    why: str


@dataclass(frozen=True)
class Claim:
    """A paper's claim: trained (arms, checks, budgets) or analytic (``compute``)."""

    id: str
    paper: str  # authors, year, arXiv id
    where: str  # table / figure / section
    says: str  # the claim in one sentence
    kind: Literal["trained", "analytic"]
    arms: tuple[Arm, ...] = ()
    checks: tuple[Check, ...] = ()
    budgets: Mapping[str, Budget] = field(default_factory=dict)
    unavailable: Mapping[str, str] = field(default_factory=dict)  # budget → why it is not offered
    compute: Callable[[], dict[str, Any]] | None = None  # analytic claims
    figure: str = "curves"  # the figure redrawn: "curves" (error vs epoch per group) or "none"
    note: str = ""
    changes: tuple[Change, ...] = ()  # changes after first results (pre-registration's audit trail)
    # a name a check may use for "the best of these arms" by the check's own metric (a paper that chose each
    # net's learning rate from a grid): the candidate with the lowest mean stands for it
    selections: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def arm(self, name: str) -> Arm:
        for a in self.arms:
            if a.name == name:
                return a
        raise KeyError(f"claim {self.id!r} has no arm {name!r}; arms: {', '.join(a.name for a in self.arms)}")

    def budget(self, name: str) -> Budget:
        if name not in BUDGETS and name not in self.budgets:
            raise ValueError(f"unknown budget {name!r}: use one of {', '.join(BUDGETS)}")
        if name in self.unavailable:
            raise ValueError(f"claim {self.id!r} has no {name} budget: {self.unavailable[name]}")
        if name not in self.budgets:
            raise ValueError(f"claim {self.id!r} has no {name} budget; it has {', '.join(self.budgets)}")
        return self.budgets[name]

    def arms_at(self, budget: Budget) -> tuple[Arm, ...]:
        if budget.arms is None and budget.name == "smoke" and self.checks:
            return (self.arm(self.checks[0].better), self.arm(self.checks[0].worse))
        if budget.arms is None:
            return self.arms
        return tuple(self.arm(n) for n in budget.arms)

    def checks_at(self, budget: Budget) -> tuple[Check, ...]:
        names = {a.name for a in self.arms_at(budget)}
        names |= {s for s, cands in self.selections.items() if any(c in names for c in cands)}
        return tuple(c for c in self.checks if c.better in names and c.worse in names)

    def candidates(self, name: str, budget: Budget) -> tuple[str, ...]:
        """The arms at ``budget`` that ``name`` (an arm or a selection) stands for."""
        at = {a.name for a in self.arms_at(budget)}
        return tuple(c for c in self.selections.get(name, (name,)) if c in at)
