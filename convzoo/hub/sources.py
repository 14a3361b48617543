"""Weight sources: which peer file loads into which convzoo configuration, and what its provider publishes.

Each family registers its sources with :func:`register_weights`: the peer's model name, the key mapping, the
file's URL and checksum, and the exact configuration (``create_model`` overrides such as ``v1_5=True``) the
weights belong to. Provider metadata — published accuracy, file size, preprocessing, class names, license —
is read from the provider's own installed package (torchvision's weight enums) or, where the provider's
package is optional (timm), pinned here from timm's pretrained config and its published results table and
checked against them by a test.

A source is named by its provider, alone for the weights the provider's ``pretrained=True`` gives
(``"torchvision"``: IMAGENET1K_V1; ``"timm"``: timm's default tag) and with a suffix for the others
(``"torchvision.v2"``, ``"timm.ra_in1k"``); :func:`find_source` also takes each source's ``aliases``.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import os
import re
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import torch

from convzoo.hub.download import Checksum

__all__ = [
    "Preprocess",
    "WeightSource",
    "convert_state_dict",
    "find_source",
    "register_weights",
    "registered_sources",
    "rename_keys",
    "weight_sources",
]

StateDict = dict[str, torch.Tensor]
Converter = Callable[[Mapping[str, torch.Tensor]], StateDict]

TORCHVISION_LICENSE = "BSD-3-Clause"  # torchvision's license; it states no other for its weights


@dataclass(frozen=True)
class Preprocess:
    """What a source's weights expect: resize the shorter side, centre-crop, scale to [0, 1], normalize."""

    resize: int
    crop: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str = "bilinear"  # or "bicubic"
    source: str = ""  # where these values come from

    def transform(self) -> Callable[[Any], torch.Tensor]:
        """A torchvision transform: PIL image (resized by PIL, as torchvision's preset does) or uint8 CHW tensor →
        normalized float CHW tensor."""
        from torchvision.transforms import InterpolationMode, v2

        return v2.Compose(  # the order and arguments of torchvision's ImageClassification preset
            [
                v2.Resize(self.resize, interpolation=InterpolationMode(self.interpolation), antialias=True),
                v2.CenterCrop(self.crop),
                v2.ToImage(),
                v2.ToDtype(torch.float32, scale=True),
                v2.Normalize(list(self.mean), list(self.std)),
            ]
        )

    def load(self, path: str | os.PathLike[str]) -> torch.Tensor:
        """One image file, converted to RGB and transformed; an unreadable file, or one too large or thin for
        the resize, raises :class:`convzoo.trust_image.BadImageError` (a ``ValueError``) naming it."""
        from convzoo.trust_image import load_image

        img = load_image(path, "RGB", short_side=self.resize)  # before torchvision's import, for a quick refusal
        return self.transform()(img)


@dataclass(frozen=True)
class KnownFile:
    """Another published file that holds the same weights as a source's own (a re-host, another format): a
    file whose SHA-256 matches is recognised as that source's weights (:mod:`convzoo.hub.identify`)."""

    sha256: str  # full hex digest or the publisher's prefix (at least 8 hex digits)
    what: str  # which file, and where its digest is published

    def matches(self, digest: str) -> bool:
        return digest.startswith(self.sha256.lower())


@dataclass(frozen=True)
class WeightSource:
    """One pretrained file of a peer library and the convzoo configuration it loads into."""

    model: str
    source: str  # "torchvision", "torchvision.v2", "timm", "timm.ra_in1k", ...: provider, then which weights
    peer_name: str  # the peer's model name, e.g. "resnet50"
    convert: Converter
    url: str | None = None
    sha256: str | None = None  # full hex digest or the publisher's prefix (torchvision: 8 hex digits)
    config: Mapping[str, Any] = field(default_factory=dict)  # create_model overrides the weights belong to
    checksum: Checksum | None = None
    top1: float | None = None  # provider-published ImageNet-1k accuracies, percent (from the provider)
    top5: float | None = None
    file_size: int | None = None  # bytes, as published (see size_source); computed from the tensors otherwise
    preprocess: Preprocess | None = None
    license: str | None = None
    metric_source: str = ""
    weights_name: str = ""  # the provider's own name: "ResNet50_Weights.IMAGENET1K_V2", "resnet50.a1_in1k"
    aliases: tuple[str, ...] = ()  # other names find_source accepts, e.g. "timm.a1_in1k" for "timm"
    size_source: str = ""  # where file_size comes from; "" when computed from the tensors
    size_slack: int | None = None  # bytes either side of file_size that the publisher's rounding allows
    known_files: tuple[KnownFile, ...] = ()  # other published files of the same weights

    @property
    def provider(self) -> str:
        """The library that publishes the weights: "torchvision" or "timm"."""
        return self.source.split(".", 1)[0]

    def create_call(self, **extra: Any) -> str:
        """The ``create_model`` call that builds this configuration, e.g. ``create_model('resnet50', v1_5=True)``."""
        args = [repr(self.model), *(f"{k}={v!r}" for k, v in {**self.config, **extra}.items())]
        return f"create_model({', '.join(args)})"

    def describe(self) -> str:
        """``"torchvision's ResNet50_Weights.IMAGENET1K_V2 (source 'torchvision.v2')"``."""
        return f"{self.provider}'s {self.weights_name or self.peer_name} (source {self.source!r})"

    def lines(self) -> list[str]:
        """What ``convzoo summary --weights`` prints above the table: whose weights, how they were measured,
        the preprocessing they expect, the file."""
        p = self.preprocess
        acc = "no accuracy published" if self.top1 is None else (
            f"ImageNet-1k top-1 {self.top1:.2f}%" + ("" if self.top5 is None else f", top-5 {self.top5:.2f}%")
            + f" ({self.metric_source})"
        )  # fmt: skip
        size = "" if self.file_size is None else (
            f"{'' if self.size_source else '≈'}{self.file_size / 2**20:.1f} MiB, "
        )  # fmt: skip
        return [
            f"weights: {self.describe()}, loaded by convzoo.{self.create_call()}",
            f"  {acc}",
            "  preprocessing: none published" if p is None else (
                f"  preprocessing: resize the shorter side to {p.resize} ({p.interpolation}), centre-crop {p.crop}, "
                f"mean {_short(p.mean)}, std {_short(p.std)} ({p.source})"
            ),
            f"  file: {size}{self.license or 'license not stated'}, {self.url or 'no download (a mapping only)'}",
        ]  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        """Everything a user needs to judge the weights, as JSON-ready values."""
        return {
            "model": self.model,
            "source": self.source,
            "provider": self.provider,
            "weights_name": self.weights_name,
            "aliases": list(self.aliases),
            "peer_name": self.peer_name,
            "config": dict(self.config),
            "create": self.create_call(),
            "url": self.url,
            "checksum": (self.checksum.sha256 or "published by the server") if self.checksum else None,
            "checksum_provenance": self.checksum.provenance if self.checksum else None,
            "known_files": [{"sha256": k.sha256, "what": k.what} for k in self.known_files],
            "top1": self.top1,
            "top5": self.top5,
            "metric_source": self.metric_source,
            "file_size": self.file_size,
            "size_source": self.size_source or (
                "computed from the tensors; the publisher lists no size" if self.file_size else None
            ),
            "license": self.license,
            "preprocess": None if self.preprocess is None else {
                k: getattr(self.preprocess, k) for k in ("resize", "crop", "mean", "std", "interpolation", "source")
            },
        }  # fmt: skip


_SOURCES: dict[tuple[str, str], WeightSource] = {}
_ALIASES: dict[tuple[str, str], str] = {}  # (model, alias) -> source


@dataclass(frozen=True)
class Accuracy:
    """A provider's published ImageNet-1k validation accuracy and the evaluation it was measured with: the
    image size, crop_pct and interpolation must be the source's own preprocessing (checked at registration)."""

    top1: float
    top5: float
    img_size: int
    crop_pct: float
    interpolation: str
    where: str


# timm publishes its accuracies outside the package, in the repository's results table.
TIMM_RESULTS = "huggingface/pytorch-image-models results/results-imagenet.csv (commit aa4b585)"


def timm_accuracy(top1: float, top5: float, img_size: int, crop_pct: float, interpolation: str) -> Accuracy:
    """A row of timm's results table (model, img_size, top1, top5, crop_pct, interpolation)."""
    return Accuracy(top1, top5, img_size, crop_pct, interpolation, TIMM_RESULTS)


def published_size(text: str, where: str) -> tuple[int, int, str]:
    """(bytes, slack, provenance) of a size a publisher prints rounded, e.g. "102 MB" on a Hugging Face file
    page (decimal units): the slack is one unit of the last printed digit, twice the rounding."""
    number, unit = text.split()
    scale = {"kB": 10**3, "MB": 10**6, "GB": 10**9}[unit]
    decimals = len(number.partition(".")[2])
    return round(float(number) * scale), round(scale / 10**decimals), f"{where}: {text} (rounded)"


def register_weights(
    model: str,
    source: str,
    peer_name: str,
    convert: Converter | Sequence[tuple[str, str]] = (),
    url: str | None = None,
    sha256: str | None = None,
    *,
    config: Mapping[str, Any] | None = None,
    sha256_from_server: bool = False,
    checksum_provenance: str | None = None,
    preprocess: Preprocess | None = None,
    license: str | None = None,
    weights_name: str = "",
    aliases: Sequence[str] = (),
    accuracy: Accuracy | None = None,
    size: tuple[int, int, str] | None = None,
    known_files: Sequence[KnownFile] = (),
) -> None:
    """Declare that ``source``'s ``peer_name`` weights load into ``create_model(model, **config)``.

    A downloadable source must be verifiable: ``sha256`` (full, or the prefix in the publisher's file name)
    or ``sha256_from_server=True`` (the Hugging Face hub publishes each LFS file's full SHA-256).
    ``checksum_provenance`` says where a full ``sha256`` was published. ``accuracy``: the provider's figure
    with the evaluation it used, which must be ``preprocess``'s; ``size``: :func:`published_size`;
    ``known_files``: other published files of the same weights, recognised by their digest.
    """
    conv = convert if callable(convert) else _rules_converter(tuple(convert))
    checksum = None
    if url is not None:
        if sha256 is None and not sha256_from_server:
            raise ValueError(
                f"{model!r} {source!r} weights at {url} need a checksum (sha256= or sha256_from_server)"
            )
        checksum = Checksum(sha256, sha256_from_server, checksum_provenance or _provenance(url, sha256))
    if accuracy is not None:
        _check_accuracy_conditions(model, source, accuracy, preprocess)
    file_size, slack, size_source = size if size is not None else (None, None, "")
    _SOURCES[(model, source)] = WeightSource(
        model, source, peer_name, conv, url, sha256, MappingProxyType(dict(config or {})), checksum,
        top1=accuracy.top1 if accuracy else None, top5=accuracy.top5 if accuracy else None,
        file_size=file_size, preprocess=preprocess, license=license,
        metric_source="" if accuracy is None else (
            f"{accuracy.where}: {accuracy.img_size} px, crop_pct {accuracy.crop_pct}, {accuracy.interpolation}"
        ),
        weights_name=weights_name, aliases=tuple(aliases), size_source=size_source, size_slack=slack,
        known_files=tuple(known_files),
    )  # fmt: skip
    for alias in aliases:
        _ALIASES[(model, alias)] = source


def _check_accuracy_conditions(model: str, source: str, acc: Accuracy, pre: Preprocess | None) -> None:
    """A published accuracy belongs with the source only if it was measured with the source's preprocessing."""
    if pre is None or (pre.crop, pre.resize, pre.interpolation) != (
        acc.img_size, math.floor(acc.img_size / acc.crop_pct), acc.interpolation
    ):
        raise ValueError(
            f"{model!r} {source!r}: the accuracy was measured at {acc.img_size} px, crop_pct {acc.crop_pct}, "
            f"{acc.interpolation}, which is not the source's preprocessing {pre}"
        )


def _provenance(url: str, sha256: str | None) -> str:
    name = urllib.parse.urlparse(url).path.rsplit("/", 1)[-1]
    if sha256 is None:
        return (
            "full SHA-256 the Hugging Face hub publishes for the file (X-Linked-Etag of the LFS object), "
            "required and checked at download; not pinned in convzoo (no installed package records it)"
        )
    if len(sha256) == 64:
        return "full SHA-256 pinned in convzoo"
    if f"-{sha256}" in name:
        return (
            f"the {len(sha256)}-hex-digit SHA-256 prefix in the publisher's file name (torch.hub's convention): "
            f"{4 * len(sha256)} bits, which catches corruption but not a deliberate collision; the publisher "
            "gives no full digest"
        )
    return f"{len(sha256)}-hex-digit SHA-256 prefix pinned in convzoo"


def weight_sources(model: str | None = None) -> list[WeightSource]:
    """Registered weight sources, all or those of one model, with their provider's metadata filled in."""
    import convzoo.models  # noqa: F401

    return [_with_provider_meta(s) for (m, _), s in sorted(_SOURCES.items()) if model is None or m == model]


def registered_sources() -> list[WeightSource]:
    """Every registered source as declared (checksums, known files), without the provider's metadata."""
    import convzoo.models  # noqa: F401

    return list(_SOURCES.values())


def find_source(model: str, source: str) -> WeightSource:
    """The registered ``source`` weights of ``model`` (a source's name or one of its aliases), or an error
    naming what exists."""
    import convzoo.models  # noqa: F401

    source = _ALIASES.get((model, source), source)
    try:
        return _with_provider_meta(_SOURCES[(model, source)])
    except KeyError:
        have = sorted(s for (m, s) in _SOURCES if m == model)
        # a variant built as the peer built it (googlenet_tv: torchvision's GoogLeNet, with batch norm)
        variants = sorted(m for (m, s) in _SOURCES if s == source and m.startswith(f"{model}_"))
        hint = "".join(
            f"; {source}'s weights of this network load into {v!r}, the variant built as {source} builds it: "
            f"create_model({v!r}, weights={source!r})"
            for v in variants[:1]
        )
        close = difflib.get_close_matches(source, have, n=1, cutoff=0.5)
        raise ValueError(
            f"no {source!r} weights are mapped for {model!r}"
            + (f"; did you mean {close[0]!r}?" if close else "")
            + (f"; it has: {', '.join(have)}" if have else "; no peer weights are mapped for it" if not hint else "")
            + hint
            + " (`convzoo list --weights` lists every source)"
        ) from None


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


def convert_state_dict(name: str, source: str, state_dict: Mapping[str, torch.Tensor]) -> StateDict:
    """Map a peer's state_dict onto the keys of our model ``name``."""
    return find_source(name, source).convert(state_dict)


# --- provider metadata ------------------------------------------------------------------------------------------


def _with_provider_meta(ws: WeightSource) -> WeightSource:
    if ws.provider == "torchvision" and ws.url is not None:
        return _torchvision_meta(ws.model, ws.source)
    if ws.url is not None and ws.file_size is None:
        return _computed_size(ws.model, ws.source)
    return ws


@functools.cache
def _torchvision_weights_by_url() -> dict[str, Any]:
    """torchvision's weight enum entries (its published metadata), keyed by file URL."""
    from torchvision import models

    out = {}
    for name in models.list_models():
        for entry in models.get_model_weights(name):
            out[entry.url] = entry
    return out


@functools.cache
def _torchvision_meta(model: str, source: str) -> WeightSource:
    ws = _SOURCES[(model, source)]
    entry = _torchvision_weights_by_url().get(ws.url)
    if entry is None:
        return ws
    meta, tf = entry.meta, entry.transforms()
    metrics = meta.get("_metrics", {}).get("ImageNet-1K", {})
    name = f"{type(entry).__name__}.{entry.name}"
    where = f"torchvision {name}"
    size_mib = meta.get("_file_size")
    mean, std = tuple(tf.mean), tuple(tf.std)
    note = ""
    if ws.peer_name in _TRANSFORM_INPUT_PEERS:
        # torchvision builds these with transform_input=True when it loads its weights: (x - m) / s followed by
        # that transform equals (x - 0.5) / 0.5, so the normalization below gives the same network input.
        mean, std, note = (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), "; its transform_input folded into mean/std 0.5"
    pre = Preprocess(
        resize=int(tf.resize_size[0]),
        crop=int(tf.crop_size[0]),
        mean=mean,  # type: ignore[arg-type]
        std=std,  # type: ignore[arg-type]
        interpolation=tf.interpolation.value,
        source=f"{where}.transforms(){note}",
    )
    # torchvision prints the size in MiB with 2 or 3 decimals: the slack is one unit of the last decimal
    decimals = len(repr(float(size_mib)).partition(".")[2]) if size_mib is not None else 0
    return dataclasses.replace(
        ws, top1=metrics.get("acc@1"), top5=metrics.get("acc@5"),
        file_size=None if size_mib is None else round(size_mib * 2**20),
        size_slack=None if size_mib is None else math.ceil(2**20 / 10**decimals),
        size_source="" if size_mib is None else f"{where}.meta['_file_size']: {size_mib} MiB",
        preprocess=ws.preprocess or pre, license=ws.license or TORCHVISION_LICENSE,
        metric_source=f"{where}.meta['_metrics'] (ImageNet-1K, as torchvision publishes it)",
        weights_name=ws.weights_name or name,
    )  # fmt: skip


@functools.cache
def _computed_size(model: str, source: str) -> WeightSource:
    """A source whose publisher lists no size: the float32 tensors' bytes (the file adds a little)."""
    from convzoo.registry import create_model

    ws = _SOURCES[(model, source)]
    with torch.device("meta"):
        state = create_model(model, **ws.config).state_dict()
    return dataclasses.replace(ws, file_size=sum(t.numel() * t.element_size() for t in state.values()))


_TRANSFORM_INPUT_PEERS = frozenset({"googlenet", "inception_v3"})


IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
TIMM_LICENSE = "apache-2.0"  # timm pretrained_cfg['license']


def timm_preprocess(
    cfg: str,
    input_size: int = 224,
    crop_pct: float = 0.875,
    interpolation: str = "bicubic",
    mean: tuple[float, float, float] = IMAGENET_MEAN,
    std: tuple[float, float, float] = IMAGENET_STD,
) -> Preprocess:
    """timm's eval transform for pretrained cfg ``cfg`` (values copied from timm 1.0; a test compares them):
    resize the shorter side to floor(input_size / crop_pct), centre-crop input_size."""
    return Preprocess(
        resize=math.floor(input_size / crop_pct), crop=input_size, mean=mean, std=std,
        interpolation=interpolation, source=f"timm pretrained_cfg {cfg!r}",
    )  # fmt: skip


def imagenet_classes() -> list[str]:
    """The 1000 ImageNet-1k class names in the standard synset order (shipped in torchvision's weight metadata,
    no download); timm's ImageNet-1k heads use the same order."""
    from torchvision.models import ResNet50_Weights

    return list(ResNet50_Weights.IMAGENET1K_V1.meta["categories"])


WEIGHTS_NOTE = (
    "top-1/top-5: ImageNet-1k validation accuracy as the provider publishes it, measured with the preprocessing "
    "shown (torchvision: its weight metadata; timm: its results table, results-imagenet.csv). Size: as published "
    "(torchvision's MiB; Hugging Face's rounded MB); ≈: computed from the tensors where the publisher lists none. "
    "License: as the provider states it (torchvision: its BSD-3-Clause; timm: its pretrained cfg); ImageNet's "
    "terms of access apply to weights trained on it. Checksums and the provider's names of the weights: "
    "`convzoo list --weights --format json`."
)


def format_weights_table(sources: Sequence[WeightSource], markdown: bool = False) -> str:
    """The weights a user can load: configuration, provider accuracy, file size, license, preprocessing
    (``markdown=True``: a Markdown table, for the README)."""
    head = ("model", "source", "builds", "top-1", "top-5", "size", "license", "preprocessing")
    rows = [head]
    for s in sources:
        p = s.preprocess
        rows.append((
            s.model, _source_cell(s), s.create_call(),
            "-" if s.top1 is None else f"{s.top1:.2f}", "-" if s.top5 is None else f"{s.top5:.2f}",
            _size(s), s.license or "-",
            "-" if p is None else f"{p.resize}→{p.crop} {p.interpolation}, mean {_short(p.mean)}",
        ))  # fmt: skip
    if markdown:
        rows.insert(1, tuple("---" for _ in head))
        lines = ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
    else:
        widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join([*lines, "", WEIGHTS_NOTE])


def _source_cell(s: WeightSource) -> str:
    """``torchvision.v2 (IMAGENET1K_V2)``, ``timm (resnet50.a1_in1k)``: the name to pass, and the provider's."""
    own = s.weights_name.rpartition(".")[2] if s.provider == "torchvision" else s.weights_name
    return f"{s.source} ({own})" if own else s.source


def _size(s: WeightSource) -> str:
    if s.file_size is None:
        return "-"
    return ("" if s.size_source else "≈") + f"{s.file_size / 2**20:.1f} MiB"


def _short(values: tuple[float, ...]) -> str:
    return "(" + ", ".join(f"{v:g}" for v in values) + ")"
