"""`summary --paper`: the per-layer tables the papers print, beside ours in the paper's units and conventions."""

from __future__ import annotations

import pytest

from convzoo.cli import main
from convzoo.inspect.paper_tables import PAPER_TABLES
from convzoo.inspect.summary import summary


def _verdicts(name: str, key: str) -> dict[str, str | None]:
    return {r["row"]: r[key]["verdict"] for r in summary(name, paper=True).paper_table}


@pytest.mark.parametrize("name", sorted(PAPER_TABLES))
def test_every_printed_row_maps_to_our_layers(name: str) -> None:
    s = summary(name, paper=True)
    assert len(s.paper_table) == len(PAPER_TABLES[name].rows)
    assert s.paper_source and PAPER_TABLES[name].source in s.paper_source
    assert "Paper row" in str(s) and "| Paper row |" in s.to_markdown()
    assert s.to_dict()["paper_table"]["rows"] == s.paper_table


def test_googlenet_table_1_separates_conventions_from_slips() -> None:
    """In Table 1's own convention (weights without biases, K = 1024; ops in M) the architecture it describes
    agrees row by row, except the rows the registry note lists as the paper's slips."""
    params = _verdicts("googlenet", "params")
    assert sorted(r for r, v in params.items() if v == "differs") == sorted(
        ["convolution 7×7/2"] + [f"inception ({m})" for m in ("4a", "4c", "4d", "4e", "5a", "5b")]
    )
    assert [r for r, v in params.items() if v == "match"] == [
        "convolution 3×3/1", "inception (3a)", "inception (3b)", "inception (4b)", "linear"
    ]  # fmt: skip
    ops = _verdicts("googlenet", "ops")
    assert sorted(r for r, v in ops.items() if v == "differs") == ["convolution 7×7/2", "inception (5a)"]
    assert set(_verdicts("googlenet", "output").values()) == {"match"}  # 1×1×1000 is our flat 1000
    linear = summary("googlenet", paper=True).paper_table[-1]
    assert linear["params"]["ours"] == "1,000.0K" and linear["params"]["paper"] == "1000K"  # 1,024,000 / 1024


def test_alexnet_lecture_table_volumes() -> None:
    out = _verdicts("alexnet", "output")
    assert [r for r, v in out.items() if v == "differs"] == ["NORM1", "NORM2"]  # the lecture pools first
    assert _verdicts("alexnet", "params")["CONV1"] == "match"  # (11·11·3)·96 = 34,848 ≈ 35K


def test_a_model_without_a_table_says_which_have_one() -> None:
    with pytest.raises(ValueError, match="googlenet"):
        summary("resnet50", paper=True)


def test_cli_paper_flag(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["summary", "googlenet", "--paper", "--depth", "2"]) == 0
    out = capsys.readouterr().out
    assert "Table 1 (params: weights without biases, K = 1024" in out and "2.7K" in out and "9.2K ✗" in out


@pytest.mark.parametrize(("name", "convs"), [("vgg11", 8), ("vgg13", 10), ("vgg16_c", 13), ("vgg16", 13), ("vgg19", 16)])
def test_vgg_table_1_spells_every_layer_as_ours(name: str, convs: int) -> None:
    rows = summary(name, paper=True).paper_table
    assert len(rows) == convs + 5 + 3  # convolutions, five max-pools, three FC layers
    assert {r["spec"]["verdict"] for r in rows} == {"match"}
    assert [r["spec"]["ours"] for r in rows if r["spec"]["ours"].startswith("conv1-")] == (
        ["conv1-256", "conv1-512", "conv1-512"] if name == "vgg16_c" else []
    )
