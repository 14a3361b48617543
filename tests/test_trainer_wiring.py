"""The trainer wired to the default recipe and the data warnings of :mod:`convzoo.train.options` (issue 10).

Classes of case: the API's default recipe is the CLI's (printed, recorded, resumed exactly); a recipe that
does not suit the data is warned about when training starts, whatever names the data; config.json's recipe
summary keeps every change's reason and never leaves a change out.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from convzoo.cli import build_parser
from convzoo.data import load_data
from convzoo.train import TrainConfig, train
from convzoo.train.cli import build_config
from convzoo.train.options import default_recipe
from convzoo.train.recipes import get_recipe, with_overrides
from convzoo.train.trainer import _recipe_record


class Tiny(nn.Module):
    def __init__(self, num_classes: int = 10, in_chans: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_chans, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.bn(self.conv(x))).mean((2, 3)))


def tiny(num_classes: int = 10, in_chans: int = 1) -> Tiny:
    return Tiny(num_classes, in_chans)


MODEL = "test_trainer_wiring:tiny"


def _cfg(tmp_path: Path, name: str = "run", **over) -> TrainConfig:
    kw = dict(
        model=MODEL,
        data="digits",
        per_class=10,
        out_dir=str(tmp_path / "runs"),
        name=name,
        progress=False,
        threads=1,
        amp=False,
        channels_last=False,
        max_epochs=1,
    )
    kw.update(over)
    return TrainConfig(**kw)


def _run(cfg: TrainConfig):
    lines: list[str] = []
    return train(cfg, log=lines.append), lines


def _recorded_recipe(tmp_path: Path, name: str = "run") -> dict:
    return json.loads((tmp_path / "runs" / name / "config.json").read_text())["recipe"]


# --- the API's default recipe is the CLI's


def test_api_default_recipe_is_the_clis_printed_and_recorded(tmp_path):
    res, lines = _run(_cfg(tmp_path))
    cli = build_config(build_parser().parse_args(["train", MODEL, "--data", "digits", "--per-class", "10"]))
    recorded = _recorded_recipe(tmp_path)
    assert {k: v for k, v in recorded.items() if k != "changed_from_recipe"} == cli.recipe.to_dict()
    assert recorded["augment"] == "crop:2:reflect" and recorded["tta"] == "none"  # digits are not mirrored
    assert recorded["batch_size"] == 16  # 100 images: more steps an epoch than fast's batch of 128 gives
    assert "no mirroring" in recorded["summary"] and "100 training images" in recorded["summary"]
    assert any(s.startswith("recipe: fast (the default") and "no mirroring" in s for s in lines)
    assert not any("mirror" in w for w in res.warnings)  # the default recipe suits the data


def test_default_recipe_follows_the_datas_classes_not_only_its_name(tmp_path):
    data = load_data("digits", per_class=20)  # classes '0'..'9', under a name that says nothing
    train(_cfg(tmp_path, data="my_images", per_class=20), data=data, log=lambda s: None)
    recorded = _recorded_recipe(tmp_path)
    assert recorded["augment"] == "crop:2:reflect" and recorded["tta"] == "none"
    assert "are characters" in recorded["summary"]
    assert recorded == _recipe_record(default_recipe(MODEL, "my_images", data.classes, per_class=20))


def test_default_recipe_resumes_exactly(tmp_path):
    whole, _ = _run(_cfg(tmp_path, name="whole", max_epochs=2))
    _run(_cfg(tmp_path, name="split", max_epochs=1))
    resumed, lines = _run(_cfg(tmp_path, name="split", max_epochs=2, resume=True))
    changes = [s for s in lines if s.startswith("resume changes")]
    assert changes == ["resume changes max_epochs 1 -> 2"]  # the recipe resolved again is the one saved
    a, b = whole.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert _recorded_recipe(tmp_path, "whole") == _recorded_recipe(tmp_path, "split")


# --- a recipe that does not suit the data is warned about at the start


@pytest.mark.parametrize(
    ("data_name", "why"),
    [("digits", "'digits' holds digits"), ("my_images", "its classes (0, 1, 2, 3, ...) are characters")],
)
def test_mirroring_recipe_on_digits_warns_when_training_starts(tmp_path, data_name, why):
    data = load_data("digits", per_class=10)
    recipe = get_recipe("fast").replace(epochs=1, batch_size=20)  # flip:alt and flip-translate TTA
    lines: list[str] = []
    res = train(_cfg(tmp_path, data=data_name, recipe=recipe), data=data, log=lines.append)
    mirror = [w for w in res.warnings if "mirror" in w]
    assert len(mirror) == 2 and all(why in w for w in mirror)
    assert "--augment crop:2:reflect,flip:alt mirrors the training images" in mirror[0]
    assert "--tta flip-translate" in mirror[1] and "use --tta none" in mirror[1]
    first_step = next(i for i, s in enumerate(lines) if s.startswith("training "))
    assert all(lines.index(w) < first_step for w in mirror)  # said before training, not after


def test_recipe_that_suits_the_data_gives_no_warning(tmp_path):
    recipe = get_recipe("fast").replace(epochs=1, batch_size=20, augment="crop:2:reflect", tta="none")
    res, lines = _run(_cfg(tmp_path, recipe=recipe))
    assert not any("mirror" in s for s in lines) and not any("mirror" in w for w in res.warnings)


# --- config.json's summary: every change, with its reason


def test_record_keeps_the_reasons_of_an_annotated_recipe():
    r = default_recipe("lenet5_modern", "digits")
    d = _recipe_record(r)
    assert d["summary"] == r.summary and "(lenet5_modern has no normalization layers" in d["summary"]
    assert d["changed_from_recipe"]["lr"] == [0.2, 0.05]


def test_record_lists_a_change_the_annotated_summary_leaves_out():
    r = default_recipe("lenet5_modern", "digits").replace(epochs=3)
    d = _recipe_record(r)
    assert d["summary"].startswith(r.summary)  # the reasons kept
    assert d["summary"].endswith("[also changed: epochs 10 → 3]")
    for k, (old, new) in d["changed_from_recipe"].items():
        assert f"{k} {old!r} → {new!r}" in d["summary"]


def test_record_annotates_the_named_recipes_own_summary():
    base = get_recipe("fast")
    d = _recipe_record(base.replace(lr=0.1))
    assert d["summary"] == with_overrides(base, {"lr": 0.1}).summary
    assert (
        "changed_from_recipe" not in _recipe_record(base) and _recipe_record(base)["summary"] == base.summary
    )


# --- streaming an image folder (issue 15)


def _jpeg_folder(root: Path, per_class: int = 8, val: int = 2) -> Path:
    """3 classes of 40×56 JPEGs (a colour and a gradient each), train/ and val/."""
    from PIL import Image

    g = torch.Generator().manual_seed(0)
    for split, n in (("train", per_class), ("val", val)):
        for c, name in enumerate(("ant", "bee", "cat")):
            (root / split / name).mkdir(parents=True)
            for i in range(n):
                a = torch.randint(0, 60, (40, 56, 3), generator=g)
                a[..., c] += 150 + 2 * torch.arange(56)[None, :] // 3
                Image.fromarray(a.clamp(0, 255).to(torch.uint8).numpy()).save(
                    root / split / name / f"{i}.jpg"
                )
    return root


def _stream_cfg(tmp_path: Path, folder: Path, name: str, **over) -> TrainConfig:
    recipe = get_recipe("fast").replace(
        epochs=2, batch_size=10, amp=False, channels_last=False, tta="none", paper_augment="alexnet"
    )  # 24 images: global batches of 10, 10 and 4; AlexNet's crops, mirrors and lighting noise
    kw = dict(model="test_trainer_wiring:tiny", data=str(folder), recipe=recipe, image_size=32, stream=True)
    kw.update(workers=0, out_dir=str(tmp_path / "runs"), name=name, progress=False, threads=1)
    kw.update(over)
    return TrainConfig(**kw)


@pytest.fixture(scope="module")
def jpegs(tmp_path_factory) -> Path:
    return _jpeg_folder(tmp_path_factory.mktemp("jpegs"))


def test_streamed_run_stopped_mid_epoch_resumes_bit_identical(tmp_path, jpegs):
    whole, lines = _run(_stream_cfg(tmp_path, jpegs, "whole"))
    assert "data: stream (forced)" in lines and any(
        s.startswith("streaming: images augmented") for s in lines
    )
    _run(_stream_cfg(tmp_path, jpegs, "split", max_epochs=1.5))  # stops after step 5 of 6, mid-epoch 2
    resumed, lines = _run(_stream_cfg(tmp_path, jpegs, "split", resume=True))
    assert any("at step 5 (epoch 2)" in s for s in lines)
    a, b = whole.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    for key in ("val_loss", "val_err", "lr"):  # the split run also has a row where its budget stopped
        assert whole.metrics[-1][key] == resumed.metrics[-1][key]
    assert resumed.metrics[-1]["step"] == 6 and resumed.final_val_err is not None


def test_streamed_checkpoint_records_the_streams_statistics(tmp_path, jpegs):
    from convzoo.data.stream import stream_splits
    from convzoo.train.checkpoint import find_checkpoint, read_metadata

    _run(_stream_cfg(tmp_path, jpegs, "run", max_epochs=1))
    meta = read_metadata(find_checkpoint(tmp_path / "runs" / "run"))
    splits = stream_splits(jpegs, augment="alexnet", crop=32)
    assert list(meta.classes) == ["ant", "bee", "cat"] and tuple(meta.image_size) == (3, 32, 32)
    assert tuple(meta.mean) == pytest.approx(splits.mean) and tuple(meta.std) == pytest.approx(splits.std)
    config = json.loads((tmp_path / "runs" / "run" / "config.json").read_text())
    assert config["resolved"]["streamed"] is True and config["resolved"]["steps_per_epoch"] == 3
    assert config["resolved"]["train_images"] == 24 and config["resolved"]["val_images"] == 6


def test_in_memory_run_refuses_to_resume_streamed(tmp_path, jpegs):
    _run(_stream_cfg(tmp_path, jpegs, "run", max_epochs=1))
    with pytest.raises(ValueError, match=r"stream: True -> False"):
        _run(_stream_cfg(tmp_path, jpegs, "run", resume=True, stream=False))


def test_stream_needs_a_folder_and_a_crop(tmp_path, jpegs):
    with pytest.raises(ValueError, match="no image folder with a train/ folder"):
        _run(_cfg(tmp_path, stream=True))
    with pytest.raises(ValueError, match="the crop is unknown"):
        _run(_stream_cfg(tmp_path, jpegs, "run", image_size=None))


def test_uneven_slices_of_a_global_batch_weigh_the_loss_as_its_mean(jpegs):
    """25 images in global batches of 10, 10, 5: two processes take 3 and 2 of the last; scaled by
    len(y)·world/5 their mean losses average (as DDP averages gradients) to the mean over the 5."""
    from convzoo.data.stream import stream_splits
    from convzoo.train.distributed import DistInfo
    from convzoo.train.sources import Streamed

    splits = stream_splits(jpegs, crop=16)
    splits.train = splits.train.per_class(8)
    files, labels = splits.train.files, splits.train.labels
    splits.train = type(splits.train)(
        splits.train.root, files + files[:1], labels + labels[:1], splits.train.classes
    )
    per_rank = [
        list(
            Streamed(splits, seed=0).batches(
                0, 0, spe=3, batch=10, info=DistInfo(r, 2), device=torch.device("cpu")
            )
        )
        for r in (0, 1)
    ]
    assert [len(b[1]) for b in per_rank[0]] == [5, 5, 3] and [len(b[1]) for b in per_rank[1]] == [5, 5, 2]
    assert [b[2] for b in per_rank[0]] == [1.0, 1.0, 1.2] and [b[2] for b in per_rank[1]] == [1.0, 1.0, 0.8]
    losses = [
        torch.arange(float(len(b[1]))) + 1 for b in (per_rank[0][2], per_rank[1][2])
    ]  # any per-image loss
    ddp_mean = sum(v.mean() * b[2] for v, b in zip(losses, (per_rank[0][2], per_rank[1][2]), strict=True)) / 2
    assert ddp_mean.item() == pytest.approx(torch.cat(losses).mean().item())


def test_cli_flags_choose_the_data_path():
    parse = build_parser().parse_args
    assert build_config(parse(["train", MODEL, "--data", "x", "--stream", "--workers", "0"])).stream is True
    assert build_config(parse(["train", MODEL, "--data", "x", "--in-memory"])).stream is False
    assert build_config(parse(["train", MODEL, "--data", "x"])).stream is None
    with pytest.raises(SystemExit):
        parse(["train", MODEL, "--stream", "--in-memory"])


@pytest.mark.parametrize("workers", [-1, 1.5, 10_000])
def test_bad_worker_count_is_refused_naming_the_option(tmp_path, workers):
    with pytest.raises(ValueError, match="--workers"):
        _run(_cfg(tmp_path, workers=workers))
    assert not (tmp_path / "runs").exists()  # refused before anything was written


def test_small_folder_is_loaded_into_memory_by_default_and_says_so(tmp_path, jpegs):
    recipe = get_recipe("fast").replace(epochs=1, batch_size=4, amp=False, tta="none", augment="crop:1")
    res, lines = _run(_stream_cfg(tmp_path, jpegs, "run", stream=None, recipe=recipe))
    assert any(s.startswith("data: in memory (24 training images") for s in lines)
    assert not any(s.startswith("streaming:") for s in lines)
    assert (
        json.loads((tmp_path / "runs" / "run" / "config.json").read_text())["resolved"]["streamed"] is False
    )


def test_cli_streams_a_folder(tmp_path, jpegs, capsys):
    from convzoo.train.cli import main

    argv = ["train", MODEL, "--data", str(jpegs), "--stream", "--workers", "0", "--image-size", "24"]
    argv += ["--recipe", "fast", "--epochs", "1", "--batch-size", "8", "--no-amp", "--no-progress"]
    assert main([*argv, "--out", str(tmp_path), "--name", "cli", "--tta", "none", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "data: stream (forced)" in out and "3 steps (1 epochs of 3)" in out
    config = json.loads((tmp_path / "cli" / "config.json").read_text())
    assert config["stream"] is True and config["workers"] == 0 and config["resolved"]["streamed"] is True


@pytest.mark.slow
def test_streamed_run_is_the_same_whatever_the_number_of_workers(tmp_path, jpegs):
    runs = [_run(_stream_cfg(tmp_path, jpegs, f"w{w}", workers=w, max_epochs=1))[0] for w in (0, 2)]
    a, b = (r.model.state_dict() for r in runs)
    assert all(torch.equal(a[k], b[k]) for k in a)
