"""Running a zoo network fast: :func:`optimize` for inference, :func:`export` to ONNX, torch.export and
OpenVINO, and runners for the other runtimes (:mod:`convzoo.deploy.runtimes`)."""

from typing import TYPE_CHECKING

from convzoo._lazy import lazy_exports

if TYPE_CHECKING:
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

lazy_exports(
    __name__,
    {
        "FORMATS": "convzoo.deploy.export",
        "ExportCheckFailed": "convzoo.deploy.export",
        "ExportReport": "convzoo.deploy.export",
        "export": "convzoo.deploy.export",
        "read_export_metadata": "convzoo.deploy.export",
        "InferenceModule": "convzoo.deploy.optimize",
        "NoNativeLowPrecision": "convzoo.deploy.optimize",
        "check_close": "convzoo.deploy.optimize",
        "fold_batch_norms": "convzoo.deploy.optimize",
        "native_low_precision": "convzoo.deploy.optimize",
        "optimize": "convzoo.deploy.optimize",
        "top1_agreement": "convzoo.deploy.optimize",
        "MissingPackage": "convzoo.deploy.runtimes",
        "OnnxRuntimeRunner": "convzoo.deploy.runtimes",
        "OpenVinoRunner": "convzoo.deploy.runtimes",
        "to_onnx": "convzoo.deploy.runtimes",
    },
)

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
