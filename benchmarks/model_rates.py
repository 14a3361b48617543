"""How fast does each repro network train per multiply-add, relative to ResNet-20? The multiples `repro list`
estimates with (``convzoo.repro.estimate.MODEL_RATE``), measured side by side in one run.

One SGD step of a 128-image 32×32 batch per model (channels_last, cross-entropy, momentum), models alternated
round by round so that a change of load hits them alike; the median step of the rounds gives each model's
MAC/s (MACs from the inspector; a training image counts 3×, as the estimator counts it) and its multiple of
ResNet-20's. The ratios are what to quote on a busy machine; the absolute rates only on a quiet one.

    python benchmarks/model_rates.py [--threads 1] [--rounds 3] [--models resnet20_cifar,resnet110_cifar,...]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
import torch.nn.functional as F

import convzoo
from convzoo.inspect import summary

MODELS = (
    "resnet20_cifar",
    "resnet56_cifar",
    "resnet110_cifar",
    "plain56_cifar",
    "nin_cifar10",
    "cnn4_cifar",
    "allcnn_c",
    "densenet_bc100_k12_cifar",
)


def _step_timer(name: str, batch: int) -> tuple[int, object]:
    torch.manual_seed(0)
    m = convzoo.create_model(name, num_classes=10).to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(batch, 3, 32, 32).to(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (batch,))

    def step() -> float:
        t = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(m(x), y).backward()
        opt.step()
        return time.perf_counter() - t

    return summary(name, (3, 32, 32), num_classes=10).total_macs, step


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Prints the table; returns each model's rate per MAC as a multiple of ResNet-20's (or the first model's)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--models", default=",".join(MODELS))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    names = args.models.split(",")
    timers = {n: _step_timer(n, args.batch) for n in names}
    for _, step in timers.values():
        step()  # warm-up: first-call allocations
    times: dict[str, list[float]] = {n: [] for n in names}
    load = [os.getloadavg()[0]]
    for _ in range(args.rounds):
        for n in names:
            times[n].append(timers[n][1]())
    load.append(os.getloadavg()[0])
    rate = {n: 3 * timers[n][0] * args.batch / statistics.median(times[n]) for n in names}
    base = rate.get("resnet20_cifar", next(iter(rate.values())))
    print(f"{args.threads} thread(s), batch {args.batch}, {args.rounds} rounds, load {load[0]:.1f} → {load[1]:.1f}")
    for n in names:
        macs, med = timers[n][0], statistics.median(times[n])
        print(
            f"{n:26s} {macs / 1e6:7.1f} M MACs  step {med:6.2f} s  {args.batch / med:6.1f} img/s  "
            f"{rate[n] / 1e9:5.1f} G MAC/s  {rate[n] / base:4.2f}× ResNet-20's rate"
        )
    return {n: rate[n] / base for n in names}


if __name__ == "__main__":
    main()
