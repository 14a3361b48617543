"""Strict readers for dataset files: MNIST idx, CIFAR binary and Python batches, CIFAR name lists, images.

Every byte read from a dataset file is data. Each reader checks what the file declares (magic numbers,
dimensions, record counts, array shapes and dtypes, label ranges) against the file's size and the dataset's
known layout *before* allocating for it, and raises :class:`DataFileError` (a ``ValueError``) whose message
names the file and the cause for anything else. Allocation bounds, stated so tests can hold them:

* idx files: the bytes present (at most what the header declares, capped by the official count) + 1 MB;
* CIFAR binary files: the file's size, capped by the official record count;
* CIFAR Python batches: about three times the file (capped by the official count) plus at most ~100 bytes
  per opcode (capped at 16 per official record); the opcodes are scanned first, so no declared length, memo
  index or array shape is trusted;
* images: at most ``max_pixels`` pixels per image (checked from the header, before decoding).

The CIFAR Python release is unpickled with a fixed table of five harmless globals, each replaced by a
checking stand-in: nothing in a file can name code to import or call.
"""

from __future__ import annotations

import gzip
import io
import math
import os
import pickle
import pickletools
import struct
import warnings
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

__all__ = [
    "MAX_IMAGE_PIXELS",
    "BadImageError",
    "DataFileError",
    "UnsafePickleError",
    "check_labels",
    "read_cifar_binary",
    "read_cifar_names",
    "read_cifar_pickle",
    "read_cifar_pickle_names",
    "read_idx",
    "read_image",
    "restricted_unpickle",
]

MAX_IMAGE_PIXELS = 1 << 26  # 67 M pixels (a 60-megapixel photo fits); PIL only warns below 89 M
MAX_NAMES_BYTES = 1 << 16
CIFAR_IMAGE_BYTES = 3 * 32 * 32


class DataFileError(ValueError):
    """A dataset file that is malformed, truncated or not what it claims; the message names the file."""


class UnsafePickleError(DataFileError, pickle.UnpicklingError):
    """A pickle that asks for code: a global or an opcode that the CIFAR release never uses."""


class BadImageError(DataFileError):
    """An image file that cannot be decoded or is too large; the message names the file."""


def _fail(path: str | os.PathLike[str], cause: str) -> DataFileError:
    return DataFileError(f"{path}: {cause}")


# ------------------------------------------------------------------------------------------------ MNIST idx


def read_idx(path: str | os.PathLike[str], tail: tuple[int, ...], max_count: int) -> np.ndarray:
    """Read an idx file of unsigned bytes (optionally ``.gz``) shaped ``(count, *tail)``, ``count <= max_count``.

    The header is checked before the body is read, and only the declared number of bytes is decompressed.
    """
    path = Path(path)
    ndim = 1 + len(tail)
    opener: Callable[..., Any] = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            head = f.read(4 + 4 * ndim)
            if len(head) < 4 or head[:3] != b"\x00\x00\x08":
                raise _fail(path, "not an idx file of unsigned bytes (bad magic number)")
            if head[3] != ndim or len(head) < 4 + 4 * ndim:
                raise _fail(path, f"header declares {head[3]} dimensions, expected {ndim} (count, {tail})")
            dims = struct.unpack(f">{ndim}I", head[4:])
            if dims[1:] != tail or not 0 < dims[0] <= max_count:
                raise _fail(path, f"header declares shape {dims}, expected (1..{max_count}, {tail})")
            size = math.prod(dims)
            body = _read_at_most(f, size + 1)
    except DataFileError:
        raise
    except (OSError, EOFError, zlib.error) as e:
        raise _fail(path, f"cannot read the file ({e})") from e
    if len(body) != size:
        what = "truncated" if len(body) < size else "longer than its header says"
        raise _fail(path, f"{what}: header declares {dims} = {size} bytes of data, found {len(body)}")
    return np.frombuffer(body, dtype=np.uint8).reshape(dims)


def _read_at_most(f: Any, n: int, chunk: int = 1 << 20) -> bytearray:
    """Up to ``n`` bytes, read in chunks: a header's claim is never allocated before the bytes exist."""
    buf = bytearray()
    while len(buf) < n:
        part = f.read(min(chunk, n - len(buf)))
        if not part:
            break
        buf += part
    return buf


def check_labels(
    labels: np.ndarray, num_classes: int, path: str | os.PathLike[str], what: str = "label"
) -> None:
    """Refuse any label outside ``0 .. num_classes - 1``, naming the file and the first bad record."""
    bad = np.flatnonzero((labels < 0) | (labels >= num_classes))
    if bad.size:
        raise _fail(
            path,
            f"{what} {int(labels[bad[0]])} at record {int(bad[0])} is outside 0..{num_classes - 1} "
            f"({bad.size} bad record(s))",
        )


# ------------------------------------------------------------------------------------------------ CIFAR binary


def read_cifar_binary(
    path: str | os.PathLike[str], label_classes: tuple[int, ...], max_records: int
) -> tuple[np.ndarray, np.ndarray]:
    """Images (N×3×32×32 uint8) and the last label column of a CIFAR binary file.

    Each record is one byte per entry of ``label_classes`` (the number of classes of that label: ``(10,)``
    for CIFAR-10, ``(20, 100)`` coarse and fine for CIFAR-100), then 3,072 pixel bytes.
    """
    path = Path(path)
    rec = len(label_classes) + CIFAR_IMAGE_BYTES
    try:
        size = path.stat().st_size
    except OSError as e:
        raise _fail(path, f"cannot read the file ({e.strerror})") from e
    if size == 0 or size % rec:
        raise _fail(
            path, f"{size} bytes is not a whole number of {rec}-byte records (truncated or not CIFAR)"
        )
    if size // rec > max_records:
        raise _fail(path, f"{size // rec} records, more than the {max_records} of the official release")
    try:
        raw = np.fromfile(path, dtype=np.uint8, count=size)
    except OSError as e:
        raise _fail(path, f"cannot read the file ({e})") from e
    if raw.size != size:
        raise _fail(path, f"changed while being read ({raw.size} of {size} bytes)")
    raw = raw.reshape(-1, rec)
    for col, n in enumerate(label_classes):
        check_labels(raw[:, col], n, path)
    images = raw[:, len(label_classes) :].reshape(-1, 3, 32, 32)
    return images, raw[:, len(label_classes) - 1].astype(np.int64)


def read_cifar_names(path: str | os.PathLike[str], count: int) -> list[str]:
    """The class names of a CIFAR binary release: ``count`` non-empty, distinct lines of text."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_NAMES_BYTES:
            raise _fail(path, f"larger than {MAX_NAMES_BYTES} bytes; a list of {count} class names is not")
        names = path.read_bytes().decode("utf-8").split()
    except UnicodeDecodeError as e:
        raise _fail(path, f"not UTF-8 text ({e.reason})") from e
    except OSError as e:
        raise _fail(path, f"cannot read the file ({e.strerror})") from e
    return _check_names(names, count, path)


def _check_names(names: list[str], count: int, path: str | os.PathLike[str]) -> list[str]:
    if len(names) != count or len(set(names)) != count:
        raise _fail(
            path, f"expected {count} distinct class names, found {len(names)} ({len(set(names))} distinct)"
        )
    return names


# ------------------------------------------------------------------------------------- CIFAR Python release


class _Reject(Exception):
    """A stand-in refused its arguments; the unpickler adds the file name."""


class _NdarrayToken:
    """What ``numpy.ndarray`` unpickles to: a token that only :func:`_reconstruct` accepts."""

    __slots__ = ()


_NDARRAY = _NdarrayToken()
_INT_DTYPES = frozenset({"u1", "u2", "u4", "u8", "i1", "i2", "i4", "i8"})
_BYTE_ORDERS = {"|": "=", "=": "=", "<": "<", ">": ">"}


def _text(value: object) -> object:
    return value.decode("ascii", "replace") if isinstance(value, bytes) else value


class _DtypeSpec:
    """What ``numpy.dtype(name, align, copy)`` unpickles to: an integer dtype, checked, byte order settable."""

    __slots__ = ("name", "order")

    def __init__(self, name: str) -> None:
        self.name, self.order = name, "="

    def __setstate__(self, state: object) -> None:
        ok = isinstance(state, tuple) and len(state) >= 5 and all(v is None for v in state[2:5])
        order = _text(state[1]) if ok else None  # type: ignore[index]
        if order not in _BYTE_ORDERS:
            raise _Reject(f"a dtype state numpy never writes for {self.name}")
        self.order = _BYTE_ORDERS[order]  # type: ignore[index]

    def dtype(self) -> np.dtype:
        return np.dtype(self.name).newbyteorder(self.order)


def _dtype(name: object, align: object = 0, copy: object = 1) -> _DtypeSpec:
    name = _text(name)
    if name not in _INT_DTYPES or not isinstance(align, int) or not isinstance(copy, int):
        raise _Reject(f"dtype {name!r}: only integer dtypes occur in CIFAR batches")
    return _DtypeSpec(name)  # type: ignore[arg-type]


class _PickledArray(np.ndarray):
    """What ``_reconstruct`` returns: an empty array whose ``__setstate__`` checks shape, dtype and size."""

    def __setstate__(self, state: object) -> None:
        if not isinstance(state, tuple) or len(state) not in (4, 5) or (len(state) == 5 and state[0] != 1):
            raise _Reject("an array state numpy never writes")
        shape, spec, fortran, raw = state[-4:]
        if not (
            isinstance(shape, tuple) and len(shape) <= 4 and all(type(d) is int and d >= 0 for d in shape)
        ):
            raise _Reject(f"array shape {_short(shape)} is not a tuple of at most 4 non-negative ints")
        if not isinstance(spec, _DtypeSpec) or not isinstance(fortran, bool) or not isinstance(raw, bytes):
            raise _Reject("an array state numpy never writes (dtype, order flag or data of the wrong type)")
        dtype = spec.dtype()
        if len(raw) != math.prod(shape) * dtype.itemsize:
            raise _Reject(
                f"array of shape {shape} {dtype} needs {math.prod(shape) * dtype.itemsize} bytes, has {len(raw)}"
            )
        super().__setstate__((1, shape, dtype, fortran, raw))


def _reconstruct(cls: object, shape: object, typecode: object) -> _PickledArray:
    if cls is not _NDARRAY or shape != (0,) or typecode not in (b"b", "b"):
        raise _Reject("numpy _reconstruct with arguments numpy never writes")
    return np.ndarray.__new__(_PickledArray, (0,), np.uint8)


def _encode(text: object, encoding: object = "utf-8") -> bytes:
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise _Reject("_codecs.encode other than the latin-1 bytes of protocol 2")
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError as e:
        raise _Reject(f"_codecs.encode: {e.reason}") from e


_GLOBALS: dict[tuple[str, str], object] = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): _dtype,
    ("_codecs", "encode"): _encode,  # how protocol 2 stores bytes
}
# Opcodes that reach code other than the stand-ins above, or that CIFAR files (protocol 2) never contain.
_FORBIDDEN_OPS = frozenset(
    {"PERSID", "BINPERSID", "EXT1", "EXT2", "EXT4", "INST", "OBJ", "NEWOBJ", "NEWOBJ_EX"}
    | {"NEXT_BUFFER", "READONLY_BUFFER", "BYTEARRAY8"}
)
_MEMO_PUTS = frozenset({"PUT", "BINPUT", "LONG_BINPUT"})


def _short(value: object, n: int = 60) -> str:
    try:
        r = repr(value) if isinstance(value, (int, str, bytes, tuple)) else type(value).__name__
    except ValueError:  # an int too long to print
        r = type(value).__name__
    return r if len(r) <= n else r[:n] + "…"


class _Unpickler(pickle.Unpickler):
    def __init__(self, data: bytes, source: str) -> None:
        super().__init__(io.BytesIO(data), encoding="bytes")
        self.source = source

    def find_class(self, module: str, name: str) -> object:
        if (module, name) in _GLOBALS:
            return _GLOBALS[(module, name)]
        raise UnsafePickleError(
            f"{self.source}: refusing to unpickle global {module}.{name}: the CIFAR Python release contains "
            "only arrays, lists and strings, so this file is not a genuine CIFAR batch (it could run code)"
        )


def _prescan(data: bytes, source: str, max_ops: int) -> None:
    """Walk the opcodes without building anything: forbidden opcodes, counts, memo indices, trailing bytes."""
    n, end = 0, -1
    try:
        for op, arg, pos in pickletools.genops(data):
            n += 1
            if n > max_ops:
                raise _fail(
                    source, f"more than {max_ops} pickle opcodes; a CIFAR batch of this size has fewer"
                )
            if op.name in _FORBIDDEN_OPS:
                raise UnsafePickleError(f"{source}: pickle opcode {op.name}, which CIFAR files never use")
            if op.name == "PROTO" and arg > 4:
                raise _fail(source, f"pickle protocol {arg}; CIFAR files use protocol 2")
            if op.name == "GLOBAL" and tuple(str(arg).split(" ", 1)) not in _GLOBALS:
                raise UnsafePickleError(
                    f"{source}: refusing to unpickle global {arg!s}: the CIFAR Python release contains only "
                    "arrays, lists and strings, so this file is not a genuine CIFAR batch (it could run code)"
                )
            if op.name in _MEMO_PUTS and not 0 <= arg <= n:
                raise _fail(source, f"pickle memo index {_short(arg)} at byte {pos} is out of range")
            end = pos
    except DataFileError:
        raise
    except Exception as e:  # pickletools raises ValueError, struct.error and others on malformed input
        raise _fail(source, f"not a valid pickle ({e})") from e
    if end != len(data) - 1:
        raise _fail(source, f"{len(data) - 1 - end} bytes after the end of the pickle")


def restricted_unpickle(data: bytes, source: str = "<bytes>", max_ops: int = 1_000_000) -> object:
    """Unpickle plain data and integer numpy arrays without letting the pickle run code or over-allocate.

    Refuses (with :class:`UnsafePickleError`) any global but numpy's array and dtype reconstruction and
    protocol 2's bytes encoding; every other malformation is a :class:`DataFileError` naming ``source``.
    """
    _prescan(data, source, max_ops)
    try:
        obj = _Unpickler(data, source).load()
    except DataFileError:
        raise
    except _Reject as e:
        raise _fail(source, str(e)) from None
    except Exception as e:  # the C unpickler raises many types (UnpicklingError, KeyError, TypeError, ...)
        raise _fail(source, f"not a valid CIFAR pickle ({type(e).__name__}: {e})") from e
    _check_plain(obj, source)
    return obj


_PLAIN = (type(None), bool, int, float, str, bytes, _PickledArray)


def _check_plain(obj: object, source: str) -> None:
    """Everything reachable is plain data: no stand-in (a dtype or a bare ``_reconstruct``) escapes."""
    seen: set[int] = set()
    todo = [obj]
    while todo:
        o = todo.pop()
        if id(o) in seen:
            continue
        seen.add(id(o))
        if isinstance(o, dict):
            todo.extend(o.keys())
            todo.extend(o.values())
        elif isinstance(o, (list, tuple)):
            todo.extend(o)
        elif type(o) not in _PLAIN:
            raise _fail(source, f"holds a {type(o).__name__}, which is not plain data")


def _as_dict(obj: object, path: str | os.PathLike[str]) -> dict[str, object]:
    if not isinstance(obj, dict) or not all(isinstance(k, (bytes, str)) for k in obj):
        raise _fail(path, f"a CIFAR batch is a dict with string keys, not {type(obj).__name__}")
    return {str(_text(k)): v for k, v in obj.items()}


def _field(d: dict[str, object], key: str, path: str | os.PathLike[str]) -> object:
    if key not in d:
        raise _fail(path, f"no {key!r} entry (it has {sorted(d)[:8]})")
    return d[key]


def _int_labels(
    value: object, n: int, num_classes: int, path: str | os.PathLike[str], key: str
) -> np.ndarray:
    if isinstance(value, _PickledArray) and value.ndim == 1:
        labels = np.asarray(value).astype(np.int64)
    elif isinstance(value, list) and all(type(v) is int for v in value):
        if value and not -1 < min(value) <= max(value) < num_classes:
            bad = next(v for v in value if not 0 <= v < num_classes)
            raise _fail(path, f"{key} holds {bad}, outside 0..{num_classes - 1}")
        labels = np.asarray(value, dtype=np.int64)
    else:
        raise _fail(path, f"{key!r} is not a list of integers")
    if labels.shape != (n,):
        raise _fail(path, f"{labels.shape[0]} {key} for {n} images")
    check_labels(labels, num_classes, path, key)
    return labels


def _read_capped(path: Path, cap: int) -> bytes:
    try:
        size = path.stat().st_size
        if size > cap:
            raise _fail(
                path, f"{size} bytes, larger than any genuine file of this kind ({cap} bytes at most)"
            )
        return path.read_bytes()
    except OSError as e:
        raise _fail(path, f"cannot read the file ({e.strerror})") from e


def read_cifar_pickle(
    path: str | os.PathLike[str], label_key: str, num_classes: int, max_records: int
) -> tuple[np.ndarray, np.ndarray]:
    """Images (N×3×32×32 uint8) and ``label_key`` labels of one CIFAR Python-release batch, fully checked."""
    path = Path(path)
    cap = max_records * (CIFAR_IMAGE_BYTES + 256) + (1 << 16)
    d = _as_dict(
        restricted_unpickle(_read_capped(path, cap), str(path), max_ops=16 * max_records + 4096), path
    )
    data = _field(d, "data", path)
    if not isinstance(data, _PickledArray) or data.dtype != np.uint8:
        raise _fail(path, "'data' is not a uint8 array")
    n = data.shape[0] if data.ndim else 0
    if data.shape not in ((n, CIFAR_IMAGE_BYTES), (n, 3, 32, 32)) or not 0 < n <= max_records:
        raise _fail(path, f"'data' has shape {data.shape}, expected (N, 3072) with 1 <= N <= {max_records}")
    labels = _int_labels(_field(d, label_key, path), n, num_classes, path, label_key)
    return np.asarray(data).reshape(n, 3, 32, 32), labels


def read_cifar_pickle_names(path: str | os.PathLike[str], key: str, count: int) -> list[str]:
    """The ``count`` class names under ``key`` in a CIFAR Python-release meta file."""
    path = Path(path)
    d = _as_dict(
        restricted_unpickle(_read_capped(path, MAX_NAMES_BYTES), str(path), max_ops=16 * count + 1024), path
    )
    names = _field(d, key, path)
    if not isinstance(names, list) or not all(isinstance(v, (bytes, str)) for v in names):
        raise _fail(path, f"{key!r} is not a list of strings")
    try:
        return _check_names([v.decode("utf-8") if isinstance(v, bytes) else v for v in names], count, path)
    except UnicodeDecodeError as e:
        raise _fail(path, f"a class name is not UTF-8 ({e.reason})") from e


# ------------------------------------------------------------------------------------------------ images


def _to_mode(img: Image.Image, mode: str, path: str | os.PathLike[str]) -> Image.Image:
    """Convert to 8-bit ``mode``; 16-bit grey (I;16*, and I as PIL reads 16-bit files) keeps its top byte."""
    if img.mode == "I" or img.mode.startswith("I;16"):
        wide = np.asarray(img)
        if wide.size and (int(wide.min()) < 0 or int(wide.max()) > 0xFFFF):
            raise BadImageError(f"{path}: 32-bit pixel values outside 0..65535; convert it to 8 or 16 bits")
        img = Image.fromarray((wide >> 8).astype(np.uint8), "L")
    elif img.mode == "F":
        raise BadImageError(f"{path}: floating-point pixels have no fixed range; convert it to 8 or 16 bits")
    elif img.mode == "P":
        img = img.convert("RGBA")  # palette transparency is resolved the same way every time
    return img.convert(mode)


def _decode(path: str | os.PathLike[str], mode: str, max_pixels: int) -> Image.Image:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(path) as img:
            w, h = img.size
            if not 0 < w * h <= max_pixels:
                raise BadImageError(
                    f"{path}: {w}×{h} = {w * h:,} pixels; images may have 1 to {max_pixels:,} pixels "
                    "(a larger one would decode to gigabytes)"
                )
            img.load()
            out = _to_mode(img, mode, path)
    for w in caught:  # PIL's warnings do not say which file they are about
        warnings.warn(f"{path}: {w.message}", w.category, stacklevel=4)
    return out


def read_image(
    path: str | os.PathLike[str],
    mode: str = "RGB",
    size: int | None = None,
    *,
    max_pixels: int = MAX_IMAGE_PIXELS,
) -> np.ndarray:
    """Decode one image file to an H×W×C uint8 array in ``mode`` ("RGB" or "L").

    Grayscale, palette and RGBA images are converted the same way every time: palette images go through RGBA,
    and the alpha channel is dropped (pixels keep their colour); 16-bit images keep their top 8 bits. The
    pixel count is checked from the header before decoding. With ``size``, the shorter side is resized to
    ``size`` (bilinear) and the centre ``size``×``size`` square is cropped. Any failure is a
    :class:`BadImageError` naming the file and the cause.
    """
    try:
        img = _decode(path, mode, max_pixels)
    except BadImageError as e:
        raise BadImageError(f"{e}. {_SKIP_HINT}") from None
    except Exception as e:  # decoders of arbitrary bytes raise many types; all mean "not a usable image"
        cause = f"{type(e).__name__}: {e}" if not isinstance(e, OSError) else str(e)
        raise BadImageError(f"cannot decode image {path}: {cause.rstrip('.')}. {_SKIP_HINT}") from e
    if size is not None and img.size != (size, size):
        w, h = img.size
        scale = size / min(w, h)
        nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
        img = img.resize((nw, nh), Image.BILINEAR)
        left, top = (nw - size) // 2, (nh - size) // 2
        img = img.crop((left, top, left + size, top + size))
    arr = np.asarray(img, dtype=np.uint8)
    return arr[:, :, None] if arr.ndim == 2 else arr


_SKIP_HINT = (
    "Replace or delete the file, or pass --skip-bad-images (train, eval, predict) to skip unreadable "
    "files (they are counted and reported)"
)
