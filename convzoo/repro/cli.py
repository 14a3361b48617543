"""``convzoo repro list | run | report | docs``: the papers' claims, re-measured on this machine."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from convzoo.cli_args import output_folder, whole_number

__all__ = ["claim_rows", "register"]

DEFAULT_OUT = "runs/repro"
DOCS = "docs/repro"


def claim_rows() -> list[dict[str, Any]]:
    """Every claim as plain data: what ``repro list --format json`` prints."""
    from convzoo.repro.estimate import claim_elapsed, claim_seconds, plan
    from convzoo.repro.prereg import committed_results
    from convzoo.repro.registry import claims
    from convzoo.repro.spec import BUDGETS

    rows = []
    for c in claims():
        row: dict[str, Any] = {"id": c.id, "paper": c.paper, "where": c.where, "says": c.says, "kind": c.kind}
        if c.kind == "trained":
            row["arms"] = [
                {
                    "name": a.name,
                    "model": a.model,
                    "overrides": dict(a.overrides),
                    "recipe": a.recipe,
                    "recipe_changes": dict(a.recipe_changes),
                    "paper": [p.__dict__ for p in a.paper],
                }
                for a in c.arms
            ]
            row["checks"] = [{**c_.__dict__, "differs": dict(c_.differs)} for c_ in c.checks]
            row["power"] = power_rows(c)
            budgets: dict[str, Any] = {}
            for name in BUDGETS:
                if name in c.unavailable or name not in c.budgets:
                    budgets[name] = {"available": False, "why": c.unavailable.get(name, "not defined")}
                    continue
                b = c.budgets[name]
                plans = plan(c, b)
                here = name in ("cpu", "long") and Path(DOCS).is_dir()  # in a checkout: its committed arms
                found, todo = committed_results(c, b, DOCS) if here else (None, None)  # None: cannot know
                done = None if found is None else list(found)
                per_arm = {p.arm.name: p.seconds for p in plans}
                budgets[name] = {
                    "available": True,
                    "data": b.data or "--data PATH",
                    "arms": [p.arm.name for p in plans],
                    "epochs": b.epochs,
                    "per_class": b.per_class,
                    "test_per_class": b.test_per_class,
                    "seeds": b.seeds,
                    "estimated_s": claim_seconds(c, name),  # every arm-run one after another
                    "estimated_jobs2_s": claim_elapsed(c, name, 2),  # elapsed with `--jobs 2`
                    "note": b.note,
                    "committed": done,
                    "to_run": todo,
                    # the committed arm-runs' measured wall time against today's estimate of the same runs
                    "committed_wall_s": None if found is None else sum(r.wall_s for r in found.values()),
                    "committed_estimated_s": None if found is None else sum(per_arm[r.arm] for r in found.values()),
                }
            row["budgets"] = budgets
        else:
            row["budgets"] = {"exact": {"available": True, "estimated_s": 1.0}}
        rows.append(row)
    return rows


def _progress(b: dict[str, Any]) -> str:
    """e.g. "4 of 6 arm-runs committed under today's spec (they took 31 min; estimated now: 28 min); to run:
    r20_conv1x1-s0, r20_dropout-s0"."""
    done, todo = b["committed"], b["to_run"]
    if not done:
        return f"none of its {len(todo)} arm-runs committed under today's spec yet"
    left = f"to run: {', '.join(todo)}" if todo else "all done"
    took = (
        f" (they took {_human_time(b['committed_wall_s'])}; estimated now: "
        f"{_human_time(b['committed_estimated_s'])})"
    )
    return f"{len(done)} of {len(done) + len(todo)} arm-runs committed under today's spec{took}; {left}"


def power_rows(claim: Any) -> list[dict[str, Any]]:
    """Each check's paper gap and, per budget, the smallest gap that budget resolves (decided from the spec)."""
    from convzoo.repro.estimate import data_sizes
    from convzoo.repro.verdict import EARLY_METRICS, power

    out = []
    for c in claim.checks:
        row: dict[str, Any] = {"check": c.says, "metric": c.metric, "paper_gap": None, "budgets": {}}
        row["needs_trained"] = not c.early and c.metric not in EARLY_METRICS
        for name, b in claim.budgets.items():
            if name == "smoke" or c not in claim.checks_at(b):
                continue
            gap, res = power(claim, c, b, data_sizes(b)[1], b.seeds)
            row["paper_gap"] = gap
            row["budgets"][name] = res
        out.append(row)
    return out


def _power_lines(r: dict[str, Any]) -> list[str]:
    lines = []
    for p in r.get("power", []):
        if not p["budgets"]:
            continue
        cells = []
        for name, res in p["budgets"].items():
            if res is None:
                cells.append(name)
            elif p["paper_gap"] is not None and abs(p["paper_gap"]) < res:
                cells.append(f"{name} ≥ {res:.2f} (below resolution)")
            else:
                cells.append(f"{name} ≥ {res:.2f}")
        gap = f"paper gap {p['paper_gap']:.2f}; " if p["paper_gap"] is not None else ""
        need = "" if p["needs_trained"] else " [early training: no convergence needed]"
        if set(p["budgets"]) <= {"paper"}:
            res = p["budgets"].get("paper")
            unresolved = res is not None and p["paper_gap"] is not None and abs(p["paper_gap"]) < res
            need += (
                " [below resolution at every budget, the paper's own included: its seeds and test set cannot "
                "resolve the paper's gap]"
                if unresolved
                else " [no CPU budget can decide it in 12 h: left to `--budget paper` on a GPU]"
            )
        lines.append(f"    {p['check']} ({p['metric']}): {gap}resolves {', '.join(cells)}{need}")
    return lines


def _human_time(s: float) -> str:
    from convzoo.repro.estimate import human_time

    return human_time(s)


def _rates(table: dict[str, dict[str, float]]) -> str:
    return "; ".join(f"{p} " + ", ".join(f"{m} {r:g}×" for m, r in rates.items()) for p, rates in table.items())


def _cmd_list(args: argparse.Namespace) -> int:
    from convzoo.repro.estimate import MODEL_RATE, train_rate

    rows = claim_rows()
    if args.format == "json":
        print(json.dumps(rows, indent=1))
        return 0
    for r in rows:
        print(
            f"{r['id']}  [{r['kind']}]  {r['paper'].split('(')[0].strip()} {r['paper'].split(')')[0][-4:]}, "
            f"{r['where']}"
        )
        print(f"  {r['says']}")
        if r["kind"] == "trained":
            print(
                "  arms: "
                + ", ".join(
                    a["name"]
                    + "="
                    + a["model"]
                    + "".join(f",{k}={v}" for k, v in a["overrides"].items())
                    + f" ({a['recipe']})"
                    for a in r["arms"]
                )
            )
            est = []
            for name, b in r["budgets"].items():
                if not b["available"]:
                    est.append(f"{name}: n/a")
                elif b["estimated_s"] >= 60 and b["estimated_jobs2_s"] < 0.95 * b["estimated_s"]:
                    est.append(f"{name} ~{_human_time(b['estimated_s'])} ({_human_time(b['estimated_jobs2_s'])})")
                else:
                    est.append(f"{name} ~{_human_time(b['estimated_s'])}")
            print("  time on this machine, its arms one after another (elapsed with --jobs 2): " + ", ".join(est))
            for name, b in r["budgets"].items():
                if b["available"] and b.get("committed") is not None:
                    print(f"  {name}: {_progress(b)}")
            power = _power_lines(r)
            if power:
                print("  checks (smallest gap each budget resolves, in points, before any run):")
                print("\n".join(power))
        print()
    rate, precision = train_rate(True)
    print(
        f"Estimates: MACs × images at {rate / 1e9:.0f} G multiply-accumulates/s, the {precision} training rate "
        f"of a quiet 2-core CPU like this one (a training image counts 3×; measured multiples of it per MAC: "
        f"{_rates(MODEL_RATE)}); `paper` too is estimated for this CPU."
    )
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from convzoo.repro.runner import run_claim
    from convzoo.train.runfolder import RunFolderBusy

    if args.jobs > 1:
        return _run_jobs(args)
    committed = args.arms_dir if args.arms_dir is not None else (DOCS if Path(DOCS).is_dir() else None)
    try:
        run_claim(
            args.claim, args.budget, seeds=args.seeds, data=args.data, out=args.out, committed=committed or None
        )
    except RunFolderBusy as e:  # another `repro run` trains this arm now; its results stay intact
        print(f"convzoo repro: error: {e.path} is in use by another convzoo process (PID {e.holder}); "
              "wait for it to finish, or give another --out", file=sys.stderr)  # fmt: skip
        return 1
    return 0


def _run_jobs(args: argparse.Namespace) -> int:
    """``--jobs N``: N copies of this command share the claim's arms (each takes the next arm no other holds),
    each with cores ÷ N training threads; the last one to finish writes the report."""
    import os
    import subprocess

    argv = [sys.executable, "-m", "convzoo", "repro", "run", args.claim, "--budget", args.budget]
    argv += ["--out", str(args.out)]
    for k in ("seeds", "data", "arms_dir"):
        if getattr(args, k) is not None:
            argv += [f"--{k.replace('_', '-')}", str(getattr(args, k))]
    threads = str(max(1, (os.cpu_count() or 1) // args.jobs))
    env = {**os.environ, "OMP_NUM_THREADS": threads}
    procs = []
    for i in range(args.jobs):
        procs.append(subprocess.Popen(argv, env=env))
        time.sleep(20 if i + 1 < args.jobs else 0)  # let the first take its arm's lock before the next looks
    codes = [p.wait() for p in procs]
    return max(codes)


def _cmd_report(args: argparse.Namespace) -> int:
    from convzoo.repro.registry import get_claim
    from convzoo.repro.report import write_report
    from convzoo.repro.runner import claim_dir

    claim = get_claim(args.claim)
    if claim.kind == "analytic":
        from convzoo.repro.runner import run_claim

        folder = run_claim(claim.id, out=args.out, log=lambda s: None)
        print(f"report: {folder / 'report.md'}")
        return _publish(args, claim.id, folder) if args.publish else 0
    folder = claim_dir(args.out, claim, args.budget)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"no runs of {claim.id!r} at the {args.budget} budget in {folder}; "
            f"run `convzoo repro run {claim.id} --budget {args.budget}` first"
        )
    path = write_report(claim, folder)
    print(f"report: {path}")
    return _publish(args, claim.id, folder) if args.publish else 0


def _publish(args: argparse.Namespace, claim_id: str, folder: Path) -> int:
    """Copy results.json into ``--docs``: ``<claim>/<budget>/`` for trained claims, refused unless every arm
    ran under today's spec (its hash); ``<claim>/`` for analytic ones."""
    from convzoo.repro.prereg import unpublishable
    from convzoo.repro.readback import read_results
    from convzoo.repro.registry import get_claim
    from convzoo.trust_write import check_inside, write_file

    claim = get_claim(claim_id)
    docs = Path(args.docs)
    src = check_inside(folder, folder / "results.json")  # written by this command just now
    dest = check_inside(docs, docs / claim_id / (args.budget if claim.kind == "trained" else ""))
    if claim.kind == "trained":
        problems = unpublishable(claim, claim.budget(args.budget), read_results(src, claim) or {})
        if problems:
            print(f"convzoo repro: error: {src} does not match today's spec of {claim_id} at the {args.budget} "
                  f"budget, so it is not published: {'; '.join(problems[:6])}. Re-run the arms "
                  f"(`convzoo repro run {claim_id} --budget {args.budget}`)", file=sys.stderr)  # fmt: skip
            return 2
    dest.mkdir(parents=True, exist_ok=True)
    write_file(dest / "results.json", src.read_bytes(), owned=True, inside=docs)
    print(f"published {dest / 'results.json'}; `convzoo repro docs` renders it")
    return 0


def _cmd_docs(args: argparse.Namespace) -> int:
    from convzoo.repro.docs import write_docs

    path = write_docs(Path(args.docs))
    print(f"wrote {path}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from convzoo.repro.spec import BUDGETS

    p = sub.add_parser("repro", help="re-run the papers' claims on this machine and say whether they held")
    rsub = p.add_subparsers(dest="repro_command", metavar="SUBCOMMAND", required=True)
    q = rsub.add_parser("list", help="every claim: paper, arms, budgets and their estimated time here")
    q.add_argument("--format", choices=("text", "json"), default="text")
    q.set_defaults(func=_cmd_list)
    q = rsub.add_parser(
        "run", help="train a claim's arms (finished arms are skipped, interrupted ones resume)"
    )
    q.add_argument("claim", help="a claim id (convzoo repro list)")
    q.add_argument("--budget", choices=BUDGETS, default="cpu")
    q.add_argument(
        "--seeds", type=whole_number(1, 100), default=None, help="seeds per arm (default: the budget's)"
    )
    q.add_argument("--data", default=None, help="a --data spec or folder instead of the budget's")
    q.add_argument(
        "--out", type=output_folder, default=DEFAULT_OUT, help=f"folder of the claims' runs (default {DEFAULT_OUT})"
    )
    q.add_argument(
        "--jobs",
        type=whole_number(1, 16),
        default=1,
        help="train this many arms at a time, each in its own process with cores ÷ jobs threads",
    )
    q.add_argument(
        "--arms-dir",
        default=None,
        help=f"folder of committed arm results to reuse and add to (default {DOCS} where it exists; '' for none)",
    )
    q.set_defaults(func=_cmd_run)
    q = rsub.add_parser("report", help="write report.md, figures and results.json from a claim's runs")
    q.add_argument("claim", help="a claim id (convzoo repro list)")
    q.add_argument("--budget", choices=BUDGETS, default="cpu")
    q.add_argument("--out", type=output_folder, default=DEFAULT_OUT)
    q.add_argument(
        "--publish",
        action="store_true",
        help=f"also copy results.json into --docs ({DOCS})/<claim>/<budget>/ (refused unless its arms ran under "
        "today's spec)",
    )
    q.add_argument("--docs", type=output_folder, default=DOCS)
    q.set_defaults(func=_cmd_report)
    q = rsub.add_parser(
        "docs", help=f"render {DOCS}/ (README table and one page per claim) from its results.json"
    )
    q.add_argument("--docs", type=output_folder, default=DOCS)
    q.set_defaults(func=_cmd_docs)
