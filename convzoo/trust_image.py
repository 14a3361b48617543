"""The one way convzoo opens an image file: the header is checked before a single pixel is decoded.

Every image convzoo reads (in-memory data sets, streamed folders and their statistics pass, ``predict``, the
papers' test protocols, ``visualize --image``, a peer's preprocessing) is opened by :func:`open_image`, or
decoded into memory by :func:`load_image`, which uses it. PIL opens a file lazily (the header only); before
anything is decoded or resized, :func:`size_problem` checks the declared size against these caps:

* each side from 1 to :data:`MAX_IMAGE_SIDE` (65,536, JPEG's and WebP's own limit);
* at most ``max_pixels`` pixels (default :data:`MAX_IMAGE_PIXELS`, 2**26 ≈ 67 M: a 60-megapixel photo fits,
  and decoded as RGBA it is 268 MB);
* an aspect ratio of at most :data:`MAX_ASPECT` (64:1, wider than any camera's panorama): a 2,000,000×1
  image is 2 MB decoded but 32×64,000,000 once its shorter side is resized to 32;
* with ``short_side`` (the shorter side the caller will resize to), at most ``max_pixels`` after that resize.

Only the formats photos come in are opened (:data:`FORMATS`); PIL's others (EPS, which runs Ghostscript, PSD,
ICNS, ...) are never tried. Anything else that goes wrong (a missing, unreadable, empty, truncated or
non-image file, a decompression bomb, a decoder error) is a :class:`BadImageError` whose message is
``"<file>: <cause>"`` or ``"cannot decode image <file>: <cause>"``.
"""

from __future__ import annotations

import contextlib
import functools
import os
import stat
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image

__all__ = [
    "FORMATS",
    "MAX_ASPECT",
    "MAX_IMAGE_PIXELS",
    "MAX_IMAGE_SIDE",
    "BadImageError",
    "DataFileError",
    "load_image",
    "open_image",
    "resized_size",
    "size_problem",
]

MAX_IMAGE_PIXELS = 1 << 26  # 67 M pixels (a 60-megapixel photo fits); PIL only warns from 89 M
MAX_IMAGE_SIDE = 1 << 16  # JPEG and WebP cannot be larger; with the two caps below, no image reaches it
MAX_ASPECT = 64  # 64:1; phones' panoramas are at most about 12:1
FORMATS = ("JPEG", "PNG", "GIF", "BMP", "TIFF", "WEBP", "PPM")  # JPEG includes cameras' MPO


class DataFileError(ValueError):
    """A dataset file that is malformed, truncated or not what it claims; the message names the file."""


class BadImageError(DataFileError):
    """An image file that cannot be decoded or is too large; the message names the file.

    ``cause`` is the message without ``advice`` (what to do about it), for a note when the image is skipped.
    """

    def __init__(self, message: str, advice: str = "") -> None:
        super().__init__(f"{message.rstrip('.')}. {advice}" if advice else message)
        self.cause = message


def resized_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    """The size of a ``width``×``height`` image once its shorter side is resized to ``short_side``."""
    scale = short_side / min(width, height)
    return max(short_side, round(width * scale)), max(short_side, round(height * scale))


def size_problem(
    width: int, height: int, *, short_side: int | None = None, max_pixels: int = MAX_IMAGE_PIXELS
) -> str | None:
    """Why an image of this declared size is refused (a sentence without the file name), or None."""
    n = width * height
    if not (0 < width and 0 < height and n <= max_pixels):
        return (
            f"{width}×{height} = {n:,} pixels; images may have 1 to {max_pixels:,} pixels "
            "(a larger one would decode to gigabytes)"
        )
    if max(width, height) > MAX_ASPECT * min(width, height):
        return (
            f"{width}×{height} has an aspect ratio of {max(width, height) / min(width, height):,.0f}:1; images "
            f"may be at most {MAX_ASPECT}:1 (resizing a thinner one would need gigabytes)"
        )
    if max(width, height) > MAX_IMAGE_SIDE:
        return f"{width}×{height} has a side longer than {MAX_IMAGE_SIDE:,} pixels"
    if short_side is not None:
        w, h = resized_size(width, height, short_side)
        if w * h > max_pixels:
            return (
                f"{width}×{height} resized to a shorter side of {short_side} would be {w}×{h} = "
                f"{w * h:,} pixels, more than {max_pixels:,}"
            )
    return None


def _check_file(path: str | os.PathLike[str]) -> None:
    try:
        st = os.stat(path)
    except OSError as e:
        raise BadImageError(f"cannot read image {path}: {e.strerror or e}") from e
    if not stat.S_ISREG(st.st_mode):
        raise BadImageError(f"{path} is not a regular file")
    if st.st_size == 0:
        raise BadImageError(f"{path} is empty (0 bytes)")


@functools.cache
def _formats() -> tuple[str, ...]:
    """:data:`FORMATS` that this PIL can open, their plugins imported (and no others)."""
    import importlib

    from PIL import Image

    for name in ("Bmp", "Gif", "Jpeg", "Png", "Ppm", "Tiff", "WebP"):
        with contextlib.suppress(ImportError):  # WebP needs libwebp
            importlib.import_module(f"PIL.{name}ImagePlugin")
    return tuple(f for f in FORMATS if f in Image.OPEN)


def _cause(e: BaseException) -> str:
    text = str(e).rstrip(".") or "no detail"
    return text if isinstance(e, OSError) else f"{type(e).__name__}: {text}"


@contextlib.contextmanager
def open_image(
    path: str | os.PathLike[str], *, short_side: int | None = None, max_pixels: int = MAX_IMAGE_PIXELS
) -> Iterator[Image.Image]:
    """The image at ``path``, opened lazily (nothing decoded yet) once its header passed the caps; closed on
    leaving. Any exception raised inside the block (the decoder's, or a resize's) becomes a
    :class:`BadImageError` naming the file."""
    from PIL import Image

    _check_file(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img = Image.open(path, formats=_formats())
        except Exception as e:  # decoders of arbitrary bytes raise many types; all mean "not a usable image"
            raise BadImageError(f"cannot decode image {path}: {_cause(e)}") from e
        try:
            problem = size_problem(*img.size, short_side=short_side, max_pixels=max_pixels)
            if problem:
                raise BadImageError(f"{path}: {problem}")
            yield img
        except BadImageError:
            raise
        except Exception as e:
            raise BadImageError(f"cannot decode image {path}: {_cause(e)}") from e
        finally:
            img.close()


def load_image(
    path: str | os.PathLike[str],
    mode: str | None = None,
    *,
    short_side: int | None = None,
    max_pixels: int = MAX_IMAGE_PIXELS,
) -> Image.Image:
    """The image at ``path`` decoded into memory (file closed), converted to ``mode`` if given; checked as
    :func:`open_image` does."""
    with open_image(path, short_side=short_side, max_pixels=max_pixels) as img:
        img.load()
        return img.convert(mode) if mode is not None and img.mode != mode else img.copy()
