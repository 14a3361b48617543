"""How the site's files reach the disk: convzoo's one writer, and the output folder's manifest.

Every file goes through :func:`convzoo.trust_write.write_file` (a temporary sibling, fsync, rename; never
through a symlink; never over a file convzoo did not write unless forced). ``publish`` copies a finished build
into the output folder and keeps a manifest of what it wrote there (``.convzoo-site``), so a rebuild replaces
and prunes only its own files and refuses a folder it did not write unless told ``force``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path

from convzoo import trust_write

MANIFEST = ".convzoo-site"
MAX_MANIFEST_BYTES = 4 << 20
_SAFE_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]*$")


def write_file(
    path: str | os.PathLike[str],
    data: bytes | str | Callable[[Path], object],
    *,
    force: bool = False,
    owned: bool = False,
) -> Path:
    """Write ``data`` (bytes, text, or a function that writes the path it is given) to ``path`` through
    :func:`convzoo.trust_write.write_file`, making its folders first. ``owned``: the caller knows convzoo wrote
    the file there (the site's manifest lists it; the diagram cache is convzoo's)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return trust_write.write_file(path, data, force=force, owned=owned)


def safe_relative(text: str) -> str:
    """A relative path of plain parts (letters, digits, ``._@+-``; no ``..``, no absolute path), else ValueError."""
    parts = text.split("/")
    if not text or len(text) > 500 or any(not _SAFE_PART.match(p) or p in (".", "..") for p in parts):
        raise ValueError(f"not a plain relative path: {text[:80]!r}")
    return text


def read_manifest(out: Path) -> set[str] | None:
    """The files a previous build wrote into ``out`` (None when there is no manifest). Capped and checked:
    a manifest is data, a list of relative paths inside ``out``."""
    path = out / MANIFEST
    if not path.exists():
        return None
    if path.is_symlink() or not path.is_file():
        raise ValueError(f"{path}: not a regular file")
    if path.stat().st_size > MAX_MANIFEST_BYTES:
        raise ValueError(f"{path}: larger than {MAX_MANIFEST_BYTES} bytes; not a manifest convzoo wrote")
    try:
        obj = json.loads(path.read_text(encoding="utf-8"), parse_constant=lambda c: None)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("files"), list):
        raise ValueError(f"{path}: not a convzoo site manifest")
    files = obj["files"]
    if not all(isinstance(f, str) for f in files):
        raise ValueError(f"{path}: 'files' must be a list of paths")
    try:
        return {safe_relative(f) for f in files}
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None


def _files(root: Path) -> list[str]:
    return sorted(
        p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and not p.is_symlink()
    )


def publish(staging: Path, out: Path, *, force: bool = False) -> list[str]:
    """Copy every file of ``staging`` into ``out`` through :func:`write_file`; remove the files the previous
    build listed that this one no longer has. Refuses to overwrite a file no build of ours wrote (and a
    non-empty folder without our manifest) unless ``force``."""
    new = _files(staging)
    for rel in new:
        safe_relative(rel)
    if out.is_symlink():
        raise ValueError(f"{out}: is a symbolic link; give the real folder")
    old = read_manifest(out) if out.is_dir() else None
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out}: exists and is not a folder")
    if not force and out.is_dir():
        if old is None and any(out.iterdir()):
            raise ValueError(
                f"{out} is not empty and holds no site convzoo built; choose another folder or pass --force"
            )
        foreign = [rel for rel in new if (out / rel).exists() and rel not in (old or set())]
        if foreign:
            raise ValueError(
                f"{out}: would overwrite {len(foreign)} file(s) convzoo did not write (first: {foreign[0]}); "
                "pass --force to replace them"
            )
    for rel in new:
        write_file(out / rel, (staging / rel).read_bytes(), force=force, owned=rel in (old or set()))
    for rel in sorted((old or set()) - set(new)):
        stale = out / rel
        if stale.is_file() and not stale.is_symlink():
            stale.unlink()
    write_file(out / MANIFEST, json.dumps({"files": new}, indent=0), force=force, owned=old is not None)
    return new
