"""Decoding one image file for streaming: a box of it resized (JPEG DCT-domain downscaling where the output is
much smaller), or the whole of it down to a shorter side, as a uint8 tensor.

The floor below both :mod:`convzoo.data.stream` (folders, loaders, splits) and
:mod:`convzoo.data.paper_augment` (the papers' crop boxes), which each import it; ``stream`` re-exports its
names.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable, Iterator

import numpy as np
import torch
from PIL import Image

from convzoo.data.readers import _SKIP_HINT, MAX_IMAGE_PIXELS, BadImageError, _to_mode
from convzoo.trust_image import open_image

__all__ = ["Box", "decode_box", "decode_short", "to_chw"]


Box = tuple[float, float, float, float]  # left, top, right, bottom in the file's pixels


@contextlib.contextmanager
def _opened(
    path: str | os.PathLike[str], max_pixels: int, short_side: int | None = None
) -> Iterator[Image.Image]:
    """:func:`convzoo.trust_image.open_image`, its refusals with the advice to skip such files."""
    try:
        with open_image(path, short_side=short_side, max_pixels=max_pixels) as img:
            yield img
    except BadImageError as e:
        raise BadImageError(e.cause, _SKIP_HINT) from None


def _draft(img: Image.Image, reduce: float) -> tuple[float, float]:
    """Let the JPEG decoder downscale by up to ``reduce`` (2, 4 or 8, in the DCT domain); the scale kept."""
    w, h = img.size
    if img.format == "JPEG" and reduce >= 2:
        img.draft(
            img.mode if img.mode in ("RGB", "L") else None, (math.ceil(w / reduce), math.ceil(h / reduce))
        )
    return img.size[0] / w, img.size[1] / h


def _in_mode(img: Image.Image, mode: str, path: str | os.PathLike[str]) -> Image.Image:
    """The decoded image in ``mode``: itself when it already is (no copy), else the strict readers' conversion."""
    img.load()
    return img if img.mode == mode else _to_mode(img, mode, path)


def decode_box(
    path: str | os.PathLike[str],
    box: Callable[[int, int], Box] | None,
    out: Callable[[int, int], tuple[int, int]],
    *,
    flip: bool = False,
    mode: str = "RGB",
    max_pixels: int = MAX_IMAGE_PIXELS,
) -> Image.Image:
    """Decode ``box(w, h)`` of an image (default: all of it), resized to ``out(box_w, box_h)``, optionally mirrored.

    When the output is at most half the box, JPEG decoding itself downscales by 2, 4 or 8 (``draft``), so a
    224 crop of a 12-megapixel photo decodes a fraction of the pixels. Any failure is a
    :class:`BadImageError` naming the file.
    """
    with _opened(path, max_pixels) as img:
        w, h = img.size
        left, top, right, bottom = box(w, h) if box is not None else (0.0, 0.0, float(w), float(h))
        ow, oh = out(round(right - left), round(bottom - top))
        sx, sy = _draft(img, min((right - left) / ow, (bottom - top) / oh))
        res = _in_mode(img, mode, path).resize(
            (ow, oh), Image.BILINEAR, box=(left * sx, top * sy, right * sx, bottom * sy)
        )
    return res.transpose(Image.FLIP_LEFT_RIGHT) if flip else res


def decode_short(
    path: str | os.PathLike[str], short: int, *, mode: str = "RGB", max_pixels: int = MAX_IMAGE_PIXELS
) -> Image.Image:
    """Decode a whole image, downscaled in the DCT domain as far as its shorter side stays at least ``short``."""
    with _opened(path, max_pixels, short) as img:
        _draft(img, min(img.size) / short)
        out = _in_mode(img, mode, path)
        return out.copy() if out is img else out  # ``img`` is closed on leaving


def to_chw(img: Image.Image) -> torch.Tensor:
    """A PIL image as a uint8 C×H×W tensor."""
    arr = np.asarray(img, dtype=np.uint8)
    arr = arr[:, :, None] if arr.ndim == 2 else arr
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))
