"""The inspector: output-volume formula, layer table, MACs, receptive fields, formats, and its promises."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import pytest
import torch
from torch import nn

import convzoo
from convzoo.inspect import ShapeError, output_size, parse_input_size


# --- the output-volume formula ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("w", "f", "p", "s", "out"),
    [(227, 11, 0, 4, 55), (55, 3, 0, 2, 27), (27, 5, 2, 1, 27), (13, 3, 1, 1, 13), (32, 5, 0, 1, 28), (7, 3, 0, 1, 5)],
)
def test_output_size_formula(w: int, f: int, p: int, s: int, out: int) -> None:
    assert output_size(w, f, p, s) == out


def test_output_size_refuses_fractional_and_shows_arithmetic() -> None:
    with pytest.raises(ShapeError) as err:
        output_size(224, 11, 0, 4, layer="conv1")
    msg = str(err.value)
    assert "conv1" in msg and "(224 − 11 + 2·0)/4 + 1 = 54.25" in msg and "227" in msg
    assert output_size(224, 11, 0, 4, strict=False) == 54
    assert output_size(7, 3, 0, 2, strict=False) == 3
    assert output_size(112, 3, 0, 2, strict=False, ceil_mode=True) == 56  # Caffe / GoogLeNet pooling


def test_output_size_empty_and_bad_arguments() -> None:
    with pytest.raises(ShapeError, match="smaller than the kernel"):
        output_size(3, 5)
    with pytest.raises(ValueError, match="S must be >= 1"):
        output_size(32, 3, 1, 0)
    with pytest.raises(TypeError, match="integer"):
        output_size(32.0, 3)  # type: ignore[arg-type]
    assert output_size(32, 3, 0, 1, d=2) == 28


def test_parse_input_size() -> None:
    assert parse_input_size("3x227x227") == (3, 227, 227)
    assert parse_input_size("224") == (3, 224, 224)
    assert parse_input_size("1×32×32") == (1, 32, 32)
    with pytest.raises(ValueError, match="CxHxW"):
        parse_input_size("big")


# --- receptive fields through chains, branches and residual adds ----------------------------------------------
def _conv(c: int = 4, k: int = 3, s: int = 1) -> nn.Conv2d:
    return nn.Conv2d(c, c, k, s, k // 2)


class Branchy(nn.Module):
    """An Inception-like module: 1×1 | 3×3 | 3×3→3×3 | pool, concatenated; then a residual add."""

    def __init__(self) -> None:
        super().__init__()
        self.b1 = _conv(k=1)
        self.b2 = _conv()
        self.b3 = nn.Sequential(_conv(), _conv())
        self.b4 = nn.MaxPool2d(3, 1, 1)
        self.merge = nn.Conv2d(16, 4, 1)
        self.res = nn.Sequential(_conv(), _conv(), _conv())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.merge(torch.cat([self.b1(x), self.b2(x), self.b3(x), self.b4(x)], 1))
        return x + self.res(x)


def test_receptive_field_chain() -> None:
    s = convzoo.summary(nn.Sequential(_conv(3), _conv(3), _conv(3)), (3, 32, 32))
    assert [r.receptive_field for r in s.layers] == [3, 5, 7]  # two 3×3 see 5×5, three see 7×7


def test_receptive_field_strided_chain_matches_hand_computation() -> None:
    # AlexNet's first layers: conv 11/4 → pool 3/2 → conv 5/1 → pool 3/2 → conv 3/1
    m = nn.Sequential(
        nn.Conv2d(3, 4, 11, 4), nn.MaxPool2d(3, 2), nn.Conv2d(4, 4, 5, 1, 2), nn.MaxPool2d(3, 2), nn.Conv2d(4, 4, 3, 1, 1)
    )
    s = convzoo.summary(m, (3, 227, 227))
    assert [r.receptive_field for r in s.layers] == [11, 19, 51, 67, 99]


def test_receptive_field_takes_widest_branch_and_residual() -> None:
    s = convzoo.summary(Branchy(), (4, 16, 16))
    assert s.row("b1").receptive_field == 1
    assert s.row("b3.1").receptive_field == 5
    assert s.row("merge").receptive_field == 5  # the widest branch of the concatenation
    assert s.row("res.2").receptive_field == 11  # 5 + 3 convs of 3×3
    assert [r.name for r in s.layers][-3:] == ["res.1", "res.2", "(add)"]
    assert (s.row("(add)").type, s.row("(add)").receptive_field) == ("Add", 11)


def test_receptive_field_asymmetric_kernels() -> None:
    m = nn.Sequential(nn.Conv2d(3, 4, (1, 7), padding=(0, 3)), nn.Conv2d(4, 4, (7, 1), padding=(3, 0)))
    s = convzoo.summary(m, (3, 17, 17))
    assert s.layers[0].receptive_field == [1, 7]
    assert s.layers[1].receptive_field == 7


# --- MACs and parameters -----------------------------------------------------------------------------------------
def test_macs_of_conv_and_linear() -> None:
    m = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 8 * 8, 10))
    s = convzoo.summary(m, (3, 8, 8))
    assert s.layers[0].macs == 8 * 8 * 8 * 3 * 3 * 3
    assert s.layers[-1].macs == 8 * 8 * 8 * 10
    assert s.total_macs == 8 * 8 * 8 * 27 + 5120
    assert s.total_params == sum(p.numel() for p in m.parameters())
    assert s.layers[1].macs == 0


def test_grouped_conv_macs() -> None:
    s = convzoo.summary(nn.Conv2d(64, 64, 3, padding=1, groups=32), (64, 8, 8))
    assert s.total_macs == 8 * 8 * 64 * (64 // 32) * 9


def test_count_all_adds_other_ops_separately() -> None:
    m = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2))
    s = convzoo.summary(m, (3, 8, 8), count_all=True)
    assert s.total_macs == 8 * 8 * 8 * 27
    assert s.row("1").other_ops == 2 * 8 * 8 * 8  # BN: scale and shift
    assert s.row("2").other_ops == 8 * 8 * 8
    assert s.row("3").other_ops == 8 * 4 * 4 * 4
    assert "other_ops" in s.to_dict()["layers"][0]
    assert "other_ops" not in convzoo.summary(m, (3, 8, 8)).to_dict()["layers"][0]


def test_depth_collapses_subtrees() -> None:
    s = convzoo.summary(Branchy(), (4, 16, 16), depth=1)
    names = [r.name for r in s.layers]
    assert names == ["b1", "b2", "b3", "b4", "(concat)", "merge", "res", "(add)"]
    assert s.row("res").params == sum(p.numel() for p in Branchy().res.parameters())
    assert s.row("res").macs == 3 * 16 * 16 * 4 * 4 * 9
    assert s.row("res").receptive_field == 11


# --- the user's model is left exactly as it was -------------------------------------------------------------------
def test_user_model_untouched() -> None:
    m = Branchy().train()
    before = {k: v.clone() for k, v in m.state_dict().items()}
    calls: list[int] = []
    m.register_forward_hook(lambda *a: calls.append(1))
    convzoo.summary(m, (4, 16, 16))
    assert m.training and all(p.device.type == "cpu" for p in m.parameters())
    assert all(torch.equal(before[k], v) for k, v in m.state_dict().items())
    assert len(m._forward_hooks) == 1 and calls == []  # our copy ran without the user's hook
    assert all(not mod._forward_pre_hooks for mod in m.modules())


# --- formats -------------------------------------------------------------------------------------------------------
def test_formats_are_consistent() -> None:
    s = convzoo.summary(Branchy(), (4, 16, 16))
    data = json.loads(s.to_json())
    assert set(data) >= {"model", "input_size", "layers", "total_params", "total_macs"}
    assert set(data["layers"][0]) == {"name", "type", "input_shape", "output_shape", "kernel", "stride", "padding"} | {
        "params", "buffers", "macs", "receptive_field", "is_global"
    }
    assert data["input_size"] == [4, 16, 16]
    rows = list(csv.reader(io.StringIO(s.to_csv())))
    assert rows[0][:4] == ["name", "type", "input_shape", "output_shape"]
    assert rows[-1][0] == "TOTAL" and int(rows[-1][rows[0].index("params")]) == s.total_params
    md = s.to_markdown()
    assert md.count("\n| ") == len(s.layers) + 1
    table = str(s)
    assert "Total params" in table and "res.2" in table
    with pytest.raises(ValueError, match="choose one of"):
        s.format("yaml")


def test_fractional_volume_warns_and_strict_fails() -> None:
    m = nn.Sequential(nn.Conv2d(3, 4, 3, 2), nn.ReLU())
    s = convzoo.summary(m, (3, 8, 8))
    assert any("(8 − 3 + 2·0)/2 + 1 = 3.5" in w for w in s.warnings)
    with pytest.raises(ShapeError, match=r"layer '0'.*3\.5"):
        convzoo.summary(m, (3, 8, 8), strict=True)


def test_too_small_input_names_layer() -> None:
    m = nn.Sequential(nn.Conv2d(3, 4, 5), nn.Conv2d(4, 4, 5))
    with pytest.raises(ShapeError, match=r"layer '1'.*smaller than the kernel"):
        convzoo.summary(m, (3, 6, 6))


def test_own_model_needs_input_size() -> None:
    with pytest.raises(ValueError, match="input_size"):
        convzoo.summary(nn.Conv2d(3, 3, 1))
    with pytest.raises(TypeError, match="by name"):
        convzoo.summary(nn.Conv2d(3, 3, 1), (3, 4, 4), num_classes=3)
    with pytest.raises(ValueError, match="depth"):
        convzoo.summary(nn.Conv2d(3, 3, 1), (3, 4, 4), depth=0)


class WithAux(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Conv2d(3, 4, 3)
        self.aux = nn.Sequential(nn.Flatten(), nn.Linear(4 * 6 * 6, 2))
        self.heads = nn.ModuleList([nn.Conv2d(4, 4, 1), nn.Conv2d(4, 4, 1)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.body(x)
        for h in self.heads:
            x = h(x)
        return self.aux(x) if self.training else x


def test_modules_that_do_not_run_in_eval_are_reported_not_lost() -> None:
    s = convzoo.summary(WithAux(), (3, 8, 8))
    assert s.not_run == [("aux", 4 * 6 * 6 * 2 + 2)]  # ModuleList containers are not "not run"
    assert s.total_params == sum(p.numel() for p in WithAux().parameters())
    t = convzoo.summary(WithAux(), (3, 8, 8), training=True)
    assert t.not_run == [] and t.row("aux.1").macs == 4 * 6 * 6 * 2


def test_summary_by_name_allocates_no_weights() -> None:
    """VGG-E has 144 M parameters (575 MB in fp32); its summary must not allocate them."""
    code = (
        "import resource, convzoo\n"
        "convzoo.summary('lenet5')\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "s = convzoo.summary('vgg19')\n"
        "after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print(s.total_params, (after - before) // 1024)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    params, grown_mib = map(int, out.stdout.split())
    assert params == 143_667_240
    assert grown_mib < 50, f"peak memory grew by {grown_mib} MiB"


class StridedSlice(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.c1 = _conv()
        self.c2 = _conv()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c2(self.c1(x)[:, :, ::2, ::2])  # subsampling shortcut (ResNet option A)


def test_strided_slicing_subsamples_the_grid() -> None:
    s = convzoo.summary(StridedSlice(), (4, 16, 16))
    assert s.row("c1").receptive_field == 3
    assert s.row("c2").receptive_field == 3 + 2 * 2  # the next 3×3 steps over every other position
