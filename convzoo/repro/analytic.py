"""Analytic claims: exact figures computed from the models themselves with the inspector (on meta).

Each ``compute`` returns ``rows`` (what, computed, paper, agrees), a ``verdict`` (holds when every row agrees,
does not hold otherwise: there is no noise in a count) and an ``explanation``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from convzoo.repro.spec import Claim

if TYPE_CHECKING:
    from torch import nn

__all__ = ["ANALYTIC_CLAIMS", "conv_params"]

RULE = "exact: holds when every computed figure agrees with the paper's (to the paper's rounding)"


def _summary(model: str | nn.Module, size: tuple[int, ...] | None = None, **kw: Any) -> Any:
    from convzoo.inspect import summary

    return summary(model, size, **kw)


def conv_params(s: Any) -> int:
    """Weights of the convolutions and FC layers of a summary (BN's scale and shift left out)."""
    return sum(r.params for r in s.layers if r.type in ("Conv2d", "Linear"))


def _meta(name: str, **kw: Any) -> nn.Module:
    import torch

    from convzoo.registry import create_model

    with torch.device("meta"):
        return create_model(name, **kw)


def _row(what: str, computed: Any, paper: Any, agrees: bool) -> dict[str, Any]:
    return {"what": what, "computed": computed, "paper": paper, "agrees": bool(agrees)}


def _result(rows: list[dict[str, Any]], explanation: str) -> dict[str, Any]:
    return {
        "rows": rows,
        "verdict": "holds" if all(r["agrees"] for r in rows) else "does not hold",
        "rule": RULE,
        "explanation": explanation,
    }


def _convs(c: int, kernels: list[tuple[int, int]]) -> nn.Sequential:
    from torch import nn
    return nn.Sequential(*[nn.Conv2d(c, c, k, padding=(k[0] // 2, k[1] // 2), bias=False) for k in kernels])


def stacked_3x3(c: int = 64) -> dict[str, Any]:
    three = _summary(_convs(c, [(3, 3)] * 3), (c, 56, 56))
    one = _summary(_convs(c, [(7, 7)]), (c, 56, 56))
    rf3, rf7 = three.layers[-1].receptive_field, one.layers[-1].receptive_field
    return _result(
        [
            _row("receptive field of three stacked 3×3 layers", rf3, 7, rf3 == 7),
            _row(
                f"weights of three 3×3 layers, C = {c}",
                f"{three.total_params:,} = {three.total_params / c**2:g} C²",
                "27 C²",
                three.total_params == 27 * c * c,
            ),
            _row(
                f"weights of one 7×7 layer, C = {c}",
                f"{one.total_params:,} = {one.total_params / c**2:g} C²",
                "49 C²",
                one.total_params == 49 * c * c and rf7 == 7,
            ),
        ],
        f"Three 3×3 layers see the same 7×7 field with {27 / 49:.0%} of the weights (and two more non-linearities).",
    )


def inception_reduction() -> dict[str, Any]:
    naive, reduced = _summary("inception_naive_lecture"), _summary("inception_reduced_lecture")
    n, r = round(naive.total_macs / 1e6), round(reduced.total_macs / 1e6)
    return _result(
        [
            _row("naive Inception module on 28×28×256 (MACs)", f"{n} M", "854 M", n == 854),
            _row("with 1×1 reductions (MACs)", f"{r} M", "271 M", r == 271),
        ],
        f"The 1×1 reductions cut the module's multiply-adds {naive.total_macs / reduced.total_macs:.2f}× "
        "(figures of the CS231n lecture on Szegedy et al.'s Fig. 2).",
    )


def _saving(a: Any, b: Any) -> int:
    return round(100 * (1 - b.total_macs / a.total_macs))


def factorize_5x5() -> dict[str, Any]:
    five, two = _summary("conv5x5_lecture"), _summary("factorized_5x5_lecture")
    s = _saving(five, two)
    return _result(
        [_row("two 3×3 in place of one 5×5: MACs saved", f"{s}%", "28%", s == 28)],
        f"{two.total_macs:,} vs {five.total_macs:,} multiply-adds: 18/25 of the cost, same receptive field.",
    )


def factorize_asymmetric(c: int = 64) -> dict[str, Any]:
    square = _summary(_convs(c, [(3, 3)]), (c, 17, 17))
    pair = _summary(_convs(c, [(3, 1), (1, 3)]), (c, 17, 17))
    seven, seven_pair = _summary("conv7x7_lecture"), _summary("asymmetric_7x7_lecture")
    s3, s7 = _saving(square, pair), _saving(seven, seven_pair)
    return _result(
        [
            _row("3×1 then 1×3 in place of 3×3: MACs saved", f"{s3}%", "33%", s3 == 33),
            _row("1×7 then 7×1 in place of 7×7: MACs saved", f"{s7}%", "71% (14/49)", s7 == 71),
        ],
        "An n×1 then 1×n pair costs 2n/n² of the n×n convolution with the same receptive field.",
    )


def googlenet_vs_alexnet() -> dict[str, Any]:
    g, a = _summary("googlenet"), _summary("alexnet")
    aux = sum(p for _, p in g.not_run)
    main = g.total_params - aux
    fc = g.layers[-1].params if g.layers[-1].type == "Linear" else 0
    ratio = a.total_params / main
    return _result(
        [
            _row(
                "AlexNet parameters",
                f"{a.total_params / 1e6:.1f} M",
                "60 M (a round figure)",
                abs(a.total_params / 60e6 - 1) < 0.05,
            ),
            _row(
                "GoogLeNet parameters (without the auxiliary heads)",
                f"{main / 1e6:.2f} M",
                "≈ 5 M (60 M ÷ 12)",
                abs(main / 1e6 - 5) < 0.5,
            ),
            _row("AlexNet ÷ GoogLeNet", f"{ratio:.1f}×", "12×", round(ratio) == 12),
        ],
        f"As stated the claim does not hold: GoogLeNet has {main / 1e6:.2f} M parameters at inference "
        f"({g.total_params / 1e6:.1f} M with the auxiliary heads used in training), {ratio:.1f}× fewer than "
        f"AlexNet's {a.total_params / 1e6:.1f} M. The paper's 12× matches 60 M ÷ 5 M; GoogLeNet without its "
        f"{fc / 1e6:.2f} M-parameter classifier has {(main - fc) / 1e6:.2f} M "
        f"({a.total_params / (main - fc):.1f}×), the closest reading.",
    )


def _block(model: str, stage: int, index: int, size: tuple[int, int, int], **kw: Any) -> Any:
    net = _meta(model, **kw)
    return _summary(net.stages[stage][index], size)  # type: ignore[index]


def bottleneck_cost() -> dict[str, Any]:
    basic = _block("resnet34", 0, 1, (64, 56, 56))
    bottle = _block("resnet50", 0, 1, (256, 56, 56))
    pb, pn = conv_params(basic), conv_params(bottle)
    r34, r50 = _summary("resnet34"), _summary("resnet50")
    return _result(
        [
            _row(
                "basic block on 64-d (two 3×3, 64): weights", f"{pb:,}", "73,728 (Fig. 5, left)", pb == 73_728
            ),
            _row(
                "bottleneck on 256-d (1×1 64, 3×3 64, 1×1 256): weights",
                f"{pn:,}",
                "69,632 (Fig. 5, right)",
                pn == 69_632,
            ),
            _row(
                "ResNet-34 vs ResNet-50 multiply-adds",
                f"{r34.total_macs / 1e9:.2f} vs {r50.total_macs / 1e9:.2f} G",
                "3.6 vs 3.8 ×10⁹ (Table 1, truncated)",
                int(r34.total_macs / 1e8) == 36 and int(r50.total_macs / 1e8) == 38,
            ),
        ],
        f"The bottleneck block works on 4× wider features at {pn / pb:.2f}× the basic block's cost, so ResNet-50 "
        f"costs {r50.total_macs / r34.total_macs:.2f}× ResNet-34 (He et al. 2015, §4.1: 'similar time complexity').",
    )


def resnext_block() -> dict[str, Any]:
    bottle = _block("resnet50", 0, 1, (256, 56, 56))
    grouped = _block("resnext50_32x4d", 0, 1, (256, 56, 56))
    pb, pg = conv_params(bottle), conv_params(grouped)
    r50, x50 = _summary("resnet50", v1_5=True), _summary("resnext50_32x4d")  # Table 1 strides the 3×3
    return _result(
        [
            _row(
                "ResNet bottleneck (256, 1×1 64, 3×3 64, 1×1 256): weights",
                f"{pb:,}",
                "≈ 70k (Fig. 1)",
                pb == 69_632,
            ),
            _row(
                "ResNeXt block (32 paths × 4 channels; grouped 3×3 of width 128): weights",
                f"{pg:,}",
                "≈ 70k (Fig. 1)",
                pg == 70_144,
            ),
            _row(
                "ResNet-50 (stride on the 3×3) vs ResNeXt-50 (32×4d) multiply-adds",
                f"{r50.total_macs / 1e9:.2f} vs {x50.total_macs / 1e9:.2f} G",
                "4.1 vs 4.2 ×10⁹ (Table 1)",
                round(r50.total_macs / 1e8) == 41 and round(x50.total_macs / 1e8) == 42,
            ),
        ],
        f"The grouped block costs {pg / pb:.3f}× the bottleneck's weights: C·(256·d + 9·d² + d·256) with C = 32, "
        "d = 4 against 256·64 + 9·64² + 64·256.",
    )


def densenet_connections() -> dict[str, Any]:
    rows = []
    for name in ("densenet40_k12_cifar", "densenet_bc100_k12_cifar"):
        net = _meta(name)
        for bname, block in net.stages.named_children():  # type: ignore[union-attr]
            if not bname.startswith("dense"):
                continue
            layers = list(block.children())
            last = getattr(layers[0], "conv2", None) or layers[0].conv1  # BC layers: 1×1 then 3×3
            k = last.out_channels
            c0 = layers[0].norm1.num_features
            inputs = [
                (lay.norm1.num_features - c0) // k + 1 for lay in layers
            ]  # feature maps it concatenates
            n = len(layers)
            rows.append(
                _row(
                    f"{name} {bname}: direct connections of its {n} layers",
                    sum(inputs),
                    f"L(L+1)/2 = {n * (n + 1) // 2}",
                    sum(inputs) == n * (n + 1) // 2,
                )
            )
            break
    return _result(
        rows,
        "Layer ℓ of a dense block takes the block input and every earlier layer's maps (ℓ inputs, counted from "
        "its input width (c₀ + (ℓ−1)k)), so L layers have 1 + 2 + … + L = L(L+1)/2 connections.",
    )


def se_overhead() -> dict[str, Any]:
    base, se = _summary("resnet50"), _summary("resnet50", attn_layer="se")
    dp = 100 * (se.total_params / base.total_params - 1)
    dm = 100 * (se.total_macs / base.total_macs - 1)
    return _result(
        [
            _row(
                "SE-ResNet-50 vs ResNet-50 parameters",
                f"{se.total_params / 1e6:.2f} vs {base.total_params / 1e6:.2f} M (+{dp:.1f}%)",
                "28.1 vs 25.6 M (~10%)",
                round(se.total_params / 1e5) == 281 and 9 <= dp <= 11,
            ),
            _row(
                "multiply-adds",
                f"{se.total_macs / 1e9:.3f} vs {base.total_macs / 1e9:.3f} G (+{dm:.2f}%)",
                "3.87 vs 3.86 G (+0.26%)",
                0 < dm < 0.5,
            ),
        ],
        "SE's two FC layers per block (reduction 16) add about a tenth of the weights but act on 1×1 pooled "
        "vectors, so they cost almost no multiply-adds (Hu et al., §4 / Table 1). Our count is of the "
        "convolutions and FC layers only; the paper's +0.26% also counts SE's pooling and channel scaling.",
    )


def stochastic_depth_expected() -> dict[str, Any]:
    from convzoo.layers import DropPath

    net = _meta("resnet110_sd_cifar")
    drops = [m for m in net.modules() if isinstance(m, DropPath)]
    expected = sum(d.survival for d in drops)
    n = len(drops)
    return _result(
        [
            _row("residual blocks of ResNet-110", n, 54, n == 54),
            _row(
                "expected blocks in a training step (linear decay to p_L = 0.5)",
                f"{expected:.2f}",
                "(3L − 1)/4 ≈ 40",
                round(expected) == 40 and abs(expected - (3 * n - 1) / 4) < 1e-6,
            ),
        ],
        f"With survival 1 − (ℓ/L)·0.5 for block ℓ, a step trains {expected:.2f} of {n} blocks on average "
        f"({expected / n:.0%}), the source of the ~25% shorter training time (Huang et al. 2016, §3).",
    )


def analytic(cid: str, paper: str, where: str, says: str, compute: Callable[[], dict[str, Any]]) -> Claim:
    return Claim(id=cid, paper=paper, where=where, says=says, kind="analytic", compute=compute, figure="none")


VGG = "Simonyan, Zisserman (2014). Very Deep Convolutional Networks. arXiv:1409.1556"
GOOGLENET = "Szegedy et al. (2014). Going Deeper with Convolutions. arXiv:1409.4842"
INCEPTION_V3 = (
    "Szegedy, Vanhoucke, Ioffe, Shlens, Wojna (2015). Rethinking the Inception Architecture. arXiv:1512.00567"
)
RESNET = "He, Zhang, Ren, Sun (2015). Deep Residual Learning for Image Recognition. arXiv:1512.03385"

ANALYTIC_CLAIMS: tuple[Claim, ...] = (
    analytic(
        "stacked_3x3",
        VGG,
        "§2.3",
        "Three stacked 3×3 layers have a 7×7 receptive field with 27C² weights instead of 49C².",
        stacked_3x3,
    ),
    analytic(
        "inception_reduction",
        GOOGLENET,
        "Fig. 2 (CS231n lecture figures)",
        "1×1 reductions cut an Inception module on 28×28×256 from 854 M to 271 M multiply-adds.",
        inception_reduction,
    ),
    analytic(
        "factorize_5x5",
        INCEPTION_V3,
        "§3.1, Fig. 1",
        "Two 3×3 convolutions replace a 5×5 at 28% less cost.",
        factorize_5x5,
    ),
    analytic(
        "factorize_asymmetric",
        INCEPTION_V3,
        "§3.2, Fig. 3",
        "A 3×1 then 1×3 convolution replaces a 3×3 at 33% less cost.",
        factorize_asymmetric,
    ),
    analytic(
        "googlenet_params",
        GOOGLENET,
        "§1",
        "GoogLeNet uses 12× fewer parameters than AlexNet.",
        googlenet_vs_alexnet,
    ),
    analytic(
        "bottleneck_cost",
        RESNET,
        "§4.1, Fig. 5, Table 1",
        "A bottleneck block on 256-d features costs about what a basic block on 64-d costs.",
        bottleneck_cost,
    ),
    analytic(
        "resnext_block",
        "Xie, Girshick, Dollár, Tu, He (2017). Aggregated Residual Transformations. arXiv:1611.05431",
        "Fig. 1, Table 1",
        "A ResNeXt block of 32 paths × 4 channels costs the same as the ResNet bottleneck (~70k weights).",
        resnext_block,
    ),
    analytic(
        "densenet_connections",
        "Huang, Liu, van der Maaten, Weinberger (2017). Densely Connected "
        "Convolutional Networks. arXiv:1608.06993",
        "§1, §3",
        "A dense block of L layers has L(L+1)/2 direct connections.",
        densenet_connections,
    ),
    analytic(
        "se_overhead",
        "Hu, Shen, Albanie, Sun, Wu (2019). Squeeze-and-Excitation Networks. arXiv:1709.01507",
        "§4, Table 1",
        "SE-ResNet-50 adds ~10% parameters and 0.26% multiply-adds to ResNet-50.",
        se_overhead,
    ),
    analytic(
        "stochastic_depth_depth",
        "Huang, Sun, Liu, Sedra, Weinberger (2016). Deep Networks with Stochastic Depth. arXiv:1603.09382",
        "§3",
        "With linear decay to p_L = 0.5, ResNet-110 trains on average about "
        "40 of its 54 residual blocks per step.",
        stochastic_depth_expected,
    ),
)
