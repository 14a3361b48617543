"""Descendants of ResNet built by the same residual builder: Wide ResNet, ResNeXt, and the SE networks.

Each is a stage list and a few defaults handed to :class:`convzoo.models.resnet.ResNet`; every override the
builder takes (``attn_layer``, ``drop_path_rate``, ``unit``, ``shortcut``, ``checkpointing`` ...) works here too.
"""

from __future__ import annotations

from typing import Any

from convzoo.hub import TIMM_LICENSE, register_weights, timm_accuracy, timm_preprocess
from convzoo.models.resnet import (
    CIFAR,
    IMAGENET_LAYERS,
    ResNet,
    build,
    cifar_stages,
    from_timm_legacy_senet,
    from_torchvision_resnet,
    imagenet_stages,
)
from convzoo.registry import Figure, Paper, Reported, register_model

WRN_PAPER = Paper("S. Zagoruyko, N. Komodakis", "Wide Residual Networks", 2016, "1605.07146")
RESNEXT_PAPER = Paper(
    "S. Xie, R. Girshick, P. Dollár, Z. Tu, K. He",
    "Aggregated Residual Transformations for Deep Neural Networks",
    2017,
    "1611.05431",
)
SENET_PAPER = Paper(
    "J. Hu, L. Shen, S. Albanie, G. Sun, E. Wu", "Squeeze-and-Excitation Networks", 2018, "1709.01507"
)


# --- Wide ResNet ------------------------------------------------------------------------------------------------
def wide_resnet_cifar(
    depth: int, k: int, num_classes: int = 10, in_chans: int = 3, dropout: float = 0.0, **kwargs: Any
) -> ResNet:
    """WRN-d-k (Zagoruyko & Komodakis 2016, Table 1): (d-4)/6 pre-activation basic blocks of 16k/32k/64k per stage.

    ``dropout`` sits between the two convolutions of each block (the paper uses 0.3).
    """
    if (depth - 4) % 6:
        raise ValueError(f"WRN depth must be 6n+4 (e.g. 16, 22, 28, 40), got {depth}")
    stages = cifar_stages((depth - 4) // 6, widths=(16 * k, 32 * k, 64 * k))
    return build(
        stages,
        "basic",
        num_classes,
        in_chans,
        {"stem": "cifar", "stem_width": 16, "unit": "full_preact", "projection": "B", "dropout": dropout},
        kwargs,
    )


_WRN_NOTE = (
    "Projection (1×1) shortcuts where the width changes, fed the pre-activated input, as the authors' code"
)


@register_model(
    paper=WRN_PAPER,
    input_size=CIFAR,
    num_classes=10,
    accepts=ResNet,
    note=_WRN_NOTE,
    reported=Reported(params="11.0M", cifar10_err=4.81, source="Table 4 (ZCA-whitened input)"),
)
def wrn16_8_cifar(num_classes: int = 10, in_chans: int = 3, dropout: float = 0.0, **kwargs: Any) -> ResNet:
    """WRN-16-8 (Zagoruyko & Komodakis 2016, arXiv:1605.07146, Tables 1, 5): 2 blocks per stage, widths ×8."""
    return wide_resnet_cifar(16, 8, num_classes, in_chans, dropout, **kwargs)


@register_model(
    paper=WRN_PAPER,
    input_size=CIFAR,
    num_classes=10,
    accepts=ResNet,
    note=_WRN_NOTE + "; 3.89% error with dropout=0.3",
    reported=Reported(params="36.5M", cifar10_err=4.00, source="Table 5"),
)
def wrn28_10_cifar(num_classes: int = 10, in_chans: int = 3, dropout: float = 0.0, **kwargs: Any) -> ResNet:
    """WRN-28-10 (Zagoruyko & Komodakis 2016, arXiv:1605.07146, Tables 1, 5): 4 blocks per stage, widths ×10."""
    return wide_resnet_cifar(28, 10, num_classes, in_chans, dropout, **kwargs)


@register_model(
    paper=WRN_PAPER,
    input_size=CIFAR,
    num_classes=10,
    accepts=ResNet,
    note=_WRN_NOTE,
    reported=Reported(params="8.9M", cifar10_err=4.97, source="Table 4 (ZCA-whitened input)"),
)
def wrn40_4_cifar(num_classes: int = 10, in_chans: int = 3, dropout: float = 0.0, **kwargs: Any) -> ResNet:
    """WRN-40-4 (Zagoruyko & Komodakis 2016, arXiv:1605.07146, Tables 1, 5): 6 blocks per stage, widths ×4."""
    return wide_resnet_cifar(40, 4, num_classes, in_chans, dropout, **kwargs)


@register_model(
    paper=WRN_PAPER,
    accepts=ResNet,
    note="Stride in the 3×3 as the authors' (fb.resnet.torch) model; exact count as torchvision's",
    reported=Reported(
        top1_err=21.9, top5_err=6.03, source="ImageNet results table (single crop)",
        figures=(Figure("params", 68883240, "torchvision 0.29 wide_resnet50_2 weights (num_params)", peer=True),),
    ),
)
def wide_resnet50_2(num_classes: int = 1000, in_chans: int = 3, **kwargs: Any) -> ResNet:
    """WRN-50-2-bottleneck (Zagoruyko & Komodakis 2016, arXiv:1605.07146, §4.2): ResNet-50 with 2× wider 3×3."""
    stages = imagenet_stages(IMAGENET_LAYERS[50], True, inner=(128, 256, 512, 1024))
    return build(stages, "bottleneck", num_classes, in_chans, {"stride_in_3x3": True}, kwargs)


# --- ResNeXt ----------------------------------------------------------------------------------------------------
def resnext_imagenet(
    depth: int, cardinality: int, width: int, num_classes: int, in_chans: int, **kwargs: Any
) -> ResNet:
    """ResNeXt-depth (C×d) (Xie et al. 2017, Table 1): inner width C·d doubling per stage, stride in the 3×3."""
    inner = tuple(cardinality * width * 2**i for i in range(4))
    return build(
        imagenet_stages(IMAGENET_LAYERS[depth], True, inner=inner),
        "bottleneck",
        num_classes,
        in_chans,
        {"groups": cardinality, "stride_in_3x3": True},
        kwargs,
    )


@register_model(
    paper=RESNEXT_PAPER,
    accepts=ResNet,
    reported=Reported(
        params="25.0M", macs="4.2G", top1_err=22.2, source="Table 1 (params, FLOPs), Table 3 (224 crop error)",
        figures=(Figure("params", 25028904, "torchvision 0.29 resnext50_32x4d weights (num_params)", peer=True),),
    ),
)
def resnext50_32x4d(num_classes: int = 1000, in_chans: int = 3, **kwargs: Any) -> ResNet:
    """ResNeXt-50 (32×4d) (Xie et al. 2017, arXiv:1611.05431, Tables 1, 3): grouped 3×3 with cardinality 32."""
    return resnext_imagenet(50, 32, 4, num_classes, in_chans, **kwargs)


@register_model(
    paper=RESNEXT_PAPER,
    accepts=ResNet,
    reported=Reported(source="not in the paper's tables"),
    note="Configuration from the authors' model release (and torchvision), built by the paper's "
    "template (Table 1)",
)
def resnext101_32x8d(num_classes: int = 1000, in_chans: int = 3, **kwargs: Any) -> ResNet:
    """ResNeXt-101 (32×8d) (Xie et al. 2017, arXiv:1611.05431, template of Table 1): cardinality 32, d = 8."""
    return resnext_imagenet(101, 32, 8, num_classes, in_chans, **kwargs)


def resnext29_cifar(
    cardinality: int, width: int, num_classes: int = 10, in_chans: int = 3, **kwargs: Any
) -> ResNet:
    """ResNeXt-29 (C×d) for CIFAR (Xie et al. 2017, §5.3): 3 stages of 3 bottlenecks, outputs 256/512/1024."""
    inner = tuple(cardinality * width * 2**i for i in range(3))
    stages = cifar_stages(3, widths=(256, 512, 1024), inner=inner)
    return build(
        stages,
        "bottleneck",
        num_classes,
        in_chans,
        {"stem": "cifar", "stem_width": 64, "groups": cardinality, "stride_in_3x3": True},
        kwargs,
    )


@register_model(
    paper=RESNEXT_PAPER,
    input_size=CIFAR,
    num_classes=10,
    accepts=ResNet,
    reported=Reported(params="34.4M", cifar10_err=3.65, cifar100_err=17.77, source="Table 7"),
)
def resnext29_8x64d_cifar(num_classes: int = 10, in_chans: int = 3, **kwargs: Any) -> ResNet:
    """ResNeXt-29 (8×64d) (Xie et al. 2017, arXiv:1611.05431, §5.3, Table 7): cardinality 8, d = 64."""
    return resnext29_cifar(8, 64, num_classes, in_chans, **kwargs)


@register_model(
    paper=RESNEXT_PAPER,
    input_size=CIFAR,
    num_classes=10,
    accepts=ResNet,
    note="We count 68.155M parameters, of which 100,480 are batch norm's scale and shift; without them 68.055M, "
    "which Table 7's 68.1M rounds (the paper's count evidently leaves BN out)",
    reported=Reported(params="68.1M", cifar10_err=3.58, cifar100_err=17.31, source="Table 7"),
)
def resnext29_16x64d_cifar(num_classes: int = 10, in_chans: int = 3, **kwargs: Any) -> ResNet:
    """ResNeXt-29 (16×64d) (Xie et al. 2017, arXiv:1611.05431, §5.3, Table 7): cardinality 16, d = 64."""
    return resnext29_cifar(16, 64, num_classes, in_chans, **kwargs)


# --- Squeeze-and-Excitation -------------------------------------------------------------------------------------
_SE_NOTE = (
    "SE (reduction 16) on every residual branch before the addition; stride in the first 1×1 as the "
    "authors' Caffe models (v1_5=True moves it to the 3×3, timm's seresnet form). Exact parameter count "
    "as timm counts it. Table 2's GFLOPs sit 0.01-0.03 G above our conv+FC multiply-adds (3.86, 7.57, 11.29 G): "
    "the paper also counts the SE blocks' pooling and gating"
)


def se_resnet(depth: int, num_classes: int, in_chans: int, v1_5: bool, **kwargs: Any) -> ResNet:
    """SE-ResNet-depth (Hu et al. 2018, Table 1): a bottleneck ResNet with ``attn_layer="se"``."""
    return build(
        imagenet_stages(IMAGENET_LAYERS[depth], True),
        "bottleneck",
        num_classes,
        in_chans,
        {"attn_layer": "se", "stride_in_3x3": v1_5},
        kwargs,
    )


@register_model(
    paper=SENET_PAPER,
    accepts=ResNet,
    note=_SE_NOTE,
    reported=Reported(
        macs="3.87G", top1_err=23.29, top5_err=6.62, source="Table 2",
        figures=(Figure("params", 28088024, "timm 1.0.31 seresnet50 (built on meta)", peer=True),),
    ),
)
def se_resnet50(num_classes: int = 1000, in_chans: int = 3, v1_5: bool = False, **kwargs: Any) -> ResNet:
    """SE-ResNet-50 (Hu et al. 2018, arXiv:1709.01507, Tables 1-2): ResNet-50 with SE blocks."""
    return se_resnet(50, num_classes, in_chans, v1_5, **kwargs)


@register_model(
    paper=SENET_PAPER,
    accepts=ResNet,
    note=_SE_NOTE,
    reported=Reported(
        macs="7.60G", top1_err=22.38, top5_err=6.07, source="Table 2",
        figures=(Figure("params", 49326872, "timm 1.0.31 seresnet101 (built on meta)", peer=True),),
    ),
)
def se_resnet101(num_classes: int = 1000, in_chans: int = 3, v1_5: bool = False, **kwargs: Any) -> ResNet:
    """SE-ResNet-101 (Hu et al. 2018, arXiv:1709.01507, Table 2): ResNet-101 with SE blocks."""
    return se_resnet(101, num_classes, in_chans, v1_5, **kwargs)


@register_model(
    paper=SENET_PAPER,
    accepts=ResNet,
    note=_SE_NOTE,
    reported=Reported(
        macs="11.32G", top1_err=21.57, top5_err=5.73, source="Table 2",
        figures=(Figure("params", 66821848, "timm 1.0.31 seresnet152 (built on meta)", peer=True),),
    ),
)
def se_resnet152(num_classes: int = 1000, in_chans: int = 3, v1_5: bool = False, **kwargs: Any) -> ResNet:
    """SE-ResNet-152 (Hu et al. 2018, arXiv:1709.01507, Table 2): ResNet-152 with SE blocks."""
    return se_resnet(152, num_classes, in_chans, v1_5, **kwargs)


@register_model(
    paper=SENET_PAPER,
    accepts=ResNet,
    note="SE (reduction 16) before the addition; stride in the 3×3 as ResNeXt. Exact count as timm's. "
    "We count 4.23 G conv+FC multiply-adds where Table 2 writes 4.25 GFLOPs (it also counts SE pooling and gating)",
    reported=Reported(
        macs="4.25G", top1_err=21.10, top5_err=5.49, source="Table 2",
        figures=(Figure("params", 27559896, "timm 1.0.31 seresnext50_32x4d (built on meta)", peer=True),),
    ),
)
def se_resnext50_32x4d(num_classes: int = 1000, in_chans: int = 3, **kwargs: Any) -> ResNet:
    """SE-ResNeXt-50 (32×4d) (Hu et al. 2018, arXiv:1709.01507, Tables 1-2): ResNeXt-50 with SE blocks."""
    return resnext_imagenet(50, 32, 4, num_classes, in_chans, **{"attn_layer": "se", **kwargs})


@register_model(
    paper=SENET_PAPER,
    accepts=ResNet,
    note="Max-pool with ceil mode and no padding as the authors' Caffe model (timm legacy_senet154)",
    reported=Reported(
        top1_err=18.68, top5_err=4.47, source="Table 8 (224 crop)",
        figures=(Figure("params", 115088984, "timm 1.0.31 legacy_senet154 (built on meta)", peer=True),),
    ),
)
def senet154(num_classes: int = 1000, in_chans: int = 3, **kwargs: Any) -> ResNet:
    """SENet-154 (Hu et al. 2018, arXiv:1709.01507, §6.1, Appendix): SE-ResNeXt-152 (64×4d) with halved first 1×1s,
    a 3-conv stem, 3×3 stride-2 projection shortcuts and dropout 0.2 before the classifier."""
    stages = imagenet_stages(IMAGENET_LAYERS[152], True, inner=(256, 512, 1024, 2048))
    return build(
        stages,
        "bottleneck",
        num_classes,
        in_chans,
        {
            "stem": "deep",
            "stem_width": 128,
            "groups": 64,
            "half_first_1x1": True,
            "down_kernel": 3,
            "stride_in_3x3": True,
            "attn_layer": "se",
            "head_dropout": 0.2,
        },
        kwargs,
    )


# --- Peer weights -----------------------------------------------------------------------------------------------
_TV = "https://download.pytorch.org/models/"
for _name, _file, _source in [
    ("resnext50_32x4d", "resnext50_32x4d-7cdf4587", "torchvision"),
    ("resnext50_32x4d", "resnext50_32x4d-1a0047aa", "torchvision.v2"),
    ("resnext101_32x8d", "resnext101_32x8d-8ba56ff5", "torchvision"),
    ("resnext101_32x8d", "resnext101_32x8d-110c445d", "torchvision.v2"),
    ("wide_resnet50_2", "wide_resnet50_2-95faca4d", "torchvision"),
]:
    register_weights(
        _name,
        _source,
        _name,
        from_torchvision_resnet,
        url=f"{_TV}{_file}.pth",
        sha256=_file.rsplit("-", 1)[1],
        aliases=("torchvision.v1",) if _source == "torchvision" else (),
    )
_TIMM = "https://github.com/rwightman/pytorch-image-models/releases/download/v0.1-weights/"
# timm's seresnet50 is the V1.5 form: load it into create_model("se_resnet50", v1_5=True)
register_weights(
    "se_resnet50",
    "timm",
    "seresnet50",
    from_torchvision_resnet,
    url=f"{_TIMM}seresnet50_ra_224-8efdb4bb.pth",
    sha256="8efdb4bb",
    config={"v1_5": True},
    preprocess=timm_preprocess("seresnet50.ra2_in1k"),
    weights_name="seresnet50.ra2_in1k",
    accuracy=timm_accuracy(80.260, 95.068, 224, 0.875, "bicubic"),
    license=TIMM_LICENSE,
)
register_weights(
    "se_resnext50_32x4d",
    "timm",
    "seresnext50_32x4d",
    from_torchvision_resnet,
    url=f"{_TIMM}seresnext50_32x4d_racm-a304a460.pth",
    sha256="a304a460",
    preprocess=timm_preprocess("seresnext50_32x4d.racm_in1k"),
    weights_name="seresnext50_32x4d.racm_in1k",
    accuracy=timm_accuracy(81.268, 95.624, 224, 0.875, "bicubic"),
    license=TIMM_LICENSE,
)
register_weights(
    "senet154",
    "timm",
    "legacy_senet154",
    from_timm_legacy_senet,
    url=f"{_TIMM}legacy_senet154-e9eb9fe6.pth",
    sha256="e9eb9fe6",
    preprocess=timm_preprocess("legacy_senet154.in1k", interpolation="bilinear"),
    weights_name="legacy_senet154.in1k",
    accuracy=timm_accuracy(81.320, 95.502, 224, 0.875, "bilinear"),
    license=TIMM_LICENSE,
)
