"""Using a trained checkpoint: evaluate it on a dataset, or predict the top-5 classes of image files."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from convzoo.data import load_data, read_image
from convzoo.data.augment import normalize
from convzoo.train.checkpoint import find_checkpoint, load_model_weights, read_metadata
from convzoo.train.trainer import build_model, evaluate

__all__ = ["evaluate_checkpoint", "load_trained", "predict"]


def load_trained(path: str | os.PathLike[str]) -> tuple[nn.Module, dict[str, Any]]:
    """The model of a run folder or checkpoint, in eval mode, and its metadata (classes, normalization...)."""
    weights = find_checkpoint(path)
    meta = read_metadata(weights)
    model = build_model(meta["model"], meta["num_classes"], meta["in_chans"], **meta.get("model_kwargs", {}))
    load_model_weights(model, weights)
    return model.eval(), meta


def evaluate_checkpoint(
    path: str | os.PathLike[str],
    data: str | None = None,
    *,
    data_root: str | None = None,
    per_class: int | None = None,
    split: str = "test",
    batch_size: int = 500,
    tta: str = "none",
) -> dict[str, float]:
    """Top-1 / top-5 error and loss of a checkpoint on the ``split`` of ``data`` (default: the data it was
    trained on), resized as in training; ``tta`` averages over views as
    :func:`convzoo.train.trainer.tta_views` says.
    """
    model, meta = load_trained(path)
    size = meta["image_size"]
    splits = load_data(
        data or meta["data"],
        root=data_root,
        per_class=per_class,
        image_size=meta.get("resize"),
    )
    subset = {"test": splits.test, "train": splits.train}.get(split)
    if subset is None:
        raise ValueError(f"{data or meta['data']!r} has no {split!r} split")
    if list(subset.image_size) != list(size):
        raise ValueError(
            f"the data's images are {tuple(subset.image_size)} but the model was trained on {tuple(size)}"
        )
    if subset.classes != meta["classes"]:
        raise ValueError(
            f"the data's classes {subset.classes[:5]}... differ from the checkpoint's "
            f"{meta['classes'][:5]}..."
        )
    out = evaluate(model, subset, tuple(meta["mean"]), tuple(meta["std"]), batch_size=batch_size, tta=tta)
    return {**out, "images": float(len(subset))}


def predict(
    path: str | os.PathLike[str], images: list[str | os.PathLike[str]], topk: int = 5
) -> list[list[tuple[str, float]]]:
    """For each image file, the ``topk`` (class name, probability) pairs, most likely first.

    Images are converted like the training data (RGB or grayscale to the model's channels) and resized to the
    training size (shorter side, then centre crop).
    """
    model, meta = load_trained(path)
    c, h, w = meta["image_size"]
    if h != w:
        raise ValueError(f"predict handles square training images only, this model was trained on {h}×{w}")
    batch = []
    for p in images:
        if not Path(p).exists():
            raise FileNotFoundError(f"no such image: {p}")
        arr = read_image(p, "L" if c == 1 else "RGB", size=h)
        batch.append(torch.from_numpy(arr.copy()).permute(2, 0, 1))
    x = normalize(torch.stack(batch), meta["mean"], meta["std"])
    with torch.no_grad():
        prob = model(x).float().softmax(1)
    k = min(topk, prob.shape[1])
    top = prob.topk(k, dim=1)
    return [
        [(meta["classes"][i], float(v)) for v, i in zip(vals.tolist(), idx.tolist(), strict=True)]
        for vals, idx in zip(top.values, top.indices, strict=True)
    ]
