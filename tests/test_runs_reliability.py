"""Never lose a run: the run folder's lock, atomic and finite checkpoints, exact resume, resume's config check.

Each case builds the bad situation (files made here, small), runs the real CLI (``convzoo.cli.main``) or
``train``, and asserts the exact behaviour: the error names the cause and the folder or file, the exit code
is non-zero, and nothing already saved changed (the run folder is hashed before and after). The models below
are reached as ``test_runs_reliability:<name>`` (this folder is on ``sys.path`` under pytest, and on
``PYTHONPATH`` for the subprocesses).
"""

from __future__ import annotations

import csv
import dataclasses
import errno
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from torch import nn

from convzoo.cli import main
from convzoo.data import load_data
from convzoo.train import NonFiniteLossError, TrainConfig, get_recipe, train
from convzoo.train import runfolder as runfolder_mod
from convzoo.train.checkpoint import CheckpointError, atomic_output, read_latest, save_checkpoint
from convzoo.train.recipes import RECIPES
from convzoo.train.runfolder import RunFolder, RunFolderBusy
from convzoo.train.trainer import TrainingInterrupted

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
SPE = 4  # steps per epoch: 10 digits per class, 100 training images, batch 25


# ------------------------------------------------------------------------------------------------ tiny models


class Tiny(nn.Module):
    """conv-BN-ReLU-pool-linear on 8×8 digits."""

    def __init__(self, num_classes: int = 10, in_chans: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_chans, 4, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4 * 4, num_classes)
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.calls += 1
            self.on_training_call(self.calls)
        x = torch.relu(self.bn(self.conv(x)))
        return self.fc(nn.functional.adaptive_avg_pool2d(x, 2).flatten(1))

    def on_training_call(self, n: int) -> None:
        pass


def tiny(num_classes: int = 10, in_chans: int = 1) -> Tiny:
    return Tiny(num_classes, in_chans)


class BadBuffer(Tiny):
    """BN's running variance becomes infinite at the 3rd training step while the loss stays finite (what
    ``--lr 1e6`` does to BN statistics before the loss overflows)."""

    def on_training_call(self, n: int) -> None:
        if n == 3:
            self.bn.running_var.fill_(float("inf"))


def bad_buffer(num_classes: int = 10, in_chans: int = 1) -> BadBuffer:
    return BadBuffer(num_classes, in_chans)


class InfLogits(Tiny):
    """Finite weights, finite training loss, but infinite logits when evaluated."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = super().forward(x)
        return out if self.training else out * float("inf")


def inf_logits(num_classes: int = 10, in_chans: int = 1) -> InfLogits:
    return InfLogits(num_classes, in_chans)


class SelfSignal(Tiny):
    """Sends its own process SIGINT (or SIGTERM) during the 6th training step, as a user's Ctrl-C would."""

    signum = signal.SIGINT

    def on_training_call(self, n: int) -> None:
        if n == 6:
            os.kill(os.getpid(), self.signum)


class SelfTerm(SelfSignal):
    signum = signal.SIGTERM


class SelfTwice(Tiny):
    """Ctrl-C twice during the 6th training step: the second one interrupts at once."""

    def on_training_call(self, n: int) -> None:
        if n == 6:
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)


class SlowStoppedOnce(Tiny):
    """Each training step takes at least 1 s until Ctrl-C during the 3rd (the first time in this process), then
    at least 0.3 s: the stretch before the stop outlasts a resumed process's start-up and its training."""

    stopped = False

    def on_training_call(self, n: int) -> None:
        time.sleep(0.3 if SlowStoppedOnce.stopped else 1.0)
        if n == 3 and not SlowStoppedOnce.stopped:
            SlowStoppedOnce.stopped = True
            os.kill(os.getpid(), signal.SIGINT)


def slow_stopped_once(num_classes: int = 10, in_chans: int = 1) -> SlowStoppedOnce:
    return SlowStoppedOnce(num_classes, in_chans)


def self_twice(num_classes: int = 10, in_chans: int = 1) -> SelfTwice:
    return SelfTwice(num_classes, in_chans)


def self_sigint(num_classes: int = 10, in_chans: int = 1) -> SelfSignal:
    return SelfSignal(num_classes, in_chans)


def self_sigterm(num_classes: int = 10, in_chans: int = 1) -> SelfTerm:
    return SelfTerm(num_classes, in_chans)


# ------------------------------------------------------------------------------------------------ helpers


@pytest.fixture(scope="module")
def digits():
    return load_data("digits", per_class=10)


def _quiet(_: str) -> None:
    pass


def _cfg(out: Path, name: str = "run", model: str = "test_runs_reliability:tiny", **over) -> TrainConfig:
    recipe = get_recipe("fast").replace(
        epochs=over.pop("epochs", 2),
        batch_size=25,
        lr=over.pop("lr", 0.05),
        amp=False,
        channels_last=False,
        tta="none",
        augment="crop:2:reflect",  # as _argv's (digits are not mirrored)
        lookahead={**get_recipe("fast").lookahead, "every": 3},  # as _argv's --lookahead every=3
        small_crops={},
    )
    kw = dict(
        model=model,
        data="digits",
        recipe=recipe,
        per_class=10,
        out_dir=str(out),
        name=name,
        progress=False,
        amp=False,
        channels_last=False,
    )
    kw.update(over)
    return TrainConfig(**kw)


def _argv(
    out: Path, name: str, *extra: str, model: str = "test_runs_reliability:tiny", epochs: float = 2
) -> list[str]:
    return [
        "train", model, "--data", "digits", "--per-class", "10", "--epochs", f"{epochs:g}", "--batch-size", "25",
        "--lr", "0.05", "--augment", "crop:2:reflect", "--no-amp", "--no-channels-last", "--tta", "none",
        "--lookahead", "every=3", "--small-crops", "epochs=0", "--out", str(out), "--name", name, "--no-progress",
        *extra,
    ]  # fmt: skip


def _hash(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder`` (its whole saved state)."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(str(read_latest(run / "checkpoints") / "model.safetensors"))


def _same_weights(a: Path, b: Path) -> bool:
    wa, wb = _weights(a), _weights(b)
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def _state(ckpt: Path) -> dict:
    return torch.load(ckpt / "state.pt", weights_only=True)


def _all_finite(ckpt: Path) -> bool:
    tensors = list(load_file(str(ckpt / "model.safetensors")).values())
    tensors += list(_state(ckpt).get("lookahead", {}).values())
    return all(bool(torch.isfinite(t).all()) for t in tensors if t.is_floating_point())


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), str(ROOT), env.get("PYTHONPATH", "")])
    env["OMP_NUM_THREADS"] = "1"
    return env


def _copy(run: Path, out: Path) -> Path:
    """A copy of a saved run (taken by another process) at ``out/run``."""
    shutil.copytree(run, out / "run")
    return out / "run"


@pytest.fixture(scope="module")
def paused(tmp_path_factory, digits) -> Path:
    """A run stopped by its budget after 1.5 epochs (step 6 of 8), checkpoints every 2 steps: this process
    wrote ckpt_000001..3 (steps 2, 4, 6) and pruned ckpt_000001, its oldest."""
    out = tmp_path_factory.mktemp("paused")
    train(_cfg(out, max_epochs=1.5, checkpoint_every=2), data=digits, log=_quiet)
    assert sorted(p.name for p in (out / "run" / "checkpoints").glob("ckpt_*")) == [
        "ckpt_000002",
        "ckpt_000003",
    ]
    return out / "run"


@pytest.fixture(scope="module")
def reference(tmp_path_factory, digits) -> Path:
    """The uninterrupted 2-epoch run every exact-resume case is compared with."""
    out = tmp_path_factory.mktemp("ref")
    train(_cfg(out, "ref"), data=digits, log=_quiet)
    return out / "ref"


# ------------------------------------------------------------------------------------------------ exact resume


@pytest.mark.parametrize(
    "budget", [pytest.param(1, marks=pytest.mark.slow), 1.5], ids=["epoch-end", "mid-epoch"]
)
def test_max_epochs_then_resume_is_bit_identical_with_lookahead(tmp_path, digits, reference, budget):
    """A budget stop is a pause: Lookahead's finish belongs to the run's end, not to the budget's stop."""
    train(_cfg(tmp_path, max_epochs=budget), data=digits, log=_quiet)
    stopped = _state(read_latest(tmp_path / "run" / "checkpoints"))["loop"]["global_step"]
    assert stopped == int(budget * SPE)
    train(_cfg(tmp_path, resume=True), data=digits, log=_quiet)
    assert _same_weights(reference, tmp_path / "run")


@pytest.mark.parametrize("model", ["self_sigint", pytest.param("self_sigterm", marks=pytest.mark.slow)])
def test_ctrl_c_and_sigterm_stop_at_a_step_save_and_say_how_to_resume(
    tmp_path, digits, reference, model, capsys
):
    argv = _argv(tmp_path, "run", model=f"test_runs_reliability:{model}")
    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    assert main(argv) == 130
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    signame = "SIGINT" if model == "self_sigint" else "SIGTERM"
    assert f"{signame}: stopped at step 6 of 8; saved {tmp_path / 'run' / 'checkpoints'}" in err
    assert err.endswith("run the same command with --resume")
    assert _state(read_latest(tmp_path / "run" / "checkpoints"))["loop"]["global_step"] == 6
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == handlers  # put back
    # the resumed model is the reference's (the same class: the signal is sent at its 6th call only)
    cfg = dataclasses.replace(_cfg(tmp_path, model=f"test_runs_reliability:{model}"), resume=True)
    train(cfg, data=digits, log=_quiet)
    assert _same_weights(reference, tmp_path / "run")


def test_wall_time_counts_every_resumed_stretch_including_a_part_epoch(tmp_path, digits):
    """A run stopped part-way through its first epoch (no epoch row yet) and resumed: its wall time is both
    stretches', not the last one's (it was: a resume restarted from the last epoch row's wall time)."""
    cfg = _cfg(tmp_path, model="test_runs_reliability:slow_stopped_once")
    SlowStoppedOnce.stopped = False
    t0 = time.perf_counter()
    with pytest.raises(TrainingInterrupted, match="SIGINT: stopped at step 3 of 8"):
        train(cfg, data=digits, log=_quiet)  # 3 steps, ≥ 3 s, no epoch row yet
    first = time.perf_counter() - t0
    assert not (tmp_path / "run" / "metrics.csv").exists()
    loop = _state(read_latest(tmp_path / "run" / "checkpoints"))["loop"]
    assert loop["global_step"] == 3 and 3.0 <= loop["wall_s"] <= first
    t1 = time.perf_counter()
    result = train(dataclasses.replace(cfg, resume=True), data=digits, log=_quiet)  # 5 more steps, ≥ 1.5 s
    second = time.perf_counter() - t1
    rows = list(csv.DictReader(open(tmp_path / "run" / "metrics.csv")))
    wall = [float(r["wall_s"]) for r in rows]
    assert len(rows) == 2 and loop["wall_s"] + 0.3 <= wall[0] < wall[1] <= first + second
    assert wall[1] >= 3 * 1.0 + 5 * 0.3
    # the result's wall time is the run's too, the last row's or a bit more (it was this process's only)
    assert wall[1] <= result.wall_s <= first + second


def test_a_checkpoint_without_its_wall_time_resumes_from_the_last_row_and_the_part_epoch() -> None:
    """Checkpoints written before the wall time was kept in them: the last epoch row's wall time plus the
    training time of the epoch under way."""
    from convzoo.train.trainer import _State, _wall_at_save

    state = _State(loop={"epoch_time": 3.0}, rows=[{"epoch": 1, "wall_s": 10.0}])
    assert _wall_at_save(None, state) == 13.0 and _wall_at_save(7.5, state) == 7.5
    assert _wall_at_save(None, _State(loop={"epoch_time": 3.0})) == 3.0


def test_a_second_ctrl_c_interrupts_at_once_leaving_the_last_checkpoint(tmp_path, capsys):
    assert main(_argv(tmp_path, "run", model="test_runs_reliability:self_twice")) == 130
    err = capsys.readouterr().err.strip()
    assert err == (
        "stopped: interrupted; the last checkpoint is intact. To continue, run the same command with --resume"
    )
    ckpts = tmp_path / "run" / "checkpoints"
    assert [p.name for p in ckpts.iterdir() if p.name.startswith("ckpt_")] == ["ckpt_000001"]
    assert _state(read_latest(ckpts))["loop"]["global_step"] == SPE and _all_finite(read_latest(ckpts))


def test_ctrl_c_through_the_api_raises_training_interrupted(tmp_path, digits):
    with pytest.raises(TrainingInterrupted, match=r"SIGINT: stopped at step 6 of 8; saved .*ckpt_000002"):
        train(_cfg(tmp_path, model="test_runs_reliability:self_sigint"), data=digits, log=_quiet)


def _shrunk(name: str):
    """Recipe ``name`` with its own optimizer, schedule, warm-up, smoothing, Lookahead and TTA, sized for a
    2-epoch run on 100 digits."""
    r = RECIPES[name]
    return r.replace(
        epochs=2,
        iterations=None,
        batch_size=25,
        warmup=1 if r.warmup else 0,
        warmup_lr=r.warmup_lr if r.warmup else None,
        schedule_params={
            **{k: v for k, v in r.schedule_params.items() if k in ("anneal_strategy", "gamma")},
            **({"milestones": [1] if r.interval == "epoch" else [3, 6]} if r.schedule == "multistep" else {}),
        },
        val_size=0.1 if r.val_size else 0,
        augment="crop:1:reflect,flip:alt",
        lookahead={**r.lookahead, "every": 3} if r.lookahead else {},
        small_crops={"size": 6, "epochs": 1} if r.small_crops else {},
        zero_init_residual=False,
        model_kwargs={},
        amp=False,
        channels_last=False,
    )


@pytest.mark.parametrize(
    "name",
    # inception_v3 runs by default: an epoch schedule (stepped at epoch ends only, never at a budget's stop
    # part-way through an epoch), RMSProp, clipping, label smoothing and a validation split
    [n if n == "inception_v3" else pytest.param(n, marks=pytest.mark.slow) for n in sorted(RECIPES)],
)
def test_every_recipe_resumes_bit_identical_after_a_budget_stop(tmp_path, name):
    data = load_data("digits", per_class=10, val_size=0.1 if RECIPES[name].val_size else 0)
    recipe = _shrunk(name)
    train(_cfg(tmp_path, "ref", recipe=recipe), data=data, log=_quiet)
    train(_cfg(tmp_path, recipe=recipe, max_epochs=1.25), data=data, log=_quiet)
    train(_cfg(tmp_path, recipe=recipe, resume=True), data=data, log=_quiet)
    assert _same_weights(tmp_path / "ref", tmp_path / "run")


# ------------------------------------------------------------------------------------------------ finite checkpoints


def test_a_non_finite_buffer_is_never_saved(tmp_path, digits):
    """Every parameter and buffer is checked before a save; the last finite checkpoint is kept, unchanged."""
    with pytest.raises(
        NonFiniteLossError,
        match=r"at step 3 2 tensor\(s\) hold NaN or infinity \(bn\.running_var, lookahead\.bn\.running_var\)",
    ):
        train(
            _cfg(tmp_path, model="test_runs_reliability:bad_buffer", checkpoint_every=1),
            data=digits,
            log=_quiet,
        )
    ckpts = tmp_path / "run" / "checkpoints"
    latest = read_latest(ckpts)
    assert _state(latest)["loop"]["global_step"] == 2 and _all_finite(latest)
    assert all(_all_finite(p) for p in ckpts.glob("ckpt_*"))


def test_huge_lr_stops_with_only_finite_checkpoints(tmp_path, capsys):
    """``--lr 1e6 --checkpoint-every 1`` (the issue's case): whatever goes non-finite first, nothing
    non-finite is on disk."""
    assert main(_argv(tmp_path, "run", "--checkpoint-every", "1") + ["--lr", "1e6"]) == 3
    err = capsys.readouterr().err
    assert "NaN or infinity" in err or "loss became" in err
    assert all(_all_finite(p) for p in (tmp_path / "run" / "checkpoints").glob("ckpt_*"))


def test_nan_lr_through_the_api_saves_nothing_non_finite(tmp_path, digits):
    with pytest.raises((NonFiniteLossError, ValueError), match=r"(?i)nan"):
        train(_cfg(tmp_path, lr=float("nan"), checkpoint_every=1), data=digits, log=_quiet)
    assert all(_all_finite(p) for p in (tmp_path / "run" / "checkpoints").glob("ckpt_*"))


def test_a_non_finite_evaluation_loss_is_a_failure(tmp_path, digits):
    """Finite weights whose outputs are not: the evaluation's NaN loss stops the run before the save."""
    cfg = _cfg(tmp_path, model="test_runs_reliability:inf_logits", epochs=2, eval_every=2)
    with pytest.raises(NonFiniteLossError, match=r"the test loss became nan at step 8.*last good checkpoint"):
        train(cfg, data=digits, log=_quiet)
    ckpts = tmp_path / "run" / "checkpoints"
    assert [p.name for p in ckpts.glob("ckpt_*")] == ["ckpt_000001"]
    assert _state(read_latest(ckpts))["loop"]["global_step"] == SPE
    assert len((tmp_path / "run" / "metrics.csv").read_text().splitlines()) == 2  # header and epoch 1


# ------------------------------------------------------------------------------------------------ checkpoint writer


@pytest.mark.parametrize("pointer", [None, "ckpt_000099\n"], ids=["missing", "dangling"])
def test_a_missing_or_dangling_latest_resumes_from_the_newest_complete_checkpoint(
    tmp_path, digits, reference, paused, pointer
):
    ckpts = _copy(paused, tmp_path) / "checkpoints"
    newest = read_latest(ckpts)
    (ckpts / "latest").unlink()
    if pointer:
        (ckpts / "latest").write_text(pointer)
    before = {p.name: _hash(p) for p in ckpts.glob("ckpt_*")}
    said: list[str] = []
    train(_cfg(tmp_path, resume=True), data=digits, log=said.append)
    assert any(f"using the newest complete checkpoint {newest}" in s for s in said)
    assert any("resumed" in s and "at step 6" in s for s in said)
    assert _same_weights(reference, tmp_path / "run")
    for name, files in before.items():  # checkpoints of the earlier process: neither deleted nor changed
        assert _hash(ckpts / name) == files
    rows = _state(read_latest(ckpts))["metrics"]
    assert [r["epoch"] for r in rows] == [1, 2, 2]  # the budget's row at 1.5 epochs, then the end


def test_a_pointer_out_of_the_folder_is_refused(tmp_path, paused, capsys):
    _copy(paused, tmp_path)
    pointer = tmp_path / "run" / "checkpoints" / "latest"
    pointer.write_text("../../elsewhere\n")
    before = _hash(tmp_path / "run")
    assert main(_argv(tmp_path, "run", "--resume")) == 2  # a damaged run folder is bad input
    err = capsys.readouterr().err
    assert str(pointer) in err and "ckpt_000001" in err
    assert _hash(tmp_path / "run") == before


def test_stale_temporary_files_of_a_killed_run_are_removed_at_the_next_start(tmp_path, digits, paused):
    run = _copy(paused, tmp_path)
    stale = [
        run / "checkpoints" / ".tmp_ckpt_000004_4242_x1y2",
        run / ".metrics.csv.tmp",
        run / ".config.json.4242.abcd1234.tmp",
        run / "checkpoints" / ".latest.4242.tmp",
    ]
    stale[0].mkdir()
    (stale[0] / "model.safetensors").write_bytes(b"partial")
    for p in stale[1:]:
        p.write_text("partial")
    mine = run / "notes.txt"
    mine.write_text("a user's file in a run folder is left alone")
    said: list[str] = []
    train(_cfg(tmp_path, resume=True), data=digits, log=said.append)
    assert not any(p.exists() for p in stale) and mine.read_text().startswith("a user's")
    assert sum("left by a run that was killed" in s for s in said) == len(stale)


def test_the_writer_never_replaces_a_complete_checkpoint(tmp_path):
    model = tiny()
    first = save_checkpoint(tmp_path, model, {"loop": {}}, {"model": "tiny"}, index=1)
    before = _hash(first)
    with pytest.raises(CheckpointError, match=r"refusing to overwrite the complete checkpoint .*ckpt_000001"):
        save_checkpoint(tmp_path, model, {"loop": {}}, {"model": "tiny"}, index=1)
    assert _hash(first) == before
    run = RunFolder(tmp_path.parent, _quiet)
    run.ckpt_dir = tmp_path
    (tmp_path / "ckpt_000007").mkdir()  # even an incomplete folder's number is never reused
    assert run.next_index() == 8


def test_pruning_touches_only_this_process_checkpoints(tmp_path, digits, paused):
    """The paused run's process pruned its own oldest; a resumed process keeps every one it did not write."""
    ckpts = _copy(paused, tmp_path) / "checkpoints"
    train(_cfg(tmp_path, resume=True, checkpoint_every=1), data=digits, log=_quiet)
    now = sorted(p.name for p in ckpts.glob("ckpt_*"))
    assert now == ["ckpt_000002", "ckpt_000003", "ckpt_000004", "ckpt_000005"]
    assert (
        read_latest(ckpts).name == "ckpt_000005" and _state(ckpts / "ckpt_000005")["loop"]["global_step"] == 8
    )


def test_writes_use_unique_temporary_names(tmp_path):
    target = tmp_path / "metrics.csv"
    with atomic_output(target) as a, atomic_output(target) as b:
        assert a != b and a.parent == b.parent == tmp_path and a.name.startswith(".convzoo-tmp-")
        assert a.name.endswith("-metrics.csv")
        a.write_text("a")
        b.write_text("b")
    assert target.read_text() == "a" and not list(tmp_path.glob(".convzoo-tmp-*"))


# ------------------------------------------------------------------------------------------------ the run folder


def test_a_second_writer_is_refused_while_the_first_holds_the_lock(tmp_path, capsys):
    run = tmp_path / "run"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from convzoo.train.runfolder import RunFolder; "
            "f = RunFolder.open(Path(sys.argv[1]), print); print('locked', flush=True); time.sleep(60)",
            str(run),
        ],
        env=_env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        before = _hash(run)
        assert main(_argv(tmp_path, "run")) == 1  # in use: not the input's fault, as a busy repro folder
        err = capsys.readouterr().err
        assert f"{run} is in use by another convzoo process (PID {holder.pid})" in err
        assert _hash(run) == before
        with pytest.raises(RunFolderBusy):
            RunFolder.open(run, _quiet)
    finally:
        holder.kill()
        holder.wait()
    with RunFolder.open(run, _quiet):  # the lock died with its process
        pass


def test_a_folder_that_is_not_a_convzoo_run_is_refused(tmp_path, capsys):
    run = tmp_path / "mine"
    run.mkdir()
    for name in ("config.json", "metrics.csv", "curves.png"):
        (run / name).write_text(f"the user's own {name}")
    before = _hash(run)
    assert main(_argv(tmp_path, "mine")) == 2  # bad input: --name names a folder that is not a run
    assert f"{run} is not empty and is not a convzoo run folder" in capsys.readouterr().err
    assert _hash(run) == before and sorted(p.name for p in run.iterdir()) == sorted(before)
    (tmp_path / "afile").write_text("x")
    assert main(_argv(tmp_path, "afile")) == 2
    assert "is a file, not a run folder" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["..", "../escape", "a/b", "/tmp/abs", ""])
def test_name_stays_inside_out(tmp_path, capsys, name):
    out = tmp_path / "out"
    assert main(_argv(out, name)) == 2  # a usage error
    assert "must be a single folder name inside --out" in capsys.readouterr().err
    assert not (tmp_path / "escape").exists() and not out.exists()


def test_full_disk_fails_before_training_naming_the_folder(tmp_path, digits, paused, monkeypatch, capsys):
    run = _copy(paused, tmp_path)
    before = _hash(run)
    monkeypatch.setattr(runfolder_mod.shutil, "disk_usage", lambda p: _Usage())
    assert main(_argv(tmp_path, "run", "--resume")) == 1  # a full disk is a failure, not bad input
    assert f"not enough free space in {run}" in capsys.readouterr().err
    assert _hash(run) == before
    monkeypatch.undo()

    def full(path, text, **where):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(runfolder_mod, "atomic_write_text", full)
    said: list[str] = []
    with pytest.raises(OSError, match=re.escape(f"cannot write {run / 'config.json'} (the disk is full)")):
        train(_cfg(tmp_path, resume=True), data=digits, log=said.append)
    assert not any(s.startswith("epoch") for s in said) and _hash(run) == before
    capsys.readouterr()
    assert main(_argv(tmp_path, "run", "--resume")) == 1  # the same through the CLI
    assert f"cannot write {run / 'config.json'} (the disk is full)" in capsys.readouterr().err
    assert _hash(run) == before


class _Usage:
    total, used, free = 10**9, 10**9, 0


# ------------------------------------------------------------------------------------------------ resume's config check


@pytest.mark.parametrize(
    "change, listed",
    [
        (["--batch-size", "20"], "batch_size: 25 -> 20"),
        (["--lr", "0.1"], "lr: 0.05 -> 0.1"),
        (["--seed", "1"], "seed: 0 -> 1"),
        (["--optimizer", "adam"], "optimizer: 'nesterov' -> 'adam'"),
        (["--augment", "crop:1"], "augment: 'crop:2:reflect' -> 'crop:1'"),
        (["--per-class", "9"], "per_class: 10 -> 9"),
        (["--lookahead", "every=4"], "lookahead:"),
        (["--schedule", "cosine"], "schedule: 'onecycle' -> 'cosine'"),
        (["--epochs", "1"], "length: 8 steps -> 4 (a shorter run"),
    ],
)
def test_resume_refuses_a_change_that_breaks_exactness(tmp_path, paused, capsys, change, listed):
    before = _hash(_copy(paused, tmp_path))
    assert main(_argv(tmp_path, "run", "--resume", *change)) == 2  # a usage error: settings it cannot take
    err = capsys.readouterr().err
    assert f"cannot resume {tmp_path / 'run' / 'checkpoints'}" in err and listed in err
    assert _hash(tmp_path / "run") == before


def test_resume_lists_every_refused_change_in_one_message(tmp_path, paused, capsys):
    _copy(paused, tmp_path)
    assert (
        main(_argv(tmp_path, "run", "--resume", "--lr", "0.1", "--seed", "3", "--label-smoothing", "0")) == 2
    )
    err = capsys.readouterr().err
    assert all(s in err for s in ("lr: 0.05 -> 0.1", "seed: 0 -> 3", "label_smoothing: 0.2 -> 0.0"))
    assert err.count("error:") == 1


def _image_folder(root: Path, classes: tuple[str, str]) -> None:
    digits = load_data("digits", per_class=6)
    for split, images in (("train", digits.train), ("test", digits.test)):
        for c, name in enumerate(classes):
            d = root / split / name
            d.mkdir(parents=True)
            for i, img in enumerate(images.images[images.labels == c][:6]):
                Image.fromarray(img[0].numpy()).save(d / f"{i}.png")


def test_resume_refuses_data_with_other_class_names(tmp_path, capsys):
    """The same folder, the same class count, other class names: the checkpoint's names are not replaced."""
    data = tmp_path / "imgs"
    _image_folder(data, ("cat", "dog"))
    argv = _argv(tmp_path, "run", "--max-epochs", "1")
    argv[argv.index("digits")] = str(data)
    argv = [a for a in argv if a not in ("--per-class", "10")] + ["--batch-size", "4"]
    assert main(argv) == 0
    (data / "train" / "dog").rename(data / "train" / "emu")
    (data / "test" / "dog").rename(data / "test" / "emu")
    before = _hash(tmp_path / "run")
    capsys.readouterr()
    assert main([a for a in argv if a not in ("--max-epochs", "1")] + ["--resume"]) == 2
    assert "data classes: ['cat', 'dog'] -> ['cat', 'emu']" in capsys.readouterr().err
    assert _hash(tmp_path / "run") == before


def test_resume_accepts_safe_changes_records_them_and_stays_exact(tmp_path, paused, reference, capsys):
    _copy(paused, tmp_path)
    assert main(_argv(tmp_path, "run", "--resume", "--eval-every", "2", "--checkpoint-every", "3")) == 0
    out = capsys.readouterr().out
    assert "resume changes" in out and "eval_every 1 -> 2" in out
    lines = (tmp_path / "run" / "resumes.jsonl").read_text().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert (
        record["step"] == 6
        and record["changed"]["eval_every"] == [1, 2]
        and record["checkpoint"] == "ckpt_000003"
    )
    assert record["changed"]["checkpoint_every"] == [2, 3] and record["changed"]["max_epochs"] == [1.5, None]
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["eval_every"] == 2 and config["checkpoint_every"] == 3
    assert _same_weights(reference, tmp_path / "run")


def test_a_longer_run_extends_a_finished_one_cycle_run(tmp_path, reference, capsys):
    _copy(reference, tmp_path)
    done = _state(read_latest(tmp_path / "run" / "checkpoints"))
    assert main(_argv(tmp_path, "run", "--resume", epochs=3)) == 0
    out = capsys.readouterr().out
    assert "extending the run to 12 steps (its schedule was planned for 8)" in out
    state = _state(read_latest(tmp_path / "run" / "checkpoints"))
    assert state["loop"]["global_step"] == 12 and [r["epoch"] for r in state["metrics"]] == [1, 2, 3]
    final_lr = done["metrics"][-1]["lr"]
    assert state["metrics"][-1]["lr"] == pytest.approx(final_lr)  # the schedule holds its final rate
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["resolved"]["total_steps"] == 12 and config["resolved"]["schedule_steps"] == 8
    assert json.loads((tmp_path / "run" / "resumes.jsonl").read_text())["changed"]["recipe.epochs"] == [2, 3]
    # and resuming the finished run again changes nothing
    before = _hash(tmp_path / "run" / "checkpoints")
    assert main(_argv(tmp_path, "run", "--resume", epochs=3)) == 0
    assert "already finished at step 12" in capsys.readouterr().out
    assert _hash(tmp_path / "run" / "checkpoints") == before


def test_config_json_records_what_ran_not_the_recipes_description(tmp_path):
    assert main(_argv(tmp_path, "run")) == 0
    recipe = json.loads((tmp_path / "run" / "config.json").read_text())["recipe"]
    assert recipe["lr"] == 0.05 and recipe["changed_from_recipe"]["lr"] == [0.2, 0.05]
    assert "changed here: " in recipe["summary"] and "lr 0.2 → 0.05" in recipe["summary"]
    # a recipe changed through the API (its summary still the named recipe's) is annotated the same way
    train(_cfg(tmp_path, "api"), log=_quiet)
    recipe = json.loads((tmp_path / "api" / "config.json").read_text())["recipe"]
    assert (
        recipe["changed_from_recipe"]["batch_size"] == [128, 25]
        and "batch_size 128 → 25" in recipe["summary"]
    )


@pytest.mark.slow
def test_a_killed_writer_leaves_the_lock_free_and_its_temps_are_cleaned(tmp_path):
    """SIGKILL mid-run: the OS drops the lock with the process; the next run starts and resumes."""
    argv = [sys.executable, "-m", "convzoo", *_argv(tmp_path, "run", "--checkpoint-every", "1", epochs=40)]
    proc = subprocess.Popen(argv, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    latest = tmp_path / "run" / "checkpoints" / "latest"
    deadline = time.time() + 120
    while not latest.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    resumed = subprocess.run(
        [*argv[:-2], "--max-epochs", "1", "--resume"], env=_env(), capture_output=True, text=True, timeout=300
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed" in resumed.stdout
