"""ImageNet predictions with a source's pretrained weights: ``convzoo predict --weights torchvision resnet50 IMG``."""

from __future__ import annotations

import os
import sys

import torch

from convzoo.hub.identify import identify
from convzoo.hub.load import load_pretrained
from convzoo.hub.sources import find_source, imagenet_classes

__all__ = ["classify"]

Prediction = list[tuple[str, float]]


def classify(
    name: str,
    source: str,
    images: list[str | os.PathLike[str]],
    topk: int = 5,
    *,
    file: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    skip_bad_images: bool = False,
) -> list[Prediction | None]:
    """For each image, the ``topk`` (ImageNet class name, probability) pairs of ``source``'s pretrained ``name``.

    Images get the source's own preprocessing (resize, centre crop, mean/std from its provider). ``file``: a
    local copy of the source's file instead of the download; its content decides the source
    (:func:`convzoo.hub.identify`: a V2 file named as ``"torchvision"`` gets V2's preprocessing).
    An unreadable image raises, or with ``skip_bad_images`` gets None and a note on stderr.
    """
    if topk < 1:
        raise ValueError(f"topk must be at least 1, not {topk}")
    match = identify(name, source, file) if file is not None else None  # the file's own source decides
    ws = match.source if match is not None else find_source(name, source)
    if ws.preprocess is None:
        raise ValueError(
            f"{source}'s {name} weights have no published preprocessing, so convzoo cannot classify"
        )
    batch: list[torch.Tensor] = []
    kept: list[int] = []
    for i, path in enumerate(images):
        try:
            batch.append(ws.preprocess.load(path))
            kept.append(i)
        except (ValueError, OSError) as e:
            if not skip_bad_images:
                raise
            print(f"note: skipped {path}: {e}", file=sys.stderr)
    results: list[Prediction | None] = [None] * len(images)
    if not batch:
        return results
    model = load_pretrained(name, ws.source, match=match, cache_dir=cache_dir)[0].eval()
    with torch.no_grad():
        prob = model(torch.stack(batch)).float().softmax(1)
    if not bool(torch.isfinite(prob).all()):
        raise FloatingPointError(f"{source}'s {name} gives non-finite outputs for these images")
    classes = imagenet_classes()
    top = prob.topk(min(topk, prob.shape[1]), dim=1)
    for i, vals, idx in zip(kept, top.values.tolist(), top.indices.tolist(), strict=True):
        results[i] = [(classes[j], v) for v, j in zip(vals, idx, strict=True)]
    return results
