"""Peak memory of one DenseNet training step with and without ``memory_efficient`` (Pleiss et al. 2017).

Each configuration runs in a fresh Python process, so its peak resident set size (``ru_maxrss``) is its own.
The child reports the peak before the step (interpreter, torch, weights, optimizer) and after one step
(forward, backward, SGD update) at CIFAR size; the difference is the step's own memory, mostly the
activations kept for backward. On CUDA it reports ``torch.cuda.max_memory_allocated`` instead.

    python benchmarks/densenet_memory.py                                   # DenseNet-BC (190, 40), batch 64
    python benchmarks/densenet_memory.py --model densenet_bc100_k12_cifar --batch-size 64

The plain DenseNet-BC (L=190, k=40) at batch 64 keeps about 20 GB of activations on the CPU; pass a
smaller ``--batch-size`` on a small machine (memory grows linearly with it).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time


def child(args: argparse.Namespace) -> None:
    import torch

    import convzoo

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    model = convzoo.create_model(args.model, memory_efficient=args.efficient).to(device).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    x = torch.randn(args.batch_size, *convzoo.model_info(args.model).input_size, device=device)
    y = torch.randint(0, model.num_classes, (args.batch_size,), device=device)
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.max_memory_allocated() / 2**20
    else:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
    start = time.perf_counter()
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    seconds = time.perf_counter() - start
    print(json.dumps({"before_mib": before, "peak_mib": peak, "seconds": seconds, "loss": loss.item()}))


def run_one(args: argparse.Namespace, efficient: bool) -> dict[str, float] | None:
    cmd = [
        sys.executable, __file__, "--child", "--model", args.model, "--batch-size", str(args.batch_size),
        "--threads", str(args.threads), "--device", args.device,
    ] + (["--efficient"] if efficient else [])
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        why = "killed, probably out of memory" if proc.returncode < 0 else proc.stderr.strip().splitlines()[-1:]
        print(f"  memory_efficient={efficient}: failed ({why}); try a smaller --batch-size", file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="densenet_bc190_k40_cifar")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="cpu (peak RSS) or cuda (peak allocated)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--efficient", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args)
        return
    what = "peak RSS" if args.device == "cpu" else "peak CUDA memory allocated"
    print(f"{args.model}, batch {args.batch_size} at CIFAR size, one SGD step on {args.device} ({what}):")
    results = {}
    for efficient in (False, True):
        r = run_one(args, efficient)
        if r is None:
            continue
        results[efficient] = r
        step = r["peak_mib"] - r["before_mib"]
        print(
            f"  memory_efficient={efficient!s:5}  peak {r['peak_mib']:9.0f} MiB   step {step:9.0f} MiB"
            f"   time {r['seconds']:7.2f} s   loss {r['loss']:.6f}"
        )
    if len(results) == 2:
        plain, eff = results[False], results[True]
        step_ratio = (plain["peak_mib"] - plain["before_mib"]) / max(eff["peak_mib"] - eff["before_mib"], 1e-9)
        print(
            f"  ratio plain / memory-efficient: peak {plain['peak_mib'] / eff['peak_mib']:.2f}x, "
            f"step {step_ratio:.2f}x; time {eff['seconds'] / plain['seconds']:.2f}x "
            f"(same loss: {plain['loss'] == eff['loss']})"
        )


if __name__ == "__main__":
    main()
