"""The lab's pictures, command line and error messages."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from convzoo.cli import main
from convzoo.lab import plots
from convzoo.lab.surfaces import SURFACES, get_surface
from convzoo.lab.trajectories import race, run_optimizer

PNG = b"\x89PNG\r\n\x1a\n"


def _png(path: Path) -> None:
    assert path.is_file() and path.stat().st_size > 10_000, path
    assert path.read_bytes()[:8] == PNG
    with Image.open(path) as im:
        assert min(im.size) >= 300


def test_trajectory_and_loss_plots_are_written(tmp_path: Path) -> None:
    for surface in SURFACES:
        trajectories = race(surface, ["sgd", "adam"], steps=40)
        _png(plots.plot_trajectories(surface, trajectories, tmp_path / f"{surface}.png"))
        if surface in ("ravine", "saddle"):  # log scale of the gap to the minimum; symlog without a minimum
            _png(plots.plot_losses(surface, trajectories, tmp_path / f"{surface}_loss.png"))


def test_race_gif_is_small_and_animated(tmp_path: Path) -> None:
    trajectories = race("ravine", ["sgd", "momentum", "adam"], steps=40)
    path = plots.animate_race("ravine", trajectories, tmp_path / "race.gif", frames=8)
    assert 10_000 < path.stat().st_size < 2_000_000
    with Image.open(path) as im:
        assert im.format == "GIF" and im.n_frames >= 6


def test_bias_correction_and_schedule_plots(tmp_path: Path) -> None:
    _png(plots.plot_bias_correction(tmp_path / "bias.png", steps=20))
    _png(plots.plot_schedules(tmp_path / "schedules.png", total_steps=40))
    with pytest.raises(ValueError, match="unknown schedule 'linear'"):
        plots.plot_schedules(tmp_path / "x.png", names=["linear"])


def test_divergent_run_stops_with_a_message_and_is_drawn_to_the_edge(tmp_path: Path) -> None:
    traj = run_optimizer("bowl", "sgd", lr=2.1, steps=500)  # |1 - lr| = 1.1 > 1: the bounces grow
    assert traj.status == "diverged" and traj.stopped_at is not None and traj.stopped_at < 500
    assert np.isfinite(traj.points).all() and np.isfinite(traj.losses).all()
    assert "diverged at step" in traj.message and "smaller learning rate" in traj.message
    surf = get_surface("bowl")
    clipped, left = plots.clip_to_box(traj.points, surf.xlim, surf.ylim)
    assert left and len(clipped) < len(traj.points)
    end = clipped[-1]
    assert np.isclose(np.abs(end).max(), 4.0)  # ends exactly on the edge of the [-4, 4]² box
    _png(plots.plot_trajectories("bowl", [traj], tmp_path / "diverged.png"))
    saddle = run_optimizer("saddle", "momentum", steps=300)
    assert saddle.status == "escaped" and "no minimum" in saddle.message


def test_clip_to_box_keeps_paths_that_stay_or_come_back() -> None:
    path = np.array([[0.0, 0.0], [2.0, 0.0], [0.5, 0.5]])  # leaves the unit box and comes back
    clipped, left = plots.clip_to_box(path, (-1, 1), (-1, 1))
    assert not left and clipped is path
    out = np.array([[0.0, 0.0], [0.5, 0.0], [3.0, 1.0]])
    clipped, left = plots.clip_to_box(out, (-1, 1), (-1, 1))
    assert left
    np.testing.assert_allclose(clipped[-1], [1.0, 0.2])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: run_optimizer("moon", "sgd"), "unknown surface 'moon'; choose one of: bowl, ravine"),
        (lambda: run_optimizer("ravine", "adamax"), "unknown optimizer 'adamax'; choose from: sgd"),
        (lambda: run_optimizer("ravine", "sgd", lr=-0.1), "learning rate for sgd must be a positive number"),
        (lambda: run_optimizer("ravine", "sgd", lr=float("nan")), "must be a positive number, got nan"),
        (lambda: run_optimizer("ravine", "sgd", steps=0), "steps must be a positive integer"),
        (lambda: run_optimizer("ravine", "sgd", start=(1.0,)), "two finite numbers"),
        (lambda: race("ravine", []), "at least one optimizer"),
        (lambda: race("ravine", ["sgd"], lr={"adam": 0.1}), "not in the race"),
    ],
)
def test_bad_arguments_say_what_is_wrong(call, message: str) -> None:
    with pytest.raises(ValueError) as err:
        call()
    assert message in str(err.value)


def test_cli_optim_and_schedules(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "optim"
    code = main(
        [
            "optim",
            "--surface",
            "ravine",
            "--optimizers",
            "sgd",
            "adam",
            "--lr",
            "adam=0.3",
            "--steps",
            "30",
            "--frames",
            "5",
            "--out",
            str(out),
        ]
    )
    text = capsys.readouterr().out
    assert code == 0 and "adam" in text and "wrote" in text
    for name in ("ravine_trajectories.png", "ravine_loss.png"):
        _png(out / name)
    assert (out / "ravine_race.gif").stat().st_size > 10_000
    assert main(["schedules", "--steps", "30", "--out", str(tmp_path / "s")]) == 0
    _png(tmp_path / "s" / "schedules.png")


def test_cli_divergence_is_a_warning_not_a_crash(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["optim", "--surface", "bowl", "--optimizers", "sgd", "--lr", "5", "--no-gif", "--out", str(tmp_path)]
    )
    captured = capsys.readouterr()
    assert code == 0 and "warning: sgd (lr=5) diverged" in captured.err
    _png(tmp_path / "bowl_trajectories.png")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["optim", "--surface", "moon"], "invalid choice: 'moon'"),
        (["optim", "--optimizers", "adamax"], "invalid choice: 'adamax'"),
        (["optim", "--lr", "-0.1"], "the learning rate must be a positive number, got '-0.1'"),
        (["optim", "--lr", "adom=0.1"], "unknown optimizer 'adom'"),
        (["optim", "--steps", "0"], "must be a whole number >= 1"),
    ],
)
def test_cli_rejects_bad_arguments(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def test_cli_errors_from_the_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["optim", "--lr", "0.1", "--lr", "adam=0.2", "--no-gif", "--out", str(tmp_path)]) == 2
    assert "not both" in capsys.readouterr().err
    assert main(["optim", "--optimizers", "sgd", "--lr", "adam=0.2", "--no-gif", "--out", str(tmp_path)]) == 2
    assert "not among --optimizers" in capsys.readouterr().err
    assert main(["schedules", "--steps", "10", "--warmup-steps", "10", "--out", str(tmp_path)]) == 2
    assert "warmup_steps must be an integer in [0, total_steps)" in capsys.readouterr().err
