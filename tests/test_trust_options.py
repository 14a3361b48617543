"""Options and limits (issue 20): every numeric option bounded at parsing in one message style, `draw`'s dot
with a deadline and paths it cannot read as options, path mistakes named, a busy repro folder and Ctrl-C in
one line each. Each case failed on the main branch before this work (a traceback, a hang or a wrong message)."""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from convzoo import cli_args
from convzoo.cli import build_parser, main
from convzoo.cli_args import MAX_THREADS, MAX_WORKERS

# ------------------------------------------------------------------------------------ bounded at parsing

# (command line, the option as argparse names it, the limit); every one is refused before any work
OVER_THE_LIMIT = [
    ("bench lenet5 --batch 100000", "--batch", 4096),
    ("bench lenet5 --batch 1,32,100000", "--batch", 4096),
    ("bench lenet5 --image-size 100000", "--image-size", 4096),
    (f"bench lenet5 --threads {MAX_THREADS + 1}", "--threads", MAX_THREADS),
    ("bench lenet5 --threads 100000", "--threads", MAX_THREADS),
    ("bench lenet5 --repeats 100000000", "--repeats", 10_000),
    ("bench lenet5 --warmup 100000000", "--warmup", 1000),
    ("eval RUN --protocol dense --scales 200000", "--scales", 4096),
    ("eval RUN --protocol dense --scales 256,384,200000", "--scales", 4096),
    ("eval RUN --protocol center --workers 100000", "--workers", MAX_WORKERS),
    ("predict RUN a.png --top 1000000000", "--top", 100_000),
    ("export lenet5 --format onnx --num-classes 1000000000", "--num-classes", 100_000),
    ("export lenet5 --format onnx --image-size 100000", "--image-size", 4096),
    ("visualize lenet5 top --limit 100000000", "--limit", 10_000),
    ("draw lenet5 --input 99999999x224x224", "--input", 4096),
    ("draw lenet5 --input 3x224x100000", "--input", 4096),
    ("draw lenet5 --depth 100000", "--depth", 64),
    ("summary lenet5 --input 3x100000x100000", "--input", 4096),
    ("summary lenet5 --num-classes 1000000000", "--num-classes", 100_000),
    ("summary lenet5 --depth 100000", "--depth", 64),
    ("summary lenet5 --batch-size 10000000000000", "--batch-size", 10**9),
    ("optim --steps 1000000000", "--steps", 100_000),
    ("optim --frames 1000000", "--frames", 1000),
    ("optim --fps 100000", "--fps", 100),
    ("optim --start 1e300 0", "--start", 1e6),
    ("optim cnn --epochs 1000000", "--epochs", 1000),
    ("optim cnn --per-class 1000000", "--per-class", 5000),
    ("optim cnn --batch-size 1000000", "--batch-size", 4096),
    ("schedules --steps 1000000000", "--steps", 1_000_000),
    ("schedules --warmup-steps 1000000000", "--warmup-steps", 1_000_000),
    ("schedules --base-lr 1e9", "--base-lr", 1e6),
    ("repro run degradation --seeds 1000000", "--seeds", 100),
    ("bench lenet5 --batch " + "9" * 5000, "--batch", 4096),
]

# below the lower end, or not a number: refused at parsing too (these ended in tracebacks or ran on)
BELOW = [
    ("visualize lenet5 top --limit 0", "--limit"),
    ("visualize lenet5 top --limit -5", "--limit"),
    ("eval RUN --protocol center --workers -1", "--workers"),
    ("schedules --base-lr nan", "--base-lr"),
    ("optim --start inf 0", "--start"),
]


def _parse_error(capsys: pytest.CaptureFixture[str], line: str) -> str:
    """The one error line argparse prints for ``line``; it must exit with 2."""
    with pytest.raises(SystemExit) as stop:
        build_parser().parse_args(line.split())
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "Traceback" not in err
    return err


@pytest.mark.parametrize(("line", "option", "limit"), OVER_THE_LIMIT, ids=lambda v: str(v)[:60])
def test_option_over_its_limit_is_refused_at_parsing(
    capsys: pytest.CaptureFixture[str], line: str, option: str, limit: float
) -> None:
    err = _parse_error(capsys, line)
    assert f"argument {option}" in err and f"is over the limit {limit:g}" in err
    assert len(err) < 300  # a 5,000-digit value is shortened, not echoed


@pytest.mark.parametrize(("line", "option"), BELOW, ids=lambda v: str(v)[:60])
def test_option_below_its_range_is_refused_at_parsing(
    capsys: pytest.CaptureFixture[str], line: str, option: str
) -> None:
    assert f"argument {option}" in _parse_error(capsys, line)


@pytest.fixture
def no_training(monkeypatch: pytest.MonkeyPatch) -> None:
    from convzoo.train import trainer

    def reached(*args: object, **kwargs: object) -> None:
        raise AssertionError("the option was not refused up front")

    monkeypatch.setattr(trainer, "train", reached)
    monkeypatch.setattr(trainer, "load_data", reached)


@pytest.mark.parametrize(
    ("option", "value", "limit"),
    [
        ("--threads", "100000", MAX_THREADS),
        ("--workers", "100000", MAX_WORKERS),
        ("--batch-size", "100000000", 65_536),
        ("--image-size", "100000", 4096),
    ],
)
def test_train_refuses_the_same_limits_in_the_same_words(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_training: None, option: str, value: str, limit: int
) -> None:
    """train validates its options in one table (convzoo.train.options); the limits are the shared ones."""
    out = tmp_path / "runs"
    assert main(["train", "lenet5_modern", "--data", "digits", "--out", str(out), option, value]) == 2
    assert f"{option} {value} is over the limit {limit}" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize(
    "argv",
    [["bench", "lenet5", "--threads", "100000"], ["eval", "runs/none", "--protocol", "center", "--workers", "100000"]],
)
def test_cli_over_the_limit_is_one_line_and_exit_2(tmp_path: Path, argv: list[str]) -> None:
    """The real command: no traceback, no libgomp abort, no 971 forked workers; one line, exit status 2."""
    done = subprocess.run(
        [sys.executable, "-m", "convzoo", *argv], cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "Out of memory" not in done.stderr
    assert lines[-1].startswith(f"convzoo {argv[0]}: error: argument {argv[-2]}: 100000 is over the limit")


# ------------------------------------------------------------------------------- every option is bounded

# (command, option): why it needs no upper bound at parsing
EXEMPT = {
    ("output-size", "W"): "arithmetic on Python integers: output_size() allocates nothing",
    ("output-size", "F"): "arithmetic on Python integers: output_size() allocates nothing",
    ("output-size", "P"): "arithmetic on Python integers: output_size() allocates nothing",
    ("output-size", "S"): "arithmetic on Python integers: output_size() allocates nothing",
    ("output-size", "--dilation"): "arithmetic on Python integers: output_size() allocates nothing",
    ("eval", "--per-class"): "a cut of the data on disk: never more images than the data has",
}
# argparse types that read text, not one number; each is validated where it is used
TEXT_TYPES = {
    "key_value": "train KEY=VALUE pairs: validate_config checks each declared key's range (its _DICT_RULES)",
    "_lr_arg": "a learning rate (or NAME=RATE) > 0: a rate allocates nothing; divergence is reported",
    "_columns": "summary column names",
    "_names": "site: network names",
    "comma_list.<locals>.parse": "bench's backend and dtype names",
    "output_file": "a path",
    "output_folder": "a path",
    "weights_source": "a weights source's name (torchvision, timm.ra_in1k): checked against the registered sources",
}


def _options(parser: argparse.ArgumentParser, command: str = "") -> Iterator[tuple[str, argparse.Action]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _options(sub, f"{command} {name}".strip())
        elif action.type is not None:
            yield command, action


def _train_rules() -> dict[str, object]:
    from convzoo.train.options import _CONFIG_RULES, _RECIPE_RULES

    return {flag: rule for flag, rule in (*_CONFIG_RULES.values(), *_RECIPE_RULES.values())}


def test_every_numeric_option_has_a_bound() -> None:
    """Every option that takes a number is bounded at parsing (a ``cli_args`` type with a ``high``), or
    checked by train's own table, or exempt above with a reason."""
    train = _train_rules()
    unbounded = []
    for command, action in _options(build_parser()):
        name = action.option_strings[-1] if action.option_strings else action.dest
        if (command, name) in EXEMPT:
            continue
        kind = action.type
        if kind in (int, float):
            if command == "train" and name in train:
                continue  # validate_config: before any data is loaded, exit 2 naming the option
            unbounded.append(f"{command} {name}: type={kind.__name__}")
        elif hasattr(kind, "high"):
            if kind.high is None:
                unbounded.append(f"{command} {name}: {kind!r} has no upper limit")
        elif getattr(kind, "__qualname__", "") not in TEXT_TYPES:
            unbounded.append(f"{command} {name}: type {kind!r} is unknown to this test")
    assert not unbounded, "numeric options without a bound:\n" + "\n".join(unbounded)


def test_train_limits_come_from_the_shared_table() -> None:
    """train's resource options are capped by validate_config with the same limits as the other commands."""
    rules = _train_rules()
    assert rules["--threads"].high == cli_args.MAX_THREADS  # type: ignore[attr-defined]
    assert rules["--workers"].high == cli_args.MAX_WORKERS  # type: ignore[attr-defined]
    assert rules["--image-size"].high == cli_args.MAX_SIDE  # type: ignore[attr-defined]
    assert rules["--batch-size"].high == cli_args.MAX_TRAIN_BATCH  # type: ignore[attr-defined]
    assert 8 <= cli_args.MAX_THREADS <= 1024 and 8 <= cli_args.MAX_WORKERS <= 256


# ------------------------------------------------------------------------------------------------ draw

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")


@pytest.fixture
def slow_dot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A ``dot`` on PATH that never finishes, and a deadline of half a second."""
    draw_mod = importlib.import_module("convzoo.viz.draw")

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "dot"
    fake.write_text("#!/bin/sh\nexec sleep 60\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(draw_mod, "DOT_SECONDS", 0.5)
    monkeypatch.setattr(draw_mod, "DOT_SECONDS_PER_ITEM", 0.0)
    out = tmp_path / "out"
    out.mkdir()
    return out


def test_draw_stops_dot_at_its_deadline_with_advice(slow_dot: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`draw densenet264 --expand` ran dot for 300 s, then a TimeoutExpired traceback."""
    assert main(["draw", "lenet5", "-o", str(slow_dot / "x.svg")]) == 1
    err = capsys.readouterr().err
    assert "did not lay out" in err and "--expand" in err and "--depth" in err and "Traceback" not in err
    assert list(slow_dot.iterdir()) == []  # neither the picture nor a temporary file


def test_dot_deadline_grows_with_the_diagram() -> None:
    draw_mod = importlib.import_module("convzoo.viz.draw")
    from convzoo.viz.draw import draw

    small, big = draw("lenet5"), draw("densenet264", expand=True)
    assert draw_mod.DOT_SECONDS <= small.dot_deadline < big.dot_deadline <= draw_mod.DOT_MAX_SECONDS


def test_draw_into_a_missing_folder_names_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["draw", "lenet5", "-o", str(tmp_path / "missing" / "x.svg")]) == 2
    err = capsys.readouterr().err
    assert "missing" in err and "Traceback" not in err
    assert not (tmp_path / "missing").exists()


def test_draw_onto_a_folder_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "adir.svg").mkdir()
    err = _parse_error(capsys, f"draw lenet5 -o {tmp_path / 'adir.svg'}")
    assert f"{tmp_path / 'adir.svg'} is a folder" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adir.svg"]  # no adir.svg.part


@needs_dot
@pytest.mark.parametrize("name", ["-x.svg", "-d/x.svg", "-Tpng.svg"])
def test_draw_to_a_path_starting_with_a_dash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """dot read `-o -x.svg.part` as its own options; the path now reaches it as one word."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "-d").mkdir()
    assert main(["draw", "lenet5", f"--output={name}"]) == 0
    assert "<svg" in (tmp_path / name).read_text()
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == [Path(name).name]


# ------------------------------------------------------------------------------------------ path mistakes


@pytest.mark.parametrize(
    ("line", "made", "said"),
    [
        ("bench lenet5 -o {}", "dir", "is a folder"),
        ("visualize lenet5 filters -o {}", "dir.png", "is a folder"),
        ("chart bubbles -o {}", "dir.png", "is a folder"),
        ("repro run degradation --budget smoke --out {}", "file", "is a file, not a folder"),
        ("repro run degradation --budget smoke --out {}/sub", "file", "is a file, not a folder"),
        ("repro docs --docs {}", "file", "is a file, not a folder"),
        ("train lenet5 --out {}", "file", "is a file, not a folder"),
    ],
)
def test_path_mistakes_are_named_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str, made: str, said: str
) -> None:
    path = tmp_path / made
    if made == "file":
        path.write_text("notes\n")
    else:
        path.mkdir()
    err = _parse_error(capsys, line.format(path))
    assert str(path) in err and said in err
    assert made != "file" or path.read_text() == "notes\n"


# ------------------------------------------------------------------------------------ busy repro folder


def test_second_repro_run_on_a_busy_folder_says_who_holds_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two `repro run` on one folder: the second ended in a RunFolderBusy traceback."""
    from convzoo.train.runfolder import RunFolder

    out = tmp_path / "repro"
    argv = ["repro", "run", "degradation", "--budget", "smoke", "--out", str(out)]
    assert main(argv) == 0
    folder = out / "degradation" / "smoke"
    kept = (folder / "plain20-s0.json").read_bytes()
    (folder / "plain56-s0.json").unlink()  # as if another process were training this arm now
    capsys.readouterr()
    with RunFolder.open(folder / "plain56-s0", say=lambda s: None):
        code = main(argv)
    text = "".join(capsys.readouterr())
    assert code in (0, 1) and "Traceback" not in text
    assert f"{folder / 'plain56-s0'} is in use by another convzoo process (PID {os.getpid()})" in text
    assert (folder / "plain20-s0.json").read_bytes() == kept


# ---------------------------------------------------------------------------------------------- Ctrl-C

_SIGINT_AT_PARSING = """
import argparse, os, signal, sys

signal.signal(signal.SIGINT, signal.default_int_handler)  # a background parent may have left SIGINT ignored
real = argparse.ArgumentParser.parse_args

def interrupted(self, *args, **kwargs):
    os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C while the commands load
    return real(self, *args, **kwargs)

argparse.ArgumentParser.parse_args = interrupted
from convzoo.cli import main
sys.exit(main(["summary", "lenet5"]))
"""


def test_ctrl_c_at_start_up_is_one_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_SIGINT_AT_PARSING)], cwd=tmp_path, capture_output=True,
        text=True, timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    assert done.returncode == 130, done.stderr
    assert "Traceback" not in done.stderr and "KeyboardInterrupt" not in done.stderr
    assert done.stderr.strip() == (
        "convzoo: interrupted: while starting, before anything ran; to run it again: convzoo summary lenet5"
    )


def test_ctrl_c_while_building_the_model_names_the_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    draw_mod = importlib.import_module("convzoo.viz.draw")

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(draw_mod, "build_meta", interrupted)
    out = tmp_path / "x.dot"
    assert main(["draw", "lenet5", "-o", str(out)]) == 130
    err = capsys.readouterr().err.strip()
    assert err == f"convzoo draw: interrupted: before it finished; to run it again: convzoo draw lenet5 -o {out}"


def test_ctrl_c_while_train_sets_up_does_not_promise_a_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from convzoo.train import trainer

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(trainer, "load_data", interrupted)
    argv = ["train", "lenet5_modern", "--data", "digits", "--out", str(tmp_path), "--threads", "1"]
    assert main(argv) == 130
    err = capsys.readouterr().err
    assert "while setting up" in err and "run the same command again" in err
    assert "checkpoint is intact" not in err and "--resume" not in err


def test_ctrl_c_during_arm_set_up_names_the_arm_and_the_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """It said "interrupted: . To continue…" with an empty name."""
    from convzoo.repro import runner

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "budget_data", interrupted)
    out = tmp_path / "repro"
    assert main(["repro", "run", "degradation", "--budget", "smoke", "--out", str(out)]) == 130
    err = capsys.readouterr().err.strip()
    assert "interrupted: ." not in err and "Traceback" not in err
    assert "plain20" in err and f"`convzoo repro run degradation --budget smoke --out {out}`" in err
