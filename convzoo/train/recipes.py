"""Training recipes from the papers, selectable by name (``--recipe``) and printed by ``convzoo recipes``.

A recipe fixes the optimizer, learning-rate schedule, batch size, length, augmentation, regularization and
initialization a paper used. Command-line options override any field. Where a paper trained on ImageNet the
recipe carries its hyper-parameters unchanged; the ``note`` says what convzoo does differently.
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "PAPER_RECIPES",
    "WARMUP_CAP",
    "RECIPES",
    "Recipe",
    "format_recipes",
    "get_recipe",
    "fit_schedule",
    "paper_recipe",
    "scale_recipe",
    "with_overrides",
]


@dataclass(frozen=True)
class Recipe:
    """One paper's training setup. Lengths: ``epochs`` or ``iterations`` (optimizer steps); one is set."""

    name: str
    source: str  # citation: authors, year, arXiv id, section
    summary: str
    optimizer: str = "momentum"
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-4
    no_decay_bn_bias: bool = False
    bn_lr_scale: float = 1.0  # learning rate × this for normalization layers (weight decay ÷ it)
    eps: float | None = None
    alpha: float = 0.99  # RMSProp decay
    batch_size: int = 128
    epochs: float | None = None
    iterations: int | None = None
    schedule: str = "multistep"
    interval: str = "epoch"  # unit of the schedule's steps and milestones
    schedule_params: dict[str, Any] = field(default_factory=dict)
    warmup: int = 0  # in ``interval`` units
    warmup_lr: float | None = None
    label_smoothing: float = 0.0
    clip_grad: float | None = None
    augment: str = "crop:4,flip"
    # decode-time augmentation of a streamed ImageNet-style folder: a key of data.paper_augment.PAPER_AUGMENTS
    paper_augment: str | None = None
    val_size: int | float = 0
    init: str = "default"  # "he": Kaiming normal (fan_out) for conv weights; "default": the model's own
    zero_init_residual: bool = False
    amp: bool = False  # bf16 autocast on CPU / mixed precision on CUDA
    channels_last: bool = False
    tta: str = "none"  # test-time augmentation of the val/test evaluations: one of TTA_MODES
    lookahead: dict[str, float] = field(default_factory=dict)  # Lookahead's every/decay/power; {}: off
    small_crops: dict[str, float] = field(default_factory=dict)  # {"size": S, "epochs": E}: S×S windows first
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    note: str = ""

    def replace(self, **changes: Any) -> Recipe:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# test-time augmentation: none; each image and its mirror; or those two and both shifted by ±1 pixel (6 views)
TTA_MODES: tuple[str, ...] = ("none", "flip", "flip-translate")

_JORDAN2024 = "Jordan (2024). 94% on CIFAR-10 in 3.29 Seconds on a Single GPU. arXiv:2404.00498, §2-3"
_HE2015 = "He, Zhang, Ren, Sun (2015). Deep Residual Learning for Image Recognition. arXiv:1512.03385, §4.2"

RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in [
        Recipe(
            name="resnet_cifar",
            source=_HE2015,
            summary="SGD 0.1, momentum 0.9, wd 1e-4, batch 128, ÷10 at 32k and 48k iterations, stop at 64k; "
            "45k/5k train/val split; pad-4 crop + flip; He init",
            iterations=64_000,
            interval="step",
            schedule_params={"milestones": [32_000, 48_000]},
            val_size=5000,
            init="he",
        ),
        Recipe(
            name="resnet110_cifar",
            source=_HE2015,
            summary="resnet_cifar with a warm-up at 0.01 for the first 400 iterations (ResNet-110)",
            iterations=64_000,
            interval="step",
            schedule_params={"milestones": [32_000 - 400, 48_000 - 400]},
            warmup=400,
            warmup_lr=0.01,
            val_size=5000,
            init="he",
            note="the paper holds 0.01 until training error is below 80% (~400 iterations); here the rate "
            "rises linearly from 0.01 to 0.1 over 400 iterations; milestones count from the end of the "
            "warm-up",
        ),
        Recipe(
            name="preact_resnet_cifar",
            source="He, Zhang, Ren, Sun (2016). Identity Mappings in Deep Residual Networks. "
            "arXiv:1603.05027, §5 and Appendix",
            summary="as resnet_cifar (0.1, ÷10 at 32k/48k, 64k iterations, wd 1e-4, batch 128) with warm-up "
            "at 0.01 for 400 iterations",
            iterations=64_000,
            interval="step",
            schedule_params={"milestones": [32_000 - 400, 48_000 - 400]},
            warmup=400,
            warmup_lr=0.01,
            init="he",
            note="warm-up is a linear ramp 0.01→0.1 over 400 iterations",
        ),
        Recipe(
            name="wrn_cifar",
            source="Zagoruyko, Komodakis (2016). Wide Residual Networks. arXiv:1605.07146, §4",
            summary="SGD Nesterov 0.9 (dampening 0), lr 0.1, wd 5e-4, batch 128, 200 epochs, ×0.2 at "
            "60/120/160",
            optimizer="nesterov",
            weight_decay=5e-4,
            epochs=200,
            schedule_params={"milestones": [60, 120, 160], "gamma": 0.2},
            init="he",
        ),
        Recipe(
            name="densenet_cifar",
            source="Huang, Liu, van der Maaten, Weinberger (2017). Densely Connected Convolutional Networks. "
            "arXiv:1608.06993, §4.2",
            summary="SGD Nesterov 0.9, lr 0.1, wd 1e-4, batch 64, 300 epochs, ÷10 at 50% and 75%",
            optimizer="nesterov",
            batch_size=64,
            epochs=300,
            schedule_params={"milestones": [150, 225]},
            init="he",
        ),
        Recipe(
            name="stochastic_depth_cifar",
            source="Huang, Sun, Liu, Sedra, Weinberger (2016). Deep Networks with Stochastic Depth. "
            "arXiv:1603.09382, §4",
            summary="SGD Nesterov 0.9, lr 0.1, wd 1e-4, batch 128, 500 epochs, ÷10 at 250 and 375; "
            "drop-path with linear decay to p_L = 0.5",
            optimizer="nesterov",
            epochs=500,
            schedule_params={"milestones": [250, 375]},
            init="he",
            model_kwargs={"drop_path_rate": 0.5},
        ),
        Recipe(
            name="alexnet",
            source="Krizhevsky, Sutskever, Hinton (2012). ImageNet Classification with Deep Convolutional "
            "Neural Networks. NeurIPS, §4.1, §5",
            summary="SGD momentum 0.9, lr 0.01, wd 5e-4, batch 128, ÷10 when validation error stops "
            "improving, ~90 epochs; crops + flips + PCA lighting (σ=0.1)",
            lr=0.01,
            weight_decay=5e-4,
            epochs=90,
            schedule="plateau",
            schedule_params={"patience": 5},
            augment="scale:0.77-1,flip,lighting:0.1",
            paper_augment="alexnet",
            val_size=0.02,
            note="random 224 crops of 256 images are approximated by a random-resized crop of 77-100% of the "
            "area; the paper divided the rate by hand (3 times), here after 5 epochs without improvement",
        ),
        Recipe(
            name="vgg",
            source="Simonyan, Zisserman (2014). Very Deep Convolutional Networks for Large-Scale Image "
            "Recognition. arXiv:1409.1556, §3.1",
            summary="SGD momentum 0.9, lr 0.01, wd 5e-4, batch 256, ÷10 when validation accuracy stops "
            "improving, 74 epochs; scale jittering + flips",
            lr=0.01,
            weight_decay=5e-4,
            batch_size=256,
            epochs=74,
            schedule="plateau",
            schedule_params={"patience": 5},
            augment="scale:0.2-1,flip",
            paper_augment="vgg",
            val_size=0.02,
            note="scale jittering S∈[256,512] is approximated by a random-resized crop of 20-100% of the "
            "area",
        ),
        Recipe(
            name="googlenet",
            source="Szegedy et al. (2014). Going Deeper with Convolutions. arXiv:1409.4842, §6",
            summary="SGD momentum 0.9, rate ×0.96 every 8 epochs, auxiliary losses ×0.3, crops of 8-100% "
            "area",
            lr=0.01,
            weight_decay=2e-4,
            epochs=250,
            schedule="step",
            schedule_params={"step_size": 8, "gamma": 0.96},
            augment="scale:0.08-1,flip",
            paper_augment="inception",
            val_size=0.02,
            note="the paper gives neither the initial rate, the weight decay nor the batch size "
            "(asynchronous SGD); 0.01, 2e-4 and 128 are our choices; no Polyak averaging",
        ),
        Recipe(
            name="inception_v3",
            source="Szegedy, Vanhoucke, Ioffe, Shlens, Wojna (2015). Rethinking the Inception Architecture "
            "for Computer Vision. arXiv:1512.00567, §7, §8",
            summary="RMSProp (decay 0.9, ε=1.0), lr 0.045 ×0.94 every 2 epochs, batch 32, 100 epochs, "
            "gradient clipping 2.0, label smoothing 0.1",
            optimizer="rmsprop",
            lr=0.045,
            momentum=0.0,
            eps=1.0,
            alpha=0.9,
            weight_decay=4e-5,
            batch_size=32,
            epochs=100,
            schedule="step",
            schedule_params={"step_size": 2, "gamma": 0.94},
            label_smoothing=0.1,
            clip_grad=2.0,
            augment="scale:0.08-1,flip",
            paper_augment="inception",
            val_size=0.02,
            note="torch's RMSprop adds ε outside the square root (TensorFlow's inside); weight decay 4e-5 "
            "is from the TF-slim reference, the paper does not state it",
        ),
        Recipe(
            name="resnet_imagenet",
            source="He, Zhang, Ren, Sun (2015). Deep Residual Learning for Image Recognition. arXiv:1512.03385, "
            "§3.4",
            summary="SGD momentum 0.9, lr 0.1 ÷10 when the error plateaus, wd 1e-4, batch 256, 60×10⁴ iterations "
            "(120 epochs); shorter side ∈ [256, 480], 224 crops, flips, colour augmentation; He init",
            batch_size=256,
            epochs=120,
            schedule="plateau",
            schedule_params={"patience": 5},
            augment="scale:0.25-1,flip,lighting:0.1",
            paper_augment="resnet",
            val_size=0.02,
            init="he",
            note="the paper divided the rate by hand; here after 5 epochs without improvement. In-memory data "
            "approximates the scale augmentation by random-resized crops of 25-100% of the area; streamed "
            "folders use the paper's",
        ),
        Recipe(
            name="airbench94",
            source=_JORDAN2024,
            summary="SGD Nesterov 0.85, batch 1024, lr 1.5 (BN ×64), wd 1.33e-3 (BN ÷64), warm-up 0.3→1.5 over "
            "23% then linear to 0.105, 9.9 epochs, Lookahead every 5 steps, label smoothing 0.2, "
            "reflection-padded 2-pixel crops, alternating flips, 6-view TTA",
            optimizer="nesterov",
            momentum=0.85,
            lr=1.5,
            weight_decay=0.0153 / 11.5,
            bn_lr_scale=64.0,
            batch_size=1024,
            epochs=9.9,
            schedule="onecycle",
            interval="step",
            schedule_params={
                "pct_start": 0.23,
                "div_factor": 5.0,
                "final_div_factor": 1 / (5.0 * 0.07),
                "anneal_strategy": "linear",
            },
            label_smoothing=0.2,
            augment="crop:2:reflect,flip:alt",
            tta="flip-translate",
            lookahead={"every": 5, "decay": 0.95**5, "power": 3},
            amp=True,
            channels_last=True,
            note="the paper's rates are per 1024 examples of a summed loss with momentum factored out; here "
            "they are written for the mean loss (lr 11.5 → 1.5, weight decay 0.0153 → 1.33e-3, the same "
            "steps). The whitening bias trained for 3 epochs only comes with the model (freeze_after). Test-time "
            "augmentation averages the views' probabilities (the paper averages their logits)",
        ),
        Recipe(
            name="fast",
            source="convzoo: a one-cycle schedule with label smoothing, bf16 autocast and channels_last for "
            "quick CPU runs (the super-convergence idea of Smith & Topin 2017, arXiv:1708.07120); from Jordan "
            "2024 (arXiv:2404.00498): label smoothing 0.2, BN biases at 64× the learning rate, Lookahead, "
            "reflection-padded 2-pixel translations, alternating flips and 6-view test-time augmentation; "
            "24×24 crops for the first 4 epochs (progressive resizing, as fast.ai's DAWNBench runs)",
            summary="SGD Nesterov 0.9, one-cycle to lr 0.2 (BN ×64), wd 5e-4 (not on BN/bias), batch 128, 10 "
            "epochs (the first 4 on 24×24 crops), Lookahead every 40 steps, label smoothing 0.2, "
            "reflection-padded 2-pixel crops, alternating flips, 6-view TTA, bf16 autocast, channels_last",
            optimizer="nesterov",
            lr=0.2,
            weight_decay=5e-4,
            no_decay_bn_bias=True,
            bn_lr_scale=64.0,
            batch_size=128,
            epochs=10,
            schedule="onecycle",
            interval="step",
            schedule_params={"pct_start": 0.25, "div_factor": 10.0, "final_div_factor": 100.0},
            label_smoothing=0.2,
            augment="crop:2:reflect,flip:alt",
            tta="flip-translate",
            lookahead={"every": 40, "decay": 0.95**5, "power": 3},  # airbench's 5 steps of 1024 images
            small_crops={"size": 24, "epochs": 4},
            amp=True,
            channels_last=True,
            note="small crops need a network with global pooling before its classifier; one without (e.g. "
            "LeNet-5, AlexNet) trains at full size throughout, with a note",
        ),
    ]
}


# (model name pattern, the recipe of that model's paper); the first match wins
PAPER_RECIPES: tuple[tuple[str, str], ...] = (
    ("resnet110_cifar", "resnet110_cifar"),
    ("plain110_cifar", "resnet110_cifar"),
    ("resnet*_sd_cifar", "stochastic_depth_cifar"),
    ("resnet1202_cifar", ""),  # the paper trains it "as described above": which of the two, it does not say
    ("resnet*_cifar", "resnet_cifar"),
    ("plain*_cifar", "resnet_cifar"),
    ("preact_resnet*_cifar", "preact_resnet_cifar"),
    ("wrn*_cifar", "wrn_cifar"),
    ("densenet*_cifar", "densenet_cifar"),
    ("resnet[0-9]*", "resnet_imagenet"),
    ("alexnet*", "alexnet"),
    ("vgg*", "vgg"),
    ("googlenet", "googlenet"),
    ("inception_v3", "inception_v3"),
    ("airbench94", "airbench94"),
)


def paper_recipe(model: str) -> str | None:
    """The name of the recipe of ``model``'s paper, or None where none is registered."""
    for pattern, recipe in PAPER_RECIPES:
        if fnmatch.fnmatchcase(model, pattern):
            return recipe or None
    return None


def with_overrides(
    recipe: Recipe, changes: Mapping[str, Any], reasons: Mapping[str, str] | None = None
) -> Recipe:
    """``recipe`` with ``changes`` applied; its summary then says it describes the base recipe and lists each
    change (old → new) with its reason (``reasons[field]``, e.g. the option that set it), so the recorded
    description never contradicts the values that ran."""
    settable = {f.name for f in dataclasses.fields(Recipe)} - {"name", "summary"}
    unknown = sorted(set(changes) - settable)
    if unknown:
        raise ValueError(f"recipe fields {', '.join(unknown)} cannot be overridden")
    changed = {k: v for k, v in changes.items() if getattr(recipe, k) != v}
    if not changed:
        return recipe
    reasons = reasons or {}
    listed = "; ".join(
        f"{k} {getattr(recipe, k)!r} → {v!r}" + (f" ({reasons[k]})" if k in reasons else "")
        for k, v in changed.items()
    )
    summary = f"{recipe.summary} [that is the base recipe {recipe.name!r}; changed here: {listed}]"
    return recipe.replace(**changed, summary=summary)


# --- a paper's schedule over another length ---------------------------------------------------------------

_LENGTH_PARAMS = ("milestones", "step_size")  # schedule parameters counted in the schedule's interval
WARMUP_CAP = 0.1  # a shortened recipe's warm-up takes at most this fraction of its steps


def _warmup_steps(r: Recipe, steps_per_epoch: int) -> int:
    return r.warmup if r.interval == "step" else round(r.warmup * steps_per_epoch)


def scale_recipe(r: Recipe, epochs: float, steps_per_epoch: int) -> Recipe:
    """``r`` shortened to ``epochs``: the same schedule shape (milestones and step size as fractions of the
    run) over ``round(epochs × steps_per_epoch)`` optimizer steps.

    A warm-up keeps its length in steps, at most :data:`WARMUP_CAP` of the run: it is there to carry a deep net
    through its first steps (He et al.'s ResNet-110 blows up at 0.1 without it), and those do not get fewer
    when the run is shorter. Scaled as a fraction, ResNet-110's 400 of 64,000 steps became 1 step of 195 and
    the net left its first steps with a loss of 17 and stayed at chance."""
    old_units = r.iterations if r.iterations is not None else r.epochs
    if old_units is None:
        raise ValueError(f"recipe {r.name!r} sets neither epochs nor iterations")
    if r.iterations is None and r.interval == "step":
        old_units = r.epochs * steps_per_epoch  # type: ignore[operator]
    steps = max(1, round(epochs * steps_per_epoch))
    f = steps / old_units

    def scaled(v: float) -> int:
        return max(1, round(v * f))

    params = dict(r.schedule_params)
    for key in _LENGTH_PARAMS:
        if key in params:
            v = params[key]
            params[key] = sorted({scaled(m) for m in v}) if isinstance(v, list | tuple) else scaled(v)
    warmup = min(_warmup_steps(r, steps_per_epoch), int(WARMUP_CAP * steps))
    return r.replace(
        iterations=steps,
        epochs=None,
        interval="step",
        schedule_params=params,
        warmup=warmup,
        warmup_lr=r.warmup_lr if warmup else None,
    )


def _listed(values: list[str]) -> str:
    return values[0] if len(values) == 1 else f"{', '.join(values[:-1])} and {values[-1]}"


def fit_schedule(r: Recipe, steps_per_epoch: int) -> tuple[Recipe, str | None]:
    """A paper recipe run for another length (``--epochs`` or ``--iterations``): its milestones or step size
    scaled to the same fractions of this run, as ``repro`` does (:func:`scale_recipe`), with the line that says
    so. ``(r, None)`` where nothing needs it: a recipe without milestones or a step size, its own length, or a
    schedule whose lengths were set (or already scaled) by the caller.

    Without it a paper's schedule keeps its absolute milestones: ``resnet_cifar`` for 10 epochs of CIFAR-10
    (3,510 steps) never reaches its first decay at 32,000 and ends at lr 0.1.
    """
    base = RECIPES.get(r.name)
    keys = [k for k in _LENGTH_PARAMS if base is not None and k in base.schedule_params]
    if base is None or not keys or (r.epochs, r.iterations) == (base.epochs, base.iterations):
        return r, None
    if r.interval != base.interval or any(r.schedule_params.get(k) != base.schedule_params[k] for k in keys):
        return r, None
    if r.iterations is not None:
        given, epochs = f"--iterations {r.iterations:,}", r.iterations / steps_per_epoch
    elif r.epochs is not None:
        given, epochs = f"--epochs {r.epochs:g}", r.epochs
    else:
        return r, None
    scaled = scale_recipe(r.replace(epochs=base.epochs, iterations=base.iterations), epochs, steps_per_epoch)
    unit = "iterations" if base.iterations is not None else "epochs"
    was_unit = "steps" if base.interval == "step" else "epochs"
    length = f"{base.iterations if base.iterations is not None else base.epochs:,g} {unit}"
    parts = []
    for k in keys:
        old, new = base.schedule_params[k], scaled.schedule_params[k]
        olds = old if isinstance(old, list | tuple) else [old]
        news = new if isinstance(new, list | tuple) else [new]
        what = "milestones" if k == "milestones" else "step size"
        same_unit = (base.interval == "step") == (base.iterations is not None)
        parts.append(
            f"{what} scaled to {_listed([f'{v:,}' for v in news])} steps (the paper's "
            f"{_listed([f'{v:,}' for v in olds])}{'' if same_unit else ' ' + was_unit} of {length})"
        )
    steps = scaled.iterations or 0
    line = f"{given}: {'; '.join(parts)}, the same fractions of this run's {steps:,} steps"
    old_warmup = _warmup_steps(r, steps_per_epoch)
    if scaled.warmup != old_warmup:
        line += f"; warm-up {scaled.warmup:,} steps (the paper's {old_warmup:,}, at most {WARMUP_CAP:.0%} of the run)"
    summary = f"{r.summary} [{r.name}'s schedule fitted to this length: {line}]"
    return scaled.replace(summary=summary), line


def get_recipe(name: str) -> Recipe:
    """The recipe called ``name``; an unknown name raises an error that suggests the closest ones."""
    try:
        return RECIPES[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(RECIPES), n=3, cutoff=0.4)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise ValueError(f"unknown recipe {name!r}.{hint} Known recipes: {', '.join(RECIPES)}") from None


def format_recipes(verbose: bool = False) -> str:
    """The recipe table ``convzoo recipes`` prints."""
    lines = []
    for r in RECIPES.values():
        lines.append(f"{r.name}\n  {r.summary}\n  source: {r.source}")
        if r.note:
            lines.append(f"  note: {r.note}")
        if verbose:
            fields = {k: v for k, v in r.to_dict().items() if k not in ("name", "source", "summary", "note")}
            lines.append("  " + ", ".join(f"{k}={v}" for k, v in fields.items()))
    return "\n".join(lines)
