"""The model registry: every network with the paper it comes from and the figures that paper reports.

A variant is a small function decorated with :func:`register_model`::

    @register_model(paper=ALEXNET_PAPER, input_size=(3, 227, 227), reported={"params": "60M"},
                    note="...", table="Section 3.5")
    def alexnet(num_classes: int = 1000, in_chans: int = 3, dropout: float = 0.5) -> AlexNet:
        '''AlexNet ...'''
        return AlexNet(num_classes=num_classes, in_chans=in_chans, dropout=dropout)

Reported figures are written as the paper writes them (``"60M"``, ``"0.27M"``, ``"4.09G"``, ``138357544``):
the number of digits given sets the tolerance that :mod:`convzoo.inspect.paper_check` allows.
"""

from __future__ import annotations

import difflib
import fnmatch
import functools
import hashlib
import inspect
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import nn

__all__ = [
    "Paper",
    "ModelInfo",
    "Reported",
    "Figure",
    "figure_bound",
    "register_model",
    "create_model",
    "list_models",
    "model_info",
    "model_meta",
    "parse_figure",
    "register_weights_loader",
    "weights_meta",
    "UnknownModelError",
    "BlockInfo",
    "register_block",
    "list_blocks",
    "block_info",
]


@dataclass(frozen=True)
class Paper:
    """A paper a model comes from."""

    authors: str
    title: str
    year: int
    arxiv: str | None = None
    url: str | None = None

    def cite(self) -> str:
        ref = f"arXiv:{self.arxiv}" if self.arxiv else (self.url or "")
        return f"{self.authors} ({self.year}). {self.title}. {ref}".strip()


_SUFFIX = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "B": 10**9}
_FIGURE = re.compile(r"^\s*[<>]?\s*([0-9]*\.?[0-9]+)\s*([KMGB]?)\s*$", re.IGNORECASE)


def parse_figure(value: str | int | float) -> tuple[float, float]:
    """Parse a reported figure into (value, tolerance), the tolerance being half a unit of its last digit.

    >>> parse_figure("0.27M")
    (270000.0, 5000.0)
    >>> parse_figure(138357544)
    (138357544.0, 0.5)
    """
    if isinstance(value, bool):
        raise TypeError("a reported figure must be a number or a string like '0.27M'")
    if isinstance(value, int):
        return float(value), 0.5
    if isinstance(value, float):
        text = repr(value)
    else:
        text = value
    m = _FIGURE.match(text)
    if not m:
        raise ValueError(
            f"cannot parse reported figure {value!r}; write it like 138357544, '0.27M' or '4.09G'"
        )
    digits, suffix = m.group(1), m.group(2).upper()
    scale = _SUFFIX[suffix]
    decimals = len(digits.split(".")[1]) if "." in digits else 0
    return float(digits) * scale, 0.5 * 10.0 ** (-decimals) * scale


def figure_bound(value: str | int | float) -> str | None:
    """``"<"`` or ``">"`` for a figure written as a bound (Inception-v3's "less than 25 million": ``"<25M"``)."""
    text = str(value).strip()
    return text[0] if text[:1] in ("<", ">") else None


@dataclass(frozen=True)
class Figure:
    """One published count with its provenance. A paper's figure names its table or section in ``source``;
    a peer library's figure (``peer=True``) names the library and version: a parity check, not the paper's."""

    figure: str  # "params" or "macs"
    value: str | int  # as published: 25557032, "1.5G", "<25M"
    source: str
    peer: bool = False
    note: str | None = None  # why ours differs, where it does
    # create_model overrides of the network the figure counts, where it is not the default one: Inception-v3's
    # abstract bounds the inference net, without the auxiliary head: (("aux_logits", False),)
    config: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class Reported:
    """Figures a paper reports for a model. Accuracies are in percent; any field may be missing.

    ``params`` and ``macs`` are the paper's, from ``source``; ``figures`` adds counts with their own
    provenance (another table of the paper, or a peer library's exact count marked ``peer=True``).
    """

    params: str | int | None = None
    macs: str | int | None = None
    top1_err: float | None = None
    top5_err: float | None = None
    cifar10_err: float | None = None
    cifar100_err: float | None = None
    source: str | None = None  # where in the paper, e.g. "Table 6"
    figures: tuple[Figure, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in asdict(self).items() if v is not None and v != ()}
        if "figures" in d:  # a figure of the default network lists no config
            d["figures"] = [{k: v for k, v in f.items() if k != "config" or v} for f in d["figures"]]
        return d


@dataclass
class ModelInfo:
    """What the registry knows about one model."""

    name: str
    family: str
    paper: Paper
    input_size: tuple[int, int, int]
    num_classes: int
    reported: Reported
    note: str | None
    description: str
    fn: Callable[..., nn.Module] = field(repr=False)
    accepts: tuple[str, ...] = ()
    accepts_from: tuple[Callable[..., Any], ...] = field(default=(), repr=False)  # whose signatures declare them

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "family": self.family,
            "description": self.description,
            "paper": asdict(self.paper),
            "citation": self.paper.cite(),
            "input_size": list(self.input_size),
            "num_classes": self.num_classes,
            "reported": self.reported.as_dict(),
            "note": self.note,
            "overrides": list(self.accepts),
        }


_REGISTRY: dict[str, ModelInfo] = {}


class UnknownModelError(KeyError):
    """Raised for a model name that is not registered; the message suggests the closest names."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


def _accepted_kwargs(fn: Callable[..., Any], accepts: Callable[..., Any] | None) -> tuple[str, ...]:
    names: list[str] = []
    has_var_kw = False
    for target in (fn, accepts):
        if target is None:
            continue
        for p in inspect.signature(target).parameters.values():
            if p.kind is p.VAR_KEYWORD:
                has_var_kw = True
            elif (
                p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
                and p.name not in names
                and p.name != "self"
            ):
                names.append(p.name)
    if has_var_kw and accepts is None:
        raise TypeError(
            f"{fn.__name__} takes **kwargs: pass accepts=<the class or function they go to> to register_model "
            "so the registry can name the overrides it takes"
        )
    return tuple(names)


def register_model(
    *,
    paper: Paper,
    input_size: tuple[int, int, int] = (3, 224, 224),
    num_classes: int = 1000,
    reported: Reported | dict[str, Any] | None = None,
    note: str | None = None,
    family: str | None = None,
    accepts: Callable[..., Any] | None = None,
    name: str | None = None,
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Register a model-building function under its name (or ``name``).

    ``note`` records every deliberate difference from the paper; ``paper-check`` prints it.
    ``accepts``: where the function forwards ``**kwargs``, the callable that receives them.
    """
    rep = reported if isinstance(reported, Reported) else Reported(**(reported or {}))
    for key in ("params", "macs"):
        value = getattr(rep, key)
        if value is not None:
            parse_figure(value)
    for fig in rep.figures:
        if fig.figure not in ("params", "macs") or not fig.source:
            raise ValueError(f"a reported Figure counts 'params' or 'macs' and names its source, got {fig!r}")
        parse_figure(fig.value)

    def decorator(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        model_name = name or fn.__name__
        if model_name in _REGISTRY:
            raise ValueError(f"model {model_name!r} is registered twice")
        doc = inspect.getdoc(fn) or ""
        if not doc:
            raise ValueError(f"model {model_name!r} needs a docstring that cites its paper")
        fam = family or fn.__module__.rsplit(".", 1)[-1]
        _REGISTRY[model_name] = ModelInfo(
            name=model_name,
            family=fam,
            paper=paper,
            input_size=tuple(input_size),  # type: ignore[arg-type]
            num_classes=num_classes,
            reported=rep,
            note=note,
            description=doc.splitlines()[0],
            fn=fn,
            accepts=_accepted_kwargs(fn, accepts),
            accepts_from=(fn,) if accepts is None else (fn, accepts),
        )
        return fn

    return decorator


_WEIGHTS_LOADER: Callable[..., nn.Module] | None = None


def register_weights_loader(loader: Callable[..., nn.Module]) -> None:
    """Where ``create_model(name, weights=source)`` goes: ``loader(name, source, **overrides)`` builds the model
    and loads the source's weights. :mod:`convzoo.hub` registers its own on import, so the registry (the
    ground floor) never imports the floor above it."""
    global _WEIGHTS_LOADER
    _WEIGHTS_LOADER = loader


def _ensure_loaded() -> None:
    import convzoo.models  # noqa: F401  (importing the package registers every family)


def _check_counts(**counts: int | None) -> None:
    """``num_classes`` and ``in_chans`` are whole numbers >= 1 (None: the model's default)."""
    for key, value in counts.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(f"{key} must be a whole number >= 1, got {value!r}")


def _closest(name: str, n: int = 5) -> list[str]:
    names = sorted(set(_REGISTRY) | set(_index() or ()))
    close = difflib.get_close_matches(name, names, n=n, cutoff=0.5)
    if len(close) < n:
        low = name.lower().replace("-", "").replace("_", "")
        close += [k for k in names if low and low in k.replace("_", "") and k not in close][: n - len(close)]
    return close


def model_info(name: str) -> ModelInfo:
    """Paper, default input size, reported figures and notes of a registered model."""
    _ensure_loaded()
    try:
        return _REGISTRY[name]
    except KeyError:
        close = _closest(name)
        hint = f" Did you mean: {', '.join(close)}?" if close else " Run `convzoo list` to see every model."
        raise UnknownModelError(f"unknown model {name!r}.{hint}") from None


def list_models(pattern: str = "*", family: str | None = None) -> list[str]:
    """Names of registered models matching a shell-style pattern (``"vgg*"``), sorted.

    Read from the shipped index where it is current (no model code imported), else from the families."""
    index = _index()
    if index is None:
        _ensure_loaded()
    families = {k: v["family"] for k, v in (index or {}).items()} | {k: v.family for k, v in _REGISTRY.items()}
    return sorted(
        k for k, fam in families.items() if fnmatch.fnmatchcase(k, pattern) and (family is None or fam == family)
    )


def model_meta(name: str) -> ModelInfo:
    """What :func:`model_info` returns, read from the shipped index where it is current, so that reading a
    model's paper and figures imports neither torch nor the model's code (``convzoo list`` and ``info``).

    The returned ``fn`` builds the model (importing the families then); ``accepts_from`` is empty: use
    :func:`model_info` to inspect the signatures behind ``accepts``."""
    if name in _REGISTRY:
        return _REGISTRY[name]
    index = _index()
    if index is None:
        return model_info(name)  # no current index: the families themselves
    if name not in index:
        close = _closest(name)
        hint = f" Did you mean: {', '.join(close)}?" if close else " Run `convzoo list` to see every model."
        raise UnknownModelError(f"unknown model {name!r}.{hint}")
    return _info_from_dict(index[name])


def weights_meta(name: str) -> list[dict[str, Any]] | None:
    """The pretrained weights of ``name`` as ``WeightSource.to_dict()`` gives them, from the shipped index;
    None where the index is not current (ask :func:`convzoo.hub.weight_sources` then)."""
    index = _index()
    if index is None or name not in index:
        return None
    return list(index[name].get("weights", []))


# --- the shipped index ------------------------------------------------------------------------------------------
# models/index.json holds every model's ModelInfo.to_dict() and its weights, written by
# `python -m convzoo.models._index` from the families themselves. It is used only while the code that decides it
# is unchanged (the fingerprint); otherwise the families are imported, as before. A test keeps it current.

INDEX_PATH = Path(__file__).parent / "models" / "index.json"
INDEX_SOURCES = ("registry.py", "models/*.py", "hub/sources.py")  # relative to the package
MAX_INDEX_BYTES = 16 << 20


def index_fingerprint(sources: tuple[str, ...] = INDEX_SOURCES) -> str:
    """SHA-256 over the files whose code decides an index (the package's files matching ``sources``): by
    default the model index's, the registry, every family, the weight sources."""
    root = Path(__file__).parent
    digest = hashlib.sha256()
    for path in sorted({p for pattern in sources for p in root.glob(pattern)}):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


@functools.cache
def _index() -> dict[str, dict[str, Any]] | None:
    """The shipped index by model name, or None where it is missing, unreadable or older than the code."""
    from convzoo.trust_read import read_json

    try:
        data = read_json(INDEX_PATH, cap_bytes=MAX_INDEX_BYTES, what="the model index")
        if data["fingerprint"] != index_fingerprint():
            return None
        return dict(data["models"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _info_from_dict(d: dict[str, Any]) -> ModelInfo:
    """The inverse of :meth:`ModelInfo.to_dict` (the index's entries), with a ``fn`` that builds on call."""
    rep = dict(d["reported"])
    figures = tuple(
        Figure(**{**f, "config": tuple(tuple(kv) for kv in f.get("config", ()))}) for f in rep.pop("figures", ())
    )
    return ModelInfo(
        name=d["name"],
        family=d["family"],
        paper=Paper(**d["paper"]),
        input_size=tuple(d["input_size"]),  # type: ignore[arg-type]
        num_classes=d["num_classes"],
        reported=Reported(**rep, figures=figures),
        note=d["note"],
        description=d["description"],
        fn=functools.partial(_build_registered, d["name"]),
        accepts=tuple(d["overrides"]),
    )


def _build_registered(name: str, **kwargs: Any) -> nn.Module:
    return model_info(name).fn(**kwargs)


def create_model(
    name: str,
    num_classes: int | None = None,
    in_chans: int | None = None,
    *,
    weights: str | None = None,
    **overrides: Any,
) -> nn.Module:
    """Build a registered model. ``overrides`` are the keyword arguments its registry entry accepts.

    ``weights="torchvision"`` (or ``"timm"``) builds the configuration those pretrained weights belong to and
    loads them (downloaded once, verified); with another ``num_classes`` only the backbone is loaded.
    Wrap the call in ``with torch.device("meta"):`` to build without allocating weights.
    """
    _check_counts(num_classes=num_classes, in_chans=in_chans)
    if weights is not None:
        _ensure_loaded()  # the families declare their weight sources, and convzoo.hub registers its loader
        if _WEIGHTS_LOADER is None:
            raise RuntimeError("no pretrained-weights loader is registered (importing convzoo.hub registers it)")
        extra = {k: v for k, v in (("num_classes", num_classes), ("in_chans", in_chans)) if v is not None}
        return _WEIGHTS_LOADER(name, weights, **extra, **overrides)
    info = model_info(name)
    kwargs = dict(overrides)
    if num_classes is not None:
        kwargs["num_classes"] = num_classes
    if in_chans is not None:
        kwargs["in_chans"] = in_chans
    unknown = sorted(set(kwargs) - set(info.accepts))
    if unknown:
        close = {k: difflib.get_close_matches(k, info.accepts, n=1, cutoff=0.6) for k in unknown}
        hints = [
            f"{k!r}: did you mean {c[0]}?" if len(unknown) > 1 else f"did you mean {c[0]}?"
            for k, c in close.items()
            if c
        ]
        raise TypeError(
            f"model {name!r} does not take {', '.join(map(repr, unknown))}"
            + (f" ({'; '.join(hints)})" if hints else "")
            + f"; it takes: {', '.join(info.accepts) or 'no overrides'}"
        )
    model = info.fn(**kwargs)
    model.convzoo_name = name  # type: ignore[assignment]
    return model


@dataclass(frozen=True)
class BlockInfo:
    """A lecture building block (an Inception module, a factorized convolution...) that `summary` can show."""

    name: str
    input_size: tuple[int, int, int]
    description: str
    fn: Callable[[], nn.Module] = field(repr=False)


_BLOCKS: dict[str, BlockInfo] = {}


def register_block(*, input_size: tuple[int, int, int], name: str | None = None) -> Callable[..., Any]:
    """Register a zero-argument function building a block, with the input the lecture feeds it.

    Blocks are not classifiers: they are not in `list_models`, but `summary` and `convzoo summary` show them.
    """

    def decorator(fn: Callable[[], nn.Module]) -> Callable[[], nn.Module]:
        block_name = name or fn.__name__
        if block_name in _BLOCKS or block_name in _REGISTRY:
            raise ValueError(f"block {block_name!r} is registered twice")
        doc = (inspect.getdoc(fn) or "").splitlines()
        _BLOCKS[block_name] = BlockInfo(block_name, tuple(input_size), doc[0] if doc else "", fn)  # type: ignore[arg-type]
        return fn

    return decorator


def list_blocks(pattern: str = "*") -> list[str]:
    """Names of registered lecture building blocks."""
    _ensure_loaded()
    return sorted(k for k in _BLOCKS if fnmatch.fnmatchcase(k, pattern))


def block_info(name: str) -> BlockInfo:
    _ensure_loaded()
    try:
        return _BLOCKS[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(_BLOCKS), n=5, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise UnknownModelError(f"unknown block {name!r}.{hint}") from None
