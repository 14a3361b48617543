"""The papers' test protocols: one centre crop, 10 crops, dense multi-scale evaluation, 144 crops.

Every protocol turns one image into views, runs the model on each and averages the views' soft-max
probabilities (dense evaluation first averages each view's class-score map over space, VGG §3.2). Sizes are
written for a 224 crop and scale with the model's crop (``scale · crop / 224``).

=============  =================================================================================  ==========
protocol       views                                                                              scales
=============  =================================================================================  ==========
center         shorter side to 256, the centre 224 crop (torchvision's convention)                256
10crop         shorter side to 256, its centre 256×256 square, 4 corner + centre crops, mirrored  256
               (Krizhevsky et al. 2012 §4.1; Zeiler & Fergus 2013)
dense          the whole image, shorter side Q, through the network with its FC layers as         256,384,512
               convolutions; score map averaged; mirrored (Simonyan & Zisserman 2014 §3.2)
multicrop144   4 scales × 3 squares (left/centre/right or top/centre/bottom) × (4 corners +       256,288,
               centre + the square resized to 224) × mirrored (Szegedy et al. 2014 §7)            320,352
=============  =================================================================================  ==========
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from convzoo.data.stream import (
    FolderIndex,
    StreamingFolder,
    decode_short,
    finish_batch,
    make_loader,
    require_two_classes,
)
from convzoo.trust_image import DataFileError

__all__ = [
    "PROTOCOLS",
    "FullyConvolutional",
    "dense_model",
    "evaluate_protocol",
    "image_scores",
    "parse_scales",
    "protocol_views",
]

# name → default scales (shorter side, at crop 224)
PROTOCOLS: dict[str, tuple[int, ...]] = {
    "center": (256,),
    "10crop": (256,),
    "dense": (256, 384, 512),
    "multicrop144": (256, 288, 320, 352),
}


def parse_scales(text: str | None, protocol: str, crop: int = 224) -> tuple[int, ...]:
    """``"256,384,512"`` → (256, 384, 512); None → the protocol's defaults scaled to ``crop``. Every scale
    must be at least the crop."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; use one of: {', '.join(PROTOCOLS)}")
    if text is None:
        return tuple(round(s * crop / 224) for s in PROTOCOLS[protocol])
    try:
        scales = tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise ValueError(
            f"--scales takes whole numbers separated by commas, e.g. 256,384,512; got {text!r}"
        ) from None
    if not scales or min(scales) < crop:
        raise ValueError(f"every scale (shorter side) must be at least the crop size {crop}, got {text!r}")
    if protocol in ("center", "10crop") and len(scales) != 1:
        raise ValueError(f"{protocol} takes one scale, got {len(scales)}: {text!r}")
    return scales


def _resize_short(img: Image.Image, s: int) -> np.ndarray:
    w, h = img.size
    r = s / min(w, h)
    return np.asarray(img.resize((max(s, round(w * r)), max(s, round(h * r))), Image.BILINEAR))


def _five(a: np.ndarray, c: int) -> list[np.ndarray]:
    """The four corner crops and the centre crop, c×c, of an H×W×C array."""
    h, w = a.shape[:2]
    tops = [(0, 0), (0, w - c), (h - c, 0), (h - c, w - c), ((h - c) // 2, (w - c) // 2)]
    return [a[y : y + c, x : x + c] for y, x in tops]


def _centre_square(a: np.ndarray) -> np.ndarray:
    h, w = a.shape[:2]
    s = min(h, w)
    return a[(h - s) // 2 : (h - s) // 2 + s, (w - s) // 2 : (w - s) // 2 + s]


def _three_squares(a: np.ndarray) -> list[np.ndarray]:
    """Left, centre and right squares (top, centre, bottom for a portrait image)."""
    h, w = a.shape[:2]
    s = min(h, w)
    offsets = [0, (max(h, w) - s) // 2, max(h, w) - s]
    return [a[:, o : o + s] if w >= h else a[o : o + s, :] for o in offsets]


def _with_mirrors(views: list[np.ndarray]) -> list[np.ndarray]:
    return views + [v[:, ::-1] for v in views]


def protocol_views(img: Image.Image, protocol: str, scales: Sequence[int], crop: int) -> list[np.ndarray]:
    """The views (H×W×C uint8 arrays) of one decoded image under ``protocol``."""
    if protocol == "center":
        return [_five(_centre_square(_resize_short(img, scales[0])), crop)[4]]
    if protocol == "10crop":
        return _with_mirrors(_five(_centre_square(_resize_short(img, scales[0])), crop))
    if protocol == "dense":
        return _with_mirrors([_resize_short(img, s) for s in scales])
    if protocol == "multicrop144":
        views = []
        for s in scales:
            for sq in _three_squares(_resize_short(img, s)):
                whole = np.asarray(Image.fromarray(sq).resize((crop, crop), Image.BILINEAR))
                views += _five(sq, crop) + [whole]
        return _with_mirrors(views)
    raise ValueError(f"unknown protocol {protocol!r}; use one of: {', '.join(PROTOCOLS)}")


@dataclass(frozen=True)
class _ViewTransform:  # picklable, for DataLoader workers
    protocol: str
    scales: tuple[int, ...]
    crop: int

    def __call__(self, path: Path, rng: np.random.Generator) -> torch.Tensor | list[torch.Tensor]:
        views = protocol_views(decode_short(path, max(self.scales)), self.protocol, self.scales, self.crop)
        chw = [torch.from_numpy(np.ascontiguousarray(v.transpose(2, 0, 1))) for v in views]
        return chw if self.protocol == "dense" else torch.stack(chw)


# ------------------------------------------------------------------------------ FC layers as convolutions


class FullyConvolutional(nn.Module):
    """A network whose fully connected head is applied as convolutions over the whole feature map (VGG §3.2):
    the first Linear becomes an h×w convolution, the next ones 1×1 convolutions (sharing the weights); the
    class-score map is averaged over space. At the training size the map is 1×1: the same logits."""

    def __init__(self, model: nn.Module, head: nn.Sequential, feature_hw: tuple[int, int]) -> None:
        super().__init__()
        self.model, self.head, self.feature_hw = model, head, feature_hw

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.model.forward_features(x)
        for m in self.head:
            if isinstance(m, nn.Linear):
                k = self.feature_hw if m is self._first_linear() else (1, 1)
                y = F.conv2d(y, m.weight.view(m.out_features, -1, *k), m.bias)
            elif not isinstance(m, nn.Flatten):
                y = m(y)
        return y.mean((2, 3))

    def _first_linear(self) -> nn.Linear:
        return next(m for m in self.head if isinstance(m, nn.Linear))


def dense_model(model: nn.Module) -> nn.Module:
    """``model`` for whole images of any size: a head of Linear layers after a fixed C×h×w feature map
    (``model.feature_shape``; AlexNet, ZFNet, VGG) becomes :class:`FullyConvolutional`; a network that pools
    globally before its classifier (ResNet, Inception, DenseNet, ...) already is one and is returned as is."""
    head, shape = getattr(model, "classifier", None), getattr(model, "feature_shape", None)
    if not isinstance(head, nn.Sequential) or shape is None:
        return model
    linears = [m for m in head if isinstance(m, nn.Linear)]
    if not linears or linears[0].in_features != math.prod(shape):
        raise ValueError(
            f"{type(model).__name__}: the first fully connected layer takes {linears[0].in_features if linears else 0}"
            f" inputs, not the {'×'.join(map(str, shape))} feature map; cannot apply it as a convolution"
        )
    return FullyConvolutional(model, head, (shape[1], shape[2]))


# ------------------------------------------------------------------------------------------- evaluation


def _probs(net: nn.Module, views: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """Mean soft-max over the views (V×C×H×W uint8) → K; or, for B×V×C×H×W, B×K."""
    lead = views.shape[:-3]
    logits = net(finish_batch(views.reshape(-1, *views.shape[-3:]), mean, std)).float()
    return logits.softmax(1).view(*lead, -1).mean(-2)


def _average(
    net: nn.Module,
    x: torch.Tensor | list,
    mean: Sequence[float],
    std: Sequence[float],
    device: torch.device | str,
) -> torch.Tensor:
    """B×K averaged probabilities of a batch of views: B×V×C×H×W, or (dense) B lists of C×H×W views."""
    if isinstance(x, torch.Tensor):
        return _probs(net, x.to(device), mean, std)
    return torch.stack(
        [torch.stack([_probs(net, v[None].to(device), mean, std) for v in vs]).mean(0) for vs in x]
    )


@torch.no_grad()
def image_scores(
    model: nn.Module,
    path: str | Path,
    protocol: str,
    mean: Sequence[float],
    std: Sequence[float],
    *,
    scales: Sequence[int] | None = None,
    crop: int = 224,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """The class probabilities of one image file under ``protocol``, averaged over its views (K)."""
    scales = tuple(scales) if scales is not None else parse_scales(None, protocol, crop)
    net = (dense_model(model) if protocol == "dense" else model).eval().to(device)
    views = _ViewTransform(protocol, scales, crop)(Path(path), np.random.default_rng(0))
    return _average(net, [views] if isinstance(views, list) else views[None], mean, std, device)[0].cpu()


@torch.no_grad()
def evaluate_protocol(
    model: nn.Module,
    index: FolderIndex,
    protocol: str,
    mean: Sequence[float],
    std: Sequence[float],
    *,
    scales: Sequence[int] | None = None,
    crop: int = 224,
    batch_size: int = 8,
    workers: int = 0,
    device: torch.device | str = "cpu",
    rank: int = 0,
    world: int = 1,
    on_bad: str = "error",
    views: Callable[[Path, np.random.Generator], torch.Tensor] | None = None,
) -> dict[str, float]:
    """Top-1 / top-5 error (%), mean loss (negative log of the averaged probability) and the image count of
    ``model`` (in eval mode) on ``index`` under ``protocol``. Under ``torchrun`` each process evaluates its
    shard and the sums are all-reduced: every image counts exactly once. ``batch_size`` is global.
    ``on_bad="skip"`` leaves unreadable images out (with a warning naming each); a split of fewer than 2
    classes, or with no readable image, is refused. ``views``: a picklable ``(path, rng) -> V×C×H×W uint8``
    that replaces the protocol's own views (a pretrained source's resize and crop, its interpolation)."""
    require_two_classes(index)
    scales = tuple(scales) if scales is not None else parse_scales(None, protocol, crop)
    net = (dense_model(model) if protocol == "dense" else model).eval().to(device)
    ds = StreamingFolder(index, views or _ViewTransform(protocol, scales, crop), on_bad=on_bad)
    sums = torch.zeros(4, dtype=torch.float64)  # images, top-1 right, top-5 right, loss
    for x, y, _ in make_loader(ds, batch_size, shuffle=False, workers=workers, rank=rank, world=world):
        if not len(y):  # every image of the batch was skipped as unreadable
            continue
        p = _average(net, x, mean, std, device).cpu().double()
        top5 = p.topk(min(5, p.shape[1]), 1).indices
        sums += torch.tensor(
            [
                len(y),
                (top5[:, 0] == y).sum(),
                (top5 == y[:, None]).any(1).sum(),
                -p.gather(1, y[:, None]).clamp_min(1e-12).log().sum(),
            ],
            dtype=torch.float64,
        )
    if world > 1:
        torch.distributed.all_reduce(sums)
    if not sums[0].item():
        raise DataFileError(f"{index.root}: none of its {len(index)} images could be read")
    n = sums[0].item()
    return {
        "err": 100 - 100 * sums[1].item() / n,
        "top5_err": 100 - 100 * sums[2].item() / n,
        "loss": sums[3].item() / n,
        "images": sums[0].item(),
    }
