"""One way to read JSON and archives: every file convzoo reads back as data goes through these functions.

Each reader opens only a regular file (never a directory, FIFO or device such as ``/dev/zero``; a symbolic link
only when ``follow``), checks the size with ``fstat`` before reading and reads at most ``cap + 1`` bytes, so a
sparse 3 GB file costs nothing. JSON is parsed with a nesting-depth cap checked before parsing (no
``RecursionError``), an integer digit cap and no NaN/Infinity unless allowed. A zip member is streamed and its
real decompressed size bounded while it is read (the header's size fields are not trusted). ONNX and OpenVINO
metadata are scanned without building the model. Every refusal is a :class:`RejectedFile`, a ``ValueError``
whose message names the file and the cause. This module imports only the standard library.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
import struct
import xml.parsers.expat
import zipfile
import zlib
from array import array
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import accumulate
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

__all__ = [
    "CheckpointError",
    "JsonLines",
    "RejectedFile",
    "json_depth",
    "open_regular",
    "parse_json",
    "read_bytes",
    "read_json",
    "read_jsonl",
    "read_onnx_metadata",
    "read_openvino_metadata",
    "read_zip_member",
    "zip_entries",
]

MAX_DEPTH = 64  # our files nest 6 deep at most
MAX_INT_DIGITS = 100  # a count of MACs has 13; Python refuses 4,300 without naming the file
MAX_NUMBER_CHARS = 400  # a float literal
MAX_LINE_BYTES = 1 << 20  # one line of a .jsonl file
MAX_ZIP_ENTRIES = 100_000
MAX_ZIP_DIRECTORY = 64 << 20  # a zip's central directory, read whole by zipfile
MAX_ONNX_FIELDS = 100_000  # top-level fields of an ONNX ModelProto (a dozen in practice)
MAX_XML_BYTES = 256 << 20  # an OpenVINO .xml holds the graph, the weights live in the .bin
MAX_XML_DEPTH = 64
_CHUNK = 1 << 16


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used (missing, damaged, unsafe, or for another model)."""


class RejectedFile(CheckpointError, ValueError):
    """A file whose contents are refused; the message names the file and the cause."""

    def __init__(self, path: str | os.PathLike[str], cause: str) -> None:
        super().__init__(f"{path}: {cause}")
        self.path = Path(path)
        self.cause = cause


# --- opening and reading bytes


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a regular file"


@contextmanager
def open_regular(
    path: str | os.PathLike[str], what: str, cap: int | None = None, *, follow: bool = True
) -> Iterator[BinaryIO]:
    """``path`` opened for binary reading, refused unless it is a regular file of at most ``cap`` bytes (a
    symbolic link is refused unless ``follow``). Devices and FIFOs are refused before they are opened."""
    p = Path(path)
    try:
        st = os.stat(p, follow_symlinks=follow)
        if not follow and stat.S_ISLNK(st.st_mode):
            raise RejectedFile(p, f"{what} is a symbolic link, which convzoo does not follow here")
        if not stat.S_ISREG(st.st_mode):
            raise RejectedFile(p, f"{what} is {_kind(st.st_mode)}, not a regular file")
        flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | (0 if follow else os.O_NOFOLLOW)
        fd = os.open(p, flags)
    except FileNotFoundError:
        raise RejectedFile(p, f"{what} is missing") from None
    except OSError as e:
        raise RejectedFile(p, f"cannot read {what}: {e.strerror or e}") from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(fd)  # the file opened, which a swap after the check above cannot change
        if not stat.S_ISREG(st.st_mode):
            raise RejectedFile(p, f"{what} is {_kind(st.st_mode)}, not a regular file")
        if cap is not None and st.st_size > cap:
            raise RejectedFile(p, f"{what} is {st.st_size} bytes, more than the {cap} allowed")
        yield f


def read_bytes(path: str | os.PathLike[str], *, cap_bytes: int, what: str, follow: bool = True) -> bytes:
    """The bytes of the regular file ``path``: refused before reading when larger than ``cap_bytes``, and
    never more than ``cap_bytes + 1`` read (a file that grows meanwhile is refused too)."""
    data = bytearray()
    with open_regular(path, what, cap_bytes, follow=follow) as f:
        try:  # in chunks: read(n) would allocate n bytes up front, however small the file
            while len(data) <= cap_bytes and (chunk := f.read(min(_CHUNK * 16, cap_bytes + 1 - len(data)))):
                data += chunk
        except OSError as e:
            raise RejectedFile(path, f"cannot read {what}: {e.strerror or e}") from None
    if len(data) > cap_bytes:
        raise RejectedFile(path, f"{what} grew past the {cap_bytes} bytes allowed while being read")
    return bytes(data)


# --- JSON

_STRING = re.compile(r'"(?:[^"\\]++|\\.)*+(?:"|\Z)', re.S)  # an unterminated string runs to the end
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = str.maketrans({"[": "\x01", "{": "\x01", "]": "\xff", "}": "\xff"})


def json_depth(text: str) -> int:
    """The deepest nesting of arrays and objects in ``text`` (brackets inside strings do not count), found
    with regular expressions and C loops, without recursion."""
    if text.count("[") + text.count("{") <= 1:
        return text.count("[") + text.count("{")
    skeleton = _NOT_BRACKET.sub("", _STRING.sub("", text))
    steps = array("b", skeleton.translate(_STEP).encode("latin-1"))
    return max(accumulate(steps), default=0)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _hooks(allow_nan: bool, max_digits: int) -> dict[str, Callable[[str], Any]]:
    def integer(s: str) -> int:
        if len(s) > max_digits:
            raise ValueError(f"an integer of {len(s.lstrip('-'))} digits, more than the {max_digits} allowed")
        return int(s)

    def number(s: str) -> float:
        if len(s) > MAX_NUMBER_CHARS:
            raise ValueError(f"a number of {len(s)} characters, more than the {MAX_NUMBER_CHARS} allowed")
        v = float(s)
        if not (allow_nan or math.isfinite(v)):
            raise ValueError(f"{s[:40]} overflows to infinity")
        return v

    constant: Callable[[str], Any] = float if allow_nan else _no_constant
    return {"parse_int": integer, "parse_float": number, "parse_constant": constant}


def parse_json(
    data: bytes | str,
    path: str | os.PathLike[str],
    what: str,
    *,
    allow_nan: bool = False,
    max_depth: int = MAX_DEPTH,
    max_digits: int = MAX_INT_DIGITS,
) -> Any:
    """``data`` (UTF-8 bytes or text) parsed as JSON, or :class:`RejectedFile` naming ``path``: nesting deeper
    than ``max_depth``, integers longer than ``max_digits``, NaN/Infinity (unless ``allow_nan``)."""
    try:
        text = bytes(data).decode("utf-8") if isinstance(data, bytes | bytearray) else data
    except UnicodeDecodeError as e:
        raise RejectedFile(
            path, f"{what} is not valid JSON (not UTF-8: {e.reason} at byte {e.start})"
        ) from None
    depth = json_depth(text)
    if depth > max_depth:
        raise RejectedFile(path, f"{what} is not valid JSON (nested {depth} deep, more than {max_depth})")
    try:
        return json.loads(text, **_hooks(allow_nan, max_digits))
    except (ValueError, RecursionError) as e:  # JSONDecodeError and the hooks' refusals
        raise RejectedFile(path, f"{what} is not valid JSON ({str(e)[:200]})") from None


def read_json(
    path: str | os.PathLike[str],
    *,
    cap_bytes: int,
    what: str,
    allow_nan: bool = False,
    follow: bool = True,
    max_depth: int = MAX_DEPTH,
) -> Any:
    """The JSON value in the regular file ``path``, read with :func:`read_bytes` and :func:`parse_json`."""
    data = read_bytes(path, cap_bytes=cap_bytes, what=what, follow=follow)
    return parse_json(data, path, what, allow_nan=allow_nan, max_depth=max_depth)


class JsonLines(NamedTuple):
    """The values of a ``.jsonl`` file and the lines left out, each ``"line N: cause"``."""

    values: list[Any]
    skipped: list[str]


def read_jsonl(
    path: str | os.PathLike[str],
    *,
    cap_bytes: int,
    what: str,
    line_cap: int = MAX_LINE_BYTES,
    skip_bad: bool = False,
    follow: bool = True,
) -> JsonLines:
    """One JSON value per line. A last line without its newline that does not parse was cut short by a
    killed writer: it is always left out (and listed in ``skipped``). A bad line elsewhere is refused with
    :class:`RejectedFile` naming the file and the line, or left out and listed when ``skip_bad``."""
    lines = read_bytes(path, cap_bytes=cap_bytes, what=what, follow=follow).split(b"\n")
    values, skipped = [], []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            if len(line) > line_cap:
                raise RejectedFile(path, f"line {n} of {what} is {len(line)} bytes, more than {line_cap}")
            values.append(parse_json(line, path, f"line {n} of {what}"))
        except RejectedFile as e:
            if not (skip_bad or n == len(lines)):  # the last piece has no newline when it was cut short
                raise
            skipped.append(f"line {n}: {e.cause}" + (" (cut short)" if n == len(lines) else ""))
    return JsonLines(values, skipped)


# --- zip archives

_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    EOFError,
    OSError,
    ValueError,
    RuntimeError,
    NotImplementedError,
    OverflowError,
    IndexError,
    KeyError,
    UnicodeDecodeError,
    struct.error,
)


def _check_directory(f: BinaryIO, path: Path, what: str) -> None:
    """Refuse a central directory zipfile would read whole if it is over :data:`MAX_ZIP_DIRECTORY`."""
    end = zipfile._EndRecData(f)  # type: ignore[attr-defined]  # the end record, zip64 included
    if end is None:
        raise zipfile.BadZipFile("File is not a zip file")
    entries, size = end[zipfile._ECD_ENTRIES_TOTAL], end[zipfile._ECD_SIZE]  # type: ignore[attr-defined]
    if entries > MAX_ZIP_ENTRIES or size > MAX_ZIP_DIRECTORY:
        raise RejectedFile(path, f"{what} lists {entries} entries in {size} bytes, more than convzoo reads")
    f.seek(0)


@contextmanager
def _zip(path: str | os.PathLike[str], what: str, follow: bool) -> Iterator[zipfile.ZipFile]:
    p = Path(path)
    with open_regular(p, what, follow=follow) as f:
        try:
            _check_directory(f, p, what)
            with zipfile.ZipFile(f) as archive:
                yield archive
        except RejectedFile:
            raise
        except _ZIP_ERRORS as e:
            raise RejectedFile(p, f"not a readable {what} ({type(e).__name__}: {str(e)[:200]})") from None


def zip_entries(path: str | os.PathLike[str], *, what: str, follow: bool = True) -> list[zipfile.ZipInfo]:
    """The entries of the zip archive ``path`` (directory size and entry count capped); nothing is unpacked."""
    with _zip(path, what, follow) as archive:
        return archive.infolist()


def _stream(archive: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int, path: Path, what: str) -> bytes:
    name = f"{what} member {info.filename[:200]!r}"
    if info.flag_bits & 0x1:
        raise RejectedFile(path, f"{name} is encrypted")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise RejectedFile(
            path,
            f"{name} uses compression method {info.compress_type}; convzoo reads "
            "stored and deflated members only",
        )
    out = bytearray()
    try:
        with archive.open(info) as member:
            while chunk := member.read(_CHUNK):  # a chunk decompresses to at most _CHUNK bytes
                out += chunk
                if len(out) > cap:
                    raise RejectedFile(path, f"{name} decompresses to more than the {cap} bytes allowed")
    except RejectedFile:
        raise
    except _ZIP_ERRORS as e:  # bad CRC, zlib.error, truncated data, a local header that disagrees
        raise RejectedFile(path, f"{name} is damaged ({type(e).__name__}: {str(e)[:200]})") from None
    return bytes(out)


def read_zip_member(
    path: str | os.PathLike[str],
    name: str | Callable[[str], bool],
    cap: int,
    *,
    what: str = "zip archive",
    follow: bool = True,
) -> bytes | None:
    """The bytes of the member ``name`` (or the one member whose name satisfies ``name``) of the zip archive
    ``path``, or None if there is none. The member is streamed and refused as soon as it decompresses past
    ``cap`` bytes, whatever its header says; encrypted members and other compression methods are refused."""
    p = Path(path)
    match = name if callable(name) else (lambda s: s == name)
    with _zip(p, what, follow) as archive:
        found = [i for i in archive.infolist() if match(i.filename)]
        if len(found) > 1:
            raise RejectedFile(p, f"{what} has {len(found)} members named {found[0].filename[:200]!r}")
        return _stream(archive, found[0], cap, p, what) if found else None


# --- exported models' metadata (ONNX protobuf, OpenVINO IR), scanned without building the model


def _varint(f: BinaryIO, path: Path, what: str) -> int:
    value = 0
    for shift in range(0, 70, 7):
        b = f.read(1)
        if not b:
            raise RejectedFile(path, f"not a readable {what} (truncated)")
        value |= (b[0] & 0x7F) << shift
        if b[0] < 0x80:
            return value
    raise RejectedFile(path, f"not a readable {what} (a varint longer than 10 bytes)")


def _string_entry(buf: bytes, path: Path, what: str) -> tuple[str, str]:
    """A StringStringEntryProto: key (field 1) and value (field 2), both UTF-8."""
    found, i = {1: b"", 2: b""}, 0
    while i < len(buf):
        tag, i = _buf_varint(buf, i, path, what)
        if tag & 7 != 2:
            raise RejectedFile(path, f"not a readable {what} (a metadata entry with wire type {tag & 7})")
        n, i = _buf_varint(buf, i, path, what)
        found[tag >> 3], i = buf[i : i + n], i + n
    if i != len(buf):
        raise RejectedFile(path, f"not a readable {what} (a truncated metadata entry)")
    try:
        return found[1].decode("utf-8"), found[2].decode("utf-8")
    except UnicodeDecodeError:
        raise RejectedFile(path, f"not a readable {what} (metadata that is not UTF-8)") from None


def _buf_varint(buf: bytes, i: int, path: Path, what: str) -> tuple[int, int]:
    value = 0
    for shift in range(0, 70, 7):
        if i >= len(buf):
            raise RejectedFile(path, f"not a readable {what} (a truncated metadata entry)")
        value, i = value | (buf[i] & 0x7F) << shift, i + 1
        if buf[i - 1] < 0x80:
            return value, i
    raise RejectedFile(path, f"not a readable {what} (a varint longer than 10 bytes)")


def read_onnx_metadata(
    path: str | os.PathLike[str], *, cap_bytes: int, what: str = "ONNX model"
) -> dict[str, str]:
    """The ``metadata_props`` of the ONNX file ``path`` (ModelProto field 14) as a dict, read by walking the
    top-level protobuf fields and seeking past the rest: the graph is never parsed. Refuses a file without a
    graph, a damaged one, and metadata over ``cap_bytes`` in all."""
    p = Path(path)
    props: dict[str, str] = {}
    total, fields, graph = 0, 0, False
    with open_regular(p, what) as f:
        size = os.fstat(f.fileno()).st_size
        while f.tell() < size:
            fields += 1
            tag = _varint(f, p, what)
            field, wire = tag >> 3, tag & 7
            if field == 0 or wire not in (0, 1, 2, 5) or fields > MAX_ONNX_FIELDS:
                raise RejectedFile(
                    p, f"not a readable {what} (field {field}, wire type {wire} at byte {f.tell()})"
                )
            if wire == 0:
                _varint(f, p, what)
                continue
            n = _varint(f, p, what) if wire == 2 else {1: 8, 5: 4}[wire]
            if f.tell() + n > size:
                raise RejectedFile(
                    p, f"not a readable {what} (truncated: a field of {n} bytes at byte {f.tell()})"
                )
            graph |= field == 7 and wire == 2
            if field == 14 and wire == 2:
                total += n
                if total > cap_bytes:
                    raise RejectedFile(p, f"{what} metadata is more than the {cap_bytes} bytes allowed")
                key, value = _string_entry(f.read(n), p, what)
                props[key] = value
            else:
                f.seek(n, os.SEEK_CUR)
    if not graph:
        raise RejectedFile(p, f"not a readable {what} (no graph)")
    return props


def read_openvino_metadata(
    path: str | os.PathLike[str], *, cap_bytes: int, section: str, what: str = "OpenVINO model"
) -> dict[str, str]:
    """The ``rt_info/<section>`` values of the OpenVINO IR ``path`` (its .xml), parsed with expat without
    building a tree (no DTD, depth capped); the ``.bin`` beside it must be a regular file holding every
    constant the graph points into. The weights are never read."""
    p = Path(path)
    data = read_bytes(p, cap_bytes=MAX_XML_BYTES, what=what)
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise RejectedFile(p, f"not a readable {what} (it declares a DTD or entities)")
    found: dict[str, str] = {}
    stack: list[str] = []
    need = [0]  # bytes of the .bin the graph's constants reach

    def start(name: str, attrs: dict[str, str]) -> None:
        stack.append(name)
        if len(stack) > MAX_XML_DEPTH:
            raise RejectedFile(p, f"not a readable {what} (elements nested more than {MAX_XML_DEPTH} deep)")
        if stack[:-1] == ["net", "rt_info", section] and "value" in attrs:
            found[name] = attrs["value"]
            if sum(map(len, found.values())) > cap_bytes:
                raise RejectedFile(p, f"{what} metadata is more than the {cap_bytes} bytes allowed")
        elif stack == ["net", "layers", "layer", "data"] and "offset" in attrs and "size" in attrs:
            off, size = attrs["offset"], attrs["size"]
            if not (off.isdigit() and size.isdigit() and len(off) < 20 and len(size) < 20):
                raise RejectedFile(p, f"not a readable {what} (a constant at offset {off[:40]!r})")
            need[0] = max(need[0], int(off) + int(size))

    parser = xml.parsers.expat.ParserCreate()
    parser.StartElementHandler = start
    parser.EndElementHandler = lambda name: stack.pop()
    try:
        parser.Parse(data, True)
    except (xml.parsers.expat.ExpatError, ValueError, LookupError) as e:
        raise RejectedFile(p, f"not a readable {what} (XML: {e})") from None
    _check_bin(p.with_suffix(".bin"), need[0], what)
    return found


def _check_bin(path: Path, need: int, what: str) -> None:
    with open_regular(path, f"the weights of the {what}") as f:
        size = os.fstat(f.fileno()).st_size
    if size < need:
        raise RejectedFile(path, f"the weights of the {what} are {size} bytes; its graph needs {need}")
