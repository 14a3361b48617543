"""The seeds' claims of issue 21, item 6 (convzoo.repro.analytic_more): each verdict computed and asserted, with a
negative control per claim so that no check holds vacuously; and the inspector's volume-drop flag."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from convzoo.inspect import summary
from convzoo.inspect.volume import activation_volumes, bottlenecks
from convzoo.repro import analytic_more as more
from convzoo.repro import claims, get_claim, run_claim

HOLDS, NOT_HOLDS = "holds", "does not hold"
NEW = ("fc_as_conv", "resnext_forms", "grid_reduction", "vgg_params", "momentum_ravine", "adaptive_steps",
       "adam_bias_correction")  # fmt: skip


def agrees(r: dict) -> list[bool]:
    return [x["agrees"] for x in r["rows"]]


def test_every_new_claim_is_registered_and_analytic() -> None:
    ours = {c.id: c for c in claims() if c.id in NEW}
    assert set(ours) == set(NEW)
    for c in ours.values():
        assert c.kind == "analytic" and c.compute is not None and "(" in c.paper and c.where and c.says


# ------------------------------------------------------------------------------------------ FC = conv


@pytest.fixture(scope="module")
def fc() -> dict:
    return get_claim("fc_as_conv").compute()  # type: ignore[misc]


def test_fc_layers_are_convolutions(fc: dict) -> None:
    assert fc["verdict"] == HOLDS and agrees(fc) == [True] * 5
    assert "2×2 score map" in fc["rows"][0]["computed"] and "3×3 score map" in fc["rows"][3]["computed"]


def test_a_wrong_reshape_breaks_the_equality() -> None:
    """Reading fc6's inputs as H, W, C (a channels-last flatten) is not the convolution the FC layer is."""
    net = more._seeded("alexnet", num_classes=10, img_size=99)
    image = more._image(3, 131)
    right = more.slide(net, image, 99, 32)
    wrong = more.slide(net, image, 99, 32, reshape=more.hwc_reshape)
    scale = float(right["map"].abs().max())
    assert more._diff(right["map"], right["windows"]) <= more.TOL * scale
    assert more._diff(wrong["map"], wrong["windows"]) > 0.01 * scale


def test_conv_head_on_a_tiny_net_by_hand() -> None:
    torch.manual_seed(0)
    head = nn.Sequential(nn.Flatten(1), nn.Linear(2 * 3 * 3, 4), nn.ReLU(), nn.Linear(4, 5)).double()
    feats = torch.randn(1, 2, 5, 4, dtype=torch.float64)
    score_map = more.conv_head(head, (2, 3, 3))(feats)
    assert score_map.shape == (1, 5, 3, 2)
    for i in range(3):
        for j in range(2):
            torch.testing.assert_close(score_map[0, :, i, j], head(feats[..., i : i + 3, j : j + 3])[0])


# ------------------------------------------------------------------------------------- ResNeXt's forms


def test_resnext_forms_are_the_same_block() -> None:
    r = more.resnext_forms()
    assert r["verdict"] == HOLDS and agrees(r) == [True] * 3
    assert "70,144" in r["rows"][2]["computed"]


def test_resnext_forms_differ_when_paths_take_other_weights() -> None:
    r = more.resnext_forms(shift=1)
    assert r["verdict"] == NOT_HOLDS and agrees(r) == [False, False, True]


# ------------------------------------------------------------------------- representational bottlenecks


def test_volume_flags_by_hand() -> None:
    s = summary(more.grid_reductions()["pool_first"], (320, 35, 35), depth=1)
    steps = activation_volumes(s)
    assert [x.volume for x in steps] == [35 * 35 * 320, 17 * 17 * 320, 17 * 17 * 640]
    assert math.isclose(steps[1].drop, 35 * 35 / 17**2) and steps[1].sharp and steps[1].bottleneck
    assert [x.name for x in bottlenecks(s)] == ["0"]
    cf = activation_volumes(summary(more.grid_reductions()["conv_first"], (320, 35, 35), depth=1))
    assert cf[2].sharp and not cf[2].bottleneck  # a sharp drop to the output, never widened again
    with pytest.raises(ValueError, match="above 1"):
        activation_volumes(s, factor=1.0)


def test_grid_reduction_holds_as_the_paper_argues() -> None:
    r = more.grid_reduction()
    assert r["verdict"] == HOLDS and agrees(r) == [True] * 4
    assert "533 M MACs" in r["rows"][0]["computed"] and "2,258 M MACs = 4.24×" in r["rows"][1]["computed"]
    assert "266 M MACs = 0.50×" in r["rows"][2]["computed"]
    assert "35×35×288 → 17×17×768, a 1.59× drop" in r["rows"][3]["computed"]
    assert "pool1" in r["explanation"] and "pool2" in r["explanation"]


def test_a_flag_looser_than_the_pool_misses_the_bottleneck() -> None:
    r = more.grid_reduction(factor=5.0)  # 4.24× no longer counts as sharp
    assert r["verdict"] == NOT_HOLDS and agrees(r)[0] is False


# ---------------------------------------------------------------------------------------- VGG Table 2


def test_vgg_table_2() -> None:
    r = more.vgg_params()
    assert r["verdict"] == HOLDS and agrees(r) == [True] * 6
    counts = [int(x["computed"].split(" = ")[0].replace(",", "")) for x in r["rows"]]
    assert counts == [132_863_336, 132_863_336, 133_047_848, 133_638_952, 138_357_544, 143_667_240]
    # not vacuous: each of C, D, E misses the figure of the column before it
    papers = [int(x["paper"].split()[0]) for x in r["rows"]]
    assert all(round(counts[i] / 1e6) != papers[i - 1] for i in (3, 4, 5))


# --------------------------------------------------------------------------------- optimizer statements


def test_momentum_speeds_along_and_reverses_less_but_swings_wider() -> None:
    r = more.momentum_ravine()
    assert r["verdict"] == NOT_HOLDS and agrees(r) == [True, True, False]
    assert r["rows"][0]["computed"] == "SGD 3.63, momentum 0.66"
    assert r["rows"][1]["computed"] == "SGD 50, momentum 24"
    assert r["rows"][2]["computed"] == "SGD 0.377, momentum 0.800"
    assert math.isclose(more._rate(0.9, 2.0, 0.9)[0], math.sqrt(0.9))  # the heavy ball's complex roots
    assert math.isclose(more._rate(0.9, 2.0, 0.0)[0], 0.8)


def test_adaptive_methods_equalize_the_steps() -> None:
    r = more.adaptive_steps()
    assert r["verdict"] == HOLDS and agrees(r) == [True, True]
    assert r["rows"][0]["computed"] == "SGD 0.045, AdaGrad 1.000, RMSProp 1.000"


def test_momentum_is_not_adaptive_so_the_ratio_check_discriminates() -> None:
    from convzoo.lab.trajectories import run_optimizer

    step = more._first_steps(run_optimizer("ravine", "momentum", steps=1).points, 1)[0]
    assert math.isclose(step[0] / step[1], 0.045, rel_tol=1e-9)  # the gradient's proportion, like SGD's


def test_adam_bias_correction_first_steps() -> None:
    r = more.adam_bias_correction()
    assert r["verdict"] == HOLDS and agrees(r) == [True] * 3
    assert r["rows"][1]["computed"].startswith("1.5811, 1.5811: 3.162×")
    assert "from step 1,751 on" in r["rows"][2]["computed"]


def test_with_a_short_memory_the_uncorrected_step_is_smaller() -> None:
    r = more.adam_bias_correction(beta2=0.9)  # (1−β₁) < √(1−β₂): the paper's case does not arise
    assert r["verdict"] == NOT_HOLDS and agrees(r)[1] is False


# ------------------------------------------------------------------------------------------- reports


def test_repro_run_writes_the_report(tmp_path) -> None:  # type: ignore[no-untyped-def]
    folder = run_claim("vgg_params", out=tmp_path, log=lambda s: None)
    res = json.loads((folder / "results.json").read_text())
    assert res["verdict"] == HOLDS and res["kind"] == "analytic"
    assert "143,667,240" in (folder / "report.md").read_text()
