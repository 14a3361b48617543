"""The optimizers' update rules exactly as the lectures write them, for checking ``torch.optim`` against.

Each rule keeps its own state and maps the current point ``w`` to the next one, given the gradient function
(Nesterov needs the gradient at a look-ahead point). ``dW`` is the gradient, ``α`` the learning rate.

Where ``torch.optim`` writes the same method differently:

* **Momentum.** torch's SGD keeps ``v = βv + dW`` (the "sum" form, with ``v₁ = dW``). The exponentially
  weighted form ``v = βv + (1-β)dW`` with rate ``α`` gives the same points as torch with rate ``α(1-β)``.
  torch's ``dampening=β`` is *not* that form: torch skips the damping on the very first step (``v₁ = dW``).
* **Nesterov.** The lecture form evaluates the gradient at the look-ahead point ``w + βv``; torch stores that
  look-ahead point itself as the parameter (Sutskever et al. 2013 rewritten as in Bengio et al. 2012,
  arXiv:1212.0901), so
  torch's parameters equal the lecture's ``w + βv`` (:meth:`Nesterov.lookahead`), not its ``w``.
* **AdaGrad / RMSProp.** torch adds ε *outside* the square root, ``dW / (√cache + ε)``, as cs231n writes it;
  TensorFlow's ``ApplyRMSProp`` op (and some course notes) use ``dW / √(cache + ε)``. ``eps_inside=True``
  gives that form; the two differ while the cache is small. torch's RMSProp calls the decay rate ``alpha``
  (default 0.99).
* **Adam.** torch computes ``α/(1-β₁ᵗ) · m / (√v/√(1-β₂ᵗ) + ε)``, which is the bias-corrected lecture form
  ``α m̂ / (√v̂ + ε)`` rearranged (ε outside the root, added after the correction). The Adam paper's
  "more efficient" variant (Kingma & Ba 2014, end of §2) puts ε before the correction instead.
* **AMSGrad.** torch keeps the running maximum of the *uncorrected* ``v`` and then divides by ``1-β₂ᵗ``;
  Reddi et al. (2018, Algorithm 2) use no bias correction at all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

__all__ = ["GD", "AdaGrad", "Adam", "Momentum", "Nesterov", "RMSProp", "Rule"]

GradFn = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class Rule:
    """Base class: ``step(w, grad) -> new w``."""

    lr: float

    def step(self, w: torch.Tensor, grad: GradFn) -> torch.Tensor:
        raise NotImplementedError


@dataclass
class GD(Rule):
    """Gradient descent: ``W = W - α dW``."""

    def step(self, w: torch.Tensor, grad: GradFn) -> torch.Tensor:
        return w - self.lr * grad(w)


@dataclass
class Momentum(Rule):
    """Momentum: ``v = βv + dW`` (``ewa=False``) or ``v = βv + (1-β)dW`` (``ewa=True``); ``W = W - α v``."""

    beta: float = 0.9
    ewa: bool = False
    v: torch.Tensor | float = field(default=0.0, repr=False)

    def step(self, w: torch.Tensor, grad: GradFn) -> torch.Tensor:
        dw = grad(w)
        self.v = self.beta * self.v + ((1 - self.beta) * dw if self.ewa else dw)
        return w - self.lr * self.v


@dataclass
class Nesterov(Rule):
    """Nesterov momentum: ``v = βv - α ∇f(W + βv)``; ``W = W + v`` (the gradient at the look-ahead point)."""

    beta: float = 0.9
    v: torch.Tensor | float = field(default=0.0, repr=False)

    def step(self, w: torch.Tensor, grad: GradFn) -> torch.Tensor:
        self.v = self.beta * self.v - self.lr * grad(w + self.beta * self.v)
        return w + self.v

    def lookahead(self, w: torch.Tensor) -> torch.Tensor:
        """``W + βv``: the point where the next gradient is taken (what torch stores as the parameter)."""
        return w + self.beta * self.v


@dataclass
class AdaGrad(Rule):
    """AdaGrad: ``cache = cache + dW²``; ``W = W - α dW / (√cache + ε)``."""

    eps: float = 1e-10
    eps_inside: bool = False
    cache: torch.Tensor | float = field(default=0.0, repr=False)

    def step(self, w: torch.Tensor, grad: GradFn) -> torch.Tensor:
        dw = grad(w)
        self.cache = self.cache + dw**2
        return w - self.lr * dw / _root(self.cache, self.eps, self.eps_inside)


@dataclass
class RMSProp(Rule):
    """RMSProp: ``cache = ρ cache + (1-ρ) dW²``; ``W = W - α dW / (√cache + ε)``."""

    rho: float = 0.9
    eps: float = 1e-8
    eps_inside: bool = False
    cache: torch.Tensor | float = field(default=0.0, repr=False)

    def step(self, w: torch.Tensor, grad: GradFn) -> torch.Tensor:
        dw = grad(w)
        self.cache = self.rho * self.cache + (1 - self.rho) * dw**2
        return w - self.lr * dw / _root(self.cache, self.eps, self.eps_inside)


@dataclass
class Adam(Rule):
    """Adam: ``m = β₁m + (1-β₁)dW``, ``v = β₂v + (1-β₂)dW²``, ``m̂ = m/(1-β₁ᵗ)``, ``v̂ = v/(1-β₂ᵗ)``,
    ``W = W - α m̂ / (√v̂ + ε)``. ``bias_correction=False`` uses ``m`` and ``v`` as they are;
    ``amsgrad=True`` replaces ``v`` by its running maximum (before the correction, as torch does)."""

    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    bias_correction: bool = True
    amsgrad: bool = False
    m: torch.Tensor | float = field(default=0.0, repr=False)
    v: torch.Tensor | float = field(default=0.0, repr=False)
    v_max: torch.Tensor | float = field(default=0.0, repr=False)
    t: int = field(default=0, repr=False)

    def step(self, w: torch.Tensor, grad: GradFn) -> torch.Tensor:
        dw = grad(w)
        self.t += 1
        self.m = self.beta1 * self.m + (1 - self.beta1) * dw
        self.v = self.beta2 * self.v + (1 - self.beta2) * dw**2
        v = self.v
        if self.amsgrad:
            self.v_max = torch.maximum(torch.as_tensor(self.v_max, dtype=dw.dtype), self.v)
            v = self.v_max
        m_hat, v_hat = self.m, v
        if self.bias_correction:
            m_hat = self.m / (1 - self.beta1**self.t)
            v_hat = v / (1 - self.beta2**self.t)
        return w - self.lr * m_hat / (torch.sqrt(v_hat) + self.eps)


def _root(cache: torch.Tensor | float, eps: float, inside: bool) -> torch.Tensor:
    cache = torch.as_tensor(cache)
    return torch.sqrt(cache + eps) if inside else torch.sqrt(cache) + eps
