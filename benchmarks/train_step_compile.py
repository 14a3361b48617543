"""Does ``torch.compile`` speed up a CPU training step? Eager vs compiled SGD steps, alternated in one run.

Same model, same batch (128 random 32×32 images, channels_last), same optimizer; the compiled model is warmed
up (compilation time reported separately), then steps alternate eager / compiled so load drift hits both.

    python benchmarks/train_step_compile.py [--model resnet20_cifar] [--threads 1] [--steps 6]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

import convzoo


def _model(name: str) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(0)
    m = convzoo.create_model(name, num_classes=10).to(memory_format=torch.channels_last)
    return m, torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="resnet20_cifar")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=6)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    x = torch.randn(128, 3, 32, 32).to(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (128,))
    eager, eager_opt = _model(args.model)
    plain, compiled_opt = _model(args.model)
    compiled = torch.compile(plain)

    def step(f: torch.nn.Module, opt: torch.optim.Optimizer) -> float:
        t = time.perf_counter()
        opt.zero_grad()
        F.cross_entropy(f(x), y).backward()
        opt.step()
        return time.perf_counter() - t

    warm = step(compiled, compiled_opt) + step(compiled, compiled_opt)
    step(eager, eager_opt)
    te, tc = [], []
    for _ in range(args.steps):
        te.append(step(eager, eager_opt))
        tc.append(step(compiled, compiled_opt))
    e, c = statistics.median(te), statistics.median(tc)
    print(f"{args.model}, batch 128, {args.threads} thread(s): compile + first steps {warm:.0f} s")
    print(f"eager {128 / e:.0f} img/s, compiled {128 / c:.0f} img/s: compiled is {e / c:.2f}× eager")


if __name__ == "__main__":
    main()
