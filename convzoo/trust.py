"""The trust boundary: the one place that turns the contents of files into objects.

Everything convzoo reads back from disk (a checkpoint's safetensors header and tensors, ``state.pt``, a run's
``config.json``, a ``checkpoints/latest`` pointer) is *data*: it is size-capped before it is read, parsed
without running code, and validated field by field before anything is built from it. Data never chooses
code: a model named in a file must be a registered name, and its overrides must be the ones that model
declares, with values of the declared types. Only the user's own command line or Python call may name a
``package.module:function`` model (the ``model=`` argument of :func:`build_model_from_metadata`).

Every refusal is a :class:`RejectedFile` (a ``ValueError`` and a ``CheckpointError``) whose message names
the file and the cause. Readers allocate at most the stated caps (``MAX_*``) plus, for tensors, the size
of the file itself.
"""

from __future__ import annotations

import inspect
import math
import pickle
import re
import struct
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from convzoo.trust_read import (
    CheckpointError,
    RejectedFile,
    open_regular,
    parse_json,
    read_bytes,
    zip_entries,
)

__all__ = [
    "CHECKPOINT_FORMAT",
    "CheckpointError",
    "RejectedFile",
    "RunMetadata",
    "build_model_from_metadata",
    "check_torch_archive",
    "check_weights",
    "latest_pointer_target",
    "nonfinite_tensors",
    "override_types",
    "parse_run_metadata",
    "read_run_config",
    "read_train_state",
    "read_weights_metadata",
]

CHECKPOINT_FORMAT = "convzoo-checkpoint-1"
MAX_POINTER_BYTES = 64
MAX_HEADER_BYTES = 16 * 2**20  # a safetensors header: tensor names, shapes, offsets and our metadata
MAX_METADATA_CHARS = 4 * 2**20
MAX_CONFIG_BYTES = 8 * 2**20
MAX_STATE_BYTES = 16 * 2**30  # state.pt: optimizer buffers can be several times the weights
MAX_CLASSES = 100_000
MAX_CHANNELS = 4096
MAX_SIDE = 65_536
MAX_STRING = 4096
MAX_LIST = 4096
MAX_MODEL_NAME = 200
CHECKPOINT_NAME = re.compile(r"ckpt_[0-9]{6}")


# --- reading bytes and JSON: the one reader (convzoo.trust_read), its caps and its RejectedFile


def _read_capped(path: Path, cap: int, what: str) -> bytes:
    """The bytes of the regular file ``path``, refused before reading when larger than ``cap``."""
    return read_bytes(path, cap_bytes=cap, what=what)


def _parse_json(text: str | bytes, path: Path, what: str) -> Any:
    return parse_json(text, path, what)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# --- checking plain values


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_float(v: Any) -> bool:
    return (_is_int(v) and abs(v) < 2**53) or (isinstance(v, float) and math.isfinite(v))


def _get(obj: Mapping[str, Any], key: str, path: Path, what: str) -> Any:
    if key not in obj:
        raise RejectedFile(path, f"{what} has no {key!r} field")
    return obj[key]


def _int_field(obj: Mapping[str, Any], key: str, path: Path, what: str, lo: int, hi: int) -> int:
    v = _get(obj, key, path, what)
    if not _is_int(v) or not lo <= v <= hi:
        raise RejectedFile(path, f"{what} field {key!r} must be an integer in [{lo}, {hi}], not {_short(v)}")
    return int(v)


def _str_field(obj: Mapping[str, Any], key: str, path: Path, what: str, cap: int = MAX_STRING) -> str:
    v = _get(obj, key, path, what)
    if not isinstance(v, str) or len(v) > cap:
        raise RejectedFile(path, f"{what} field {key!r} must be a string of at most {cap} characters")
    return v


def _list_field(
    obj: Mapping[str, Any], key: str, path: Path, what: str, n: int, ok: Callable[[Any], bool], kind: str
) -> list[Any]:
    v = _get(obj, key, path, what)
    if not isinstance(v, list | tuple) or len(v) != n or not all(ok(x) for x in v):
        got = f"{len(v)} items" if isinstance(v, list | tuple) else _short(v)
        raise RejectedFile(path, f"{what} field {key!r} must be a list of {n} {kind}, not {got}")
    return v


# --- model overrides and their declared types


def _split_union(annotation: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(annotation):
        depth += ch == "["
        depth -= ch == "]"
        if ch == "|" and depth == 0:
            parts.append(annotation[start:i].strip())
            start = i + 1
    return [*parts, annotation[start:].strip()]


_SCALARS: dict[str, Callable[[Any], bool]] = {
    "int": _is_int,
    "float": _is_float,
    "bool": lambda v: isinstance(v, bool),
    "str": lambda v: isinstance(v, str) and len(v) <= MAX_STRING,
    "None": lambda v: v is None,
    "LayerSpec": lambda v: v is None or (isinstance(v, str) and len(v) <= MAX_STRING),  # a layer's name
}
_SEQUENCE = re.compile(r"(?:tuple|list|Sequence)\[(.+)\]")


def _fits(value: Any, annotation: str) -> bool:
    """Whether a JSON value is of the declared type; types a file cannot hold (classes, callables) never fit."""
    for alt in _split_union(annotation):
        if alt in _SCALARS:
            if _SCALARS[alt](value):
                return True
            continue
        m = _SEQUENCE.fullmatch(alt)
        if m is None or not isinstance(value, list | tuple) or len(value) > MAX_LIST:
            continue
        items = [t.strip() for t in m.group(1).split(",")]
        if len(items) == 2 and items[1] == "...":
            if all(_fits(v, items[0]) for v in value):
                return True
        elif len(items) == len(value) and all(_fits(v, t) for v, t in zip(value, items, strict=True)):
            return True
    return False


def override_types(model: str) -> dict[str, str]:
    """The overrides a registered model declares, each with its annotation (as written in the code)."""
    from convzoo.registry import model_info

    info = model_info(model)
    types: dict[str, str] = {}
    for name in info.accepts:
        for target in info.accepts_from:
            param = inspect.signature(target).parameters.get(name)
            if param is not None:
                ann = param.annotation
                types[name] = ann if isinstance(ann, str) else getattr(ann, "__name__", "unannotated")
                break
    return types


def _check_overrides(model: str, kwargs: dict[str, Any], path: Path) -> None:
    declared = override_types(model)
    for key, value in kwargs.items():
        if key in ("num_classes", "in_chans"):
            raise RejectedFile(path, f"model_kwargs must not repeat {key!r} (it is a field of its own)")
        if key not in declared:
            raise RejectedFile(
                path,
                f"model_kwargs names {key!r}, which {model!r} does not take (it takes: "
                f"{', '.join(k for k in declared if k not in ('num_classes', 'in_chans'))})",
            )
        if not _fits(value, declared[key]):
            raise RejectedFile(
                path,
                f"model_kwargs[{key!r}] = {_short(value)} is not of the type {model!r} declares "
                f"({declared[key]}; values from a file can only be numbers, strings, booleans, None and lists)",
            )


def _overrides(obj: Mapping[str, Any], registered: str | None, path: Path) -> dict[str, Any]:
    """``model_kwargs``: a registered model's declared overrides, or plain values for the user's own model."""
    kwargs = {} if obj.get("model_kwargs") is None else obj["model_kwargs"]
    if not isinstance(kwargs, dict) or len(kwargs) > MAX_LIST or not all(isinstance(k, str) for k in kwargs):
        raise RejectedFile(
            path, f"the convzoo metadata field 'model_kwargs' must be a JSON object, not {_short(kwargs)}"
        )
    if registered is not None:
        _check_overrides(registered, kwargs, path)
    elif not all(_is_plain(v) for v in kwargs.values()):
        raise RejectedFile(
            path,
            "the convzoo metadata field 'model_kwargs' holds values other than numbers, strings and lists",
        )
    return dict(kwargs)


def _is_plain(value: Any, depth: int = 0) -> bool:
    if value is None or isinstance(value, bool | str) or _is_float(value):
        return not isinstance(value, str) or len(value) <= MAX_STRING
    return (
        isinstance(value, list | tuple)
        and depth < 2
        and len(value) <= MAX_LIST
        and all(_is_plain(v, depth + 1) for v in value)
    )


# --- run metadata


@dataclass(frozen=True)
class RunMetadata:
    """What a checkpoint says about its model and data, validated (see :func:`parse_run_metadata`).

    ``model`` is a registered name, or, for a run of the user's own ``package.module:function`` model, that
    text, which is never imported from here: :func:`build_model_from_metadata` needs the user to type it.
    """

    model: str
    num_classes: int
    in_chans: int
    image_size: tuple[int, int, int]
    classes: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    data: str = ""
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    resize: int | None = None
    registered: bool = True

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        del d["registered"]
        return d


def _registered(name: str) -> bool:
    from convzoo.registry import list_models

    return name in list_models()


def parse_run_metadata(obj: Any, source: str | Path) -> RunMetadata:
    """Validate the convzoo metadata object read from ``source``; raises :class:`RejectedFile`."""
    path, what = Path(source), "the convzoo metadata"
    if not isinstance(obj, dict):
        raise RejectedFile(path, f"{what} must be a JSON object, not {type(obj).__name__}")
    model = _str_field(obj, "model", path, what, MAX_MODEL_NAME)
    if not model or not model.isprintable() or any(ch.isspace() for ch in model):
        raise RejectedFile(path, f"{what} field 'model' must name a model (no blanks), not {_short(model)}")
    registered = _registered(model)
    n = _int_field(obj, "num_classes", path, what, 1, MAX_CLASSES)
    c = _int_field(obj, "in_chans", path, what, 1, MAX_CHANNELS)
    size = _list_field(
        obj, "image_size", path, what, 3, lambda v: _is_int(v) and 1 <= v <= MAX_SIDE, "positive integers"
    )
    if size[0] != c:
        raise RejectedFile(path, f"{what} says in_chans {c} but image_size {size} has {size[0]} channels")
    classes = _list_field(
        obj,
        "classes",
        path,
        what,
        n,
        lambda v: isinstance(v, str) and len(v) <= MAX_STRING,
        "class names (strings)",
    )
    mean = _list_field(obj, "mean", path, what, c, _is_float, "finite numbers")
    std = _list_field(obj, "std", path, what, c, lambda v: _is_float(v) and v > 0, "positive numbers")
    kwargs = _overrides(obj, model if registered else None, path)
    resize = obj.get("resize")
    if resize is not None and not (_is_int(resize) and 1 <= resize <= MAX_SIDE):
        raise RejectedFile(
            path, f"{what} field 'resize' must be a positive integer or null, not {_short(resize)}"
        )
    data = obj.get("data", "")
    if not isinstance(data, str) or len(data) > MAX_STRING:
        raise RejectedFile(path, f"{what} field 'data' must be a string")
    return RunMetadata(
        model=model,
        num_classes=n,
        in_chans=c,
        image_size=(size[0], size[1], size[2]),
        classes=tuple(classes),
        mean=tuple(float(v) for v in mean),
        std=tuple(float(v) for v in std),
        data=data,
        model_kwargs=kwargs,
        resize=resize,
        registered=registered,
    )


def _safetensors_header(path: Path) -> dict[str, Any]:
    try:
        with open_regular(path, "the weights file") as f:
            head = f.read(8)
            if len(head) < 8:
                raise RejectedFile(path, "not a safetensors file (shorter than its 8-byte header length)")
            (n,) = struct.unpack("<Q", head)
            if n > MAX_HEADER_BYTES:
                raise RejectedFile(
                    path, f"safetensors header of {n} bytes, more than the {MAX_HEADER_BYTES} allowed"
                )
            raw = f.read(n)
    except OSError as e:
        raise RejectedFile(path, f"cannot read the weights file: {e.strerror or e}") from e
    if len(raw) < n:
        raise RejectedFile(
            path, f"truncated safetensors file: its header says {n} bytes, the file has {len(raw)}"
        )
    header = _parse_json(raw, path, "the safetensors header")
    if not isinstance(header, dict):
        raise RejectedFile(path, "the safetensors header is not a JSON object")
    return header


def read_weights_metadata(path: str | Path) -> RunMetadata:
    """The validated convzoo metadata in the header of the safetensors file ``path``."""
    path = Path(path)
    meta = _safetensors_header(path).get("__metadata__")
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise RejectedFile(path, "the safetensors header's __metadata__ is not a JSON object")
    text = meta.get("convzoo")
    if text is None:
        raise RejectedFile(path, "no convzoo metadata in its header: it was not written by `convzoo train`")
    if not isinstance(text, str) or len(text) > MAX_METADATA_CHARS:
        raise RejectedFile(
            path, f"the convzoo metadata must be a JSON string of at most {MAX_METADATA_CHARS} chars"
        )
    return parse_run_metadata(_parse_json(text, path, "the convzoo metadata"), path)


def _state_bytes(model: nn.Module) -> int:
    return sum(t.numel() * t.element_size() for t in model.state_dict().values())


def build_model_from_metadata(
    meta: RunMetadata, model: str | None = None, source: str | Path = "", weights_bytes: int | None = None
) -> nn.Module:
    """The model ``meta`` (read from ``source``) describes: its registered name with its validated overrides.

    ``model`` is the user's own choice (typed on the command line or passed in Python), which may be a
    ``package.module:function``; a file never names code to import, so a file that names an unregistered
    model needs it. With ``weights_bytes`` (the size of the weights file), the model is first built on the
    meta device and refused if its weights would not fit in that file, so overrides read from a file cannot
    make it allocate more memory than the file holds.
    """
    if model is None and not meta.registered:
        raise RejectedFile(
            Path(source),
            f"it names the model {meta.model!r}, which is not a registered convzoo model; "
            "convzoo never imports code named by a file. If you trained it with your own model function, "
            f"pass --model {meta.model} (model=... in Python) to use it",
        )

    def build() -> nn.Module:
        if model is not None:
            from convzoo.train.parts import build_model

            return build_model(model, meta.num_classes, meta.in_chans, **meta.model_kwargs)
        from convzoo.registry import create_model

        return create_model(
            meta.model, num_classes=meta.num_classes, in_chans=meta.in_chans, **meta.model_kwargs
        )

    try:
        if weights_bytes is not None:
            with torch.device("meta"):
                need = _state_bytes(build())
            if need > weights_bytes:
                raise RejectedFile(
                    Path(source),
                    f"the model its metadata describes ({model or meta.model}, "
                    f"{meta.model_kwargs}) has {need} bytes of weights, more than the {weights_bytes}-byte file",
                )
        return build()
    except (TypeError, ValueError, KeyError) as e:
        if isinstance(e, RejectedFile):
            raise
        raise RejectedFile(
            Path(source), f"cannot build the model {model or meta.model!r} it describes: {e}"
        ) from e


# --- tensors


def nonfinite_tensors(tensors: Mapping[str, torch.Tensor]) -> list[str]:
    """The names of the floating-point tensors holding a NaN or an infinity."""
    return [k for k, t in tensors.items() if t.is_floating_point() and not bool(torch.isfinite(t).all())]


def check_weights(model: nn.Module, tensors: Mapping[str, torch.Tensor], source: str | Path) -> None:
    """Refuse tensors read from ``source`` whose dtype differs from the model's or that are not finite.

    Missing, unexpected and misshapen tensors are left to the strict loader, which lists them.
    """
    own = model.state_dict()
    wrong = [
        f"{k} ({t.dtype} for {own[k].dtype})"
        for k, t in tensors.items()
        if k in own and t.dtype != own[k].dtype
    ]
    if wrong:
        raise RejectedFile(
            source,
            f"tensors of the wrong dtype (never cast silently): {', '.join(wrong[:5])}"
            + (f" and {len(wrong) - 5} more" if len(wrong) > 5 else ""),
        )
    bad = nonfinite_tensors(tensors)
    if bad:
        raise RejectedFile(
            source,
            f"non-finite weights (NaN or infinity) in {', '.join(bad[:5])}"
            + (f" and {len(bad) - 5} more" if len(bad) > 5 else ""),
        )


# --- training state and run config


def check_torch_archive(path: Path) -> None:
    """A ``torch.save`` zip archive whose entries are all stored uncompressed, so that loading it allocates
    at most the file's size (a deflated entry can expand a thousandfold: a zip bomb).
    """
    try:
        size = path.stat().st_size if path.is_file() else -1
    except OSError as e:
        raise RejectedFile(path, f"cannot read the training state: {e.strerror or e}") from e
    if size < 0:
        raise RejectedFile(path, "the training state is missing or not a regular file")
    if size > MAX_STATE_BYTES:
        raise RejectedFile(
            path, f"the training state is {size} bytes, more than the {MAX_STATE_BYTES} allowed"
        )
    try:  # the central directory is capped before zipfile reads it whole (convzoo.trust_read)
        entries = zip_entries(path, what="zip archive")
    except RejectedFile as e:
        raise RejectedFile(path, f"not a torch.save archive ({e.cause})") from None
    packed = [
        i.filename for i in entries if i.compress_type != zipfile.ZIP_STORED or i.file_size != i.compress_size
    ]
    if packed or sum(i.file_size for i in entries) > size:
        raise RejectedFile(
            path,
            f"the training state has compressed or oversized entries ({', '.join(packed[:3]) or 'sizes'}); "
            "torch.save stores them uncompressed, and convzoo allocates no more than a file holds",
        )


def _torch_load(path: Path) -> Any:
    check_torch_archive(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise RejectedFile(
            path,
            "refusing to load it: it holds Python objects other than tensors and plain data, which could "
            "run code when unpickled. convzoo only loads weights_only checkpoints; never load it with "
            "weights_only=False unless you wrote it yourself",
        ) from e
    except Exception as e:  # noqa: BLE001  the boundary: any failure to parse foreign bytes is a refusal
        raise RejectedFile(path, f"not a readable training state ({type(e).__name__}: {str(e)[:200]})") from e


def _typed(state: Mapping[str, Any], key: str, kind: type | tuple[type, ...], path: Path, what: str) -> Any:
    v = _get(state, key, path, what)
    if not isinstance(v, kind) or isinstance(v, bool) and kind is not bool:
        name = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise RejectedFile(path, f"{what} field {key!r} must be a {name}, not {type(v).__name__}")
    return v


def read_train_state(path: str | Path) -> dict[str, Any]:
    """A checkpoint's ``state.pt``, read with ``torch.load(weights_only=True)`` and validated.

    Required: ``format``, ``metadata`` (see :func:`parse_run_metadata`), ``optimizer`` and ``schedule``
    state dicts, ``loop`` (``global_step`` and ``save_index`` integers ≥ 0, ``epoch_sums`` numbers,
    ``epoch_time`` ≥ 0, and ``wall_s`` ≥ 0 where present), ``metrics`` (a list of dicts), ``best`` (a number)
    and ``config`` (a dict). Other keys (``scaler``, ``lookahead``...) must be dicts when present.
    Raises :class:`RejectedFile`.
    """
    path, what = Path(path), "the training state"
    state = _torch_load(path)
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise RejectedFile(path, f"not a convzoo training state ({CHECKPOINT_FORMAT})")
    parse_run_metadata(_typed(state, "metadata", dict, path, what), path)
    for key in ("optimizer", "schedule", "loop", "config"):
        _typed(state, key, dict, path, what)
    for key in ("scaler", "lookahead"):
        if state.get(key) is not None:
            _typed(state, key, dict, path, what)
    loop, lw = state["loop"], "the training state's loop"
    _int_field(loop, "global_step", path, lw, 0, 2**62)
    _int_field(loop, "save_index", path, lw, 0, 2**62)
    sums = _typed(loop, "epoch_sums", list, path, lw)
    if len(sums) > MAX_LIST or not all(_is_float(v) for v in sums):
        raise RejectedFile(path, f"{lw} field 'epoch_sums' must be a short list of finite numbers")
    for key in ("epoch_time", "wall_s"):  # wall_s: absent from checkpoints written before it was kept
        if (key == "epoch_time" or key in loop) and not (_is_float(loop.get(key)) and loop[key] >= 0):
            raise RejectedFile(path, f"{lw} field '{key}' must be a number ≥ 0")
    metrics = _typed(state, "metrics", list, path, what)
    if not all(isinstance(r, dict) for r in metrics):
        raise RejectedFile(path, f"{what} field 'metrics' must be a list of dicts (one per evaluation)")
    best = _typed(state, "best", (float, int), path, what)
    if math.isnan(best):
        raise RejectedFile(path, f"{what} field 'best' is NaN")
    return state


def read_run_config(path: str | Path) -> dict[str, Any]:
    """A run's ``config.json`` as a dict (size-capped, a JSON object); raises :class:`RejectedFile`."""
    path = Path(path)
    cfg = _parse_json(_read_capped(path, MAX_CONFIG_BYTES, "the run config"), path, "the run config")
    if not isinstance(cfg, dict):
        raise RejectedFile(path, f"the run config must be a JSON object, not {type(cfg).__name__}")
    return cfg


# --- the latest-checkpoint pointer


def latest_pointer_target(folder: str | Path) -> Path | None:
    """The checkpoint folder named by ``folder/latest``, or None when there is no pointer file.

    The pointer must hold exactly a checkpoint name ``ckpt_NNNNNN`` (an optional final newline): no path
    separators, no ``..``, no absolute path, so the target always stays inside ``folder``. Whether the target
    exists and is complete is the caller's question. Raises :class:`RejectedFile` for any other content.
    """
    pointer = Path(folder) / "latest"
    if not pointer.exists() and not pointer.is_symlink():
        return None
    if pointer.is_file():  # a link may point inside the folder, never out of it
        from convzoo.trust_write import UnsafePath, check_inside

        try:
            check_inside(folder, pointer)
        except UnsafePath as e:
            raise RejectedFile(pointer, e.cause) from None
    data = _read_capped(pointer, MAX_POINTER_BYTES, "checkpoint pointer")
    text = data.decode("ascii", errors="replace")
    name = text[:-1] if text.endswith("\n") else text
    if not CHECKPOINT_NAME.fullmatch(name):
        raise RejectedFile(
            pointer, f"a checkpoint pointer must hold a name like ckpt_000001, not {text[:40]!r}"
        )
    return Path(folder) / name
