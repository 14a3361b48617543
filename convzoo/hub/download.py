"""Verified downloads into a cache that only ever holds checked files.

A download is refused unless it can be checked: each call names a :class:`Checksum` — a full SHA-256, the
SHA-256 prefix a publisher puts in its file names (torch.hub's convention), or the full SHA-256 the server
publishes for the file (the Hugging Face hub's ``X-Linked-Etag`` for LFS files). Bytes stream to a temporary
file under a size cap and an overall deadline (a server that trickles a byte at a time cannot hold a download
open), and only a verified file is renamed into ``<cache>/<key>/<sha256>/<file name>``: one folder per
model, source and content, so two sources' files with the same name (``pytorch_model.bin``) never meet.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import re
import shutil
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import IO, Any

from convzoo.trust_write import scratch, write_file

__all__ = [
    "MAX_DOWNLOAD_BYTES",
    "Checksum",
    "DownloadError",
    "default_cache_dir",
    "download",
    "sha256sum",
]

MAX_DOWNLOAD_BYTES = 2 * 1024**3  # no source is near this: VGG-19's torchvision file is 549 MiB
_HEX = re.compile(r"^[0-9a-f]+$")
_PLAIN = re.compile(r"[A-Za-z0-9_.+-]+")  # a file or folder name that stays inside its folder
_CHUNK = 1 << 20


class DownloadError(ValueError):
    """A download failed or was refused (network, deadline, size, checksum); nothing entered the cache."""


@dataclass(frozen=True)
class Checksum:
    """How a downloaded file is verified, and where the expected value comes from.

    ``sha256``: a full SHA-256 hex digest or a prefix of one (at least 8 digits). ``from_server``: the full
    SHA-256 the server sends for the file (Hugging Face's ``X-Linked-Etag``) is required and checked.
    """

    sha256: str | None = None
    from_server: bool = False
    provenance: str = ""

    def __post_init__(self) -> None:
        if (self.sha256 is None) == (not self.from_server):
            raise ValueError("a Checksum needs either sha256= or from_server=True (exactly one)")
        if self.sha256 is not None and (len(self.sha256) < 8 or not _HEX.match(self.sha256.lower())):
            raise ValueError(f"sha256 must be at least 8 hex digits, got {self.sha256!r}")

    def accepts(self, digest: str) -> bool:
        """Whether a file's full SHA-256 satisfies the pinned value (a server-published one is checked apart)."""
        return self.sha256 is None or digest.startswith(self.sha256.lower())


def default_cache_dir() -> Path:
    """``$CONVZOO_CACHE``, else ``~/.cache/convzoo``."""
    return Path(os.environ.get("CONVZOO_CACHE", Path.home() / ".cache" / "convzoo"))


def sha256sum(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def download(
    url: str,
    checksum: Checksum,
    *,
    key: str,
    cache_dir: str | os.PathLike[str] | None = None,
    max_bytes: int = MAX_DOWNLOAD_BYTES,
    min_bytes: int = 0,
    deadline: float | None = None,
    socket_timeout: float = 30.0,
) -> Path:
    """The verified local copy of ``url``: from the cache when a checked copy is there, else downloaded.

    ``key`` names the cache folder (``"resnet50/torchvision"``); ``min_bytes``..``max_bytes`` is the size the
    file must have; ``deadline`` bounds the whole transfer in seconds (default: 5 minutes plus 5 s per MB of
    ``max_bytes``). A cache folder that cannot be written falls back to a temporary folder, with a warning.
    """
    if not 0 <= min_bytes <= max_bytes <= MAX_DOWNLOAD_BYTES:
        raise ValueError(f"size bounds must satisfy 0 <= {min_bytes} <= {max_bytes} <= {MAX_DOWNLOAD_BYTES}")
    if urllib.parse.urlparse(url).scheme not in ("http", "https"):
        raise DownloadError(f"refusing to download {url!r}: only http(s) URLs are fetched")
    folder = (Path(cache_dir) if cache_dir is not None else default_cache_dir()) / _safe_key(key)
    name = Path(urllib.parse.urlparse(url).path).name
    name = name if _PLAIN.fullmatch(name) and name.strip(".") else "download"
    cached = _find_cached(folder, name, checksum)
    if cached is not None:
        return cached
    folder = _writable_or_temporary(folder)
    _remove_stale_parts(folder)
    limit = deadline if deadline is not None else 300.0 + 5.0 * max_bytes / 1e6
    with scratch(folder, name) as tmp:  # removed if anything fails; a killed download's, at the next one
        with open(tmp, "wb") as out:
            published = _fetch(url, out, max_bytes=max_bytes, deadline=limit, socket_timeout=socket_timeout)
        digest = _verify(url, tmp, checksum, published, min_bytes)
        final = folder / digest / name
        final.parent.mkdir(exist_ok=True)
        # the cache's own name (its content's hash): never written through a link, never out of the cache
        write_file(final, lambda out: os.replace(tmp, out), owned=True, inside=folder)
    return final


def _safe_key(key: str) -> Path:
    parts = key.split("/")
    if not key or any(not _PLAIN.fullmatch(p) or not p.strip(".") for p in parts):
        raise ValueError(f"cache key {key!r} must be '/'-separated plain names")
    return Path(*parts)


def _find_cached(folder: Path, name: str, checksum: Checksum) -> Path | None:
    """A cached copy whose content still hashes to its folder's name and satisfies ``checksum``."""
    if not folder.is_dir():
        return None
    for sub in sorted(folder.iterdir()):
        path = sub / name
        if len(sub.name) == 64 and _HEX.match(sub.name) and checksum.accepts(sub.name) and path.is_file():
            if sha256sum(path) == sub.name:
                return path
            warnings.warn(
                f"cached file {path} no longer matches its SHA-256; downloading again", stacklevel=3
            )
    return None


def _writable_or_temporary(folder: Path) -> Path:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".probe.")
        os.close(fd)
        os.unlink(probe)
        return folder
    except OSError as e:
        tmp = Path(tempfile.mkdtemp(prefix="convzoo-download-"))
        atexit.register(shutil.rmtree, tmp, ignore_errors=True)
        warnings.warn(
            f"cache folder {folder} is not writable ({e.strerror or e}); downloading to {tmp}, "
            "which is removed at exit (set CONVZOO_CACHE to a writable folder to keep the file)",
            stacklevel=3,
        )
        return tmp


def _remove_stale_parts(folder: Path, max_age: float = 600.0) -> None:
    """Delete temporary files a killed download left (untouched for ``max_age`` s); live ones are being written."""
    now = time.time()
    for part in folder.glob(".*.part"):
        try:
            if now - part.stat().st_mtime > max_age:
                part.unlink()
        except OSError:
            pass  # another process removed or renamed it first


class _RecordingRedirects(urllib.request.HTTPRedirectHandler):
    """Follows http(s) redirects only, and keeps each hop's headers (the first hop carries Hugging Face's hash)."""

    max_redirections = 5

    def __init__(self) -> None:
        self.hops: list[Message] = []

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        if urllib.parse.urlparse(newurl).scheme not in ("http", "https"):
            raise DownloadError(f"refusing a redirect from {req.full_url} to {newurl!r}: not http(s)")
        self.hops.append(headers)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _fetch(url: str, out: IO[bytes], *, max_bytes: int, deadline: float, socket_timeout: float) -> str | None:
    """Stream ``url`` into ``out``; return the SHA-256 the server published for it, if any."""
    start = time.monotonic()
    redirects = _RecordingRedirects()
    opener = urllib.request.build_opener(redirects)
    request = urllib.request.Request(url, headers={"User-Agent": "convzoo"})
    try:
        with opener.open(request, timeout=min(socket_timeout, deadline)) as resp:
            length = resp.headers.get("Content-Length")
            if length is not None and length.isdigit() and int(length) > max_bytes:
                raise DownloadError(f"{url} is {int(length):,} bytes, over the {max_bytes:,}-byte cap for it")
            total = 0
            while chunk := resp.read1(_CHUNK):
                total += len(chunk)
                if total > max_bytes:
                    raise DownloadError(f"{url} sent more than the {max_bytes:,}-byte cap for it; stopped")
                if time.monotonic() - start > deadline:
                    raise DownloadError(
                        f"{url} did not finish within the {deadline:g}-second deadline ({total:,} bytes so far)"
                    )
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
            return _published_sha256([*redirects.hops, resp.headers])
    except DownloadError:
        raise
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise DownloadError(f"could not download {url}: {e}") from e


def _published_sha256(headers: list[Any]) -> str | None:
    for h in headers:
        tag = (h.get("X-Linked-Etag") or "").removeprefix("W/").strip('"').lower()
        if len(tag) == 64 and _HEX.match(tag):
            return tag
    return None


def _verify(url: str, path: str, checksum: Checksum, published: str | None, min_bytes: int) -> str:
    size = os.path.getsize(path)
    if size < min_bytes:
        raise DownloadError(f"{url} gave {size:,} bytes, fewer than the {min_bytes:,} its publisher lists")
    digest = sha256sum(path)
    if checksum.from_server and published is None:
        raise DownloadError(
            f"{url}: the server published no SHA-256 (X-Linked-Etag), so the file cannot be checked"
        )
    expected = (published if checksum.from_server else checksum.sha256) or ""
    if not digest.startswith(expected.lower()):
        raise DownloadError(
            f"checksum mismatch for {url}: expected sha256 {expected}, got {digest}; "
            "the download is corrupt or the file changed upstream — nothing was saved"
        )
    return digest
