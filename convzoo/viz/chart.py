"""The big-picture charts from the registry's data (Canziani, Paszke, Culurciello 2016, arXiv:1605.07678).

``bubbles`` (their Fig. 2): top-1 accuracy against our computed multiply-adds, bubble area ∝ parameters.
``bars`` (their Fig. 1): top-1 accuracy per network. ``cifar`` (DenseNet Fig. 4 style): CIFAR-10 test error
against parameters, with our measured reproductions from ``docs/repro/**/results.json`` as a second marker.
Every accuracy says where it comes from: the paper's table, or a peer's published accuracy of its weights.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Sequence
from dataclasses import dataclass
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

KINDS = ("bubbles", "bars", "cifar")
MAX_RESULTS_BYTES = 8 << 20
MAX_ARMS = 100  # in one results.json (a claim has a handful)
PEER_MARK = "†"
CIFAR10_DATA = ("cifar10", "cifar10-jpg")  # the `--data` specs of CIFAR-10 (binary release, JPEG folder)


@dataclass(frozen=True)
class Point:
    """One network on a chart. ``value``: top-1 accuracy (ImageNet) or test error (CIFAR-10), percent."""

    name: str
    family: str
    macs: int
    params: int
    value: float
    provenance: str  # "paper: <where>" or "<peer> weights"

    @property
    def from_peer(self) -> bool:
        return not self.provenance.startswith("paper")


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


def imagenet_points(models: str | Sequence[str] = "*") -> list[Point]:
    """ImageNet networks with a reported top-1 (paper first, else a peer's published accuracy of its weights)."""
    from convzoo.hub import weight_sources

    points = []
    for name in _names(models):
        info = model_info(name)
        if info.num_classes != 1000:
            continue
        if info.reported.top1_err is not None:
            value = 100 - info.reported.top1_err
            where = info.reported.source or "reported"
            provenance = f"paper: {info.paper.authors.split(',')[0]} {info.paper.year}, {where}"
        else:
            peer = [w for w in weight_sources(name) if w.top1 is not None and not w.config]
            if not peer:
                continue
            value, provenance = peer[0].top1, f"{peer[0].source} weights"  # type: ignore[assignment]
        points.append(Point(name, info.family, *_size(name), value, provenance))  # type: ignore[arg-type]
    return points


def cifar_points(models: str | Sequence[str] = "*") -> list[Point]:
    """CIFAR-10 networks with a paper test error (with augmentation, as the registry records it)."""
    points = []
    for name in _names(models):
        info = model_info(name)
        if info.reported.cifar10_err is None:
            continue
        where = info.reported.source or "reported"
        provenance = f"paper: {info.paper.authors.split(',')[0]} {info.paper.year}, {where}"
        points.append(Point(name, info.family, *_size(name), info.reported.cifar10_err, provenance))
    return points


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


def place_labels(ax: Axes, xy: Sequence[tuple[float, float]], texts: Sequence[str], avoid_pts: float = 7) -> list:
    """Label each point at the first of a ring of offsets where it overlaps no label placed before it and no
    other point (greedy, biggest-first as given); returns the text artists."""
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    pts = ax.transData.transform(xy) if len(xy) else []
    dots = [Bbox.from_extents(px - avoid_pts, py - avoid_pts, px + avoid_pts, py + avoid_pts) for px, py in pts]
    placed: list[Bbox] = []
    artists = []
    rings = [(dx * r, dy * r) for r in (8, 18, 30, 44) for dx, dy in
             ((1, 1), (1, -1), (-1, 1), (-1, -1), (1, 0), (-1, 0), (0, 1.2), (0, -1.2))]  # fmt: skip
    frame = ax.get_window_extent(renderer)
    for i, ((x, y), text) in enumerate(zip(xy, texts, strict=True)):
        for dx, dy in rings:
            t = ax.annotate(text, (x, y), xytext=(dx, dy), textcoords="offset points", fontsize=7,
                            ha="left" if dx >= 0 else "right", va="bottom" if dy >= 0 else "top")  # fmt: skip
            box = t.get_window_extent(renderer).expanded(1.04, 1.1)
            inside = frame.contains(box.x0, box.y0) and frame.contains(box.x1, box.y1)
            if inside and not any(box.overlaps(b) for b in placed) and not any(
                box.overlaps(d) for j, d in enumerate(dots) if j != i
            ):
                break
            t.remove()
        else:
            t = ax.annotate(text, (x, y), xytext=(6, 6), textcoords="offset points", fontsize=7,
                            arrowprops={"arrowstyle": "-", "lw": 0.4})  # fmt: skip
            box = t.get_window_extent(renderer)
        placed.append(box)
        artists.append(t)
    return artists


def _provenance_note(points: Sequence[Point]) -> str:
    peers = sorted({p.provenance for p in points if p.from_peer})
    note = "Accuracy: the paper's table (single- or multi-crop as each paper reports)"
    if peers:
        note += f"; {PEER_MARK} the published accuracy of {', '.join(p.split()[0] for p in peers)}'s weights"
    return note


def _label(p: Point) -> str:
    return p.name + (PEER_MARK if p.from_peer else "")


def _bubbles(points: Sequence[Point], x: str, log_x: bool) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(11, 7))
    colors = _colors([p.family for p in points])
    scale = 4.0  # points² per million parameters
    order = sorted(points, key=lambda p: -p.params)
    xs = [(p.macs if x == "macs" else p.params) / 1e9 if x == "macs" else p.params / 1e6 for p in order]
    for p, xv in zip(order, xs, strict=True):
        ax.scatter(xv, p.value, s=scale * p.params / 1e6, color=colors[p.family], alpha=0.45,
                   edgecolors="black", linewidths=0.6, hatch="///" if p.from_peer else None)  # fmt: skip
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel("multiply-adds per image (G, our count)" if x == "macs" else "parameters (M)")
    ax.set_ylabel("top-1 accuracy on ImageNet (%)")
    ax.grid(alpha=0.3)
    ax.margins(0.12)
    fam = [ax.scatter([], [], color=c, s=60, alpha=0.6, label=f) for f, c in colors.items()]
    sizes = [s for s in (5, 25, 60, 140) if s * 1e6 <= 1.5 * max(p.params for p in points)] or [5]
    bub = [ax.scatter([], [], s=scale * s, facecolors="none", edgecolors="gray", label=f"{s} M") for s in sizes]
    leg = ax.legend(handles=fam, loc="lower right", fontsize=8, title="family", title_fontsize=8)
    ax.add_artist(leg)
    ax.legend(handles=bub, loc="upper left", fontsize=8, title="parameters", labelspacing=1.6, borderpad=1.0,
              title_fontsize=8)  # fmt: skip
    ax.set_title("Top-1 accuracy vs multiply-adds; bubble area ∝ parameters (after Canziani et al. 2016, Fig. 2)")
    place_labels(ax, list(zip(xs, [p.value for p in order], strict=True)), [_label(p) for p in order])
    fig.text(0.01, 0.01, _provenance_note(points), fontsize=7, color="dimgray")
    return fig


def _bars(points: Sequence[Point]) -> plt.Figure:
    order = sorted(points, key=lambda p: p.value)
    fig, ax = plt.subplots(figsize=(8, 0.28 * len(order) + 1.5))
    colors = _colors([p.family for p in points])
    ax.barh([_label(p) for p in order], [p.value for p in order], color=[colors[p.family] for p in order],
            hatch=["///" if p.from_peer else "" for p in order], edgecolor="black", linewidth=0.4)  # fmt: skip
    lo, hi = min(p.value for p in order), max(p.value for p in order)
    ax.set_xlim(max(0.0, 5 * math.floor((lo - 5) / 5)), min(100.0, 5 * math.ceil(hi / 5 + 1)))
    ax.set_xlabel("top-1 accuracy on ImageNet (%)")
    ax.tick_params(axis="y", labelsize=7)
    ax.grid(axis="x", alpha=0.3)
    ax.set_title("Top-1 accuracy per network (after Canziani et al. 2016, Fig. 1)", fontsize=10)
    ax.legend(handles=[plt.Rectangle((0, 0), 1, 1, color=c, label=f) for f, c in colors.items()], fontsize=7)
    fig.text(0.01, 0.005, _provenance_note(points), fontsize=6, color="dimgray")
    fig.tight_layout(rect=(0, 0.02, 1, 1))
    return fig


def _cifar(points: Sequence[Point], measured: Sequence[Measured], log_x: bool) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(10, 6.5))
    colors = _colors([p.family for p in points])
    by_name = {p.name: p for p in points}
    for p in points:
        ax.scatter(p.params / 1e6, p.value, color=colors[p.family], s=36, zorder=3)
    for m in measured:
        ax.errorbar(m.params / 1e6, m.test_err, yerr=m.se, fmt="x", color="black", ms=7, capsize=2, zorder=4)
        if m.model in by_name:
            ax.plot([m.params / 1e6] * 2, [by_name[m.model].value, m.test_err], color="gray", lw=0.6, ls=":")
    ax.set_xscale("log" if log_x else "linear")
    ax.set_xlabel("parameters (M)")
    ax.set_ylabel("CIFAR-10 test error (%), with augmentation")
    ax.grid(alpha=0.3)
    ax.margins(0.1)
    handles = [ax.scatter([], [], color=c, s=36, label=f"{f} (paper)") for f, c in colors.items()]
    if measured:
        budgets = ", ".join(sorted({m.budget for m in measured}))
        handles.append(ax.scatter([], [], marker="x", color="black", label=f"measured here ({budgets} budget)"))
    ax.legend(handles=handles, fontsize=8, loc="upper right")
    ax.set_title("CIFAR-10 test error vs parameters (after Huang et al. 2017, Fig. 4)")
    place_labels(ax, [(p.params / 1e6, p.value) for p in points], [p.name for p in points])
    note = "Paper figures from each paper's table (registry); × our measured reproductions (docs/repro)"
    fig.text(0.01, 0.01, note if measured else "Paper figures from each paper's table (registry)", fontsize=7,
             color="dimgray")  # fmt: skip
    return fig


def chart(
    kind: str = "bubbles",
    output: str | Path | None = None,
    *,
    models: str | Sequence[str] = "*",
    x: str = "macs",
    log_x: bool = False,
    repro_dir: str | Path = "docs/repro",
) -> list[Path]:
    """Draw one chart; ``output`` (.png or .svg) or, by default, ``chart-KIND.png`` and ``.svg``. Returns the files."""
    if kind not in KINDS:
        raise ValueError(f"unknown chart {kind!r}; choose one of: {', '.join(KINDS)}")
    if x not in ("macs", "params"):
        raise ValueError(f"x must be macs or params, got {x!r}")
    outs = [Path(output)] if output is not None else [Path(f"chart-{kind}.png"), Path(f"chart-{kind}.svg")]
    for p in outs:
        if p.suffix.lower() not in (".png", ".svg"):
            raise ValueError(f"cannot write a chart to {p.name!r}: choose a .png or .svg file")
    if kind == "cifar":
        points = cifar_points(models)
        measured = read_measured(repro_dir)
        if isinstance(models, str):
            measured = [m for m in measured if fnmatch.fnmatch(m.model, models)]
    else:
        points = imagenet_points(models)
    if not points:
        what = "CIFAR-10 error" if kind == "cifar" else "top-1"
        raise ValueError(f"no network matching {models!r} has a reported {what}")
    if kind == "cifar":
        fig = _cifar(points, measured, log_x)
    else:
        fig = _bars(points) if kind == "bars" else _bubbles(points, x, log_x)
    try:
        for p in outs:
            tmp = p.with_name(p.stem + ".part" + p.suffix)
            fig.savefig(tmp, dpi=110, bbox_inches="tight")
            tmp.replace(p)
    finally:
        plt.close(fig)
    return outs
