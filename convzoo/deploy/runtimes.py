"""Other runtimes for a zoo network: ONNX files (:func:`to_onnx`) run by ONNX Runtime or OpenVINO.

Each runner is a callable ``runner(x) -> logits``: NCHW float images in, fp32 logits out, as torch tensors,
so it can stand where the PyTorch model stood. ``threads`` fixes the runtime's intra-op thread count
(``None``: the runtime's default). The optional packages install with ``pip install 'convzoo[deploy]'``.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from torch import nn

__all__ = ["MissingPackage", "OnnxRuntimeRunner", "OpenVinoRunner", "require", "to_onnx"]

OPENVINO_PRECISIONS = ("f32", "bf16", "f16", "default")
_INSTALL = "pip install 'convzoo[deploy]'"


class MissingPackage(ImportError):
    """An optional package that this format or runtime needs is not installed."""


def require(package: str, what: str) -> ModuleType:
    """Import ``package`` (one of the deploy extra's) or raise :class:`MissingPackage` saying how to install it."""
    try:
        return importlib.import_module(package)
    except ImportError as e:
        raise MissingPackage(
            f"{what} needs the {package!r} package, which is not installed: {_INSTALL}"
        ) from e


def to_onnx(
    model: nn.Module,
    path: str | os.PathLike[str],
    example: torch.Tensor,
    dynamic_batch: bool = True,
    *,
    force: bool = False,
) -> Path:
    """Write ``model`` (in eval mode) as an ONNX file with the current exporter (``dynamo=True``), the batch
    dimension dynamic unless ``dynamic_batch=False``; returns the path. Written by
    :func:`convzoo.trust_write.write_file`: an existing file convzoo did not write needs ``force``."""
    from convzoo.trust_write import write_file

    program = onnx_program(model, example, dynamic_batch)
    return write_file(path, lambda tmp: program.save(os.fspath(tmp)), force=force)


def onnx_program(model: nn.Module, example: torch.Tensor, dynamic_batch: bool = True) -> Any:
    """The ``torch.onnx.ONNXProgram`` of ``model`` (see :func:`to_onnx`); its ``model.metadata_props`` take
    string key/value pairs before it is saved."""
    require("onnxscript", "ONNX export")
    if model.training:
        raise ValueError("export the model in eval mode: call model.eval() first")
    shapes = ({0: torch.export.Dim("batch")},) if dynamic_batch else None
    if dynamic_batch and len(example) < 2:
        example = example.expand(2, *example.shape[1:])  # the exporter takes a batch of 1 for a constant
    with contextlib.redirect_stdout(io.StringIO()):  # the exporter prints its progress
        return torch.onnx.export(model, (example,), dynamo=True, dynamic_shapes=shapes, verbose=False)


class OnnxRuntimeRunner:
    """An ONNX file run by ONNX Runtime on the CPU, all graph optimizations on."""

    def __init__(self, path: str | os.PathLike[str], threads: int | None = None) -> None:
        ort = require("onnxruntime", "ONNX Runtime")
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads is not None:
            opts.intra_op_num_threads = _threads(threads)
            opts.inter_op_num_threads = 1
        self.path = Path(path)
        self.session = ort.InferenceSession(os.fspath(path), opts, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        arr = x.detach().to("cpu", torch.float32).contiguous().numpy()
        return torch.from_numpy(self.session.run(None, {self.input_name: arr})[0]).float()


class OpenVinoRunner:
    """A model run by OpenVINO on the CPU: an ONNX file, an IR ``.xml`` file or an ``openvino.Model``.

    ``precision="f32"`` is the exact path (OpenVINO computes in bf16 by default on CPUs with AMX);
    ``"default"`` leaves the runtime's own choice.
    """

    def __init__(self, path_or_model: Any, threads: int | None = None, precision: str = "f32") -> None:
        ov = require("openvino", "OpenVINO")
        if precision not in OPENVINO_PRECISIONS:
            raise ValueError(
                f"unknown OpenVINO precision {precision!r}; choose one of: {OPENVINO_PRECISIONS}"
            )
        config: dict[str, Any] = {}
        if precision != "default":
            config["INFERENCE_PRECISION_HINT"] = precision
        if threads is not None:
            config["INFERENCE_NUM_THREADS"] = _threads(threads)
        core = ov.Core()
        model = (
            core.read_model(os.fspath(path_or_model))
            if isinstance(path_or_model, str | os.PathLike)
            else path_or_model
        )
        self.precision = precision
        self.compiled = core.compile_model(model, "CPU", config)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        arr = x.detach().to("cpu", torch.float32).contiguous().numpy()
        return torch.from_numpy(self.compiled(arr)[self.compiled.output(0)].copy()).float()


def _threads(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"threads must be a positive whole number, not {n!r}")
    return n
