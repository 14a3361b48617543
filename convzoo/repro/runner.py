"""Run a claim: every arm × seed as an ordinary training run in ``OUT/<claim>/<budget>/<arm>-s<seed>/``.

An arm that finished has a result file beside its run folder (``<arm>-s<seed>.json``: its curves, metrics,
per-image test correctness, spec hashes, machine and commit) and is skipped; one with a run folder but no
result file was interrupted and resumes from its last checkpoint (the trainer's exact resume). A finished arm is
also written to the committed arms folder (``docs/repro/<claim>/<budget>/arms/``), and an arm found there with
today's spec hash is not trained again, so a long claim can be run arm by arm across sessions and machines.
An arm another process is training (its run folder is locked) is left to it: two ``repro run`` of one claim
share the arms between them. Data are loaded once per claim and process.
"""

from __future__ import annotations

import math
import os
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from convzoo.data import DataSplits, load_data
from convzoo.data.datasets import channel_stats
from convzoo.repro.estimate import ArmPlan, arm_recipe, plan, scale_recipe
from convzoo.repro.prereg import arm_hash, arms_dir, spec_hash
from convzoo.repro.registry import get_claim
from convzoo.repro.results import ArmResult, read_arm_result, write_arm_result
from convzoo.repro.spec import Arm, Budget, Claim
from convzoo.trust_write import check_inside

__all__ = ["arm_config", "arms_dir", "budget_data", "claim_dir", "run_claim"]

Log = Callable[[str], None]


def claim_dir(out: str | Path, claim: Claim, budget: str) -> Path:
    return Path(out) / claim.id / budget


def git_commit() -> str:
    """The commit of the convzoo checkout this runs from ("" outside a git checkout)."""
    import subprocess

    here = Path(__file__).parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", "."],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    if head.returncode != 0:
        return ""
    return head.stdout.strip()[:40] + ("+dirty" if dirty.stdout.strip() else "")


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
    committed: str | Path | None = None,
) -> Path:
    """Train every arm of ``claim_id`` (an id, or a :class:`Claim` of your own) at ``budget`` (skipping finished
    arms, resuming interrupted ones, leaving arms another process trains to it), then write the report.
    ``committed``: the folder of committed arm results (``docs/repro``): arms found there with today's spec
    hash are reused, and each arm finished here is written there too. ``progress``: the trainer's per-step
    progress (None: a bar on a terminal). Returns the claim's folder ``out/<claim>/<budget>``."""
    claim = get_claim(claim_id) if isinstance(claim_id, str) else claim_id
    folder = claim_dir(out, claim, "exact" if claim.kind == "analytic" else budget)
    command = _command(claim, budget, seeds, data, out)
    if claim.kind == "analytic":
        from convzoo.repro.report import write_analytic_report

        check_inside(out, folder).mkdir(parents=True, exist_ok=True)  # no link leads it out of --out
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
    check_inside(out, folder).mkdir(parents=True, exist_ok=True)  # no link leads it out of --out
    shared = arms_dir(committed, claim, budget) if committed is not None and budget != "smoke" else None
    from convzoo.repro.report import write_run_info

    if main:
        write_run_info(folder, b, spec, n_seeds, command)
    ctx = _ArmContext(b, spec, folder, {}, log, progress, spec_hash(claim, b), git_commit())
    t_claim, busy = time.perf_counter(), []
    for i, (p, seed) in enumerate(jobs):
        tag = f"[repro {claim.id} {budget}] arm {i + 1}/{len(jobs)} {p.arm.name} seed {seed}"
        name = f"{p.arm.name}-s{seed}.json"
        if _reuse(claim, b, p.arm, folder / name, shared / name if shared else None, tag, log, main):
            continue
        left = sum(q.seconds for q, s in jobs[i:] if not (folder / f"{q.arm.name}-s{s}.json").exists())
        log(f"{tag}: ETA {_minutes(p.seconds * ctx.speed)}; claim ETA {_minutes(left * ctx.speed)}")
        result = _run_or_skip(p, seed, ctx, command, tag)
        if result is None:
            busy.append(name)
            continue
        if main:
            write_arm_result(folder / name, result)
            if shared is not None:
                check_inside(committed, shared).mkdir(parents=True, exist_ok=True)  # nor out of the docs
                write_arm_result(shared / name, result)
                log(f"{tag}: result committed to {shared / name}")
    log(f"[repro {claim.id} {budget}] arms done in {_minutes(time.perf_counter() - t_claim)}")
    busy = [name for name in busy if not (folder / name).exists()]  # finished by the other process meanwhile
    if main and not busy:
        _time_checks(claim, b, folder, log)
    if busy:
        log(f"[repro {claim.id} {budget}] {len(busy)} arm(s) still training in another process; the report waits")
    elif report and main:
        from convzoo.repro.report import write_report

        path = write_report(claim, folder, command=command)
        log(f"[repro {claim.id} {budget}] report: {path}")
    return folder


def _time_checks(claim: Claim, b: Budget, folder: Path, log: Log) -> None:
    """For each training-time check, its two arms' steps timed interleaved (``timing.json``), once."""
    import json

    from convzoo.repro.timing import time_arms
    from convzoo.trust_write import write_file

    path = folder / "timing.json"
    checks = [c for c in claim.checks_at(b) if c.metric == "train_s"]
    if not checks or path.exists():
        return
    out = {}
    for c in checks:
        log(f"[repro {claim.id} {b.name}] timing {c.better} and {c.worse} interleaved")
        times = time_arms([claim.arm(c.better), claim.arm(c.worse)], b, rounds=2 if b.name == "smoke" else 12)
        out[f"{c.better}|{c.worse}"] = {"better": times[c.better], "worse": times[c.worse], "load": _load()}
    write_file(path, json.dumps(out, indent=1), owned=True, inside=folder)


def _reuse(
    claim: Claim, b: Budget, arm: Arm, local: Path, shared: Path | None, tag: str, log: Log, main: bool
) -> bool:
    """Whether this arm and seed finished already, here or in the committed folder, under today's spec."""
    want = arm_hash(arm, b)
    done = read_arm_result(local, claim)
    if done is not None and done.arm_hash not in ("", want):
        raise ValueError(
            f"{local}: this arm finished under an older spec (hash {done.arm_hash}, today {want}); delete it "
            f"and its run folder {local.with_suffix('')} to train it again"
        )
    if done is not None:
        log(f"{tag}: finished earlier ({_minutes(done.wall_s)}); skipped")
        return True
    theirs = read_arm_result(shared, claim) if shared is not None else None
    if theirs is None:
        return False
    if theirs.arm_hash != want:
        log(f"{tag}: the committed result {shared} is of an older spec ({theirs.arm_hash or 'no hash'}); re-running")
        return False
    if main:
        write_arm_result(local, theirs)
    log(f"{tag}: committed result (spec {want}, {_minutes(theirs.wall_s)} on {theirs.machine.get('cpu', '?')}); reused")
    return True


@dataclass
class _ArmContext:
    budget: Budget
    data: str
    folder: Path
    cache: dict[tuple[float, int], DataSplits]
    log: Log
    progress: bool | None
    spec_hash: str
    commit: str
    speed: float = 1.0  # measured ÷ estimated time of the arms trained so far in this session


def _run_or_skip(p: ArmPlan, seed: int, ctx: _ArmContext, command: str, tag: str) -> ArmResult | None:
    """Train one arm and seed; None if another process holds its run folder."""
    from convzoo.train.runfolder import RunFolderBusy

    t0 = time.perf_counter()
    try:
        result = _run_arm(p, seed, ctx)
    except RunFolderBusy as e:
        ctx.log(f"{tag}: {e.path} is in use by another convzoo process (PID {e.holder}); left to that process")
        return None
    except KeyboardInterrupt as e:  # the arm saved at a step boundary: say how to go on in repro's terms
        said = str(e).split(". To continue", 1)[0] or f"{p.arm.name} seed {seed} interrupted"
        raise type(e)(
            f"{said}. To continue, run `{command}` again: finished arms are skipped and this one resumes exactly"
        ) from None
    if not result.resumed:
        ctx.speed = (time.perf_counter() - t0) / max(p.seconds, 1e-9)
    return result


def _command(claim: Claim, budget: str, seeds: int | None, data: str | None, out: str | Path) -> str:
    args = ["convzoo", "repro", "run", claim.id, "--budget", budget]
    if seeds is not None:
        args += ["--seeds", str(seeds)]
    if data is not None:
        args += ["--data", data]
    return shlex.join(args + ["--out", str(out)])


def _run_arm(p: ArmPlan, seed: int, ctx: _ArmContext) -> ArmResult:
    from convzoo.train.trainer import NonFiniteLossError, train

    b, log = ctx.budget, ctx.log
    r = arm_recipe(p.arm, b)
    key = (float(r.val_size), seed if r.val_size else 0)
    if key not in ctx.cache:
        ctx.cache[key] = budget_data(b, ctx.data, r.val_size, key[1])
    splits = ctx.cache[key]
    cfg = arm_config(p.arm, b, seed, ctx.data, len(splits.train), ctx.folder, ctx.progress)
    ckpts = check_inside(ctx.folder, ctx.folder / cfg.name) / "checkpoints"  # the arm's run stays in its folder
    resumed = ckpts.is_dir() and any(ckpts.iterdir())
    t0 = time.perf_counter()
    try:
        res = train(cfg, data=splits, log=lambda s: log(f"  {p.arm.name}-s{seed}: {s}"))
    except NonFiniteLossError as e:  # a result, not a crash: the paper's "fail"
        log(f"  {p.arm.name}-s{seed}: diverged: {e}")
        out = _result(p, seed, splits, [], time.perf_counter() - t0, 0.0, resumed, diverged=str(e))
        return _stamp(out, p.arm, ctx, "")
    rows = [
        {k: v for k, v in row.items() if isinstance(v, int | float) and math.isfinite(v)}
        for row in res.metrics
    ]
    wall = float(rows[-1].get("wall_s", time.perf_counter() - t0)) if rows else time.perf_counter() - t0
    out = _result(p, seed, splits, rows, wall, float(res.images_per_s), resumed)
    return _stamp(out, p.arm, ctx, _correct(res.model, splits, b, rows, log))


def _correct(model: Any, splits: DataSplits, b: Budget, rows: list[dict[str, float]], log: Log) -> str:
    """The final model's per-image test correctness, packed; checked against the trainer's last test error."""
    if splits.test is None:
        return ""
    import torch

    from convzoo.repro.stats import pack_bits
    from convzoo.train.evaluation import correct_per_image
    from convzoo.train.parts import amp_dtype

    dtype = amp_dtype(next(model.parameters()).device) if b.amp else None
    bits = correct_per_image(
        model, splits.test, splits.mean, splits.std, amp=dtype, channels_last=bool(b.channels_last)
    )
    err = 100 - 100 * sum(bits) / max(len(bits), 1)
    last = next((row["test_err"] for row in reversed(rows) if "test_err" in row), None)
    if last is not None and abs(last - err) > 0.05:
        log(f"  note: per-image test error {err:.2f}% differs from the trainer's {last:.2f}% ({torch.__version__})")
    return pack_bits(bits)


def _load() -> str:
    """The machine's 15-minute load average when the arm ended (other jobs slow an arm down)."""
    try:
        return f"{os.getloadavg()[2]:.1f}"
    except OSError:
        return "?"


def _stamp(r: ArmResult, arm: Arm, ctx: _ArmContext, correct: str) -> ArmResult:
    from convzoo.repro.report import machine

    return replace(
        r, correct=correct, arm_hash=arm_hash(arm, ctx.budget), spec_hash=ctx.spec_hash,
        machine={**machine(), "amp": str(bool(ctx.budget.amp)), "load": _load()}, commit=ctx.commit,
    )


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
        epochs=p.epochs,
    )
