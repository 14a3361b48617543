"""A model for inference: batch norms folded, channels_last, lower precision, compiled.

:func:`optimize` never changes the model it is given: it folds a copy and wraps it in an
:class:`InferenceModule` that takes NCHW float images and returns fp32 logits.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.utils.fusion import fuse_conv_bn_eval, fuse_linear_bn_eval

from convzoo.cpuinfo import NATIVE_FLAGS, native_units
from convzoo.cpuinfo import cpu_flags as _cpu_flags

__all__ = [
    "DTYPES",
    "BACKENDS",
    "InferenceModule",
    "NoNativeLowPrecision",
    "check_close",
    "fold_batch_norms",
    "native_low_precision",
    "optimize",
    "top1_agreement",
]

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
BACKENDS = ("eager", "compile")
FP32_RTOL = 1e-4  # the fp32 path's promise: max |optimized - original| / max |original|

_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)


class NoNativeLowPrecision(ValueError):
    """The device has no native arithmetic in the requested precision (emulating it is slower than fp32)."""


def native_low_precision(dtype: str, device: torch.device | str = "cpu") -> tuple[bool, str]:
    """Whether ``device`` computes ``dtype`` ("bf16" or "fp16") natively, and a sentence saying why."""
    device = torch.device(device)
    if device.type == "cuda":
        if dtype == "bf16" and not torch.cuda.is_bf16_supported():
            return False, f"{torch.cuda.get_device_name(device)} has no native bf16"
        return True, f"{torch.cuda.get_device_name(device)} computes {dtype} natively"
    flags, name = _cpu_flags()
    have = native_units(dtype, flags)
    if have:
        return True, f"{name} has {'/'.join(have)}"
    capability = torch.backends.cpu.get_cpu_capability()
    return False, (
        f"{name} has no native {dtype} (no {' or '.join(NATIVE_FLAGS[dtype])} in /proc/cpuinfo; torch's CPU "
        f"capability is {capability}): {dtype} would be emulated, slower than fp32"
    )


# ----------------------------------------------------------------------------------------------------------
# Folding batch norms.


def _plain_forward(module: nn.Module, base: type[nn.Module]) -> bool:
    return type(module).forward is base.forward  # type: ignore[comparison-overlap]


def _foldable(a: nn.Module, b: nn.Module) -> bool:
    """``a`` → ``b`` is a convolution (or linear layer) straight into a batch norm with running statistics."""
    if not isinstance(b, _BatchNorm) or not _plain_forward(b, _BatchNorm) or b.running_mean is None:
        return False
    if type(a) in _CONVS:  # exactly these classes: a subclass may compute something else
        return a.out_channels == b.num_features  # type: ignore[union-attr]
    return type(a) is nn.Linear and isinstance(b, nn.BatchNorm1d) and a.out_features == b.num_features


def _sequential_pairs(model: nn.Module) -> Iterator[tuple[nn.Sequential, str, str]]:
    """(container, conv name, norm name) for each foldable pair of consecutive children of a Sequential.

    A Sequential that keeps nn.Sequential's own forward feeds each child's output to the next child alone, so
    folding such a pair is exact whatever the model does around it; a norm before a convolution (the
    pre-activation order) or after a pooling layer does not fold.
    """
    for seq in model.modules():
        if not isinstance(seq, nn.Sequential) or not _plain_forward(seq, nn.Sequential):
            continue
        names = list(seq._modules)
        for first, second in zip(names, names[1:], strict=False):
            a, b = seq._modules[first], seq._modules[second]
            if a is not None and b is not None and _foldable(a, b):
                yield seq, first, second


@torch.no_grad()
def fold_batch_norms(model: nn.Module) -> int:
    """Fold, in place, every batch norm that directly follows a convolution or linear layer inside a
    Sequential into that layer's weights and bias (the norm becomes Identity); returns how many were folded.

    The model must be in eval mode: folding uses the running statistics.
    """
    if model.training:
        raise ValueError("fold_batch_norms uses the running statistics: call model.eval() first")
    pairs = list(_sequential_pairs(model))
    for seq, first, second in pairs:
        a, b = seq._modules[first], seq._modules[second]
        fuse = fuse_linear_bn_eval if isinstance(a, nn.Linear) else fuse_conv_bn_eval
        seq._modules[first] = fuse(a, b)  # type: ignore[arg-type]
        seq._modules[second] = nn.Identity()
    return len(pairs)


# ----------------------------------------------------------------------------------------------------------
# The inference module.


class InferenceModule(nn.Module):
    """``net`` for inference: casts NCHW float images to its device, dtype and memory format, runs it (compiled
    or not) without gradients, and returns fp32 logits. ``optimizations`` records what was done."""

    def __init__(
        self,
        net: nn.Module,
        *,
        dtype: torch.dtype,
        channels_last: bool,
        compiled: nn.Module | None,
        optimizations: tuple[str, ...],
    ) -> None:
        super().__init__()
        self.net = net
        self.dtype = dtype
        self.channels_last = channels_last
        self.optimizations = optimizations
        self.num_classes = getattr(net, "num_classes", None)
        object.__setattr__(self, "_compiled", compiled)  # not a submodule: it shares net's parameters
        super().train(False)

    def train(self, mode: bool = True) -> InferenceModule:
        if mode:
            raise RuntimeError("an optimized module is for inference only: train the original model instead")
        return super().train(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = next(self.net.parameters(), None)
        device = p.device if p is not None else x.device
        fmt = torch.channels_last if self.channels_last and x.dim() == 4 else torch.contiguous_format
        x = x.to(device=device, dtype=self.dtype, memory_format=fmt)
        with torch.no_grad():
            if self._compiled is None:
                out = self.net(x)
            else:
                with _freezing():
                    out = self._compiled(x)
        return out.float()


def _freezing() -> Any:
    """Inductor's freezing (weights as constants, folded at compile time), for the calls that compile."""
    import torch._inductor.config as inductor_config

    return inductor_config.patch(freezing=True)


def optimize(
    model: nn.Module,
    *,
    dtype: str = "fp32",
    backend: str = "eager",
    channels_last: bool = True,
    example: torch.Tensor | None = None,
    force: bool = False,
) -> InferenceModule:
    """A new module for inference computing what ``model`` computes in eval mode; ``model`` is untouched.

    Batch norms are folded into the convolution (or linear layer) before them, the weights cast to ``dtype``
    ("fp32", "bf16", "fp16") and stored ``channels_last``; ``backend="compile"`` compiles with inductor and
    freezing (``example`` compiles it now rather than on the first call). Low precision is refused on a
    device without native arithmetic in it, unless ``force``. The fp32 result matches ``model`` within
    :data:`FP32_RTOL` (see :func:`check_close`); bf16/fp16 are judged by :func:`top1_agreement`.
    """
    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; choose one of: {', '.join(DTYPES)}")
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of: {', '.join(BACKENDS)}")
    p = next(model.parameters(), None)
    device = p.device if p is not None else torch.device("cpu")
    if device.type == "meta":
        raise ValueError("optimize needs a model with weights, not one built on the meta device")
    if dtype != "fp32" and not force:
        native, why = native_low_precision(dtype, device)
        if not native:
            raise NoNativeLowPrecision(f"refusing {dtype}: {why}; pass force=True to run it anyway")
    net = copy.deepcopy(model).eval()
    net.requires_grad_(False)
    done = [f"fold_bn:{fold_batch_norms(net)}"]
    if dtype != "fp32":
        net = net.to(DTYPES[dtype])
        done.append(dtype)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
        done.append("channels_last")
    compiled = None
    if backend == "compile":
        compiled = torch.compile(net, backend="inductor", dynamic=False)
        done.append("compile")
    out = InferenceModule(
        net, dtype=DTYPES[dtype], channels_last=channels_last, compiled=compiled, optimizations=tuple(done)
    )
    if example is not None:
        out(example)
    return out


# ----------------------------------------------------------------------------------------------------------
# Tolerances.


def _outputs(
    reference: nn.Module, optimized: nn.Module, x: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    if reference.training:
        raise ValueError("the reference model is in training mode: call .eval() on it before comparing")
    with torch.no_grad():
        return reference(x).float(), optimized(x).float()


def check_close(reference: nn.Module, optimized: nn.Module, x: torch.Tensor) -> float:
    """The largest difference between the two models' outputs on ``x``, relative to the largest output of
    ``reference``: max |optimized - reference| / max |reference| (fp32 promise: at most 1e-4)."""
    ref, out = _outputs(reference, optimized, x)
    if ref.shape != out.shape:
        raise ValueError(f"the outputs differ in shape: {tuple(ref.shape)} vs {tuple(out.shape)}")
    scale = ref.abs().max().clamp_min(torch.finfo(torch.float32).tiny)
    return float((out - ref).abs().max() / scale)


def top1_agreement(reference: nn.Module, optimized: nn.Module, x: torch.Tensor) -> float:
    """The fraction of the images in ``x`` whose top-1 class is the same for both models (low precision's
    promise: at least 0.99 on real test images with a trained model)."""
    ref, out = _outputs(reference, optimized, x)
    return float((ref.argmax(1) == out.argmax(1)).float().mean())
