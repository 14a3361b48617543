"""`convzoo draw | chart | visualize`."""

from __future__ import annotations

import argparse
from pathlib import Path


def _draw(args: argparse.Namespace) -> int:
    from convzoo.viz.draw import draw

    out = Path(args.output or f"{args.name}.svg")
    d = draw(
        args.name,
        out,
        input_size=args.input,
        depth=args.depth,
        expand=args.expand,
        direction=args.direction,
        shape_order=args.shape_order,
    )
    groups = ", ".join(f"{p} ×{n}" for p, n in d.groups.items()) or "none"
    print(f"wrote {out}: {len(d.nodes)} boxes, {len(d.shortcuts)} shortcuts, repeated blocks: {groups}")
    return 0


def _chart(args: argparse.Namespace) -> int:
    from convzoo.viz.chart import chart

    for path in chart(args.kind, args.output, models=args.models, x=args.x, log_x=args.log_x):
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
    p.add_argument("-o", "--output", help="FILE.svg, .png, .pdf or .dot (default: NAME.svg)")
    p.add_argument("--depth", type=int, help="draw modules deeper than this as one box each")
    p.add_argument("--expand", action="store_true", help="draw every repeated block instead of one '×N'")
    p.add_argument("--direction", choices=["TB", "LR"], default="TB", help="top to bottom, or left to right")
    p.add_argument("--input", help="input size CxHxW (default: the paper's)")
    p.add_argument(
        "--shape-order", choices=["chw", "hwc"], default="chw", help="volumes on edges as C×H×W or H×W×C"
    )
    p.set_defaults(func=_draw)

    p = sub.add_parser(
        "chart", help="accuracy against operations, bubbles by parameters (Canziani et al. 2016)"
    )
    p.add_argument("kind", nargs="?", choices=["bubbles", "bars", "cifar"], default="bubbles")
    p.add_argument("-o", "--output", help="FILE.png or FILE.svg (default: chart-KIND.png and .svg)")
    p.add_argument("--models", default="*", help="name pattern, e.g. 'resnet*'")
    p.add_argument("--x", choices=["macs", "params"], default="macs", help="x axis (bubbles)")
    p.add_argument("--log-x", action="store_true", help="logarithmic x axis")
    p.set_defaults(func=_chart)

    p = sub.add_parser(
        "visualize", help="first-layer filters, activation maps, top patches and their projections"
    )
    p.add_argument("source", help="a run folder, a .safetensors file or a registered model name")
    p.add_argument("what", choices=["filters", "activations", "top"], help="what to draw")
    p.add_argument("--model", help="model name when SOURCE is a weights file without metadata")
    p.add_argument("--layer", help="module name, e.g. stages.2 (default: the last convolution)")
    p.add_argument(
        "--channels", help="channels for top, comma-separated (default: the 4 strongest responses)"
    )
    p.add_argument("--image", help="an image file (activations)")
    p.add_argument("--data", help="images to search (default: the run's own data, else cifar10)")
    p.add_argument("--limit", type=int, default=512, help="images searched for top patches")
    p.add_argument("--method", choices=["guided", "deconvnet"], default="guided", help="projection to pixels")
    p.add_argument("-o", "--output", help="FILE.png (default: WHAT.png)")
    p.set_defaults(func=_visualize)
