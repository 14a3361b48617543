"""AlexNet (Krizhevsky, Sutskever, Hinton 2012) and ZFNet (Zeiler & Fergus 2013, arXiv:1311.2901).

Both are five convolutions and three fully connected layers; they differ in the data below. Each conv layer
is followed by a ReLU and then, in the paper's order, local response normalization and/or 3×3 stride-2
max-pooling. Layers are named as the papers number them: ``features.conv1 … pool5``, ``classifier.fc6 … fc8``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from convzoo.inspect.output_size import output_size
from convzoo.layers import paper_lrn
from convzoo.models._base import ZooModel
from convzoo.registry import Paper, Reported, register_model

__all__ = ["AlexNet", "ConvLayer", "TowerLRN", "alexnet_layers", "zfnet_layers"]

KRIZHEVSKY_2012 = Paper(
    authors="Krizhevsky, Sutskever, Hinton",
    title="ImageNet Classification with Deep Convolutional Neural Networks",
    year=2012,
    url="https://papers.nips.cc/paper/4824-imagenet-classification-with-deep-convolutional-neural-networks",
)
ZEILER_2013 = Paper(
    authors="Zeiler, Fergus",
    title="Visualizing and Understanding Convolutional Networks",
    year=2013,
    arxiv="1311.2901",
)


@dataclass(frozen=True)
class ConvLayer:
    """One convolution, then ReLU, then ``after`` in order ("norm", "pool"). ``groups=2`` splits it into the
    two GPU towers, each seeing only its own half of the previous layer."""

    width: int
    kernel: int
    stride: int = 1
    padding: int = 0
    groups: int = 1
    after: tuple[str, ...] = ()


def alexnet_layers(towers: int = 1) -> tuple[ConvLayer, ...]:
    """Section 3.5 and Fig. 2. With ``towers=2``, conv2, conv4 and conv5 see only their own GPU's maps."""
    t = towers
    return (
        ConvLayer(96, 11, 4, 0, after=("norm", "pool")),
        ConvLayer(256, 5, 1, 2, t, after=("norm", "pool")),
        ConvLayer(384, 3, 1, 1),
        ConvLayer(384, 3, 1, 1, t),
        ConvLayer(256, 3, 1, 1, t, after=("pool",)),
    )


def zfnet_layers(widths: Sequence[int] = (384, 384, 256)) -> tuple[ConvLayer, ...]:
    """Fig. 3: 7×7/2 conv1 and 5×5/2 conv2, each pooled then contrast-normalized; dense conv3-5 of ``widths``.

    The paper gives no paddings; conv1 padding 1 with Caffe-style ceil-mode pooling reproduces its maps:
    224 → 110 → 55 → 26 → 13 → 13 → 13 → 13 → 6.
    """
    c3, c4, c5 = widths
    return (
        ConvLayer(96, 7, 2, 1, after=("pool", "norm")),
        ConvLayer(256, 5, 2, 0, after=("pool", "norm")),
        ConvLayer(c3, 3, 1, 1),
        ConvLayer(c4, 3, 1, 1),
        ConvLayer(c5, 3, 1, 1, after=("pool",)),
    )


class TowerLRN(nn.LocalResponseNorm):
    """Local response normalization within each GPU tower: the sum runs over adjacent maps of the same tower."""

    def __init__(self, towers: int, size: int = 5, k: float = 2.0, alpha: float = 1e-4, beta: float = 0.75):
        lrn = paper_lrn(size, k, alpha, beta)
        super().__init__(lrn.size, lrn.alpha, lrn.beta, lrn.k)
        self.towers = towers

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        return super().forward(x.reshape(n * self.towers, c // self.towers, h, w)).reshape(n, c, h, w)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, towers={self.towers}"


class AlexNet(ZooModel):
    """Conv layers from a list of :class:`ConvLayer`, then fc6-fc7 (ReLU, dropout after each) and fc8.

    ``img_size`` is the input the fully connected head is built for (the features must then be exactly
    the size it computes). ``ceil_mode`` rounds pooling outputs up as Caffe did. ``bias_one`` names the
    layers whose biases start at 1 (AlexNet Section 5); all weights start from N(0, 0.01).
    """

    def __init__(
        self,
        layers: Sequence[ConvLayer],
        num_classes: int = 1000,
        in_chans: int = 3,
        img_size: int = 227,
        fc_width: int = 4096,
        dropout: float = 0.5,
        ceil_mode: bool = False,
        towers: int = 1,
        bias_one: Sequence[str] = (),
    ) -> None:
        super().__init__()
        self.num_classes, self.in_chans, self.fc_width = num_classes, in_chans, fc_width
        self.features = nn.Sequential()
        size, chans = img_size, in_chans
        for i, spec in enumerate(layers, 1):
            name = f"conv{i}"
            self.features.add_module(
                name, nn.Conv2d(chans, spec.width, spec.kernel, spec.stride, spec.padding, groups=spec.groups)
            )
            size = output_size(size, spec.kernel, spec.padding, spec.stride, strict=False, layer=name)
            self.features.add_module(f"relu{i}", nn.ReLU(inplace=True))
            for op in spec.after:
                if op == "norm":
                    self.features.add_module(f"norm{i}", paper_lrn() if towers == 1 else TowerLRN(towers))
                elif op == "pool":
                    self.features.add_module(f"pool{i}", nn.MaxPool2d(3, 2, ceil_mode=ceil_mode))
                    size = output_size(size, 3, 0, 2, strict=False, ceil_mode=ceil_mode, layer=f"pool{i}")
                else:
                    raise ValueError(f"unknown layer {op!r} after {name}; use 'norm' or 'pool'")
            chans = spec.width
        self.feature_shape = (chans, size, size)
        self.img_size = img_size
        self.classifier = nn.Sequential()
        self.classifier.add_module("flatten", nn.Flatten(1))
        for i, (fan_in, width) in enumerate(((chans * size * size, fc_width), (fc_width, fc_width)), 6):
            self.classifier.add_module(f"fc{i}", nn.Linear(fan_in, width))
            self.classifier.add_module(f"relu{i}", nn.ReLU(inplace=True))
            self.classifier.add_module(f"drop{i}", nn.Dropout(dropout))
        self.classifier.add_module("fc8", nn.Linear(fc_width, num_classes))
        self.init_paper(bias_one)

    @torch.no_grad()
    def init_paper(self, bias_one: Sequence[str] = ()) -> None:
        """Weights from N(0, 0.01); biases 0, or 1 for the layers named in ``bias_one``."""
        named = {**dict(self.features.named_children()), **dict(self.classifier.named_children())}
        unknown = set(bias_one) - set(named)
        if unknown:
            raise ValueError(f"bias_one names unknown layers {sorted(unknown)}; layers are {sorted(named)}")
        for name, m in named.items():
            if isinstance(m, nn.Conv2d | nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01)
                nn.init.constant_(m.bias, 1.0 if name in bias_one else 0.0)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[1:]) != self.feature_shape:
            c, s, _ = self.feature_shape
            raise ValueError(
                f"{type(self).__name__}'s fc6 was built for {c}×{s}×{s} features ({self.img_size}×{self.img_size} "
                f"input), got {'×'.join(map(str, x.shape[1:]))}: resize the input to {self.img_size}×{self.img_size} "
                "or build the model with img_size=<your size> (`--model-arg img_size=<your size>` on the command line)"
            )
        return self.classifier(x)

    def get_classifier(self) -> nn.Module:
        return self.classifier.fc8

    def reset_classifier(self, num_classes: int) -> None:
        self.num_classes = num_classes
        old = self.classifier.fc8
        self.classifier.fc8 = nn.Linear(self.fc_width, num_classes, device=old.weight.device)
        nn.init.normal_(self.classifier.fc8.weight, 0.0, 0.01)
        nn.init.zeros_(self.classifier.fc8.bias)


_ALEXNET_BIAS_ONE = ("conv2", "conv4", "conv5", "fc6", "fc7")
_ALEXNET_REPORTED = Reported(
    params="60M", top1_err=37.5, top5_err=17.0, source="Abstract, Table 1 (ILSVRC-2010 test)"
)
_ALEXNET_NOTE = (
    "Input 227×227: the paper's '224×224' does not give its 55×55 conv1 maps with an 11×11 stride-4 filter. "
    "Dropout follows the ReLUs of fc6 and fc7 (Section 4.2; torchvision puts it before fc6 and fc7). "
)


@register_model(
    paper=KRIZHEVSKY_2012,
    input_size=(3, 227, 227),
    reported=_ALEXNET_REPORTED,
    note=_ALEXNET_NOTE
    + "Single tower: conv2, conv4, conv5 see all maps of the layer below, so 62,378,344 parameters instead of "
    "the two-GPU network's 60,965,224 (the paper's '60 million'; see alexnet_2gpu).",
)
def alexnet(num_classes: int = 1000, in_chans: int = 3, img_size: int = 227, dropout: float = 0.5) -> AlexNet:
    """AlexNet, one tower: Krizhevsky, Sutskever, Hinton (2012), NIPS, Section 3 and Fig. 2 (no arXiv id).

    conv1 96@11×11/4, conv2 256@5×5, conv3-4 384@3×3, conv5 256@3×3, LRN after conv1-2, overlapping 3×3/2
    max-pooling after conv1, conv2, conv5; fc6-fc7 4096 with dropout 0.5; fc8. The form course tables count.
    """
    return AlexNet(
        alexnet_layers(1), num_classes, in_chans, img_size, dropout=dropout, bias_one=_ALEXNET_BIAS_ONE
    )


@register_model(
    paper=KRIZHEVSKY_2012,
    input_size=(3, 227, 227),
    reported=_ALEXNET_REPORTED,
    note=_ALEXNET_NOTE
    + "The paper's '60 million' rounds this two-GPU layout's 60,965,224 parameters. Both towers live in one "
    "model: conv2, conv4, conv5 have groups=2 and LRN runs within each tower.",
)
def alexnet_2gpu(
    num_classes: int = 1000, in_chans: int = 3, img_size: int = 227, dropout: float = 0.5
) -> AlexNet:
    """AlexNet as trained on two GPUs: Krizhevsky, Sutskever, Hinton (2012), NIPS, Section 3.2 and Fig. 2.

    conv2, conv4 and conv5 connect only to the maps on their own GPU (grouped convolutions, groups=2);
    conv3 and the fully connected layers see both towers. 60,965,224 parameters.
    """
    return AlexNet(
        alexnet_layers(2), num_classes, in_chans, img_size, dropout=dropout, towers=2,
        bias_one=_ALEXNET_BIAS_ONE,
    )  # fmt: skip


_ZF_NOTE = (
    "Paddings are not in the paper: conv1 pad 1 and ceil-mode pooling (as Caffe) reproduce Fig. 3's "
    "110/55/26/13/6 maps. Contrast normalization is AlexNet's LRN (the paper gives no constants). "
    "Weights N(0, 0.01), biases 0 (Section 3.1); the filter-RMS renormalization is a training rule, not here."
)


@register_model(
    paper=ZEILER_2013,
    input_size=(3, 224, 224),
    reported=Reported(
        top1_err=38.4, top5_err=16.5, source="Table 2 (1 convnet as per Fig. 3, ILSVRC-2012 val)"
    ),
    note=_ZF_NOTE,
)
def zfnet(num_classes: int = 1000, in_chans: int = 3, img_size: int = 224, dropout: float = 0.5) -> AlexNet:
    """ZFNet: Zeiler & Fergus (2013), arXiv:1311.2901, Fig. 3 and Section 3.

    AlexNet with conv1 96@7×7 stride 2 (not 11×11/4), conv2 stride 2, dense connections in conv3-5,
    pooling before contrast normalization.
    """
    return AlexNet(zfnet_layers(), num_classes, in_chans, img_size, dropout=dropout, ceil_mode=True)


@register_model(
    paper=ZEILER_2013,
    input_size=(3, 224, 224),
    reported=Reported(
        top1_err=37.5, top5_err=16.0, source="Table 2 (layers 3,4,5: 512,1024,512 maps, ILSVRC-2012 val)"
    ),
    note=_ZF_NOTE,
)
def zfnet_512_1024_512(
    num_classes: int = 1000, in_chans: int = 3, img_size: int = 224, dropout: float = 0.5
) -> AlexNet:
    """ZFNet with wider conv3-5 (512, 1024, 512 maps): Zeiler & Fergus (2013), arXiv:1311.2901, Table 2 (b).

    The paper's best single model; everything else as in Fig. 3.
    """
    return AlexNet(
        zfnet_layers((512, 1024, 512)), num_classes, in_chans, img_size, dropout=dropout, ceil_mode=True
    )
