"""VGG (Simonyan & Zisserman 2014, arXiv:1409.1556): configurations A, A-LRN, B, C, D, E of Table 1.

A configuration is Table 1's column as data: five stages of layers written as the paper writes them
("conv3-64" = 3×3 convolution with 64 channels, "conv1-256" = 1×1, "LRN"), each stage closed by 2×2
stride-2 max-pooling. Every convolution keeps the size (padding k // 2) and is followed by ReLU.
The head is the training-time net: fc6 on the 7×7×512 maps of a 224×224 crop, fc7, fc8 (dropout 0.5 after
fc6 and fc7). A larger input is classified by the paper's dense evaluation (Section 3.2): fc6 becomes a
7×7 convolution, fc7 and fc8 1×1 convolutions, and the class score map is averaged.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from convzoo.hub import register_weights
from convzoo.layers import get_norm_layer, paper_lrn
from convzoo.layers.factories import LayerSpec
from convzoo.models._base import ZooModel
from convzoo.registry import Paper, Reported, register_model

__all__ = ["VGG", "VGG_CONFIGS", "torchvision_rules"]

SIMONYAN_2014 = Paper(
    authors="Simonyan, Zisserman",
    title="Very Deep Convolutional Networks for Large-Scale Image Recognition",
    year=2014,
    arxiv="1409.1556",
)

_C64, _C128, _C256, _C512 = "conv3-64", "conv3-128", "conv3-256", "conv3-512"

# Table 1, column by column: the five stages (each followed by max-pooling).
VGG_CONFIGS: dict[str, tuple[tuple[str, ...], ...]] = {
    "A": ((_C64,), (_C128,), (_C256,) * 2, (_C512,) * 2, (_C512,) * 2),
    "A-LRN": ((_C64, "LRN"), (_C128,), (_C256,) * 2, (_C512,) * 2, (_C512,) * 2),
    "B": ((_C64,) * 2, (_C128,) * 2, (_C256,) * 2, (_C512,) * 2, (_C512,) * 2),
    "C": ((_C64,) * 2, (_C128,) * 2, (_C256, _C256, "conv1-256"), (_C512, _C512, "conv1-512"),
          (_C512, _C512, "conv1-512")),
    "D": ((_C64,) * 2, (_C128,) * 2, (_C256,) * 3, (_C512,) * 3, (_C512,) * 3),
    "E": ((_C64,) * 2, (_C128,) * 2, (_C256,) * 4, (_C512,) * 4, (_C512,) * 4),
}  # fmt: skip

_CONV = re.compile(r"^conv(\d+)-(\d+)$")


def _parse(layer: str) -> tuple[int, int] | None:
    """'conv3-64' → (3, 64); 'LRN' → None."""
    if layer == "LRN":
        return None
    m = _CONV.match(layer)
    if not m:
        raise ValueError(
            f"unknown VGG layer {layer!r}; write 'conv<kernel>-<channels>' (e.g. 'conv3-64') or 'LRN'"
        )
    return int(m.group(1)), int(m.group(2))


class VGG(ZooModel):
    """``features.block1 … block5`` (``conv1``, ``bn1``, ``relu1``, …, ``lrn``, ``pool``), then
    ``classifier.flatten``, ``fc6 … fc8``. ``norm_layer="bn"`` adds batch norm after each convolution (torchvision's
    ``vgg*_bn``: the convolutions keep their biases). ``img_size`` is the crop fc6 is built for."""

    def __init__(
        self,
        config: Sequence[Sequence[str]],
        num_classes: int = 1000,
        in_chans: int = 3,
        norm_layer: LayerSpec = None,
        img_size: int = 224,
        fc_width: int = 4096,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        if img_size % 2 ** len(config):
            raise ValueError(
                f"img_size must be a multiple of {2 ** len(config)} (five 2×2 poolings), got {img_size}"
            )
        norm = get_norm_layer(norm_layer)
        self.num_classes, self.in_chans, self.fc_width, self.img_size = (
            num_classes,
            in_chans,
            fc_width,
            img_size,
        )
        self.features = nn.Sequential()
        chans = in_chans
        for b, stage in enumerate(config, 1):
            block = nn.Sequential()
            convs = 0
            for layer in stage:
                spec = _parse(layer)
                if spec is None:
                    block.add_module("lrn", paper_lrn())
                    continue
                (k, width), convs = spec, convs + 1
                block.add_module(f"conv{convs}", nn.Conv2d(chans, width, k, padding=k // 2))
                if norm is not None:
                    block.add_module(f"bn{convs}", norm(width))
                block.add_module(f"relu{convs}", nn.ReLU(inplace=True))
                chans = width
            block.add_module("pool", nn.MaxPool2d(2, 2))
            self.features.add_module(f"block{b}", block)
        side = img_size // 2 ** len(config)
        self.feature_shape = (chans, side, side)
        self.classifier = nn.Sequential()
        self.classifier.add_module("flatten", nn.Flatten(1))
        for i, fan_in in ((6, chans * side * side), (7, fc_width)):
            self.classifier.add_module(f"fc{i}", nn.Linear(fan_in, fc_width))
            self.classifier.add_module(f"relu{i}", nn.ReLU(inplace=True))
            self.classifier.add_module(f"drop{i}", nn.Dropout(dropout))
        self.classifier.add_module("fc8", nn.Linear(fc_width, num_classes))
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """He-normal convolutions (fan-out), N(0, 0.01) fully connected layers, zero biases, BN at identity."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        c, s, _ = self.feature_shape
        if tuple(x.shape[1:]) == self.feature_shape:
            return self.classifier(x)
        if x.shape[1] != c or min(x.shape[-2:]) < s:
            raise ValueError(
                f"VGG's fc6 needs at least {c}×{s}×{s} features (a {self.img_size}×{self.img_size} input), "
                f"got {'×'.join(map(str, x.shape[1:]))}: feed images of at least {self.img_size}×{self.img_size} "
                "or build the model with a smaller img_size"
            )
        return self.dense_head(x)

    def dense_head(self, x: torch.Tensor) -> torch.Tensor:
        """Dense evaluation (Section 3.2): the FC layers as convolutions over the whole map, scores averaged."""
        for m in self.classifier[1:]:  # after the flatten
            if isinstance(m, nn.Linear):
                k = self.feature_shape[1] if m is self.classifier.fc6 else 1
                x = F.conv2d(x, m.weight.view(m.out_features, -1, k, k), m.bias)
            else:
                x = m(x)
        return x.mean((2, 3))

    def get_classifier(self) -> nn.Module:
        return self.classifier.fc8

    def reset_classifier(self, num_classes: int) -> None:
        self.num_classes = num_classes
        fc8 = nn.Linear(self.fc_width, num_classes, device=self.classifier.fc8.weight.device)
        nn.init.normal_(fc8.weight, 0.0, 0.01)
        nn.init.zeros_(fc8.bias)
        self.classifier.fc8 = fc8


def torchvision_rules(config: Sequence[Sequence[str]], batch_norm: bool) -> list[tuple[str, str]]:
    """Key renames from torchvision's flat ``features.<i>`` / ``classifier.<i>`` onto our named layers."""
    rules, i = [], 0
    for b, stage in enumerate(config, 1):
        for j, layer in enumerate([x for x in stage if x != "LRN"], 1):
            _parse(layer)
            rules.append((rf"^features\.{i}\.", f"features.block{b}.conv{j}."))
            if batch_norm:
                rules.append((rf"^features\.{i + 1}\.", f"features.block{b}.bn{j}."))
            i += 3 if batch_norm else 2  # conv, (bn,) relu
        i += 1  # pool
    rules += [(rf"^classifier\.{i}\.", f"classifier.fc{i // 3 + 6}.") for i in (0, 3, 6)]
    return rules


# (name, Table 1 column, Table 2 params, Table 3 top-1 / top-5 val error at train and test scale 256,
#  torchvision weights file)
_VARIANTS = (
    ("vgg11", "A", "133M", (29.6, 10.4), {"": "vgg11-8a719046", "_bn": "vgg11_bn-6002323d"}),
    ("vgg11_lrn", "A-LRN", "133M", (29.7, 10.5), {}),
    ("vgg13", "B", "133M", (28.7, 9.9), {"": "vgg13-19584684", "_bn": "vgg13_bn-abd245e5"}),
    ("vgg16_c", "C", "134M", (28.1, 9.4), {}),
    ("vgg16", "D", "138M", (27.0, 8.8), {"": "vgg16-397923af", "_bn": "vgg16_bn-6c64b313"}),
    ("vgg19", "E", "144M", (27.3, 9.0), {"": "vgg19-dcbb9e9d", "_bn": "vgg19_bn-c79401a0"}),
)
_NOTE = (
    "Init: He-normal convolutions, N(0, 0.01) FC layers (the paper trained A from N(0, 0.01) and initialised "
    "deeper nets from it, noting Glorot init works as well). Inputs larger than 224 use the paper's dense "
    "evaluation; smaller ones are refused (no adaptive pooling)."
)
_BN_NOTE = (
    " Batch norm postdates the paper (Ioffe & Szegedy 2015): this is torchvision's vgg*_bn form, BN after "
    "every convolution, which keeps its bias. Paper errors are for the net without BN."
)


def _builder(config: tuple[tuple[str, ...], ...], norm: str | None) -> Callable[..., VGG]:
    def build(num_classes: int = 1000, in_chans: int = 3, img_size: int = 224, dropout: float = 0.5) -> VGG:
        return VGG(config, num_classes, in_chans, norm_layer=norm, img_size=img_size, dropout=dropout)

    return build


def _register(
    name: str, column: str, params: str, errors: tuple[float, float], weights: dict[str, str]
) -> None:
    """Register ``name`` (Table 1 column ``column``) and ``name_bn``, with torchvision weights where they exist."""
    config = VGG_CONFIGS[column]
    layers = sum(len([x for x in s if x != "LRN"]) for s in config) + 3
    for suffix, norm in (("", None), ("_bn", "bn")):
        build = _builder(config, norm)
        model = name + suffix
        build.__name__ = build.__qualname__ = model
        build.__doc__ = (
            f"VGG configuration {column}{' with batch norm' if norm else ''} ({layers} weight layers): "
            f"Simonyan & Zisserman (2014), arXiv:1409.1556, Table 1 column {column}; parameters in Table 2."
        )
        top1, top5 = errors if not norm else (None, None)
        register_model(
            paper=SIMONYAN_2014,
            input_size=(3, 224, 224),
            reported=Reported(
                params=params,
                top1_err=top1,
                top5_err=top5,
                source="Table 2 (params)"
                + ("" if norm else ", Table 3 (errors at scale 256, ILSVRC-2012 val)"),
            ),  # fmt: skip
            note=_NOTE + (_BN_NOTE if norm else ""),
            name=model,
        )(build)
        if suffix in weights:
            register_weights(
                model, "torchvision", model,
                convert=torchvision_rules(config, batch_norm=norm is not None),
                url=f"https://download.pytorch.org/models/{weights[suffix]}.pth",
                sha256=weights[suffix].rsplit("-", 1)[1],
            )  # fmt: skip


for _variant in _VARIANTS:
    _register(*_variant)
