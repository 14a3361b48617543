"""Add each epoch's learning rate to the curves of published results.json files, from their committed arm files.

Results published before the curves kept the rate (rules version 5 reads it to judge convergence) lack it. Each
run's rate comes from the committed arm file of the same arm, seed and arm spec hash, epoch by epoch; any
mismatch (another spec, other epochs, other training errors) stops with the file named and writes nothing.
Run once: `python scripts/curves_add_lr.py` (add `--check` to only report what it would change).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from convzoo.repro.docs import read_results
from convzoo.repro.registry import get_claim
from convzoo.repro.results import read_arm_result
from convzoo.repro.spec import Claim
from convzoo.trust_write import write_file

DOCS = Path(__file__).resolve().parent.parent / "docs" / "repro"


def _rates(results: dict[str, Any], folder: Path, claim: Claim) -> dict[tuple[str, int], list[float]]:
    """(arm, seed) → the rate at each epoch of its curve, from ``folder/arms``; raises on any mismatch."""
    out = {}
    for a in results["arms"]:
        for run in a["runs"]:
            src = folder / "arms" / f"{a['name']}-s{run['seed']}.json"
            arm = read_arm_result(src, claim)  # the arm files' own reader: links, size and fields checked
            if arm is None:
                raise SystemExit(f"{src}: no committed arm file for {a['name']} seed {run['seed']}")
            if arm.arm_hash != run.get("arm_hash"):
                raise SystemExit(f"{src}: arm spec {arm.arm_hash} is not the page's {run.get('arm_hash')}")
            rows = {float(r["epoch"]): r for r in arm.rows if "epoch" in r}
            rates = []
            for p in run["curve"]:
                row = rows.get(float(p["epoch"]))
                same = row is not None and math.isclose(row.get("train_err", math.nan), p.get("train_err", math.nan))
                if not same or "lr" not in row:
                    raise SystemExit(f"{src}: epoch {p['epoch']} does not match the page's curve")
                rates.append(float(row["lr"]))
            out[(a["name"], run["seed"])] = rates
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only say which files lack rates")
    ap.add_argument("--docs", type=Path, default=DOCS, help=f"the published results (default {DOCS})")
    args = ap.parse_args(argv)
    for path in sorted(args.docs.glob("*/*/results.json")):
        claim = get_claim(path.parent.parent.name)
        if claim.kind == "analytic":
            continue
        try:  # the readers' own errors name the file
            results = read_results(path, claim) or {}
            runs = [run for a in results["arms"] for run in a["runs"]]
            if all("lr" in p for run in runs for p in run["curve"]):
                continue
            rates = _rates(results, path.parent, claim)
        except ValueError as e:  # a rejected or malformed file
            raise SystemExit(str(e)) from None
        if args.check:
            print(f"{path}: {len(runs)} run(s) lack rates")
            continue
        for a in results["arms"]:
            for run in a["runs"]:
                for p, lr in zip(run["curve"], rates[(a["name"], run["seed"])], strict=True):
                    p["lr"] = lr
        write_file(path, json.dumps(results, indent=1, allow_nan=False), owned=True, inside=path.parent)
        print(f"{path}: rates added to {len(runs)} run(s)")


if __name__ == "__main__":
    main()
