"""Weight initialisation shared by families and the trainer."""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def he_normal_(module: nn.Module, mode: str = "fan_in") -> nn.Module:
    """He et al. 2015 (arXiv:1502.01852): Kaiming-normal (ReLU gain) weights and zero biases for every
    convolution in ``module`` (itself included), BN/GN scales 1 and shifts 0. ``mode`` is ``"fan_in"`` or
    ``"fan_out"`` (the ResNet authors' code)."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode=mode, nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d | nn.GroupNorm) and m.weight is not None:
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    return module
