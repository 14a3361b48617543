"""Degradation's four arms at the long recipe on one GPU: images/s and wall time per arm.

The arms (plain-20, plain-56, ResNet-20, ResNet-56) train exactly as ``convzoo repro run degradation --budget
long`` trains them (:func:`convzoo.repro.runner.arm_config`: all 50,000 CIFAR-10 training images, 22 epochs,
one-cycle with linear decay, batch 128, evaluation every 5 epochs on the 10,000 test images), on the GPU path
of the trainer: the uint8 images resident on the device and augmented there, bf16 autocast, channels_last,
``torch.compile`` (``--no-compile`` to leave it out) and no per-step host sync (the losses are read once every
:data:`convzoo.train.trainer.SYNC_EVERY` steps).

    python benchmarks/gpu_long.py                                     # the whole budget, 4 arms × 22 epochs
    python benchmarks/gpu_long.py --epochs 2                          # a short check (the schedule shortened)
    python benchmarks/gpu_long.py --device cpu --data digits --per-class 5 --image-size 32 --epochs 1 \\
        --arms resnet20                                               # a smoke on the CPU

Per arm it prints the training images/s over the whole run (compilation included), the last epoch's
images/s (steady state), the wall time (evaluations and checkpoints included), and the final test error;
``--json PATH`` also writes them with the card's name. The CIFAR-10 images are read from ``--data`` (default
``cifar10-jpg``, the shared folder; a machine without it and without network needs a folder given).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

ARMS = ("plain20", "plain56", "resnet20", "resnet56")


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    from convzoo.cpuinfo import native_bf16_cpu

    try:
        model = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        model = "CPU"
    return f"{model} ({torch.get_num_threads()} threads, native bf16: {'yes' if native_bf16_cpu() else 'no'})"


def run_arms(args: argparse.Namespace, log: Any = print, done: Any = None) -> list[dict[str, Any]]:
    """Train the arms one after another; ``done(rows)`` is called after each (so a cut-off run keeps its
    finished arms' figures)."""
    from convzoo.repro.estimate import arm_recipe
    from convzoo.repro.registry import get_claim
    from convzoo.repro.runner import arm_config, budget_data
    from convzoo.train.parts import resolve_device
    from convzoo.train.trainer import train

    device = resolve_device(args.device)
    claim = get_claim("degradation")
    b = claim.budget("long")
    changes: dict[str, Any] = {}
    if args.epochs is not None:
        changes["epochs"] = args.epochs
    if args.per_class is not None:
        changes["per_class"] = args.per_class
    if args.image_size is not None:
        changes["image_size"] = args.image_size
    b = dataclasses.replace(b, **changes)
    data = args.data or b.data
    out = Path(args.out or tempfile.mkdtemp(prefix="gpu_long-"))
    splits: dict[tuple[float, int], Any] = {}
    rows = []
    log(f"degradation, long budget ({b.epochs} epochs, eval every {b.eval_every}) on {device_name(device)}")
    for name in args.arms:
        arm = claim.arm(name)
        r = arm_recipe(arm, b)
        key = (float(r.val_size), args.seed if r.val_size else 0)
        if key not in splits:
            t0 = time.perf_counter()
            splits[key] = budget_data(b, data, r.val_size, key[1])
            log(f"data {data}: {len(splits[key].train)} training images loaded in {time.perf_counter() - t0:.0f} s")
        cfg = arm_config(arm, b, args.seed, data, len(splits[key].train), out, progress=args.progress)
        cfg = dataclasses.replace(
            cfg, device=str(device), compile=not args.no_compile, resume=False,
            name=f"{cfg.name}-{time.strftime('%Y%m%d-%H%M%S')}", checkpoint_minutes=1e9,
        )  # fmt: skip
        t0 = time.perf_counter()
        res = train(cfg, data=splits[key], log=log if args.verbose else (lambda s: None))
        wall = time.perf_counter() - t0
        last = res.metrics[-1] if res.metrics else {}
        row = {
            "arm": name,
            "model": arm.model,
            "epochs": b.epochs,
            "train_images": len(splits[key].train),
            "images_per_s": res.images_per_s,
            "last_epoch_images_per_s": last.get("images_per_s"),
            "wall_s": wall,
            "test_err": res.final_test_err,
            "train_err": last.get("train_err"),
            "compile": cfg.compile,
        }
        rows.append(row)
        if done is not None:
            done(rows)
        log(
            f"{name:9s} {res.images_per_s:9.0f} img/s (whole run, compile included)  "
            f"{row['last_epoch_images_per_s'] or 0:9.0f} img/s (last epoch)  wall {wall:8.1f} s  "
            f"test err {res.final_test_err if res.final_test_err is not None else float('nan'):.2f}%"
        )
    return rows


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--device", default="cuda", help="cuda (default), cuda:N, or cpu for a smoke")
    ap.add_argument("--epochs", type=float, help="train this many epochs instead of the budget's (22)")
    ap.add_argument("--arms", nargs="+", choices=ARMS, default=list(ARMS))
    ap.add_argument("--data", help="a --data spec (default: the budget's, cifar10-jpg)")
    ap.add_argument("--per-class", type=int, help="training images per class (default: all)")
    ap.add_argument("--image-size", type=int, help="resize the images (a digits smoke needs 32)")
    ap.add_argument("--no-compile", action="store_true", help="leave torch.compile out")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", help="folder for the run folders (default: a new temporary folder)")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument("--progress", action=argparse.BooleanOptionalAction, default=False)
    ap.add_argument("--verbose", action="store_true", help="the trainer's own lines")
    args = ap.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        ap.error("no CUDA GPU here: pass --device cpu for a smoke")
    return run_arms(args, done=(lambda rows: _write_json(args, argv, rows)) if args.json else None)


def _write_json(args: argparse.Namespace, argv: list[str] | None, rows: list[dict[str, Any]]) -> None:
    """The figures so far, with the card's name, replacing the file this run wrote after its last arm."""
    from convzoo.train.parts import resolve_device
    from convzoo.trust_write import write_file

    report = {
        "device": device_name(resolve_device(args.device)),
        "torch": torch.__version__,
        "command": "python benchmarks/gpu_long.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "arms": rows,
    }
    write_file(args.json, json.dumps(report, indent=1) + "\n", force=len(rows) > 1)


if __name__ == "__main__":
    main()
