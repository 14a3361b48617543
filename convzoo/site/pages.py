"""The site's Markdown pages: the home page with its model table, and one page per registered network.

Every number here is taken from what the CLI's own functions return — :func:`convzoo.inspect.summary` (its
Markdown is ``convzoo summary --format markdown``), :func:`convzoo.inspect.paper_check.check_model`
(``convzoo paper-check``), :func:`convzoo.hub.weight_sources` (``convzoo list --weights``), the chart's
points (``convzoo chart``) — and only laid out here, never recomputed.
"""

from __future__ import annotations

import html
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from convzoo.inspect.summary import COLUMNS, Summary, human
from convzoo.registry import ModelInfo

NAME = re.compile(r"^[a-z0-9][a-z0-9_]*$")
DIAGRAM_TARGET_PX = 600  # desktop width a diagram is shown at, unless that would enlarge it more than 2×


@dataclass(frozen=True)
class ReproUse:
    """A reproduction whose arms train this network."""

    claim: str
    says: str
    arms: tuple[str, ...]
    verdict: str | None  # from the committed results, None: not run yet
    has_page: bool


@dataclass
class ModelPage:
    """What one network's page shows, gathered by :mod:`convzoo.site.build`."""

    info: ModelInfo
    summary: Summary  # depth 1; depth 2 and the full table are laid out from it
    paper: Summary | None  # summary(..., paper=True) where the paper prints a per-layer table
    checks: str  # format_checks([...], "markdown")
    weights: list[Any]  # WeightSource
    weights_table: str | None  # format_weights_table(..., markdown=True)
    repros: list[ReproUse]
    diagram: Any | None  # SiteDiagram
    diagram_note: str
    family: list[str]
    built: set[str]
    top1: Any | None = None  # chart Point (ImageNet top-1 with its provenance)
    cifar: Any | None = None  # chart Point (CIFAR-10 test error)
    train_recipe: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


def page_path(name: str) -> str:
    """``models/<name>.md`` for a registered name (names are plain identifiers; anything else is refused)."""
    if not NAME.match(name):
        raise ValueError(f"not a registered model name: {name!r}")
    return f"models/{name}.md"


def paper_link(info: ModelInfo) -> str:
    p = info.paper
    if p.arxiv:
        return f"[arXiv:{p.arxiv}](https://arxiv.org/abs/{p.arxiv})"
    if p.url:
        return f"[{p.url}]({p.url})"
    return ""


def family_text(info: ModelInfo) -> str:
    """The family's short explanation: the opening paragraphs of its module's docstring, as Markdown."""
    doc = (sys.modules[info.fn.__module__].__doc__ or "").strip()
    paras = [p.strip() for p in doc.split("\n\n") if p.strip()]
    keep: list[str] = []
    for p in paras:
        keep.append(p)
        if len(keep) >= 2 and not p.endswith(":"):
            break
    text = "\n\n".join(keep)
    text = re.sub(
        r":(?:class|mod|func|meth|attr):`~?([^`]+)`", lambda m: f"`{m.group(1).split('.')[-1]}`", text
    )
    return text.replace("``", "`")


def blocks(markdown: str) -> str:
    """The CLI's Markdown with a blank line before and after each table, so a title line right above a
    table (``convzoo paper-check --format markdown``) does not swallow it into its paragraph."""
    out: list[str] = []
    for line in markdown.splitlines():
        is_row, was_row = line.startswith("|"), bool(out) and out[-1].startswith("|")
        if out and out[-1].strip() and is_row != was_row:
            out.append("")
        out.append(line)
    return "\n".join(out)


def transpose_table(markdown: str, key: int = 0, drop: Sequence[int] = ()) -> str:
    """A Markdown table (the first one in ``markdown``) turned so its columns become rows, headed by column
    ``key``'s cells and without the columns in ``drop``: a wide table of a few entries (``convzoo list
    --weights``) then fits a page, with the same cells. Text after the table is kept."""
    lines = markdown.splitlines()
    rows = [line for line in lines if line.startswith("|")]
    rest = [line for line in lines if not line.startswith("|")]
    if len(rows) < 3:
        return markdown
    cells = [re.split(r"(?<!\\)\|", r.strip()[1:-1]) for r in rows]
    cells = [[c.strip() for c in r] for r in cells]
    head, body = cells[0], cells[2:]
    out = ["| " + " | ".join([head[key], *[r[key] for r in body]]) + " |", "|" + "---|" * (len(body) + 1)]
    out += [
        "| " + " | ".join([f"**{h}**", *[r[i] for r in body]]) + " |"
        for i, h in enumerate(head)
        if i != key and i not in drop
    ]
    return "\n".join(out + rest)


def _md_cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _indent(text: str, n: int = 4) -> str:
    return "\n".join((" " * n + line) if line.strip() else "" for line in text.splitlines())


def _summary_md(s: Summary) -> str:
    """``convzoo summary --format markdown`` without its first line (the model's name, the page's title)."""
    lines = s.to_markdown().splitlines()
    return "\n".join(lines[2:] if lines and lines[0].startswith("**") else lines)


def _paper_md(s: Summary) -> str:
    """The paper's per-layer table part of ``convzoo summary --paper --format markdown``."""
    text = s.to_markdown()
    at = text.find(f"\n**{s.paper_source}")  # the paper's table follows our layer table and its notes
    return text[at + 1 :] if at >= 0 else ""


def receptive_field(s: Summary) -> tuple[str, str] | None:
    """(layer, receptive field) of the last layer whose units see a local region, from the full table."""
    rows = s.at_depth(None).layers
    local = [r for r in rows if r.receptive_field is not None and not r.is_global]
    if not local:
        return None
    r = local[-1]
    return r.name, COLUMNS["rf"][1](r, s)


def diagram_html(name: str, diagram: Any, prefix: str = "../") -> str:
    """The diagram at its natural size (enlarged up to 2× towards 600 px): one wider than the page scrolls
    sideways inside its box rather than shrinking past legibility; a phone fits it to the screen (tap: full
    size)."""
    w = diagram.width_px
    shown = max(w, min(DIAGRAM_TARGET_PX, 2 * w)) if w else DIAGRAM_TARGET_PX
    src = f"{prefix}diagrams/{name}.svg"
    return (
        f'<div class="cz-diagram" markdown="0">\n'
        f'<a href="{src}" title="open the SVG at full size">'
        f'<img src="{src}" alt="diagram of {name}" width="{shown:.0f}"></a>\n</div>\n'
        f'<p class="cz-caption">{name}: {diagram.boxes} boxes, drawn by <code>convzoo draw {name}</code> '
        f"(Graphviz); identity shortcuts solid, projections dashed, repeated blocks folded into one box "
        f'marked ×N. Open it at full size: <a href="{src}">{name}.svg</a>.</p>'
    )


def _train_command(info: ModelInfo, recipe: str | None) -> str:
    name = info.name
    c, h, _ = info.input_size
    if c == 1:
        cmd = f"convzoo train {name} --data digits --image-size {h}"
    elif info.num_classes == 10:
        cmd = f"convzoo train {name} --data cifar10 --download"
    else:
        cmd = f"convzoo train {name} --data PATH/TO/IMAGENET   # PATH/{{train,test}}/<class>/*.jpg, streamed"
    if recipe:
        cmd = cmd.replace(f"{name} ", f"{name} --recipe {recipe} ", 1)
    return cmd


def code_block(info: ModelInfo, weights: Sequence[Any], recipe: str | None) -> str:
    name = info.name
    size = "x".join(map(str, info.input_size))
    py = [
        "import torch",
        "import convzoo",
        "",
        f"model = convzoo.create_model({name!r})  # random initialization",
    ]
    for w in weights:
        py.append(f"model = convzoo.{w.create_call(weights=w.source)}")
    py += [
        f"model = convzoo.create_model({name!r}, num_classes=10)  # a new head",
        f"print(convzoo.summary({name!r}, depth=2))  # the layer table",
        "",
        "model.eval()",
        f"logits = model(torch.randn(1, {', '.join(map(str, info.input_size))}))",
    ]
    sh = [
        f"convzoo info {name}",
        f"convzoo summary {name} --depth 2{' --paper' if info.name in _paper_names() else ''}",
        f"convzoo paper-check {name}",
        f"convzoo draw {name} -o {name}.svg",
        _train_command(info, recipe),
        f"convzoo export {name} --format onnx -o {name}.onnx   # input {size}, dynamic batch",
    ]
    return "```python\n" + "\n".join(py) + "\n```\n\n```bash\n" + "\n".join(sh) + "\n```"


def _paper_names() -> set[str]:
    from convzoo.inspect.paper_tables import PAPER_TABLES

    return set(PAPER_TABLES)


def _reported(info: ModelInfo) -> list[str]:
    rep = info.reported
    src = f" ({rep.source})" if rep.source else ""
    out = []
    for key, label in (
        ("top1_err", "ImageNet top-1 error"),
        ("top5_err", "ImageNet top-5 error"),
        ("cifar10_err", "CIFAR-10 test error"),
        ("cifar100_err", "CIFAR-100 test error"),
    ):
        value = getattr(rep, key)
        if value is not None:
            out.append(f"- {label}: {value}%{src}")
    for key, label in (("params", "parameters"), ("macs", "multiply-adds")):
        value = getattr(rep, key)
        if value is not None:
            out.append(f"- {label}: {value}{src}")
    return out


def model_page(p: ModelPage) -> str:
    """A network's page: its card, family, diagram, layer tables, paper check, weights, reproductions, code."""
    rf = receptive_field(p.summary)
    sections = (_card(p, rf), _family(p), _layers(p, rf), _checks(p), _weights(p), _reproductions(p))
    use = ["## Use it", "", code_block(p.info, p.weights, p.train_recipe), ""]
    return "\n".join([line for section in sections for line in section] + use)


def _card(p: ModelPage, rf: tuple[str, str] | None) -> list[str]:
    info, s = p.info, p.summary
    lines = [
        f"# {info.name}",
        "",
        _md_cell(info.description),
        "",
        f"**Paper**: {info.paper.authors} ({info.paper.year}). *{info.paper.title}*. {paper_link(info)}",
        "",
        f"| network | {info.name} |",
        "|---|---|",
        f"| family | {info.family} ({info.paper.year}) |",
        f"| input | {'×'.join(map(str, info.input_size))}, {info.num_classes} classes |",
        f"| parameters | {s.total_params:,} ({human(s.total_params)}) |",
        f"| MACs | {s.total_macs:,} ({human(s.total_macs)}) |",
        f"| receptive field | {rf[1] + ' px' if rf else '-'} |",
        "",
    ]
    if p.top1 is not None:
        lines += [f"ImageNet top-1: **{p.top1.value:.2f}%** ({html.escape(p.top1.provenance)}).", ""]
    if p.cifar is not None:
        lines += [f"CIFAR-10 test error: **{p.cifar.value:g}%** ({html.escape(p.cifar.provenance)}).", ""]
    if info.note:
        lines += ['!!! note "Where this differs from the paper"', "", _indent(info.note), ""]
    return lines


def _family(p: ModelPage) -> list[str]:
    name = p.info.name
    links = [(f"**{m}**" if m == name else f"[{m}]({m}.md)" if m in p.built else m) for m in p.family]
    lines = [f"## The {p.info.family} family", "", family_text(p.info), "", "Variants: " + " · ".join(links), ""]
    lines += ["## Diagram", ""]
    return lines + ([diagram_html(name, p.diagram), ""] if p.diagram is not None else [p.diagram_note, ""])


def _layers(p: ModelPage, rf: tuple[str, str] | None) -> list[str]:
    info, s = p.info, p.summary
    lines = [
        "## Layers",
        "",
        f"`convzoo summary {info.name}` at depth 1 and 2, computed on the meta device at the paper's input size. "
        "MACs are the multiply-accumulates of convolutions and fully connected layers (FLOPs = 2 × MACs); RF is "
        "each layer's receptive field in input pixels.",
        "",
        '=== "Depth 1"',
        "",
        _indent(_summary_md(s)),
        "",
        '=== "Depth 2"',
        "",
        _indent(_summary_md(s.at_depth(2))),
        "",
    ]
    if p.paper is not None:
        lines += ['=== "The paper\'s table"', "", _indent(_paper_md(p.paper)), ""]
    if rf:
        lines += [
            "### Receptive field",
            "",
            f"The last layer that still sees a local region, `{rf[0]}`, has a receptive field of **{rf[1]}** "
            f"input pixels at a {info.input_size[1]}×{info.input_size[2]} input (the RF column above, "
            "propagated through every branch and shortcut, taking the widest).",
            "",
        ]
    return lines


def _checks(p: ModelPage) -> list[str]:
    lines = ["## Paper check", "", f"`convzoo paper-check {p.info.name}`:", "", blocks(p.checks), ""]
    reported = _reported(p.info)
    return lines + (["### Reported in the paper", "", *reported, ""] if reported else [])


def _weights(p: ModelPage) -> list[str]:
    lines = ["## Weights", ""]
    if not p.weights_table:
        return lines + ["No pretrained weights are mapped for this network; train it with `convzoo train`.", ""]
    lines += [f"`convzoo list {p.info.name} --weights`:", "", transpose_table(p.weights_table, key=1, drop=(0,)), ""]
    for w in p.weights:
        pre = w.preprocess
        if pre is not None:
            lines.append(
                f"- **{w.source}** preprocessing: resize {pre.resize} ({pre.interpolation}), centre crop "
                f"{pre.crop}, mean {pre.mean}, std {pre.std}" + (f" — {pre.source}" if pre.source else "")
            )
    return lines + [""]


def _reproductions(p: ModelPage) -> list[str]:
    lines = ["## Reproductions", ""]
    if not p.repros:
        return lines + ["No reproduction trains this network yet ([all reproductions](../repro/index.md)).", ""]
    for r in p.repros:
        title = f"[{r.claim}](../repro/{r.claim}/report.md)" if r.has_page else f"`{r.claim}`"
        verdict = f"verdict: **{r.verdict}**" if r.verdict else "not run yet"
        lines.append(f"- {title} — {_md_cell(r.says)} Arms: {', '.join(r.arms)}; {verdict}.")
    return lines + [""]


@dataclass(frozen=True)
class HomeRow:
    name: str
    family: str
    year: int
    params: int
    macs: int
    top1: Any | None  # chart Point
    cifar: Any | None
    linked: bool


def _cell(text: str, value: float | int | str | None = None, title: str | None = None) -> str:
    attrs = "" if value is None else f' data-value="{value}"'
    attrs += "" if title is None else f' title="{html.escape(title)}"'
    return f"<td{attrs}>{text}</td>"


def model_table(rows: Sequence[HomeRow]) -> str:
    head = [
        ("network", "text"),
        ("family", "text"),
        ("year", "number"),
        ("parameters", "number"),
        ("MACs", "number"),
        ("ImageNet top-1 %", "number"),
        ("CIFAR-10 error %", "number"),
    ]
    out = [
        '<div class="cz-filter-bar"><label for="cz-filter">Filter</label> '
        '<input id="cz-filter" type="search" placeholder="name, family or year, e.g. resnet, 2015, cifar" '
        'autocomplete="off"> <span id="cz-count" aria-live="polite"></span></div>',
        '<div class="md-typeset__scrollwrap"><div class="md-typeset__table">',
        '<table id="cz-models">',
        "<thead><tr>"
        + "".join(f'<th data-kind="{k}" tabindex="0" role="button">{h}</th>' for h, k in head)
        + "</tr></thead>",
        "<tbody>",
    ]
    for r in rows:
        name = f'<a href="models/{r.name}.html">{r.name}</a>' if r.linked else r.name
        top1 = (
            _cell("", None)
            if r.top1 is None
            else _cell(f"{r.top1.value:.2f}", r.top1.value, r.top1.provenance)
        )
        cifar = (
            _cell("", None)
            if r.cifar is None
            else _cell(f"{r.cifar.value:g}", r.cifar.value, r.cifar.provenance)
        )
        out.append(
            "<tr>"
            + _cell(name, r.name)
            + _cell(r.family)
            + _cell(str(r.year), r.year)
            + _cell(human(r.params), r.params, f"{r.params:,}")
            + _cell(human(r.macs), r.macs, f"{r.macs:,}")
            + top1
            + cifar
            + "</tr>"
        )
    out += ["</tbody>", "</table>", "</div></div>"]
    return "\n".join(out)


def home_page(rows: Sequence[HomeRow], charts: Sequence[tuple[str, str]], version: str) -> str:
    lines = [
        "---",
        "hide: [navigation, toc]",  # the table gets the page's width
        "---",
        "",
        "# convzoo",
        "",
        "The classic convolutional networks of image recognition — LeNet, AlexNet, VGG, Network in Network, "
        "GoogLeNet and the Inception line, ResNet and its descendants, DenseNet — each built exactly as its "
        "paper describes it, with the paper's figures beside ours: build, inspect, train, reproduce. "
        f"This site (convzoo {version}) is generated by `convzoo site` from the model registry and the "
        "committed results, with the same functions as the command line, so a number here and in "
        "`convzoo summary` cannot differ.",
        "",
        "Two commands set everything up on a fresh machine:",
        "",
        "- `make demo` creates a virtual environment, installs convzoo and runs a short tour of the main job: "
        "ResNet-20's layer table, an analytic claim, and one claim trained on the embedded 8×8 digits (a few "
        "minutes on 2 cores);",
        "- `make test` installs convzoo with its test extras (Graphviz and Chromium too, where it runs as root) "
        "and runs ruff and the test suite, this site's browser tests included.",
        "",
        "## Accuracy against operations",
        "",
    ]
    if charts:
        for path, alt in charts:
            lines += [f"[![{alt}]({path})]({path})", ""]
        lines += [
            "Drawn by `convzoo chart` (top-1 accuracy against our computed multiply-adds, bubble area ∝ "
            "parameters, after Canziani, Paszke and Culurciello 2016) and `convzoo chart cifar` (CIFAR-10 "
            "test error against parameters); every figure names its source. Click a chart for full size.",
            "",
        ]
    else:
        lines += ["No network on this site has a reported accuracy to chart.", ""]
    lines += [
        "## Every network",
        "",
        f"{len(rows)} networks. Click a column to sort it (again to reverse); type to filter. Parameters and "
        "MACs (multiply-accumulates of convolutions and FC layers) are `convzoo summary`'s, at each paper's "
        "input size; accuracies are the papers' (or, marked in the tooltip, a peer's published accuracy of its "
        "weights).",
        "",
        model_table(rows),
        "",
    ]
    return "\n".join(lines)
