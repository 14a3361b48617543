"""The `convzoo` command."""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import shlex
import sys
from collections.abc import Sequence

from convzoo.inspect.output_size import ShapeError
from convzoo.registry import UnknownModelError

# Each module provides register(subparsers); their subcommands set func(args) -> exit code.
COMMAND_MODULES = (
    "convzoo.inspect.cli",
    "convzoo.train.cli",
    "convzoo.lab.cli",
    "convzoo.repro.cli",
    "convzoo.viz.cli",
    "convzoo.deploy.bench_cli",
    "convzoo.deploy.cli",
    "convzoo.site.cli",
)


# Every command reports an error the same way; `convzoo --help` prints this, and README.md repeats it.
ERRORS_AND_EXIT_STATUS = """\
errors: one line on stderr, `convzoo COMMAND: error: ...`, saying what went wrong and what to do
(set CONVZOO_DEBUG=1 for the traceback instead).

exit status:
  0    done
  1    done, and the answer is no: paper-check found an unexplained difference, list matched nothing;
       or failed for a reason other than the input: Graphviz failed to lay out a drawing, a run or repro
       folder is in use by another convzoo process, the disk is full, the system refused a write
  2    not done: a usage error or bad input (an unknown model or option value, a missing or unreadable
       file, data the model cannot take); argparse's own usage errors exit 2 too
  3    train stopped because the loss stopped being finite; the last good checkpoint is kept
  130  interrupted (Ctrl-C or SIGTERM); a training run says where it saved and how to resume
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="convzoo",
        description="The classic convolutional networks, exact to their papers: build, inspect, train, reproduce.",
        epilog=ERRORS_AND_EXIT_STATUS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    p = sub.add_parser("demo", help="the main job on the embedded default (what `make demo` runs)")
    p.set_defaults(func=_demo)
    return parser


def _demo(args: argparse.Namespace) -> int:
    from convzoo.repro.demo import demo

    return int(demo())


def os_error_line(err: OSError) -> str:
    """What the system refused, on which file, and that nothing saved before was touched (the writer's rule)."""
    text = f"{err.strerror or err}: {err.filename}" if err.filename else f"{err.strerror or err}"
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        text += " (the disk is full: free some space and run the command again)"
    return text + "; files saved before are unchanged"


def _interrupted(command: str, argv: Sequence[str], what: str = "", when: str = "before it finished") -> int:
    """One line saying what Ctrl-C (or SIGTERM) stopped and how to go on; the exit status 130.

    ``what``: the stopped work's own account (a training run says where it saved and how to resume); without
    one, the line says ``when`` it stopped and gives the command line to run it again.
    """
    again = shlex.join(["convzoo", *argv])
    print(f"{command}: interrupted: {what or f'{when}; to run it again: {again}'}", file=sys.stderr)
    return 130


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
    except KeyboardInterrupt:  # Ctrl-C while the commands load: nothing has started
        if os.environ.get("CONVZOO_DEBUG"):
            raise
        return _interrupted("convzoo", argv, when="while starting, before anything ran")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (UnknownModelError, ShapeError, ValueError, TypeError, FileNotFoundError) as err:
        if os.environ.get("CONVZOO_DEBUG"):
            raise
        print(f"convzoo {args.command}: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0
    except OSError as err:  # the machine, not the input: a full disk, a read-only folder, no permission
        if os.environ.get("CONVZOO_DEBUG"):
            raise
        print(f"convzoo {args.command}: error: {os_error_line(err)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as err:  # Ctrl-C or SIGTERM; a training run has saved and says how to resume
        if os.environ.get("CONVZOO_DEBUG"):
            raise
        return _interrupted(f"convzoo {args.command}", argv, str(err))


if __name__ == "__main__":
    raise SystemExit(main())
