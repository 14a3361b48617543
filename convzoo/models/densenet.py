"""DenseNet (Huang, Liu, van der Maaten, Weinberger 2017, arXiv:1608.06993).

Inside a dense block every layer sees the concatenation of all earlier feature maps and adds ``k`` (the
growth rate) new ones. A layer is BN-ReLU-Conv(3×3), or for DenseNet-B BN-ReLU-Conv(1×1, 4k)-BN-ReLU-Conv(3×3);
transitions between blocks are BN-ReLU-Conv(1×1)-AvgPool(2×2), and DenseNet-C compresses the channels by θ
there (0.5 for DenseNet-BC). A network is data: stem kind and width, growth rate, layers per block,
bottleneck width and compression (:class:`DenseNetConfig`); :class:`DenseNet` is the one builder.

``memory_efficient=True`` recomputes concatenation, BN, ReLU and the first convolution of each layer in the
backward pass (Pleiss et al. 2017, arXiv:1707.06990): outputs, gradients and BN running statistics are those
of the plain form, and activation memory grows linearly instead of quadratically with depth.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from convzoo.hub import register_weights
from convzoo.layers import ConvNormAct, get_act_layer, get_attn_layer, get_norm_layer
from convzoo.layers.factories import LayerFactory, LayerSpec
from convzoo.models._base import ZooModel
from convzoo.registry import Figure, Paper, Reported, register_model

__all__ = ["DenseNet", "DenseNetConfig", "DenseLayer", "DenseBlock", "Transition", "cifar_config"]

DENSENET_PAPER = Paper(
    authors="Gao Huang, Zhuang Liu, Laurens van der Maaten, Kilian Q. Weinberger",
    title="Densely Connected Convolutional Networks",
    year=2017,
    arxiv="1608.06993",
)


@dataclass(frozen=True)
class DenseNetConfig:
    """The architecture of one DenseNet, as the paper's Tables 1 and 2 give it.

    ``stem``: ``"imagenet"`` (7×7/2 conv-BN-ReLU, 3×3/2 max-pool) or ``"cifar"`` (one 3×3 conv).
    ``bottleneck_width``: the 1×1 bottleneck has ``bottleneck_width · k`` channels (4 in DenseNet-B); 0 = none.
    ``compression``: θ, a transition outputs ⌊θ·m⌋ of its m input channels (0.5 in DenseNet-C, 1 = none).
    """

    growth_rate: int
    block_layers: tuple[int, ...]
    stem: str = "imagenet"
    stem_width: int = 64
    bottleneck_width: int = 4
    compression: float = 0.5

    def __post_init__(self) -> None:
        if self.stem not in ("imagenet", "cifar"):
            raise ValueError(f"stem must be 'imagenet' or 'cifar', got {self.stem!r}")
        if self.growth_rate < 1 or self.stem_width < 1:
            raise ValueError(f"growth_rate and stem_width must be >= 1, got {self.growth_rate}, {self.stem_width}")
        if not self.block_layers or any(n < 1 for n in self.block_layers):
            raise ValueError(f"block_layers needs at least one block of >= 1 layer, got {self.block_layers}")
        if self.bottleneck_width < 0:
            raise ValueError(f"bottleneck_width must be >= 0 (0 = no bottleneck), got {self.bottleneck_width}")
        if not 0.0 < self.compression <= 1.0:
            raise ValueError(f"compression θ must be in (0, 1], got {self.compression}")


def cifar_config(depth: int, growth_rate: int, bc: bool) -> DenseNetConfig:
    """The paper's CIFAR DenseNet (L, k) with three equal dense blocks (Section 3, "Implementation Details").

    Of the L layers, 4 are not in dense blocks (first conv, two transitions, classifier); each dense layer
    counts 1 (DenseNet) or 2 (DenseNet-BC, with its bottleneck). The first conv has 16 channels, or 2k for
    DenseNet-BC.
    """
    per_layer = 6 if bc else 3
    if depth <= 4 or (depth - 4) % per_layer:
        kind = "DenseNet-BC" if bc else "DenseNet"
        raise ValueError(f"{kind} depth must be 4 + {per_layer}·n (e.g. {4 + per_layer * 16}), got {depth}")
    n = (depth - 4) // per_layer
    return DenseNetConfig(
        growth_rate=growth_rate,
        block_layers=(n, n, n),
        stem="cifar",
        stem_width=2 * growth_rate if bc else 16,
        bottleneck_width=4 if bc else 0,
        compression=0.5 if bc else 1.0,
    )


@contextlib.contextmanager
def _keep_buffers(module: nn.Module) -> Iterator[None]:
    """Restore ``module``'s buffers afterwards: a recomputed BN must not update its running statistics twice."""
    saved = [b.clone() for b in module.buffers()]
    try:
        yield
    finally:
        with torch.no_grad():
            for buf, old in zip(module.buffers(), saved, strict=True):
                buf.copy_(old)


class DenseLayer(nn.Module):
    """One dense layer: BN-act-conv (3×3, k), or BN-act-conv (1×1, b·k) then BN-act-conv (3×3, k) with a bottleneck.

    Takes the list of all earlier feature maps and returns only its ``growth_rate`` new ones. Dropout, as the
    paper uses on CIFAR without augmentation, follows each convolution. ``attn_layer`` (e.g. SE) recalibrates
    the new feature maps before they join the concatenation, so earlier features pass on unchanged, as SE in a
    residual unit rescales only the residual branch.
    """

    def __init__(
        self,
        in_channels: int,
        growth_rate: int,
        bottleneck_width: int = 4,
        norm_layer: LayerFactory = nn.BatchNorm2d,
        act_layer: LayerFactory = nn.ReLU,
        attn_layer: LayerFactory | None = None,
        drop_rate: float = 0.0,
        memory_efficient: bool = False,
    ) -> None:
        super().__init__()
        mid = bottleneck_width * growth_rate if bottleneck_width else growth_rate
        k1 = 1 if bottleneck_width else 3
        self.norm1 = norm_layer(in_channels)
        self.act1 = act_layer()
        self.conv1 = nn.Conv2d(in_channels, mid, k1, padding=k1 // 2, bias=False)
        if bottleneck_width:
            self.norm2 = norm_layer(mid)
            self.act2 = act_layer()
            self.conv2 = nn.Conv2d(mid, growth_rate, 3, padding=1, bias=False)
        self.attn = attn_layer(growth_rate) if attn_layer is not None else None
        self.bottleneck = bool(bottleneck_width)
        self.drop_rate = drop_rate
        self.memory_efficient = memory_efficient

    def first_conv(self, *features: torch.Tensor) -> torch.Tensor:
        """Concatenation, norm, activation and first convolution: the part recomputed when memory-efficient."""
        return self.conv1(self.act1(self.norm1(torch.cat(features, 1))))

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        if self.memory_efficient and torch.is_grad_enabled():
            out = checkpoint(
                self.first_conv,
                *features,
                use_reentrant=False,
                context_fn=lambda: (contextlib.nullcontext(), _keep_buffers(self.norm1)),
            )
        else:
            out = self.first_conv(*features)
        if self.bottleneck:
            out = self.conv2(self.act2(self.norm2(self._drop(out))))
        out = self._drop(out)
        return out if self.attn is None else self.attn(out)

    def _drop(self, x: torch.Tensor) -> torch.Tensor:
        return F.dropout(x, self.drop_rate, self.training) if self.drop_rate > 0 else x


class DenseBlock(nn.ModuleDict):
    """``num_layers`` dense layers; returns the concatenation of its input and every layer's new features."""

    def __init__(self, num_layers: int, in_channels: int, growth_rate: int, **layer_kwargs: Any) -> None:
        super().__init__()
        for i in range(num_layers):
            self[f"layer{i + 1}"] = DenseLayer(in_channels + i * growth_rate, growth_rate, **layer_kwargs)
        self.out_channels = in_channels + num_layers * growth_rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for layer in self.values():
            features.append(layer(features))
        return torch.cat(features, 1)


class Transition(nn.Sequential):
    """BN-act-conv (1×1) [dropout] then 2×2 average pooling with stride 2, between two dense blocks."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        norm_layer: LayerFactory = nn.BatchNorm2d,
        act_layer: LayerFactory = nn.ReLU,
        drop_rate: float = 0.0,
    ) -> None:
        super().__init__()
        self.norm = norm_layer(in_channels)
        self.act = act_layer()
        self.conv = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        if drop_rate > 0:
            self.drop = nn.Dropout(drop_rate)
        self.pool = nn.AvgPool2d(2, 2)


class DenseNet(ZooModel):
    """Stem, dense blocks joined by transitions, final BN-act, global average pooling, linear classifier.

    ``attn_layer`` (e.g. ``"se"``) is applied to each dense layer's new feature maps. ``drop_rate`` is
    dropout after every convolution but the first (the paper's 0.2 on CIFAR without augmentation).
    ``memory_efficient`` recomputes each layer's concatenation-BN-act-conv in the backward pass.
    """

    def __init__(
        self,
        growth_rate: int = 32,
        block_layers: tuple[int, ...] = (6, 12, 24, 16),
        stem: str = "imagenet",
        stem_width: int = 64,
        bottleneck_width: int = 4,
        compression: float = 0.5,
        num_classes: int = 1000,
        in_chans: int = 3,
        norm_layer: LayerSpec = "bn",
        act_layer: LayerSpec = "relu",
        attn_layer: LayerSpec = None,
        drop_rate: float = 0.0,
        memory_efficient: bool = False,
    ) -> None:
        super().__init__()
        config = DenseNetConfig(growth_rate, tuple(block_layers), stem, stem_width, bottleneck_width, compression)
        if num_classes < 1 or in_chans < 1:
            raise ValueError(f"num_classes and in_chans must be >= 1, got {num_classes} and {in_chans}")
        if not 0.0 <= drop_rate < 1.0:
            raise ValueError(f"drop_rate must be in [0, 1), got {drop_rate}")
        norm = get_norm_layer(norm_layer)
        act = get_act_layer(act_layer)
        if norm is None or act is None:
            raise ValueError("DenseNet's BN-ReLU-Conv layers need a norm_layer and an act_layer (got 'none')")
        attn = get_attn_layer(attn_layer)
        self.config = config
        self.num_classes = num_classes
        self.in_chans = in_chans
        self.drop_rate = drop_rate

        k, width = config.growth_rate, config.stem_width
        if config.stem == "imagenet":  # 7×7/2 conv-BN-ReLU, 3×3/2 max-pool (Table 1)
            self.stem = ConvNormAct(in_chans, width, 7, stride=2, norm_layer=norm, act_layer=act)
            self.stem.add_module("pool", nn.MaxPool2d(3, stride=2, padding=1))
        else:  # CIFAR: one 3×3 conv; the first dense layer's BN-ReLU follows it
            self.stem = ConvNormAct(in_chans, width, 3, bias=False, norm_layer=None, act_layer=None)

        stages: OrderedDict[str, nn.Module] = OrderedDict()
        channels = width
        for i, num_layers in enumerate(config.block_layers, start=1):
            block = DenseBlock(
                num_layers, channels, k, bottleneck_width=config.bottleneck_width, norm_layer=norm, act_layer=act,
                attn_layer=attn, drop_rate=drop_rate, memory_efficient=memory_efficient,
            )
            stages[f"dense{i}"] = block
            channels = block.out_channels
            if i < len(config.block_layers):
                out = int(config.compression * channels)
                stages[f"trans{i}"] = Transition(channels, out, norm, act, drop_rate)
                channels = out
        self.stages = nn.Sequential(stages)
        self.norm = norm(channels)
        self.act = act()
        self.num_features = channels
        self.fc = nn.Linear(channels, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        # He et al. 2015 initialisation as in the authors' code (fb.resnet.torch: std = sqrt(2 / (k·k·C_out)))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d | nn.GroupNorm) and m.weight is not None:
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        nn.init.zeros_(self.fc.bias)

    def set_memory_efficient(self, enabled: bool = True) -> None:
        """Switch recomputation of the concatenation-BN-act-conv in the backward pass on or off."""
        for m in self.modules():
            if isinstance(m, DenseLayer):
                m.memory_efficient = enabled

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(self.stages(self.stem(x))))

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))

    def get_classifier(self) -> nn.Module:
        return self.fc

    def reset_classifier(self, num_classes: int) -> None:
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        w = self.fc.weight
        self.fc = nn.Linear(self.num_features, num_classes, device=w.device, dtype=w.dtype)
        nn.init.zeros_(self.fc.bias)
        self.num_classes = num_classes


# --- registered variants -------------------------------------------------------------------------------------

_IMAGENET_NOTE = (
    "Identical to the paper's DenseNet-BC (k=32) and to the authors' released Torch models; "
    "torchvision's ports load 1:1 (convzoo.load_weights(model, 'torchvision'))."
)
_CIFAR_NOTE = (
    "First conv has 16 channels (2k for DenseNet-BC) as Section 3 says; the authors' Torch code uses 2k for "
    "both. Reported errors are C10+ / C100+ (standard augmentation, no dropout); drop_rate=0.2 gives the "
    "paper's setting without augmentation."
)


def _imagenet(block_layers: tuple[int, ...], kwargs: dict[str, Any]) -> DenseNet:
    return DenseNet(**{"growth_rate": 32, "block_layers": block_layers, **kwargs})


def _cifar(depth: int, growth_rate: int, bc: bool, kwargs: dict[str, Any]) -> DenseNet:
    return DenseNet(**{**asdict(cifar_config(depth, growth_rate, bc)), "num_classes": 10, **kwargs})


@register_model(
    paper=DENSENET_PAPER, note=_IMAGENET_NOTE, accepts=DenseNet,
    reported=Reported(top1_err=25.02, top5_err=7.71, source="Table 1 (config), Table 3 (single-crop errors)",
                      figures=(Figure("params", 7978856, "torchvision 0.29 densenet121 weights (num_params)", peer=True),)),
)
def densenet121(**kwargs: Any) -> DenseNet:
    """DenseNet-121 (k=32): blocks of 6, 12, 24, 16 layers (Huang et al. 2017, arXiv:1608.06993, Table 1)."""
    return _imagenet((6, 12, 24, 16), kwargs)


@register_model(
    paper=DENSENET_PAPER, note=_IMAGENET_NOTE, accepts=DenseNet,
    reported=Reported(top1_err=23.80, top5_err=6.85, source="Table 1 (config), Table 3 (single-crop errors)",
                      figures=(Figure("params", 14149480, "torchvision 0.29 densenet169 weights (num_params)", peer=True),)),
)
def densenet169(**kwargs: Any) -> DenseNet:
    """DenseNet-169 (k=32): blocks of 6, 12, 32, 32 layers (Huang et al. 2017, arXiv:1608.06993, Table 1)."""
    return _imagenet((6, 12, 32, 32), kwargs)


@register_model(
    paper=DENSENET_PAPER, note=_IMAGENET_NOTE, accepts=DenseNet,
    reported=Reported(top1_err=22.58, top5_err=6.34, source="Table 1 (config), Table 3 (single-crop errors)",
                      figures=(Figure("params", 20013928, "torchvision 0.29 densenet201 weights (num_params)", peer=True),)),
)
def densenet201(**kwargs: Any) -> DenseNet:
    """DenseNet-201 (k=32): blocks of 6, 12, 48, 32 layers (Huang et al. 2017, arXiv:1608.06993, Table 1)."""
    return _imagenet((6, 12, 48, 32), kwargs)


@register_model(
    paper=DENSENET_PAPER, accepts=DenseNet,
    note="Identical to the paper's DenseNet-BC (k=32); no released weights.",
    reported=Reported(top1_err=22.15, top5_err=6.12, source="Table 1 (config), Table 3 (single-crop errors)"),
)
def densenet264(**kwargs: Any) -> DenseNet:
    """DenseNet-264 (k=32): blocks of 6, 12, 64, 48 layers (Huang et al. 2017, arXiv:1608.06993, Table 1)."""
    return _imagenet((6, 12, 64, 48), kwargs)


def _cifar_entry(params: str, c10: float, c100: float | None) -> dict[str, Any]:
    return {
        "paper": DENSENET_PAPER, "input_size": (3, 32, 32), "num_classes": 10, "note": _CIFAR_NOTE,
        "accepts": DenseNet,
        "reported": Reported(params=params, cifar10_err=c10, cifar100_err=c100, source="Table 2 (C10+, C100+)"),
    }


@register_model(**_cifar_entry("1.0M", 5.24, 24.42))
def densenet40_k12_cifar(**kwargs: Any) -> DenseNet:
    """CIFAR DenseNet (L=40, k=12): 3 blocks of 12 layers (Huang et al. 2017, arXiv:1608.06993, Table 2)."""
    return _cifar(40, 12, False, kwargs)


@register_model(**_cifar_entry("7.0M", 4.10, 20.20))
def densenet100_k12_cifar(**kwargs: Any) -> DenseNet:
    """CIFAR DenseNet (L=100, k=12): 3 blocks of 32 layers (Huang et al. 2017, arXiv:1608.06993, Table 2)."""
    return _cifar(100, 12, False, kwargs)


@register_model(**_cifar_entry("27.2M", 3.74, 19.25))
def densenet100_k24_cifar(**kwargs: Any) -> DenseNet:
    """CIFAR DenseNet (L=100, k=24): 3 blocks of 32 layers (Huang et al. 2017, arXiv:1608.06993, Table 2)."""
    return _cifar(100, 24, False, kwargs)


@register_model(**_cifar_entry("0.8M", 4.51, 22.27))
def densenet_bc100_k12_cifar(**kwargs: Any) -> DenseNet:
    """CIFAR DenseNet-BC (L=100, k=12): 3 blocks of 16 bottleneck layers (Huang et al. 2017, arXiv:1608.06993,
    Table 2)."""
    return _cifar(100, 12, True, kwargs)


@register_model(**_cifar_entry("15.3M", 3.62, 17.60))
def densenet_bc250_k24_cifar(**kwargs: Any) -> DenseNet:
    """CIFAR DenseNet-BC (L=250, k=24): 3 blocks of 41 bottleneck layers (Huang et al. 2017, arXiv:1608.06993,
    Table 2)."""
    return _cifar(250, 24, True, kwargs)


@register_model(**_cifar_entry("25.6M", 3.46, 17.18))
def densenet_bc190_k40_cifar(**kwargs: Any) -> DenseNet:
    """CIFAR DenseNet-BC (L=190, k=40): 3 blocks of 31 bottleneck layers (Huang et al. 2017, arXiv:1608.06993,
    Table 2)."""
    return _cifar(190, 40, True, kwargs)


# --- torchvision weights ---------------------------------------------------------------------------------------
# torchvision's DenseNet keys: features.{conv0,norm0,denseblockI.denselayerJ.{norm,conv}{1,2},transitionI.{norm,conv},
# norm5}, classifier. Its published files still use the pre-0.4 form "norm.1"/"conv.2" inside dense layers
# (torchvision renames them when loading); the optional dot below accepts both forms.
TORCHVISION_RULES: list[tuple[str, str]] = [
    (r"^features\.conv0\.", "stem.conv."),
    (r"^features\.norm0\.", "stem.bn."),
    (r"^features\.denseblock(\d+)\.denselayer(\d+)\.(norm|conv)\.?([12])\.", r"stages.dense\1.layer\2.\3\4."),
    (r"^features\.transition(\d+)\.", r"stages.trans\1."),
    (r"^features\.norm5\.", "norm."),
    (r"^classifier\.", "fc."),
]

for _name, _file in (
    ("densenet121", "densenet121-a639ec97.pth"),
    ("densenet169", "densenet169-b2777c0a.pth"),
    ("densenet201", "densenet201-c1103571.pth"),
):
    register_weights(
        _name, "torchvision", _name, TORCHVISION_RULES,
        url=f"https://download.pytorch.org/models/{_file}", sha256=_file.rsplit("-", 1)[1].split(".")[0],
    )
