"""One way to read JSON and archives (issue 20: cases 4 and 7, and the Low items on digits, resume logs and
report text).

Every hostile input is built here: crafted exported files (ONNX, .pt2, OpenVINO), zip bombs with patched size
fields, deeply nested JSON, 5,000-digit integers, links to ``/dev/zero``, sparse files of gigabytes (they cost
no disk), damaged repro files and resume logs. Each must end in a ``ValueError`` naming the file, with memory
bounded, and the readers are fuzzed with hypothesis: only their own refusals escape.
"""

from __future__ import annotations

import io
import json
import os
import struct
import time
import tracemalloc
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from convzoo.deploy.export import read_export_metadata
from convzoo.repro import readback
from convzoo.repro.docs import read_results
from convzoo.repro.registry import get_claim
from convzoo.repro.report import _read_run_info, escape_text, render
from convzoo.repro.results import ResultFileError, read_arm_result
from convzoo.train.runfolder import RunFolder
from convzoo.trust_read import (
    RejectedFile,
    json_depth,
    parse_json,
    read_json,
    read_jsonl,
    read_onnx_metadata,
    read_openvino_metadata,
    read_zip_member,
)
from convzoo.viz.chart import read_measured

FUZZ = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
GB = 1 << 30
META = {
    "model": "lenet5",
    "input_size": [1, 32, 32],
    "resize": 32,
    "crop": [32, 32],
    "mean": [0.5],
    "std": [0.25],
    "classes": [],
    "num_classes": 10,
    "weights": "random",
    "optimizations": [],
}
DEEP = "[" * 100_000 + "]" * 100_000
HUGE_INT = "1" + "0" * 5000


def peak_of(fn: Callable[[], Any]) -> tuple[BaseException | None, int]:
    """The exception ``fn()`` raises (None if none) and the peak of Python memory allocated meanwhile."""
    tracemalloc.start()
    try:
        fn()
    except Exception as e:  # noqa: BLE001  the tests assert the type
        return e, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return None, 0


def refused(fn: Callable[[], Any], path: Path, cause: str = "", kind: type = ValueError) -> str:
    """``fn()`` raises ``kind`` (a ValueError) whose message names ``path`` and contains ``cause``."""
    with pytest.raises(kind) as e:
        fn()
    msg = str(e.value)
    assert str(path) in msg and cause in msg, msg
    return msg


def sparse(path: Path, size: int) -> Path:
    with open(path, "wb") as f:
        f.truncate(size)  # a hole: no disk used
    return path


def link(path: Path, target: str | Path) -> Path:
    path.symlink_to(target)
    return path


# ------------------------------------------------------------------------------------------------ JSON


@pytest.mark.parametrize(
    ("content", "cause"),
    [
        (DEEP, "nested 100000 deep"),
        ('{"a": ' + "[" * 65 + "]" * 65 + "}", "nested 66 deep"),
        ('{"n": ' + HUGE_INT + "}", "an integer of 5001 digits"),
        ('{"x": NaN}', "NaN is not a JSON number"),
        ('{"x": -Infinity}', "Infinity is not a JSON number"),
        ('{"x": 1e999}', "overflows to infinity"),
        ("\xff\xfe{}", "not UTF-8"),
        ('{"a": 1', "not valid JSON"),
    ],
)
def test_bad_json_is_refused_naming_the_file(content: str, cause: str, tmp_path: Path) -> None:
    path = tmp_path / "doc.json"
    path.write_bytes(content.encode("latin-1") if content.startswith("\xff") else content.encode())
    refused(lambda: read_json(path, cap_bytes=1 << 20, what="the doc"), path, cause, RejectedFile)


def test_nan_is_read_only_when_allowed_and_brackets_in_strings_do_not_nest(tmp_path: Path) -> None:
    path = tmp_path / "ok.json"
    path.write_text('{"x": NaN, "s": "' + "[" * 1000 + '\\"[", "l": [[1]]}')
    doc = read_json(path, cap_bytes=1 << 20, what="the doc", allow_nan=True)
    assert doc["x"] != doc["x"] and doc["l"] == [[1]]
    assert json_depth('{"s": "[[[[\\\\", "t": "\\"{{"}') == 1


@pytest.mark.parametrize("kind", ["dev_zero", "directory", "fifo", "missing", "sparse_3gb"])
def test_only_regular_files_of_capped_size_are_read(kind: str, tmp_path: Path) -> None:
    path = tmp_path / "claim.json"
    if kind == "dev_zero":
        link(path, "/dev/zero")
    elif kind == "directory":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)  # opening it for reading would block until a writer came
    elif kind == "sparse_3gb":
        sparse(path, 3 * GB)
    cause = {"dev_zero": "a device", "directory": "a directory", "fifo": "a FIFO", "missing": "missing"}
    err, peak = peak_of(lambda: read_json(path, cap_bytes=1 << 20, what="the run record"))
    assert isinstance(err, RejectedFile) and str(path) in str(err), err
    assert cause.get(kind, f"{3 * GB} bytes, more than the {1 << 20} allowed") in str(err)
    assert peak < 1 << 20


def test_a_link_is_refused_where_links_are_not_followed(tmp_path: Path) -> None:
    (tmp_path / "real.json").write_text("{}")
    path = link(tmp_path / "doc.json", tmp_path / "real.json")
    assert read_json(path, cap_bytes=100, what="the doc") == {}
    refused(lambda: read_json(path, cap_bytes=100, what="the doc", follow=False), path, "symbolic link")


def test_jsonl_drops_a_cut_short_last_line_and_refuses_garbage_elsewhere(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    path.write_bytes(b'{"step": 1}\n{"step": 2}\n{"step": 3, "chan')
    log = read_jsonl(path, cap_bytes=1 << 20, what="the log")
    assert (
        log.values == [{"step": 1}, {"step": 2}]
        and "line 3" in log.skipped[0]
        and "cut short" in log.skipped[0]
    )
    path.write_bytes(b'{"step": 1}\n\x00\xff garbage\n{"step": 3}\n')
    refused(lambda: read_jsonl(path, cap_bytes=1 << 20, what="the log"), path, "line 2 of the log")
    log = read_jsonl(path, cap_bytes=1 << 20, what="the log", skip_bad=True)
    assert log.values == [{"step": 1}, {"step": 3}] and log.skipped[0].startswith("line 2:")
    path.write_bytes(b'{"a": "' + b"x" * 200 + b'"}\n')
    refused(lambda: read_jsonl(path, cap_bytes=1 << 20, what="the log", line_cap=100), path, "more than 100")


# ------------------------------------------------------------------------------------------------ zip


def zip_bytes(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def zeros_zip(path: Path, name: str, megabytes: int) -> Path:
    """A member of ``megabytes`` MiB of zeros, deflated (about 1 KiB on disk per MiB), written by streaming."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z, z.open(name, "w", force_zip64=True) as m:
        chunk = bytes(1 << 20)
        for _ in range(megabytes):
            m.write(chunk)
    return path


def patch(path: Path, field: str, value: int) -> Path:
    """Overwrite ``field`` in the first member's local and central headers (sizes, CRC, flags, method)."""
    local = {"flags": (6, "<H"), "method": (8, "<H"), "crc": (14, "<I"), "size": (22, "<I")}
    central = {"flags": (8, "<H"), "method": (10, "<H"), "crc": (16, "<I"), "size": (24, "<I")}
    data = bytearray(path.read_bytes())
    for sig, offsets in ((b"PK\x03\x04", local), (b"PK\x01\x02", central)):
        at = data.find(sig)
        off, fmt = offsets[field]
        struct.pack_into(fmt, data, at + off, value)
    path.write_bytes(bytes(data))
    return path


def test_a_deflate_bomb_is_stopped_while_streaming(tmp_path: Path) -> None:
    path = zeros_zip(tmp_path / "bomb.zip", "m.json", 256)  # 256 MiB of zeros in about 256 KiB
    assert path.stat().st_size < 1 << 20
    err, peak = peak_of(lambda: read_zip_member(path, "m.json", 1 << 20))
    assert isinstance(err, RejectedFile) and "decompresses to more than the 1048576 bytes" in str(err)
    assert peak < 4 << 20


def test_a_deflate_bomb_with_patched_size_fields_is_stopped_while_streaming(tmp_path: Path) -> None:
    path = tmp_path / "patched.zip"
    path.write_bytes(zip_bytes({"m.json": bytes(32 << 20)}))
    patch(path, "size", 100)  # the headers now claim 100 bytes for 32 MiB
    err, peak = peak_of(lambda: read_zip_member(path, "m.json", 16 << 20))
    assert isinstance(err, RejectedFile) and str(path) in str(err) and "Bad CRC-32" in str(err)
    assert peak < 4 << 20


@pytest.mark.parametrize(
    ("field", "value", "cause"),
    [("flags", 1, "is encrypted"), ("method", 99, "compression method 99"), ("crc", 12345, "Bad CRC-32")],
)
def test_encrypted_unsupported_or_corrupt_members_are_refused(
    field: str, value: int, cause: str, tmp_path: Path
) -> None:
    path = tmp_path / "a.zip"
    path.write_bytes(zip_bytes({"m.json": b'{"a": 1}' * 100}))
    patch(path, field, value)
    refused(lambda: read_zip_member(path, "m.json", 1 << 20), path, cause, RejectedFile)


def test_a_damaged_deflate_stream_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "a.zip"
    raw = bytearray(zip_bytes({"m.json": os.urandom(2000)}))
    start = 30 + len("m.json")
    raw[start : start + 200] = b"\xff" * 200  # zlib.error: invalid block type
    path.write_bytes(bytes(raw))
    refused(lambda: read_zip_member(path, "m.json", 1 << 20), path, "is damaged", RejectedFile)


def test_zip_directory_dev_zero_and_sparse_archives_are_refused(tmp_path: Path) -> None:
    for path in (link(tmp_path / "z.zip", "/dev/zero"), sparse(tmp_path / "s.zip", 3 * GB)):
        err, peak = peak_of(lambda p=path: read_zip_member(p, "m", 1 << 20))
        assert isinstance(err, RejectedFile) and str(path) in str(err) and peak < 1 << 20
    (tmp_path / "d.zip").mkdir()
    refused(lambda: read_zip_member(tmp_path / "d.zip", "m", 100), tmp_path / "d.zip", "a directory")


# ------------------------------------------------------------------------------------------------ exported files


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def onnx_file(path: Path, meta: dict[str, str]) -> Path:
    """A ModelProto (ir_version, an empty graph and ``metadata_props``), written by hand."""
    props = b"".join(_field(14, _field(1, k.encode()) + _field(2, v.encode())) for k, v in meta.items())
    path.write_bytes(_varint(1 << 3) + _varint(9) + _field(7, b"") + props)
    return path


def pt2_file(path: Path, member: bytes, method: int = zipfile.ZIP_STORED) -> Path:
    path.write_bytes(zip_bytes({"archive/extra/convzoo.json": member, "archive/version": b"1"}, method))
    return path


def xml_file(path: Path, meta: dict[str, str], bin_bytes: int | None = 4, body: str = "") -> Path:
    rt = "".join(f'<{k} value="{v.replace(chr(34), "&quot;")}" />' for k, v in meta.items())
    path.write_text(
        '<?xml version="1.0"?>\n<net name="m" version="11"><layers><layer id="0" name="c" type="Const">'
        f'<data element_type="f32" shape="1" offset="0" size="4" /></layer></layers>{body}'
        f"<rt_info><convzoo>{rt}</convzoo></rt_info></net>"
    )
    if bin_bytes is not None:
        path.with_suffix(".bin").write_bytes(bytes(bin_bytes))
    return path


def strings(meta: dict[str, Any], **raw: str) -> dict[str, str]:
    return {**{k: json.dumps(v) for k, v in meta.items()}, **raw}


def test_hand_built_exports_read_back_in_every_format(tmp_path: Path) -> None:
    onnx = onnx_file(tmp_path / "m.onnx", {f"convzoo.{k}": v for k, v in strings(META).items()})
    pt2 = pt2_file(
        tmp_path / "m.pt2", json.dumps({f"convzoo.{k}": v for k, v in strings(META).items()}).encode()
    )
    xml = xml_file(tmp_path / "m.xml", strings(META))
    for path in (onnx, pt2, xml):
        got = read_export_metadata(path)  # keys the file does not carry read back as None
        assert {k: got[k] for k in META} == META and all(got[k] is None for k in set(got) - set(META))


def _onnx(**raw: str) -> Callable[[Path], Path]:
    return lambda d: onnx_file(d / "bad.onnx", {f"convzoo.{k}": v for k, v in strings(META, **raw).items()})


def _pt2_member(member: bytes, method: int = zipfile.ZIP_STORED) -> Callable[[Path], Path]:
    return lambda d: pt2_file(d / "bad.pt2", member, method)


def _pt2(**raw: str) -> Callable[[Path], Path]:
    return _pt2_member(json.dumps({f"convzoo.{k}": v for k, v in strings(META, **raw).items()}).encode())


def _patched_pt2(field: str, value: int) -> Callable[[Path], Path]:
    def build(d: Path) -> Path:
        path = pt2_file(d / "bad.pt2", json.dumps(strings(META)).encode() * 50, zipfile.ZIP_DEFLATED)
        return patch(path, field, value)

    return build


def _corrupt_pt2(d: Path) -> Path:
    path = pt2_file(d / "bad.pt2", os.urandom(3000), zipfile.ZIP_DEFLATED)
    raw = bytearray(path.read_bytes())
    start = 30 + len("archive/extra/convzoo.json")
    raw[start : start + 300] = b"\xff" * 300
    path.write_bytes(bytes(raw))
    return path


def _bomb_pt2(d: Path) -> Path:
    """The metadata member: 48 MiB of deflated zeros (50 KiB on disk), its size fields patched to 100."""
    path = d / "bad.pt2"
    path.write_bytes(zip_bytes({"archive/extra/convzoo.json": bytes(48 << 20)}))
    return patch(path, "size", 100)


def _xml(meta: dict[str, str] | None = None, **kw: Any) -> Callable[[Path], Path]:
    return lambda d: xml_file(d / "bad.xml", strings(META) if meta is None else meta, **kw)


def _raw(name: str, data: bytes) -> Callable[[Path], Path]:
    def build(d: Path) -> Path:
        (d / name).write_bytes(data)
        return d / name

    return build


def _dir(name: str) -> Callable[[Path], Path]:
    def build(d: Path) -> Path:
        (d / name).mkdir()
        return d / name

    return build


def _dev_zero(name: str) -> Callable[[Path], Path]:
    return lambda d: link(d / name, "/dev/zero")


def _sparse(name: str) -> Callable[[Path], Path]:
    return lambda d: sparse(d / name, 3 * GB)


LAUGHS = '<!DOCTYPE net [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
CRAFTED_EXPORTS: dict[str, tuple[Callable[[Path], Path], str]] = {
    # ONNX: protobuf DecodeError, JSON RecursionError, int digits, absurd sizes, NaN, directories, devices
    "onnx garbage": (
        _raw("bad.onnx", b"\x08\x07\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"),
        "not a readable",
    ),
    "onnx truncated field": (_raw("bad.onnx", _field(7, b"x" * 50)[:20]), "truncated"),
    "onnx text": (_raw("bad.onnx", b"this is not a model"), "not a readable"),
    "onnx deep classes": (_onnx(classes=DEEP), "nested 100000 deep"),
    "onnx huge num_classes": (_onnx(num_classes=HUGE_INT), "5001 digits"),
    "onnx input_size 1e9": (_onnx(input_size="[1, 1000000000, 1000000000]"), "'input_size' must be"),
    "onnx input_size pixels": (_onnx(input_size="[1, 65536, 65536]"), "'input_size' must be"),
    "onnx input_size floats": (_onnx(input_size="[1, 1e9, 1e9]"), "'input_size' must be"),
    "onnx channels": (_onnx(input_size="[100000, 32, 32]"), "'input_size' must be"),
    "onnx mean NaN": (_onnx(mean="[NaN]"), "NaN is not a JSON number"),
    "onnx mean 1e999": (_onnx(mean="[1e999]"), "overflows to infinity"),
    "onnx std zero": (_onnx(std="[0]"), "'std' must be"),
    "onnx mean count": (_onnx(mean="[0.5, 0.5, 0.5]"), "'mean' must be"),
    "onnx crop": (_onnx(crop="[0, 32]"), "'crop' must be"),
    "onnx resize": (_onnx(resize="1000000000"), "'resize' must be"),
    "onnx num_classes": (_onnx(num_classes="1000000000"), "'num_classes' must be"),
    "onnx class names": (_onnx(classes=json.dumps(["x" * 5000] * 10)), "'classes' must be"),
    "onnx directory": (_dir("bad.onnx"), "a directory"),
    "onnx /dev/zero": (_dev_zero("bad.onnx"), "a device"),
    "onnx sparse 3 GB": (_sparse("bad.onnx"), "not a readable"),
    # .pt2: zlib.error, RuntimeError (encrypted), NotImplementedError, bombs, deep JSON, digits
    "pt2 not a zip": (_raw("bad.pt2", b"PK\x03\x04 truncated"), "not a readable .pt2 archive"),
    "pt2 deep member": (_pt2_member(DEEP.encode()), "nested 100000 deep"),
    "pt2 deep value": (_pt2(mean=DEEP), "nested 100000 deep"),
    "pt2 huge int": (_pt2(num_classes=HUGE_INT), "5001 digits"),
    "pt2 huge int member": (_pt2_member(b'{"convzoo.model": ' + HUGE_INT.encode() + b"}"), "5001 digits"),
    "pt2 encrypted": (_patched_pt2("flags", 1), "is encrypted"),
    "pt2 compression 99": (_patched_pt2("method", 99), "compression method 99"),
    "pt2 bad crc": (_patched_pt2("crc", 1), "Bad CRC-32"),
    "pt2 zlib.error": (_corrupt_pt2, "is damaged"),
    "pt2 bomb": (_bomb_pt2, ".pt2 archive member"),
    "pt2 input_size 1e9": (_pt2(input_size="[1, 1000000000, 1000000000]"), "'input_size' must be"),
    "pt2 directory": (_dir("bad.pt2"), "a directory"),
    "pt2 /dev/zero": (_dev_zero("bad.pt2"), "a device"),
    "pt2 sparse 3 GB": (_sparse("bad.pt2"), "not a readable .pt2 archive"),
    # OpenVINO: RuntimeError for a bad .xml or .bin, entities, nesting, devices
    "xml garbage": (_raw("bad.xml", b"<net><layers>"), "not a readable OpenVINO model"),
    "xml binary": (_raw("bad.xml", os.urandom(64)), "not a readable OpenVINO model"),
    "xml entities": (_raw("bad.xml", (LAUGHS + "<net>&b;</net>").encode()), "DTD or entities"),
    "xml nesting": (_raw("bad.xml", b"<net>" + b"<a>" * 100_000 + b"</a>" * 100_000 + b"</net>"), "nested"),
    "xml no bin": (_xml(bin_bytes=None), "bad.bin: the weights of the OpenVINO model is missing"),
    "xml short bin": (_xml(bin_bytes=2), "are 2 bytes; its graph needs 4"),
    "xml deep value": (_xml(strings(META, classes=DEEP)), "nested 100000 deep"),
    "xml mean NaN": (_xml(strings(META, mean="[NaN]")), "NaN is not a JSON number"),
    "xml huge int": (_xml(strings(META, resize=HUGE_INT)), "5001 digits"),
    "xml directory": (_dir("bad.xml"), "a directory"),
    "xml /dev/zero": (_dev_zero("bad.xml"), "a device"),
    "xml sparse 3 GB": (_sparse("bad.xml"), "more than the"),
}


@pytest.mark.parametrize("case", list(CRAFTED_EXPORTS))
def test_every_crafted_export_is_a_value_error_naming_the_file(case: str, tmp_path: Path) -> None:
    build, cause = CRAFTED_EXPORTS[case]
    path = build(tmp_path)
    err, peak = peak_of(lambda: read_export_metadata(path))
    assert type(err) is not None and isinstance(err, ValueError), f"{case}: {type(err).__name__}: {err}"
    assert str(path.with_suffix("")) in str(err) and cause in str(err), f"{case}: {err}"
    assert peak < 8 << 20, f"{case}: {peak} bytes"


def test_onnx_and_openvino_scanners_never_build_the_model(tmp_path: Path) -> None:
    """A 3 GB sparse graph before the metadata is skipped by a seek, not read."""
    path = tmp_path / "big.onnx"
    with open(path, "wb") as f:
        f.write(_varint(7 << 3 | 2) + _varint(3 * GB))
        f.truncate(f.tell() + 3 * GB)
        f.seek(0, os.SEEK_END)
        f.write(_field(14, _field(1, b"convzoo.model") + _field(2, b'"x"')))
    t0 = time.perf_counter()
    err, peak = peak_of(lambda: read_onnx_metadata(path, cap_bytes=1 << 20))
    assert err is None and time.perf_counter() - t0 < 5
    assert read_onnx_metadata(path, cap_bytes=1 << 20) == {"convzoo.model": '"x"'}
    xml = xml_file(tmp_path / "m.xml", {"model": '"x"'}, bin_bytes=None)
    sparse(xml.with_suffix(".bin"), 3 * GB)
    assert read_openvino_metadata(xml, cap_bytes=1 << 20, section="convzoo") == {"model": '"x"'}


# ------------------------------------------------------------------------------------------------ repro files


def arm_doc(arm: str = "resnet20", **row: Any) -> dict[str, Any]:
    rows = [{"epoch": 1, "train_err": 50.0, "test_err": 55.0, **row}]
    return {"arm": arm, "seed": 0, "rows": rows, "wall_s": 1.0, "images_per_s": 10.0, "estimated_s": 1.0}


def results_doc(claim_id: str = "degradation") -> dict[str, Any]:
    """A results.json of a trained claim as convzoo writes it (two arms, one check between them)."""
    claim = get_claim(claim_id)
    check = claim.checks[0]
    arms = []
    for name in (check.better, check.worse):
        a = claim.arm(name)
        run = {"seed": 0, "diverged": "", "wall_s": 60.0, "estimated_s": 50.0, "images_per_s": 100.0,
               "train_images": 500, "test_images": 100, "classes": 10,
               "curve": [{"epoch": 1, "train_err": 60.0, "test_err": 62.0}]}  # fmt: skip
        arms.append({"name": name, "label": a.title, "group": a.group, "model": a.model, "overrides": {},
                     "recipe": a.recipe, "recipe_changes": {}, "params": 1000, "macs": 2000,
                     "measured": {check.metric: {"mean": 10.0, "se": 1.0, "seeds": 1, "values": [10.0]}},
                     "paper": [], "runs": [run]})  # fmt: skip
    c = {"check": {"says": check.says, "metric": check.metric, "better": check.better, "worse": check.worse}}
    return {"claim": claim.id, "kind": "trained", "budget": "cpu", "verdict": "not reached", "wall_s": 120.0,
            "machine": {"cpu": "x"}, "arms": arms, "checks": [c], "data": "cifar10"}  # fmt: skip


def write(path: Path, doc: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return path


@pytest.mark.parametrize(
    ("doc", "cause"),
    [
        ({**arm_doc(), "rows": [{"train_err": 50.0}]}, "has no 'epoch'"),
        ('{"arm": "resnet20", "rows": ' + DEEP + "}", "deep, more than 64"),
        ('{"arm": "resnet20", "seed": ' + HUGE_INT + ', "rows": []}', "5001 digits"),
        (arm_doc("os.system"), "not an arm of claim"),
    ],
)
def test_a_crafted_arm_result_is_refused_naming_it(doc: Any, cause: str, tmp_path: Path) -> None:
    path = write(tmp_path / "resnet20-s0.json", doc)
    refused(lambda: read_arm_result(path, get_claim("degradation")), path, cause, ResultFileError)


def test_an_arm_result_on_dev_zero_or_sparse_is_refused(tmp_path: Path) -> None:
    for path in (
        link(tmp_path / "resnet20-s0.json", "/dev/zero"),
        sparse(tmp_path / "resnet20-s1.json", 3 * GB),
    ):
        err, peak = peak_of(lambda p=path: read_arm_result(p, get_claim("degradation")))
        assert isinstance(err, ValueError) and str(path) in str(err) and peak < 1 << 20, err


@pytest.mark.parametrize("kind", ["dev_zero", "sparse", "deep", "digits", "list"])
def test_a_crafted_claim_json_is_refused_naming_it(kind: str, tmp_path: Path) -> None:
    path = tmp_path / "claim.json"
    if kind == "dev_zero":
        link(path, "/dev/zero")
    elif kind == "sparse":
        sparse(path, 3 * GB)
    else:
        write(path, {"deep": DEEP, "digits": '{"seeds": ' + HUGE_INT + "}", "list": "[1]"}[kind])
    err, peak = peak_of(lambda: _read_run_info(tmp_path))  # what `repro report` reads
    assert isinstance(err, ValueError) and str(path) in str(err) and peak < 4 << 20, err  # or a link refused
    assert readback.read_run_info(tmp_path / "absent.json") == {}


def _without(key: str, where: str = "arm") -> dict[str, Any]:
    doc = results_doc()
    if where == "arm":
        del doc["arms"][0][key]
    else:
        del doc[key]
    return doc


def _with(path: list[Any], value: Any) -> dict[str, Any]:
    doc = results_doc()
    obj: Any = doc
    for p in path[:-1]:
        obj = obj[p]
    obj[path[-1]] = value
    return doc


def _many_groups(n: int) -> dict[str, Any]:
    doc = results_doc()
    doc["arms"] = [{**doc["arms"][0], "group": f"g{i}"} for i in range(n)]
    return doc


@pytest.mark.parametrize(
    ("doc", "cause"),
    [
        (DEEP, "nested 100000 deep"),
        ('{"claim": "degradation", "wall_s": ' + HUGE_INT + "}", "5001 digits"),
        (_without("measured"), "arms[0].measured must be"),
        (_without("runs"), "arms[0].runs must be"),
        (_without("checks", "doc"), "'checks' must be present"),
        (_with(["arms", 0, "name"], "not_an_arm"), "an arm of claim 'degradation'"),
        (
            _with(["checks", 0, "check", "better"], "resnet1202"),
            "checks[0].check.better must be an arm listed",
        ),
        (_with(["arms", 0, "runs", 0, "curve"], [{"train_err": 1.0}]), "with an 'epoch'"),
        (_with(["arms", 0, "measured", "train_err"], {"mean": "1"}), "measured.train_err must be"),
        (_with(["arms", 0, "label"], ["<script>"]), "label must be a string"),
        (
            _with(["arms", 0, "runs"], [results_doc()["arms"][0]["runs"][0]] * 1000),
            "runs must be a list of ≤ 100",
        ),
        (_many_groups(2), "listed once, not again"),
        (_many_groups(1000), "arms must be a list of degradation's arms"),
    ],
)
def test_a_crafted_results_json_is_refused_naming_it(doc: Any, cause: str, tmp_path: Path) -> None:
    path = write(tmp_path / "degradation" / "results.json", doc)
    t0 = time.perf_counter()
    refused(lambda: read_results(path, get_claim("degradation")), path, cause, ResultFileError)  # `repro docs`
    assert time.perf_counter() - t0 < 10


def test_a_valid_results_json_reads_and_renders(tmp_path: Path) -> None:
    path = write(tmp_path / "results.json", results_doc())
    assert readback.read_results(path, get_claim("degradation")) == results_doc()


def test_chart_cifar_refuses_a_deep_huge_or_device_results_json(tmp_path: Path) -> None:
    for i, doc in enumerate((DEEP, '{"arms": [], "n": ' + HUGE_INT + "}")):
        path = write(tmp_path / f"c{i}" / "results.json", doc)
        refused(lambda i=i: read_measured(tmp_path / f"c{i}"), path)
    (tmp_path / "c2").mkdir()
    path = link(tmp_path / "c2" / "results.json", "/dev/zero")
    refused(lambda: read_measured(tmp_path / "c2"), path)  # a device, or a link out of the folder


# ------------------------------------------------------------------------------------------------ resumes.jsonl


def test_a_garbage_resume_log_never_blocks_a_resume(tmp_path: Path) -> None:
    notes: list[str] = []
    folder = RunFolder(tmp_path, say=notes.append)
    log = tmp_path / "resumes.jsonl"
    log.write_bytes(b'{"step": 3}\n\x00\xff\xfe garbage \x89PNG\n{"step": 6}\n{"step": 9, "chec')
    folder.record_resume(12, tmp_path / "ckpt_000004", {"eval_every": [1, 2]})
    steps = [json.loads(x)["step"] for x in log.read_text().splitlines()]
    assert steps == [3, 6, 12] and any("line 2" in n for n in notes) and any("cut short" in n for n in notes)


def test_a_6gb_sparse_resume_log_starts_afresh_with_a_note(tmp_path: Path) -> None:
    notes: list[str] = []
    sparse(tmp_path / "resumes.jsonl", 6 * GB)
    err, peak = peak_of(lambda: RunFolder(tmp_path, say=notes.append).record_resume(5, tmp_path / "c", {}))
    assert err is None and peak < 4 << 20
    assert any("more than the" in n and "starting a new resume log" in n for n in notes), notes
    assert [json.loads(x)["step"] for x in (tmp_path / "resumes.jsonl").read_text().splitlines()] == [5]


# ------------------------------------------------------------------------------------------------ report text


HOSTILE = "<script>alert(1)</script>\n# Owned | ![x](http://evil/x.png)"


def test_text_from_results_is_escaped_before_it_reaches_markdown() -> None:
    out = escape_text({"label": HOSTILE, "n": 3, "l": ["#h", "a|b"], "k": {"x": "-item"}})
    assert out["n"] == 3 and out["l"] == ["\\#h", "a\\|b"] and out["k"] == {"x": "\\-item"}
    text = out["label"]
    assert "<" not in text and "\n" not in text and "](" not in text.replace("\\](", "")
    assert "|" not in text.replace("\\|", "")


def test_a_report_carries_no_html_heading_or_table_break_from_results(tmp_path: Path) -> None:
    results = {"claim": "stacked_3x3", "kind": "analytic", "paper": HOSTILE, "where": "x", "says": HOSTILE,
               "budget": "exact", "verdict": "holds", "arms": [], "machine": {}, "command": "convzoo repro run x",
               "note": HOSTILE,
               "explanation": HOSTILE, "rows": [{"what": HOSTILE, "computed": 1, "paper": 1, "agrees": True}]}  # fmt: skip
    text = render(results, tmp_path).read_text()
    assert "<script>" not in text and "![x](" not in text
    assert not any(line.startswith("# Owned") for line in text.splitlines())
    row = next(line for line in text.splitlines() if "alert" in line and line.startswith("|"))
    assert row.replace("\\|", "").count("|") == 5  # the table's own four cells, nothing more


# ------------------------------------------------------------------------------------------------ fuzzing


def _nested(depth: int, kinds: str) -> str:
    opens = "".join("[" if c == "0" else '{"k": ' for c in kinds[:depth])
    closes = "".join("]" if c == "0" else "}" for c in reversed(kinds[:depth]))
    return opens + "1" + closes


@FUZZ
@given(data=st.binary(max_size=2000))
def test_fuzz_read_json_and_jsonl_only_refuse(data: bytes, tmp_path: Path) -> None:
    path = tmp_path / "f.json"
    path.write_bytes(data)
    for read in (
        lambda: read_json(path, cap_bytes=1000, what="x"),
        lambda: read_jsonl(path, cap_bytes=1000, what="x", line_cap=200),
        lambda: read_jsonl(path, cap_bytes=1000, what="x", skip_bad=True),
    ):
        try:
            read()
        except RejectedFile as e:
            assert str(path) in str(e)


@FUZZ
@given(
    depth=st.integers(0, 3000), kinds=st.text("01", min_size=3000, max_size=3000), junk=st.text(max_size=20)
)
def test_fuzz_nesting_is_measured_without_recursion(depth: int, kinds: str, junk: str) -> None:
    text = _nested(depth, kinds) + junk
    try:
        parse_json(text, "f.json", "x")
    except RejectedFile as e:
        assert "f.json" in str(e)
    else:
        assert depth <= 64


VALID_ZIP = zip_bytes({"m.json": b'{"a": [1, 2, 3]}' * 40, "other": b"x" * 100})


@FUZZ
@given(flips=st.lists(st.tuples(st.integers(0, len(VALID_ZIP) - 1), st.integers(0, 255)), max_size=8))
def test_fuzz_mutated_zips_only_refuse(flips: list[tuple[int, int]], tmp_path: Path) -> None:
    data = bytearray(VALID_ZIP)
    for at, value in flips:
        data[at] = value
    path = tmp_path / "f.zip"
    path.write_bytes(bytes(data))
    try:
        out = read_zip_member(path, "m.json", 1 << 16)
        assert out is None or len(out) <= 1 << 16
    except RejectedFile as e:
        assert str(path) in str(e)


VALID_ONNX = _varint(8) + _varint(9) + _field(7, b"graph") + _field(14, _field(1, b"k") + _field(2, b"v"))


@FUZZ
@given(data=st.binary(max_size=300), prefix=st.booleans())
def test_fuzz_onnx_and_openvino_scanners_only_refuse(data: bytes, prefix: bool, tmp_path: Path) -> None:
    path = tmp_path / "f.onnx"
    path.write_bytes((VALID_ONNX if prefix else b"") + data)
    try:
        read_onnx_metadata(path, cap_bytes=1000)
    except RejectedFile as e:
        assert str(path) in str(e)
    xml = tmp_path / "f.xml"
    xml.write_bytes(b'<net><rt_info><s><k value="' + data + b'"/></s></rt_info></net>' if prefix else data)
    xml.with_suffix(".bin").write_bytes(b"")
    try:
        read_openvino_metadata(xml, cap_bytes=1000, section="s")
    except RejectedFile as e:
        assert str(xml) in str(e)
