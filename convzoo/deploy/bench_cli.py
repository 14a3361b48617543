"""`convzoo bench`: images/s and latency per configuration, against the peer's eager model in the same run."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from convzoo.cli_args import (
    MAX_BATCH,
    MAX_SIDE,
    MAX_THREADS,
    SIDE_WHY,
    THREADS_WHY,
    WholeList,
    output_file,
    whole_number,
)
from convzoo.deploy.bench_choices import AGAINST, BACKEND_HELP, BACKENDS, DTYPES
from convzoo.trust_write import check_target, write_file


def comma_list(choices: Sequence[str]) -> Callable[[str], list[str]]:
    """An argparse ``type``: comma-separated values, each one of ``choices``."""

    def parse(text: str) -> list[str]:
        values = [v.strip() for v in text.split(",") if v.strip()]
        bad = [v for v in values if v not in choices]
        if bad or not values:
            raise argparse.ArgumentTypeError(
                f"unknown {', '.join(map(repr, bad)) or 'empty list'}; choose from {', '.join(choices)}"
            )
        return list(dict.fromkeys(values))

    return parse


batch_list = WholeList(whole_number(1, MAX_BATCH, "images in one batch on one device"), most=16)
"""An argparse ``type``: comma-separated batch sizes, each a whole number in [1, MAX_BATCH], 16 at most."""


def _bench(args: argparse.Namespace) -> int:
    from convzoo.deploy.bench import bench, format_result

    out = Path(args.output) if args.output else None
    if out is not None and not out.parent.is_dir():  # found out before the measuring, not after
        raise FileNotFoundError(f"-o {out}: no such folder {out.parent}")
    if out is not None:
        check_target(out, force=args.force)  # an existing file convzoo did not write needs --force
    result = bench(
        args.names, batch=args.batch, dtype=args.dtype, backend=args.backend, against=args.against,
        threads=args.threads, image_size=args.image_size, repeats=args.repeats, warmup=args.warmup,
        progress=lambda msg: print(msg, file=sys.stderr, flush=True),
    )  # fmt: skip
    text = format_result(result, args.format)
    if out is not None:
        write_file(out, text + "\n", force=args.force)
        print(f"wrote {out}")
    else:
        print(text)
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    backends = "; ".join(f"{k}: {v}" for k, v in BACKEND_HELP.items())
    p = sub.add_parser(
        "bench",
        help="inference speed per backend, dtype and batch, against torchvision's or timm's eager model",
        description="Images/s and latency (median, p90) per configuration, timed alternately in one run, with "
        "ratios against the peer's own eager fp32 model of the same network (random weights). "
        f"Backends — {backends}.",
    )
    p.add_argument("names", nargs="+", metavar="NAME", help="registered models, e.g. resnet50 vgg16")
    p.add_argument("--batch", type=batch_list, default=[1], help="batch sizes, e.g. 1,32 (default: 1)")
    p.add_argument(
        "--dtype", type=comma_list(DTYPES), default=["fp32"], help="e.g. fp32,bf16 (default: fp32)"
    )
    p.add_argument(
        "--backend",
        type=comma_list(BACKENDS),
        default=["eager"],
        help=f"from {','.join(BACKENDS)} (default: eager)",
    )
    p.add_argument(
        "--against", choices=AGAINST, default="auto",
        help="the baseline: a peer's eager fp32 model (auto: torchvision, else timm, else our own eager fp32)",
    )  # fmt: skip
    p.add_argument(
        "--threads",
        type=whole_number(1, MAX_THREADS, THREADS_WHY),
        help="intra-op threads (default: torch's)",
    )
    p.add_argument(
        "--image-size",
        type=whole_number(8, MAX_SIDE, SIDE_WHY),
        help="input height and width (default: the paper's)",
    )
    p.add_argument(
        "--repeats", type=whole_number(1, 10_000), default=10, help="timed samples per configuration"
    )
    p.add_argument(
        "--warmup", type=whole_number(0, 1000), default=3, help="untimed calls per configuration first"
    )
    p.add_argument("--format", choices=["table", "markdown", "json"], default="table")
    p.add_argument("-o", "--output", type=output_file, help="write the result to FILE instead of printing it")
    p.add_argument("--force", action="store_true", help="replace an existing -o file convzoo did not write")
    p.set_defaults(func=_bench)
