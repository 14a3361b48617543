"""`convzoo list | info | summary | paper-check | output-size`."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys

from convzoo.cli_args import CLASSES_WHY, MAX_CLASSES, add_model_args, add_weights_args, at_most, input_size
from convzoo.inspect.columns import COLUMN_NAMES as COLUMNS
from convzoo.inspect.columns import DEFAULT_COLUMNS
from convzoo.inspect.output_size import output_size
from convzoo.registry import list_blocks, list_models, model_meta, weights_meta


def _list(args: argparse.Namespace) -> int:
    if args.blocks:
        from convzoo.registry import block_info

        for name in list_blocks(args.pattern):
            b = block_info(name)
            print(f"{name:34s} {'×'.join(map(str, b.input_size)):12s} {b.description}")
        return 0
    names = list_models(args.pattern)
    if not names:
        print(f"no model matches {args.pattern!r}")
        return 1
    if args.weights:
        return _list_weights(names, args.format)
    if args.format == "json":
        print(json.dumps(names))
        return 0
    width = _terminal_width()
    pad = max(map(len, names))
    for name in names:
        info = model_meta(name)
        line = f"{name:{pad}s}  {info.paper.authors.split(',')[0]:14s} {info.paper.year}  {info.description}"
        print(line if width is None or len(line) <= width else line[: width - 1] + "…")
    return 0


def _terminal_width() -> int | None:
    """The width to fit lines to: the terminal's (or $COLUMNS); None when the output is piped or redirected,
    so `convzoo list | grep` sees whole lines."""
    if not sys.stdout.isatty() and "COLUMNS" not in os.environ:
        return None
    return max(40, shutil.get_terminal_size().columns)


def _list_weights(names: list[str], fmt: str) -> int:
    from convzoo.hub import format_weights_table, weight_sources

    sources = [s for s in weight_sources() if s.url and s.model in names]
    if fmt == "json":
        print(json.dumps([s.to_dict() for s in sources], indent=2))
    elif sources:
        print(format_weights_table(sources))
    else:
        print("no pretrained weights for these models")
    return 0


def _info(args: argparse.Namespace) -> int:
    info = model_meta(args.name)  # from the shipped index where it is current: no torch, no model built
    weights = weights_meta(args.name)
    if weights is None:
        from convzoo.hub import weight_sources

        weights = [s.to_dict() for s in weight_sources(args.name) if s.url]
    if args.format == "json":
        print(json.dumps({**info.to_dict(), "weights": weights}, indent=2))
        return 0
    d = info.to_dict()
    print(f"{info.name}: {info.description}")
    print(f"  paper:      {info.paper.cite()}")
    print(f"  family:     {info.family}")
    print(f"  input size: {'×'.join(map(str, info.input_size))}, {info.num_classes} classes")
    for key, value in d["reported"].items():
        if key != "figures":
            print(f"  reported {key}: {value}")
    for fig in info.reported.figures:
        whose = "peer figure (a parity check, not the paper's)" if fig.peer else "reported"
        print(f"  {whose} {fig.figure}: {fig.value} ({fig.source})")
    if info.note:
        print(f"  note:       {info.note}")
    print(f"  overrides:  {', '.join(info.accepts)}")
    for w in weights:
        top1 = "" if w["top1"] is None else f", top-1 {w['top1']:.2f}% ({w['source']}'s figure)"
        print(f"  weights:    {w['source']}: convzoo.{w['create']} or weights={w['source']!r}{top1}, {w['license']}")
    return 0


def _summary(args: argparse.Namespace) -> int:
    from convzoo.inspect.summary import summary

    kwargs = dict(args.model_arg)
    if args.num_classes is not None:
        kwargs["num_classes"] = args.num_classes
    if args.weights_file and not args.weights:
        raise ValueError("--weights-file needs --weights SOURCE (the provider whose weights the file holds)")
    sources = [_weights_source(name, args, kwargs) for name in args.name] if args.weights else []
    sums = [
        summary(
            name,
            args.input if args.input or not ws or not ws.preprocess else (3, ws.preprocess.crop, ws.preprocess.crop),
            depth=args.depth,
            count_all=args.all_ops,
            strict=args.strict,
            training=args.train_mode,
            batch_size=args.batch_size,
            columns=args.columns,
            shape_order=args.shape_order,
            show_floors=args.floors,
            paper=args.paper,
            **({**ws.config, **kwargs} if ws else kwargs),
        )
        for name, ws in zip(args.name, sources or [None] * len(args.name), strict=True)
    ]
    if args.format == "json":
        dicts = [
            {**s.to_dict(), **({"weights": ws.to_dict()} if ws else {})}
            for s, ws in zip(sums, sources or [None] * len(sums), strict=True)
        ]
        print(json.dumps(dicts if len(dicts) > 1 else dicts[0], indent=2))
        return 0
    for s, ws in zip(sums, sources or [None] * len(sums), strict=True):
        if ws is not None:  # above the table; for CSV on stderr, so that stdout stays one CSV table
            print("\n".join(ws.lines()), file=sys.stderr if args.format == "csv" else sys.stdout)
        print(s.format(args.format))
        print()
    if len(sums) > 1:
        print(compare(sums))
    return 0


def _weights_source(name: str, args: argparse.Namespace, overrides: dict[str, object]):  # type: ignore[no-untyped-def]
    """The weight source ``summary --weights`` describes (a ``--weights-file``'s by its content); overrides that
    would build another network than the weights' are refused, as ``create_model(..., weights=)`` does."""
    import warnings

    from convzoo.hub import find_source, identify

    if args.weights_file:
        match = identify(name, args.weights, args.weights_file)
        if match.note:
            warnings.warn(match.note, UserWarning, stacklevel=2)
        ws = match.source
    else:
        ws = find_source(name, args.weights)
    clash = sorted(k for k, v in overrides.items() if k in ws.config and v != ws.config[k])
    if clash:
        raise ValueError(
            f"{ws.source}'s {name} weights belong to {ws.create_call()}; "
            f"{', '.join(f'{k}={overrides[k]!r}' for k in clash)} would build another network"
        )
    return ws


def _columns(text: str) -> tuple[str, ...]:
    cols = tuple(c.strip() for c in text.split(",") if c.strip())
    unknown = [c for c in cols if c not in COLUMNS]
    if unknown or not cols:
        raise argparse.ArgumentTypeError(f"unknown column(s) {unknown or text!r}; choose from: {', '.join(COLUMNS)}")
    return cols


def compare(sums: list) -> str:  # type: ignore[type-arg]
    """Totals side by side, each relative to the first."""
    first = sums[0]
    head = ("Model", "Input", "Params", "MACs", "MACs vs first", "Params vs first")
    rows = [
        (
            s.model,
            "×".join(map(str, s.input_size)),
            f"{s.total_params:,}",
            f"{s.total_macs:,}",
            f"{s.total_macs / first.total_macs:.3f}" if first.total_macs else "-",
            f"{s.total_params / first.total_params:.3f}" if first.total_params else "-",
        )
        for s in sums
    ]
    widths = [max(len(x) for x in col) for col in zip(head, *rows, strict=True)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in [head, *rows])


def _paper_check(args: argparse.Namespace) -> int:
    from convzoo.inspect.paper_check import format_checks, paper_check

    checks = paper_check(args.pattern)
    if args.only_figures:  # leave out the rows of counts no paper publishes
        for check in checks:
            check.comparisons = [c for c in check.comparisons if c.verdict != "no-figure"]
        checks = [c for c in checks if c.comparisons]
    print(format_checks(checks, args.format))
    return 1 if any(c.unexplained for c in checks) else 0


def _output_size(args: argparse.Namespace) -> int:
    out = output_size(args.W, args.F, args.P, args.S, args.D, strict=not args.floor)
    print(f"({args.W} − {args.F} + 2·{args.P})/{args.S} + 1 = {out}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "list", help="list registered models", description="List registered models (shell-style PATTERN)."
    )
    p.add_argument("pattern", nargs="?", default="*", help="e.g. 'vgg*' or '*cifar'")
    p.add_argument("--blocks", action="store_true", help="list the lecture building blocks instead")
    p.add_argument(
        "--weights", action="store_true", help="list the pretrained weights (accuracy, size, license, preprocessing)"
    )
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.set_defaults(func=_list)

    p = sub.add_parser("info", help="a model's paper, input size, reported figures and notes")
    p.add_argument("name")
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.set_defaults(func=_info)

    p = sub.add_parser(
        "summary",
        help="layer table: output shape, params, MACs, receptive field",
        description="Layer table of a model or lecture block, computed on the meta device (no weights allocated). "
        "MACs are multiply-accumulates of conv and FC layers; FLOPs = 2 × MACs.",
    )
    p.add_argument(
        "name",
        nargs="+",
        help="models (`convzoo list`) or blocks (`convzoo list --blocks`); several are compared",
    )
    p.add_argument("--input", type=input_size, help="input size CxHxW, e.g. 3x227x227 (default: the paper's)")
    p.add_argument("--depth", type=at_most(64), help="collapse modules deeper than this")
    p.add_argument("--format", choices=["table", "markdown", "csv", "json", "keras"], default="table")
    p.add_argument(
        "--num-classes", type=at_most(MAX_CLASSES, CLASSES_WHY), help="classifier size (e.g. 2 for a new head)"
    )
    add_model_args(p, "img_size=224 or v1_5=true")
    add_weights_args(
        p,
        "the table of the configuration they load into, at their crop size, headed by their published accuracy "
        "and preprocessing (no download)",
        file="a weights file to read the configuration from",
    )
    p.add_argument("--all-ops", action="store_true", help="also count BN, pooling, activations and adds")
    p.add_argument("--strict", action="store_true", help="fail on a layer whose output volume is fractional")
    p.add_argument("--train-mode", action="store_true", help="trace training mode (auxiliary heads run)")
    p.add_argument(
        "--columns",
        type=_columns,
        help=f"comma-separated columns after Layer and Type, from: {', '.join(COLUMNS)} "
        f"(default: {','.join(DEFAULT_COLUMNS)})",
    )
    p.add_argument(
        "--shape-order", choices=["chw", "hwc"], default="chw", help="volumes as C×H×W or H×W×C (55×55×96)"
    )
    p.add_argument("--floors", action="store_true", help="list every layer that floors a fractional volume")
    p.add_argument(
        "--batch-size", type=at_most(10**9), default=1, help="batch for the memory estimate (default 1)"
    )
    p.add_argument(
        "--paper",
        action="store_true",
        help="add the paper's per-layer table in its own units (googlenet, alexnet, vgg11/13/16/16_c/19)",
    )
    p.set_defaults(func=_summary)

    p = sub.add_parser(
        "paper-check",
        help="our params and MACs beside each paper's figures, with their sources",
        description="Compare every model matching PATTERN with the figures its paper publishes (and, apart, "
        "peer libraries' exact counts); exit 1 on a difference without a note.",
    )
    p.add_argument("pattern", nargs="?", default="*")
    p.add_argument("--format", choices=["table", "markdown", "json"], default="table")
    p.add_argument(
        "--only-figures", action="store_true", help="only the counts a paper or peer publishes (no no-figure rows)"
    )
    p.set_defaults(func=_paper_check)

    p = sub.add_parser(
        "output-size",
        help="the output-volume formula (W − F + 2P)/S + 1",
        description="Output size of a conv/pool layer; refuses fractional results unless --floor.",
    )
    p.add_argument("W", type=int, help="input width")
    p.add_argument("F", type=int, help="filter size")
    p.add_argument("P", type=int, nargs="?", default=0, help="padding (default 0)")
    p.add_argument("S", type=int, nargs="?", default=1, help="stride (default 1)")
    p.add_argument("--dilation", dest="D", type=int, default=1)
    p.add_argument("--floor", action="store_true", help="floor a fractional result as PyTorch does")
    p.set_defaults(func=_output_size)
