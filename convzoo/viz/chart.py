"""The big-picture charts from published figures (Canziani, Paszke, Culurciello 2016, arXiv:1605.07678).

``bubbles`` (their Fig. 2): top-1 accuracy against our computed multiply-adds, bubble area ∝ parameters.
``bars`` (their Fig. 1): top-1 accuracy per network. ``cifar`` (DenseNet Fig. 4 style): CIFAR-10 test error
against parameters; with ``repro_dir`` (``--runs DIR``) also our measured reproductions from its
``**/results.json``.

One chart, one protocol: every ImageNet value is a top-1 accuracy on the ILSVRC-2012 validation set from a
single crop, read from ``imagenet_top1.csv`` beside this file, which names the source of each value (the
paper's table, the authors' released models, a replication's or a provider's published metric) with its crop.
A network whose papers give no single-crop figure keeps its own protocol (10-crop, dense evaluation, or not
stated) and is drawn with a marker and a legend entry of that protocol, never mixed in silently. CIFAR-10
values come from ``cifar10_error.csv``, each marked with or without data augmentation.
"""

from __future__ import annotations

import csv
import fnmatch
import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.transforms import Bbox  # noqa: E402

from convzoo.inspect.summary import summary  # noqa: E402
from convzoo.registry import list_models, model_info  # noqa: E402
from convzoo.trust_read import RejectedFile, read_json  # noqa: E402
from convzoo.trust_write import check_inside, check_target, write_file  # noqa: E402
from convzoo.trust_write import output as write_output  # noqa: E402

KINDS = ("bubbles", "bars", "cifar")
MAX_RESULTS_BYTES = 8 << 20
MAX_ARMS = 100  # in one results.json (a claim has a handful)
PEER_MARK = "†"
CIFAR10_DATA = ("cifar10", "cifar10-jpg")  # the `--data` specs of CIFAR-10 (binary release, JPEG folder)
IMAGENET_TABLE = Path(__file__).with_name("imagenet_top1.csv")
CIFAR_TABLE = Path(__file__).with_name("cifar10_error.csv")
PROTOCOL = "single-crop"  # the ImageNet chart's protocol; every other one gets its own marker
PROTOCOLS = {  # protocol → (marker, bar hatch, legend text)
    "single-crop": ("o", "", "one centre crop, ILSVRC-2012 val"),
    "10-crop": ("D", "xxx", "10-crop average (no single-crop figure published)"),
    "dense": ("s", "...", "dense whole-image evaluation at one scale (VGG Table 3)"),
    "unstated": ("^", "///", "test-time cropping not stated by the paper"),
}
AUGMENTATION = {"with augmentation": "o", "without augmentation": "s"}  # CIFAR protocols → marker
KINDS_OF_SOURCE = ("paper", "authors' release", "replication", "provider weights")
FORMATS = ("png", "svg", "csv")


@dataclass(frozen=True)
class Point:
    """One network on a chart. ``value``: top-1 accuracy (ImageNet) or test error (CIFAR-10), percent;
    ``provenance``: where the value comes from; ``protocol``: how it was measured (a key of :data:`PROTOCOLS`,
    or for CIFAR-10 a key of :data:`AUGMENTATION`); ``kind``: whose figure it is (:data:`KINDS_OF_SOURCE`)."""

    name: str
    family: str
    macs: int
    params: int
    value: float
    provenance: str
    protocol: str = PROTOCOL
    kind: str = "paper"
    crop: str = ""
    dataset: str = ""
    note: str = ""

    @property
    def from_peer(self) -> bool:
        """The figure is not the paper's or its authors': a replication's or a provider's weights."""
        return self.kind in ("replication", "provider weights")


@dataclass(frozen=True)
class _Row:
    model: str
    value: float
    protocol: str
    kind: str
    crop: str
    dataset: str
    source: str
    note: str


def _read_table(path: Path, value: str) -> dict[str, _Row]:
    """The rows of a chart data file (ours, shipped with convzoo), checked: a registered model once each, a
    percentage, a known protocol and a source on every row; anything else is refused naming the line."""
    known = set(list_models())
    rows: dict[str, _Row] = {}
    with path.open(newline="", encoding="utf-8") as f:
        for line, r in enumerate(csv.DictReader(f), start=2):
            where = f"{path.name} line {line}"
            model = r.get("model") or ""
            if model not in known:
                raise ValueError(f"{where}: {model!r} is not a registered model")
            if model in rows:
                raise ValueError(f"{where}: {model} appears twice")
            try:
                v = float(r.get(value) or "")
            except ValueError:
                raise ValueError(f"{where}: {value} must be a number, got {r.get(value)!r}") from None
            if not 0 < v < 100:
                raise ValueError(f"{where}: {value} must be a percentage, got {v}")
            if value == "top1":
                protocol, kind = r.get("protocol") or "", r.get("kind") or ""
                if protocol not in PROTOCOLS or kind not in KINDS_OF_SOURCE:
                    raise ValueError(f"{where}: unknown protocol {protocol!r} or kind {kind!r}")
            else:
                aug = r.get("augmentation")
                if aug not in ("yes", "no"):
                    raise ValueError(f"{where}: augmentation must be yes or no, got {aug!r}")
                protocol, kind = ("with" if aug == "yes" else "without") + " augmentation", "paper"
            if not (r.get("source") or "").strip():
                raise ValueError(f"{where}: {model} has no source")
            rows[model] = _Row(model, v, protocol, kind, r.get("crop") or "", r.get("dataset") or "",
                               r["source"].strip(), (r.get("note") or "").strip())  # fmt: skip
    return rows


@dataclass(frozen=True)
class Measured:
    """A reproduction's measured CIFAR-10 test error (mean over seeds) from a committed results.json."""

    model: str
    params: int
    test_err: float
    se: float
    budget: str
    file: str


def _names(models: str | Sequence[str]) -> list[str]:
    if isinstance(models, str):
        return list_models(models)
    return [n for n in list_models() if n in set(models)]


def _size(name: str) -> tuple[int, int]:
    s = summary(name)
    return s.total_macs, s.total_params


def _points(table: Path, value: str, models: str | Sequence[str]) -> list[Point]:
    rows = _read_table(table, value)
    out = []
    for name in _names(models):
        r = rows.get(name)
        if r is not None:
            out.append(Point(name, model_info(name).family, *_size(name), r.value, r.source, r.protocol, r.kind,
                             r.crop, r.dataset, r.note))  # fmt: skip
    return out


def imagenet_points(models: str | Sequence[str] = "*") -> list[Point]:
    """ImageNet networks with a published top-1 on ILSVRC-2012 val, each with its source and protocol
    (:data:`IMAGENET_TABLE`): single-crop wherever a source reports it."""
    return _points(IMAGENET_TABLE, "top1", models)


def cifar_points(models: str | Sequence[str] = "*") -> list[Point]:
    """CIFAR-10 networks with a published test error, each with its source and whether the figure was
    trained with data augmentation (:data:`CIFAR_TABLE`)."""
    return _points(CIFAR_TABLE, "test_err", models)


def unplotted(kind: str, models: str | Sequence[str] = "*") -> list[str]:
    """The networks matching ``models`` that the chart ``kind`` has no published figure for."""
    have = {p.name for p in (cifar_points(models) if kind == "cifar" else imagenet_points(models))}
    classes = (lambda n: n != 1000) if kind == "cifar" else (lambda n: n == 1000)
    return [n for n in _names(models) if n not in have and classes(model_info(n).num_classes)]


def table(kind: str = "bubbles", models: str | Sequence[str] = "*") -> str:
    """The chart's data as CSV: one row per point with its value, protocol, size and source."""
    if kind not in KINDS:
        raise ValueError(f"unknown chart {kind!r}; choose one of: {', '.join(KINDS)}")
    cifar = kind == "cifar"
    points = cifar_points(models) if cifar else imagenet_points(models)
    buf = io.StringIO()
    cols = ["model", "family", "test_err" if cifar else "top1", "protocol", "crop", "dataset", "kind", "params",
            "macs", "source", "note"]  # fmt: skip
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for p in points:
        w.writerow([p.name, p.family, f"{p.value:g}", p.protocol, p.crop, p.dataset or ("CIFAR-10 test" if cifar else ""),
                    p.kind, p.params, p.macs, p.provenance, p.note])  # fmt: skip
    return buf.getvalue()


def _number(value: Any, what: str, path: Path) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{path}: {what} must be a finite number, got {value!r}")
    return float(value)


def read_measured(repro_dir: str | Path = "docs/repro") -> list[Measured]:
    """Measured CIFAR-10 test errors of registered models from ``repro_dir/**/results.json`` (none if absent).

    The files are data: only numbers and registered model names are read; anything else is refused with an
    error naming the file. Smoke budgets (plumbing only) and arms with overrides are left out.
    """
    root = Path(repro_dir)
    out = []
    known = set(list_models())
    for path in sorted(root.glob("**/results.json")) if root.is_dir() else []:
        check_inside(root, path)  # never read through a link out of the docs folder
        try:  # regular files only; size, depth and digits capped
            doc = read_json(path, cap_bytes=MAX_RESULTS_BYTES, what="the file")
        except RejectedFile as e:
            raise ValueError(f"{path}: not a results file ({e.cause})") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("arms"), list) or len(doc["arms"]) > MAX_ARMS:
            raise ValueError(f"{path}: not a results file (no list of at most {MAX_ARMS} arms)")
        budget = doc.get("budget")
        if budget == "smoke" or str(doc.get("data", "cifar10")) not in CIFAR10_DATA:
            continue
        for arm in doc["arms"]:
            m = _measured_arm(arm, path, known, str(budget))
            if m is not None:
                out.append(m)
    return out


def _measured_arm(arm: Any, path: Path, known: set[str], budget: str) -> Measured | None:
    if not isinstance(arm, dict):
        raise ValueError(f"{path}: an arm is not an object")
    err = arm.get("measured", {}).get("test_err") if isinstance(arm.get("measured"), dict) else None
    model = arm.get("model")
    if err is None or model not in known or arm.get("overrides") or not arm.get("params"):
        return None
    if not isinstance(err, dict):
        raise ValueError(f"{path}: measured test_err of {model} is not an object")
    mean = _number(err.get("mean"), "measured test_err mean", path)
    se = _number(err.get("se", 0.0), "measured test_err se", path)
    params = int(_number(arm["params"], "params", path))
    return Measured(str(model), params, mean, se, budget, str(path))


# ---------------------------------------------------------------------------------------------- drawing


def _colors(families: Sequence[str]) -> dict[str, Any]:
    cmap = plt.get_cmap("tab10")
    return {f: cmap(i % 10) for i, f in enumerate(sorted(set(families)))}


def _circle_hits(cx: float, cy: float, r: float, box: Bbox) -> bool:
    nx, ny = min(max(cx, box.x0), box.x1), min(max(cy, box.y0), box.y1)
    return (nx - cx) ** 2 + (ny - cy) ** 2 < r * r


def _segment_hits(x0: float, y0: float, x1: float, y1: float, box: Bbox) -> bool:
    """Whether the segment (x0, y0)-(x1, y1) passes through ``box`` (Liang-Barsky clipping)."""
    t0, t1, dx, dy = 0.0, 1.0, x1 - x0, y1 - y0
    for p, q in ((-dx, x0 - box.x0), (dx, box.x1 - x0), (-dy, y0 - box.y0), (dy, box.y1 - y0)):
        if p == 0:
            if q < 0:
                return False
        else:
            t = q / p
            if p < 0:
                t0 = max(t0, t)
            else:
                t1 = min(t1, t)
            if t0 > t1:
                return False
    return True


def _segment_near(x0: float, y0: float, x1: float, y1: float, cx: float, cy: float, r: float) -> bool:
    """Whether the segment (x0, y0)-(x1, y1) passes within ``r`` of (cx, cy)."""
    dx, dy = x1 - x0, y1 - y0
    t = 0.0 if dx == dy == 0 else max(0.0, min(1.0, ((cx - x0) * dx + (cy - y0) * dy) / (dx * dx + dy * dy)))
    return (x0 + t * dx - cx) ** 2 + (y0 + t * dy - cy) ** 2 < r * r


# directions to try, nearest first: the diagonals, then the sides, then the in-betweens
_ANGLES = [0, 45, -45, 180, 135, -135, 90, -90, 22.5, -22.5, 157.5, -157.5, 67.5, -67.5, 112.5, -112.5]


def text_box(t: Any, renderer: Any) -> Bbox:
    """The rendered box of a label's text alone (an annotation's own extent includes its leader line)."""
    from matplotlib.text import Annotation, Text

    if isinstance(t, Annotation):
        t.update_positions(renderer)  # where the offset puts the text (set at draw time otherwise)
    return Text.get_window_extent(t, renderer)


def place_labels(
    ax: Axes,
    xy: Sequence[tuple[float, float]],
    texts: Sequence[str],
    avoid_pts: float = 7,
    *,
    radii_pts: Sequence[float] | None = None,
    keep_clear: Sequence[Any] = (),
    fontsize: float = 7,
) -> list:
    """Label each point at the nearest free spot: its text box overlaps no label placed before it, no marker
    (a disc of ``radii_pts[j]`` points around each point, default ``avoid_pts``), no artist in ``keep_clear``
    (legends) and stays inside the axes. A label set away from its marker gets a leader line, which crosses
    no label. Greedy, the most crowded points first; returns the annotations in the order given."""
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    k = fig.dpi / 72  # pixels per point
    pts = [tuple(p) for p in ax.transData.transform(xy)] if len(xy) else []
    radii = [k * (radii_pts[i] if radii_pts is not None else avoid_pts) for i in range(len(pts))]
    frame = ax.get_window_extent(renderer)
    placed = [a.get_window_extent(renderer) for a in keep_clear]
    probe = ax.text(0.5, 0.5, "", fontsize=fontsize, transform=ax.transAxes)  # (0, 0) is off a log axis
    sizes = []
    for text in texts:
        probe.set_text(text)
        bb = probe.get_window_extent(renderer)
        sizes.append((bb.width, bb.height))
    probe.remove()
    pad = 1.5 * k
    near = [sum((qx - px) ** 2 + (qy - py) ** 2 < (80 * k) ** 2 for qx, qy in pts) for px, py in pts]
    artists: dict[int, Any] = {}
    for i in sorted(range(len(pts)), key=lambda j: -near[j]):
        (x, y), text = xy[i], texts[i]
        (px, py), (w, h) = pts[i], sizes[i]
        spot = None
        tries = [(s, 2) for s in range(80)] + [(s, 1) for s in range(120)] + [(s, 0) for s in range(160)]
        for step, strict in tries:  # 2: the leader crosses nothing; 1: no label; 0: anything but the box is free
            d = radii[i] + (1 + 3 * step) * k
            for angle in _ANGLES:
                cx, cy = math.cos(math.radians(angle)), math.sin(math.radians(angle))
                ax_, ay = px + d * cx, py + d * cy
                x0 = ax_ if cx > 0.38 else ax_ - w if cx < -0.38 else ax_ - w / 2
                y0 = ay if cy > 0.38 else ay - h if cy < -0.38 else ay - h / 2
                box = Bbox.from_extents(x0 - pad, y0 - pad, x0 + w + pad, y0 + h + pad)
                if not (frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1):
                    continue
                if any(box.overlaps(b) for b in placed):
                    continue
                if any(_circle_hits(qx, qy, r, box) for (qx, qy), r in zip(pts, radii, strict=True)):
                    continue
                leader = step > 1
                ex, ey = px + radii[i] * cx, py + radii[i] * cy
                if leader and strict >= 1 and any(_segment_hits(ex, ey, ax_, ay, b) for b in placed):
                    continue
                if leader and strict >= 2 and any(_segment_near(ex, ey, ax_, ay, qx, qy, r) for j, ((qx, qy), r)
                                             in enumerate(zip(pts, radii, strict=True)) if j != i):  # fmt: skip
                    continue  # first look for a leader that crosses no other marker
                spot = (cx, cy, d, leader)
                break
            if spot is not None:
                break
        cx, cy, d, leader = spot if spot is not None else (0.7071, 0.7071, radii[i] + 2 * k, False)
        ha = "left" if cx > 0.38 else "right" if cx < -0.38 else "center"
        va = "bottom" if cy > 0.38 else "top" if cy < -0.38 else "center"
        arrow = {"arrowstyle": "-", "lw": 0.5, "color": "0.35", "shrinkA": 0, "shrinkB": radii[i] / k}
        t = ax.annotate(text, (x, y), xytext=(d * cx / k, d * cy / k), textcoords="offset points",
                        fontsize=fontsize, ha=ha, va=va, arrowprops=arrow if leader else None)  # fmt: skip
        placed.append(text_box(t, renderer))
        artists[i] = t
    return [artists[i] for i in range(len(pts))]


@dataclass
class ChartFigure:
    """A drawn chart: the matplotlib figure, the label annotations, the legends labels must keep clear of,
    each marker as (axes, x, y, radius in points), the points and measured runs drawn, and the networks
    that have no published figure (named in the footnote)."""

    fig: Any
    labels: list = field(default_factory=list)
    legends: list = field(default_factory=list)
    markers: list = field(default_factory=list)
    points: list[Point] = field(default_factory=list)
    measured: list[Measured] = field(default_factory=list)
    unplotted: list[str] = field(default_factory=list)


def _mark(p: Point) -> str:
    """† a replication's or provider's figure for its own weights; ‡ a test crop larger than the input."""
    return p.name + (PEER_MARK if p.from_peer else "") + ("‡" if p.crop == "320" else "")


_label = _mark


def _footnote(points: Sequence[Point], missing: Sequence[str]) -> str:
    lines = [
        "Every value and its source: `convzoo chart --format csv` (convzoo/viz/imagenet_top1.csv). One crop at the "
        "network's input size (224; 227 alexnet_2gpu; 299 Inception)"
        + ("; ‡ a 320×320 crop (He et al. 2016, Table 5)" if any(p.crop == "320" for p in points) else "")
        + "."
    ]
    kinds = sorted({p.kind for p in points if p.from_peer})
    if kinds:
        whose = " or ".join({"replication": "a replication's", "provider weights": "a provider's"}[k] for k in kinds)
        lines.append(f"{PEER_MARK} not the paper's figure: the published accuracy of {whose} weights for the same "
                     "architecture (the BVLC Caffe models, torchvision).")  # fmt: skip
    if missing:
        lines.append("No published ILSVRC-2012 top-1: " + ", ".join(missing) + ".")
    return "\n".join(lines)


def _outside_legends(fig: Any, groups: Sequence[tuple[str, list, dict[str, Any]]], left: float) -> list:
    """Legends stacked in a column right of the axes (figure coordinates), so no label can hide under one."""
    out, top = [], 0.92
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for title, handles, extra in groups:
        leg = fig.legend(handles=handles, title=title, loc="upper left", bbox_to_anchor=(left, top), fontsize=8,
                         title_fontsize=8, frameon=True, alignment="left", **extra)  # fmt: skip
        out.append(leg)
        box = leg.get_window_extent(renderer).transformed(fig.transFigure.inverted())
        top = box.y0 - 0.02
    return out


def _bubbles(points: Sequence[Point], x: str, log_x: bool, missing: Sequence[str] = ()) -> ChartFigure:
    fig = plt.figure(figsize=(13, 9))
    ax = fig.add_axes((0.06, 0.16, 0.68, 0.77))
    colors = _colors([p.family for p in points])
    scale = 4.0  # points² per million parameters
    order = sorted(points, key=lambda p: -p.params)
    xs = [p.macs / 1e9 if x == "macs" else p.params / 1e6 for p in order]
    radii = []
    for p, xv in zip(order, xs, strict=True):
        marker = PROTOCOLS[p.protocol][0]
        ax.scatter(xv, p.value, s=scale * p.params / 1e6, color=colors[p.family], alpha=0.45, marker=marker,
                   edgecolors="black", linewidths=0.6, zorder=2)  # fmt: skip
        radii.append(0.5 * math.sqrt(scale * p.params / 1e6) * (1.25 if marker != "o" else 1.0) + 1)
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel("multiply-adds per image (G, our count)" if x == "macs" else "parameters (M)")
    ax.set_ylabel("top-1 accuracy (%), ILSVRC-2012 validation set")
    ax.grid(alpha=0.3)
    ax.margins(0.1)
    what = "multiply-adds" if x == "macs" else "parameters"
    ax.set_title(f"ImageNet top-1 accuracy (one crop) vs {what}; bubble area ∝ parameters "
                 "(after Canziani et al. 2016, Fig. 2)", fontsize=11)  # fmt: skip
    fam = [plt.Line2D([], [], ls="", marker="o", ms=8, color=c, alpha=0.6, label=f) for f, c in colors.items()]
    protocols = [p for p in PROTOCOLS if any(q.protocol == p for q in points)]
    prot = [plt.Line2D([], [], ls="", marker=PROTOCOLS[p][0], ms=8, mfc="none", mec="black", label=PROTOCOLS[p][2])
            for p in protocols]  # fmt: skip
    sizes = [s for s in (5, 25, 60, 140) if s * 1e6 <= 1.5 * max(p.params for p in points)] or [5]
    bub = [plt.Line2D([], [], ls="", marker="o", ms=math.sqrt(scale * s), mfc="none", mec="gray", label=f"{s} M")
           for s in sizes]  # fmt: skip
    legends = _outside_legends(fig, [("protocol (marker)", prot, {}), ("family", fam, {}),
                                     ("parameters", bub, {"labelspacing": 1.6, "borderpad": 1.0})], 0.755)  # fmt: skip
    xy = list(zip(xs, [p.value for p in order], strict=True))
    labels = place_labels(ax, xy, [_mark(p) for p in order], radii_pts=radii)
    fig.text(0.01, 0.01, _footnote(points, missing), fontsize=7, color="dimgray", va="bottom")
    markers = [(ax, xv, yv, r) for (xv, yv), r in zip(xy, radii, strict=True)]
    return ChartFigure(fig, labels, legends, markers, list(points), [], list(missing))


def _bars(points: Sequence[Point], missing: Sequence[str] = ()) -> ChartFigure:
    order = sorted(points, key=lambda p: p.value)
    fig = plt.figure(figsize=(10, 0.27 * len(order) + 2.2))
    bottom = 1.3 / (0.27 * len(order) + 2.2)
    ax = fig.add_axes((0.2, bottom, 0.5, 0.94 - bottom))
    colors = _colors([p.family for p in points])
    ax.barh([_mark(p) for p in order], [p.value for p in order], color=[colors[p.family] for p in order],
            hatch=[PROTOCOLS[p.protocol][1] for p in order], edgecolor="black", linewidth=0.4)  # fmt: skip
    ax.set_ylim(-0.6, len(order) - 0.4)
    lo, hi = min(p.value for p in order), max(p.value for p in order)
    ax.set_xlim(max(0.0, 5 * math.floor((lo - 5) / 5)), min(100.0, 5 * math.ceil(hi / 5 + 1)))
    ax.set_xlabel("top-1 accuracy (%), ILSVRC-2012 validation set")
    ax.tick_params(axis="y", labelsize=7)
    ax.grid(axis="x", alpha=0.3)
    ax.set_title("ImageNet top-1 accuracy per network, one crop (after Canziani et al. 2016, Fig. 1)", fontsize=10)
    fam = [plt.Rectangle((0, 0), 1, 1, color=c, label=f) for f, c in colors.items()]
    protocols = [p for p in PROTOCOLS if any(q.protocol == p for q in points)]
    prot = [plt.Rectangle((0, 0), 1, 1, facecolor="white", edgecolor="black", hatch=PROTOCOLS[p][1],
                          label=PROTOCOLS[p][2]) for p in protocols]  # fmt: skip
    legends = _outside_legends(fig, [("protocol (hatching)", prot, {}), ("family", fam, {})], 0.72)
    fig.text(0.01, 0.005, _footnote(points, missing), fontsize=6.5, color="dimgray", va="bottom", wrap=True)
    return ChartFigure(fig, [], legends, [], list(points), [], list(missing))


def _cifar(points: Sequence[Point], measured: Sequence[Measured], log_x: bool, missing: Sequence[str] = ()) -> ChartFigure:
    fig = plt.figure(figsize=(12.5, 7.5))
    ax = fig.add_axes((0.07, 0.13, 0.66, 0.8))
    colors = _colors([p.family for p in points])
    by_name = {p.name: p for p in points}
    xy, radii = [], []
    for p in points:
        filled = p.protocol == "with augmentation"
        ax.scatter(p.params / 1e6, p.value, s=40, marker=AUGMENTATION[p.protocol], zorder=3, linewidths=1.2,
                   facecolors=colors[p.family] if filled else "white", edgecolors=colors[p.family])  # fmt: skip
        xy.append((p.params / 1e6, p.value))
        radii.append(5.0)
    for m in measured:
        ax.errorbar(m.params / 1e6, m.test_err, yerr=m.se, fmt="x", color="black", ms=7, capsize=2, zorder=4)
        if m.model in by_name:
            ax.plot([m.params / 1e6] * 2, [by_name[m.model].value, m.test_err], color="gray", lw=0.6, ls=":")
        xy.append((m.params / 1e6, m.test_err))
        radii.append(5.0)
    ax.set_xscale("log" if log_x else "linear")
    ax.set_xlabel("parameters (M)" + (", logarithmic" if log_x else ""))
    ax.set_ylabel("CIFAR-10 test error (%)")
    ax.grid(alpha=0.3, which="both" if log_x else "major")
    ax.margins(0.08)
    fam = [plt.Line2D([], [], ls="", marker="o", color=c, label=f) for f, c in colors.items()]
    aug = [plt.Line2D([], [], ls="", marker=mk, mfc="gray" if prot == "with augmentation" else "white", mec="gray",
                      label=f"paper, {prot}") for prot, mk in AUGMENTATION.items()
           if any(p.protocol == prot for p in points)]  # fmt: skip
    if measured:
        budgets = ", ".join(sorted({m.budget for m in measured}))
        aug.append(plt.Line2D([], [], ls="", marker="x", color="black",
                              label=f"measured here: {len(measured)} ({budgets} budget)"))  # fmt: skip
    legends = _outside_legends(fig, [("figure", aug, {}), ("family", fam, {})], 0.745)
    ax.set_title("CIFAR-10 test error vs parameters (after Huang et al. 2017, Fig. 4)", fontsize=11)
    labels = place_labels(ax, xy[: len(points)], [p.name for p in points], radii_pts=radii[: len(points)])
    note = ("Each paper's figure (convzoo/viz/cifar10_error.csv; `convzoo chart cifar --format csv`): filled = "
            "trained with data augmentation, hollow = without.")  # fmt: skip
    if measured:
        note += "\n× our measured reproductions (mean ± s.e. over seeds) from the results.json files under --runs."
    if missing:
        note += "\nNo published CIFAR-10 error: " + ", ".join(missing) + "."
    fig.text(0.01, 0.01, note, fontsize=7, color="dimgray", va="bottom")
    markers = [(ax, xv, yv, r) for (xv, yv), r in zip(xy, radii, strict=True)]
    return ChartFigure(fig, labels, legends, markers, list(points), list(measured), list(missing))


def check_options(kind: str, x: str | None = None, log_x: bool | None = None) -> None:
    """Refuse an option the chart ``kind`` cannot honour, rather than ignore it."""
    if kind not in KINDS:
        raise ValueError(f"unknown chart {kind!r}; choose one of: {', '.join(KINDS)}")
    if kind == "bars" and x not in (None, "macs"):
        raise ValueError("chart bars has no x axis to choose: it draws one bar per network (use bubbles for --x)")
    if kind == "bars" and log_x is not None:
        raise ValueError("chart bars has no x scale to choose (--log-x, --linear-x): its bars are accuracies")
    if kind == "cifar" and x not in (None, "params"):
        raise ValueError(f"chart cifar plots error against parameters; --x {x} is for the bubbles chart")
    if x not in (None, "macs", "params"):
        raise ValueError(f"x must be macs or params, got {x!r}")


def figure(
    kind: str = "bubbles",
    *,
    models: str | Sequence[str] = "*",
    x: str | None = None,
    log_x: bool | None = None,
    repro_dir: str | Path | None = None,
) -> ChartFigure:
    """Draw one chart in memory. ``x``: ``macs`` (default) or ``params`` for bubbles; bars have no x to
    choose and cifar plots parameters. ``log_x``: default True (bubbles, cifar); bars refuse it. ``repro_dir``:
    a folder of repro results whose measured CIFAR-10 runs the cifar chart adds (others ignore it)."""
    check_options(kind, x, log_x)
    log = True if log_x is None else bool(log_x)
    missing = unplotted(kind, models)
    measured: list[Measured] = []
    if kind == "cifar":
        points = cifar_points(models)
        if repro_dir is not None:
            if not Path(repro_dir).is_dir():
                raise FileNotFoundError(f"no folder {str(repro_dir)!r} to read measured runs from")
            measured = read_measured(repro_dir)
            if isinstance(models, str):
                measured = [m for m in measured if fnmatch.fnmatch(m.model, models)]
            else:
                measured = [m for m in measured if m.model in set(models)]
    else:
        points = imagenet_points(models)
    if not points:
        what = "CIFAR-10 error" if kind == "cifar" else "ILSVRC-2012 top-1"
        raise ValueError(f"no network matching {models!r} has a published {what}")
    if kind == "cifar":
        return _cifar(points, measured, log, missing)
    return _bars(points, missing) if kind == "bars" else _bubbles(points, x or "macs", log, missing)


def chart(
    kind: str = "bubbles",
    output: str | Path | None = None,
    *,
    models: str | Sequence[str] = "*",
    x: str | None = None,
    log_x: bool | None = None,
    repro_dir: str | Path | None = None,
    force: bool = False,
    fmt: str | None = None,
    log: Callable[[str], None] | None = None,
) -> list[Path]:
    """Draw one chart; ``output`` (.png, .svg, or .csv for the data) or, by default, ``chart-KIND.png`` and
    ``.svg`` (``chart-KIND.csv`` with ``fmt="csv"``). Returns the files. ``log`` hears how many measured runs
    ``repro_dir`` held. An existing file convzoo did not write is replaced only with ``force``
    (:mod:`convzoo.trust_write`). See :func:`figure` for the options."""
    if fmt is not None and fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if output is not None:
        outs = [Path(output)]
        suffix = outs[0].suffix.lower().lstrip(".")
        if suffix not in FORMATS or (fmt is not None and suffix != fmt):
            want = f"a .{fmt} file" if fmt else "a .png, .svg or .csv file"
            raise ValueError(f"cannot write a chart to {outs[0].name!r}: choose {want}")
    else:
        outs = [Path(f"chart-{kind}.{f}") for f in ((fmt,) if fmt else ("png", "svg"))]
    for p in outs:
        check_target(p, force=force)
    if outs[0].suffix.lower() == ".csv":
        check_options(kind, x, log_x)
        write_file(outs[0], table(kind, models), force=force)
        return outs
    drawn = figure(kind, models=models, x=x, log_x=log_x, repro_dir=repro_dir)
    fig = drawn.fig
    if log is not None and kind == "cifar" and repro_dir is not None:
        files = len({m.file for m in drawn.measured})
        log(f"found {len(drawn.measured)} measured CIFAR-10 run(s) in {files} results.json file(s) under {repro_dir}")
    try:
        for p in outs:
            with write_output(p, force=force) as tmp:
                fig.savefig(tmp, dpi=110, bbox_inches="tight")
    finally:
        plt.close(fig)
    return outs
