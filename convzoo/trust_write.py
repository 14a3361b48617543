"""One way to write a file: every file convzoo writes goes through :func:`output` (or :func:`write_file`).

The rules, each checked again just before the rename:

- The bytes go to a hidden temporary sibling (``.convzoo-tmp-PID-RANDOM-NAME``, so a suffix-sniffing writer
  such as ``savefig`` sees the final suffix), are fsync'ed, then ``os.replace``'d onto the target: readers
  see the old file or the new one, never a mix, and a kill leaves the old file intact.
- A symbolic link is never written through. A link at the target is refused (the message says where it
  points); with ``force=True`` the link itself is replaced, never the file it names.
- Only regular files are written: a directory, a device (``/dev/null``), a FIFO or a socket at the target is
  refused, even with ``force``.
- An existing file is replaced only when it is convzoo's own output (see :func:`is_own`), or with
  ``force=True`` (the CLI's ``--force``).
- With ``inside=FOLDER`` (run, repro, docs and lab folders) the target's folder must resolve to a place
  inside FOLDER: a link in the path cannot lead the write out of it.
- Siblings a writer produces beside its file (OpenVINO's ``.bin``) are checked and renamed by the same rules
  (the sibling first, so the main file never names a missing one).
- Temporary files and folders of a writer that was killed (its PID is gone, or is a newer process) are
  removed the next time convzoo writes into that folder.

Every refusal is an :class:`UnsafePath` (a ``ValueError``) whose message names the path and the cause.
Reading inside a run, repro or docs folder goes through :func:`check_inside`, so a link cannot lead a read
out of the folder either.
"""

from __future__ import annotations

import contextlib
import functools
import os
import secrets
import shutil
import stat
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any, TypeVar

__all__ = [
    "TEMP_PREFIX",
    "UnsafePath",
    "check_inside",
    "check_target",
    "clean_stale_temps",
    "is_own",
    "open_inside",
    "open_lock",
    "output",
    "owned_under",
    "output_folder",
    "scratch",
    "temp_writer",
    "write_file",
]

TEMP_PREFIX = ".convzoo-tmp-"
MARK = "user.convzoo"  # extended attribute: "SIZE:MTIME_NS" of the file as convzoo wrote it

Owner = bool | Callable[[Path], bool]
F = TypeVar("F", bound=Callable[..., Any])


def owned_under(folder: str | os.PathLike[str]) -> Callable[[Path], bool]:
    """An ``owned`` rule: a regular file inside ``folder`` (a folder the caller keeps, such as
    ``benchmarks/results/``, whose committed files carry no mark on a fresh clone) is the caller's to replace."""
    top = Path(folder).resolve()
    return lambda path: top in Path(path).resolve().parents


class UnsafePath(ValueError):
    """A path convzoo refuses to write (or read inside a folder); the message names the path and the cause."""

    def __init__(self, path: str | os.PathLike[str], cause: str) -> None:
        super().__init__(f"{path}: {cause}")
        self.path = Path(path)
        self.cause = cause


# --- what a target is, and whose


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def _mark(fd: int) -> None:
    """Record on the file that convzoo wrote it, as it is now (size and mtime); silently skipped where the
    file system keeps no extended attributes."""
    st = os.fstat(fd)
    with contextlib.suppress(OSError, AttributeError):
        os.setxattr(fd, MARK, f"{st.st_size}:{st.st_mtime_ns}".encode())


def is_own(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a regular file convzoo wrote and nobody changed since: it carries convzoo's mark
    (an extended attribute holding the size and modification time it had when written) and still has them."""
    try:
        st = os.lstat(path)
        mark = os.getxattr(path, MARK, follow_symlinks=False).decode("ascii", "replace")
    except (OSError, AttributeError):
        return False
    return stat.S_ISREG(st.st_mode) and mark == f"{st.st_size}:{st.st_mtime_ns}"


def _check_target(path: Path, force: bool, owned: Owner, inside: Path | None) -> None:
    """Refuse ``path`` unless writing it is allowed (see the module's rules)."""
    parent = path.parent
    if not parent.is_dir():
        raise FileNotFoundError(f"cannot write {path}: the folder {parent} does not exist")
    if inside is not None:
        check_inside(inside, parent)
    st = _lstat(path)
    if st is None:
        return
    if stat.S_ISLNK(st.st_mode):
        if force:
            return
        raise UnsafePath(
            path,
            f"is a symbolic link (to {os.readlink(path)}); convzoo never writes through a link. Remove it, "
            "or pass --force to replace the link itself",
        )
    if not stat.S_ISREG(st.st_mode):
        raise UnsafePath(path, f"is {_kind(st.st_mode)}; convzoo writes only regular files")
    if force or is_own(path) or (owned(path) if callable(owned) else owned):
        return
    raise UnsafePath(
        path, "exists and is not a file convzoo wrote; pass --force to replace it (or choose another name)"
    )


def check_target(
    path: str | os.PathLike[str],
    *,
    force: bool = False,
    owned: Owner = False,
    inside: str | os.PathLike[str] | None = None,
    siblings: Sequence[str] = (),
) -> None:
    """Refuse now what :func:`output` would refuse (before costly work): same arguments, same errors."""
    path = Path(path)
    for t in [path.with_suffix(s) for s in siblings] + [path]:
        _check_target(t, force, owned, None if inside is None else Path(inside))


def check_inside(folder: str | os.PathLike[str], path: str | os.PathLike[str]) -> Path:
    """``path`` itself if it (following every link) stays inside ``folder`` (following its links); else
    :class:`UnsafePath`. Used before reading or writing within a run, repro or docs folder."""
    base, real = Path(folder).resolve(), Path(path).resolve()
    if real != base and not real.is_relative_to(base):
        raise UnsafePath(path, f"leads outside {folder} (to {real}) through a symbolic link; refused")
    return Path(path)


def open_inside(folder: str | os.PathLike[str], relpath: str | os.PathLike[str]) -> IO[bytes]:
    """``folder/relpath`` opened for binary reading, refused (:class:`UnsafePath`) if a link leads it out of
    ``folder`` or it is not a regular file (a FIFO would block, a device never end)."""
    path = check_inside(folder, Path(folder) / relpath)
    f = open(path, "rb", opener=lambda p, flags: os.open(p, flags | os.O_NONBLOCK))  # noqa: SIM115
    if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
        f.close()
        raise UnsafePath(path, "is not a regular file; refused")
    os.set_blocking(f.fileno(), True)
    return f


# --- temporary files: names, and the ones killed writers left


def _temp_name(path: Path) -> Path:
    return path.with_name(f"{TEMP_PREFIX}{os.getpid()}-{secrets.token_hex(4)}-{path.name}")


def _started(pid: int) -> float | None:
    """When process ``pid`` started (epoch seconds), None if it does not exist or cannot be told."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        boot = next(ln for ln in Path("/proc/stat").read_text().splitlines() if ln.startswith("btime"))
        return int(boot.split()[1]) + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return 0.0  # alive, start unknown (no /proc): never stale


def _stale(entry: os.DirEntry[str]) -> bool:
    pid = entry.name[len(TEMP_PREFIX) :].split("-", 1)[0]
    if not pid.isdigit() or int(pid) == os.getpid():
        return False
    started = _started(int(pid))
    try:
        # a margin for the boot time's whole seconds: a live writer's temporary is never younger than it
        return started is None or entry.stat(follow_symlinks=False).st_mtime < started - 2.0
    except OSError:
        return False


def clean_stale_temps(folder: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporary files and folders (``.convzoo-tmp-PID-...``) in ``folder`` whose writer is dead:
    its PID does not exist, or belongs to a process started after the temporary was written. Returns them."""
    removed = []
    try:
        entries = [e for e in os.scandir(folder) if e.name.startswith(TEMP_PREFIX)]
    except OSError:
        return []
    for e in entries:
        if not _stale(e):
            continue
        with contextlib.suppress(OSError):
            if e.is_dir(follow_symlinks=False):
                shutil.rmtree(e.path)
            else:
                os.unlink(e.path)
            removed.append(Path(e.path))
    return removed


_cleaned: set[str] = set()


def _clean_once(folder: Path) -> None:
    key = os.path.abspath(folder)
    if key not in _cleaned:
        _cleaned.add(key)
        clean_stale_temps(folder)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _seal(path: Path) -> None:
    """fsync a temporary file the writer produced, and mark it as convzoo's (see :func:`is_own`)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UnsafePath(path, "the writer did not produce a regular file")
        os.fsync(fd)
        _mark(fd)
    finally:
        os.close(fd)


def _sync_tree(top: Path) -> None:
    """fsync every regular file and folder under ``top`` (links are not followed)."""
    for folder, _dirs, files in os.walk(top):
        for name in files:
            with contextlib.suppress(OSError):  # a link (O_NOFOLLOW) or a special file: nothing to sync
                fd = os.open(os.path.join(folder, name), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
                try:
                    if stat.S_ISREG(os.fstat(fd).st_mode):
                        os.fsync(fd)
                finally:
                    os.close(fd)
        _fsync_dir(Path(folder))


def _unlink(path: Path) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


# --- writing


@contextlib.contextmanager
def output(
    path: str | os.PathLike[str],
    *,
    force: bool = False,
    owned: Owner = False,
    inside: str | os.PathLike[str] | None = None,
    siblings: Sequence[str] = (),
) -> Iterator[Path]:
    """A fresh temporary path beside ``path`` to write; on success it replaces ``path`` (see the module's rules).

    ``owned``: the caller vouches that an existing file there is convzoo's (True, for its own names in a
    folder it owns) or a test of that (e.g. "an export carrying convzoo's metadata"). ``siblings``: suffixes
    of files the writer also produces beside the temporary path (``(".bin",)`` for OpenVINO's ``.xml``).
    The target is checked before the work (so a refusal costs nothing) and again before the rename.
    """
    path = Path(path)
    where = None if inside is None else Path(inside)
    targets = [path.with_suffix(s) for s in siblings] + [path]  # siblings first: the main file names them
    check_target(path, force=force, owned=owned, inside=inside, siblings=siblings)
    _clean_once(path.parent)
    tmp = _temp_name(path)
    temps = [tmp.with_suffix(s) for s in siblings] + [tmp]
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644))
    try:
        yield tmp
        for src, dst in zip(temps, targets, strict=True):
            _seal(src)
            _check_target(dst, force, owned, where)
        for src, dst in zip(temps, targets, strict=True):
            os.replace(src, dst)
        _fsync_dir(path.parent)
    except OSError as e:  # a full disk names the file the user asked for, not the temporary one
        ours = e.filename is None or os.fspath(e.filename) in map(os.fspath, temps)
        if ours and e.errno is not None and e.strerror:  # a system error (not, say, a failed download's)
            raise OSError(e.errno, e.strerror, os.fspath(path)) from e
        raise
    finally:
        for t in temps:
            _unlink(t)


def write_file(
    path: str | os.PathLike[str],
    data: bytes | str | Callable[[Path], object],
    *,
    force: bool = False,
    owned: Owner = False,
    inside: str | os.PathLike[str] | None = None,
    siblings: Sequence[str] = (),
) -> Path:
    """Write ``data`` (bytes, text as UTF-8, or a function that writes the path it is given) to ``path`` by
    the rules of :func:`output`; returns ``path``."""
    with output(path, force=force, owned=owned, inside=inside, siblings=siblings) as tmp:
        if callable(data):
            data(tmp)
        else:
            raw = data.encode() if isinstance(data, str) else data
            fd = os.open(tmp, os.O_WRONLY | os.O_TRUNC | os.O_NOFOLLOW)
            with os.fdopen(fd, "wb") as f:
                f.write(raw)
    return Path(path)


@contextlib.contextmanager
def output_folder(
    path: str | os.PathLike[str],
    *,
    replace: bool = False,
    inside: str | os.PathLike[str] | None = None,
    durable: bool = True,
) -> Iterator[Path]:
    """A fresh temporary folder beside ``path`` to fill; on success its files are fsync'ed (unless not
    ``durable``: a copy that can be made again need not survive a power cut, and 60,000 fsyncs take a minute)
    and it is renamed to ``path``. An existing folder there is refused unless ``replace`` (the caller vouches
    it is its own, e.g. an incomplete checkpoint); a link or a non-folder there is always refused."""
    path = Path(path)
    where = None if inside is None else Path(inside)

    def check() -> None:
        if where is not None:
            check_inside(where, path.parent)
        st = _lstat(path)
        if st is not None and stat.S_ISLNK(st.st_mode):
            raise UnsafePath(path, f"is a symbolic link (to {os.readlink(path)}); convzoo never writes through one")
        if st is not None and not (stat.S_ISDIR(st.st_mode) and replace):
            raise UnsafePath(path, f"already exists ({_kind(st.st_mode)}); refusing to replace it")

    check()
    _clean_once(path.parent)
    tmp = _temp_name(path)
    os.mkdir(tmp, 0o755)
    try:
        yield tmp
        if durable:
            _sync_tree(tmp)
        check()
        if _lstat(path) is not None:
            shutil.rmtree(path)
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def scratch(folder: str | os.PathLike[str], name: str) -> Iterator[Path]:
    """A fresh empty temporary file in ``folder`` (the temporary prefix, created exclusively, never a link),
    removed on exit: for a writer whose final name is known only once written (a download named by its
    hash), which then publishes it with ``write_file(final, lambda out: os.replace(tmp, out))``."""
    folder = Path(folder)
    _clean_once(folder)
    tmp = _temp_name(folder / name)
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644))
    try:
        yield tmp
    finally:
        _unlink(tmp)


def temp_writer(func: F) -> F:
    """Mark ``func`` as a writer that only writes the temporary path :func:`output` gave it (checked at each
    call: one of its path arguments must be such a temporary), so the source scan lets it call ``savefig``,
    ``torch.save`` and the like."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        paths = [a for a in (*args, *kwargs.values()) if isinstance(a, Path)]
        if not any(part.startswith(TEMP_PREFIX) for p in paths for part in p.parts):
            raise UnsafePath(
                paths[0] if paths else "?", f"{func.__qualname__} writes only a temporary path of output()"
            )
        return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


# --- lock files


def open_lock(path: str | os.PathLike[str]) -> int:
    """A read-write descriptor of the lock file ``path``, created if absent, never truncated here.

    Opened with ``O_NOFOLLOW``: a symbolic link there is refused, and so is anything but a regular file with
    a single name (a hard link to a file elsewhere would let the PID written into it land there).
    """
    path = Path(path)
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o644)
    except OSError:
        if os.path.islink(path):
            raise UnsafePath(path, f"is a symbolic link (to {os.readlink(path)}); remove it") from None
        raise
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
        os.close(fd)
        what = _kind(st.st_mode) if not stat.S_ISREG(st.st_mode) else f"a file with {st.st_nlink} hard links"
        raise UnsafePath(path, f"is {what}; a lock must be a plain file of its own. Remove it")
    os.set_blocking(fd, True)
    return fd
