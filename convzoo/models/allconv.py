"""All-convolutional nets (Springenberg, Dosovitskiy, Brox, Riedmiller 2014, arXiv:1412.6806), model C family.

Table 1's base model C and the three derived nets of Table 2, so max-pooling can be compared with strided
convolution on CIFAR-10 (32×32):

* Strided-CNN-C removes each max-pooling layer and gives the conv before it stride 2;
* ConvPool-CNN-C adds a 3×3 conv before each pooling layer (the control with the same parameters);
* All-CNN-C replaces each pooling layer by a 3×3 stride-2 convolution.

Dropout drops 20 % of the input and 50 % after each pooling layer or the layer that replaces it (Section 3.2).
Every convolution, the 10-way 1×1 one included, is followed by ReLU; global averaging over the 6×6 maps follows
(``head="fc"`` puts a fully connected layer there instead, for the GAP-vs-FC comparison of Lin et al. 2013).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from convzoo.layers import he_normal_
from convzoo.models._base import ZooModel
from convzoo.models.nin import classifier_head, feature_side
from convzoo.registry import Paper, Reported, register_model

__all__ = ["AllConvNet", "Conv", "POOL", "MODEL_C_FAMILY"]

SPRINGENBERG_2014 = Paper(
    authors="Springenberg, Dosovitskiy, Brox, Riedmiller",
    title="Striving for Simplicity: The All Convolutional Net",
    year=2014,
    arxiv="1412.6806",
)


@dataclass(frozen=True)
class Conv:
    """A ``kernel``×``kernel`` convolution with ``width`` maps (0 = one per class) and ReLU; padding
    ``None`` keeps the size at stride 1."""

    kernel: int
    width: int
    stride: int = 1
    padding: int | None = None


POOL = "3x3 max-pool stride 2"  # padding 1, the same geometry as the strided conv that replaces it

_C96, _C192 = Conv(3, 96), Conv(3, 192)
_HEAD = (Conv(3, 192, padding=0), Conv(1, 192), Conv(1, 0))  # 8×8 → 6×6 → class maps
MODEL_C_FAMILY: dict[str, tuple[Conv | str, ...]] = {
    "Model C": (_C96, _C96, POOL, _C192, _C192, POOL, *_HEAD),
    "Strided-CNN-C": (_C96, Conv(3, 96, 2), _C192, Conv(3, 192, 2), *_HEAD),
    "ConvPool-CNN-C": (_C96, _C96, _C96, POOL, _C192, _C192, _C192, POOL, *_HEAD),
    "All-CNN-C": (_C96, _C96, Conv(3, 96, 2), _C192, _C192, Conv(3, 192, 2), *_HEAD),
}


class AllConvNet(ZooModel):
    """Input dropout, the layers of a Table 1/2 column (``conv1``, ``relu1``, …, ``pool1``, ``drop1``), then
    the :func:`~convzoo.models.nin.classifier_head` ``head``: global average pooling, or with ``head="fc"`` a
    fully connected layer built for ``img_size``×``img_size`` inputs. Dropout follows every layer that downsamples.
    """

    def __init__(
        self,
        layers: Sequence[Conv | str],
        num_classes: int = 10,
        in_chans: int = 3,
        input_dropout: float = 0.2,
        dropout: float = 0.5,
        head: str = "gap",
        head_dropout: float = 0.0,
        img_size: int = 32,
    ) -> None:
        super().__init__()
        self.num_classes, self.in_chans = num_classes, in_chans
        self.features = nn.Sequential()
        self.features.add_module("drop0", nn.Dropout(input_dropout))
        chans, convs, downs = in_chans, 0, 0
        for layer in layers:
            if layer == POOL:
                downs += 1
                self.features.add_module(f"pool{downs}", nn.MaxPool2d(3, 2, padding=1))
            elif isinstance(layer, Conv):
                convs += 1
                width = layer.width or num_classes
                pad = layer.kernel // 2 if layer.padding is None else layer.padding
                self.features.add_module(
                    f"conv{convs}", nn.Conv2d(chans, width, layer.kernel, layer.stride, pad)
                )
                self.features.add_module(f"relu{convs}", nn.ReLU(inplace=True))
                chans = width
                if layer.stride == 1:
                    continue
                downs += 1
            else:
                raise ValueError(f"unknown layer {layer!r}: use Conv(kernel, width, stride, padding) or POOL")
            self.features.add_module(f"drop{downs}", nn.Dropout(dropout))
        self.classifier_name = f"conv{convs}"
        side = feature_side(self.features, img_size) if head == "fc" else 1
        self.head_kind = head
        self.head = classifier_head(head, chans, side, num_classes, head_dropout)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """He-normal weights (fan-in) and zero biases (the paper states no initialisation); the FC head's
        layer keeps PyTorch's default initialisation."""
        he_normal_(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Everything up to the class maps of the last 1×1 convolution."""
        return self.features(x)

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(x)

    def get_classifier(self) -> nn.Module:
        return self.head.fc if self.head_kind == "fc" else getattr(self.features, self.classifier_name)

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the last 1×1 convolution (one map per class), or with ``head="fc"`` the FC layer."""
        if self.head_kind == "fc":
            old_fc = self.head.fc
            self.head.fc = nn.Linear(old_fc.in_features, num_classes, device=old_fc.weight.device)
            self.num_classes = num_classes
            return
        old = getattr(self.features, self.classifier_name)
        new = nn.Conv2d(old.in_channels, num_classes, 1, device=old.weight.device)
        he_normal_(new)
        setattr(self.features, self.classifier_name, new)
        self.num_classes = num_classes


_NOTE = "Paddings not in the paper: 'same' for 3×3 convs and pooling (pad 1), none for the 3×3 conv that gives 6×6. "
_COUNT_NOTE = (
    "Table 3 lists about 1.3 M parameters, but the layers of Tables 1-2 count 954,730 (0.95 M) for 10 classes; "
    "we follow the layers. "
)
_INIT_NOTE = "Init He-normal (unstated in the paper)."


@register_model(
    paper=SPRINGENBERG_2014,
    input_size=(3, 32, 32),
    num_classes=10,
    reported=Reported(params="1.4M", cifar10_err=7.25, source="Table 3 (with augmentation; 9.08% without)"),
    note=_NOTE
    + _INIT_NOTE
    + " head='fc' (not in this paper) is Lin et al. 2013 §4.6's control on this net: the 10 class maps (6×6 at "
    "32 px) flattened into one fully connected layer, all else unchanged; head_dropout adds dropout before it.",
)
def allcnn_c(
    num_classes: int = 10,
    in_chans: int = 3,
    dropout: float = 0.5,
    head: str = "gap",
    head_dropout: float = 0.0,
    img_size: int = 32,
) -> AllConvNet:
    """All-CNN-C: Springenberg et al. (2014), arXiv:1412.6806, Table 2 (derived from model C of Table 1).

    Only convolutions: each max-pooling layer of model C becomes a 3×3 stride-2 convolution; 1,369,738 params.
    ``head="fc"`` swaps the global average pooling for a fully connected layer (Lin et al. 2013, §4.6).
    """
    return AllConvNet(
        MODEL_C_FAMILY["All-CNN-C"],
        num_classes,
        in_chans,
        dropout=dropout,
        head=head,
        head_dropout=head_dropout,
        img_size=img_size,
    )


@register_model(
    paper=SPRINGENBERG_2014,
    input_size=(3, 32, 32),
    num_classes=10,
    reported=Reported(params="1.3M", cifar10_err=10.19, source="Table 3 (CIFAR-10, no augmentation)"),
    note=_NOTE + _COUNT_NOTE + _INIT_NOTE,
)
def strided_cnn_c(num_classes: int = 10, in_chans: int = 3, dropout: float = 0.5) -> AllConvNet:
    """Strided-CNN-C: Springenberg et al. (2014), arXiv:1412.6806, Table 2.

    Model C with its max-pooling removed and the convolution before each pool given stride 2.
    """
    return AllConvNet(MODEL_C_FAMILY["Strided-CNN-C"], num_classes, in_chans, dropout=dropout)


@register_model(
    paper=SPRINGENBERG_2014,
    input_size=(3, 32, 32),
    num_classes=10,
    reported=Reported(params="1.4M", cifar10_err=9.31, source="Table 3 (CIFAR-10, no augmentation)"),
    note=_NOTE + _INIT_NOTE,
)
def convpool_cnn_c(num_classes: int = 10, in_chans: int = 3, dropout: float = 0.5) -> AllConvNet:
    """ConvPool-CNN-C: Springenberg et al. (2014), arXiv:1412.6806, Table 2.

    Model C with an extra 3×3 convolution before each max-pooling layer: All-CNN-C's parameters, with pooling.
    """
    return AllConvNet(MODEL_C_FAMILY["ConvPool-CNN-C"], num_classes, in_chans, dropout=dropout)


@register_model(
    paper=SPRINGENBERG_2014,
    input_size=(3, 32, 32),
    num_classes=10,
    reported=Reported(params="1.3M", cifar10_err=9.74, source="Table 3 (CIFAR-10, no augmentation)"),
    note=_NOTE + _COUNT_NOTE + _INIT_NOTE,
)
def base_cnn_c(num_classes: int = 10, in_chans: int = 3, dropout: float = 0.5) -> AllConvNet:
    """Base model C: Springenberg et al. (2014), arXiv:1412.6806, Table 1 (the net All-CNN-C derives from).

    Two 3×3 convs, 3×3 stride-2 max-pooling, two more, pooling, then 3×3 (valid), 1×1 and 1×1 class convs.
    """
    return AllConvNet(MODEL_C_FAMILY["Model C"], num_classes, in_chans, dropout=dropout)
