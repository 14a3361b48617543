"""`convzoo draw | chart | visualize`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from convzoo.cli_args import add_weights_args, at_most, input_size, output_file, whole_number
from convzoo.trust_write import check_target

_FORCE = "replace an existing output file that convzoo did not write"


def _draw(args: argparse.Namespace) -> int:
    from convzoo.viz.draw import draw

    out = Path(args.output or f"{args.name}.svg")
    check_target(out, force=args.force)  # refused before the drawing, not after
    try:
        d = draw(
            args.name,
            out,
            input_size=args.input,
            depth=args.depth,
            expand=args.expand,
            direction=args.direction,
            shape_order=args.shape_order,
            force=args.force,
            columns=args.columns,
            max_height=args.max_height,
            dpi=args.dpi,
            notation=args.notation,
        )
    except (TimeoutError, RuntimeError) as e:  # dot ran out of time or failed, or the trace failed: one line
        print(f"convzoo draw: error: {e}", file=sys.stderr)
        return 1
    groups = ", ".join(f"{p} ×{n}" for p, n in d.groups.items()) or "none"
    print(f"wrote {out}: {len(d.nodes)} boxes, {len(d.shortcuts)} shortcuts, repeated blocks: {groups}")
    return 0


def _chart(args: argparse.Namespace) -> int:
    from convzoo.viz.chart import chart, check_options, table

    if args.runs is not None and args.kind != "cifar":
        raise ValueError(f"--runs adds measured CIFAR-10 runs to the cifar chart, not to {args.kind}")
    if args.kind == "bars" and args.x is not None:
        raise ValueError("chart bars has no x axis to choose: it draws one bar per network (use bubbles for --x)")
    log_x = False if args.linear_x else True if args.log_x else None
    if args.format == "csv" and args.output is None:
        check_options(args.kind, args.x, log_x)
        sys.stdout.write(table(args.kind, args.models))
        return 0
    for path in chart(args.kind, args.output, models=args.models, x=args.x, log_x=log_x, repro_dir=args.runs,
                      force=args.force, fmt=args.format, log=print):  # fmt: skip
        print(f"wrote {path}")
    return 0


def _visualize(args: argparse.Namespace) -> int:
    from convzoo.viz.visualize import visualize_cli

    for path in visualize_cli(args):
        print(f"wrote {path}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("draw", help="a block diagram in the papers' notation (Graphviz)")
    p.add_argument("name", help="a registered model, e.g. resnet50")
    p.add_argument("-o", "--output", type=output_file, help="FILE.svg, .png, .pdf or .dot (default: NAME.svg)")
    p.add_argument("--depth", type=at_most(64), help="draw modules deeper than this as one box each")
    p.add_argument("--expand", action="store_true", help="draw every repeated block instead of one '×N'")
    p.add_argument("--direction", choices=["TB", "LR"], default="TB", help="top to bottom, or left to right")
    p.add_argument("--input", type=input_size, help="input size CxHxW (default: the paper's)")
    p.add_argument(
        "--shape-order", choices=["chw", "hwc"], default="chw", help="volumes on edges as C×H×W or H×W×C"
    )
    wrap = p.add_mutually_exclusive_group()
    wrap.add_argument("--columns", type=whole_number(1, 16), help="wrap the chain into N columns (rows for LR)")
    wrap.add_argument(
        "--max-height", type=whole_number(200, 100_000), metavar="PX",
        help="wrap into the fewest columns no taller than PX pixels at 96 dpi (default: about a page's shape)",
    )  # fmt: skip
    p.add_argument("--dpi", type=whole_number(24, 600), default=96, help="resolution of a PNG (default 96)")
    p.add_argument("--notation", choices=["he", "vgg"], help="'3×3 conv, 64' or 'conv3-64' (default: the family's)")
    p.add_argument("--force", action="store_true", help=_FORCE)
    p.set_defaults(func=_draw)

    p = sub.add_parser(
        "chart", help="accuracy against operations, bubbles by parameters (Canziani et al. 2016)"
    )
    p.add_argument("kind", nargs="?", choices=["bubbles", "bars", "cifar"], default="bubbles")
    p.add_argument(
        "-o", "--output", type=output_file,
        help="FILE.png, FILE.svg or FILE.csv (default: chart-KIND.png and .svg; --format csv prints the data)",
    )  # fmt: skip
    p.add_argument("--format", choices=["png", "svg", "csv"], help="csv: the chart's data, one row per point")
    p.add_argument("--models", default="*", help="name pattern, e.g. 'resnet*'")
    p.add_argument("--x", choices=["macs", "params"], help="bubbles' x axis (default macs); bars have none")
    scale = p.add_mutually_exclusive_group()
    scale.add_argument("--log-x", action="store_true", help="logarithmic x axis (the default for bubbles, cifar)")
    scale.add_argument("--linear-x", action="store_true", help="linear x axis (bubbles, cifar)")
    p.add_argument("--runs", metavar="DIR", help="cifar: add the measured runs of the results.json files under DIR")
    p.add_argument("--force", action="store_true", help=_FORCE)
    p.set_defaults(func=_chart)

    p = sub.add_parser(
        "visualize", help="first-layer filters, activation maps, top patches and their projections"
    )
    p.add_argument(
        "source", help="a run folder, a .safetensors file, or a registered model name (random weights unless --weights)"
    )
    p.add_argument("what", choices=["filters", "activations", "top"], help="what to draw")
    p.add_argument("--model", help="model name when SOURCE is a weights file without metadata")
    add_weights_args(
        p,
        "for the model SOURCE names, with the weights' own preprocessing",
        file="a local copy of the peer's file (e.g. a torchvision .pth) instead of the download",
    )
    p.add_argument(
        "--layer",
        help="module name, e.g. stages.2 (default: top, the last convolution; activations, the last one whose maps "
        "are at least 7×7)",
    )
    p.add_argument(
        "--channels", help="channels for top, comma-separated (default: the 4 strongest responses)"
    )
    p.add_argument("--image", help="an image file (activations)")
    p.add_argument("--data", help="images to search (default: the run's own data, else cifar10)")
    p.add_argument("--data-root", help="where --data's data sets live (as for train)")
    p.add_argument("--download", action="store_true", help="download CIFAR from its official address if missing")
    p.add_argument(
        "--limit",
        type=whole_number(1, 10_000, "images held in memory at once"),
        default=512,
        help="images searched for top patches",
    )
    p.add_argument("--method", choices=["guided", "deconvnet"], help="top: projection to pixels (default guided)")
    p.add_argument("-o", "--output", type=output_file, help="FILE.png (default: WHAT.png)")
    p.add_argument("--force", action="store_true", help=_FORCE)
    p.set_defaults(func=_visualize)
