"""Pictures: trajectories over level sets, loss curves, the race animation, Adam's bias correction, schedules.

All drawing uses matplotlib's Agg backend (no display needed); every function returns the path it wrote.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from matplotlib.animation import FuncAnimation, PillowWriter  # noqa: E402

from convzoo.lab import rules  # noqa: E402
from convzoo.lab.surfaces import Surface, get_surface  # noqa: E402
from convzoo.lab.trajectories import Trajectory  # noqa: E402
from convzoo.train.schedules import SCHEDULE_NAMES, schedule_curve, synthetic_val_error  # noqa: E402
from convzoo.trust_write import write_file  # noqa: E402

__all__ = [
    "animate_race",
    "clip_to_box",
    "plot_bias_correction",
    "plot_losses",
    "plot_schedules",
    "plot_trajectories",
]

COLORS = {
    "sgd": "#d62728",
    "momentum": "#1f77b4",
    "nesterov": "#17becf",
    "adagrad": "#9467bd",
    "rmsprop": "#ff7f0e",
    "adam": "#2ca02c",
    "amsgrad": "#8c564b",
}


def _out(path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def clip_to_box(points: np.ndarray, xlim: Sequence[float], ylim: Sequence[float]) -> tuple[np.ndarray, bool]:
    """The part of a path drawn inside the box: up to where it leaves for the last time, ending on the edge.

    Returns ``(points, left)``; ``left`` says the path ended outside the box (the last point is then the
    crossing of the box edge).
    """
    (x0, x1), (y0, y1) = xlim, ylim
    inside = (points[:, 0] >= x0) & (points[:, 0] <= x1) & (points[:, 1] >= y0) & (points[:, 1] <= y1)
    if inside[-1] or not inside.any():
        return points, not inside[-1]
    last = int(np.nonzero(inside)[0][-1])
    p, q = points[last], points[last + 1]
    d = q - p
    # largest fraction s of the segment p -> q that stays inside the box
    s = 1.0
    for axis, (lo, hi) in enumerate(((x0, x1), (y0, y1))):
        if d[axis] > 0:
            s = min(s, (hi - p[axis]) / d[axis])
        elif d[axis] < 0:
            s = min(s, (lo - p[axis]) / d[axis])
    return np.vstack([points[: last + 1], p + s * d]), True


def _levels(surface: Surface, z: np.ndarray, n: int = 22) -> np.ndarray:
    """Level-set values spread by quantile, so curved valleys and flat plateaus both show."""
    if surface.log_levels:
        zmin = surface.min_value or 0.0
        return zmin + np.geomspace(1e-2, float(z.max() - zmin), n)
    return np.unique(np.quantile(z, np.linspace(0.02, 0.98, n)))


def _draw_surface(ax: plt.Axes, surface: Surface) -> None:
    x, y, z = (t.numpy() for t in surface.grid(240))
    levels = _levels(surface, z)
    norm = matplotlib.colors.LogNorm() if surface.log_levels else None
    zshift = z - (surface.min_value or 0.0) + 1e-2 if surface.log_levels else z
    lv = levels - (surface.min_value or 0.0) + 1e-2 if surface.log_levels else levels
    ax.contourf(x, y, zshift, levels=lv, cmap="Blues_r", norm=norm, alpha=0.45, extend="both")
    ax.contour(x, y, zshift, levels=lv, colors="0.45", linewidths=0.5, norm=norm)
    if surface.minimum is not None:
        ax.plot(*surface.minimum, marker="*", color="gold", markeredgecolor="k", markersize=14, zorder=5)
    ax.set_xlim(surface.xlim)
    ax.set_ylim(surface.ylim)
    ax.set_xlabel("x")
    ax.set_ylabel("y")


def _draw_path(ax: plt.Axes, surface: Surface, traj: Trajectory, upto: int | None = None) -> None:
    pts = traj.points if upto is None else traj.points[: upto + 1]
    pts, left = clip_to_box(pts, surface.xlim, surface.ylim)
    color = COLORS.get(traj.optimizer, None)
    ax.plot(pts[:, 0], pts[:, 1], "-", color=color, lw=1.4, label=traj.label, marker=".", markersize=2.5)
    if left and traj.status != "ok" and (upto is None or upto >= len(traj.points) - 1):
        ax.plot(*pts[-1], marker="X", color=color, markeredgecolor="k", markersize=9, zorder=6)
    elif upto is not None:
        ax.plot(*pts[-1], marker="o", color=color, markeredgecolor="k", markersize=6, zorder=6)


def plot_trajectories(surface: str | Surface, trajectories: Sequence[Trajectory], path: str | Path) -> Path:
    """The paths of ``trajectories`` over the level sets of ``surface`` (start ●, minimum ★, diverged ✖)."""
    surf = get_surface(surface)
    fig, ax = plt.subplots(figsize=(8, 6), dpi=110)
    _draw_surface(ax, surf)
    for traj in trajectories:
        _draw_path(ax, surf, traj)
    start = trajectories[0].points[0] if trajectories else surf.start
    ax.plot(*start, marker="o", color="k", markersize=7, zorder=6)
    steps = max((len(t.points) - 1 for t in trajectories), default=0)
    ax.set_title(
        f"{surf.name}: {surf.description}\n{steps} steps of torch.optim; "
        "✖ = ran off to infinity (drawn to the plot edge)",
        fontsize=9,
    )
    ax.legend(loc="best", fontsize=7.5, framealpha=0.85)
    fig.tight_layout()
    write_file(_out(path), fig.savefig)  # never over a file convzoo did not write
    plt.close(fig)
    return Path(path)


def plot_losses(surface: str | Surface, trajectories: Sequence[Trajectory], path: str | Path) -> Path:
    """Loss against step for each trajectory (the gap to the minimum on a log scale where there is one)."""
    surf = get_surface(surface)
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    fmin = surf.min_value
    for traj in trajectories:
        y = traj.losses if fmin is None else np.maximum(traj.losses - fmin, 1e-30)
        ax.plot(np.arange(len(y)), y, color=COLORS.get(traj.optimizer), label=traj.label, lw=1.3)
        if traj.status != "ok":
            ax.plot(len(y) - 1, y[-1], marker="X", color=COLORS.get(traj.optimizer), markeredgecolor="k")
    if fmin is None:
        ax.set_yscale("symlog")
        ax.set_ylabel("loss f(w)")
    else:
        ax.set_yscale("log")
        ax.set_ylabel("f(w) - f(w*)")
    ax.set_xlabel("step")
    ax.set_title(f"{surf.name}: loss against step", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7.5)
    fig.tight_layout()
    write_file(_out(path), fig.savefig)  # never over a file convzoo did not write
    plt.close(fig)
    return Path(path)


def animate_race(
    surface: str | Surface,
    trajectories: Sequence[Trajectory],
    path: str | Path,
    *,
    frames: int = 60,
    fps: int = 10,
) -> Path:
    """A GIF of all trajectories racing on ``surface`` (kept small: ``frames`` frames at 72 dpi)."""
    surf = get_surface(surface)
    if not trajectories:
        raise ValueError("animate_race needs at least one trajectory")
    steps = max(len(t.points) - 1 for t in trajectories)
    # more frames early, where the optimizers differ most; the last frame shows the end
    marks = np.unique(np.round(np.geomspace(1, steps + 1, frames) - 1).astype(int))
    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=72)
    _draw_surface(ax, surf)
    ax.plot(*trajectories[0].points[0], marker="o", color="k", markersize=6, zorder=6)
    paths, heads = [], []
    for traj in trajectories:
        color = COLORS.get(traj.optimizer)
        (line,) = ax.plot([], [], "-", color=color, lw=1.4, label=traj.label)
        (head,) = ax.plot([], [], marker="o", color=color, markeredgecolor="k", markersize=6, zorder=6)
        paths.append(line)
        heads.append(head)
    ax.legend(loc="upper right", fontsize=6.5, framealpha=0.85)
    title = ax.set_title(f"{surf.name}: step 0", fontsize=10)
    fig.tight_layout()

    def draw(i: int) -> None:
        step = int(marks[i])
        for traj, line, head in zip(trajectories, paths, heads, strict=True):
            pts, left = clip_to_box(traj.points[: step + 1], surf.xlim, surf.ylim)
            line.set_data(pts[:, 0], pts[:, 1])
            head.set_data([pts[-1, 0]], [pts[-1, 1]])
            head.set_marker("X" if left and traj.status != "ok" and step >= len(traj.points) - 1 else "o")
        title.set_text(f"{surf.name}: step {step}")

    anim = FuncAnimation(fig, draw, frames=len(marks))
    write_file(_out(path), lambda tmp: anim.save(tmp, writer=PillowWriter(fps=fps)))
    plt.close(fig)
    return Path(path)


def plot_bias_correction(path: str | Path, *, steps: int = 60, lr: float = 0.5, seed: int = 0) -> Path:
    """Adam's first steps with and without bias correction, on a noisy constant gradient and the ravine.

    Left: the moment estimates ``m`` and ``√v`` against their corrected versions for gradients ``1 + noise``.
    Right: the ravine trajectories of the lecture rule with and without the correction.
    """
    gen = torch.Generator().manual_seed(seed)
    grads = 1.0 + 0.3 * torch.randn(steps, generator=gen, dtype=torch.float64)
    b1, b2 = 0.9, 0.999
    m = v = 0.0
    rows = []
    for t, g in enumerate(grads.tolist(), start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        rows.append((m, m / (1 - b1**t), v**0.5, (v / (1 - b2**t)) ** 0.5))
    arr = np.array(rows)
    t = np.arange(1, steps + 1)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.2), dpi=110)
    a1.plot(t, grads.numpy(), ".", color="0.6", ms=3, label="gradient dW = 1 + noise")
    a1.plot(t, arr[:, 0], color="#1f77b4", ls="--", label="m (no correction)")
    a1.plot(t, arr[:, 1], color="#1f77b4", label="m̂ = m / (1-β₁ᵗ)")
    a1.plot(t, arr[:, 2], color="#d62728", ls="--", label="√v (no correction)")
    a1.plot(t, arr[:, 3], color="#d62728", label="√v̂ = √(v / (1-β₂ᵗ))")
    a1.set_xlabel("step t")
    a1.set_title("moment estimates start at 0: the correction removes that bias", fontsize=9)
    a1.legend(fontsize=7.5)
    a1.grid(alpha=0.3)

    surf = get_surface("ravine")
    _draw_surface(a2, surf)
    for corrected, color in ((True, "#2ca02c"), (False, "#d62728")):
        rule = rules.Adam(lr=lr, bias_correction=corrected)
        w = torch.tensor(surf.start, dtype=torch.float64)
        pts = [w]
        for _ in range(steps):
            w = rule.step(w, surf.grad)
            pts.append(w)
        p, _ = clip_to_box(torch.stack(pts).numpy(), surf.xlim, surf.ylim)
        first = float(torch.linalg.vector_norm(pts[1] - pts[0]))
        label = f"Adam {'with' if corrected else 'without'} bias correction (first step {first:.2f})"
        a2.plot(p[:, 0], p[:, 1], "-", color=color, marker=".", ms=3, lw=1.2, label=label)
    a2.plot(*surf.start, marker="o", color="k")
    ratio = (1 - b1) / (1 - b2) ** 0.5
    a2.set_title(
        f"ravine, lr={lr:g}, first {steps} steps: without the correction the first step is\n"
        f"(1-β₁)/√(1-β₂) = {ratio:.2f} × lr per coordinate, not 1 × lr",
        fontsize=9,
    )
    a2.legend(fontsize=7.5, loc="lower right")
    fig.tight_layout()
    write_file(_out(path), fig.savefig)  # never over a file convzoo did not write
    plt.close(fig)
    return Path(path)


def plot_schedules(
    path: str | Path,
    *,
    names: Sequence[str] | None = None,
    total_steps: int = 100,
    base_lr: float = 0.1,
    warmup_steps: int = 10,
) -> Path:
    """Every learning-rate schedule over a run of ``total_steps``, from the trainer's own code.

    Besides each schedule alone, draws cosine with a linear warm-up of ``warmup_steps`` (0: not drawn). The
    plateau schedule is fed :func:`~convzoo.train.schedules.synthetic_val_error`, drawn dashed on its panel.
    """
    names = list(SCHEDULE_NAMES) if names is None else list(names)
    for name in names:
        if name not in SCHEDULE_NAMES:
            raise ValueError(f"unknown schedule {name!r}; choose from: {', '.join(SCHEDULE_NAMES)}")
    panels: list[tuple[str, dict]] = [(n, {}) for n in names]
    if warmup_steps:
        panels.append(("cosine", {"warmup_steps": warmup_steps}))
    cols = min(3, len(panels))
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 2.8 * rows), dpi=100, squeeze=False)
    for ax, (name, kw) in zip(axes.flat, panels, strict=False):
        curve = schedule_curve(name, total_steps=total_steps, base_lr=base_lr, **kw)
        ax.plot(range(total_steps), curve, color="#1f77b4", lw=1.6)
        title = name + (f" + {kw['warmup_steps']}-step warm-up" if kw else "")
        if name == "plateau":
            title += "\n(fed a synthetic validation error, dashed)"
            errors, err = [], None
            for lr in curve:
                err = synthetic_val_error(lr / base_lr, err)
                errors.append(err)
            twin = ax.twinx()
            twin.plot(range(total_steps), errors, color="0.5", ls="--", lw=1.2)
            twin.set_ylabel("synthetic val. error", fontsize=8, color="0.4")
            twin.set_ylim(bottom=0)
        ax.set_title(title, fontsize=9)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.set_xlabel("step (epoch or iteration)", fontsize=8)
        ax.set_ylabel("learning rate", fontsize=8)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    fig.suptitle(
        f"learning-rate schedules, base lr {base_lr:g}, {total_steps} steps "
        "(convzoo.train.schedules, as the trainer uses them)",
        fontsize=10,
    )
    fig.tight_layout()
    write_file(_out(path), fig.savefig)  # never over a file convzoo did not write
    plt.close(fig)
    return Path(path)
