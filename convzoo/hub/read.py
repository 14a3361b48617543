"""Reading a weights file: a ``.safetensors`` file or a tensors-only PyTorch file, never unpickling code."""

from __future__ import annotations

import os
from pathlib import Path

import torch

__all__ = ["read_state_dict"]

StateDict = dict[str, torch.Tensor]


def read_state_dict(path: str | os.PathLike[str]) -> StateDict:
    """Read weights from a ``.safetensors`` file or a tensors-only PyTorch file (never unpickling code)."""
    path = Path(path)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as e:  # noqa: BLE001 - any parse failure of an untrusted file gets the file's name
        raise ValueError(f"{path} is not a weights file convzoo can read safely: {e}") from e
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise ValueError(f"{path} does not hold a state_dict (a mapping of names to tensors)")
    return state
