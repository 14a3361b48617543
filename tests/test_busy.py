"""A busy machine is said in one line by bench, train and predict, and bench records the load beside its ratios.

On a 2-core machine whose cores other work holds, PyTorch's OpenMP threads wait for them: ResNet-50 ran at
2.6 s per image with 2 threads against 0.15 s with 1. The load average is patched here, so each case is exact.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from convzoo.busy import QUIET_ENV, busy_note
from convzoo.cli import main
from convzoo.cli_args import CORES


@pytest.mark.parametrize(
    ("load", "cores", "threads", "expected"),
    [
        (0.2, 2, 2, None),  # quiet: the background of a shell
        (0.4, 2, 2, None),
        (1.2, 2, 1, None),  # one core left for one thread
        (3.9, 2, 2, "load average 3.9 on 2 cores leaves none free for 2 threads; pass --threads 1"),
        (1.0, 2, 2, "leaves about 1 free for 2 threads; pass --threads 1"),
        (3.9, 2, 1, "leaves none free for 1 thread; expect it to take longer"),
        (6.0, 16, 8, None),
        (9.0, 16, 8, "leaves about 7 free for 8 threads; pass --threads 7"),
        (12.0, 16, 8, "load average 12.0 on 16 cores leaves about 4 free for 8 threads; pass --threads 4"),
    ],
)
def test_busy_when_the_threads_exceed_the_free_cores(load, cores, threads, expected) -> None:
    note = busy_note(threads, "bench", load=load, cores=cores)
    if expected is None:
        assert note is None
    else:
        assert note is not None and note.startswith("note: bench: the machine is busy: ") and expected in note
        assert "\n" not in note


@pytest.fixture(autouse=True)
def _notes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """The suite sets CONVZOO_QUIET_LOAD=1 (tests/conftest.py); these tests check the note itself."""
    monkeypatch.delenv(QUIET_ENV, raising=False)


@pytest.fixture
def busy(monkeypatch: pytest.MonkeyPatch) -> float:
    load = CORES + 2.5
    monkeypatch.setattr(os, "getloadavg", lambda: (load, load, load))
    return load


def test_predict_says_so_before_it_starts(busy: float, tmp_path: Path, capsys) -> None:
    code = main(["predict", str(tmp_path / "no-run"), "cat.jpg", "--threads", "2"])
    err = capsys.readouterr().err.splitlines()
    assert code == 2 and err[0].startswith(f"note: predict: the machine is busy: load average {busy:.1f}")
    assert "--threads 1" in err[0]


def test_train_says_so_before_it_starts(busy: float, tmp_path: Path, capsys) -> None:
    code = main(["train", "lenet5_modern", "--data", str(tmp_path / "missing"), "--threads", "2",
                 "--out", str(tmp_path / "runs")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and f"note: train: the machine is busy: load average {busy:.1f}" in err


def test_quiet_machines_hear_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys) -> None:
    monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    main(["predict", str(tmp_path / "no-run"), "cat.jpg", "--threads", "1"])
    assert "busy" not in capsys.readouterr().err


def test_bench_names_the_load_beside_its_ratios(busy: float, tmp_path: Path, capsys) -> None:
    out = tmp_path / "bench.json"
    code = main(["bench", "lenet5", "--threads", "2", "--repeats", "2", "--warmup", "0", "--against", "none",
                 "--format", "json", "-o", str(out)])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 0 and "note: bench: the machine is busy" in err
    method = json.loads(out.read_text())["method"]
    assert method["load"] == [busy, busy] and method["cores"] == CORES
    from convzoo.deploy.bench import BenchResult, format_result

    text = format_result(BenchResult.from_dict(json.loads(out.read_text())))
    table, _, rest = text.partition("\n\n")
    assert rest.startswith(f"Load average {busy:.1f} → {busy:.1f} (start → end) on {CORES} cores, 2 thread(s): busy")
    with pytest.raises(ValueError, match="wrong kind of value"):
        BenchResult.from_dict({**json.loads(out.read_text()), "method": {**method, "load": ["3.9"]}})


@pytest.mark.parametrize("value", ["1", "yes"])
def test_convzoo_quiet_load_silences_the_note_but_bench_still_records_the_load(
    busy: float, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys, value: str
) -> None:
    monkeypatch.setenv(QUIET_ENV, value)
    assert main(["predict", str(tmp_path / "no-run"), "cat.jpg", "--threads", "2"]) == 2
    assert main(["train", "lenet5_modern", "--data", str(tmp_path / "missing"), "--threads", "2",
                 "--out", str(tmp_path / "runs")]) == 2  # fmt: skip
    out = tmp_path / "bench.json"
    code = main(["bench", "lenet5", "--threads", "2", "--repeats", "2", "--warmup", "0", "--against", "none",
                 "--format", "json", "-o", str(out)])  # fmt: skip
    assert code == 0 and "busy" not in capsys.readouterr().err
    assert json.loads(out.read_text())["method"]["load"] == [busy, busy]


@pytest.mark.parametrize("value", ["", "0"])
def test_convzoo_quiet_load_empty_or_0_keeps_the_note(busy: float, monkeypatch, tmp_path, capsys, value) -> None:
    monkeypatch.setenv(QUIET_ENV, value)
    assert main(["predict", str(tmp_path / "no-run"), "cat.jpg", "--threads", "2"]) == 2
    assert capsys.readouterr().err.startswith("note: predict: the machine is busy: ")
