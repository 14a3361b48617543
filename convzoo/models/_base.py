"""What every convzoo network provides."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import torch
from torch import nn


def _keep(
    store: dict[str, torch.Tensor], name: str, _module: nn.Module, _args: object, output: torch.Tensor
) -> None:
    store[name] = output


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

    def forward_intermediates(self, x: torch.Tensor, names: Sequence[str]) -> dict[str, torch.Tensor]:
        """The outputs of the named submodules (``named_modules()`` names, as ``convzoo summary`` lists them)
        in one pass of ``forward_features``: a feature pyramid for a detector (timm's ``features_only``).
        Forward hooks, so it works for every family (torch.fx cannot trace VGG's or GoogLeNet's heads)."""
        modules = dict(self.named_modules())
        unknown = [n for n in names if n not in modules]
        if unknown:
            raise ValueError(f"{type(self).__name__} has no submodule {', '.join(map(repr, unknown))}")
        out: dict[str, torch.Tensor] = {}
        hooks = [modules[n].register_forward_hook(partial(_keep, out, n)) for n in names]
        try:
            self.forward_features(x)
        finally:
            for hook in hooks:
                hook.remove()
        silent = [n for n in names if n not in out]
        if silent:
            raise ValueError(
                f"{', '.join(map(repr, silent))} did not run in {type(self).__name__}.forward_features"
            )
        return {n: out[n] for n in names}

    def forward_pre_logits(self, x: torch.Tensor) -> torch.Tensor:
        """The input of the classifier (``get_classifier()``) for images ``x``: the embedding a linear probe or
        image retrieval uses (timm's ``forward_head(..., pre_logits=True)``), the same for every family."""
        seen: list[torch.Tensor] = []
        hook = self.get_classifier().register_forward_pre_hook(lambda _m, args: seen.append(args[0]))
        try:
            self.forward_head(self.forward_features(x))
        finally:
            hook.remove()
        if not seen:
            raise RuntimeError(f"{type(self).__name__}'s forward never called its classifier module")
        return seen[-1]
