"""Peak memory of one training step of pre-activation ResNet-1001 on CIFAR, with and without checkpointing.

``checkpointing=True`` keeps only the inputs of √n-block segments of each stage and recomputes the rest in the
backward pass. Each configuration runs in a fresh Python process so that its peak resident set size
(``ru_maxrss``; tracemalloc does not see torch's allocations) is its own. The child reports the peak before the
step (interpreter, torch, weights, optimizer state) and after one SGD step; the difference is the step's own
memory, almost all of it activations kept for the backward pass, which grow linearly with the batch.

    python benchmarks/residual_memory.py                        # batch 64, both configurations
    python benchmarks/residual_memory.py --plain-batch-size 16  # measure the plain step at 16, scale to 64

The plain step at batch 64 needs about 10 GiB; on a small machine measure it at a smaller batch.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

GIB = 1024.0


def child(args: argparse.Namespace) -> None:
    import torch

    import convzoo

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    model = convzoo.create_model(args.model, checkpointing=args.checkpointing).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    x = torch.randn(args.batch_size, *convzoo.model_info(args.model).input_size)
    y = torch.randint(0, model.num_classes, (args.batch_size,))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB → MiB
    start = time.perf_counter()
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"before_mib": before, "peak_mib": peak, "seconds": seconds, "loss": loss.item()}))


def measure(args: argparse.Namespace, checkpointing: bool, batch: int) -> dict[str, float]:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        "--model",
        args.model,
        "--batch-size",
        str(batch),
        "--threads",
        str(args.threads),
    ] + (["--checkpointing"] if checkpointing else [])
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(
            f"the {'checkpointed' if checkpointing else 'plain'} run failed "
            f"(exit {proc.returncode}; killed for memory?):\n{proc.stderr[-2000:]}"
        )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="preact_resnet1001_cifar")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument(
        "--plain-batch-size",
        type=int,
        default=None,
        help="batch for the run without checkpointing (default: --batch-size); scaled linearly",
    )
    p.add_argument("--threads", type=int, default=2)
    p.add_argument(
        "--only", choices=["checkpointing", "plain"], default=None, help="measure one configuration"
    )
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--checkpointing", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args)
        return
    rows = []
    if args.only != "plain":
        rows.append(("checkpointing", measure(args, True, args.batch_size), args.batch_size))
    if args.only != "checkpointing":
        plain_batch = args.plain_batch_size or args.batch_size
        rows.append(("plain", measure(args, False, plain_batch), plain_batch))
    print(f"{args.model}, one SGD step at batch {args.batch_size}, {args.threads} threads (peak RSS)")
    print(
        f"{'config':<14} {'batch':>5} {'before GiB':>10} {'peak GiB':>9} {'step GiB':>9} {'at batch':>9} {'s':>6}"
    )
    for name, r, batch in rows:
        step = (r["peak_mib"] - r["before_mib"]) / GIB
        scaled = r["before_mib"] / GIB + step * args.batch_size / batch
        print(
            f"{name:<14} {batch:>5} {r['before_mib'] / GIB:>10.2f} {r['peak_mib'] / GIB:>9.2f} {step:>9.2f} "
            f"{scaled:>9.2f} {r['seconds']:>6.1f}"
        )
    print(f"'at batch' = peak at batch {args.batch_size} (measured, or scaled linearly from the run's batch)")


if __name__ == "__main__":
    main()
