"""Atomic checkpoints: safetensors weights plus a state file that ``torch.load(weights_only=True)`` reads.

A run folder keeps ``checkpoints/ckpt_NNNNNN/{model.safetensors,state.pt}`` and a pointer file
``checkpoints/latest`` naming the newest complete one. A checkpoint is written into a temporary folder,
fsync'ed, renamed into place, and only then does the pointer move (itself written to a temporary file,
fsync'ed and ``os.replace``'d), so a kill or a full disk at any moment leaves the previous checkpoint intact
and named.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from convzoo.hub import load_state_dict_strict
from convzoo.trust import (
    CHECKPOINT_FORMAT,
    CheckpointError,
    RejectedFile,
    RunMetadata,
    check_weights,
    read_train_state,
    read_weights_metadata,
)

__all__ = [
    "CheckpointError",
    "find_checkpoint",
    "load_checkpoint",
    "load_model_weights",
    "read_metadata",
    "safe_torch_load",
    "save_checkpoint",
]

FORMAT = CHECKPOINT_FORMAT


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see either the old or the new content, never a mix."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    _fsync_dir(path.parent)


def save_checkpoint(
    folder: str | os.PathLike[str],
    model: nn.Module,
    state: dict[str, Any],
    metadata: dict[str, Any],
    *,
    index: int,
    keep: int = 2,
) -> Path:
    """Save ``model``'s weights and the training ``state`` as checkpoint number ``index`` under ``folder``.

    ``metadata`` (model name, classes, normalization...) is stored as JSON both in the safetensors header
    and in the state, so the weights file alone is enough for ``predict``. The newest ``keep`` checkpoints
    are kept.
    Raises :class:`CheckpointError` (after removing the partial files) if writing fails, e.g. on a full disk.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    name = f"ckpt_{index:06d}"
    final = folder / name
    tmp = folder / f".tmp_{name}_{os.getpid()}"
    latest = read_latest(folder)
    try:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        weights = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        save_file(weights, tmp / "model.safetensors", metadata={"convzoo": json.dumps(metadata)})
        _fsync_file(tmp / "model.safetensors")
        torch.save({"format": FORMAT, "metadata": metadata, **state}, tmp / "state.pt")
        _fsync_file(tmp / "state.pt")
        _fsync_dir(tmp)
        if final.exists():
            if latest == final:
                raise CheckpointError(f"refusing to overwrite the latest checkpoint {final}")
            shutil.rmtree(final)  # a leftover of a save interrupted before the pointer moved
        os.replace(tmp, final)
        _fsync_dir(folder)
        atomic_write_text(folder / "latest", name + "\n")
    except (OSError, RuntimeError, SafetensorError) as e:
        shutil.rmtree(tmp, ignore_errors=True)
        kept = f"the last good checkpoint {latest} is intact" if latest else "no earlier checkpoint exists"
        raise CheckpointError(f"could not save checkpoint {final} ({e}); {kept}. Is the disk full?") from e
    old = sorted(p for p in folder.glob("ckpt_*") if p.is_dir() and p.name < name)
    for p in old[: max(0, len(old) - (keep - 1))]:
        shutil.rmtree(p, ignore_errors=True)
    return final


def read_latest(folder: str | os.PathLike[str]) -> Path | None:
    """The newest complete checkpoint folder named by ``folder/latest``, or None."""
    pointer = Path(folder) / "latest"
    if not pointer.exists():
        return None
    path = Path(folder) / pointer.read_text().strip()
    return path if (path / "model.safetensors").exists() and (path / "state.pt").exists() else None


def find_checkpoint(path: str | os.PathLike[str]) -> Path:
    """Resolve a run folder, its ``checkpoints`` folder, a checkpoint folder or a ``.safetensors`` file."""
    p = Path(path)
    if p.is_file():
        if p.suffix != ".safetensors":
            raise CheckpointError(f"{p} is not a .safetensors weights file or a checkpoint folder")
        return p
    for candidate in (p / "checkpoints", p):
        latest = read_latest(candidate)
        if latest is not None:
            return latest / "model.safetensors"
    if (p / "model.safetensors").exists():
        return p / "model.safetensors"
    if not p.exists():
        raise CheckpointError(f"no such run or checkpoint: {p}")
    raise CheckpointError(f"{p} holds no checkpoint (no checkpoints/latest, no model.safetensors)")


def safe_torch_load(path: str | os.PathLike[str]) -> Any:
    """A checkpoint's ``state.pt``, read by :func:`convzoo.trust.read_train_state`: ``torch.load`` with
    ``weights_only=True`` (a file with arbitrary Python objects is refused, not run), then validated.
    """
    return read_train_state(path)


def read_metadata(weights: str | os.PathLike[str]) -> RunMetadata:
    """The validated convzoo metadata stored in a checkpoint's safetensors header."""
    return read_weights_metadata(weights)


def load_model_weights(model: nn.Module, weights: str | os.PathLike[str]) -> None:
    """Load safetensors weights into ``model``, refusing another architecture's weights (the mismatched keys
    are listed), tensors of another dtype and non-finite values; ``model`` is unchanged when refused.
    """
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise RejectedFile(Path(weights), f"not a readable safetensors file: {e}") from e
    check_weights(model, state, weights)
    try:
        load_state_dict_strict(model, state)
    except ValueError as e:
        raise RejectedFile(Path(weights), f"does not fit this model: {e}") from e


def load_checkpoint(path: str | os.PathLike[str], model: nn.Module) -> dict[str, Any]:
    """Load the weights of the checkpoint at ``path`` into ``model`` and return its validated training state."""
    weights = find_checkpoint(path)
    state_file = weights.with_name("state.pt")
    if not state_file.exists():
        raise CheckpointError(f"{weights} has no state.pt beside it: cannot resume training from it")
    state = read_train_state(state_file)
    load_model_weights(model, weights)
    return state
