"""Validated training options, and defaults that suit the model and the data.

:func:`validate_config` checks every numeric option of a run before any data is loaded; its errors name the
option as the command line spells it (``--batch-size``) and the bad value. :func:`default_recipe` is the
recipe ``convzoo train`` uses when no ``--recipe`` is given: ``fast``, adapted to the model (a learning rate a
network without normalization layers survives) and to the data (no mirroring of digits or text), with every
change and its reason recorded in the recipe's summary. :func:`data_warnings` and :func:`chance_level_message`
say loudly when an augmentation does not suit the data and when a run ended at chance level.

The ``--val-size`` rule: a whole number is a count of training images held out (0: none); a number with a
decimal point, or any value below 1, is a fraction of the training split in [0, 1). So ``1`` holds out one
image, and ``1.0``, ``2.5`` and ``-3`` are refused.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from convzoo.cli_args import (
    MAX_SIDE,
    MAX_THREADS,
    MAX_TRAIN_BATCH,
    MAX_WORKERS,
    THREADS_WHY,
    WORKERS_WHY,
    whole_number,
)
from convzoo.train.recipes import TTA_MODES, Recipe, get_recipe, with_overrides

if TYPE_CHECKING:
    from convzoo.train.config import TrainConfig

__all__ = [
    "chance_level_message",
    "data_warnings",
    "default_changes",
    "default_recipe",
    "eval_warnings",
    "has_normalization",
    "known_train_images",
    "mirror_unsafe",
    "parse_val_size",
    "tta_warnings",
    "validate_config",
    "whole_number",
]

_MAX_SEED = 2**63  # torch generators take seeds below 2**64; _mix keeps 63 bits


@dataclass(frozen=True)
class _Range:
    """A number ``low`` (≤ or <) value (≤ or <) ``high``; ``whole``: an int; ``optional``: None allowed."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    whole: bool = False
    optional: bool = False
    why: str = ""  # where ``high`` comes from, for the message

    def describe(self) -> str:
        kind = "a whole number" if self.whole else "a finite number"
        lo = f"{'>' if self.low_open else '>='} {self.low:g}" if self.low is not None else ""
        hi = f"{'<' if self.high_open else '<='} {self.high:g}" if self.high is not None else ""
        return " ".join(filter(None, [kind, lo, "and" if lo and hi else "", hi]))

    def ok(self, value: Any) -> bool:
        if value is None:
            return self.optional
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if self.whole and not isinstance(value, int):
            return False
        if isinstance(value, float) and not math.isfinite(value):
            return False
        below = self.low is not None and (value <= self.low if self.low_open else value < self.low)
        above = self.high is not None and (value >= self.high if self.high_open else value > self.high)
        return not (below or above)

    def check(self, flag: str, value: Any) -> None:
        if self.high is not None and not self.ok(value) and self.ok(self.high) and _above(value, self.high):
            raise ValueError(f"{flag} {value!r} is over the limit {self.high:g}{f' ({self.why})' if self.why else ''}")
        if not self.ok(value):
            raise ValueError(f"{flag} must be {self.describe()}, got {value!r}")


def _above(value: Any, high: float) -> bool:
    """``value`` is a finite number (not a bool) above ``high``."""
    number = isinstance(value, int | float) and not isinstance(value, bool)
    return number and math.isfinite(value) and value > high


_COUNT = _Range(1, whole=True)
_POSITIVE = _Range(0, low_open=True)
_EPOCHS = _Range(0, 1e6, low_open=True, optional=True)

# field → (option as the command line spells it, rule); fields without an option name the recipe field
_RECIPE_RULES: dict[str, tuple[str, _Range]] = {
    "batch_size": ("--batch-size", _Range(1, MAX_TRAIN_BATCH, whole=True)),
    "epochs": ("--epochs", _EPOCHS),
    "iterations": ("--iterations", _Range(1, 2**62, whole=True, optional=True)),
    "lr": ("--lr", _POSITIVE),
    "momentum": ("--momentum", _Range(0, 1, high_open=True)),
    "weight_decay": ("--weight-decay", _Range(0)),
    "bn_lr_scale": ("--bn-lr-scale", _POSITIVE),
    "eps": ("recipe field eps", _Range(0, low_open=True, optional=True)),
    "alpha": ("recipe field alpha", _Range(0, 1)),
    "warmup": ("--warmup", _Range(0, whole=True)),
    "warmup_lr": ("--warmup-lr", _Range(0, optional=True)),
    "label_smoothing": ("--label-smoothing", _Range(0, 1, high_open=True)),
    "clip_grad": ("--clip-grad", _Range(0, low_open=True, optional=True)),
}
_CONFIG_RULES: dict[str, tuple[str, _Range]] = {
    "per_class": ("--per-class", _Range(1, whole=True, optional=True)),
    "image_size": ("--image-size", _Range(1, MAX_SIDE, whole=True, optional=True)),
    "seed": ("--seed", _Range(0, _MAX_SEED, high_open=True, whole=True)),
    "checkpoint_every": ("--checkpoint-every", _Range(0, whole=True)),
    "checkpoint_minutes": ("--checkpoint-minutes", _POSITIVE),
    "eval_every": ("--eval-every", _COUNT),
    "max_epochs": ("--max-epochs", _EPOCHS),
    "threads": ("--threads", _Range(1, MAX_THREADS, whole=True, optional=True, why=THREADS_WHY)),
    "workers": ("--workers", _Range(0, MAX_WORKERS, whole=True, optional=True, why=WORKERS_WHY)),
}
# recipe fields given as KEY=VALUE pairs: option, {key: rule}, required keys
_DICT_RULES: dict[str, tuple[str, dict[str, _Range], tuple[str, ...]]] = {
    "lookahead": (
        "--lookahead",
        {"every": _COUNT, "decay": _Range(0, 1, high_open=True), "power": _Range(0, 1e3)},
        ("every",),
    ),
    "small_crops": (
        "--small-crops",
        {"size": _Range(1, 4096, whole=True), "epochs": _Range(0, 1e6)},
        ("size",),
    ),
}
_CHOICES: dict[str, tuple[str, Sequence[str]]] = {
    "interval": ("--interval", ("epoch", "step")),
    "init": ("--init", ("he", "default")),
    "tta": ("--tta", TTA_MODES),
}


def validate_config(cfg: TrainConfig) -> None:
    """Raise ``ValueError`` naming the option and the value for any option of ``cfg`` out of its range.

    Runs before any data is loaded or anything is written, so a bad option costs nothing.
    """
    r = cfg.recipe
    for key, (flag, rule) in _RECIPE_RULES.items():
        rule.check(flag, getattr(r, key))
    for key, (flag, rule) in _CONFIG_RULES.items():
        rule.check(flag, getattr(cfg, key))
    if (r.epochs is None) == (r.iterations is None):
        raise ValueError(
            "give the run's length as --epochs or --iterations, exactly one of them "
            f"(the recipe has epochs={r.epochs!r}, iterations={r.iterations!r})"
        )
    parse_val_size(r.val_size)
    _check_dicts(r)
    _check_names(r)
    _check_augment(r.augment)
    _check_schedule(r)
    taken = sorted({"num_classes", "in_chans"} & set(cfg.model_kwargs))
    if taken:
        raise ValueError(
            f"--model-arg {', '.join(taken)}: set by the data (its classes and channels), not by hand"
        )


def _check_dicts(r: Recipe) -> None:
    for key, (flag, rules, required) in _DICT_RULES.items():
        given: Mapping[str, Any] = getattr(r, key)
        if not isinstance(given, Mapping):
            raise ValueError(f"{flag} must be KEY=VALUE pairs, got {given!r}")
        if not given:
            continue  # off
        unknown = sorted(set(given) - set(rules))
        if unknown:
            raise ValueError(f"{flag} knows {', '.join(rules)}, not {', '.join(map(str, unknown))}")
        missing = [k for k in required if k not in given]
        if missing:
            raise ValueError(f"{flag} needs {', '.join(f'{k}=...' for k in missing)}")
        for k, value in given.items():
            rules[k].check(f"{flag} {k}", value)


def _check_names(r: Recipe) -> None:
    from convzoo.train.optim import OPTIMIZER_NAMES

    for key, (flag, choices) in {**_CHOICES, "optimizer": ("--optimizer", OPTIMIZER_NAMES)}.items():
        value = getattr(r, key)
        if value not in choices:
            raise ValueError(f"{flag} must be one of {', '.join(choices)}, got {value!r}")
    if r.optimizer == "nesterov" and r.momentum <= 0:
        raise ValueError(f"--optimizer nesterov needs --momentum > 0, got {r.momentum!r}")


def _check_augment(text: str) -> None:
    from convzoo.data.augment import AugmentSpec

    if not isinstance(text, str):
        raise ValueError(f"--augment must be text such as 'crop:4,flip' or 'none', got {text!r}")
    try:
        AugmentSpec.parse(text)
    except (ValueError, TypeError) as e:
        raise ValueError(f"--augment {text!r}: {e}") from None


def _check_schedule(r: Recipe) -> None:
    """Build the schedule on a stand-in parameter, so a bad ``--schedule-param`` fails before the data loads.

    The length is a stand-in too (the real one needs the data's size), long enough not to trip length checks.
    """
    import torch

    from convzoo.train.schedules import build_schedule

    if not isinstance(r.schedule_params, Mapping):
        raise ValueError(f"--schedule-param must be KEY=VALUE pairs, got {r.schedule_params!r}")
    steps = max(r.warmup + 10, 10_000)
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=float(r.lr))
    try:
        build_schedule(
            opt,
            r.schedule,
            total_steps=steps,
            interval=r.interval,  # type: ignore[arg-type]
            warmup_steps=r.warmup,
            warmup_lr=r.warmup_lr,
            **r.schedule_params,
        )
    except (ValueError, OverflowError, ZeroDivisionError) as e:
        raise ValueError(f"--schedule {r.schedule} / --schedule-param: {e}") from None
    except TypeError as e:
        raise ValueError(
            f"--schedule-param {r.schedule_params}: a value of the wrong kind for the {r.schedule} schedule ({e})"
        ) from None


_WHOLE = re.compile(r"[+-]?\d+")


def parse_val_size(value: str | int | float) -> int | float:
    """``--val-size``: a whole number is a count of images >= 0; a fraction is a number in [0, 1).

    Text (the command line) written with a decimal point or exponent is a fraction, so ``1.0`` is refused
    rather than read as one image.
    """
    if isinstance(value, str):
        text = value.strip()
        try:
            value = int(text) if _WHOLE.fullmatch(text) else float(text)
        except ValueError:
            raise ValueError(
                f"--val-size must be a count (e.g. 5000) or a fraction (e.g. 0.1), got {text!r}"
            ) from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"--val-size must be a count or a fraction, got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"--val-size must be a count >= 0 of images to hold out, got {value}")
        return value
    if not (math.isfinite(value) and 0.0 <= value < 1.0):
        raise ValueError(
            f"--val-size {value!r}: a fraction must be in [0, 1) (write a whole number, e.g. 5000, for a count)"
        )
    return value


# ----------------------------------------------------------------------------------- defaults that learn

_TEXT_LIKE_DATA = ("digit", "mnist", "svhn", "usps", "letter", "char", "text", "ocr", "glyph")
_MIRROR_SAFE_DATA = ("fashion",)  # Fashion-MNIST: clothes look the same mirrored
_CHARACTER_CLASS = re.compile(r"[0-9A-Za-z]")


def mirror_unsafe(data: str, classes: Sequence[str] | None = None) -> str | None:
    """Why mirroring would not suit ``data`` (digits, text), or None where it does.

    A data set is text-like when its name says so (``digits``, ``mnist``, ``svhn``, ``letters``...) or when
    every class name is one character (``0``-``9``, ``A``-``Z``): a mirrored 2, 7 or R is no longer one.
    """
    name = Path(str(data)).name.lower()
    if any(w in name for w in _TEXT_LIKE_DATA) and not any(w in name for w in _MIRROR_SAFE_DATA):
        return f"{data!r} holds digits or characters, which a mirror turns into other shapes"
    if classes and all(_CHARACTER_CLASS.fullmatch(str(c)) for c in classes):
        shown = ", ".join(map(str, list(classes)[:4])) + (", ..." if len(classes) > 4 else "")
        return f"its classes ({shown}) are characters, which a mirror turns into other shapes"
    return None


def tta_warnings(data: str, classes: Sequence[str] | None, tta: str) -> list[str]:
    """A warning where test-time augmentation ``tta`` mirrors data that must not be mirrored."""
    why = mirror_unsafe(data, classes)
    if tta == "none" or why is None:
        return []
    return [f"WARNING: --tta {tta} averages each image with its mirror image, but {why}: use --tta none"]


def eval_warnings(checkpoint: str | Path, data: str | None, tta: str) -> list[str]:
    """:func:`tta_warnings` for ``convzoo eval``: the data (``data``, or the one the checkpoint was trained on)
    and its classes come from the checkpoint's validated metadata. A checkpoint that cannot be read gives no
    warning here; the evaluation reports it."""
    if tta == "none":
        return []
    from convzoo.train.checkpoint import CheckpointError, find_checkpoint, read_metadata

    try:
        meta = read_metadata(find_checkpoint(checkpoint))
    except (CheckpointError, OSError, ValueError):
        return tta_warnings(data, None, tta) if data else []
    return tta_warnings(data or meta.data, list(meta.classes), tta)


def data_warnings(data: str, classes: list[str], recipe: Recipe) -> list[str]:
    """Warnings for the parts of ``recipe`` that do not suit ``data``: mirroring digits or text in training
    (``flip``, ``flip:alt``) or at test time (``--tta``), and a data set of one class."""
    from convzoo.data.augment import AugmentSpec

    out: list[str] = []
    why = mirror_unsafe(data, classes)
    spec = AugmentSpec.parse(recipe.augment)
    if why and spec.flip:
        out.append(
            f"WARNING: --augment {recipe.augment} mirrors the training images, but {why}: use "
            f"--augment {_without_flip(recipe.augment)}"
        )
    out += tta_warnings(data, classes, recipe.tta)
    if len(classes) < 2:
        out.append(f"WARNING: {data!r} has {len(classes)} class(es): any accuracy on it is meaningless")
    return out


def _without_flip(augment: str) -> str:
    kept = [p for p in (s.strip() for s in augment.split(",")) if p and p.split(":")[0] != "flip"]
    return ",".join(kept) or "none"


def chance_level_message(
    final_err: float | None, num_classes: int, n_images: int | None = None
) -> str | None:
    """A loud message when the final top-1 error (%) is within noise of guessing, 100·(1 − 1/k); else None.

    "Within noise": accuracy below chance plus a quarter of chance, or plus three standard deviations of a
    binomial guess over ``n_images`` where that is larger. NaN errors are reported too.
    """
    if final_err is None:
        return None
    if num_classes < 2:
        return f"WARNING: a data set of {num_classes} class(es): its accuracy says nothing about learning"
    chance = 100.0 / num_classes
    acc = 100.0 - float(final_err)
    if math.isnan(acc):
        return "WARNING: the final evaluation gave NaN: the network's outputs are not finite"
    noise = 300.0 * math.sqrt((1 / num_classes) * (1 - 1 / num_classes) / n_images) if n_images else 0.0
    if acc > chance + max(0.25 * chance, noise):
        return None
    return (
        f"WARNING: the run ended at chance level ({acc:.1f} % accuracy on {num_classes} classes, guessing gives "
        f"{chance:.1f} %): the network did not learn. Try a lower learning rate (--lr), more epochs, or a "
        "recipe that suits the data (convzoo recipes)"
    )


def has_normalization(model: str, model_kwargs: Mapping[str, Any] | None = None) -> bool | None:
    """Whether the registered ``model`` has normalization layers (BN and the like), built on the meta device;
    None for a ``package.module:function`` model (not built just to look)."""
    if ":" in model:
        return None
    import torch
    from torch import nn

    from convzoo.registry import create_model

    with torch.device("meta"):
        net = create_model(model, **(model_kwargs or {}))
    norms = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)
    return any(isinstance(m, norms) for m in net.modules())


# a network without normalization layers survives this fraction of the fast recipe's learning rate
_NO_NORM_LR_FACTOR = 0.25
# training images and classes of the built-in data sets, known before loading them
_KNOWN_SIZES = {
    "digits": (1438, 10),
    "mnist": (60_000, 10),
    "cifar10": (50_000, 10),
    "cifar100": (50_000, 100),
}
_MIN_STEPS_PER_EPOCH, _MIN_BATCH = 20, 16


def known_train_images(data: str, per_class: int | None = None, enough: int | None = None) -> int | None:
    """The number of training images of a built-in data set or an image folder's ``train/`` (at most
    ``per_class`` per class; files counted by name, none opened), else None. ``enough``: stop counting a
    folder there (the count is then a lower bound that large)."""
    if data in _KNOWN_SIZES:
        n, k = _KNOWN_SIZES[data]
        return n if per_class is None else min(n, per_class * k)
    from convzoo.data.datasets import IMAGE_EXTENSIONS

    n = 0
    try:
        with os.scandir(Path(data) / "train") as classes:
            for c in sorted(classes, key=lambda e: e.name):
                if c.name.startswith(".") or not c.is_dir():
                    continue
                with os.scandir(c.path) as files:
                    found = sum(
                        1 for f in files if not f.name.startswith(".") and Path(f.name).suffix.lower() in IMAGE_EXTENSIONS
                    )
                n += found if per_class is None else min(found, per_class)
                if enough is not None and n >= enough:
                    break
    except OSError:  # not an image folder: loading the data says why
        return None
    return n or None


def _small_data_batch(batch: int, n_train: int | None) -> int:
    """Halve ``batch`` until an epoch of ``n_train`` images has enough steps to learn from (or it is 16), and
    below 16 until one batch fits in the data."""
    while n_train is not None and batch > _MIN_BATCH and n_train // batch < _MIN_STEPS_PER_EPOCH:
        batch //= 2
    while n_train is not None and 1 < batch and n_train < batch:
        batch //= 2
    return batch


def default_changes(
    model: str,
    data: str,
    classes: Sequence[str] | None = None,
    model_kwargs: Mapping[str, Any] | None = None,
    per_class: int | None = None,
) -> tuple[dict[str, Any], dict[str, str]]:
    """The changes to the ``fast`` recipe that suit ``model`` and ``data``, and the reason for each.

    No mirroring (flips, flip TTA) of digits or text (:func:`mirror_unsafe`); a quarter of the learning rate
    for a network without normalization layers (lenet5_modern at 0.2 ends at chance on digits); a smaller
    batch where a built-in data set or an image folder is so small that an epoch would be under 20 steps (digits: 1,438
    images, 11 steps of 128; lenet5_modern learns to 95% in 10 epochs of 64, to 87-95% of 128).
    """
    base = get_recipe("fast")
    changes: dict[str, Any] = {}
    reasons: dict[str, str] = {}
    why = mirror_unsafe(data, classes)
    if why:
        changes.update(augment=_without_flip(base.augment), tta="none")
        reasons.update(augment=f"no mirroring: {why}", tta=f"no mirroring: {why}")
    if has_normalization(model, model_kwargs) is False:
        changes["lr"] = base.lr * _NO_NORM_LR_FACTOR
        reasons["lr"] = (
            f"{model} has no normalization layers; the fast recipe's rate assumes batch normalization"
        )
    n_train = known_train_images(data, per_class, enough=base.batch_size * _MIN_STEPS_PER_EPOCH)
    batch = _small_data_batch(base.batch_size, n_train)
    if batch != base.batch_size:
        changes["batch_size"] = batch
        k = n_train // batch
        steps = f"{k} step{'s' if k != 1 else ''} an epoch, not {n_train // base.batch_size}"
        reasons["batch_size"] = f"{n_train} training images: {steps}"
    return changes, reasons


def default_recipe(
    model: str,
    data: str,
    classes: Sequence[str] | None = None,
    *,
    model_kwargs: Mapping[str, Any] | None = None,
    per_class: int | None = None,
) -> Recipe:
    """The recipe ``convzoo train`` uses without ``--recipe``: ``fast`` with :func:`default_changes`, each
    recorded with its reason in the summary. The paper's own recipe, where one is registered, is
    :func:`convzoo.train.recipes.paper_recipe`."""
    changes, reasons = default_changes(model, data, classes, model_kwargs, per_class=per_class)
    return with_overrides(get_recipe("fast"), changes, reasons)
