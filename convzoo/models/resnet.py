"""Residual networks: one builder for ResNet, its plain twins, pre-activation units, stochastic depth, WRN, ResNeXt, SE.

A network is a stem, a list of :class:`Stage` specs and a head. :class:`ResNet` is the only place that turns
specs into blocks: it computes each block's stride, its shortcut (option A zero-padded identity, B projection
where the shape changes, C projection everywhere) and its drop-path rate (the linear decay rule of Huang et al.
2016 across all blocks of the net). Blocks take their parts (norm, activation, attention, drop-path) as
arguments, so ``create_model("resnet50", attn_layer="se")``, ``create_model("resnet110_cifar",
drop_path_rate=0.5)`` or ``create_model("resnet56_cifar", unit="full_preact")`` work for every network here.

Residual units (He et al. 2016, "Identity Mappings", Fig. 4 (a)-(e)), for a branch of convolutions c1..cn:

- ``original``:          c1-BN-ReLU ... cn-BN, add, ReLU
- ``bn_after_add``:      c1-BN-ReLU ... cn, add, BN, ReLU
- ``relu_before_add``:   c1-BN-ReLU ... cn-BN-ReLU, add
- ``relu_preact``:       ReLU-c1-BN ... ReLU-cn-BN, add
- ``full_preact``:       BN-ReLU-c1 ... BN-ReLU-cn, add

In the pre-activation units the first BN/ReLU is shared with a projection shortcut (the projection sees the
pre-activated input, as in He et al.'s code), and the net's last unit is followed by that same pre-activation.

Shortcuts have two independent settings. ``projection`` is how a shortcut changes shape (He et al. 2015,
§3.3): ``"A"`` zero-pads, ``"B"`` projects (1×1 conv + BN) where the shape changes, ``"C"`` projects in every
unit. ``shortcut`` is what the shortcut h(x) does before the addition (He et al. 2016, Fig. 2, Table 1), with
F the residual branch and g(x) = σ(W_g x + b_g) a 1×1 convolution of the unit's input:

- ``identity``:              F + h
- ``constant_scaling``:      0.5·F + 0.5·h
- ``exclusive_gating``:      g(x)·F + (1 − g(x))·h
- ``shortcut_only_gating``:  F + (1 − g(x))·h
- ``conv1x1``:               F + conv1x1(x) in every unit (the paper's name for option C)
- ``dropout``:               F + dropout(h), p = 0.5

``shortcut="A"``, ``"B"`` or ``"C"`` is kept as shorthand for ``projection`` with the identity shortcut.
"""

from __future__ import annotations

import math
import re
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint_sequential

from convzoo.layers import DropPath, get_act_layer, get_attn_layer, get_norm_layer
from convzoo.layers.factories import LayerSpec
from convzoo.models._base import ZooModel

__all__ = [
    "Stage",
    "ResNet",
    "ResidualBlock",
    "ShortcutMix",
    "UNITS",
    "SHORTCUTS",
    "PROJECTIONS",
    "STEMS",
    "resolve_shortcut",
]

UNITS = ("original", "bn_after_add", "relu_before_add", "relu_preact", "full_preact")
SHORTCUTS = ("identity", "constant_scaling", "exclusive_gating", "shortcut_only_gating", "conv1x1", "dropout")
PROJECTIONS = ("A", "B", "C")
STEMS = ("imagenet", "cifar", "deep")
PREACT_UNITS = ("relu_preact", "full_preact")
GATES = ("exclusive_gating", "shortcut_only_gating")
MIXES = ("constant_scaling", *GATES, "dropout")  # the shortcuts that change how F and h are added


def resolve_shortcut(shortcut: str, projection: str) -> tuple[str, str]:
    """The (shortcut, projection) pair a block builds: ``shortcut`` may be a projection letter (then the
    shortcut is the identity), and ``conv1x1`` is a projection in every unit (option C)."""
    if shortcut in PROJECTIONS:
        shortcut, projection = "identity", shortcut
    if shortcut not in SHORTCUTS:
        raise ValueError(
            f"unknown shortcut {shortcut!r}; choose 'A', 'B' or 'C' (He et al. 2015, §3.3) or one of: "
            f"{', '.join(SHORTCUTS)} (He et al. 2016, Table 1)"
        )
    if projection not in PROJECTIONS:
        raise ValueError(f"unknown projection {projection!r}; choose 'A', 'B' or 'C' (He et al. 2015, §3.3)")
    return shortcut, "C" if shortcut == "conv1x1" else projection


@dataclass(frozen=True)
class Stage:
    """A stage: ``blocks`` residual blocks with ``width`` output channels; the first block has ``stride``.

    ``inner`` is a bottleneck block's inner (3×3) width; ``None`` for basic blocks.
    """

    blocks: int
    width: int
    stride: int = 1
    inner: int | None = None


@dataclass(frozen=True)
class _Conv:
    in_ch: int
    out_ch: int
    kernel: int
    stride: int = 1
    groups: int = 1


class ZeroPadShortcut(nn.Module):
    """Option A: the identity, subsampled by ``stride`` and zero-padded with ``extra`` channels (no parameters)."""

    def __init__(self, stride: int, extra: int) -> None:
        super().__init__()
        self.stride = stride
        self.extra = extra

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride > 1:  # a 1×1 pooling with stride s keeps every s-th pixel, as x[:, :, ::s, ::s]
            x = F.avg_pool2d(x, 1, self.stride)
        return F.pad(x, (0, 0, 0, 0, 0, self.extra))

    def extra_repr(self) -> str:
        return f"stride={self.stride}, extra_channels={self.extra}"


class ShortcutMix(nn.Module):
    """Where the residual branch F and the shortcut h meet, for the non-identity shortcuts of He et al. 2016
    (Fig. 2 (b), (c), (d), (f); see the module docstring). ``forward(f, h, x)`` takes ``f=None`` for a branch
    that stochastic depth skipped (F = 0).

    The gate g(x) = σ(W_g x + b_g) is a 1×1 conv of the unit's input ``x`` (stride ``stride`` to match h) with
    its own bias b_g, initialised to ``gate_bias`` (−6: the paper's best for both gatings) and no BN; W_g keeps
    PyTorch's default initialisation (the paper states none).
    """

    def __init__(self, kind: str, in_ch: int, out_ch: int, stride: int = 1, gate_bias: float = -6.0) -> None:
        super().__init__()
        if kind not in MIXES:
            raise ValueError(f"ShortcutMix takes one of {', '.join(MIXES)}; got {kind!r}")
        self.kind = kind
        self.gate = nn.Conv2d(in_ch, out_ch, 1, stride) if kind in GATES else None
        if self.gate is not None:
            nn.init.constant_(self.gate.bias, gate_bias)
        self.drop = nn.Dropout(0.5) if kind == "dropout" else None

    def forward(self, f: torch.Tensor | None, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "constant_scaling":
            h, f = 0.5 * h, None if f is None else 0.5 * f
        elif self.gate is not None:
            g = torch.sigmoid(self.gate(x))
            h = (1 - g) * h
            if f is not None and self.kind == "exclusive_gating":
                f = g * f
        else:
            h = self.drop(h)  # type: ignore[misc]
        return h if f is None else f + h

    def extra_repr(self) -> str:
        return self.kind


class ResidualBlock(nn.Module):
    """One residual unit: ``preact`` (shared pre-activation) → ``branch`` → ``attn`` → ``drop_path``, plus the
    ``shortcut``, then ``post`` (after-addition ops). With ``residual=False`` it is the plain twin (no shortcut).

    ``convs`` lists the branch convolutions; ``dropout`` (Wide ResNet) goes right before the last of them.
    """

    def __init__(
        self,
        convs: Sequence[_Conv],
        *,
        unit: str = "original",
        shortcut: str = "identity",
        projection: str = "B",
        gate_bias: float = -6.0,
        residual: bool = True,
        down_kernel: int = 1,
        norm_layer: LayerSpec = "bn",
        act_layer: LayerSpec = "relu",
        attn_layer: LayerSpec = None,
        drop_path: float = 0.0,
        drop_path_mode: str = "batch",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        norm, act, attn = get_norm_layer(norm_layer), get_act_layer(act_layer), get_attn_layer(attn_layer)
        if norm is None or act is None:
            raise ValueError("residual blocks need a norm_layer and an act_layer (got None)")
        if unit not in UNITS:
            raise ValueError(f"unknown residual unit {unit!r}; choose one of: {', '.join(UNITS)}")
        shortcut, projection = resolve_shortcut(shortcut, projection)
        if not residual and shortcut != "identity":
            raise ValueError(f"a plain unit (residual=False) has no shortcut to make {shortcut!r}")
        in_ch, out_ch = convs[0].in_ch, convs[-1].out_ch
        stride = math.prod(c.stride for c in convs)
        self.unit, self.residual = unit, residual
        preact = unit in PREACT_UNITS

        ops: list[tuple[str, nn.Module]] = []
        pre: list[tuple[str, nn.Module]] = []
        for i, c in enumerate(convs, start=1):
            last = i == len(convs)
            if preact:  # BN-ReLU (or ReLU) before each conv; the first one is shared with the shortcut
                before = [(f"bn{i}", norm(c.in_ch))] if unit == "full_preact" else []
                before.append((f"act{i}", act()))
                (pre if i == 1 else ops).extend(before)
            if last and dropout > 0:
                ops.append(("drop", nn.Dropout(dropout)))
            ops.append(
                (
                    f"conv{i}",
                    nn.Conv2d(
                        c.in_ch, c.out_ch, c.kernel, c.stride, c.kernel // 2, groups=c.groups, bias=False
                    ),
                )
            )
            if unit == "relu_preact" or (not preact and not (last and unit == "bn_after_add")):
                ops.append((f"bn{i}", norm(c.out_ch)))
            if not preact and (not last or unit == "relu_before_add"):
                ops.append((f"act{i}", act()))
        if unit == "relu_preact":  # its shared ReLU must not overwrite the identity shortcut's input
            for _, m in pre:
                if hasattr(m, "inplace"):
                    m.inplace = False
        self.preact = nn.Sequential(OrderedDict(pre)) if pre else None
        self.branch = nn.Sequential(OrderedDict(ops))
        self.attn = attn(out_ch) if attn is not None else None
        self.drop_path = DropPath(drop_path, mode=drop_path_mode) if drop_path > 0 else None
        post: list[tuple[str, nn.Module]] = []
        if unit == "bn_after_add":
            post.append(("bn", norm(out_ch)))
        if unit in ("original", "bn_after_add"):
            post.append(("act", act()))
        self.post = nn.Sequential(OrderedDict(post)) if post else None

        self.shortcut: nn.Module | None = None
        self.shortcut_sees_preact = False
        if residual and (projection == "C" or stride != 1 or in_ch != out_ch):
            if projection == "A":
                if out_ch < in_ch:
                    raise ValueError(
                        f"option-A shortcuts can only widen ({in_ch} → {out_ch} channels); use 'B'"
                    )
                self.shortcut = ZeroPadShortcut(stride, out_ch - in_ch)
            else:
                k = down_kernel if stride > 1 else 1  # SENet-154 widens only strided projections to 3×3
                proj: list[tuple[str, nn.Module]] = [
                    ("conv", nn.Conv2d(in_ch, out_ch, k, stride, k // 2, bias=False))
                ]
                if not preact:
                    proj.append(("bn", norm(out_ch)))
                self.shortcut = nn.Sequential(OrderedDict(proj))
                self.shortcut_sees_preact = preact
        self.mix = ShortcutMix(shortcut, in_ch, out_ch, stride, gate_bias) if shortcut in MIXES else None
        # adding in place is safe unless the branch ends in an activation that autograd saves
        self._inplace_add = unit != "relu_before_add"

    def _shortcut(self, x: torch.Tensor, xp: torch.Tensor) -> torch.Tensor:
        return x if self.shortcut is None else self.shortcut(xp if self.shortcut_sees_preact else x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dp = self.drop_path
        batch_drop = self.residual and dp is not None and dp.training and dp.mode == "batch"
        if batch_drop and dp.skips_batch():  # type: ignore[union-attr]
            # stochastic depth: this mini-batch bypasses the branch, which is not computed at all
            sc = self._shortcut(x, self.preact(x) if self.shortcut_sees_preact else x)  # type: ignore[misc]
            if self.mix is not None:
                out = self.mix(None, sc, x)
            else:
                out = sc.clone() if sc is x and self.post is not None else sc  # post may act in place
            return self.post(out) if self.post is not None else out
        xp = self.preact(x) if self.preact is not None else x
        out = self.branch(xp)
        if self.attn is not None:
            out = self.attn(out)
        if self.residual:
            if batch_drop:
                scale = dp.kept_scale  # type: ignore[union-attr]
                out = out * scale if scale != 1.0 else out
            elif dp is not None:
                out = dp(out)
            sc = self._shortcut(x, xp)
            if self.mix is not None:
                out = self.mix(out, sc, x)
            else:
                out = out.add_(sc) if self._inplace_add else out + sc
        if self.post is not None:
            out = self.post(out)
        return out


class ResNet(ZooModel):
    """A residual network built from stage specs (He et al. 2015, arXiv:1512.03385, and descendants).

    Args:
        stages: the stage specs, e.g. ``[Stage(3, 256, 1, inner=64), ...]``.
        block: ``"basic"`` (two 3×3 convs) or ``"bottleneck"`` (1×1, 3×3, 1×1).
        stem: ``"imagenet"`` (7×7/2 conv + 3×3/2 max-pool), ``"cifar"`` (3×3 conv), ``"deep"`` (three 3×3
            convs + max-pool, SENet-154).
        stem_width: output channels of the stem.
        unit: residual-unit variant of He et al. 2016 Fig. 4 (see module docstring).
        shortcut: what the shortcut does before the addition (He et al. 2016, Table 1; module docstring);
            ``"A"``, ``"B"`` or ``"C"`` is shorthand for ``projection`` with the identity shortcut.
        projection: ``"A"``, ``"B"`` or ``"C"``: how shortcuts change shape (He et al. 2015, §3.3).
        gate_bias: initial bias b_g of the gating shortcuts' 1×1 conv (He et al. 2016 §3.1: −6 was best).
        residual: ``False`` builds the plain twin (same stack, no shortcuts).
        stride_in_3x3: put a bottleneck's stride in its 3×3 conv (torchvision's "V1.5") instead of the first 1×1.
        groups: cardinality of a bottleneck's 3×3 conv (ResNeXt).
        half_first_1x1: the first 1×1 of a bottleneck gives half the inner width (SENet-154).
        down_kernel: kernel of strided projection shortcuts (1, or 3 in SENet-154).
        attn_layer: e.g. ``"se"``: squeeze-and-excitation (reduction 16) on every residual branch.
        drop_path_rate: stochastic depth: the last block's drop probability 1 − p_L; block l of L drops
            with probability l/L · drop_path_rate (Huang et al. 2016); rescaled at test time.
        drop_path_mode: ``"batch"`` (the paper: whole mini-batch) or ``"row"`` (per sample).
        dropout: dropout between the convolutions of each block (Wide ResNet).
        head_dropout: dropout before the classifier (SENet-154: 0.2).
        checkpointing: recompute activations in the backward pass (√n segments per stage) to save memory;
            gradients are unchanged, BN running statistics take a second momentum update from the recompute.
    """

    def __init__(
        self,
        stages: Sequence[Stage],
        block: str = "basic",
        *,
        num_classes: int = 1000,
        in_chans: int = 3,
        stem: str = "imagenet",
        stem_width: int = 64,
        unit: str = "original",
        shortcut: str = "identity",
        projection: str = "B",
        gate_bias: float = -6.0,
        residual: bool = True,
        stride_in_3x3: bool = False,
        groups: int = 1,
        half_first_1x1: bool = False,
        down_kernel: int = 1,
        norm_layer: LayerSpec = "bn",
        act_layer: LayerSpec = "relu",
        attn_layer: LayerSpec = None,
        drop_path_rate: float = 0.0,
        drop_path_mode: str = "batch",
        dropout: float = 0.0,
        head_dropout: float = 0.0,
        checkpointing: bool = False,
    ) -> None:
        super().__init__()
        if block not in ("basic", "bottleneck"):
            raise ValueError(f"unknown block {block!r}; choose 'basic' or 'bottleneck'")
        if stem not in STEMS:
            raise ValueError(f"unknown stem {stem!r}; choose one of: {', '.join(STEMS)}")
        if unit not in UNITS:
            raise ValueError(f"unknown residual unit {unit!r}; choose one of: {', '.join(UNITS)}")
        if not 0.0 <= drop_path_rate < 1.0:
            raise ValueError(f"drop_path_rate is 1 - p_L and must be in [0, 1), got {drop_path_rate}")
        if drop_path_rate > 0 and not residual:
            raise ValueError(
                "stochastic depth drops residual branches: a plain net (residual=False) has none"
            )
        if not 0.0 <= dropout < 1.0 or not 0.0 <= head_dropout < 1.0:
            raise ValueError(
                f"dropout rates must be in [0, 1), got dropout={dropout}, head_dropout={head_dropout}"
            )
        if not stages or any(s.blocks < 1 or s.width < 1 or s.stride < 1 for s in stages):
            raise ValueError(
                f"stages must be a non-empty list of Stage(blocks>=1, width>=1, stride>=1): {stages}"
            )
        if num_classes < 1 or in_chans < 1:
            raise ValueError(f"num_classes and in_chans must be positive, got {num_classes}, {in_chans}")
        shortcut, projection = resolve_shortcut(shortcut, projection)
        if shortcut != "identity" and not residual:
            raise ValueError(f"a plain net (residual=False) has no shortcuts to make {shortcut!r}")
        self.num_classes, self.in_chans = num_classes, in_chans
        self.shortcut_kind, self.projection = shortcut, projection
        self.unit, self.residual, self.checkpointing = unit, residual, checkpointing
        self.drop_path_rate, self.drop_path_mode = drop_path_rate, drop_path_mode
        norm, act = get_norm_layer(norm_layer), get_act_layer(act_layer)
        if norm is None or act is None:
            raise ValueError("ResNet needs a norm_layer and an act_layer (got None)")

        self.stem = self._make_stem(stem, in_chans, stem_width, unit, norm, act)
        total = sum(s.blocks for s in stages)
        index, in_ch = 0, stem_width
        built = []
        for s in stages:
            blocks = []
            for j in range(s.blocks):
                index += 1
                stride = s.stride if j == 0 else 1
                convs = self._convs(block, in_ch, s, stride, stride_in_3x3, groups, half_first_1x1)
                blocks.append(
                    ResidualBlock(
                        convs,
                        unit=unit,
                        shortcut=shortcut,
                        projection=projection,
                        gate_bias=gate_bias,
                        residual=residual,
                        down_kernel=down_kernel,
                        norm_layer=norm,
                        act_layer=act,
                        attn_layer=attn_layer,
                        drop_path=drop_path_rate * index / total,
                        drop_path_mode=drop_path_mode,
                        dropout=dropout,
                    )
                )
                in_ch = s.width
            built.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*built)
        self.num_features = in_ch
        final: list[tuple[str, nn.Module]] = []
        if unit == "full_preact":
            final.append(("bn", norm(in_ch)))
        if unit in PREACT_UNITS:
            final.append(("act", act()))
        self.final_norm = nn.Sequential(OrderedDict(final)) if final else None
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head_drop = nn.Dropout(head_dropout) if head_dropout > 0 else None
        self.fc = nn.Linear(in_ch, num_classes)
        self._init_weights()

    @staticmethod
    def _make_stem(stem: str, in_chans: int, width: int, unit: str, norm: Any, act: Any) -> nn.Sequential:
        # the stem's last conv is followed by whatever the first unit does not do itself, so stem + unit
        # always give conv-BN-ReLU: full_preact units bring BN-ReLU, relu_preact units bring the ReLU.
        tail: list[tuple[str, nn.Module]] = []
        if unit != "full_preact":
            tail.append(("bn", norm(width)))
        if unit not in PREACT_UNITS:
            tail.append(("act", act()))
        if stem == "cifar":
            layers = [("conv", nn.Conv2d(in_chans, width, 3, 1, 1, bias=False)), *tail]
        elif stem == "imagenet":
            layers = [
                ("conv", nn.Conv2d(in_chans, width, 7, 2, 3, bias=False)),
                *tail,
                ("pool", nn.MaxPool2d(3, 2, 1)),
            ]
        else:  # deep: 3×3/2 (w/2) - 3×3 (w/2) - 3×3 (w), then 3×3/2 max-pool with ceil mode (SENet-154)
            half = width // 2
            layers = [
                ("conv1", nn.Conv2d(in_chans, half, 3, 2, 1, bias=False)),
                ("bn1", norm(half)),
                ("act1", act()),
                ("conv2", nn.Conv2d(half, half, 3, 1, 1, bias=False)),
                ("bn2", norm(half)),
                ("act2", act()),
                ("conv3", nn.Conv2d(half, width, 3, 1, 1, bias=False)),
            ]
            layers += [(name + "3", m) for name, m in tail]
            layers.append(("pool", nn.MaxPool2d(3, 2, ceil_mode=True)))
        return nn.Sequential(OrderedDict(layers))

    @staticmethod
    def _convs(
        block: str, in_ch: int, s: Stage, stride: int, stride_in_3x3: bool, groups: int, half_first_1x1: bool
    ) -> list[_Conv]:
        if block == "basic":
            if groups != 1 or s.inner is not None:
                raise ValueError(
                    "basic blocks take neither groups nor an inner width; use block='bottleneck'"
                )
            return [_Conv(in_ch, s.width, 3, stride), _Conv(s.width, s.width, 3)]
        inner = s.inner if s.inner is not None else s.width // 4
        first = inner // 2 if half_first_1x1 else inner
        if inner % groups or first % groups:
            raise ValueError(f"bottleneck inner width {inner} is not divisible by groups={groups}")
        s1, s3 = (1, stride) if stride_in_3x3 else (stride, 1)
        return [_Conv(in_ch, first, 1, s1), _Conv(first, inner, 3, s3, groups), _Conv(inner, s.width, 1)]

    def _init_weights(self) -> None:
        if self.fc.weight.is_meta:  # nothing to initialise; torch's meta normal_ is slow on deep nets
            return
        for m in self.modules():
            if isinstance(m, nn.Conv2d) and m.bias is None:  # He et al. 2015 (arXiv:1502.01852) init
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d | nn.GroupNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for stage in self.stages:
            if self.checkpointing and self.training and torch.is_grad_enabled():
                segments = max(1, round(math.sqrt(len(stage))))
                x = checkpoint_sequential(stage, segments, x, use_reentrant=False)
            else:
                x = stage(x)
        return self.final_norm(x) if self.final_norm is not None else x

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(x).flatten(1)
        if self.head_drop is not None:
            x = self.head_drop(x)
        return self.fc(x)

    def get_classifier(self) -> nn.Module:
        return self.fc

    def reset_classifier(self, num_classes: int) -> None:
        if num_classes < 1:
            raise ValueError(f"num_classes must be positive, got {num_classes}")
        self.num_classes = num_classes
        self.fc = nn.Linear(self.num_features, num_classes, device=self.fc.weight.device)

    @torch.no_grad()
    def zero_init_residual_bns(self) -> None:
        """Start every residual block as the identity (Goyal et al. 2017, arXiv:1706.02677, §5.1): zero the
        scale of the last BN of each branch, or, where the branch ends in a convolution (pre-activation
        units, BN after the addition), that convolution's weights."""
        for block in self.modules():
            if not isinstance(block, ResidualBlock) or not block.residual:
                continue
            layers = list(block.branch)
            last_conv = max(i for i, m in enumerate(layers) if isinstance(m, nn.Conv2d))
            norms = [m for m in layers[last_conv + 1 :] if isinstance(m, nn.modules.batchnorm._BatchNorm)]
            if norms and norms[-1].weight is not None:
                norms[-1].weight.zero_()
            else:
                layers[last_conv].weight.zero_()

    def inspect_info(self) -> dict[str, Any]:
        """Depth in residual blocks, and with stochastic depth the expected depth during training
        (Huang et al. 2016, Eq. 5: E[L̃] = Σ_l p_l)."""
        blocks = [b for stage in self.stages for b in stage]
        survival = [1.0 - (b.drop_path.drop_prob if b.drop_path is not None else 0.0) for b in blocks]
        info: dict[str, Any] = {"unit": self.unit, "residual": self.residual, "depth": len(blocks)}
        if self.residual:
            info.update(shortcut=self.shortcut_kind, projection=self.projection)
        if self.drop_path_rate > 0:
            info.update(
                expected_depth=round(sum(survival), 2),
                drop_path_rate=self.drop_path_rate,
                drop_path_mode=self.drop_path_mode,
                depth_unit="residual blocks",
            )
        return info


# ---------------------------------------------------------------------------------------------------------------
# Registered networks
# ---------------------------------------------------------------------------------------------------------------
from convzoo.hub import (  # noqa: E402
    TIMM_LICENSE,
    KnownFile,
    published_size,
    register_weights,
    timm_accuracy,
    timm_preprocess,
)
from convzoo.registry import Figure, Paper, Reported, register_model  # noqa: E402

RESNET_PAPER = Paper(
    "K. He, X. Zhang, S. Ren, J. Sun", "Deep Residual Learning for Image Recognition", 2015, "1512.03385"
)
PREACT_PAPER = Paper(
    "K. He, X. Zhang, S. Ren, J. Sun", "Identity Mappings in Deep Residual Networks", 2016, "1603.05027"
)
SD_PAPER = Paper(
    "G. Huang, Y. Sun, Z. Liu, D. Sedra, K. Weinberger",
    "Deep Networks with Stochastic Depth",
    2016,
    "1603.09382",
)

CIFAR = (3, 32, 32)
IMAGENET_LAYERS = {
    18: (2, 2, 2, 2),
    34: (3, 4, 6, 3),
    50: (3, 4, 6, 3),
    101: (3, 4, 23, 3),
    152: (3, 8, 36, 3),
    200: (3, 24, 36, 3),
}
_V1_NOTE = (
    "BN after every conv and option-B shortcuts (projection where the shape changes), as the paper's "
    "bottleneck nets; stride in the first 1×1 as in the paper (v1_5=True moves it to the 3×3, torchvision's "
    "form, same parameters). Parameter figure as counted by torchvision; the paper gives none"
)


def imagenet_stages(
    layers: Sequence[int],
    bottleneck: bool,
    inner: Sequence[int] | None = None,
    width: Sequence[int] = (64, 128, 256, 512),
) -> list[Stage]:
    """The four ImageNet stages (strides 1, 2, 2, 2); bottleneck stages output 4× the base width."""
    if not bottleneck:
        return [Stage(n, w, 1 if i == 0 else 2) for i, (n, w) in enumerate(zip(layers, width, strict=True))]
    inner = inner or width
    return [
        Stage(n, 4 * w, 1 if i == 0 else 2, inner=m)
        for i, (n, w, m) in enumerate(zip(layers, width, inner, strict=True))
    ]


def cifar_stages(
    n: int, widths: Sequence[int] = (16, 32, 64), inner: Sequence[int] | None = None
) -> list[Stage]:
    """The three CIFAR stages of He et al. 2015 §4.2 (32×32, 16×16, 8×8 maps; strides 1, 2, 2)."""
    inners = inner or (None,) * len(widths)
    return [
        Stage(n, w, 1 if i == 0 else 2, inner=m) for i, (w, m) in enumerate(zip(widths, inners, strict=True))
    ]


def build(
    stages: Sequence[Stage],
    block: str,
    num_classes: int,
    in_chans: int,
    defaults: dict[str, Any],
    overrides: dict[str, Any],
) -> ResNet:
    """A :class:`ResNet` from a variant's defaults, updated by the user's overrides."""
    return ResNet(stages, block, num_classes=num_classes, in_chans=in_chans, **{**defaults, **overrides})


def _imagenet_resnet(
    depth: int, num_classes: int, in_chans: int, v1_5: bool, residual: bool, kwargs: dict[str, Any]
) -> ResNet:
    bottleneck = depth >= 50
    return build(
        imagenet_stages(IMAGENET_LAYERS[depth], bottleneck),
        "bottleneck" if bottleneck else "basic",
        num_classes,
        in_chans,
        {"stride_in_3x3": v1_5, "residual": residual},
        kwargs,
    )


@register_model(
    paper=RESNET_PAPER,
    accepts=ResNet,
    note="Option-B shortcuts as torchvision (Table 2's 27.88% is with option A: pass projection='A'); BN after "
    "every conv. Parameter figure as torchvision counts it; the paper gives none",
    reported=Reported(
        macs="1.8G", top1_err=27.88, source="Tables 1, 2 (10-crop)",
        figures=(Figure("params", 11689512, "torchvision 0.29 resnet18 weights (num_params)", peer=True),),
    ),
)
def resnet18(num_classes: int = 1000, in_chans: int = 3, **kwargs: Any) -> ResNet:
    """ResNet-18 (He et al. 2015, arXiv:1512.03385, Table 1): basic blocks [2, 2, 2, 2]."""
    return _imagenet_resnet(18, num_classes, in_chans, False, True, kwargs)


@register_model(
    paper=RESNET_PAPER,
    accepts=ResNet,
    note="Option-B shortcuts (the paper's Table 2 uses A, Table 3 compares A/B/C); BN after every conv. "
    "We count 3.66 G multiply-adds where Table 1 writes 3.6×10^9: that is the count with option-A (identity) "
    "shortcuts, 3.64 G (plain34, or resnet34 with projection='A'); option B's projections add 0.02 G",
    reported=Reported(
        macs="3.6G", top1_err=24.52, top5_err=7.46, source="Tables 1, 3 (10-crop, option B)",
        figures=(Figure("params", 21797672, "torchvision 0.29 resnet34 weights (num_params)", peer=True),),
    ),
)
def resnet34(num_classes: int = 1000, in_chans: int = 3, **kwargs: Any) -> ResNet:
    """ResNet-34 (He et al. 2015, arXiv:1512.03385, Table 1): basic blocks [3, 4, 6, 3]."""
    return _imagenet_resnet(34, num_classes, in_chans, False, True, kwargs)


@register_model(
    paper=RESNET_PAPER,
    accepts=ResNet,
    note=_V1_NOTE + ". We count 3.86 G multiply-adds where Table 1 writes 3.8×10^9, which no rounding of ours "
    "gives: the paper's own figure is inconsistent (SENet, Hu et al. 2018, Table 2, prints 3.86 GFLOPs for the same "
    "ResNet-50)",
    reported=Reported(
        macs="3.8G", top1_err=22.85, top5_err=6.71, source="Tables 1, 3 (10-crop)",
        figures=(Figure("params", 25557032, "torchvision 0.29 resnet50 weights (num_params)", peer=True),),
    ),
)
def resnet50(num_classes: int = 1000, in_chans: int = 3, v1_5: bool = False, **kwargs: Any) -> ResNet:
    """ResNet-50 (He et al. 2015, arXiv:1512.03385, Table 1): bottleneck blocks [3, 4, 6, 3]."""
    return _imagenet_resnet(50, num_classes, in_chans, v1_5, True, kwargs)


@register_model(
    paper=RESNET_PAPER,
    accepts=ResNet,
    note=_V1_NOTE,
    reported=Reported(
        macs="7.6G", top1_err=21.75, top5_err=6.05, source="Tables 1, 3 (10-crop)",
        figures=(Figure("params", 44549160, "torchvision 0.29 resnet101 weights (num_params)", peer=True),),
    ),
)
def resnet101(num_classes: int = 1000, in_chans: int = 3, v1_5: bool = False, **kwargs: Any) -> ResNet:
    """ResNet-101 (He et al. 2015, arXiv:1512.03385, Table 1): bottleneck blocks [3, 4, 23, 3]."""
    return _imagenet_resnet(101, num_classes, in_chans, v1_5, True, kwargs)


@register_model(
    paper=RESNET_PAPER,
    accepts=ResNet,
    note=_V1_NOTE,
    reported=Reported(
        macs="11.3G", top1_err=21.43, top5_err=5.71, source="Tables 1, 3 (10-crop)",
        figures=(Figure("params", 60192808, "torchvision 0.29 resnet152 weights (num_params)", peer=True),),
    ),
)
def resnet152(num_classes: int = 1000, in_chans: int = 3, v1_5: bool = False, **kwargs: Any) -> ResNet:
    """ResNet-152 (He et al. 2015, arXiv:1512.03385, Table 1): bottleneck blocks [3, 8, 36, 3]."""
    return _imagenet_resnet(152, num_classes, in_chans, v1_5, True, kwargs)


@register_model(
    paper=RESNET_PAPER,
    accepts=ResNet,
    reported=Reported(macs="1.8G", top1_err=27.94, source="Tables 1, 2 (10-crop)"),
    note="BN after every conv, as the paper's plain nets",
)
def plain18(num_classes: int = 1000, in_chans: int = 3, **kwargs: Any) -> ResNet:
    """Plain-18 (He et al. 2015, arXiv:1512.03385, Table 1, Fig. 3 middle): ResNet-18 without shortcuts."""
    return _imagenet_resnet(18, num_classes, in_chans, False, False, kwargs)


@register_model(
    paper=RESNET_PAPER,
    accepts=ResNet,
    reported=Reported(macs="3.6G", top1_err=28.54, source="Tables 1, 2 (10-crop)"),
    note="BN after every conv, as the paper's plain nets",
)
def plain34(num_classes: int = 1000, in_chans: int = 3, **kwargs: Any) -> ResNet:
    """Plain-34 (He et al. 2015, arXiv:1512.03385, Table 1, Fig. 3 middle): ResNet-34 without shortcuts."""
    return _imagenet_resnet(34, num_classes, in_chans, False, False, kwargs)


# CIFAR-10 ResNets, He et al. 2015 §4.2 and Table 6: 6n+2 layers, option-A shortcuts.
_CIFAR_RESNETS = {
    20: ("0.27M", 8.75),
    32: ("0.46M", 7.51),
    44: ("0.66M", 7.17),
    56: ("0.85M", 6.97),
    110: ("1.7M", 6.43),
    1202: ("19.4M", 7.93),
}


def _cifar_resnet(
    depth: int, num_classes: int, in_chans: int, residual: bool, kwargs: dict[str, Any], **defaults: Any
) -> ResNet:
    if (depth - 2) % 6:
        raise ValueError(f"CIFAR ResNets have 6n+2 layers; {depth} is not of that form")
    return build(
        cifar_stages((depth - 2) // 6),
        "basic",
        num_classes,
        in_chans,
        {"stem": "cifar", "stem_width": 16, "projection": "A", "residual": residual, **defaults},
        kwargs,
    )


# How the overrides for He et al. 2016 (Identity Mappings) read the paper, on every CIFAR ResNet.
_IDENTITY_NOTE = (
    "unit= follows He et al. 2016 Fig. 4 (a)-(e); shortcut= follows its Fig. 2 and Table 1 (ResNet-110): "
    "where the shape changes the projection option stays as set (the paper does not say how Table 1 "
    "treats those units); gates are σ(1×1 conv of the unit's input + b_g) with b_g = gate_bias (−6, the paper's "
    "best), no BN; conv1x1 is a 1×1 conv + BN in every unit (option C); dropout is inverted dropout 0.5 on h"
)


def _register_cifar(depth: int) -> None:
    params, err = _CIFAR_RESNETS[depth]

    def resnet_cifar(num_classes: int = 10, in_chans: int = 3, **kwargs: Any) -> ResNet:
        return _cifar_resnet(depth, num_classes, in_chans, True, kwargs)

    resnet_cifar.__doc__ = (
        f"ResNet-{depth} for CIFAR-10 (He et al. 2015, arXiv:1512.03385, §4.2, Table 6): "
        f"3 stages of {(depth - 2) // 6} basic blocks, 16/32/64 filters, option-A shortcuts."
    )
    register_model(
        paper=RESNET_PAPER,
        input_size=CIFAR,
        num_classes=10,
        accepts=ResNet,
        name=f"resnet{depth}_cifar",
        reported=Reported(params=params, cifar10_err=err, source="Table 6"),
        note="Best-run error as the paper reports it (mean 6.61 ± 0.16, the baseline of He et al. 2016 "
        "Tables 1-2). " + _IDENTITY_NOTE
        if depth == 110
        else _IDENTITY_NOTE,
    )(resnet_cifar)
    if depth > 110:
        return

    def plain_cifar(num_classes: int = 10, in_chans: int = 3, **kwargs: Any) -> ResNet:
        return _cifar_resnet(depth, num_classes, in_chans, False, kwargs)

    plain_cifar.__doc__ = (
        f"Plain-{depth} for CIFAR-10 (He et al. 2015, arXiv:1512.03385, §4.2, Fig. 6): "
        f"ResNet-{depth}_cifar without shortcuts, for the degradation experiment."
    )
    register_model(
        paper=RESNET_PAPER,
        input_size=CIFAR,
        num_classes=10,
        accepts=ResNet,
        name=f"plain{depth}_cifar",
        reported=Reported(source="Fig. 6 (curves only)"),
    )(plain_cifar)


for _depth in _CIFAR_RESNETS:
    _register_cifar(_depth)


@register_model(
    paper=SD_PAPER,
    input_size=CIFAR,
    num_classes=10,
    accepts=ResNet,
    reported=Reported(params="1.7M", cifar10_err=5.25, source="Table 1"),
    note="Drop-path with p_L = 0.5 on ResNet-110 (option A); p_l decays linearly, rescaled at test",
)
def resnet110_sd_cifar(num_classes: int = 10, in_chans: int = 3, **kwargs: Any) -> ResNet:
    """ResNet-110 with stochastic depth (Huang et al. 2016, arXiv:1603.09382, §4, Table 1): p_L = 0.5."""
    return _cifar_resnet(110, num_classes, in_chans, True, kwargs, drop_path_rate=0.5)


@register_model(
    paper=SD_PAPER,
    input_size=CIFAR,
    num_classes=10,
    accepts=ResNet,
    reported=Reported(params="19.4M", cifar10_err=4.91, source="Table 1"),
    note="Drop-path with p_L = 0.5 on ResNet-1202 (option A)",
)
def resnet1202_sd_cifar(num_classes: int = 10, in_chans: int = 3, **kwargs: Any) -> ResNet:
    """ResNet-1202 with stochastic depth (Huang et al. 2016, arXiv:1603.09382, §4, Table 1): p_L = 0.5."""
    return _cifar_resnet(1202, num_classes, in_chans, True, kwargs, drop_path_rate=0.5)


# Pre-activation ResNets (He et al. 2016): full pre-activation units, projection shortcuts (He et al.'s code).
_PREACT = {"unit": "full_preact", "projection": "B"}


@register_model(
    paper=PREACT_PAPER,
    input_size=CIFAR,
    num_classes=10,
    accepts=ResNet,
    reported=Reported(params="1.7M", cifar10_err=6.37, source="Table 2 (full pre-activation)"),
    note="Projection shortcuts where the shape changes (option B), as He et al.'s code",
)
def preact_resnet110_cifar(num_classes: int = 10, in_chans: int = 3, **kwargs: Any) -> ResNet:
    """Pre-activation ResNet-110 (He et al. 2016, arXiv:1603.05027, Table 2, Fig. 4e): basic blocks, 18 per stage."""
    return _cifar_resnet(110, num_classes, in_chans, True, kwargs, **_PREACT)


def _bottleneck_cifar(
    depth: int, num_classes: int, in_chans: int, kwargs: dict[str, Any], **defaults: Any
) -> ResNet:
    """9n+2 layers (He et al. 2016): 3 stages of n bottlenecks with outputs 64/128/256 (inner 16/32/64), the
    stride in the 3×3 and projection shortcuts where the shape changes, as the authors' code."""
    if (depth - 2) % 9:
        raise ValueError(f"CIFAR bottleneck ResNets have 9n+2 layers; {depth} is not of that form")
    stages = cifar_stages((depth - 2) // 9, widths=(64, 128, 256), inner=(16, 32, 64))
    return build(
        stages,
        "bottleneck",
        num_classes,
        in_chans,
        {"stem": "cifar", "stem_width": 16, "stride_in_3x3": True, "projection": "B", **defaults},
        kwargs,
    )


@register_model(
    paper=PREACT_PAPER,
    input_size=CIFAR,
    num_classes=10,
    accepts=ResNet,
    reported=Reported(params="1.7M", cifar10_err=5.93, source="Tables 2, 3 (original unit)"),
    note="The original (post-activation) unit on preact_resnet164_cifar's layout (stride in the 3×3, option-B "
    "projections), so unit='full_preact' builds that net. " + _IDENTITY_NOTE,
)
def resnet164_cifar(num_classes: int = 10, in_chans: int = 3, **kwargs: Any) -> ResNet:
    """ResNet-164 (He et al. 2016, arXiv:1603.05027, Tables 2-3, Fig. 4a): 18 bottleneck units per stage, the
    original unit (BN and ReLU after each conv, ReLU after the addition)."""
    return _bottleneck_cifar(164, num_classes, in_chans, kwargs)


@register_model(
    paper=PREACT_PAPER,
    input_size=CIFAR,
    num_classes=10,
    accepts=ResNet,
    reported=Reported(params="1.7M", cifar10_err=5.46, source="Tables 3, 4"),
)
def preact_resnet164_cifar(num_classes: int = 10, in_chans: int = 3, **kwargs: Any) -> ResNet:
    """Pre-activation ResNet-164 (He et al. 2016, arXiv:1603.05027, Tables 3-4): bottleneck blocks, 18 per stage."""
    return _bottleneck_cifar(164, num_classes, in_chans, kwargs, **_PREACT)


@register_model(
    paper=PREACT_PAPER,
    input_size=CIFAR,
    num_classes=10,
    accepts=ResNet,
    reported=Reported(params="10.2M", cifar10_err=4.92, source="Tables 3, 4"),
    note="We count 10.33M parameters, 10.18M without BN's: the paper's 10.2M evidently leaves BN out. "
    "Table 4 also reports 4.62% (mean 4.69 ± 0.20) with mini-batch 64",
)
def preact_resnet1001_cifar(num_classes: int = 10, in_chans: int = 3, **kwargs: Any) -> ResNet:
    """Pre-activation ResNet-1001 (He et al. 2016, arXiv:1603.05027, Tables 3-4): bottleneck blocks, 111 per stage.

    Pass ``checkpointing=True`` to train it in a few GiB (activations recomputed per √n-block segment).
    """
    return _bottleneck_cifar(1001, num_classes, in_chans, kwargs, **_PREACT)


@register_model(
    paper=PREACT_PAPER,
    accepts=ResNet,
    reported=Reported(top1_err=20.7, top5_err=5.3, source="Table 5 (320×320 crop)"),
    note="Stride in the 3×3 (as fb.resnet.torch). The stem's BN-ReLU is the first unit's pre-activation, "
    "after the max-pool (timm's form); equal to the paper's when BN scales are positive",
)
def preact_resnet200(num_classes: int = 1000, in_chans: int = 3, **kwargs: Any) -> ResNet:
    """Pre-activation ResNet-200 (He et al. 2016, arXiv:1603.05027, Table 5): bottleneck blocks [3, 24, 36, 3]."""
    return build(
        imagenet_stages(IMAGENET_LAYERS[200], True),
        "bottleneck",
        num_classes,
        in_chans,
        {"stride_in_3x3": True, **_PREACT},
        kwargs,
    )


@register_model(
    paper=PREACT_PAPER,
    accepts=ResNet,
    reported=Reported(
        top1_err=21.1, top5_err=5.5, source="Table 5 (320×320 crop)",
        figures=(Figure("params", 60185128, "timm 1.0.31 resnetv2_152 (built on meta)", peer=True),),
    ),
    note="As preact_resnet200; parameter figure as timm's resnetv2_152 counts it",
)
def preact_resnet152(num_classes: int = 1000, in_chans: int = 3, **kwargs: Any) -> ResNet:
    """Pre-activation ResNet-152 (He et al. 2016, arXiv:1603.05027, Table 5): bottleneck blocks [3, 8, 36, 3]."""
    return build(
        imagenet_stages(IMAGENET_LAYERS[152], True),
        "bottleneck",
        num_classes,
        in_chans,
        {"stride_in_3x3": True, **_PREACT},
        kwargs,
    )


# ---------------------------------------------------------------------------------------------------------------
# Peer weights. The mappings are plain key renames; layer numbers are shifted (torchvision's layer1 is stages.0).
# ---------------------------------------------------------------------------------------------------------------
def _renamer(rules: Sequence[tuple[str, Any]]) -> Any:
    compiled = [(re.compile(p), r) for p, r in rules]

    def convert(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        for key, value in state_dict.items():
            new = key
            for pattern, repl in compiled:
                new = pattern.sub(repl, new)
            out[new] = value.flatten(1) if new == "fc.weight" and value.ndim == 4 else value
        return out

    return convert


def _stage(m: re.Match[str]) -> str:
    return f"stages.{int(m.group(1)) - 1}.{m.group(2)}."


#: torchvision ResNet/ResNeXt/WRN and timm ResNet (incl. SE-ResNet/SE-ResNeXt) → ours.
from_torchvision_resnet = _renamer(
    [
        (r"^conv1\.", "stem.conv."),
        (r"^bn1\.", "stem.bn."),
        (r"^layer(\d)\.(\d+)\.", _stage),
        (r"^(stages\.\d\.\d+)\.(conv|bn)(\d)\.", r"\1.branch.\2\3."),
        (r"\.downsample\.0\.", ".shortcut.conv."),
        (r"\.downsample\.1\.", ".shortcut.bn."),
        (r"\.se\.", ".attn."),
    ]
)
#: timm's legacy SENet (Hu et al.'s Caffe models, e.g. legacy_senet154) → ours.
from_timm_legacy_senet = _renamer(
    [
        (r"^layer0\.", "stem."),
        (r"^layer(\d)\.(\d+)\.", _stage),
        (r"^(stages\.\d\.\d+)\.(conv|bn)(\d)\.", r"\1.branch.\2\3."),
        (r"\.downsample\.0\.", ".shortcut.conv."),
        (r"\.downsample\.1\.", ".shortcut.bn."),
        (r"\.se_module\.", ".attn."),
        (r"^last_linear\.", "fc."),
    ]
)
#: timm's pre-activation ResNetV2 (resnetv2_50, ...) → ours with unit="full_preact".
from_timm_resnetv2 = _renamer(
    [
        (r"^stages\.(\d)\.blocks\.(\d+)\.", r"stages.\1.\2."),
        (r"\.norm1\.", ".preact.bn1."),
        (r"\.norm(\d)\.", r".branch.bn\1."),
        (r"\.conv(\d)\.", r".branch.conv\1."),
        (r"\.downsample\.conv\.", ".shortcut.conv."),
        (r"^norm\.", "final_norm.bn."),
        (r"^head\.fc\.", "fc."),
    ]
)

_TV = "https://download.pytorch.org/models/"
for _name, _file, _source in [
    ("resnet18", "resnet18-f37072fd", "torchvision"),
    ("resnet34", "resnet34-b627a593", "torchvision"),
    ("resnet50", "resnet50-0676ba61", "torchvision"),
    ("resnet50", "resnet50-11ad3fa6", "torchvision.v2"),  # torchvision's new recipe: 232 → 224, 80.86 %
    ("resnet101", "resnet101-63fe2227", "torchvision"),
    ("resnet101", "resnet101-cd907fc2", "torchvision.v2"),
    ("resnet152", "resnet152-394f9c45", "torchvision"),
    ("resnet152", "resnet152-f82ba261", "torchvision.v2"),
]:
    # torchvision's bottleneck nets are V1.5: load them into create_model(name, v1_5=True). Only the 8-hex
    # SHA-256 prefix of each file is published (in its name); torchvision gives no full digest.
    register_weights(
        _name,
        _source,
        _name,
        from_torchvision_resnet,
        url=f"{_TV}{_file}.pth",
        sha256=_file.rsplit("-", 1)[1],
        config={"v1_5": True} if _name in ("resnet50", "resnet101", "resnet152") else None,
        aliases=("torchvision.v1",) if _source == "torchvision" else (),
        known_files={  # timm's copies of the same weights on the Hugging Face hub, digests from their file pages
            ("resnet50", "torchvision"): (
                KnownFile(
                    "5d061a3c593d795bfe682d9b152bafbcf550579873492def3515b46db1189888",
                    "timm's copy timm/resnet50.tv_in1k model.safetensors (SHA-256 on its Hugging Face file page)",
                ),
            ),
            ("resnet50", "torchvision.v2"): (
                KnownFile(
                    "2ecb663569ff7be76f460dd9e52a550ad9185c05cbeb5baa5c67905c2a952bf0",
                    "timm's copy timm/resnet50.tv2_in1k pytorch_model.bin (SHA-256 on its Hugging Face file page)",
                ),
            ),
        }.get((_name, _source), ()),
    )

# timm's ResNet-50 weights (ResNet strikes back, arXiv:2110.00476, and RandAugment): the same V1.5 network and
# key names as torchvision's, its own preprocessing (bicubic). Files from the Hugging Face hub, each pinned to
# the full SHA-256 on its file page; accuracy from timm's results table at the preprocessing given.
_HF_PAGE = "full SHA-256 published on the file's Hugging Face page (Git LFS details of {}), pinned in convzoo"
register_weights(
    "resnet50",
    "timm",
    "resnet50",
    from_torchvision_resnet,
    url="https://huggingface.co/timm/resnet50.a1_in1k/resolve/main/model.safetensors",
    sha256="773525d5821de224f8f30c33377b7a795d7863e08522698200d3217d3f2a41bb",
    checksum_provenance=_HF_PAGE.format("timm/resnet50.a1_in1k, revision 5d9e13b"),
    config={"v1_5": True},
    preprocess=timm_preprocess("resnet50.a1_in1k", 224, 0.95),
    license=TIMM_LICENSE,
    weights_name="resnet50.a1_in1k",
    aliases=("timm.a1_in1k",),
    accuracy=timm_accuracy(80.382, 94.598, 224, 0.95, "bicubic"),
    size=published_size("102 MB", "Hugging Face file page of timm/resnet50.a1_in1k model.safetensors"),
    known_files=(
        KnownFile("14fe96d1", "timm's GitHub release file resnet50_a1_0-14fe96d1.pth (timm's pretrained cfg url)"),
    ),
)
register_weights(
    "resnet50",
    "timm.ra_in1k",
    "resnet50",
    from_torchvision_resnet,
    url="https://huggingface.co/timm/resnet50.ra_in1k/resolve/main/model.safetensors",
    sha256="c49195c94e4fe19545a332e706f998d836f63b5d9892cc54526df3ee9b92ba18",
    checksum_provenance=_HF_PAGE.format("timm/resnet50.ra_in1k, revision bd3df32"),
    config={"v1_5": True},
    preprocess=timm_preprocess("resnet50.ra_in1k", 224, 0.875),
    license=TIMM_LICENSE,
    weights_name="resnet50.ra_in1k",
    accuracy=timm_accuracy(78.820, 94.314, 224, 0.875, "bicubic"),
    size=published_size("102 MB", "Hugging Face file page of timm/resnet50.ra_in1k model.safetensors"),
    known_files=(
        KnownFile("85ebb6e5", "timm's GitHub release file resnet50_ra-85ebb6e5.pth (timm's pretrained cfg url)"),
    ),
)
register_weights("preact_resnet152", "timm", "resnetv2_152", from_timm_resnetv2)
