"""Datasets held in memory as one uint8 tensor: digits, MNIST, CIFAR-10/100 and image folders.

Every loader returns :class:`ImageSet` objects (``images``: uint8 N×C×H×W, ``labels``: int64 N, ``classes``);
:func:`load_data` turns a ``--data`` spec into train / validation / test splits plus the per-channel
normalization computed from the training split. Every dataset file is read through
:mod:`convzoo.data.readers`, which checks it before allocating and names the file in every error.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import warnings
import zipfile
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from convzoo.data.download import download_and_verify, extract_folder
from convzoo.data.readers import (
    MAX_IMAGE_PIXELS,
    BadImageError,
    DataFileError,
    UnsafePickleError,
    check_labels,
    read_cifar_binary,
    read_cifar_names,
    read_cifar_pickle,
    read_cifar_pickle_names,
    read_idx,
    read_image,
    restricted_unpickle,
)
from convzoo.trust_write import output

__all__ = [
    "MAX_IMAGE_PIXELS",
    "BadImageError",
    "DataFileError",
    "UnsafePickleError",
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


_MNIST_RECORDS = {"train": 60_000, "t10k": 10_000}


def _mnist_file(root: Path, name: str) -> Path:
    for p in (root / name, root / f"{name}.gz"):
        if p.is_file():
            return p
    raise FileNotFoundError(f"MNIST file {name} (or {name}.gz) not found in {root}")


def load_mnist(root: str | os.PathLike[str]) -> tuple[ImageSet, ImageSet]:
    """MNIST from its four idx files (optionally ``.gz``) in ``root``: train (60k) and test (10k).

    Headers, counts (images = labels, at most the official count), 28×28 size and labels 0–9 are checked.
    """
    root = Path(root)
    classes = [str(i) for i in range(10)]
    out = []
    for prefix, most in _MNIST_RECORDS.items():
        image_file = _mnist_file(root, f"{prefix}-images-idx3-ubyte")
        label_file = _mnist_file(root, f"{prefix}-labels-idx1-ubyte")
        images = read_idx(image_file, (28, 28), most)
        labels = read_idx(label_file, (), most)
        if len(labels) != len(images):
            raise DataFileError(
                f"{label_file}: {len(labels)} labels for the {len(images)} images of {image_file}"
            )
        check_labels(labels, 10, label_file)
        out.append(
            ImageSet(
                torch.from_numpy(images.copy()).unsqueeze(1),
                torch.from_numpy(labels.astype(np.int64)),
                classes,
            )
        )
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
# The official files of each release (without the binary release's ".bin") and their record counts.
_CIFAR_FILES = {
    "cifar10": ({f"data_batch_{i}": 10_000 for i in range(1, 6)}, {"test_batch": 10_000}),
    "cifar100": ({"train": 50_000}, {"test": 10_000}),
}
_CIFAR_CLASSES = {"cifar10": 10, "cifar100": 100}

_Reader = Callable[[Path, int], tuple[np.ndarray, np.ndarray]]


def _cifar_splits(folder: Path, which: str, read: _Reader, suffix: str, classes: list[str]) -> list[ImageSet]:
    counts: dict[Path, tuple[int, int]] = {}
    out = []
    for split in _CIFAR_FILES[which]:
        parts = []
        for stem, official in split.items():
            path = folder / f"{stem}{suffix}"
            if not path.is_file():
                raise FileNotFoundError(
                    f"{path} is missing, so {folder} is incomplete (an interrupted extraction?): delete the "
                    "folder and run again with --download"
                )
            parts.append(read(path, official))
            counts[path] = (len(parts[-1][1]), official)
        images, labels = (np.concatenate([p[k] for p in parts]) for k in (0, 1))
        out.append(ImageSet(torch.from_numpy(images), torch.from_numpy(labels), classes))
    _check_release(counts, folder, [folder / f"{stem}{suffix}" for stem in _CIFAR_FILES[which][0]])
    return out


def _check_release(counts: dict[Path, tuple[int, int]], folder: Path, train_files: list[Path]) -> None:
    """The official release (every file at its official count) or a subset whose training files agree.

    A file short of its official count beside complete ones is damaged; a subset someone made has no
    complete file, and its training batches must hold equal numbers of records, as the official ones do.
    """
    short = [p for p, (n, official) in counts.items() if n != official]
    if short and len(short) < len(counts):
        p = short[0]
        raise DataFileError(
            f"{p}: {counts[p][0]} records where the official release has {counts[p][1]}, while the other files "
            f"in {folder} are complete: the file is damaged; delete the folder and run again with --download"
        )
    sizes = {counts[p][0] for p in train_files}
    if len(sizes) > 1:
        listing = ", ".join(f"{p.name}: {counts[p][0]}" for p in train_files)
        raise DataFileError(
            f"{folder}: the training batches hold different numbers of records ({listing}); in CIFAR they are "
            "equal, so one of them is truncated or padded"
        )


def _cifar_binary(folder: Path, which: str) -> list[ImageSet]:
    n = _CIFAR_CLASSES[which]
    names = folder / ("batches.meta.txt" if which == "cifar10" else "fine_label_names.txt")
    label_classes = (10,) if which == "cifar10" else (20, 100)  # CIFAR-100: coarse label, then fine label

    def read(path: Path, most: int) -> tuple[np.ndarray, np.ndarray]:
        return read_cifar_binary(path, label_classes, most)

    return _cifar_splits(folder, which, read, ".bin", read_cifar_names(names, n))


def _cifar_python(folder: Path, which: str) -> list[ImageSet]:
    n = _CIFAR_CLASSES[which]
    meta, names_key, label_key = (
        ("batches.meta", "label_names", "labels")
        if which == "cifar10"
        else ("meta", "fine_label_names", "fine_labels")
    )

    def read(path: Path, most: int) -> tuple[np.ndarray, np.ndarray]:
        return read_cifar_pickle(path, label_key, n, most)

    return _cifar_splits(folder, which, read, "", read_cifar_pickle_names(folder / meta, names_key, n))


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
    override it, e.g. for a mirror), verified by its published MD5, extracted to a temporary folder and
    renamed into place, so an interrupted extraction never leaves a folder that looks complete. Every file is
    checked (record counts, shapes, dtypes, label ranges) before it is used; the Python release is read only
    through a restricted unpickler that cannot run code.
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
        extract_folder(archive, root, folder.name)
    train, test = (_cifar_binary if release == "binary" else _cifar_python)(folder, which)
    return train, test


# --------------------------------------------------------------------------------------------- image folders


def _visible(folder: Path) -> list[Path]:
    """The entries of ``folder`` that are not hidden (``.ipynb_checkpoints``, ``.DS_Store``), sorted."""
    try:
        return sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    except OSError as e:
        raise DataFileError(f"{folder}: cannot list the folder ({e.strerror})") from e


def _stat(p: Path) -> tuple[os.stat_result | None, str]:
    try:
        return p.stat(), ""
    except OSError as e:  # a dangling link, a symlink loop, no permission
        return None, f"cannot be read ({e.strerror})"


_Entry = tuple[Path, os.stat_result, int]


def _scan_folder(split_dir: Path) -> tuple[list[str], list[_Entry], list[tuple[Path, str]]]:
    """Class folders, image files (path, stat, class index) and unreadable entries (path, cause)."""
    if not split_dir.is_dir():
        raise FileNotFoundError(
            f"image folder {split_dir} does not exist; expected root/<split>/<class>/*.jpg"
        )
    classes, bad = [], []
    for p in _visible(split_dir):
        st, problem = _stat(p)
        if st is None:
            bad.append((p, problem))
        elif stat.S_ISDIR(st.st_mode):
            classes.append(p.name)
    if not classes:
        raise DataFileError(
            f"{split_dir} has no class folders (hidden ones are ignored); expected {split_dir}/<class>/*.jpg"
        )
    files: list[_Entry] = []
    for i, c in enumerate(classes):
        found = [p for p in _visible(split_dir / c) if p.suffix.lower() in IMAGE_EXTENSIONS]
        if not found:
            raise DataFileError(
                f"class folder {split_dir / c} has no images ({', '.join(IMAGE_EXTENSIONS)}); add images or "
                "remove the folder"
            )
        for p in found:
            st, problem = _stat(p)
            if st is not None and not stat.S_ISREG(st.st_mode):
                problem = "is not a regular file"
            if problem:
                bad.append((p, problem))
            else:
                files.append((p, st, i))  # type: ignore[arg-type]
    return classes, files, bad


def _match_classes(split_dir: Path, found: list[str], classes: Sequence[str] | None) -> list[str]:
    if classes is None or list(classes) == found:
        return found
    extra = sorted(set(found) - set(classes))
    missing = sorted(set(classes) - set(found))
    if extra:
        raise DataFileError(f"{split_dir} has classes the training split lacks: {extra}")
    if missing:
        warnings.warn(f"{split_dir} has no folder for classes {missing}", stacklevel=3)
    return list(classes)


def _first_per_class(files: list[_Entry], n: int) -> list[_Entry]:
    counts: Counter[int] = Counter()
    kept = []
    for entry in files:
        if counts[entry[2]] < n:
            kept.append(entry)
            counts[entry[2]] += 1
    return kept


def _decode_all(
    files: list[_Entry], mode: str, size: int | None, on_bad: str, max_pixels: int, skipped: list[str]
) -> tuple[list[np.ndarray], list[int]]:
    arrays: list[np.ndarray] = []
    labels: list[int] = []
    first = Path()
    for p, _, label in files:
        try:
            arr = read_image(p, mode, size, max_pixels=max_pixels)
        except BadImageError:
            if on_bad == "error":
                raise
            skipped.append(str(p))
            continue
        if arrays and arr.shape != arrays[0].shape:
            raise DataFileError(
                f"{p} is {arr.shape[1]}×{arr.shape[0]} but {first} is {arrays[0].shape[1]}×"
                f"{arrays[0].shape[0]}; pass --image-size N to resize every image to N×N"
            )
        first = first if arrays else p
        arrays.append(arr)
        labels.append(label)
    return arrays, labels


def _require_every_class(labels: list[int], classes: list[str], split_dir: Path) -> None:
    empty = sorted(set(range(len(classes))) - set(labels))
    if empty:
        names = ", ".join(str(split_dir / classes[i]) for i in empty[:5])
        raise DataFileError(f"no readable images in class folder(s) {names}; every class needs some")


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
    max_pixels: int = MAX_IMAGE_PIXELS,
) -> ImageSet:
    """Decode ``root/<split>/<class>/*`` into one uint8 tensor, cached so the next load takes about a second.

    Hidden files and folders (names starting with ".") are ignored. ``per_class``: keep the first n files
    (sorted by name) of each class. ``on_bad``: "error" raises :class:`BadImageError` naming the file;
    "skip" leaves out unreadable entries (corrupt, too large, dangling or looping links) and lists them in
    ``ImageSet.skipped``. Images of different sizes need ``image_size`` (shorter side resized, centre crop).
    ``classes``: the class list of the training split, so that every split uses the same label numbers;
    without it (a training split) every class must keep at least one readable image. An unwritable cache
    folder is noted and skipped.
    """
    if on_bad not in ("error", "skip"):
        raise ValueError(f"on_bad must be 'error' or 'skip', not {on_bad!r}")
    split_dir = Path(root) / split
    found_classes, files, bad = _scan_folder(split_dir)
    if bad and on_bad == "error":
        p, problem = bad[0]
        raise BadImageError(f"{p} {problem}. Remove it, or pass --skip-bad-images to skip unreadable files")
    skipped = [str(p) for p, _ in bad]
    class_list = _match_classes(split_dir, found_classes, classes)
    index = [class_list.index(c) for c in found_classes]
    files = [(p, st, index[i]) for p, st, i in files]
    if per_class is not None:
        files = _first_per_class(files, per_class)

    h = hashlib.sha256()
    h.update(json.dumps([str(split_dir.resolve()), image_size, mode, per_class, on_bad, class_list]).encode())
    h.update(json.dumps([max_pixels, skipped]).encode())
    for p, st, i in files:
        h.update(f"{p.name}|{i}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir() / "decoded"
    cache_file = cache / f"{split_dir.name}-{h.hexdigest()[:20]}.pt"
    cached = _read_cache(cache_file, class_list, len(files) + len(skipped), mode, image_size)
    if cached is not None:
        return cached

    arrays, labels = _decode_all(files, mode, image_size, on_bad, max_pixels, skipped)
    if not arrays:
        raise DataFileError(f"no readable images under {split_dir}")
    if classes is None:
        _require_every_class(labels, class_list, split_dir)
    images = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
    result = ImageSet(images, torch.tensor(labels, dtype=torch.int64), class_list, skipped)
    if skipped:
        warnings.warn(
            f"skipped {len(skipped)} unreadable image(s) under {split_dir}: {skipped[:5]}", stacklevel=2
        )
    _write_cache(cache_file, result)
    return result


def _read_cache(path: Path, classes: list[str], most: int, mode: str, size: int | None) -> ImageSet | None:
    """The cached set if ``path`` holds a plain, consistent one; None (and a note) if it is absent or damaged."""
    try:
        if not path.is_file():
            return None
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
        if (
            any(i.compress_type != zipfile.ZIP_STORED for i in infos)
            or sum(i.file_size for i in infos) > path.stat().st_size
        ):
            raise ValueError("not an uncompressed torch.save archive")
        obj = torch.load(path, weights_only=True)
        s = ImageSet(
            obj["images"], obj["labels"], [str(c) for c in obj["classes"]], [str(p) for p in obj["skipped"]]
        )
        c, h, w = s.image_size
        if (
            s.classes != classes
            or len(s) > most
            or c != (1 if mode == "L" else 3)
            or (size and (h, w) != (size, size))
        ):
            raise ValueError("its contents do not match the folder")
        if len(s) and not 0 <= int(s.labels.min()) <= int(s.labels.max()) < len(classes):
            raise ValueError("labels out of range")
        return s
    except Exception as e:  # a damaged or foreign cache is rebuilt, never trusted
        warnings.warn(
            f"note: ignoring the image cache {path} ({type(e).__name__}: {e}); decoding again", stacklevel=3
        )
        return None


def _write_cache(path: Path, s: ImageSet) -> None:
    """Save atomically; an unwritable cache folder is only a note (the next run decodes again)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with output(path, owned=True) as tmp:  # the cache's own name (a hash): never a link, never a mix
            torch.save({"images": s.images, "labels": s.labels, "classes": s.classes, "skipped": s.skipped}, tmp)
    except (OSError, RuntimeError, ValueError) as e:  # torch.save reports an unopenable file as RuntimeError
        warnings.warn(
            f"note: not caching the decoded images: cannot write {path} ({e}); the next run decodes them again",
            stacklevel=3,
        )


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
    _require_two_classes(train, spec)
    mean, std = channel_stats(train.images)
    return DataSplits(spec, train, val, test, mean, std)


def _require_two_classes(train: ImageSet, spec: str) -> None:
    present = torch.bincount(train.labels, minlength=len(train.classes)).gt(0).nonzero().flatten().tolist()
    if len(present) < 2:
        names = [train.classes[i] for i in present]
        raise DataFileError(
            f"--data {spec}: the training split has images of {len(present)} class(es) {names}; a classifier "
            "needs at least 2 (with one, every prediction is right and accuracy means nothing)"
        )


def _resize(s: ImageSet, size: int) -> ImageSet:
    if s.images.shape[-2:] == (size, size):
        return s
    x = torch.nn.functional.interpolate(
        s.images.float(), size=(size, size), mode="bilinear", align_corners=False
    )
    return ImageSet(x.round().clamp(0, 255).to(torch.uint8), s.labels, s.classes, s.skipped)
