"""Validated training options and defaults that learn (issue 10): every numeric option is refused up front
through the real CLI (exit 2, the option named, nothing written) and through the API; the default recipe
suits the model and the data; unsuitable augmentations and chance-level runs are reported loudly."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from convzoo.cli import main
from convzoo.registry import create_model
from convzoo.train import trainer as trainer_mod
from convzoo.train.options import (
    chance_level_message,
    data_warnings,
    default_changes,
    default_recipe,
    eval_warnings,
    has_normalization,
    mirror_unsafe,
    parse_val_size,
    validate_config,
)
from convzoo.train.recipes import RECIPES, get_recipe, paper_recipe, with_overrides
from convzoo.train.trainer import TrainConfig

# (options, text the error must contain): each is refused before any data is loaded
BAD_OPTIONS = [
    (["--batch-size", "-8"], "--batch-size"),
    (["--batch-size", "0"], "--batch-size"),
    (["--epochs", "0"], "--epochs"),
    (["--epochs", "-1"], "--epochs"),
    (["--epochs", "nan"], "--epochs"),
    (["--epochs", "inf"], "--epochs"),
    (["--iterations", "0"], "--iterations"),
    (["--iterations", "-5"], "--iterations"),
    (["--epochs", "2", "--iterations", "30"], "--epochs and --iterations"),
    (["--lr", "nan"], "--lr"),
    (["--lr", "inf"], "--lr"),
    (["--lr", "0"], "--lr"),
    (["--lr", "-0.1"], "--lr"),
    (["--momentum", "-0.1"], "--momentum"),
    (["--momentum", "1"], "--momentum"),
    (["--momentum", "nan"], "--momentum"),
    (["--optimizer", "nesterov", "--momentum", "0"], "--momentum"),
    (["--optimizer", "adamm"], "--optimizer"),
    (["--weight-decay=-1e-4"], "--weight-decay"),
    (["--weight-decay", "inf"], "--weight-decay"),
    (["--label-smoothing", "-0.1"], "--label-smoothing"),
    (["--label-smoothing", "1"], "--label-smoothing"),
    (["--clip-grad", "0"], "--clip-grad"),
    (["--clip-grad", "-1"], "--clip-grad"),
    (["--clip-grad", "nan"], "--clip-grad"),
    (["--warmup", "-1"], "--warmup"),
    (["--warmup", "3", "--warmup-lr", "-0.01"], "--warmup-lr"),
    (["--bn-lr-scale", "0"], "--bn-lr-scale"),
    (["--eval-every", "0"], "--eval-every"),
    (["--eval-every", "-1"], "--eval-every"),
    (["--checkpoint-every", "-1"], "--checkpoint-every"),
    (["--checkpoint-minutes", "0"], "--checkpoint-minutes"),
    (["--checkpoint-minutes", "nan"], "--checkpoint-minutes"),
    (["--max-epochs", "0"], "--max-epochs"),
    (["--max-epochs", "-2"], "--max-epochs"),
    (["--per-class", "0"], "--per-class"),
    (["--per-class", "-1"], "--per-class"),
    (["--val-size", "1.0"], "--val-size"),
    (["--val-size", "-3"], "--val-size"),
    (["--val-size", "2.5"], "--val-size"),
    (["--val-size", "nan"], "--val-size"),
    (["--val-size", "ten"], "--val-size"),
    (["--threads", "0"], "--threads"),
    (["--threads", "-2"], "--threads"),
    (["--image-size", "0"], "--image-size"),
    (["--image-size", "-32"], "--image-size"),
    (["--seed", "-1"], "--seed"),
    (["--lookahead", "every=-1"], "--lookahead every"),
    (["--lookahead", "decay=1.5"], "--lookahead decay"),
    (["--lookahead", "power=NaN"], "--lookahead power"),
    (["--lookahead", "speed=2"], "--lookahead knows"),
    (["--small-crops", "size=0"], "--small-crops size"),
    (["--small-crops", "epochs=-1"], "--small-crops epochs"),
    (["--augment", "crop:-3"], "--augment"),
    (["--augment", "lighting:nan"], "--augment"),
    (["--augment", "scale:0.5-0.2"], "--augment"),
    (["--recipe", "resnet_cifar", "--schedule-param", "milestones=5"], "--schedule-param"),
    (["--schedule", "step", "--schedule-param", "gamma=-1"], "--schedule"),
    (["--model-arg", "num_classes=5"], "--model-arg num_classes"),
    (["--interval", "step", "--tta", "flip", "--init", "he", "--batch-size", "-1"], "--batch-size"),
]


@pytest.fixture
def no_training(monkeypatch):
    """Fail the test if the trainer is reached: a refused option must not load data or write anything."""

    def reached(*args, **kwargs):
        raise AssertionError("train() was called: the option was not refused up front")

    monkeypatch.setattr(trainer_mod, "train", reached)
    monkeypatch.setattr(trainer_mod, "load_data", reached)


# ------------------------------------------------------------------------------------- validated inputs


@pytest.mark.parametrize(
    ("options", "named"), BAD_OPTIONS, ids=lambda v: " ".join(v) if isinstance(v, list) else ""
)
def test_cli_refuses_bad_option_up_front(tmp_path, capsys, no_training, options, named):
    out = tmp_path / "runs"
    argv = ["train", "lenet5_modern", "--data", "digits", "--image-size", "32", "--out", str(out), *options]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert named in err and "error:" in err
    assert not out.exists()  # no run folder, no config.json, no checkpoint


def test_cli_messages_name_the_bad_value(capsys, tmp_path, no_training):
    for options, value in (
        (["--batch-size", "-8"], "-8"),
        (["--lr", "nan"], "nan"),
        (["--val-size", "1.0"], "1.0"),
    ):
        assert main(["train", "lenet5_modern", "--out", str(tmp_path / "r"), *options]) == 2
        assert value in capsys.readouterr().err


def test_summary_refuses_class_and_channel_counts_below_one(capsys):
    for options in (["--num-classes", "0"], ["--num-classes", "-5"]):
        assert main(["summary", "lenet5_modern", *options]) == 2
        assert "num_classes must be a whole number >= 1" in capsys.readouterr().err
    for bad in (0, -5, True, 2.0):
        with pytest.raises(ValueError, match="num_classes"):
            create_model("lenet5_modern", num_classes=bad)
        with pytest.raises(ValueError, match="in_chans"):
            create_model("lenet5_modern", in_chans=bad)


def _cfg(recipe=None, **config):
    return TrainConfig(model="lenet5_modern", recipe=recipe or get_recipe("fast"), **config)


API_CASES = [
    ({"batch_size": -8}, {}, "--batch-size"),
    ({"batch_size": 0}, {}, "--batch-size"),
    ({"batch_size": 64.0}, {}, "--batch-size"),
    ({"epochs": 0}, {}, "--epochs"),
    ({"epochs": float("inf")}, {}, "--epochs"),
    ({"epochs": None, "iterations": 0}, {}, "--iterations"),
    ({"iterations": 100}, {}, "exactly one"),  # fast sets epochs: both set
    ({"epochs": None}, {}, "exactly one"),
    ({"lr": float("nan")}, {}, "--lr"),
    ({"lr": True}, {}, "--lr"),
    ({"momentum": 1.5}, {}, "--momentum"),
    ({"weight_decay": -1.0}, {}, "--weight-decay"),
    ({"label_smoothing": 1.0}, {}, "--label-smoothing"),
    ({"clip_grad": -1.0}, {}, "--clip-grad"),
    ({"warmup": -2}, {}, "--warmup"),
    ({"eps": 0.0}, {}, "eps"),
    ({"alpha": 2.0}, {}, "alpha"),
    ({"val_size": 1.0}, {}, "--val-size"),
    ({"val_size": -3}, {}, "--val-size"),
    ({"lookahead": {"every": 0}}, {}, "--lookahead every"),
    ({"lookahead": {"decay": 0.5}}, {}, "--lookahead needs every"),
    ({"small_crops": {"size": -24, "epochs": 4}}, {}, "--small-crops size"),
    ({"small_crops": {"epochs": 4}}, {}, "--small-crops needs size"),
    ({"augment": "crop:4,flip:sideways"}, {}, "--augment"),
    ({"schedule": "cosine", "schedule_params": {"min_lr": -1}}, {}, "--schedule"),
    ({"tta": "mirror"}, {}, "--tta"),
    ({"interval": "hour"}, {}, "--interval"),
    ({}, {"eval_every": 0}, "--eval-every"),
    ({}, {"checkpoint_every": -1}, "--checkpoint-every"),
    ({}, {"checkpoint_minutes": float("nan")}, "--checkpoint-minutes"),
    ({}, {"max_epochs": 0}, "--max-epochs"),
    ({}, {"per_class": -1}, "--per-class"),
    ({}, {"threads": 0}, "--threads"),
    ({}, {"image_size": 0}, "--image-size"),
    ({}, {"seed": 2**64}, "--seed"),
    ({}, {"model_kwargs": {"in_chans": 3}}, "--model-arg in_chans"),
]


@pytest.mark.parametrize(("recipe_changes", "config", "named"), API_CASES)
def test_validate_config_names_the_option(recipe_changes, config, named):
    with pytest.raises(ValueError, match=named.replace("-", r"\-")):
        validate_config(_cfg(get_recipe("fast").replace(**recipe_changes), **config))


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_every_registered_recipe_is_valid(name):
    validate_config(_cfg(get_recipe(name)))


def test_train_api_refuses_before_loading_data(tmp_path, monkeypatch):
    def reached(*args, **kwargs):
        raise AssertionError("data was loaded: the option was not refused up front")

    monkeypatch.setattr(trainer_mod, "load_data", reached)
    cfg = _cfg(get_recipe("fast").replace(batch_size=-8), out_dir=str(tmp_path / "runs"))
    with pytest.raises(ValueError, match="--batch-size"):
        trainer_mod.train(cfg)
    assert not (tmp_path / "runs").exists()


def test_val_size_rule():
    assert parse_val_size("0") == 0 and parse_val_size("5000") == 5000 and parse_val_size("1") == 1
    assert parse_val_size("0.1") == 0.1 and parse_val_size("0") == 0 and parse_val_size(0.0) == 0.0
    assert isinstance(parse_val_size("1"), int) and isinstance(parse_val_size("0.5"), float)
    for bad in ("1.0", "2.5", "-3", "-0.1", "1e3", "inf", "", True, None, 1.0, -1):
        with pytest.raises(ValueError, match="--val-size"):
            parse_val_size(bad)


_NUMBERS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=3),
)
_NUMERIC_RECIPE = [
    "batch_size",
    "epochs",
    "iterations",
    "lr",
    "momentum",
    "weight_decay",
    "bn_lr_scale",
    "eps",
    "alpha",
    "warmup",
    "warmup_lr",
    "label_smoothing",
    "clip_grad",
    "val_size",
]
_NUMERIC_CONFIG = [
    "per_class",
    "image_size",
    "seed",
    "checkpoint_every",
    "checkpoint_minutes",
    "eval_every",
    "max_epochs",
    "threads",
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    recipe_values=st.dictionaries(st.sampled_from(_NUMERIC_RECIPE), _NUMBERS, max_size=4),
    config_values=st.dictionaries(st.sampled_from(_NUMERIC_CONFIG), _NUMBERS, max_size=3),
    lookahead=st.dictionaries(st.sampled_from(["every", "decay", "power", "x"]), _NUMBERS, max_size=3),
    small_crops=st.dictionaries(st.sampled_from(["size", "epochs"]), _NUMBERS, max_size=2),
    schedule=st.sampled_from(["multistep", "onecycle", "step", "cosine", "plateau"]),
    schedule_params=st.dictionaries(
        st.sampled_from(
            ["milestones", "gamma", "pct_start", "div_factor", "step_size", "min_lr", "patience"]
        ),
        st.one_of(_NUMBERS, st.lists(_NUMBERS, max_size=3)),
        max_size=2,
    ),
)
def test_validate_config_accepts_or_raises_value_error(
    recipe_values, config_values, lookahead, small_crops, schedule, schedule_params
):
    recipe = get_recipe("fast").replace(
        **recipe_values,
        lookahead=lookahead,
        small_crops=small_crops,
        schedule=schedule,
        schedule_params=schedule_params,
    )
    try:
        validate_config(_cfg(recipe, **config_values))
    except ValueError as e:
        assert str(e)  # a message, never another exception type
        return
    for key, value in {**recipe_values, **config_values}.items():  # accepted: every value in its range
        assert value is None or (not isinstance(value, bool | str) and math.isfinite(value)), key


# ------------------------------------------------------------------------------------- defaults that learn


@pytest.mark.parametrize(
    ("data", "classes"),
    [
        ("digits", None),
        ("mnist", None),
        ("/data/emnist-letters", None),
        ("/data/svhn", None),
        ("/data/my_set", [str(d) for d in range(10)]),
        ("/data/abc", ["A", "B", "C"]),
    ],
)
def test_digits_and_text_are_never_mirrored_by_default(data, classes):
    assert mirror_unsafe(data, classes)
    for model in ("lenet5_modern", "resnet20_cifar", "airbench94"):
        r = default_recipe(model, data, classes)
        assert "flip" not in r.augment and r.tta == "none"
        assert data_warnings(data, classes or list("0123456789"), r) == []


@pytest.mark.parametrize(
    ("data", "classes"),
    [
        ("cifar10", None),
        ("/data/fashion-mnist", None),
        ("/data/pets", ["cat", "dog"]),
    ],
)
def test_natural_images_keep_the_fast_recipe_flips(data, classes):
    assert mirror_unsafe(data, classes) is None
    r = default_recipe("resnet20_cifar", data, classes)
    assert r.augment == get_recipe("fast").augment and r.tta == get_recipe("fast").tta


def test_default_rate_suits_the_network():
    assert has_normalization("lenet5_modern") is False and has_normalization("resnet20_cifar") is True
    assert has_normalization("mypkg.nets:tiny") is None  # a user's model is never built just to look
    assert default_recipe("lenet5_modern", "cifar10").lr < get_recipe("fast").lr
    assert default_recipe("resnet20_cifar", "cifar10") == get_recipe("fast")  # nothing to change: unchanged
    changes, reasons = default_changes("lenet5_modern", "digits")
    assert changes["batch_size"] == 64 and set(reasons) == set(changes)
    assert default_changes("lenet5_modern", "digits", per_class=30)[0]["batch_size"] == 16


def test_overridden_recipe_never_contradicts_its_description():
    base = get_recipe("fast")
    r = with_overrides(base, {"lr": 0.05, "epochs": 3}, {"lr": "no BN"})
    assert r.lr == 0.05 and r.epochs == 3 and r.name == "fast"
    assert (
        "base recipe 'fast'" in r.summary
        and "lr 0.2 → 0.05 (no BN)" in r.summary
        and "epochs 10 → 3" in r.summary
    )
    assert with_overrides(base, {"lr": base.lr}) is base
    with pytest.raises(ValueError, match="summary"):
        with_overrides(base, {"summary": "anything"})


def test_paper_recipes_are_registered_recipes():
    assert (
        paper_recipe("resnet20_cifar") == "resnet_cifar"
        and paper_recipe("resnet110_cifar") == "resnet110_cifar"
    )
    assert paper_recipe("wrn28_10_cifar") == "wrn_cifar" and paper_recipe("lenet5") is None
    from convzoo.registry import list_models

    assert all(paper_recipe(m) in RECIPES for m in list_models() if paper_recipe(m))


def test_chance_level_is_reported_loudly():
    msg = chance_level_message(91.64, 10)
    assert msg and "chance level" in msg and "8.4 % accuracy on 10 classes" in msg and "did not learn" in msg
    assert chance_level_message(90.0, 10) and chance_level_message(95.0, 10)  # at or below chance
    assert chance_level_message(5.0, 10) is None and chance_level_message(None, 10) is None
    assert chance_level_message(85.0, 10, n_images=20)  # 15 % of 20 images: within noise
    assert chance_level_message(85.0, 10, n_images=10_000) is None
    assert "NaN" in chance_level_message(float("nan"), 10)
    assert chance_level_message(0.0, 1)  # one class: accuracy means nothing


def test_fast_recipe_on_digits_is_warned_about():
    warnings = data_warnings("digits", list("0123456789"), get_recipe("fast"))
    assert any("--augment" in w and "crop:2:reflect" in w for w in warnings)
    assert any("--tta flip-translate" in w for w in warnings)
    assert data_warnings("cifar10", ["airplane", "cat"], get_recipe("fast")) == []
    assert any("1 class" in w for w in data_warnings("/data/x", ["cat"], get_recipe("vgg")))


@pytest.mark.slow
def test_default_recipe_learns_digits_and_records_what_ran(tmp_path, capsys):
    """`convzoo train lenet5_modern --data digits --image-size 32` used to end at 8.36 % (chance)."""
    options = "--data digits --image-size 32 --epochs 5 --threads 1 --name d --no-progress"
    argv = ["train", "lenet5_modern", *options.split(), "--out", str(tmp_path)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "recipe: fast (the default" in out and "lr 0.2 → 0.05" in out and "no mirroring" in out
    acc = float(out.split("test accuracy ")[1].split("%")[0])
    assert acc > 80
    recipe = json.loads((tmp_path / "d" / "config.json").read_text())["recipe"]
    assert recipe["lr"] == 0.05 and recipe["batch_size"] == 64 and recipe["tta"] == "none"
    assert "flip" not in recipe["augment"] and recipe["epochs"] == 5
    summary = recipe["summary"]  # never the base recipe's description, which says lr 0.2 and flips
    assert summary != get_recipe("fast").summary and "0.05" in summary and "batch_size" in summary

    assert main(["eval", str(tmp_path / "d"), "--tta", "flip-translate"]) == 0
    err = capsys.readouterr().err
    assert "WARNING: --tta flip-translate" in err and "use --tta none" in err


def test_iterations_alone_replace_the_recipes_epochs():
    from convzoo.cli import build_parser
    from convzoo.train.cli import build_config

    cfg = build_config(
        build_parser().parse_args(["train", "resnet20_cifar", "--iterations", "30", "--val-size", "0.1"])
    )
    assert cfg.recipe.iterations == 30 and cfg.recipe.epochs is None and cfg.recipe.val_size == 0.1
    validate_config(cfg)
    cfg = build_config(
        build_parser().parse_args(["train", "resnet20_cifar", "--recipe", "resnet_cifar", "--epochs", "2"])
    )
    assert (
        cfg.recipe.epochs == 2
        and cfg.recipe.iterations is None
        and "iterations 64000 → None" in cfg.recipe.summary
    )
    validate_config(cfg)


@pytest.mark.parametrize(
    "argv",
    [
        ["eval", "runs/x", "--per-class", "-1"],
        ["eval", "runs/x", "--per-class", "0"],
        ["predict", "runs/x", "a.png", "--top", "0"],
        ["predict", "runs/x", "a.png", "--top", "-3"],
        ["predict", "runs/x", "a.png", "--top", "2.5"],
    ],
)
def test_eval_and_predict_refuse_counts_below_one(argv, capsys):
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    assert f"argument {argv[-2]}: must be a whole number >= 1, got {argv[-1]!r}" in capsys.readouterr().err


def test_eval_tta_on_digits_warns(tmp_path, capsys):
    """`eval --tta flip-translate` on digits mirrored them silently (88.86 % instead of 96.66 %)."""
    from convzoo.train.checkpoint import save_checkpoint

    meta = {
        "model": "lenet5_modern", "num_classes": 10, "in_chans": 1, "image_size": [1, 32, 32],
        "classes": [str(d) for d in range(10)], "mean": [0.2], "std": [0.3], "data": "digits",
        "model_kwargs": {}, "resize": 32,
    }  # fmt: skip
    save_checkpoint(tmp_path, create_model("lenet5_modern"), {"loop": {}}, meta, index=1)
    weights = tmp_path / "ckpt_000001" / "model.safetensors"
    assert eval_warnings(weights, None, "none") == []
    assert "are characters" in eval_warnings(weights, "/data/other", "flip")[0]  # the checkpoint's classes
    assert main(["eval", str(weights), "--tta", "flip-translate", "--per-class", "2"]) == 0
    err = capsys.readouterr().err
    assert "WARNING: --tta flip-translate" in err and "'digits' holds digits" in err and "--tta none" in err
    assert eval_warnings(tmp_path / "missing", "mnist", "flip")  # unreadable: the data named still counts


def test_cli_default_for_a_folder_of_character_classes(tmp_path, capsys, monkeypatch):
    for c in "0123456789":
        (tmp_path / "data" / "train" / c).mkdir(parents=True)
    (tmp_path / "data" / "train" / ".ipynb_checkpoints").mkdir()  # hidden: not a class
    seen = []

    def fake_train(cfg):
        seen.append(cfg)
        raise ValueError("stopped by the test")

    monkeypatch.setattr(trainer_mod, "train", fake_train)
    assert (
        main(["train", "resnet20_cifar", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "r")]) == 2
    )
    recipe = seen[0].recipe
    assert "flip" not in recipe.augment and recipe.tta == "none" and recipe.lr == get_recipe("fast").lr
    out = capsys.readouterr().out
    assert "no mirroring: its classes (0, 1, 2, 3, ...) are characters" in out
    assert "the paper's own recipe: --recipe resnet_cifar" in out
