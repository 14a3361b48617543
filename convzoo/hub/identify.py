"""Whose weights a file holds, decided by its content rather than by the name it was given.

``convzoo predict --weights torchvision resnet50 --weights-file resnet50-11ad3fa6.pth`` names torchvision's
V1 source, but the file is torchvision's V2 file: its preprocessing (resize 232, not 256) and accuracy are
V2's. :func:`identify` looks at the file itself, in this order:

1. **Its SHA-256** against every registered source's published checksum (the full digest, or the prefix in
   the publisher's file name) and the other published files of the same weights (``known_files``: timm's
   copies of torchvision's files, the Hugging Face ``model.safetensors`` beside a ``pytorch_model.bin``). A
   match decides, whatever name was given; a file of another network says which one.
2. **Its key layout**: the names and shapes of its tensors, mapped by each source's converter, against the
   configuration that source loads into. A layout only one source has decides (a timm ResNet-v2 file given
   as another layout's). Where several sources share the layout — torchvision's and timm's ResNet-50 use the
   same key names, and V1 and V2 the same shapes — the content cannot tell, so the named source is used and
   the warning says which others fit and how to ask for them.

The choice and its reason are a :class:`WeightsMatch`; callers load ``match.source`` and use its
preprocessing (:func:`transforms`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from convzoo.hub.download import sha256sum
from convzoo.hub.read import read_state_dict
from convzoo.hub.sources import WeightSource, find_source, registered_sources, weight_sources

__all__ = ["WeightsMatch", "identify", "transforms"]

StateDict = dict[str, torch.Tensor]


@dataclass(frozen=True)
class WeightsMatch:
    """The source a weights file belongs to (``source``), the one the user named, and why."""

    source: WeightSource
    named: WeightSource
    how: str  # "the published file", "a published copy (...)", "key layout" or "named" (content cannot tell)
    note: str  # one line for the user; "" where the file is the named source's own published file
    path: Path
    digest: str
    state_dict: StateDict | None = field(default=None, repr=False, compare=False)  # read, where it was


def identify(model: str, source: str, file: str | os.PathLike[str]) -> WeightsMatch:
    """Which registered source of ``model`` the weights in ``file`` belong to (``source``: the name given).

    Raises ``ValueError`` where the file is a published file of another network (naming it), and
    ``FileNotFoundError`` where there is no file.
    """
    named = find_source(model, source)
    path = Path(file)
    if not path.is_file():
        raise FileNotFoundError(f"no such weights file: {path}")
    digest = sha256sum(path)
    by_digest = [
        (find_source(ws.model, ws.source), how) for ws in registered_sources() if (how := _digest_match(ws, digest))
    ]
    ours = [(ws, how) for ws, how in by_digest if ws.model == model]
    if ours:
        ws, how = next(((w, h) for w, h in ours if w.source == named.source), ours[0])
        note = "" if ws.source == named.source else (
            f"{path} is {how} of {ws.describe()} (SHA-256 {digest[:16]}…), not of {named.source!r}: "
            f"loading it as {ws.source!r}, with its preprocessing ({_pre(ws)}){_acc(ws)}"
        )  # fmt: skip
        return WeightsMatch(ws, named, how, note, path, digest)
    if by_digest:
        other, how = by_digest[0]
        raise ValueError(
            f"{path} is {how} of {other.describe()} for {other.model!r}, not weights of {model!r}: "
            f"use it with {other.model} (e.g. `convzoo predict --weights {other.source} {other.model} "
            f"--weights-file {path} IMAGE`)"
        )
    state = read_state_dict(path)
    fits = [ws for ws in weight_sources(model) if _layout_fits(ws, state)]
    unknown = f"{path} is not {named.source}'s published {named.peer_name} file, nor any file convzoo knows " \
              f"for {model} (SHA-256 {digest[:16]}…)"  # fmt: skip
    if named.source in {ws.source for ws in fits} or not fits:
        others = [ws for ws in fits if ws.source != named.source]
        if not others:
            return WeightsMatch(named, named, "named", f"{unknown}; loading it as you asked", path, digest, state)
        first = others[0]
        note = (
            f"{unknown}; its keys and shapes fit {', '.join(repr(o.source) for o in others)} as well, so "
            f"its content cannot tell whose weights these are: loading it as {named.source!r}, with "
            f"{named.source}'s preprocessing ({_pre(named)}). If they are {first.describe()}'s, name that "
            f"source (`--weights {first.source}`; its preprocessing: {_pre(first)})"
        )
        return WeightsMatch(named, named, "named", note, path, digest, state)
    ws = fits[0]
    also = f" ({', '.join(repr(o.source) for o in fits[1:])} share it)" if len(fits) > 1 else ""
    note = (
        f"{unknown}; its key layout is {ws.provider}'s, not {named.provider}'s{also}: loading it as "
        f"{ws.source!r}, with its preprocessing ({_pre(ws)})"
    )
    return WeightsMatch(ws, named, "key layout", note, path, digest, state)


def transforms(
    name: str, weights: str = "torchvision", *, file: str | os.PathLike[str] | None = None
) -> Callable[[Any], torch.Tensor]:
    """The preprocessing ``weights``' provider publishes for ``name``: a torchvision transform from a PIL
    image (or uint8 CHW tensor) to the normalized float tensor the network expects.

    ``convzoo.transforms("resnet50", weights="torchvision.v2")`` resizes the shorter side to 232 (bilinear),
    centre-crops 224 and normalizes with ImageNet's mean and std; ``weights="timm"`` gives timm's bicubic
    235 → 224. With ``file``, the source is the one the file's content belongs to (:func:`identify`).
    """
    ws = identify(name, weights, file).source if file is not None else find_source(name, weights)
    if ws.preprocess is None:
        raise ValueError(f"{ws.describe()} for {name!r} has no published preprocessing")
    return ws.preprocess.transform()


def _digest_match(ws: WeightSource, digest: str) -> str:
    if ws.checksum is not None and ws.checksum.sha256 and ws.checksum.accepts(digest):
        return "the published file"
    known = next((k for k in ws.known_files if k.matches(digest)), None)
    return f"a published copy ({known.what})" if known else ""


_EXPECTED: dict[tuple[str, tuple[tuple[str, Any], ...]], tuple[dict[str, tuple[int, ...]], tuple[str, ...]]] = {}


def _expected(ws: WeightSource) -> tuple[dict[str, tuple[int, ...]], tuple[str, ...]]:
    """The state-dict shapes of the configuration ``ws`` loads into (built on the meta device, cached), and
    the prefixes of its optional entries (auxiliary heads)."""
    key = (ws.model, tuple(sorted(ws.config.items())))
    if key not in _EXPECTED:
        from convzoo.registry import create_model

        with torch.device("meta"):
            net = create_model(ws.model, **ws.config)
        shapes = {k: tuple(v.shape) for k, v in net.state_dict().items()}
        _EXPECTED[key] = shapes, tuple(getattr(net, "optional_state_prefixes", ()))
    return _EXPECTED[key]


def _layout_fits(ws: WeightSource, state: Mapping[str, torch.Tensor]) -> bool:
    """Whether ``ws``'s converter maps ``state`` onto exactly the keys and shapes its configuration has."""
    try:
        mapped = ws.convert(state)
    except (ValueError, KeyError, IndexError, TypeError):
        return False
    shapes, optional = _expected(ws)
    if optional:
        mapped = {k: v for k, v in mapped.items() if not k.startswith(optional)}
        shapes = {k: v for k, v in shapes.items() if not k.startswith(optional)}
    return mapped.keys() == shapes.keys() and all(tuple(v.shape) == shapes[k] for k, v in mapped.items())


def _pre(ws: WeightSource) -> str:
    p = ws.preprocess
    return "none published" if p is None else f"resize {p.resize} {p.interpolation} → crop {p.crop}"


def _acc(ws: WeightSource) -> str:
    return "" if ws.top1 is None else f"; published top-1 {ws.top1:.2f}%"
