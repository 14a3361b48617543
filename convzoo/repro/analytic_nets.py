"""The small networks the analytic claims compare, beside the registered ones (imported when computed)."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["ParallelReduction"]


class ParallelReduction(nn.Module):
    """Szegedy et al. (2015), Fig. 10 (right): a stride-2 3×3 convolution (k → k) beside a stride-2 3×3
    max-pool, concatenated: d×d×k → d/2×d/2×2k."""

    def __init__(self, k: int) -> None:
        super().__init__()
        self.conv, self.pool = nn.Conv2d(k, k, 3, 2), nn.MaxPool2d(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.conv(x), self.pool(x)], 1)
