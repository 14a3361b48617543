"""Two-dimensional test surfaces for watching optimizers move.

Each surface is a differentiable function of a point ``w = (x, y)`` written with torch operations, so the real
``torch.optim`` optimizers can run on it through ``loss.backward()``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

__all__ = ["SURFACES", "Surface", "get_surface"]

Fn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Surface:
    """A 2-D loss surface with the box it is drawn in and a start point that shows something.

    ``minimum`` is the global minimizer (``None`` where the surface is unbounded below); ``convex`` marks the
    surfaces on which every stable optimizer must reach it. ``lr`` holds default learning rates per optimizer.
    """

    name: str
    fn: Fn
    xlim: tuple[float, float]
    ylim: tuple[float, float]
    start: tuple[float, float]
    minimum: tuple[float, float] | None
    convex: bool
    lr: dict[str, float]
    description: str
    log_levels: bool = field(default=False)

    def __call__(self, w: torch.Tensor) -> torch.Tensor:
        """The loss at point ``w`` (shape ``(2,)``)."""
        return self.fn(w[0], w[1])

    def grad(self, w: torch.Tensor) -> torch.Tensor:
        """The gradient at ``w`` (by autograd), detached."""
        w = w.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(self(w), w)
        return g.detach()

    def grid(self, n: int = 200) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``X, Y, Z`` on an ``n × n`` grid over the drawing box (float64), for level sets."""
        xs = torch.linspace(*self.xlim, n, dtype=torch.float64)
        ys = torch.linspace(*self.ylim, n, dtype=torch.float64)
        y, x = torch.meshgrid(ys, xs, indexing="ij")
        return x, y, self.fn(x, y)

    @property
    def min_value(self) -> float | None:
        if self.minimum is None:
            return None
        return float(self(torch.tensor(self.minimum, dtype=torch.float64)))

    def inside(self, x: float, y: float) -> bool:
        return self.xlim[0] <= x <= self.xlim[1] and self.ylim[0] <= y <= self.ylim[1]


_SGD_FAMILY = ("sgd", "momentum", "nesterov")


def _lrs(sgd: float, adagrad: float, rmsprop: float, adam: float) -> dict[str, float]:
    lrs = dict.fromkeys(_SGD_FAMILY, sgd)
    lrs.update(adagrad=adagrad, rmsprop=rmsprop, adam=adam, amsgrad=adam)
    return lrs


def _beale(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2


SURFACES: dict[str, Surface] = {
    s.name: s
    for s in (
        Surface(
            "bowl",
            lambda x, y: 0.5 * (x**2 + y**2),
            xlim=(-4.0, 4.0),
            ylim=(-4.0, 4.0),
            start=(-3.5, 3.0),
            minimum=(0.0, 0.0),
            convex=True,
            lr=_lrs(sgd=0.1, adagrad=1.0, rmsprop=0.1, adam=0.2),
            description="round quadratic 0.5(x² + y²): every direction has the same curvature",
        ),
        Surface(
            "ravine",
            lambda x, y: 0.01 * x**2 + y**2,
            xlim=(-10.0, 10.0),
            ylim=(-3.0, 3.0),
            start=(-9.0, 2.0),
            minimum=(0.0, 0.0),
            convex=True,
            lr=_lrs(sgd=0.9, adagrad=2.0, rmsprop=0.1, adam=0.5) | {"momentum": 0.3, "nesterov": 0.3},
            description="elongated quadratic 0.01x² + y² (curvatures 0.02, 2): steep across, shallow along",
        ),
        Surface(
            "saddle",
            lambda x, y: x**2 - y**2,
            xlim=(-3.0, 3.0),
            ylim=(-3.0, 3.0),
            start=(-2.5, 1e-3),
            minimum=None,
            convex=False,
            lr=_lrs(sgd=0.1, adagrad=0.5, rmsprop=0.05, adam=0.1),
            description="x² - y²: starts on the ridge, must find the way down past the saddle point at 0",
        ),
        Surface(
            "rosenbrock",
            lambda x, y: (1 - x) ** 2 + 100 * (y - x**2) ** 2,
            xlim=(-2.0, 2.0),
            ylim=(-1.0, 3.0),
            start=(-1.2, 1.0),
            minimum=(1.0, 1.0),
            convex=False,
            lr=_lrs(sgd=1.5e-3, adagrad=0.5, rmsprop=0.01, adam=0.1) | {"momentum": 1e-3, "nesterov": 1e-3},
            description="(1-x)² + 100(y-x²)²: a curved, flat-bottomed valley",
            log_levels=True,
        ),
        Surface(
            "beale",
            _beale,
            xlim=(-4.5, 4.5),
            ylim=(-4.5, 4.5),
            start=(1.0, 1.5),
            minimum=(3.0, 0.5),
            convex=False,
            lr=_lrs(sgd=0.01, adagrad=1.0, rmsprop=0.03, adam=0.1) | {"momentum": 3e-3, "nesterov": 3e-3},
            description="Beale's function: steep walls, flat valleys, minimum at (3, 0.5)",
            log_levels=True,
        ),
        Surface(
            "plateau",
            lambda x, y: 1 - torch.exp(-(x**2 + 2 * y**2) / 2),
            xlim=(-4.0, 4.0),
            ylim=(-3.0, 3.0),
            start=(-3.5, 2.0),
            minimum=(0.0, 0.0),
            convex=False,
            lr=_lrs(sgd=0.5, adagrad=0.5, rmsprop=0.03, adam=0.1),
            description="1 - exp(-(x² + 2y²)/2): almost flat far from the well, so gradients there are tiny",
        ),
    )
}


def get_surface(name: str | Surface) -> Surface:
    """The surface called ``name`` (a :class:`Surface` passes through)."""
    if isinstance(name, Surface):
        return name
    if name not in SURFACES:
        raise ValueError(f"unknown surface {name!r}; choose one of: {', '.join(SURFACES)}")
    return SURFACES[name]
