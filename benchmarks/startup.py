"""Start-up time and memory of the instant commands: `--help`, `list`, `info`, `output-size`, `recipes`, `repro list`.

Each command runs in a fresh Python process (``python -m convzoo ...``), so its wall time includes the interpreter's
start and every import, and its peak resident set size (``ru_maxrss`` of the child) is its own. A command is
run ``--repeat`` times and the median wall time is reported; the target is under 0.5 s and 150 MB on 2 cores.
The report also says whether the command imported torch (a hook prints ``sys.modules`` at exit).

    python benchmarks/startup.py                        # this checkout
    python benchmarks/startup.py --before /tmp/base     # and another checkout beside it (e.g. a git worktree of main)

Run it on a quiet machine for figures to quote; it prints the load average beside them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COMMANDS: tuple[tuple[str, ...], ...] = (
    ("--help",),
    ("list",),
    ("info", "resnet50"),
    ("output-size", "227", "11", "0", "4"),
    ("recipes",),
    ("repro", "list"),
)
TARGET_S, TARGET_MB = 0.5, 150.0

# Runs the CLI, then reports whether torch/torchvision were imported (on stderr, after the command's own output).
_HOOK = (
    "import sys, atexit\n"
    "atexit.register(lambda: print('\\n#imported', int('torch' in sys.modules), int('torchvision' in sys.modules),"
    " file=sys.stderr))\n"
    "sys.argv = ['convzoo', *sys.argv[1:]]\n"
    "from convzoo.cli import main\n"
    "raise SystemExit(main())\n"
)


def run_once(root: Path, argv: tuple[str, ...]) -> tuple[float, float, bool, int]:
    """(wall seconds, peak RSS in MB, imported torch, exit code) of one fresh process in checkout ``root``."""
    env = {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1"}
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-c", _HOOK, *argv], cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=err
        )
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        text = err.read().decode(errors="replace")
    torch_seen = any(line.startswith("#imported 1") for line in text.splitlines())
    return wall, usage.ru_maxrss / 1024, torch_seen, proc.returncode


def measure(root: Path, argv: tuple[str, ...], repeat: int) -> dict[str, object]:
    """Median wall time and largest peak RSS over ``repeat`` fresh runs."""
    runs = [run_once(root, argv) for _ in range(repeat)]
    return {
        "wall": statistics.median(r[0] for r in runs),
        "rss": max(r[1] for r in runs),
        "torch": any(r[2] for r in runs),
        "rc": runs[-1][3],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, help="another checkout to measure beside this one (before)")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per command; the median wall time is kept"
    )
    args = parser.parse_args()
    here = Path(__file__).resolve().parent.parent
    roots = [("before", args.before.resolve())] if args.before else []
    roots.append(("after" if args.before else "now", here))
    load = os.getloadavg()
    print(
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores; "
        f"median of {args.repeat} runs; target < {TARGET_S} s and < {TARGET_MB:.0f} MB"
    )
    head = ["command"]
    for label, _ in roots:
        head += [f"{label} s", f"{label} MB", f"{label} torch"]
    rows = []
    for argv in COMMANDS:
        row = ["convzoo " + " ".join(argv)]
        for _, root in roots:
            m = measure(root, argv, args.repeat)
            row += [f"{m['wall']:.2f}", f"{m['rss']:.0f}", "yes" if m["torch"] else "no"]
            if m["rc"] not in (0, None):
                row[-1] += f" (exit {m['rc']})"
        rows.append(row)
        print("  ".join(row), file=sys.stderr, flush=True)
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
