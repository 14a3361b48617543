"""Using a trained checkpoint: evaluate it on a dataset, or predict the top-5 classes of image files.

Everything read from the checkpoint goes through :mod:`convzoo.trust`: its metadata can only name a
registered model with that model's declared overrides; a model of your own (``package.module:function``)
is used only when you name it yourself (``model=`` here, ``--model`` on the command line).
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

import torch
from torch import nn

from convzoo.data import BadImageError, load_data, read_image
from convzoo.data.augment import normalize
from convzoo.train.checkpoint import find_checkpoint, load_model_weights, read_metadata
from convzoo.train.trainer import evaluate
from convzoo.trust import RunMetadata, build_model_from_metadata

__all__ = ["evaluate_checkpoint", "load_trained", "predict"]

Prediction = list[tuple[str, float]]


def load_trained(
    path: str | os.PathLike[str], model: str | None = None, optimize: str | None = None
) -> tuple[nn.Module, RunMetadata]:
    """The model of a run folder or checkpoint, in eval mode, and its validated metadata.

    ``model``: the registered name or ``package.module:function`` to build instead of trusting the file's
    name; needed for a checkpoint of a model of your own, since a file never names code to import.
    ``optimize``: a dtype ("fp32", "bf16", "fp16") for :func:`convzoo.deploy.optimize` to prepare it in.
    """
    weights = find_checkpoint(path)
    meta = read_metadata(weights)
    net = build_model_from_metadata(meta, model, weights, weights_bytes=weights.stat().st_size)
    load_model_weights(net, weights)
    if optimize is not None:
        from convzoo.deploy import optimize as optimize_model

        return optimize_model(net.eval(), dtype=optimize), meta
    return net.eval(), meta


def evaluate_checkpoint(
    path: str | os.PathLike[str],
    data: str | None = None,
    *,
    data_root: str | None = None,
    per_class: int | None = None,
    split: str = "test",
    batch_size: int = 500,
    tta: str = "none",
    model: str | None = None,
    skip_bad_images: bool = False,
    optimize: str | None = None,
) -> dict[str, float]:
    """Top-1 / top-5 error and loss of a checkpoint on the ``split`` of ``data`` (default: the data it was
    trained on), resized as in training; ``tta`` averages over views as
    :func:`convzoo.train.trainer.tta_views` says; ``model`` and ``optimize`` as in :func:`load_trained`.
    """
    net, meta = load_trained(path, model, optimize)
    spec = data or meta.data
    splits = load_data(
        spec,
        root=data_root,
        per_class=per_class,
        image_size=meta.resize,
        on_bad="skip" if skip_bad_images else "error",
    )
    subset = {"test": splits.test, "train": splits.train}.get(split)
    if subset is None:
        raise ValueError(f"{spec!r} has no {split!r} split")
    if tuple(subset.image_size) != meta.image_size:
        raise ValueError(
            f"the data's images are {tuple(subset.image_size)} but the model was trained on {meta.image_size}"
        )
    if tuple(subset.classes) != meta.classes:
        raise ValueError(
            f"the data's classes {subset.classes[:5]}... differ from the checkpoint's {list(meta.classes[:5])}..."
        )
    out = evaluate(net, subset, meta.mean, meta.std, batch_size=batch_size, tta=tta)
    if not all(math.isfinite(v) for v in out.values()):
        raise FloatingPointError(f"{path}: the model's outputs on {spec!r} are not finite (loss {out['loss']})")
    return {**out, "images": float(len(subset))}


def _read_batch(
    images: list[str | os.PathLike[str]], meta: RunMetadata, skip_bad_images: bool
) -> tuple[torch.Tensor | None, list[int]]:
    """The images as one normalized batch and the indices of those read; bad ones are skipped or raise."""
    c, h, _ = meta.image_size
    batch, kept = [], []
    for i, p in enumerate(images):
        try:
            if not Path(p).is_file():
                raise BadImageError(f"no such image file: {p}")
            arr = read_image(p, "L" if c == 1 else "RGB", size=h)
        except BadImageError as e:
            if not skip_bad_images:
                raise
            print(f"note: skipped {p}: {e.cause}", file=sys.stderr)
            continue
        batch.append(torch.from_numpy(arr.copy()).permute(2, 0, 1))
        kept.append(i)
    return (normalize(torch.stack(batch), meta.mean, meta.std) if batch else None), kept


def predict(
    path: str | os.PathLike[str],
    images: list[str | os.PathLike[str]],
    topk: int = 5,
    *,
    model: str | None = None,
    skip_bad_images: bool = False,
    optimize: str | None = None,
) -> list[Prediction | None]:
    """For each image file, the ``topk`` (class name, probability) pairs, most likely first.

    Images are converted like the training data (RGB or grayscale to the model's channels) and resized to the
    training size (shorter side, then centre crop). A file that cannot be read raises
    :class:`convzoo.data.BadImageError`, or with ``skip_bad_images`` gets None (and a note on stderr).
    ``model`` and ``optimize`` as in :func:`load_trained`.
    """
    if topk < 1:
        raise ValueError(f"topk must be at least 1, not {topk}")
    net, meta = load_trained(path, model, optimize)
    _, h, w = meta.image_size
    if h != w:
        raise ValueError(f"predict handles square training images only, this model was trained on {h}×{w}")
    x, kept = _read_batch(images, meta, skip_bad_images)
    results: list[Prediction | None] = [None] * len(images)
    if x is None:
        return results
    with torch.no_grad():
        prob = net(x).float().softmax(1)
    if not bool(torch.isfinite(prob).all()):
        raise FloatingPointError(f"{path}: the model's outputs are not finite (NaN or infinity) for these images")
    top = prob.topk(min(topk, prob.shape[1]), dim=1)
    for i, vals, idx in zip(kept, top.values.tolist(), top.indices.tolist(), strict=True):
        results[i] = [(meta.classes[j], v) for v, j in zip(vals, idx, strict=True)]
    return results
