"""The `convzoo` command: each subcommand, its --help, and clear errors (run in-process and as a real process)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from convzoo.cli import build_parser, main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_every_subcommand_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    for name in sub.choices:  # type: ignore[union-attr]
        with pytest.raises(SystemExit) as ex:
            main([name, "--help"])
        assert ex.value.code == 0
        assert "usage: convzoo" in capsys.readouterr().out


def test_list_info_summary(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "list", "lenet*", "--format", "json")
    assert code == 0 and "lenet5" in json.loads(out)
    code, out, _ = run(capsys, "info", "lenet5", "--format", "json")
    assert code == 0 and json.loads(out)["paper"]["year"] == 1998
    code, out, _ = run(capsys, "summary", "lenet5", "--format", "json")
    data = json.loads(out)
    assert code == 0 and data["model"] == "lenet5" and data["total_params"] == sum(r["params"] for r in data["layers"])
    code, out, _ = run(capsys, "summary", "lenet5", "--depth", "1", "--format", "csv")
    assert code == 0 and out.splitlines()[0].startswith("name,type,input_shape,output_shape")


def test_errors_are_clear(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "info", "lenet")
    assert code == 2 and "Did you mean" in err and "lenet5" in err
    code, _, err = run(capsys, "summary", "lenet5", "--input", "1x8x8")
    assert code == 2 and "smallest square input at which lenet5 runs (PyTorch flooring fractional volumes) is 1×" in err
    code, _, err = run(capsys, "summary", "lenet5", "--input", "huge")
    assert code == 2 and "CxHxW" in err
    code, _, err = run(capsys, "output-size", "224", "11", "0", "4")
    assert code == 2 and "54.25" in err and "227" in err
    code, out, _ = run(capsys, "output-size", "227", "11", "0", "4")
    assert code == 0 and out.strip().endswith("= 55")


def test_console_script_runs_as_a_process() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "convzoo", "summary", "lenet5", "--format", "markdown"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "| Layer | Type |" in proc.stdout


def test_summary_compares_several_side_by_side(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "summary", "inception_naive_lecture", "inception_reduced_lecture")
    assert code == 0
    last = out.strip().splitlines()[-2:]
    assert last[0].startswith("inception_naive_lecture") and "854,196,224" in last[0]
    assert last[1].startswith("inception_reduced_lecture") and "271,351,808" in last[1] and "0.318" in last[1]
    code, out, _ = run(capsys, "summary", "lenet5", "lenet5_modern", "--format", "json")
    assert code == 0 and [d["model"] for d in json.loads(out)] == ["lenet5", "lenet5_modern"]
