"""Block diagrams in the papers' notation, drawn from the model's own data flow and laid out by Graphviz.

One forward pass on the meta device records what each leaf layer and each merge (add, concatenation,
gating) consumed and produced. The graph is then put into the papers' notation: BN, activations and dropout
fold into the convolution beside them ("3×3 conv, 64, /2"), shortcuts become arcs (identity solid,
projection dashed, as in He et al. 2015, Fig. 3), and consecutive identical blocks fold into one box labelled
"×N". Graphviz's ``dot`` draws it.

Legible at normal size by default: a squeeze-and-excitation side branch draws as one box ("SE, r = 16")
unless ``expand``; volumes label the edges between blocks (the layers inside a block name their widths); the
papers' stage names title the blocks ("conv2_x ×3", "inception (3a)", "dense block (1)") at every depth; a
long chain wraps into columns (``columns``, ``max_height``) so the picture fits a page. The family's own
notation where its paper has one (VGG's "conv3-64"); GoogLeNet's and Inception-v3's auxiliary classifiers;
AlexNet's two GPU towers for ``alexnet_2gpu``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.modules.module import register_module_forward_hook, register_module_forward_pre_hook
from torch.utils._python_dispatch import TorchDispatchMode

from convzoo.inspect.summary import _meta_copy, build_meta, parse_input_size
from convzoo.inspect.trace import _rebuild, _signature, _template, gc_paused
from convzoo.trust_write import output, write_file

aten = torch.ops.aten

DOT_ADVICE = (
    "Graphviz's `dot` is not installed: `sudo apt-get install graphviz` (Debian/Ubuntu), `brew install graphviz` "
    "(macOS), `conda install graphviz`, or see https://graphviz.org/download/; `make graphviz` tries apt-get"
)
MINOR = ("norm", "act", "drop", "lrn")  # folded into the layer beside them
DOT_SECONDS, DOT_SECONDS_PER_ITEM, DOT_MAX_SECONDS = 30.0, 0.1, 300.0  # dot's deadline: see Diagram.dot_deadline
_MAX_SHORTCUT = 2  # nodes on a projection shortcut (conv, or conv + something unfolded)
_EVAL_BN = (aten._native_batch_norm_legit_no_training, aten.native_batch_norm)


@dataclass
class Node:
    """A layer, a merge or the input. ``path``: the module (for a merge, the module whose forward merges)."""

    id: int
    op: str  # conv fc pool norm act drop lrn other | add concat scale | input | block
    path: str
    label: str
    out: tuple[int, ...]
    inputs: list[int] = field(default_factory=list)
    before: list[str] = field(default_factory=list)  # folded layers that run first (pre-activation)
    after: list[str] = field(default_factory=list)  # folded layers that run after
    inner: list[str] = field(default_factory=list)  # a condensed block: the labels of its layers
    tower: int = 0  # AlexNet's GPU (1 or 2) where the network is drawn as two towers


@dataclass
class Shortcut:
    """An add's shortcut input: from ``src`` (the fork) to ``add``; ``ops`` are the projection's layers."""

    src: int
    add: int
    ops: list[str]

    @property
    def kind(self) -> str:
        return "projection" if self.ops else "identity"


@dataclass
class Diagram:
    """The drawn structure; ``source`` is the DOT text, :meth:`render` writes SVG, PNG or PDF."""

    name: str
    nodes: dict[int, Node]
    edges: list[tuple[int, int]]
    shortcuts: list[Shortcut]
    groups: dict[str, int]  # representative module path → N (the blocks it stands for)
    clusters: list[str]  # module paths drawn as boxes around their layers
    types: dict[str, str]
    direction: str = "TB"
    shape_order: str = "chw"
    names: dict[str, str] = field(default_factory=dict)  # module path → the paper's name ("conv2_x ×3")
    members: dict[str, list[str]] = field(default_factory=dict)  # a group's representative → the blocks folded
    entry: dict[str, list[tuple[int, ...]]] = field(default_factory=dict)  # group → each member's input volume
    aux: list[str] = field(default_factory=list)  # auxiliary classifiers' module paths
    columns: int | None = None  # None: as many as the height needs
    max_height: float | None = None  # pixels at 96 dpi a column may take; None: wrap to about a page's shape
    dpi: int = 96

    @property
    def branch_nodes(self) -> list[Node]:
        """Merges of parallel paths: concatenations (Inception, DenseNet) and adds (residual units)."""
        return [n for n in self.nodes.values() if n.op in ("add", "concat", "scale")]

    @property
    def source(self) -> str:
        return _Dot(self).text()

    @property
    def dot_deadline(self) -> float:
        """Seconds ``dot`` may take: :data:`DOT_SECONDS` plus :data:`DOT_SECONDS_PER_ITEM` per box and arrow,
        at most :data:`DOT_MAX_SECONDS` (DenseNet-121 with ``expand``, 914 items, takes about a minute)."""
        items = len(self.nodes) + len(self.edges)
        return min(DOT_MAX_SECONDS, DOT_SECONDS + DOT_SECONDS_PER_ITEM * items)

    def render(self, path: str | Path, timeout: float | None = None, *, force: bool = False) -> Path:
        """Write the diagram; the format follows the suffix (.svg, .png, .pdf, .dot). ``timeout``: seconds for
        dot (default :attr:`dot_deadline`); past it, ``TimeoutError`` with advice and nothing written.
        An existing file convzoo did not write is replaced only with ``force`` (:mod:`convzoo.trust_write`)."""
        path = Path(path)
        fmt = path.suffix.lstrip(".").lower()
        if fmt == "dot":
            return write_file(path, self.source, force=force)
        if fmt not in ("svg", "png", "pdf"):
            raise ValueError(f"cannot draw to {path.name!r}: choose a .svg, .png, .pdf or .dot file")
        exe = shutil.which("dot")
        if exe is None:
            raise FileNotFoundError(DOT_ADVICE)
        extra = [f"-Gdpi={int(self.dpi)}"] if fmt == "png" else []
        columns = _Dot(self).columns()
        gvpack, neato = shutil.which("gvpack"), shutil.which("neato")
        with output(path, force=force) as tmp:  # a hidden name: never read by dot as an option
            if len(columns) > 1 and gvpack and neato:  # each column laid out alone, then packed side by side
                done = self._dot([exe], timeout, "".join(columns))
                if done.returncode == 0:
                    array = f"-array_ut{len(columns)}" if self.direction == "TB" else "-array_ul1"  # rows for LR
                    done = self._dot([gvpack, array, "-m0"], timeout, done.stdout)
                if done.returncode == 0:
                    done = self._dot([neato, "-n2", f"-T{fmt}", *extra, f"-o{tmp.absolute()}"], timeout, done.stdout)
            else:
                done = self._dot([exe, f"-T{fmt}", *extra, f"-o{tmp.absolute()}"], timeout)  # one word: never an option
            if done.returncode != 0:
                raise RuntimeError(f"dot failed drawing {path}: {done.stderr.strip()}")
        return path

    def _dot(self, argv: list[str], timeout: float | None, text: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run ``dot`` (or Graphviz's packer) on ``text`` (default :attr:`source`) within ``timeout`` (default
        :attr:`dot_deadline`) seconds."""
        deadline = self.dot_deadline if timeout is None else timeout
        try:
            return subprocess.run(argv, input=self.source if text is None else text, text=True, encoding="utf-8",
                                  errors="replace", capture_output=True, timeout=deadline)  # fmt: skip
        except subprocess.TimeoutExpired:
            raise TimeoutError(
                f"Graphviz's dot did not lay out {len(self.nodes)} boxes and {len(self.edges)} arrows within "
                f"{deadline:.0f} s (the deadline grows with the diagram); draw fewer: drop --expand, or pass "
                "--depth 2 (or write FILE.dot and run dot on it yourself)"
            ) from None


def draw(
    model_or_name: nn.Module | str,
    output: str | Path | None = None,
    *,
    input_size: Sequence[int] | str | None = None,
    depth: int | None = None,
    expand: bool = False,
    direction: str = "TB",
    shape_order: str = "chw",
    force: bool = False,
    columns: int | None = None,
    max_height: float | None = None,
    dpi: int = 96,
    notation: str | None = None,
    **create_kwargs: Any,
) -> Diagram:
    """Diagram of a registered model (by name, on the meta device) or of your own module (a weight-free copy).

    ``depth`` draws modules deeper than it as one box each; ``expand`` draws every repeat of identical blocks
    instead of one labelled "×N", and squeeze-and-excitation as its layers; ``output`` (.svg, .png, .pdf, .dot)
    also renders it there (an existing file convzoo did not write is replaced only with ``force``).
    ``columns``: wrap the chain into this many columns, or ``max_height``: into the fewest whose height at 96
    dpi stays within it (default: the number that makes the picture closest to a page's shape); ``dpi``: a
    PNG's resolution; ``notation``: "vgg" for
    Simonyan & Zisserman's "conv3-64" (the default for the VGG family) or "he" for "3×3 conv, 64".
    """
    if direction not in ("TB", "LR"):
        raise ValueError(f"direction must be TB or LR, got {direction!r}")
    if shape_order not in ("chw", "hwc"):
        raise ValueError(f"shape_order must be chw or hwc, got {shape_order!r}")
    if depth is not None and depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    if columns is not None and not 1 <= columns <= 16:
        raise ValueError(f"columns must be from 1 to 16, got {columns}")
    if max_height is not None and not 200 <= max_height <= 100_000:
        raise ValueError(f"max_height must be from 200 to 100,000 pixels, got {max_height:g}")
    if not 24 <= dpi <= 600:
        raise ValueError(f"dpi must be from 24 to 600, got {dpi}")
    if notation not in (None, "he", "vgg"):
        raise ValueError(f"notation must be he or vgg, got {notation!r}")
    family = None
    if isinstance(model_or_name, str):
        from convzoo.registry import model_info

        model, size = build_meta(model_or_name, **create_kwargs)
        name = model_or_name
        family = model_info(name).family
    else:
        if create_kwargs:
            raise TypeError("options such as num_classes apply only when the model is given by name")
        model, size = _meta_copy(model_or_name), None
        name = getattr(model_or_name, "convzoo_name", type(model_or_name).__name__)
    if input_size is not None:
        size = parse_input_size(input_size)
    if size is None:
        raise ValueError("give input_size for your own model, e.g. input_size=(3, 224, 224)")
    model.eval()
    towers = max((t for m in model.modules() if isinstance(t := getattr(m, "towers", 1), int)), default=1)
    with gc_paused():
        nodes, types = _Flow.capture(model, tuple(size))
        names = paper_names(types, nodes, family)
        g = _Graph(nodes, types)
        if depth is not None:
            g.condense(depth, names)
        g.fold_minor()
        if not expand:
            g.compact_attention()
        if (notation or ("vgg" if family == "vgg" else "he")) == "vgg":
            g.vgg_notation()
        groups = {} if expand else g.collapse_repeats()
        if towers > 1:
            g.split_towers(towers)
        shortcuts = g.find_shortcuts()
    aux = sorted({_aux_path(n.path) for n in g.nodes.values() if _aux_path(n.path)})
    d = Diagram(name, g.nodes, g.edges(), shortcuts, groups, g.cluster_paths(), types, direction, shape_order,
                names, dict(g.members), dict(g.entry), aux, columns, max_height, dpi)  # fmt: skip
    if output is not None:
        d.render(output, force=force)
    return d


# ---------------------------------------------------------------------------------------------- capture


def _tensors(x: Any) -> list[torch.Tensor]:
    if isinstance(x, torch.Tensor):
        return [x]
    if isinstance(x, list | tuple):
        return [t for y in x for t in _tensors(y)]
    if isinstance(x, dict):
        return [t for y in x.values() for t in _tensors(y)]
    return []


def _pair(v: Any) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[-1]))


def _xy(v: tuple[int, int], sep: str = "×") -> str:
    return f"{v[0]}{sep}{v[1]}"


def _layer(m: nn.Module, inp: tuple[int, ...], out: tuple[int, ...]) -> tuple[str, str]:
    """(op, label) of a leaf layer in the papers' notation."""
    if isinstance(m, nn.Conv2d):
        if inp[-2:] == (1, 1) and m.kernel_size == (1, 1):
            return "fc", f"fc {m.out_channels}"  # an FC layer written as a 1×1 convolution (SE, NIN heads)
        text = f"{_xy(m.kernel_size)} conv, {m.out_channels}"
        if m.groups > 1:
            text += f", {'depthwise' if m.groups == m.in_channels else f'{m.groups} groups'}"
        if _pair(m.dilation) != (1, 1):
            text += f", dilation {m.dilation[0]}"
        if _pair(m.stride) != (1, 1):
            s = _pair(m.stride)
            text += f", /{s[0]}" if s[0] == s[1] else f", /{_xy(s)}"
        return "conv", text
    if isinstance(m, nn.Linear):
        return "fc", f"fc {m.out_features}"
    if isinstance(m, nn.modules.pooling._MaxPoolNd | nn.modules.pooling._AvgPoolNd):
        kind = "max" if isinstance(m, nn.modules.pooling._MaxPoolNd) else "avg"
        s = _pair(m.stride)
        return "pool", f"{kind} pool {_xy(_pair(m.kernel_size))}" + (f", /{s[0]}" if s[0] > 1 else "")
    if isinstance(m, nn.modules.pooling._AdaptiveAvgPoolNd | nn.modules.pooling._AdaptiveMaxPoolNd):
        kind = "max" if isinstance(m, nn.modules.pooling._AdaptiveMaxPoolNd) else "avg"
        return "pool", f"global {kind} pool" if out[-2:] == (1, 1) else f"adaptive {kind} pool"
    if isinstance(m, nn.modules.batchnorm._NormBase | nn.GroupNorm | nn.LayerNorm):
        return "norm", "BN" if isinstance(m, nn.modules.batchnorm._BatchNorm) else type(m).__name__
    if isinstance(m, nn.LocalResponseNorm) or "lrn" in type(m).__name__.lower():
        return "lrn", "LRN"
    if isinstance(m, nn.modules.dropout._DropoutNd):
        return "drop", f"dropout {m.p:g}"
    if type(m).__module__.startswith("torch.nn.modules.activation") or any(
        k in type(m).__name__.lower() for k in ("relu", "tanh", "sigmoid", "gelu", "silu", "swish")
    ):
        return "act", type(m).__name__
    if "drop" in type(m).__name__.lower():
        return "drop", "drop-path"
    return "other", type(m).__name__


def _functional(packet: Any, x: torch.Tensor, out: torch.Tensor) -> str | None:
    """The label of a functional op that changes a map's size in a container's forward (pooling), else None."""
    if x.dim() != 4 or out.dim() < 2 or tuple(out.shape[-2:]) == tuple(x.shape[-2:]):
        return None
    if packet in (aten.mean, aten._adaptive_avg_pool2d, aten.avg_pool2d) and out.dim() == 4:
        return "global avg pool" if tuple(out.shape[-2:]) == (1, 1) else "avg pool"
    if packet in (aten.max_pool2d_with_indices, aten.max_pool2d, aten.amax, aten.adaptive_max_pool2d):
        return "max pool" if out.dim() == 4 and tuple(out.shape[-2:]) != (1, 1) else "global max pool"
    if packet is aten.mean:
        return "global avg pool"
    return None


class _Flow(TorchDispatchMode):
    """Records which layer or merge produced each tensor, and from which inputs."""

    def __init__(self) -> None:
        super().__init__()
        self.nodes: dict[int, Node] = {}
        self.producer: dict[int, int] = {}
        self.keep: list[torch.Tensor] = []  # keeps ids unique while we hold them
        self.stack: list[str] = []
        self.in_leaf = 0
        self.leaf: set[nn.Module] = set()
        self.memo: dict[Any, Any] = {}

    @classmethod
    def capture(cls, model: nn.Module, size: tuple[int, ...]) -> tuple[dict[int, Node], dict[str, str]]:
        flow = cls()
        names = {m: n for n, m in model.named_modules()}
        types = {n: type(m).__name__ for m, n in names.items()}
        flow.leaf = {m for m in names if not m._modules and not isinstance(m, nn.Identity | nn.Flatten | nn.Unflatten)}
        x = torch.empty((1, *size), device="meta")
        flow._add("input", "", "input", x, [])

        def pre(mod: nn.Module, args: tuple[Any, ...]) -> None:
            if mod in names:
                flow.stack.append(names[mod])
                flow.in_leaf += mod in flow.leaf

        def post(mod: nn.Module, args: tuple[Any, ...], output: Any) -> None:
            if mod not in names:
                return
            name = flow.stack.pop()
            if mod in flow.leaf:
                flow.in_leaf -= 1
                outs = _tensors(output)
                if outs:
                    inp = _tensors(args)
                    shape = tuple(inp[0].shape[1:]) if inp else ()
                    op, label = _layer(mod, shape, tuple(outs[0].shape[1:]))
                    flow._add(op, name, label, outs[0], inp, outs[1:])

        handles = [register_module_forward_pre_hook(pre), register_module_forward_hook(post)]
        handles += flow._aux_hooks(model)
        try:
            with torch.no_grad(), flow:
                model(x)
        finally:
            for h in handles:
                h.remove()
        return flow.nodes, types

    def _aux_hooks(self, model: nn.Module) -> list:
        """Auxiliary classifiers (GoogLeNet, Inception-v3) run only in training mode: drawn in eval mode by
        running each head on the output of the layer it taps, when that layer has run."""
        taps, heads, features = (getattr(model, a, None) for a in ("_aux_taps", "aux_heads", "features"))
        if not isinstance(taps, dict) or not isinstance(heads, nn.ModuleDict) or not isinstance(features, nn.Module):
            return []
        layers = dict(features.named_children())
        hooks = []
        for tap, head in taps.items():
            if tap in layers and head in heads:

                def run(m: nn.Module, a: Any, out: Any, head: nn.Module = heads[head]) -> None:
                    before = max(self.nodes, default=-1)
                    try:
                        head(out)
                    except (ValueError, RuntimeError):  # a head built for another input size: left out
                        for nid in [n for n in self.nodes if n > before]:
                            del self.nodes[nid]

                hooks.append(layers[tap].register_forward_hook(run))
        return hooks

    def _add(
        self, op: str, path: str, label: str, out: torch.Tensor, inputs: list[torch.Tensor], more: Sequence = ()
    ) -> None:
        srcs = list(dict.fromkeys(self.producer[id(t)] for t in inputs if id(t) in self.producer))
        if op != "input" and not srcs:
            return  # a constant, not part of the data flow
        nid = max(self.nodes, default=-1) + 1
        self.nodes[nid] = Node(nid, op, path, label, tuple(out.shape[1:]), srcs)
        for t in (out, *more):
            self.producer[id(t)] = nid
            self.keep.append(t)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        packet, kwargs = func.overloadpacket, kwargs or {}
        key = _signature(func, args, kwargs)  # repeated blocks run the same ops on the same meta shapes
        if key is not None and key in self.memo:
            out = _rebuild(self.memo[key], args)
        elif packet in _EVAL_BN and args[0].is_meta and (packet in _EVAL_BN[:1] or args[5] is False):
            x = args[0]  # eval-mode BN keeps the shape; its meta kernel is a slow Python decomposition
            out = (torch.empty_like(x), x.new_empty((0,)), x.new_empty((0,)))
        else:
            out = func(*args, **kwargs)
        if key is not None and key not in self.memo:
            self.memo[key] = _template(out, args)
        if self.in_leaf:
            return out
        ins = [t for t in _tensors(args) if id(t) in self.producer]
        outs = _tensors(out)
        if not ins or not outs:
            return out
        where = self.stack[-1] if self.stack else ""
        y = outs[0]
        big = [t for t in ins if t.dim() >= 2]
        if packet is aten.cat and (len(big) > 1 or isinstance(args[0], list | tuple) and len(args[0]) == 1):
            self._add("concat", where, "concat", y, big)
        elif packet in (aten.add, aten.add_) and len(big) == 2 and big[0].shape == big[1].shape == y.shape:
            self._add("add", where, "+", y, big)
        elif packet in (aten.mul, aten.mul_) and len(big) == 2:
            self._add("scale", where, "×", y, big)
        elif (label := _functional(packet, ins[0], y)) is not None:
            self._add("pool", where, label, y, ins[:1])
        else:  # reshapes, scalings, functional activations: the data flow passes through
            for t in outs:
                self.producer[id(t)] = self.producer[id(ins[0])]
                self.keep.append(t)
        return out


# ---------------------------------------------------------------------------------------------- notation


def _parent(path: str) -> str:
    return path.rpartition(".")[0]


def _aux_path(path: str) -> str:
    """``aux_heads.aux1`` for any layer of that auxiliary classifier, else ''."""
    parts = path.split(".")
    return ".".join(parts[:2]) if len(parts) >= 2 and parts[0] == "aux_heads" else ""


_NAMED = [  # a module's own name → its paper's name for it
    (re.compile(r"inception(\d[a-z])"), lambda m: f"inception ({m[1]})"),  # GoogLeNet Table 1, BN-Inception Fig. 5
    (re.compile(r"mixed(\d)([a-z])"), lambda m: f"mixed {m[1]}{m[2]}"),  # Inception-v3/v4 (the released models)
    (re.compile(r"inception_([abc])\d+"), lambda m: f"Inception-{m[1].upper()}"),  # Inception-v4 Figs. 4-6
    (re.compile(r"reduction_([ab])"), lambda m: f"Reduction-{m[1].upper()}"),  # Inception-v4 Figs. 7, 8
    (re.compile(r"block35_\d+"), lambda m: "Inception-ResNet-A"),  # Inception-ResNet, Figs. 10, 16
    (re.compile(r"block17_\d+"), lambda m: "Inception-ResNet-B"),
    (re.compile(r"block8_\d+"), lambda m: "Inception-ResNet-C"),
    (re.compile(r"dense(\d+)"), lambda m: f"dense block ({m[1]})"),  # DenseNet Table 1
    (re.compile(r"trans(\d+)"), lambda m: f"transition layer ({m[1]})"),
]


def paper_names(types: dict[str, str], nodes: dict[int, Node], family: str | None = None) -> dict[str, str]:
    """The papers' names of a model's stages and modules, keyed by module path: a residual network's stages
    "conv2_x ×3" (He et al. 2015, Table 1), GoogLeNet's "inception (3a)", DenseNet's "dense block (1)",
    Inception-v4's "Inception-A"; the auxiliary classifiers. Read from the model's own structure."""
    out: dict[str, str] = {}
    kids: dict[str, int] = defaultdict(int)
    for p in types:
        if p:
            kids[_parent(p)] += 1
    for path, kind in types.items():
        last = path.rpartition(".")[2]
        if _parent(path) == "stages" and last.isdigit() and kind in ("Sequential", "ModuleList"):
            out[path] = f"conv{int(last) + 2}_x ×{kids[path]}"  # He et al.'s stage names, also for CIFAR widths
            continue
        if path and _aux_path(path) == path:
            out[path] = f"auxiliary classifier {last.removeprefix('aux')}"
            continue
        for pattern, name in _NAMED:
            m = pattern.fullmatch(last)
            if m:
                out[path] = name(m)
                break
    return out


def _within(path: str, prefix: str) -> bool:
    return prefix == "" or path == prefix or path.startswith(prefix + ".")


class _Graph:
    """The captured graph, rewritten into the papers' notation step by step."""

    def __init__(self, nodes: dict[int, Node], types: dict[str, str]) -> None:
        self.nodes, self.types = nodes, types
        self.blocks = {n.path for n in nodes.values() if n.op in ("add", "concat", "scale")}
        self.index: dict[str, list[int]] = {}
        self.cons: dict[int, set[int]] = {}
        self.members: dict[str, list[str]] = {}  # a group's representative → the blocks it stands for
        self.entry: dict[str, list[tuple[int, ...]]] = {}  # a group's representative → each member's input

    def edges(self) -> list[tuple[int, int]]:
        return [(s, n.id) for n in self.nodes.values() for s in n.inputs]

    def consumers(self) -> dict[int, list[int]]:
        out: dict[int, list[int]] = defaultdict(list)
        for s, t in self.edges():
            out[s].append(t)
        return out

    def cluster_of(self, path: str) -> str:
        """The innermost drawn block (a module that merges branches) containing ``path``."""
        p = path
        while p:
            if p in self.blocks:
                return p
            p = _parent(p)
        return ""

    def _replace(self, old: int, new: int) -> None:
        """Remove ``old``; its consumers read ``new`` instead."""
        for n in self.nodes.values():
            if old in n.inputs:
                n.inputs = list(dict.fromkeys(new if i == old else i for i in n.inputs if not (i == new == n.id)))
        del self.nodes[old]

    def condense(self, depth: int, names: dict[str, str] | None = None) -> None:
        """Draw each module deeper than ``depth`` as one box: its paper name (else its type) and output."""
        names = names or {}
        heads: dict[str, Node] = {}
        for n in list(self.nodes.values()):
            parts = n.path.split(".") if n.path else []
            inside = n.op in ("add", "concat", "scale")  # a merge happens inside the module at its path
            if len(parts) + inside <= depth:
                continue
            key = ".".join(parts[:depth])
            head = heads.get(key)
            if head is None:
                title = names.get(key) or self.types.get(key, key)
                heads[key] = Node(n.id, "block", key, title, n.out, list(n.inputs), inner=[n.label])
                self.nodes[n.id] = heads[key]
                continue
            head.out = n.out
            head.inner.append(n.label)
            head.inputs += [i for i in n.inputs if i not in head.inputs and self.nodes[i] is not head]
            self._replace(n.id, head.id)
        for head in heads.values():
            head.inputs = [i for i in head.inputs if i != head.id]
            if head.label.endswith("Block") and "+" not in head.inner and "Residual" in head.label:
                head.label = "plain block"  # a residual family's block without a shortcut (He et al.'s plain nets)
            ins = [self.nodes[i].out for i in head.inputs if i in self.nodes]
            down = ins[0][-1] // head.out[-1] if ins and len(ins[0]) == 3 == len(head.out) and head.out[-1] else 1
            head.label = f"{head.label}\n{head.out[0]}" + (f", /{down}" if down > 1 else "") if head.out else head.label
        self.blocks = {b for b in self.blocks if len(b.split(".")) < depth or b == ""}

    def fold_minor(self) -> None:
        """BN, activations, LRN and dropout join the layer before them (or, before a conv, the one after)."""
        cons = self.consumers()
        for n in sorted(self.nodes.values(), key=lambda n: n.id):
            if n.op not in MINOR or len(n.inputs) != 1 or n.id not in self.nodes:
                continue
            p = self.nodes[n.inputs[0]]
            if p.op in ("conv", "fc", "add", "concat", "other") and len(cons[p.id]) == 1 and self._same(p, n):
                p.after += [*n.before, n.label, *n.after]
                p.out = n.out
                self._move(n, p, cons)
        for n in sorted(self.nodes.values(), key=lambda n: -n.id):
            if n.op not in MINOR or len(n.inputs) != 1 or len(cons[n.id]) != 1:
                continue
            c = self.nodes[cons[n.id][0]]
            if c.op in ("conv", "fc", *MINOR) and c.inputs == [n.id] and self._same(n, c):
                c.before = [*n.before, n.label, *n.after, *c.before]
                if c.op in MINOR:
                    c.op = n.op if c.op == "drop" else c.op
                c.inputs = list(n.inputs)
                cons[n.inputs[0]] = [c.id if i == n.id else i for i in cons[n.inputs[0]]]
                del self.nodes[n.id]

    def compact_attention(self) -> None:
        """Each squeeze-and-excitation side branch (global pool, FC, ReLU, FC, sigmoid, then a channel-wise
        product, all inside one module) becomes one box "SE, r = 16" on the main path."""
        for s in [n for n in self.nodes.values() if n.op == "scale" and len(n.inputs) == 2]:
            side = [n for n in self.nodes.values() if n is not s and n.path.startswith(s.path + ".")]
            gate = [i for i in s.inputs if i in {n.id for n in side}]
            fcs = [n for n in side if n.op == "fc"]
            if not s.path or len(gate) != 1 or not fcs:
                continue
            main = next(i for i in s.inputs if i != gate[0])
            pools = [n for n in self.nodes.values() if n.path == s.path and n.op == "pool" and n.inputs == [main]]
            hidden = min(n.out[0] for n in fcs)
            channels = s.out[0]
            ratio = f"r = {channels // hidden}" if hidden and channels % hidden == 0 else f"{channels}→{hidden}"
            for n in [*side, *pools]:
                del self.nodes[n.id]
            s.op, s.label, s.inputs, s.after = "se", f"SE, {ratio}", [main], list(s.after)

    def split_towers(self, towers: int) -> None:
        """AlexNet as trained on two GPUs (Krizhevsky et al. 2012, Fig. 2): every layer from the first
        convolution to the last hidden FC drawn once per GPU with its half of the kernels; a grouped layer sees
        its own GPU's maps, a full one (conv3, the FCs) both."""
        order = sorted(self.nodes.values(), key=lambda n: n.id)
        if any(n.op in ("add", "concat", "scale") or len(n.inputs) > 1 for n in order):
            return  # only a chain
        fcs = [n.id for n in order if n.op == "fc"]
        split = [n for n in order if n.op != "input" and (not fcs or n.id < fcs[-1])]
        if not split:
            return
        grouped = f", {towers} groups"
        twin: dict[int, list[int]] = {}
        fresh = max(self.nodes) + 1
        for n in split:
            own = grouped in n.label or n.op in (*MINOR, "pool")
            n.label = re.sub(r"(conv, |^fc )(\d+)", lambda m: f"{m[1]}{int(m[2]) // towers}", n.label.replace(grouped, ""))
            n.out = (n.out[0] // towers, *n.out[1:]) if n.out else n.out
            src = n.inputs[0] if n.inputs else None
            copies = [n]
            for t in range(2, towers + 1):
                c = Node(fresh, n.op, n.path, n.label, n.out, [], list(n.before), list(n.after), list(n.inner), t)
                self.nodes[fresh], fresh = c, fresh + 1
                copies.append(c)
            n.tower = 1
            for t, c in enumerate(copies):
                if src in twin:
                    c.inputs = [twin[src][t]] if own else list(twin[src])
                elif src is not None:
                    c.inputs = [src]
            twin[n.id] = [c.id for c in copies]
        for n in order:
            if n not in split and n.inputs and n.inputs[0] in twin:
                n.inputs = list(twin[n.inputs[0]])
        self._renumber()

    def _renumber(self) -> None:
        """Ids in data-flow order again (a node's inputs before it; the classifier last)."""
        done: dict[int, int] = {}
        order: list[Node] = []

        def visit(n: Node) -> None:
            if n.id in done:
                return
            for i in n.inputs:
                visit(self.nodes[i])
            done[n.id] = len(order)
            order.append(n)

        for n in sorted(self.nodes.values(), key=lambda n: n.id):
            visit(n)
        for n in order:
            n.inputs = [done[i] for i in n.inputs]
            n.id = done[n.id]
        self.nodes = {n.id: n for n in order}

    def vgg_notation(self) -> None:
        """Simonyan & Zisserman's Table 1: "conv3-64", "maxpool", "FC-4096"."""
        for n in self.nodes.values():
            if n.op == "conv":
                n.label = re.sub(r"^(\d+)×\1 conv, (\d+)", r"conv\1-\2", n.label)
            elif n.op == "pool" and n.label.startswith("max pool"):
                n.label = "maxpool"
            elif n.op == "fc":
                n.label = re.sub(r"^fc (\d+)$", r"FC-\1", n.label)

    def _same(self, a: Node, b: Node) -> bool:
        return self.cluster_of(a.path) == self.cluster_of(b.path)

    def _move(self, n: Node, into: Node, cons: dict[int, list[int]]) -> None:
        for c in cons[n.id]:
            m = self.nodes[c]
            m.inputs = [into.id if i == n.id else i for i in m.inputs]
        cons[into.id] = cons.pop(n.id)
        del self.nodes[n.id]

    def _under(self, path: str) -> list[Node]:
        """The live nodes of module ``path`` and its submodules, in order."""
        return [self.nodes[i] for i in self.index.get(path, ()) if i in self.nodes]

    def _signature(self, path: str) -> tuple[Any, ...] | None:
        """What a block draws as, relative to its own path; None when it draws nothing."""
        mine = self._under(path)
        if not mine:
            return None
        local = {n.id: i for i, n in enumerate(mine)}
        cut = len(path)
        # not each layer's output volume: dense layers differ only in how many channels they concatenate
        return (
            self.types.get(path),
            mine[-1].out,
            tuple(
                (n.path[cut:], n.op, n.label, tuple(n.before), tuple(n.after), tuple(n.inner),
                 tuple(sorted({local.get(i, -1) for i in n.inputs})))
                for n in mine
            ),
        )

    def collapse_repeats(self) -> dict[str, int]:
        """Fold runs of consecutive identical sibling blocks, each feeding the next, into their first."""
        self.index = defaultdict(list)
        for n in sorted(self.nodes.values(), key=lambda n: n.id):
            parts = n.path.split(".") if n.path else []
            for k in range(len(parts) + 1):
                self.index[".".join(parts[:k])].append(n.id)
        self.cons = {k: set(v) for k, v in self.consumers().items()}
        children: dict[str, list[str]] = defaultdict(list)
        for path in self.index:
            if path:
                children[_parent(path)].append(path)
        groups: dict[str, int] = {}
        for parent in sorted(children, key=lambda p: p.count(".") if p else -1):
            if self._under(parent):
                self._collapse_siblings(children[parent], groups)
        return groups

    def _collapse_siblings(self, kids: list[str], groups: dict[str, int]) -> None:
        kids = [k for k in kids if self._is_block(k)]  # a stack of single convolutions stays as drawn (VGG)
        sigs = [(k, sig) for k in kids if (sig := self._signature(k)) is not None]
        i = 0
        while i < len(sigs):
            j = i + 1
            while j < len(sigs) and sigs[j][1] == sigs[i][1] and self._feeds(sigs[j - 1][0], sigs[j][0]):
                j += 1
            if j - i > 1:
                rep = sigs[i][0]
                groups[rep] = j - i
                self.members[rep] = [k for k, _ in sigs[i:j]]
                self.entry[rep] = [self._input_of(k) for k, _ in sigs[i:j]]
                for k, _ in sigs[i + 1 : j]:
                    self._fold_into(k, rep)
            i = j

    def _input_of(self, path: str) -> tuple[int, ...]:
        """The volume block ``path`` reads from outside it (a dense layer: the concatenation it starts with)."""
        mine = self._under(path)
        if mine and mine[0].op == "concat":
            return mine[0].out
        ids = {n.id for n in mine}
        outside = [i for n in mine for i in n.inputs if i not in ids and i in self.nodes]
        return self.nodes[outside[0]].out if outside else ()

    def _is_block(self, path: str) -> bool:
        """A module that draws as more than one box, or merges branches: a conv with its BN-ReLU is not."""
        mine = self._under(path)
        return len(mine) > 1 or any(n.op in ("add", "concat", "scale", "block") for n in mine)

    def _feeds(self, a: str, b: str) -> bool:
        ids = {n.id for n in self._under(a)}
        return any(i in ids for n in self._under(b) for i in n.inputs)

    def _fold_into(self, path: str, rep: str) -> None:
        """Remove block ``path``; consumers outside it read the representative's corresponding node."""
        cut = len(path)
        twin = {n.path[len(rep) :] + "|" + n.label: n.id for n in self._under(rep)}
        gone = {n.id: twin.get(n.path[cut:] + "|" + n.label) for n in self._under(path)}
        for nid in gone:
            del self.nodes[nid]
        readers = {c for g in gone for c in self.cons.pop(g, ())}
        for n in (self.nodes[c] for c in readers if c in self.nodes):
            n.inputs = list(dict.fromkeys(gone.get(i, i) for i in n.inputs if gone.get(i, i) not in (None, n.id)))
            for i in n.inputs:
                self.cons.setdefault(i, set()).add(n.id)

    def find_shortcuts(self) -> list[Shortcut]:
        """Each two-input add whose shorter input comes straight from a fork (identity) or through a short
        private chain from it (projection): that input becomes an arc, its layers the arc's label."""
        cons = self.consumers()
        found = []
        for add in [n for n in self.nodes.values() if n.op == "add" and len(n.inputs) == 2]:
            paths = sorted((self._private_chain(i, cons) + (i,) for i in add.inputs), key=lambda c: len(c[0]))
            valid = [c for c in paths if len(cons[c[1]]) > 1 or self.nodes[c[1]].op == "input"]
            if not valid or len(valid[0][0]) > _MAX_SHORTCUT:
                continue
            short, src, head = valid[0]
            other = next(c for c in paths if c[2] != head)
            if other in valid and len(other[0]) <= len(short):
                continue
            ops = [" ".join([*self.nodes[i].before, self.nodes[i].label]) for i in reversed(short)]
            for i in short:
                del self.nodes[i]
            add.inputs = list(dict.fromkeys(src if i == head else i for i in add.inputs))
            found.append(Shortcut(src, add.id, ops))
        return found

    def _private_chain(self, start: int, cons: dict[int, list[int]]) -> tuple[list[int], int]:
        """Nodes from ``start`` backwards that only this path uses (one input, one consumer), and the node
        before them (a fork, when this path is a shortcut)."""
        chain: list[int] = []
        nid = start
        while len(cons[nid]) == 1 and len(self.nodes[nid].inputs) == 1:
            chain.append(nid)
            nid = self.nodes[nid].inputs[0]
        return chain, nid

    def cluster_paths(self) -> list[str]:
        alive = {self.cluster_of(n.path) for n in self.nodes.values()}
        out = set()
        for p in alive:
            while p:
                if p in self.blocks:
                    out.add(p)
                p = _parent(p)
        return sorted(out)


# ---------------------------------------------------------------------------------------------- DOT


_STYLE = {
    "conv": 'shape=box, style="rounded,filled", fillcolor="#dbe9f6"',
    "fc": 'shape=box, style="rounded,filled", fillcolor="#e8dcf2"',
    "pool": 'shape=box, style="rounded,filled", fillcolor="#fde2c4"',
    "add": 'shape=circle, width=0.3, fixedsize=true, style=filled, fillcolor="#ffffff", fontsize=14',
    "scale": 'shape=circle, width=0.3, fixedsize=true, style=filled, fillcolor="#ffffff", fontsize=14',
    "concat": 'shape=box, style="filled", fillcolor="#d9f0d3", height=0.25',
    "input": 'shape=box, style="filled", fillcolor="#eeeeee"',
    "block": 'shape=box, style="rounded,filled", fillcolor="#dbe9f6"',
    "se": 'shape=box, style="rounded,filled", fillcolor="#fff2cc"',
    "proj": 'shape=box, style="rounded,dashed,filled", fillcolor="#f3f7fc", color="#555555"',
    "cont": 'shape=box, style="rounded,dashed", color="#999999", fontcolor="#444444"',
}
FONT, EDGE_FONT, TITLE_FONT, PATH_FONT = 10, 8, 9, 8  # points: at 96 dpi the smallest is 10.7 px
RANKSEP, NODESEP = 0.2, 0.14  # inches
MEASURE_EDGES = 400  # up to this many arrows the columns are cut by Graphviz's own layout of the chain
PAGE_PX = 1750  # the default wrap keeps a picture within this many pixels each way at 96 dpi where it can


def _esc(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")  # one DOT line per statement


def _html(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class _Dot:
    """The DOT text of a diagram: clusters for blocks, stages, groups and auxiliary heads; volumes on the edges
    between blocks; a long chain wrapped into columns at block boundaries."""

    def __init__(self, d: Diagram) -> None:
        self.d = d
        self.tb = d.direction == "TB"
        self.clusters = self._clusters()
        self.owner = {n.id: self._owner(n) for n in d.nodes.values()}
        self.short = {(s.src, s.add): s for s in d.shortcuts}
        convs = [tuple(n.after) for n in d.nodes.values() if n.op == "conv" and not n.before]
        common = Counter(convs).most_common(1)
        # what follows nearly every convolution is said once, in the title, not on every box
        self.common = common[0][0] if common and common[0][0] and common[0][1] >= max(3, 0.6 * len(convs)) else ()

    # ------------------------------------------------------------------------------------------ structure

    def _clusters(self) -> set[str]:
        d = self.d
        paths = [n.path for n in d.nodes.values() if n.op != "input" and not n.tower]
        out = set()
        for c in d.clusters:  # a block drawn as one box (a compact SE) needs no box around it
            inside = [n for n in d.nodes.values() if _within(n.path, c) and n.op != "input"]
            if len(inside) > 1 or c in d.groups:
                out.add(c)
        out |= {g for g in d.groups if any(_within(p, g) for p in paths)}
        out |= {a for a in d.aux if any(_within(p, a) for p in paths)}
        for p in d.names:  # a named stage or module around more than one box
            inside = [q for q in paths if _within(q, p)]
            if len(inside) > 1 or (inside and inside[0] != p):
                out.add(p)
        return out

    def _owner(self, n: Node) -> str:
        if n.tower:
            return f"#gpu{n.tower}"
        if n.op == "input":
            return ""
        p = n.path
        while p:
            if p in self.clusters:
                return p
            p = _parent(p)
        return ""

    def _chain(self, owner: str) -> list[str]:
        """The clusters around a node, outermost first."""
        if owner.startswith("#"):
            return [owner]
        out = []
        p = owner
        while p:
            if p in self.clusters:
                out.append(p)
            p = _parent(p)
        return out[::-1]

    def shape(self, out: tuple[int, ...]) -> str:
        if len(out) == 3 and self.d.shape_order == "hwc":
            out = (out[1], out[2], out[0])
        return "×".join(str(v) for v in out)

    def label(self, n: Node) -> str:
        if n.op == "input":
            return f"input\n{self.shape(n.out)}"
        if n.op in ("add", "scale"):
            return n.label
        if n.op in MINOR:
            return ", ".join([*n.before, n.label, *n.after])
        if n.op == "block":
            return n.label
        lines = [f"{', '.join(n.before)} →"] if n.before else []
        after = n.after if n.op != "conv" or n.before or tuple(n.after) != self.common else []
        return "\n".join([*lines, n.label, *([", ".join(after)] if after else [])])

    def heading(self) -> str:
        """The picture's title (an HTML-like label): the name, and what follows every convolution."""
        note = f"every convolution followed by {', '.join(self.common)} unless shown" if self.common else ""
        small = f'<br/><font point-size="{EDGE_FONT + 1}" color="#555555">{_html(note)}</font>' if note else ""
        return f"<{_html(self.d.name)}{small}>"

    def title(self, path: str) -> str:
        """A cluster's title: "×N" for a folded group, the paper's name, else the kind of block."""
        d = self.d
        if path.startswith("#gpu"):
            return f"GPU {path[4:]}"
        n = d.groups.get(path)
        names = [d.names.get(p) for p in d.members.get(path, [path])]
        if names and all(names) and len(set(names)) > 1:
            name = f"{names[0]} – {names[-1]}"  # "mixed 5c – mixed 5d"
        else:
            name = names[0] if names and names[0] else self._kind(path)
        return f"×{n}  {name}" if n else name

    def _kind(self, path: str) -> str:
        kind = self.d.types.get(path, "")
        mine = [m for m in self.d.nodes.values() if _within(m.path, path)]
        if "Residual" in kind or kind.endswith("Block") and "Dense" not in kind:
            if not any(m.op == "add" for m in mine):
                return "plain block"  # He et al.'s plain networks: the same layers, no shortcut
            return "residual unit"
        return kind

    # ------------------------------------------------------------------------------------------ edges

    def _edges(self) -> list[tuple[str, str, dict[str, str]]]:
        """(tail, head, attributes) of every arrow, projection shortcuts drawn as dashed boxes of their own."""
        d = self.d
        out: list[tuple[str, str, dict[str, str]]] = []
        first: set[int] = set()  # sources whose volume is already on one arrow
        relu: set[int] = set()
        entries = {(s, t): v for s, t in d.edges if (v := self._entry(d.nodes[s], d.nodes[t])) is not None}
        last = {s: max(t for a, t in entries if a == s) for s, _ in entries}
        entries = {(s, t): v for (s, t), v in entries.items() if t == last[s]}  # once, on the fan-out's side
        entered = set(last)
        for s, t in sorted(d.edges, key=lambda e: (e[0], -e[1])):  # a fan-out labels its last arrow (the side)
            sc = self.short.get((s, t))
            port = {"tailport": "e", "headport": "e"} if self.tb else {"tailport": "s", "headport": "s"}
            if sc is not None and sc.ops:
                out.append((f"n{s}", f"p{t}", {"style": "dashed"}))
                out.append((f"p{t}", f"n{t}", {"style": "dashed"}))
                continue
            if sc is not None:
                out.append((f"n{s}", f"n{t}", {**port, "penwidth": "1.4", "color": "#222222"}))
                continue
            src = d.nodes[s]
            text = []
            if src.op in ("add", "scale") and src.after and s not in relu:
                text.append(", ".join(src.after))  # the ReLU after an addition, beside the arrow it leaves by
                relu.add(s)
            vol = entries.get((s, t))
            if vol is None and (self.owner[s] != self.owner[t] or not self.owner[s]) and s not in first:
                vol = None if s in entered else self.shape(src.out)
            if vol:
                first.add(s)
                text.append(vol)
            out.append((f"n{s}", f"n{t}", {"label": " " + "\n ".join(text)} if text else {}))
        return sorted(out, key=lambda e: (int(e[0][1:]), e[0][0] == "p", int(e[1][1:])))  # drawn left to right

    def _entry(self, src: Node, dst: Node) -> str | None:
        """The volumes a folded group reads when they differ between its blocks (Inception-v3's "×2 mixed 5c"
        takes 256 channels, then 288)."""
        for g, shapes in self.d.entry.items():
            if _within(dst.path, g) and not _within(src.path, g) and g in self.d.groups:
                seen = list(dict.fromkeys(s for s in shapes if s))
                if len(seen) == 2:
                    return f"{self.shape(seen[0])}, then {self.shape(seen[1])}"
                if len(seen) > 2:
                    return f"{self.shape(seen[0])} … {self.shape(seen[-1])}"
        return None

    # ------------------------------------------------------------------------------------------ columns

    def _extent(self, text: str, font: float) -> float:
        """Inches a box with ``text`` takes along the direction of flow."""
        lines = text.split("\n")
        if self.tb:
            return len(lines) * font * 1.2 / 72 + 0.08
        return max(len(x) for x in lines) * font * 0.55 / 72 + 0.25

    def _spans(self, edges: list[tuple[str, str, dict[str, str]]]) -> dict[int, tuple[float, float]]:
        """Each node's estimated extent (start, end) in inches along the flow, by the longest path from the
        input: box sizes, rank gaps, a rank for each arrow's label and the title of each block entered."""
        d = self.d
        size = {n.id: (0.3 if n.op in ("add", "scale") else max(0.3 if self.tb else 0.75, self._extent(self.label(n), FONT)))
                for n in d.nodes.values()}  # fmt: skip
        gap: dict[tuple[int, int], float] = {}
        for a, b, attrs in edges:
            if a.startswith("n") and b.startswith("n"):
                lab = attrs.get("label")
                gap[(int(a[1:]), int(b[1:]))] = RANKSEP + (self._extent(lab.strip(), EDGE_FONT) + RANKSEP if lab else 0)
        pos: dict[int, float] = {}
        for n in sorted(d.nodes.values(), key=lambda n: n.id):
            here = self._chain(self.owner[n.id])
            best = 0.0
            for i in n.inputs:
                if i not in pos:
                    continue
                there = self._chain(self.owner[i])
                common = len([1 for a, b in zip(here, there, strict=False) if a == b])
                entered, left = len(here) - common, len(there) - common
                step = size[i] / 2 + gap.get((i, n.id), RANKSEP) + 0.34 * entered + 0.12 * left + size[n.id] / 2
                best = max(best, pos[i] + step)
            pos[n.id] = best
        return {i: (p - size[i] / 2 - 0.34 * len(self._chain(self.owner[i])), p + size[i] / 2) for i, p in pos.items()}

    def _units(self) -> tuple[list[str], dict[int, int]]:
        """The top-level pieces of the chain in order (an outermost block, or a box outside every block) and
        the piece of each node."""
        keys: list[str] = []
        of: dict[int, int] = {}
        for n in sorted(self.d.nodes.values(), key=lambda n: n.id):
            chain = self._chain(self.owner[n.id])
            key = chain[0] if chain else f"n{n.id}"
            if not keys or keys[-1] != key:
                if key in keys:
                    of[n.id] = keys.index(key)
                    continue
                keys.append(key)
            of[n.id] = keys.index(key)
        return keys, of

    def layout(self) -> tuple[list[list[int]], dict[int, int], list[int]]:
        """Columns (lists of units), the unit of each node, and the node each later column continues from."""
        d = self.d
        keys, of = self._units()
        m = len(keys)
        cross: dict[int, set[int]] = defaultdict(set)  # break after unit k → the sources of edges across it
        for s, t in d.edges:
            for k in range(min(of[s], of[t]), max(of[s], of[t])):
                cross[k].add(s)
        ok = [len(cross[k]) == 1 for k in range(m - 1)]
        top, bottom, left, right = self._measured(keys, of) or self._estimated(of, m)

        def height(a: int, b: int) -> float:  # inches: units a..b-1 in one column
            return max(bottom[a:b]) - min(top[a:b])

        def width(a: int, b: int) -> float:
            return max(right[a:b]) - min(left[a:b])

        options: dict[int, tuple[list[list[int]], float, float]] = {}
        for cols in range(1, min(12, m) + 1) if d.columns is None else [min(d.columns, m)]:
            split = self._partition(m, cols, ok, height)
            if split is not None:
                h = max(height(c[0], c[-1] + 1) for c in split) + (0.5 if cols > 1 else 0) + 0.4
                w = sum(width(c[0], c[-1] + 1) for c in split) + 0.3 * (cols - 1)
                options[cols] = (split, h, w)
        if not options:
            return [list(range(m))], of, []
        if d.columns is not None:
            best = next(iter(options.values()))[0]
        elif d.max_height is not None:  # the fewest columns that keep within the height asked for
            fit = [c for c, (_, h, _) in options.items() if h * 96 <= d.max_height]
            best = options[min(fit) if fit else max(options)][0]
        else:  # within 1,900 px each way if the cuts allow; then as near a page's shape (a little taller than wide)
            fit = [o for o in options.values() if max(o[1], o[2]) * 96 <= PAGE_PX] or list(options.values())
            def page(h: float, w: float) -> float:  # flow h, across w: a page a little taller than wide
                return max(h, 1.25 * w) if self.tb else max(w, 1.25 * h)

            best, score = fit[0][0], page(fit[0][1], fit[0][2])
            for split, h, w in fit[1:]:  # another column only where it makes the picture clearly smaller
                if page(h, w) < 0.85 * score:
                    best, score = split, page(h, w)
        sources = [next(iter(cross[c[0] - 1])) for c in best[1:]]
        return best, of, sources

    def _estimated(self, of: dict[int, int], m: int) -> tuple[list[float], ...]:
        """Units' extents in inches (top, bottom, left, right) estimated from their boxes (without Graphviz)."""
        spans = self._spans(self._edges())
        top = [min(spans[i][0] for i in of if of[i] == u) for u in range(m)]
        bottom = [max(spans[i][1] for i in of if of[i] == u) for u in range(m)]
        wide = {i: max(len(x) for x in self.label(n).split("\n")) * FONT * 0.55 / 72 + 0.35
                for i, n in self.d.nodes.items()}  # fmt: skip
        right = [max(sum(wide[i] for i in of if of[i] == u) / 3, max(wide[i] for i in of if of[i] == u))
                 for u in range(m)]  # fmt: skip
        return top, bottom, [0.0] * m, right

    def _measured(self, keys: list[str], of: dict[int, int]) -> tuple[list[float], ...] | None:
        """Units' extents in inches (top, bottom, left, right) in Graphviz's layout of the whole chain in one
        column; None without Graphviz."""
        exe = shutil.which("dot")
        if exe is None or len(self.d.edges) > MEASURE_EDGES:
            return None  # a large drawing (an expanded DenseNet) is cut by the estimate: one layout is enough
        self._cached = ([list(range(len(keys)))], of, [])
        try:
            text = self._graph(None)
        finally:
            del self._cached
        cache = self.d.__dict__.setdefault("_measure_cache", {})
        if text not in cache:
            done = self.d._dot([exe, "-Tjson"], None, text)
            try:
                cache[text] = json.loads(done.stdout) if done.returncode == 0 else None
            except json.JSONDecodeError:
                cache[text] = None
        laid = cache[text]
        if not isinstance(laid, dict):
            return None
        boxes: dict[str, tuple[float, float, float, float]] = {}
        for obj in laid.get("objects", []):
            name = str(obj.get("name", ""))
            if "bb" in obj and name.startswith("cluster_"):
                x0, y0, x1, y1 = (float(v) for v in obj["bb"].split(","))
                boxes[name[len("cluster_") :]] = (x0, y0, x1, y1)
            elif "pos" in obj:
                x, y = (float(v) for v in obj["pos"].split(",")[:2])
                w, h = 36 * float(obj.get("width", 0)), 36 * float(obj.get("height", 0))
                boxes[name] = (x - w, y - h, x + w, y + h)
        if any(k not in boxes for k in keys):
            return None
        ext = [boxes[k] for k in keys]
        if self.tb:
            return [-b[3] / 72 for b in ext], [-b[1] / 72 for b in ext], [b[0] / 72 for b in ext], [b[2] / 72 for b in ext]
        return [b[0] / 72 for b in ext], [b[2] / 72 for b in ext], [-b[3] / 72 for b in ext], [-b[1] / 72 for b in ext]

    @staticmethod
    def _partition(m: int, cols: int, ok: list[bool], height: Any) -> list[list[int]] | None:
        """Units 0..m-1 cut into ``cols`` runs at allowed cuts, the tallest run as short as it can be."""
        inf = float("inf")
        cost = [[inf] * (m + 1) for _ in range(cols + 1)]
        back = [[0] * (m + 1) for _ in range(cols + 1)]
        cost[0][0] = 0.0
        for c in range(1, cols + 1):
            for b in range(1, m + 1):
                if b < m and not ok[b - 1]:
                    continue
                for a in range(c - 1, b):
                    if cost[c - 1][a] == inf or (a > 0 and not ok[a - 1]):
                        continue
                    v = max(cost[c - 1][a], height(a, b))
                    if v < cost[c][b]:
                        cost[c][b], back[c][b] = v, a
        if cost[cols][m] == inf:
            return None
        out, b = [], m
        for c in range(cols, 0, -1):
            a = back[c][b]
            out.append(list(range(a, b)))
            b = a
        return out[::-1]

    # ------------------------------------------------------------------------------------------ text

    def node(self, n: Node) -> str:
        style = _STYLE.get(n.op, 'shape=box, style="rounded,filled", fillcolor="#f4f4f4"')
        return f'n{n.id} [label="{_esc(self.label(n))}", {style}];'

    def text(self) -> str:
        """One graph: later columns start from a "continued" box that a dotted arrow joins to where the chain
        left off (ranks are shared between columns, so they align less tightly than :meth:`columns`)."""
        return self._graph(None)

    def columns(self) -> list[str]:
        """One graph per column, to be laid out apart and packed side by side (see :meth:`Diagram.render`)."""
        n = len(self._layout()[0])
        return [self._graph(c) for c in range(n)] if n > 1 else [self._graph(None)]

    def _layout(self) -> tuple[list[list[int]], dict[int, int], list[int]]:
        if not hasattr(self, "_cached"):
            self._cached = self.layout() if self.d.nodes else ([[0]], {}, [])
        return self._cached

    def _graph(self, only: int | None) -> str:
        d = self.d
        columns, of, sources = self._layout()
        col_of_unit = {u: c for c, us in enumerate(columns) for u in us}
        col = {i: col_of_unit.get(u, 0) for i, u in of.items()}
        keep = (lambda c: True) if only is None else (lambda c: c == only)
        lines = [
            f"digraph convzoo{'' if only is None else only} {{",
            f"  rankdir={d.direction}; newrank=true; ordering=out; nodesep={NODESEP}; ranksep={RANKSEP};"
            ' fontname="Helvetica";'
            + ("" if only is None else f" sortv={only};"),
            f'  node [fontname="Helvetica", fontsize={FONT}, height=0.28, margin="0.08,0.03"];',
            f'  edge [fontname="Helvetica", fontsize={EDGE_FONT}, color="#555555", arrowsize=0.6];',
        ]
        first = min(d.nodes) if d.nodes else 0
        if only is None:
            lines.append(f"  label={self.heading()}; labelloc=t; fontsize=16;")
        elif only == 0:  # a packed picture keeps no graph label: the title is a box of its own
            lines.append(f"  title [label={self.heading()}, shape=plaintext, fontsize=16];")
            lines.append(f"  title -> n{first} [style=invis];")
        lines += self._tree({i for i in d.nodes if keep(col.get(i, 0))})
        heads = []
        for c, src in enumerate(sources, start=1):
            if not keep(c):
                continue
            s = d.nodes[src]
            lines.append(f'  k{c} [label="{_esc("continued: " + self.shape(s.out))}", {_STYLE["cont"]}];')
            if only is None:
                lines.append(f'  n{src} -> k{c} [style=dotted, constraint=false, color="#999999"];')
            heads.append(f"k{c}")
        for a, b, attrs in self._edges():
            ca, cb = col.get(int(a[1:]), 0), col.get(int(b[1:]), 0)
            if a.startswith("n") and cb > ca:
                a = f"k{cb}"  # the arrow starts again at the top of its column
            if not keep(cb):
                continue
            text = ", ".join(f'{k}="{_esc(v)}"' for k, v in attrs.items())
            lines.append(f"  {a} -> {b}" + (f" [{text}];" if text else ";"))
        if heads and only is None:
            lines.append(f"  {{rank=same; n{first}; {'; '.join(heads)};}}")
        lines.append("}")
        return "\n".join(lines) + "\n"

    def _tree(self, ids: set[int]) -> list[str]:
        members: dict[str, list[str]] = defaultdict(list)
        for n in self.d.nodes.values():
            if n.id in ids:
                members[self.owner[n.id]].append(self.node(n))
        edges = self.d.edges
        for s in self.d.shortcuts:
            if s.ops and s.add in ids:
                text = "\n".join(s.ops)
                members[self.owner[s.add]].append(f'p{s.add} [label="{_esc(text)}", {_STYLE["proj"]}];')
                beside = [t for a, t in edges if a == s.src and t != s.add and self.owner[t] == self.owner[s.add]]
                if beside:  # the projection beside the branch's first layer, the dashed arrow down to the ⊕
                    members[self.owner[s.add]].append(f"{{rank=same; n{min(beside)}; p{s.add};}}")
        for path in {self.owner[i] for i in ids if self.d.nodes[i].op == "concat"}:
            heads = [i for i in ids if self.owner[i] == path and self.d.nodes[i].inputs
                     and all(path not in self._chain(self.owner[j]) for j in self.d.nodes[i].inputs)]  # fmt: skip
            if len(heads) > 1:  # an Inception module's branches start side by side, as in the papers' figures
                members[path].append(f"{{rank=same; {'; '.join(f'n{i}' for i in sorted(heads))};}}")
        kids: dict[str, list[str]] = defaultdict(list)
        towers = sorted({o for o in self.owner.values() if o.startswith("#")})
        for c in sorted(self.clusters) + towers:
            chain = self._chain(c)
            kids[chain[-2] if len(chain) > 1 else ""].append(c)

        def emit(path: str, indent: str) -> list[str]:
            body = [indent + "  " + m for m in members[path]]
            for k in kids[path]:
                body += emit(k, indent + "  ")
            if not path or not body:
                return body
            n = self.d.groups.get(path)
            title = _html(self.title(path))
            where = "" if path.startswith("#") else f' <font point-size="{PATH_FONT}" color="#777777">{_html(path)}</font>'
            color = '"#b03030"' if n else '"#888888"'
            return [
                f'{indent}subgraph "cluster_{_esc(path)}" {{',
                f"{indent}  label=<{title}{where}>; labeljust=l; fontsize={TITLE_FONT}; color={color};"
                f' style="rounded{",bold" if n else ""}";',
                *body,
                f"{indent}}}",
            ]

        return emit("", "")
