"""Dataset files are data, never trusted (issue 10): every bad file is refused before it is allocated for,
with an error that names the file and the cause, or skipped on request; fuzzed files never escape as a
traceback, never run code and stay within the stated allocation bounds."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import io
import os
import pickle
import re
import signal
import struct
import subprocess
import sys
import tarfile
import textwrap
import threading
import time
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFile

import convzoo.data.datasets as datasets
from convzoo.cli import main
from convzoo.data import (
    BadImageError,
    DataFileError,
    UnsafePickleError,
    download_and_verify,
    extract_folder,
    load_cifar,
    load_data,
    load_image_folder,
    load_mnist,
    read_image,
    restricted_unpickle,
)
from convzoo.data.readers import read_cifar_binary, read_cifar_pickle, read_idx

FUZZ = settings(  # no example database: runs are reproducible and leave nothing in the working tree
    max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _peak_bytes(fn, *args, **kwargs) -> tuple[object, int]:
    """Run fn under tracemalloc; return (result or the exception raised, peak bytes allocated)."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        out: object = fn(*args, **kwargs)
    except Exception as e:  # the caller checks the type
        out = e
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return out, peak


# ------------------------------------------------------------------------------------------- image folders


def _folder(root: Path, classes: tuple[str, ...] = ("cat", "dog"), n: int = 3, size: int = 8) -> Path:
    rng = np.random.default_rng(0)
    for c in classes:
        (root / "train" / c).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(
                root / "train" / c / f"{i}.png"
            )
    return root


def _png_header(width: int, height: int) -> bytes:
    """A PNG that declares width×height (valid header and CRC) but holds no pixel data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return (
        b"\x89PNG\r\n\x1a\n" + chunk + struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))
    )


def test_hidden_files_and_folders_are_not_classes_or_images(tmp_path):
    root = _folder(tmp_path / "ds")
    (root / "train" / ".ipynb_checkpoints").mkdir()
    Image.new("RGB", (8, 8)).save(root / "train" / ".ipynb_checkpoints" / "x.png")
    Image.new("RGB", (8, 8)).save(root / "train" / "cat" / ".hidden.png")
    (root / "train" / "cat" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    s = load_image_folder(root, cache_dir=tmp_path / "c")
    assert s.classes == ["cat", "dog"] and len(s) == 6 and not s.skipped


@pytest.mark.parametrize("mode", ["I;16", "I;16B", "I"])
def test_16_bit_images_keep_their_top_byte(tmp_path, mode):
    grad = np.linspace(0, 65535, 64 * 64).round().astype(np.uint16).reshape(64, 64)
    path = tmp_path / ("g.png" if mode == "I;16" else "g.tif")
    if mode == "I":
        Image.fromarray(grad.astype(np.int32)).save(path)  # 32-bit integer TIFF holding 16-bit values
    else:
        Image.frombytes(mode, (64, 64), grad.astype(">u2" if mode == "I;16B" else "<u2").tobytes()).save(path)
    assert Image.open(path).mode == mode
    out = read_image(path, "L")[..., 0]
    assert np.array_equal(out, (grad >> 8).astype(np.uint8))  # not 99.6 % saturated at 255
    assert (out == 255).mean() < 0.01 and np.array_equal(read_image(path)[..., 1], out)


def _png16(arr: np.ndarray, colour_type: int) -> bytes:
    """A 16-bit PNG (Pillow writes none in colour): 0 grey, 2 RGB, 4 grey+alpha, 6 RGBA."""
    h, w = arr.shape[:2]
    rows = b"".join(b"\0" + arr[y].astype(">u2").tobytes() for y in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 16, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("colour_type, channels", [(0, 1), (2, 3), (4, 2), (6, 4)])
def test_16_bit_pngs_of_every_colour_type_keep_their_top_byte(tmp_path, colour_type, channels):
    grad = np.linspace(0, 65535, 16 * 16 * channels).round().astype(np.uint16).reshape(16, 16, channels)
    (tmp_path / "g.png").write_bytes(_png16(grad.squeeze(-1) if channels == 1 else grad, colour_type))
    top = (grad >> 8).astype(np.uint8)
    expected = {1: top[..., :1], 2: top[..., :1], 3: top, 4: top[..., :3]}[channels]
    rgb = read_image(tmp_path / "g.png")
    assert np.array_equal(rgb, np.broadcast_to(expected, rgb.shape))


def test_images_of_no_fixed_8_bit_range_are_refused(tmp_path):
    Image.fromarray(np.full((4, 4), 70000, np.int32)).save(tmp_path / "wide.tif")
    Image.fromarray(np.full((4, 4), 0.5, np.float32)).save(tmp_path / "float.tif")
    with pytest.raises(BadImageError, match=r"wide\.tif: 32-bit pixel values outside 0\.\.65535"):
        read_image(tmp_path / "wide.tif")
    with pytest.raises(BadImageError, match=r"float\.tif: floating-point pixels"):
        read_image(tmp_path / "float.tif")


@pytest.mark.parametrize(
    "side, cause",
    [
        (9000, "81,000,000 pixels"),
        (12000, "DecompressionBomb"),
        (20000, "DecompressionBomb"),
        (0, "cannot identify image file"),
    ],
)  # over our cap; PIL's warning zone; PIL's error zone; empty
def test_huge_images_are_refused_from_the_header_and_skippable(tmp_path, monkeypatch, side, cause):
    loads: list[object] = []
    real_load = ImageFile.ImageFile.load
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: loads.append(self) or real_load(self))
    root = _folder(tmp_path / "ds")
    bomb = root / "train" / "dog" / "bomb.png"
    bomb.write_bytes(_png_header(side, side))
    with pytest.raises(BadImageError, match=rf"bomb\.png.*{cause}.*--skip-bad-images"):
        read_image(bomb)
    assert not loads  # refused before decoding a single pixel
    with pytest.raises(BadImageError, match=r"bomb\.png"):
        load_image_folder(root, cache_dir=tmp_path / "c")
    with pytest.warns(UserWarning, match="skipped 1 unreadable"):
        s = load_image_folder(root, on_bad="skip", cache_dir=tmp_path / "c")
    assert len(s) == 6 and s.skipped == [str(bomb)]


@pytest.mark.slow
def test_train_command_skips_a_bomb_on_request(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CONVZOO_CACHE", str(tmp_path / "cache"))
    root = _folder(tmp_path / "ds", n=4, size=32)
    (root / "train" / "dog" / "bomb.png").write_bytes(_png_header(20000, 20000))
    argv = [
        "train",
        "lenet5",
        "--data",
        str(root),
        "--image-size",
        "32",
        "--epochs",
        "1",
        "--batch-size",
        "4",
    ]
    argv += ["--out", str(tmp_path / "runs"), "--no-progress"]
    assert main([*argv, "--name", "a"]) == 2
    err = capsys.readouterr().err
    assert "bomb.png: DecompressionBombError" in err and "--skip-bad-images" in err and "Traceback" not in err
    with pytest.warns(UserWarning, match="skipped 1 unreadable"):
        assert main([*argv, "--name", "b", "--skip-bad-images"]) == 0
    assert "skipped 1 unreadable image(s), e.g. " in capsys.readouterr().out


def test_pixel_cap_is_a_parameter(tmp_path):
    root = _folder(tmp_path / "ds", size=40)
    with pytest.raises(BadImageError, match=r"0\.png: 40×40 = 1,600 pixels; images may have 1 to 1,000"):
        load_image_folder(root, cache_dir=tmp_path / "c", max_pixels=1000)
    assert len(load_image_folder(root, cache_dir=tmp_path / "c", max_pixels=1600)) == 6


def test_links_that_cannot_be_read_are_named_and_skippable(tmp_path):
    root = _folder(tmp_path / "ds")
    cat = root / "train" / "cat"
    os.symlink("loop.png", cat / "loop.png")  # a symlink loop
    os.symlink(tmp_path / "gone.png", cat / "gone.png")  # a dangling link
    (cat / "folder.png").mkdir()  # a folder with an image's name
    os.symlink("knot", root / "train" / "knot")  # a looping class folder
    with pytest.raises(BadImageError, match=r"cannot be read \(Too many levels of symbolic links\)"):
        load_image_folder(root, cache_dir=tmp_path / "c")
    with pytest.warns(UserWarning, match="skipped 4 unreadable"):
        s = load_image_folder(root, on_bad="skip", cache_dir=tmp_path / "c")
    assert len(s) == 6 and s.classes == ["cat", "dog"]
    assert sorted(Path(p).name for p in s.skipped) == ["folder.png", "gone.png", "knot", "loop.png"]


def test_fewer_than_two_classes_are_refused(tmp_path):
    root = _folder(tmp_path / "ds", classes=("cat",))
    with pytest.raises(
        DataFileError, match=r"images of 1 class\(es\) \['cat'\]; a classifier needs at least 2"
    ):
        load_data(str(root), cache_dir=tmp_path / "c")
    two = _folder(tmp_path / "two")
    for p in (two / "train" / "dog").iterdir():
        p.write_bytes(b"broken")
    with pytest.raises(DataFileError, match=r"no readable images in class folder\(s\) .*dog"):
        load_data(str(two), cache_dir=tmp_path / "c", on_bad="skip")


def test_one_class_folder_fails_the_train_command(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CONVZOO_CACHE", str(tmp_path / "cache"))
    root = _folder(tmp_path / "ds", classes=("cat",))
    argv = ["train", "lenet5", "--data", str(root), "--out", str(tmp_path / "runs"), "--image-size", "32"]
    assert main(argv) != 0
    err = capsys.readouterr().err
    assert "needs at least 2" in err and "Traceback" not in err


def test_unwritable_cache_is_a_note_not_a_failure(tmp_path):
    root = _folder(tmp_path / "ds")
    (tmp_path / "file").write_text("not a folder")
    with pytest.warns(UserWarning, match=r"not caching the decoded images: cannot write .*file/c"):
        s = load_image_folder(root, cache_dir=tmp_path / "file" / "c")
    assert len(s) == 6


@pytest.mark.parametrize("damage", ["garbage", "compressed", "other classes"])
def test_damaged_cache_is_rebuilt_not_trusted(tmp_path, damage):
    root = _folder(tmp_path / "ds")
    cache = tmp_path / "c"
    good = load_image_folder(root, cache_dir=cache)
    (cache_file,) = cache.glob("*.pt")
    if damage == "garbage":
        cache_file.write_bytes(b"PK\x03\x04 not a zip")
    elif damage == "compressed":  # a zip whose entries inflate: sizes cannot be trusted before reading
        import zipfile

        raw = cache_file.read_bytes()
        with (
            zipfile.ZipFile(io.BytesIO(raw)) as src,
            zipfile.ZipFile(cache_file, "w", zipfile.ZIP_DEFLATED) as dst,
        ):
            for info in src.infolist():
                dst.writestr(info.filename, src.read(info))
    else:
        torch.save(
            {"images": good.images, "labels": good.labels, "classes": ["a", "b"], "skipped": []}, cache_file
        )
    with pytest.warns(UserWarning, match="ignoring the image cache"):
        again = load_image_folder(root, cache_dir=cache)
    assert torch.equal(again.images, good.images) and again.classes == ["cat", "dog"]


# ------------------------------------------------------------------------------------------------ CIFAR


def _records(n: int, label_cols: int = 1, label: int = 3) -> np.ndarray:
    rec = np.random.default_rng(n).integers(0, 256, (n, label_cols + 3072), dtype=np.uint8)
    rec[:, :label_cols] = label
    return rec


def _cifar10_binary(root: Path, n: int = 4, test_n: int = 2) -> Path:
    d = root / "cifar-10-batches-bin"
    d.mkdir(parents=True)
    for i in range(1, 6):
        (d / f"data_batch_{i}.bin").write_bytes(_records(n).tobytes())
    (d / "test_batch.bin").write_bytes(_records(test_n).tobytes())
    (d / "batches.meta.txt").write_text("\n".join(f"c{i}" for i in range(10)) + "\n\n")
    return d


def test_binary_labels_out_of_range_are_refused(tmp_path):
    d = _cifar10_binary(tmp_path)
    bad = _records(4)
    bad[2, 0] = 200
    (d / "data_batch_3.bin").write_bytes(bad.tobytes())
    with pytest.raises(DataFileError, match=r"data_batch_3\.bin: label 200 at record 2 is outside 0\.\.9"):
        load_cifar("cifar10", tmp_path)
    c100 = tmp_path / "c100" / "cifar-100-binary"
    c100.mkdir(parents=True)
    (c100 / "fine_label_names.txt").write_text(" ".join(f"f{i}" for i in range(100)))
    (c100 / "test.bin").write_bytes(_records(2, 2, 5).tobytes())
    rec = _records(3, 2, 5)
    rec[1, 0] = 20  # coarse labels are 0..19
    (c100 / "train.bin").write_bytes(rec.tobytes())
    with pytest.raises(DataFileError, match=r"train\.bin: label 20 at record 1 is outside 0\.\.19"):
        load_cifar("cifar100", c100.parent)


def test_binary_files_must_be_whole_records(tmp_path):
    d = _cifar10_binary(tmp_path)
    (d / "test_batch.bin").write_bytes(_records(2).tobytes()[:-1])
    with pytest.raises(
        DataFileError, match=r"test_batch\.bin: 6145 bytes is not a whole number of 3073-byte"
    ):
        load_cifar("cifar10", tmp_path)


def test_a_batch_one_record_short_is_refused(tmp_path, monkeypatch):
    d = _cifar10_binary(tmp_path)
    (d / "data_batch_4.bin").write_bytes(_records(3).tobytes())  # a subset: the batches must agree
    with pytest.raises(DataFileError, match=r"training batches hold different .*data_batch_4\.bin: 3"):
        load_cifar("cifar10", tmp_path)
    official = ({f"data_batch_{i}": 4 for i in range(1, 6)}, {"test_batch": 2})
    monkeypatch.setitem(datasets._CIFAR_FILES, "cifar10", official)  # the official release, in miniature
    (d / "data_batch_4.bin").write_bytes(_records(4).tobytes())
    assert len(load_cifar("cifar10", tmp_path)[0]) == 20
    (d / "test_batch.bin").write_bytes(_records(1).tobytes())
    with pytest.raises(DataFileError, match=r"test_batch\.bin: 1 records where the official release has 2"):
        load_cifar("cifar10", tmp_path)
    (d / "test_batch.bin").write_bytes(_records(3).tobytes())
    with pytest.raises(DataFileError, match=r"test_batch\.bin: 3 records, more than the 2 of the official"):
        load_cifar("cifar10", tmp_path)


def test_missing_file_and_bad_names_are_named(tmp_path):
    d = _cifar10_binary(tmp_path)
    (d / "batches.meta.txt").write_text("a b c")
    with pytest.raises(DataFileError, match=r"batches\.meta\.txt: expected 10 distinct class names, found 3"):
        load_cifar("cifar10", tmp_path)
    (d / "batches.meta.txt").write_bytes(b"x " * 40000)
    with pytest.raises(DataFileError, match=r"batches\.meta\.txt: larger than 65536 bytes"):
        load_cifar("cifar10", tmp_path)
    (d / "batches.meta.txt").write_text(" ".join(f"c{i}" for i in range(10)))
    (d / "data_batch_5.bin").unlink()
    with pytest.raises(FileNotFoundError, match=r"data_batch_5\.bin is missing.*run again with --download"):
        load_cifar("cifar10", tmp_path)


def _tar_release(tmp_path: Path) -> tuple[Path, str]:
    _cifar10_binary(tmp_path / "src")
    archive = tmp_path / "data" / "cifar-10-binary.tar.gz"
    archive.parent.mkdir()
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "src" / "cifar-10-batches-bin", arcname="cifar-10-batches-bin")
    return archive, hashlib.md5(archive.read_bytes()).hexdigest()


@pytest.mark.slow
def test_extraction_killed_midway_leaves_nothing_that_looks_complete(tmp_path):
    archive, md5 = _tar_release(tmp_path)
    script = textwrap.dedent(f"""
        import os, signal, tarfile
        import convzoo.data.download as dl
        def killed_midway(archive, dest):
            with tarfile.open(archive) as tar:
                tar.extract(tar.getmembers()[1], dest, filter="data")  # one file of seven, then SIGKILL
            os.kill(os.getpid(), signal.SIGKILL)
        dl.safe_extract = killed_midway
        from convzoo.data import load_cifar
        load_cifar("cifar10", {str(archive.parent)!r}, download=True, md5={md5!r})
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL
    assert not (archive.parent / "cifar-10-batches-bin").exists()
    assert (
        len(list(archive.parent.glob(".cifar-10-batches-bin.extract-*"))) == 1
    )  # the killed one's leftovers
    train, test = load_cifar(
        "cifar10", archive.parent, download=True, md5=md5
    )  # no network: archive verified
    assert len(train) == 20 and len(test) == 2
    assert not list(
        archive.parent.glob(".cifar-10-batches-bin.extract-*")
    )  # leftovers of dead owners removed


def test_extraction_is_all_or_nothing(tmp_path):
    archive, _ = _tar_release(tmp_path)
    with pytest.raises(ValueError, match="did not contain the expected folder cifar-100-binary"):
        extract_folder(archive, archive.parent, "cifar-100-binary")
    assert sorted(p.name for p in archive.parent.iterdir()) == ["cifar-10-binary.tar.gz"]
    broken = archive.with_name("broken.tar.gz")
    broken.write_bytes(archive.read_bytes()[:-200])
    with pytest.raises(ValueError, match=r"broken\.tar\.gz: cannot extract it \((EOFError|ReadError)"):
        extract_folder(broken, archive.parent, "cifar-10-batches-bin")
    assert sorted(p.name for p in archive.parent.iterdir()) == ["broken.tar.gz", "cifar-10-binary.tar.gz"]
    evil = archive.with_name("evil.tar")
    with tarfile.open(evil, "w") as tar:
        info = tarfile.TarInfo("cifar-10-batches-bin/../../escaped.txt")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    with pytest.raises(ValueError, match=r"evil\.tar: cannot extract it \(OutsideDestinationError"):
        extract_folder(evil, archive.parent, "cifar-10-batches-bin")
    assert not (tmp_path / "escaped.txt").exists() and not (archive.parent / "cifar-10-batches-bin").exists()
    assert (extract_folder(archive, archive.parent, "cifar-10-batches-bin") / "test_batch.bin").is_file()


class _Trickle(http.server.BaseHTTPRequestHandler):
    """Serves /big (1,000 bytes at once) and /slow (one byte every 50 ms, no Content-Length)."""

    def do_GET(self) -> None:  # noqa: N802 (the http.server API)
        self.send_response(200)
        if self.path == "/big":
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(bytes(1000))
            return
        self.end_headers()
        try:
            for _ in range(200):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.05)
        except OSError:  # the client gave up, as it should
            pass

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def trickle_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Trickle)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_downloads_have_a_deadline_and_a_size_cap(tmp_path, trickle_server):
    start = time.monotonic()
    with pytest.raises(OSError, match=r"could not download .*/slow: the download took longer than 0.5 s"):
        download_and_verify(f"{trickle_server}/slow", tmp_path / "a.tar.gz", "0" * 32, deadline_s=0.5)
    assert time.monotonic() - start < 5
    with pytest.raises(ValueError, match=r"/big is 1000 bytes, more than the limit of 100"):
        download_and_verify(f"{trickle_server}/big", tmp_path / "a.tar.gz", "0" * 32, max_bytes=100)
    with pytest.raises(ValueError, match=r"/slow sent more than the limit of 5 bytes"):
        download_and_verify(f"{trickle_server}/slow", tmp_path / "a.tar.gz", "0" * 32, max_bytes=5)
    assert not list(tmp_path.iterdir())  # nothing half-downloaded is left behind


def test_leftovers_of_killed_downloads_are_removed(tmp_path, trickle_server):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    stale = tmp_path / f"a.tar.gz.part-{dead.stdout.strip()}-abc.part"
    live = tmp_path / f"a.tar.gz.part-{os.getpid()}-xyz.part"  # another download still running
    stale.write_bytes(b"half")
    live.write_bytes(b"half")
    with pytest.raises(ValueError):
        download_and_verify(f"{trickle_server}/big", tmp_path / "a.tar.gz", "0" * 32)
    assert not stale.exists() and live.exists()


# ---------------------------------------------------------------------------------------- CIFAR Python release


class _Py2Pickler(pickle._Pickler):  # type: ignore[name-defined]
    """Writes text and bytes as Python 2's str (BINSTRING), as the official CIFAR Python release does."""

    dispatch = pickle._Pickler.dispatch.copy()  # type: ignore[attr-defined]

    def save_str2(self, obj: str | bytes) -> None:
        b = obj.encode("latin-1") if isinstance(obj, str) else obj
        head = (
            pickle.SHORT_BINSTRING + bytes([len(b)])
            if len(b) < 256
            else pickle.BINSTRING + struct.pack("<i", len(b))
        )
        self.write(head + b)
        self.memoize(obj)

    dispatch[bytes] = save_str2
    dispatch[str] = save_str2


def _py2_dumps(obj: object) -> bytes:
    buf = io.BytesIO()
    _Py2Pickler(buf, protocol=2).dump(obj)
    return buf.getvalue()


def _batch(n: int = 3, labels: list[int] | None = None) -> dict[bytes, object]:
    data = np.random.default_rng(n).integers(0, 256, (n, 3072), dtype=np.uint8)
    return {b"batch_label": b"x", b"labels": labels or [1] * n, b"data": data, b"filenames": [b"f.png"] * n}


def _cifar10_python(root: Path, dumps=_py2_dumps, batch: dict | None = None) -> Path:
    d = root / "cifar-10-batches-py"
    d.mkdir(parents=True, exist_ok=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (d / name).write_bytes(dumps(batch or _batch()))
    (d / "batches.meta").write_bytes(
        dumps({b"label_names": [f"c{i}".encode() for i in range(10)], b"num_vis": 3072})
    )
    return d


@pytest.mark.parametrize("protocol", ["py2", 2, 3, 4])
def test_genuine_pickles_of_every_protocol_load(tmp_path, protocol):
    dumps = _py2_dumps if protocol == "py2" else (lambda o: pickle.dumps(o, protocol=protocol))
    b = _batch()
    b[b"data"] = np.asfortranarray(b[b"data"])  # Fortran order round-trips too
    _cifar10_python(tmp_path, dumps, b)
    train, test = load_cifar("cifar10", tmp_path, release="python")
    assert len(train) == 15 and train.classes[9] == "c9"
    assert torch.equal(train.images[0].flatten(), torch.from_numpy(np.ascontiguousarray(b[b"data"])[0]))


def _bomb_reconstruct() -> bytes:
    """The issue's file: numpy's _reconstruct asked for 1,000,400 images (3 GB) in under 200 bytes."""
    return (
        b"\x80\x02}(U\x04datacnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n"
        b"J\xd0C\x0f\x00M\x00\x0c\x86U\x01B\x87RU\x06labels]u."
    )


def _bomb_build() -> bytes:
    """A genuine-looking array whose state declares 1,000,400×3072 bytes but carries 6."""
    arr = _py2_dumps({b"data": np.zeros((2, 3), np.uint8)})
    return arr.replace(b"K\x02K\x03\x86", b"J\xd0C\x0f\x00M\x00\x0c\x86")


def _memo_bomb() -> bytes:
    return b"\x80\x02]r\xff\xff\xff\xff."  # LONG_BINPUT 4294967295: the C unpickler would size its memo to it


def _bytes8_bomb() -> bytes:
    return b"\x80\x04\x8e" + struct.pack("<Q", 1 << 40) + b"x."  # BINBYTES8 declaring a terabyte


@pytest.mark.parametrize(
    "make, cause",
    [
        (_bomb_reconstruct, "_reconstruct with arguments numpy never writes"),
        (_bomb_build, r"needs 3073228800 bytes, has 6"),
        (_memo_bomb, "memo index 4294967295 .* out of range"),
        (_bytes8_bomb, "not a valid pickle"),
    ],
)
def test_pickles_cannot_allocate_what_the_file_does_not_hold(tmp_path, make, cause):
    d = _cifar10_python(tmp_path)
    (d / "data_batch_1").write_bytes(make())
    err, peak = _peak_bytes(load_cifar, "cifar10", tmp_path, release="python")
    assert isinstance(err, DataFileError) and f"{d / 'data_batch_1'}: " in str(err), err
    assert re.search(cause, str(err)), err
    assert peak < 4 << 20  # the loader read 5 small batches; a bomb would be gigabytes


@pytest.mark.parametrize(
    "batch, cause",
    [
        (_batch(labels=[1, 99, 2]), r"labels holds 99, outside 0\.\.9"),
        (_batch(labels=[1, 2]), r"2 labels for 3 images"),
        (
            {**_batch(), b"data": np.zeros((3, 3072), np.int64)},
            "only integer dtypes|'data' is not a uint8 array",
        ),
        ({**_batch(), b"data": np.zeros((3, 3000), np.uint8)}, r"'data' has shape \(3, 3000\)"),
        ({**_batch(), b"labels": [True, False, True]}, "'labels' is not a list of integers"),
        ({b"labels": [1]}, "no 'data' entry"),
        ([1, 2, 3], "a CIFAR batch is a dict with string keys, not list"),
        ({**_batch(), b"data": np.zeros((3, 3072), object)}, "dtype 'O8': only integer dtypes"),
    ],
)
def test_pickled_batches_are_checked_field_by_field(tmp_path, batch, cause):
    d = _cifar10_python(tmp_path)
    (d / "data_batch_2").write_bytes(pickle.dumps(batch, protocol=2))
    with pytest.raises(DataFileError, match=rf"data_batch_2: .*({cause})"):
        load_cifar("cifar10", tmp_path, release="python")


def test_pickled_class_names_are_checked(tmp_path):
    d = _cifar10_python(tmp_path)
    (d / "batches.meta").write_bytes(_py2_dumps({b"label_names": [b"a"] * 10}))
    with pytest.raises(
        DataFileError, match=r"batches\.meta: expected 10 distinct class names, found 10 \(1 distinct"
    ):
        load_cifar("cifar10", tmp_path, release="python")
    (d / "batches.meta").write_bytes(_py2_dumps({b"label_names": b"abc"}))
    with pytest.raises(DataFileError, match=r"batches\.meta: 'label_names' is not a list of strings"):
        load_cifar("cifar10", tmp_path, release="python")


def test_truncated_and_trailing_pickles_name_the_file(tmp_path):
    d = _cifar10_python(tmp_path)
    good = (d / "test_batch").read_bytes()
    (d / "test_batch").write_bytes(good[: len(good) // 2])
    with pytest.raises(DataFileError, match=r"test_batch: not a valid pickle"):
        load_cifar("cifar10", tmp_path, release="python")
    (d / "test_batch").write_bytes(good + b"junk")
    with pytest.raises(DataFileError, match=r"test_batch: 4 bytes after the end of the pickle"):
        load_cifar("cifar10", tmp_path, release="python")


class _Payload:
    def __init__(self, canary: Path) -> None:
        self.canary = canary

    def __reduce__(self):
        return (os.system, (f"touch {self.canary}",))


@pytest.mark.parametrize("protocol", [0, 2, 4])
def test_pickles_never_run_code(tmp_path, protocol):
    canary = tmp_path / "pwned"
    for payload in (
        pickle.dumps({b"data": _Payload(canary)}, protocol=protocol),
        b"cbuiltins\neval\n(Vopen(%r,'w')\ntR." % str(canary),
        b"\x80\x02(cos\nsystem\no.",  # OBJ (forbidden opcode)
        b"\x80\x02(S'touch'\nios\nsystem\n.",  # INST
        b"\x80\x02\x82\x01.",  # EXT1: the copyreg extension registry
        b"\x80\x02Pos.system\n.",  # PERSID
    ):
        with pytest.raises(UnsafePickleError, match="refusing to unpickle global|never use"):
            restricted_unpickle(payload, "evil.pkl")
        with pytest.raises(pickle.UnpicklingError):  # still the type callers of pickle expect
            restricted_unpickle(payload)
    assert not canary.exists()


def test_stand_ins_for_numpy_never_escape_the_unpickler():
    for data, what in ((b"cnumpy\ndtype\n.", "function"), (b"cnumpy\nndarray\n.", "_NdarrayToken")):
        with pytest.raises(DataFileError, match=rf"x\.pkl: holds a {what}, which is not plain data"):
            restricted_unpickle(data, "x.pkl")
    arr = restricted_unpickle(pickle.dumps(np.arange(3, dtype=np.int16), protocol=2))
    assert isinstance(arr, np.ndarray) and arr.tolist() == [0, 1, 2]


def test_python_release_errors_reach_the_command_line_cleanly(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(
        datasets, "load_cifar", lambda spec, root, download: load_cifar(spec, root, release="python")
    )
    d = _cifar10_python(tmp_path)
    (d / "data_batch_1").write_bytes(pickle.dumps({b"data": _Payload(tmp_path / "pwned")}, protocol=2))
    argv = [
        "train",
        "lenet5",
        "--data",
        "cifar10",
        "--data-root",
        str(tmp_path),
        "--out",
        str(tmp_path / "r"),
    ]
    assert main(argv) != 0
    err = capsys.readouterr().err
    assert f"{d / 'data_batch_1'}: refusing to unpickle global" in err and not (tmp_path / "pwned").exists()


# ------------------------------------------------------------------------------------------------ MNIST idx


def _idx(arr: np.ndarray, magic: bytes = b"\0\0\x08") -> bytes:
    return magic + bytes([arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()


def _mnist(root: Path, n: int = 4, images: bytes | None = None, labels: bytes | None = None) -> Path:
    for prefix in ("train", "t10k"):
        (root / f"{prefix}-images-idx3-ubyte").write_bytes(images or _idx(np.zeros((n, 28, 28), np.uint8)))
        (root / f"{prefix}-labels-idx1-ubyte").write_bytes(labels or _idx(np.arange(n, dtype=np.uint8)))
    return root


@pytest.mark.parametrize(
    "images, labels, cause",
    [
        (_idx(np.zeros((4, 28, 28), np.uint8), b"\0\0\x0d"), None, "images-idx3-ubyte: not an idx file"),
        (
            _idx(np.zeros((4, 28, 29), np.uint8)),
            None,
            r"images-idx3-ubyte: header declares shape \(4, 28, 29\)",
        ),
        (_idx(np.zeros((4, 784), np.uint8)), None, "images-idx3-ubyte: header declares 2 dimensions"),
        (_idx(np.zeros((4, 28, 28), np.uint8))[:-1], None, "images-idx3-ubyte: truncated"),
        (
            _idx(np.zeros((4, 28, 28), np.uint8)) + b"\0",
            None,
            "images-idx3-ubyte: longer than its header says",
        ),
        (None, _idx(np.array([1, 2, 10, 3], np.uint8)), r"labels-idx1-ubyte: label 10 at record 2"),
        (None, _idx(np.arange(3, dtype=np.uint8)), "labels-idx1-ubyte: 3 labels for the 4 images"),
        (None, b"\0\0\x08\x01" + struct.pack(">I", 60001) + b"\0", r"header declares shape \(60001,\)"),
    ],
)
def test_idx_files_are_checked_before_reading(tmp_path, images, labels, cause):
    _mnist(tmp_path, images=images, labels=labels)
    with pytest.raises(DataFileError, match=cause):
        load_mnist(tmp_path)


def test_gzip_bombs_and_broken_gzip_are_refused(tmp_path):
    _mnist(tmp_path)
    target = tmp_path / "train-images-idx3-ubyte"
    header = _idx(np.zeros((4, 28, 28), np.uint8))[:16]
    target.unlink()
    gz = Path(f"{target}.gz")
    gz.write_bytes(gzip.compress(header + bytes(20 << 20), compresslevel=1))  # 20 MB of zeros in 20 kB
    err, peak = _peak_bytes(load_mnist, tmp_path)
    assert isinstance(err, DataFileError) and "longer than its header says" in str(err) and peak < 2 << 20
    gz.write_bytes(b"\x1f\x8b\x08\x00garbage")
    with pytest.raises(DataFileError, match=r"train-images-idx3-ubyte\.gz: cannot read the file"):
        load_mnist(tmp_path)


# ------------------------------------------------------------------------------------- fuzzing every reader


def _only_data_errors(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except DataFileError:
        return None


@FUZZ
@given(raw=st.binary(max_size=3 * 3073 + 8))
def test_fuzz_cifar_binary(tmp_path, raw):
    path = tmp_path / "batch.bin"
    path.write_bytes(raw)
    out, peak = _peak_bytes(read_cifar_binary, path, (10,), 2)
    assert out is None or isinstance(out, (tuple, DataFileError)), out
    if isinstance(out, tuple):
        assert out[0].shape == (len(raw) // 3073, 3, 32, 32) and int(out[1].max()) < 10
    assert peak <= 3 * len(raw) + (64 << 10)


_ALLOWED_GLOBALS = [
    b"cnumpy.core.multiarray\n_reconstruct\n",
    b"cnumpy\nndarray\n",
    b"cnumpy\ndtype\n",
    b"c_codecs\nencode\n",
]
_EVIL_GLOBALS = [b"cos\nsystem\n", b"cbuiltins\neval\n", b"csubprocess\nPopen\n", b"cnumpy\nload\n"]


def _u32(n: int) -> bytes:
    return struct.pack("<I", n)


_OPCODES = st.one_of(
    st.sampled_from(
        [
            b"(",
            b"]",
            b"}",
            b")",
            b"N",
            b"\x88",
            b"\x89",
            b"t",
            b"\x85",
            b"\x86",
            b"\x87",
            b"l",
            b"d",
            b"e",
            b"a",
            b"u",
            b"s",
            b"R",
            b"b",
            b"0",
            b"1",
            b"2",
            b"\x93",
            b"\x94",
            b"\x81",
            b"\x92",
            b"o",
            b"i",
        ]
    ),
    st.sampled_from(_ALLOWED_GLOBALS + _EVIL_GLOBALS),
    st.integers(0, 255).map(lambda i: b"K" + bytes([i])),
    st.integers(0, 255).map(lambda i: b"h" + bytes([i])),
    st.integers(0, 255).map(lambda i: b"q" + bytes([i])),
    st.integers(0, 2**32 - 1).map(lambda i: b"r" + _u32(i)),
    st.integers(0, 2**32 - 1).map(lambda i: b"J" + _u32(i)),
    st.binary(max_size=64).map(lambda b: b"C" + bytes([len(b)]) + b),
    st.binary(max_size=64).map(lambda b: b"U" + bytes([len(b)]) + b),
    st.sampled_from([b"u1", b"|", b"<", b"O", b"latin1", b"b", b"data", b"labels"]).map(
        lambda b: b"\x8c" + bytes([len(b)]) + b
    ),
    st.integers(0, 2**40).map(lambda n: b"\x8e" + struct.pack("<Q", n)),
    st.integers(0, 2**40).map(lambda n: b"\x95" + struct.pack("<Q", n)),
)


@FUZZ
@given(ops=st.lists(_OPCODES, max_size=40), proto=st.sampled_from([b"", b"\x80\x02", b"\x80\x04"]))
def test_fuzz_pickles_of_allowed_and_forbidden_opcodes(tmp_path, ops, proto):
    data = proto + b"".join(ops) + b"."
    out, peak = _peak_bytes(restricted_unpickle, data, "fuzz.pkl")
    assert not isinstance(out, Exception) or isinstance(out, DataFileError), repr(out)
    assert isinstance(
        out, (DataFileError, type(None), bool, int, float, str, bytes, list, tuple, dict, np.ndarray)
    )
    if any(g in data for g in _EVIL_GLOBALS):
        assert isinstance(out, DataFileError)  # a forbidden global is refused, wherever the walk stops
    assert peak <= 128 * len(data) + (256 << 10)
    assert not (tmp_path / "pwned").exists()


_PLAIN = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.binary(max_size=40) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.binary(max_size=8), inner, max_size=5),
    max_leaves=20,
)
_ARRAYS = st.builds(
    lambda n, w, dt: np.zeros((n, w), dt),
    st.integers(0, 3),
    st.sampled_from([3072, 100]),
    st.sampled_from([np.uint8, np.int64, np.float32, np.bool_]),
)


@FUZZ
@given(
    batch=st.fixed_dictionaries({}, optional={b"data": _ARRAYS | _PLAIN, b"labels": _PLAIN}),
    protocol=st.sampled_from([0, 2, 4]),
    cut=st.integers(0, 64),
)
def test_fuzz_cifar_python_batches(tmp_path, batch, protocol, cut):
    raw = pickle.dumps(batch, protocol=protocol)
    path = tmp_path / "data_batch_1"
    path.write_bytes(raw[: len(raw) - cut] if cut % 4 else raw)
    out, peak = _peak_bytes(read_cifar_pickle, path, "labels", 10, 3)
    assert isinstance(out, (tuple, DataFileError)), repr(out)
    if isinstance(out, tuple):
        assert (
            out[0].dtype == np.uint8 and out[0].shape[1:] == (3, 32, 32) and len(out[0]) == len(out[1]) <= 3
        )
    assert peak <= 8 * len(raw) + (512 << 10)


@FUZZ
@given(
    raw=st.binary(max_size=64),
    header=st.tuples(st.integers(0, 70000), st.integers(0, 40), st.integers(0, 40)),
)
def test_fuzz_idx(tmp_path, raw, header):
    path = tmp_path / "x-idx3-ubyte"
    for body in (raw, b"\0\0\x08\x03" + struct.pack(">3I", *header) + raw):
        path.write_bytes(body)
        out, peak = _peak_bytes(read_idx, path, (28, 28), 60000)
        assert isinstance(out, (np.ndarray, DataFileError)), repr(out)
        assert peak <= 2 * len(body) + (1 << 20) + (64 << 10)  # the bytes present + one read chunk
    Path(f"{path}.gz").write_bytes(raw)
    out, _ = _peak_bytes(read_idx, Path(f"{path}.gz"), (), 10)
    assert isinstance(out, (np.ndarray, DataFileError)), repr(out)


def _seed_images() -> list[bytes]:
    out = []
    for fmt, mode in (
        ("PNG", "RGB"),
        ("JPEG", "L"),
        ("GIF", "P"),
        ("BMP", "RGB"),
        ("TIFF", "I;16"),
        ("WEBP", "RGB"),
    ):
        buf = io.BytesIO()
        Image.new(mode, (6, 5)).save(buf, format=fmt)
        out.append(buf.getvalue())
    return out


_SEEDS = _seed_images()


@FUZZ
@given(
    seed=st.sampled_from(_SEEDS),
    edits=st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), max_size=6),
    cut=st.integers(0, 400),
)
def test_fuzz_images_in_a_folder(tmp_path, seed, edits, cut):
    data = bytearray(seed)
    for pos, value in edits:
        data[pos % len(data)] = value
    root = tmp_path / "ds"
    for c in ("a", "b"):
        (root / "train" / c).mkdir(parents=True, exist_ok=True)
        (root / "train" / c / "0.png").write_bytes(
            bytes(data[: max(1, len(data) - cut)]) if c == "a" else seed
        )
    try:
        arr = read_image(root / "train" / "a" / "0.png", max_pixels=4096)
        assert arr.dtype == np.uint8 and arr.ndim == 3 and arr.shape[0] * arr.shape[1] <= 4096
    except BadImageError as e:
        assert str(root / "train" / "a" / "0.png") in str(e)
    try:
        s = load_image_folder(root, on_bad="skip", cache_dir=tmp_path / "c", image_size=4, max_pixels=4096)
        assert s.images.shape[1:] == (3, 4, 4) and len(s) + len(s.skipped) == 2
    except DataFileError as e:
        assert str(root / "train") in str(e)
