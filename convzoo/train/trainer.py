"""The training loop: in-memory or streamed data, mixed precision, exact resume, DDP, run folders.

:func:`train` takes a :class:`TrainConfig` (a model name, a ``--data`` spec, a :class:`Recipe` with any
overrides applied, or None for the default recipe adapted to the model and the data) and writes
``runs/<name>/``: ``config.json``, ``metrics.csv``, ``curves.png`` and ``checkpoints/`` (the folder's rules
are :mod:`convzoo.train.runfolder`'s). Every random draw of step ``t`` comes from generators seeded by
``(seed, t)``, so a run resumed from a checkpoint taken at any step ends bit-identical (on the CPU) to the
run never interrupted, however it stopped: SIGKILL, Ctrl-C or SIGTERM (which stop at a step boundary and
save), or a ``max_epochs`` budget (a pause: Lookahead's finish belongs to the run's last step only).

The loop reads as its phases::

    set up     _load_data (in memory, or indexed to stream), _resolve_recipe (default, warnings),
               _build_model, _read_saved (resume: the saved config compared), _setup (_data_source), _start
    an epoch   _train_epoch -> _train_step per batch from the data source (:mod:`convzoo.train.sources`:
               in memory, augmented on the device, or streamed by DataLoader workers); forward, finite loss,
               backward, step
    epoch end  _end_epoch: metrics row, _evaluate_splits (the source's; a non-finite loss stops), schedule,
               metrics.csv
    checkpoint _save: only if every parameter, buffer and Lookahead tensor is finite
    finish     _finish: curves, and a loud warning if the run ended at chance level

Resume refuses any change that alters what the run computes and accepts safe ones (intervals, threads,
device, ``max_epochs``) and a longer run: ``--epochs`` (or ``--iterations``) larger than before extends it.
Extending keeps what happened and appends steps; the learning-rate schedule and Lookahead keep the length
they were planned for, so past its end every schedule holds its final rate (multistep and step: the last
decayed rate; cosine: ``min_lr``; one-cycle: ``max_lr / div / final_div``; exponential and inverse-time:
the last step's rate; plateau: its current rate, no further reductions; constant: unchanged) and
Lookahead its final strength; the run's last step applies Lookahead's finish again. To train with the
longer schedule's own shape, start a new run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from convzoo.data import AugmentSpec, BatchAugment, DataSplits, lighting_pca, load_data, normalize
from convzoo.data.stream import StreamSplits, choose_streaming, stream_splits
from convzoo.layers import DropPath
from convzoo.train import distributed as zdist
from convzoo.train.checkpoint import CheckpointError, load_checkpoint, nonfinite_tensors, save_checkpoint
from convzoo.train.config import TrainConfig
from convzoo.train.evaluation import evaluate, tta_views
from convzoo.train.optim import Lookahead, build_optimizer
from convzoo.train.parts import (
    amp_dtype,
    build_model,
    channel_note,
    check_input_size,
    frozen_after,
    he_init,
    resolve_device,
    small_crops,
    training_loss,
    zero_init_residual,
)
from convzoo.train.recipes import RECIPES, Recipe, fit_schedule, get_recipe, with_overrides
from convzoo.train.runfolder import RunFolder, compare_configs, run_folder_path
from convzoo.train.schedules import Schedule, build_schedule
from convzoo.train.sources import InMemory, Streamed, steps_per_epoch
from convzoo.train.sources import mix as _mix

__all__ = [
    "NonFiniteLossError",
    "TrainConfig",
    "TrainingInterrupted",
    "TrainResult",
    "build_model",
    "evaluate",
    "he_init",
    "train",
    "training_loss",
    "tta_views",
]


# optimizer steps between the host's reads of the device in a single-process run: the losses' finite check
# and the epoch's sums wait this long (a GPU queues steps meanwhile); also at every checkpoint and epoch end
SYNC_EVERY = 50


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


@dataclass
class TrainResult:
    run_dir: Path | None
    metrics: list[dict[str, Any]]
    model: nn.Module
    final_test_err: float | None
    final_val_err: float | None
    images_per_s: float
    wall_s: float  # since the run started, counting the sessions before a resume
    step_times: list[float] = field(default_factory=list)  # seconds per optimizer step of this session
    warnings: list[str] = field(default_factory=list)  # e.g. the run ended at chance level


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

    def line_due(self, step: int) -> bool:
        """Whether a plain line is printed after ``step`` (the loop reads the device's figures first)."""
        every = max(1, self.total // 10)
        return self.enabled and self.bar is None and self.total >= 10 and (step + 1) % every == 0

    def update(self, step: int, loss: float | None, ips: float) -> None:
        """One step done; ``loss`` (the epoch's mean training loss so far) where the loop synced at this step,
        else None: the bar keeps the last one it was given."""
        if not self.enabled:
            return
        if self.bar is not None:
            if loss is not None:
                self.bar.set_postfix(loss=f"{loss:.3f}", img_s=f"{ips:.0f}", refresh=False)
            self.bar.update(1)
        elif self.line_due(step):
            left = (self.total - step - 1) * (time.perf_counter() - self.t0) / max(step + 1 - self.n0, 1)
            shown = f" loss {loss:.4f}" if loss is not None else ""
            print(
                f"  epoch {self.epoch + 1}/{self.epochs} step {step + 1}/{self.total}{shown} "
                f"{ips:.0f} img/s eta {left:.0f}s",
                flush=True,
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


# ----------------------------------------------------------------------------------------------- the loop


@dataclass
class _Run:
    """What a run is made of, built once by the set-up phase and read by the others."""

    cfg: TrainConfig
    data: DataSplits | StreamSplits
    device: torch.device
    info: zdist.DistInfo
    say: Callable[[str], None]
    model: nn.Module
    net: nn.Module  # the model, or its DistributedDataParallel wrapper
    optimizer: torch.optim.Optimizer
    schedule: Schedule
    scaler: torch.amp.GradScaler
    source: InMemory | Streamed  # the training batches and the evaluations
    lookahead: Lookahead | None
    freeze: list[tuple[nn.Parameter, int]]
    dtype: torch.dtype | None
    channels_last: bool
    window: int | None  # small-crop window, used for the first window_steps steps
    window_steps: int
    spe: int  # optimizer steps per epoch
    total_steps: int  # the run's length
    plan_steps: int  # the length the schedule and Lookahead were planned for (< total_steps when extended)
    stop_step: int  # where this session stops (max_epochs: a budget)
    metadata: dict[str, Any]
    sync_every: int = 1  # optimizer steps between the host's reads of the device (losses, finite check)

    @property
    def epochs(self) -> int:
        return math.ceil(self.total_steps / self.spe)


@dataclass
class _State:
    """What changes as the run trains; ``loop``, ``rows`` and ``best`` go into every checkpoint."""

    loop: dict[str, Any]
    rows: list[dict[str, Any]] = field(default_factory=list)
    best: float = math.inf
    checkpoint: Path | None = None  # the last checkpoint saved or resumed from
    saved_step: int = -1
    last_save: float = field(default_factory=time.perf_counter)
    wall0: float = field(default_factory=time.perf_counter)
    wall_before: float = 0.0
    images_seen: int = 0
    t_train: float = 0.0
    step_times: list[float] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # said at the start; TrainResult.warnings

    def wall(self) -> float:
        """Seconds of wall time since the run first started, summed over its resumes."""
        return self.wall_before + time.perf_counter() - self.wall0

    @property
    def step(self) -> int:
        return int(self.loop["global_step"])


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM: the run stopped at a step boundary and saved; the message says how to resume."""


def train(
    cfg: TrainConfig, data: DataSplits | None = None, log: Callable[[str], None] = print
) -> TrainResult:
    """Train ``cfg.model`` as ``cfg.recipe`` says; see the module docstring for what is written where.

    Options are validated first (:func:`convzoo.train.options.validate_config`), before anything is loaded
    or written. Ctrl-C or SIGTERM stops at the next step boundary, saves, and raises
    :class:`TrainingInterrupted`; a run that ends at chance level says so loudly (``TrainResult.warnings``).
    """
    from convzoo.train.options import validate_config

    # the default recipe is fast with changes that pass these checks; it is resolved once the data is loaded
    validate_config(cfg if cfg.recipe is not None else dataclasses.replace(cfg, recipe=get_recipe("fast")))
    device = resolve_device(cfg.device)
    info = zdist.setup(device)
    if info.enabled and device.type == "cuda":
        device = torch.device("cuda", info.local_rank)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    say = log if info.is_main else (lambda s: None)
    try:
        result = _train(cfg, data, device, info, say)
    except BaseException:
        zdist.cleanup(synchronize=False)
        raise
    zdist.cleanup()
    return result


def _train(
    cfg: TrainConfig,
    data: DataSplits | None,
    device: torch.device,
    info: zdist.DistInfo,
    say: Callable[[str], None],
) -> TrainResult:
    run_dir = run_folder_path(cfg.out_dir, zdist.broadcast_object(_run_name(cfg), info))
    data = _load_data(cfg, data, say)
    cfg = _fit_schedule(cfg, data, info, say)
    cfg, warnings = _resolve_recipe(cfg, data, say)
    model, window = _build_model(cfg, data, device, say)
    with _own_folder(run_dir, info, say) as folder, _StopSignals() as stop:
        saved = _read_saved(cfg, data, model, folder, run_dir, info, say)
        run = _setup(cfg, data, device, info, say, model, window, saved)
        state = _start(run, folder, run_dir, saved)
        state.warnings = warnings
        while state.step < run.stop_step:
            finished_epoch = _train_epoch(run, state, folder, stop)
            if finished_epoch:
                _end_epoch(run, state, folder)
            if _stop_requested(run, stop):
                _interrupted(run, state, stop.requested or "stop requested on another process")
        return _finish(run, state, folder, run_dir)


# --- set up


def _load_data(
    cfg: TrainConfig, data: DataSplits | None, say: Callable[[str], None]
) -> DataSplits | StreamSplits:
    """The data in memory, or indexed to stream (an image folder too large for memory, or ``stream=True``)."""
    if data is not None and cfg.stream:
        raise ValueError("stream=True needs the data as a folder path (cfg.data), not DataSplits in memory")
    crop = _stream_crop(cfg, say) if data is None else None
    if crop is not None:
        data = stream_splits(
            cfg.data,
            augment=_stream_augment(cfg),
            crop=crop,
            per_class=cfg.per_class,
            on_bad="skip" if cfg.skip_bad_images else "error",
            val_split="val" if (Path(cfg.data) / "val").is_dir() or not (Path(cfg.data) / "test").is_dir() else "test",
        )
    elif data is None:
        data = load_data(
            cfg.data,
            root=cfg.data_root,
            val_size=(cfg.recipe or get_recipe("fast")).val_size,  # the default recipe keeps fast's
            seed=cfg.seed,
            per_class=cfg.per_class,
            image_size=cfg.image_size,
            on_bad="skip" if cfg.skip_bad_images else "error",
            download=cfg.download,
        )
    for split in (data.train, data.val, getattr(data, "test", None)):
        if split is not None and split.skipped:
            say(f"skipped {len(split.skipped)} unreadable image(s), e.g. {split.skipped[0]}")
    return data


def _stream_crop(cfg: TrainConfig, say: Callable[[str], None]) -> int | None:
    """The crop size to stream ``cfg.data`` at, or None to load it into memory (said, with the reason)."""
    folder = (Path(cfg.data) / "train").is_dir()
    crop = cfg.image_size
    if crop is None and ":" not in cfg.model:
        from convzoo.registry import model_info

        crop = model_info(cfg.model).input_size[-1]
    if cfg.stream and (not folder or crop is None):
        why = f"{cfg.data!r} is no image folder with a train/ folder" if not folder else "the crop is unknown"
        raise ValueError(f"--stream needs an image folder and a crop size: {why} (pass --image-size N)")
    if not folder or crop is None:
        return None
    force = None if cfg.stream is None else ("stream" if cfg.stream else "memory")
    stream, why = choose_streaming(cfg.data, crop, force=force)
    if not stream and force is None and cfg.image_size is None:
        sizes = _varied_sizes(cfg.data)
        if sizes is not None:  # in memory they would all need one size: stream at the model's input instead
            aug = _stream_augment(cfg)
            how = "no augmentation (the centre view)" if aug == "center" else f"the paper's augmentation {aug!r}"
            stream, why = True, (
                f"data: streaming {cfg.data}: its images vary in size ({sizes[0]} to {sizes[1]} in a sample), "
                f"so each is cropped to {crop}×{crop} as it is read, with {how} (--in-memory --image-size N "
                "loads them all resized to N×N instead)"
            )
    say(why)
    return crop if stream else None


def _varied_sizes(root: str, sample: int = 64) -> tuple[str, str] | None:
    """The smallest and largest W×H among up to ``sample`` evenly spaced training images of the folder
    ``root`` (headers only), or None where they all have one size."""
    from convzoo.data.stream import index_split, open_image

    files = index_split(root, "train", on_bad="skip").files
    picks = sorted({round(i * (len(files) - 1) / max(1, sample - 1)) for i in range(min(sample, len(files)))})
    sizes = set()
    for i in picks:
        try:
            with open_image(files[i]) as img:
                sizes.add(tuple(img.size))
        except (OSError, ValueError):  # an unreadable file is reported when the data is read
            continue
    if len(sizes) < 2:
        return None
    lo, hi = min(sizes, key=lambda s: s[0] * s[1]), max(sizes, key=lambda s: s[0] * s[1])
    return f"{lo[0]}×{lo[1]}", f"{hi[0]}×{hi[1]}"


def _stream_augment(cfg: TrainConfig) -> str:
    """The decode-time augmentation of a streamed folder: the recipe's; for the default recipe, that of the
    model's paper recipe (ResNet's scale augmentation for a ResNet); else none ("center")."""
    from convzoo.train.recipes import paper_recipe

    if cfg.recipe is not None:
        return cfg.recipe.paper_augment or "center"
    own = paper_recipe(cfg.model) if ":" not in cfg.model else None
    return (get_recipe(own).paper_augment if own else None) or "center"


def _resolve_recipe(
    cfg: TrainConfig, data: DataSplits | StreamSplits, say: Callable[[str], None]
) -> tuple[TrainConfig, list[str]]:
    """``cfg`` with its recipe (None: the default for the model and the data's classes, printed), and the
    warnings for the parts of the recipe that do not suit the data (said now, and returned by the run)."""
    from convzoo.train.options import data_warnings, default_recipe

    if cfg.recipe is None:
        r = default_recipe(
            cfg.model, cfg.data, data.classes, model_kwargs=cfg.model_kwargs, per_class=cfg.per_class
        )
        say(f"recipe: {r.name} (the default, adapted to the model and the data): {r.summary}")
        cfg = dataclasses.replace(cfg, recipe=r)
    warnings = data_warnings(cfg.data, list(data.classes), cfg.recipe)
    for w in warnings:
        say(w)
    return cfg, warnings


def _fit_schedule(
    cfg: TrainConfig, data: DataSplits | StreamSplits, info: zdist.DistInfo, say: Callable[[str], None]
) -> TrainConfig:
    """A paper recipe given another length keeps the shape of its schedule (:func:`fit_schedule`), said first
    (the default recipe, ``cfg.recipe`` None, has no milestones to fit)."""
    if cfg.recipe is None:
        return cfg
    recipe, line = fit_schedule(cfg.recipe, _steps_per_epoch(cfg, data, info))
    if line is None:
        return cfg
    say(f"recipe {cfg.recipe.name}, {line}")
    return dataclasses.replace(cfg, recipe=recipe)


def _build_model(
    cfg: TrainConfig, data: DataSplits | StreamSplits, device: torch.device, say: Callable[[str], None]
) -> tuple[nn.Module, int | None]:
    """The initialised model on ``device``, and the small-crop window it can take (None: full size)."""
    r, num_classes, size = cfg.recipe, len(data.classes), data.image_size
    check_input_size(cfg, size, num_classes)
    note = channel_note(cfg.model, size[0])
    if note:
        say(note)
    streamed = isinstance(data, StreamSplits)
    window = None if streamed else small_crops(r, size)[0]  # streamed: the paper's decode-time crops
    if window is not None:
        try:
            check_input_size(cfg, (size[0], window, window), num_classes)
        except ValueError:
            say(
                f"note: {cfg.model} cannot take the recipe's {window}×{window} small crops; training at full size"
            )
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
        if streamed:
            raise ValueError(f"{cfg.model} initialises from the training images in memory: pass --in-memory")
        pick = torch.randperm(len(data.train), generator=torch.Generator().manual_seed(cfg.seed))[:5000]
        init_from_data(normalize(data.train.images[pick], data.mean, data.std))
    model.to(device)
    if r.channels_last if cfg.channels_last is None else cfg.channels_last:
        model.to(memory_format=torch.channels_last)
    return model, window


def _run_name(cfg: TrainConfig) -> str:
    if cfg.name is not None:
        return cfg.name
    return f"{cfg.model.replace(':', '.')}-{Path(cfg.data).name}-{time.strftime('%Y%m%d-%H%M%S')}"


@contextlib.contextmanager
def _own_folder(
    run_dir: Path, info: zdist.DistInfo, say: Callable[[str], None]
) -> Iterator[RunFolder | None]:
    """Rank 0 owns the run folder (its lock) for the whole run; the other ranks never write into it."""
    if not info.is_main:
        yield None
        return
    with RunFolder.open(run_dir, say) as folder:
        yield folder


def _total_steps(epochs: float | None, iterations: int | None, spe: int) -> int:
    if iterations is not None:
        return int(iterations)
    if epochs is not None:
        return max(1, math.ceil(epochs * spe))
    raise ValueError("the recipe sets neither epochs nor iterations")


def _steps_per_epoch(cfg: TrainConfig, data: DataSplits | StreamSplits, info: zdist.DistInfo) -> int:
    batch = cfg.recipe.batch_size
    if batch % info.world_size:
        raise ValueError(f"batch size {batch} is not divisible by the {info.world_size} processes")
    return steps_per_epoch(data, batch, info.world_size)


def _metadata(cfg: TrainConfig, data: DataSplits | StreamSplits) -> dict[str, Any]:
    return {
        "model": cfg.model,
        "num_classes": len(data.classes),
        "in_chans": data.image_size[0],
        "image_size": list(data.image_size),
        "classes": data.classes,
        "mean": list(data.mean),
        "std": list(data.std),
        "data": cfg.data,
        "model_kwargs": cfg.model_kwargs,
        "resize": cfg.image_size,  # --image-size used in training (None: the data's own size)
    }


def _data_record(data: DataSplits | StreamSplits) -> dict[str, Any]:
    """What identifies the data a run trains on (compared on resume)."""
    test = getattr(data, "test", None)
    return {
        "classes": list(data.classes),
        "image_size": list(data.image_size),
        "train_images": len(data.train),
        "val_images": len(data.val) if data.val else 0,
        "test_images": len(test) if test else 0,
        "streamed": isinstance(data, StreamSplits),
    }


def _setup(
    cfg: TrainConfig,
    data: DataSplits | StreamSplits,
    device: torch.device,
    info: zdist.DistInfo,
    say: Callable[[str], None],
    model: nn.Module,
    window: int | None,
    saved: dict[str, Any] | None,
) -> _Run:
    """Optimizer, schedule, augmentation and features for ``model``; lengths planned (or as saved)."""
    r = cfg.recipe
    spe = _steps_per_epoch(cfg, data, info)
    total = _total_steps(r.epochs, r.iterations, spe)
    plan = _saved_plan(saved, total)
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
    schedule = build_schedule(
        optimizer,
        r.schedule,
        total_steps=plan if r.interval == "step" else math.ceil(plan / spe),
        interval=r.interval,  # type: ignore[arg-type]
        warmup_steps=r.warmup,
        warmup_lr=r.warmup_lr,
        **r.schedule_params,
    )
    dtype = amp_dtype(device) if (r.amp if cfg.amp is None else cfg.amp) else None
    if cfg.amp and dtype is None:
        say("note: this CPU has no native bf16; training in fp32")
    freeze = frozen_after(model, spe)
    window_steps = math.ceil(small_crops(r, data.image_size)[1] * spe) if window is not None else 0
    stop = total if cfg.max_epochs is None else min(total, math.ceil(cfg.max_epochs * spe))
    net = _wrap_ddp(model, device, info, bool(freeze))
    return _Run(
        cfg=cfg,
        data=data,
        device=device,
        info=info,
        say=say,
        model=model,
        net=torch.compile(net) if cfg.compile else net,  # the state_dict stays the model's own
        optimizer=optimizer,
        schedule=schedule,
        scaler=torch.amp.GradScaler(device.type, enabled=dtype == torch.float16),  # fp16 loss scaling
        source=_data_source(cfg, data, window, window_steps, say),
        lookahead=Lookahead(model, plan, **r.lookahead) if r.lookahead else None,
        freeze=freeze,
        dtype=dtype,
        channels_last=r.channels_last if cfg.channels_last is None else cfg.channels_last,
        window=window,
        window_steps=window_steps,
        spe=spe,
        total_steps=total,
        plan_steps=plan,
        stop_step=stop,
        metadata=_metadata(cfg, data),
        sync_every=1 if info.enabled else SYNC_EVERY,  # DDP: the ranks agree on a stop every step
    )


def _data_source(
    cfg: TrainConfig,
    data: DataSplits | StreamSplits,
    window: int | None,
    window_steps: int,
    say: Callable[[str], None],
) -> InMemory | Streamed:
    """The training batches and evaluations: augmented on the device in memory, or streamed from a folder."""
    r = cfg.recipe
    if isinstance(data, StreamSplits):
        say(
            f"streaming: images augmented as the paper {data.augment!r} did (the recipe's paper_augment), "
            f"not by its batch augmentation {r.augment!r}; evaluation by the centre {data.crop}-pixel crop"
            + (f", not --tta {r.tta}" if r.tta != "none" else "")
        )
        workers = cfg.workers if cfg.workers is not None else min(8, os.cpu_count() or 1)
        return Streamed(data, cfg.seed, workers)
    spec = AugmentSpec.parse(r.augment)
    pca = lighting_pca(data.train.images) if r.augment and spec.lighting else None
    augment = BatchAugment(spec, data.mean, data.std, pca, num_images=len(data.train), seed=_mix(cfg.seed, 4))
    return InMemory(data, augment, cfg.seed, window, window_steps)


def _saved_plan(saved: dict[str, Any] | None, total: int) -> int:
    """The length the schedule was planned for: as saved (a run extended keeps it), else this run's."""
    if saved is None or "plan" not in saved:
        return total
    plan = saved["plan"].get("total_steps") if isinstance(saved["plan"], dict) else None
    if not isinstance(plan, int) or isinstance(plan, bool) or plan < 1:
        raise CheckpointError(f"{saved['path'] / 'state.pt'}: 'plan' must hold total_steps, an integer >= 1")
    return plan


def _wrap_ddp(model: nn.Module, device: torch.device, info: zdist.DistInfo, freezes: bool) -> nn.Module:
    if not info.enabled:
        return model
    # stochastic depth skips whole residual branches in some steps, and parameters trained only for the
    # first epochs stop: their parameters get no gradient
    skips = freezes or any(
        isinstance(m, DropPath) and m.drop_prob > 0 and m.mode == "batch" for m in model.modules()
    )
    return nn.parallel.DistributedDataParallel(
        model, device_ids=[device.index] if device.type == "cuda" else None, find_unused_parameters=skips
    )


# --- resume


def _json(x: Any) -> Any:
    return json.loads(json.dumps(x, default=str))


def _read_saved(
    cfg: TrainConfig,
    data: DataSplits | StreamSplits,
    model: nn.Module,
    folder: RunFolder | None,
    run_dir: Path,
    info: zdist.DistInfo,
    say: Callable[[str], None],
) -> dict[str, Any] | None:
    """With ``--resume``, the saved state (its weights loaded into ``model``) after checking that this run
    continues it; None for a fresh start. ``state["changed"]`` holds the accepted changes."""
    latest = folder.latest() if folder is not None else None
    if folder is not None and not cfg.resume and (latest is not None or folder.checkpoints()):
        raise FileExistsError(
            f"{run_dir} already holds checkpoints; pass --resume to continue that run, or choose another --name"
        )
    found = zdist.broadcast_object(str(latest) if latest is not None else None, info)
    if found is None:
        if cfg.resume:
            say(f"note: {run_dir} holds no checkpoint to resume; starting at step 0")
        return None
    latest = Path(found)
    state = load_checkpoint(latest, model)
    for key in ("optimizer", "schedule", "loop", "metrics", "config"):
        if key not in state:
            raise CheckpointError(f"{latest / 'state.pt'} has no {key!r}: it cannot be resumed")
    state["path"] = latest
    state["changed"] = _check_resume(cfg, data, state, _steps_per_epoch(cfg, data, info))
    return state


def _check_resume(
    cfg: TrainConfig, data: DataSplits | StreamSplits, state: dict[str, Any], spe: int
) -> dict[str, list[Any]]:
    """Refuse (one message, every difference) a resume that changes what the run computes; return the
    accepted changes."""
    saved_cfg, new_cfg = state["config"], _json(cfg.to_dict())
    refused, accepted = compare_configs(saved_cfg, new_cfg)
    saved_data = state.get("data") or {"classes": state["metadata"].get("classes")}
    for key, value in _data_record(data).items():
        if key in saved_data and saved_data[key] != value:
            refused.append(f"data {key}: {saved_data[key]!r} -> {value!r}")
    sr = saved_cfg.get("recipe") if isinstance(saved_cfg.get("recipe"), dict) else {}
    epochs, iterations = sr.get("epochs"), sr.get("iterations")
    if not all(v is None or (isinstance(v, int | float) and math.isfinite(v)) for v in (epochs, iterations)):
        raise CheckpointError(
            f"{state['path'] / 'state.pt'}: the saved config's epochs/iterations are not numbers"
        )
    before = _total_steps(epochs, iterations, spe)
    now = _total_steps(cfg.recipe.epochs, cfg.recipe.iterations, spe)
    if now < before:
        refused.append(
            f"length: {before} steps -> {now} (a shorter run; use --max-epochs to stop early instead)"
        )
    if refused:
        raise ValueError(
            f"cannot resume {state['path']}: these settings differ from the run's and change what it computes "
            "(exact resume needs them unchanged):\n  " + "\n  ".join(refused) + "\nRun again with the "
            "run's own settings (its config.json), or start a new run with another --name"
        )
    return accepted


def _start(run: _Run, folder: RunFolder | None, run_dir: Path, saved: dict[str, Any] | None) -> _State:
    """Restore the saved state (or start at step 0), write config.json, and check the disk has room."""
    state = _State(loop={"global_step": 0, "save_index": 0, "epoch_sums": [0.0, 0.0, 0.0], "epoch_time": 0.0})
    if saved is not None:
        _restore(run, state, saved)
    if folder is not None:
        folder.check_free_space(_checkpoint_bytes(run))
        folder.write_config(_config_record(run))
        if saved is not None:
            folder.record_resume(state.step, saved["path"], saved["changed"])
    r = run.cfg.recipe
    run.say(
        f"training {run.cfg.model} on {run.cfg.data}: {len(run.data.train)} train images "
        f"{tuple(run.data.image_size)}, {len(run.data.classes)} classes, {run.total_steps} steps ({run.epochs} "
        f"epochs of {run.spe}), batch {r.batch_size}{f' on {run.info.world_size} processes' if run.info.enabled else ''}"
        f", {r.optimizer} lr {r.lr}, {r.schedule} schedule, amp {run.dtype or 'off'}, channels_last "
        f"{run.channels_last}, run folder {run_dir}"
    )
    run.model.train()
    return state


def _wall_at_save(carried: float | None, state: _State) -> float:
    """The wall time a checkpoint was saved at: its own record, or (a checkpoint older than that record) the
    last epoch's wall time plus the training time of the epoch under way, which leaves out only that part
    epoch's checkpoint writes."""
    if carried is not None:  # validated by trust.read_train_state
        return float(carried)
    last = float(state.rows[-1].get("wall_s", 0.0)) if state.rows else 0.0
    return last + float(state.loop.get("epoch_time", 0.0))


def _restore(run: _Run, state: _State, saved: dict[str, Any]) -> None:
    path = saved["path"]
    run.optimizer.load_state_dict(saved["optimizer"])
    run.schedule.load_state_dict(saved["schedule"])
    if saved.get("scaler"):
        run.scaler.load_state_dict(saved["scaler"])
    if run.lookahead is not None:
        if "lookahead" not in saved:
            raise CheckpointError(f"{path} was saved by a run without lookahead; resume it with its recipe")
        run.lookahead.load_state_dict(saved["lookahead"])
    state.loop = dict(saved["loop"])
    carried = state.loop.pop("wall_s", None)
    state.rows = list(saved["metrics"])
    state.best = float(saved.get("best", math.inf))
    state.checkpoint, state.saved_step = path, state.step
    state.wall_before = _wall_at_save(carried, state)
    run.say(f"resumed {path.parent.parent} at step {state.step} (epoch {state.step // run.spe + 1})")
    changed = {k: v for k, v in saved["changed"].items() if k not in ("resume",)}
    if changed:
        run.say(
            "resume changes "
            + ", ".join(f"{k.replace('recipe.', '')} {a!r} -> {b!r}" for k, (a, b) in changed.items())
        )
    if run.plan_steps <= state.step < run.total_steps:
        run.say(
            f"extending the run to {run.total_steps} steps (its schedule was planned for {run.plan_steps}): "
            "past its end the learning-rate schedule keeps its final rate, Lookahead its final strength"
        )
    elif state.step >= run.total_steps:
        run.say(f"the run already finished at step {state.step}; pass a larger --epochs to extend it")


def _checkpoint_bytes(run: _Run) -> int:
    """About the size of one checkpoint: weights, plus optimizer and Lookahead state of the same size."""
    weights = sum(t.numel() * t.element_size() for t in run.model.state_dict().values())
    return 4 * weights + (1 << 16)


def _recipe_record(r: Recipe) -> dict[str, Any]:
    """The recipe's values, and ``changed_from_recipe`` (field → [named recipe's value, value run]).

    The summary never contradicts those changes: one that :func:`~convzoo.train.recipes.with_overrides`
    already annotated keeps its list and reasons, and any change it does not list (or the named recipe's own
    summary, with none listed) is annotated the same way."""
    d = r.to_dict()
    base = RECIPES.get(r.name)
    if base is None:
        return d
    descriptive = ("name", "source", "summary", "note")
    changed = {k: v for k, v in d.items() if k not in descriptive and v != getattr(base, k)}
    if not changed:
        return d
    d["changed_from_recipe"] = {k: [getattr(base, k), v] for k, v in changed.items()}
    unlisted = [k for k in changed if f"{k} {getattr(base, k)!r} → {getattr(r, k)!r}" not in r.summary]
    if r.summary == base.summary:
        d["summary"] = with_overrides(base, {k: getattr(r, k) for k in unlisted}).summary
    elif unlisted:
        listed = "; ".join(f"{k} {getattr(base, k)!r} → {getattr(r, k)!r}" for k in unlisted)
        d["summary"] = f"{r.summary} [also changed: {listed}]"
    return d


def _config_record(run: _Run) -> dict[str, Any]:
    """config.json: the configuration and every value resolved from it, as they ran."""
    data = run.data
    return {
        **run.cfg.to_dict(),
        "recipe": _recipe_record(run.cfg.recipe),
        "resolved": {
            "steps_per_epoch": run.spe,
            "total_steps": run.total_steps,
            "schedule_steps": run.plan_steps,
            "epochs": run.epochs,
            "world_size": run.info.world_size,
            "amp": str(run.dtype).replace("torch.", "") if run.dtype else "off",
            "channels_last": run.channels_last,
            "device": str(run.device),
            "small_crops": {"size": run.window, "steps": run.window_steps} if run.window else None,
            "train_images": len(data.train),
            "val_images": len(data.val) if data.val else 0,
            "test_images": _data_record(data)["test_images"],
            "streamed": isinstance(data, StreamSplits),
            "workers": run.source.workers if isinstance(run.source, Streamed) else None,
        },
    }


# --- one epoch


def _train_epoch(run: _Run, state: _State, folder: RunFolder | None, stop: _StopSignals) -> bool:
    """Train from the current step to the end of its epoch (or the budget, or a stop request).

    The steps' losses and correct counts stay on the device; the host reads them (:func:`_sync`: the finite
    check, the epoch's sums, the progress line) once every ``run.sync_every`` steps, before a checkpoint and
    at the end, so a GPU is never stalled by a per-step ``.item()``. Returns whether the epoch (or the
    budget) was completed.
    """
    gstep = state.step
    epoch, start = divmod(gstep, run.spe)
    batches = run.source.batches(
        epoch, start, spe=run.spe, batch=run.cfg.recipe.batch_size, info=run.info, device=run.device
    )
    progress = _Progress(run.info.is_main and run.cfg.progress is not False, run.cfg.progress)
    progress.start(epoch, run.epochs, min(run.spe, run.stop_step - epoch * run.spe), start)
    window = _Window(gstep)
    try:
        for step in range(start, run.spe):
            if gstep >= run.stop_step:
                break
            t0 = time.perf_counter()
            batch = next(batches)
            if batch is not None:  # None: no images on some process (all unreadable); nobody steps
                loss, logits, y = _train_step(run, state, batch, epoch, step, gstep)
                window.add(loss, logits, y)
            gstep += 1
            if run.lookahead is not None:
                run.lookahead.step(gstep)
                if gstep == run.total_steps:  # the run's end, never a budget's stop: a resume continues
                    run.lookahead.finish(gstep)
            if run.schedule.interval == "step":
                run.schedule.step()
            mid_epoch = step + 1 < run.spe and gstep < run.stop_step
            stopping = mid_epoch and _stop_requested(run, stop)
            saving = mid_epoch and not stopping and _save_due(run, state, gstep)
            synced = None
            if stopping or saving or not mid_epoch or gstep % run.sync_every == 0 or progress.line_due(step):
                synced = _sync(run, state, window)
            dt = time.perf_counter() - t0  # on a GPU the queued steps' time lands on the step that syncs
            state.step_times.append(dt)
            state.t_train += dt
            state.images_seen += run.cfg.recipe.batch_size if batch is not None else 0
            state.loop.update(global_step=gstep, epoch_time=state.loop["epoch_time"] + dt)
            progress.update(step, synced, run.cfg.recipe.batch_size / max(dt, 1e-9))
            if stopping or saving:
                _save(run, state, folder)
            if stopping:
                return False
    finally:
        batches.close()  # a streamed epoch stopped part-way: its DataLoader workers end
        progress.close()
    _sync(run, state, window)
    return True


class _Window:
    """The steps since the host last read the device: each step's loss and correct count, still on the device."""

    def __init__(self, first: int) -> None:
        self.reset(first)

    def reset(self, first: int) -> None:
        self.first = first  # the global step index of the first step held
        self.loss: list[torch.Tensor] = []
        self.correct: list[torch.Tensor] = []
        self.n: list[int] = []

    def add(self, loss: torch.Tensor, logits: torch.Tensor, y: torch.Tensor) -> None:
        self.loss.append(loss.detach())
        self.correct.append((logits.detach().argmax(1) == y).sum())
        self.n.append(len(y))


def _sync(run: _Run, state: _State, window: _Window) -> float | None:
    """The host's one read of the device for the steps in ``window`` (one transfer): a non-finite loss stops
    the run, naming the first step it appeared at; the losses and correct counts go into the epoch's sums in
    step order (the same float64 additions, so a resumed run's metrics match). Returns the epoch's mean
    training loss so far (None with no step held)."""
    if not window.loss:
        return None
    held = torch.stack([torch.stack(window.loss).double(), torch.stack(window.correct).double()])
    losses, correct = held.tolist()
    bad = [0.0 if math.isfinite(v) else 1.0 for v in losses]
    if run.info.enabled:  # any process's non-finite loss stops them all, at the same step
        bad = zdist.all_reduce_sum(torch.tensor(bad, device=run.device), run.info).tolist()
    first = next((i for i, b in enumerate(bad) if b), None)
    if first is not None:
        g = window.first + first
        epoch, step = divmod(g, run.spe)
        raise NonFiniteLossError(
            f"the loss became {losses[first]} at step {g + 1} (epoch {epoch + 1}, step {step + 1} of "
            f"{run.spe}); training stopped. {_kept(state)}{_lower_lr_hint(run)}"
        )
    sums = list(state.loop["epoch_sums"])  # loss sum, correct, n (this rank)
    for loss, right, n in zip(losses, correct, window.n, strict=True):
        sums = [sums[0] + loss * n, sums[1] + right, sums[2] + n]
    state.loop["epoch_sums"] = sums
    window.reset(window.first + len(window.n))
    return sums[0] / max(sums[2], 1.0)


def _train_step(
    run: _Run,
    state: _State,
    batch: tuple[torch.Tensor, torch.Tensor, float],
    epoch: int,
    step: int,
    gstep: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One optimizer step on batch ``step`` of the epoch (``(x, y, loss scale)`` from the data source); every
    random draw seeded by ``(seed, gstep)``. Nothing here waits for the device: the loss is checked for
    finiteness by :func:`_sync`, a few steps later (the last good checkpoint is never overwritten: a save
    syncs first)."""
    cfg, device = run.cfg, run.device
    x, y, scale = batch
    if run.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    for p, last_step in run.freeze:
        if p.requires_grad != (gstep < last_step):
            p.requires_grad_(gstep < last_step)
    torch.manual_seed(_mix(cfg.seed, gstep, 3, run.info.rank))  # dropout, drop-path
    aux_weights = tuple(getattr(run.model, "aux_weights", ()))
    with torch.autocast(device.type, dtype=run.dtype or torch.bfloat16, enabled=run.dtype is not None):
        loss, logits = training_loss(run.net(x), y, aux_weights, cfg.recipe.label_smoothing)
    run.optimizer.zero_grad(set_to_none=True)
    # scale: a streamed epoch's uneven last batch (DDP's mean over processes = the global batch's mean)
    run.scaler.scale(loss * scale if scale != 1.0 else loss).backward()  # fp16 on CUDA only; else as is
    if cfg.recipe.clip_grad:
        run.scaler.unscale_(run.optimizer)
        nn.utils.clip_grad_norm_(run.model.parameters(), cfg.recipe.clip_grad)
    run.scaler.step(run.optimizer)
    run.scaler.update()
    return loss, logits, y


def _kept(state: _State) -> str:
    if state.checkpoint is None:
        return "No checkpoint was saved yet. "
    return f"The last good checkpoint {state.checkpoint} is kept. "


def _lower_lr_hint(run: _Run) -> str:
    lr = run.cfg.recipe.lr
    lower = f" (e.g. --lr {lr / 10:g})" if math.isfinite(lr) else ""
    return f"Try a lower learning rate{lower} or gradient clipping (--clip-grad 1)"


def _save_due(run: _Run, state: _State, gstep: int) -> bool:
    every = run.cfg.checkpoint_every
    return (
        bool(every and gstep % every == 0)
        or time.perf_counter() - state.last_save > 60 * run.cfg.checkpoint_minutes
    )


# --- end of an epoch


def _end_epoch(run: _Run, state: _State, folder: RunFolder | None) -> None:
    """At the end of an epoch (or of the budget part-way through one): a metrics row, evaluation, the epoch's
    schedule step, metrics.csv, and a checkpoint."""
    t0 = time.perf_counter()
    gstep, spe = state.step, run.spe
    epoch_done = gstep // spe if gstep % spe == 0 else gstep // spe + 1
    sums = torch.tensor(state.loop["epoch_sums"], dtype=torch.float64, device=run.device)
    sums = zdist.all_reduce_sum(sums, run.info).tolist()  # on the device: nccl reduces CUDA tensors only
    n = max(sums[2], 1.0)
    row: dict[str, Any] = {
        "epoch": epoch_done,
        "step": gstep,
        "lr": run.optimizer.param_groups[0]["lr"],
        "train_loss": sums[0] / n,
        "train_err": 100 - 100 * sums[1] / n,
    }
    last = gstep >= run.stop_step
    if epoch_done % run.cfg.eval_every == 0 or last:
        row.update(_evaluate_splits(run, state))
    row["epoch_s"] = state.loop["epoch_time"]
    row["wall_s"] = state.wall()  # since the run started, over resumes
    row["images_per_s"] = n / max(state.loop["epoch_time"], 1e-9)
    # an epoch schedule steps when an epoch ends (or the run, part-way through one), never at a budget's stop
    if run.schedule.interval == "epoch" and (gstep % spe == 0 or gstep >= run.total_steps):
        metric = (
            row.get("val_err", row.get("test_err", row["train_err"])) if run.schedule.needs_metric else None
        )
        run.schedule.step(metric)
    if "val_err" in row and row["val_err"] < state.best:
        state.best = row["val_err"]
    state.rows.append(row)
    state.loop.update(epoch_sums=[0.0, 0.0, 0.0], epoch_time=0.0)
    msg = " ".join(f"{k} {v:.4g}" for k, v in row.items() if k not in ("epoch", "step"))
    run.say(f"epoch {epoch_done}/{run.epochs} {msg}")
    if folder is not None:
        folder.write_metrics(state.rows, plot=last or time.perf_counter() - t0 > 10)
    _save(run, state, folder)


def _evaluate_splits(run: _Run, state: _State) -> dict[str, float]:
    """Loss and errors on the val and test splits; a non-finite loss stops the run (nothing is saved)."""
    ev = dict(
        device=run.device,
        amp=run.dtype,
        channels_last=run.channels_last,
        info=run.info,
        tta=run.cfg.recipe.tta,
    )
    out: dict[str, float] = {}
    for name, m in run.source.evaluate(run.model, **ev).items():
        if not math.isfinite(m["loss"]):
            raise NonFiniteLossError(
                f"the {name} loss became {m['loss']} at step {state.step}: the network's outputs are not "
                f"finite, so its {name} error ({m['err']:.2f}%) means nothing; training stopped. "
                f"{_kept(state)}{_lower_lr_hint(run)}"
            )
        out.update({f"{name}_loss": m["loss"], f"{name}_err": m["err"], f"{name}_top5_err": m["top5_err"]})
    return out


# --- checkpoint


def _save(run: _Run, state: _State, folder: RunFolder | None) -> None:
    """Checkpoint the current step (rank 0 writes), if every weight, buffer and Lookahead tensor is finite."""
    if state.saved_step == state.step:
        return
    tensors = dict(run.model.state_dict())
    if run.lookahead is not None:
        tensors.update({f"lookahead.{k}": v for k, v in run.lookahead.state_dict().items()})
    bad = nonfinite_tensors(tensors)
    if bad:
        raise NonFiniteLossError(
            f"at step {state.step} {len(bad)} tensor(s) hold NaN or infinity ({', '.join(bad[:6])}"
            f"{', ...' if len(bad) > 6 else ''}); training stopped without saving them. {_kept(state)}"
            f"{_lower_lr_hint(run)}"
        )
    state.last_save, state.saved_step = time.perf_counter(), state.step
    if folder is None:
        return
    saved = {
        "optimizer": run.optimizer.state_dict(),
        "schedule": run.schedule.state_dict(),
        "scaler": run.scaler.state_dict(),
        **({"lookahead": run.lookahead.state_dict()} if run.lookahead is not None else {}),
        "loop": {**state.loop, "wall_s": state.wall()},
        "metrics": state.rows,
        "best": state.best,
        "config": _json(run.cfg.to_dict()),
        "data": _data_record(run.data),
        "plan": {"total_steps": run.plan_steps},
    }
    state.checkpoint = folder.save(save_checkpoint, run.model, saved, run.metadata)
    state.loop["save_index"] = int(state.checkpoint.name.removeprefix("ckpt_"))


# --- stop: Ctrl-C, SIGTERM


class _StopSignals:
    """While training, SIGINT (Ctrl-C) and SIGTERM ask the loop to stop at the next step boundary; a second
    Ctrl-C interrupts at once (the last checkpoint stays intact)."""

    def __init__(self) -> None:
        self.requested: str | None = None
        self._old: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt(  # mid-step: the last checkpoint is the one to resume from
                "interrupted; the last checkpoint is intact. To continue, run the same command with --resume"
            )
        self.requested = signal.Signals(signum).name

    def __enter__(self) -> _StopSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)


def _stop_requested(run: _Run, stop: _StopSignals) -> bool:
    """Whether any process was asked to stop (all of them stop at the same step)."""
    if not run.info.enabled:
        return stop.requested is not None  # a flag on the host: nothing to read from the device
    flag = torch.tensor([1.0 if stop.requested else 0.0], device=run.device)  # nccl reduces CUDA tensors only
    return bool(zdist.all_reduce_sum(flag, run.info).item())


def _interrupted(run: _Run, state: _State, why: str) -> None:
    where = f"saved {state.checkpoint}" if state.checkpoint is not None else "no checkpoint was saved yet"
    raise TrainingInterrupted(
        f"{why}: stopped at step {state.step} of {run.total_steps}; {where}. To continue, run the same "
        "command with --resume"
    )


# --- finish


def _finish(run: _Run, state: _State, folder: RunFolder | None, run_dir: Path) -> TrainResult:
    """Write the final metrics and curves; say loudly if the network ended at chance level."""
    from convzoo.train.options import chance_level_message

    final = state.rows[-1] if state.rows else {}
    if folder is not None and state.rows:
        folder.write_metrics(state.rows, plot=True)
    split = "test" if "test_err" in final else "val"
    evaluated = getattr(run.data, "test", None) if split == "test" else run.data.val
    warning = chance_level_message(
        final.get(f"{split}_err"), len(run.data.classes), len(evaluated) if evaluated is not None else None
    )
    if warning:
        run.say(warning)
        state.warnings.append(warning)
    return TrainResult(
        run_dir=run_dir,
        metrics=state.rows,
        model=run.model,
        final_test_err=final.get("test_err"),
        final_val_err=final.get("val_err"),
        images_per_s=state.images_seen / max(state.t_train, 1e-9),
        wall_s=state.wall(),  # since the run started, over resumes, like the rows' wall_s
        step_times=state.step_times,
        warnings=state.warnings,
    )
