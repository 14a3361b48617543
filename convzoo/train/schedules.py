"""Learning-rate schedules: the one implementation the trainer and ``convzoo schedules`` share.

Every schedule is built from ``torch.optim.lr_scheduler`` and wrapped in :class:`Schedule`, which adds an
optional linear warm-up in front of it and is exactly resumable through ``state_dict``.

Time ``t`` counts calls to :meth:`Schedule.step` in units of ``interval`` (epochs or optimizer steps); the
learning rate used during step ``t`` is the one set after ``t`` calls, for ``t = 0 .. total_steps - 1``.
With ``warmup_steps = W`` the rate rises linearly from ``warmup_lr`` (default 0) at ``t = 0`` to the
schedule's starting rate at ``t = W``; the schedule proper then runs over the remaining ``total_steps - W``.

===============  ==========================================  ==========================================
name             rule (base rate a0, time t after warm-up)   parameters (defaults)
===============  ==========================================  ==========================================
constant         a0                                          -
step             a0 * gamma ** floor(t / step_size)          step_size (T/3), gamma (0.1)
multistep        a0 * gamma ** (milestones passed)           milestones (50 %, 75 % of T), gamma (0.1)
exponential      a0 * exp(-k t)                              k (ln(100)/(T-1): last step at 1 % of a0)
inverse_time     a0 / (1 + k t)                              k (9/(T-1): last step at 10 % of a0)
plateau          divide by 10 when the metric stops          patience (10), factor (0.1), threshold
                 improving (``step(metric)``, lower=better)  (1e-4, relative), min_lr (0), cooldown (0)
cosine           min_lr + (a0 - min_lr)(1 + cos(pi t/T))/2   min_lr (0)
onecycle         rise from max_lr/div to max_lr over         max_lr (a0), pct_start (0.3), div_factor
                 pct_start of T, then anneal (cosine or      (25), final_div_factor (1e4),
                 linear) to max_lr/div/final_div             cycle_momentum (False), anneal_strategy (cos)
===============  ==========================================  ==========================================

``T`` is ``total_steps - warmup_steps``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, Literal

import torch
from torch.optim import Optimizer
from torch.optim import lr_scheduler as lrs

__all__ = ["SCHEDULE_NAMES", "Schedule", "build_schedule", "schedule_curve", "synthetic_val_error"]

SCHEDULE_NAMES: tuple[str, ...] = (
    "constant",
    "step",
    "multistep",
    "exponential",
    "inverse_time",
    "plateau",
    "cosine",
    "onecycle",
)

# The keyword parameters each schedule accepts (beyond the common ones of build_schedule).
_PARAMS: dict[str, tuple[str, ...]] = {
    "constant": (),
    "step": ("step_size", "gamma"),
    "multistep": ("milestones", "gamma"),
    "exponential": ("k",),
    "inverse_time": ("k",),
    "plateau": ("patience", "factor", "threshold", "min_lr", "cooldown"),
    "cosine": ("min_lr",),
    "onecycle": ("max_lr", "pct_start", "div_factor", "final_div_factor", "cycle_momentum", "anneal_strategy"),
}

Interval = Literal["epoch", "step"]


class Schedule:
    """A learning-rate schedule: an optional linear warm-up followed by a ``torch.optim`` scheduler.

    Call :meth:`step` once per ``interval`` after ``optimizer.step()``; the plateau schedule needs the
    validation error (lower is better) as ``metric``. The call after the last step, and any past it, leave
    the rate the last step used: a scheduler would set one for a step past its end (one-cycle's linear
    decay, extrapolated, goes below zero).
    """

    def __init__(
        self,
        name: str,
        main: lrs.LRScheduler,
        *,
        total_steps: int,
        interval: Interval,
        warmup: lrs.LambdaLR | None,
        warmup_steps: int,
    ) -> None:
        self.name = name
        self.main = main
        self.warmup = warmup
        self.total_steps = total_steps
        self.interval: Interval = interval
        self.warmup_steps = warmup_steps
        self.steps_taken = 0
        # The main scheduler's rates at its own time 0: where warm-up ends and the schedule starts.
        self._main_start_lrs = [float(lr) for lr in main.get_last_lr()]

    @property
    def needs_metric(self) -> bool:
        """Whether :meth:`step` must be given the validation metric (the plateau schedule)."""
        return isinstance(self.main, lrs.ReduceLROnPlateau)

    @property
    def optimizer(self) -> Optimizer:
        return self.main.optimizer

    def get_last_lr(self) -> list[float]:
        """The learning rate of each parameter group, as currently set in the optimizer."""
        return [float(group["lr"]) for group in self.optimizer.param_groups]

    def step(self, metric: float | None = None) -> None:
        """Advance one ``interval``. ``metric`` (validation error) is required by the plateau schedule."""
        if self.steps_taken >= self.total_steps:
            return
        if self.needs_metric and metric is None and self.steps_taken + 1 > self.warmup_steps:
            raise ValueError(
                "the plateau schedule needs the validation metric: call schedule.step(val_error) "
                "(lower is better)"
            )
        if metric is not None and not math.isfinite(float(metric)):
            raise ValueError(f"schedule.step got a non-finite metric ({metric}); pass the validation error")
        self.steps_taken += 1
        t = self.steps_taken
        if t == self.total_steps:
            return
        if self.warmup is not None and t < self.warmup_steps:
            self.warmup.step()
        elif t == self.warmup_steps:
            # Hand over: the schedule starts exactly at its own time-0 rates.
            for group, lr in zip(self.optimizer.param_groups, self._main_start_lrs, strict=True):
                group["lr"] = lr
        elif self.needs_metric:
            self.main.step(float(metric))  # type: ignore[arg-type]
        else:
            self.main.step()

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume exactly (with the optimizer's own state_dict, which holds the lr)."""
        return {
            "name": self.name,
            "steps_taken": self.steps_taken,
            "main_start_lrs": list(self._main_start_lrs),
            "main": self.main.state_dict(),
            "warmup": None if self.warmup is None else self.warmup.state_dict(),
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if state_dict.get("name") != self.name:
            raise ValueError(
                f"checkpoint holds the state of schedule {state_dict.get('name')!r}, but this run uses "
                f"{self.name!r}; build the schedule with the same name to resume"
            )
        self.steps_taken = int(state_dict["steps_taken"])
        self._main_start_lrs = [float(lr) for lr in state_dict["main_start_lrs"]]
        self.main.load_state_dict(state_dict["main"])
        if self.warmup is not None and state_dict["warmup"] is not None:
            self.warmup.load_state_dict(state_dict["warmup"])

    def __repr__(self) -> str:
        return (
            f"Schedule({self.name!r}, total_steps={self.total_steps}, interval={self.interval!r}, "
            f"warmup_steps={self.warmup_steps}, steps_taken={self.steps_taken})"
        )


def _positive(name: str, value: float, *, allow_zero: bool = False) -> float:
    ok = value >= 0 if allow_zero else value > 0
    if not (isinstance(value, int | float) and math.isfinite(value) and ok):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"schedule parameter {name} must be a finite number {bound}, got {value!r}")
    return value


def _main_scheduler(optimizer: Optimizer, name: str, steps: int, params: dict[str, Any]) -> lrs.LRScheduler:
    """Build the torch scheduler for ``name`` running over ``steps`` units of time."""
    p = dict(params)
    if name == "constant":
        return lrs.LambdaLR(optimizer, lambda t: 1.0)
    if name == "step":
        step_size = int(p.get("step_size", max(1, steps // 3)))
        if step_size < 1:
            raise ValueError(f"step schedule: step_size must be >= 1, got {step_size}")
        return lrs.StepLR(optimizer, step_size=step_size, gamma=_positive("gamma", p.get("gamma", 0.1)))
    if name == "multistep":
        milestones = p.get("milestones", (steps // 2, (3 * steps) // 4))
        milestones = sorted(int(m) for m in milestones)
        if not milestones or milestones[0] < 1 or len(set(milestones)) != len(milestones):
            raise ValueError(
                f"multistep schedule: milestones must be distinct integers >= 1, got {p.get('milestones')}"
            )
        return lrs.MultiStepLR(
            optimizer, milestones=milestones, gamma=_positive("gamma", p.get("gamma", 0.1))
        )
    if name == "exponential":
        k = _positive("k", p.get("k", math.log(100.0) / max(1, steps - 1)), allow_zero=True)
        return lrs.LambdaLR(optimizer, lambda t: math.exp(-k * t))
    if name == "inverse_time":
        k = _positive("k", p.get("k", 9.0 / max(1, steps - 1)), allow_zero=True)
        return lrs.LambdaLR(optimizer, lambda t: 1.0 / (1.0 + k * t))
    if name == "plateau":
        factor = _positive("factor", p.get("factor", 0.1))
        if factor >= 1:
            raise ValueError(f"plateau schedule: factor must be < 1 (0.1 divides by 10), got {factor}")
        return lrs.ReduceLROnPlateau(
            optimizer,
            mode="min",
            factor=factor,
            patience=int(_positive("patience", p.get("patience", 10), allow_zero=True)),
            threshold=_positive("threshold", p.get("threshold", 1e-4), allow_zero=True),
            min_lr=_positive("min_lr", p.get("min_lr", 0.0), allow_zero=True),
            cooldown=int(_positive("cooldown", p.get("cooldown", 0), allow_zero=True)),
        )
    if name == "cosine":
        min_lr = _positive("min_lr", p.get("min_lr", 0.0), allow_zero=True)
        return lrs.CosineAnnealingLR(optimizer, T_max=steps, eta_min=min_lr)
    if name == "onecycle":
        max_lr = p.get("max_lr")
        max_lr = (
            [float(g["lr"]) for g in optimizer.param_groups]
            if max_lr is None
            else _positive("max_lr", max_lr)
        )
        pct_start = float(p.get("pct_start", 0.3))
        if not 0.0 < pct_start < 1.0:
            raise ValueError(f"onecycle schedule: pct_start must be in (0, 1), got {pct_start}")
        if float(pct_start * steps) - 1 == 0:  # torch's rising phase would end where it starts (÷0)
            raise ValueError(
                f"onecycle schedule: pct_start {pct_start} of {steps} steps is a rising phase of one step; "
                "change pct_start, or train for more steps (more epochs or a smaller batch)"
            )
        return lrs.OneCycleLR(
            optimizer,
            max_lr=max_lr,
            total_steps=steps,
            pct_start=pct_start,
            div_factor=_positive("div_factor", p.get("div_factor", 25.0)),
            final_div_factor=_positive("final_div_factor", p.get("final_div_factor", 1e4)),
            cycle_momentum=bool(p.get("cycle_momentum", False)),
            anneal_strategy=_anneal(p.get("anneal_strategy", "cos")),
        )
    raise AssertionError(name)  # names are validated by build_schedule


def _anneal(value: Any) -> Literal["cos", "linear"]:
    if value not in ("cos", "linear"):
        raise ValueError(f"onecycle schedule: anneal_strategy must be 'cos' or 'linear', got {value!r}")
    return value  # type: ignore[no-any-return]


def _warmup_lambda(start: float, target: float, base: float, steps: int) -> Callable[[int], float]:
    """LambdaLR factor for a linear ramp from ``start`` to ``target`` over ``steps`` (rates, not factors)."""

    def factor(t: int) -> float:
        lr = start + (target - start) * min(t, steps) / steps
        return lr / base if base else 0.0

    return factor


def build_schedule(
    optimizer: Optimizer,
    name: str,
    *,
    total_steps: int,
    interval: Interval = "epoch",
    warmup_steps: int = 0,
    warmup_lr: float | None = None,
    **params: Any,
) -> Schedule:
    """Build the learning-rate schedule ``name`` (one of :data:`SCHEDULE_NAMES`) for ``optimizer``.

    ``total_steps`` counts ``interval`` units (epochs or optimizer steps) including the warm-up;
    ``params`` are the schedule's own parameters (see the module docstring).
    Build it on a fresh optimizer, before loading any checkpoint into either.
    """
    if name not in SCHEDULE_NAMES:
        raise ValueError(f"unknown schedule {name!r}; choose one of: {', '.join(SCHEDULE_NAMES)}")
    if interval not in ("epoch", "step"):
        raise ValueError(f"interval must be 'epoch' or 'step', got {interval!r}")
    if not isinstance(total_steps, int) or total_steps < 1:
        raise ValueError(f"total_steps must be a positive integer, got {total_steps!r}")
    if not isinstance(warmup_steps, int) or not 0 <= warmup_steps < total_steps:
        raise ValueError(
            f"warmup_steps must be an integer in [0, total_steps) = [0, {total_steps}), got {warmup_steps!r}"
        )
    if warmup_lr is not None:
        _positive("warmup_lr", warmup_lr, allow_zero=True)
        if warmup_steps == 0:
            raise ValueError("warmup_lr was given but warmup_steps is 0; set warmup_steps > 0 to warm up")
    unknown = sorted(set(params) - set(_PARAMS[name]))
    if unknown:
        allowed = ", ".join(_PARAMS[name]) or "none"
        raise ValueError(
            f"schedule {name!r} got unknown parameter(s) {', '.join(unknown)}; it accepts: {allowed}"
        )
    for group in optimizer.param_groups:
        if isinstance(group["lr"], torch.Tensor):
            raise TypeError("build_schedule needs float learning rates in the optimizer, not tensors")

    main = _main_scheduler(optimizer, name, total_steps - warmup_steps, params)
    warmup = None
    if warmup_steps:
        start = 0.0 if warmup_lr is None else float(warmup_lr)
        # Ramp to where the schedule starts; LambdaLR scales each group's initial_lr, hence the division.
        lambdas = [
            _warmup_lambda(start, float(target), float(group.get("initial_lr", group["lr"])), warmup_steps)
            for target, group in zip(main.get_last_lr(), optimizer.param_groups, strict=True)
        ]
        warmup = lrs.LambdaLR(optimizer, lambdas)
    return Schedule(
        name, main, total_steps=total_steps, interval=interval, warmup=warmup, warmup_steps=warmup_steps
    )


def synthetic_val_error(lr_fraction: float, previous: float | None) -> float:
    """A made-up validation error for drawing the plateau schedule (no training involved).

    ``lr_fraction`` is the current rate over the base rate. The error relaxes by 15 % per step toward a floor
    that rises with the rate (0.05 + 0.2·lr_fraction) and is rounded to 0.001 (as if measured on 1,000
    images), so it flattens out, then falls again after each reduction of the rate.
    """
    floor = 0.05 + 0.2 * lr_fraction
    current = 0.9 if previous is None else previous
    return round(current + 0.15 * (floor - current), 3)


def schedule_curve(
    name: str,
    *,
    total_steps: int,
    base_lr: float,
    warmup_steps: int = 0,
    warmup_lr: float | None = None,
    metrics: Sequence[float] | None = None,
    **params: Any,
) -> list[float]:
    """The learning rate used at each of ``total_steps`` steps, from the same code the trainer runs.

    Builds the schedule on a one-parameter SGD optimizer. The plateau schedule is fed ``metrics`` (one
    validation error per step) or, by default, :func:`synthetic_val_error`, which is not real training.
    """
    _positive("base_lr", base_lr)
    if metrics is not None and len(metrics) < total_steps:
        raise ValueError(f"metrics must give one value per step: need {total_steps}, got {len(metrics)}")
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=base_lr)
    schedule = build_schedule(
        optimizer,
        name,
        total_steps=total_steps,
        interval="step",
        warmup_steps=warmup_steps,
        warmup_lr=warmup_lr,
        **params,
    )
    lrs_out: list[float] = []
    error: float | None = None
    for t in range(total_steps):
        lr = float(optimizer.param_groups[0]["lr"])
        lrs_out.append(lr)
        optimizer.step()  # no gradients: changes nothing, but keeps torch's step-order check satisfied
        error = float(metrics[t]) if metrics is not None else synthetic_val_error(lr / base_lr, error)
        schedule.step(error if schedule.needs_metric else None)
    return lrs_out
