"""Export a zoo network to ONNX, a torch.export program (.pt2) or OpenVINO IR, checked at export time.

The file carries what a user needs to feed it: the input size, the normalization, the resize and crop, and
the class names (ONNX ``metadata_props``, the .pt2 archive's ``extra_files``, OpenVINO ``rt_info``), each a
JSON value under a ``convzoo.`` key; :func:`read_export_metadata` reads them back, validated.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from convzoo.deploy.runtimes import OnnxRuntimeRunner, OpenVinoRunner, onnx_program, require
from convzoo.trust import MAX_CHANNELS, MAX_CLASSES, MAX_SIDE, MAX_STRING
from convzoo.trust_read import parse_json, read_onnx_metadata, read_openvino_metadata, read_zip_member
from convzoo.trust_write import check_target, output, temp_writer

__all__ = ["FORMATS", "ExportCheckFailed", "ExportReport", "export", "read_export_metadata"]

FORMATS = {"onnx": ".onnx", "pt2": ".pt2", "openvino": ".xml"}
CHECK_BATCH = 3  # the check runs another batch size than the export's example (2): the batch is dynamic
RTOL = 1e-4  # a check passes when max |exported - eager| <= RTOL * max |eager| + ATOL
ATOL = 1e-6
_PT2_EXTRA = "convzoo.json"
_MAX_METADATA = 16 << 20  # bytes: class names of ImageNet-21k fit many times over
_MAX_PIXELS = 1 << 28  # height × width of input_size: 16384², a thousand times an ImageNet crop
_KEYS = (
    "model",
    "input_size",
    "resize",
    "crop",
    "mean",
    "std",
    "classes",
    "num_classes",
    "weights",
    "optimizations",
)
# Written by this version, optional on reading (files exported before them lack them): the resize's
# interpolation, and for a peer's pretrained weights the source they are (name, provider's name, accuracy).
_OPTIONAL_KEYS = ("interpolation", "weights_source")
_INTERPOLATIONS = ("bilinear", "bicubic", "nearest")


class ExportCheckFailed(ValueError):
    """The exported file does not compute what the eager model computes (nothing was written)."""


@dataclass(frozen=True)
class ExportReport:
    """What :func:`export` wrote and checked."""

    path: Path
    format: str
    files: tuple[Path, ...]
    bytes: int
    checked: str
    max_abs_diff: float
    tolerance: float
    metadata: dict[str, Any] = field(default_factory=dict)

    def lines(self) -> list[str]:
        extra = f" (+ {', '.join(p.name for p in self.files[1:])})" if len(self.files) > 1 else ""
        return [
            f"wrote {self.path}{extra}: {self.bytes / 1e6:.1f} MB, {self.format}",
            f"checked {self.checked}: max abs diff {self.max_abs_diff:.3g} (tolerance {self.tolerance:.3g})",
            f"input {'x'.join(map(str, self.metadata['input_size']))}, {self.metadata['num_classes']} classes, "
            f"weights: {self.metadata['weights']}",
            *self._preprocessing(),
        ]

    def _preprocessing(self) -> list[str]:
        m = self.metadata
        if not m.get("interpolation") or m.get("mean") is None:
            return []
        return [
            f"preprocessing carried in the file: resize {m['resize']} ({m['interpolation']}), centre-crop "
            f"{'x'.join(map(str, m['crop']))}, mean {m['mean']}, std {m['std']}"
        ]


# ----------------------------------------------------------------------------------------------------------
# What to export: a module, a registered name or a run.


def _from_name(
    name: str, image_size: int | None, num_classes: int | None
) -> tuple[nn.Module, dict[str, Any]]:
    from convzoo.registry import create_model, model_info

    info = model_info(name)
    c, h, w = info.input_size
    kwargs: dict[str, Any] = {}
    if image_size is not None:
        h = w = image_size
        if "img_size" in info.accepts:
            kwargs["img_size"] = image_size
    net = create_model(name, num_classes=num_classes, **kwargs)
    meta = {"model": name, "input_size": [c, h, w], "resize": h, "crop": [h, w], "mean": None, "std": None}
    return net, {**meta, "classes": [], "weights": "random initialization (a registered name, untrained)"}


def _from_weights(
    name: str, source: str, file: str | os.PathLike[str] | None, image_size: int | None, num_classes: int | None
) -> tuple[nn.Module, dict[str, Any]]:
    """A registered model with a peer's pretrained weights, and the preprocessing their provider publishes."""
    from convzoo.hub.load import load_pretrained
    from convzoo.hub.sources import imagenet_classes

    if image_size is not None:
        raise ValueError(
            f"{source}'s {name} weights expect the provider's crop size; drop --image-size (the file's input "
            "and its resize and crop are the source's own)"
        )
    extra = {} if num_classes is None else {"num_classes": num_classes}
    net, ws = load_pretrained(name, source, file=file, **extra)
    p = ws.preprocess
    if p is None:
        raise ValueError(f"{ws.describe()} for {name!r} has no published preprocessing to carry in the file")
    head = getattr(net, "num_classes", None)
    return net, {
        "model": name,
        "input_size": [3, p.crop, p.crop],
        "resize": p.resize,
        "crop": [p.crop, p.crop],
        "mean": list(p.mean),
        "std": list(p.std),
        "classes": imagenet_classes() if head == 1000 else [],
        "weights": f"{ws.describe()}, {file or ws.url}" + ("" if head == 1000 else f"; new {head}-class head, untrained"),
        "interpolation": p.interpolation,
        "weights_source": {
            "source": ws.source, "provider": ws.provider, "weights_name": ws.weights_name, "top1": ws.top1,
            "top5": ws.top5, "metric_source": ws.metric_source, "url": ws.url, "license": ws.license,
        },
    }  # fmt: skip


def _from_run(path: str, image_size: int | None, num_classes: int | None) -> tuple[nn.Module, dict[str, Any]]:
    from convzoo.train.inference import load_trained  # the trust boundary: checkpoint metadata validated

    if image_size is not None or num_classes is not None:
        raise ValueError(
            f"{path} is a run: its image size and classes are the run's own; drop --image-size/--num-classes"
        )
    net, meta = load_trained(path)
    c, h, w = meta.image_size
    return net, {
        "model": meta.model,
        "input_size": [c, h, w],
        "resize": meta.resize or h,
        "crop": [h, w],
        "mean": list(meta.mean),
        "std": list(meta.std),
        "classes": list(meta.classes),
        "weights": f"trained run {Path(path).resolve()}",
    }


def _from_module(model: nn.Module, image_size: int | None) -> tuple[nn.Module, dict[str, Any]]:
    if image_size is None:
        raise ValueError("exporting a module needs image_size (its input height and width)")
    c = int(getattr(model, "in_chans", 3))
    name = str(getattr(model, "convzoo_name", type(model).__name__))
    meta = {"model": name, "input_size": [c, image_size, image_size], "resize": image_size}
    return model, {
        **meta,
        "crop": [image_size, image_size],
        "mean": None,
        "std": None,
        "classes": [],
        "weights": "the module's own",
    }


def _resolve(
    source: nn.Module | str | os.PathLike[str], image_size: int | None, num_classes: int | None
) -> tuple[nn.Module, dict[str, Any]]:
    if isinstance(source, nn.Module):
        return _from_module(source, image_size)
    if isinstance(source, os.PathLike) or Path(source).exists():
        return _from_run(os.fspath(source), image_size, num_classes)
    return _from_name(source, image_size, num_classes)


# ----------------------------------------------------------------------------------------------------------
# Writing and checking each format (to a temporary name in the target folder).


@temp_writer
def _write_onnx(net: nn.Module, tmp: Path, example: torch.Tensor, meta: dict[str, str]) -> None:
    program = onnx_program(net, example)
    program.model.metadata_props.update(meta)
    program.save(os.fspath(tmp))


@temp_writer
def _write_pt2(net: nn.Module, tmp: Path, example: torch.Tensor, meta: dict[str, str]) -> None:
    program = torch.export.export(net, (example,), dynamic_shapes=({0: torch.export.Dim("batch")},))
    with open(tmp, "wb") as f:  # a file object: the archive's folder is not named after the temporary file
        torch.export.save(program, f, extra_files={_PT2_EXTRA: json.dumps(meta)})


@temp_writer
def _write_openvino(net: nn.Module, tmp: Path, example: torch.Tensor, meta: dict[str, str]) -> None:
    ov = require("openvino", "OpenVINO export")
    with tempfile.TemporaryDirectory() as work:
        onnx_path = Path(work) / "model.onnx"
        onnx_program(net, example).save(os.fspath(onnx_path))
        model = ov.convert_model(os.fspath(onnx_path))
    for key, value in meta.items():
        model.set_rt_info(value, ["convzoo", key.removeprefix("convzoo.")])
    ov.save_model(model, os.fspath(tmp), compress_to_fp16=False)


def _runner(fmt: str, tmp: Path) -> tuple[Any, str]:
    if fmt == "onnx":
        return OnnxRuntimeRunner(tmp), "ONNX Runtime"
    if fmt == "openvino":
        return OpenVinoRunner(tmp, precision="f32"), "OpenVINO f32"
    return torch.export.load(os.fspath(tmp)).module(), "the loaded torch.export program"


_WRITERS = {"onnx": _write_onnx, "pt2": _write_pt2, "openvino": _write_openvino}


_SIBLINGS = {"onnx": (), "pt2": (), "openvino": (".bin",)}  # files a format writes beside its own


def _exported(path: Path) -> bool:
    """Whether ``path`` is a file convzoo exported (its metadata reads back), or the ``.bin`` of such an ``.xml``."""
    if path.suffix == ".bin":
        xml = path.with_suffix(".xml")
        return xml.is_file() and not xml.is_symlink() and _exported(xml)
    try:
        read_export_metadata(path)
    except Exception:  # noqa: BLE001  any file that does not read back as an export is not one of ours
        return False
    return True


def _files(fmt: str, path: Path) -> tuple[Path, ...]:
    return (path, path.with_suffix(".bin")) if fmt == "openvino" else (path,)


def _target(fmt: str, path: str | os.PathLike[str] | None, name: str) -> Path:
    out = Path(path) if path is not None else Path(f"{name.replace(':', '_')}{FORMATS[fmt]}")
    if fmt == "openvino" and out.suffix != ".xml":
        raise ValueError(
            f"{out}: OpenVINO IR is an .xml file (its weights go beside it in a .bin); name it *.xml"
        )
    if out.is_dir():
        raise IsADirectoryError(f"{out} is a folder; give the file to write")
    if not out.parent.resolve().is_dir():
        raise FileNotFoundError(f"cannot write {out}: the folder {out.parent} does not exist")
    if not os.access(out.parent.resolve(), os.W_OK):
        raise PermissionError(f"cannot write {out}: the folder {out.parent} is not writable")
    return out


def export(
    model_or_name_or_run: nn.Module | str | os.PathLike[str],
    fmt: str,
    path: str | os.PathLike[str] | None = None,
    *,
    image_size: int | None = None,
    num_classes: int | None = None,
    optimize: bool = False,
    force: bool = False,
    weights: str | None = None,
    weights_file: str | os.PathLike[str] | None = None,
) -> ExportReport:
    """Export a module, a registered model (random weights) or a ``convzoo train`` run to ``fmt`` ("onnx",
    "pt2", "openvino") at ``path`` (default: ``<name><ext>`` here), with a dynamic batch dimension.
    ``weights``: a registered model with that peer source's pretrained weights (from ``weights_file``, matched
    to its source by content, or the verified download); the file then carries the source's preprocessing
    (resize, crop, interpolation, mean and std), the ImageNet class names and the source's published accuracy.

    The written file is run at another batch size and compared with the eager model; above tolerance it is
    removed and :class:`ExportCheckFailed` raised. ``optimize`` folds batch norms first
    (:func:`convzoo.deploy.optimize`, fp32). A run is read only through :mod:`convzoo.trust`.

    The file (and OpenVINO's ``.bin``) is written by :func:`convzoo.trust_write.output`: an existing file
    there is replaced only if convzoo exported it (or ``force``); links and non-regular files are refused.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    if weights_file is not None and weights is None:
        raise ValueError("weights_file is a local copy of a peer's weights: name the source with weights=")
    if weights is not None:
        if not isinstance(model_or_name_or_run, str) or Path(model_or_name_or_run).exists():
            raise ValueError(f"weights={weights!r} loads a peer's weights into a registered model: give its name")
        out = _target(fmt, path, model_or_name_or_run)
        check_target(out, force=force, owned=_exported, siblings=_SIBLINGS[fmt])  # before the download
        net, meta = _from_weights(model_or_name_or_run, weights, weights_file, image_size, num_classes)
    else:
        net, meta = _resolve(model_or_name_or_run, image_size, num_classes)
    out = _target(fmt, path, meta["model"])
    check_target(out, force=force, owned=_exported, siblings=_SIBLINGS[fmt])  # refused before the work
    net = net.eval()
    meta["optimizations"] = []
    if optimize:
        from convzoo.deploy.optimize import optimize as _optimize

        opt = _optimize(net, channels_last=False)
        net, meta["optimizations"] = opt.net, list(opt.optimizations)
    gen = torch.Generator().manual_seed(0)
    example = torch.randn(2, *meta["input_size"], generator=gen)
    check = torch.randn(CHECK_BATCH, *meta["input_size"], generator=gen)
    with torch.no_grad():
        ref = net(check).float()
    meta["num_classes"] = int(ref.shape[1])
    with output(out, force=force, owned=_exported, siblings=_SIBLINGS[fmt]) as tmp:
        meta.setdefault("interpolation", None)
        written = {f"convzoo.{k}": json.dumps(meta[k]) for k in (*_KEYS, *_OPTIONAL_KEYS) if k in meta}
        _WRITERS[fmt](net, tmp, example, written)
        runner, what = _runner(fmt, tmp)
        with torch.no_grad():
            diff = float((runner(check).float() - ref).abs().max())
        tol = RTOL * float(ref.abs().max()) + ATOL
        if not math.isfinite(diff) or diff > tol:
            raise ExportCheckFailed(
                f"{out}: {what} differs from the eager model by {diff:.3g} (> {tol:.3g}); not written"
            )
    files = _files(fmt, out)
    checked = f"{what} at batch {CHECK_BATCH} (exported at batch 2) against eager PyTorch"
    return ExportReport(out, fmt, files, sum(p.stat().st_size for p in files), checked, diff, tol, meta)


# ----------------------------------------------------------------------------------------------------------
# Reading the metadata back.


def _raw_metadata(path: Path) -> dict[str, str]:
    """The ``convzoo.*`` strings an exported file carries, read by convzoo.trust_read without building the
    model: the ONNX protobuf's top-level fields, the .pt2 zip member streamed, the OpenVINO .xml with expat."""
    if path.suffix == ".onnx":
        return read_onnx_metadata(path, cap_bytes=_MAX_METADATA)
    if path.suffix == ".pt2":
        return _pt2_metadata(path)
    if path.suffix == ".xml":
        found = read_openvino_metadata(path, cap_bytes=_MAX_METADATA, section="convzoo")
        return {f"convzoo.{k}": v for k, v in found.items()}
    raise ValueError(f"{path}: not an exported file (.onnx, .pt2 or OpenVINO .xml)")


def _pt2_metadata(path: Path) -> dict[str, str]:
    """The archive's ``extra/convzoo.json``, read as a zip member: the program itself is never loaded."""
    raw = read_zip_member(
        path, lambda n: n.endswith(f"/extra/{_PT2_EXTRA}"), _MAX_METADATA, what=".pt2 archive"
    )
    if raw is None:
        return {}
    obj = parse_json(raw, path, "the .pt2 archive's convzoo metadata")
    return {k: v for k, v in obj.items() if isinstance(v, str)} if isinstance(obj, dict) else {}


def read_export_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The preprocessing and class names an exported file carries, validated; raises ValueError naming the
    file for a file convzoo did not write or whose metadata is malformed."""
    p = Path(path)
    raw = _raw_metadata(p)
    out: dict[str, Any] = {}
    for key in _KEYS:
        text = raw.get(f"convzoo.{key}")
        if not isinstance(text, str):
            raise ValueError(f"{p}: no convzoo metadata {key!r} (not a file convzoo exported?)")
        out[key] = parse_json(text, p, f"convzoo metadata {key!r}")
    for key in _OPTIONAL_KEYS:  # absent from files exported before they were added
        text = raw.get(f"convzoo.{key}")
        out[key] = parse_json(text, p, f"convzoo metadata {key!r}") if isinstance(text, str) else None
    _validate(out, p)
    return out


def _validate(meta: dict[str, Any], path: Path) -> None:
    def bad(key: str, want: str) -> ValueError:
        return ValueError(f"{path}: convzoo metadata {key!r} must be {want}, not {meta[key]!r:.80}")

    def ints(v: Any, n: int, hi: int) -> bool:
        return isinstance(v, list) and len(v) == n and all(_is_int(x) and 1 <= x <= hi for x in v)

    def texts(v: Any, n: int) -> bool:
        return (
            isinstance(v, list)
            and len(v) <= n
            and all(isinstance(c, str) and len(c) <= MAX_STRING for c in v)
        )

    size = meta["input_size"]
    if not ints(size, 3, MAX_SIDE) or size[0] > MAX_CHANNELS or size[1] * size[2] > _MAX_PIXELS:
        raise bad(
            "input_size", f"[channels ≤ {MAX_CHANNELS}, height, width] with height × width ≤ {_MAX_PIXELS}"
        )
    if not ints(meta["crop"], 2, MAX_SIDE):
        raise bad("crop", f"[height, width], each in [1, {MAX_SIDE}]")
    for key, lo in (("mean", -math.inf), ("std", 0.0)):
        v = meta[key]
        if v is not None and not (
            isinstance(v, list) and len(v) == size[0] and all(_is_finite(x) and x > lo for x in v)
        ):
            raise bad(key, "null or one finite number per channel" + (" (positive)" if lo == 0 else ""))
    if not texts(meta["classes"], MAX_CLASSES):
        raise bad("classes", "a list of names")
    if not texts(meta["optimizations"], 1000):
        raise bad("optimizations", "a list of names")
    for key in ("model", "weights"):
        if not isinstance(meta[key], str) or len(meta[key]) > MAX_STRING:
            raise bad(key, "text")
    for key, hi in (("num_classes", MAX_CLASSES), ("resize", MAX_SIDE)):
        if not _is_int(meta[key]) or not 1 <= meta[key] <= hi:
            raise bad(key, f"a whole number in [1, {hi}]")
    if meta["classes"] and len(meta["classes"]) != meta["num_classes"]:
        raise bad("classes", f"{meta['num_classes']} names (num_classes)")
    if meta.get("interpolation") is not None and meta["interpolation"] not in _INTERPOLATIONS:
        raise bad("interpolation", f"null or one of {', '.join(_INTERPOLATIONS)}")
    src = meta.get("weights_source")
    if src is not None and not (
        isinstance(src, dict)
        and len(src) <= 16
        and all(
            isinstance(k, str) and (v is None or (isinstance(v, str) and len(v) <= MAX_STRING) or _is_finite(v))
            for k, v in src.items()
        )
    ):
        raise bad("weights_source", "null or an object of short texts and numbers")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_finite(v: Any) -> bool:
    return (_is_int(v) or isinstance(v, float)) and math.isfinite(v)
