"""The layer table covers the whole network at every depth, shows merges, groups floor warnings, offers the
lecture's H×W×C order, torchinfo's columns and memory figures, and counts like Keras in Keras's format."""

from __future__ import annotations

import re
import time

import pytest
import torch
from torch import nn

import convzoo
from convzoo.cli import main
from convzoo.inspect.output_size import ShapeError
from convzoo.inspect.summary import build_meta, human, summary
from convzoo.inspect.trace import trace
from convzoo.registry import list_blocks

EVERYTHING = convzoo.list_models() + list_blocks()


# --- the depth invariant: rows at one depth partition the network -------------------------------------------------
@pytest.mark.parametrize("name", EVERYTHING)
def test_rows_add_up_to_the_totals_at_every_depth(name: str) -> None:
    s = summary(name, count_all=True)
    totals = (s.total_params, s.total_macs, s.total_other_ops)
    for depth in (1, 2, 3, 4, None):
        rows = s.at_depth(depth).layers
        got = (sum(r.params for r in rows), sum(r.macs for r in rows), sum(r.other_ops for r in rows))
        assert got == totals, f"{name} at depth {depth}: rows {got} vs totals {totals}"
        assert all(depth is None or r.depth <= depth for r in rows)


def test_iterated_containers_are_rows_at_their_depth() -> None:
    """`stages` is iterated by ResNet's forward, never called: it must still be the depth-1 row."""
    s = summary("resnet50", depth=1)
    assert [r.name for r in s.layers] == ["stem", "stages", "pool", "fc"]
    assert s.row("stages").params == 23_498_496 and s.row("stages").output_shape == [2048, 7, 7]
    g = summary("googlenet", depth=3)
    assert not any(r.type == "Identity" and r.name.endswith("attn") and r.depth < 3 for r in g.layers)
    branches = g.row("features.inception3a.branches")  # iterated side by side: four outputs, one per branch
    assert branches.output_shape == [[64, 28, 28], [128, 28, 28], [32, 28, 28], [32, 28, 28]]
    assert branches.params == 163_696 and g.row("features.inception3a.(concat)").output_shape == [256, 28, 28]


def test_summary_at_depth_needs_no_new_trace() -> None:
    s = summary("resnet18")
    assert s.at_depth(2).depth == 2 and s.at_depth(None).layers == s.layers
    with pytest.raises(ValueError, match="depth"):
        s.at_depth(0)


def test_the_invariant_runs_fast_enough() -> None:
    """Guard the test above: one trace per model, re-laid out per depth (a CPU-time budget, not a benchmark)."""
    t = time.process_time()
    s = summary("resnet110_cifar", count_all=True)
    for d in (1, 2, 3, 4):
        s.at_depth(d)
    assert time.process_time() - t < 5


# --- merges are rows of their own -------------------------------------------------------------------------------
def test_concatenation_is_a_row_with_its_output_volume() -> None:
    s = summary("inception_naive_lecture", shape_order="hwc")
    row = s.row("(concat)")
    assert (row.type, row.output_shape, row.params, row.receptive_field) == ("Concat", [672, 28, 28], 0, 5)
    assert "28×28×672" in str(s) and "Concat / Add" in str(s)
    assert summary("inception_reduced_lecture").row("(concat)").output_shape == [480, 28, 28]


def test_residual_add_is_a_row_with_its_output_volume() -> None:
    s = summary("resnet50", count_all=True)
    add = s.row("stages.0.0.(add)")
    assert (add.type, add.output_shape, add.other_ops) == ("Add", [256, 56, 56], 256 * 56 * 56)
    assert sum(r.type == "Add" for r in s.layers) == 16
    assert sum(r.type == "Concat" for r in summary("googlenet").layers) == 9


# --- floors and the smallest input ------------------------------------------------------------------------------
def test_floor_warnings_are_one_line_with_a_flag_to_list_them() -> None:
    s = summary("resnet50")
    assert len(s.floors) == 8
    table = str(s)
    assert table.count("floored") == 1 and "8 layers floor" in table and "--floors" in table
    assert "Warning:" not in table
    listed = str(summary("resnet50", show_floors=True))
    assert listed.count("floored") == 8
    out = _cli(["summary", "resnet50", "--floors"])
    assert out.count("floored") == 8


def test_strict_names_the_nearest_inputs_at_which_no_layer_floors() -> None:
    with pytest.raises(ShapeError) as err:
        summary("resnet50", strict=True)
    msg = str(err.value)
    assert "no layer floors: 3×193×193 and 3×225×225" in msg
    assert "accepts is 3×1×1" not in msg
    assert "smallest square input at which resnet50 runs (PyTorch flooring fractional volumes) is 3×1×1" in msg
    for side in (193, 225):
        assert summary("resnet50", (3, side, side), strict=True).floors == []


def test_too_small_input_says_where_the_network_starts_to_run() -> None:
    with pytest.raises(ShapeError, match=r"at which alexnet runs \(PyTorch flooring fractional volumes\) is 3×227×227"):
        summary("alexnet", (3, 32, 32))


# --- shape order, columns, memory ---------------------------------------------------------------------------------
def test_shape_order_hwc_writes_the_lecture_volumes() -> None:
    row = re.compile(r"features\.conv1 .*")
    assert "55×55×96" in row.search(str(summary("alexnet", shape_order="hwc"))).group()  # type: ignore[union-attr]
    assert "96×55×55" in row.search(str(summary("alexnet"))).group()  # type: ignore[union-attr]
    assert "Input: 227×227×3" in _cli(["summary", "alexnet", "--shape-order", "hwc"])
    with pytest.raises(ValueError, match="shape_order"):
        summary("alexnet", shape_order="whc")


def test_columns_input_kernel_stride() -> None:
    s = summary("alexnet", columns=["input", "output", "kernel", "stride", "padding", "params_percent"])
    head, *_ = [line for line in str(s).splitlines() if line.startswith("Layer")]
    assert head.split() == ["Layer", "Type", "Input", "shape", "Output", "shape", "Kernel", "Stride", "Padding",
                            "Params", "%"]  # fmt: skip
    conv1 = next(line for line in str(s).splitlines() if line.startswith("features.conv1 "))
    assert conv1.split()[2:7] == ["3×227×227", "96×55×55", "11", "4", "0"]
    assert s.row("features.pool1").kernel == [3, 3] and s.row("classifier.fc6").kernel is None
    with pytest.raises(ValueError, match="choose from"):
        summary("alexnet", columns=["flops"])
    assert "Kernel" in _cli(["summary", "lenet5", "--columns", "input,kernel,stride"])
    with pytest.raises(SystemExit):
        main(["summary", "lenet5", "--columns", "nope"])


@pytest.mark.parametrize("name", ["lenet5", "resnet20_cifar", "densenet40_k12_cifar"])
def test_memory_figures_match_torchinfo(name: str) -> None:
    torchinfo = pytest.importorskip("torchinfo")
    torch.manual_seed(0)
    model = convzoo.create_model(name).eval()
    size = convzoo.model_info(name).input_size
    theirs = torchinfo.summary(model, input_size=(2, *size), verbose=0, depth=100)
    ours = summary(name, batch_size=2).memory
    assert ours is not None
    assert ours.params_bytes == theirs.total_param_bytes
    assert ours.forward_backward_bytes == theirs.total_output_bytes
    assert abs(ours.input_bytes - theirs.total_input) <= 128  # torchinfo adds the tensor object's header
    assert "Forward/backward pass size (MB)" in str(summary(name))


# --- legend, Keras, units -------------------------------------------------------------------------------------------
def test_legend_explains_a_field_after_flatten() -> None:
    s = summary("alexnet")
    assert s.row("classifier.fc8").is_global and s.row("classifier.fc8").receptive_field == 355
    assert "theoretical receptive field" in str(s) and "exceed the input" in str(s)
    assert "theoretical" not in str(summary(nn.Conv2d(3, 3, 3), (3, 8, 8)))


def test_keras_format_counts_moving_statistics_as_non_trainable() -> None:
    """Keras: ResNet50 25,636,712 params, 53,120 non-trainable; its convolutions also carry 26,560 biases."""
    text = summary("resnet50").to_keras()
    assert "Non-trainable params: 53,120" in text
    assert f"Total params: {25_636_712 - 26_560:,}" in text
    assert "PyTorch counts 25,557,032 parameters" in text
    bn = next(line for line in text.splitlines() if line.startswith("stem.bn "))
    assert bn.split()[-1] == f"{4 * 64:,}"  # gamma, beta, moving mean, moving variance


def test_units_follow_the_magnitude() -> None:
    assert [human(v) for v in (61_706, 416_520, 25_557_032, 3_857_973_248, 12)] == [
        "61.71 K", "416.5 K", "25.56 M", "3.858 G", "12"
    ]  # fmt: skip
    table = str(summary("lenet5"))
    assert "0.000" not in table and "K;" in table


# --- tracing repeated blocks once gives the same table as tracing every block ----------------------------------
@pytest.mark.parametrize(
    "name", ["resnet110_cifar", "se_resnet50", "inception_v4", "densenet_bc100_k12_cifar", "preact_resnet164_cifar"]
)
def test_replayed_blocks_match_a_full_trace(name: str) -> None:
    model, size = build_meta(name)
    model.eval()
    fast = trace(model, size, count_all=True, reuse=True)
    slow = trace(model, size, count_all=True, reuse=False)
    for table in ("macs", "other_ops"):
        assert _nonzero(getattr(fast[0], table)) == _nonzero(getattr(slow[0], table))
    assert list(fast[1]) == list(slow[1])
    for k, rec in slow[1].items():
        other = fast[1][k]
        assert (other.output_shapes, other.rf, other.spatial, other.calls, other.kind) == (
            rec.output_shapes, rec.rf, rec.spatial, rec.calls, rec.kind
        ), k  # fmt: skip
    assert fast[2] == slow[2]


def _nonzero(table: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in table.items() if v}


def _cli(argv: list[str]) -> str:
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(argv) == 0
    return buf.getvalue()


class RootOwned(nn.Module):
    """A model whose own forward holds a parameter and runs ops: they are a row, not lost."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(4, 1, 1))
        self.convs = nn.ModuleList([nn.Conv2d(4, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.convs:  # iterated, never called
            x = conv(x) * self.scale
        return torch.relu(x)


def test_a_models_own_parameters_and_ops_are_a_row() -> None:
    s = summary(RootOwned(), (4, 8, 8), count_all=True)
    root = s.row("(model)")
    assert root.params == 4 and root.other_ops == 2 * 4 * 8 * 8 + 4 * 8 * 8  # two scalings, one ReLU
    for depth in (1, 2, None):
        rows = s.at_depth(depth).layers
        assert sum(r.params for r in rows) == s.total_params and sum(r.other_ops for r in rows) == s.total_other_ops
    assert [r.name for r in s.at_depth(1).layers] == ["(model)", "convs"]
