"""The training loop: in-memory data, batch augmentation, mixed precision, exact resume, DDP, run folders.

:func:`train` takes a :class:`TrainConfig` (a model name, a ``--data`` spec, a :class:`Recipe` with any
overrides applied) and writes ``runs/<name>/``: ``config.json``, ``metrics.csv``, ``curves.png`` and
``checkpoints/``. Every random draw of step ``t`` comes from generators seeded by ``(seed, t)``, so a run
resumed from a checkpoint taken at any step ends bit-identical (on the CPU) to the run never interrupted.
"""

from __future__ import annotations

import csv
import dataclasses
import importlib
import json
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from convzoo.data import AugmentSpec, BatchAugment, DataSplits, ImageSet, lighting_pca, load_data, normalize
from convzoo.layers import DropPath, he_normal_
from convzoo.train import distributed as zdist
from convzoo.train.checkpoint import CheckpointError, load_checkpoint, read_latest, save_checkpoint
from convzoo.train.optim import Lookahead, build_optimizer
from convzoo.train.recipes import TTA_MODES, Recipe, get_recipe
from convzoo.train.schedules import build_schedule

__all__ = [
    "NonFiniteLossError",
    "TrainConfig",
    "TrainResult",
    "build_model",
    "evaluate",
    "he_init",
    "train",
    "training_loss",
    "tta_views",
]


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


@dataclass
class TrainConfig:
    """Everything a run needs. ``recipe`` holds the optimization settings (already overridden)."""

    model: str
    data: str = "digits"
    recipe: Recipe = field(default_factory=lambda: get_recipe("fast"))
    data_root: str | None = None
    per_class: int | None = None  # keep the first n images per class (small fixed subsets)
    image_size: int | None = None  # resize images to n×n (upscale digits for a 32-px network)
    seed: int = 0
    out_dir: str = "runs"
    name: str | None = None
    resume: bool = False
    device: str = "auto"
    amp: bool | None = None  # None: the recipe's choice, where the device supports it
    channels_last: bool | None = None
    checkpoint_every: int = 0  # also save every n optimizer steps (0: at the end of each epoch only)
    checkpoint_minutes: float = 10.0  # and at least every this many minutes
    eval_every: int = 1  # epochs
    max_epochs: float | None = None  # stop after this many epochs (of a longer schedule): a budget
    threads: int | None = None
    download: bool = False
    skip_bad_images: bool = False
    progress: bool | None = None  # None: a bar on a terminal, plain lines otherwise
    model_kwargs: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["recipe"] = self.recipe.to_dict()
        return d


@dataclass
class TrainResult:
    run_dir: Path | None
    metrics: list[dict[str, Any]]
    model: nn.Module
    final_test_err: float | None
    final_val_err: float | None
    images_per_s: float
    wall_s: float
    step_times: list[float] = field(default_factory=list)  # seconds per optimizer step of this session


# ----------------------------------------------------------------------------------------------- helpers


def _mix(*xs: int) -> int:
    """A 63-bit seed from integers (splitmix64), so (seed, step) pairs give independent streams."""
    z = 0x9E3779B97F4A7C15
    for x in xs:
        z = (z ^ (int(x) & 0xFFFFFFFFFFFFFFFF)) * 0xBF58476D1CE4E5B9 & 0xFFFFFFFFFFFFFFFF
        z = (z ^ (z >> 27)) * 0x94D049BB133111EB & 0xFFFFFFFFFFFFFFFF
        z ^= z >> 31
    return z & 0x7FFFFFFFFFFFFFFF


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError as e:
        raise ValueError(f"unknown device {name!r}: use auto, cpu, cuda or cuda:N") from e
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for but no CUDA GPU is available; use --device cpu")
    return dev


def amp_dtype(device: torch.device) -> torch.dtype | None:
    """bf16 where the device computes it natively (CPUs with AVX512-BF16/AMX, Ampere+ GPUs), else fp16 on
    CUDA.
    """
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    try:
        return torch.bfloat16 if torch.ops.mkldnn._is_mkldnn_bf16_supported() else None
    except (AttributeError, RuntimeError):
        return None


def build_model(name: str, num_classes: int, in_chans: int, **kwargs: Any) -> nn.Module:
    """A registered model by name, or ``package.module:function`` for a model of your own."""
    if ":" in name:
        mod, _, fn = name.partition(":")
        try:
            factory: Callable[..., nn.Module] = getattr(importlib.import_module(mod), fn)
        except (ImportError, AttributeError) as e:
            raise ValueError(f"cannot import model factory {name!r}: {e}") from e
        return factory(num_classes=num_classes, in_chans=in_chans, **kwargs)
    from convzoo.registry import create_model

    return create_model(name, num_classes=num_classes, in_chans=in_chans, **kwargs)


def check_input_size(cfg: TrainConfig, size: tuple[int, int, int], num_classes: int) -> None:
    """Build the model on the meta device and feed it one image of the data's size: too small fails
    clearly.
    """
    with torch.device("meta"):
        m = build_model(cfg.model, num_classes, size[0], **cfg.model_kwargs).eval()
        try:
            out = m(torch.empty(1, *size))
        except (RuntimeError, ValueError) as e:
            default = ""
            if ":" not in cfg.model:
                from convzoo.registry import model_info

                s = model_info(cfg.model).input_size
                default = f" (its paper used {s[1]}×{s[2]})"
            raise ValueError(
                f"model {cfg.model!r} cannot take the data's {size[1]}×{size[2]} images{default}: {e}. "
                "Pass --image-size N to resize the images to N×N"
            ) from None
    if tuple(out.shape) != (1, num_classes):
        raise ValueError(
            f"model {cfg.model!r} returned logits of shape {tuple(out.shape)}, expected (1, {num_classes})"
        )


def he_init(model: nn.Module) -> None:
    """Kaiming-normal (fan_out, ReLU) conv weights and zero conv biases; BN weight 1, bias 0 (He et al.
    2015).
    """
    he_normal_(model, mode="fan_out")


def zero_init_residual(model: nn.Module, name: str) -> None:
    fn = getattr(model, "zero_init_residual_bns", None)
    if fn is None:
        raise ValueError(
            f"--zero-init-residual: model {name!r} has no residual branches to zero-initialise "
            "(it provides no zero_init_residual_bns method)"
        )
    fn()


def frozen_after(model: nn.Module, steps_per_epoch: int) -> list[tuple[nn.Parameter, int]]:
    """(parameter, step it stops training at) for each entry of the model's ``freeze_after`` (parameter name →
    epochs it trains for; airbench's whitening bias trains for 3)."""
    spec: dict[str, float] = getattr(model, "freeze_after", {}) or {}
    named = dict(model.named_parameters())
    unknown = sorted(set(spec) - set(named))
    if unknown:
        raise ValueError(f"freeze_after names parameters the model does not have: {', '.join(unknown)}")
    return [(named[k], math.ceil(epochs * steps_per_epoch)) for k, epochs in spec.items()]


def small_crops(r: Recipe, size: tuple[int, int, int]) -> tuple[int | None, float]:
    """The recipe's ``small_crops`` as (window size, epochs): the first epochs train on random
    size×size windows of the augmented images, cheaper steps while the network learns coarse features
    (progressive resizing, as fast.ai's DAWNBench runs grew the image size; here by cropping, so the pixel
    scale stays the test images')."""
    if not r.small_crops:
        return None, 0
    unknown = sorted(set(r.small_crops) - {"size", "epochs"})
    if unknown or "size" not in r.small_crops:
        raise ValueError(f"small_crops takes size and epochs, got {r.small_crops}")
    window = int(r.small_crops["size"])
    if window < 1:
        raise ValueError(f"small_crops size must be at least 1 pixel, got {window}")
    if window >= min(size[1:]):  # images already that small: nothing to crop
        return None, 0
    return window, float(r.small_crops.get("epochs", 1))


def training_loss(
    out: Any, y: torch.Tensor, aux_weights: tuple[float, ...], label_smoothing: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy of the main logits plus each auxiliary head's, weighted by the model's ``aux_weights``.

    ``out`` is a logits tensor, or (models with auxiliary classifiers in training mode) a named tuple with
    ``.logits`` and ``.aux_logits``. Returns the loss and the main logits.
    """
    aux = getattr(out, "aux_logits", None)
    logits = out.logits if aux is not None else out
    loss = F.cross_entropy(logits.float(), y, label_smoothing=label_smoothing)
    aux = tuple(aux or ())
    if len(aux) != len(aux_weights) and aux:
        raise ValueError(
            f"the model returned {len(aux)} auxiliary outputs but has {len(aux_weights)} aux_weights"
        )
    for w, a in zip(aux_weights, aux, strict=False):
        loss = loss + w * F.cross_entropy(a.float(), y, label_smoothing=label_smoothing)
    return loss, logits


def tta_views(x: torch.Tensor, tta: str) -> list[tuple[float, torch.Tensor]]:
    """The (weight, batch) views that test-time augmentation ``tta`` averages over (weights sum to 1).

    ``flip``: the batch and its mirror image, ½ each. ``flip-translate`` (Jordan 2024's 6 views): those two
    at ¼ each, and both of them shifted one pixel up-left and one pixel down-right (reflection at the
    edges) at ⅛ each.
    """
    if tta == "none":
        return [(1.0, x)]
    views = [(0.5, x), (0.5, x.flip(3))]
    if tta == "flip":
        return views
    h, w = x.shape[-2:]
    padded = F.pad(x, (1, 1, 1, 1), mode="reflect")
    shifted = [padded[..., :h, :w], padded[..., 2:, 2:]]
    return [(0.25, x), (0.25, x.flip(3))] + [(0.125, v) for s in shifted for v in (s, s.flip(3))]


@torch.no_grad()
def evaluate(
    model: nn.Module,
    data: ImageSet,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    *,
    batch_size: int = 500,
    device: torch.device | None = None,
    amp: torch.dtype | None = None,
    channels_last: bool = False,
    info: zdist.DistInfo | None = None,
    tta: str = "none",
) -> dict[str, float]:
    """Loss, top-1 and top-5 error (%) of ``model`` on ``data`` (sharded across processes when
    distributed).

    ``tta`` other than ``"none"`` averages the softmax over the views of :func:`tta_views` (test-time
    augmentation, as AlexNet averaged its predictions over patches and their reflections); the loss is then
    the negative log of the averaged probability.
    """
    if tta not in TTA_MODES:
        raise ValueError(f"unknown test-time augmentation {tta!r}; choose one of: {', '.join(TTA_MODES)}")
    info = info or zdist.DistInfo()
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    idx = torch.arange(info.rank, len(data), info.world_size)
    sums = torch.zeros(4, dtype=torch.float64)  # loss, top1 correct, top5 correct, n
    k = min(5, len(data.classes))
    for i in range(0, len(idx), batch_size):
        j = idx[i : i + batch_size]
        x = normalize(data.images[j].to(device), mean, std)
        y = data.labels[j].to(device)
        log_probs = []
        for weight, view in tta_views(x, tta):
            if channels_last:
                view = view.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=amp or torch.bfloat16, enabled=amp is not None):
                out = model(view).float()
            log_probs.append(out.log_softmax(1) + math.log(weight))
        logits = torch.stack(log_probs).logsumexp(0)  # log of the weighted mean of the views' softmax
        sums[0] += F.cross_entropy(logits, y, reduction="sum").item()
        top = logits.topk(k, dim=1).indices
        sums[1] += (top[:, 0] == y).sum().item()
        sums[2] += (top == y[:, None]).any(1).sum().item()
        sums[3] += len(j)
    zdist.all_reduce_sum(sums, info)
    model.train(was_training)
    n = max(sums[3].item(), 1.0)
    return {
        "loss": sums[0].item() / n,
        "err": 100 - 100 * sums[1].item() / n,
        "top5_err": 100 - 100 * sums[2].item() / n,
    }


class _Progress:
    """A tqdm bar on a terminal; otherwise a plain line about every 10% of an epoch."""

    def __init__(self, enabled: bool, bar: bool | None) -> None:
        self.enabled = enabled
        self.bar_wanted = sys.stderr.isatty() if bar is None else bar
        self.bar: Any = None

    def start(self, epoch: int, epochs: int, total: int, done: int) -> None:
        self.epoch, self.epochs, self.total, self.t0, self.n0 = (
            epoch,
            epochs,
            total,
            time.perf_counter(),
            done,
        )
        if self.enabled and self.bar_wanted:
            from tqdm import tqdm

            self.bar = tqdm(
                total=total,
                initial=done,
                desc=f"epoch {epoch + 1}/{epochs}",
                unit="step",
                leave=False,
                dynamic_ncols=True,
            )

    def update(self, step: int, loss: float, ips: float) -> None:
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.set_postfix(loss=f"{loss:.3f}", img_s=f"{ips:.0f}", refresh=False)
            self.bar.update(1)
        elif self.total >= 10 and (step + 1) % max(1, self.total // 10) == 0:
            left = (self.total - step - 1) * (time.perf_counter() - self.t0) / max(step + 1 - self.n0, 1)
            print(
                f"  epoch {self.epoch + 1}/{self.epochs} step {step + 1}/{self.total} loss {loss:.4f} "
                f"{ips:.0f} img/s eta {left:.0f}s",
                flush=True,
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _write_metrics(run_dir: Path, rows: list[dict[str, Any]], plot: bool) -> None:
    if not rows:
        return
    keys = list(dict.fromkeys(k for r in rows for k in r))
    tmp = run_dir / ".metrics.csv.tmp"
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)
    os.replace(tmp, run_dir / "metrics.csv")
    if plot:
        plot_metrics(rows, run_dir / "curves.png")


def plot_metrics(rows: list[dict[str, Any]], path: Path) -> None:
    """Training curves: loss and top-1 error per epoch, and the learning rate."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ep = [r["epoch"] for r in rows]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for split in ("train", "val", "test"):
        if f"{split}_loss" in rows[0]:
            axes[0].plot(ep, [r.get(f"{split}_loss") for r in rows], marker=".", label=split)
            axes[1].plot(ep, [r.get(f"{split}_err") for r in rows], marker=".", label=split)
    axes[2].plot(ep, [r["lr"] for r in rows], marker=".")
    for ax, title in zip(axes, ("loss", "top-1 error (%)", "learning rate (end of epoch)"), strict=True):
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0].legend()
    axes[1].legend()
    fig.tight_layout()
    tmp = path.with_name(".curves.tmp.png")
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    os.replace(tmp, path)


# ----------------------------------------------------------------------------------------------- the loop


def train(
    cfg: TrainConfig, data: DataSplits | None = None, log: Callable[[str], None] = print
) -> TrainResult:
    """Train ``cfg.model`` as ``cfg.recipe`` says; see the module docstring for what is written where."""
    r = cfg.recipe
    device = resolve_device(cfg.device)
    info = zdist.setup(device)
    if info.enabled and device.type == "cuda":
        device = torch.device("cuda", info.local_rank)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    say = log if info.is_main else (lambda s: None)
    try:
        result = _train(cfg, r, data, device, info, say)
    except BaseException:
        zdist.cleanup(synchronize=False)
        raise
    zdist.cleanup()
    return result


def _train(
    cfg: TrainConfig,
    r: Recipe,
    data: DataSplits | None,
    device: torch.device,
    info: zdist.DistInfo,
    say: Callable[[str], None],
) -> TrainResult:
    if data is None:
        data = load_data(
            cfg.data,
            root=cfg.data_root,
            val_size=r.val_size,
            seed=cfg.seed,
            per_class=cfg.per_class,
            image_size=cfg.image_size,
            on_bad="skip" if cfg.skip_bad_images else "error",
            download=cfg.download,
        )
    for split in (data.train, data.val, data.test):
        if split is not None and split.skipped:
            say(f"skipped {len(split.skipped)} unreadable image(s), e.g. {split.skipped[0]}")
    num_classes, size = len(data.classes), data.image_size
    check_input_size(cfg, size, num_classes)
    window, window_epochs = small_crops(r, size)
    if window is not None:
        try:
            check_input_size(cfg, (size[0], window, window), num_classes)
        except ValueError:
            say(f"note: {cfg.model} cannot take the recipe's {window}×{window} small crops; training at full size")
            window = None

    torch.manual_seed(_mix(cfg.seed, 0xC0FFEE))
    model = build_model(cfg.model, num_classes, size[0], **cfg.model_kwargs)
    if r.init == "he":
        he_init(model)
    elif r.init != "default":
        raise ValueError(f"unknown init {r.init!r}: use 'he' or 'default'")
    if r.zero_init_residual:
        zero_init_residual(model, cfg.model)
    init_from_data = getattr(model, "init_from_data", None)
    if callable(init_from_data):  # data-dependent initialisation, e.g. airbench's whitening filters
        pick = torch.randperm(len(data.train), generator=torch.Generator().manual_seed(cfg.seed))[:5000]
        init_from_data(normalize(data.train.images[pick], data.mean, data.std))
    dtype = amp_dtype(device) if (r.amp if cfg.amp is None else cfg.amp) else None
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)  # loss scaling for fp16
    if cfg.amp and dtype is None:
        say("note: this CPU has no native bf16; training in fp32")
    channels_last = r.channels_last if cfg.channels_last is None else cfg.channels_last
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)

    # --- lengths
    global_batch = r.batch_size
    if global_batch % info.world_size:
        raise ValueError(f"batch size {global_batch} is not divisible by the {info.world_size} processes")
    local_batch = global_batch // info.world_size
    n_train = len(data.train)
    spe = n_train // global_batch
    if spe == 0:
        raise ValueError(
            f"batch size {global_batch} is larger than the {n_train} training images; lower --batch-size"
        )
    if r.iterations is not None:
        total_steps = int(r.iterations)
    elif r.epochs is not None:
        total_steps = max(1, math.ceil(r.epochs * spe))
    else:
        raise ValueError("the recipe sets neither epochs nor iterations")
    epochs = math.ceil(total_steps / spe)
    stop_step = total_steps if cfg.max_epochs is None else min(total_steps, math.ceil(cfg.max_epochs * spe))

    optimizer = build_optimizer(
        model,
        r.optimizer,
        r.lr,
        momentum=r.momentum,
        weight_decay=r.weight_decay,
        no_decay_bn_bias=r.no_decay_bn_bias,
        eps=r.eps,
        alpha=r.alpha,
        bn_lr_scale=r.bn_lr_scale,
    )
    sched_total = total_steps if r.interval == "step" else epochs
    schedule = build_schedule(
        optimizer,
        r.schedule,
        total_steps=sched_total,
        interval=r.interval,  # type: ignore[arg-type]
        warmup_steps=r.warmup,
        warmup_lr=r.warmup_lr,
        **r.schedule_params,
    )
    pca = lighting_pca(data.train.images) if r.augment and AugmentSpec.parse(r.augment).lighting else None
    augment = BatchAugment(
        AugmentSpec.parse(r.augment), data.mean, data.std, pca, num_images=n_train, seed=_mix(cfg.seed, 4)
    )
    lookahead = Lookahead(model, total_steps, **r.lookahead) if r.lookahead else None
    freeze = frozen_after(model, spe)
    window_steps = math.ceil(window_epochs * spe) if window is not None else 0
    net: nn.Module = model
    if info.enabled:
        # stochastic depth skips whole residual branches in some steps, and parameters trained only for the
        # first epochs stop: their parameters get no gradient
        skips = bool(freeze) or any(
            isinstance(m, DropPath) and m.drop_prob > 0 and m.mode == "batch" for m in model.modules()
        )
        net = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None, find_unused_parameters=skips
        )

    # --- run folder and resume
    name = cfg.name or f"{cfg.model.replace(':', '.')}-{Path(cfg.data).name}-{time.strftime('%Y%m%d-%H%M%S')}"
    name = zdist.broadcast_object(name, info)
    run_dir = Path(cfg.out_dir) / name
    ckpt_dir = run_dir / "checkpoints"
    loop = {"global_step": 0, "save_index": 0, "epoch_sums": [0.0, 0.0, 0.0], "epoch_time": 0.0}
    rows: list[dict[str, Any]] = []
    best = math.inf
    latest = read_latest(ckpt_dir)
    if latest is not None and not cfg.resume:
        raise FileExistsError(
            f"{run_dir} already holds checkpoints; pass --resume to continue that run, or choose "
            "another --name"
        )
    metadata = {
        "model": cfg.model,
        "num_classes": num_classes,
        "in_chans": size[0],
        "image_size": list(size),
        "classes": data.classes,
        "mean": list(data.mean),
        "std": list(data.std),
        "data": cfg.data,
        "model_kwargs": cfg.model_kwargs,
        "resize": cfg.image_size,  # --image-size used in training (None: the data's own size)
    }
    if latest is not None:
        state = load_checkpoint(latest, model)
        if state["metadata"]["model"] != cfg.model:
            raise CheckpointError(
                f"{latest} is a checkpoint of {state['metadata']['model']!r}, not {cfg.model!r}"
            )
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        if state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        if lookahead is not None:
            if "lookahead" not in state:
                raise CheckpointError(f"{latest} was saved by a run without lookahead; resume it with its recipe")
            lookahead.load_state_dict(state["lookahead"])
        loop = state["loop"]
        rows = list(state["metrics"])
        best = float(state["best"])
        say(f"resumed {run_dir} at step {loop['global_step']} (epoch {loop['global_step'] // spe + 1})")
    if info.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.json").write_text(
            json.dumps(
                {
                    **cfg.to_dict(),
                    "resolved": {
                        "steps_per_epoch": spe,
                        "total_steps": total_steps,
                        "epochs": epochs,
                        "world_size": info.world_size,
                        "amp": str(dtype).replace("torch.", "") if dtype else "off",
                        "channels_last": channels_last,
                        "device": str(device),
                        "train_images": n_train,
                        "val_images": len(data.val) if data.val else 0,
                        "test_images": len(data.test) if data.test else 0,
                    },
                },
                indent=2,
                default=str,
            )
        )

    def save() -> None:
        loop["save_index"] += 1
        if info.is_main:
            state = {
                "optimizer": optimizer.state_dict(),
                "schedule": schedule.state_dict(),
                "scaler": scaler.state_dict(),
                **({"lookahead": lookahead.state_dict()} if lookahead is not None else {}),
                "loop": dict(loop),
                "metrics": rows,
                "best": best,
                "config": json.loads(json.dumps(cfg.to_dict(), default=str)),
            }
            save_checkpoint(ckpt_dir, model, state, metadata, index=loop["save_index"])

    say(
        f"training {cfg.model} on {cfg.data}: {n_train} train images {tuple(size)}, {num_classes} classes, "
        f"{total_steps} steps ({epochs} epochs of {spe}), batch {global_batch}"
        f"{f' on {info.world_size} processes' if info.enabled else ''}, {r.optimizer} lr {r.lr}, "
        f"{r.schedule} schedule, amp {dtype or 'off'}, channels_last {channels_last}, run folder {run_dir}"
    )
    progress = _Progress(info.is_main and cfg.progress is not False, cfg.progress)
    images_seen, t_train, wall0 = 0, 0.0, time.perf_counter()
    step_times: list[float] = []
    wall_before = float(rows[-1].get("wall_s", 0.0)) if rows else 0.0
    last_save = time.perf_counter()
    model.train()
    aux_weights = tuple(getattr(model, "aux_weights", ()))
    gstep = int(loop["global_step"])
    while gstep < stop_step:
        epoch, start = divmod(gstep, spe)
        perm = torch.randperm(n_train, generator=torch.Generator().manual_seed(_mix(cfg.seed, epoch, 1)))
        sums = torch.tensor(loop["epoch_sums"], dtype=torch.float64)  # loss sum, correct, n (this rank)
        progress.start(epoch, epochs, min(spe, stop_step - epoch * spe), start)
        t_epoch = time.perf_counter()
        for step in range(start, spe):
            if gstep >= stop_step:
                break
            t0 = time.perf_counter()
            gen = torch.Generator().manual_seed(_mix(cfg.seed, gstep, 2))
            rows_g = perm[step * global_batch : (step + 1) * global_batch]
            mine = rows_g[info.rank * local_batch : (info.rank + 1) * local_batch]
            x = augment(
                data.train.images[mine].to(device, non_blocking=True),
                gen,
                offset=info.rank * local_batch,
                total=global_batch,
                index=mine,
                epoch=epoch,
                window=window if gstep < window_steps else None,
            )
            y = data.train.labels[mine].to(device, non_blocking=True)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            for p, last_step in freeze:
                if p.requires_grad != (gstep < last_step):
                    p.requires_grad_(gstep < last_step)
            torch.manual_seed(_mix(cfg.seed, gstep, 3, info.rank))  # dropout, drop-path
            with torch.autocast(device.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None):
                loss, logits = training_loss(net(x), y, aux_weights, r.label_smoothing)
            bad = torch.tensor([0.0 if torch.isfinite(loss) else 1.0])
            zdist.all_reduce_sum(bad, info)
            if bad.item():
                progress.close()
                kept = read_latest(ckpt_dir)
                raise NonFiniteLossError(
                    f"the loss became {loss.item()} at step {gstep + 1} (epoch {epoch + 1}, step {step + 1} "
                    f"of {spe}); training stopped. "
                    + (
                        f"The last good checkpoint {kept} is kept. "
                        if kept
                        else "No checkpoint was saved yet. "
                    )
                    + f"Try a lower learning rate (e.g. --lr {r.lr / 10:g}) or gradient clipping "
                    "(--clip-grad 1)"
                )
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()  # fp16 on CUDA only; a pass-through otherwise
            if r.clip_grad:
                scaler.unscale_(optimizer)
                nn.utils.clip_grad_norm_(model.parameters(), r.clip_grad)
            scaler.step(optimizer)
            scaler.update()
            gstep += 1
            if lookahead is not None:
                lookahead.step(gstep)
                if gstep == stop_step:
                    lookahead.finish(gstep)
            if schedule.interval == "step":
                schedule.step()
            with torch.no_grad():
                sums += torch.tensor(
                    [loss.item() * len(y), (logits.argmax(1) == y).sum().item(), len(y)], dtype=torch.float64
                )
            dt = time.perf_counter() - t0
            step_times.append(dt)
            t_train += dt
            images_seen += global_batch
            loop.update(global_step=gstep, epoch_sums=sums.tolist(), epoch_time=loop["epoch_time"] + dt)
            progress.update(step, loss.item(), global_batch / max(dt, 1e-9))
            due = (cfg.checkpoint_every and gstep % cfg.checkpoint_every == 0) or (
                time.perf_counter() - last_save > 60 * cfg.checkpoint_minutes
            )
            if due and step + 1 < spe and gstep < stop_step:
                save()
                last_save = time.perf_counter()
        progress.close()
        # --- end of an epoch, or of the budget (max_epochs) part-way through one
        epoch_done = gstep // spe if gstep % spe == 0 else epoch + 1
        zdist.all_reduce_sum(sums, info)
        n = max(sums[2].item(), 1.0)
        row: dict[str, Any] = {
            "epoch": epoch_done,
            "step": gstep,
            "lr": optimizer.param_groups[0]["lr"],
            "train_loss": sums[0].item() / n,
            "train_err": 100 - 100 * sums[1].item() / n,
        }
        last = gstep >= stop_step
        if epoch_done % cfg.eval_every == 0 or last:
            ev = dict(device=device, amp=dtype, channels_last=channels_last, info=info, tta=r.tta)
            for split_name, split in (("val", data.val), ("test", data.test)):
                if split is not None:
                    m = evaluate(model, split, data.mean, data.std, **ev)  # type: ignore[arg-type]
                    row.update(
                        {
                            f"{split_name}_loss": m["loss"],
                            f"{split_name}_err": m["err"],
                            f"{split_name}_top5_err": m["top5_err"],
                        }
                    )
        row["epoch_s"] = loop["epoch_time"]
        row["wall_s"] = wall_before + time.perf_counter() - wall0  # since the run started, over resumes
        row["images_per_s"] = n / max(loop["epoch_time"], 1e-9)
        if schedule.interval == "epoch":
            metric = (
                row.get("val_err", row.get("test_err", row["train_err"])) if schedule.needs_metric else None
            )
            schedule.step(metric)
        if "val_err" in row and row["val_err"] < best:
            best = row["val_err"]
        rows.append(row)
        loop.update(epoch_sums=[0.0, 0.0, 0.0], epoch_time=0.0)
        msg = " ".join(f"{k} {v:.4g}" for k, v in row.items() if k not in ("epoch", "step"))
        say(f"epoch {epoch_done}/{epochs} {msg}")
        if info.is_main:
            _write_metrics(run_dir, rows, plot=last or time.perf_counter() - t_epoch > 10)
        save()
        last_save = time.perf_counter()
    wall = time.perf_counter() - wall0
    final = rows[-1] if rows else {}
    if info.is_main and rows:
        _write_metrics(run_dir, rows, plot=True)
    return TrainResult(
        run_dir=run_dir,
        metrics=rows,
        model=model,
        final_test_err=final.get("test_err"),
        final_val_err=final.get("val_err"),
        images_per_s=images_seen / max(t_train, 1e-9),
        wall_s=wall,
        step_times=step_times,
    )
