"""Activation volume along a network's main path, and the representational bottlenecks in it.

Szegedy et al. (2015), "Rethinking the Inception Architecture", arXiv:1512.00567, §2, principle 1: "One should
avoid bottlenecks with extreme compression. In general the representation size should gently decrease from
the inputs to the outputs". Here the representation size of a step is its activation volume C·H·W; a step is a
*sharp drop* when its volume is more than ``factor`` times smaller than the previous step's, and a *bottleneck*
when it is a sharp drop that a later step widens again (the narrow point comes before a wider representation,
as with pooling before convolution in the paper's Fig. 9, left). A sharp drop straight to the path's narrowest
representation (Fig. 9, right: convolution, then pooling) is not a bottleneck.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["DROP_FACTOR", "VolumeStep", "activation_volumes", "bottlenecks"]

# Halving the grid while doubling the channels (the usual reduction) shrinks the volume 2×; halving it without
# widening shrinks it 4×. A factor between the two flags the second and not the first.
DROP_FACTOR = 3.0


@dataclass(frozen=True)
class VolumeStep:
    """One step of the main path: its output ``shape`` (C, H, W), ``volume`` C·H·W, ``drop`` (the previous
    step's volume ÷ this one; above 1 is a decrease), and the two flags described in the module docstring."""

    name: str
    shape: tuple[int, int, int]
    volume: int
    drop: float
    sharp: bool
    bottleneck: bool


def _chw(shape: Any) -> tuple[int, int, int] | None:
    if isinstance(shape, list | tuple) and len(shape) == 3 and all(isinstance(v, int) for v in shape):
        return (shape[0], shape[1], shape[2])
    return None


def activation_volumes(summary: Any, factor: float = DROP_FACTOR, prefix: str = "") -> list[VolumeStep]:
    """The steps of ``summary`` (a :class:`~convzoo.inspect.Summary` laid out at the depth whose rows are the
    main path, e.g. ``summary("inception_v3", depth=2)``) that output a C×H×W map and whose name starts with
    ``prefix``, starting from the input; each with its volume, its drop and its flags."""
    if factor <= 1:
        raise ValueError(f"the drop factor must be above 1, got {factor}")
    shapes = [("input", _chw(list(summary.input_size)))]
    shapes += [(r.name, _chw(r.output_shape)) for r in summary.layers if r.name.startswith(prefix)]
    path = [(n, s) for n, s in shapes if s is not None]
    volumes = [s[0] * s[1] * s[2] for _, s in path]
    steps = []
    for i, ((name, shape), vol) in enumerate(zip(path, volumes, strict=True)):
        drop = volumes[i - 1] / vol if i else 1.0
        sharp = drop > factor
        steps.append(
            VolumeStep(name, shape, vol, drop, sharp, sharp and any(v > vol for v in volumes[i + 1 :]))
        )
    return steps


def bottlenecks(summary: Any, factor: float = DROP_FACTOR, prefix: str = "") -> list[VolumeStep]:
    """The steps of :func:`activation_volumes` flagged as representational bottlenecks."""
    return [s for s in activation_volumes(summary, factor, prefix) if s.bottleneck]
