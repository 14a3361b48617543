"""Download an official archive with checksum verification, and extract it safely."""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

__all__ = ["download_and_verify", "extract_folder", "file_digest", "safe_extract"]


def file_digest(path: str | os.PathLike[str], algorithm: str = "md5") -> str:
    """Hex digest of a file (``md5`` as CIFAR publishes, or ``sha256``)."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def download_and_verify(url: str, dest: str | os.PathLike[str], md5: str, *, timeout: float = 60.0) -> Path:
    """Fetch ``url`` to ``dest`` unless a file with the right MD5 is already there.

    The bytes go to a temporary file that is renamed only once the checksum matches, so an interrupted or
    corrupt download never sits under the final name.
    """
    dest = Path(dest)
    if dest.exists() and file_digest(dest) == md5:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=dest.name + ".", suffix=".part")
    try:
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
                shutil.copyfileobj(resp, out)
                out.flush()
                os.fsync(out.fileno())
        except (urllib.error.URLError, OSError) as e:
            raise OSError(
                f"could not download {url}: {e}. Check the network, or download the file yourself and put it "
                f"at {dest}"
            ) from e
        got = file_digest(tmp)
        if got != md5:
            raise ValueError(
                f"checksum mismatch for {url}: expected md5 {md5}, got {got}; the download is corrupt or the "
                "file changed upstream, so nothing was saved"
            )
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest


def safe_extract(archive: str | os.PathLike[str], dest: str | os.PathLike[str]) -> None:
    """Extract a tar archive refusing absolute paths, ``..``, links and device files."""
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="data")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


def _remove_stale_extractions(parent: Path, name: str) -> None:
    """Delete temporary folders that killed extractions of ``name`` left in ``parent`` (their owner is dead)."""
    for tmp in parent.glob(f".{name}.extract-*"):
        pid = tmp.name.rsplit("-", 2)[-2] if tmp.name.count("-") >= 2 else ""
        if tmp.is_dir() and pid.isdigit() and not _pid_alive(int(pid)):
            shutil.rmtree(tmp, ignore_errors=True)


def extract_folder(archive: str | os.PathLike[str], parent: str | os.PathLike[str], name: str) -> Path:
    """Extract the folder ``name`` of a tar ``archive`` into ``parent`` all at once.

    The archive goes to a temporary folder beside the target, which is renamed into place only when the
    extraction has finished: a process killed mid-extraction leaves no ``parent/name`` (its leftovers are
    removed by the next call), so a half-extracted dataset is never mistaken for a complete one.
    """
    parent = Path(parent)
    target = parent / name
    _remove_stale_extractions(parent, name)
    tmp = Path(tempfile.mkdtemp(dir=parent, prefix=f".{name}.extract-{os.getpid()}-"))
    try:
        safe_extract(archive, tmp)
        if not (tmp / name).is_dir():
            raise ValueError(f"{archive} did not contain the expected folder {name}")
        os.replace(tmp / name, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
