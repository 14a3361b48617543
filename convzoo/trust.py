"""The trust boundary: the one place that turns the contents of files into objects.

Everything convzoo reads back from disk (a checkpoint's safetensors header, ``state.pt``, a run's
``config.json``, a ``checkpoints/latest`` pointer) is *data*: it is size-capped before it is read, parsed
without running code, and validated field by field before anything is built from it. Data never chooses
code: a model named in a file must be a registered name, and its overrides must be the ones that model
declares, with values of the declared types. Only the user's own command line or Python call may name a
``package.module:function`` model.

Every refusal is a :class:`RejectedFile`, whose message names the file and the cause.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = [
    "CheckpointError",
    "RejectedFile",
    "latest_pointer_target",
]

MAX_POINTER_BYTES = 64
CHECKPOINT_NAME = re.compile(r"ckpt_[0-9]{6}")


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used (missing, damaged, unsafe, or for another model)."""


class RejectedFile(CheckpointError, ValueError):
    """A file whose contents are refused; the message names the file and the cause."""

    def __init__(self, path: str | Path, cause: str) -> None:
        super().__init__(f"{path}: {cause}")
        self.path = Path(path)
        self.cause = cause


def _read_capped(path: Path, cap: int, what: str) -> bytes:
    """The bytes of the regular file ``path``, refused before reading when larger than ``cap``."""
    try:
        if not path.is_file():
            raise RejectedFile(path, f"{what} is not a regular file")
        size = path.stat().st_size
        if size > cap:
            raise RejectedFile(path, f"{what} is {size} bytes, more than the {cap} allowed")
        with open(path, "rb") as f:
            data = f.read(cap + 1)
    except OSError as e:
        raise RejectedFile(path, f"cannot read {what}: {e.strerror or e}") from e
    if len(data) > cap:
        raise RejectedFile(path, f"{what} grew past the {cap} bytes allowed while being read")
    return data


def latest_pointer_target(folder: str | Path) -> Path | None:
    """The checkpoint folder named by ``folder/latest``, or None when there is no pointer file.

    The pointer must hold exactly a checkpoint name ``ckpt_NNNNNN`` (an optional final newline): no path
    separators, no ``..``, no absolute path, so the target always stays inside ``folder``. Whether the target
    exists and is complete is the caller's question. Raises :class:`RejectedFile` for any other content.
    """
    pointer = Path(folder) / "latest"
    if not pointer.exists() and not pointer.is_symlink():
        return None
    data = _read_capped(pointer, MAX_POINTER_BYTES, "checkpoint pointer")
    text = data.decode("ascii", errors="replace")
    name = text[:-1] if text.endswith("\n") else text
    if not CHECKPOINT_NAME.fullmatch(name):
        raise RejectedFile(pointer, f"a checkpoint pointer must hold a name like ckpt_000001, not {text[:40]!r}")
    return Path(folder) / name
