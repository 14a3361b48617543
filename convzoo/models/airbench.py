"""airbench94 (Jordan 2024, arXiv:2404.00498): the network of the CIFAR-10 speed-run, 94% in about 10 epochs.

Not one of the classic papers, but the zoo's answer to "which network reaches 90% on CIFAR-10 fastest on a
laptop CPU": a small VGG-like net with batch norm, where most of the paper's speed comes from how the
network is initialised and trained.

* ``whiten``: a 2×2 convolution of 24 filters whose weights are computed from training images and frozen:
  the eigenvectors of the covariance of 2×2×3 patches, each scaled by 1/√(eigenvalue + ε), and their
  negatives (:meth:`AirbenchNet.init_from_data`); its bias trains for the first 3 epochs only
  (``freeze_after``, which the trainer reads), which also spares the backward pass the gradient of the first
  group's input after that. GELU follows.
* three groups, 64, 256 and 256 channels wide: conv 3×3 → max-pool 2 → BN → GELU → conv 3×3 → BN → GELU.
  BN has no trainable scale (weight fixed at 1), ε = 1e-12 and PyTorch momentum 0.4 (the paper's decay 0.6);
  each convolution starts as the identity on its first input channels (partial dirac initialisation).
* a global max-pool (the paper's 3×3 max-pool over the final 3×3 map, written so that smaller training crops
  work too), a bias-free linear classifier, and logits scaled by 1/9.

Spatial sizes at 32×32 input: 31 (whitening, no padding) → 15 → 7 → 3 → 1.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from convzoo.models._base import ZooModel
from convzoo.registry import Paper, Reported, register_model

__all__ = ["AirbenchNet", "ConvGroup", "whitening_filters"]

JORDAN_2024 = Paper(
    authors="Jordan", title="94% on CIFAR-10 in 3.29 Seconds on a Single GPU", year=2024, arxiv="2404.00498"
)


def _frozen_scale_bn(channels: int) -> nn.BatchNorm2d:
    bn = nn.BatchNorm2d(channels, eps=1e-12, momentum=0.4)
    bn.weight.requires_grad_(False)
    return bn


class ConvGroup(nn.Sequential):
    """conv 3×3 → max-pool 2 → norm → act → conv 3×3 → norm → act (convolutions without bias)."""

    def __init__(
        self,
        in_chans: int,
        out_chans: int,
        norm_layer: Callable[[int], nn.Module] = _frozen_scale_bn,
        act_layer: Callable[[], nn.Module] = nn.GELU,
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_chans, out_chans, 3, padding=1, bias=False)
        self.pool = nn.MaxPool2d(2)
        self.norm1, self.act1 = norm_layer(out_chans), act_layer()
        self.conv2 = nn.Conv2d(out_chans, out_chans, 3, padding=1, bias=False)
        self.norm2, self.act2 = norm_layer(out_chans), act_layer()


@torch.no_grad()
def whitening_filters(images: torch.Tensor, kernel: int, eps: float = 5e-4) -> torch.Tensor:
    """The 2·C·k² whitening filters of ``images`` (N×C×H×W, normalized): the eigenvectors of the (uncentred)
    covariance of their k×k patches, largest eigenvalue first, divided by √(eigenvalue + eps), then their
    negatives."""
    c = images.shape[1]
    patches = images.float().unfold(2, kernel, 1).unfold(3, kernel, 1)  # N×C×H'×W'×k×k
    flat = patches.permute(0, 2, 3, 1, 4, 5).reshape(-1, c * kernel * kernel).double()
    eigval, eigvec = torch.linalg.eigh(flat.T @ flat / len(flat))  # ascending
    filters = (eigvec.T / (eigval[:, None] + eps).sqrt()).flip(0).reshape(-1, c, kernel, kernel)
    return torch.cat([filters, -filters]).float()


class AirbenchNet(ZooModel):
    """``whiten`` → GELU → ``groups`` (``ConvGroup`` per width) → ``head`` (global max-pool, flatten, linear), ×
    ``output_scale``."""

    def __init__(
        self,
        widths: Sequence[int] = (64, 256, 256),
        num_classes: int = 10,
        in_chans: int = 3,
        whiten_kernel: int = 2,
        output_scale: float = 1 / 9,
        norm_layer: Callable[[int], nn.Module] = _frozen_scale_bn,
        act_layer: Callable[[], nn.Module] = nn.GELU,
        whiten_bias_epochs: float = 3,
    ) -> None:
        super().__init__()
        self.num_classes, self.in_chans, self.output_scale = num_classes, in_chans, output_scale
        self.freeze_after = {"whiten.bias": whiten_bias_epochs}  # parameter → epochs it trains for
        self.whiten = nn.Conv2d(in_chans, 2 * in_chans * whiten_kernel**2, whiten_kernel, bias=True)
        self.whiten.weight.requires_grad_(False)
        self.act = act_layer()
        chans = [self.whiten.out_channels, *widths]
        self.groups = nn.Sequential(
            *(ConvGroup(a, b, norm_layer, act_layer) for a, b in zip(chans[:-1], chans[1:], strict=True))
        )
        self.head = nn.Sequential(
            nn.AdaptiveMaxPool2d(1), nn.Flatten(1), nn.Linear(widths[-1], num_classes, bias=False)
        )
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """PyTorch's default initialisation, then each 3×3 convolution's first ``in_channels`` filters set to
        the identity (dirac); the whitening filters stay as they are until :meth:`init_from_data`."""
        for m in self.groups.modules():
            if isinstance(m, nn.Conv2d):
                m.reset_parameters()
                nn.init.dirac_(m.weight[: m.in_channels])

    @torch.no_grad()
    def init_from_data(self, images: torch.Tensor) -> None:
        """Set the frozen whitening filters from normalized training images (the paper uses 5,000)."""
        self.whiten.weight.copy_(whitening_filters(images, self.whiten.kernel_size[0]))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.groups(self.act(self.whiten(x)))

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(x) * self.output_scale

    def get_classifier(self) -> nn.Module:
        return self.head[-1]

    def reset_classifier(self, num_classes: int) -> None:
        old = self.head[-1]
        self.head[-1] = nn.Linear(old.in_features, num_classes, bias=False, device=old.weight.device)
        self.num_classes = num_classes


@register_model(
    paper=JORDAN_2024,
    input_size=(3, 32, 32),
    num_classes=10,
    reported=Reported(cifar10_err=5.99, source="Section 1: 94.01% mean accuracy, 3.6e14 FLOPs of training"),
    note="The network; the `airbench94` recipe carries the rest of the paper's method (BN biases at 64× the "
    "learning rate, Lookahead, alternating flips, reflection-padded crops, 6-view test-time augmentation). "
    "The trainer calls init_from_data on 5,000 normalized training images to compute the whitening filters "
    "and stops training the whitening bias after 3 epochs (freeze_after).",
)
def airbench94(num_classes: int = 10, in_chans: int = 3) -> AirbenchNet:
    """airbench94 (Jordan 2024, arXiv:2404.00498): whitening 2×2 conv, groups of 64/256/256, 1.97M params."""
    return AirbenchNet((64, 256, 256), num_classes, in_chans)
