"""The output-volume formula of the lectures: (W − F + 2P) / S + 1."""

from __future__ import annotations

import math


class ShapeError(ValueError):
    """A layer that cannot produce a valid output volume for its input; the message shows the arithmetic."""


def formula(w: int, f: int, p: int = 0, s: int = 1, d: int = 1) -> str:
    """The arithmetic as text, e.g. ``(227 − 11 + 2·0)/4 + 1 = 55``."""
    fe = f if d == 1 else f"{d}·({f}−1)+1"
    num = w - (d * (f - 1) + 1) + 2 * p
    res = num / s + 1
    shown = f"{int(res)}" if res == int(res) else f"{res:.4g}"
    return f"({w} − {fe} + 2·{p})/{s} + 1 = {shown}"


def output_size(
    w: int,
    f: int,
    p: int = 0,
    s: int = 1,
    d: int = 1,
    *,
    strict: bool = True,
    ceil_mode: bool = False,
    layer: str | None = None,
) -> int:
    """Spatial output size of a convolution or pooling layer: ⌊(W − F_eff + 2P)/S⌋ + 1, F_eff = D·(F−1)+1.

    ``strict=True`` (the lectures' rule) refuses a fractional result; ``strict=False`` floors it as PyTorch
    does (or rounds up with ``ceil_mode``, as Caffe's pooling did). An empty output is always an error.

    >>> output_size(227, 11, 0, 4)
    55
    """
    for label, value, low in (("W", w, 1), ("F", f, 1), ("S", s, 1), ("D", d, 1), ("P", p, 0)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"{label} must be an integer, got {value!r}")
        if value < low:
            raise ValueError(f"{label} must be >= {low}, got {value}")
    where = f"layer {layer!r}: " if layer else ""
    f_eff = d * (f - 1) + 1
    num = w - f_eff + 2 * p
    if num < 0:
        raise ShapeError(
            f"{where}input {w} is smaller than the kernel: {formula(w, f, p, s, d)} — "
            f"the input (with padding) must be at least {f_eff} wide"
        )
    if num % s and strict:
        lo = (num // s) * s + f_eff - 2 * p
        raise ShapeError(
            f"{where}fractional output volume: {formula(w, f, p, s, d)}; the filter does not tile the input "
            f"— use an input of {lo} or {lo + s}, or change the padding or stride"
        )
    out = (math.ceil(num / s) if ceil_mode else num // s) + 1
    if ceil_mode and (out - 1) * s >= w + p:
        out -= 1  # PyTorch's rule: the last window must start inside the input or left padding
    if out < 1:
        raise ShapeError(f"{where}empty output volume: {formula(w, f, p, s, d)}")
    return out
