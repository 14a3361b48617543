"""Evaluation: loss, top-1 and top-5 error of a model on a data set, with test-time augmentation views;
sharded across processes when distributed."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from convzoo.data import ImageSet, normalize
from convzoo.data.augment import to_device
from convzoo.train import distributed as zdist
from convzoo.train.recipes import TTA_MODES


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
    # loss, top-1 and top-5 correct, n: summed on the device and read once, at the end
    sums = torch.zeros(4, dtype=torch.float64, device=device)
    k = min(5, len(data.classes))
    for i in range(0, len(idx), batch_size):
        j = idx[i : i + batch_size]
        x = normalize(to_device(data.images[j], device), mean, std)
        y = to_device(data.labels[j], device)
        log_probs = []
        for weight, view in tta_views(x, tta):
            if channels_last:
                view = view.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=amp or torch.bfloat16, enabled=amp is not None):
                out = model(view).float()
            log_probs.append(out.log_softmax(1) + math.log(weight))
        logits = torch.stack(log_probs).logsumexp(0)  # log of the weighted mean of the views' softmax
        sums[0] += F.cross_entropy(logits, y, reduction="sum").double()
        top = logits.topk(k, dim=1).indices
        sums[1] += (top[:, 0] == y).sum()
        sums[2] += (top == y[:, None]).any(1).sum()
        sums[3] += len(j)
    loss, top1, top5, n = zdist.all_reduce_sum(sums, info).tolist()
    model.train(was_training)
    n = max(n, 1.0)
    return {"loss": loss / n, "err": 100 - 100 * top1 / n, "top5_err": 100 - 100 * top5 / n}


@torch.no_grad()
def correct_per_image(
    model: nn.Module,
    data: ImageSet,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    *,
    batch_size: int = 500,
    amp: torch.dtype | None = None,
    channels_last: bool = False,
) -> list[bool]:
    """Whether ``model``'s top-1 prediction is right, image by image in ``data``'s order (one process), with
    the same normalization, precision and layout as :func:`evaluate`: what a paired test compares."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out: list[bool] = []
    for i in range(0, len(data), batch_size):
        x = normalize(data.images[i : i + batch_size].to(device), mean, std)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=amp or torch.bfloat16, enabled=amp is not None):
            pred = model(x).float().argmax(1)
        out += (pred.cpu() == data.labels[i : i + batch_size]).tolist()
    model.train(was_training)
    return out
