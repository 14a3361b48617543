"""Optimizers of the lectures, built on ``torch.optim``; weight decay optionally kept off BN and biases;
Lookahead on top of any of them."""

from __future__ import annotations

import difflib

import torch
from torch import nn

__all__ = ["OPTIMIZER_NAMES", "Lookahead", "build_optimizer", "param_groups"]

OPTIMIZER_NAMES: tuple[str, ...] = (
    "sgd",
    "momentum",
    "nesterov",
    "adagrad",
    "rmsprop",
    "adam",
    "amsgrad",
    "adamw",
)


def param_groups(
    model: nn.Module, weight_decay: float, no_decay_bn_bias: bool, lr: float = 1.0, bn_lr_scale: float = 1.0
) -> list[dict]:
    """One group with ``weight_decay``; with ``no_decay_bn_bias`` a second, undecayed group for biases and
    normalization weights (every parameter with fewer than two dimensions).

    ``bn_lr_scale`` ≠ 1 puts the parameters of normalization layers in a group of their own whose learning
    rate is ``lr × bn_lr_scale`` and whose weight decay is divided by the same factor, so the decay each step
    applies (learning rate × weight decay) stays the same (airbench scales its BN biases' rate by 64).
    """
    params = [p for p in model.parameters() if p.requires_grad]
    groups: list[dict] = []
    if bn_lr_scale != 1.0:
        if bn_lr_scale <= 0:
            raise ValueError(f"bn_lr_scale must be positive, got {bn_lr_scale}")
        norm_types = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)
        norm = {
            id(p) for m in model.modules() if isinstance(m, norm_types) for p in m.parameters(recurse=False)
        }
        bn = [p for p in params if id(p) in norm]
        params = [p for p in params if id(p) not in norm]
        bn_decay = 0.0 if no_decay_bn_bias else weight_decay / bn_lr_scale
        groups.append({"params": bn, "lr": lr * bn_lr_scale, "weight_decay": bn_decay})
    if not no_decay_bn_bias or weight_decay == 0:
        return [{"params": params, "weight_decay": weight_decay}, *groups]
    decay = [p for p in params if p.ndim > 1]
    no_decay = [p for p in params if p.ndim <= 1]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}, *groups]


def build_optimizer(
    model: nn.Module,
    name: str,
    lr: float,
    *,
    momentum: float = 0.9,
    nesterov: bool = False,
    weight_decay: float = 0.0,
    no_decay_bn_bias: bool = False,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float | None = None,
    amsgrad: bool = False,
    alpha: float = 0.99,
    bn_lr_scale: float = 1.0,
) -> torch.optim.Optimizer:
    """Build a ``torch.optim`` optimizer by lecture name.

    ``sgd`` is plain SGD (momentum 0); ``momentum`` is SGD with ``momentum``; ``nesterov`` is SGD with
    Nesterov momentum; ``adagrad``; ``rmsprop`` (``alpha`` is the decay of the squared-gradient average,
    ``momentum`` its momentum term: give ``momentum=0`` for the plain method); ``adam`` (``amsgrad=True`` or
    the name ``amsgrad`` gives AMSGrad); ``adamw`` (decoupled weight decay). ``eps`` defaults to each
    optimizer's own default. ``bn_lr_scale``: see :func:`param_groups`.
    """
    if lr <= 0:
        raise ValueError(f"learning rate must be positive, got {lr}")
    if weight_decay < 0:
        raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
    key = name.lower()
    if key not in OPTIMIZER_NAMES:
        close = difflib.get_close_matches(key, OPTIMIZER_NAMES, n=3, cutoff=0.4)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZER_NAMES)}.{hint}")
    groups = param_groups(model, weight_decay, no_decay_bn_bias, lr, bn_lr_scale)
    extra = {} if eps is None else {"eps": eps}
    if key == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=0.0)
    if key in ("momentum", "nesterov"):
        if momentum <= 0 and (key == "nesterov" or nesterov):
            raise ValueError("Nesterov momentum needs momentum > 0")
        return torch.optim.SGD(groups, lr=lr, momentum=momentum, nesterov=nesterov or key == "nesterov")
    if key == "adagrad":
        return torch.optim.Adagrad(groups, lr=lr, **extra)
    if key == "rmsprop":
        return torch.optim.RMSprop(groups, lr=lr, alpha=alpha, momentum=momentum, **extra)
    if key in ("adam", "amsgrad"):
        return torch.optim.Adam(groups, lr=lr, betas=betas, amsgrad=amsgrad or key == "amsgrad", **extra)
    return torch.optim.AdamW(groups, lr=lr, betas=betas, amsgrad=amsgrad, **extra)


class Lookahead:
    """Lookahead (Zhang, Lucas, Hinton & Ba 2019, arXiv:1907.08610) over a model's floating-point state.

    Every ``every`` optimizer steps the slow copy moves toward the model, slow ← slow + α·(model − slow),
    and the model restarts from it, model ← slow. α = 1 − ``decay``·(t/T)^``power`` at step t of T: with
    ``power`` 0 it is the paper's constant α = 1 − decay; Jordan 2024 (airbench) uses decay 0.95⁵ and power
    3, an average that starts as a plain copy and grows stronger as the learning rate anneals. The state
    covers BN running statistics as well as parameters (as airbench's does). :meth:`finish` ends training
    on the slow weights, after one last update if steps were taken since the previous one (airbench drops
    those steps, which would undo a whole run shorter than ``every`` steps).
    """

    def __init__(self, model: nn.Module, total_steps: int, every: int = 5, decay: float = 0.5, power: float = 0.0):
        if every < 1:
            raise ValueError(f"lookahead 'every' must be a positive number of steps, got {every}")
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"lookahead 'decay' must be in [0, 1), got {decay}")
        if total_steps < 1:
            raise ValueError(f"lookahead needs the run's total_steps >= 1, got {total_steps}")
        self.every, self.decay, self.power, self.total_steps = int(every), float(decay), float(power), total_steps
        self.tensors = {k: v for k, v in model.state_dict().items() if v.is_floating_point()}
        self.slow = {k: v.detach().clone() for k, v in self.tensors.items()}

    def alpha(self, step: int) -> float:
        """How far the slow weights move toward the model at ``step`` (1 = a plain copy); past
        ``total_steps`` (a run extended beyond its plan) it stays at its final value."""
        return 1.0 - self.decay * (min(step, self.total_steps) / self.total_steps) ** self.power

    @torch.no_grad()
    def _update(self, alpha: float) -> None:
        for k, v in self.tensors.items():
            self.slow[k].lerp_(v, alpha)
            v.copy_(self.slow[k])

    def step(self, step: int) -> None:
        """Call after optimizer step number ``step`` (counted from 1)."""
        if step % self.every == 0:
            self._update(self.alpha(step))

    def finish(self, step: int) -> None:
        """End training at ``step`` on the slow weights (updated once more if ``step`` is not an update step)."""
        self._update(0.0 if step % self.every == 0 else self.alpha(step))

    def state_dict(self) -> dict[str, torch.Tensor]:
        return dict(self.slow)

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        missing = set(self.slow) ^ set(state)
        if missing:
            raise ValueError(f"lookahead state does not match the model: keys {sorted(missing)[:5]} differ")
        for k, v in state.items():
            self.slow[k].copy_(v)
