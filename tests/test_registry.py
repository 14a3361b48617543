"""The registry: create_model, list_models, model_info, and their errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import convzoo
from convzoo import registry
from convzoo.models._base import ZooModel
from convzoo.registry import Paper, Reported, UnknownModelError, parse_figure, register_model

PAPER = Paper("A. Author, B. Author", "A test network", 2024, arxiv="0000.00000")


class Tiny(ZooModel):
    def __init__(self, num_classes: int = 10, in_chans: int = 3, width: int = 4) -> None:
        super().__init__()
        self.num_classes, self.in_chans = num_classes, in_chans
        self.conv = nn.Conv2d(in_chans, width, 3, padding=1)
        self.fc = nn.Linear(width, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x).mean((2, 3))

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x)


@pytest.fixture
def tiny_registered(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))

    @register_model(paper=PAPER, input_size=(3, 8, 8), num_classes=10, reported=Reported(params="0.1K"), accepts=Tiny)
    def tiny_testnet(**kwargs: object) -> Tiny:
        """A tiny test network (Author & Author 2024, arXiv:0000.00000)."""
        return Tiny(**kwargs)  # type: ignore[arg-type]

    return "tiny_testnet"


def test_create_and_info(tiny_registered: str) -> None:
    m = convzoo.create_model(tiny_registered, num_classes=3, in_chans=1, width=2)
    assert isinstance(m, Tiny) and m.num_classes == 3 and m.in_chans == 1
    assert m(torch.randn(2, 1, 8, 8)).shape == (2, 3)
    info = convzoo.model_info(tiny_registered)
    assert info.paper.arxiv == "0000.00000" and info.input_size == (3, 8, 8)
    assert set(info.accepts) == {"num_classes", "in_chans", "width"}
    d = info.to_dict()
    assert d["reported"] == {"params": "0.1K"} and "arXiv:0000.00000" in d["citation"]
    assert tiny_registered in convzoo.list_models("tiny_*")


def test_unknown_model_suggests_closest(tiny_registered: str) -> None:
    with pytest.raises(UnknownModelError, match="Did you mean: tiny_testnet"):
        convzoo.create_model("tiny_testnte")
    with pytest.raises(UnknownModelError, match="convzoo list"):
        convzoo.model_info("qqqqqqqqqqqq")


def test_unknown_override_names_allowed_ones(tiny_registered: str) -> None:
    with pytest.raises(TypeError, match="does not take 'depth'.*it takes: num_classes, in_chans, width"):
        convzoo.create_model(tiny_registered, depth=3)


def test_registration_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    with pytest.raises(ValueError, match="docstring"):

        @register_model(paper=PAPER)
        def undocumented() -> nn.Module:
            return nn.Identity()

    with pytest.raises(TypeError, match="accepts="):

        @register_model(paper=PAPER)
        def takes_kwargs(**kwargs: object) -> nn.Module:
            """Doc."""
            return nn.Identity()

    with pytest.raises(ValueError, match="cannot parse"):
        register_model(paper=PAPER, reported={"params": "lots"})


def test_parse_figure_precision() -> None:
    assert parse_figure("0.27M") == (270000.0, 5000.0)
    assert parse_figure("138M") == (138e6, 0.5e6)
    assert parse_figure(25557032) == (25557032.0, 0.5)
    assert parse_figure("4.09G") == pytest.approx((4.09e9, 0.005e9))


def test_meta_build_allocates_nothing(tiny_registered: str) -> None:
    with torch.device("meta"):
        m = convzoo.create_model(tiny_registered)
    assert all(p.is_meta for p in m.parameters())


def test_paper_check_exits_nonzero_on_an_unexplained_difference(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from convzoo.cli import main

    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))

    @register_model(paper=PAPER, input_size=(3, 8, 8), num_classes=10, reported={"params": "1M"}, accepts=Tiny)
    def tiny_wrong(**kwargs: object) -> Tiny:
        """A tiny net whose paper claims 1M parameters."""
        return Tiny(**kwargs)  # type: ignore[arg-type]

    @register_model(
        paper=PAPER, input_size=(3, 8, 8), num_classes=10, reported={"params": "1M"}, note="we drop a layer", accepts=Tiny
    )
    def tiny_noted(**kwargs: object) -> Tiny:
        """The same, with a note explaining the difference."""
        return Tiny(**kwargs)  # type: ignore[arg-type]

    assert main(["paper-check", "tiny_wrong"]) == 1
    assert "Unexplained: tiny_wrong" in capsys.readouterr().out
    assert main(["paper-check", "tiny_noted"]) == 0
    out = capsys.readouterr().out
    assert "differs-explained" in out and "we drop a layer" in out
