"""Loading a source's weights into a model — only into the configuration they belong to.

Before loading, the model's structure (every layer's type and hyper-parameters: kernel, stride, groups,
features, eps...) is compared with the source's configuration built on the meta device. Any difference
refuses the load with the ``create_model`` call to use — except the classifier: a model built with another
``num_classes`` gets the pretrained backbone and keeps its own, freshly initialised classifier.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from convzoo.hub.download import download
from convzoo.hub.identify import WeightsMatch, identify
from convzoo.hub.read import read_state_dict
from convzoo.hub.sources import WeightSource, find_source
from convzoo.registry import register_weights_loader
from convzoo.trust import check_weights

__all__ = ["load_pretrained", "load_state_dict_strict", "load_weights", "pretrained_model", "read_state_dict"]

StateDict = dict[str, torch.Tensor]
_IGNORED = (nn.Identity, nn.modules.dropout._DropoutNd)  # no parameters, no effect in eval mode
_EXTRA_NOISE = re.compile(r",?\s*(momentum|inplace)=[^,]*")  # training-only or memory-only settings


def load_weights(
    model: nn.Module,
    source: str,
    state_dict: Mapping[str, torch.Tensor] | None = None,
    *,
    name: str | None = None,
    file: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    check_config: bool = True,
) -> nn.Module:
    """Load ``source``'s weights for ``model`` (downloaded and verified, or from ``file`` / ``state_dict``).

    The model must be the configuration the weights belong to (``convzoo list --weights`` shows it); a model
    with another ``num_classes`` gets the backbone and keeps its own classifier, with a warning.
    ``check_config=False`` compares only keys and shapes (for a peer built with other arguments). A ``file``
    is loaded as the source its content belongs to (:func:`convzoo.hub.identify`), with a warning where that
    is not ``source`` or where the content cannot tell.
    """
    name = name or _model_name(model)
    if file is not None:
        match = identify(name, source, file)
        _say(match.note)
        state_dict = match.state_dict if match.state_dict is not None else read_state_dict(match.path)
        return _load(model, match.source, state_dict, str(match.path), check_config)
    ws = find_source(name, source)
    origin = f"the {ws.source} state_dict given for {name}"
    if state_dict is None:
        path = fetch(ws, cache_dir=cache_dir)
        state_dict, origin = read_state_dict(path), str(path)
    return _load(model, ws, state_dict, origin, check_config)


def _say(note: str) -> None:
    if note:
        warnings.warn(note, UserWarning, stacklevel=4)


def _load(
    model: nn.Module, ws: WeightSource, state_dict: Mapping[str, torch.Tensor], origin: str, check_config: bool
) -> nn.Module:
    name, source = ws.model, ws.source
    head = _check_config(model, ws) if check_config else frozenset()
    mapped = ws.convert(state_dict)
    own = model.state_dict()
    optional = tuple(getattr(model, "optional_state_prefixes", ()))
    if optional:  # e.g. auxiliary heads the peer's file has but a model built with aux_logits=False lacks
        mapped = {k: v for k, v in mapped.items() if k in own or not k.startswith(optional)}
    kept = sorted(k for k in head if k in mapped and k in own and mapped[k].shape != own[k].shape)
    if kept:
        mapped = {k: v for k, v in mapped.items() if k not in kept}
        mapped.update({k: own[k] for k in kept})
        warnings.warn(
            f"loaded {ws.provider}'s {name} backbone; the classifier ({', '.join(kept)}) keeps its new "
            f"{getattr(model, 'num_classes', '?')}-class initialisation — train it before use",
            stacklevel=3,
        )
    check_weights(model, mapped, origin)  # no silent cast from another dtype, no NaN or infinity
    absent = sorted(k for k in own if k not in mapped and optional and k.startswith(optional))
    if absent:  # a peer saved without its auxiliary heads (torchvision's aux_logits=False): build ours alike
        from convzoo.registry import model_info

        if "aux_logits" in model_info(name).accepts:
            raise ValueError(
                f"{origin} has no auxiliary-classifier weights ({len(absent)} keys such as {absent[0]}): its "
                f"model was saved without aux heads. Build ours without them too: "
                f"convzoo.{ws.create_call(aux_logits=False)} then load_weights, or weights={source!r} with "
                "aux_logits=False"
            )
    load_state_dict_strict(model, mapped)
    return model


def fetch(ws: WeightSource, *, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The verified local file of a source: cached, or downloaded under its checksum and size bounds."""
    if ws.url is None or ws.checksum is None:
        raise ValueError(f"no downloadable {ws.source!r} weights are known for {ws.model!r}")
    low, high = _size_bounds(ws)
    return download(ws.url, ws.checksum, key=f"weights/{ws.model}/{ws.source}", cache_dir=cache_dir,
                    min_bytes=low, max_bytes=high)  # fmt: skip


def _size_bounds(ws: WeightSource) -> tuple[int, int]:
    """The publisher's size ± its rounding (torchvision: MiB to 2 or 3 decimals; Hugging Face:
    rounded MB), else a cap from the tensors."""
    if ws.file_size is not None and ws.size_slack is not None:  # as published, within its rounding
        return max(ws.file_size - ws.size_slack, 0), ws.file_size + ws.size_slack
    with torch.device("meta"):
        expected = _build(ws, None)
    nbytes = sum(t.numel() * 4 for t in expected.state_dict().values())  # float32 files
    return 0, int(nbytes * 1.05) + 2**20


def pretrained_model(
    name: str,
    source: str,
    *,
    file: str | os.PathLike[str] | None = None,
    state_dict: Mapping[str, torch.Tensor] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    **overrides: Any,
) -> nn.Module:
    """``create_model(name, weights=source)``: the source's configuration (plus ``overrides``) with its weights.
    A ``file`` is loaded as the source its content belongs to (:func:`convzoo.hub.identify`)."""
    return load_pretrained(name, source, file=file, state_dict=state_dict, cache_dir=cache_dir, **overrides)[0]


def load_pretrained(
    name: str,
    source: str,
    *,
    file: str | os.PathLike[str] | None = None,
    state_dict: Mapping[str, torch.Tensor] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    match: WeightsMatch | None = None,
    **overrides: Any,
) -> tuple[nn.Module, WeightSource]:
    """:func:`pretrained_model` and the source the weights were loaded as — with a ``file``, the one its
    content belongs to, whose preprocessing and accuracy then apply. ``match``: the file, identified already
    (:func:`convzoo.hub.identify`), so that it is neither hashed nor read twice."""
    from convzoo.registry import create_model

    if match is None and file is not None:
        match = identify(name, source, file)
    ws = match.source if match is not None else find_source(name, source)
    clash = sorted(k for k, v in overrides.items() if k in ws.config and v != ws.config[k])
    if clash:
        raise ValueError(
            f"{ws.source}'s {name} weights belong to {ws.create_call()}; "
            f"{', '.join(f'{k}={overrides[k]!r}' for k in clash)} would build another network"
        )
    model = create_model(name, **{**ws.config, **overrides})
    if match is not None:
        _say(match.note)
        sd = match.state_dict if match.state_dict is not None else read_state_dict(match.path)
        return _load(model, ws, sd, str(match.path), True), ws
    return load_weights(model, ws.source, state_dict, cache_dir=cache_dir), ws


register_weights_loader(pretrained_model)  # create_model(name, weights=source) comes here


def _model_name(model: nn.Module) -> str:
    name = getattr(model, "convzoo_name", None)
    if not name:
        raise ValueError("this model was not built by convzoo.create_model; pass name= to say which it is")
    return name


def _build(ws: WeightSource, num_classes: int | None) -> nn.Module:
    from convzoo.registry import create_model

    extra = {} if num_classes is None else {"num_classes": num_classes}
    return create_model(ws.model, **{**ws.config, **extra})


def _signature(model: nn.Module, skip: tuple[str, ...]) -> dict[str, str]:
    """Each layer's type and hyper-parameters, by name (dropout and identities left out)."""
    return {
        name: f"{type(m).__name__}({_EXTRA_NOISE.sub('', m.extra_repr()).strip(', ')})"
        for name, m in model.named_modules()
        if name and not isinstance(m, _IGNORED) and not (name + ".").startswith(skip)
    }


def _check_config(model: nn.Module, ws: WeightSource) -> frozenset[str]:
    """Refuse a model that is not ``ws``'s configuration; return the state keys of its classifier."""
    from convzoo.registry import model_info

    num_classes = getattr(model, "num_classes", None)
    if num_classes == model_info(ws.model).num_classes:
        num_classes = None
    with torch.device("meta"):
        expected = _build(ws, num_classes)
        reference = expected if num_classes is None else _build(ws, None)
    skip = tuple(getattr(model, "optional_state_prefixes", ()))
    ours, theirs = _signature(model, skip), _signature(expected, skip)
    diffs = [
        f"{k}: yours {ours.get(k, 'absent')}, the weights' {theirs.get(k, 'absent')}"
        for k in sorted(set(ours) | set(theirs))
        if ours.get(k) != theirs.get(k)
    ]
    if diffs:
        extra = {} if num_classes is None else {"num_classes": num_classes}
        shown = "; ".join(diffs[:4]) + (f"; ... ({len(diffs)} layers differ)" if len(diffs) > 4 else "")
        raise ValueError(
            f"{ws.source}'s {ws.peer_name} weights belong to convzoo.{ws.create_call(**extra)} "
            f"(or {_weights_call(ws, extra)}), and this model is another network — {shown}"
        )
    ref = reference.state_dict()
    return frozenset(k for k, v in expected.state_dict().items() if k not in ref or ref[k].shape != v.shape)


def _weights_call(ws: WeightSource, extra: dict[str, Any]) -> str:
    args = [repr(ws.model), f"weights={ws.source!r}", *(f"{k}={v!r}" for k, v in extra.items())]
    return f"create_model({', '.join(args)})"


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
