"""Where a run's training batches and evaluations come from: the training loop's data phase.

:class:`InMemory` serves images held in memory (:class:`~convzoo.data.DataSplits`), augmented a batch at a
time on the device; :class:`Streamed` serves an image folder too large for memory
(:class:`~convzoo.data.stream.StreamSplits`), decoded by DataLoader workers with the paper's decode-time
augmentation and finished (colour noise, normalization) on the device. Both give the loop one interface:

    steps_per_epoch(data, batch, world) optimizer steps in an epoch (a function: known before the source)
    batches(epoch, start, ...)          (x, y, scale) on the device for steps start, start+1, ... of the epoch,
                                        or None for a step with no images (skipped by every process)
    evaluate(model, ...)                {split: {"loss", "err", "top5_err"}}

Every random draw of global step ``t`` comes from generators seeded by ``(seed, t)`` (and the streamed
decode from ``(seed, epoch, image)``), so a run resumed at any step sees the batches it would have seen.
``scale`` multiplies a process's mean loss so that DDP's average over processes is the mean over the global
batch when the processes' slices are uneven (a streamed epoch's last batch); it is 1 for even slices.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from convzoo.data import BatchAugment, DataSplits
from convzoo.data.augment import to_device
from convzoo.data.stream import GlobalBatchSampler, StreamSplits
from convzoo.train import distributed as zdist

__all__ = ["InMemory", "Streamed", "mix", "steps_per_epoch"]

Batch = tuple[torch.Tensor, torch.Tensor, float]


def mix(*xs: int) -> int:
    """A 63-bit seed from integers (splitmix64), so (seed, step) pairs give independent streams."""
    z = 0x9E3779B97F4A7C15
    for x in xs:
        z = (z ^ (int(x) & 0xFFFFFFFFFFFFFFFF)) * 0xBF58476D1CE4E5B9 & 0xFFFFFFFFFFFFFFFF
        z = (z ^ (z >> 27)) * 0x94D049BB133111EB & 0xFFFFFFFFFFFFFFFF
        z ^= z >> 31
    return z & 0x7FFFFFFFFFFFFFFF


def steps_per_epoch(data: DataSplits | StreamSplits, batch: int, world: int) -> int:
    """Optimizer steps in an epoch: in memory the last incomplete batch is dropped, streamed it is kept."""
    n = len(data.train)
    if batch > n:
        raise ValueError(f"batch size {batch} is larger than the {n} training images; lower --batch-size")
    if isinstance(data, StreamSplits):
        return len(GlobalBatchSampler(n, batch, shuffle=False, world=world))
    return n // batch


@dataclass
class InMemory:
    """Batches of images held in memory: each epoch a permutation seeded by ``(seed, epoch)``, the last
    incomplete batch dropped; ``augment`` applied on the device (small-crop ``window`` before
    ``window_steps``). The training images live on the training device as uint8 (copied there once: CIFAR-10
    is 150 MB), so a step moves only its batch's row numbers."""

    data: DataSplits
    augment: BatchAugment
    seed: int
    window: int | None = None
    window_steps: int = 0
    _resident: dict[str, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict, repr=False)

    def resident(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """The training images (uint8) and labels on ``device``: the data's own tensors on the CPU, a copy
        made at the first call elsewhere."""
        key = str(device)
        if key not in self._resident:
            t = self.data.train
            self._resident.clear()  # one device at a time
            self._resident[key] = (t.images.to(device), t.labels.to(device))
        return self._resident[key]

    def batches(
        self, epoch: int, start: int, *, spe: int, batch: int, info: zdist.DistInfo, device: torch.device
    ) -> Iterator[Batch]:
        g = torch.Generator().manual_seed(mix(self.seed, epoch, 1))
        perm = torch.randperm(len(self.data.train), generator=g)
        local = batch // info.world_size
        images, labels = self.resident(device)
        for step in range(start, spe):
            gstep = epoch * spe + step
            rows = perm[step * batch : (step + 1) * batch]
            mine = rows[info.rank * local : (info.rank + 1) * local]  # on the CPU: alternating flips' index
            at = to_device(mine, device)
            x = self.augment(
                images[at],
                torch.Generator().manual_seed(mix(self.seed, gstep, 2)),
                offset=info.rank * local,
                total=batch,
                index=mine,
                epoch=epoch,
                window=self.window if gstep < self.window_steps else None,
            )
            yield x, labels[at], 1.0

    def evaluate(self, model: nn.Module, **ev: Any) -> dict[str, dict[str, float]]:
        """The val and test splits (where present), with the recipe's test-time augmentation."""
        from convzoo.train.evaluation import evaluate

        d = self.data
        splits = (("val", d.val), ("test", d.test))
        return {name: evaluate(model, s, d.mean, d.std, **ev) for name, s in splits if s is not None}


@dataclass
class Streamed:
    """Global batches of a folder streamed by ``workers`` DataLoader processes (:mod:`convzoo.data.stream`):
    every image once an epoch, a short last batch kept; the val folder evaluated by its centre crops."""

    splits: StreamSplits
    seed: int
    workers: int = 0

    def batches(
        self, epoch: int, start: int, *, spe: int, batch: int, info: zdist.DistInfo, device: torch.device
    ) -> Iterator[Batch | None]:
        loader = self.splits.train_loader(
            batch,
            epoch=epoch,
            seed=self.seed,
            workers=self.workers,
            rank=info.rank,
            world=info.world_size,
            start=start,
        )
        sizes = [len(b) for b in loader.batch_sampler.global_batches()]  # type: ignore[union-attr]
        for step, (x, y, _) in enumerate(loader, start):
            if self.splits.on_bad == "skip" and self._empty_anywhere(len(y), info, device):
                warnings.warn(
                    f"every image of batch {step + 1} of epoch {epoch + 1} on at least one process was skipped "
                    "as unreadable: that optimizer step is skipped by every process",
                    stacklevel=2,
                )
                yield None
                continue
            gen = torch.Generator().manual_seed(mix(self.seed, epoch * spe + step, 2))
            x = self.splits.finish(x.to(device, non_blocking=True), train=True, gen=gen)
            yield x, y.to(device, non_blocking=True), len(y) * info.world_size / sizes[step]

    @staticmethod
    def _empty_anywhere(n: int, info: zdist.DistInfo, device: torch.device) -> bool:
        """Whether any process's slice of this batch lost every image: then no process steps (DDP's gradient
        average needs every process's backward). Asked only where unreadable images are skipped."""
        if not info.enabled:
            return n == 0
        return bool(zdist.all_reduce_sum(torch.tensor([float(n == 0)], device=device), info).item())

    def evaluate(self, model: nn.Module, *, device: torch.device, info: zdist.DistInfo, **_: Any) -> dict:
        """The val folder (where present) by the centre crop, as the papers' single-crop figures."""
        from convzoo.data.protocols import evaluate_protocol

        s = self.splits
        if s.val is None:
            return {}
        was_training = model.training
        m = evaluate_protocol(
            model,
            s.val,
            "center",
            s.mean,
            s.std,
            crop=s.crop,
            workers=self.workers,
            device=device,
            rank=info.rank,
            world=info.world_size,
            on_bad=s.on_bad,
        )
        model.train(was_training)
        return {"val": {k: m[k] for k in ("loss", "err", "top5_err")}}
