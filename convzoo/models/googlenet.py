"""GoogLeNet (Szegedy et al. 2014, arXiv:1409.4842) and BN-Inception (Ioffe & Szegedy 2015, arXiv:1502.03167).

This module also holds what the whole Inception line shares (:mod:`convzoo.models.inception` builds on it):

* an Inception module is data: a tuple of *branches*, each a tuple of ops (:class:`Conv`, :class:`Pool`,
  :class:`Split`), whose outputs are concatenated along channels (:class:`Mixed`);
* :class:`InceptionBlock` turns one :class:`Mixed` into modules, with its parts as arguments (``norm_layer``,
  ``act_layer``, ``attn_layer`` applied to the concatenated output); :class:`InceptionResBlock` adds the
  Inception-ResNet shortcut (1×1 linear projection, residual scaling, drop-path);
* :class:`InceptionNet` is the one builder: a list of named layer specs, optional auxiliary classifiers tapped
  after named layers, global average pooling, dropout and a linear classifier. In training mode with auxiliary
  heads it returns :class:`InceptionOutputs`; in eval mode (or with ``aux_logits=False``) plain logits.

The lecture modules are here too: :class:`InceptionModule` with any widths, naive or with 1×1 reductions, and
the CS231n example (a 28×28×256 input) registered as blocks that ``convzoo summary`` shows side by side.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from convzoo.hub import register_weights
from convzoo.layers import ConvNormAct, DropPath, get_act_layer, get_attn_layer
from convzoo.layers.factories import LayerSpec
from convzoo.models._base import ZooModel
from convzoo.registry import Figure, Paper, Reported, register_block, register_model

__all__ = [
    "Conv",
    "Pool",
    "Split",
    "LRN",
    "Mixed",
    "V1",
    "InceptionOutputs",
    "InceptionBlock",
    "InceptionResBlock",
    "InceptionModule",
    "InceptionNet",
    "GoogLeNet",
    "BNInception",
    "build_layers",
]

GOOGLENET_PAPER = Paper(
    authors="Christian Szegedy, Wei Liu, Yangqing Jia, Pierre Sermanet, Scott Reed, Dragomir Anguelov, "
    "Dumitru Erhan, Vincent Vanhoucke, Andrew Rabinovich",
    title="Going Deeper with Convolutions",
    year=2014,
    arxiv="1409.4842",
)
BN_INCEPTION_PAPER = Paper(
    authors="Sergey Ioffe, Christian Szegedy",
    title="Batch Normalization: Accelerating Deep Network Training by Reducing Internal Covariate Shift",
    year=2015,
    arxiv="1502.03167",
)
SENET_PAPER = Paper(
    authors="Jie Hu, Li Shen, Samuel Albanie, Gang Sun, Enhua Wu",
    title="Squeeze-and-Excitation Networks",
    year=2018,
    arxiv="1709.01507",
)

IntPair = int | tuple[int, int]


# ----------------------------------------------------------------------------------------------------------
# Specs: an Inception network written as data.


@dataclass(frozen=True)
class Conv:
    """Convolution → norm → activation with ``out`` filters; ``padding=None`` keeps the size at stride 1."""

    out: int
    k: IntPair = 1
    stride: int = 1
    padding: IntPair | None = None


@dataclass(frozen=True)
class Pool:
    """Max or average pooling (keeps the channel count)."""

    kind: str = "max"
    k: int = 3
    stride: int = 1
    padding: int = 1
    ceil_mode: bool = False
    count_include_pad: bool = True

    def __post_init__(self) -> None:
        if self.kind not in ("max", "avg"):
            raise ValueError(f"pool kind must be 'max' or 'avg', got {self.kind!r}")


@dataclass(frozen=True)
class Split:
    """Convolutions applied side by side to the same input, concatenated (Inception-v3's 8×8 expanded branches)."""

    parts: tuple[Conv, ...]


@dataclass(frozen=True)
class LRN:
    """Local response normalization in Caffe's form, b = a / (k + α/n Σ a²)^β (= ``nn.LocalResponseNorm``)."""

    size: int = 5
    alpha: float = 1e-4
    beta: float = 0.75
    k: float = 1.0


Op = Conv | Pool | Split
Branch = tuple[Op, ...]


@dataclass(frozen=True)
class Mixed:
    """An Inception module: branches whose outputs are concatenated along channels.

    With ``residual_scale`` set it is an Inception-ResNet block: the concatenation is projected back to the
    input width by a linear 1×1 convolution, scaled, added to the input and (if ``residual_act``) activated.
    ``attn=False`` keeps the network's ``attn_layer`` off this module (stem modules).
    """

    branches: tuple[Branch, ...]
    residual_scale: float | None = None
    residual_act: bool = True
    attn: bool = True


@dataclass(frozen=True)
class V1:
    """A GoogLeNet module by its Table 1 widths: #1×1, #3×3 reduce, #3×3, #5×5 reduce, #5×5, pool proj."""

    c1: int
    c3r: int
    c3: int
    c5r: int
    c5: int
    pool_proj: int


LayerSpecT = Conv | Pool | LRN | Mixed | V1


class InceptionOutputs(NamedTuple):
    """Training-mode output of a network with auxiliary classifiers; weight the losses by ``model.aux_weights``."""

    logits: torch.Tensor
    aux_logits: tuple[torch.Tensor, ...]


# ----------------------------------------------------------------------------------------------------------
# Modules.


@dataclass(frozen=True)
class Parts:
    """The interchangeable parts every op of a network is built with."""

    norm_layer: LayerSpec = "bn"
    act_layer: LayerSpec = "relu"
    bn_eps: float | None = None
    attn_layer: LayerSpec = None


class SplitConv(nn.ModuleList):
    """Runs its convolutions on the same input and concatenates their outputs."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([m(x) for m in self], 1)


def _conv(spec: Conv, in_ch: int, parts: Parts) -> ConvNormAct:
    return ConvNormAct(
        in_ch,
        spec.out,
        spec.k,
        stride=spec.stride,
        padding=spec.padding,
        norm_layer=parts.norm_layer,
        act_layer=parts.act_layer,
        bn_eps=parts.bn_eps,
    )


def make_op(spec: Op | LRN, in_ch: int, parts: Parts) -> tuple[nn.Module, int]:
    """Build one op; returns the module and its output channels."""
    if isinstance(spec, Conv):
        return _conv(spec, in_ch, parts), spec.out
    if isinstance(spec, Pool):
        if spec.kind == "max":
            pool: nn.Module = nn.MaxPool2d(spec.k, spec.stride, spec.padding, ceil_mode=spec.ceil_mode)
        else:
            pool = nn.AvgPool2d(
                spec.k,
                spec.stride,
                spec.padding,
                ceil_mode=spec.ceil_mode,
                count_include_pad=spec.count_include_pad,
            )
        return pool, in_ch
    if isinstance(spec, Split):
        return SplitConv(_conv(p, in_ch, parts) for p in spec.parts), sum(p.out for p in spec.parts)
    if isinstance(spec, LRN):
        return nn.LocalResponseNorm(spec.size, alpha=spec.alpha, beta=spec.beta, k=spec.k), in_ch
    raise TypeError(f"not an Inception op: {spec!r}; use Conv, Pool, Split or LRN")


class InceptionBlock(nn.Module):
    """Branches run on the same input and concatenated, then the optional attention (e.g. ``"se"``).

    ``attn_channels``: the width the attention acts on (default: the concatenated output's).
    """

    def __init__(
        self,
        in_ch: int,
        branches: Sequence[Branch],
        *,
        norm_layer: LayerSpec = "bn",
        act_layer: LayerSpec = "relu",
        bn_eps: float | None = None,
        attn_layer: LayerSpec = None,
        attn_channels: int | None = None,
    ) -> None:
        super().__init__()
        if not branches or any(len(b) == 0 for b in branches):
            raise ValueError("an Inception block needs at least one branch, and every branch at least one op")
        parts = Parts(norm_layer, act_layer, bn_eps, attn_layer)
        self.branches = nn.ModuleList()
        out = 0
        for branch in branches:
            ch, mods = in_ch, []
            for op in branch:
                mod, ch = make_op(op, ch, parts)
                mods.append(mod)
            self.branches.append(nn.Sequential(*mods))
            out += ch
        self.in_channels, self.out_channels = in_ch, out
        attn = get_attn_layer(attn_layer)
        self.attn = attn(attn_channels or out) if attn is not None else nn.Identity()

    def concat(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([b(x) for b in self.branches], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.attn(self.concat(x))


class InceptionResBlock(InceptionBlock):
    """Inception-ResNet block (Szegedy et al. 2016, Figures 10–13, 16–19): x + scale · W₁ₓ₁[branches](x), ReLU.

    The 1×1 projection is linear, with a bias and no normalization ("batch-normalization only on top of the
    traditional layers, not on top of the summations"). ``attn_layer`` recalibrates the residual branch before
    the addition, as SE-ResNet does (Hu et al. 2018, Figure 3); ``drop_path`` drops it (stochastic depth).
    """

    def __init__(
        self,
        in_ch: int,
        branches: Sequence[Branch],
        *,
        scale: float = 1.0,
        act: bool = True,
        drop_path: float = 0.0,
        norm_layer: LayerSpec = "bn",
        act_layer: LayerSpec = "relu",
        bn_eps: float | None = None,
        attn_layer: LayerSpec = None,
    ) -> None:
        super().__init__(
            in_ch,
            branches,
            norm_layer=norm_layer,
            act_layer=act_layer,
            bn_eps=bn_eps,
            attn_layer=attn_layer,
            attn_channels=in_ch,
        )
        self.proj = nn.Conv2d(self.out_channels, in_ch, 1, bias=True)
        self.scale = scale
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        act_fn = get_act_layer(act_layer) if act else None
        self.act = act_fn() if act_fn is not None else nn.Identity()
        self.out_channels = in_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        res = self.attn(self.proj(self.concat(x)))
        return self.act(x + self.drop_path(res * self.scale))

    def extra_repr(self) -> str:
        return f"scale={self.scale}"


def v1_branches(
    c1: int, c3r: int, c3: int, c5r: int, c5: int, pool_proj: int, reduce: bool, k5: int = 5
) -> tuple:
    """The four branches of a GoogLeNet module (Figure 2): naive (a) or with 1×1 reductions (b)."""
    if reduce:
        return (
            (Conv(c1, 1),),
            (Conv(c3r, 1), Conv(c3, 3)),
            (Conv(c5r, 1), Conv(c5, k5)),
            (Pool("max", 3, 1, 1, ceil_mode=True), Conv(pool_proj, 1)),
        )
    return ((Conv(c1, 1),), (Conv(c3, 3),), (Conv(c5, k5),), (Pool("max", 3, 1, 1, ceil_mode=True),))


class InceptionModule(InceptionBlock):
    """The GoogLeNet Inception module (Szegedy et al. 2014, Figure 2) with your own widths.

    ``reduce=True`` is Figure 2(b): 1×1 (``c1``); 1×1 (``c3r``) → 3×3 (``c3``); 1×1 (``c5r``) → 5×5 (``c5``);
    3×3 max-pool → 1×1 (``pool_proj``). ``reduce=False`` is the naive Figure 2(a): 1×1, 3×3, 5×5 and 3×3
    max-pool straight on the input (pass ``c3r = c5r = pool_proj = 0``); its output keeps all input channels.
    Every convolution is followed by ``norm_layer`` (none in the paper) and ``act_layer``; ``attn_layer``
    (e.g. ``"se"``) acts on the concatenated output. ``k5`` is the kernel of the "5×5" branch (torchvision's
    GoogLeNet uses 3).
    """

    def __init__(
        self,
        in_ch: int,
        c1: int,
        c3r: int,
        c3: int,
        c5r: int,
        c5: int,
        pool_proj: int,
        reduce: bool = True,
        attn_layer: LayerSpec = None,
        *,
        norm_layer: LayerSpec = None,
        act_layer: LayerSpec = "relu",
        bn_eps: float | None = None,
        k5: int = 5,
    ) -> None:
        widths = {"in_ch": in_ch, "c1": c1, "c3": c3, "c5": c5}
        if reduce:
            widths |= {"c3r": c3r, "c5r": c5r, "pool_proj": pool_proj}
        elif c3r or c5r or pool_proj:
            raise ValueError(
                "the naive Inception module (reduce=False) has no 1×1 reductions: pass c3r=c5r=pool_proj=0, "
                "or reduce=True to use them"
            )
        bad = {k: v for k, v in widths.items() if not (isinstance(v, int) and v > 0)}
        if bad:
            raise ValueError(f"Inception module widths must be positive integers; got {bad}")
        super().__init__(
            in_ch,
            v1_branches(c1, c3r, c3, c5r, c5, pool_proj, reduce, k5),
            norm_layer=norm_layer,
            act_layer=act_layer,
            bn_eps=bn_eps,
            attn_layer=attn_layer,
        )


def build_layers(
    specs: Sequence[tuple[str, LayerSpecT]],
    in_chans: int,
    parts: Parts,
    *,
    v1_k5: int = 5,
    drop_path_rate: float = 0.0,
) -> tuple[nn.Sequential, dict[str, int]]:
    """Turn named layer specs into an ``nn.Sequential``; returns it and the output channels after each layer.

    The only place that computes per-block values: input widths, and the drop-path rate of each residual
    block, l/L · ``drop_path_rate`` for the l-th of L residual blocks (the linear decay of Huang et al. 2016).
    """
    n_res = sum(1 for _, s in specs if isinstance(s, Mixed) and s.residual_scale is not None)
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    channels: dict[str, int] = {}
    ch, i_res = in_chans, 0
    kw = {"norm_layer": parts.norm_layer, "act_layer": parts.act_layer, "bn_eps": parts.bn_eps}
    for name, spec in specs:
        if isinstance(spec, V1):
            mod: nn.Module = InceptionModule(
                ch, spec.c1, spec.c3r, spec.c3, spec.c5r, spec.c5, spec.pool_proj,
                attn_layer=parts.attn_layer, k5=v1_k5, **kw,
            )  # fmt: skip
            ch = mod.out_channels  # type: ignore[assignment]
        elif isinstance(spec, Mixed) and spec.residual_scale is not None:
            i_res += 1
            rate = drop_path_rate * i_res / n_res
            mod = InceptionResBlock(
                ch, spec.branches, scale=spec.residual_scale, act=spec.residual_act, drop_path=rate,
                attn_layer=parts.attn_layer if spec.attn else None, **kw,
            )  # fmt: skip
        elif isinstance(spec, Mixed):
            mod = InceptionBlock(ch, spec.branches, attn_layer=parts.attn_layer if spec.attn else None, **kw)
            ch = mod.out_channels
        else:
            mod, ch = make_op(spec, ch, parts)
        layers[name] = mod
        channels[name] = ch
    return nn.Sequential(layers), channels


AuxFactory = Callable[[int, int], nn.Module]


class InceptionNet(ZooModel):
    """The one builder of the Inception line: named layers, optional auxiliary heads, pool, dropout, linear.

    ``aux_heads`` maps the name of a layer to a factory ``(in_channels, num_classes) -> module``; the heads
    are named ``aux1``, ``aux2``... in that order and run only in training mode. ``aux_weights`` (a class
    attribute of each family) are the paper's loss weights of those heads.
    """

    aux_weights: tuple[float, ...] = ()
    optional_state_prefixes = ("aux_heads.",)  # peers' files carry aux heads; aux_logits=False models skip them

    def __init__(
        self,
        layers: Sequence[tuple[str, LayerSpecT]],
        *,
        num_classes: int = 1000,
        in_chans: int = 3,
        dropout: float = 0.0,
        aux_heads: Mapping[str, AuxFactory] | None = None,
        parts: Parts = Parts(),
        v1_k5: int = 5,
        drop_path_rate: float = 0.0,
        transform_input: bool = False,
    ) -> None:
        super().__init__()
        for label, value in (("num_classes", num_classes), ("in_chans", in_chans)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{label} must be a positive integer, got {value!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        if transform_input and in_chans != 3:
            raise ValueError("transform_input re-normalizes RGB images: it needs in_chans=3")
        self.num_classes, self.in_chans = num_classes, in_chans
        self.transform_input = transform_input
        self.features, self.feature_channels = build_layers(
            layers, in_chans, parts, v1_k5=v1_k5, drop_path_rate=drop_path_rate
        )
        self.num_features = self.feature_channels[layers[-1][0]]
        self._aux_taps: dict[str, str] = {}
        self.aux_heads = nn.ModuleDict()
        for i, (tap, factory) in enumerate((aux_heads or {}).items(), start=1):
            if tap not in self.feature_channels:
                raise ValueError(f"auxiliary head tapped after unknown layer {tap!r}")
            self._aux_taps[tap] = f"aux{i}"
            self.aux_heads[f"aux{i}"] = factory(self.feature_channels[tap], num_classes)
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.head_drop = nn.Dropout(dropout)
        self.fc = nn.Linear(self.num_features, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=0.01)
                nn.init.zeros_(m.bias)
        for m in self.modules():  # a residual branch starts small (its projection scaled down 10×)
            if isinstance(m, InceptionResBlock):
                with torch.no_grad():
                    m.proj.weight.mul_(0.1)

    @property
    def aux_logits(self) -> bool:
        return len(self.aux_heads) > 0

    def _transform(self, x: torch.Tensor) -> torch.Tensor:
        """torchvision's ``transform_input``: ImageNet-normalized input → the (x − 0.5)/0.5 scale of Google's weights."""
        if not self.transform_input:
            return x
        mean = x.new_tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
        std = x.new_tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
        return x * (std / 0.5) + (mean - 0.5) / 0.5

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(self._transform(x))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.head_drop(torch.flatten(self.global_pool(x), 1))
        return x if pre_logits else self.fc(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor | InceptionOutputs:  # type: ignore[override]
        if not (self.training and self.aux_heads):
            return self.forward_head(self.forward_features(x))
        x = self._transform(x)
        aux = []
        for name, layer in self.features.named_children():
            x = layer(x)
            if name in self._aux_taps:
                aux.append(self.aux_heads[self._aux_taps[name]](x))
        return InceptionOutputs(self.forward_head(x), tuple(aux))

    def get_classifier(self) -> nn.Module:
        return self.fc

    def reset_classifier(self, num_classes: int) -> None:
        """New classifiers (main and auxiliary) for ``num_classes`` classes."""
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
        self.num_classes = num_classes
        device = self.fc.weight.device
        self.fc = nn.Linear(self.num_features, num_classes, device=device)
        nn.init.normal_(self.fc.weight, std=0.01)
        nn.init.zeros_(self.fc.bias)
        for head in self.aux_heads.values():
            head.reset_classifier(num_classes)  # type: ignore[operator]

    def fuse_bn(self) -> InceptionNet:
        """Fold every batch norm into the convolution before it, for inference; returns the model.

        Eval mode only: the folded model computes the same function up to float rounding (about 1e-6) with
        one pass less over every activation, but has no batch norms left to train.
        """
        if self.training:
            raise RuntimeError("fuse_bn folds the running statistics: call model.eval() first")
        for m in self.modules():
            if isinstance(m, ConvNormAct) and isinstance(getattr(m, "bn", None), nn.BatchNorm2d):
                m.conv = fuse_conv_bn_eval(m.conv, m.bn)
                m.bn = nn.Identity()
        return self

    def inspect_info(self) -> dict[str, Any]:
        return {"aux_weights": list(self.aux_weights)} if self.aux_heads else {}


# ----------------------------------------------------------------------------------------------------------
# GoogLeNet.


class GoogLeNetAux(nn.Module):
    """GoogLeNet's auxiliary classifier (Section 5): 5×5/3 average pool, 1×1 conv 128, FC 1024, dropout, FC.

    ``adaptive=True`` pools to 4×4 whatever the input (torchvision's form; identical at 224×224).
    """

    def __init__(
        self, in_ch: int, num_classes: int, parts: Parts, dropout: float = 0.7, adaptive: bool = False
    ) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(4) if adaptive else nn.AvgPool2d(5, 3, ceil_mode=True)
        self.conv = _conv(Conv(128, 1), in_ch, parts)
        self.fc1 = nn.Linear(128 * 4 * 4, 1024)
        self.act = nn.ReLU(inplace=True)
        self.drop = nn.Dropout(dropout)
        self.fc2 = nn.Linear(1024, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(x)
        if tuple(x.shape[-2:]) != (4, 4):
            raise ValueError(
                f"GoogLeNet's auxiliary head needs a 4×4 map after its 5×5/3 pooling (inputs near "
                f"224×224) but got {tuple(x.shape[-2:])}; build with aux_logits=False for other input "
                "sizes, or use googlenet_tv, whose heads pool adaptively"
            )
        x = torch.flatten(self.conv(x), 1)
        return self.fc2(self.drop(self.act(self.fc1(x))))

    def reset_classifier(self, num_classes: int) -> None:
        self.fc2 = nn.Linear(1024, num_classes, device=self.fc2.weight.device)


GOOGLENET_MODULES = {  # Table 1: #1×1, #3×3 reduce, #3×3, #5×5 reduce, #5×5, pool proj
    "3a": V1(64, 96, 128, 16, 32, 32),
    "3b": V1(128, 128, 192, 32, 96, 64),
    "4a": V1(192, 96, 208, 16, 48, 64),
    "4b": V1(160, 112, 224, 24, 64, 64),
    "4c": V1(128, 128, 256, 24, 64, 64),
    "4d": V1(112, 144, 288, 32, 64, 64),
    "4e": V1(256, 160, 320, 32, 128, 128),
    "5a": V1(256, 160, 320, 32, 128, 128),
    "5b": V1(384, 192, 384, 48, 128, 128),
}


def googlenet_layers(lrn: bool = True) -> list[tuple[str, LayerSpecT]]:
    """GoogLeNet's layers (Table 1; LRN after pool1 and conv3 as in Figure 3). Caffe pools round up."""

    def pool(name: str, k: int = 3) -> tuple[str, Pool]:
        return name, Pool("max", k, 2, 0, ceil_mode=True)

    m = GOOGLENET_MODULES
    norm: list[tuple[str, LayerSpecT]] = [("norm1", LRN())] if lrn else []
    norm2: list[tuple[str, LayerSpecT]] = [("norm2", LRN())] if lrn else []
    return [
        ("conv1", Conv(64, 7, 2, 3)),
        pool("pool1"),
        *norm,
        ("conv2", Conv(64, 1)),
        ("conv3", Conv(192, 3)),
        *norm2,
        pool("pool2"),
        ("inception3a", m["3a"]),
        ("inception3b", m["3b"]),
        pool("pool3"),
        ("inception4a", m["4a"]),
        ("inception4b", m["4b"]),
        ("inception4c", m["4c"]),
        ("inception4d", m["4d"]),
        ("inception4e", m["4e"]),
        pool("pool4", 3),
        ("inception5a", m["5a"]),
        ("inception5b", m["5b"]),
    ]


class GoogLeNet(InceptionNet):
    """GoogLeNet, "Inception v1" (Szegedy et al. 2014): Table 1 with the two auxiliary classifiers.

    ``style="paper"``: convolutions with bias and ReLU, no batch norm, LRN after pool1 and conv3 (Figure 3),
    5×5 convolutions in the modules, dropout 0.4, aux heads on 5×5/3 average pooling.
    ``style="torchvision"``: torchvision's form (its weights load): batch norm (ε = 0.001) after every
    convolution, no LRN, a 3×3 kernel in the "5×5" branch (pytorch/vision#906), 2×2/2 pool4 (Table 1's 3×3/2
    gives the same 7×7 at 224), dropout 0.2, aux heads on adaptive 4×4 pooling.
    """

    aux_weights = (0.3, 0.3)

    def __init__(
        self,
        num_classes: int = 1000,
        in_chans: int = 3,
        aux_logits: bool = True,
        dropout: float | None = None,
        aux_dropout: float = 0.7,
        style: str = "paper",
        attn_layer: LayerSpec = None,
        transform_input: bool = False,
    ) -> None:
        if style not in ("paper", "torchvision"):
            raise ValueError(f"style must be 'paper' or 'torchvision', got {style!r}")
        tv = style == "torchvision"
        parts = Parts(norm_layer="bn" if tv else None, bn_eps=1e-3 if tv else None, attn_layer=attn_layer)
        layers = googlenet_layers(lrn=not tv)
        if tv:  # torchvision pools 2×2/2 before 5a
            layers = [
                (n, Pool("max", 2, 2, 0, ceil_mode=True)) if n == "pool4" else (n, s) for n, s in layers
            ]
        heads = None
        if aux_logits:

            def head(c: int, n: int) -> nn.Module:
                return GoogLeNetAux(c, n, parts, aux_dropout, adaptive=tv)

            heads = {"inception4a": head, "inception4d": head}
        self.style = style
        super().__init__(
            layers,
            num_classes=num_classes,
            in_chans=in_chans,
            dropout=(0.2 if tv else 0.4) if dropout is None else dropout,
            aux_heads=heads,
            parts=parts,
            v1_k5=3 if tv else 5,
            transform_input=transform_input,
        )


@register_model(
    paper=GOOGLENET_PAPER,
    input_size=(3, 224, 224),
    reported=Reported(
        top5_err=10.07,
        source="Table 3 (1 model, 1 crop)",
        figures=(
            Figure(
                "macs",
                "1.5G",
                "Section 1 (a budget of 1.5 billion multiply-adds at inference time)",
                note="Table 1's ops column sums to 1.50 G with conv1 at 34M; a 7×7×3 convolution to 64 maps "
                "at 112×112 costs 118M, which makes 1.58 G",
            ),
        ),
    ),
    note=(
        "Table 1 counts params as weights without biases, in units of 1024. That column matches the "
        "architecture for conv2-3, 3a, 3b, 4b and the linear layer but not for conv1 (2.7K vs 9.2K), 4a (364K "
        "vs 366.8K), 4c (463K vs 497.5K), 4d (580K vs 590.5K), 4e (840K vs 847K), 5a (1072K vs 1018K) or 5b "
        "(1388K vs 1409K); the ops column matches except conv1 (34M vs 118M) and 5a (54M vs 51.1M). The "
        "architecture the table describes is kept. Auxiliary heads (2 × 3.19M params) run only in training "
        "mode. LRN (Figure 3) in Caffe's α/n form with the reference prototxt's size 5, α 1e-4, β 0.75; pools "
        "round up (Caffe)."
    ),
)
def googlenet(
    num_classes: int = 1000,
    in_chans: int = 3,
    aux_logits: bool = True,
    dropout: float = 0.4,
    aux_dropout: float = 0.7,
    attn_layer: LayerSpec = None,
) -> GoogLeNet:
    """GoogLeNet (Szegedy et al. 2014, arXiv:1409.4842), Table 1 exactly, no batch norm, two aux heads."""
    return GoogLeNet(num_classes, in_chans, aux_logits, dropout, aux_dropout, "paper", attn_layer)


@register_model(
    paper=GOOGLENET_PAPER,
    input_size=(3, 224, 224),
    reported=Reported(
        top5_err=10.07,
        source="Table 3 (1 model, 1 crop)",
        figures=(Figure("macs", "1.498G", "torchvision 0.29 googlenet weights (_ops: GFLOPS = multiply-adds)", peer=True),),
    ),
    note=(
        "torchvision's GoogLeNet, so its ImageNet weights load: batch norm after every convolution, no LRN, "
        "3×3 kernels in the '5×5' branches (pytorch/vision#906), 2×2/2 pool4, adaptive aux pooling. Its "
        "pretrained weights expect transform_input=True (as torchvision sets it) and ship untrained aux heads."
    ),
)
def googlenet_tv(
    num_classes: int = 1000,
    in_chans: int = 3,
    aux_logits: bool = True,
    dropout: float = 0.2,
    aux_dropout: float = 0.7,
    attn_layer: LayerSpec = None,
    transform_input: bool = False,
) -> GoogLeNet:
    """GoogLeNet in torchvision's batch-normalized form (Szegedy et al. 2014, arXiv:1409.4842, Table 1)."""
    return GoogLeNet(
        num_classes, in_chans, aux_logits, dropout, aux_dropout, "torchvision", attn_layer, transform_input
    )


_TV_BRANCH = {
    "branch1.": "branches.0.0.",
    "branch2.": "branches.1.",
    "branch3.": "branches.2.",
    "branch4.": "branches.3.",
}


def _convert_tv_googlenet(sd: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """torchvision ``googlenet`` keys → ours: layers go under ``features.``, ``branchN`` → ``branches.N-1``,
    ``aux1``/``aux2`` → ``aux_heads.aux1``/``aux2``; ``fc`` is ``fc``."""
    out: dict[str, torch.Tensor] = {}
    for key, value in sd.items():
        if key.startswith(("aux1.", "aux2.")):
            new = "aux_heads." + key
        elif key.startswith("fc."):
            new = key
        else:
            new = "features." + re.sub(r"\.(branch\d\.)", lambda m: "." + _TV_BRANCH[m.group(1)], key)
        out[new] = value
    return out


register_weights(
    "googlenet_tv",
    "torchvision",
    "googlenet",
    _convert_tv_googlenet,
    url="https://download.pytorch.org/models/googlenet-1378be20.pth",
    sha256="1378be20",
)


# ----------------------------------------------------------------------------------------------------------
# BN-Inception.


def bn_inception_module(
    c1: int, c3r: int, c3: int, d3r: int, d3: int, pool: str, proj: int, stride: int = 1
) -> Mixed:
    """A module of the BN paper's Figure 5: 1×1; 1×1 → 3×3; 1×1 → 3×3 → 3×3 (the 5×5 replaced); pool → 1×1.

    ``c1 = 0`` drops the 1×1 branch; ``proj = 0`` is the "pass through" pool; ``stride=2`` makes the
    last convolution of each branch and the pooling stride 2 (modules 3c and 4e).
    """
    if stride == 2:
        pool_op = Pool("max", 3, 2, 0, ceil_mode=True)
    else:
        pool_op = Pool(pool, 3, 1, 1, ceil_mode=True)
    branches: list[Branch] = []
    if c1:
        branches.append((Conv(c1, 1),))
    branches.append((Conv(c3r, 1), Conv(c3, 3, stride, 1)))
    branches.append((Conv(d3r, 1), Conv(d3, 3), Conv(d3, 3, stride, 1)))
    branches.append((pool_op, Conv(proj, 1)) if proj else (pool_op,))
    return Mixed(tuple(branches))


BN_INCEPTION_MODULES: list[tuple[str, Mixed]] = [  # Figure 5 of the BN paper
    ("inception3a", bn_inception_module(64, 64, 64, 64, 96, "avg", 32)),
    ("inception3b", bn_inception_module(64, 64, 96, 64, 96, "avg", 64)),
    ("inception3c", bn_inception_module(0, 128, 160, 64, 96, "max", 0, stride=2)),
    ("inception4a", bn_inception_module(224, 64, 96, 96, 128, "avg", 128)),
    ("inception4b", bn_inception_module(192, 96, 128, 96, 128, "avg", 128)),
    ("inception4c", bn_inception_module(160, 128, 160, 128, 160, "avg", 128)),
    ("inception4d", bn_inception_module(96, 128, 192, 160, 192, "avg", 128)),
    ("inception4e", bn_inception_module(0, 128, 192, 192, 256, "max", 0, stride=2)),
    ("inception5a", bn_inception_module(352, 192, 320, 160, 224, "avg", 128)),
    ("inception5b", bn_inception_module(352, 192, 320, 192, 224, "max", 128)),
]


class BNInception(InceptionNet):
    """BN-Inception (Ioffe & Szegedy 2015, Section 4.2 and Figure 5): GoogLeNet with batch norm after every
    convolution, 5×5 convolutions replaced by two 3×3, three 28×28 modules, stride-2 modules 3c and 4e in
    place of pooling layers between modules, average or max pooling inside the modules, no LRN, no dropout.
    """

    def __init__(
        self,
        num_classes: int = 1000,
        in_chans: int = 3,
        dropout: float = 0.0,
        attn_layer: LayerSpec = None,
        bn_eps: float = 1e-5,
    ) -> None:
        stem: list[tuple[str, LayerSpecT]] = [
            ("conv1", Conv(64, 7, 2, 3)),
            ("pool1", Pool("max", 3, 2, 0, ceil_mode=True)),
            ("conv2", Conv(64, 1)),
            ("conv3", Conv(192, 3)),
            ("pool2", Pool("max", 3, 2, 0, ceil_mode=True)),
        ]
        super().__init__(
            stem + list(BN_INCEPTION_MODULES),
            num_classes=num_classes,
            in_chans=in_chans,
            dropout=dropout,
            parts=Parts(norm_layer="bn", bn_eps=bn_eps, attn_layer=attn_layer),
        )


@register_model(
    paper=BN_INCEPTION_PAPER,
    input_size=(3, 224, 224),
    reported=Reported(top1_err=25.2, top5_err=7.82, source="Figure 4 (single crop)"),
    note="Figure 5's architecture; no auxiliary heads (the paper does not describe any).",
    accepts=BNInception,
)
def bn_inception(num_classes: int = 1000, in_chans: int = 3, **kwargs: Any) -> BNInception:
    """BN-Inception (Ioffe & Szegedy 2015, arXiv:1502.03167), the Inception network of Figure 5."""
    return BNInception(num_classes=num_classes, in_chans=in_chans, **kwargs)


@register_model(
    paper=SENET_PAPER,
    input_size=(3, 224, 224),
    reported=Reported(top1_err=23.62, top5_err=7.04, source="Table 2"),
    note="An SE block (reduction 16) on the concatenated output of every Inception module of BN-Inception.",
    accepts=BNInception,
)
def se_bn_inception(num_classes: int = 1000, in_chans: int = 3, **kwargs: Any) -> BNInception:
    """SE-BN-Inception (Hu et al. 2018, arXiv:1709.01507, Table 2): BN-Inception with squeeze-and-excitation."""
    kwargs.setdefault("attn_layer", "se")
    return BNInception(num_classes=num_classes, in_chans=in_chans, **kwargs)


# ----------------------------------------------------------------------------------------------------------
# Lecture blocks: the CS231n example, a 28×28×256 input.


@register_block(input_size=(256, 28, 28))
def inception_naive_lecture() -> InceptionModule:
    """Naive Inception module: 1×1 128, 3×3 192, 5×5 96, 3×3 max-pool, concatenated (28×28×672)."""
    return InceptionModule(256, 128, 0, 192, 0, 96, 0, reduce=False)


@register_block(input_size=(256, 28, 28))
def inception_reduced_lecture() -> InceptionModule:
    """Inception module with 1×1 reductions: 64 before the 3×3 and 5×5, 64 after the pool (28×28×480)."""
    return InceptionModule(256, 128, 64, 192, 64, 96, 64, reduce=True)
