"""A claim's report: ``results.json`` (measured vs paper, verdict, machine, budget, seeds, command, wall time per
arm), ``report.md`` and the figures, all rendered from ``results.json`` alone so the docs can be regenerated."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from convzoo.repro.estimate import arm_recipe
from convzoo.repro.readback import read_run_info
from convzoo.repro.results import ArmResult, measure, parse_arm_result, read_arm_result
from convzoo.repro.spec import METRICS, Budget, Claim
from convzoo.repro.verdict import RULE, RULE_REVISIONS, arm_stats, headline, judge_check, near_chance, verdict
from convzoo.trust_write import check_inside, output, write_file

__all__ = ["collect", "escape_text", "machine", "render", "write_analytic_report", "write_report", "write_run_info"]

RUN_INFO = "claim.json"


def machine() -> dict[str, str]:
    """The CPU model (and GPU, if any) and the torch version, for the report."""
    import torch

    from convzoo.cpuinfo import cpu_name
    from convzoo.train.parts import amp_dtype

    cpu = cpu_name()

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    low = amp_dtype(device)
    out = {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "threads": str(torch.get_num_threads()),
        "autocast": str(low).removeprefix("torch.") if low is not None else "none",
        "torch": torch.__version__,
    }
    if torch.cuda.is_available():
        out["gpu"] = torch.cuda.get_device_name(0)
    return out


def _machine_line(m: dict[str, str], amp: bool | None) -> str:
    """The machine as the report names it, e.g. ``AMD EPYC (2 cores, 1 training thread; bfloat16 autocast)``;
    what an older run did not record (or a recipe-chosen precision, ``amp=None``) is left out."""
    parts = [f"{m.get('cores', '?')} cores"]
    if m.get("threads"):
        parts[0] += f", {m['threads']} training thread{'s' if m['threads'] != '1' else ''}"
    if m.get("gpu"):
        parts.append(m["gpu"])
    if m.get("autocast") and amp is not None:
        parts.append(f"{m['autocast']} autocast" if amp and m["autocast"] != "none" else "fp32")
    if m.get("load"):
        parts.append(f"load average {m['load']} when the arm ended")
    return f"{m.get('cpu', '?')} ({'; '.join(parts)})"


def write_run_info(folder: Path, budget: Budget, data: str, seeds: int, command: str) -> None:
    info = {"budget": budget.name, "data": data, "seeds": seeds, "command": command, "machine": machine()}
    write_file(folder / RUN_INFO, json.dumps(info, indent=1), owned=True, inside=folder)


def _read_run_info(folder: Path) -> dict[str, Any]:
    path = check_inside(folder, folder / RUN_INFO)  # a link never leads the read out of the folder
    return read_run_info(path)  # {} without a file; a damaged one is refused, naming it


def _metrics_of(claim: Claim) -> list[str]:
    wanted = {c.metric for c in claim.checks} | {"test_err", "train_err"}
    return [m for m in METRICS if m in wanted]


def at_chance(arm: dict[str, Any]) -> bool:
    """Every run of the arm ended its training within :data:`AT_CHANCE` points of chance-level error."""
    ends = []
    for x in arm.get("runs", []):
        err, classes = (x.get("curve") or [{}])[-1].get("train_err"), x.get("classes", 10)
        if not isinstance(err, int | float) or not isinstance(classes, int) or classes < 2:
            return False
        ends.append(near_chance(err, classes))
    return bool(ends) and all(ends)


# what a results.json keeps of each epoch row: the errors, the epoch's time, and the rate the convergence rule reads
CURVE_KEYS = ("epoch", "lr", "train_err", "test_err", "val_err", "epoch_s")


def _run_dict(r: ArmResult) -> dict[str, Any]:
    """A run as results.json keeps it: everything a verdict is judged from (curves, per-image correctness)."""
    d = r.to_dict()
    d.pop("rows")
    d["curve"] = [
        {k: row[k] for k in CURVE_KEYS if k in row} for row in r.rows
    ]
    return d


def runs_of(claim: Claim, results: dict[str, Any], path: Path) -> dict[str, list[ArmResult]]:
    """The arms' runs of a results.json, validated as arm result files are (a run holds its ``rows``)."""
    out: dict[str, list[ArmResult]] = {}
    for a in results.get("arms", []):
        for x in a.get("runs", []):
            x = {**x, "rows": x.get("rows", x.get("curve", [])), "arm": a.get("name")}
            x.setdefault("wall_s", 0.0), x.setdefault("images_per_s", 0.0), x.setdefault("estimated_s", 0.0)
            out.setdefault(a["name"], []).append(parse_arm_result(x, path, claim))
    return out


def _selected(claim: Claim, budget: Budget, name: str, runs: dict[str, list[ArmResult]], metric: str) -> str:
    """The arm a check's name stands for: itself, or a selection's candidate with the lowest mean metric."""
    best, best_v = "", float("inf")
    for cand in claim.candidates(name, budget):
        ms = [m.value for m in (measure(r, metric) for r in runs.get(cand, [])) if m is not None]
        if ms and sum(ms) / len(ms) < best_v:
            best, best_v = cand, sum(ms) / len(ms)
    return best or name


def judge(
    claim: Claim, budget: Budget, runs: dict[str, list[ArmResult]], timing: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Every check whose arms ran, judged under today's rules (selections resolved to their best candidate;
    training-time checks from the interleaved ``timing`` where it was measured)."""
    out = []
    for c in claim.checks_at(budget):
        b = _selected(claim, budget, c.better, runs, c.metric)
        w = _selected(claim, budget, c.worse, runs, c.metric)
        t = (timing or {}).get(f"{c.better}|{c.worse}") if c.metric == "train_s" else None
        o = judge_check(claim, c, budget, {c.better: runs.get(b, []), c.worse: runs.get(w, [])}, t)
        if o is not None:
            d = o.to_dict()
            d["selected"] = {c.better: b, c.worse: w}
            out.append(d)
    return out


def _fraction_of_paper(claim: Claim, budget: Budget, arm_name: str, r: ArmResult) -> float | None:
    """Training images seen at this budget ÷ those of the paper's recipe (its steps × batch)."""
    from convzoo.repro.estimate import recipe_steps

    if "paper" not in claim.budgets or budget.name == "paper":
        return None
    pr = arm_recipe(claim.arm(arm_name), claim.budgets["paper"])
    n = 50_000 - int(pr.val_size if pr.val_size >= 1 else pr.val_size * 50_000)
    paper_images = recipe_steps(pr, max(1, n // pr.batch_size)) * pr.batch_size
    epochs = r.epochs or next((row["epoch"] for row in reversed(r.rows) if "epoch" in row), 0.0)
    ours = epochs * r.train_images if epochs else None
    return ours / paper_images if ours and paper_images else None


def collect(claim: Claim, folder: Path, command: str = "") -> dict[str, Any]:
    """results.json's content from the arm result files in ``folder`` (``OUT/<claim>/<budget>``)."""
    from convzoo.repro.prereg import spec_hash

    budget = claim.budget(folder.name)
    info = _read_run_info(folder)
    arms, runs = [], {}
    for arm in claim.arms_at(budget):
        results: list[ArmResult] = []
        for path in sorted(folder.glob(f"{arm.name}-s*.json")):
            r = read_arm_result(path, claim)
            if r is not None and r.arm == arm.name:
                results.append(r)
        runs[arm.name] = results
        arms.append(_arm_entry(claim, budget, arm.name, results))
    complete = all(a["runs"] for a in arms)
    timing = read_timing(folder / "timing.json")
    checks = judge(claim, budget, runs, timing)
    seeds = min((len(a["runs"]) for a in arms), default=0)
    evaluated = budget.name != "smoke" and complete
    today = spec_hash(claim, budget)
    hashes = sorted({r.spec_hash for rs in runs.values() for r in rs})
    return {
        "claim": claim.id,
        "kind": claim.kind,
        "paper": claim.paper,
        "where": claim.where,
        "says": claim.says,
        "budget": budget.name,
        "budget_note": budget.note,
        "epochs": budget.epochs,
        "per_class": budget.per_class,
        "test_per_class": budget.test_per_class,
        "amp": budget.amp,
        "data": info.get("data", budget.data),
        "seeds": seeds,
        "machine": info.get("machine", machine()),
        "command": command or info.get("command", ""),
        "generated": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "spec_hash": today,
        "run_spec_hashes": hashes,
        "rule": RULE,
        "complete": complete,
        "arms": arms,
        "checks": checks,
        "verdict": verdict_of(checks, evaluated),
        "headline": headline(checks, budget.name) if evaluated else "",
        "verdict_note": ""
        if evaluated
        else ("smoke budget: plumbing only" if budget.name == "smoke" else "not every arm has finished"),
        "wall_s": sum(r["wall_s"] for a in arms for r in a["runs"]),
        "estimated_s": sum(r["estimated_s"] for a in arms for r in a["runs"]),
        "note": claim.note,
        "changes": [c.__dict__ for c in claim.changes if c.budget == budget.name],
        "timing": timing,
        "stale_runs": stale_runs(claim, budget, runs),
    }


def read_timing(path: Path) -> dict[str, dict[str, Any]]:
    """``timing.json``: per training-time check, the arms' step times interleaved ({} if none)."""
    from convzoo.repro.readback import read_json_file

    if not path.exists():
        return {}
    obj = read_json_file(path, 1 << 20, "the interleaved timings")
    return check_timing(obj, path)


def check_timing(obj: Any, path: Path) -> dict[str, dict[str, Any]]:
    """Validated timings: ``{"better|worse": {"better": [s, …], "worse": [s, …]}}`` of finite positive seconds."""
    import math

    from convzoo.repro.results import ResultFileError

    def seconds(v: Any) -> bool:
        return isinstance(v, list) and 2 <= len(v) <= 1000 and all(
            isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x) and x > 0 for x in v
        )

    if not isinstance(obj, dict) or len(obj) > 20:
        raise ResultFileError(f"{path}: the timings must be an object of at most 20 checks")
    for k, v in obj.items():
        if not (isinstance(v, dict) and seconds(v.get("better")) and seconds(v.get("worse"))):
            raise ResultFileError(f"{path}: timing {str(k)[:60]!r} must hold 'better' and 'worse' seconds")
    return obj


def stale_runs(claim: Claim, budget: Budget, runs: dict[str, list[ArmResult]]) -> list[str]:
    """The runs trained under another arm spec than today's (or before specs were hashed)."""
    from convzoo.repro.prereg import arm_hash

    want = {a.name: arm_hash(a, budget) for a in claim.arms_at(budget)}
    return [f"{n}-s{r.seed}" for n, rs in runs.items() for r in rs if r.arm_hash != want.get(n)]


def verdict_of(checks: list[dict[str, Any]], evaluated: bool) -> str:
    from types import SimpleNamespace

    return verdict([SimpleNamespace(outcome=c["outcome"]) for c in checks], evaluated=evaluated)  # type: ignore[misc]


def _arm_entry(claim: Claim, budget: Budget, name: str, results: list[ArmResult]) -> dict[str, Any]:
    arm = claim.arm(name)
    measured = {}
    for metric in _metrics_of(claim):
        ms = [m for m in (measure(r, metric) for r in results) if m is not None]
        if ms:
            s = arm_stats(ms)
            measured[metric] = {"mean": s.mean, "se": s.se, "seeds": s.seeds, "values": list(s.values)}
    return {
        "name": arm.name,
        "label": arm.title,
        "group": arm.group,
        "model": arm.model,
        "overrides": dict(arm.overrides),
        "recipe": arm_recipe(arm, budget).name,
        "recipe_changes": {**arm.recipe_changes, **budget.recipe_changes},
        "params": results[0].params if results else None,
        "macs": results[0].macs if results else None,
        "measured": measured,
        "fraction_of_paper": _fraction_of_paper(claim, budget, name, results[0]) if results else None,
        "paper": [{"metric": p.metric, "value": p.value, "where": p.where} for p in arm.paper],
        "runs": [_run_dict(r) for r in results],
    }


def write_report(claim: Claim, folder: Path, command: str = "") -> Path:
    """Collect the arms' results into ``folder/results.json`` and render ``report.md`` and the figures."""
    results = collect(claim, folder, command)
    write_file(folder / "results.json", json.dumps(results, indent=1, allow_nan=False), owned=True, inside=folder)
    return render(results, folder, claim)


def write_analytic_report(claim: Claim, folder: Path, command: str = "") -> Path:
    if claim.compute is None:
        raise ValueError(f"analytic claim {claim.id!r} has nothing to compute")
    computed = claim.compute()
    results = {
        "claim": claim.id,
        "kind": "analytic",
        "paper": claim.paper,
        "where": claim.where,
        "says": claim.says,
        "budget": "exact",
        "arms": [],  # nothing trained (readers of trained results see an empty list)
        "command": command,
        "note": claim.note,
        **computed,
    }
    write_file(folder / "results.json", json.dumps(results, indent=1, allow_nan=False), owned=True, inside=folder)
    return render(results, folder)


# ------------------------------------------------------------------------------------------------ rendering


_MD = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "|": "\\|", "`": "\\`", "\n": " ", "\r": " "})


def _md(text: str) -> str:
    """``text`` as inert markdown: no HTML, no table cell break, no new line, heading, link or image."""
    text = text.translate(_MD).replace("](", "\\](")
    return "\\" + text if text.startswith(("#", "=", "-", "+", "*", ">")) else text


def escape_text(value: Any) -> Any:
    """Every string in ``value`` (a results.json dict) escaped for markdown; numbers and keys unchanged."""
    if isinstance(value, str):
        return _md(value)
    if isinstance(value, dict):
        return {k: escape_text(v) for k, v in value.items()}
    return [escape_text(v) for v in value] if isinstance(value, list | tuple) else value


def render(results: dict[str, Any], folder: Path, claim: Claim | None = None) -> Path:
    """``report.md`` (and figures) in ``folder`` from a results.json dict."""
    if results.get("kind") == "analytic":
        text = _render_analytic(escape_text(results))  # the one place text from results.json is escaped
    else:
        results = rejudge(results, folder / "results.json", claim)
        figures = draw_figures(results, folder)
        text = _render_trained(escape_text(results), figures)
    path = folder / "report.md"
    write_file(path, text, owned=True, inside=folder)
    return path


def _header(r: dict[str, Any]) -> list[str]:
    return [
        f"# {r['claim']}: {r['says']}",
        "",
        f"Paper: {r['paper']}, {r['where']}.",
        "",
        f"**Verdict: {r['verdict']}**" + (f" ({r['verdict_note']})" if r.get("verdict_note") else ""),
        "",
    ]


def _render_trained(r: dict[str, Any], figures: list[str]) -> str:
    from convzoo.repro.page import render_trained

    return render_trained(r, figures, _machine_line, at_chance)


def rejudge(r: dict[str, Any], path: Path, claim: Claim | None = None) -> dict[str, Any]:
    """A trained results.json's checks, verdict and headline judged afresh under today's rules from its runs
    (so a page always follows the rules in force; results from before per-image correctness compare unpaired)."""
    from convzoo.repro.prereg import spec_hash
    from convzoo.repro.registry import get_claim

    claim = claim or get_claim(r["claim"])
    budget = claim.budget(r["budget"])
    runs = runs_of(claim, r, path)
    checks = judge(claim, budget, runs, check_timing(r.get("timing") or {}, path))
    arms = [
        {**a, "fraction_of_paper": _fraction_of_paper(claim, budget, a["name"], runs[a["name"]][0])}
        if runs.get(a["name"])
        else a
        for a in r["arms"]
    ]
    evaluated = budget.name != "smoke" and bool(r.get("complete", True))
    return {
        **r,
        "arms": arms,
        "checks": checks,
        "verdict": verdict_of(checks, evaluated),
        "headline": headline(checks, budget.name) if evaluated else "",
        "rule": RULE,
        "rule_revisions": [{"version": v, "when": w, "what": what, "why": why} for v, w, what, why in RULE_REVISIONS],
        "spec_hash": spec_hash(claim, budget),
        "run_spec_hashes": sorted({x.get("spec_hash", "") for a in r["arms"] for x in a["runs"]}),
        "stale_runs": stale_runs(claim, budget, runs),
        "changes": [c.__dict__ for c in claim.changes if c.budget == budget.name],
    }


def _render_analytic(r: dict[str, Any]) -> str:
    lines = _header(r) + [
        "Computed exactly from the models (convzoo's inspector on the meta device); "
        f"command: `{r['command']}`.",
        "",
        "| quantity | computed | paper | agrees |",
        "|---|---|---|---|",
    ]
    for row in r.get("rows", []):
        lines.append(
            f"| {row['what']} | {row['computed']} | {row['paper']} | {'yes' if row['agrees'] else 'no'} |"
        )
    if r.get("explanation"):
        lines += ["", r["explanation"]]
    if r.get("note"):
        lines += ["", f"Note: {r['note']}"]
    return "\n".join(lines) + "\n"


def draw_figures(r: dict[str, Any], folder: Path) -> list[str]:
    """The paper's figure redrawn from our runs: per group, training error dashed and test error bold."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups: dict[str, list[dict[str, Any]]] = {}
    for a in r["arms"]:
        if a["runs"]:
            groups.setdefault(a["group"] or r["claim"], []).append(a)
    if not groups:
        return []
    fig, axes = plt.subplots(1, len(groups), figsize=(5.5 * len(groups), 4.2), squeeze=False, sharey=True)
    for ax, (group, arms) in zip(axes[0], groups.items(), strict=True):
        for i, a in enumerate(arms):
            color = f"C{i}"
            for j, run in enumerate(a["runs"]):
                ep = [p["epoch"] for p in run["curve"]]
                label = a["label"] if j == 0 else None
                ax.plot(ep, [p.get("train_err") for p in run["curve"]], "--", color=color, lw=1, label=label)
                pts = [(p["epoch"], p["test_err"]) for p in run["curve"] if "test_err" in p]
                if pts:
                    ax.plot(*zip(*pts, strict=True), "-", color=color, lw=2.2, marker="o", ms=3)
        if r["claim"] == "relu_vs_tanh":
            ax.axhline(25, color="gray", lw=0.8)
        ax.set_title(group)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0][0].set_ylabel("error (%): training dashed, test bold")
    fig.suptitle(f"{r['claim']} ({r['budget']} budget, {r['data']})", fontsize=10)
    fig.tight_layout()
    name = "curves.png"
    with output(folder / name, owned=True, inside=folder) as tmp:
        fig.savefig(tmp, dpi=90)
    plt.close(fig)
    return [name]
