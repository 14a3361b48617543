"""ImageNet accuracy of a source's pretrained weights, with the source's own preprocessing:
``convzoo eval --weights torchvision.v2 resnet50 --data /data/imagenet``.

The images stream through the resize, centre crop and interpolation the weights' provider publishes (V2's
232 → 224 bilinear, timm's bicubic 235 → 224), then its mean and std; a weights file is first matched to its
source by content (:func:`convzoo.hub.identify`), so a V2 file named as ``torchvision`` is evaluated as V2.
"""

from __future__ import annotations

import functools
import os
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from convzoo.hub.identify import identify
from convzoo.hub.load import load_pretrained
from convzoo.hub.sources import WeightSource, find_source

__all__ = ["IMAGENET_CLASSES", "SourceViews", "evaluate_weights", "imagenet_wnids"]

IMAGENET_CLASSES = 1000
_WNIDS = Path(__file__).resolve().parent.parent / "data" / "imagenet_wnids.json"


@functools.cache
def imagenet_wnids() -> tuple[str, ...]:
    """ImageNet-1k's 1000 WordNet IDs in the order of the classifiers' outputs (sorted), shipped with convzoo."""
    from convzoo.trust_read import read_json

    data = read_json(_WNIDS, cap_bytes=1 << 16, what="ImageNet-1k's WordNet IDs")
    wnids = tuple(data["wnids"])
    if len(wnids) != IMAGENET_CLASSES or list(wnids) != sorted(set(wnids)):
        raise ValueError(f"{_WNIDS}: not {IMAGENET_CLASSES} sorted WordNet IDs")
    return wnids


@dataclass(frozen=True)
class SourceViews:
    """One view per image, as the source's preprocessing makes it, before normalization: a 1×3×crop×crop
    uint8 tensor (picklable, for DataLoader workers)."""

    resize: int
    crop: int
    interpolation: str

    def __call__(self, path: Path, rng: np.random.Generator) -> torch.Tensor:
        from torchvision.transforms import InterpolationMode, v2

        from convzoo.trust_image import load_image

        img = load_image(path, "RGB", short_side=self.resize)
        resize = v2.Resize(self.resize, interpolation=InterpolationMode(self.interpolation), antialias=True)
        return v2.PILToTensor()(v2.CenterCrop(self.crop)(resize(img)))[None]


def evaluate_weights(
    name: str,
    source: str,
    data: str | os.PathLike[str],
    split: str = "val",
    *,
    file: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    per_class: int | None = None,
    workers: int = 0,
    skip_bad_images: bool = False,
    batch_size: int = 8,
) -> tuple[dict[str, Any], WeightSource]:
    """Top-1/top-5 error (%), loss and image count of ``source``'s ``name`` on ``data/split`` (ImageNet's
    layout: class folders named by WordNet ID — all 1000 or some of them — or its flat ``val/`` with the
    devkit), and the source the weights were evaluated as."""
    from convzoo.data.protocols import evaluate_protocol
    from convzoo.data.stream import index_split
    from convzoo.trust_image import DataFileError

    match = identify(name, source, file) if file is not None else None
    ws = match.source if match is not None else find_source(name, source)
    pre = ws.preprocess
    if pre is None:
        raise ValueError(f"{ws.describe()} for {name!r} has no published preprocessing to evaluate with")
    on_bad = "skip" if skip_bad_images else "error"
    wnids = imagenet_wnids()
    with warnings.catch_warnings(record=True) as missing:  # a subset of the classes: said below, in one line
        warnings.simplefilter("always")
        try:
            index = index_split(data, split, classes=wnids, on_bad=on_bad)
        except DataFileError as e:
            if "lacks" not in str(e):
                raise
            raise ValueError(
                f"{Path(data) / split}: pretrained weights classify ImageNet-1k's 1000 classes, so its class "
                "folders must be named by their WordNet IDs (n01440764 ... n15075141); these are not: "
                + str(e).rpartition("lacks: ")[2]
            ) from None
    for w in missing:
        if "has no folder for classes" not in str(w.message):
            warnings.warn(w.message, stacklevel=2)
    if per_class:
        index = index.per_class(per_class)
    present = len(set(index.labels))
    if present < IMAGENET_CLASSES:
        print(f"note: {Path(data) / split} has images of {present} of ImageNet-1k's {IMAGENET_CLASSES} classes; "
              "accuracy is over those (the network still chooses among all 1000)", file=sys.stderr)  # fmt: skip
    model, ws = load_pretrained(name, ws.source, match=match, cache_dir=cache_dir)
    metrics = evaluate_protocol(
        model.eval(), index, "center", pre.mean, pre.std, scales=(pre.resize,), crop=pre.crop,
        batch_size=batch_size, workers=workers, on_bad=on_bad,
        views=SourceViews(pre.resize, pre.crop, pre.interpolation),
    )  # fmt: skip
    return metrics, ws
