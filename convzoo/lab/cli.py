"""``convzoo optim`` and ``convzoo schedules``: the optimizer and schedule lab on the command line."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

from convzoo.cli_args import MAX_BATCH, Number, at_most, output_folder, whole_number

__all__ = ["register"]

_OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "amsgrad")
_SURFACES = ("bowl", "ravine", "saddle", "rosenbrock", "beale", "plateau")


def _lr_arg(text: str) -> tuple[str | None, float]:
    """``0.1`` (every optimizer) or ``adam=0.1`` (one optimizer)."""
    name, _, value = text.rpartition("=")
    if name and name not in _OPTIMIZERS:
        raise argparse.ArgumentTypeError(
            f"unknown optimizer {name!r} in --lr {text}; choose from: {', '.join(_OPTIMIZERS)}"
        )
    try:
        lr = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--lr wants a number or NAME=NUMBER (e.g. adam=0.05), got {text!r}"
        ) from None
    if not math.isfinite(lr) or lr <= 0:
        raise argparse.ArgumentTypeError(f"the learning rate must be a positive number, got {text!r}")
    return (name or None), lr


def _rates(pairs: list[tuple[str | None, float]] | None) -> float | dict[str, float] | None:
    if not pairs:
        return None
    common = [lr for name, lr in pairs if name is None]
    named = {name: lr for name, lr in pairs if name is not None}
    if common and named:
        raise ValueError(
            "give --lr either once as a number for every optimizer or as NAME=NUMBER pairs, not both"
        )
    return common[-1] if common else named


def _cmd_optim(args: argparse.Namespace) -> int:
    from convzoo.lab import plots
    from convzoo.lab.surfaces import get_surface
    from convzoo.lab.trajectories import race

    out = Path(args.out)
    surfaces = list(_SURFACES) if "all" in args.surface else list(dict.fromkeys(args.surface))
    rates = _rates(args.lr)
    if isinstance(rates, dict):
        missing = sorted(set(rates) - set(args.optimizers))
        if missing:
            raise ValueError(
                f"--lr names {', '.join(missing)}, which is not among --optimizers {args.optimizers}"
            )
    written: list[Path] = []
    for name in surfaces:
        surf = get_surface(name)
        trajectories = race(surf, args.optimizers, lr=rates, start=args.start, steps=args.steps)
        print(f"{surf.name}: {surf.description}")
        print(f"  {'optimizer':<10} {'lr':>8} {'steps':>6} {'final loss':>12} {'to minimum':>11}  status")
        for t in trajectories:
            gap = "-" if surf.minimum is None else f"{math.dist(t.points[-1], surf.minimum):.3g}"
            print(
                f"  {t.optimizer:<10} {t.lr:>8g} {len(t.points) - 1:>6} {t.losses[-1]:>12.4g} {gap:>11}"
                f"  {t.status}"
            )
            if t.message:
                print(f"warning: {t.message}", file=sys.stderr)
        written.append(plots.plot_trajectories(surf, trajectories, out / f"{surf.name}_trajectories.png"))
        written.append(plots.plot_losses(surf, trajectories, out / f"{surf.name}_loss.png"))
        if not args.no_gif:
            written.append(
                plots.animate_race(
                    surf, trajectories, out / f"{surf.name}_race.gif", frames=args.frames, fps=args.fps
                )
            )
    if args.bias_correction:
        written.append(plots.plot_bias_correction(out / "adam_bias_correction.png"))
    for path in written:
        print(f"wrote {path}")
    return 0


def _cmd_cnn(args: argparse.Namespace) -> int:
    from convzoo.lab.cnn import compare_optimizers

    result = compare_optimizers(
        model=args.model,
        optimizers=args.optimizers,
        lrs=_rates(args.lr),
        epochs=args.epochs,
        per_class=args.per_class,
        batch_size=args.batch_size,
        out_dir=args.out,
        device=args.device,
    )
    print(result.table())
    print(f"wrote {result.plot}")
    print(f"wrote {result.csv}")
    return 0


def _cmd_schedules(args: argparse.Namespace) -> int:
    from convzoo.lab.plots import plot_schedules

    path = plot_schedules(
        Path(args.out) / "schedules.png",
        names=args.names,
        total_steps=args.steps,
        base_lr=args.base_lr,
        warmup_steps=args.warmup_steps,
    )
    print(f"wrote {path}")
    return 0


def register(subparsers: Any) -> None:
    """Add ``optim`` (and ``optim cnn``) and ``schedules`` to the ``convzoo`` command."""
    p = subparsers.add_parser(
        "optim",
        help="race torch.optim optimizers on 2-D surfaces; plots, loss curves and a GIF",
        description="Run the real torch.optim optimizers on 2-D test surfaces and draw their trajectories "
        "over "
        "the level sets, the loss against the step, and an animation of all of them racing. "
        "`convzoo optim cnn` instead trains one zoo network briefly with each optimizer on a CIFAR-10 "
        "subset.",
    )
    p.add_argument(
        "--surface",
        nargs="+",
        default=["ravine"],
        choices=(*_SURFACES, "all"),
        metavar="NAME",
        help=f"surface(s) to run on: {', '.join(_SURFACES)} or all (default: ravine)",
    )
    p.add_argument(
        "--optimizers",
        nargs="+",
        default=list(_OPTIMIZERS),
        choices=_OPTIMIZERS,
        metavar="NAME",
        help=f"optimizers to race (default: all of {', '.join(_OPTIMIZERS)})",
    )
    p.add_argument(
        "--lr",
        action="append",
        type=_lr_arg,
        metavar="LR|NAME=LR",
        help="learning rate for every optimizer, or NAME=LR for one (repeatable); "
        "default: each surface's own choice per optimizer",
    )
    p.add_argument(
        "--start", nargs=2, type=Number(-1e6, 1e6), metavar=("X", "Y"), help="start point (default: the surface's)"
    )
    p.add_argument("--steps", type=whole_number(1, 100_000), default=300, help="optimizer steps (default 300)")
    p.add_argument(
        "--out", type=output_folder, default="runs/lab/optim", help="output folder (default runs/lab/optim)"
    )
    p.add_argument("--no-gif", action="store_true", help="skip the animation (the slow part)")
    p.add_argument(
        "--frames", type=whole_number(1, 1000), default=60, help="animation frames at most (default 60)"
    )
    p.add_argument(
        "--fps", type=whole_number(1, 100), default=10, help="animation frames per second (default 10)"
    )
    p.add_argument(
        "--bias-correction",
        action="store_true",
        help="also plot Adam's first steps with and without bias correction",
    )
    p.set_defaults(func=_cmd_optim)

    sub = p.add_subparsers(dest="optim_command", metavar="{cnn}")
    c = sub.add_parser(
        "cnn",
        help="train one zoo network briefly with each optimizer on a fixed CIFAR-10 subset",
        description="Train the same zoo network from the same initialization with each optimizer on a fixed "
        "CIFAR-10 subset (CONVZOO_CIFAR10_JPG or ../shared/datasets/cifar10-jpg) and plot the curves "
        "together.",
    )
    c.add_argument(
        "--model",
        default="lenet5_modern",
        help="zoo model (default lenet5_modern; resnet20_cifar is ~60x slower)",
    )
    c.add_argument(
        "--optimizers",
        nargs="+",
        default=["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"],
        choices=_OPTIMIZERS,
        metavar="NAME",
        help="optimizers to compare",
    )
    c.add_argument(
        "--lr",
        action="append",
        type=_lr_arg,
        metavar="LR|NAME=LR",
        help="learning rate for all, or NAME=LR (default: a usual rate per optimizer)",
    )
    c.add_argument("--epochs", type=whole_number(1, 1000), default=5, help="epochs (default 5)")
    c.add_argument(
        "--per-class",
        type=whole_number(1, 5000, "CIFAR-10 has 5,000 training images per class"),
        default=200,
        help="training images per class (default 200: a fixed 2,000-image subset)",
    )
    c.add_argument("--batch-size", type=whole_number(1, MAX_BATCH), default=32, help="batch size (default 32)")
    c.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    c.add_argument(
        "--out", type=output_folder, default="runs/lab/optim_cnn", help="output folder (default runs/lab/optim_cnn)"
    )
    c.set_defaults(func=_cmd_cnn)

    s = subparsers.add_parser(
        "schedules",
        help="plot every learning-rate schedule the trainer offers",
        description="Plot the learning-rate schedules of convzoo.train.schedules (the trainer's own code) "
        "over a run: constant, step, multistep, exponential, 1/t, plateau, cosine, one-cycle, and cosine "
        "with warm-up.",
    )
    s.add_argument(
        "--names", nargs="+", default=None, metavar="NAME", help="schedules to draw (default: all)"
    )
    s.add_argument(
        "--steps", type=whole_number(1, 1_000_000), default=100, help="length of the run in steps (default 100)"
    )
    s.add_argument(
        "--base-lr", type=Number(0, 1e6, low_open=True), default=0.1, help="base learning rate (default 0.1)"
    )
    s.add_argument(
        "--warmup-steps",
        type=at_most(1_000_000),
        default=10,
        help="warm-up length for the extra cosine + warm-up panel (0: no such panel; default 10)",
    )
    s.add_argument(
        "--out", type=output_folder, default="runs/lab/schedules", help="output folder (default runs/lab/schedules)"
    )
    s.set_defaults(func=_cmd_schedules)
