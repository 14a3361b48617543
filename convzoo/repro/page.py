"""A trained claim's page at one budget (``report.md``), rendered from its results.json re-judged under today's
rules: the headline that counts the checks' outcomes, what ran and how much of the paper's training that is,
estimated against actual time, the spec hash, the changes made after first results, every check with its
noise, power and the arms' convergence, and the arms' numbers beside the paper's."""

from __future__ import annotations

import math
from typing import Any

from convzoo.repro.spec import METRICS

__all__ = ["render_trained"]


def _fmt(v: float | None, unit: str = "") -> str:
    if v is None:
        return "–"
    return f"{v:,.0f}{unit}" if abs(v) >= 1000 else f"{v:.2f}{unit}"


def _minutes(s: float | None) -> str:
    return "–" if not s else f"{s / 60:.0f} min" if s >= 600 else f"{s / 60:.1f} min"


def _pm(m: dict[str, Any] | None) -> str:
    if not m:
        return "–"
    return f"{_fmt(m['mean'])} ± {_fmt(m['se'])}" if m.get("se") else _fmt(m["mean"])


def _header(r: dict[str, Any]) -> list[str]:
    head = r.get("headline") or r.get("verdict_note") or "not evaluated"
    return [
        f"# {r['claim']} ({r['budget']} budget): {r['says']}",
        "",
        f"Paper: {r['paper']}, {r['where']}.",
        "",
        f"**{head[0].upper() + head[1:]}.** Claim: {r['verdict']}.",
        "",
    ]


def _fractions(r: dict[str, Any]) -> str:
    fr = [a["fraction_of_paper"] for a in r["arms"] if a.get("fraction_of_paper")]
    if not fr:
        return ""
    lo, hi = min(fr), max(fr)
    span = f"{100 * lo:.2g}%" if abs(hi - lo) < 1e-9 else f"{100 * lo:.2g}–{100 * hi:.2g}%"
    return f" This is {span} of the paper's training (images seen)."


def _estimated(r: dict[str, Any]) -> float:
    return sum(x.get("estimated_s", 0.0) for a in r["arms"] for x in a["runs"])


def _machines(r: dict[str, Any], line: Any) -> str:
    """Every machine the runs were trained on (arms can run in different sessions), else the claim's; runs on
    one machine share a line that gives the range of the load averages they ended at."""
    seen: dict[str, tuple[list[str], list[float]]] = {}
    for a in r["arms"]:
        for x in a["runs"]:
            if x.get("machine"):
                m = dict(x["machine"])
                load = m.pop("load", None)
                runs, loads = seen.setdefault(line(m, r.get("amp")), ([], []))
                runs.append(f"{a['name']}-s{x.get('seed', 0)}")
                loads.extend([float(load)] if _is_number(load) else [])
    if not seen:
        return line(r["machine"], r.get("amp"))
    out = []
    for m, (runs, loads) in seen.items():
        if loads:
            lo, hi = min(loads), max(loads)
            span = f"{lo:.1f}" if hi - lo < 0.05 else f"{lo:.1f}–{hi:.1f}"
            m = f"{m[:-1]}; load average {span} when the {'arm' if len(runs) == 1 else 'arms'} ended)"
        out.append(m if len(seen) == 1 else f"{m} for {', '.join(runs)}")
    return "; ".join(out)


def _is_number(v: Any) -> bool:
    try:
        return v is not None and math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def _what_ran(r: dict[str, Any], machine_line: str) -> list[str]:
    stale = r.get("stale_runs") or []
    spec = f"spec hash `{r.get('spec_hash', '–')}`"
    if stale:
        spec += (f"; **{len(stale)} run(s) trained under another arm spec or before specs were hashed** "
                 f"({', '.join(stale[:8])}): re-run them under today's spec before trusting this page")  # fmt: skip
    elif _rules_revised(r):
        spec += "; every run matches today's arm specs (the rules were revised since, and are applied here)"
    return [
        f"Budget: **{r['budget']}** — {r.get('budget_note') or 'the paper recipe'}; data `{r['data']}`; seeds "
        f"{r['seeds']}.{_fractions(r)}",
        "",
        f"Machine: {machine_line}. Its arms trained for {_minutes(r['wall_s'])} in all, their wall times summed "
        f"(estimated when they ran: {_minutes(_estimated(r))}); {spec}.",
        "",
        f"Command: `{r['command']}`",
        "",
    ]


def _rules_revised(r: dict[str, Any]) -> bool:
    """Whether the page's runs were trained under a spec hash other than today's (its rules revised since)."""
    return bool(r.get("run_spec_hashes")) and r["run_spec_hashes"] != [r.get("spec_hash")]


def _changes(r: dict[str, Any]) -> list[str]:
    ch = r.get("changes") or []
    if not ch:
        lines = ["Pre-registration: no change to this budget's spec after its first results.", ""]
    else:
        lines = ["Changed after this budget's first results (when, what, why):", ""]
        lines += [f"- {c['when']}: {c['what']} — {c['why']}" for c in ch] + [""]
    if _rules_revised(r) and r.get("rule_revisions"):
        lines += ["Rules revised after results were seen (applied here to the same recorded curves; a rule retrains "
                  "nothing, so no arm was re-run):", ""]  # fmt: skip
        lines += [f"- version {v['version']}, {v['when']}: {v['what']} — {v['why']}" for v in r["rule_revisions"]]
        lines += [""]
    return lines


def _noise(c: dict[str, Any]) -> str:
    if c.get("interleaved"):
        return f"steps timed interleaved: gap = saving in %, ±{_fmt(c.get('se_test'))}"
    if c.get("paired"):
        txt = f"paired: test ±{_fmt(c.get('se_test'))}"
        txt += f", seeds ±{_fmt(c.get('se_seed'))}" if c.get("se_seed") else ""
        return txt + (f"; McNemar p {c['p_mcnemar']:.2g}" if c.get("p_mcnemar") is not None else "")
    return "unpaired"


def _converged(c: dict[str, Any]) -> str:
    falls = c.get("falls") or {}
    dead = set(c.get("at_chance") or ())
    cells = []
    for k, v in falls.items():
        said = ([] if v is None else [_fmt(v)]) + (["near chance"] if k.rsplit("-s", 1)[0] in dead else [])
        cells.append(f"{k} {', '.join(said) or _fmt(v)}")
    return "; ".join(cells) or "–"


def _check_rows(r: dict[str, Any]) -> list[str]:
    lines = [
        "## Checks",
        "",
        "| the paper says | metric | better | worse | gap | noise | needed | paper gap / resolvable | "
        "training error still falling (points over a tenth of the run, at its end or before the rate decayed) | "
        "outcome |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in r["checks"]:
        ch, sel = c["check"], c.get("selected") or {}
        b, w = sel.get(ch["better"], ch["better"]), sel.get(ch["worse"], ch["worse"])
        factor = f" (worse ≥ {ch['factor']:g} × better)" if ch.get("factor", 1) != 1 else ""
        power = f"{_fmt(c.get('paper_gap'))} / {_fmt(c.get('resolvable'))}" if c.get("resolvable") else "–"
        why = f" ({c['why']}; the gap by itself: {c['gap_alone']})" if c.get("why") and c.get("gap_alone") else ""
        lines.append(
            f"| {ch['says']} | {ch['metric']}{factor} | {b} {_fmt((c.get('better') or {}).get('mean'))} | "
            f"{w} {_fmt((c.get('worse') or {}).get('mean'))} | {_fmt(c.get('gap'))} | {_noise(c)} | "
            f"{_fmt(c.get('threshold'))} | {power} | {_converged(c)} | **{c['outcome']}**{why} |"
        )
    declared = {k: v for c in r["checks"] for k, v in (c["check"].get("differs") or {}).items()}
    if declared:
        lines += ["", "Declared differences between a check's arms: "
                  + "; ".join(f"{k}: {v}" for k, v in sorted(declared.items())) + "."]  # fmt: skip
    return lines + [""]


def _arm_rows(r: dict[str, Any], at_chance: Any) -> list[str]:
    metrics = sorted({k for a in r["arms"] for k in a["measured"]})
    lines = [
        "## Measured vs paper",
        "",
        "| arm | model | params | MACs | " + " | ".join(f"{k} (ours)" for k in metrics)
        + " | paper | share of the paper's training | wall time (estimated when it ran) |",
        "|---" * (7 + len(metrics)) + "|",
    ]
    for a in r["arms"]:
        model = a["model"] + "".join(f", {k}={v}" for k, v in a["overrides"].items())
        paper = "; ".join(f"{p['metric']} {_fmt(p['value'])} ({p['where']})" for p in a["paper"]) or "–"
        runs = a["runs"]
        flag = " (diverged)" if any(x.get("diverged") for x in runs) else ""
        flag += " (**near chance**)" if at_chance(a) else ""
        share = f"{100 * a['fraction_of_paper']:.2g}%" if a.get("fraction_of_paper") else "–"
        lines.append(
            f"| {a['label']}{flag} | `{model}` | {_fmt((a['params'] or 0) / 1e6, ' M') if a['params'] else '–'} | "
            f"{_fmt((a['macs'] or 0) / 1e6, ' M') if a['macs'] else '–'} | "
            + " | ".join(_pm(a["measured"].get(k)) for k in metrics)
            + f" | {paper} | {share} | {_minutes(sum(x['wall_s'] for x in runs))} "
            f"({_minutes(sum(x['estimated_s'] for x in runs))}) |"
        )
    lines += ["", "Metrics: " + "; ".join(f"{k} = {METRICS[k]}" for k in metrics if k in METRICS) + "."]
    return lines + [""]


def render_trained(r: dict[str, Any], figures: list[str], machine_line: Any, at_chance: Any) -> str:
    """``report.md`` of a trained claim at one budget; ``machine_line(machine, amp)`` names a machine."""
    lines = _header(r) + _what_ran(r, _machines(r, machine_line)) + _changes(r) + _check_rows(r) + _arm_rows(r, at_chance)
    lines += [f"Rule: {r['rule']}.", ""]
    if any(c["check"]["metric"] == "train_s" for c in r["checks"]):
        lines += [
            "Training times are this machine's CPU seconds; the paper's are GPU hours. Only the relative saving "
            "(1 − better ÷ worse) is comparable with the paper's.",
            "",
        ]
    if r.get("note"):
        lines += [f"Note: {r['note']}", ""]
    lines += [f"![{f}]({f})" for f in figures]
    return "\n".join(lines) + "\n"
