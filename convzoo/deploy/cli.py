"""`convzoo export`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from convzoo.cli_args import (
    CLASSES_WHY,
    MAX_CLASSES,
    MAX_SIDE,
    SIDE_WHY,
    add_weights_args,
    whole_number,
)

# Bad input (a name, a format, a path, a run, a missing package): exit 2 with the cause; nothing written.
_USER_ERRORS = (ValueError, TypeError, KeyError, OSError, ImportError)


def _export(args: argparse.Namespace) -> int:
    from convzoo.deploy.export import export
    from convzoo.trust import CheckpointError

    try:
        report = export(
            args.source,
            args.format,
            args.output,
            image_size=args.image_size,
            num_classes=args.num_classes,
            optimize=args.optimize,
            force=args.force,
            weights=args.weights,
            weights_file=args.weights_file,
        )
    except (*_USER_ERRORS, CheckpointError) as e:
        if isinstance(e, OSError) and e.filename is not None and Path(e.filename) == Path(args.output):
            raise  # the output could not be written (a full disk): the machine's failure, exit 1 in convzoo.cli
        print(f"convzoo export: error: {e}", file=sys.stderr)
        return 2
    for line in report.lines():
        print(line)
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "export",
        help="write a model or a trained run as ONNX, a torch.export program or OpenVINO IR, checked",
        description="Export with a dynamic batch size; the file carries the input size, normalization and "
        "class names, and is run once against eager PyTorch before it is kept.",
    )
    p.add_argument(
        "source", metavar="NAME|RUN", help="a registered model (random weights unless --weights) or a run folder"
    )
    p.add_argument("--format", required=True, metavar="FORMAT", help="onnx, pt2 or openvino")
    p.add_argument("-o", "--output", metavar="FILE", help="where to write (default: NAME.onnx, .pt2 or .xml)")
    p.add_argument(
        "--image-size", type=whole_number(1, MAX_SIDE, SIDE_WHY), metavar="N", help="input height and width (a name)"
    )
    p.add_argument(
        "--num-classes", type=whole_number(1, MAX_CLASSES, CLASSES_WHY), metavar="N", help="classifier size (a name)"
    )
    add_weights_args(
        p,
        "NAME is then the model, and the file carries the source's preprocessing (resize, crop, interpolation, "
        "mean/std), ImageNet's class names and its published accuracy",
    )
    p.add_argument("--optimize", action="store_true", help="fold batch norms into convolutions first")
    p.add_argument(
        "--force", action="store_true", help="replace an existing -o file that convzoo did not export"
    )
    p.set_defaults(func=_export)
