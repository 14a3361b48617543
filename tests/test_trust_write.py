"""One way to write a file (convzoo/trust_write.py) and the writers that use it (issue 20, cases 1 and 3).

Each test builds its hostile input itself (symlinks to files outside the folder, a user's file at an export
target, a FIFO or a device as the target, a killed writer's temporary) and checks that the file outside is
unchanged and convzoo refuses naming the path and the cause, or replaces the link itself when told --force.
The last test scans convzoo's source for any writer that bypasses trust_write.
"""

from __future__ import annotations

import ast
import hashlib
import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from convzoo import trust_write
from convzoo.cli import main
from convzoo.trust_write import (
    TEMP_PREFIX,
    UnsafePath,
    check_inside,
    clean_stale_temps,
    is_own,
    open_inside,
    open_lock,
    output,
    write_file,
)

ROOT = Path(__file__).resolve().parents[1]
SECRET = "the user's own file, outside the folder\n"


def _outside(tmp_path: Path, name: str = "outside.txt") -> Path:
    victim = tmp_path / "elsewhere" / name
    victim.parent.mkdir(exist_ok=True)
    victim.write_text(SECRET)
    return victim


def _link(at: Path, to: Path) -> Path:
    at.parent.mkdir(parents=True, exist_ok=True)
    at.unlink(missing_ok=True)
    at.symlink_to(to)
    return at


def _temps(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob(f"{TEMP_PREFIX}*"))


# ------------------------------------------------------------------------------------------------ the rules


def test_writes_a_new_file_atomically_and_marks_it_as_convzoos(tmp_path):
    target = tmp_path / "a.txt"
    assert write_file(target, "hello") == target
    assert target.read_text() == "hello" and is_own(target) and not _temps(tmp_path)
    write_file(target, b"again")  # its own output: replaced without force
    assert target.read_bytes() == b"again" and is_own(target)
    with open(target, "a") as f:  # changed by someone else since: no longer convzoo's
        f.write("!")
    assert not is_own(target)
    with pytest.raises(UnsafePath, match=rf"{re.escape(str(target))}: exists and is not a file convzoo wrote"):
        write_file(target, "x")
    assert target.read_text() == "again!"


def test_a_failed_writer_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "keep.txt"
    write_file(target, "old")

    def broken(tmp: Path) -> None:
        tmp.write_text("half")
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError, match="killed"):
        write_file(target, broken)
    assert target.read_text() == "old" and not _temps(tmp_path)


def test_a_symlink_is_refused_and_force_replaces_the_link_never_its_target(tmp_path):
    victim = _outside(tmp_path)
    link = _link(tmp_path / "run" / "config.json", victim)
    with pytest.raises(UnsafePath, match=rf"{re.escape(str(link))}: is a symbolic link \(to {re.escape(str(victim))}\)"):
        write_file(link, "{}", owned=True)
    assert victim.read_text() == SECRET and link.is_symlink()
    write_file(link, "{}", force=True)
    assert victim.read_text() == SECRET and not link.is_symlink() and link.read_text() == "{}"


@pytest.mark.parametrize("kind", ["directory", "FIFO", "char device"])
def test_a_target_that_is_not_a_regular_file_is_refused_even_with_force(tmp_path, kind):
    target = tmp_path / "out.onnx"
    if kind == "directory":
        target.mkdir()
    elif kind == "FIFO":
        os.mkfifo(target)
    else:
        target = Path("/dev/null")
        if not target.exists():
            pytest.skip("no /dev/null here")
    before = target.lstat()
    with pytest.raises(UnsafePath, match=f"is a {kind.replace('char', 'character')}; convzoo writes only regular"):
        write_file(target, b"x", force=True)
    after = target.lstat()
    assert (after.st_mode, after.st_ino) == (before.st_mode, before.st_ino) and not _temps(target.parent)


def test_a_folder_link_cannot_lead_a_write_out_of_its_folder(tmp_path):
    folder, away = tmp_path / "docs", tmp_path / "away"
    folder.mkdir()
    away.mkdir()
    _link(folder / "claim", away)
    with pytest.raises(UnsafePath, match=r"leads outside .*docs .*through a symbolic link"):
        write_file(folder / "claim" / "report.md", "# x", owned=True, inside=folder)
    assert list(away.iterdir()) == []
    inner = folder / "real"
    inner.mkdir()
    _link(folder / "alias", inner)  # a link that stays inside is fine
    write_file(folder / "alias" / "ok.md", "ok", inside=folder)
    assert (inner / "ok.md").read_text() == "ok"


def test_reading_inside_a_folder_never_follows_a_link_out(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    _link(folder / "results.json", _outside(tmp_path))
    with pytest.raises(UnsafePath, match="leads outside"):
        check_inside(folder, folder / "results.json")
    with pytest.raises(UnsafePath, match="leads outside"):
        open_inside(folder, "results.json")
    os.mkfifo(folder / "fifo")
    with pytest.raises(UnsafePath, match="not a regular file"):
        open_inside(folder, "fifo")  # would block forever if opened blocking
    (folder / "plain.json").write_text("{}")
    with open_inside(folder, "plain.json") as f:
        assert f.read() == b"{}"


def test_siblings_are_checked_and_renamed_with_the_file(tmp_path):
    xml, bins = tmp_path / "report.xml", tmp_path / "report.bin"
    bins.write_text("the user's unrelated report.bin")
    with pytest.raises(UnsafePath, match=r"report\.bin: exists and is not a file convzoo wrote"):
        with output(xml, siblings=(".bin",)) as tmp:
            raise AssertionError("not reached: refused before the work")
    assert bins.read_text() == "the user's unrelated report.bin" and not xml.exists()
    bins.unlink()
    with output(xml, siblings=(".bin",)) as tmp:
        tmp.write_text("<xml/>")
        tmp.with_suffix(".bin").write_bytes(b"weights")
    assert xml.read_text() == "<xml/>" and bins.read_bytes() == b"weights" and is_own(bins)
    assert not _temps(tmp_path)


def test_a_killed_writers_temporary_is_removed_next_time_a_live_ones_is_kept(tmp_path):
    code = textwrap.dedent(
        """
        import os, sys
        from convzoo.trust_write import output
        with output(sys.argv[1]) as tmp:
            tmp.write_bytes(b"x" * 1000)
            os.kill(os.getpid(), 9)
        """
    )
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "model.onnx")], timeout=120)
    assert done.returncode == -signal.SIGKILL
    (left,) = _temps(tmp_path)
    assert left.name.startswith(f"{TEMP_PREFIX}") and not (tmp_path / "model.onnx").exists()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        mine = tmp_path / f"{TEMP_PREFIX}{live.pid}-abcd1234-other.png"
        mine.write_bytes(b"being written")
        os.utime(mine)  # written after the live process started
        assert clean_stale_temps(tmp_path) == [left]
        assert not left.exists() and mine.exists()
    finally:
        live.kill()
        live.wait()
    write_file(tmp_path / "model.onnx", b"ok")  # the next write into the folder cleans a dead one's too
    assert not mine.exists()


def test_a_lock_file_is_never_opened_through_a_link_or_a_second_name(tmp_path):
    victim = _outside(tmp_path)
    link = _link(tmp_path / "run" / ".lock", victim)
    with pytest.raises(UnsafePath, match=r"\.lock: is a symbolic link"):
        open_lock(link)
    link.unlink()
    os.link(victim, link)
    with pytest.raises(UnsafePath, match="2 hard links"):
        open_lock(link)
    link.unlink()
    os.mkfifo(link)
    with pytest.raises(UnsafePath, match="a FIFO"):
        open_lock(link)
    assert victim.read_text() == SECRET


_KINDS = ["missing", "foreign", "own", "link_out", "link_in", "dangling", "directory", "fifo", "link_dir"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(_KINDS), force=st.booleans(), owned=st.booleans(), data=st.binary(max_size=64))
def test_fuzz_targets(tmp_path_factory, kind, force, owned, data):
    """Whatever sits at the target, a write never changes a file elsewhere, leaves no temporary, and either
    writes a regular file (never a link) or raises UnsafePath, by the documented rule."""
    root = tmp_path_factory.mktemp("fuzz")
    folder = root / "out"
    folder.mkdir()
    victim = _outside(root)
    target = folder / "file.bin"
    if kind == "foreign":
        target.write_text("theirs")
    elif kind == "own":
        write_file(target, "ours")
    elif kind in ("link_out", "dangling", "link_in", "link_dir"):
        dest = {"link_out": victim, "dangling": root / "nowhere", "link_dir": root / "elsewhere"}
        inner = folder / "inner.bin"
        inner.write_text("inner")
        target.symlink_to(dest.get(kind, inner))
    elif kind == "directory":
        target.mkdir()
    elif kind == "fifo":
        os.mkfifo(target)
    allowed = {
        "missing": True,
        "foreign": force or owned,
        "own": True,
        "directory": False,
        "fifo": False,
    }.get(kind, force)  # any link: only with force, and then the link itself is replaced
    try:
        write_file(target, data, force=force, owned=owned, inside=folder)
        wrote = True
    except UnsafePath as e:
        wrote = False
        assert str(target) in str(e)
    assert wrote == allowed
    if wrote:
        assert not target.is_symlink() and target.read_bytes() == data
    assert victim.read_text() == SECRET and not _temps(root)
    if kind in ("link_in", "link_dir") and wrote:
        assert (folder / "inner.bin").read_text() == "inner"


# ------------------------------------------------------------------------------------------------ case 1: folders


def test_repro_run_refuses_linked_results_and_report(tmp_path, capsys):
    """`convzoo repro run` (an analytic claim: nothing trains) into a folder whose results.json and report.md
    are links to files elsewhere: refused, naming the link; the linked files are unchanged."""
    out = tmp_path / "O"
    folder = out / "stacked_3x3" / "exact"
    for name in ("results.json", "report.md"):
        victim = _outside(tmp_path, name)
        _link(folder / name, victim)
        code = main(["repro", "run", "stacked_3x3", "--out", str(out)])
        assert code != 0
        err = capsys.readouterr().err
        assert f"{folder / name}: is a symbolic link" in err and "never writes through a link" in err
        assert victim.read_text() == SECRET
        (folder / name).unlink()
    assert main(["repro", "run", "stacked_3x3", "--out", str(out)]) == 0
    assert (folder / "report.md").is_file() and not (folder / "report.md").is_symlink()
    away, other = tmp_path / "away", tmp_path / "O2"
    away.mkdir()
    _link(other / "stacked_3x3", away)  # the claim's folder itself linked out of --out
    assert main(["repro", "run", "stacked_3x3", "--out", str(other)]) != 0
    assert "leads outside" in capsys.readouterr().err and list(away.iterdir()) == []


def test_repro_claim_files_and_arm_lock_are_never_written_through_links(tmp_path):
    """The trained claim's folder (degradation, smoke budget): claim.json, results.json, report.md and an
    arm's .lock linked to files elsewhere. Each writer refuses; nothing outside changes."""
    from convzoo.repro.registry import get_claim
    from convzoo.repro.report import write_report, write_run_info
    from convzoo.train.runfolder import RunFolder

    claim = get_claim("degradation")
    budget = claim.budget("smoke")
    folder = tmp_path / "O" / "degradation" / "smoke"
    victims = {name: _outside(tmp_path, name) for name in ("claim.json", "results.json", "report.md", "lock")}
    _link(folder / "claim.json", victims["claim.json"])
    with pytest.raises(UnsafePath, match=r"claim\.json: is a symbolic link"):
        write_run_info(folder, budget, "cifar10", 1, "convzoo repro run degradation --budget smoke")
    with pytest.raises(UnsafePath, match=r"claim\.json: leads outside"):  # nor read through it
        write_report(claim, folder)
    (folder / "claim.json").unlink()
    for name in ("results.json", "report.md"):
        _link(folder / name, victims[name])
    with pytest.raises(UnsafePath, match=r"results\.json: is a symbolic link"):
        write_report(claim, folder)
    (folder / "results.json").unlink()
    with pytest.raises(UnsafePath, match=r"report\.md: is a symbolic link"):
        write_report(claim, folder)
    arm = folder / f"{claim.arms[0].name}-s0"
    arm.mkdir(parents=True)
    (arm / ".convzoo-run").write_text("")
    _link(arm / ".lock", victims["lock"])
    with pytest.raises(UnsafePath, match=r"\.lock: is a symbolic link"):
        RunFolder.open(arm, lambda s: None)
    assert all(v.read_text() == SECRET for v in victims.values())


def test_train_resume_never_truncates_a_linked_lock(tmp_path, capsys):
    run = tmp_path / "runs" / "run"
    run.mkdir(parents=True)
    (run / ".convzoo-run").write_text("")
    victim = _outside(tmp_path)
    _link(run / ".lock", victim)
    argv = ["train", "lenet5", "--data", "digits", "--per-class", "5", "--epochs", "1", "--image-size", "32"]
    code = main([*argv, "--out", str(tmp_path / "runs"), "--name", "run", "--resume", "--no-progress"])
    assert code != 0
    assert f"{run / '.lock'}: is a symbolic link" in capsys.readouterr().err
    assert victim.read_text() == SECRET


def test_repro_docs_never_writes_through_linked_pages(tmp_path, monkeypatch):
    import convzoo.repro.docs as docs_mod
    from convzoo.repro.registry import get_claim

    monkeypatch.setattr(docs_mod, "claims", lambda: [get_claim("stacked_3x3")])  # one quick analytic claim
    docs = tmp_path / "D"
    page = _outside(tmp_path, "page.md")
    _link(docs / "stacked_3x3" / "report.md", page)
    with pytest.raises(UnsafePath, match=r"stacked_3x3/report\.md: is a symbolic link"):
        docs_mod.write_docs(docs)
    assert page.read_text() == SECRET
    (docs / "stacked_3x3" / "report.md").unlink()
    readme = _outside(tmp_path, "README.md")
    _link(docs / "README.md", readme)
    with pytest.raises(UnsafePath, match=r"README\.md: is a symbolic link"):
        docs_mod.write_docs(docs)
    assert readme.read_text() == SECRET
    away, other = tmp_path / "away", tmp_path / "D2"
    away.mkdir()
    _link(other / "stacked_3x3", away)  # a claim's folder linked out of --docs
    with pytest.raises(UnsafePath, match="leads outside"):
        docs_mod.write_docs(other)
    assert list(away.iterdir()) == []


# ------------------------------------------------------------------------------------------------ case 3: exports


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_export_refuses_a_users_file_without_force(tmp_path, capsys):
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes, not a model\n")
    before = _sha(notes)
    assert main(["export", "lenet5", "--format", "pt2", "-o", str(notes)]) == 2
    err = capsys.readouterr().err
    assert f"{notes}: exists and is not a file convzoo wrote; pass --force" in err
    assert _sha(notes) == before and not _temps(tmp_path)


@pytest.mark.slow
def test_export_replaces_with_force_and_its_own_export_without(tmp_path, capsys):
    notes = tmp_path / "notes.pt2"
    notes.write_text("my notes\n")
    assert main(["export", "lenet5", "--format", "pt2", "-o", str(notes), "--force"]) == 0
    assert notes.read_bytes()[:2] == b"PK" and is_own(notes)
    os.removexattr(notes, trust_write.MARK)  # e.g. a fresh clone: recognised by its convzoo metadata
    assert main(["export", "lenet5", "--format", "pt2", "-o", str(notes)]) == 0
    capsys.readouterr()


def test_openvino_export_never_replaces_an_unrelated_bin(tmp_path, capsys):
    """The refusal comes before the export, so this needs no OpenVINO."""
    xml, bins = tmp_path / "report.xml", tmp_path / "report.bin"
    bins.write_bytes(b"a user's binary report")
    assert main(["export", "lenet5", "--format", "openvino", "-o", str(xml)]) == 2
    assert f"{bins}: exists and is not a file convzoo wrote" in capsys.readouterr().err
    assert bins.read_bytes() == b"a user's binary report" and not xml.exists()


@pytest.mark.parametrize("kind", ["fifo", "/dev/null", "symlink"])
def test_export_to_a_device_a_fifo_or_a_link_is_refused(tmp_path, capsys, kind):
    if kind == "fifo":
        target = tmp_path / "m.pt2"
        os.mkfifo(target)
        cause = "is a FIFO"
    elif kind == "symlink":
        victim = _outside(tmp_path)
        target = _link(tmp_path / "m.pt2", victim)
        cause = "is a symbolic link"
    else:
        target = Path("/dev/null")
        cause = "is a character device"
    force = ["--force"] if kind != "symlink" else []
    assert main(["export", "lenet5", "--format", "pt2", "-o", str(target), *force]) == 2
    assert f"{target}: {cause}" in capsys.readouterr().err
    if kind == "symlink":
        assert victim.read_text() == SECRET
    elif kind == "/dev/null":
        assert Path("/dev/null").is_char_device()
    assert not _temps(tmp_path)


@pytest.mark.parametrize("command", ["bench", "draw", "chart", "visualize"])
def test_other_o_commands_refuse_a_users_file_without_force(tmp_path, capsys, command):
    mine = tmp_path / ("mine.svg" if command == "draw" else "mine.png" if command != "bench" else "mine.txt")
    mine.write_text("mine")
    argv = {
        "bench": ["bench", "lenet5", "--repeats", "1", "--warmup", "0"],
        "draw": ["draw", "lenet5"],
        "chart": ["chart", "bars"],
        "visualize": ["visualize", "lenet5", "filters"],
    }[command]
    code = main([*argv, "-o", str(mine)])
    assert code != 0
    assert f"{mine}: exists and is not a file convzoo wrote; pass --force" in capsys.readouterr().err
    assert mine.read_text() == "mine"


# ------------------------------------------------------------------------------------------------ the scan

_WRITE_MODE = re.compile(r"[wax+]")
_WRITE_FLAGS = re.compile(r"O_(WRONLY|RDWR|CREAT|TRUNC|APPEND)")
_ALWAYS = {"write_text", "write_bytes", "savefig", "save_file", "to_csv", "touch", "extractall", "save",
           "copyfile", "copy", "copy2", "copytree", "move", "savez", "tofile", "symlink_to", "hardlink_to"}  # fmt: skip
_NAMED = {("os", "replace"), ("os", "rename"), ("os", "link"), ("os", "symlink"), ("os", "truncate")}
_TRUST = {"output", "output_folder", "scratch", "write_file", "atomic_output", "atomic_write_text"}
# Calls the scan cannot tell from a write, each checked by hand: why it is not a write, or where it is safe.
_ALLOWED = {
    ("convzoo/train/trainer.py", "save"): "RunFolder.save -> save_checkpoint -> trust_write.output_folder",
    ("convzoo/train/runfolder.py", "save"): "RunFolder.save: the same",
    ("convzoo/data/download.py", "extractall"): "into a fresh private folder that output_folder publishes",
}


def _mode(call: ast.Call, position: int) -> str | None:
    args = [*call.args[position : position + 1], *[k.value for k in call.keywords if k.arg == "mode"]]
    return next((a.value for a in args if isinstance(a, ast.Constant) and isinstance(a.value, str)), None)


def _offence(call: ast.Call, source: str) -> str | None:
    """The name of the write ``call`` makes, or None."""
    f = call.func
    name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
    owner = f.value.id if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) else ""
    if owner == "os" and name == "open":
        return "os.open" if _WRITE_FLAGS.search(ast.get_source_segment(source, call) or "") else None
    if name in ("open", "fdopen"):  # open(p, mode), os.fdopen(fd, mode), tarfile.open(p, mode); Path.open(mode)
        by_module = isinstance(f, ast.Name) or owner in ("os", "io", "tarfile", "gzip", "bz2", "lzma", "codecs")
        mode = _mode(call, 1 if by_module else 0)
        return f"{name}({mode!r})" if mode and _WRITE_MODE.search(mode) else None
    if (owner, name) in _NAMED:
        return f"{owner}.{name}"
    if name in _ALWAYS and not (name == "copy" and owner not in ("shutil",)):
        return name
    if name in ("rename", "replace") and isinstance(f, ast.Attribute) and len(call.args) == 1 and not call.keywords:
        return f"Path.{name}"  # str.replace takes two arguments
    onnx = owner == "onnx" or (isinstance(f, ast.Attribute) and getattr(f.value, "attr", "") == "onnx")
    if name == "export" and onnx and (len(call.args) >= 3 or any(k.arg == "f" for k in call.keywords)):
        return "onnx.export to a file"
    return None


class _Scan(ast.NodeVisitor):
    def __init__(self, path: str, source: str) -> None:
        self.path, self.source, self.found, self.safe = path, source, [], 0

    def _trusted(self, call: ast.expr) -> bool:
        f = call.func if isinstance(call, ast.Call) else None
        name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
        return name in _TRUST or name in self.aliases

    def visit_Module(self, node: ast.Module) -> None:
        self.aliases = {
            a.asname or a.name
            for n in ast.walk(node)
            if isinstance(n, ast.ImportFrom) and n.module == "convzoo.trust_write"
            for a in n.names
        }
        self.generic_visit(node)

    def _inside(self, node: ast.AST) -> None:
        self.safe += 1
        self.generic_visit(node)
        self.safe -= 1

    def visit_With(self, node: ast.With) -> None:
        if any(self._trusted(i.context_expr) for i in node.items):
            return self._inside(node)
        self.generic_visit(node)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        names = {d.id if isinstance(d, ast.Name) else getattr(d, "attr", "") for d in node.decorator_list}
        if "temp_writer" in names:
            return self._inside(node)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        if self._trusted(node):  # a writer passed to trust_write (a lambda or a bound method) writes its temp
            for arg in [*node.args, *(k.value for k in node.keywords)]:
                if isinstance(arg, ast.Lambda):
                    self._inside(arg)
                else:
                    self.visit(arg)
            return
        what = _offence(node, self.source)
        bare = what.split("(")[0].removeprefix("Path.") if what else ""
        if what and not self.safe and (self.path, bare) not in _ALLOWED:
            self.found.append(f"{self.path}:{node.lineno}: {what}")
        self.generic_visit(node)


def scan(root: Path = ROOT / "convzoo") -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root.parent).as_posix()
        if rel == "convzoo/trust_write.py":
            continue
        source = path.read_text()
        s = _Scan(rel, source)
        s.visit(ast.parse(source))
        found += s.found
    return found


def test_the_scan_finds_writers_that_bypass_trust_write(tmp_path):
    bad = tmp_path / "convzoo" / "bad.py"
    bad.parent.mkdir()
    bad.write_text(
        textwrap.dedent(
            """
            import os, shutil, torch
            from pathlib import Path
            from convzoo.trust_write import output, write_file
            def f(p, fig, tmp):
                open(p, "w").write("x")
                Path(p).write_text("x")
                fig.savefig(p)
                torch.save({}, p)
                os.replace(tmp, p)
                shutil.copyfile(tmp, p)
                Path(tmp).replace(p)
                os.open(p, os.O_WRONLY | os.O_CREAT)
                with output(p) as t:
                    fig.savefig(t)
                write_file(p, lambda t: torch.save({}, t))
                open(p).read()
                "a-b".replace("-", "_")
            """
        )
    )
    found = [line.split(": ", 1)[1] for line in scan(tmp_path / "convzoo") if "bad.py" in line]
    assert found == ["open('w')", "write_text", "savefig", "save", "os.replace", "copyfile", "Path.replace", "os.open"]


@pytest.mark.parametrize("folder", ["convzoo", "benchmarks", "scripts"])
def test_no_writer_in_the_project_bypasses_trust_write(folder):
    offenders = scan(ROOT / folder)
    assert not offenders, "writers that bypass convzoo.trust_write:\n" + "\n".join(offenders)


def test_a_results_folder_owns_its_unmarked_files_and_nothing_outside(tmp_path):
    """Benchmarks replace their committed results (a fresh clone's files carry no mark), never a user's
    file elsewhere, and never through a link."""
    from convzoo.trust_write import UnsafePath, owned_under, write_file

    results, elsewhere = tmp_path / "results", tmp_path / "home"
    results.mkdir(), elsewhere.mkdir()
    (results / "r.json").write_text("committed")
    (elsewhere / "notes.json").write_text("mine")
    (results / "link.json").symlink_to(elsewhere / "notes.json")
    write_file(results / "r.json", "measured", owned=owned_under(results))
    assert (results / "r.json").read_text() == "measured"
    for target, cause in ((elsewhere / "notes.json", "not a file convzoo wrote"), (results / "link.json", "link")):
        with pytest.raises(UnsafePath, match=cause):
            write_file(target, "measured", owned=owned_under(results))
    assert (elsewhere / "notes.json").read_text() == "mine"
