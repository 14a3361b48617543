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
