"""LeNet-5 (LeCun, Bottou, Bengio, Haffner 1998, "Gradient-based learning applied to document recognition").

The faithful form follows Section II-B: C1 6@5×5 → S2 trainable subsampling → C3 16@5×5 wired by Table I →
S4 → C5 120@5×5 → F6 84 → Euclidean RBF output units with fixed ±1 7×12 bitmaps, every layer up to F6
squashed by f(a) = 1.7159·tanh(2a/3). Trainable parameters: 156 + 12 + 1,516 + 32 + 48,120 + 10,164 = 60,000.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from convzoo.layers import get_act_layer
from convzoo.layers.factories import LayerSpec
from convzoo.models._base import ZooModel
from convzoo.registry import Paper, Reported, register_model

__all__ = ["LeNet5", "PartialConv2d", "TrainableSubsample", "EuclideanRBF", "C3_TABLE", "DIGIT_BITMAPS"]

LECUN_1998 = Paper(
    authors="LeCun, Bottou, Bengio, Haffner",
    title="Gradient-based learning applied to document recognition",
    year=1998,
    url="https://doi.org/10.1109/5.726791",
)

# Table I: the S2 maps each C3 map takes. Six maps see 3 contiguous maps, six see 4 contiguous,
# three see 4 discontinuous ones, and the last sees all six.
C3_TABLE: tuple[tuple[int, ...], ...] = (
    (0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 5), (0, 4, 5), (0, 1, 5),
    (0, 1, 2, 3), (1, 2, 3, 4), (2, 3, 4, 5), (0, 3, 4, 5), (0, 1, 4, 5), (0, 1, 2, 5),
    (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
)  # fmt: skip

# The RBF centres: stylized 7×12 bitmaps of the digits ('#' = +1, '.' = -1), drawn after Fig. 3.
DIGIT_BITMAPS: tuple[tuple[str, ...], ...] = (
    (".......", "..###..", ".#...#.", "#.....#", "#.....#", "#.....#",
     "#.....#", "#.....#", "#.....#", ".#...#.", "..###..", "......."),
    (".......", "...#...", "..##...", ".#.#...", "...#...", "...#...",
     "...#...", "...#...", "...#...", "...#...", ".#####.", "......."),
    (".......", "..###..", ".#...#.", "#.....#", "......#", ".....#.",
     "....#..", "...#...", "..#....", ".#.....", "#######", "......."),
    (".......", ".####..", "#....#.", "......#", ".....#.", "..###..",
     ".....#.", "......#", "......#", "#....#.", ".####..", "......."),
    (".......", ".....#.", "....##.", "...#.#.", "..#..#.", ".#...#.",
     "#....#.", "#######", ".....#.", ".....#.", ".....#.", "......."),
    (".......", "#######", "#......", "#......", "#.###..", "##...#.",
     "......#", "......#", "......#", "#....#.", ".####..", "......."),
    (".......", "..###..", ".#.....", "#......", "#......", "#.###..",
     "##...#.", "#.....#", "#.....#", ".#...#.", "..###..", "......."),
    (".......", "#######", "......#", ".....#.", ".....#.", "....#..",
     "....#..", "...#...", "...#...", "..#....", "..#....", "......."),
    (".......", "..###..", ".#...#.", "#.....#", ".#...#.", "..###..",
     ".#...#.", "#.....#", "#.....#", ".#...#.", "..###..", "......."),
    (".......", "..###..", ".#...#.", "#.....#", "#.....#", ".#...##",
     "..###.#", "......#", ".....#.", "....#..", "..##...", "......."),
)  # fmt: skip


def rbf_centres(num_classes: int, features: int = 84, seed: int = 0) -> torch.Tensor:
    """The fixed ±1 RBF parameter vectors: the digit bitmaps for 10 classes (and 84 features); otherwise
    random equiprobable ±1 codes, the alternative the paper names (Section II-B), from a fixed seed."""
    if num_classes == len(DIGIT_BITMAPS) and features == 7 * 12:
        rows = ["".join(b) for b in DIGIT_BITMAPS]
        return torch.tensor([[1.0 if c == "#" else -1.0 for c in r] for r in rows])
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 2, (num_classes, features), generator=g).float() * 2 - 1


class PartialConv2d(nn.Module):
    """A convolution in which output map ``j`` sees only the input maps ``table[j]`` (LeNet-5's C3).

    Output maps with the same fan-in share one grouped convolution over gathered input maps, so the
    parameters and multiply-adds are exactly those of the partial connections (no masked-out weights).
    """

    def __init__(self, in_channels: int, table: Sequence[Sequence[int]], kernel_size: int) -> None:
        super().__init__()
        for j, maps in enumerate(table):
            if not maps or len(set(maps)) != len(maps) or not all(0 <= m < in_channels for m in maps):
                raise ValueError(
                    f"connection table entry {j} = {tuple(maps)} must list distinct input maps in "
                    f"0..{in_channels - 1}"
                )
        self.in_channels, self.out_channels, self.table = in_channels, len(table), tuple(map(tuple, table))
        self.fan_ins = sorted({len(t) for t in table})
        order: list[int] = []
        for fan_in in self.fan_ins:  # children named fanin3, fanin4, ...: one grouped conv per fan-in
            outs = [j for j, t in enumerate(table) if len(t) == fan_in]
            gather = torch.tensor([m for j in outs for m in table[j]])
            self.register_buffer(f"gather{fan_in}", gather, persistent=False)
            conv = nn.Conv2d(fan_in * len(outs), len(outs), kernel_size, groups=len(outs))
            self.add_module(f"fanin{fan_in}", conv)
            order += outs
        self.register_buffer("order", torch.tensor(order).argsort(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = [
            getattr(self, f"fanin{n}")(x.index_select(1, getattr(self, f"gather{n}"))) for n in self.fan_ins
        ]
        return torch.cat(parts, 1).index_select(1, self.order)

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, connections={sum(map(len, self.table))}"


class TrainableSubsample(nn.Module):
    """LeNet's subsampling: the sum of each 2×2 block times a trainable coefficient plus a trainable bias,
    one pair per map (the squashing follows as a separate layer)."""

    def __init__(self, channels: int, kernel_size: int = 2) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The sum over each block, as mean × k² (exact for k = 2): the ONNX exporter drops divisor_override.
        s = F.avg_pool2d(x, self.kernel_size) * self.kernel_size**2
        return s * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)

    def extra_repr(self) -> str:
        return f"{self.weight.numel()}, kernel_size={self.kernel_size}"


class EuclideanRBF(nn.Module):
    """Output units y_i = Σ_j (x_j − w_ij)² with fixed centres w (a buffer, not trained).

    Returns the logits −y, so the closest centre wins under argmax and softmax; ``distances`` gives y.
    """

    def __init__(self, centres: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("centres", centres)

    def distances(self, x: torch.Tensor) -> torch.Tensor:
        return (x.unsqueeze(1) - self.centres).pow(2).sum(-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return -self.distances(x)

    def extra_repr(self) -> str:
        return f"in_features={self.centres.shape[1]}, out_features={self.centres.shape[0]}"


class LeNet5(ZooModel):
    """C1-S2-C3-S4-C5-F6-output. Its parts are arguments: the activation, the subsampling (``"trainable"`` as
    in the paper or ``"max"``), C3's connection table (``None`` = full), and the head (``"rbf"`` or ``"linear"``).
    """

    def __init__(
        self,
        num_classes: int = 10,
        in_chans: int = 1,
        act_layer: LayerSpec = "scaled_tanh",
        pool: str = "trainable",
        c3_table: Sequence[Sequence[int]] | None = C3_TABLE,
        head: str = "rbf",
    ) -> None:
        super().__init__()
        if pool not in ("trainable", "max"):
            raise ValueError(f"pool must be 'trainable' (the paper's S2/S4) or 'max', got {pool!r}")
        if head not in ("rbf", "linear"):
            raise ValueError(
                f"head must be 'rbf' (the paper's Euclidean RBF units) or 'linear', got {head!r}"
            )
        act = get_act_layer(act_layer)
        if act is None:
            raise ValueError("LeNet-5 needs an activation; act_layer cannot be None")
        self.num_classes, self.in_chans, self.head = num_classes, in_chans, head

        def subsample(channels: int) -> nn.Module:
            return TrainableSubsample(channels) if pool == "trainable" else nn.MaxPool2d(2)

        c3 = nn.Conv2d(6, 16, 5) if c3_table is None else PartialConv2d(6, c3_table, 5)
        self.features = nn.Sequential()
        for name, layer in (("c1", nn.Conv2d(in_chans, 6, 5)), ("s2", subsample(6)), ("c3", c3),
                            ("s4", subsample(16)), ("c5", nn.Conv2d(16, 120, 5))):  # fmt: skip
            self.features.add_module(name, layer)
            if pool == "trainable" or name[0] == "c":
                self.features.add_module(f"act{name[1]}", act())
        self.classifier = nn.Sequential()
        self.classifier.add_module("f6", nn.Linear(120, 84))
        self.classifier.add_module("act6", act())
        self.classifier.add_module("output", self._make_output(num_classes))
        if act_layer == "scaled_tanh":
            self.init_paper()

    def _make_output(self, num_classes: int) -> nn.Module:
        return EuclideanRBF(rbf_centres(num_classes)) if self.head == "rbf" else nn.Linear(84, num_classes)

    @torch.no_grad()
    def init_paper(self) -> None:
        """Appendix C: every weight uniform in ±2.4/F_i, F_i the fan-in of the unit it feeds."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d | nn.Linear):
                fan_in = m.weight[0].numel()
                nn.init.uniform_(m.weight, -2.4 / fan_in, 2.4 / fan_in)
                nn.init.uniform_(m.bias, -2.4 / fan_in, 2.4 / fan_in)
            elif isinstance(m, TrainableSubsample):
                fan_in = m.kernel_size**2
                nn.init.uniform_(m.weight, -2.4 / fan_in, 2.4 / fan_in)
                nn.init.uniform_(m.bias, -2.4 / fan_in, 2.4 / fan_in)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != (32, 32):
            raise ValueError(
                f"LeNet-5 takes 32×32 images (C5 must reduce them to 1×1), got {x.shape[-2]}×{x.shape[-1]}: "
                "pad 28×28 MNIST digits by 2 pixels on each side"
            )
        return self.features(x)

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(x, 1))

    def get_classifier(self) -> nn.Module:
        return self.classifier.output

    def reset_classifier(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.classifier.output = self._make_output(num_classes).to(self.classifier.f6.weight.device)


@register_model(
    paper=LECUN_1998,
    input_size=(1, 32, 32),
    num_classes=10,
    reported=Reported(
        params=60000, source="Section II-B (C1 156, S2 12, C3 1,516, S4 32, C5 48,120, F6 10,164)"
    ),
    note=(
        "RBF centres: 7×12 digit bitmaps drawn after Fig. 3 (not pixel copies); other class counts use fixed "
        "random ±1 codes. Logits are minus the RBF distances, so cross-entropy on them is the paper's "
        "discriminative criterion (Eq. 9) without its constant e^-j term."
    ),
)
def lenet5(num_classes: int = 10, in_chans: int = 1) -> LeNet5:
    """LeNet-5 as published: LeCun, Bottou, Bengio, Haffner (1998), Proc. IEEE 86(11), Section II-B, Table I.

    Trainable subsampling, C3's partial connection table, scaled tanh, Euclidean RBF output; 60,000 parameters.
    """
    return LeNet5(num_classes=num_classes, in_chans=in_chans)


@register_model(
    paper=LECUN_1998,
    input_size=(1, 32, 32),
    num_classes=10,
    reported=Reported(params=60000, source="Section II-B (the faithful form)"),
    note=(
        "Modern form, not in the paper: ReLU, 2×2 max-pooling, full C3 (2,416 params instead of 1,516), "
        "linear output layer: 61,706 parameters against the paper's 60,000."
    ),
)
def lenet5_modern(num_classes: int = 10, in_chans: int = 1, act_layer: LayerSpec = "relu") -> LeNet5:
    """LeNet-5 in today's textbook form, after LeCun et al. (1998), Proc. IEEE 86(11), Section II-B.

    ReLU, max-pooling, a fully connected C3 and a linear classifier in place of the RBF units.
    """
    return LeNet5(num_classes, in_chans, act_layer=act_layer, pool="max", c3_table=None, head="linear")
