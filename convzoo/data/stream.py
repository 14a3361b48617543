"""Image folders too large for memory, streamed through DataLoader workers (ImageNet and its layout).

The split is indexed once (paths and labels, nothing decoded); workers decode each image with the
decode-time augmentation of the paper (:mod:`convzoo.data.paper_augment`), using JPEG DCT-domain
downscaling (PIL's ``draft``) when the crop is much smaller than the file, and hand back **uint8** tensors;
:func:`finish_batch` converts, colour-augments and normalizes them on the training device.

Layouts: ``root/<split>/<class>/*`` (ImageNet's ``train/<wnid>/*.JPEG``), and ImageNet's flat ``val/``
with the devkit's ground truth (``ILSVRC2012_validation_ground_truth.txt`` and ``meta.mat``). Batches are
drawn as *global* batches: every process of a ``torchrun`` job takes its slice of each, so one epoch covers
every image exactly once (no padding duplicates) and one process sees the same batches as several. Each
sample's random draw depends on ``(seed, epoch, index)`` only, so the augmentation is the same whatever the
number of workers or processes, and a resumed run continues the same sequence.

The trainer's interface::

    splits = stream_splits("/data/imagenet", augment="resnet", crop=224)   # StreamSplits
    for epoch in ...:
        for x, y, idx in splits.train_loader(batch_size, epoch=epoch, seed=seed, workers=8, dist=info):
            x = splits.finish(x.to(device, non_blocking=True), train=True, gen=gen)  # float, normalized
            ...
    metrics = evaluate_protocol(model, splits.val, "center", splits.mean, splits.std, dist=info)
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from convzoo.data.datasets import _match_classes, _scan_folder
from convzoo.data.decode import Box, decode_box, decode_short, to_chw
from convzoo.data.readers import (
    _SKIP_HINT,
    BadImageError,
    DataFileError,
    read_mat,
)
from convzoo.trust_image import open_image

__all__ = [
    "Box",
    "DEVKIT_GROUND_TRUTH",
    "FolderIndex",
    "GlobalBatchSampler",
    "StreamSplits",
    "StreamingFolder",
    "choose_streaming",
    "class_names",
    "collate_uint8",
    "decode_box",
    "decode_short",
    "finish_batch",
    "index_split",
    "make_loader",
    "open_image",
    "require_two_classes",
    "stream_splits",
    "to_chw",
]

DEVKIT_GROUND_TRUTH = "ILSVRC2012_validation_ground_truth.txt"
_VAL_NAME = re.compile(r"ILSVRC2012_val_(\d{8})\.JPEG$", re.IGNORECASE)
_WNID = re.compile(r"n\d{8}")
MAX_GROUND_TRUTH_BYTES = 1 << 22  # 50 000 lines of at most 4 digits
MAX_META_BYTES = 1 << 24  # the file, and the file with its variables inflated


@dataclass(frozen=True)
class FolderIndex:
    """One split, indexed: image paths, their labels (indices into ``classes``) and files left out."""

    root: Path
    files: tuple[Path, ...]
    labels: tuple[int, ...]
    classes: tuple[str, ...]
    skipped: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.files)

    def per_class(self, n: int) -> FolderIndex:
        """The first ``n`` files of each class (files are sorted by name within a class)."""
        count: dict[int, int] = {}
        keep = []
        for i, y in enumerate(self.labels):
            count[y] = count.get(y, 0) + 1
            if count[y] <= n:
                keep.append(i)
        files, labels = tuple(self.files[i] for i in keep), tuple(self.labels[i] for i in keep)
        return FolderIndex(self.root, files, labels, self.classes, self.skipped)


# ---------------------------------------------------------------------------------------------- indexing


def index_split(
    root: str | os.PathLike[str],
    split: str = "train",
    *,
    classes: Sequence[str] | None = None,
    ground_truth: str | os.PathLike[str] | None = None,
    meta: str | os.PathLike[str] | None = None,
    on_bad: str = "error",
) -> FolderIndex:
    """Index ``root/<split>``: class folders, or ImageNet's flat ``val/`` with the devkit's ground truth.

    For a flat split, ``ground_truth`` (``ILSVRC2012_validation_ground_truth.txt``: one ILSVRC2012_ID per
    line, line k for ``ILSVRC2012_val_<k>.JPEG``) and ``meta`` (the devkit's ``meta.mat``, which maps
    those IDs to wnids) default to ``root/ILSVRC2012_devkit_t12/data/``. ``classes``: the training split's
    class list, so every split numbers classes alike. ``on_bad``: "error" or "skip" (unreadable entries).
    """
    if on_bad not in ("error", "skip"):
        raise ValueError(f"on_bad must be 'error' or 'skip', not {on_bad!r}")
    split_dir = Path(root) / split
    if split_dir.is_dir() and _is_flat(split_dir):
        devkit = Path(root) / "ILSVRC2012_devkit_t12" / "data"
        gt = Path(ground_truth) if ground_truth else devkit / DEVKIT_GROUND_TRUTH
        mt = Path(meta) if meta else devkit / "meta.mat"
        return _index_flat(split_dir, gt, mt, classes)
    found, entries, bad = _scan_folder(split_dir)
    if bad and on_bad == "error":
        p, problem = bad[0]
        raise BadImageError(f"{p} {problem}. {_SKIP_HINT}")
    class_list = _match_classes(split_dir, found, classes)
    remap = [class_list.index(c) for c in found]
    return FolderIndex(
        split_dir,
        tuple(p for p, _, _ in entries),
        tuple(remap[i] for _, _, i in entries),
        tuple(class_list),
        tuple(str(p) for p, _ in bad),
    )


def _is_flat(split_dir: Path) -> bool:
    """A split of image files and no sub-folders (ImageNet's unsorted ``val/``)."""
    with os.scandir(split_dir) as it:
        entries = [e for e in it if not e.name.startswith(".")]
    return bool(entries) and not any(e.is_dir() for e in entries)


def _read_small(path: Path, cap: int, what: str) -> bytes:
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: a flat val/ folder needs the devkit's {what}; pass its path, or sort val/ "
            "into class folders"
        )
    if path.stat().st_size > cap:
        raise DataFileError(f"{path}: {path.stat().st_size:,} bytes, larger than any {what} ({cap:,})")
    return path.read_bytes()


def read_devkit_wnids(meta: str | os.PathLike[str]) -> dict[int, tuple[str, str]]:
    """ILSVRC2012_ID → (wnid, words) of the 1000 leaf synsets in the devkit's ``meta.mat``, read by the strict
    :func:`convzoo.data.readers.read_mat` (bounded inflation, sizes checked before allocating)."""
    meta = Path(meta)
    try:
        synsets = read_mat(_read_small(meta, MAX_META_BYTES, "meta.mat"), meta, MAX_META_BYTES).get("synsets")
    except DataFileError as e:
        raise DataFileError(f"{meta}: not the devkit's meta.mat ({str(e).removeprefix(f'{meta}: ')})") from None
    try:
        rows = [
            (int(s["ILSVRC2012_ID"]), str(s["WNID"]), str(s["words"]), int(s["num_children"]))
            for s in synsets  # type: ignore[union-attr]
        ]
    except (TypeError, KeyError, ValueError, OverflowError) as e:
        raise DataFileError(f"{meta}: not the devkit's meta.mat ({type(e).__name__}: {e})") from e
    out = {i: (w, words) for i, w, words, kids in rows if kids == 0}
    bad = [w for w, _ in out.values() if not _WNID.fullmatch(w)]
    if not out or bad:
        raise DataFileError(
            f"{meta}: expected leaf synsets with wnids like n01440764, found {bad[:3] or 'none'}"
        )
    return out


def _index_flat(split_dir: Path, gt: Path, meta: Path, classes: Sequence[str] | None) -> FolderIndex:
    ids = read_devkit_wnids(meta)
    text = _read_small(gt, MAX_GROUND_TRUTH_BYTES, DEVKIT_GROUND_TRUTH).decode("ascii", "replace").split()
    bad = next((t for t in text if not (t.isdigit() and len(t) <= 6 and int(t) in ids)), None)
    if bad is not None:
        raise DataFileError(f"{gt}: {bad[:20]!r} is not an ILSVRC2012_ID of {meta}")
    class_list = list(classes) if classes is not None else sorted(w for w, _ in ids.values())
    number = {c: i for i, c in enumerate(class_list)}
    files, labels = [], []
    for p in sorted(q for q in split_dir.iterdir() if not q.name.startswith(".")):
        m = _VAL_NAME.fullmatch(p.name)
        if m is None or not 1 <= int(m.group(1)) <= len(text):
            raise DataFileError(
                f"{p}: a flat val/ holds ILSVRC2012_val_<k>.JPEG with k from 1 to {len(text)} (lines of {gt})"
            )
        wnid = ids[int(text[int(m.group(1)) - 1])][0]
        if wnid not in number:
            raise DataFileError(f"{p}: ground truth {wnid} ({gt}) is not one of the training split's classes")
        files.append(p)
        labels.append(number[wnid])
    return FolderIndex(split_dir, tuple(files), tuple(labels), tuple(class_list))


def require_two_classes(index: FolderIndex) -> None:
    """Refuse a split whose images are of fewer than 2 classes: every prediction would be right."""
    present = sorted(set(index.labels))
    if len(present) < 2:
        names = [index.classes[i] for i in present]
        raise DataFileError(
            f"{index.root}: images of {len(present)} class(es) {names}; a classifier needs at least 2 (with "
            "one, every prediction is right and accuracy means nothing)"
        )


def class_names(classes: Sequence[str], meta: str | os.PathLike[str] | None = None) -> list[str]:
    """Readable names: from the devkit's ``meta.mat`` if given; for ImageNet-1k's 1000 sorted wnids, the names
    torchvision ships (no download); otherwise the folder names themselves."""
    if meta is not None:
        words = {w: words for w, words in read_devkit_wnids(meta).values()}
        return [words.get(c, c) for c in classes]
    if len(classes) == 1000 and list(classes) == sorted(classes) and all(_WNID.fullmatch(c) for c in classes):
        from convzoo.hub.sources import imagenet_classes

        return imagenet_classes()
    return list(classes)


def choose_streaming(
    root: str | os.PathLike[str],
    image_size: int,
    *,
    force: str | None = None,
    budget_bytes: int | None = None,
) -> tuple[bool, str]:
    """Whether ``root`` should stream (True) or load into memory (False), and the sentence to print.

    ``force``: "stream" or "memory" (a command-line flag); otherwise a folder streams when its decoded uint8
    training images (count × 3 × image_size²) exceed ``budget_bytes`` (default: a quarter of the physical
    memory), or when its val/ is ImageNet's flat layout, which only the streaming path reads.
    """
    if force is not None:
        if force not in ("stream", "memory"):
            raise ValueError(f"the data path must be 'stream' or 'memory', not {force!r}")
        return force == "stream", f"data: {force} (forced)"
    n = len(index_split(root, "train", on_bad="skip"))
    need = n * 3 * image_size * image_size
    if budget_bytes is None:
        budget_bytes = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 4
    val = Path(root) / "val"
    if val.is_dir() and _is_flat(val):
        return True, f"data: streaming {n:,} training images (val/ is ImageNet's flat layout)"
    if need > budget_bytes:
        return True, (
            f"data: streaming {n:,} training images ({need / 2**30:.1f} GiB decoded > the "
            f"{budget_bytes / 2**30:.1f} GiB in-memory budget)"
        )
    return False, f"data: in memory ({n:,} training images, {need / 2**30:.2f} GiB decoded)"


# --------------------------------------------------------------------------------------------- the dataset

Transform = Callable[[Path, np.random.Generator], Any]


@dataclass(frozen=True)
class _Failed:
    """An item a DataLoader worker could not make: its one-line message travels to the main process, which
    raises it (instead of a wrapped worker traceback of 60 lines)."""

    message: str
    bad_image: bool


class StreamingFolder(torch.utils.data.Dataset):
    """Items ``(uint8 C×H×W tensor, label, index)``, decoded by ``transform(path, rng)`` in the worker.

    ``rng`` is seeded from ``(seed, epoch, index)``: call :meth:`set_epoch` before each epoch. With
    ``on_bad="skip"`` an unreadable image yields None (dropped by :func:`collate_uint8`, with a warning naming
    it). In a DataLoader worker, a failure is handed to the loader of :func:`make_loader` to raise.
    """

    def __init__(
        self, index: FolderIndex, transform: Transform, *, seed: int = 0, on_bad: str = "error"
    ) -> None:
        if on_bad not in ("error", "skip"):
            raise ValueError(f"on_bad must be 'error' or 'skip', not {on_bad!r}")
        self.index, self.transform, self.seed, self.on_bad, self.epoch = index, transform, seed, on_bad, 0

    def __len__(self) -> int:
        return len(self.index)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getitem__(self, i: int) -> tuple[Any, int, int] | _Failed | None:
        rng = np.random.default_rng((self.seed, self.epoch, i))
        in_worker = torch.utils.data.get_worker_info() is not None
        try:
            x = self.transform(self.index.files[i], rng)
        except BadImageError as e:
            if self.on_bad == "skip":
                warnings.warn(f"skipped unreadable image {e.cause}", stacklevel=2)
                return None
            if in_worker:
                return _Failed(str(e), True)
            raise
        except Exception as e:
            if in_worker:
                return _Failed(f"{self.index.files[i]}: {type(e).__name__}: {e}", False)
            raise
        return x, self.index.labels[i], i


def collate_uint8(
    items: list[tuple[Any, int, int] | _Failed | None],
) -> tuple[Any, torch.Tensor, torch.Tensor] | _Failed:
    """Stack ``(image, label, index)`` items (skipped ones dropped); images of different shapes stay a list.
    A failed item is returned in place of the batch."""
    failed = next((it for it in items if isinstance(it, _Failed)), None)
    if failed is not None:
        return failed
    kept = [it for it in items if it is not None]
    if not kept:
        return [], torch.zeros(0, dtype=torch.int64), torch.zeros(0, dtype=torch.int64)
    xs = [it[0] for it in kept]
    same = all(isinstance(x, torch.Tensor) and x.shape == xs[0].shape for x in xs)
    return (
        torch.from_numpy(np.stack([x.numpy() for x in xs])) if same else xs,  # numpy: no thread pool to wake
        torch.tensor([it[1] for it in kept], dtype=torch.int64),
        torch.tensor([it[2] for it in kept], dtype=torch.int64),
    )


class GlobalBatchSampler(torch.utils.data.Sampler[list[int]]):
    """This process's slice (``rank::world``) of each global batch of ``batch_size`` indices.

    Every process gets the same number of steps, each epoch covers every index exactly once, and a
    remainder smaller than ``world`` joins the previous global batch (no process ever gets an empty batch).
    ``shuffle``: a permutation seeded by ``(seed, epoch)``. ``start``: skip the epoch's first ``start`` steps
    (a run resumed mid-epoch continues with the batches it would have seen, decoding none of the skipped).
    """

    def __init__(
        self,
        n: int,
        batch_size: int,
        *,
        shuffle: bool,
        seed: int = 0,
        epoch: int = 0,
        rank: int = 0,
        world: int = 1,
        start: int = 0,
    ) -> None:
        if not 0 <= rank < world:
            raise ValueError(f"rank {rank} outside a world of {world} processes")
        if batch_size < world:
            raise ValueError(
                f"the global batch size {batch_size} must be at least the number of processes {world}"
            )
        if n < world:
            raise ValueError(f"{n} images cannot be shared among {world} processes")
        self.n, self.batch_size, self.shuffle, self.seed = n, batch_size, shuffle, seed
        self.epoch, self.rank, self.world, self.start = epoch, rank, world, start

    def global_batches(self) -> list[list[int]]:
        if self.shuffle:
            order = torch.randperm(
                self.n, generator=torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
            )
        else:
            order = torch.arange(self.n)
        batches = [b.tolist() for b in order.split(self.batch_size)]
        if len(batches) > 1 and len(batches[-1]) < self.world:
            last = batches.pop()
            batches[-1] += last
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        for b in self.global_batches()[self.start :]:
            yield b[self.rank :: self.world]

    def __len__(self) -> int:
        return max(0, len(self.global_batches()) - self.start)


class _Loader(torch.utils.data.DataLoader):
    """A DataLoader that raises a worker's failure as one line naming the file."""

    def __iter__(self) -> Iterator[Any]:
        for batch in super().__iter__():
            if isinstance(batch, _Failed):
                raise (BadImageError if batch.bad_image else RuntimeError)(batch.message)
            yield batch


def make_loader(
    dataset: StreamingFolder,
    batch_size: int,
    *,
    shuffle: bool,
    epoch: int = 0,
    workers: int = 0,
    rank: int = 0,
    world: int = 1,
    start: int = 0,
    pin_memory: bool = False,
) -> torch.utils.data.DataLoader:
    """A DataLoader over this process's slice of the epoch's global batches (``batch_size`` is global),
    from step ``start`` of the epoch."""
    dataset.set_epoch(epoch)
    sampler = GlobalBatchSampler(
        len(dataset),
        batch_size,
        shuffle=shuffle,
        seed=dataset.seed,
        epoch=epoch,
        rank=rank,
        world=world,
        start=start,
    )
    return _Loader(
        dataset,
        batch_sampler=sampler,
        num_workers=workers,
        collate_fn=collate_uint8,
        pin_memory=pin_memory,
        prefetch_factor=4 if workers else None,
    )


# -------------------------------------------------------------------------------------- on the device


def finish_batch(
    x: torch.Tensor,
    mean: Sequence[float],
    std: Sequence[float],
    *,
    lighting: float = 0.0,
    pca: tuple[torch.Tensor, torch.Tensor] | None = None,
    jitter: float = 0.0,
    gen: torch.Generator | None = None,
) -> torch.Tensor:
    """uint8 N×C×H×W (already on the device) → normalized float32, with the papers' colour augmentation.

    ``jitter``: brightness, contrast and saturation each scaled by a factor in [1−jitter, 1+jitter]
    (Howard 2013's photometric distortions, used for GoogLeNet); ``lighting``: AlexNet's PCA noise of this
    standard deviation along ``pca`` (eigenvalues, eigenvectors on the [0, 1] scale). ``mean``, ``std``: per
    channel on the [0, 1] scale. Random numbers come from ``gen`` on the CPU.
    """
    n, c = x.shape[:2]
    out = x.float() / 255
    if jitter:
        f = (torch.rand(n, 3, generator=gen) * 2 - 1) * jitter + 1
        f = f.to(out.device)
        grey = (out * torch.tensor([0.299, 0.587, 0.114], device=out.device)[:c].view(1, -1, 1, 1)).sum(
            1, True
        )
        out = out * f[:, 0].view(-1, 1, 1, 1)  # brightness
        m = grey.mean((2, 3), keepdim=True) * f[:, 0].view(-1, 1, 1, 1)
        out = (out - m) * f[:, 1].view(-1, 1, 1, 1) + m  # contrast
        g = (out * torch.tensor([0.299, 0.587, 0.114], device=out.device)[:c].view(1, -1, 1, 1)).sum(1, True)
        out = ((out - g) * f[:, 2].view(-1, 1, 1, 1) + g).clamp_(0, 1)  # saturation
    if lighting:
        if pca is None:
            raise ValueError("lighting noise needs the PCA of the training colours (pca=(eigval, eigvec))")
        eigval, eigvec = pca
        alpha = torch.randn(n, eigval.numel(), generator=gen) * lighting
        out = out + ((alpha * eigval) @ eigvec.T).to(out.device).view(n, c, 1, 1)
    m = torch.tensor(mean, dtype=torch.float32, device=out.device).view(1, c, 1, 1)
    return (out - m) / torch.tensor(std, dtype=torch.float32, device=out.device).view(1, c, 1, 1)


@dataclass
class StreamSplits:
    """Streamed train / val splits with the statistics :func:`finish_batch` needs.

    ``augment`` names the paper's decode-time augmentation (:data:`convzoo.data.paper_augment.PAPER_AUGMENTS`).
    """

    name: str
    train: FolderIndex
    val: FolderIndex | None
    augment: str
    crop: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    pca: tuple[torch.Tensor, torch.Tensor]
    on_bad: str = "error"
    notes: list[str] = field(default_factory=list)

    @property
    def classes(self) -> list[str]:
        return list(self.train.classes)

    @property
    def image_size(self) -> tuple[int, int, int]:
        return (3, self.crop, self.crop)

    def train_loader(
        self,
        batch_size: int,
        *,
        epoch: int,
        seed: int = 0,
        workers: int = 0,
        rank: int = 0,
        world: int = 1,
        start: int = 0,
    ) -> torch.utils.data.DataLoader:
        """This process's batches of epoch ``epoch`` from step ``start``, augmented as the paper did
        (``batch_size`` is global)."""
        from convzoo.data.paper_augment import train_transform

        ds = StreamingFolder(
            self.train, train_transform(self.augment, self.crop), seed=seed, on_bad=self.on_bad
        )
        return make_loader(
            ds, batch_size, shuffle=True, epoch=epoch, workers=workers, rank=rank, world=world, start=start
        )

    def finish(self, x: torch.Tensor, *, train: bool, gen: torch.Generator | None = None) -> torch.Tensor:
        """Normalize a uint8 batch on its device, adding the paper's colour augmentation when ``train``."""
        from convzoo.data.paper_augment import PAPER_AUGMENTS

        if not train:
            return finish_batch(x, self.mean, self.std)
        spec = PAPER_AUGMENTS[self.augment]
        return finish_batch(
            x, self.mean, self.std, lighting=spec.lighting, pca=self.pca, jitter=spec.jitter, gen=gen
        )


def stream_splits(
    root: str | os.PathLike[str],
    *,
    augment: str = "center",
    crop: int = 224,
    per_class: int | None = None,
    stats_images: int = 256,
    on_bad: str = "error",
    val_split: str = "val",
) -> StreamSplits:
    """Index ``root/train`` (and ``root/<val_split>`` if present) and estimate the colour statistics
    (per-channel mean and std, the RGB PCA for lighting noise) from ``stats_images`` evenly spaced training
    images."""
    from convzoo.data.paper_augment import PAPER_AUGMENTS, estimate_stats

    if augment not in PAPER_AUGMENTS:
        raise ValueError(f"unknown paper augmentation {augment!r}; use one of: {', '.join(PAPER_AUGMENTS)}")
    train = index_split(root, "train", on_bad=on_bad)
    val = (
        index_split(root, val_split, classes=train.classes, on_bad=on_bad)
        if (Path(root) / val_split).is_dir()
        else None
    )
    if per_class is not None:
        train = train.per_class(per_class)
        val = val.per_class(per_class) if val is not None else None
    for split in (train, val):
        if split is not None:
            require_two_classes(split)
    mean, std, pca = estimate_stats(train, stats_images, on_bad=on_bad)
    return StreamSplits(str(root), train, val, augment, crop, mean, std, pca, on_bad)
