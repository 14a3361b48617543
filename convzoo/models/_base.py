"""What every convzoo network provides."""

from __future__ import annotations

import torch
from torch import nn


class ZooModel(nn.Module):
    """Base class: ``forward = forward_head ∘ forward_features``; ``num_classes``, ``in_chans``, ``reset_classifier``.

    Subclasses set ``self.num_classes`` and ``self.in_chans`` and implement the three methods below.
    """

    num_classes: int
    in_chans: int

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def get_classifier(self) -> nn.Module:
        raise NotImplementedError

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the last classification layer with a freshly initialised one for ``num_classes``."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor):  # type: ignore[no-untyped-def]
        return self.forward_head(self.forward_features(x))
