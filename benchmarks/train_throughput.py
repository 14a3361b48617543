"""Training throughput of ``convzoo train`` beside a reference loop written the common way, in one run.

Ours: the trainer itself (uint8 images in memory, pad-and-crop + flip as batch tensor ops, bf16 autocast where
the CPU has native bf16, channels_last) with the ``fast`` recipe's settings at batch 128 and the reference's pad-4 crops.
Reference: ``torchvision.datasets.ImageFolder`` of PIL images, ``DataLoader`` (2 workers), ``RandomCrop(32,
4)``,
``RandomHorizontalFlip``, ``ToTensor``, ``Normalize``, fp32, NCHW, SGD with momentum.

Both run on the same CIFAR-10 JPEG training images, alternately (ABAB) so a neighbour's load hits both alike.
Model-FLOP utilization = (training FLOPs per image, counted by ``FlopCounterMode`` for forward + backward) x
images/s, divided by the FLOP/s of a large fp32 matrix multiply measured in the same run (and, for reference,
a bf16 one).

    python benchmarks/train_throughput.py [--model resnet20_cifar] [--steps 25] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

import convzoo
from convzoo.data import load_data
from convzoo.data.datasets import DataSplits, _cifar10_jpg_default
from convzoo.train import TrainConfig, get_recipe, train
from convzoo.trust_write import owned_under, write_file

RESULTS = Path(__file__).resolve().parent / "results"  # files here are the benchmarks' to replace


def matmul_flops(dtype: torch.dtype, n: int = 2048, reps: int = 8) -> float:
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    for _ in range(2):
        a @ b
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best


def train_flops_per_image(model_name: str, batch: int = 8) -> float:
    model = convzoo.create_model(model_name, num_classes=10)
    x = torch.randn(batch, 3, 32, 32)
    with FlopCounterMode(display=False) as fc:
        F.cross_entropy(model(x), torch.zeros(batch, dtype=torch.long)).backward()
    return fc.get_total_flops() / batch


def ours(model: str, data: DataSplits, batch: int, steps: int, warmup: int, out: Path) -> float:
    recipe = get_recipe("fast").replace(  # the reference's augmentation: pad-4 crops and flips, full size
        batch_size=batch,
        iterations=warmup + steps,
        epochs=None,
        augment="crop:4,flip",
        small_crops={},
        lookahead={},
    )
    cfg = TrainConfig(
        model=model,
        data="cifar10-jpg",
        recipe=recipe,
        out_dir=str(out),
        name=f"bench-{time.time_ns()}",
        progress=False,
        checkpoint_minutes=1e9,
    )
    # no evaluation split: only training steps are timed (the trainer times each step)
    res = train(
        cfg, data=DataSplits(data.name, data.train, None, None, data.mean, data.std), log=lambda s: None
    )
    return batch / statistics.median(res.step_times[warmup:])


def reference(model_name: str, root: Path, mean, std, batch: int, steps: int, warmup: int) -> float:
    import torchvision
    import torchvision.transforms as T

    tf = T.Compose(
        [T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.ToTensor(), T.Normalize(mean, std)]
    )
    ds = torchvision.datasets.ImageFolder(str(root / "train"), transform=tf)
    loader = torch.utils.data.DataLoader(
        ds, batch_size=batch, shuffle=True, num_workers=2, drop_last=True, persistent_workers=False
    )
    model = convzoo.create_model(model_name, num_classes=10)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    times = []
    it = iter(loader)
    t = time.perf_counter()
    for _ in range(warmup + steps):
        x, y = next(it)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        now = time.perf_counter()
        times.append(now - t)  # includes waiting for the loader, as the common loop does
        t = now
    del it
    return batch / statistics.median(times[warmup:])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="resnet20_cifar")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=25)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--out", default="/tmp/convzoo-bench-runs")
    p.add_argument("--json", help="also write the results here")
    a = p.parse_args()
    root = _cifar10_jpg_default()
    if not root.is_dir():
        raise SystemExit(f"CIFAR-10 JPEG folder not found at {root}; set CONVZOO_CIFAR10_JPG")
    t = time.perf_counter()
    data = load_data("cifar10-jpg")
    print(
        f"loaded {len(data.train)} training images in {time.perf_counter() - t:.1f} s (decoded-uint8 cache)"
    )
    fp32 = matmul_flops(torch.float32)
    bf16 = matmul_flops(torch.bfloat16)
    flops_img = train_flops_per_image(a.model)
    print(
        f"peak: fp32 matmul {fp32 / 1e9:.1f} GFLOP/s, bf16 matmul {bf16 / 1e9:.1f} GFLOP/s; "
        f"{a.model}: {flops_img / 1e6:.1f} MFLOP per training image (forward + backward)"
    )
    res: dict[str, list[float]] = {"ours": [], "reference": []}
    for r in range(a.rounds):
        res["reference"].append(reference(a.model, root, data.mean, data.std, a.batch, a.steps, a.warmup))
        res["ours"].append(ours(a.model, data, a.batch, a.steps, a.warmup, Path(a.out)))
        print(f"round {r + 1}: reference {res['reference'][-1]:.0f} img/s, ours {res['ours'][-1]:.0f} img/s")
    o, ref = max(res["ours"]), max(res["reference"])
    summary = {
        "model": a.model,
        "batch": a.batch,
        "threads": torch.get_num_threads(),
        "ours_img_s": o,
        "reference_img_s": ref,
        "ratio": o / ref,
        "fp32_matmul_gflops": fp32 / 1e9,
        "bf16_matmul_gflops": bf16 / 1e9,
        "train_mflop_per_image": flops_img / 1e6,
        "mfu_ours_vs_fp32_peak": o * flops_img / fp32,
        "mfu_ours_vs_bf16_peak": o * flops_img / bf16,
        "mfu_reference_vs_fp32_peak": ref * flops_img / fp32,
        "rounds": res,
    }
    print(f"ours {o:.0f} img/s vs reference {ref:.0f} img/s: {o / ref:.2f}x (best of {a.rounds} rounds)")
    print(
        f"MFU: ours {100 * summary['mfu_ours_vs_fp32_peak']:.1f}% of fp32 matmul peak "
        f"({100 * summary['mfu_ours_vs_bf16_peak']:.1f}% of bf16 peak); reference "
        f"{100 * summary['mfu_reference_vs_fp32_peak']:.1f}% of fp32 peak"
    )
    if a.json:
        write_file(a.json, json.dumps(summary, indent=2), owned=owned_under(RESULTS))


if __name__ == "__main__":
    main()
