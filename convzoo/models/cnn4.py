"""The four-layer CNN of Krizhevsky, Sutskever, Hinton (2012), Section 3.1 and Fig. 1: ReLU against tanh.

Fig. 1 shows that "a four-layer convolutional neural network with ReLUs reaches a 25% training error rate on
CIFAR-10 six times faster than an equivalent network with tanh neurons"; the paper gives no other detail than
that no regularization of any kind was used and that each net's learning rate was chosen for speed. The layers
here are the four weight layers of the CIFAR-10 example Krizhevsky shipped with cuda-convnet
(``example-layers/layers-18pct.cfg``) without its two response-normalization layers, i.e. also
``layers-80sec.cfg`` without its 64-unit hidden layer: a documented choice, not a statement of the paper.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from convzoo.layers import get_act_layer
from convzoo.models._base import ZooModel
from convzoo.models.alexnet import KRIZHEVSKY_2012
from convzoo.models.nin import feature_side
from convzoo.registry import Reported, register_model

__all__ = ["CNN4", "ConvPool", "CNN4_LAYERS"]


@dataclass(frozen=True)
class ConvPool:
    """A 5×5 convolution (padding 2) with ``width`` maps and the activation, then 3×3 stride-2 ``pool``
    ("max" or "avg") with cuda-convnet's output size, ⌈(W − 3)/2⌉ + 1; ``std`` is its initial weight scale."""

    width: int
    pool: str
    std: float


# layers-18pct.cfg: conv1 32 (initW 1e-4) max-pool, conv2 32 (0.01) avg-pool, conv3 64 (0.01) avg-pool, fc10 (0.01)
CNN4_LAYERS = (ConvPool(32, "max", 1e-4), ConvPool(32, "avg", 0.01), ConvPool(64, "avg", 0.01))
FC_STD = 0.01
_POOLS = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}


class CNN4(ZooModel):
    """Conv-act-pool stages (``features.conv1``, ``act1``, ``pool1`` …), then ``head.flatten`` and ``head.fc``,
    the one fully connected layer, built for ``img_size``×``img_size`` inputs."""

    def __init__(
        self,
        layers: Sequence[ConvPool] = CNN4_LAYERS,
        num_classes: int = 10,
        in_chans: int = 3,
        act: str = "relu",
        img_size: int = 32,
    ) -> None:
        super().__init__()
        act_layer = get_act_layer(act)
        if act_layer is None:
            raise ValueError("cnn4 needs an activation (e.g. 'relu' or 'tanh'), got none")
        self.num_classes, self.in_chans, self.act = num_classes, in_chans, act
        self.layers = tuple(layers)
        self.features = nn.Sequential()
        chans = in_chans
        for i, layer in enumerate(self.layers, 1):
            if layer.pool not in _POOLS:
                raise ValueError(f"layer {i}: pool must be 'max' or 'avg', got {layer.pool!r}")
            self.features.add_module(f"conv{i}", nn.Conv2d(chans, layer.width, 5, 1, 2))
            self.features.add_module(f"act{i}", act_layer())
            self.features.add_module(f"pool{i}", _POOLS[layer.pool](3, 2, ceil_mode=True))
            chans = layer.width
        side = feature_side(self.features, img_size)
        self.head = nn.Sequential()
        self.head.add_module("flatten", nn.Flatten(1))
        self.head.add_module("fc", nn.Linear(chans * side * side, num_classes))
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """cuda-convnet's initialisation: weights from N(0, initW²) with each layer's initW, zero biases."""
        stds = [layer.std for layer in self.layers] + [FC_STD]
        weighted = [m for m in self.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
        for m, std in zip(weighted, stds, strict=True):
            nn.init.normal_(m.weight, 0.0, std)
            nn.init.zeros_(m.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(x)

    def get_classifier(self) -> nn.Module:
        return self.head.fc

    def reset_classifier(self, num_classes: int) -> None:
        old = self.head.fc
        self.head.fc = nn.Linear(old.in_features, num_classes, device=old.weight.device)
        nn.init.normal_(self.head.fc.weight, 0.0, FC_STD)
        nn.init.zeros_(self.head.fc.bias)
        self.num_classes = num_classes


@register_model(
    paper=KRIZHEVSKY_2012,
    input_size=(3, 32, 32),
    num_classes=10,
    reported=Reported(
        source="Fig. 1 (curves only): ReLU reaches 25% training error on CIFAR-10 six times faster than tanh"
    ),
    note=(
        "The paper says only 'a four-layer convolutional neural network', no regularization. Layers are our "
        "choice: the four weight layers of cuda-convnet's CIFAR-10 example layers-18pct.cfg (5×5 convs of 32, "
        "32, 64 maps, each followed by 3×3/2 max, avg, avg pooling, and one fully connected layer) without its "
        "response normalization; its init N(0, σ²), σ = 1e-4, 0.01, 0.01, 0.01, zero biases. act='tanh' "
        "swaps every ReLU for f(x) = tanh(x), the paper's saturating neuron"
    ),
)
def cnn4_cifar(num_classes: int = 10, in_chans: int = 3, act: str = "relu", img_size: int = 32) -> CNN4:
    """Four-layer CNN of Krizhevsky et al. (2012), NeurIPS, Section 3.1, Fig. 1 (ReLU vs tanh on CIFAR-10).

    Three 5×5 conv + pooling stages (32, 32, 64 maps) and a fully connected layer, as cuda-convnet's example;
    ``act="tanh"`` builds the paper's tanh twin.
    """
    return CNN4(CNN4_LAYERS, num_classes, in_chans, act, img_size)
