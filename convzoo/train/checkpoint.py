"""Atomic checkpoints: safetensors weights plus a state file that ``torch.load(weights_only=True)`` reads.

A run folder keeps ``checkpoints/ckpt_NNNNNN/{model.safetensors,state.pt}`` and a pointer file
``checkpoints/latest`` naming the newest complete one. A checkpoint is written into a temporary folder,
fsync'ed, renamed into place, and only then does the pointer move (itself written to a temporary file,
fsync'ed and ``os.replace``'d), so a kill or a full disk at any moment leaves the previous checkpoint intact
and named.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
from collections.abc import Iterator
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
    latest_pointer_target,
    read_train_state,
    read_weights_metadata,
)
from convzoo.trust_write import output, output_folder, write_file

__all__ = [
    "CheckpointError",
    "atomic_output",
    "atomic_write_text",
    "find_checkpoint",
    "is_complete",
    "load_checkpoint",
    "load_model_weights",
    "nonfinite_tensors",
    "read_latest",
    "read_metadata",
    "safe_torch_load",
    "save_checkpoint",
]

FORMAT = CHECKPOINT_FORMAT


@contextlib.contextmanager
def atomic_output(path: Path, inside: Path | None = None) -> Iterator[Path]:
    """A fresh temporary path beside ``path`` to write; on success it is fsync'ed and replaces ``path``.

    :func:`convzoo.trust_write.output` for a name convzoo owns in one of its folders (``inside``, if given):
    the temporary name is unique, a link or a non-regular file at ``path`` is refused, and temporaries of
    killed writers are removed. On failure the temporary is removed.
    """
    with output(path, owned=True, inside=inside) as tmp:
        yield tmp


def atomic_write_text(path: Path, text: str, inside: Path | None = None) -> None:
    """Write ``text`` to ``path`` so that readers see either the old or the new content, never a mix."""
    write_file(path, text, owned=True, inside=inside)


def is_complete(folder: Path) -> bool:
    """Whether ``folder`` holds a whole checkpoint (both files; they are renamed into place together)."""
    return (folder / "model.safetensors").is_file() and (folder / "state.pt").is_file()


def nonfinite_tensors(tensors: dict[str, torch.Tensor]) -> list[str]:
    """The names of the floating-point tensors holding a NaN or an infinity."""
    return [k for k, v in tensors.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]


def save_checkpoint(
    folder: str | os.PathLike[str],
    model: nn.Module,
    state: dict[str, Any],
    metadata: dict[str, Any],
    *,
    index: int,
) -> Path:
    """Save ``model``'s weights and the training ``state`` as checkpoint number ``index`` under ``folder``.

    ``metadata`` (model name, classes, normalization...) is stored as JSON both in the safetensors header
    and in the state, so the weights file alone is enough for ``predict``. Nothing is ever deleted here: a
    complete checkpoint of that number is refused, not replaced (pruning is the run folder's, which knows
    what this process wrote), and so are weights or buffers holding NaN or infinity.
    Raises :class:`CheckpointError` (after removing the partial files) if writing fails, e.g. on a full disk.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    name = f"ckpt_{index:06d}"
    final = folder / name
    latest = read_latest(folder)
    weights = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    bad = nonfinite_tensors(weights)
    if bad:
        raise CheckpointError(
            f"refusing to save {final}: {len(bad)} tensor(s) hold NaN or infinity ({', '.join(bad[:5])})"
        )
    if is_complete(final):
        raise CheckpointError(f"refusing to overwrite the complete checkpoint {final}")
    try:
        # an incomplete folder of that name is replaced (nothing of ours is ever incomplete there)
        with output_folder(final, replace=True, inside=folder) as tmp:
            save_file(weights, tmp / "model.safetensors", metadata={"convzoo": json.dumps(metadata)})
            torch.save({"format": FORMAT, "metadata": metadata, **state}, tmp / "state.pt")
        atomic_write_text(folder / "latest", name + "\n", inside=folder)
    except (OSError, RuntimeError, SafetensorError) as e:
        kept = f"the last good checkpoint {latest} is intact" if latest else "no earlier checkpoint exists"
        full = isinstance(e, OSError) and e.errno == errno.ENOSPC
        hint = f" The disk holding {folder} is full." if full else ""
        raise CheckpointError(f"could not save checkpoint {final} ({e}); {kept}.{hint}") from e
    return final


def read_latest(folder: str | os.PathLike[str]) -> Path | None:
    """The complete checkpoint folder named by ``folder/latest``, or None (no pointer, or a dangling one).

    The pointer is read through :func:`convzoo.trust.latest_pointer_target`: it can only name a checkpoint
    inside ``folder``; any other content is refused with :class:`convzoo.trust.RejectedFile`.
    """
    path = latest_pointer_target(folder)
    return path if path is not None and is_complete(path) else None


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
