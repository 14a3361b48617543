"""What ``convzoo bench`` can be asked for (backends, dtypes, baselines), readable without torch so that the
command's parser (and ``convzoo --help``) starts instantly; :mod:`convzoo.deploy.bench` measures them."""

from __future__ import annotations

__all__ = ["AGAINST", "BACKENDS", "BACKEND_HELP", "DTYPES", "PEERS"]

BACKENDS = ("eager", "folded", "compile", "onnxruntime", "openvino")
BACKEND_HELP = {
    "eager": "the model as built, in eval mode",
    "folded": "convzoo.deploy.optimize: batch norms folded into the convolutions, channels_last",
    "compile": "convzoo.deploy.optimize(backend='compile'): folded, channels_last, torch.compile with freezing",
    "onnxruntime": "exported to ONNX (dynamo exporter), run by ONNX Runtime's CPU provider",
    "openvino": "the same ONNX file compiled by OpenVINO for the CPU, precision hint set to the dtype",
}
DTYPES = ("fp32", "bf16", "fp16")
PEERS = ("torchvision", "timm")
AGAINST = ("auto", "none", *PEERS)
