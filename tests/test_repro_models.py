"""The model variants the reproductions train (issue 12): He et al. 2016's residual units (Fig. 4) and shortcuts
(Fig. 2, Table 1), ResNet-164 in its original form, NIN / All-CNN-C with an FC head (Lin et al. 2013, §4.6) and
the four-layer ReLU/tanh CNN of Krizhevsky et al. 2012 (Fig. 1)."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

import convzoo
from convzoo.cli import main
from convzoo.inspect.output_size import ShapeError
from convzoo.models.resnet import SHORTCUTS, UNITS, ResidualBlock, ShortcutMix, _Conv

RESNET20 = 269_722  # tests/test_resnet.py pins the defaults; every count below is a difference from them


def meta(name: str, **kw) -> nn.Module:
    with torch.device("meta"):
        return convzoo.create_model(name, **kw)


def nparams(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# --- every unit × every shortcut works --------------------------------------------------------------------------
@pytest.mark.parametrize("shortcut", SHORTCUTS)
@pytest.mark.parametrize("unit", UNITS)
def test_unit_by_shortcut_forward_backward_and_eval_determinism(unit, shortcut):
    torch.manual_seed(0)
    model = convzoo.create_model("resnet20_cifar", unit=unit, shortcut=shortcut).train()
    x = torch.randn(2, 3, 8, 8)
    out = model(x)
    assert out.shape == (2, 10)
    out.square().sum().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, missing
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())
    model.eval()
    with torch.no_grad():
        first, second = model(x), model(x)
    assert torch.isfinite(first).all() and torch.equal(first, second)
    assert model.inspect_info()["shortcut"] == shortcut and model.inspect_info()["unit"] == unit


@pytest.mark.parametrize("unit", UNITS)
def test_resnet164_takes_every_unit(unit):
    # bottleneck units of every Fig. 4 form run in test_resnet.py's plugin matrix and resnet164_cifar itself in
    # test_models_all.py; here: the registered net hands the unit to all 54 of its units
    blocks = [b for stage in meta("resnet164_cifar", unit=unit).stages for b in stage]
    assert len(blocks) == 54 and {b.unit for b in blocks} == {unit}


@pytest.mark.parametrize("shortcut", [s for s in SHORTCUTS if s != "identity"])
def test_stochastic_depth_skips_the_branch_of_every_shortcut(shortcut):
    """A dropped branch is F = 0: the unit gives mix(0, h) (e.g. (1 − g)·h for the gates) and still trains."""
    torch.manual_seed(0)
    block = ResidualBlock([_Conv(4, 4, 3), _Conv(4, 4, 3)], shortcut=shortcut, drop_path=0.5).train()
    block.drop_path.skips_batch = lambda: True  # type: ignore[method-assign]
    x = torch.randn(2, 4, 5, 5, requires_grad=True)
    out = block(x)
    with torch.no_grad():
        if shortcut == "conv1x1":
            assert torch.allclose(out, block.post(block.shortcut(x)))
        elif shortcut == "dropout":  # a random mask: kept values are 2·x (inverted dropout), the rest 0
            assert ((out == 0) | torch.isclose(out, torch.relu(2 * x))).all()
        else:
            assert torch.allclose(out, block.post(block.mix(None, x, x)))
    out.sum().backward()
    assert x.grad is not None and not any(p.grad is not None for p in block.branch.parameters())


# --- exact sizes ------------------------------------------------------------------------------------------------
# resnet20_cifar: 3 stages × 3 basic units, 16/32/64 maps; the width changes in the first unit of stages 2 and 3.
GATES_20 = (
    3 * (16 * 16 + 16) + (16 * 32 + 32) + 2 * (32 * 32 + 32) + (32 * 64 + 64) + 2 * (64 * 64 + 64)
)  # 13,904
CONV1X1_20 = (
    3 * (16 * 16 + 2 * 16)
    + (16 * 32 + 2 * 32)
    + 2 * (32 * 32 + 2 * 32)
    + (32 * 64 + 2 * 64)
    + 2 * (64 * 64 + 2 * 64)
)  # a 1×1 conv (no bias) + BN (2 parameters a channel) in every unit: 14,240
# resnet110_cifar: 18 units a stage.
GATES_110 = 18 * (16 * 16 + 16) + (16 * 32 + 32) + 17 * (32 * 32 + 32) + (32 * 64 + 64) + 17 * (64 * 64 + 64)
CONV1X1_110 = (
    18 * (16 * 16 + 32) + (16 * 32 + 64) + 17 * (32 * 32 + 64) + (32 * 64 + 128) + 17 * (64 * 64 + 128)
)


@pytest.mark.parametrize(
    "name, shortcut, extra",
    [
        ("resnet20_cifar", "identity", 0),
        ("resnet20_cifar", "constant_scaling", 0),  # fixed 0.5s: no parameters
        ("resnet20_cifar", "dropout", 0),
        ("resnet20_cifar", "exclusive_gating", GATES_20),  # a 1×1 conv with bias (W_g, b_g) a unit
        ("resnet20_cifar", "shortcut_only_gating", GATES_20),
        ("resnet20_cifar", "conv1x1", CONV1X1_20),
        ("resnet110_cifar", "exclusive_gating", GATES_110),  # 96,224
        ("resnet110_cifar", "conv1x1", CONV1X1_110),  # 98,240
    ],
)
def test_shortcut_parameter_counts(name, shortcut, extra):
    base = {"resnet20_cifar": RESNET20, "resnet110_cifar": 1_727_962}[name]
    assert nparams(meta(name, shortcut=shortcut)) == base + extra


def test_unit_parameter_counts():
    # Fig. 4 units move BN and ReLU; ReLU has no parameters. (a), (c): BN after each conv; (b): the second BN
    # after the addition (same width); (e): BN before each conv (the stem loses its BN, the head gains one 64-wide);
    # (d): BN after each conv, the stem's BN stays.
    counts = {u: nparams(meta("resnet20_cifar", unit=u)) for u in UNITS}
    assert counts["original"] == counts["bn_after_add"] == counts["relu_before_add"] == RESNET20
    assert counts["relu_preact"] == RESNET20
    # full_preact: first units of stages 2 and 3 take BN of their input (16, 32) not of their output (32, 64)
    # for the first conv: −2·(32 − 16) − 2·(64 − 32); stem BN (−2·16) and final BN (+2·64)
    assert counts["full_preact"] == RESNET20 - 2 * 16 - 2 * 32 - 2 * 16 + 2 * 64


def test_resnet164_original_is_pinned_and_full_preact_is_the_preact_net():
    # stem 3·16·9 + BN 32; a stage: first unit (1×1, 3×3, 1×1 + 3 BNs + a 1×1 projection with BN), 17 more.
    stage1 = (16 * 16 + 32 + 16 * 16 * 9 + 32 + 16 * 64 + 128 + 16 * 64 + 128) + 17 * (
        64 * 16 + 32 + 16 * 16 * 9 + 32 + 16 * 64 + 128
    )
    stage2 = (64 * 32 + 64 + 32 * 32 * 9 + 64 + 32 * 128 + 256 + 64 * 128 + 256) + 17 * (
        128 * 32 + 64 + 32 * 32 * 9 + 64 + 32 * 128 + 256
    )
    stage3 = (128 * 64 + 128 + 64 * 64 * 9 + 128 + 64 * 256 + 512 + 128 * 256 + 512) + 17 * (
        256 * 64 + 128 + 64 * 64 * 9 + 128 + 64 * 256 + 512
    )
    assert nparams(meta("resnet164_cifar")) == 3 * 16 * 9 + 32 + stage1 + stage2 + stage3 + 256 * 10 + 10
    assert nparams(meta("resnet164_cifar")) == 1_704_154  # He et al. 2016 Table 3: 1.7M
    ours, theirs = meta("resnet164_cifar", unit="full_preact"), meta("preact_resnet164_cifar")
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == [
        (k, v.shape) for k, v in theirs.state_dict().items()
    ]
    assert [type(m) for m in ours.modules()] == [type(m) for m in theirs.modules()]


@pytest.mark.parametrize(
    "name, extra",
    [
        ("nin_cifar10", 10 * 8 * 8 * 10 + 10),  # 10 class maps of 8×8 → 10 logits
        ("allcnn_c", 10 * 6 * 6 * 10 + 10),  # 10 class maps of 6×6 → 10 logits
    ],
)
def test_fc_head_replaces_global_average_pooling(name, extra):
    gap = convzoo.create_model(name)
    fc = convzoo.create_model(name, head="fc", head_dropout=0.5)
    assert nparams(fc) == nparams(gap) + extra
    assert [type(m) for m in gap.head] == [nn.AdaptiveAvgPool2d, nn.Flatten]
    assert [type(m) for m in fc.head] == [nn.Flatten, nn.Dropout, nn.Linear]
    assert fc.get_classifier() is fc.head.fc
    # the rest of the network is the same: the GAP net's weights load into it
    missing = fc.load_state_dict(gap.state_dict(), strict=False).missing_keys
    assert sorted(missing) == ["head.fc.bias", "head.fc.weight"]
    x = torch.randn(2, 3, 32, 32)
    assert fc(x).shape == (2, 10)
    fc.reset_classifier(4)
    assert fc(x).shape == (2, 4) and fc.num_classes == 4
    big = convzoo.create_model(name, head="fc", img_size=64)
    assert big(torch.randn(1, 3, 64, 64)).shape == (1, 10)


def test_cnn4_is_four_weight_layers_with_relu_or_tanh():
    # three 5×5 convs (3→32, 32→32, 32→64, with biases) and one FC from 64 maps of 4×4 (32 → 16 → 8 → 4)
    expected = (3 * 25 * 32 + 32) + (32 * 25 * 32 + 32) + (32 * 25 * 64 + 64) + (64 * 4 * 4 * 10 + 10)
    for act, cls in (("relu", nn.ReLU), ("tanh", nn.Tanh)):
        model = convzoo.create_model("cnn4_cifar", act=act)
        assert nparams(model) == expected == 89_578
        weighted = [m for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
        assert len(weighted) == 4
        assert sum(isinstance(m, cls) for m in model.modules()) == 3
        assert not any(
            isinstance(m, nn.Dropout | nn.BatchNorm2d | nn.LocalResponseNorm) for m in model.modules()
        )
        assert [type(m) for m in model.features if "pool" in type(m).__name__.lower()] == [
            nn.MaxPool2d,
            nn.AvgPool2d,
            nn.AvgPool2d,
        ]
    # multiply-adds: 32²·32·75 + 16²·32·800 + 8²·64·800 + 1024·10
    assert convzoo.summary("cnn4_cifar").total_macs == 2_457_600 + 6_553_600 + 3_276_800 + 10_240
    torch.manual_seed(0)
    model = convzoo.create_model("cnn4_cifar", act="tanh")
    assert model.features.conv1.weight.std().item() == pytest.approx(1e-4, rel=0.1)  # cuda-convnet's initW
    x = torch.randn(3, 3, 32, 32)
    model(x).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.eval()
    assert torch.equal(model(x), model(x))
    assert convzoo.create_model("cnn4_cifar", in_chans=1, img_size=16)(torch.randn(1, 1, 16, 16)).shape == (
        1,
        10,
    )


# --- each unit's and each shortcut's order of operations --------------------------------------------------------
_TOKENS = {
    "convolution": "conv",
    "native_batch_norm": "bn",
    "relu": "relu",
    "relu_": "relu",
    "add": "add",
    "add_": "add",
    "mul": "mul",
    "sigmoid": "sigmoid",
    "rsub": "1-g",
    "bernoulli_": "dropout",
}


class OpOrder(TorchDispatchMode):
    """The aten ops a forward pass runs, as tokens (conv, bn, relu, add, mul, sigmoid, 1-g, dropout)."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        token = _TOKENS.get(func.overloadpacket.__name__)
        if token:
            self.ops.append(token)
        return func(*args, **(kwargs or {}))


def op_order(block: nn.Module, channels: int = 4) -> list[str]:
    x = torch.randn(2, channels, 5, 5)
    with torch.no_grad(), OpOrder() as rec:
        block(x)
    return rec.ops


@pytest.mark.parametrize(
    "unit, ops",
    [  # He et al. 2016, Fig. 4 (a)-(e), on a unit of two 3×3 convs with an identity shortcut
        ("original", "conv bn relu conv bn add relu"),
        ("bn_after_add", "conv bn relu conv add bn relu"),
        ("relu_before_add", "conv bn relu conv bn relu add"),
        ("relu_preact", "relu conv bn relu conv bn add"),
        ("full_preact", "bn relu conv bn relu conv add"),
    ],
)
def test_unit_op_order_follows_fig_4(unit, ops):
    block = (
        convzoo.create_model("resnet20_cifar", unit=unit).stages[0][1].eval()
    )  # 16 → 16, identity shortcut
    assert op_order(block, 16) == ops.split()


@pytest.mark.parametrize(
    "shortcut, ops",
    [  # He et al. 2016, Fig. 2 (a)-(f), original unit: F = conv bn relu conv bn, then the mix, then ReLU
        ("identity", "add relu"),
        ("constant_scaling", "mul mul add relu"),  # 0.5·h, 0.5·F
        ("exclusive_gating", "conv sigmoid 1-g mul mul add relu"),  # g = σ(conv x); (1 − g)·h; g·F
        ("shortcut_only_gating", "conv sigmoid 1-g mul add relu"),
        ("conv1x1", "conv bn add relu"),
        ("dropout", "dropout mul add relu"),
    ],
)
def test_shortcut_op_order_follows_fig_2(shortcut, ops):
    block = ResidualBlock([_Conv(4, 4, 3), _Conv(4, 4, 3)], shortcut=shortcut).eval()
    if block.mix is not None and block.mix.drop is not None:
        block.mix.drop.train()  # dropout acts in training only; BN stays in eval for a clean trace
    assert op_order(block) == "conv bn relu conv bn".split() + ops.split()


def test_shortcut_formulas():
    torch.manual_seed(0)
    x = torch.randn(2, 4, 5, 5)
    f, h = torch.randn(2, 4, 5, 5), torch.randn(2, 4, 5, 5)
    mixes = {
        k: ShortcutMix(k, 4, 4).eval()
        for k in ("constant_scaling", "exclusive_gating", "shortcut_only_gating")
    }
    for gate in (mixes["exclusive_gating"].gate, mixes["shortcut_only_gating"].gate):
        assert torch.equal(gate.bias, torch.full((4,), -6.0))  # b_g = −6, the paper's best
    g = torch.sigmoid(mixes["exclusive_gating"].gate(x))
    assert torch.allclose(mixes["constant_scaling"](f, h, x), 0.5 * f + 0.5 * h)
    assert torch.allclose(mixes["exclusive_gating"](f, h, x), g * f + (1 - g) * h)
    g = torch.sigmoid(mixes["shortcut_only_gating"].gate(x))
    assert torch.allclose(mixes["shortcut_only_gating"](f, h, x), f + (1 - g) * h)
    assert ShortcutMix("exclusive_gating", 4, 8, stride=2, gate_bias=0.0).gate.stride == (2, 2)
    model = convzoo.create_model("resnet20_cifar", shortcut="shortcut_only_gating", gate_bias=0.0)
    assert all(
        torch.equal(b.mix.gate.bias, torch.zeros_like(b.mix.gate.bias)) for s in model.stages for b in s
    )


def test_dropout_shortcut_is_the_identity_at_test_time():
    torch.manual_seed(0)
    plain = convzoo.create_model("resnet20_cifar").eval()
    dropped = convzoo.create_model("resnet20_cifar", shortcut="dropout").eval()
    dropped.load_state_dict(plain.state_dict())  # same parameters: dropout adds none
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        assert torch.allclose(dropped(x), plain(x))


def test_shortcut_letters_and_conv1x1_set_the_projection():
    # "A"/"B"/"C" stay shorthand for projection=…, so older calls build the same nets
    assert nparams(meta("resnet20_cifar", shortcut="B")) == nparams(meta("resnet20_cifar", projection="B"))
    # conv1x1 is the paper's option C whatever the model's projection default
    assert nparams(meta("resnet20_cifar", shortcut="conv1x1")) == nparams(
        meta("resnet20_cifar", shortcut="C")
    )
    info = meta("resnet20_cifar", shortcut="exclusive_gating").inspect_info()
    assert (info["shortcut"], info["projection"]) == ("exclusive_gating", "A")  # downsampling units keep A


# --- bad input says what is wrong -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, kwargs, error, match",
    [
        ("resnet20_cifar", dict(shortcut="gating"), ValueError, "exclusive_gating.*Table 1"),
        ("resnet20_cifar", dict(projection="D"), ValueError, "unknown projection 'D'"),
        ("resnet20_cifar", dict(unit="relu_only_preact"), ValueError, "relu_preact"),
        ("plain20_cifar", dict(shortcut="dropout"), ValueError, "plain net.*no shortcuts"),
        ("nin_cifar10", dict(head="max"), ValueError, "unknown head 'max'"),
        ("allcnn_c", dict(head_dropout=0.5), ValueError, "head='fc' only"),
        ("nin_cifar10", dict(head="fc", head_dropout=1.0), ValueError, r"\[0, 1\)"),
        ("nin_cifar10", dict(head="fc", img_size=4), ShapeError, "smaller than the kernel"),
        ("cnn4_cifar", dict(act="relu7"), ValueError, "unknown activation 'relu7'"),
        ("cnn4_cifar", dict(img_size=8), ShapeError, "pool3"),
    ],
)
def test_bad_options_are_explained(name, kwargs, error, match):
    with pytest.raises(error, match=match):
        convzoo.create_model(name, **kwargs)


def test_shortcut_mix_refuses_the_shortcuts_it_does_not_mix():
    with pytest.raises(ValueError, match="ShortcutMix takes one of"):
        ShortcutMix("identity", 4, 4)


# --- the registry shows the overrides and their reading of the papers ------------------------------------------
@pytest.mark.parametrize(
    "name, overrides, note",
    [
        ("resnet110_cifar", {"unit", "shortcut", "projection", "gate_bias"}, "Table 1"),
        ("resnet164_cifar", {"unit", "shortcut", "projection", "gate_bias"}, "full_preact"),
        ("plain56_cifar", {"unit", "residual"}, None),
        ("nin_cifar10", {"head", "head_dropout", "img_size"}, "§4.6"),
        ("allcnn_c", {"head", "head_dropout", "img_size"}, "§4.6"),
        ("cnn4_cifar", {"act", "img_size"}, "layers-18pct.cfg"),
    ],
)
def test_info_lists_the_overrides_and_notes(capsys, name, overrides, note):
    assert main(["info", name, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert overrides <= set(data["overrides"])
    if note:
        assert note in data["note"]
