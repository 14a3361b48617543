"""A full disk (or any refused write) in a command that writes a file: one line naming the file the user asked
for, exit 1, the earlier file left as it was and no temporary file left behind — for every writing command."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from convzoo.cli import main

BENCH = ["bench", "lenet5", "--repeats", "1", "--warmup", "0", "--threads", "1", "--format", "json"]
COMMANDS = {
    "draw": (["draw", "lenet5"], "net.dot"),
    "bench": (BENCH, "bench.json"),
    "export": (["export", "lenet5", "--format", "onnx"], "net.onnx"),
    "chart": (["chart", "bars", "--models", "resnet[13]?"], "chart.png"),
}


def _full_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every fsync of a regular file fails as a full disk does (ext4 and XFS report ENOSPC there)."""
    real = os.fsync

    def fsync(fd: int) -> None:
        if os.path.isdir(f"/proc/self/fd/{fd}"):
            return real(fd)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", fsync)


@pytest.mark.parametrize("name", list(COMMANDS))
def test_a_full_disk_is_one_line_and_keeps_the_earlier_file(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    argv, file = COMMANDS[name]
    out = tmp_path / file
    assert main([*argv, "-o", str(out)]) == 0, capsys.readouterr().err
    before = out.read_bytes()
    capsys.readouterr()
    _full_disk(monkeypatch)
    assert main([*argv, "-o", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    said = [line for line in err.splitlines() if "error" in line]  # progress lines may come before it
    assert "Traceback" not in err and len(said) == 1 and said[0] == err.splitlines()[-1], err
    assert said[0].startswith(f"convzoo {argv[0]}: error: No space left on device: {out}"), err
    assert "the disk is full" in err and "files saved before are unchanged" in err
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [file]  # no temporary file left


def test_a_refused_write_names_its_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A rename the system refuses (a read-only or foreign folder; root ignores modes, so it is simulated)."""

    def replace(src: str, dst: str) -> None:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), src)

    monkeypatch.setattr(os, "replace", replace)
    out = tmp_path / "net.dot"
    assert main(["draw", "lenet5", "-o", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"convzoo draw: error: Permission denied: {out}; files saved before are unchanged", err
    assert list(tmp_path.iterdir()) == []


def test_debug_shows_the_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONVZOO_DEBUG", "1")
    _full_disk(monkeypatch)
    with pytest.raises(OSError, match="No space left"):
        main(["draw", "lenet5", "-o", str(tmp_path / "net.dot")])


def test_a_full_disk_while_building_the_site_keeps_the_earlier_site(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    site = tmp_path / "site"
    argv = ["site", "--only", "lenet5", "--cache", str(tmp_path / "cache"), "--jobs", "1", "-o", str(site)]
    assert main(argv) == 0, capsys.readouterr().err
    before = {p.relative_to(site): p.read_bytes() for p in site.rglob("*") if p.is_file()}
    capsys.readouterr()
    _full_disk(monkeypatch)
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and err.splitlines()[-1].startswith("convzoo site: error: No space left"), (
        err
    )
    assert {p.relative_to(site): p.read_bytes() for p in site.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "site"]


def test_errors_that_are_not_the_systems_keep_their_own_message(tmp_path: Path) -> None:
    """A download that fails while its file is written (URLError is an OSError without an errno) is reported
    as itself, not renamed into an empty system error on the target."""
    from urllib.error import URLError

    from convzoo.trust_write import write_file

    def download(tmp: Path) -> None:
        raise URLError("the server closed the connection")

    with pytest.raises(URLError, match="the server closed the connection"):
        write_file(tmp_path / "x.tar.gz", download)
    assert list(tmp_path.iterdir()) == []
