"""One way to open an image (issue 20, cases 2, 5, 6, 8 and 9): every hostile file is built here.

Every image convzoo reads is opened by :func:`convzoo.trust_image.open_image`, which checks the header's
size, aspect ratio and the size of the coming resize before a pixel is decoded. These tests drive each path
(in-memory folders, streamed training and its statistics pass, ``predict``, ``eval --protocol``,
``visualize --image``, a peer's preprocessing) with a 2,000,000×1 PNG of about 2 KB and the other bad files,
and check ``--skip-bad-images``, the one-line worker failure, the two-class rule of the streamed path and the
bounded reader of the devkit's ``meta.mat``.
"""

from __future__ import annotations

import io
import re
import struct
import tracemalloc
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFile

import convzoo
from convzoo.data import load_image_folder, read_image
from convzoo.data.paper_augment import estimate_stats
from convzoo.data.protocols import evaluate_protocol
from convzoo.data.readers import read_mat
from convzoo.data.stream import FolderIndex, index_split, read_devkit_wnids, stream_splits
from convzoo.train.cli import main
from convzoo.trust_image import (
    MAX_ASPECT,
    MAX_IMAGE_PIXELS,
    MAX_IMAGE_SIDE,
    BadImageError,
    DataFileError,
    load_image,
    open_image,
    size_problem,
)

# ------------------------------------------------------------------------------------------------ hostile files


def _chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def png(width: int, height: int, idat: bytes | None = None) -> bytes:
    """An 8-bit grey PNG of width×height, written by hand: all black, or with ``idat`` as its data."""
    if idat is None:  # rows of a filter byte and ``width`` zeros: 2,000,000×1 compresses to about 2 KB
        idat = zlib.compress(b"\0" * ((width + 1) * height), 9) if width * height <= 1 << 24 else b""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def jpeg(width: int = 40, height: int = 30, seed: int = 0) -> bytes:
    a = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


THIN = png(2_000_000, 1)

# name → (bytes, a word of the cause in the message)
HOSTILE: dict[str, tuple[bytes, str]] = {
    "thin.png": (THIN, "aspect ratio of 2,000,000:1"),
    "truncated.jpg": (jpeg()[:300], "truncated"),
    "empty.jpg": (b"", "empty (0 bytes)"),
    "text.jpg": (b"this is a note, not a JPEG\n" * 20, "cannot identify image file"),
    "damaged.png": (png(16, 16, b"\x78\x9c" + bytes(range(7, 200))), "cannot decode image"),
    "huge.png": (png(30_000, 30_000), "DecompressionBomb"),
}


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def folder(root: Path, split: str = "train", classes: tuple[str, ...] = ("a", "b"), n: int = 3) -> Path:
    """``root/<split>/<class>/<i>.jpg``: ``n`` good 40×30 JPEGs per class."""
    for c, name in enumerate(classes):
        for i in range(n):
            write(root / split / name / f"{i}.jpg", jpeg(seed=10 * c + i))
    return root


def hostile_folder(root: Path, split: str = "train") -> Path:
    """Two classes of 3 good images each, and every hostile file in class a."""
    folder(root, split)
    for name, (data, _) in HOSTILE.items():
        write(root / split / "a" / name, data)
    return root


def nothing_decoded(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """The images PIL decodes from now on (``ImageFile.load`` calls)."""
    loads: list[object] = []
    real = ImageFile.ImageFile.load
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: loads.append(self) or real(self))
    return loads


def peak_bytes(fn: Callable[[], Any]) -> tuple[Any, int]:
    """What ``fn()`` returns or raises, and the peak of Python memory allocated meanwhile."""
    tracemalloc.start()
    try:
        try:
            out = fn()
        except Exception as e:
            out = e
        return out, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def one_line_error(err: str, *parts: str) -> None:
    """``err`` holds one error line (``error: ...`` or ``convzoo COMMAND: error: ...``) with all ``parts``."""
    lines = [line for line in err.splitlines() if re.match(r"(convzoo \w+: )?error: ", line)]
    assert len(lines) == 1 and all(p in lines[0] for p in parts), err
    assert "Traceback" not in err and "Original" not in err, err


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LeNet-5 checkpoint for 3×32×32 images of two classes a and b."""
    from convzoo.train.checkpoint import save_checkpoint

    torch.manual_seed(0)
    meta = {
        "model": "lenet5",
        "num_classes": 2,
        "in_chans": 3,
        "image_size": [3, 32, 32],
        "classes": ["a", "b"],
        "mean": [0.5, 0.5, 0.5],
        "std": [0.25, 0.25, 0.25],
        "data": "folder",
    }
    model = convzoo.create_model("lenet5", num_classes=2, in_chans=3)
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "run", model, {}, meta, index=1)


# ------------------------------------------------------------------------------------------------ the opener


def test_the_thin_png_is_small_and_declares_two_million_pixels_in_one_row(tmp_path: Path) -> None:
    assert len(THIN) < 3000
    with Image.open(write(tmp_path / "thin.png", THIN)) as img:
        assert img.size == (2_000_000, 1)


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_every_bad_file_is_one_error_type_naming_the_file_and_the_cause(tmp_path: Path, name: str) -> None:
    data, cause = HOSTILE[name]
    path = write(tmp_path / name, data)
    with pytest.raises(BadImageError) as e:
        load_image(path, "RGB", short_side=32)
    assert str(path) in str(e.value) and cause in str(e.value) and e.value.cause == str(e.value)
    with pytest.raises(BadImageError, match=rf"{name}.*--skip-bad-images"):  # the in-memory reader's advice
        read_image(path, size=32)


@pytest.mark.parametrize(
    ("width", "height", "short_side", "max_pixels", "cause"),
    [
        (2_000_000, 1, None, MAX_IMAGE_PIXELS, "aspect ratio of 2,000,000:1"),
        (200_000, 1, None, MAX_IMAGE_PIXELS, "aspect ratio"),
        (65, 1, None, MAX_IMAGE_PIXELS, "aspect ratio of 65:1"),
        (70_000, 1_100, None, 1 << 30, "a side longer than 65,536"),
        (9_000, 9_000, None, MAX_IMAGE_PIXELS, "81,000,000 pixels"),
        (6_000, 4_000, 8_000, MAX_IMAGE_PIXELS, "resized to a shorter side of 8000 would be 12000×8000"),
    ],
)
def test_the_header_alone_refuses_a_size_before_any_decode(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    width: int,
    height: int,
    short_side: int | None,
    max_pixels: int,
    cause: str,
) -> None:
    loads = nothing_decoded(monkeypatch)
    path = write(tmp_path / "x.png", png(width, height, b""))
    with pytest.raises(BadImageError, match=cause):
        with open_image(path, short_side=short_side, max_pixels=max_pixels):
            pass
    assert not loads


def test_no_image_is_opened_outside_trust_image() -> None:
    root = Path(convzoo.__file__).parent
    calls = ("Image.open(", "imread(", "loadmat(", "ImageFile.LOAD_TRUNCATED_IMAGES")
    found = [
        f"{p.relative_to(root)}: {c}"
        for p in sorted(root.rglob("*.py"))
        if p.name != "trust_image.py"
        for c in calls
        if c in p.read_text(encoding="utf-8")
    ]
    assert not found, found


def test_a_panorama_and_a_large_photo_are_accepted(tmp_path: Path) -> None:
    assert size_problem(12_000, 1_000, short_side=256) is None  # a phone's 12:1 panorama
    assert size_problem(9_000, 6_000, short_side=512) is None  # 54 megapixels
    assert size_problem(64, 1) is None and size_problem(65, 1) is not None
    img = load_image(write(tmp_path / "pano.png", png(640, 10)), "RGB", short_side=32)
    assert img.size == (640, 10) and img.mode == "RGB"


def test_formats_outside_photos_are_never_tried(tmp_path: Path) -> None:
    eps = write(tmp_path / "x.jpg", b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n")
    with pytest.raises(BadImageError, match="cannot identify image file"):
        load_image(eps)  # PIL would hand an EPS file to Ghostscript


def test_a_folder_or_missing_path_is_a_bad_image(tmp_path: Path) -> None:
    (tmp_path / "d.jpg").mkdir()
    with pytest.raises(BadImageError, match=r"d\.jpg is not a regular file"):
        load_image(tmp_path / "d.jpg")
    with pytest.raises(BadImageError, match=r"cannot read image .*gone\.jpg"):
        load_image(tmp_path / "gone.jpg")


@settings(max_examples=300, deadline=None, database=None)
@given(
    width=st.integers(-2, 1 << 20),
    height=st.integers(-2, 1 << 20),
    short_side=st.none() | st.integers(1, 4096),
    max_pixels=st.sampled_from([4096, 1 << 20, MAX_IMAGE_PIXELS]),
)
def test_fuzz_the_header_caps(width: int, height: int, short_side: int | None, max_pixels: int) -> None:
    problem = size_problem(width, height, short_side=short_side, max_pixels=max_pixels)
    fits = 0 < width <= MAX_IMAGE_SIDE and 0 < height <= MAX_IMAGE_SIDE and width * height <= max_pixels
    fits = fits and max(width, height) <= MAX_ASPECT * min(width, height)
    if fits and short_side is not None:
        long = max(width, height) * short_side / min(width, height)
        fits = short_side * long <= max_pixels * (1 + 1e-6) + 2 * short_side  # rounding of the long side
        if problem is None:
            assert fits
        return
    assert (problem is None) == fits, (width, height, problem)


@settings(
    max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    width=st.integers(1, 300),
    height=st.integers(1, 300),
    mode=st.sampled_from(["L", "RGB", "RGBA", "P", "I;16", "1"]),
    fmt=st.sampled_from(["PNG", "BMP", "GIF", "TIFF", "WEBP", "JPEG"]),
    short_side=st.none() | st.integers(1, 64),
)
def test_fuzz_real_images_open_exactly_when_the_header_passes(
    tmp_path: Path, width: int, height: int, mode: str, fmt: str, short_side: int | None
) -> None:
    img = Image.new(mode, (width, height))
    buf = io.BytesIO()
    try:
        img.save(buf, format=fmt)
    except (OSError, ValueError, KeyError):
        return  # a mode this format cannot store
    path = write(tmp_path / f"x.{fmt.lower()}", buf.getvalue())
    problem = size_problem(width, height, short_side=short_side, max_pixels=4096)
    try:
        arr = read_image(path, "RGB", short_side, max_pixels=4096)
    except BadImageError as e:
        assert problem is not None and str(path) in str(e), (problem, e)
        return
    assert problem is None and arr.dtype == np.uint8 and arr.shape[2] == 3
    assert arr.shape[:2] == ((short_side, short_side) if short_side else (height, width))


# ------------------------------------------------------------------------------------------------ every path


def test_in_memory_folders_refuse_or_skip_every_bad_file(tmp_path: Path) -> None:
    root = hostile_folder(tmp_path / "ds")
    with pytest.raises(BadImageError, match=r"\.(png|jpg).*--skip-bad-images"):
        load_image_folder(root, image_size=32, cache_dir=tmp_path / "c")
    with pytest.warns(UserWarning, match=f"skipped {len(HOSTILE)} unreadable"):
        s = load_image_folder(root, image_size=32, on_bad="skip", cache_dir=tmp_path / "c")
    assert len(s) == 6 and sorted(Path(p).name for p in s.skipped) == sorted(HOSTILE)


def test_a_peers_preprocessing_refuses_the_thin_image(tmp_path: Path) -> None:
    from convzoo.hub.sources import Preprocess

    pre = Preprocess(resize=256, crop=224, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))  # resnet18's
    thin = write(tmp_path / "thin.png", THIN)
    load_image(write(tmp_path / "good.jpg", jpeg()))  # PIL's plugins imported before measuring
    out, peak = peak_bytes(lambda: pre.load(thin))
    assert isinstance(out, BadImageError) and str(thin) in str(out) and "aspect ratio" in str(out)
    assert peak < 32 << 20


def test_predict_skips_the_thin_image_with_one_line_or_names_it(
    tmp_path: Path, checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    thin, good = write(tmp_path / "thin.png", THIN), write(tmp_path / "good.jpg", jpeg())
    assert main(["predict", str(checkpoint), str(thin), str(good)]) != 0
    one_line_error(capsys.readouterr().err, str(thin), "aspect ratio", "--skip-bad-images")
    assert main(["predict", str(checkpoint), str(thin), str(good), "--skip-bad-images"]) == 0
    out, err = capsys.readouterr()
    notes = [line for line in err.splitlines() if line.strip()]
    assert len(notes) == 1 and str(thin) in notes[0] and "aspect ratio" in notes[0], err
    assert "--skip-bad-images" not in err  # the note does not ask for the flag already given
    assert out.splitlines()[0] == str(good)


def test_visualize_refuses_the_thin_image(
    tmp_path: Path, checkpoint: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from convzoo.cli import main as convzoo_main

    monkeypatch.setenv("CONVZOO_CACHE", str(tmp_path / "cache"))
    root = folder(tmp_path / "ds", "test")
    folder(root, "train")
    thin = write(tmp_path / "thin.png", THIN)
    argv = ["visualize", str(checkpoint), "activations", "--data", str(root), "--image", str(thin)]
    rc = convzoo_main([*argv, "-o", str(tmp_path / "maps.png")])
    err = capsys.readouterr().err
    assert rc != 0 and str(thin) in err and "aspect ratio" in err and "Traceback" not in err
    assert not (tmp_path / "maps.png").exists()


def test_the_statistics_pass_skips_every_bad_file_when_asked(tmp_path: Path) -> None:
    root = hostile_folder(tmp_path / "ds")
    index = index_split(root, "train")
    with pytest.raises(BadImageError, match="--skip-bad-images"):
        estimate_stats(index)
    with pytest.warns(UserWarning, match="skipped unreadable image") as caught:
        mean, std, _ = estimate_stats(index, on_bad="skip")
    assert len(mean) == 3 and all(s > 0 for s in std)
    messages = [str(w.message) for w in caught]
    assert len(messages) == len(HOSTILE) and not any("--skip-bad-images" in m for m in messages)
    bad = [i for i, p in enumerate(index.files) if p.name in HOSTILE]
    only_bad = FolderIndex(index.root, tuple(index.files[i] for i in bad), (0,) * len(bad), index.classes)
    with pytest.warns(UserWarning), pytest.raises(DataFileError, match=f"none of the {len(HOSTILE)} images picked"):
        estimate_stats(only_bad, on_bad="skip")


def test_streamed_training_batches_skip_every_bad_file(tmp_path: Path) -> None:
    root = hostile_folder(tmp_path / "ds")
    with pytest.raises(BadImageError, match="--skip-bad-images"):
        stream_splits(root, crop=16)
    with pytest.warns(UserWarning):
        splits = stream_splits(root, crop=16, on_bad="skip")
    seen = []
    with pytest.warns(UserWarning, match="skipped unreadable image") as caught:
        for x, y, idx in splits.train_loader(4, epoch=0):
            assert x.shape[1:] == (3, 16, 16) and len(y) == len(idx)
            seen += [splits.train.files[i].name for i in idx.tolist()]
    assert len(seen) == 6 and not set(seen) & set(HOSTILE)
    assert sum("skipped unreadable image" in str(w.message) for w in caught) == len(HOSTILE)


@pytest.mark.slow
def test_train_stream_skip_bad_images_trains_past_every_bad_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONVZOO_CACHE", str(tmp_path / "cache"))
    root = hostile_folder(tmp_path / "ds")
    argv = ["train", "lenet5", "--data", str(root), "--stream", "--image-size", "32", "--epochs", "1"]
    argv += ["--batch-size", "4", "--workers", "0", "--out", str(tmp_path / "runs"), "--no-progress"]
    assert main([*argv, "--name", "strict"]) != 0
    one_line_error(capsys.readouterr().err, "--skip-bad-images")
    with pytest.warns(UserWarning):
        assert main([*argv, "--name", "lenient", "--skip-bad-images"]) == 0
    assert "--skip-bad-images" not in capsys.readouterr().err


def test_a_streamed_batch_with_every_image_bad_skips_its_step_not_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batches of one: each unreadable file is a batch with no image left. `--skip-bad-images` stopped the run
    there ("every image of batch N was skipped"), and a resume met the same batch again: the run could never end."""
    monkeypatch.setenv("CONVZOO_CACHE", str(tmp_path / "cache"))
    root = hostile_folder(tmp_path / "ds")
    argv = ["train", "lenet5", "--data", str(root), "--stream", "--image-size", "32", "--epochs", "2"]
    argv += ["--batch-size", "1", "--workers", "0", "--out", str(tmp_path / "runs"), "--no-progress"]
    with pytest.warns(UserWarning) as caught:
        assert main([*argv, "--name", "ones", "--skip-bad-images"]) == 0
    skipped = [str(w.message) for w in caught if "optimizer step is skipped" in str(w.message)]
    assert len(skipped) == 2 * len(HOSTILE), skipped  # each bad file, each epoch: one step skipped, no more
    rows = (tmp_path / "runs" / "ones" / "metrics.csv").read_text().splitlines()
    assert len(rows) == 3 and all("nan" not in r for r in rows)  # header and both epochs, finite losses


def _streamed_steps(rank: int, world: int, root: str, out: str) -> None:
    """Which steps of a streamed epoch each of ``world`` gloo processes trains (None: skipped)."""
    import json
    import warnings

    import torch.distributed as dist

    from convzoo.train.distributed import DistInfo
    from convzoo.train.sources import Streamed

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{out}/pg", rank=rank, world_size=world)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        splits = stream_splits(root, crop=16, on_bad="skip")
        info = DistInfo(rank=rank, world_size=world, local_rank=rank)
        steps = [
            None if b is None else len(b[1])
            for b in Streamed(splits, seed=0).batches(0, 0, spe=8, batch=2, info=info, device=torch.device("cpu"))
        ]
    Path(out, f"rank{rank}.json").write_text(json.dumps(steps))
    dist.destroy_process_group()


def test_a_process_whose_slice_is_all_bad_makes_every_process_skip_that_step(tmp_path: Path) -> None:
    """Under DDP one process with no image would leave the others waiting in the gradient average: a step is
    skipped by all processes or none."""
    import json

    root = hostile_folder(tmp_path / "ds")
    (tmp_path / "out").mkdir()
    torch.multiprocessing.spawn(_streamed_steps, args=(2, str(root), str(tmp_path / "out")), nprocs=2)
    steps = [json.loads((tmp_path / "out" / f"rank{r}.json").read_text()) for r in range(2)]
    skipped = [[s is None for s in ranks] for ranks in steps]
    assert skipped[0] == skipped[1] and any(skipped[0]) and not all(skipped[0])
    trained = [n for ranks in steps for n in ranks if n is not None]
    assert trained and all(n == 1 for n in trained)  # batches of 2: one image per process, or the step skipped


def test_eval_protocol_refuses_or_skips_every_bad_file(
    tmp_path: Path, checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = hostile_folder(tmp_path / "ds", "val")
    argv = ["eval", str(checkpoint), "--data", str(root), "--protocol", "center", "--json"]
    assert main(argv) != 0
    one_line_error(capsys.readouterr().err, str(root / "val" / "a"), "--skip-bad-images")
    with pytest.warns(UserWarning, match="skipped unreadable image"):
        assert main([*argv, "--skip-bad-images"]) == 0
    out, err = capsys.readouterr()
    assert '"images": 6.0' in out and "--skip-bad-images" not in err


def test_eval_protocol_with_the_thin_image_stays_small(tmp_path: Path, checkpoint: Path) -> None:
    from convzoo.train.inference import load_trained

    root = folder(tmp_path / "ds", "val")
    write(root / "val" / "a" / "thin.png", png(200_000, 1))  # 274 bytes took eval to 3.5 GB before
    net, meta = load_trained(checkpoint)
    index = index_split(root, "val", classes=meta.classes)
    out, peak = peak_bytes(lambda: evaluate_protocol(net, index, "center", meta.mean, meta.std, crop=32))
    assert isinstance(out, BadImageError) and "thin.png" in str(out) and "aspect ratio" in str(out)
    assert peak < 64 << 20


def test_a_worker_failure_is_one_line_naming_the_file(
    tmp_path: Path, checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = folder(tmp_path / "ds", "val")
    bad = write(root / "val" / "b" / "text.jpg", HOSTILE["text.jpg"][0])
    argv = ["eval", str(checkpoint), "--data", str(root), "--protocol", "center", "--workers", "1"]
    assert main(argv) != 0
    err = capsys.readouterr().err
    one_line_error(err, str(bad), "cannot identify image file", "--skip-bad-images")
    assert len([line for line in err.splitlines() if line.strip()]) <= 2, err  # the protocol line and the error


def test_a_one_class_folder_is_refused_by_streamed_train_and_eval(
    tmp_path: Path, checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = folder(tmp_path / "ds", classes=("a",))
    folder(root, "val", classes=("a",))
    with pytest.raises(DataFileError, match=r"images of 1 class\(es\) \['a'\]; a classifier needs at least 2"):
        stream_splits(root, crop=16)
    with pytest.raises(DataFileError, match="at least 2"):
        evaluate_protocol(torch.nn.Identity(), index_split(root, "val"), "center", (0.5,) * 3, (0.2,) * 3)
    with pytest.warns(UserWarning, match=r"no folder for classes \['b'\]"):
        assert main(["eval", str(checkpoint), "--data", str(root), "--protocol", "center"]) != 0
    one_line_error(capsys.readouterr().err, "at least 2")


# ------------------------------------------------------------------------------------------------ meta.mat


MAT_HEADER = b"MATLAB 5.0 MAT-file, written by a test".ljust(116) + bytes(8) + b"\x00\x01IM"


def _mat_element(kind: int, data: bytes) -> bytes:
    return struct.pack("<II", kind, len(data)) + data


def deflate_bomb(inflated: int, chunk: int = 1 << 20) -> bytes:
    """A MAT file of one compressed variable: a 1×n double array whose zlib stream inflates to ``inflated``
    bytes (its header, then zeros), each size field telling the truth."""
    n = inflated // chunk * chunk // 8
    name = b"synsets\0"
    body = (
        _mat_element(6, struct.pack("<II", 6, 0))  # array flags: class double
        + _mat_element(5, struct.pack("<ii", 1, n))  # dimensions 1×n
        + _mat_element(1, name)
        + struct.pack("<II", 9, 8 * n)  # miDOUBLE, then the n zeros
    )
    z = zlib.compressobj(1)
    parts = [z.compress(struct.pack("<II", 14, len(body) + 8 * n) + body)]
    zeros = bytes(chunk)
    for _ in range(8 * n // chunk):
        parts.append(z.compress(zeros))
    parts.append(z.flush())
    return MAT_HEADER + _mat_element(15, b"".join(parts))


def _savemat(arrays: dict[str, Any], compress: bool) -> bytes:
    scipy_io = pytest.importorskip("scipy.io", reason="MAT files are written with SciPy")
    buf = io.BytesIO()
    scipy_io.savemat(buf, arrays, do_compression=compress)
    return buf.getvalue()


def _synsets(n: int = 3) -> np.ndarray:
    rows = [(i + 1, f"n{i:08d}", f"word {i}", 0) for i in range(n)]
    return np.array(rows, dtype=[("ILSVRC2012_ID", "O"), ("WNID", "O"), ("words", "O"), ("num_children", "O")])


def test_a_deflate_bomb_meta_mat_is_refused_with_bounded_memory(tmp_path: Path) -> None:
    data = deflate_bomb(128 << 20)  # 600 KB that inflate to 128 MB; the 3 MB inflated to 3 GB
    assert len(data) < 1 << 20
    meta = write(tmp_path / "meta.mat", data)
    out, peak = peak_bytes(lambda: read_devkit_wnids(meta))
    assert isinstance(out, DataFileError) and str(meta) in str(out) and "would pass 16,777,216 bytes" in str(out)
    assert peak < 48 << 20  # the 16 MB cap (twice, as the output grows), not the 128 MB (223 MB before)


def test_an_array_declaring_more_elements_than_its_bytes_is_refused_before_allocating(tmp_path: Path) -> None:
    data = bytearray(_savemat({"synsets": _synsets(1)}, compress=False))
    at = data.find(struct.pack("<III", 5, 8, 1))  # the struct array's dimensions: miINT32, 8 bytes, 1×1
    data[at + 8 : at + 16] = struct.pack("<ii", 40_000, 40_000)  # SciPy would allocate 48 GB for it
    meta = write(tmp_path / "meta.mat", bytes(data))
    out, peak = peak_bytes(lambda: read_devkit_wnids(meta))
    assert isinstance(out, DataFileError) and "[40000, 40000]" in str(out) and peak < 1 << 20


@pytest.mark.parametrize("compress", [False, True])
def test_the_mat_reader_reads_what_scipy_writes(compress: bool) -> None:
    data = _savemat({"synsets": _synsets(), "x": np.arange(6.0).reshape(2, 3), "s": "text"}, compress)
    got = read_mat(data, "meta.mat", 1 << 24)
    assert got["synsets"][2] == {"ILSVRC2012_ID": 3, "WNID": "n00000002", "words": "word 2", "num_children": 0}
    assert got["x"] == [0.0, 3.0, 1.0, 4.0, 2.0, 5.0] and got["s"] == "text"  # column-major, as MATLAB


@settings(max_examples=250, deadline=None, database=None)
@given(
    compress=st.booleans(),
    edits=st.lists(st.tuples(st.integers(0, 2000), st.integers(0, 255)), max_size=8),
    cut=st.integers(0, 600),
)
def test_fuzz_meta_mat_bytes_read_or_fail_naming_the_file(compress: bool, edits: list, cut: int) -> None:
    data = bytearray(_savemat({"synsets": _synsets()}, compress))
    for pos, value in edits:
        data[pos % len(data)] = value
    data = data[: max(1, len(data) - cut)]
    out, peak = peak_bytes(lambda: read_mat(bytes(data), "meta.mat", 1 << 24))
    assert isinstance(out, (dict, DataFileError)), repr(out)
    assert isinstance(out, dict) or str(out).startswith("meta.mat: ")
    assert peak < 40 << 20


def test_a_compressed_devkit_meta_mat_is_read(tmp_path: Path) -> None:
    data = _savemat({"synsets": _synsets(2)}, compress=True)
    meta = write(tmp_path / "meta.mat", data)
    assert read_devkit_wnids(meta) == {1: ("n00000000", "word 0"), 2: ("n00000001", "word 1")}
