"""Augmentation of whole uint8 batches with tensor ops, on the training device.

:class:`BatchAugment` draws the random parameters of a *global* batch from a seeded generator and applies the
slice a process owns, so a run is reproducible step by step (exact resume) and two processes see exactly the
images one process would. The draws are made on the CPU (the same numbers on every device) and reach a GPU by
:func:`to_device`, without making the host wait for the GPU.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = ["CROP_MODES", "AugmentSpec", "BatchAugment", "lighting_pca", "normalize", "to_device"]

CROP_MODES: tuple[str, ...] = ("zeros", "reflect")
MAX_CROP_PAD = 64  # pixels; padding is a shift of a few pixels, not a resize


@dataclass(frozen=True)
class AugmentSpec:
    """What a recipe asks for.

    ``crop_pad``: pad by this many pixels and take a random crop of the original size (He et al. 2015: 4);
    ``crop_mode``: the padding, ``"zeros"`` (black) or ``"reflect"`` (mirrored edge pixels, as Jordan 2024).
    ``flip``: random horizontal flip; with ``flip_alternate`` each image is flipped at random in the first
    epoch and then every other epoch, so over any two epochs it is seen both ways (Jordan 2024's
    "alternating flip"). ``lighting``: standard deviation of the AlexNet PCA colour noise (Krizhevsky et al.
    2012: 0.1). ``scale``: random-resized crop with the area fraction in ``scale`` (scale augmentation for
    ImageNet-style data).
    """

    crop_pad: int = 0
    flip: bool = False
    lighting: float = 0.0
    scale: tuple[float, float] | None = None
    crop_mode: str = "zeros"
    flip_alternate: bool = False

    def __post_init__(self) -> None:
        if self.crop_mode not in CROP_MODES:
            raise ValueError(f"unknown crop padding {self.crop_mode!r}; use one of: {', '.join(CROP_MODES)}")
        if self.flip_alternate and not self.flip:
            raise ValueError("flip_alternate needs flip=True")
        if not 0 <= self.crop_pad <= MAX_CROP_PAD:
            raise ValueError(f"crop padding must be 0 to {MAX_CROP_PAD} pixels, got {self.crop_pad}")
        if not 0.0 <= self.lighting <= 10.0:  # also false for NaN
            raise ValueError(f"lighting noise must be a standard deviation in [0, 10], got {self.lighting}")
        if self.scale is not None and not 0.0 < self.scale[0] <= self.scale[1] <= 1.0:
            raise ValueError(
                f"scale must be an area range 0 < LO <= HI <= 1, got {self.scale[0]}-{self.scale[1]}"
            )

    @classmethod
    def parse(cls, text: str) -> AugmentSpec:
        """Parse ``"crop:4,flip,lighting:0.1,scale:0.35-1"`` (``none`` for nothing); ``crop:2:reflect`` pads by
        reflection, ``flip:alt`` alternates flips between epochs."""
        kw: dict[str, object] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, _, value = part.partition(":")
            if name == "none":
                continue
            if name == "crop":
                pad, _, mode = value.partition(":")
                kw["crop_pad"] = int(pad or 4)
                if mode:
                    kw["crop_mode"] = mode
            elif name == "flip":
                if value not in ("", "alt"):
                    raise ValueError(f"unknown flip mode {value!r} in {text!r}; use flip or flip:alt")
                kw["flip"], kw["flip_alternate"] = True, value == "alt"
            elif name == "lighting":
                kw["lighting"] = float(value or 0.1)
            elif name == "scale":
                lo, _, hi = (value or "0.08-1").partition("-")
                kw["scale"] = (float(lo), float(hi or 1))
            else:
                raise ValueError(
                    f"unknown augmentation {name!r} in {text!r}; use crop[:PAD[:reflect]], flip[:alt], "
                    "lighting[:STD], scale[:LO-HI] or none"
                )
        return cls(**kw)  # type: ignore[arg-type]

    def __str__(self) -> str:
        parts = []
        if self.crop_pad:
            parts.append(
                f"crop:{self.crop_pad}" + (f":{self.crop_mode}" if self.crop_mode != "zeros" else "")
            )
        if self.flip:
            parts.append("flip:alt" if self.flip_alternate else "flip")
        if self.lighting:
            parts.append(f"lighting:{self.lighting:g}")
        if self.scale:
            parts.append(f"scale:{self.scale[0]:g}-{self.scale[1]:g}")
        return ",".join(parts) or "none"


def to_device(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """``t`` (a CPU tensor) on ``device`` without a host sync: on a GPU it is pinned and copied asynchronously
    (a plain ``.to("cuda")`` waits for the GPU's queue to drain, once per call); on the CPU it is ``t``."""
    if t.device == device or device.type == "cpu":
        return t.to(device)
    if device.type == "cuda" and t.device.type == "cpu":
        t = t.pin_memory()
    return t.to(device, non_blocking=True)


def _gather(x: torch.Tensor, iy: torch.Tensor, ix: torch.Tensor) -> torch.Tensor:
    """Image i's rows ``iy[i]`` and columns ``ix[i]`` (N×h' and N×w' indices) of ``x`` (N×C×H×W)."""
    bn = torch.arange(len(x), device=x.device)[:, None, None]
    return x.permute(0, 2, 3, 1)[bn, iy[:, :, None], ix[:, None, :]].permute(0, 3, 1, 2)


def _reflect(i: torch.Tensor, size: int) -> torch.Tensor:
    """Indices ``i`` (from ``-size+1`` to ``2·size−2``) mirrored into ``0..size−1`` without repeating the edge
    (``F.pad``'s "reflect")."""
    i = i.abs()
    return torch.where(i > size - 1, 2 * (size - 1) - i, i)


def lighting_pca(images: torch.Tensor, max_pixels: int = 2_000_000) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigenvalues and eigenvectors of the RGB covariance of uint8 images on the [0, 1] scale (AlexNet
    §4.1).
    """
    c = images.shape[1]
    px = images.transpose(0, 1).reshape(c, -1)
    if px.shape[1] > max_pixels:
        px = px[:, torch.linspace(0, px.shape[1] - 1, max_pixels).long()]
    px = px.double() / 255
    cov = torch.cov(px)
    eigval, eigvec = torch.linalg.eigh(cov)
    return eigval.float().clamp_min(0), eigvec.float()


def normalize(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """uint8 (or float in 0–255) N×C×H×W → float32 normalized per channel."""
    m = to_device(torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1) * 255, x.device)
    s = to_device(torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1) * 255, x.device)
    return (x.float() - m) / s


class BatchAugment:
    """Applies an :class:`AugmentSpec` to uint8 batches and returns normalized float32 tensors.

    Alternating flips need to know each image: pass ``num_images`` (the training set's size) and ``seed``
    here, and each batch's dataset ``index`` and ``epoch`` to the call.
    """

    def __init__(
        self,
        spec: AugmentSpec,
        mean: Sequence[float],
        std: Sequence[float],
        pca: tuple[torch.Tensor, torch.Tensor] | None = None,
        num_images: int | None = None,
        seed: int = 0,
    ) -> None:
        if spec.lighting and pca is None:
            raise ValueError(
                "lighting noise needs the PCA of the training set: pass pca=lighting_pca(train_images)"
            )
        self.spec, self.mean, self.std, self.pca = spec, tuple(mean), tuple(std), pca
        self.first_flip: torch.Tensor | None = None  # alternating flips: is image i flipped in epoch 0
        if spec.flip_alternate:
            if num_images is None:
                raise ValueError("alternating flips (flip:alt) need num_images, the size of the training set")
            self.first_flip = torch.rand(num_images, generator=torch.Generator().manual_seed(seed)) < 0.5

    def __call__(
        self,
        x: torch.Tensor,
        gen: torch.Generator | None = None,
        offset: int = 0,
        total: int | None = None,
        *,
        index: torch.Tensor | None = None,
        epoch: int = 0,
        window: int | None = None,
    ) -> torch.Tensor:
        """Augment ``x`` (uint8 N×C×H×W), rows ``offset : offset+N`` of a global batch of ``total`` images.

        Random numbers are drawn on the CPU from ``gen`` for all ``total`` images, then sliced, so every
        process of a distributed run applies the same draw to its own slice. ``index`` (the images' rows in
        the training set) and ``epoch`` are needed by alternating flips only. ``window``: return a random
        ``window``×``window`` part of each augmented image (smaller, cheaper images for the first epochs).
        """
        n, _, h, w = x.shape
        total = n if total is None else total
        if offset + n > total:
            raise ValueError(f"rows {offset}:{offset + n} lie outside a batch of {total}")
        rows = slice(offset, offset + n)
        s = self.spec
        dev = x.device
        if s.scale is not None:
            x = self._scale(x, gen, total, rows)
        if s.crop_pad:
            p = s.crop_pad
            off = to_device(torch.randint(0, 2 * p + 1, (total, 2), generator=gen)[rows], dev)
            iy = off[:, 0:1] + torch.arange(h, device=dev)  # n×h, rows of the padded image
            ix = off[:, 1:2] + torch.arange(w, device=dev)  # n×w
            if s.crop_mode == "reflect":
                if p >= min(h, w):
                    raise ValueError(
                        f"reflection padding of {p} needs images larger than {p}×{p}, got {h}×{w}"
                    )
                x = _gather(x, _reflect(iy - p, h), _reflect(ix - p, w))
            else:
                x = _gather(F.pad(x, (p, p, p, p)), iy, ix)
        if s.flip:
            if self.first_flip is not None:
                if index is None:
                    raise ValueError("alternating flips (flip:alt) need the images' dataset index")
                m = self.first_flip[index.cpu()] ^ bool(epoch % 2)
            else:
                m = (torch.rand(total, generator=gen) < 0.5)[rows]
            x = torch.where(to_device(m, dev).view(-1, 1, 1, 1), x.flip(3), x)
        if window is not None:
            if not 0 < window <= min(h, w):
                raise ValueError(f"window {window} must be between 1 and the image size {min(h, w)}")
            off = to_device(torch.randint(0, min(h, w) - window + 1, (total, 2), generator=gen)[rows], dev)
            span = torch.arange(window, device=dev)
            x = _gather(x, off[:, 0:1] + span, off[:, 1:2] + span)
        out = normalize(x, self.mean, self.std)
        if s.lighting:
            assert self.pca is not None
            eigval, eigvec = self.pca
            alpha = (torch.randn(total, eigval.numel(), generator=gen) * s.lighting)[rows]
            shift = (alpha * eigval) @ eigvec.T  # n×C, on the [0, 1] scale
            std = torch.tensor(self.std).view(1, -1)
            out = out + to_device(shift / std, dev).view(n, -1, 1, 1)
        return out.contiguous(memory_format=torch.contiguous_format)

    def _scale(self, x: torch.Tensor, gen: torch.Generator | None, total: int, rows: slice) -> torch.Tensor:
        """Random-resized crop: area fraction in ``spec.scale``, aspect ratio in [3/4, 4/3], back to H×W."""
        assert self.spec.scale is not None
        n, _, h, w = x.shape
        lo, hi = self.spec.scale
        area = (torch.rand(total, generator=gen) * (hi - lo) + lo)[rows]
        logr = torch.empty(total).uniform_(-0.2877, 0.2877, generator=gen)[rows]  # log(3/4) .. log(4/3)
        ratio = logr.exp()
        cw = (area * ratio).sqrt().clamp(max=1.0)  # crop width / W
        ch = (area / ratio).sqrt().clamp(max=1.0)
        u = torch.rand(total, 2, generator=gen)[rows]
        cx = (u[:, 0] * (1 - cw) + cw / 2) * 2 - 1  # centre in [-1, 1]
        cy = (u[:, 1] * (1 - ch) + ch / 2) * 2 - 1
        theta = torch.zeros(n, 2, 3)
        theta[:, 0, 0], theta[:, 0, 2], theta[:, 1, 1], theta[:, 1, 2] = cw, cx, ch, cy
        grid = F.affine_grid(to_device(theta, x.device), [n, x.shape[1], h, w], align_corners=False)
        out = F.grid_sample(x.float(), grid, mode="bilinear", padding_mode="border", align_corners=False)
        return out.round_().clamp_(0, 255).to(torch.uint8)
