"""The papers' decode-time augmentation of ImageNet-style images, named by recipes (``Recipe.paper_augment``).

Each augmentation picks, from the file's size and a random generator, the box of the file to crop and
whether to mirror it; :func:`convzoo.data.stream.decode_box` then decodes just enough of the JPEG and resizes
the box to the crop size. Cropping before resizing is resizing before cropping with the box scaled back to
the file, so a 224 crop of "the image with its shorter side rescaled to S" costs one resize of 224×224
pixels. Colour augmentation (PCA lighting, photometric jitter) runs later, on the device
(:func:`convzoo.data.stream.finish_batch`). Sizes scale with the crop: S = 256 means S = 256·crop/224.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from convzoo.data.augment import lighting_pca
from convzoo.data.decode import Box, decode_box, to_chw
from convzoo.trust_image import BadImageError, DataFileError

if TYPE_CHECKING:
    from convzoo.data.stream import FolderIndex

__all__ = ["PAPER_AUGMENTS", "PaperAugment", "center_box", "estimate_stats", "train_transform"]


@dataclass(frozen=True)
class PaperAugment:
    """One paper's augmentation: the crop geometry (``crop``: "alexnet", "scale", "area" or "center"), the
    short-side range ``scale`` (for "scale", in pixels at crop 224), the area and aspect ranges (for
    "area"), mirroring, and the device-side colour noise (``lighting`` σ, photometric ``jitter``)."""

    source: str
    crop: str
    scale: tuple[int, int] = (256, 256)
    area: tuple[float, float] = (0.08, 1.0)
    aspect: tuple[float, float] = (3 / 4, 4 / 3)
    flip: bool = True
    lighting: float = 0.0
    jitter: float = 0.0


PAPER_AUGMENTS: dict[str, PaperAugment] = {
    "center": PaperAugment(
        "no augmentation: shorter side to 256, centre 224 (the test-time view)", "center", flip=False
    ),
    "alexnet": PaperAugment(
        "Krizhevsky et al. 2012, §4.1: 256×256 image (shorter side to 256, centre square), random 224 crops and "
        "mirrors, PCA lighting σ=0.1",
        "alexnet",
        lighting=0.1,
    ),
    "vgg": PaperAugment(
        "Simonyan & Zisserman 2014, §3.1: scale jittering, shorter side S ∈ [256, 512], random 224 crop, mirrors "
        "(plus AlexNet's RGB colour shift)",
        "scale",
        scale=(256, 512),
        lighting=0.1,
    ),
    "inception": PaperAugment(
        "Szegedy et al. 2014, §6: patches of 8–100 % of the area with aspect ratio in [3/4, 4/3], mirrors, and "
        "Howard's photometric distortions (brightness, contrast, saturation ×[0.6, 1.4]) with lighting noise",
        "area",
        lighting=0.1,
        jitter=0.4,
    ),
    "resnet": PaperAugment(
        "He et al. 2015, §3.4: shorter side ∈ [256, 480], random 224 crop, mirrors, AlexNet's colour "
        "augmentation (PCA lighting σ=0.1); mean subtracted per channel",
        "scale",
        scale=(256, 480),
        lighting=0.1,
    ),
}


def _rescaled(s: int, crop: int) -> float:
    return s * crop / 224


def center_box(w: int, h: int, crop: int, short: float) -> Box:
    """The centre ``crop``×``crop`` square of the image with its shorter side rescaled to ``short``."""
    side = min(w, h) * crop / short
    return ((w - side) / 2, (h - side) / 2, (w + side) / 2, (h + side) / 2)


def _alexnet_box(w: int, h: int, crop: int, rng: np.random.Generator) -> Box:
    s = round(_rescaled(256, crop))
    unit = min(w, h) / s  # file pixels per pixel of the s×s image
    x, y = rng.integers(0, s - crop + 1, 2) * unit + ((w - min(w, h)) / 2, (h - min(w, h)) / 2)
    return (x, y, x + crop * unit, y + crop * unit)


def _scale_box(w: int, h: int, crop: int, lo: int, hi: int, rng: np.random.Generator) -> Box:
    s = rng.integers(round(_rescaled(lo, crop)), round(_rescaled(hi, crop)) + 1)
    side = min(w, h) * crop / s
    x, y = rng.uniform(0, w - side), rng.uniform(0, h - side)
    return (x, y, x + side, y + side)


def _area_box(w: int, h: int, spec: PaperAugment, rng: np.random.Generator) -> Box:
    """torchvision's RandomResizedCrop draw (ten tries, then the centre crop of the clamped aspect ratio)."""
    log_r = (math.log(spec.aspect[0]), math.log(spec.aspect[1]))
    for _ in range(10):
        area = w * h * rng.uniform(*spec.area)
        r = math.exp(rng.uniform(*log_r))
        cw, ch = math.sqrt(area * r), math.sqrt(area / r)
        if 0 < cw <= w and 0 < ch <= h:
            x, y = rng.uniform(0, w - cw), rng.uniform(0, h - ch)
            return (x, y, x + cw, y + ch)
    r = min(max(w / h, spec.aspect[0]), spec.aspect[1])
    cw, ch = (w, w / r) if w / h < r else (h * r, h)
    return ((w - cw) / 2, (h - ch) / 2, (w + cw) / 2, (h + ch) / 2)


def train_transform(name: str, crop: int) -> Callable[[Path, np.random.Generator], torch.Tensor]:
    """``f(path, rng)`` → uint8 3×crop×crop tensor, augmented as the paper ``name`` (a key of PAPER_AUGMENTS)."""
    if name not in PAPER_AUGMENTS:
        raise ValueError(f"unknown paper augmentation {name!r}; use one of: {', '.join(PAPER_AUGMENTS)}")
    return _Transform(PAPER_AUGMENTS[name], crop)


@dataclass(frozen=True)
class _Transform:  # a picklable callable, so DataLoader workers can receive it
    spec: PaperAugment
    crop: int

    def box(self, w: int, h: int, rng: np.random.Generator) -> Box:
        s, c = self.spec, self.crop
        if s.crop == "alexnet":
            return _alexnet_box(w, h, c, rng)
        if s.crop == "scale":
            return _scale_box(w, h, c, *s.scale, rng)
        if s.crop == "area":
            return _area_box(w, h, s, rng)
        return center_box(w, h, c, round(_rescaled(256, c)))

    def __call__(self, path: Path, rng: np.random.Generator) -> torch.Tensor:
        flip = bool(self.spec.flip and rng.random() < 0.5)
        img = decode_box(
            path, lambda w, h: self.box(w, h, rng), lambda bw, bh: (self.crop, self.crop), flip=flip
        )
        return to_chw(img)


def estimate_stats(
    index: FolderIndex, images: int = 256, size: int = 64, on_bad: str = "error"
) -> tuple[tuple[float, ...], tuple[float, ...], tuple[torch.Tensor, torch.Tensor]]:
    """Per-channel mean and std (on the [0, 1] scale) and the RGB PCA (eigenvalues, eigenvectors) of ``images``
    evenly spaced files of ``index``, each decoded as its centre square at ``size``×``size`` (colour statistics
    barely depend on resolution). ``on_bad="skip"`` leaves unreadable ones out (with a warning naming each)."""
    if not len(index):
        raise ValueError(f"{index.root}: no images to estimate colour statistics from")
    picks = np.linspace(0, len(index) - 1, min(images, len(index))).round().astype(int)
    decoded = [_centre_chw(index.files[i], size, on_bad) for i in picks]
    kept = [t for t in decoded if t is not None]
    if not kept:
        raise DataFileError(
            f"{index.root}: none of the {len(picks)} images picked for the colour statistics could be read"
        )
    x = torch.stack(kept)
    px = x.transpose(0, 1).reshape(3, -1).double() / 255
    mean, std = px.mean(1), px.std(1).clamp_min(1e-3)
    return tuple(mean.tolist()), tuple(std.tolist()), lighting_pca(x)


def _centre_chw(path: Path, size: int, on_bad: str) -> torch.Tensor | None:
    """The centre square of ``path`` at ``size``×``size``; None for an unreadable file when skipping."""
    try:
        return to_chw(decode_box(path, lambda w, h: center_box(w, h, 1, 1), lambda bw, bh: (size, size)))
    except BadImageError as e:
        if on_bad != "skip":
            raise
        warnings.warn(f"skipped unreadable image {e.cause}", stacklevel=3)
        return None
