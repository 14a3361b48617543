"""Paper check: our parameters and multiply-adds beside the figures each paper publishes, with provenance.

Every comparison names its source: a paper's table or section, or — listed apart, as parity checks — a peer
library's exact count (torchvision, timm), which is not the paper's figure. A figure matches when it agrees
to the precision it was written with ("0.27M" allows ±0.005 M; "<25M" is a bound). A difference is
``differs-explained`` when the figure or the model's registry entry carries a note, else ``differs``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from convzoo.inspect.summary import build_meta, human
from convzoo.inspect.trace import trace
from convzoo.registry import Figure, figure_bound, list_models, model_info, parse_figure

VERDICTS = ("match", "differs-explained", "differs", "no-figure")
_KEYS = ("params", "macs")


@dataclass
class Comparison:
    """One figure of one model: ours beside the published one. ``kind`` is ``paper`` or ``peer``."""

    model: str
    figure: str
    ours: int
    paper: str | int | None
    source: str | None
    verdict: str
    note: str | None
    kind: str = "paper"
    input_size: tuple[int, ...] = ()


@dataclass
class ModelCheck:
    """All comparisons of one model, at its paper's input size."""

    model: str
    params: int
    macs: int
    input_size: tuple[int, ...]
    comparisons: list[Comparison] = field(default_factory=list)

    @property
    def unexplained(self) -> list[Comparison]:
        return [c for c in self.comparisons if c.verdict == "differs"]


def _verdict(ours: int, published: str | int, note: str | None) -> str:
    value, tol = parse_figure(published)
    bound = figure_bound(published)
    ok = ours < value if bound == "<" else ours > value if bound == ">" else abs(ours - value) <= tol + 1e-9 * value
    return "match" if ok else ("differs-explained" if note else "differs")


def _figures(name: str) -> list[Figure]:
    """The model's published counts: the paper's ``params``/``macs`` (from ``Reported.source``), then the rest."""
    rep = model_info(name).reported
    main = [Figure(k, getattr(rep, k), rep.source or "") for k in _KEYS if getattr(rep, k) is not None]
    return main + list(rep.figures)


def check_model(name: str) -> ModelCheck:
    """Count ``name`` on the meta device at its paper's input size and compare with every published figure."""
    info = model_info(name)
    counted: dict[tuple[tuple[str, Any], ...], dict[str, int]] = {}
    input_size: tuple[int, ...] = ()

    def count(config: tuple[tuple[str, Any], ...]) -> dict[str, int]:  # of the network a figure counts
        nonlocal input_size
        if config not in counted:
            model, size = build_meta(name, **dict(config))
            tracer, _, _ = trace(model.eval(), size, track_rf=False, per_module=False)
            counted[config] = {"params": sum(p.numel() for p in model.parameters()), "macs": sum(tracer.macs.values())}
            input_size = input_size or tuple(size)
        return counted[config]

    ours = count(())
    check = ModelCheck(name, ours["params"], ours["macs"], tuple(input_size))
    figures = _figures(name)
    for fig in figures:
        note = fig.note or (info.note if not fig.peer else None)
        shown = note
        if fig.config:  # said beside the figure; it explains no difference
            where = ", ".join(f"{k}={v!r}" for k, v in fig.config)
            shown = f"counted with {where}" + (f"; {note}" if note else "")
        check.comparisons.append(
            Comparison(
                model=name,
                figure=fig.figure,
                ours=count(fig.config)[fig.figure],
                paper=fig.value,
                source=fig.source,
                verdict=_verdict(count(fig.config)[fig.figure], fig.value, note),
                note=shown,
                kind="peer" if fig.peer else "paper",
                input_size=tuple(input_size),
            )
        )
    for key in _KEYS:
        if not any(f.figure == key and not f.peer for f in figures):
            check.comparisons.append(
                Comparison(name, key, ours[key], None, None, "no-figure", None, "paper", tuple(input_size))
            )
    order = {k: i for i, k in enumerate(_KEYS)}
    check.comparisons.sort(key=lambda c: (c.kind != "paper", order[c.figure]))
    return check


def paper_check(pattern: str = "*") -> list[ModelCheck]:
    """Check every registered model matching ``pattern``."""
    names = list_models(pattern)
    if not names:
        raise ValueError(f"no model matches {pattern!r}; run `convzoo list` to see the names")
    return [check_model(n) for n in names]


def _cells(c: Comparison) -> list[str]:
    published = "-" if c.paper is None else str(c.paper)
    return [c.model, c.figure, human(c.ours), published, c.source or "-", c.verdict]


def format_checks(checks: list[ModelCheck], fmt: str = "table") -> str:
    """Render checks as a table (paper figures, then peer parity checks, notes under differences), markdown
    or JSON (a list of comparisons, each with its source)."""
    rows = [c for check in checks for c in check.comparisons]
    if fmt == "json":
        return json.dumps([_json(c) for c in rows], indent=2)
    if fmt not in ("table", "markdown"):
        raise ValueError(f"unknown format {fmt!r}; choose table, markdown or json")
    head = ["Model", "Figure", "Ours", "Published", "Source", "Verdict"]
    out: list[str] = []
    for kind, title in (("paper", "Papers' figures"), ("peer", "Parity with peer libraries (not the papers' figures)")):
        part = [c for c in rows if c.kind == kind]
        if part:
            out += [title, *_render(head, part, fmt), ""]
    counts = {v: sum(c.verdict == v for c in rows if c.kind == "paper") for v in VERDICTS}
    bad = sorted({c.model for c in rows if c.verdict == "differs"})
    out.append(
        f"{len(checks)} models, {sum(counts.values())} paper figures: {counts['match']} match, "
        f"{counts['differs-explained']} differ with a note, {counts['differs']} differ without one, "
        f"{counts['no-figure']} have no published figure; "
        f"{sum(c.kind == 'peer' for c in rows)} peer parity checks"
        + (f". Unexplained: {', '.join(bad)}" if bad else "")
    )
    return "\n".join(out)


def _render(head: list[str], part: list[Comparison], fmt: str) -> list[str]:
    cells = [_cells(c) for c in part]
    notes = [c.note if c.verdict.startswith("differs") else None for c in part]
    if fmt == "markdown":
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(x.replace("|", "\\|") for x in r) + " |" for r in cells]
        seen = dict.fromkeys(f"- **{c.model}**: {n}" for c, n in zip(part, notes, strict=True) if n)
        return lines + ([""] + list(seen) if seen else [])
    widths = [max(len(x) for x in col) for col in zip(head, *cells, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)).rstrip()]
    noted: set[tuple[str, str]] = set()
    for c, r, note in zip(part, cells, notes, strict=True):
        lines.append("  ".join(x.ljust(w) for x, w in zip(r, widths, strict=True)).rstrip())
        if note and (c.model, note) not in noted:
            noted.add((c.model, note))
            lines.append(f"    note: {note}")
    return lines


def _json(c: Comparison) -> dict[str, Any]:
    d = asdict(c)
    d["input_size"] = list(c.input_size)
    return d
