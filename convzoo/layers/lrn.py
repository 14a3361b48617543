"""Local response normalization as the AlexNet paper writes it (Krizhevsky et al. 2012, Section 3.3)."""

from __future__ import annotations

from torch import nn


def paper_lrn(size: int = 5, k: float = 2.0, alpha: float = 1e-4, beta: float = 0.75) -> nn.LocalResponseNorm:
    """b = a / (k + α Σ a²)^β over ``size`` adjacent channels, with the paper's α.

    ``nn.LocalResponseNorm`` (like Caffe) divides α by ``size``; we multiply it back so the module computes
    the paper's formula exactly.
    """
    return nn.LocalResponseNorm(size, alpha=alpha * size, beta=beta, k=k)
