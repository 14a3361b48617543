"""Inference speed (issue 14): five networks, batch 1 and 32, every backend, against torchvision's eager model.

ResNet-50, VGG-16, Inception-v3 and DenseNet-121 at their papers' input sizes and ResNet-56 (CIFAR) at 32×32,
each through ``convzoo.bench``: fp32 eager, BN folded + channels_last, torch.compile (inductor, freezing),
ONNX Runtime and OpenVINO f32, and the same in bf16 (skipped with the reason on a CPU without native bf16).
One network at one batch size is one ``bench`` call: its configurations, torchvision's eager fp32 among them,
are timed alternately (see ``convzoo.deploy.bench`` for the method). Batch 32 takes fewer samples than batch 1,
and a group whose estimated time (from its batch-1 figures) would pass ``--time-limit`` is not run, and is
listed with that reason. Results are written after every group to ``inference.json`` and ``inference.md``.

    python benchmarks/inference.py [--threads 1] [--time-limit 20] [--out benchmarks/results]
    python benchmarks/inference.py --from-json benchmarks/results/inference.json   # the markdown again
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import convzoo
from convzoo.deploy.bench import BenchResult, Row, format_result
from convzoo.trust_write import owned_under, write_file

RESULTS = Path(__file__).resolve().parent / "results"  # files here are the benchmarks' to replace

BACKENDS = ("eager", "folded", "compile", "onnxruntime", "openvino")
DTYPES = ("fp32", "bf16")


@dataclass(frozen=True)
class Group:
    model: str
    batch: int
    warmup: int
    repeats: int


# The targets' network (ResNet-50) at both sizes first, so that a time limit leaves out the others; batch 32 takes
# fewer samples than batch 1.
PLAN = (
    Group("resnet50", 1, 2, 5),
    Group("resnet50", 32, 1, 3),
    Group("resnet56_cifar", 1, 3, 7),
    Group("resnet56_cifar", 32, 2, 5),
    Group("densenet121", 1, 2, 5),
    Group("inception_v3", 1, 2, 5),
    Group("vgg16", 1, 2, 5),
    Group("densenet121", 32, 1, 2),
    Group("inception_v3", 32, 1, 2),
    Group("vgg16", 32, 1, 2),
)
COLUMNS = {
    ("convzoo", "eager", "fp32"): "ours eager",
    ("convzoo", "folded", "fp32"): "BN folded + channels_last",
    ("convzoo", "compile", "fp32"): "torch.compile",
    ("convzoo", "onnxruntime", "fp32"): "ONNX Runtime",
    ("convzoo", "openvino", "fp32"): "OpenVINO f32",
}


def estimate_s(report: dict[str, Any], group: Group) -> float:
    """Seconds a group should take: its calls at its network's batch-1 speed, plus batch 1's whole run."""
    batch1 = [r for r in _results(report) if r.rows[0].model == group.model and r.rows[0].batch == 1]
    if group.batch == 1 or not batch1:
        return 0.0
    per_image = sum(r.median_ms or 0.0 for r in batch1[0].rows) / 1e3
    return per_image * group.batch * (group.warmup + group.repeats) + report["seconds"].get(
        f"{group.model} b1", 0.0
    )


def run_plan(args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """Measure the plan's groups (those selected), writing the report after each; ``--resume`` keeps the groups
    already in ``out``'s results and measures the others."""
    empty = {"commands": [], "runs": [], "not_run": [], "seconds": {}}
    report = load(out / "inference.json") if args.resume else empty
    report["commands"].append(" ".join(["python", *sys.argv]))
    have = {(r["rows"][0]["model"], r["rows"][0]["batch"]) for r in report["runs"]}
    start = time.perf_counter()
    for g in PLAN:
        if (
            (g.model, g.batch) in have
            or (args.models and g.model not in args.models)
            or (args.batch and g.batch not in args.batch)
        ):
            continue
        report["not_run"] = [n for n in report["not_run"] if (n["model"], n["batch"]) != (g.model, g.batch)]
        elapsed, guess = time.perf_counter() - start, estimate_s(report, g)
        if args.time_limit and elapsed + guess > args.time_limit * 60:
            reason = (f"not run: estimated {guess / 60:.0f} min from its batch-1 figures, after {elapsed / 60:.0f} "
                      f"min, would pass this run's {args.time_limit:g}-minute limit (--time-limit 0 runs it)")  # fmt: skip
            report["not_run"].append({"model": g.model, "batch": g.batch, "reason": reason})
            print(f"{g.model} batch {g.batch}: {reason}", file=sys.stderr, flush=True)
        else:
            print(f"[{elapsed / 60:5.1f} min] {g.model} batch {g.batch}", file=sys.stderr, flush=True)
            t0 = time.perf_counter()
            result = convzoo.bench(
                g.model, batch=[g.batch], backend=BACKENDS, dtype=DTYPES, against="auto", threads=args.threads,
                warmup=g.warmup, repeats=g.repeats,
            )  # fmt: skip
            report["seconds"][f"{g.model} b{g.batch}"] = time.perf_counter() - t0
            report["runs"].append(result.to_dict())
            print(format_result(result), file=sys.stderr, flush=True)
        write(report, out)  # after every group: an interrupted run keeps what it measured
    return report


def write(report: dict[str, Any], out: Path) -> None:

    out.mkdir(parents=True, exist_ok=True)
    for name, text in (("inference.json", json.dumps(report, indent=1)), ("inference.md", markdown(report))):
        write_file(out / name, text + "\n", owned=owned_under(RESULTS))


def load(path: Path) -> dict[str, Any]:
    """A committed results file, every run and field checked (a bad file is refused with its name)."""
    try:
        obj = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise SystemExit(f"{path}: not a readable JSON results file: {e}") from None
    kinds = {"commands": list, "runs": list, "not_run": list, "seconds": dict}
    if (
        not isinstance(obj, dict)
        or set(obj) != set(kinds)
        or not all(isinstance(obj[k], t) for k, t in kinds.items())
    ):
        raise SystemExit(
            f"{path}: expected an object with lists 'commands', 'runs', 'not_run' and 'seconds' by group"
        )
    try:
        runs = [BenchResult.from_dict(r, str(path)).to_dict() for r in obj["runs"]]
    except ValueError as e:
        raise SystemExit(str(e)) from None
    for item in obj["not_run"]:
        if not (isinstance(item, dict) and isinstance(item.get("model"), str) and isinstance(item.get("batch"), int)
                and isinstance(item.get("reason"), str) and set(item) == {"model", "batch", "reason"}):  # fmt: skip
            raise SystemExit(f"{path}: a 'not_run' entry is not {{model, batch, reason}}: {item!r:.80}")
    if not all(isinstance(c, str) for c in obj["commands"]) or not all(
        isinstance(k, str) and isinstance(v, int | float) for k, v in obj["seconds"].items()
    ):
        raise SystemExit(f"{path}: 'commands' must be strings and 'seconds' numbers by group")
    return {**obj, "runs": runs}


# --- the markdown table and the targets -------------------------------------------------------------------------


def _results(report: dict[str, Any]) -> list[BenchResult]:
    """The measured groups in the plan's order (a resumed run appends its groups at the end of the file)."""
    order = {(g.model, g.batch): i for i, g in enumerate(PLAN)}
    results = [BenchResult.from_dict(r) for r in report["runs"]]
    return sorted(results, key=lambda r: order.get((r.rows[0].model, r.rows[0].batch), len(order)))


def _cell(row: Row | None, notes: dict[str, int]) -> str:
    if row is None:
        return "-"
    if row.skipped:
        return _note(row.skipped, notes)
    return (
        f"**{row.ratio:.2f}×** ({row.median_ms:.1f} ms)"
        if row.ratio is not None
        else f"{row.median_ms:.1f} ms"
    )


def markdown(report: dict[str, Any]) -> str:
    """One line per network and batch: the peer's median latency, then each backend's ratio to it."""
    results, notes = _results(report), {}
    head = ["network", "batch", "baseline: eager fp32", *COLUMNS.values(), "bf16 (any backend)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for res in results:
        rows = {(r.impl, r.backend, r.dtype): r for r in res.rows}
        base = next(r for r in res.rows if r.backend == "eager" and r.dtype == "fp32")
        bf16 = next((r for r in res.rows if r.dtype == "bf16"), None)
        cells = [base.model, str(base.batch), f"{base.impl}: {base.median_ms:.1f} ms"]
        cells += [_cell(rows.get(k), notes) for k in COLUMNS] + [_cell(bf16, notes)]
        lines.append("| " + " | ".join(cells) + " |")
    for item in report["not_run"]:
        lines.append(
            f"| {item['model']} | {item['batch']} | {_note(item['reason'], notes)} |" + " |" * (len(head) - 3)
        )
    commands = ["Measured by: " + "; then ".join(f"`{c}`" for c in report["commands"]) + "."]
    return "\n".join([*lines, "", *_footnotes(results, notes), *commands, "", *targets(results)])


def _note(reason: str, notes: dict[str, int]) -> str:
    return f"skipped [{notes.setdefault(reason, len(notes) + 1)}]"


def _footnotes(results: Sequence[BenchResult], notes: dict[str, int]) -> list[str]:
    out = [f"[{n}] {reason}" for reason, n in notes.items()]
    out += dict.fromkeys(
        f"{r.model} batch {r.batch}: ratios against {r.baseline}" for res in results for r in res.rows[:1]
    )
    if results:
        plan = ", ".join(
            f"{r.rows[0].model} b{r.rows[0].batch} {r.method.warmup}+{r.method.repeats}" for r in results
        )
        out += ["", results[0].method.describe(), f"Warm-up calls + timed samples per group: {plan}."]
    return out


def targets(results: Sequence[BenchResult]) -> list[str]:
    """The issue's targets, each met or not by how much, from the measured rows."""
    rows = [r for res in results for r in res.rows if r.skipped is None and r.ratio is not None]
    exact = ("folded", "compile", "onnxruntime", "openvino")
    out = ["Targets (issue 14):"]
    for b in (1, 32):
        best = max((r for r in rows if r.model == "resnet50" and r.batch == b and r.dtype == "fp32"
                    and r.backend in exact), key=lambda r: r.ratio or 0, default=None)  # fmt: skip
        out.append(_verdict(f"fp32 exact path ≥ 1.8× torchvision eager, ResNet-50 batch {b}", best, 1.8))
    ours = [r for r in rows if r.impl == "convzoo" and r.backend == "eager" and r.dtype == "fp32" and "no peer"
            not in r.baseline]  # fmt: skip
    worst = min(ours, key=lambda r: r.ratio or 0, default=None)
    out.append(_verdict("no zoo network slower than its peer's eager (ours eager fp32, slowest)", worst, 1.0))
    fast = max((r for r in rows if r.model == "resnet50" and r.batch == 32 and r.impl == "convzoo"),
               key=lambda r: r.ratio or 0, default=None)  # fmt: skip
    out.append(
        _verdict("fast path ≥ 8× torchvision eager fp32, ResNet-50 batch 32 (best of any backend)", fast, 8.0)
    )
    return out


def _verdict(what: str, row: Row | None, goal: float) -> str:
    if row is None or row.ratio is None:
        return f"- {what}: not measured in this run"
    met = "met" if row.ratio >= goal else f"not met ({row.ratio / goal:.0%} of the goal)"
    return f"- {what}: {row.ratio:.2f}× ({row.model} b{row.batch} {row.backend} {row.dtype}) — {met}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--threads", type=int, default=1, help="intra-op threads of every backend (default 1)"
    )
    parser.add_argument("--time-limit", type=float, default=20.0, help="minutes; 0: run every group")
    parser.add_argument("--models", nargs="+", help="only these networks of the plan (a quick check)")
    parser.add_argument("--batch", type=int, nargs="+", help="only these batch sizes of the plan")
    parser.add_argument(
        "--resume", action="store_true", help="keep the groups already in OUT, run the others"
    )
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument(
        "--from-json", type=Path, help="print the markdown of a results file; measure nothing"
    )
    args = parser.parse_args()
    if args.from_json:
        print(markdown(load(args.from_json)))
        return
    report = run_plan(args, args.out)
    print(markdown(report))


if __name__ == "__main__":
    main()
