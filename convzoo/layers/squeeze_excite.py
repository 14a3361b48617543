"""Squeeze-and-Excitation (Hu, Shen, Albanie, Sun, Wu 2018, arXiv:1709.01507)."""

from __future__ import annotations

from functools import partial
from typing import Any

import torch
from torch import nn

from convzoo.layers.factories import LayerFactory, LayerSpec, _lookup, get_act_layer

__all__ = ["SqueezeExcite", "get_attn_layer"]


class SqueezeExcite(nn.Module):
    """Channel attention: global average pool, FC (C → C/r), ReLU, FC (C/r → C), sigmoid, rescale.

    The two FC layers are 1×1 convolutions with bias (``fc1``, ``fc2``), as in timm, so weights map 1:1.
    """

    def __init__(
        self,
        channels: int,
        reduction: int = 16,
        reduced_channels: int | None = None,
        act_layer: LayerSpec = "relu",
        gate_layer: LayerSpec = "sigmoid",
    ) -> None:
        super().__init__()
        if reduction < 1:
            raise ValueError(f"SE reduction must be >= 1, got {reduction}")
        rd = reduced_channels or max(1, channels // reduction)
        act = get_act_layer(act_layer)
        gate = get_act_layer(gate_layer)
        assert act is not None and gate is not None, "SE needs an activation and a gate"
        self.fc1 = nn.Conv2d(channels, rd, 1)
        self.act = act()
        self.fc2 = nn.Conv2d(rd, channels, 1)
        self.gate = gate()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean((2, 3), keepdim=True)
        s = self.gate(self.fc2(self.act(self.fc1(s))))
        return x * s


def get_attn_layer(spec: LayerSpec, **kwargs: Any) -> LayerFactory | None:
    """An attention constructor taking the channel count: ``"se"`` is squeeze-and-excitation (reduction 16)."""
    attn = _lookup("attention layer", {"se": SqueezeExcite}, spec)
    return partial(attn, **kwargs) if attn is not None and kwargs else attn
