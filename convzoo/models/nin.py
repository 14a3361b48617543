"""Network in Network (Lin, Chen, Yan 2013, arXiv:1312.4400).

An mlpconv block is a k×k convolution followed by 1×1 convolutions (the paper's "cascaded cross channel
parametric pooling", ``cccp``), each with ReLU. Blocks are separated by 3×3 stride-2 pooling (rounded up, as
Caffe did) and dropout; the last block has one map per class and global average pooling replaces the fully
connected layers. The configurations are the authors' published Caffe models (the paper's Section 4 gives
the CIFAR-10 network's three mlpconv layers but leaves the widths to those files).

``head="fc"`` is the control of the paper's Section 4.6 (global average pooling as a regularizer): the global
average pooling replaced by a fully connected layer, the rest of the network unchanged, optionally with dropout
before it (``head_dropout``). :func:`classifier_head` builds either head for any family with class maps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from convzoo.inspect.output_size import output_size
from convzoo.layers import he_normal_
from convzoo.models._base import ZooModel
from convzoo.registry import Paper, Reported, register_model

__all__ = ["NIN", "MlpConv", "NIN_CIFAR10", "NIN_IMAGENET", "HEADS", "classifier_head", "feature_side"]

LIN_2013 = Paper(authors="Lin, Chen, Yan", title="Network In Network", year=2013, arxiv="1312.4400")


@dataclass(frozen=True)
class MlpConv:
    """One mlpconv block: a ``kernel``×``kernel`` conv with ``widths[0]`` maps, then 1×1 convs of ``widths[1:]``;
    then ``pool`` ("max", "avg" or None for the last block) and dropout when ``dropout``."""

    kernel: int
    widths: tuple[int, ...]
    stride: int = 1
    padding: int = 0
    pool: str | None = "max"
    dropout: bool = True


HEADS = ("gap", "fc")


def feature_side(layers: nn.Module, side: int) -> int:
    """The side of the square maps a chain of convolutions and poolings makes from a ``side``×``side`` input."""
    for name, m in layers.named_children():
        if isinstance(m, nn.Conv2d | nn.MaxPool2d | nn.AvgPool2d):
            k, s, p, d = (
                v[0] if isinstance(v, tuple) else v
                for v in (m.kernel_size, m.stride, m.padding, getattr(m, "dilation", 1))
            )
            ceil = getattr(m, "ceil_mode", False)
            side = output_size(side, k, p, s, d, strict=False, ceil_mode=ceil, layer=name)
    return side


def classifier_head(
    kind: str, chans: int, side: int, num_classes: int, dropout: float = 0.0
) -> nn.Sequential:
    """``gap``: ``pool`` (global average of each map) and ``flatten`` (Lin et al. 2013, §3.2); ``fc``:
    ``flatten``, ``drop`` (when ``dropout``) and ``fc``, a fully connected layer on all ``chans``·``side``²
    features (§4.6). Dropout before a fully connected layer only: GAP has none to regularise."""
    if kind not in HEADS:
        raise ValueError(
            f"unknown head {kind!r}; choose 'gap' (global average pooling) or 'fc' (fully connected)"
        )
    if not 0.0 <= dropout < 1.0 or (dropout and kind != "fc"):
        raise ValueError(
            f"head_dropout must be in [0, 1) and goes with head='fc' only; got {dropout} for {kind!r}"
        )
    head = nn.Sequential()
    if kind == "gap":
        head.add_module("pool", nn.AdaptiveAvgPool2d(1))
    head.add_module("flatten", nn.Flatten(1))
    if kind == "fc":
        if dropout:
            head.add_module("drop", nn.Dropout(dropout))
        head.add_module("fc", nn.Linear(chans * side * side, num_classes))
    return head


# cifar10_nin (Caffe Model Zoo): 192-160-96 / 192-192-192 / 192-192-classes, max then average pooling.
NIN_CIFAR10 = (
    MlpConv(5, (192, 160, 96), padding=2, pool="max"),
    MlpConv(5, (192, 192, 192), padding=2, pool="avg"),
    MlpConv(3, (192, 192, 0), padding=1, pool=None, dropout=False),
)
# nin_imagenet (Caffe Model Zoo): four mlpconv layers, dropout only before the last one.
NIN_IMAGENET = (
    MlpConv(11, (96, 96, 96), stride=4, pool="max", dropout=False),
    MlpConv(5, (256, 256, 256), padding=2, pool="max", dropout=False),
    MlpConv(3, (384, 384, 384), padding=1, pool="max"),
    MlpConv(3, (1024, 1024, 0), padding=1, pool=None, dropout=False),
)


class NIN(ZooModel):
    """Stacked mlpconv blocks; a width of 0 in the last block means ``num_classes``. Layers are named as in
    the authors' files: ``features.conv1``, ``cccp1``, ``cccp2``, ``pool1``, ``drop1``, ``conv2`` …, then
    the :func:`classifier_head` ``head`` (``head="fc"`` is built for ``img_size``×``img_size`` inputs)."""

    def __init__(
        self,
        blocks: Sequence[MlpConv],
        num_classes: int = 10,
        in_chans: int = 3,
        dropout: float = 0.5,
        head: str = "gap",
        head_dropout: float = 0.0,
        img_size: int = 32,
    ) -> None:
        super().__init__()
        if blocks[-1].widths[-1] != 0 or blocks[-1].pool is not None:
            raise ValueError("the last mlpconv block must end with width 0 (= num_classes) and no pooling")
        self.num_classes, self.in_chans, self.blocks = num_classes, in_chans, tuple(blocks)
        self.features = nn.Sequential()
        chans, cccp = in_chans, 0
        for b, block in enumerate(blocks, 1):
            for j, width in enumerate(block.widths):
                width = width or num_classes
                if j == 0:
                    name = f"conv{b}"
                    conv = nn.Conv2d(chans, width, block.kernel, block.stride, block.padding)
                else:
                    cccp += 1
                    name = f"cccp{cccp}"
                    conv = nn.Conv2d(chans, width, 1)
                self.features.add_module(name, conv)
                self.features.add_module(f"relu_{name}", nn.ReLU(inplace=True))
                chans = width
            if block.pool == "max":
                self.features.add_module(f"pool{b}", nn.MaxPool2d(3, 2, ceil_mode=True))
            elif block.pool == "avg":
                self.features.add_module(f"pool{b}", nn.AvgPool2d(3, 2, ceil_mode=True))
            elif block.pool is not None:
                raise ValueError(f"pool must be 'max', 'avg' or None, got {block.pool!r}")
            if block.dropout:
                self.features.add_module(f"drop{b}", nn.Dropout(dropout))
        side = feature_side(self.features, img_size) if head == "fc" else 1
        self.head_kind = head
        self.head = classifier_head(head, chans, side, num_classes, head_dropout)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """He-normal weights (fan-in) and zero biases (the paper states no initialisation); the FC head's
        layer keeps PyTorch's default initialisation."""
        he_normal_(self)

    def _last_conv_name(self) -> str:
        return [n for n, m in self.features.named_children() if isinstance(m, nn.Conv2d)][-1]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Everything up to the last mlpconv layer, whose maps are the class confidence maps."""
        return self.features(x)

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(x)

    def get_classifier(self) -> nn.Module:
        return self.head.fc if self.head_kind == "fc" else getattr(self.features, self._last_conv_name())

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the last 1×1 conv (the one with a map per class), or with ``head="fc"`` the FC layer."""
        self.num_classes = num_classes
        if self.head_kind == "fc":
            old_fc = self.head.fc
            self.head.fc = nn.Linear(old_fc.in_features, num_classes, device=old_fc.weight.device)
            return
        name = self._last_conv_name()
        old = getattr(self.features, name)
        new = nn.Conv2d(old.in_channels, num_classes, 1, device=old.weight.device)
        he_normal_(new)
        setattr(self.features, name, new)


@register_model(
    paper=LIN_2013,
    input_size=(3, 32, 32),
    num_classes=10,
    reported=Reported(
        cifar10_err=8.81, source="Table 1 (CIFAR-10 with data augmentation; 10.41% without, unverified)"
    ),
    note=(
        "Widths and pooling from the authors' published cifar10_nin model (the paper gives neither): "
        "192-160-96 / 192-192-192 / 192-192-10, 3×3/2 max- then average-pooling, dropout 0.5 after the first "
        "two blocks, ReLU after every layer including the class maps. Init He-normal (unstated in the paper). "
        "head='fc' is §4.6's control: the 10 class maps (8×8 at 32 px) flattened into one fully connected "
        "layer, all else unchanged; head_dropout (e.g. 0.5; the rate is unstated) is its 'with dropout' arm. "
        "§4.6's figures (FC 11.59, FC + dropout 10.88, GAP 10.41, no augmentation) are unverified"
    ),
)
def nin_cifar10(
    num_classes: int = 10,
    in_chans: int = 3,
    dropout: float = 0.5,
    head: str = "gap",
    head_dropout: float = 0.0,
    img_size: int = 32,
) -> NIN:
    """NIN for CIFAR-10: Lin, Chen, Yan (2013), arXiv:1312.4400, Sections 3-4 and the authors' Caffe model.

    Three mlpconv layers (5×5, 5×5, 3×3, each with two 1×1 layers), dropout between them, global average pooling
    (``head="gap"``) or, for Section 4.6's comparison, a fully connected layer (``head="fc"``).
    """
    return NIN(NIN_CIFAR10, num_classes, in_chans, dropout, head, head_dropout, img_size)


@register_model(
    paper=LIN_2013,
    input_size=(3, 224, 224),
    num_classes=1000,
    reported=Reported(source="not in the paper: the authors' nin_imagenet model (Caffe Model Zoo)"),
    note=(
        "The paper reports no ImageNet network: this is the authors' published nin_imagenet model "
        "(11×11/4, 5×5, 3×3, 3×3 mlpconv layers of 96, 256, 384, 1024 maps, dropout before the last one, "
        "6×6 global average pooling; 7.6 M parameters). Init He-normal."
    ),
)
def nin_imagenet(num_classes: int = 1000, in_chans: int = 3, dropout: float = 0.5) -> NIN:
    """NIN for ImageNet: Lin, Chen, Yan (2013), arXiv:1312.4400, as the authors released it (Caffe Model Zoo).

    Four mlpconv layers on 224×224 crops, global average pooling over the 6×6 class maps.
    """
    return NIN(NIN_IMAGENET, num_classes, in_chans, dropout)
