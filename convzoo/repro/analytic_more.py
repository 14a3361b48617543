"""The seeds' claims of issue 21, item 6: exact checks computed from the models and the optimizer lab.

Like :mod:`convzoo.repro.analytic`, each ``compute`` returns ``rows`` (what, computed, paper, agrees), a
``verdict`` (holds when every row agrees) and an ``explanation``. Equalities of networks are checked with
forward passes in float64 on seeded random weights; the optimizer statements on the lab's ravine
(:mod:`convzoo.lab`), whose trajectories are float64 too.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from convzoo._lazy import deferred_module
from convzoo.repro.spec import Claim

if TYPE_CHECKING:
    import numpy as np
    import torch
    import torch.nn.functional as F
    from torch import nn
else:  # imported when a claim is computed, not when ``repro list`` reads the declarations
    np, torch = deferred_module("numpy"), deferred_module("torch")
    F, nn = deferred_module("torch.nn.functional"), deferred_module("torch.nn")

__all__ = [
    "ANALYTIC_MORE",
    "Reshape",
    "chw_reshape",
    "conv_head",
    "form_a",
    "form_b",
    "grid_reductions",
    "hwc_reshape",
    "slide",
]

TOL = 1e-10  # float64: an equality holds when max |Δ| ≤ TOL × the largest output
SEED = 0
Reshape = Callable[["torch.Tensor", int, int, int], "torch.Tensor"]


def _row(what: str, computed: Any, paper: Any, agrees: bool) -> dict[str, Any]:
    return {"what": what, "computed": computed, "paper": paper, "agrees": bool(agrees)}


def _result(rows: list[dict[str, Any]], rule: str, explanation: str) -> dict[str, Any]:
    ok = all(r["agrees"] for r in rows)
    return {
        "rows": rows,
        "verdict": "holds" if ok else "does not hold",
        "rule": rule,
        "explanation": explanation,
    }


def _gen() -> torch.Generator:
    return torch.Generator().manual_seed(SEED)


def _diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max())


def _equal(d: float, scale: float) -> bool:
    return d <= TOL * scale


# ------------------------------------------------------------------------ fully connected = convolution


def chw_reshape(w: torch.Tensor, c: int, kh: int, kw: int) -> torch.Tensor:
    """An FC weight (out, C·kh·kw) as a conv kernel: ``Flatten`` of a C×kh×kw map orders its inputs C, H, W."""
    return w.reshape(w.shape[0], c, kh, kw)


def hwc_reshape(w: torch.Tensor, c: int, kh: int, kw: int) -> torch.Tensor:
    """The wrong reshape (inputs read as H, W, C, a channels-last flatten): the negative control."""
    return w.reshape(w.shape[0], kh, kw, c).permute(0, 3, 1, 2)


def conv_head(
    classifier: nn.Sequential, features: tuple[int, int, int], reshape: Reshape = chw_reshape
) -> nn.Sequential:
    """``classifier`` with each ``Linear`` turned into the convolution it is (Sermanet et al. 2013, §3.5): the
    first over a whole C×k×k feature window, the others 1×1; the flatten dropped, everything else kept."""
    layers: list[nn.Module] = []
    c, kh, kw = features
    for m in classifier:
        if isinstance(m, nn.Flatten):
            continue
        if isinstance(m, nn.Linear):
            conv = nn.Conv2d(c, m.out_features, (kh, kw)).to(m.weight)
            with torch.no_grad():
                conv.weight.copy_(reshape(m.weight, c, kh, kw))
                conv.bias.copy_(m.bias)
            layers.append(conv)
            c, kh, kw = m.out_features, 1, 1
        else:
            layers.append(m)
    return nn.Sequential(*layers)


def _seeded(name: str, **kw: Any) -> nn.Module:
    """A registered model in float64 and eval mode, every conv/FC weight He-normal and every bias N(0, 0.1²)
    from a fixed seed (the papers' N(0, 0.01) init would shrink the scores, and so any difference, to nothing).
    Built on the meta device and materialised once, so no time goes into an init that is overwritten."""
    from convzoo.registry import create_model

    with torch.device("meta"):
        model = create_model(name, **kw).to(torch.float64)
    model = model.to_empty(device="cpu").eval()
    g = _gen()
    with torch.no_grad():
        for pname, p in [*model.named_parameters(), *model.named_buffers()]:
            r = torch.randn(p.shape, generator=g)  # float32 draws (4× faster), computed in float64
            if pname.endswith("weight") and p.dim() in (2, 4):
                p.copy_(r * math.sqrt(2.0 / p[0].numel()))
            elif pname.endswith("bias"):
                p.copy_(0.1 * r)
            else:
                raise ValueError(f"{name}: no seeded value for {pname!r}")
    return model


def slide(
    model: nn.Module, image: torch.Tensor, crop: int, stride: int, reshape: Reshape = chw_reshape
) -> dict[str, Any]:
    """``model`` run fully convolutionally on ``image``, beside the FC head on each window of its feature map
    and the whole net on each ``crop``×``crop`` crop at ``stride``: three score maps (1, classes, n, n)."""
    with torch.no_grad():
        return _slide(model, image, crop, stride, reshape)


def _slide(model: nn.Module, image: torch.Tensor, crop: int, stride: int, reshape: Reshape) -> dict[str, Any]:
    feats = model.features(image)  # type: ignore[operator]
    c, k = feats.shape[1], getattr(model, "feature_shape", (0, 1))[1]
    score_map = conv_head(model.classifier, (c, k, k), reshape)(feats)  # type: ignore[arg-type]
    n = score_map.shape[-1]

    def grid(f: Callable[[int, int], torch.Tensor]) -> torch.Tensor:
        cols = [torch.stack([f(i, j) for j in range(n)], -1) for i in range(n)]
        return torch.stack(cols, -2)

    windows = grid(lambda i, j: model.forward_head(feats[..., i : i + k, j : j + k]))  # type: ignore[operator]
    crops = grid(
        lambda i, j: model(image[..., stride * i : stride * i + crop, stride * j : stride * j + crop])
    )
    return {
        "map": score_map,
        "windows": windows,
        "crops": crops,
        "n": n,
        "k": k,
        "features": tuple(feats.shape[1:]),
    }


def _image(chans: int, size: int) -> torch.Tensor:
    return torch.randn((1, chans, size, size), generator=_gen(), dtype=torch.float64)


def _sci(d: float) -> str:
    return f"{d:.1e}"


def fc_as_conv(reshape: Reshape = chw_reshape) -> dict[str, Any]:
    nets = {
        "AlexNet": (_seeded("alexnet", num_classes=10, img_size=99), 3, 99, 32),
        "VGG-A": (_seeded("vgg11", num_classes=10, img_size=64), 3, 64, 32),
        "LeNet-5": (_seeded("lenet5_modern"), 1, 32, 4),
    }
    out = {}
    for label, (net, chans, crop, stride) in nets.items():
        image = _image(chans, crop + 2 * stride if label == "LeNet-5" else crop + stride)
        out[label] = (slide(net, image, crop, stride, reshape), image, net, crop)
    rows = [_head_row(label, *out[label]) for label in ("AlexNet", "VGG-A")]
    rows.append(_dense_eval_row(*out["VGG-A"]))
    rows.append(_whole_net_row("LeNet-5", *out["LeNet-5"]))
    rows.append(_padded_row(out["AlexNet"][0], out["VGG-A"][0]))
    return _result(
        rows,
        f"exact: an equality holds when max |Δ| ≤ {TOL:g} × the largest score (float64)",
        "An FC layer over a C×k×k map is a k×k convolution with the same weights (reshaped C, k, k, the order of "
        "torch's flatten) and every later FC layer a 1×1 one, so on a larger image the net yields a score map "
        "whose every entry is the FC head applied to one window of the feature map, at the net's stride (32 for "
        "AlexNet and VGG). The whole net slid over the image gives the same map only where no layer pads: "
        "LeNet-5's convolutions and poolings are all unpadded, so there the equality is exact; AlexNet's and "
        "VGG's padded convolutions see zeros at a crop's border and the neighbouring image in the dense pass, "
        "the 'different convolution boundary conditions' of Simonyan & Zisserman §3.2.",
    )


def _head_row(
    label: str, s: dict[str, Any], image: torch.Tensor, net: nn.Module, crop: int
) -> dict[str, Any]:
    c, h, _ = s["features"]
    d, scale = _diff(s["map"], s["windows"]), float(s["map"].abs().max())
    k, n = s["k"], s["n"]
    return _row(
        f"{label} (built for {crop}×{crop} crops) on a {image.shape[-1]}×{image.shape[-1]} image: fc6 as a {k}×{k} "
        f"convolution, fc7 and fc8 as 1×1, vs the FC head on each {k}×{k} window of its {h}×{h}×{c} maps",
        f"{n}×{n} score map; max |Δ| = {_sci(d)} (scores up to {scale:.2f})",
        "the same scores: the FC layers are convolutions (Sermanet et al. §3.5; VGG §3.2)",
        _equal(d, scale),
    )


def _dense_eval_row(s: dict[str, Any], image: torch.Tensor, net: nn.Module, crop: int) -> dict[str, Any]:
    with torch.no_grad():
        ours = net(image)
    mean = s["windows"].mean((2, 3))
    d, scale = _diff(ours, mean), float(mean.abs().max())
    return _row(
        f"VGG-A's own dense evaluation (convzoo's forward on the {image.shape[-1]}×{image.shape[-1]} image) vs the "
        "mean of the FC head over the windows",
        f"max |Δ| = {_sci(d)} (scores up to {scale:.2f})",
        "the class score map, spatially averaged (VGG §3.2)",
        _equal(d, scale),
    )


def _whole_net_row(
    label: str, s: dict[str, Any], image: torch.Tensor, net: nn.Module, crop: int
) -> dict[str, Any]:
    d, scale = _diff(s["map"], s["crops"]), float(s["map"].abs().max())
    n, size = s["n"], image.shape[-1]
    stride = (size - crop) // (n - 1)
    return _row(
        f"{label} (no padding anywhere) fully convolutional on a {size}×{size} image vs the whole net on each "
        f"{crop}×{crop} crop at its stride {stride}",
        f"{n}×{n} score map; max |Δ| = {_sci(d)} (scores up to {scale:.2f})",
        "the same scores: the net slid over the image (Sermanet et al. §3.5, Fig. 5)",
        _equal(d, scale),
    )


def _padded_row(alex: dict[str, Any], vgg: dict[str, Any]) -> dict[str, Any]:
    da, dv = _diff(alex["map"], alex["crops"]), _diff(vgg["map"], vgg["crops"])
    sa, sv = float(alex["map"].abs().max()), float(vgg["map"].abs().max())
    return _row(
        "AlexNet and VGG-A (padded convolutions) on the larger image vs the whole net on each crop at stride 32",
        f"max |Δ| = {da:.3f} and {dv:.3f} (scores up to {sa:.2f} and {sv:.2f})",
        "not the same: a crop's maps are padded with zeros, the image's by its neighbouring parts (VGG §3.2)",
        not _equal(da, sa) and not _equal(dv, sv),
    )


# ------------------------------------------------------------------------------ ResNeXt's three forms


def resnext_block() -> nn.Module:
    """Stage 1, block 2 of the registered ``resnext50_32x4d`` (form c: 1×1 256→128, 3×3 of 32 groups, 1×1
    128→256, identity shortcut), in float64 and eval mode, weights and BN statistics drawn from a fixed seed."""
    from convzoo.registry import create_model

    with torch.device("meta"):
        net = create_model("resnext50_32x4d")
    block = net.stages[0][1].to_empty(device="cpu").double().eval()  # type: ignore[index]
    g = _gen()
    with torch.no_grad():
        for name, t in [*block.named_parameters(), *block.named_buffers()]:
            r = torch.randn(t.shape, generator=g, dtype=torch.float64) if t.is_floating_point() else None
            if r is None:
                t.zero_()
            elif name.endswith("running_var"):
                t.copy_(0.5 + r.abs())
            elif t.dim() == 4:  # conv weights, He-normal
                t.copy_(r * math.sqrt(2.0 / t[0].numel()))
            else:  # BN scale 1 ± 0.1, shift and mean ± 0.1
                t.copy_((1.0 if name.endswith("weight") else 0.0) + 0.1 * r)
    return block


def _bn(x: torch.Tensor, bn: nn.BatchNorm2d, s: slice = slice(None)) -> torch.Tensor:
    assert bn.running_mean is not None and bn.running_var is not None
    return F.batch_norm(
        x, bn.running_mean[s], bn.running_var[s], bn.weight[s], bn.bias[s], False, 0.0, bn.eps
    )


def _branch_path(b: nn.Module, x: torch.Tensor, i: int, d: int, paths: int, shift: int) -> torch.Tensor:
    """Path i of Fig. 3(a) up to its d-channel 3×3 output: (256, 1×1, d), BN, ReLU, (d, 3×3, d), BN, ReLU.
    ``shift`` ≠ 0 gives path i the 3×3 weights of path i + shift (a wrong correspondence: the negative control)."""
    s, j = slice(d * i, d * (i + 1)), (i + shift) % paths
    h = F.relu(_bn(F.conv2d(x, b.conv1.weight[s]), b.bn1, s))
    return F.relu(_bn(F.conv2d(h, b.conv2.weight[d * j : d * (j + 1)], padding=1), b.bn2, s))


def form_a(block: nn.Module, x: torch.Tensor, shift: int = 0) -> torch.Tensor:
    """Fig. 3(a): 32 paths, each closed by its own (d, 1×1, 256); their outputs summed, BN, + x, ReLU."""
    b, paths = block.branch, block.branch.conv2.groups  # type: ignore[union-attr]
    d = b.conv2.out_channels // paths
    total = sum(
        F.conv2d(_branch_path(b, x, i, d, paths, shift), b.conv3.weight[:, d * i : d * (i + 1)])
        for i in range(paths)
    )
    return F.relu(_bn(total, b.bn3) + x)  # type: ignore[arg-type]


def form_b(block: nn.Module, x: torch.Tensor, shift: int = 0) -> torch.Tensor:
    """Fig. 3(b): the 32 paths' d-channel outputs concatenated (early concatenation), then one (128, 1×1, 256)."""
    b, paths = block.branch, block.branch.conv2.groups  # type: ignore[union-attr]
    d = b.conv2.out_channels // paths
    h = torch.cat([_branch_path(b, x, i, d, paths, shift) for i in range(paths)], 1)
    return F.relu(_bn(F.conv2d(h, b.conv3.weight), b.bn3) + x)


def resnext_forms(shift: int = 0) -> dict[str, Any]:
    block = resnext_block()
    x = torch.randn((2, 256, 8, 8), generator=_gen(), dtype=torch.float64)
    with torch.no_grad():
        c, a, b = block(x.clone()), form_a(block, x, shift), form_b(block, x, shift)
    scale = float(c.abs().max())
    br = block.branch  # type: ignore[union-attr]
    paths, d = br.conv2.groups, br.conv2.out_channels // br.conv2.groups
    per_path = 256 * d + 9 * d * d + d * 256
    grouped = sum(m.weight.numel() for m in (br.conv1, br.conv2, br.conv3))
    rows = [
        _row(
            f"(a) split-transform-merge: {paths} paths of (256, 1×1, {d}), ({d}, 3×3, {d}), ({d}, 1×1, 256), summed, "
            "vs (c) the registered block",
            f"max |Δ| = {_sci(_diff(a, c))} (outputs up to {scale:.2f})",
            "equivalent (Fig. 3)",
            _equal(_diff(a, c), scale),
        ),
        _row(
            f"(b) early concatenation: the {paths} paths' {d}-channel outputs concatenated, one (128, 1×1, 256), "
            "vs (c)",
            f"max |Δ| = {_sci(_diff(b, c))}",
            "equivalent (Fig. 3)",
            _equal(_diff(b, c), scale),
        ),
        _row(
            "weights of the three forms (convolutions)",
            f"(a) {paths}·{per_path:,} = {paths * per_path:,}; (b) {paths}·{256 * d + 9 * d * d:,} + 128·256 = "
            f"{paths * (256 * d + 9 * d * d) + 128 * 256:,}; (c) {grouped:,}",
            "the same block, three forms (Fig. 3)",
            paths * per_path == grouped == paths * (256 * d + 9 * d * d) + 128 * 256,
        ),
    ]
    return _result(
        rows,
        f"exact: holds when max |Δ| ≤ {TOL:g} × the largest output (float64) and the weights are the same",
        "Form (c)'s grouped 3×3 convolution is the 32 paths' 3×3 convolutions side by side; (b)'s last 1×1 on "
        "the concatenation equals the sum of (a)'s per-path 1×1s, since [A₁ … A₃₂]·[B₁; …; B₃₂] = Σ AᵢBᵢ (Xie et "
        "al. §3.3). BN and ReLU act channel by channel, so they split with the paths; the block's last BN comes "
        "after the aggregation in every form (BN is affine in eval mode). Random weights and BN statistics from "
        "a fixed seed, a 2×256×8×8 input.",
    )


# ------------------------------------------------------------------ Inception-v3: representational bottlenecks


def grid_reductions(k: int = 320) -> dict[str, nn.Module]:
    """The three ways of §5 from d×d×k to d/2×d/2×2k, as sequences of steps (3×3 kernels throughout)."""
    from convzoo.repro.analytic_nets import ParallelReduction

    with torch.device("meta"):
        return {
            "pool_first": nn.Sequential(nn.MaxPool2d(3, 2), nn.Conv2d(k, 2 * k, 3, padding=1)),
            "conv_first": nn.Sequential(nn.Conv2d(k, 2 * k, 3, padding=1), nn.MaxPool2d(3, 2)),
            "parallel": nn.Sequential(ParallelReduction(k)),
        }


def _hwc(shape: tuple[int, int, int]) -> str:
    c, h, w = shape
    return f"{h}×{w}×{c}"


def _flag(step: Any) -> str:
    return "bottleneck flagged" if step.bottleneck else "no bottleneck"


def _trail(steps: list[Any]) -> str:
    return " → ".join(_hwc(s.shape) for s in steps)


def _reduction_rows(found: dict[str, tuple[list[Any], int]]) -> list[dict[str, Any]]:
    """Rows for Fig. 9 (left, right) and Fig. 10: volumes along each, the flag, the multiply-adds."""
    (pf, m_pf), (cf, m_cf), (par, m_par) = found["pool_first"], found["conv_first"], found["parallel"]
    return [
        _row(
            "Fig. 9 left, pooling first (3×3/2 max-pool, then a 3×3 convolution 320 → 640)",
            f"{_trail(pf)}: a {pf[1].drop:.2f}× drop, then widened: {_flag(pf[1])}; {m_pf / 1e6:,.0f} M MACs",
            "violates principle 1: the representation drops to (d/2)²k (§5, Fig. 9)",
            pf[1].bottleneck,
        ),
        _row(
            "Fig. 9 right, convolution first (3×3 convolution 320 → 640 on 35×35, then the pool)",
            f"{_trail(cf)}: the pool drops {cf[2].drop:.2f}× to the output, which nothing widens: {_flag(cf[2])}; "
            f"{m_cf / 1e6:,.0f} M MACs = {m_cf / m_pf:.2f}× pooling-first",
            "no bottleneck, but 2d²k² operations against 2(d/2)²k²: 4× (§5)",
            not any(s.bottleneck for s in cf) and round(m_cf / m_pf) == 4,
        ),
        _row(
            "Fig. 10, a stride-2 convolution 320 → 320 beside a stride-2 pool, concatenated",
            f"{_trail(par)}: a {par[1].drop:.2f}× drop, {_flag(par[1])}; {m_par / 1e6:,.0f} M MACs = "
            f"{m_par / m_pf:.2f}× pooling-first, {m_par / m_cf:.3f}× conv-first",
            "no bottleneck, and cheaper than both (§5, Fig. 10)",
            not par[1].bottleneck and m_par < m_pf < m_cf,
        ),
    ]


def _inception_v3_row(v3: list[Any]) -> dict[str, Any]:
    """Inception-v3's own grid reductions, mixed6a (the Fig. 10 form) and mixed7a, with the step before each."""
    mixed = [(v3[i - 1], s) for i, s in enumerate(v3) if s.name in ("features.mixed6a", "features.mixed7a")]
    return _row(
        "Inception-v3 (registered): its grid reductions mixed6a and mixed7a",
        "; ".join(
            f"{s.name.split('.')[-1]} {_hwc(p.shape)} → {_hwc(s.shape)}, a {s.drop:.2f}× drop, {_flag(s)}"
            for p, s in mixed
        ),
        "avoid representational bottlenecks (§2, principle 1)",
        len(mixed) == 2 and not any(s.bottleneck for _, s in mixed),
    )


def grid_reduction(factor: float | None = None) -> dict[str, Any]:
    from convzoo.inspect import summary
    from convzoo.inspect.volume import DROP_FACTOR, activation_volumes

    f = DROP_FACTOR if factor is None else factor
    found = {}
    for name, module in grid_reductions().items():
        s = summary(module, (320, 35, 35), depth=1)
        found[name] = (activation_volumes(s, f), s.total_macs)
    v3 = activation_volumes(summary("inception_v3", depth=2), f, prefix="features.")
    flagged = ", ".join(f"{s.name.split('.')[-1]} ({_trail([s])}, {s.drop:.2f}×)" for s in v3 if s.bottleneck)
    ratio = found["conv_first"][1] / found["pool_first"][1]
    return _result(
        [*_reduction_rows(found), _inception_v3_row(v3)],
        f"exact: volumes C·H·W and multiply-adds from the inspector; a step is a bottleneck when its volume drops "
        f"more than {f:g}× and a later step widens it again (convzoo.inspect.volume)",
        f"The flag: a step whose activation volume C·H·W falls more than {f:g}× below the previous step's (halving "
        "the grid without widening: 4×; the usual halve-and-double: 2×) and that a later step widens again. "
        "Pooling first leaves 17×17×320 before the convolution widens it to 640; convolution first reaches the "
        "same 17×17×640 without a narrower point, at the cost of the convolution on the 35×35 grid. The text's "
        f"2d²k² and 2(d/2)²k² give 4× with d/2 = 17.5; the real 17×17 grid gives {ratio:.2f}× (the caption of "
        "Fig. 9 says 3 times). Over the whole registered Inception-v3 the inspector flags "
        + (flagged or "nothing")
        + (
            ": in the stem, max-pools halve the grid before the next convolutions widen it again, the pattern "
            "principle 1 warns against."
            if flagged
            else "."
        ),
    )


# ----------------------------------------------------------------------------------- VGG's Table 2


VGG_TABLE2 = (
    ("vgg11", "A"),
    ("vgg11_lrn", "A-LRN"),
    ("vgg13", "B"),
    ("vgg16_c", "C"),
    ("vgg16", "D"),
    ("vgg19", "E"),
)


def vgg_params() -> dict[str, Any]:
    from convzoo.inspect import summary
    from convzoo.registry import model_info

    rows = []
    for name, column in VGG_TABLE2:
        n = summary(name).total_params
        table = model_info(name).reported.params
        millions = int(str(table).rstrip("M"))
        rows.append(
            _row(
                f"configuration {column} (`{name}`)",
                f"{n:,} = {n / 1e6:.1f} M",
                f"{millions} M (Table 2)",
                round(n / 1e6) == millions,
            )
        )
    return _result(
        rows,
        "exact: holds when each count rounds to the table's millions",
        "Counts of the registered models at 224×224 (conv and FC weights and biases, 1000 classes), built on the "
        "meta device. Table 2 rounds them to millions; A-LRN equals A because LRN has no weights. Most of every "
        "net is fc6 (7·7·512·4096 + 4096 = 102.8 M); depth adds 3×3 convolutions of a few M each.",
    )


# ---------------------------------------------------------------------------- the optimizer lab's statements


def _oscillation(points: np.ndarray) -> dict[str, float]:
    x, y = points[:, 0], points[:, 1]
    return {
        "along": abs(float(x[-1])),
        "flips": int((np.sign(y[1:]) != np.sign(y[:-1])).sum()),
        "rms": float(np.sqrt((y[1:] ** 2).mean())),
    }


def _rate(lr: float, curvature: float, beta: float) -> tuple[float, float]:
    """Per-step contraction of one quadratic mode (modulus of the iteration's largest root) and its swing
    period in steps (inf when the roots are real and positive): heavy ball z² − (1 + β − αλ)z + β = 0."""
    roots = np.roots([1.0, -(1 + beta - lr * curvature), beta])
    top = roots[np.argmax(np.abs(roots))]
    angle = abs(np.angle(top))
    return float(abs(top)), (2 * math.pi / angle if angle > 1e-12 else math.inf)


def momentum_ravine(steps: int = 50) -> dict[str, Any]:
    from convzoo.lab.surfaces import SURFACES
    from convzoo.lab.trajectories import run_optimizer

    lr = SURFACES["ravine"].lr["sgd"]
    sgd = _oscillation(run_optimizer("ravine", "sgd", lr=lr, steps=steps).points)
    mom = _oscillation(run_optimizer("ravine", "momentum", lr=lr, steps=steps).points)
    across_sgd, across_mom = _rate(lr, 2.0, 0.0), _rate(lr, 2.0, 0.9)
    along_sgd, along_mom = _rate(lr, 0.02, 0.0), _rate(lr, 0.02, 0.9)
    rows = [
        _row(
            f"progress along the shallow x: distance left to the minimum after {steps} steps (from 9)",
            f"SGD {sgd['along']:.2f}, momentum {mom['along']:.2f}",
            "momentum speeds progress along the shallow direction",
            mom["along"] < sgd["along"],
        ),
        _row(
            f"zig-zag across: steps (of {steps}) that flip the sign of the steep y",
            f"SGD {sgd['flips']}, momentum {mom['flips']}",
            "momentum damps the jitter across the ravine",
            mom["flips"] < sgd["flips"],
        ),
        _row(
            f"amplitude across: RMS of y over the {steps} steps",
            f"SGD {sgd['rms']:.3f}, momentum {mom['rms']:.3f}",
            "momentum damps the oscillation across the ravine",
            mom["rms"] < sgd["rms"],
        ),
    ]
    root = math.sqrt(0.9)
    lo, hi = (1 - root) ** 2, (1 + root) ** 2
    return _result(
        rows,
        "measured: each statement holds when momentum's figure is below plain SGD's (same rate, start, steps)",
        f"The lab's ravine 0.01x² + y² (curvatures 0.02 along, 2 across) from (−9, 2), torch's SGD and SGD with "
        f"momentum 0.9 (v = 0.9v + dW), both at the lab's SGD rate α = {lr:g}, the rate at which SGD zig-zags. "
        f"Each quadratic mode contracts by a fixed factor per step: along x, SGD {along_sgd[0]:.3f} and momentum "
        f"{along_mom[0]:.3f}, so momentum gets along faster; across y, SGD {across_sgd[0]:.3f} (flipping sign "
        f"every step) and momentum {across_mom[0]:.3f} = √β, a swing of period {across_mom[1]:.1f} steps. "
        f"Momentum turns the every-step zig-zag into a slower swing that is wider and dies out more slowly: for "
        f"every αλ in ({lo:.4f}, {hi:.2f}) the heavy ball's roots are complex with modulus √β = {root:.3f}, while "
        f"SGD's |1 − αλ| is smaller than that for αλ between {1 - root:.3f} and {1 + root:.3f}, which covers every "
        "rate at which SGD oscillates (αλ > 1) short of the edge of divergence. The lecture's 'damping' holds for "
        "the direction reversals, not for the amplitude.",
    )


def _first_steps(points: np.ndarray, n: int) -> np.ndarray:
    return np.abs(np.diff(points[: n + 1], axis=0))


def adaptive_steps(steps: int = 10) -> dict[str, Any]:
    from convzoo.lab.trajectories import run_optimizer

    names = ("sgd", "adagrad", "rmsprop")
    moves = {n: _first_steps(run_optimizer("ravine", n, steps=steps).points, steps) for n in names}
    first = {n: m[0, 0] / m[0, 1] for n, m in moves.items()}
    path = {n: m[:, 0].sum() / m[:, 1].sum() for n, m in moves.items()}
    labels = {"sgd": "SGD", "adagrad": "AdaGrad", "rmsprop": "RMSProp"}

    def cells(d: dict[str, float]) -> str:
        return ", ".join(f"{labels[n]} {d[n]:.3f}" for n in names)

    return _result(
        [
            _row(
                "first step from (−9, 2), where the shallow gradient is 1/22 of the steep one: |Δx| ÷ |Δy|",
                cells(first),
                "larger steps along shallow directions, relative to steep ones, than SGD",
                first["adagrad"] > first["sgd"] and first["rmsprop"] > first["sgd"],
            ),
            _row(
                f"first {steps} steps: path length along x ÷ path length across y",
                cells(path),
                "the same, over the run",
                path["adagrad"] > path["sgd"] and path["rmsprop"] > path["sgd"],
            ),
        ],
        "measured: holds when each adaptive method's along ÷ across ratio exceeds SGD's",
        "The lab's ravine at its default rates (SGD 0.9, AdaGrad 2, RMSProp 0.1; the ratios do not depend on "
        "the rate at the first step). SGD moves each coordinate by α times its gradient, so its steps keep the "
        "gradient's 0.18 : 4 proportion; AdaGrad and RMSProp divide each coordinate by the root of its own "
        "accumulated squared gradients, so the first step is α·sign(g) (AdaGrad) or α·g/√(0.1 g²) (RMSProp, "
        "ρ = 0.9) in both coordinates alike: progress along the flat direction is accelerated, across the steep "
        "one damped.",
    )


def _adam_first(corrected: bool, start: torch.Tensor, lr: float, beta2: float) -> np.ndarray:
    from convzoo.lab import rules
    from convzoo.lab.surfaces import SURFACES

    rule = rules.Adam(lr=lr, beta2=beta2, bias_correction=corrected)
    return (rule.step(start, SURFACES["ravine"].grad) - start).abs().numpy()


def _settle(
    beta1: float, beta2: float, within: float = 0.1, horizon: int = 100_000
) -> tuple[int, float, int]:
    """For a constant gradient, the uncorrected step ÷ the corrected one is (1 − β₁ᵗ)/√(1 − β₂ᵗ): its peak,
    where it peaks, and the first step after which it stays within ``within`` of 1."""
    t = np.arange(1, horizon + 1, dtype=np.float64)
    r = (1 - beta1**t) / np.sqrt(1 - beta2**t)
    outside = np.nonzero(np.abs(r - 1) > within)[0]
    return (int(outside[-1] + 2) if outside.size else 1), float(r.max()), int(r.argmax() + 1)


def adam_bias_correction(beta2: float = 0.999) -> dict[str, Any]:
    from convzoo.lab.surfaces import SURFACES

    b1, b2, lr = 0.9, beta2, SURFACES["ravine"].lr["adam"]
    start = torch.tensor(SURFACES["ravine"].start, dtype=torch.float64)
    with_c, without = _adam_first(True, start, lr, b2), _adam_first(False, start, lr, b2)
    ratio = float(without.max() / with_c.max())
    theory = (1 - b1) / math.sqrt(1 - b2)
    settle, peak, at = _settle(b1, b2)
    rows = [
        _row(
            f"first step with bias correction (lab rule, ravine, α = {lr:g}): |Δx|, |Δy|",
            f"{with_c[0]:.4f}, {with_c[1]:.4f}",
            "α in every coordinate: m̂₁/√v̂₁ = g/|g| (§2.1, §3)",
            np.allclose(with_c, lr, rtol=1e-6),
        ),
        _row(
            "first step without it: |Δx|, |Δy| and ÷ the corrected step",
            f"{without[0]:.4f}, {without[1]:.4f}: {ratio:.3f}× = (1−β₁)/√(1−β₂)",
            "much larger initial steps (§3)",
            ratio > 1 and abs(ratio / theory - 1) < 1e-6,
        ),
        _row(
            "constant gradient: uncorrected ÷ corrected step over time",
            f"{peak:.2f}× at its peak (step {at}); within 10% of 1 from step {settle:,} on",
            "the bias is an initial-steps effect: 1 − β₂ᵗ → 1 (§3)",
            settle < 100_000,
        ),
    ]
    return _result(
        rows,
        "measured: holds when the corrected first step is α, the uncorrected one larger by (1−β₁)/√(1−β₂), and "
        "the difference dies out",
        f"β₁ = {b1}, β₂ = {b2}. At t = 1, m = (1−β₁)g and v = (1−β₂)g², so the uncorrected step is "
        f"α(1−β₁)/√(1−β₂) = {theory:.3f}α per coordinate: v's bias (÷ √(1−β₂) = ÷ {math.sqrt(1 - b2):.4f}) "
        f"{'outweighs' if theory > 1 else 'is outweighed by'} m's (× {1 - b1:.1f}). Correcting m alone would give "
        f"α/√(1−β₂) = {1 / math.sqrt(1 - b2):.1f}α; correcting v alone (1−β₁)α = {1 - b1:.1f}α. The effect "
        f"lasts for the first ~{settle:,} steps (v's memory is 1/(1−β₂) = {1 / (1 - b2):,.0f} steps).",
    )


# ------------------------------------------------------------------------------------------ the claims


LECTURE = "Li, Johnson, Yeung (2017). CS231n Lecture 7, Training Neural Networks II (Stanford)"
_COMPUTED = (
    "Computed by forward passes in float64 on random weights from a fixed seed (seed 0), not on the meta "
    "device; takes a few seconds on 2 CPU cores."
)
_LAB = "Measured on the optimizer lab's trajectories (convzoo.lab, float64), not on the meta device."


def _claim(
    cid: str, paper: str, where: str, says: str, compute: Callable[[], dict[str, Any]], note: str
) -> Claim:
    return Claim(
        id=cid,
        paper=paper,
        where=where,
        says=says,
        kind="analytic",
        compute=compute,
        figure="none",
        note=note,
    )


ANALYTIC_MORE: tuple[Claim, ...] = (
    _claim(
        "fc_as_conv",
        "Sermanet, Eigen, Zhang, Mathieu, Fergus, LeCun (2013). OverFeat. arXiv:1312.6229",
        "§3.5, Fig. 5; Simonyan & Zisserman (arXiv:1409.1556) §3.2",
        "The fully connected layers act as convolutions: run on a larger image, the net equals the net slid over it.",
        fc_as_conv,
        _COMPUTED,
    ),
    _claim(
        "resnext_forms",
        "Xie, Girshick, Dollár, Tu, He (2017). Aggregated Residual Transformations. arXiv:1611.05431",
        "Fig. 3 (a, b, c), §3.3",
        "Split-transform-merge with 32 paths, early concatenation and grouped convolution are the same block.",
        resnext_forms,
        _COMPUTED,
    ),
    _claim(
        "grid_reduction",
        "Szegedy, Vanhoucke, Ioffe, Shlens, Wojna (2015). Rethinking the Inception Architecture. arXiv:1512.00567",
        "§2 (principle 1), §5, Figs. 9-10",
        "Pooling before widening makes a representational bottleneck; Inception-v3's parallel stride-2 "
        "reduction avoids it and costs less.",
        grid_reduction,
        "",
    ),
    _claim(
        "vgg_params",
        "Simonyan, Zisserman (2014). Very Deep Convolutional Networks. arXiv:1409.1556",
        "Table 2",
        "VGG A, A-LRN, B, C, D, E have 133, 133, 133, 134, 138, 144 million parameters.",
        vgg_params,
        "",
    ),
    _claim(
        "momentum_ravine",
        LECTURE,
        "SGD + Momentum (the lab's ravine)",
        "Momentum damps the oscillation across a ravine and speeds progress along its shallow direction.",
        momentum_ravine,
        _LAB,
    ),
    _claim(
        "adaptive_steps",
        LECTURE
        + "; AdaGrad: Duchi, Hazan, Singer 2011 (JMLR); RMSProp: Tieleman, Hinton 2012 (Coursera 6.5)",
        "AdaGrad, RMSProp (the lab's ravine)",
        "AdaGrad and RMSProp take larger steps along shallow directions, relative to steep ones, than SGD.",
        adaptive_steps,
        _LAB,
    ),
    _claim(
        "adam_bias_correction",
        "Kingma, Ba (2014). Adam: A Method for Stochastic Optimization. arXiv:1412.6980",
        "§2.1, §3",
        "Adam's bias correction matters in the first steps: without it the initial steps are much larger.",
        adam_bias_correction,
        _LAB,
    ),
)
