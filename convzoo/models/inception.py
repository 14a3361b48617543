"""Inception-v3 (Szegedy et al. 2015, arXiv:1512.00567), Inception-v4 and Inception-ResNet-v1/v2 (Szegedy et al.
2016, arXiv:1602.07261), and their squeeze-and-excitation forms (Hu et al. 2018, arXiv:1709.01507).

Every network is a list of named layers whose Inception modules are data (:class:`~convzoo.models.googlenet.Mixed`:
branches of :class:`Conv`, :class:`Pool` and :class:`Split` ops); :class:`~convzoo.models.googlenet.InceptionNet`
builds them. ``attn_layer="se"`` puts an SE block on every Inception module after the stem (on the residual
branch of Inception-ResNet blocks). The factorized convolutions of the Inception-v3 paper (Section 3) are
registered as lecture blocks, each with the unfactorized convolution it replaces, so ``summary`` shows the saving.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from convzoo.hub import (
    TIMM_LICENSE,
    KnownFile,
    published_size,
    register_weights,
    timm_accuracy,
    timm_preprocess,
)
from convzoo.layers import ConvNormAct
from convzoo.layers.factories import LayerSpec
from convzoo.models.googlenet import (
    SENET_PAPER,
    Conv,
    InceptionNet,
    LayerSpecT,
    Mixed,
    Parts,
    Pool,
    Split,
)
from convzoo.registry import Figure, Paper, Reported, register_block, register_model

__all__ = ["InceptionV3", "InceptionV3Aux", "InceptionV4", "InceptionResNet"]

INCEPTION_V3_PAPER = Paper(
    authors="Christian Szegedy, Vincent Vanhoucke, Sergey Ioffe, Jonathon Shlens, Zbigniew Wojna",
    title="Rethinking the Inception Architecture for Computer Vision",
    year=2015,
    arxiv="1512.00567",
)
INCEPTION_V4_PAPER = Paper(
    authors="Christian Szegedy, Sergey Ioffe, Vincent Vanhoucke, Alex Alemi",
    title="Inception-v4, Inception-ResNet and the Impact of Residual Connections on Learning",
    year=2016,
    arxiv="1602.07261",
)


def _max_reduce() -> Pool:
    return Pool("max", 3, 2, 0)


def _avg(count_include_pad: bool) -> Pool:
    return Pool("avg", 3, 1, 1, count_include_pad=count_include_pad)


# ----------------------------------------------------------------------------------------------------------
# Inception-v3 (Table 1 and Figures 5-7, 10 of the paper; widths as in the authors' released model).


def v3_a(pool_features: int) -> Mixed:
    """35×35 module (Figure 5): the 5×5 of GoogLeNet factorized into two 3×3 on one branch."""
    return Mixed(
        (
            (Conv(64),),
            (Conv(48), Conv(64, 5)),
            (Conv(64), Conv(96, 3), Conv(96, 3)),
            (_avg(True), Conv(pool_features)),
        )
    )


def v3_grid_reduction_35() -> Mixed:
    """35×35 → 17×17 grid reduction (Figure 10): stride-2 convolutions beside a stride-2 pool."""
    return Mixed(((Conv(384, 3, 2, 0),), (Conv(64), Conv(96, 3), Conv(96, 3, 2, 0)), (_max_reduce(),)))


def v3_b(c7: int) -> Mixed:
    """17×17 module (Figure 6): n×n factorized into 1×n and n×1, n = 7."""
    return Mixed(
        (
            (Conv(192),),
            (Conv(c7), Conv(c7, (1, 7)), Conv(192, (7, 1))),
            (Conv(c7), Conv(c7, (7, 1)), Conv(c7, (1, 7)), Conv(c7, (7, 1)), Conv(192, (1, 7))),
            (_avg(True), Conv(192)),
        )
    )


def v3_grid_reduction_17() -> Mixed:
    """17×17 → 8×8 grid reduction."""
    return Mixed(
        (
            (Conv(192), Conv(320, 3, 2, 0)),
            (Conv(192), Conv(192, (1, 7)), Conv(192, (7, 1)), Conv(192, 3, 2, 0)),
            (_max_reduce(),),
        )
    )


def _expanded(c: int) -> Split:
    return Split((Conv(c, (1, 3)), Conv(c, (3, 1))))


def v3_c() -> Mixed:
    """8×8 module with expanded filter banks (Figure 7): 1×3 and 3×1 side by side."""
    return Mixed(
        (
            (Conv(320),),
            (Conv(384), _expanded(384)),
            (Conv(448), Conv(384, 3), _expanded(384)),
            (_avg(True), Conv(192)),
        )
    )


def inception_v3_layers() -> list[tuple[str, LayerSpecT]]:
    """Inception-v3 (Table 1): the stem, 3 × 35×35, reduction, 4 × 17×17, reduction, 2 × 8×8 modules."""
    return [
        ("conv1a", Conv(32, 3, 2, 0)),
        ("conv2a", Conv(32, 3, 1, 0)),
        ("conv2b", Conv(64, 3)),
        ("pool1", _max_reduce()),
        ("conv3b", Conv(80, 1)),
        ("conv4a", Conv(192, 3, 1, 0)),
        ("pool2", _max_reduce()),
        ("mixed5b", v3_a(32)),
        ("mixed5c", v3_a(64)),
        ("mixed5d", v3_a(64)),
        ("mixed6a", v3_grid_reduction_35()),
        ("mixed6b", v3_b(128)),
        ("mixed6c", v3_b(160)),
        ("mixed6d", v3_b(160)),
        ("mixed6e", v3_b(192)),
        ("mixed7a", v3_grid_reduction_17()),
        ("mixed7b", v3_c()),
        ("mixed7c", v3_c()),
    ]


class InceptionV3Aux(nn.Module):
    """Inception-v3's batch-normalized auxiliary classifier on the 17×17 grid (Section 4; "BN-auxiliary"):
    5×5/3 average pool, 1×1 conv 128, 5×5 conv 768, global pool, FC."""

    def __init__(self, in_ch: int, num_classes: int, parts: Parts) -> None:
        super().__init__()
        kw = {"norm_layer": parts.norm_layer, "act_layer": parts.act_layer, "bn_eps": parts.bn_eps}
        self.pool = nn.AvgPool2d(5, 3)
        self.conv0 = ConvNormAct(in_ch, 128, 1, **kw)
        self.conv1 = ConvNormAct(128, 768, 5, padding=0, **kw)
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.global_pool(self.conv1(self.conv0(self.pool(x))))
        return self.fc(torch.flatten(x, 1))

    def reset_classifier(self, num_classes: int) -> None:
        self.fc = nn.Linear(768, num_classes, device=self.fc.weight.device)


class InceptionV3(InceptionNet):
    """Inception-v3 at 299×299 (Szegedy et al. 2015): factorized 35×35, 17×17 and 8×8 modules, efficient grid
    reductions, and the batch-normalized auxiliary classifier after the last 17×17 module.

    Average pooling inside the modules counts the zero padding (as torchvision's port of Google's weights).
    ``transform_input=True`` maps ImageNet-normalized input to the scale Google's weights expect.
    """

    aux_weights = (0.4,)

    def __init__(
        self,
        num_classes: int = 1000,
        in_chans: int = 3,
        aux_logits: bool = True,
        dropout: float = 0.5,
        attn_layer: LayerSpec = None,
        transform_input: bool = False,
        bn_eps: float = 1e-3,
    ) -> None:
        parts = Parts(norm_layer="bn", bn_eps=bn_eps, attn_layer=attn_layer)

        def aux(c: int, n: int) -> nn.Module:
            return InceptionV3Aux(c, n, parts)

        super().__init__(
            inception_v3_layers(),
            num_classes=num_classes,
            in_chans=in_chans,
            dropout=dropout,
            aux_heads={"mixed6e": aux} if aux_logits else None,
            parts=parts,
            transform_input=transform_input,
        )


@register_model(
    paper=INCEPTION_V3_PAPER,
    input_size=(3, 299, 299),
    reported=Reported(
        top1_err=21.2,
        top5_err=5.6,
        source="Table 3 (single crop, BN-auxiliary)",
        figures=(
            Figure("macs", "5G", "Abstract (5 billion multiply-adds per inference)"),
            Figure(
                "params", "<25M", "Abstract (less than 25 million parameters, the inference net)",
                config=(("aux_logits", False),),
            ),
            Figure("params", 27161264, "torchvision 0.29 inception_v3 weights (num_params)", peer=True),
            Figure("macs", "5.713G", "torchvision 0.29 inception_v3 weights (_ops)", peer=True),
        ),
    ),
    note=(
        "Module widths follow the authors' released model (as torchvision), which Table 1 only outlines. The "
        "auxiliary head runs only in training mode (3.33M params with 1000 classes); its loss weight 0.4 is "
        "that of the authors' TF-slim training script, the paper gives none. Average pools count padding. "
        "The abstract's '5 billion multiply-adds, less than 25 million parameters': 5.71 GMACs and 23.83M "
        "parameters here (without the auxiliary head)."
    ),
    accepts=InceptionV3,
)
def inception_v3(num_classes: int = 1000, in_chans: int = 3, **kwargs: Any) -> InceptionV3:
    """Inception-v3 (Szegedy et al. 2015, arXiv:1512.00567, Table 1), with its auxiliary classifier."""
    return InceptionV3(num_classes=num_classes, in_chans=in_chans, **kwargs)


@register_model(
    paper=SENET_PAPER,
    input_size=(3, 299, 299),
    note="Inception-v3 with an SE block (reduction 16) after every Inception module (Figure 2 of the SE paper).",
    accepts=InceptionV3,
)
def se_inception_v3(num_classes: int = 1000, in_chans: int = 3, **kwargs: Any) -> InceptionV3:
    """SE-Inception-v3 (Hu et al. 2018, arXiv:1709.01507, Figure 2): the SE-Inception module in Inception-v3."""
    kwargs.setdefault("attn_layer", "se")
    return InceptionV3(num_classes=num_classes, in_chans=in_chans, **kwargs)


_TV_V3_BRANCHES: dict[str, dict[str, str]] = {  # torchvision submodule → our branches.<i>.<j>
    "A": {
        "branch1x1": "0.0", "branch5x5_1": "1.0", "branch5x5_2": "1.1", "branch3x3dbl_1": "2.0",
        "branch3x3dbl_2": "2.1", "branch3x3dbl_3": "2.2", "branch_pool": "3.1",
    },
    "B": {"branch3x3": "0.0", "branch3x3dbl_1": "1.0", "branch3x3dbl_2": "1.1", "branch3x3dbl_3": "1.2"},
    "C": {
        "branch1x1": "0.0", "branch7x7_1": "1.0", "branch7x7_2": "1.1", "branch7x7_3": "1.2",
        **{f"branch7x7dbl_{i}": f"2.{i - 1}" for i in range(1, 6)}, "branch_pool": "3.1",
    },
    "D": {
        "branch3x3_1": "0.0", "branch3x3_2": "0.1",
        **{f"branch7x7x3_{i}": f"1.{i - 1}" for i in range(1, 5)},
    },
    "E": {
        "branch1x1": "0.0", "branch3x3_1": "1.0", "branch3x3_2a": "1.1.0", "branch3x3_2b": "1.1.1",
        "branch3x3dbl_1": "2.0", "branch3x3dbl_2": "2.1", "branch3x3dbl_3a": "2.2.0", "branch3x3dbl_3b": "2.2.1",
        "branch_pool": "3.1",
    },
}  # fmt: skip
_TV_V3_KIND = {
    "5b": "A",
    "5c": "A",
    "5d": "A",
    "6a": "B",
    "6b": "C",
    "6c": "C",
    "6d": "C",
    "6e": "C",
    "7a": "D",
}


def _convert_tv_inception_v3(sd: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """torchvision ``inception_v3`` keys → ours: ``Conv2d_1a_3x3`` → ``features.conv1a``, ``Mixed_6b.branch7x7_2``
    → ``features.mixed6b.branches.1.1`` (tables above), ``AuxLogits`` → ``aux_heads.aux1``, ``fc`` → ``fc``."""
    out: dict[str, torch.Tensor] = {}
    for key, value in sd.items():
        if m := re.match(r"Conv2d_(\d[ab])_\dx\d\.(.*)", key):
            new = f"features.conv{m[1]}.{m[2]}"
        elif m := re.match(r"Mixed_(\d[a-e])\.(\w+)\.(.*)", key):
            table = _TV_V3_BRANCHES[_TV_V3_KIND.get(m[1], "E")]
            new = f"features.mixed{m[1]}.branches.{table[m[2]]}.{m[3]}"
        elif key.startswith("AuxLogits."):
            new = "aux_heads.aux1." + key[len("AuxLogits.") :]
        else:
            new = key
        out[new] = value
    return out


register_weights(
    "inception_v3",
    "torchvision",
    "inception_v3",
    _convert_tv_inception_v3,
    url="https://download.pytorch.org/models/inception_v3_google-0cc3c7bd.pth",
    sha256="0cc3c7bd",
)


# ----------------------------------------------------------------------------------------------------------
# Inception-v4 (Figures 3-9 of arXiv:1602.07261).


def v4_stem() -> list[tuple[str, LayerSpecT]]:
    """The stem of Inception-v4 and Inception-ResNet-v2 (Figure 3): 299×299×3 → 35×35×384."""
    return [
        ("conv1", Conv(32, 3, 2, 0)),
        ("conv2", Conv(32, 3, 1, 0)),
        ("conv3", Conv(64, 3)),
        ("mixed3a", Mixed(((_max_reduce(),), (Conv(96, 3, 2, 0),)), attn=False)),
        (
            "mixed4a",
            Mixed(
                (
                    (Conv(64), Conv(96, 3, 1, 0)),
                    (Conv(64), Conv(64, (1, 7)), Conv(64, (7, 1)), Conv(96, 3, 1, 0)),
                ),
                attn=False,
            ),
        ),
        ("mixed5a", Mixed(((Conv(192, 3, 2, 0),), (_max_reduce(),)), attn=False)),
    ]


def v4_a() -> Mixed:
    """35×35 Inception-A (Figure 4)."""
    return Mixed(
        (
            (Conv(96),),
            (Conv(64), Conv(96, 3)),
            (Conv(64), Conv(96, 3), Conv(96, 3)),
            (_avg(False), Conv(96)),
        )
    )


def reduction_a(k: int, l: int, m: int, n: int) -> Mixed:
    """35×35 → 17×17 Reduction-A (Figure 7) with the filter counts of Table 1 (k, l, m, n)."""
    return Mixed(((Conv(n, 3, 2, 0),), (Conv(k), Conv(l, 3), Conv(m, 3, 2, 0)), (_max_reduce(),)))


def v4_b() -> Mixed:
    """17×17 Inception-B (Figure 5)."""
    return Mixed(
        (
            (Conv(384),),
            (Conv(192), Conv(224, (1, 7)), Conv(256, (7, 1))),
            (Conv(192), Conv(192, (7, 1)), Conv(224, (1, 7)), Conv(224, (7, 1)), Conv(256, (1, 7))),
            (_avg(False), Conv(128)),
        )
    )


def v4_reduction_b() -> Mixed:
    """17×17 → 8×8 Reduction-B of Inception-v4 (Figure 8)."""
    return Mixed(
        (
            (Conv(192), Conv(192, 3, 2, 0)),
            (Conv(256), Conv(256, (1, 7)), Conv(320, (7, 1)), Conv(320, 3, 2, 0)),
            (_max_reduce(),),
        )
    )


def v4_c() -> Mixed:
    """8×8 Inception-C (Figure 6)."""
    return Mixed(
        (
            (Conv(256),),
            (Conv(384), Split((Conv(256, (1, 3)), Conv(256, (3, 1))))),
            (Conv(384), Conv(448, (3, 1)), Conv(512, (1, 3)), Split((Conv(256, (1, 3)), Conv(256, (3, 1))))),
            (_avg(False), Conv(256)),
        )
    )


def inception_v4_layers() -> list[tuple[str, LayerSpecT]]:
    """Inception-v4 (Figure 9): stem, 4 × Inception-A, Reduction-A, 7 × Inception-B, Reduction-B, 3 × Inception-C."""
    return [
        *v4_stem(),
        *[(f"inception_a{i}", v4_a()) for i in range(1, 5)],
        ("reduction_a", reduction_a(192, 224, 256, 384)),
        *[(f"inception_b{i}", v4_b()) for i in range(1, 8)],
        ("reduction_b", v4_reduction_b()),
        *[(f"inception_c{i}", v4_c()) for i in range(1, 4)],
    ]


class InceptionV4(InceptionNet):
    """Inception-v4 (Szegedy et al. 2016, Figure 9): a pure Inception network of uniform modules."""

    def __init__(
        self,
        num_classes: int = 1000,
        in_chans: int = 3,
        dropout: float = 0.2,
        attn_layer: LayerSpec = None,
        bn_eps: float = 1e-3,
    ) -> None:
        super().__init__(
            inception_v4_layers(),
            num_classes=num_classes,
            in_chans=in_chans,
            dropout=dropout,
            parts=Parts(norm_layer="bn", bn_eps=bn_eps, attn_layer=attn_layer),
        )


@register_model(
    paper=INCEPTION_V4_PAPER,
    input_size=(3, 299, 299),
    reported=Reported(
        top1_err=20.0,
        top5_err=5.0,
        source="Table 2 (single crop)",
        figures=(Figure("params", 42679816, "timm 1.0.31 inception_v4 (built on meta)", peer=True),),
    ),
    note=(
        "The paper reports no parameter count; ours (42,679,816) equals timm's inception_v4, the port of the "
        "authors' model. As in that model, the stem's 7×1/1×7 pair runs 1×7 first (Figure 3 draws 7×1 first) "
        "and average pools exclude padding. Dropout 0.2 (keep 0.8)."
    ),
    accepts=InceptionV4,
)
def inception_v4(num_classes: int = 1000, in_chans: int = 3, **kwargs: Any) -> InceptionV4:
    """Inception-v4 (Szegedy et al. 2016, arXiv:1602.07261, Figures 3-9)."""
    return InceptionV4(num_classes=num_classes, in_chans=in_chans, **kwargs)


# ----------------------------------------------------------------------------------------------------------
# Inception-ResNet-v1 (Figures 10-14) and -v2 (Figures 16-19 as the authors' released model has them).


def _res(branches: tuple, scale: float, act: bool = True) -> Mixed:
    return Mixed(branches, residual_scale=scale, residual_act=act)


def inception_resnet_v1_layers(scales: tuple[float, float, float]) -> list[tuple[str, LayerSpecT]]:
    """Inception-ResNet-v1 (Figure 15 with the v1 parts): stem of Figure 14, 5 × A, Reduction-A
    (k, l, m, n = 192, 192, 256, 384), 10 × B, Reduction-B of Figure 12, 5 × C."""
    sa, sb, sc = scales
    block35 = ((Conv(32),), (Conv(32), Conv(32, 3)), (Conv(32), Conv(32, 3), Conv(32, 3)))
    block17 = ((Conv(128),), (Conv(128), Conv(128, (1, 7)), Conv(128, (7, 1))))
    block8 = ((Conv(192),), (Conv(192), Conv(192, (1, 3)), Conv(192, (3, 1))))
    reduction_b = Mixed(
        (
            (Conv(256), Conv(384, 3, 2, 0)),
            (Conv(256), Conv(256, 3, 2, 0)),
            (Conv(256), Conv(256, 3), Conv(256, 3, 2, 0)),
            (_max_reduce(),),
        )
    )
    return [
        ("conv1a", Conv(32, 3, 2, 0)),
        ("conv2a", Conv(32, 3, 1, 0)),
        ("conv2b", Conv(64, 3)),
        ("pool3a", _max_reduce()),
        ("conv3b", Conv(80, 1)),
        ("conv4a", Conv(192, 3, 1, 0)),
        ("conv4b", Conv(256, 3, 2, 0)),
        *[(f"block35_{i}", _res(block35, sa)) for i in range(1, 6)],
        ("mixed6a", reduction_a(192, 192, 256, 384)),
        *[(f"block17_{i}", _res(block17, sb)) for i in range(1, 11)],
        ("mixed7a", reduction_b),
        *[(f"block8_{i}", _res(block8, sc)) for i in range(1, 6)],
    ]


def inception_resnet_v2_layers(scales: tuple[float, float, float]) -> list[tuple[str, LayerSpecT]]:
    """Inception-ResNet-v2 as the authors released it: a 5×5-branch 35×35 module (mixed5b) after a plain
    stem, 10 × A, Reduction-A (256, 256, 384, 384), 20 × B, Reduction-B (Figure 18), 10 × C (the last one
    unscaled and without ReLU), then a 1×1 convolution to 1536 channels."""
    sa, sb, sc = scales
    block35 = ((Conv(32),), (Conv(32), Conv(32, 3)), (Conv(32), Conv(48, 3), Conv(64, 3)))
    block17 = ((Conv(192),), (Conv(128), Conv(160, (1, 7)), Conv(192, (7, 1))))
    block8 = ((Conv(192),), (Conv(192), Conv(224, (1, 3)), Conv(256, (3, 1))))
    mixed5b = Mixed(
        (
            (Conv(96),),
            (Conv(48), Conv(64, 5)),
            (Conv(64), Conv(96, 3), Conv(96, 3)),
            (_avg(False), Conv(64)),
        )
    )
    reduction_b = Mixed(
        (
            (Conv(256), Conv(384, 3, 2, 0)),
            (Conv(256), Conv(288, 3, 2, 0)),
            (Conv(256), Conv(288, 3), Conv(320, 3, 2, 0)),
            (_max_reduce(),),
        )
    )
    return [
        ("conv1a", Conv(32, 3, 2, 0)),
        ("conv2a", Conv(32, 3, 1, 0)),
        ("conv2b", Conv(64, 3)),
        ("pool3a", _max_reduce()),
        ("conv3b", Conv(80, 1)),
        ("conv4a", Conv(192, 3, 1, 0)),
        ("pool5a", _max_reduce()),
        ("mixed5b", mixed5b),
        *[(f"block35_{i}", _res(block35, sa)) for i in range(1, 11)],
        ("mixed6a", reduction_a(256, 256, 384, 384)),
        *[(f"block17_{i}", _res(block17, sb)) for i in range(1, 21)],
        ("mixed7a", reduction_b),
        *[(f"block8_{i}", _res(block8, sc)) for i in range(1, 10)],
        ("block8_10", _res(block8, 1.0, act=False)),
        ("conv7b", Conv(1536, 1)),
    ]


class InceptionResNet(InceptionNet):
    """Inception-ResNet (Szegedy et al. 2016): Inception blocks with residual connections whose residuals are
    scaled down before the addition (Figure 20; ``scales`` for the 35×35, 17×17 and 8×8 blocks).

    ``drop_path_rate`` adds stochastic depth on the residual branches (linear decay rule; 0 in the paper).
    """

    def __init__(
        self,
        num_classes: int = 1000,
        in_chans: int = 3,
        version: str = "v2",
        dropout: float = 0.2,
        scales: tuple[float, float, float] = (0.17, 0.10, 0.20),
        attn_layer: LayerSpec = None,
        drop_path_rate: float = 0.0,
        bn_eps: float = 1e-3,
    ) -> None:
        if version not in ("v1", "v2"):
            raise ValueError(f"version must be 'v1' or 'v2', got {version!r}")
        if len(scales) != 3 or not all(0.0 < s <= 1.0 for s in scales):
            raise ValueError(f"scales must be three residual scales in (0, 1], got {scales!r}")
        layers = (inception_resnet_v1_layers if version == "v1" else inception_resnet_v2_layers)(scales)
        self.version = version
        super().__init__(
            layers,
            num_classes=num_classes,
            in_chans=in_chans,
            dropout=dropout,
            parts=Parts(norm_layer="bn", bn_eps=bn_eps, attn_layer=attn_layer),
            drop_path_rate=drop_path_rate,
        )


@register_model(
    paper=INCEPTION_V4_PAPER,
    input_size=(3, 299, 299),
    reported=Reported(top1_err=21.3, top5_err=5.5, source="Table 2 (single crop)"),
    note=(
        "Built from Figures 10-15 (no released model to compare with). Residual scales 0.17/0.10/0.20 (35×35, "
        "17×17, 8×8), those of the authors' Inception-ResNet-v2: the paper only says 0.1-0.3. Dropout 0.2."
    ),
    accepts=InceptionResNet,
)
def inception_resnet_v1(num_classes: int = 1000, in_chans: int = 3, **kwargs: Any) -> InceptionResNet:
    """Inception-ResNet-v1 (Szegedy et al. 2016, arXiv:1602.07261, Figures 10-15)."""
    return InceptionResNet(num_classes=num_classes, in_chans=in_chans, version="v1", **kwargs)


_IRV2_NOTE = (
    "The authors' released model (TF-slim; timm's inception_resnet_v2, 55,843,464 params), which differs from "
    "Figure 15: a 35×35 module with a 5×5 branch replaces the Figure 3 stem's last steps, blocks repeat "
    "10/20/10 times (not 5/10/5), the last block is unscaled without ReLU, a 1×1 conv to 1536 channels "
    "precedes pooling, and Figure 19's 2144-channel projection is 2080. Residual scales 0.17/0.10/0.20."
)


@register_model(
    paper=INCEPTION_V4_PAPER,
    input_size=(3, 299, 299),
    reported=Reported(
        top1_err=19.9,
        top5_err=4.9,
        source="Table 2 (single crop)",
        figures=(Figure("params", 55843464, "timm 1.0.31 inception_resnet_v2 (built on meta)", peer=True),),
    ),
    note=_IRV2_NOTE,
    accepts=InceptionResNet,
)
def inception_resnet_v2(num_classes: int = 1000, in_chans: int = 3, **kwargs: Any) -> InceptionResNet:
    """Inception-ResNet-v2 (Szegedy et al. 2016, arXiv:1602.07261, Figures 16-19, as the authors released it)."""
    return InceptionResNet(num_classes=num_classes, in_chans=in_chans, version="v2", **kwargs)


@register_model(
    paper=SENET_PAPER,
    input_size=(3, 299, 299),
    reported=Reported(top1_err=19.80, top5_err=4.79, source="Table 2"),
    note="Inception-ResNet-v2 (" + _IRV2_NOTE[:-1] + ") with an SE block (reduction 16) on every block's "
    "residual branch before the addition and on the reduction modules' outputs.",
    accepts=InceptionResNet,
)
def se_inception_resnet_v2(num_classes: int = 1000, in_chans: int = 3, **kwargs: Any) -> InceptionResNet:
    """SE-Inception-ResNet-v2 (Hu et al. 2018, arXiv:1709.01507, Table 2)."""
    kwargs.setdefault("attn_layer", "se")
    return InceptionResNet(num_classes=num_classes, in_chans=in_chans, version="v2", **kwargs)


# timm names → ours. Submodules: ``branchK`` (a single conv) → ``branches.K.0``, ``branchK.M`` → ``branches.K.M``,
# ``branchK_M`` → ``branches.K.M``, ``branchK_Ma``/``b`` → ``branches.K.M.0``/``1`` (a Split), ``conv2d`` → ``proj``.
_TIMM_BRANCH_RULES = (
    (r"\.branch(\d)_(\d)a\.", r".branches.\1.\2.0."),
    (r"\.branch(\d)_(\d)b\.", r".branches.\1.\2.1."),
    (r"\.branch(\d)_(\d)\.", r".branches.\1.\2."),
    (r"\.branch(\d)\.(\d+)\.", r".branches.\1.\2."),
    (r"\.branch(\d)\.(conv|bn)\.", r".branches.\1.0.\2."),
    (r"\.conv2d\.", ".proj."),
)


def _timm_rename(key: str, layer: str, rest: str) -> str:
    key = f"features.{layer}.{rest}"
    for pattern, repl in _TIMM_BRANCH_RULES:
        key = re.sub(pattern, repl, key)
    return key


_V4_NAMES = [name for name, _ in inception_v4_layers()]


def _convert_timm_inception_v4(sd: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """timm ``inception_v4``: ``features.<i>`` → our i-th layer name; Mixed3a's lone ``conv`` is our branch 1 (after
    the pool), Mixed5a's our branch 0; ``last_linear`` → ``fc``."""
    out: dict[str, torch.Tensor] = {}
    for key, value in sd.items():
        if key.startswith("last_linear."):
            out["fc." + key.split(".", 1)[1]] = value
            continue
        _, idx, rest = key.split(".", 2)
        layer = _V4_NAMES[int(idx)]
        if layer in ("mixed3a", "mixed5a") and rest.startswith("conv."):
            rest = ("branch1." if layer == "mixed3a" else "branch0.") + rest[len("conv.") :]
        out[_timm_rename(key, layer, rest)] = value
    return out


def _convert_timm_inception_resnet_v2(sd: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """timm ``inception_resnet_v2``: ``conv2d_1a`` → ``conv1a``, ``mixed_5b`` → ``mixed5b``, ``repeat.i`` /
    ``repeat_1.i`` / ``repeat_2.i`` → ``block35_{i+1}`` / ``block17_{i+1}`` / ``block8_{i+1}``, ``block8`` →
    ``block8_10``, ``classif`` → ``fc``."""
    out: dict[str, torch.Tensor] = {}
    repeats = {"repeat": "block35", "repeat_1": "block17", "repeat_2": "block8"}
    for key, value in sd.items():
        head, rest = key.split(".", 1)
        if head == "classif":
            out["fc." + rest] = value
            continue
        if head in repeats:
            idx, rest = rest.split(".", 1)
            layer = f"{repeats[head]}_{int(idx) + 1}"
        elif head == "block8":
            layer = "block8_10"
        else:
            layer = head.replace("conv2d_", "conv").replace("mixed_", "mixed")
        out[_timm_rename(key, layer, rest)] = value
    return out


register_weights(
    "inception_v4",
    "timm",
    "inception_v4.tf_in1k",
    _convert_timm_inception_v4,
    url="https://huggingface.co/timm/inception_v4.tf_in1k/resolve/main/pytorch_model.bin",
    sha256_from_server=True,  # timm publishes no digest in its package; the hub sends the LFS SHA-256
    preprocess=timm_preprocess("inception_v4.tf_in1k", 299, 0.875, mean=(0.5,) * 3, std=(0.5,) * 3),
    license=TIMM_LICENSE,
    weights_name="inception_v4.tf_in1k",
    accuracy=timm_accuracy(80.144, 94.982, 299, 0.875, "bicubic"),
    size=published_size("171 MB", "Hugging Face file page of timm/inception_v4.tf_in1k pytorch_model.bin"),
    known_files=(
        KnownFile(
            "a756a086851c8d5a8de135ec15c76b90ea56cb5aef450e3299107e659e725bb1",
            "timm/inception_v4.tf_in1k model.safetensors (SHA-256 on its Hugging Face file page)",
        ),
    ),
)
register_weights(
    "inception_resnet_v2",
    "timm",
    "inception_resnet_v2.tf_in1k",
    _convert_timm_inception_resnet_v2,
    url="https://huggingface.co/timm/inception_resnet_v2.tf_in1k/resolve/main/pytorch_model.bin",
    sha256_from_server=True,
    preprocess=timm_preprocess("inception_resnet_v2.tf_in1k", 299, 0.8975, mean=(0.5,) * 3, std=(0.5,) * 3),
    license=TIMM_LICENSE,
    weights_name="inception_resnet_v2.tf_in1k",
    accuracy=timm_accuracy(80.434, 95.312, 299, 0.8975, "bicubic"),
    size=published_size("224 MB", "Hugging Face file page of timm/inception_resnet_v2.tf_in1k pytorch_model.bin"),
    known_files=(
        KnownFile(
            "d47b5edf9f355ef395162258bd2eb0edb2710bf3711774de54d5f4a1d1fcfbdf",
            "this source's pytorch_model.bin (SHA-256 on its Hugging Face file page, revision 8985479)",
        ),
        KnownFile(
            "dbea26b13a5fc8351919fed6a94222c0577ce324b2765fd081a798f837ca9d72",
            "timm/inception_resnet_v2.tf_in1k model.safetensors (SHA-256 on its Hugging Face file page)",
        ),
    ),
)


# ----------------------------------------------------------------------------------------------------------
# Lecture blocks: factorized convolutions (Inception-v3 paper, Section 3), each beside what it replaces.


@register_block(input_size=(64, 35, 35))
def conv5x5_lecture() -> nn.Sequential:
    """One 5×5 convolution, 64 → 64 channels on a 35×35 grid (what Figure 1 of Inception-v3 replaces)."""
    return nn.Sequential(ConvNormAct(64, 64, 5))


@register_block(input_size=(64, 35, 35))
def factorized_5x5_lecture() -> nn.Sequential:
    """Two 3×3 convolutions in place of a 5×5 (Inception-v3, Figure 1): same receptive field, 18/25 of the MACs."""
    return nn.Sequential(ConvNormAct(64, 64, 3), ConvNormAct(64, 64, 3))


@register_block(input_size=(128, 17, 17))
def conv7x7_lecture() -> nn.Sequential:
    """One 7×7 convolution, 128 → 128 channels on a 17×17 grid (what Figure 3 of Inception-v3 factorizes)."""
    return nn.Sequential(ConvNormAct(128, 128, 7))


@register_block(input_size=(128, 17, 17))
def asymmetric_7x7_lecture() -> nn.Sequential:
    """A 1×7 then a 7×1 convolution in place of a 7×7 (Inception-v3, Section 3.2): 14/49 of the MACs."""
    return nn.Sequential(ConvNormAct(128, 128, (1, 7)), ConvNormAct(128, 128, (7, 1)))
