"""Strict readers for dataset files: MNIST idx, CIFAR binary and Python batches, CIFAR name lists, MATLAB
files (the ImageNet devkit's ``meta.mat``), images.

Every byte read from a dataset file is data. Each reader checks what the file declares (magic numbers,
dimensions, record counts, array shapes and dtypes, label ranges) against the file's size and the dataset's
known layout *before* allocating for it, and raises :class:`DataFileError` (a ``ValueError``) whose message
names the file and the cause for anything else. Allocation bounds, stated so tests can hold them:

* idx files: the bytes present (at most what the header declares, capped by the official count) + 1 MB;
* CIFAR binary files: the file's size, capped by the official record count;
* CIFAR Python batches: about three times the file (capped by the official count) plus at most ~100 bytes
  per opcode (capped at 16 per official record); the opcodes are scanned first, so no declared length, memo
  index or array shape is trusted;
* MAT files: the file plus its compressed variables inflated, at most ``cap`` bytes in all (zlib's output is
  bounded while streaming); each cell or struct array's declared size is checked against its bytes first;
* images: opened by :func:`convzoo.trust_image.open_image`, which checks the pixel count (at most
  ``max_pixels``), the aspect ratio and the size of the coming resize from the header, before decoding.

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

from convzoo.trust_image import MAX_IMAGE_PIXELS, BadImageError, DataFileError, open_image, resized_size

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
    "read_mat",
    "restricted_unpickle",
]

MAX_NAMES_BYTES = 1 << 16
CIFAR_IMAGE_BYTES = 3 * 32 * 32


class UnsafePickleError(DataFileError, pickle.UnpicklingError):
    """A pickle that asks for code: a global or an opcode that the CIFAR release never uses."""


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


# ------------------------------------------------------------------------------------------------ MAT v5

MAT_DEPTH = 8  # the devkit's synsets: a struct array whose fields hold plain arrays (depth 2)
_MI_INT32, _MI_UINT32, _MI_MATRIX, _MI_COMPRESSED = 5, 6, 14, 15
_MI_NUMBERS = {1: "i1", 2: "u1", 3: "i2", 4: "u2", 5: "i4", 6: "u4", 7: "f4", 9: "f8", 12: "i8", 13: "u8"}
_MI_TEXT = {1: "latin-1", 2: "latin-1", 16: "utf-8", 3: "utf-16", 4: "utf-16", 17: "utf-16", 18: "utf-32"}
_MX_CELL, _MX_STRUCT, _MX_OBJECT, _MX_CHAR = 1, 2, 3, 4
_MX_NUMBERS = range(6, 16)  # double, single, int8 ... uint64 (logical is uint8 with a flag)


def read_mat(data: bytes, path: str | os.PathLike[str], cap: int) -> dict[str, Any]:
    """The variables of a MATLAB v5/v7 file's bytes: numbers (a scalar, or a column-major list), text, cells
    (lists) and struct arrays (lists of dicts); other classes are refused.

    Written for the ImageNet devkit's ``meta.mat`` instead of SciPy's general reader: compressed variables
    are inflated with the output bounded (``cap`` bytes in all, so a deflate bomb stops there), and every
    cell or struct array's declared size is checked against its bytes before anything is built for it.
    """
    if len(data) < 128 or data[126:128] not in (b"IM", b"MI"):
        raise _fail(path, "not a MATLAB 5 file (no MAT v5 header)")
    mat = _Mat(data, "<" if data[126:128] == b"IM" else ">", path)
    out: dict[str, Any] = {}
    pos, room = 128, cap - len(data)
    while pos + 8 <= len(data):
        kind, start, end, nxt = mat.element(pos, len(data), pad=False)
        if kind == _MI_COMPRESSED:
            var = _Mat(_inflate(data[start:end], room, path, cap), mat.order, path)
            room -= len(var.data)
            name, value = var.array(0, len(var.data), 0)[:2]
        elif kind == _MI_MATRIX:
            name, value = mat.array(pos, len(data), 0)[:2]
        else:
            raise _fail(path, f"a top-level element of type {kind} at offset {pos:,}, not a variable")
        out[name] = value
        pos = nxt
    return out


def _inflate(packed: bytes, room: int, path: str | os.PathLike[str], cap: int) -> bytes:
    """The zlib stream ``packed``, refused as soon as it inflates past ``room`` bytes (of ``cap``)."""
    try:
        out = zlib.decompressobj().decompress(packed, max(room, 0) + 1)
    except zlib.error as e:
        raise _fail(path, f"a compressed variable is damaged ({e})") from e
    if len(out) > room:
        raise _fail(path, f"the file with its variables inflated would pass {cap:,} bytes, more than any genuine one")
    return out


class _Mat:
    """Strict reading of the MAT v5 elements in ``data`` (a whole file, or one inflated variable)."""

    def __init__(self, data: bytes, order: str, path: str | os.PathLike[str]) -> None:
        self.data, self.order, self.path = data, order, path

    def element(self, pos: int, end: int, pad: bool = True) -> tuple[int, int, int, int]:
        """(type, first data byte, end of data, next element) of the element at ``pos``, inside ``end``."""
        if pos + 8 > end:
            raise _fail(self.path, f"truncated: an element at offset {pos:,} runs past its array")
        kind, n = struct.unpack_from(f"{self.order}II", self.data, pos)
        if kind >> 16:  # a small element: up to 4 bytes of data inside the tag
            if kind >> 16 > 4:
                raise _fail(self.path, f"a small element of {kind >> 16} bytes at offset {pos:,}")
            return kind & 0xFFFF, pos + 4, pos + 4 + (kind >> 16), pos + 8
        if n > end - pos - 8:
            raise _fail(self.path, f"truncated: an element of {n:,} bytes at offset {pos:,}")
        return kind, pos + 8, pos + 8 + n, min(end, pos + 8 + n + (-n % 8 if pad else 0))

    def ints(self, pos: int, end: int, kinds: tuple[int, ...] = (_MI_INT32,)) -> tuple[tuple[int, ...], int]:
        """The 32-bit integers of the element at ``pos`` and the next position."""
        kind, s, e, nxt = self.element(pos, end)
        if kind not in kinds or (e - s) % 4:
            raise _fail(self.path, f"expected 32-bit integers at offset {pos:,}")
        fmt = f"{self.order}{(e - s) // 4}{'i' if kind == _MI_INT32 else 'I'}"
        return struct.unpack_from(fmt, self.data, s), nxt

    def codec(self, kind: int) -> str:
        """The text codec of character data of type ``kind``, in the file's byte order."""
        codec = _MI_TEXT[kind]
        if codec in ("latin-1", "utf-8"):
            return codec
        return codec + ("-le" if self.order == "<" else "-be")

    def array(self, pos: int, end: int, depth: int) -> tuple[str, Any, int]:
        """(name, value, next position) of the miMATRIX element at ``pos``."""
        kind, s, e, nxt = self.element(pos, end)
        if kind != _MI_MATRIX or depth > MAT_DEPTH:
            raise _fail(self.path, f"expected an array (nested at most {MAT_DEPTH} deep) at offset {pos:,}")
        if s == e:
            return "", None, nxt  # an empty array
        flags, p = self.ints(s, e, (_MI_UINT32, _MI_INT32))
        dims, p = self.ints(p, e)
        _, ns, ne, p = self.element(p, e)
        name = self.data[ns:ne].decode("ascii", "replace").rstrip("\0")
        cls = (flags[0] if flags else 0) & 0xFF
        if not dims or min(dims) < 0:
            raise _fail(self.path, f"array {name!r} has dimensions {list(dims)}")
        if cls in (_MX_CELL, _MX_STRUCT, _MX_OBJECT):
            return name, self.container(p, e, cls, dims, depth), nxt
        kind, vs, ve, _ = self.element(p, e)
        if cls == _MX_CHAR and kind in _MI_TEXT:
            text = self.data[vs:ve].decode(self.codec(kind), "replace")
            rows = dims[0] if len(dims) == 2 else 1
            return name, "".join(text[r::rows] for r in range(rows)), nxt  # column-major rows, joined
        if cls in _MX_NUMBERS and kind in _MI_NUMBERS:
            dtype = np.dtype(self.order + _MI_NUMBERS[kind])
            if (ve - vs) % dtype.itemsize:
                raise _fail(self.path, f"array {name!r} has {ve - vs} bytes of {dtype.itemsize}-byte numbers")
            values = np.frombuffer(self.data[vs:ve], dtype=dtype).tolist()
            if len(values) != math.prod(dims):
                raise _fail(self.path, f"array {name!r} declares {list(dims)} but holds {len(values)} numbers")
            return name, values[0] if len(values) == 1 else values, nxt
        raise _fail(self.path, f"array {name!r} is of MATLAB class {cls} with data of type {kind}, not read here")

    def container(self, p: int, e: int, cls: int, dims: tuple[int, ...], depth: int) -> list[Any]:
        """A cell array (list) or struct array (list of dicts), column-major."""
        fields = [""]
        if cls == _MX_OBJECT:
            p = self.element(p, e)[3]  # the class name
        if cls != _MX_CELL:
            widths, p = self.ints(p, e)
            _, fs, fe, p = self.element(p, e)
            width = widths[0] if len(widths) == 1 else 0
            if width < 1 or (fe - fs) % width:
                raise _fail(self.path, f"field names of {fe - fs} bytes in slots of {width} at offset {fs:,}")
            raw = self.data[fs:fe]
            fields = [raw[i : i + width].split(b"\0")[0].decode("ascii", "replace") for i in range(0, fe - fs, width)]
        count = math.prod(dims) * max(len(fields), 1)
        if 8 * count > e - p:  # every element is an array of at least 8 bytes: checked before allocating
            raise _fail(self.path, f"an array of {list(dims)} × {len(fields)} field(s) in {e - p:,} bytes")
        items = []
        for _ in range(math.prod(dims)):
            row = {}
            for f in fields:
                row[f], p = self.array(p, e, depth + 1)[1:]
            items.append(row if cls != _MX_CELL else row[""])
        return items


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


def _decode(path: str | os.PathLike[str], mode: str, size: int | None, max_pixels: int) -> Image.Image:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with open_image(path, short_side=size, max_pixels=max_pixels) as img:
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
    file is opened by :func:`convzoo.trust_image.open_image`, which checks its size and aspect ratio (and,
    with ``size``, the size of the resize) from the header before decoding. With ``size``, the shorter side
    is resized to ``size`` (bilinear) and the centre ``size``×``size`` square is cropped. Any failure is a
    :class:`BadImageError` naming the file and the cause (``cause`` without the advice to skip it).
    """
    try:
        img = _decode(path, mode, size, max_pixels)
    except BadImageError as e:
        raise BadImageError(e.cause, _SKIP_HINT) from None
    if size is not None and img.size != (size, size):
        nw, nh = resized_size(*img.size, size)
        img = img.resize((nw, nh), Image.BILINEAR)
        left, top = (nw - size) // 2, (nh - size) // 2
        img = img.crop((left, top, left + size, top + size))
    arr = np.asarray(img, dtype=np.uint8)
    return arr[:, :, None] if arr.ndim == 2 else arr


_SKIP_HINT = (
    "Replace or delete the file, or pass --skip-bad-images (train, eval, predict) to skip unreadable "
    "files (they are counted and reported)"
)
