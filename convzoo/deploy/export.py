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
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from convzoo.deploy.runtimes import OnnxRuntimeRunner, OpenVinoRunner, onnx_program, require

__all__ = ["FORMATS", "ExportCheckFailed", "ExportReport", "export", "read_export_metadata"]

FORMATS = {"onnx": ".onnx", "pt2": ".pt2", "openvino": ".xml"}
CHECK_BATCH = 3  # the check runs another batch size than the export's example (2): the batch is dynamic
RTOL = 1e-4  # a check passes when max |exported - eager| <= RTOL * max |eager| + ATOL
ATOL = 1e-6
_PT2_EXTRA = "convzoo.json"
_MAX_METADATA = 16 << 20  # bytes: class names of ImageNet-21k fit many times over
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


def _write_onnx(net: nn.Module, tmp: Path, example: torch.Tensor, meta: dict[str, str]) -> None:
    program = onnx_program(net, example)
    program.model.metadata_props.update(meta)
    program.save(os.fspath(tmp))


def _write_pt2(net: nn.Module, tmp: Path, example: torch.Tensor, meta: dict[str, str]) -> None:
    program = torch.export.export(net, (example,), dynamic_shapes=({0: torch.export.Dim("batch")},))
    with open(tmp, "wb") as f:  # a file object: the archive's folder is not named after the temporary file
        torch.export.save(program, f, extra_files={_PT2_EXTRA: json.dumps(meta)})


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
) -> ExportReport:
    """Export a module, a registered model (random weights) or a ``convzoo train`` run to ``fmt`` ("onnx",
    "pt2", "openvino") at ``path`` (default: ``<name><ext>`` here), with a dynamic batch dimension.

    The written file is run at another batch size and compared with the eager model; above tolerance it is
    removed and :class:`ExportCheckFailed` raised. ``optimize`` folds batch norms first
    (:func:`convzoo.deploy.optimize`, fp32). A run is read only through :mod:`convzoo.trust`.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    net, meta = _resolve(model_or_name_or_run, image_size, num_classes)
    out = _target(fmt, path, meta["model"])
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
    tmp = out.parent / f".{out.stem}.tmp{os.getpid()}{out.suffix}"
    try:
        _WRITERS[fmt](net, tmp, example, {f"convzoo.{k}": json.dumps(meta[k]) for k in _KEYS})
        runner, what = _runner(fmt, tmp)
        with torch.no_grad():
            diff = float((runner(check).float() - ref).abs().max())
        tol = RTOL * float(ref.abs().max()) + ATOL
        if not math.isfinite(diff) or diff > tol:
            raise ExportCheckFailed(
                f"{out}: {what} differs from the eager model by {diff:.3g} (> {tol:.3g}); not written"
            )
        for src, dst in reversed(list(zip(_files(fmt, tmp), _files(fmt, out), strict=True))):
            os.replace(src, dst)  # the .bin before the .xml that needs it
    finally:
        for p in _files(fmt, tmp):
            p.unlink(missing_ok=True)
    files = _files(fmt, out)
    checked = f"{what} at batch {CHECK_BATCH} (exported at batch 2) against eager PyTorch"
    return ExportReport(out, fmt, files, sum(p.stat().st_size for p in files), checked, diff, tol, meta)


# ----------------------------------------------------------------------------------------------------------
# Reading the metadata back.


def _raw_metadata(path: Path) -> dict[str, str]:
    if path.suffix == ".onnx":
        onnx = require("onnx", "reading ONNX metadata")
        model = onnx.load(os.fspath(path), load_external_data=False)
        return {p.key: p.value for p in model.metadata_props}
    if path.suffix == ".pt2":
        return _pt2_metadata(path)
    if path.suffix == ".xml":
        ov = require("openvino", "reading OpenVINO metadata")
        model = ov.Core().read_model(os.fspath(path))
        found = {}
        for key in _KEYS:
            if model.has_rt_info(["convzoo", key]):
                found[f"convzoo.{key}"] = model.get_rt_info(["convzoo", key]).astype(str)
        return found
    raise ValueError(f"{path}: not an exported file (.onnx, .pt2 or OpenVINO .xml)")


def _pt2_metadata(path: Path) -> dict[str, str]:
    """The archive's ``extra/convzoo.json``, read as a zip member: the program itself is never loaded."""
    try:
        with zipfile.ZipFile(path) as archive:
            found = [i for i in archive.infolist() if i.filename.endswith(f"/extra/{_PT2_EXTRA}")]
            if len(found) != 1:
                return {}
            if found[0].file_size > _MAX_METADATA:
                raise ValueError(
                    f"{path}: its convzoo metadata is {found[0].file_size} bytes, over {_MAX_METADATA}"
                )
            raw = json.loads(archive.read(found[0]))
    except (zipfile.BadZipFile, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not a readable .pt2 archive with convzoo metadata ({e})") from e
    return {k: v for k, v in raw.items() if isinstance(v, str)} if isinstance(raw, dict) else {}


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
        try:
            out[key] = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"{p}: convzoo metadata {key!r} is not JSON: {e}") from e
    _validate(out, p)
    return out


def _validate(meta: dict[str, Any], path: Path) -> None:
    def bad(key: str, want: str) -> ValueError:
        return ValueError(f"{path}: convzoo metadata {key!r} must be {want}, not {meta[key]!r:.80}")

    def numbers(v: Any, n: int | None, kind: type | tuple[type, ...]) -> bool:
        return (
            isinstance(v, list)
            and (n is None or len(v) == n)
            and all(isinstance(x, kind) and not isinstance(x, bool) for x in v)
        )

    if not numbers(meta["input_size"], 3, int):
        raise bad("input_size", "[channels, height, width]")
    if not numbers(meta["crop"], 2, int):
        raise bad("crop", "[height, width]")
    for key in ("mean", "std"):
        if meta[key] is not None and not numbers(meta[key], meta["input_size"][0], (int, float)):
            raise bad(key, "null or one number per channel")
    for key in ("classes", "optimizations"):
        if not isinstance(meta[key], list) or not all(isinstance(c, str) for c in meta[key]):
            raise bad(key, "a list of names")
    for key in ("model", "weights"):
        if not isinstance(meta[key], str):
            raise bad(key, "text")
    for key in ("num_classes", "resize"):
        if not isinstance(meta[key], int) or isinstance(meta[key], bool) or meta[key] < 1:
            raise bad(key, "a positive whole number")
    if meta["classes"] and len(meta["classes"]) != meta["num_classes"]:
        raise bad("classes", f"{meta['num_classes']} names (num_classes)")
