"""The residual family: exact sizes, the residual-unit variants, shortcuts, stochastic depth, plugins, ResNeXt."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import convzoo
from convzoo.layers import DropPath, SqueezeExcite
from convzoo.models.resnet import UNITS, ResidualBlock, ResNet, Stage, ZeroPadShortcut, _Conv
from convzoo.models.resnet_variants import wide_resnet_cifar
from convzoo.registry import parse_figure

# Exact parameter counts. ImageNet ones equal torchvision's/timm's (checked again in test_resnet_parity.py);
# CIFAR ones round to the papers' reported sizes (checked by paper-check below).
PARAMS = {
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "resnet101": 44_549_160,
    "resnet152": 60_192_808,
    "plain18": 11_515_688,
    "plain34": 21_623_848,
    "resnet20_cifar": 269_722,
    "resnet32_cifar": 464_154,
    "resnet44_cifar": 658_586,
    "resnet56_cifar": 853_018,
    "resnet110_cifar": 1_727_962,
    "resnet1202_cifar": 19_421_274,
    "resnet110_sd_cifar": 1_727_962,
    "resnet1202_sd_cifar": 19_421_274,
    "plain20_cifar": 269_722,
    "plain32_cifar": 464_154,
    "plain44_cifar": 658_586,
    "plain56_cifar": 853_018,
    "plain110_cifar": 1_727_962,
    "preact_resnet110_cifar": 1_730_522,
    "resnet164_cifar": 1_704_154,
    "preact_resnet164_cifar": 1_703_258,
    "preact_resnet1001_cifar": 10_327_706,
    "preact_resnet152": 60_185_128,
    "preact_resnet200": 64_666_152,
    "wrn16_8_cifar": 10_961_370,
    "wrn28_10_cifar": 36_479_194,
    "wrn40_4_cifar": 8_949_210,
    "wide_resnet50_2": 68_883_240,
    "resnext29_8x64d_cifar": 34_426_698,
    "resnext29_16x64d_cifar": 68_155_210,
    "resnext50_32x4d": 25_028_904,
    "resnext101_32x8d": 88_791_336,
    "se_resnet50": 28_088_024,
    "se_resnet101": 49_326_872,
    "se_resnet152": 66_821_848,
    "se_resnext50_32x4d": 27_559_896,
    "senet154": 115_088_984,
}
FAMILY = sorted(PARAMS)
RESIDUAL = [n for n in FAMILY if not n.startswith("plain")]


def meta(name: str, **kw) -> nn.Module:
    with torch.device("meta"):
        return convzoo.create_model(name, **kw)


def nparams(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_every_family_model_is_pinned():
    ours = {n for n in convzoo.list_models() if convzoo.model_info(n).family in ("resnet", "resnet_variants")}
    assert ours == set(PARAMS)


@pytest.mark.parametrize("name", FAMILY)
def test_exact_parameter_count(name):
    assert nparams(meta(name)) == PARAMS[name]


CIFAR_REPORTED = [n for n in FAMILY if n.endswith("_cifar") and convzoo.model_info(n).reported.params]


@pytest.mark.parametrize("name", CIFAR_REPORTED)
def test_cifar_sizes_match_the_papers(name):
    """ResNet-20 0.27M ... -1202 19.4M (He et al. 2015, Table 6), WRN-28-10 36.5M, ResNeXt-29 8×64d 34.4M..."""
    value, tol = parse_figure(convzoo.model_info(name).reported.params)
    if name == "preact_resnet1001_cifar":  # the paper's 10.2M leaves out BN (noted in the registry)
        with torch.device("meta"):
            model = convzoo.create_model(name)
        count = sum(p.numel() for n, p in model.named_parameters() if ".bn" not in n and "norm" not in n)
    elif name == "resnext29_16x64d_cifar":  # 68.155M with BN, 68.055M without: Table 7 rounds that to 68.1M (noted)
        count, tol = PARAMS[name], 2 * tol
    else:
        count = PARAMS[name]
    assert abs(count - value) <= tol


def test_option_b_and_c_add_projections_only():
    a, b, c = (nparams(meta("resnet20_cifar", shortcut=s)) for s in "ABC")
    # B: two strided projections (16→32, 32→64) with BN; C: a projection in every one of the 9 blocks
    assert b - a == (16 * 32 + 2 * 32) + (32 * 64 + 2 * 64)
    per_stage = [16 * 16 + 32, 32 * 32 + 64, 64 * 64 + 128]
    assert c - a == (b - a) + 2 * sum(per_stage) + (16 * 16 + 32)


def test_option_a_zero_pads_and_subsamples():
    x = torch.randn(2, 3, 8, 8)
    y = ZeroPadShortcut(2, 5)(x)
    assert y.shape == (2, 8, 4, 4)
    assert torch.equal(y[:, :3], x[:, :, ::2, ::2]) and not y[:, 3:].any()


def test_paper_form_strides_in_first_1x1_and_v1_5_in_3x3():
    block = meta("resnet50").stages[1][0].branch
    assert (block.conv1.stride, block.conv2.stride) == ((2, 2), (1, 1))
    block = meta("resnet50", v1_5=True).stages[1][0].branch
    assert (block.conv1.stride, block.conv2.stride) == ((1, 1), (2, 2))
    assert nparams(meta("resnet50", v1_5=True)) == PARAMS["resnet50"]
    assert convzoo.summary("resnet50", v1_5=True).total_macs == 4_089_184_256  # torchvision's 4.09 GFLOPS
    assert convzoo.summary("resnet50").total_macs == 3_857_973_248  # the paper's 3.8 × 10^9


def _types(seq: nn.Module | None) -> list[str]:
    names = {nn.Conv2d: "conv", nn.BatchNorm2d: "bn", nn.ReLU: "relu", nn.Dropout: "drop"}
    return [] if seq is None else [names[type(m)] for m in seq]


@pytest.mark.parametrize(
    "unit, pre, branch, post",
    [  # He et al. 2016, Fig. 4 (a)-(e)
        ("original", [], ["conv", "bn", "relu", "conv", "bn"], ["relu"]),
        ("bn_after_add", [], ["conv", "bn", "relu", "conv"], ["bn", "relu"]),
        ("relu_before_add", [], ["conv", "bn", "relu", "conv", "bn", "relu"], []),
        ("relu_preact", ["relu"], ["conv", "bn", "relu", "conv", "bn"], []),
        ("full_preact", ["bn", "relu"], ["conv", "bn", "relu", "conv"], []),
    ],
)
def test_residual_unit_variants_follow_fig_4(unit, pre, branch, post):
    block = ResidualBlock([_Conv(8, 8, 3), _Conv(8, 8, 3)], unit=unit)
    assert (_types(block.preact), _types(block.branch), _types(block.post)) == (pre, branch, post)
    x = torch.randn(2, 8, 6, 6)
    block.eval()
    with torch.no_grad():
        summed = x + block.branch(block.preact(x) if pre else x)
        assert torch.allclose(block(x), block.post(summed) if post else summed)


def test_preact_projection_sees_the_preactivated_input():
    block = ResidualBlock([_Conv(8, 16, 3, 2), _Conv(16, 16, 3)], unit="full_preact").eval()
    x = torch.randn(2, 8, 6, 6)
    xp = block.preact(x)
    assert _types(block.shortcut) == ["conv"]
    assert torch.allclose(block(x), block.branch(xp) + block.shortcut(xp), atol=1e-6)


def test_wide_resnet_dropout_sits_before_the_last_conv():
    block = meta("wrn28_10_cifar", dropout=0.3).stages[0][0]
    assert _types(block.preact) + _types(block.branch) == ["bn", "relu", "conv", "bn", "relu", "drop", "conv"]
    assert len(meta("wrn28_10_cifar").stages[0]) == 4  # (28 - 4) / 6 blocks per stage
    with pytest.raises(ValueError, match="6n\\+4"):
        wide_resnet_cifar(27, 10)


def test_drop_path_rates_decay_linearly_over_all_blocks():
    model = meta("resnet110_cifar", drop_path_rate=0.5)
    blocks = [b for stage in model.stages for b in stage]
    assert len(blocks) == 54
    for l, b in enumerate(blocks, start=1):
        assert isinstance(b.drop_path, DropPath)
        assert b.drop_path.drop_prob == pytest.approx(0.5 * l / 54)
        assert b.drop_path.mode == "batch"
    info = model.inspect_info()
    assert info["depth"] == 54
    assert info["expected_depth"] == pytest.approx(54 - 0.5 * 55 / 2, abs=0.01)  # ≈ 40, Huang et al. §3
    assert "expected_depth" not in meta("resnet110_cifar").inspect_info()
    assert meta("resnet110_sd_cifar").inspect_info()["expected_depth"] == pytest.approx(40.25)
    assert (
        meta("resnet20_cifar", drop_path_rate=0.2, drop_path_mode="row").stages[2][2].drop_path.mode == "row"
    )


def test_drop_path_is_scaled_identity_at_test_time_and_drops_whole_batches_in_training():
    torch.manual_seed(0)
    block = ResidualBlock([_Conv(4, 4, 3), _Conv(4, 4, 3)], unit="full_preact", drop_path=0.5)
    x = torch.randn(3, 4, 5, 5)
    block.eval()
    branch = block.branch(block.preact(x))
    assert torch.allclose(block(x), x + 0.5 * branch)
    assert torch.equal(block(x), block(x))
    block.train()
    outs = {bool(torch.allclose(block(x), x)) for _ in range(40)}
    assert outs == {True, False}  # both kept and dropped occur; a dropped branch leaves the identity


def test_plain_nets_have_no_shortcut_and_refuse_stochastic_depth():
    model = meta("plain20_cifar")
    assert all(b.shortcut is None and not b.residual for s in model.stages for b in s)
    with pytest.raises(ValueError, match="plain net"):
        meta("plain20_cifar", drop_path_rate=0.5)


# Tiny members of each family, built by the same builder (the registered ones are checked on meta below).
TINY = {
    "cifar_basic_A": dict(stages=[Stage(1, 8), Stage(1, 16, 2)], stem="cifar", stem_width=8, shortcut="A"),
    "imagenet_bottleneck": dict(
        stages=[Stage(1, 16, 1, 4), Stage(1, 32, 2, 8)], block="bottleneck", stem_width=8
    ),
    "wide": dict(
        stages=[Stage(1, 16), Stage(1, 32, 2)], stem="cifar", stem_width=8, unit="full_preact", dropout=0.3
    ),
    "resnext": dict(
        stages=[Stage(1, 16, 1, 8), Stage(1, 32, 2, 16)],
        block="bottleneck",
        groups=4,
        stride_in_3x3=True,
        stem="cifar",
        stem_width=8,
    ),
    "senet154_like": dict(
        stages=[Stage(1, 32, 1, 32), Stage(1, 32, 2, 32)],
        block="bottleneck",
        stem="deep",
        stem_width=16,
        groups=4,
        half_first_1x1=True,
        down_kernel=3,
        stride_in_3x3=True,
        attn_layer="se",
        head_dropout=0.2,
    ),
    "plain": dict(stages=[Stage(1, 8), Stage(1, 16, 2)], stem="cifar", stem_width=8, residual=False),
}
PLUGINS = {
    "se": dict(attn_layer="se"),
    "drop_path": dict(drop_path_rate=0.5),
    "row_drop": dict(drop_path_rate=0.3, drop_path_mode="row"),
} | {u: dict(unit=u) for u in UNITS}


@pytest.mark.parametrize("plugin", sorted(PLUGINS))
@pytest.mark.parametrize("family", sorted(TINY))
def test_plugin_matrix_forward_backward_and_eval_determinism(family, plugin):
    kw = {**TINY[family], **PLUGINS[plugin]}
    if family == "plain" and "drop_path_rate" in kw:
        with pytest.raises(ValueError):
            ResNet(num_classes=5, **kw)
        return
    torch.manual_seed(0)
    model = ResNet(num_classes=5, **kw)
    if "attn_layer" in kw:
        assert any(isinstance(m, SqueezeExcite) for m in model.modules())
    x = torch.randn(2, 3, 16, 16)
    out = model(x)
    assert out.shape == (2, 5)
    out.square().sum().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    if kw.get("drop_path_rate") and kw.get("drop_path_mode", "batch") == "batch":
        # a mini-batch that drops a block skips computing its branch, so only branch parts lack gradients
        assert all(any(part in n for part in (".branch.", ".attn.", ".preact.")) for n in missing), missing
    else:
        assert not missing
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x), model(x))


@pytest.mark.parametrize("name", RESIDUAL)
def test_every_registered_net_takes_se_drop_path_and_units(name):
    model = meta(name, attn_layer="se", drop_path_rate=0.2, drop_path_mode="row", unit="full_preact")
    assert any(isinstance(m, SqueezeExcite) for m in model.modules())
    assert model.inspect_info()["expected_depth"] < model.inspect_info()["depth"]
    assert model.unit == "full_preact"
    info = convzoo.model_info(name)
    if info.family == "resnet" and model.inspect_info()["depth"] > 100:
        return  # ResNet-1202 and pre-act ResNet-1001: built above; their blocks run in the tiny matrix
    x = torch.empty(1, *info.input_size, device="meta")
    assert model.eval()(x).shape == (1, info.num_classes)


def test_grouped_block_equals_split_transform_merge():
    """Xie et al. 2017, Fig. 3: 32 paths (1×1 → 3×3 → 1×1, summed) equal one grouped bottleneck (c)."""
    torch.manual_seed(0)
    c, d, width = 32, 4, 64
    block = ResidualBlock([_Conv(width, c * d, 1), _Conv(c * d, c * d, 3, 1, c), _Conv(c * d, width, 1)])
    for m in block.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.normal_()
            m.running_var.uniform_(0.5, 2)
            m.weight.data.normal_()
            m.bias.data.normal_()
    block.eval()
    x = torch.randn(2, width, 5, 5)
    br = block.branch

    def bn(t: torch.Tensor, m: nn.BatchNorm2d, sl: slice) -> torch.Tensor:
        return F.batch_norm(
            t, m.running_mean[sl], m.running_var[sl], m.weight[sl], m.bias[sl], False, 0, m.eps
        )

    total = torch.zeros(2, width, 5, 5)
    with torch.no_grad():
        for i in range(
            c
        ):  # path i: its own 4 channels of each layer; the 1×1 outputs are summed (aggregation)
            sl = slice(i * d, (i + 1) * d)
            t = F.relu(bn(F.conv2d(x, br.conv1.weight[sl]), br.bn1, sl))
            t = F.relu(bn(F.conv2d(t, br.conv2.weight[sl], padding=1), br.bn2, sl))
            total += F.conv2d(t, br.conv3.weight[:, sl])
        expected = F.relu(
            x
            + F.batch_norm(
                total,
                br.bn3.running_mean,
                br.bn3.running_var,
                br.bn3.weight,
                br.bn3.bias,
                False,
                0,
                br.bn3.eps,
            )
        )
        assert torch.allclose(block(x), expected, atol=1e-4)


def test_checkpointing_gives_the_same_gradients():
    torch.manual_seed(0)
    plain = convzoo.create_model("resnet32_cifar", unit="full_preact")
    ckpt = convzoo.create_model("resnet32_cifar", unit="full_preact", checkpointing=True)
    ckpt.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 16, 16)
    for m in (plain, ckpt):
        m(x).logsumexp(1).sum().backward()
    for (n, p), q in zip(plain.named_parameters(), ckpt.parameters(), strict=True):
        assert torch.allclose(p.grad, q.grad, atol=1e-5), n


def test_model_api():
    model = convzoo.create_model("resnet20_cifar", num_classes=7, in_chans=1)
    assert (model.num_classes, model.in_chans) == (7, 1)
    x = torch.randn(2, 1, 32, 32)
    assert model.forward_features(x).shape == (2, 64, 8, 8)
    model.reset_classifier(3)
    assert model(x).shape == (2, 3) and model.get_classifier() is model.fc
    assert convzoo.model_info("resnet56_cifar").input_size == (3, 32, 32)
    assert "stochastic" in convzoo.model_info("resnet110_sd_cifar").paper.title.lower()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(unit="preact"), "unknown residual unit"),
        (dict(shortcut="D"), "choose 'A', 'B' or 'C'"),
        (dict(drop_path_rate=1.0), "drop_path_rate"),
        (dict(drop_path_mode="col", drop_path_rate=0.1), "mode must be"),
        (dict(dropout=1.5), "dropout rates"),
        (dict(stem="tiny"), "unknown stem"),
        (dict(norm_layer=None), "norm_layer"),
    ],
)
def test_bad_options_are_explained(kwargs, match):
    with pytest.raises(ValueError, match=match):
        meta("resnet20_cifar", **kwargs)


def test_bad_structures_are_explained():
    with pytest.raises(ValueError, match="not divisible by groups"):
        ResNet([Stage(1, 64, 1, 30)], "bottleneck", groups=4)
    with pytest.raises(ValueError, match="use block='bottleneck'"):
        ResNet([Stage(1, 64)], "basic", groups=4)
    with pytest.raises(ValueError, match="option-A shortcuts can only widen"):
        ResNet([Stage(1, 32)], "basic", stem="cifar", stem_width=64, shortcut="A")
    with pytest.raises(ValueError, match="non-empty list"):
        ResNet([], "basic")
    with pytest.raises(TypeError, match="does not take"):
        convzoo.create_model("resnet18", widths=3)


def test_receptive_field_runs_through_option_a_shortcuts():
    # stem 3; stage 1: six 3×3 convs (+2 each) → 15; stage 2: +2, then five at jump 2 → 37;
    # stage 3: +4, then five at jump 4 → 81; global 8×8 pool at jump 4 → 81 + 7·4 = 109
    for shortcut in "AB":
        assert convzoo.summary("resnet20_cifar", shortcut=shortcut).layers[-1].receptive_field == 109


def test_batch_mode_drop_path_skips_computing_the_dropped_branch():
    """The stochastic-depth speed-up: a dropped branch is not run at all in training."""
    torch.manual_seed(0)
    model = ResNet(num_classes=5, drop_path_rate=0.9, **TINY["cifar_basic_A"]).train()
    calls = {"n": 0}
    blocks = [b for stage in model.stages for b in stage]
    for b in blocks:
        b.branch.register_forward_hook(lambda *a: calls.__setitem__("n", calls["n"] + 1))
    for _ in range(20):
        model(torch.randn(2, 3, 16, 16))
    assert 0 < calls["n"] < 20 * len(blocks)  # some branches ran, some were skipped
    calls["n"] = 0
    model.eval()
    model(torch.randn(2, 3, 16, 16))
    assert calls["n"] == len(blocks)  # eval mode runs every branch, scaled by its survival probability


@pytest.mark.parametrize("unit", ["original", "full_preact", "bn_after_add"])
def test_zero_init_residual_makes_every_branch_output_zero(unit):
    """Goyal et al. 2017: each residual block starts as the identity (the trainer's --zero-init-residual)."""
    model = ResNet(num_classes=5, unit=unit, **TINY["imagenet_bottleneck"]).eval()
    model.zero_init_residual_bns()
    outputs = []
    for stage in model.stages:
        for block in stage:
            block.branch.register_forward_hook(lambda m, i, o: outputs.append(o.clone()))  # added to in place later
    with torch.no_grad():
        model(torch.randn(2, 3, 32, 32))
    assert len(outputs) == sum(len(s) for s in model.stages)
    assert all(torch.count_nonzero(o) == 0 for o in outputs)
