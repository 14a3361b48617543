"""Numbers and their notes that say what is true (issue 23): where a paper's figure comes from and why ours
differs; the Keras view; the paper's table in its own units; paper-check's figures only; lines that fit; user
docs without the project's internal references."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from convzoo.cli import main
from convzoo.inspect import summary
from convzoo.inspect.paper_check import _verdict, check_model
from convzoo.registry import model_info

ROOT = Path(__file__).resolve().parent.parent


def test_resnet_table1_figures_are_explained_by_what_they_count() -> None:
    option_a = summary("resnet34", projection="A").total_macs
    assert option_a == summary("plain34").total_macs and _verdict(option_a, "3.6G", None) == "match"
    assert "option-A" in (model_info("resnet34").note or "") and "truncat" not in (model_info("resnet34").note or "")
    note50 = model_info("resnet50").note or ""
    assert "SENet" in note50 and "3.86" in note50 and "truncat" not in note50


def test_resnext29_16x64d_count_without_bn_is_the_papers() -> None:
    import torch

    import convzoo

    with torch.device("meta"):
        m = convzoo.create_model("resnext29_16x64d_cifar")
    bn = sum(p.numel() for mod in m.modules() if isinstance(mod, torch.nn.BatchNorm2d) for p in mod.parameters())
    total = sum(p.numel() for p in m.parameters())
    assert _verdict(total - bn, "68.1M", None) == "match" and _verdict(total, "68.1M", None) == "differs"
    assert f"{bn:,}" in (model_info("resnext29_16x64d_cifar").note or "")


def test_sources_name_the_right_tables() -> None:
    assert model_info("wrn16_8_cifar").reported.source.startswith("Table 4")  # type: ignore[union-attr]
    assert model_info("wrn40_4_cifar").reported.source.startswith("Table 4")  # type: ignore[union-attr]
    assert model_info("resnext50_32x4d").reported.source.startswith("Table 1")  # type: ignore[union-attr]


def test_inception_v3_bound_is_checked_on_the_inference_net() -> None:
    rows = [c for c in check_model("inception_v3").comparisons if c.paper == "<25M"]
    assert len(rows) == 1 and rows[0].verdict == "match" and 23_000_000 < rows[0].ours < 25_000_000
    assert "aux_logits=False" in (rows[0].note or "")


def test_keras_view_counts_as_keras_does() -> None:
    text = summary("resnet50").to_keras()
    assert "(GlobalAveragePooling2D)" in text and "(None, 2048)" in text and "(None, 1, 1, 2048)" not in text
    assert "25,610,152" in text and "26,560 more: 25,636,712" in text  # keras.applications.ResNet50's count


def test_paper_table_legend_and_units(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["summary", "googlenet", "--paper"]) == 0
    out = capsys.readouterr().out
    assert "✗ marks our figure where it differs" in out
    row = next(line for line in out.splitlines() if line.startswith("inception (5a)"))
    assert "1072K" in row and "1,018.0K" in row and "1.02M" not in row


def test_paper_check_only_figures(capsys: pytest.CaptureFixture[str]) -> None:
    main(["paper-check", "resnet*", "--only-figures"])
    out = capsys.readouterr().out
    assert "no-figure" not in out.split("\n\n")[0] and "resnet50" in out
    main(["paper-check", "resnet*"])
    assert "no-figure" in capsys.readouterr().out


def test_list_fits_the_terminal(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines and max(map(len, lines)) <= 80
    monkeypatch.delenv("COLUMNS")
    assert main(["list", "resnet50"]) == 0  # piped: whole lines, for grep
    assert capsys.readouterr().out.rstrip().endswith(model_info("resnet50").description)


@pytest.mark.parametrize("doc", ["README.md", "docs/training.md", "docs/deploy.md", "docs/performance.md"])
def test_user_docs_speak_without_internal_references(doc: str) -> None:
    text = (ROOT / doc).read_text(encoding="utf-8")
    assert not re.findall(r"\b(?:issue|stop) \d+\b|the issue's|this AVX2 CPU", text)
    if doc == "docs/training.md":
        assert "make demo` runs exactly" not in text and "LeNet-5 on scikit-learn's 8×8 digits, < 2 min" not in text
