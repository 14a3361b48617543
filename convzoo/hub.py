"""Loading peers' weights (torchvision, timm) into convzoo models, and verified downloads.

Each family declares how a peer's state_dict keys map onto ours with :func:`register_weights`. Then::

    model = convzoo.create_model("resnet50")
    convzoo.load_weights(model, "torchvision")            # downloads, verifies, maps, loads
    convzoo.load_weights(model, "torchvision", state_dict=tv_model.state_dict())  # no download

A converter receives the peer's state_dict and returns one with our keys; most are a list of
(regex, replacement) rules applied in order (:func:`rename_keys`).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

StateDict = dict[str, torch.Tensor]
Converter = Callable[[Mapping[str, torch.Tensor]], StateDict]


@dataclass(frozen=True)
class WeightSource:
    """Where a model's weights live in a peer library and how to map them."""

    model: str
    source: str  # "torchvision" or "timm"
    peer_name: str  # the peer's model name, e.g. "resnet50"
    convert: Converter
    url: str | None = None
    sha256: str | None = (
        None  # full hex digest, or a prefix (torchvision publishes 8+ hex digits in file names)
    )


_SOURCES: dict[tuple[str, str], WeightSource] = {}


def register_weights(
    model: str,
    source: str,
    peer_name: str,
    convert: Converter | Sequence[tuple[str, str]] = (),
    url: str | None = None,
    sha256: str | None = None,
) -> None:
    """Declare that ``source``'s ``peer_name`` weights load into our ``model`` through ``convert``."""
    conv = convert if callable(convert) else _rules_converter(tuple(convert))
    _SOURCES[(model, source)] = WeightSource(model, source, peer_name, conv, url, sha256)


def weight_sources(model: str | None = None) -> list[WeightSource]:
    """Registered weight sources, all or those of one model."""
    import convzoo.models  # noqa: F401

    return [s for (m, _), s in sorted(_SOURCES.items()) if model is None or m == model]


def rename_keys(state_dict: Mapping[str, torch.Tensor], rules: Sequence[tuple[str, str]]) -> StateDict:
    """Apply regex (pattern, replacement) rules in order to every key."""
    out: StateDict = {}
    for key, value in state_dict.items():
        new = key
        for pattern, repl in rules:
            new = re.sub(pattern, repl, new)
        if new in out:
            raise ValueError(f"key mapping sends two keys to {new!r} (second from {key!r})")
        out[new] = value
    return out


def _rules_converter(rules: tuple[tuple[str, str], ...]) -> Converter:
    return lambda sd: rename_keys(sd, rules)


def _model_name(model: nn.Module) -> str:
    name = getattr(model, "convzoo_name", None)
    if not name:
        raise ValueError("this model was not built by convzoo.create_model; pass name= to say which it is")
    return name


def convert_state_dict(name: str, source: str, state_dict: Mapping[str, torch.Tensor]) -> StateDict:
    """Map a peer's state_dict onto the keys of our model ``name``."""
    import convzoo.models  # noqa: F401

    try:
        ws = _SOURCES[(name, source)]
    except KeyError:
        have = sorted(s for (m, s) in _SOURCES if m == name)
        raise ValueError(
            f"no {source!r} weights are mapped for {name!r}"
            + (f"; it has: {', '.join(have)}" if have else "; no peer weights are mapped for it")
        ) from None
    return ws.convert(state_dict)


def load_weights(
    model: nn.Module,
    source: str,
    state_dict: Mapping[str, torch.Tensor] | None = None,
    *,
    name: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> nn.Module:
    """Load ``source``'s weights into ``model``, downloading the peer's pretrained file when no state_dict is given.

    Shapes and key sets must match exactly; a mismatch lists the offending keys. Keys under a model's
    ``optional_state_prefixes`` (auxiliary heads) may be absent from the model and are then skipped.
    """
    name = name or _model_name(model)
    if state_dict is None:
        ws = next((s for s in weight_sources(name) if s.source == source), None)
        if ws is None or ws.url is None:
            raise ValueError(f"no downloadable {source!r} weights are known for {name!r}")
        path = download(ws.url, ws.sha256, cache_dir=cache_dir)
        state_dict = read_state_dict(path)
    mapped = convert_state_dict(name, source, state_dict)
    optional = tuple(getattr(model, "optional_state_prefixes", ()))
    if optional:  # e.g. auxiliary heads the peer's file has but a model built with aux_logits=False lacks
        own = model.state_dict()
        mapped = {k: v for k, v in mapped.items() if k in own or not k.startswith(optional)}
    load_state_dict_strict(model, mapped)
    return model


def read_state_dict(path: str | os.PathLike[str]) -> StateDict:
    """Read weights from a ``.safetensors`` file or a tensors-only PyTorch file (never unpickling code)."""
    if str(path).endswith(".safetensors"):
        from safetensors.torch import load_file

        return load_file(str(path))
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    return state


def load_state_dict_strict(model: nn.Module, state_dict: Mapping[str, torch.Tensor]) -> None:
    """``load_state_dict(strict=True)`` with an error that lists missing, unexpected and mis-shaped keys."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    shapes = sorted(
        f"{k}: ours {tuple(own[k].shape)} vs theirs {tuple(state_dict[k].shape)}"
        for k in set(own) & set(state_dict)
        if own[k].shape != state_dict[k].shape
    )
    if missing or unexpected or shapes:
        parts = []
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("shape mismatch", shapes)):
            if keys:
                shown = ", ".join(keys[:10]) + (f", ... ({len(keys)} in all)" if len(keys) > 10 else "")
                parts.append(f"{label}: {shown}")
        raise ValueError("state_dict does not fit the model — " + "; ".join(parts))
    model.load_state_dict(state_dict, strict=True)


def default_cache_dir() -> Path:
    return Path(os.environ.get("CONVZOO_CACHE", Path.home() / ".cache" / "convzoo"))


def sha256sum(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def download(
    url: str,
    sha256: str | None,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    filename: str | None = None,
    timeout: float = 60.0,
) -> Path:
    """Download ``url`` into the cache (once), verify its SHA-256 (full or prefix), and return the path.

    The file is written to a temporary name and renamed only after the checksum matches, so a failed or
    interrupted download never leaves a bad file under the final name.
    """
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / (filename or Path(urllib.parse.urlparse(url).path).name or "download")
    if dest.exists() and (sha256 is None or sha256sum(dest).startswith(sha256.lower())):
        return dest
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=dest.name + ".", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            shutil.copyfileobj(resp, out)
            out.flush()
            os.fsync(out.fileno())
        if sha256 is not None:
            got = sha256sum(tmp)
            if not got.startswith(sha256.lower()):
                raise ValueError(
                    f"checksum mismatch for {url}: expected sha256 {sha256}, got {got}; "
                    "the download is corrupt or the file changed upstream — nothing was saved"
                )
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest
