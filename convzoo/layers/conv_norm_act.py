"""Convolution followed by optional normalization and activation."""

from __future__ import annotations

from torch import nn

from convzoo.layers.factories import LayerSpec, get_act_layer, get_norm_layer

IntPair = int | tuple[int, int]


def same_padding(kernel_size: IntPair, dilation: IntPair = 1) -> IntPair:
    """Padding that keeps the spatial size at stride 1 for odd kernels: (k - 1) // 2 · dilation."""
    if isinstance(kernel_size, tuple):
        d = dilation if isinstance(dilation, tuple) else (dilation, dilation)
        return tuple(((k - 1) // 2) * di for k, di in zip(kernel_size, d, strict=True))  # type: ignore[return-value]
    assert isinstance(dilation, int)
    return ((kernel_size - 1) // 2) * dilation


class ConvNormAct(nn.Sequential):
    """``conv`` → ``bn`` (optional) → ``act`` (optional), named so state_dict keys read ``<name>.conv.weight``.

    ``padding=None`` keeps the size at stride 1 ("same" for odd kernels). ``bias=None`` means a bias only
    when there is no normalization after the convolution.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntPair,
        stride: IntPair = 1,
        padding: IntPair | None = None,
        dilation: IntPair = 1,
        groups: int = 1,
        bias: bool | None = None,
        norm_layer: LayerSpec = "bn",
        act_layer: LayerSpec = "relu",
        bn_eps: float | None = None,
    ) -> None:
        super().__init__()
        norm = get_norm_layer(norm_layer)
        act = get_act_layer(act_layer)
        if padding is None:
            padding = same_padding(kernel_size, dilation)
        self.conv = nn.Conv2d(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=padding,
            dilation=dilation,
            groups=groups,
            bias=(norm is None) if bias is None else bias,
        )
        if norm is not None:
            self.bn = norm(out_channels, eps=bn_eps) if bn_eps is not None else norm(out_channels)
        if act is not None:
            self.act = act()
