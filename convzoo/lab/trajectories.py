"""Run the real ``torch.optim`` optimizers on a 2-D surface and record where they go."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from convzoo.lab import rules
from convzoo.lab.surfaces import Surface, get_surface

__all__ = ["OPTIMIZERS", "OptimizerSpec", "Trajectory", "make_optimizer", "race", "run_optimizer"]


@dataclass(frozen=True)
class OptimizerSpec:
    """A named ``torch.optim`` configuration and the lecture rule it must follow (same hyperparameters)."""

    name: str
    label: str
    torch_cls: type[torch.optim.Optimizer]
    kwargs: dict[str, Any]
    reference: Callable[[float], rules.Rule]


OPTIMIZERS: dict[str, OptimizerSpec] = {
    s.name: s
    for s in (
        OptimizerSpec("sgd", "gradient descent", torch.optim.SGD, {}, rules.GD),
        OptimizerSpec(
            "momentum",
            "momentum β=0.9",
            torch.optim.SGD,
            {"momentum": 0.9},
            lambda lr: rules.Momentum(lr, beta=0.9),
        ),
        OptimizerSpec(
            "nesterov",
            "Nesterov β=0.9",
            torch.optim.SGD,
            {"momentum": 0.9, "nesterov": True},
            lambda lr: rules.Nesterov(lr, beta=0.9),
        ),
        OptimizerSpec(
            "adagrad", "AdaGrad", torch.optim.Adagrad, {"eps": 1e-10}, lambda lr: rules.AdaGrad(lr, eps=1e-10)
        ),
        OptimizerSpec(
            "rmsprop",
            "RMSProp ρ=0.9",
            torch.optim.RMSprop,
            {"alpha": 0.9, "eps": 1e-8},
            lambda lr: rules.RMSProp(lr, rho=0.9, eps=1e-8),
        ),
        OptimizerSpec(
            "adam",
            "Adam",
            torch.optim.Adam,
            {"betas": (0.9, 0.999), "eps": 1e-8},
            lambda lr: rules.Adam(lr, beta1=0.9, beta2=0.999, eps=1e-8),
        ),
        OptimizerSpec(
            "amsgrad",
            "Adam (AMSGrad)",
            torch.optim.Adam,
            {"betas": (0.9, 0.999), "eps": 1e-8, "amsgrad": True},
            lambda lr: rules.Adam(lr, beta1=0.9, beta2=0.999, eps=1e-8, amsgrad=True),
        ),
    )
}


def _spec(name: str) -> OptimizerSpec:
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose from: {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[name]


def check_lr(lr: float, name: str = "") -> float:
    """``lr`` if it is a finite number > 0, else a ValueError that says so."""
    who = f" for {name}" if name else ""
    if isinstance(lr, bool) or not isinstance(lr, int | float) or not math.isfinite(lr) or lr <= 0:
        raise ValueError(f"the learning rate{who} must be a positive number, got {lr!r}")
    return float(lr)


def make_optimizer(name: str, params: Sequence[torch.Tensor], lr: float) -> torch.optim.Optimizer:
    """The ``torch.optim`` optimizer called ``name`` (see :data:`OPTIMIZERS`) over ``params``."""
    spec = _spec(name)
    return spec.torch_cls(params, lr=check_lr(lr, name), **spec.kwargs)


@dataclass
class Trajectory:
    """Where one optimizer went: ``points`` (n+1, 2) and ``losses`` (n+1) from the start point on.

    ``status`` is ``"ok"``, ``"diverged"`` (ran off to infinity on a surface that has a minimum) or
    ``"escaped"`` (left down the open side of a surface that has none, like the saddle).
    """

    optimizer: str
    lr: float
    points: np.ndarray
    losses: np.ndarray
    status: str = "ok"
    stopped_at: int | None = None

    @property
    def label(self) -> str:
        return f"{OPTIMIZERS[self.optimizer].label} (lr={self.lr:g})"

    @property
    def message(self) -> str | None:
        """A sentence for the user when the run did not end normally."""
        if self.status == "diverged":
            return (
                f"{self.optimizer} (lr={self.lr:g}) diverged at step {self.stopped_at}: it ran off to "
                f"infinity "
                f"and is drawn up to where it left the plot; try a smaller learning rate"
            )
        if self.status == "escaped":
            return (
                f"{self.optimizer} (lr={self.lr:g}) left the plot at step {self.stopped_at} down the open "
                f"side of the surface (it has no minimum); stopped there"
            )
        return None


def run_optimizer(
    surface: str | Surface,
    optimizer: str,
    *,
    lr: float | None = None,
    start: Sequence[float] | None = None,
    steps: int = 200,
    escape: float = 1e6,
) -> Trajectory:
    """Run ``torch.optim`` optimizer ``optimizer`` for ``steps`` steps on ``surface`` in float64.

    ``lr`` defaults to the surface's choice for this optimizer, ``start`` to the surface's start point. A run
    that becomes non-finite or moves farther than ``escape`` from the origin stops there (``status``).
    """
    surf = get_surface(surface)
    _spec(optimizer)
    lr = check_lr(surf.lr[optimizer] if lr is None else lr, optimizer)
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    start = surf.start if start is None else tuple(start)
    if len(start) != 2 or not all(isinstance(v, int | float) and math.isfinite(v) for v in start):
        raise ValueError(f"the start point must be two finite numbers x y, got {start!r}")

    w = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    opt = make_optimizer(optimizer, [w], lr)
    points, losses = [w.detach().clone()], []
    status, stopped_at = "ok", None
    for t in range(1, steps + 1):
        opt.zero_grad()
        loss = surf(w)
        losses.append(loss.item())
        loss.backward()
        opt.step()
        point = w.detach().clone()
        if not torch.isfinite(point).all() or point.abs().max() > escape:
            status, stopped_at = ("escaped" if surf.minimum is None else "diverged"), t
            if torch.isfinite(point).all():
                points.append(point)  # keep the jump off the plot so it is drawn up to the edge
            break
        points.append(point)
    with torch.no_grad():
        losses = (losses + [surf(points[-1]).item()])[: len(points)]
    return Trajectory(optimizer, lr, torch.stack(points).numpy(), np.asarray(losses), status, stopped_at)


def race(
    surface: str | Surface,
    optimizers: Sequence[str] | None = None,
    *,
    lr: float | Mapping[str, float] | None = None,
    start: Sequence[float] | None = None,
    steps: int = 200,
) -> list[Trajectory]:
    """Run each of ``optimizers`` (default: all) from the same start; ``lr`` is one rate or one per name."""
    names = list(OPTIMIZERS) if optimizers is None else list(optimizers)
    if not names:
        raise ValueError("give at least one optimizer")
    for name in names:
        _spec(name)
    if isinstance(lr, Mapping):
        unknown = sorted(set(lr) - set(names))
        if unknown:
            raise ValueError(
                f"learning rate given for {', '.join(unknown)}, which is not in the race ({names})"
            )
        rates: dict[str, float | None] = {n: lr.get(n) for n in names}
    else:
        rates = dict.fromkeys(names, lr)
    return [run_optimizer(surface, n, lr=rates[n], start=start, steps=steps) for n in names]
