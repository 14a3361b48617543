"""Images/s of the streaming loader beside torchvision's ``ImageFolder`` DataLoader, at equal augmentation.

The benchmark writes its own folder of full-size JPEGs (ImageNet-like: shorter side 300-1200 pixels,
aspect ratio 3/4 to 16/9, a few 12-megapixel photos) to a temporary directory, then times, alternately
(ABAB, so a neighbour's load hits both alike):

* ours: :class:`convzoo.data.stream.StreamingFolder` with the random-resized crop (8-100 % of the area,
  aspect 3/4-4/3) and flips, decoded with JPEG DCT downscaling (``draft``), uint8 batches, then
  :func:`convzoo.data.stream.finish_batch` (normalization) in the main process;
* torchvision: ``ImageFolder`` + ``RandomResizedCrop(224)`` + ``RandomHorizontalFlip`` + ``ToTensor`` +
  ``Normalize`` in the workers.

Both use the same DataLoader workers and batch size and read the whole folder once per repetition.

    python benchmarks/loader_speed.py [--images 400] [--workers 2] [--batch 64] [--reps 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from convzoo.data.paper_augment import PaperAugment, _Transform
from convzoo.data.stream import StreamingFolder, finish_batch, index_split, make_loader
from convzoo.trust_write import owned_under, write_file

RESULTS = Path(__file__).resolve().parent / "results"  # files here are the benchmarks' to replace

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def make_folder(root: Path, images: int, classes: int = 10, seed: int = 0) -> None:
    """``images`` JPEGs (quality 90) of smooth colour gradients with noise, in ``classes`` class folders."""
    rng = np.random.default_rng(seed)
    for i in range(images):
        short = 3000 if i % 50 == 0 else int(rng.integers(300, 1200))
        aspect = float(np.exp(rng.uniform(np.log(3 / 4), np.log(16 / 9))))
        w, h = (int(short * aspect), short) if aspect >= 1 else (short, int(short / aspect))
        yy, xx = np.mgrid[0:h:4, 0:w:4]
        small = np.stack([(xx * (c + 1) + yy * (3 - c)) % 256 for c in range(3)], -1).astype(np.uint8)
        img = Image.fromarray(small).resize((w, h), Image.BILINEAR)
        noise = rng.integers(-12, 13, (h, w, 3))
        arr = (np.asarray(img, dtype=np.int16) + noise).clip(0, 255).astype(np.uint8)
        folder = root / "train" / f"c{i % classes}"
        folder.mkdir(parents=True, exist_ok=True)
        write_file(folder / f"{i:05d}.JPEG", lambda p, a=arr: Image.fromarray(a).save(p, format="JPEG", quality=90))


def ours(root: Path, workers: int, batch: int) -> float:
    spec = PaperAugment("benchmark: torchvision's RandomResizedCrop + flip", "area")
    ds = StreamingFolder(index_split(root, "train"), _Transform(spec, 224))
    t, n = time.perf_counter(), 0
    for x, _, _ in make_loader(ds, batch, shuffle=True, workers=workers):
        n += len(finish_batch(x, MEAN, STD))
    return n / (time.perf_counter() - t)


def torchvision_loader(root: Path, workers: int, batch: int) -> float:
    from torchvision import datasets, transforms

    tf = transforms.Compose(
        [
            transforms.RandomResizedCrop(224),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            transforms.Normalize(MEAN, STD),
        ]
    )
    loader = torch.utils.data.DataLoader(
        datasets.ImageFolder(str(root / "train"), tf), batch_size=batch, shuffle=True, num_workers=workers
    )
    t, n = time.perf_counter(), 0
    for x, _ in loader:
        n += len(x)
    return n / (time.perf_counter() - t)


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        return next(
            line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name")
        )
    except (OSError, StopIteration, subprocess.SubprocessError):
        return platform.processor() or "unknown"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=400)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--json", type=Path)
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_folder(root, a.images)
        mb = sum(f.stat().st_size for f in root.rglob("*.JPEG")) / 2**20
        rates: dict[str, list[float]] = {"ours": [], "torchvision": []}
        for _ in range(a.reps):
            rates["ours"].append(ours(root, a.workers, a.batch))
            rates["torchvision"].append(torchvision_loader(root, a.workers, a.batch))
    med = {k: statistics.median(v) for k, v in rates.items()}
    result = {
        "images": a.images,
        "folder_mb": round(mb, 1),
        "workers": a.workers,
        "batch": a.batch,
        "reps": a.reps,
        "images_per_s": {k: round(v, 1) for k, v in med.items()},
        "all_runs": {k: [round(x, 1) for x in v] for k, v in rates.items()},
        "ratio": round(med["ours"] / med["torchvision"], 2),
        "cpu": cpu_model(),
        "cores": torch.get_num_threads(),
        "command": f"python benchmarks/loader_speed.py --images {a.images} --workers {a.workers} "
        f"--batch {a.batch} --reps {a.reps}",
    }
    print(json.dumps(result, indent=2))
    if a.json:
        write_file(a.json, json.dumps(result, indent=2) + "\n", owned=owned_under(RESULTS))


if __name__ == "__main__":
    main()
