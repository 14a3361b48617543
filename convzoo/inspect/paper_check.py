"""Paper check: our parameters and multiply-adds beside the figures each paper reports.

A figure matches when it agrees to the precision the paper wrote it with ("0.27M" allows ±0.005 M).
A difference is acceptable only if the model's registry entry carries a note that explains it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from convzoo.inspect.summary import build_meta
from convzoo.inspect.trace import trace
from convzoo.registry import list_models, model_info, parse_figure


@dataclass
class Check:
    """One model's comparison: ``status`` is ``ok``, ``noted`` (differs, explained), ``MISMATCH`` or ``no figure``
    (the paper reports neither parameters nor multiply-adds for it)."""

    model: str
    params: int
    macs: int
    input_size: tuple[int, int, int]
    paper_params: str | None
    paper_macs: str | None
    params_ok: bool | None
    macs_ok: bool | None
    accuracy: str
    status: str
    note: str | None
    source: str | None


def _compare(ours: int, reported: Any) -> bool | None:
    if reported is None:
        return None
    value, tol = parse_figure(reported)
    return abs(ours - value) <= tol + 1e-9 * value


def _accuracy(rep: Any) -> str:
    parts = []
    for key, label in (
        ("top1_err", "top-1 err"),
        ("top5_err", "top-5 err"),
        ("cifar10_err", "C10 err"),
        ("cifar100_err", "C100 err"),
    ):
        v = getattr(rep, key)
        if v is not None:
            parts.append(f"{label} {v}%")
    return ", ".join(parts)


def check_model(name: str) -> Check:
    """Count ``name`` on the meta device at its paper's input size and compare with the paper."""
    info = model_info(name)
    model, input_size = build_meta(name)
    tracer, _, _ = trace(model.eval(), input_size, track_rf=False, per_module=False)
    params = sum(p.numel() for p in model.parameters())
    macs = sum(tracer.macs.values())
    rep = info.reported
    p_ok, m_ok = _compare(params, rep.params), _compare(macs, rep.macs)
    differs = p_ok is False or m_ok is False
    if differs:
        status = "noted" if info.note else "MISMATCH"
    else:
        status = "ok" if (p_ok or m_ok) else "no figure"
    return Check(
        model=name,
        params=params,
        macs=macs,
        input_size=info.input_size,
        paper_params=None if rep.params is None else str(rep.params),
        paper_macs=None if rep.macs is None else str(rep.macs),
        params_ok=p_ok,
        macs_ok=m_ok,
        accuracy=_accuracy(rep),
        status=status,
        note=info.note,
        source=rep.source,
    )


def paper_check(pattern: str = "*") -> list[Check]:
    """Check every registered model matching ``pattern``."""
    names = list_models(pattern)
    if not names:
        raise ValueError(f"no model matches {pattern!r}; run `convzoo list` to see the names")
    return [check_model(n) for n in names]


def _mark(ok: bool | None) -> str:
    return {None: "", True: "✓", False: "✗"}[ok]


def format_checks(checks: list[Check], fmt: str = "table") -> str:
    """Render checks as a table (notes under each differing model), markdown or JSON."""
    if fmt == "json":
        return json.dumps([asdict(c) for c in checks], indent=2)
    head = ["Model", "Params", "Paper", "", "MACs", "Paper", "", "Paper accuracy", "Status"]
    rows = [
        [
            c.model,
            f"{c.params / 1e6:.3f}M",
            c.paper_params or "-",
            _mark(c.params_ok),
            f"{c.macs / 1e9:.3f}G",
            c.paper_macs or "-",
            _mark(c.macs_ok),
            c.accuracy or "-",
            c.status,
        ]
        for c in checks
    ]
    if fmt == "markdown":
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        notes = [f"- **{c.model}**: {c.note}" for c in checks if c.note]
        return "\n".join(lines + ([""] + notes if notes else []))
    if fmt != "table":
        raise ValueError(f"unknown format {fmt!r}; choose table, markdown or json")
    widths = [max(len(x) for x in col) for col in zip(head, *rows, strict=True)]
    out = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True))]
    for c, r in zip(checks, rows, strict=True):
        out.append("  ".join(x.ljust(w) for x, w in zip(r, widths, strict=True)))
        if c.note and c.status != "ok":
            out.append(f"    note: {c.note}")
    bad = [c.model for c in checks if c.status == "MISMATCH"]
    out.append("")
    out.append(
        f"{len(checks)} models: {sum(c.status == 'ok' for c in checks)} match, "
        f"{sum(c.status == 'no figure' for c in checks)} have no published figure, "
        f"{sum(c.status == 'noted' for c in checks)} differ with a note, {len(bad)} differ without one"
        + (f" ({', '.join(bad)})" if bad else "")
    )
    return "\n".join(out)
