"""A claim's report: ``results.json`` (measured vs paper, verdict, machine, budget, seeds, command, wall time per
arm), ``report.md`` and the figures, all rendered from ``results.json`` alone so the docs can be regenerated."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

from convzoo.repro.estimate import arm_recipe
from convzoo.repro.readback import read_run_info
from convzoo.repro.results import ArmResult, measure, read_arm_result
from convzoo.repro.spec import METRICS, Budget, Claim
from convzoo.repro.verdict import AT_CHANCE, ONE_SEED, RULE, arm_stats, judge_all, verdict

__all__ = ["collect", "escape_text", "machine", "render", "write_analytic_report", "write_report", "write_run_info"]

RUN_INFO = "claim.json"


def machine() -> dict[str, str]:
    """The CPU model (and GPU, if any) and the torch version, for the report."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from convzoo.train.parts import amp_dtype

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
    return f"{m.get('cpu', '?')} ({'; '.join(parts)})"


def write_run_info(folder: Path, budget: Budget, data: str, seeds: int, command: str) -> None:
    info = {"budget": budget.name, "data": data, "seeds": seeds, "command": command, "machine": machine()}
    (folder / RUN_INFO).write_text(json.dumps(info, indent=1))


def _read_run_info(folder: Path) -> dict[str, Any]:
    path = folder / RUN_INFO
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
        ends.append(err >= 100 * (1 - 1 / classes) - AT_CHANCE)
    return bool(ends) and all(ends)


def collect(claim: Claim, folder: Path, command: str = "") -> dict[str, Any]:
    """results.json's content from the arm result files in ``folder`` (``OUT/<claim>/<budget>``)."""
    budget = claim.budget(folder.name)
    info = _read_run_info(folder)
    arms, stats = [], {}
    for arm in claim.arms_at(budget):
        results: list[ArmResult] = []
        for path in sorted(folder.glob(f"{arm.name}-s*.json")):
            r = read_arm_result(path, claim)
            if r is not None and r.arm == arm.name:
                results.append(r)
        measured = {}
        for metric in _metrics_of(claim):
            ms = [m for m in (measure(r, metric) for r in results) if m is not None]
            if ms:
                s = arm_stats(ms)
                stats[(arm.name, metric)] = s
                measured[metric] = {"mean": s.mean, "se": s.se, "seeds": s.seeds, "values": list(s.values)}
        r0 = arm_recipe(arm, budget)
        arms.append(
            {
                "name": arm.name,
                "label": arm.title,
                "group": arm.group,
                "model": arm.model,
                "overrides": dict(arm.overrides),
                "recipe": r0.name,
                "recipe_changes": {**arm.recipe_changes, **budget.recipe_changes},
                "params": results[0].params if results else None,
                "macs": results[0].macs if results else None,
                "measured": measured,
                "paper": [{"metric": p.metric, "value": p.value, "where": p.where} for p in arm.paper],
                "runs": [
                    {
                        "seed": r.seed,
                        "diverged": r.diverged,
                        "wall_s": r.wall_s,
                        "estimated_s": r.estimated_s,
                        "images_per_s": r.images_per_s,
                        "train_images": r.train_images,
                        "test_images": r.test_images,
                        "classes": r.classes,
                        "curve": [
                            {
                                k: row[k]
                                for k in ("epoch", "train_err", "test_err", "val_err", "epoch_s")
                                if k in row
                            }
                            for row in r.rows
                        ],
                    }
                    for r in results
                ],
            }
        )
    complete = all(a["runs"] for a in arms)
    outcomes = judge_all(claim.checks_at(budget), stats, frozenset(a["name"] for a in arms if at_chance(a)))
    seeds = min((len(a["runs"]) for a in arms), default=0)
    evaluated = budget.name != "smoke" and complete
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
        "rule": RULE,
        "seed_note": ONE_SEED if seeds == 1 else "",
        "complete": complete,
        "arms": arms,
        "checks": [o.to_dict() for o in outcomes],
        "verdict": verdict(outcomes, evaluated=evaluated),
        "verdict_note": ""
        if evaluated
        else ("smoke budget: plumbing only" if budget.name == "smoke" else "not every arm has finished"),
        "wall_s": sum(r["wall_s"] for a in arms for r in a["runs"]),
        "note": claim.note,
    }


def write_report(claim: Claim, folder: Path, command: str = "") -> Path:
    """Collect the arms' results into ``folder/results.json`` and render ``report.md`` and the figures."""
    results = collect(claim, folder, command)
    (folder / "results.json").write_text(json.dumps(results, indent=1, allow_nan=False))
    return render(results, folder)


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
        "machine": machine(),
        "command": command,
        "note": claim.note,
        **computed,
    }
    (folder / "results.json").write_text(json.dumps(results, indent=1, allow_nan=False))
    return render(results, folder)


# ------------------------------------------------------------------------------------------------ rendering


def _factor(check: dict[str, Any]) -> str:
    """How a check of size reads in the table: the worse arm's metric at least ``factor`` × the better's."""
    f = check.get("factor", 1.0)
    return f" (worse ≥ {f:g} × better; gap = worse − {f:g} × better)" if f != 1.0 else ""


def _fmt(v: float | None, unit: str = "") -> str:
    if v is None:
        return "–"
    if abs(v) >= 1000:
        return f"{v:,.0f}{unit}"
    return f"{v:.2f}{unit}"


def _pm(m: dict[str, Any] | None) -> str:
    if not m:
        return "–"
    return f"{_fmt(m['mean'])} ± {_fmt(m['se'])}" if m["seeds"] > 1 or m["se"] else _fmt(m["mean"])


def _minutes(s: float | None) -> str:
    return "–" if s is None else f"{s / 60:.1f} min"


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


def render(results: dict[str, Any], folder: Path) -> Path:
    """``report.md`` (and figures) in ``folder`` from a results.json dict."""
    if results.get("kind") == "analytic":
        text = _render_analytic(escape_text(results))  # the one place text from results.json is escaped
    else:
        figures = draw_figures(results, folder)
        text = _render_trained(escape_text(results), figures)
    path = folder / "report.md"
    path.write_text(text)
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
    m = r["machine"]
    lines = _header(r) + [
        f"Rule: {r['rule']}." + (f" With {r['seed_note']}." if r.get("seed_note") else ""),
        "",
        f"Budget: **{r['budget']}** ({r.get('budget_note') or 'the paper recipe'}); data `{r['data']}`; "
        f"seeds {r['seeds']}; machine {_machine_line(m, r.get('amp'))}, torch {m.get('torch', '?')}; "
        f"total training wall time {_minutes(r['wall_s'])}.",
        "",
        f"Command: `{r['command']}`",
        "",
        "## Checks",
        "",
        "| the paper says | metric | better arm | worse arm | gap | threshold | outcome |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in r["checks"]:
        ch = c["check"]
        lines.append(
            f"| {ch['says']} | {ch['metric']}{_factor(ch)} | {ch['better']} {_fmt(c['better']['mean'])} | "
            f"{ch['worse']} {_fmt(c['worse']['mean'])} | {_fmt(c['gap'])} | {_fmt(c['threshold'])} | "
            f"{c['outcome']}{' (' + c['why'] + ')' if c.get('why') else ''} |"
        )
    metrics = sorted({k for a in r["arms"] for k in a["measured"]})
    lines += [
        "",
        "## Measured vs paper",
        "",
        "| arm | model | params | MACs | "
        + " | ".join(f"{k} (ours)" for k in metrics)
        + " | paper | wall time (est.) |",
        "|---" * (6 + len(metrics)) + "|",
    ]
    for a in r["arms"]:
        model = a["model"] + "".join(f", {k}={v}" for k, v in a["overrides"].items())
        paper = "; ".join(f"{p['metric']} {_fmt(p['value'])} ({p['where']})" for p in a["paper"]) or "–"
        wall = sum(x["wall_s"] for x in a["runs"]) if a["runs"] else None
        est = sum(x["estimated_s"] for x in a["runs"]) if a["runs"] else None
        failed = " (diverged)" if any(x.get("diverged") for x in a["runs"]) else ""
        failed += " (at chance)" if at_chance(a) else ""
        lines.append(
            f"| {a['label']}{failed} | `{model}` | {_fmt((a['params'] or 0) / 1e6, ' M') if a['params'] else '–'} | "
            f"{_fmt((a['macs'] or 0) / 1e6, ' M') if a['macs'] else '–'} | "
            + " | ".join(_pm(a["measured"].get(k)) for k in metrics)
            + f" | {paper} | {_minutes(wall)} ({_minutes(est)}) |"
        )
    lines += ["", "Metrics: " + "; ".join(f"{k} = {METRICS[k]}" for k in metrics if k in METRICS) + "."]
    if any(x.get("diverged") for a in r["arms"] for x in a["runs"]):
        lines += ["", "A diverged run (non-finite loss, the paper's 'fail') scores chance-level error."]
    if any(at_chance(a) for a in r["arms"]):
        lines += [
            "",
            f"An arm marked *at chance* ended training within {AT_CHANCE:g} points of chance-level error: it did "
            "not start to learn in this budget, so a check that involves it measures that, not the claim.",
        ]
    if r.get("note"):
        lines += ["", f"Note: {r['note']}"]
    lines += [""] + [f"![{f}]({f})" for f in figures]
    return "\n".join(lines) + "\n"


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
    fig.savefig(folder / name, dpi=90)
    plt.close(fig)
    return [name]
