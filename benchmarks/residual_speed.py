"""Throughput of our residual nets against torchvision's, side by side in one process on this CPU.

For each pair (ours, torchvision's) the two models run alternately — repeat r times ours-then-theirs, then
theirs-then-ours — so that drift in the machine's load hits both equally. Images/s come from the best (least
disturbed) time per batch, the usual estimator on a shared machine; the ratio of medians is printed too.
``eval`` times a forward pass under ``torch.no_grad``; ``train`` a forward and backward pass.
The ratio is ours / torchvision's throughput (≥ 1.0 means we are at least as fast).

    python benchmarks/residual_speed.py                       # batch 8, 224×224, the four nets, eval+train
    python benchmarks/residual_speed.py --models resnet50 --repeats 3 --json out.json

Our ResNet-50 runs in the V1.5 form (stride in the 3×3) so that both sides compute the same function.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
import torchvision

import convzoo
from convzoo.trust_write import owned_under, write_file

RESULTS = Path(__file__).resolve().parent / "results"  # files here are the benchmarks' to replace

# (our name, our overrides, torchvision's name)
PAIRS = {
    "resnet50": ({"v1_5": True}, "resnet50"),
    "resnext50_32x4d": ({}, "resnext50_32x4d"),
    "densenet121": ({}, "densenet121"),
    "wide_resnet50_2": ({}, "wide_resnet50_2"),
}


def step_time(model: torch.nn.Module, x: torch.Tensor, mode: str) -> float:
    start = time.perf_counter()
    if mode == "eval":
        with torch.no_grad():
            model(x)
    else:
        model(x).sum().backward()
    elapsed = time.perf_counter() - start
    if mode == "train":
        model.zero_grad(set_to_none=True)
    return elapsed


def compare(name: str, mode: str, batch: int, size: int, repeats: int) -> dict[str, float]:
    overrides, tv_name = PAIRS[name]
    torch.manual_seed(0)
    ours = convzoo.create_model(name, **overrides)
    theirs = torchvision.models.get_model(tv_name)
    for m in (ours, theirs):
        m.train(mode == "train")
    x = torch.randn(batch, 3, size, size)
    for m in (ours, theirs):  # warm-up: allocator, oneDNN primitive caches
        step_time(m, x, mode)
    times: dict[str, list[float]] = {"ours": [], "torchvision": []}
    for r in range(repeats):
        order = [("ours", ours), ("torchvision", theirs)]
        for label, m in order if r % 2 == 0 else order[::-1]:
            times[label].append(step_time(m, x, mode))
    ours_ips, tv_ips = batch / min(times["ours"]), batch / min(times["torchvision"])
    return {
        "model": name,
        "mode": mode,
        "ours_img_s": ours_ips,
        "torchvision_img_s": tv_ips,
        "ratio": ours_ips / tv_ips,
        "median_ratio": statistics.median(times["torchvision"]) / statistics.median(times["ours"]),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=list(PAIRS), choices=list(PAIRS))
    p.add_argument("--modes", nargs="+", default=["eval", "train"], choices=["eval", "train"])
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--repeats", type=int, default=6, help="timed batches per model and mode (alternating)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    p.add_argument("--json", default=None, help="also write the results to this file")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(
        f"batch {args.batch_size}, {args.size}×{args.size}, {torch.get_num_threads()} threads, "
        f"torch {torch.__version__}, torchvision {torchvision.__version__}"
    )
    print(f"{'model':<17} {'mode':<6} {'ours img/s':>10} {'tv img/s':>9} {'ratio':>6} {'median ratio':>12}")
    rows = []
    for name in args.models:
        for mode in args.modes:
            r = compare(name, mode, args.batch_size, args.size, args.repeats)
            rows.append(r)
            print(
                f"{name:<17} {mode:<6} {r['ours_img_s']:>10.2f} {r['torchvision_img_s']:>9.2f} "
                f"{r['ratio']:>6.3f} {r['median_ratio']:>12.3f}",
                flush=True,
            )
    if args.json:
        write_file(args.json, json.dumps(rows, indent=2), owned=owned_under(RESULTS))


if __name__ == "__main__":
    main()
