"""Turn names into layer constructors, so blocks can take their parts as arguments.

``norm_layer``, ``act_layer`` and ``attn_layer`` accept either a string (``"bn"``, ``"relu"``, ``"se"``),
``None``/``"none"`` for no layer, or any callable that builds an ``nn.Module``. Attention layers are named
beside the one they build (:func:`convzoo.layers.squeeze_excite.get_attn_layer`), which builds on this module.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from torch import nn

LayerFactory = Callable[..., nn.Module]
LayerSpec = str | LayerFactory | None


class ScaledTanh(nn.Module):
    """LeCun's squashing function f(a) = A·tanh(S·a) with A = 1.7159, S = 2/3 (LeCun et al. 1998, Appendix A)."""

    def __init__(self, amplitude: float = 1.7159, slope: float = 2.0 / 3.0) -> None:
        super().__init__()
        self.amplitude = amplitude
        self.slope = slope

    def forward(self, x):  # type: ignore[no-untyped-def]
        return self.amplitude * (self.slope * x).tanh()

    def extra_repr(self) -> str:
        return f"amplitude={self.amplitude}, slope={self.slope:.4f}"


_ACTS: dict[str, LayerFactory] = {
    "relu": partial(nn.ReLU, inplace=True),
    "relu6": partial(nn.ReLU6, inplace=True),
    "leaky_relu": partial(nn.LeakyReLU, inplace=True),
    "elu": partial(nn.ELU, inplace=True),
    "gelu": nn.GELU,
    "silu": partial(nn.SiLU, inplace=True),
    "swish": partial(nn.SiLU, inplace=True),
    "tanh": nn.Tanh,
    "scaled_tanh": ScaledTanh,
    "sigmoid": nn.Sigmoid,
}

_NORMS: dict[str, LayerFactory] = {
    "bn": nn.BatchNorm2d,
    "batchnorm": nn.BatchNorm2d,
    "batchnorm2d": nn.BatchNorm2d,
    "gn": partial(nn.GroupNorm, 32),
    "groupnorm": partial(nn.GroupNorm, 32),
}


def _lookup(kind: str, table: dict[str, LayerFactory], spec: LayerSpec) -> LayerFactory | None:
    if spec is None:
        return None
    if isinstance(spec, str):
        key = spec.lower()
        if key in ("none", ""):
            return None
        if key not in table:
            raise ValueError(f"unknown {kind} {spec!r}; choose one of: {', '.join(sorted(table))}, or 'none'")
        return table[key]
    if callable(spec):
        return spec
    raise TypeError(f"{kind} must be a name, a callable that builds a module, or None; got {spec!r}")


def get_act_layer(spec: LayerSpec) -> LayerFactory | None:
    """An activation constructor from a name (``"relu"``, ``"tanh"``, ``"scaled_tanh"``...) or a callable."""
    return _lookup("activation", _ACTS, spec)


def get_norm_layer(spec: LayerSpec) -> LayerFactory | None:
    """A normalization constructor taking the channel count, from a name (``"bn"``, ``"gn"``) or a callable."""
    return _lookup("norm layer", _NORMS, spec)
