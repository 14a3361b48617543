"""Datasets (digits, MNIST idx, CIFAR binary/Python releases, image folders) and batch augmentation."""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import io
import os
import pickle
import struct
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from convzoo.data import (
    AugmentSpec,
    BadImageError,
    BatchAugment,
    channel_stats,
    download_and_verify,
    lighting_pca,
    load_cifar,
    load_data,
    load_digits,
    load_image_folder,
    load_mnist,
    restricted_unpickle,
)
from convzoo.data.datasets import _cifar10_jpg_default

CIFAR10_JPG = _cifar10_jpg_default()


# ---------------------------------------------------------------------------------------------- digits, stats


def test_digits_split_and_range():
    train, test = load_digits()
    assert train.images.shape == (1438, 1, 8, 8) and test.images.shape == (359, 1, 8, 8)
    assert train.images.dtype == torch.uint8 and int(train.images.max()) == 255
    assert sorted(set(train.labels.tolist())) == list(range(10))
    again, _ = load_digits()
    assert torch.equal(again.images, train.images)  # the split is fixed


def test_load_data_val_split_and_per_class():
    d = load_data("digits", val_size=200, per_class=50, image_size=16)
    assert len(d.train) + len(d.val) == 500 and len(d.val) == 200
    assert d.image_size == (1, 16, 16)
    _, test = load_digits()
    assert len(d.test) == sum(min(50, int(n)) for n in torch.bincount(test.labels))
    mean, std = channel_stats(d.train.images)
    assert d.mean == mean and 0 < mean[0] < 1 and 0 < std[0] < 1


def test_channel_stats_exact():
    x = torch.tensor([0, 255], dtype=torch.uint8).view(2, 1, 1, 1).repeat(1, 3, 1, 1)
    mean, std = channel_stats(x)
    assert mean == pytest.approx((0.5,) * 3) and std == pytest.approx((0.5,) * 3)


def test_wrong_data_path_is_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such folder .*digits, mnist"):
        load_data(str(tmp_path / "nope"))


# ------------------------------------------------------------------------------------------------ MNIST idx


def _idx(arr: np.ndarray) -> bytes:
    return bytes([0, 0, 8, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()


def test_mnist_idx_plain_and_gz(tmp_path):
    rng = np.random.default_rng(0)
    for prefix, n, gz in (("train", 6, True), ("t10k", 4, False)):
        imgs = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = np.arange(n, dtype=np.uint8)
        for kind, arr in (("images-idx3", imgs), ("labels-idx1", labels)):
            name = tmp_path / f"{prefix}-{kind}-ubyte"
            if gz:
                Path(str(name) + ".gz").write_bytes(gzip.compress(_idx(arr)))
            else:
                name.write_bytes(_idx(arr))
        if prefix == "train":
            first = imgs
    train, test = load_mnist(tmp_path)
    assert train.images.shape == (6, 1, 28, 28) and test.images.shape == (4, 1, 28, 28)
    assert torch.equal(train.images[:, 0], torch.from_numpy(first)) and test.labels.tolist() == [0, 1, 2, 3]
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(_idx(np.arange(4, dtype=np.uint8))[:-1])
    with pytest.raises(ValueError, match="truncated"):
        load_mnist(tmp_path)


# ------------------------------------------------------------------------------------------------ CIFAR


def _fake_cifar_binary(root: Path, which: str, n: int = 4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    labels = np.arange(n, dtype=np.uint8) % 10
    if which == "cifar10":
        d = root / "cifar-10-batches-bin"
        d.mkdir(parents=True)
        rec = np.concatenate([labels[:, None], images], 1)
        for i in range(1, 6):
            (d / f"data_batch_{i}.bin").write_bytes(rec.tobytes())
        (d / "test_batch.bin").write_bytes(rec[:2].tobytes())
        (d / "batches.meta.txt").write_text("\n".join(f"c{i}" for i in range(10)) + "\n")
    else:
        d = root / "cifar-100-binary"
        d.mkdir(parents=True)
        rec = np.concatenate([(labels // 5)[:, None], labels[:, None] + 90, images], 1)
        (d / "train.bin").write_bytes(rec.tobytes())
        (d / "test.bin").write_bytes(rec[:2].tobytes())
        (d / "fine_label_names.txt").write_text("\n".join(f"f{i}" for i in range(100)))
    return images, labels


@pytest.mark.parametrize("which", ["cifar10", "cifar100"])
def test_cifar_binary_release(tmp_path, which):
    images, labels = _fake_cifar_binary(tmp_path, which)
    train, test = load_cifar(which, tmp_path)
    assert train.images.shape == ((20 if which == "cifar10" else 4), 3, 32, 32)
    assert torch.equal(train.images[:4].reshape(4, -1), torch.from_numpy(images))
    expected = labels if which == "cifar10" else labels + 90
    assert train.labels[:4].tolist() == expected.tolist() and len(test) == 2
    assert len(train.classes) == (10 if which == "cifar10" else 100)


def test_cifar_python_release_and_restricted_unpickler(tmp_path):
    d = tmp_path / "cifar-10-batches-py"
    d.mkdir()
    rng = np.random.default_rng(2)
    data = rng.integers(0, 256, (3, 3072), dtype=np.uint8)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (d / name).write_bytes(pickle.dumps({b"data": data, b"labels": [1, 2, 3]}, protocol=2))
    (d / "batches.meta").write_bytes(pickle.dumps({b"label_names": [f"c{i}".encode() for i in range(10)]}))
    train, test = load_cifar("cifar10", tmp_path, release="python")
    assert len(train) == 15 and len(test) == 3 and train.labels[:3].tolist() == [1, 2, 3]
    assert torch.equal(train.images[0].flatten(), torch.from_numpy(data[0]))

    class Evil:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "pwned"),))

    (d / "data_batch_1").write_bytes(pickle.dumps({b"data": Evil()}))
    with pytest.raises(pickle.UnpicklingError, match="refusing to unpickle global .*system"):
        load_cifar("cifar10", tmp_path, release="python")
    assert not (tmp_path / "pwned").exists()
    with pytest.raises(pickle.UnpicklingError):
        restricted_unpickle(pickle.dumps(Evil()))


def test_cifar_missing_says_how_to_get_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="--download"):
        load_cifar("cifar10", tmp_path)


@pytest.fixture
def http_root(tmp_path):
    """A local HTTP server on loopback serving tmp_path/www."""
    www = tmp_path / "www"
    www.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(www))
    handler.log_message = lambda *a, **k: None  # type: ignore[method-assign]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield www, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_cifar_download_verifies_checksum(tmp_path, http_root):
    www, base = http_root
    src = tmp_path / "src"
    _fake_cifar_binary(src, "cifar10")
    with tarfile.open(www / "cifar-10-binary.tar.gz", "w:gz") as tar:
        tar.add(src / "cifar-10-batches-bin", arcname="cifar-10-batches-bin")
    md5 = hashlib.md5((www / "cifar-10-binary.tar.gz").read_bytes()).hexdigest()
    dest = tmp_path / "data"
    with pytest.raises(ValueError, match="checksum mismatch .*nothing was saved"):
        load_cifar("cifar10", dest, download=True, url=f"{base}/cifar-10-binary.tar.gz", md5="0" * 32)
    assert not list(dest.glob("*.tar.gz")) and not list(dest.glob("*.part"))
    train, _ = load_cifar("cifar10", dest, download=True, url=f"{base}/cifar-10-binary.tar.gz", md5=md5)
    assert len(train) == 20
    with pytest.raises(OSError, match="could not download"):
        download_and_verify(f"{base}/missing.tar.gz", tmp_path / "x.tar.gz", md5)


def test_safe_extract_refuses_path_traversal(tmp_path):
    evil = tmp_path / "evil.tar"
    with tarfile.open(evil, "w") as tar:
        info = tarfile.TarInfo("../escaped.txt")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    from convzoo.data import safe_extract

    with pytest.raises(tarfile.TarError):
        safe_extract(evil, tmp_path / "out")
    assert not (tmp_path / "escaped.txt").exists()


# ---------------------------------------------------------------------------------------------- image folders


def _folder(root: Path, per_class: int = 3, size: int = 8) -> Path:
    rng = np.random.default_rng(3)
    for split in ("train", "test"):
        for c in ("cat", "dog"):
            (root / split / c).mkdir(parents=True)
            for i in range(per_class):
                arr = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
                Image.fromarray(arr).save(root / split / c / f"{i}.png")
    return root


def test_image_folder_loads_and_caches(tmp_path):
    root = _folder(tmp_path / "ds")
    cache = tmp_path / "cache"
    s = load_image_folder(root, "train", cache_dir=cache)
    assert (
        s.images.shape == (6, 3, 8, 8)
        and s.classes == ["cat", "dog"]
        and s.labels.tolist() == [0] * 3 + [1] * 3
    )
    expected = np.array(Image.open(root / "train" / "dog" / "0.png"))
    assert torch.equal(s.images[3].permute(1, 2, 0), torch.from_numpy(expected))
    assert len(list(cache.glob("*.pt"))) == 1
    again = load_image_folder(root, "train", cache_dir=cache)
    assert torch.equal(again.images, s.images)
    # a changed file invalidates the cache
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(root / "train" / "cat" / "0.png")
    changed = load_image_folder(root, "train", cache_dir=cache)
    assert int(changed.images[0].sum()) == 0


def test_grayscale_rgba_palette_converted_consistently(tmp_path):
    root = _folder(tmp_path / "ds")
    d = root / "train" / "cat"
    Image.fromarray(np.full((8, 8), 100, np.uint8), mode="L").save(d / "gray.png")
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., :3], rgba[..., 3] = (10, 20, 30), 0
    Image.fromarray(rgba, mode="RGBA").save(d / "rgba.png")
    Image.fromarray(np.full((8, 8, 3), (10, 20, 30), np.uint8)).convert("P", palette=Image.ADAPTIVE).save(
        d / "pal.png"
    )
    s = load_image_folder(root, "train", cache_dir=tmp_path / "c")
    files = sorted(p.name for p in d.iterdir())
    px = {f: s.images[i, :, 0, 0].tolist() for i, f in enumerate(files)}
    assert px["gray.png"] == [100, 100, 100]
    assert px["rgba.png"] == [10, 20, 30]  # alpha dropped, colour kept
    assert px["pal.png"] == [10, 20, 30]
    gray = load_image_folder(root, "train", mode="L", cache_dir=tmp_path / "c")
    assert gray.images.shape[1] == 1


def test_corrupt_and_truncated_images(tmp_path):
    root = _folder(tmp_path / "ds")
    bad = root / "train" / "dog" / "broken.jpg"
    bad.write_bytes(b"not an image at all")
    buf = io.BytesIO()
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(buf, format="JPEG")
    (root / "train" / "cat" / "trunc.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(BadImageError, match="broken.jpg|trunc.jpg"):
        load_image_folder(root, "train", cache_dir=tmp_path / "c")
    with pytest.warns(UserWarning, match="skipped 2 unreadable"):
        s = load_image_folder(root, "train", on_bad="skip", cache_dir=tmp_path / "c")
    assert len(s) == 6 and sorted(Path(p).name for p in s.skipped) == ["broken.jpg", "trunc.jpg"]


def test_empty_class_folder_and_mixed_sizes(tmp_path):
    root = _folder(tmp_path / "ds")
    (root / "train" / "empty").mkdir()
    with pytest.raises(ValueError, match="class folder .*empty has no images"):
        load_image_folder(root, "train", cache_dir=tmp_path / "c")
    (root / "train" / "empty").rmdir()
    Image.fromarray(np.zeros((12, 10, 3), np.uint8)).save(root / "train" / "dog" / "big.png")
    with pytest.raises(ValueError, match="--image-size"):
        load_image_folder(root, "train", cache_dir=tmp_path / "c")
    s = load_image_folder(root, "train", image_size=6, cache_dir=tmp_path / "c")
    assert s.images.shape == (7, 3, 6, 6)


def test_test_split_uses_train_classes(tmp_path):
    root = _folder(tmp_path / "ds")
    (root / "test" / "cat").rename(root / "test" / "zebra")
    with pytest.raises(ValueError, match="classes the training split lacks: \\['zebra'\\]"):
        load_data(str(root), cache_dir=tmp_path / "c")


@pytest.mark.skipif(
    not CIFAR10_JPG.is_dir(), reason=f"shared CIFAR-10 JPEG folder not found at {CIFAR10_JPG}"
)
def test_cifar10_jpg_subset(tmp_path):
    d = load_data("cifar10-jpg", per_class=20, cache_dir=tmp_path)
    assert d.train.images.shape == (200, 3, 32, 32) and d.test.images.shape == (200, 3, 32, 32)
    assert (
        d.classes[:3] == ["airplane", "automobile", "bird"]
        and torch.bincount(d.train.labels).tolist() == [20] * 10
    )


# ----------------------------------------------------------------------------------------------- augmentation


def test_augment_spec_parse_roundtrip():
    s = AugmentSpec.parse("crop:4,flip,lighting:0.1,scale:0.35-1")
    assert s == AugmentSpec(crop_pad=4, flip=True, lighting=0.1, scale=(0.35, 1.0))
    assert AugmentSpec.parse(str(s)) == s and str(AugmentSpec.parse("none")) == "none"
    with pytest.raises(ValueError, match="unknown augmentation 'blur'"):
        AugmentSpec.parse("blur")


def _ramp(n: int = 6, h: int = 8) -> torch.Tensor:
    x = torch.arange(n * 3 * h * h, dtype=torch.int64).remainder(251).to(torch.uint8)
    return x.view(n, 3, h, h)


def test_crop_is_a_shifted_window_of_the_padded_image():
    x = _ramp()
    aug = BatchAugment(AugmentSpec(crop_pad=2), (0.0,) * 3, (1 / 255,) * 3)  # normalize = identity on 0..255
    out = aug(x, torch.Generator().manual_seed(0))
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2)).float()
    for i in range(len(x)):
        windows = [padded[i, :, a : a + 8, b : b + 8] for a in range(5) for b in range(5)]
        assert any(torch.equal(out[i], w) for w in windows)


def test_flip_and_identity():
    x = _ramp()
    ident = BatchAugment(AugmentSpec(), (0.0,) * 3, (1 / 255,) * 3)
    assert torch.equal(ident(x), x.float())
    flip = BatchAugment(AugmentSpec(flip=True), (0.0,) * 3, (1 / 255,) * 3)
    out = flip(x, torch.Generator().manual_seed(1))
    flipped = [torch.equal(out[i], x[i].flip(2).float()) for i in range(len(x))]
    kept = [torch.equal(out[i], x[i].float()) for i in range(len(x))]
    assert all(f or k for f, k in zip(flipped, kept, strict=True)) and any(flipped) and any(kept)


def test_reflect_crop_is_a_window_of_the_reflection_padded_image():
    x = _ramp()
    aug = BatchAugment(AugmentSpec.parse("crop:2:reflect"), (0.0,) * 3, (1 / 255,) * 3)
    out = aug(x, torch.Generator().manual_seed(0))
    padded = torch.nn.functional.pad(x.float(), (2, 2, 2, 2), mode="reflect")
    windows = [
        [padded[i, :, a : a + 8, b : b + 8] for a in range(5) for b in range(5)] for i in range(len(x))
    ]
    hits = [[k for k, w in enumerate(ws) if torch.equal(out[i], w)] for i, ws in enumerate(windows)]
    assert all(hits) and len({h[0] for h in hits}) > 1  # every image a window, not all the same one
    with pytest.raises(ValueError, match="reflection padding of 8 needs images larger than 8×8"):
        BatchAugment(AugmentSpec(crop_pad=8, crop_mode="reflect"), (0.0,) * 3, (1.0,) * 3)(x)
    with pytest.raises(ValueError, match="unknown crop padding 'wrap'.*zeros, reflect"):
        AugmentSpec.parse("crop:2:wrap")


def test_alternating_flips_see_each_image_both_ways_every_two_epochs():
    n = 64
    x = _ramp(n)
    spec = AugmentSpec.parse("crop:2:reflect,flip:alt")
    assert (
        spec.flip_alternate
        and str(spec) == "crop:2:reflect,flip:alt"
        and AugmentSpec.parse(str(spec)) == spec
    )
    aug = BatchAugment(AugmentSpec.parse("flip:alt"), (0.0,) * 3, (1 / 255,) * 3, num_images=n, seed=3)
    index = torch.arange(n)

    def flipped(epoch: int, rows: torch.Tensor) -> torch.Tensor:
        out = aug(x[rows], torch.Generator().manual_seed(epoch), index=rows, epoch=epoch)
        return torch.tensor([not torch.equal(o, x[r].float()) for o, r in zip(out, rows, strict=True)])

    e0, e1, e2 = flipped(0, index), flipped(1, index), flipped(2, index)
    assert 16 < e0.sum() < 48  # a random half in the first epoch
    assert torch.equal(e1, ~e0) and torch.equal(e2, e0)  # then every other epoch
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(1))  # any order and batching
    assert torch.equal(flipped(1, perm[:20]), ~e0[perm[:20]])
    same_seed = BatchAugment(AugmentSpec.parse("flip:alt"), (0.0,) * 3, (1 / 255,) * 3, num_images=n, seed=3)
    assert torch.equal(same_seed.first_flip, aug.first_flip)
    with pytest.raises(ValueError, match="need num_images"):
        BatchAugment(spec, (0.0,) * 3, (1.0,) * 3)
    with pytest.raises(ValueError, match="need the images' dataset index"):
        aug(x)
    with pytest.raises(ValueError, match="unknown flip mode 'sometimes'"):
        AugmentSpec.parse("flip:sometimes")


def test_window_returns_a_random_part_of_each_augmented_image():
    x = _ramp(6, 8)
    aug = BatchAugment(AugmentSpec(flip=True), (0.0,) * 3, (1 / 255,) * 3)
    full = aug(x, torch.Generator().manual_seed(2))
    part = aug(x, torch.Generator().manual_seed(2), window=5)  # the same flips, then a 5×5 window
    assert part.shape == (6, 3, 5, 5)
    spots = [
        [(a, b) for a in range(4) for b in range(4) if torch.equal(part[i], full[i, :, a : a + 5, b : b + 5])]
        for i in range(6)
    ]
    assert all(spots) and len({s[0] for s in spots}) > 1
    halves = [
        aug(x[i : i + 3], torch.Generator().manual_seed(2), offset=i, total=6, window=5) for i in (0, 3)
    ]
    assert torch.equal(torch.cat(halves), part)
    with pytest.raises(ValueError, match="window 9 must be between 1 and the image size 8"):
        aug(x, window=9)


def test_slices_of_a_global_batch_match_the_whole():
    x = _ramp(8)
    spec = AugmentSpec(crop_pad=4, flip=True, lighting=0.1, scale=(0.5, 1.0))
    aug = BatchAugment(spec, (0.5,) * 3, (0.25,) * 3, pca=lighting_pca(x))
    whole = aug(x, torch.Generator().manual_seed(5))
    parts = [aug(x[i : i + 4], torch.Generator().manual_seed(5), offset=i, total=8) for i in (0, 4)]
    assert torch.equal(torch.cat(parts), whole)
    assert not torch.equal(whole, aug(x, torch.Generator().manual_seed(6)))


def test_lighting_noise_is_a_per_image_colour_shift():
    x = _ramp(4)
    eigval, eigvec = lighting_pca(x)
    assert torch.allclose(eigvec @ eigvec.T, torch.eye(3), atol=1e-5) and (eigval >= 0).all()
    aug = BatchAugment(AugmentSpec(lighting=0.1), (0.0,) * 3, (1 / 255,) * 3, pca=(eigval, eigvec))
    diff = aug(x, torch.Generator().manual_seed(0)) - x.float()
    assert torch.allclose(diff, diff[:, :, :1, :1].expand_as(diff), atol=1e-4)  # constant over pixels
    assert diff.abs().max() > 0.1
    with pytest.raises(ValueError, match="needs the PCA"):
        BatchAugment(AugmentSpec(lighting=0.1), (0.0,) * 3, (1.0,) * 3)
