"""Run a claim: every arm × seed as an ordinary training run in ``OUT/<claim>/<budget>/<arm>-s<seed>/``.

An arm that finished has a result file beside its run folder (``<arm>-s<seed>.json``: its metrics, wall time
and throughput) and is skipped; one with a run folder but no result file was interrupted and resumes from its
last checkpoint (the trainer's exact resume, with the same configuration). Data are loaded once per claim.
"""

from __future__ import annotations

import math
import os
import shlex
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from convzoo.data import DataSplits, load_data
from convzoo.data.datasets import channel_stats
from convzoo.repro.estimate import ArmPlan, arm_recipe, plan, scale_recipe
from convzoo.repro.registry import get_claim
from convzoo.repro.results import ArmResult, read_arm_result, write_arm_result
from convzoo.repro.spec import Arm, Budget, Claim

__all__ = ["arm_config", "budget_data", "claim_dir", "run_claim"]

Log = Callable[[str], None]


def claim_dir(out: str | Path, claim: Claim, budget: str) -> Path:
    return Path(out) / claim.id / budget


def budget_data(budget: Budget, data: str, val_size: int | float, seed: int) -> DataSplits:
    """The budget's data: ``per_class`` training (and test) images per class, the rest untouched."""
    splits = load_data(
        data,
        val_size=val_size,
        seed=seed,
        image_size=budget.image_size,
        download=budget.name == "paper" and data in ("cifar10", "cifar100"),
    )
    train, test = splits.train, splits.test
    if budget.per_class is not None:
        train = train.per_class(budget.per_class)
    if budget.test_per_class is not None and test is not None:
        test = test.per_class(budget.test_per_class)
    if train is splits.train and test is splits.test:
        return splits
    mean, std = channel_stats(train.images)
    return replace(splits, train=train, test=test, mean=mean, std=std)


def arm_config(
    arm: Arm,
    budget: Budget,
    seed: int,
    data: str,
    n_train: int,
    out: Path,
    progress: bool | None = None,
) -> Any:
    """The :class:`~convzoo.train.trainer.TrainConfig` of one arm and seed (the same on every re-run)."""
    from convzoo.train.trainer import TrainConfig

    r = arm_recipe(arm, budget)
    if budget.epochs is not None:
        r = scale_recipe(r, budget.epochs, max(1, n_train // r.batch_size))
    return TrainConfig(
        model=arm.model,
        data=data,
        recipe=r,
        per_class=budget.per_class,
        image_size=budget.image_size,
        seed=seed,
        out_dir=str(out),
        name=f"{arm.name}-s{seed}",
        resume=True,
        amp=budget.amp,
        channels_last=budget.channels_last,
        eval_every=budget.eval_every,
        checkpoint_minutes=5.0,
        progress=progress,
        model_kwargs={**r.model_kwargs, **dict(arm.overrides)},
    )


def _minutes(s: float) -> str:
    return f"{s / 60:.1f} min" if s >= 60 else f"{s:.0f} s"


def run_claim(
    claim_id: str | Claim,
    budget: str = "cpu",
    *,
    seeds: int | None = None,
    data: str | None = None,
    out: str | Path = "runs/repro",
    log: Log = print,
    report: bool = True,
    progress: bool | None = None,
) -> Path:
    """Train every arm of ``claim_id`` (an id, or a :class:`Claim` of your own) at ``budget`` (skipping finished
    arms, resuming interrupted ones), then write the report. ``progress``: the trainer's per-step progress
    (None: a bar on a terminal). Returns the claim's folder ``out/<claim>/<budget>``."""
    claim = get_claim(claim_id) if isinstance(claim_id, str) else claim_id
    folder = claim_dir(out, claim, "exact" if claim.kind == "analytic" else budget)
    command = _command(claim, budget, seeds, data, out)
    if claim.kind == "analytic":
        from convzoo.repro.report import write_analytic_report

        folder.mkdir(parents=True, exist_ok=True)
        write_analytic_report(claim, folder, command=command)
        log(f"[repro {claim.id}] analytic claim computed; report in {folder / 'report.md'}")
        return folder
    b = claim.budget(budget)
    spec = data if data is not None else b.data
    if not spec:
        raise ValueError(
            f"claim {claim.id!r} at the {budget} budget needs a data set: pass --data PATH ({b.note})"
        )
    n_seeds = seeds if seeds is not None else b.seeds
    if n_seeds < 1:
        raise ValueError(f"--seeds must be at least 1, got {n_seeds}")
    plans = plan(claim, b, spec if data is not None else None)
    jobs = [(p, s) for p in plans for s in range(n_seeds)]
    main = int(os.environ.get("RANK", "0")) == 0  # under torchrun only rank 0 writes the claim's files
    folder.mkdir(parents=True, exist_ok=True)
    from convzoo.repro.report import write_run_info

    if main:
        write_run_info(folder, b, spec, n_seeds, command)
    cache: dict[tuple[float, int], DataSplits] = {}
    speed = 1.0  # measured ÷ estimated time of the arms trained so far in this session
    t_claim = time.perf_counter()
    for i, (p, seed) in enumerate(jobs):
        tag = f"[repro {claim.id} {budget}] arm {i + 1}/{len(jobs)} {p.arm.name} seed {seed}"
        done = read_arm_result(folder / f"{p.arm.name}-s{seed}.json", claim)
        if done is not None:
            log(f"{tag}: finished earlier ({_minutes(done.wall_s)}); skipped")
            continue
        left = sum(q.seconds for q, s in jobs[i:] if not (folder / f"{q.arm.name}-s{s}.json").exists())
        log(f"{tag}: ETA {_minutes(p.seconds * speed)}; claim ETA {_minutes(left * speed)}")
        t0 = time.perf_counter()
        try:
            result = _run_arm(p, b, seed, spec, folder, cache, log, progress)
        except KeyboardInterrupt as e:  # the arm saved at a step boundary: say how to go on in repro's terms
            raise type(e)(
                f"{str(e).split('. To continue', 1)[0]}. To continue, run `{command}` again: finished arms are "
                "skipped and this one resumes exactly"
            ) from None
        if main:
            write_arm_result(folder / f"{p.arm.name}-s{seed}.json", result)
        if not result.resumed:
            speed = (time.perf_counter() - t0) / max(p.seconds, 1e-9)
    log(f"[repro {claim.id} {budget}] all arms done in {_minutes(time.perf_counter() - t_claim)}")
    if report and main:
        from convzoo.repro.report import write_report

        path = write_report(claim, folder, command=command)
        log(f"[repro {claim.id} {budget}] report: {path}")
    return folder


def _command(claim: Claim, budget: str, seeds: int | None, data: str | None, out: str | Path) -> str:
    args = ["convzoo", "repro", "run", claim.id, "--budget", budget]
    if seeds is not None:
        args += ["--seeds", str(seeds)]
    if data is not None:
        args += ["--data", data]
    return shlex.join(args + ["--out", str(out)])


def _run_arm(
    p: ArmPlan,
    b: Budget,
    seed: int,
    data: str,
    folder: Path,
    cache: dict[tuple[float, int], DataSplits],
    log: Log,
    progress: bool | None,
) -> ArmResult:
    from convzoo.train.trainer import NonFiniteLossError, train

    r = arm_recipe(p.arm, b)
    key = (float(r.val_size), seed if r.val_size else 0)
    if key not in cache:
        cache[key] = budget_data(b, data, r.val_size, key[1])
    splits = cache[key]
    cfg = arm_config(p.arm, b, seed, data, len(splits.train), folder, progress)
    ckpts = folder / cfg.name / "checkpoints"
    resumed = ckpts.is_dir() and any(ckpts.iterdir())
    t0 = time.perf_counter()
    try:
        res = train(cfg, data=splits, log=lambda s: log(f"  {p.arm.name}-s{seed}: {s}"))
    except NonFiniteLossError as e:  # a result, not a crash: the paper's "fail"
        log(f"  {p.arm.name}-s{seed}: diverged: {e}")
        return _result(p, seed, splits, [], time.perf_counter() - t0, 0.0, resumed, diverged=str(e))
    rows = [
        {k: v for k, v in row.items() if isinstance(v, int | float) and math.isfinite(v)}
        for row in res.metrics
    ]
    wall = float(rows[-1].get("wall_s", time.perf_counter() - t0)) if rows else time.perf_counter() - t0
    return _result(p, seed, splits, rows, wall, float(res.images_per_s), resumed)


def _result(
    p: ArmPlan,
    seed: int,
    splits: DataSplits,
    rows: list[dict[str, float]],
    wall: float,
    images_per_s: float,
    resumed: bool,
    diverged: str = "",
) -> ArmResult:
    return ArmResult(
        arm=p.arm.name,
        seed=seed,
        rows=rows,
        wall_s=wall,
        images_per_s=images_per_s,
        train_images=len(splits.train),
        test_images=len(splits.test) if splits.test is not None else 0,
        val_images=len(splits.val) if splits.val is not None else 0,
        estimated_s=p.seconds,
        resumed=resumed,
        macs=p.macs,
        params=p.params,
        classes=len(splits.classes),
        diverged=diverged,
    )
