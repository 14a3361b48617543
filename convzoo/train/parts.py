"""The pieces the training loop is made of: the device and its precision, the model and its initialization,
layer freezing, small-crop training, and the loss with auxiliary heads."""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from convzoo.cpuinfo import native_bf16_cpu
from convzoo.layers import he_normal_
from convzoo.train.recipes import Recipe

if TYPE_CHECKING:
    from convzoo.train.config import TrainConfig


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError as e:
        raise ValueError(f"unknown device {name!r}: use auto, cpu, cuda or cuda:N") from e
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for but no CUDA GPU is available; use --device cpu")
    return dev


def amp_dtype(device: torch.device) -> torch.dtype | None:
    """bf16 where the device computes it natively (CPUs with AVX512-BF16/AMX, Ampere+ GPUs), else fp16 on
    CUDA. oneDNN also runs bf16 on plain AVX512 by conversion, several times slower than fp32 (ResNet-20: 30 vs
    207 images/s on one thread of an AVX512 Xeon without BF16), so a CPU must list a native bf16 unit."""
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    try:
        supported = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return None
    return torch.bfloat16 if supported and native_bf16_cpu() else None


def build_model(name: str, num_classes: int, in_chans: int, **kwargs: Any) -> nn.Module:
    """A registered model by name, or ``package.module:function`` for a model of your own."""
    if ":" in name:
        mod, _, fn = name.partition(":")
        try:
            factory: Callable[..., nn.Module] = getattr(importlib.import_module(mod), fn)
        except (ImportError, AttributeError) as e:
            raise ValueError(f"cannot import model factory {name!r}: {e}") from e
        return factory(num_classes=num_classes, in_chans=in_chans, **kwargs)
    from convzoo.registry import create_model

    return create_model(name, num_classes=num_classes, in_chans=in_chans, **kwargs)


def check_input_size(cfg: TrainConfig, size: tuple[int, int, int], num_classes: int) -> None:
    """Build the model on the meta device and feed it one image of the data's size: too small fails
    clearly.
    """
    with torch.device("meta"):
        m = build_model(cfg.model, num_classes, size[0], **cfg.model_kwargs).eval()
        try:
            out = m(torch.empty(1, *size))
        except (RuntimeError, ValueError) as e:
            raise ValueError(_size_advice(cfg, m, size, e)) from None
    if tuple(out.shape) != (1, num_classes):
        raise ValueError(
            f"model {cfg.model!r} returned logits of shape {tuple(out.shape)}, expected (1, {num_classes})"
        )


def _size_advice(cfg: TrainConfig, model: nn.Module, size: tuple[int, int, int], err: Exception) -> str:
    """Why the meta ``model`` cannot take ``size`` (the inspector names the layer and its arithmetic, not
    PyTorch's padding message) and the ``--image-size`` that fixes it: the paper's side, else the smallest
    the model takes."""
    from convzoo.inspect.output_size import ShapeError
    from convzoo.inspect.trace import min_input_size, trace

    why = str(err)
    try:
        trace(model, size, track_rf=False)
    except ShapeError as e:
        if "layer '(model)'" not in str(e):  # a layer named, with its arithmetic; else the model's own words
            why = str(e)
    except (RuntimeError, ValueError):
        pass
    side, paper = None, ""
    if ":" not in cfg.model:
        from convzoo.registry import model_info

        s = model_info(cfg.model).input_size
        paper = f" (its paper used {s[1]}×{s[2]})"
        side = s[1] if s[1] == s[2] else None
    if side is None:
        side = min_input_size(model, (size[0], 1024, 1024))
    advice = (
        f"Pass --image-size {side} to resize the images to {side}×{side}"
        + (" (the paper's size)" if paper and side is not None else " (the smallest it takes)")
        if side is not None
        else "Pass --image-size N to resize the images to N×N"
    )
    return f"model {cfg.model!r} cannot take the data's {size[1]}×{size[2]} images{paper}: {why.rstrip('.')}. {advice}"


def channel_note(model: str, channels: int) -> str | None:
    """The line that says a registered model is built for the data's channels, not its paper's (the 1-channel
    LeNet-5 on 3-channel CIFAR-10 gets a 3-channel first layer); None where they agree."""
    if ":" in model:
        return None
    from convzoo.registry import model_info

    paper = model_info(model).input_size
    if paper[0] == channels:
        return None
    return (
        f"note: {model}'s paper takes {paper[0]}-channel images ({'×'.join(map(str, paper))}); the data has "
        f"{channels} channel{'s' if channels != 1 else ''}, so its first layer is built for {channels} input "
        f"channel{'s' if channels != 1 else ''} (in_chans={channels}) and has more or fewer weights than the paper's"
    )


def he_init(model: nn.Module) -> None:
    """Kaiming-normal (fan_out, ReLU) conv weights and zero conv biases; BN weight 1, bias 0 (He et al.
    2015).
    """
    he_normal_(model, mode="fan_out")


def zero_init_residual(model: nn.Module, name: str) -> None:
    fn = getattr(model, "zero_init_residual_bns", None)
    if fn is None:
        raise ValueError(
            f"--zero-init-residual: model {name!r} has no residual branches to zero-initialise "
            "(it provides no zero_init_residual_bns method)"
        )
    fn()


def frozen_after(model: nn.Module, steps_per_epoch: int) -> list[tuple[nn.Parameter, int]]:
    """(parameter, step it stops training at) for each entry of the model's ``freeze_after`` (parameter name →
    epochs it trains for; airbench's whitening bias trains for 3)."""
    spec: dict[str, float] = getattr(model, "freeze_after", {}) or {}
    named = dict(model.named_parameters())
    unknown = sorted(set(spec) - set(named))
    if unknown:
        raise ValueError(f"freeze_after names parameters the model does not have: {', '.join(unknown)}")
    return [(named[k], math.ceil(epochs * steps_per_epoch)) for k, epochs in spec.items()]


def small_crops(r: Recipe, size: tuple[int, int, int]) -> tuple[int | None, float]:
    """The recipe's ``small_crops`` as (window size, epochs): the first epochs train on random
    size×size windows of the augmented images, cheaper steps while the network learns coarse features
    (progressive resizing, as fast.ai's DAWNBench runs grew the image size; here by cropping, so the pixel
    scale stays the test images')."""
    if not r.small_crops:
        return None, 0
    unknown = sorted(set(r.small_crops) - {"size", "epochs"})
    if unknown or "size" not in r.small_crops:
        raise ValueError(f"small_crops takes size and epochs, got {r.small_crops}")
    window = int(r.small_crops["size"])
    if window < 1:
        raise ValueError(f"small_crops size must be at least 1 pixel, got {window}")
    if window >= min(size[1:]):  # images already that small: nothing to crop
        return None, 0
    return window, float(r.small_crops.get("epochs", 1))


def training_loss(
    out: Any, y: torch.Tensor, aux_weights: tuple[float, ...], label_smoothing: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy of the main logits plus each auxiliary head's, weighted by the model's ``aux_weights``.

    ``out`` is a logits tensor, or (models with auxiliary classifiers in training mode) a named tuple with
    ``.logits`` and ``.aux_logits``. Returns the loss and the main logits.
    """
    aux = getattr(out, "aux_logits", None)
    logits = out.logits if aux is not None else out
    loss = F.cross_entropy(logits.float(), y, label_smoothing=label_smoothing)
    aux = tuple(aux or ())
    if len(aux) != len(aux_weights) and aux:
        raise ValueError(
            f"the model returned {len(aux)} auxiliary outputs but has {len(aux_weights)} aux_weights"
        )
    for w, a in zip(aux_weights, aux, strict=False):
        loss = loss + w * F.cross_entropy(a.float(), y, label_smoothing=label_smoothing)
    return loss, logits
