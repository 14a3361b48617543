"""``benchmarks/pack_images.py``: an image folder carried to the GPU machine as one file, and back."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent


def _script():
    spec = importlib.util.spec_from_file_location("pack_images", ROOT / "benchmarks" / "pack_images.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


pack_images = _script()


def _folder(root: Path) -> Path:
    """Two classes, three training and two test images each, as JPEG and PNG."""
    for split, n in (("train", 3), ("test", 2)):
        for k, cls in enumerate(("cat", "dog")):
            (root / split / cls).mkdir(parents=True)
            for i in range(n):
                img = Image.new("RGB", (8, 8), (40 * i, 100 * k, 7))
                img.save(root / split / cls / f"{i:04d}.{'jpg' if i % 2 == 0 else 'png'}")
    return root


def _tree(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_a_folder_packs_into_one_file_and_unpacks_byte_for_byte(tmp_path):
    src = _folder(tmp_path / "src")
    r = pack_images.pack(src, tmp_path / "p" / "imgs.pack")
    assert r["files"] == 10 and r["pack_bytes"] < r["image_bytes"] + 2_000
    assert pack_images.unpack(tmp_path / "p" / "imgs.pack", tmp_path / "out") == 10
    assert _tree(tmp_path / "out") == _tree(src)
    from convzoo.data import load_data

    data = load_data(str(tmp_path / "out"))  # the trainer reads the unpacked folder as it reads the original
    assert len(data.train) == 6 and len(data.test) == 4


def test_the_command_line_packs_and_unpacks(tmp_path):
    src = _folder(tmp_path / "src")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    script = [sys.executable, str(ROOT / "benchmarks" / "pack_images.py")]
    a = subprocess.run([*script, "pack", str(src), str(tmp_path / "x.pack")], capture_output=True, text=True, env=env)
    assert a.returncode == 0 and "10 images" in a.stdout, a.stderr
    b = subprocess.run([*script, "unpack", str(tmp_path / "x.pack"), str(tmp_path / "o")], capture_output=True,
                       text=True, env=env)  # fmt: skip
    assert b.returncode == 0 and _tree(tmp_path / "o") == _tree(src)
    again = subprocess.run([*script, "unpack", str(tmp_path / "x.pack"), str(tmp_path / "o")], capture_output=True,
                           text=True, env=env)  # fmt: skip
    assert again.returncode == 1 and "already exists" in again.stderr and "Traceback" not in again.stderr


def test_pack_replaces_nothing_and_refuses_links_and_strays(tmp_path):
    src = _folder(tmp_path / "src")
    (tmp_path / "taken.pack").write_bytes(b"mine")
    with pytest.raises(Exception, match="exists and is not a file convzoo wrote"):
        pack_images.pack(src, tmp_path / "taken.pack")
    assert (tmp_path / "taken.pack").read_bytes() == b"mine"
    (src / "train" / "cat" / "link.jpg").symlink_to(tmp_path / "taken.pack")
    with pytest.raises(ValueError, match="symbolic link"):
        pack_images.pack(src, tmp_path / "a.pack")
    (src / "train" / "cat" / "link.jpg").unlink()
    (src / "train" / "cat" / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match="notes.txt"):
        pack_images.pack(src, tmp_path / "a.pack")
    with pytest.raises(ValueError, match="no train"):
        pack_images.pack(tmp_path / "empty", tmp_path / "a.pack")


def _craft(path: Path, files: list[list], body: bytes, digest: str | None = None) -> Path:
    index = zlib.compress(json.dumps({"files": files, "sha256": digest or hashlib.sha256(body).hexdigest()}).encode())
    path.write_bytes(pack_images.MAGIC + struct.pack("<Q", len(index)) + index + body)
    return path


@pytest.mark.parametrize(
    ("files", "body", "digest", "cause"),
    [
        ([["train/cat/../../../evil.jpg", 3]], b"abc", None, "not train|test"),
        ([["/etc/evil.jpg", 3]], b"abc", None, "not train|test"),
        ([["train/cat/a.sh", 3]], b"abc", None, "not train|test"),
        ([["train/cat/a.jpg", 3], ["train/cat/a.jpg", 0]], b"abc", None, "names a file twice"),
        ([["train/cat/a.jpg", 5]], b"abc", None, "truncated"),
        ([["train/cat/a.jpg", -1]], b"", None, "not train|test"),
        ([["train/cat/a.jpg", 3]], b"abc", "0" * 64, "sha256"),
        ([["train/cat/a.jpg"]], b"abc", None, "not the pack's JSON"),
    ],
)
def test_a_bad_pack_is_refused_naming_the_file_and_writes_nothing(tmp_path, files, body, digest, cause):
    bad = _craft(tmp_path / "bad.pack", files, body, digest)
    with pytest.raises(pack_images.BadPack) as e:
        pack_images.unpack(bad, tmp_path / "out")
    assert str(bad) in str(e.value) and cause in str(e.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.pack"]


def test_a_file_that_is_not_a_pack_is_refused(tmp_path):
    bomb = zlib.compress(b" " * (65 << 20))
    for raw, cause in (
        (b"PK\x03\x04 a zip", "magic line"),
        (pack_images.MAGIC + b"\x00" * 8, "index length"),
        (pack_images.MAGIC + struct.pack("<Q", 12) + b"not zlib at all", "not the pack's JSON"),
        (pack_images.MAGIC + struct.pack("<Q", len(bomb)) + bomb, "inflates past 64 MiB"),
    ):
        (tmp_path / "x.pack").write_bytes(raw)
        with pytest.raises(pack_images.BadPack, match=cause):
            pack_images.unpack(tmp_path / "x.pack", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_the_gpu_session_script_unpacks_and_runs_gpu_long_on_the_cpu(tmp_path):
    """``benchmarks/gpu_session.sh``, the one prepared command for a lent GPU, smoked on the CPU: it unpacks
    the carried pack, trains, leaves its figures in $OUT, and on a second call reuses the unpacked folder."""
    src = tmp_path / "c10"
    for split, n in (("train", 13), ("test", 2)):
        for k in range(10):
            (src / split / f"class{k}").mkdir(parents=True)
            for i in range(n):
                Image.new("RGB", (32, 32), (25 * k, 9 * i, 99)).save(src / split / f"class{k}" / f"{i:04d}.png")
    pack_images.pack(src, tmp_path / "c10.pack")
    out = tmp_path / "out"
    out.mkdir()
    env = {**os.environ, "OUT": str(out), "PY": sys.executable, "PACK": str(tmp_path / "c10.pack"),
           "CONVZOO_CIFAR10_JPG": str(tmp_path / "unpacked"), "OMP_NUM_THREADS": "1"}  # fmt: skip
    args = ["--device", "cpu", "--epochs", "1", "--arms", "resnet20", "--no-compile", "--out", str(tmp_path / "r")]
    for call in (1, 2):
        run = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_session.sh"), *args], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=600)  # fmt: skip
        assert run.returncode == 0, run.stdout + run.stderr
        report = json.loads((out / "gpu_long.json").read_text())
        assert [a["arm"] for a in report["arms"]] == ["resnet20"] and report["arms"][0]["train_images"] == 130
        assert "torch" in (out / "machine.txt").read_text() and "resnet20" in run.stdout
        assert (f"{tmp_path / 'unpacked'}: 150 images" in run.stdout) == (call == 1)  # the 2nd keeps the 1st's
        assert _tree(tmp_path / "unpacked") == _tree(src)
        (out / "gpu_long.json").unlink()
