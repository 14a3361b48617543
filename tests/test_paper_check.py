"""paper-check compares our counts with the papers' own figures, each with its source; peers' exact counts
are parity checks, labelled as such, never the paper's figure."""

from __future__ import annotations

import json

import pytest
from torch import nn

import convzoo
from convzoo import registry
from convzoo.inspect.paper_check import VERDICTS, _verdict, check_model, format_checks, paper_check
from convzoo.registry import Figure, Paper, register_model

KEYS = {"model", "figure", "ours", "paper", "source", "verdict", "note", "kind", "input_size"}
# Models whose "reported params" used to be torchvision's or timm's exact count, ticked against itself.
PEER_COUNTED = [
    "resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "densenet121", "densenet169", "densenet201",
    "se_resnet50", "se_resnet101", "se_resnet152", "se_resnext50_32x4d", "senet154", "wide_resnet50_2",
    "preact_resnet152",
]  # fmt: skip


@pytest.fixture(scope="module")
def everything() -> list[dict[str, object]]:
    return json.loads(format_checks(paper_check(), "json"))


def test_json_is_a_list_of_comparisons_each_with_its_provenance(everything: list[dict[str, object]]) -> None:
    assert {c["model"] for c in everything} == set(convzoo.list_models())
    for c in everything:
        assert set(c) == KEYS and c["verdict"] in VERDICTS and c["kind"] in ("paper", "peer"), c
        if c["paper"] is None:
            assert c["verdict"] == "no-figure" and c["source"] is None
        else:
            assert isinstance(c["source"], str) and c["source"].strip(), c
        if c["verdict"] == "differs-explained":
            assert c["note"], c
    assert not [c for c in everything if c["verdict"] == "differs"]


@pytest.mark.parametrize("name", PEER_COUNTED)
def test_peer_counts_are_parity_checks_not_paper_figures(name: str) -> None:
    comps = check_model(name).comparisons
    paper_params = [c for c in comps if c.kind == "paper" and c.figure == "params"]
    assert [c.verdict for c in paper_params] == ["no-figure"]  # none of these papers prints the count
    (peer,) = [c for c in comps if c.kind == "peer" and c.figure == "params"]
    assert peer.verdict == "match" and peer.source and peer.source.split()[0] in ("torchvision", "timm")
    assert any(ch.isdigit() for ch in peer.source), "a peer figure names the library's version"


def test_no_exact_peer_count_is_stored_as_a_paper_figure() -> None:
    """Papers round their counts ("25.0M", "138M"); an exact count of millions is a library's, marked peer."""
    for name in convzoo.list_models():
        rep = convzoo.model_info(name).reported
        figures = [Figure(k, getattr(rep, k), rep.source or "") for k in ("params", "macs") if getattr(rep, k)]
        for f in figures + [f for f in rep.figures if not f.peer]:
            assert not (isinstance(f.value, int) and f.value >= 1_000_000), (name, f)


@pytest.mark.parametrize(
    ("name", "figure", "value", "source"),
    [
        ("googlenet", "macs", "1.5G", "Section 1"),
        ("inception_v3", "macs", "5G", "Abstract"),
        ("inception_v3", "params", "<25M", "Abstract"),
        ("resnet18", "macs", "1.8G", "Tables 1"),
        ("resnet152", "macs", "11.3G", "Tables 1"),
        ("vgg11", "params", "133M", "Table 2"),
        ("vgg19", "params", "144M", "Table 2"),
    ],
)
def test_figures_the_papers_publish_are_checked(name: str, figure: str, value: str, source: str) -> None:
    (c,) = [c for c in check_model(name).comparisons if c.kind == "paper" and c.figure == figure]
    assert (c.paper, c.source and c.source.startswith(source)) == (value, True)
    assert c.verdict in ("match", "differs-explained")


def test_bounds_and_precision() -> None:
    assert _verdict(23_830_000, "<25M", None) == "match"
    assert _verdict(27_161_264, "<25M", None) == "differs"
    assert _verdict(27_161_264, "<25M", "the auxiliary head") == "differs-explained"
    assert _verdict(269_722, "0.27M", None) == "match" and _verdict(280_000, "0.27M", None) == "differs"


def test_units_follow_the_magnitude() -> None:
    text = format_checks([check_model("lenet5")])
    assert "0.000" not in text and "325.7 K" in text and "60 K" in text


def test_a_figure_must_name_its_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    paper = Paper("A. Author", "A paper", 2020, arxiv="2001.00001")
    with pytest.raises(ValueError, match="names its source"):
        register_model(paper=paper, reported={"figures": (Figure("params", "1M", ""),)})(lambda: nn.Identity())
    with pytest.raises(ValueError, match="cannot parse"):
        register_model(paper=paper, reported={"figures": (Figure("macs", "many", "Table 1"),)})(lambda: nn.Identity())


def test_table_lists_peers_apart() -> None:
    text = format_checks(paper_check("resnet50"))
    papers, peers = text.split("Parity with peer libraries (not the papers' figures)")
    assert "torchvision 0.29" not in papers and "torchvision 0.29 resnet50" in peers
    assert "Tables 1, 3 (10-crop)" in papers and "note:" in papers


def test_info_labels_peer_figures(capsys: pytest.CaptureFixture[str]) -> None:
    from convzoo.cli import main

    assert main(["info", "resnet50"]) == 0
    out = capsys.readouterr().out
    assert "peer figure (a parity check, not the paper's) params: 25557032 (torchvision 0.29" in out
    assert "reported params" not in out and "reported macs: 3.8G" in out
