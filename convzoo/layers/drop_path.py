"""Stochastic depth (Huang, Sun, Liu, Sedra, Weinberger 2016, arXiv:1603.09382)."""

from __future__ import annotations

import torch
from torch import nn


class DropPath(nn.Module):
    """Drop a residual branch with probability ``drop_prob`` while training.

    ``mode="batch"`` (the paper) drops the branch for the whole mini-batch; ``mode="row"`` draws per sample.
    ``scale="test"`` (the paper) keeps the branch unscaled in training and multiplies it by the survival
    probability in eval mode; ``scale="train"`` divides by it in training instead (inverted, as timm does)
    and is an identity in eval mode. Either way the expected output is the same in both modes.
    """

    def __init__(self, drop_prob: float = 0.0, mode: str = "batch", scale: str = "test") -> None:
        super().__init__()
        if not 0.0 <= drop_prob < 1.0:
            raise ValueError(f"drop_prob must be in [0, 1), got {drop_prob}")
        if mode not in ("batch", "row"):
            raise ValueError(f"mode must be 'batch' or 'row', got {mode!r}")
        if scale not in ("test", "train"):
            raise ValueError(f"scale must be 'test' or 'train', got {scale!r}")
        self.drop_prob = drop_prob
        self.mode = mode
        self.scale = scale

    @property
    def survival(self) -> float:
        return 1.0 - self.drop_prob

    def skips_batch(self) -> bool:
        """In training with ``mode="batch"``, draw once whether this mini-batch drops the branch.

        A block that asks first can skip computing a dropped branch altogether — the training speed-up of
        the paper; it then scales a kept branch by :attr:`kept_scale` instead of calling this module.
        """
        if not (self.training and self.mode == "batch" and self.drop_prob > 0.0):
            return False
        return bool(torch.rand(()) >= self.survival)

    @property
    def kept_scale(self) -> float:
        """Factor for a kept branch in training: 1 (paper form) or 1/survival (``scale="train"``)."""
        return 1.0 / self.survival if self.scale == "train" else 1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.drop_prob == 0.0:
            return x
        keep = self.survival
        if not self.training:
            return x * keep if self.scale == "test" else x
        shape = (1,) * x.ndim if self.mode == "batch" else (x.shape[0],) + (1,) * (x.ndim - 1)
        mask = torch.empty(shape, dtype=x.dtype, device=x.device).bernoulli_(keep)
        if self.scale == "train":
            mask = mask / keep
        return x * mask

    def extra_repr(self) -> str:
        return f"drop_prob={self.drop_prob:.3f}, mode={self.mode}, scale={self.scale}"
