"""Which trainer speed-ups pay on this CPU? The trainer's step against its variants, interleaved in one run.

For each model (ResNet-20 and ResNet-56 on CIFAR-sized images by default) the variants below are timed in
rounds, one sample of each per round, the order rotated every round, so load that comes and goes hits them
alike; the figure kept is the median seconds per image, the ratio is the baseline's median over the variant's, and the
paired ratio the median over rounds of the baseline's sample over the variant's in the same round.

    eager          the trainer's training step today: a batch of 128 uint8 images augmented on the device
                   (pad-4 crop, flip), channels_last, fp32, the loss's finite check, SGD (resnet_cifar's
                   momentum and weight decay): the baseline
    compile        the same step with the model compiled by ``torch.compile`` (inductor), fp32
    compile_bf16   compiled, under bf16 autocast: measured only where the CPU has a native bf16 unit
                   (avx512_bf16 or amx_bf16; elsewhere oneDNN converts and the trainer keeps fp32), or with
                   ``--bf16-emulated`` (then named ``compile_bf16_converted``: oneDNN's software bf16)
    batch256       eager, batch 256, the learning rate scaled linearly (0.2): throughput only
    batch512       eager, batch 512, learning rate 0.4
    eval           :func:`convzoo.train.evaluation.evaluate` (batch 500, eval mode, no grad) over
                   ``--eval-images`` images, per image: the evaluation's share of a long run

From those, the evaluation's share: one 10,000-image evaluation against one 50,000-image training epoch (390
steps of 128), and what ``eval_every=5`` (6 evaluations) and ``eval_every=1`` (30) add to a 30-epoch run.
Results are merged into ``--json`` (one entry per model), so each model may run in its own invocation.

    python benchmarks/trainer_speedups.py --models resnet20_cifar --threads 1 --rounds 6
    python benchmarks/trainer_speedups.py --models resnet56_cifar --threads 1 --rounds 5
    python benchmarks/trainer_speedups.py --from-json benchmarks/results/trainer_speedups.json   # the table
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

import convzoo
from convzoo.data import AugmentSpec, BatchAugment
from convzoo.data.datasets import ImageSet
from convzoo.train.evaluation import evaluate
from convzoo.train.optim import build_optimizer
from convzoo.train.parts import amp_dtype, he_init, native_bf16_cpu, training_loss
from convzoo.train.recipes import get_recipe
from convzoo.trust_write import owned_under, write_file

RESULTS = Path(__file__).resolve().parent / "results"  # files here are the benchmarks' to replace

MEAN, STD = (0.491, 0.482, 0.447), (0.247, 0.243, 0.262)
EPOCH_IMAGES = 390 * 128  # a 50,000-image epoch at batch 128 (the last incomplete batch dropped)
TEST_IMAGES = 10_000
DEFAULT_JSON = Path(__file__).parent / "results" / "trainer_speedups.json"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cpu_flags() -> list[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return sorted(f for f in line.split(":", 1)[1].split() if f.startswith(("avx512", "amx")))
    except OSError:
        pass
    return []


class TrainStep:
    """One optimizer step of the trainer's kind on a fresh model (the same initialisation for every variant)."""

    def __init__(self, model: str, batch: int, *, compiled: bool, dtype: torch.dtype | None, pool: torch.Tensor):
        torch.manual_seed(0)
        net = convzoo.create_model(model, num_classes=10)
        he_init(net)
        self.model = net.to(memory_format=torch.channels_last).train()
        r = get_recipe("resnet_cifar")
        self.optimizer = build_optimizer(
            self.model, r.optimizer, r.lr * batch / 128, momentum=r.momentum, weight_decay=r.weight_decay,
            no_decay_bn_bias=r.no_decay_bn_bias,
        )  # fmt: skip
        self.net: Callable[[torch.Tensor], torch.Tensor] = torch.compile(self.model) if compiled else self.model
        self.batch, self.dtype, self.pool = batch, dtype, pool
        self.labels = torch.randint(0, 10, (len(pool),), generator=torch.Generator().manual_seed(1))
        self.augment = BatchAugment(AugmentSpec.parse("crop:4,flip"), MEAN, STD)
        self.gen = torch.Generator().manual_seed(2)

    def __call__(self) -> float:
        """Seconds per image of one step."""
        t0 = time.perf_counter()
        rows = torch.randint(0, len(self.pool), (self.batch,), generator=self.gen)
        x = self.augment(self.pool[rows], self.gen).contiguous(memory_format=torch.channels_last)
        y = self.labels[rows]
        with torch.autocast("cpu", dtype=self.dtype or torch.bfloat16, enabled=self.dtype is not None):
            loss, logits = training_loss(self.net(x), y, ())
        if not torch.isfinite(loss):
            raise FloatingPointError("the loss became non-finite")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        _ = (loss.item() * len(y), (logits.argmax(1) == y).sum().item())  # the trainer's per-step bookkeeping
        return (time.perf_counter() - t0) / self.batch


class EvalPass:
    """``evaluate`` of a trained-mode model over ``n`` images, as the trainer evaluates (batch 500)."""

    def __init__(self, model: str, n: int, pool: torch.Tensor):
        torch.manual_seed(0)
        self.model = convzoo.create_model(model, num_classes=10).to(memory_format=torch.channels_last).train()
        labels = torch.randint(0, 10, (n,), generator=torch.Generator().manual_seed(3))
        self.data = ImageSet(pool[:n].clone(), labels, [str(i) for i in range(10)])

    def __call__(self) -> float:
        t0 = time.perf_counter()
        evaluate(self.model, self.data, MEAN, STD, device=torch.device("cpu"), channels_last=True)
        return (time.perf_counter() - t0) / len(self.data)


def measure(model: str, args: argparse.Namespace) -> dict[str, Any]:
    pool = torch.randint(0, 256, (max(2048, args.eval_images), 3, 32, 32), dtype=torch.uint8,
                         generator=torch.Generator().manual_seed(0))  # fmt: skip
    native = amp_dtype(torch.device("cpu")) is torch.bfloat16
    variants: dict[str, Callable[[], float]] = {
        "eager": TrainStep(model, 128, compiled=False, dtype=None, pool=pool),
    }
    skipped: dict[str, str] = {}
    if not args.no_compile:
        variants["compile"] = TrainStep(model, 128, compiled=True, dtype=None, pool=pool)
        if native or args.bf16_emulated:  # without a native unit the row is named for what it measures
            key = "compile_bf16" if native else "compile_bf16_converted"
            variants[key] = TrainStep(model, 128, compiled=True, dtype=torch.bfloat16, pool=pool)
    if not native or args.no_compile:
        skipped["compile_bf16"] = (
            "not measured: this CPU has no native bf16 unit (no avx512_bf16 or amx_bf16 in /proc/cpuinfo); "
            "oneDNN would convert bf16 in software, slower than fp32, and the trainer trains in fp32 here"
            if not native
            else "not measured (--no-compile)"
        )
    for b in args.batches:
        variants[f"batch{b}"] = TrainStep(model, b, compiled=False, dtype=None, pool=pool)
    variants["eval"] = EvalPass(model, args.eval_images, pool)

    warm: dict[str, float] = {}
    for name, fn in variants.items():  # the first call compiles; a second settles the allocator
        t0 = time.perf_counter()
        fn()
        warm[name] = time.perf_counter() - t0
        fn()
        print(f"  {model} {name}: first call {warm[name]:.1f} s", file=sys.stderr, flush=True)
    samples: dict[str, list[float]] = {k: [] for k in variants}
    names = list(variants)
    for r in range(args.rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            samples[name].append(variants[name]())
        print(f"  {model} round {r + 1}/{args.rounds} load {os.getloadavg()[0]:.2f}", file=sys.stderr, flush=True)
    med = {k: statistics.median(v) for k, v in samples.items()}
    base = med["eager"]
    rows = {
        k: {
            "s_per_image": med[k],
            "images_per_s": 1 / med[k],
            "ratio": base / med[k],
            # the same round's eager sample over this one, the median over rounds: load shared within a round
            "paired_ratio": statistics.median(e / v for e, v in zip(samples["eager"], samples[k], strict=True)),
            "samples_s_per_image": samples[k],
            "first_call_s": warm[k],
        }
        for k in variants
    }
    epoch_s, eval_s = base * EPOCH_IMAGES, med["eval"] * TEST_IMAGES
    share = {
        "eval_10k_s": eval_s,
        "train_epoch_50k_s": epoch_s,
        "eval_over_epoch": eval_s / epoch_s,
        "eval_every_5_over_30_epochs": 6 * eval_s / (30 * epoch_s),
        "eval_every_1_over_30_epochs": 30 * eval_s / (30 * epoch_s),
    }
    return {"variants": rows, "skipped": skipped, "eval_share": share}


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "| model | variant | img/s | ratio to eager (medians) | paired ratio (per round) | first call (compile) s |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for model, m in report["models"].items():
        for name, v in m["variants"].items():
            if name == "eval":
                ratio, paired = "(evaluation, per image)", ""
            else:
                ratio, paired = f"**{v['ratio']:.2f}×**", f"{v['paired_ratio']:.2f}×"
            lines.append(
                f"| {model} | {name} | {v['images_per_s']:.0f} | {ratio} | {paired} | {v['first_call_s']:.1f} |"
            )
        for name, why in m["skipped"].items():
            lines.append(f"| {model} | {name} | — | {why} | | |")
    lines += ["", "| model | 10k-image eval s | 50k-image epoch s | eval / epoch | eval_every=5, 30 epochs | "
              "eval_every=1, 30 epochs |", "|---|---:|---:|---:|---:|---:|"]  # fmt: skip
    for model, m in report["models"].items():
        s = m["eval_share"]
        lines.append(
            f"| {model} | {s['eval_10k_s']:.0f} | {s['train_epoch_50k_s']:.0f} | {100 * s['eval_over_epoch']:.1f} % "
            f"| +{100 * s['eval_every_5_over_30_epochs']:.1f} % | +{100 * s['eval_every_1_over_30_epochs']:.1f} % |"
        )
    for model, m in report["models"].items():
        lines.append(
            f"\n{model}: {m['cpu']}, {m['threads']} thread(s), {m['rounds']} rounds, torch {m['torch']}, "
            f"load average {m['load_start'][0]:.2f} / {m['load_start'][1]:.2f} / {m['load_start'][2]:.2f} at the "
            f"start, {m['load_end'][0]:.2f} / {m['load_end'][1]:.2f} / {m['load_end'][2]:.2f} at the end"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["resnet20_cifar", "resnet56_cifar"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--batches", nargs="*", type=int, default=[256, 512])
    ap.add_argument("--eval-images", type=int, default=1000)
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("--bf16-emulated", action="store_true", help="measure compile+bf16 even without native bf16")
    ap.add_argument("--json", type=Path, default=DEFAULT_JSON)
    ap.add_argument("--from-json", type=Path, help="print the markdown table of a results file and exit")
    args = ap.parse_args()
    if args.from_json:
        print(markdown(json.loads(args.from_json.read_text())))
        return
    torch.set_num_threads(args.threads)
    report: dict[str, Any] = {"models": {}}
    if args.json.exists():
        report = json.loads(args.json.read_text())
    for model in args.models:
        load0 = os.getloadavg()
        t0 = time.perf_counter()
        m = measure(model, args)
        m.update(
            cpu=cpu_model(), cpu_flags=cpu_flags(), native_bf16=native_bf16_cpu(), threads=args.threads,
            rounds=args.rounds, torch=torch.__version__, load_start=load0, load_end=os.getloadavg(),
            seconds=time.perf_counter() - t0, nice=os.nice(0),
            command="python benchmarks/trainer_speedups.py " + " ".join(sys.argv[1:]),
        )  # fmt: skip
        report["models"][model] = m
        args.json.parent.mkdir(parents=True, exist_ok=True)
        # after every model: an interrupted run keeps what it measured
        write_file(args.json, json.dumps(report, indent=1) + "\n", owned=owned_under(RESULTS))
    print(markdown(report))


if __name__ == "__main__":
    main()
