"""The CNN-scale optimizer comparison, through the trainer, on a tiny fixed CIFAR-10 subset."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from convzoo.cli import main
from convzoo.data.datasets import _cifar10_jpg_default
from convzoo.lab.cnn import compare_optimizers


def test_bad_arguments_fail_before_any_data_is_read(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown optimizer 'adamax'"):
        compare_optimizers(optimizers=["sgd", "adamax"], out_dir=tmp_path, data=str(tmp_path / "nowhere"))
    with pytest.raises(ValueError, match="learning rate for adam must be a positive number"):
        compare_optimizers(optimizers=["adam"], lrs={"adam": -1.0}, out_dir=tmp_path, data="nowhere")
    with pytest.raises(ValueError, match="at least one optimizer"):
        compare_optimizers(optimizers=[], out_dir=tmp_path)


@pytest.mark.slow
@pytest.mark.skipif(
    not (_cifar10_jpg_default() / "train").is_dir(),
    reason=f"CIFAR-10 JPEG folder not found at {_cifar10_jpg_default()} (set CONVZOO_CIFAR10_JPG)",
)
def test_compare_optimizers_on_a_tiny_subset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "optim",
            "cnn",
            "--model",
            "lenet5_modern",
            "--optimizers",
            "sgd",
            "adam",
            "--epochs",
            "2",
            "--per-class",
            "3",
            "--batch-size",
            "10",
            "--device",
            "cpu",
            "--out",
            str(tmp_path),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0 and "lenet5_modern" in out and "adam" in out
    png = tmp_path / "optimizers.png"
    assert png.stat().st_size > 10_000
    with (tmp_path / "optimizers.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [(r["optimizer"], r["epoch"]) for r in rows] == [
        ("sgd", "1"),
        ("sgd", "2"),
        ("adam", "1"),
        ("adam", "2"),
    ]
    assert {float(r["lr"]) for r in rows} == {0.1, 0.001}
    assert all(0 <= float(r["test_err"]) <= 100 for r in rows)
