"""Running a zoo network fast: :func:`optimize` for inference, :func:`export` to ONNX, torch.export and
OpenVINO, and runners for the other runtimes (:mod:`convzoo.deploy.runtimes`)."""

from convzoo.deploy.export import FORMATS, ExportCheckFailed, ExportReport, export, read_export_metadata
from convzoo.deploy.optimize import (
    InferenceModule,
    NoNativeLowPrecision,
    check_close,
    fold_batch_norms,
    native_low_precision,
    optimize,
    top1_agreement,
)
from convzoo.deploy.runtimes import MissingPackage, OnnxRuntimeRunner, OpenVinoRunner, to_onnx

__all__ = [
    "FORMATS",
    "ExportCheckFailed",
    "ExportReport",
    "export",
    "read_export_metadata",
    "InferenceModule",
    "MissingPackage",
    "OnnxRuntimeRunner",
    "OpenVinoRunner",
    "to_onnx",
    "NoNativeLowPrecision",
    "check_close",
    "fold_batch_norms",
    "native_low_precision",
    "optimize",
    "top1_agreement",
]
