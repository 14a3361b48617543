"""Block diagrams in the papers' notation, drawn from the model's own data flow and laid out by Graphviz.

One forward pass on the meta device records what each leaf layer and each merge (add, concatenation,
gating) consumed and produced. The graph is then put into the papers' notation: BN, activations and dropout
fold into the convolution beside them ("3×3 conv, 64, /2"), shortcuts become arcs (identity solid,
projection dashed, as in He et al. 2015, Fig. 3), and consecutive identical blocks fold into one box labelled
"×N". Graphviz's ``dot`` draws it.
"""

from __future__ import annotations

import shutil
import subprocess
from collections import defaultdict
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

aten = torch.ops.aten

DOT_ADVICE = (
    "Graphviz's `dot` is not installed: `sudo apt-get install graphviz` (Debian/Ubuntu), `brew install graphviz` "
    "(macOS), `conda install graphviz`, or see https://graphviz.org/download/; `make graphviz` tries apt-get"
)
MINOR = ("norm", "act", "drop", "lrn")  # folded into the layer beside them
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

    @property
    def branch_nodes(self) -> list[Node]:
        """Merges of parallel paths: concatenations (Inception, DenseNet) and adds (residual units)."""
        return [n for n in self.nodes.values() if n.op in ("add", "concat", "scale")]

    @property
    def source(self) -> str:
        return _Dot(self).text()

    def render(self, path: str | Path, timeout: float = 300) -> Path:
        """Write the diagram; the format follows the suffix (.svg, .png, .pdf, .dot). ``timeout``: for dot."""
        path = Path(path)
        fmt = path.suffix.lstrip(".").lower()
        if fmt == "dot":
            path.write_text(self.source)
            return path
        if fmt not in ("svg", "png", "pdf"):
            raise ValueError(f"cannot draw to {path.name!r}: choose a .svg, .png, .pdf or .dot file")
        exe = shutil.which("dot")
        if exe is None:
            raise FileNotFoundError(DOT_ADVICE)
        extra = ["-Gdpi=110"] if fmt == "png" else []
        tmp = path.with_name(path.name + ".part")
        done = subprocess.run(
            [exe, f"-T{fmt}", *extra, "-o", str(tmp)], input=self.source, text=True, capture_output=True, timeout=timeout
        )
        if done.returncode != 0:
            tmp.unlink(missing_ok=True)
            raise RuntimeError(f"dot failed drawing {path}: {done.stderr.strip()}")
        tmp.replace(path)
        return path


def draw(
    model_or_name: nn.Module | str,
    output: str | Path | None = None,
    *,
    input_size: Sequence[int] | str | None = None,
    depth: int | None = None,
    expand: bool = False,
    direction: str = "TB",
    shape_order: str = "chw",
    **create_kwargs: Any,
) -> Diagram:
    """Diagram of a registered model (by name, on the meta device) or of your own module (a weight-free copy).

    ``depth`` draws modules deeper than it as one box each; ``expand`` draws every repeat of identical blocks
    instead of one labelled "×N"; ``output`` (.svg, .png, .pdf, .dot) also renders it there.
    """
    if direction not in ("TB", "LR"):
        raise ValueError(f"direction must be TB or LR, got {direction!r}")
    if shape_order not in ("chw", "hwc"):
        raise ValueError(f"shape_order must be chw or hwc, got {shape_order!r}")
    if depth is not None and depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    if isinstance(model_or_name, str):
        model, size = build_meta(model_or_name, **create_kwargs)
        name = model_or_name
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
    with gc_paused():
        nodes, types = _Flow.capture(model, tuple(size))
        g = _Graph(nodes, types)
        if depth is not None:
            g.condense(depth)
        g.fold_minor()
        groups = {} if expand else g.collapse_repeats()
        shortcuts = g.find_shortcuts()
    d = Diagram(name, g.nodes, g.edges(), shortcuts, groups, g.cluster_paths(), types, direction, shape_order)
    if output is not None:
        d.render(output)
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
        try:
            with torch.no_grad(), flow:
                model(x)
        finally:
            for h in handles:
                h.remove()
        return flow.nodes, types

    def _add(
        self, op: str, path: str, label: str, out: torch.Tensor, inputs: list[torch.Tensor], more: Sequence = ()
    ) -> None:
        srcs = list(dict.fromkeys(self.producer[id(t)] for t in inputs if id(t) in self.producer))
        if op != "input" and not srcs:
            return  # a constant, not part of the data flow
        nid = len(self.nodes)
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


def _within(path: str, prefix: str) -> bool:
    return prefix == "" or path == prefix or path.startswith(prefix + ".")


class _Graph:
    """The captured graph, rewritten into the papers' notation step by step."""

    def __init__(self, nodes: dict[int, Node], types: dict[str, str]) -> None:
        self.nodes, self.types = nodes, types
        self.blocks = {n.path for n in nodes.values() if n.op in ("add", "concat", "scale")}
        self.index: dict[str, list[int]] = {}
        self.cons: dict[int, set[int]] = {}

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

    def condense(self, depth: int) -> None:
        """Draw each module deeper than ``depth`` as one box: its type and output."""
        heads: dict[str, Node] = {}
        for n in list(self.nodes.values()):
            parts = n.path.split(".") if n.path else []
            inside = n.op in ("add", "concat", "scale")  # a merge happens inside the module at its path
            if len(parts) + inside <= depth:
                continue
            key = ".".join(parts[:depth])
            head = heads.get(key)
            if head is None:
                heads[key] = Node(n.id, "block", key, self.types.get(key, key), n.out, list(n.inputs), inner=[n.label])
                self.nodes[n.id] = heads[key]
                continue
            head.out = n.out
            head.inner.append(n.label)
            head.inputs += [i for i in n.inputs if i not in head.inputs and self.nodes[i] is not head]
            self._replace(n.id, head.id)
        for head in heads.values():
            head.inputs = [i for i in head.inputs if i != head.id]
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
                for k, _ in sigs[i + 1 : j]:
                    self._fold_into(k, rep)
            i = j

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
}


def _esc(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"')


class _Dot:
    def __init__(self, d: Diagram) -> None:
        self.d = d

    def shape(self, out: tuple[int, ...]) -> str:
        if len(out) == 3 and self.d.shape_order == "hwc":
            out = (out[1], out[2], out[0])
        return "×".join(str(v) for v in out)

    def node(self, n: Node) -> str:
        label = n.label
        if n.op == "input":
            label = f"input\n{self.shape(n.out)}"
        elif n.op in ("add", "scale") and n.after:
            style = _STYLE[n.op]
            return f'n{n.id} [label="{_esc(label)}", xlabel="{_esc(", ".join(n.after))}", {style}];'
        elif n.op in MINOR:
            label = ", ".join([*n.before, n.label, *n.after])
        elif n.before or n.after:
            small = ", ".join(n.after) if n.after else ""
            pre = ", ".join(n.before)
            label = "\n".join(x for x in (pre and f"{pre} →", n.label, small) if x)
        style = _STYLE.get(n.op, 'shape=box, style="rounded,filled", fillcolor="#f4f4f4"')
        return f'n{n.id} [label="{_esc(label)}", {style}];'

    def cluster(self, path: str, body: list[str], indent: str) -> list[str]:
        n = self.d.groups.get(path)
        kind = self.d.types.get(path, "")
        name = f"×{n}  {kind}" if n else kind
        color = '"#b03030"' if n else '"#888888"'
        head = [
            f'{indent}subgraph "cluster_{_esc(path)}" {{',
            f'{indent}  label="{_esc(name)}  ({_esc(path)})"; labeljust=l; fontsize=10; color={color};'
            f' style="rounded{",bold" if n else ""}";',
        ]
        return head + body + [f"{indent}}}"]

    def text(self) -> str:
        d = self.d
        clusters = set(d.clusters) | {g for g in d.groups if any(_within(n.path, g) for n in d.nodes.values())}
        lines = [
            "digraph convzoo {",
            f'  rankdir={d.direction}; newrank=true; nodesep=0.25; ranksep=0.22; fontname="Helvetica";',
            f'  label="{_esc(d.name)}"; labelloc=t; fontsize=16;',
            '  node [fontname="Helvetica", fontsize=11, height=0.3, margin="0.12,0.04"];',
            '  edge [fontname="Helvetica", fontsize=8, color="#555555", arrowsize=0.6];',
        ]
        lines += self._tree(clusters)
        short = {(s.src, s.add): s for s in d.shortcuts}
        port = 'tailport=e, headport=e, ' if d.direction == "TB" else 'tailport=s, headport=s, '
        for s, t in d.edges:
            sc = short.get((s, t))
            if sc is None:
                lines.append(f'  n{s} -> n{t} [label=" {self.shape(d.nodes[s].out)}"];')
            elif sc.ops:
                text = _esc(", ".join(sc.ops))
                lines.append(f'  n{s} -> n{t} [{port}style=dashed, penwidth=1.4, label=" {text}"];')
            else:
                lines.append(f'  n{s} -> n{t} [{port}penwidth=1.4, color="#222222"];')
        lines.append("}")
        return "\n".join(lines) + "\n"

    def _tree(self, clusters: set[str]) -> list[str]:
        def owner(path: str) -> str:
            p = path
            while p:
                if p in clusters:
                    return p
                p = _parent(p)
            return ""

        members: dict[str, list[Node]] = defaultdict(list)
        for n in self.d.nodes.values():
            members[owner(n.path) if n.op != "input" else ""].append(n)
        kids: dict[str, list[str]] = defaultdict(list)
        for c in sorted(clusters):
            kids[owner(_parent(c))].append(c)

        def emit(path: str, indent: str) -> list[str]:
            body = [indent + "  " + self.node(n) for n in members[path]]
            for k in kids[path]:
                body += emit(k, indent + "  ")
            return self.cluster(path, body, indent) if path else body

        return emit("", "")
