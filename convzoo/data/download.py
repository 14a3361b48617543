"""Download an official archive with checksum verification, and extract it safely."""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zlib
from pathlib import Path
from typing import BinaryIO

from convzoo.trust_write import output, output_folder

__all__ = [
    "DOWNLOAD_DEADLINE_S",
    "MAX_DOWNLOAD_BYTES",
    "download_and_verify",
    "extract_folder",
    "file_digest",
    "safe_extract",
]


def file_digest(path: str | os.PathLike[str], algorithm: str = "md5") -> str:
    """Hex digest of a file (``md5`` as CIFAR publishes, or ``sha256``)."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


MAX_DOWNLOAD_BYTES = 1 << 30  # the CIFAR archives are 163-170 MB
DOWNLOAD_DEADLINE_S = 3600.0


def download_and_verify(
    url: str,
    dest: str | os.PathLike[str],
    md5: str,
    *,
    timeout: float = 60.0,
    deadline_s: float = DOWNLOAD_DEADLINE_S,
    max_bytes: int = MAX_DOWNLOAD_BYTES,
) -> Path:
    """Fetch ``url`` to ``dest`` unless a file with the right MD5 is already there.

    The bytes go to a temporary file that is renamed only once the checksum matches, so an interrupted or
    corrupt download never sits under the final name (temporary files of killed downloads are removed by the
    next call). ``timeout`` bounds each network wait, ``deadline_s`` the whole download (a server trickling
    bytes cannot hold it forever) and ``max_bytes`` its size.
    """
    dest = Path(dest)
    if dest.exists() and file_digest(dest) == md5:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(dest.parent, f"{dest.name}.part-")  # the names older versions gave their temporary files
    # the archive's own name in the data folder: a damaged copy is convzoo's to replace (never a link)
    with output(dest, owned=True) as tmp:
        try:
            with open(tmp, "wb") as out:
                _fetch(url, out, timeout, deadline_s, max_bytes)
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
    return dest


def _fetch(url: str, out: BinaryIO, timeout: float, deadline_s: float, max_bytes: int) -> None:
    stop = time.monotonic() + deadline_s
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        declared = resp.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise ValueError(f"{url} is {int(declared)} bytes, more than the limit of {max_bytes}")
        total = 0
        while chunk := resp.read1(1 << 16):  # read1 returns what has arrived, so the deadline is checked
            total += len(chunk)
            if total > max_bytes:
                raise ValueError(f"{url} sent more than the limit of {max_bytes} bytes; nothing was saved")
            if time.monotonic() > stop:
                raise TimeoutError(f"the download took longer than {deadline_s:g} s")
            out.write(chunk)


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


def _remove_stale(parent: Path, prefix: str) -> None:
    """Delete ``parent/<prefix><pid>-*`` temporary files and folders whose process ``pid`` is dead (killed)."""
    for p in parent.glob(glob.escape(prefix) + "*"):
        pid = p.name[len(prefix) :].split("-", 1)[0]
        if pid.isdigit() and not _pid_alive(int(pid)):
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)


def extract_folder(archive: str | os.PathLike[str], parent: str | os.PathLike[str], name: str) -> Path:
    """Extract the folder ``name`` of a tar ``archive`` into ``parent`` all at once.

    The archive goes to a temporary folder beside the target, which is renamed into place only when the
    extraction has finished: a process killed mid-extraction leaves no ``parent/name`` (its leftovers are
    removed by the next call), so a half-extracted dataset is never mistaken for a complete one.
    """
    parent = Path(parent)
    target = parent / name
    prefix = f".{name}.extract-"
    _remove_stale(parent, prefix)
    tmp = Path(tempfile.mkdtemp(dir=parent, prefix=f"{prefix}{os.getpid()}-"))
    try:
        try:
            safe_extract(archive, tmp)
        except (tarfile.TarError, EOFError, zlib.error) as e:  # damaged, or a member the data filter refuses
            raise ValueError(
                f"{archive}: cannot extract it ({type(e).__name__}: {e}); nothing was kept"
            ) from e
        if not (tmp / name).is_dir():
            raise ValueError(f"{archive} did not contain the expected folder {name}")
        with output_folder(target) as out:  # fsync'ed, renamed into place; never onto a link
            os.rmdir(out)
            os.rename(tmp / name, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
