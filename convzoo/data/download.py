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

__all__ = ["download_and_verify", "file_digest", "safe_extract"]


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
