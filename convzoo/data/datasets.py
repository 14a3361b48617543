"""Datasets held in memory as one uint8 tensor: digits, MNIST, CIFAR-10/100 and image folders.

Every loader returns :class:`ImageSet` objects (``images``: uint8 N×C×H×W, ``labels``: int64 N, ``classes``);
:func:`load_data` turns a ``--data`` spec into train / validation / test splits plus the per-channel
normalization computed from the training split.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import pickle
import struct
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from convzoo.data.download import download_and_verify, safe_extract

__all__ = [
    "BadImageError",
    "DataSplits",
    "ImageSet",
    "CIFAR_URLS",
    "default_cache_dir",
    "load_cifar",
    "load_data",
    "load_digits",
    "load_image_folder",
    "load_mnist",
    "read_image",
    "restricted_unpickle",
]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
BUILTIN_DATA = ("digits", "mnist", "cifar10", "cifar100")


class BadImageError(ValueError):
    """An image file that cannot be decoded; the message names the file."""


@dataclass
class ImageSet:
    """A labelled image set in memory: ``images`` uint8 N×C×H×W, ``labels`` int64 N."""

    images: torch.Tensor
    labels: torch.Tensor
    classes: list[str]
    skipped: list[str] = field(default_factory=list)  # files skipped as unreadable (on_bad="skip")

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.ndim != 4:
            raise ValueError(
                f"images must be a uint8 N×C×H×W tensor, got {self.images.dtype} {tuple(self.images.shape)}"
            )
        if self.labels.shape != (self.images.shape[0],):
            raise ValueError(f"{self.images.shape[0]} images but labels of shape {tuple(self.labels.shape)}")
        self.labels = self.labels.long()

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def image_size(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    def subset(self, index: torch.Tensor) -> ImageSet:
        return ImageSet(self.images[index], self.labels[index], self.classes)

    def per_class(self, n: int) -> ImageSet:
        """The first ``n`` images of every class (a small fixed subset for tests and quick runs)."""
        keep = torch.cat([torch.nonzero(self.labels == c).flatten()[:n] for c in range(len(self.classes))])
        return self.subset(keep.sort().values)


@dataclass
class DataSplits:
    """Train / validation / test sets and the normalization computed from the training split."""

    name: str
    train: ImageSet
    val: ImageSet | None
    test: ImageSet | None
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @property
    def classes(self) -> list[str]:
        return self.train.classes

    @property
    def image_size(self) -> tuple[int, int, int]:
        return self.train.image_size


def default_cache_dir() -> Path:
    return Path(os.environ.get("CONVZOO_CACHE", Path.home() / ".cache" / "convzoo"))


def channel_stats(images: torch.Tensor, chunk: int = 4096) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and standard deviation of uint8 images, on the [0, 1] scale."""
    c = images.shape[1]
    s = torch.zeros(c, dtype=torch.float64)
    s2 = torch.zeros(c, dtype=torch.float64)
    for i in range(0, images.shape[0], chunk):
        x = images[i : i + chunk].to(torch.float64).div_(255).transpose(0, 1).reshape(c, -1)
        s += x.sum(1)
        s2 += (x * x).sum(1)
    n = images.shape[0] * images.shape[2] * images.shape[3]
    mean = s / n
    std = (s2 / n - mean * mean).clamp_min(1e-12).sqrt()
    return tuple(mean.tolist()), tuple(std.tolist())


# --------------------------------------------------------------------------------------------- digits, MNIST


def load_digits() -> tuple[ImageSet, ImageSet]:
    """scikit-learn's 8×8 digits (1,797 images shipped with scikit-learn, no download) as train / test 80/20.

    Pixel values 0–16 are scaled to 0–255. The split is fixed (seed 0, stratified by order of a permutation).
    """
    try:
        from sklearn.datasets import load_digits as sk_digits
    except ImportError as e:
        raise ImportError("the digits dataset comes with scikit-learn: pip install scikit-learn") from e
    d = sk_digits()
    images = torch.from_numpy((d.images * 255.0 / 16.0).round().astype(np.uint8)).unsqueeze(1)
    labels = torch.from_numpy(d.target.astype(np.int64))
    perm = torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))
    n_test = len(labels) // 5
    classes = [str(i) for i in range(10)]
    return (
        ImageSet(images[perm[n_test:]], labels[perm[n_test:]], classes),
        ImageSet(images[perm[:n_test]], labels[perm[:n_test]], classes),
    )


def _open_maybe_gz(path: Path) -> bytes:
    for p in (path, path.with_name(path.name + ".gz")):
        if p.exists():
            return gzip.decompress(p.read_bytes()) if p.suffix == ".gz" else p.read_bytes()
    raise FileNotFoundError(f"MNIST file {path.name} (or {path.name}.gz) not found in {path.parent}")


def _read_idx(raw: bytes, name: str) -> np.ndarray:
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{name} is not an idx file of unsigned bytes (bad magic number)")
    ndim = raw[3]
    dims = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise ValueError(f"{name} is truncated: header says {dims}, found {data.size} values")
    return data.reshape(dims)


def load_mnist(root: str | os.PathLike[str]) -> tuple[ImageSet, ImageSet]:
    """MNIST from its four idx files (optionally ``.gz``) in ``root``: train (60k) and test (10k)."""
    root = Path(root)
    classes = [str(i) for i in range(10)]
    out = []
    for prefix in ("train", "t10k"):
        images = _read_idx(_open_maybe_gz(root / f"{prefix}-images-idx3-ubyte"), f"{prefix}-images")
        labels = _read_idx(_open_maybe_gz(root / f"{prefix}-labels-idx1-ubyte"), f"{prefix}-labels")
        images_t = torch.from_numpy(images.copy()).unsqueeze(1)
        out.append(ImageSet(images_t, torch.from_numpy(labels.astype(np.int64)), classes))
    return out[0], out[1]


# --------------------------------------------------------------------------------------------- CIFAR

CIFAR_URLS = {
    # (url, md5 published on https://www.cs.toronto.edu/~kriz/cifar.html)
    ("cifar10", "binary"): (
        "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
        "c32a1d4ab5d03f1284b67883e8d87530",
    ),
    ("cifar10", "python"): (
        "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        "c58f30108f718f92721af3b95e74349a",
    ),
    ("cifar100", "binary"): (
        "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz",
        "03b5dce01913d631647c71ecec9e9cb8",
    ),
    ("cifar100", "python"): (
        "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
        "eb9058c3a382ffc7106e4002c42a8d85",
    ),
}
_CIFAR_DIRS = {
    ("cifar10", "binary"): "cifar-10-batches-bin",
    ("cifar10", "python"): "cifar-10-batches-py",
    ("cifar100", "binary"): "cifar-100-binary",
    ("cifar100", "python"): "cifar-100-python",
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickles plain data and numpy arrays only; any other global (code it could run) is refused."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("_codecs", "encode"),  # how protocol-2 pickles store bytes; it only converts text to bytes
    }

    def find_class(self, module: str, name: str):  # type: ignore[no-untyped-def]
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f"refusing to unpickle global {module}.{name}: the CIFAR Python release contains only arrays, "
            "lists and strings, so this file is not a genuine CIFAR batch (it could run code)"
        )


def restricted_unpickle(data: bytes) -> object:
    """Load a CIFAR Python-release batch without letting the pickle run code."""
    return _RestrictedUnpickler(io.BytesIO(data), encoding="bytes").load()


def _cifar_binary(folder: Path, which: str) -> tuple[ImageSet, ImageSet]:
    if which == "cifar10":
        classes = (folder / "batches.meta.txt").read_text().split()
        files = ([f"data_batch_{i}.bin" for i in range(1, 6)], ["test_batch.bin"])
        label_bytes = 1
    else:
        classes = (folder / "fine_label_names.txt").read_text().split()
        files = (["train.bin"], ["test.bin"])
        label_bytes = 2  # coarse label, then fine label
    out = []
    for names in files:
        raw = np.concatenate([np.fromfile(folder / n, dtype=np.uint8) for n in names])
        rec = 3072 + label_bytes
        if raw.size % rec:
            raise ValueError(f"{folder}: the binary CIFAR files are truncated ({raw.size} bytes)")
        raw = raw.reshape(-1, rec)
        labels = torch.from_numpy(raw[:, label_bytes - 1].astype(np.int64))
        images = torch.from_numpy(raw[:, label_bytes:].reshape(-1, 3, 32, 32).copy())
        out.append(ImageSet(images, labels, classes))
    return out[0], out[1]


def _cifar_python(folder: Path, which: str) -> tuple[ImageSet, ImageSet]:
    def batch(name: str) -> dict:
        obj = restricted_unpickle((folder / name).read_bytes())
        if not isinstance(obj, dict):
            raise ValueError(f"{folder / name} is not a CIFAR batch")
        return obj

    if which == "cifar10":
        meta = batch("batches.meta")
        classes = [c.decode() for c in meta[b"label_names"]]
        files, key = ([f"data_batch_{i}" for i in range(1, 6)], ["test_batch"]), b"labels"
    else:
        meta = batch("meta")
        classes = [c.decode() for c in meta[b"fine_label_names"]]
        files, key = (["train"], ["test"]), b"fine_labels"
    out = []
    for names in files:
        batches = [batch(n) for n in names]
        images = np.concatenate([np.asarray(b[b"data"], dtype=np.uint8) for b in batches]).reshape(
            -1, 3, 32, 32
        )
        labels = np.concatenate([np.asarray(b[key], dtype=np.int64) for b in batches])
        out.append(ImageSet(torch.from_numpy(images.copy()), torch.from_numpy(labels), classes))
    return out[0], out[1]


def load_cifar(
    which: str = "cifar10",
    root: str | os.PathLike[str] | None = None,
    *,
    download: bool = False,
    release: str = "binary",
    url: str | None = None,
    md5: str | None = None,
) -> tuple[ImageSet, ImageSet]:
    """CIFAR-10 or CIFAR-100 (train 50k, test 10k) from its official binary or Python release under ``root``.

    With ``download=True`` a missing release is fetched from the official address (``url``/``md5``
    override it, e.g. for a mirror) and verified by its published MD5 before extraction. The Python release
    is read only through a restricted unpickler that cannot run code.
    """
    if (which, release) not in CIFAR_URLS:
        raise ValueError(
            f"unknown CIFAR dataset {which!r}/{release!r}: use cifar10 or cifar100, binary or python"
        )
    root = Path(root) if root is not None else default_cache_dir() / "datasets"
    folder = root / _CIFAR_DIRS[(which, release)]
    if not folder.is_dir():
        if not download:
            raise FileNotFoundError(
                f"{which} ({release} release) not found at {folder}; pass --download (download=True) to "
                f"fetch it from {CIFAR_URLS[(which, release)][0]}, or point --data-root at the folder "
                "holding it"
            )
        official_url, official_md5 = CIFAR_URLS[(which, release)]
        archive = download_and_verify(
            url or official_url, root / Path(official_url).name, md5 or official_md5
        )
        safe_extract(archive, root)
        if not folder.is_dir():
            raise ValueError(f"{archive} did not contain the expected folder {folder.name}")
    return (_cifar_binary if release == "binary" else _cifar_python)(folder, which)


# --------------------------------------------------------------------------------------------- image folders


def read_image(path: str | os.PathLike[str], mode: str = "RGB", size: int | None = None) -> np.ndarray:
    """Decode one image file to an H×W×C uint8 array in ``mode`` ("RGB" or "L").

    Grayscale, palette and RGBA images are converted the same way every time: palette images go through RGBA,
    and the alpha channel is dropped (pixels keep their colour). With ``size``, the shorter side is resized to
    ``size`` (bilinear) and the centre ``size``×``size`` square is cropped.
    """
    try:
        with Image.open(path) as img:
            img.load()
            if img.mode == "P":
                img = img.convert("RGBA")
            img = img.convert(mode)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise BadImageError(
            f"cannot decode image {path}: {e}. Replace or delete the file, or pass "
            "--skip-bad-images to skip unreadable files (they are counted and reported)"
        ) from e
    if size is not None and img.size != (size, size):
        w, h = img.size
        scale = size / min(w, h)
        nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
        img = img.resize((nw, nh), Image.BILINEAR)
        left, top = (nw - size) // 2, (nh - size) // 2
        img = img.crop((left, top, left + size, top + size))
    arr = np.asarray(img, dtype=np.uint8)
    return arr[:, :, None] if arr.ndim == 2 else arr


def _scan_folder(split_dir: Path) -> tuple[list[str], list[tuple[Path, int]]]:
    if not split_dir.is_dir():
        raise FileNotFoundError(
            f"image folder {split_dir} does not exist; expected root/<split>/<class>/*.jpg"
        )
    classes = sorted(d.name for d in split_dir.iterdir() if d.is_dir())
    if not classes:
        raise ValueError(f"{split_dir} has no class folders; expected {split_dir}/<class>/*.jpg")
    files: list[tuple[Path, int]] = []
    for i, c in enumerate(classes):
        found = sorted(p for p in (split_dir / c).iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
        if not found:
            raise ValueError(
                f"class folder {split_dir / c} has no images ({', '.join(IMAGE_EXTENSIONS)}); add images or "
                "remove the folder"
            )
        files.extend((p, i) for p in found)
    return classes, files


def load_image_folder(
    root: str | os.PathLike[str],
    split: str = "train",
    *,
    image_size: int | None = None,
    mode: str = "RGB",
    per_class: int | None = None,
    on_bad: str = "error",
    cache_dir: str | os.PathLike[str] | None = None,
    classes: Sequence[str] | None = None,
) -> ImageSet:
    """Decode ``root/<split>/<class>/*`` into one uint8 tensor, cached so the next load takes about a second.

    ``per_class``: keep the first n files (sorted by name) of each class. ``on_bad``: "error" raises
    :class:`BadImageError` naming the file; "skip" leaves it out and lists it in ``ImageSet.skipped``.
    Images of different sizes need ``image_size`` (shorter side resized, centre crop).
    ``classes``: the class list of the training split, so that every split uses the same label numbers.
    """
    if on_bad not in ("error", "skip"):
        raise ValueError(f"on_bad must be 'error' or 'skip', not {on_bad!r}")
    split_dir = Path(root) / split
    found_classes, files = _scan_folder(split_dir)
    if classes is not None and list(classes) != found_classes:
        extra = sorted(set(found_classes) - set(classes))
        missing = sorted(set(classes) - set(found_classes))
        if extra:
            raise ValueError(f"{split_dir} has classes the training split lacks: {extra}")
        if missing:
            warnings.warn(f"{split_dir} has no folder for classes {missing}", stacklevel=2)
    class_list = list(classes) if classes is not None else found_classes
    index = {c: i for i, c in enumerate(class_list)}
    files = [(p, index[found_classes[i]]) for p, i in files]
    if per_class is not None:
        counts: Counter[int] = Counter()
        kept = []
        for p, i in files:
            if counts[i] < per_class:
                kept.append((p, i))
                counts[i] += 1
        files = kept

    h = hashlib.sha256()
    h.update(json.dumps([str(split_dir.resolve()), image_size, mode, per_class, on_bad, class_list]).encode())
    for p, i in files:
        st = p.stat()
        h.update(f"{p.name}|{i}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir() / "decoded"
    cache_file = cache / f"{split_dir.name}-{h.hexdigest()[:20]}.pt"
    if cache_file.exists():
        try:
            obj = torch.load(cache_file, weights_only=True)
            return ImageSet(obj["images"], obj["labels"], list(obj["classes"]), list(obj["skipped"]))
        except Exception:  # a damaged cache is rebuilt, never trusted
            cache_file.unlink(missing_ok=True)

    arrays, labels, skipped = [], [], []
    for p, i in files:
        try:
            arr = read_image(p, mode, image_size)
        except BadImageError:
            if on_bad == "error":
                raise
            skipped.append(str(p))
            continue
        if arrays and arr.shape != arrays[0].shape:
            raise ValueError(
                f"{p} is {arr.shape[1]}×{arr.shape[0]} but {files[0][0]} is {arrays[0].shape[1]}×"
                f"{arrays[0].shape[0]}; pass --image-size N to resize every image to N×N"
            )
        arrays.append(arr)
        labels.append(i)
    if not arrays:
        raise ValueError(f"no readable images under {split_dir}")
    images = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
    result = ImageSet(images, torch.tensor(labels, dtype=torch.int64), class_list, skipped)
    if skipped:
        warnings.warn(
            f"skipped {len(skipped)} unreadable image(s) under {split_dir}: {skipped[:5]}", stacklevel=2
        )
    cache.mkdir(parents=True, exist_ok=True)
    tmp = cache_file.with_suffix(f".{os.getpid()}.tmp")
    torch.save({"images": images, "labels": result.labels, "classes": class_list, "skipped": skipped}, tmp)
    os.replace(tmp, cache_file)
    return result


# --------------------------------------------------------------------------------------------- --data specs


def _cifar10_jpg_default() -> Path:
    env = os.environ.get("CONVZOO_CIFAR10_JPG")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2].parent / "shared" / "datasets" / "cifar10-jpg"


def _split_val(train: ImageSet, val_size: int | float, seed: int) -> tuple[ImageSet, ImageSet | None]:
    n = len(train)
    k = int(round(val_size * n)) if isinstance(val_size, float) and val_size < 1 else int(val_size)
    if k <= 0:
        return train, None
    if k >= n:
        raise ValueError(f"validation split of {k} leaves no training images (the training split has {n})")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return train.subset(perm[k:].sort().values), train.subset(perm[:k].sort().values)


def load_data(
    spec: str,
    *,
    root: str | os.PathLike[str] | None = None,
    val_size: int | float = 0,
    seed: int = 0,
    per_class: int | None = None,
    image_size: int | None = None,
    on_bad: str = "error",
    download: bool = False,
    cache_dir: str | os.PathLike[str] | None = None,
) -> DataSplits:
    """Resolve a ``--data`` spec into splits.

    ``spec``: ``digits``, ``mnist``, ``cifar10``, ``cifar100``, ``cifar10-jpg`` (the shared folder, or
    ``$CONVZOO_CIFAR10_JPG``) or a path to an image folder ``PATH/{train,test}/<class>/*``. ``val_size`` holds
    out that many (or that fraction of) training images for validation, with a fixed seed. ``per_class`` keeps
    the first n images of each class in every split (small fixed subsets).
    """
    test: ImageSet | None
    if spec == "digits":
        train, test = load_digits()
    elif spec == "mnist":
        if root is None:
            raise ValueError("--data mnist needs --data-root pointing at the folder with the four idx files")
        train, test = load_mnist(root)
    elif spec in ("cifar10", "cifar100"):
        train, test = load_cifar(spec, root, download=download)
    else:
        folder = _cifar10_jpg_default() if spec == "cifar10-jpg" else Path(spec)
        if not folder.is_dir():
            hint = " (set CONVZOO_CIFAR10_JPG to its location)" if spec == "cifar10-jpg" else ""
            raise FileNotFoundError(
                f"--data {spec!r}: no such folder {folder}{hint}. Use one of {', '.join(BUILTIN_DATA)}, "
                "cifar10-jpg, or a folder laid out as PATH/train/<class>/*.jpg (and optionally PATH/test/...)"
            )
        kw = dict(image_size=image_size, per_class=per_class, on_bad=on_bad, cache_dir=cache_dir)
        train = load_image_folder(folder, "train", **kw)  # type: ignore[arg-type]
        test = (
            load_image_folder(folder, "test", classes=train.classes, **kw)
            if (folder / "test").is_dir()
            else None
        )  # type: ignore[arg-type]
    if per_class is not None:
        train = train.per_class(per_class)
        test = test.per_class(per_class) if test is not None else None
    if image_size is not None and spec in BUILTIN_DATA:
        train, test = _resize(train, image_size), _resize(test, image_size) if test is not None else None
    train, val = _split_val(train, val_size, seed)
    mean, std = channel_stats(train.images)
    return DataSplits(spec, train, val, test, mean, std)


def _resize(s: ImageSet, size: int) -> ImageSet:
    if s.images.shape[-2:] == (size, size):
        return s
    x = torch.nn.functional.interpolate(
        s.images.float(), size=(size, size), mode="bilinear", align_corners=False
    )
    return ImageSet(x.round().clamp(0, 255).to(torch.uint8), s.labels, s.classes, s.skipped)
