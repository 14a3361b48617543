"""One forward pass on the meta device that records, per module, output shapes, MACs and receptive fields.

MACs come from PyTorch's own FLOP formulas (``torch.utils.flop_counter.flop_registry``; MACs = FLOPs / 2).
Receptive fields propagate (size, jump, start) per spatial axis through every aten op, so they are right
for branches and merges too: adds and concatenations take the widest input per axis.
"""

from __future__ import annotations

import contextlib
import gc
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.nn.modules.module import register_module_forward_hook, register_module_forward_pre_hook
from torch.utils._python_dispatch import TorchDispatchMode, _disable_current_modes
from torch.utils.flop_counter import flop_registry

from convzoo.inspect.output_size import ShapeError, formula, output_size

aten = torch.ops.aten


@dataclass(frozen=True)
class RF:
    """Receptive field along (height, width): size in input pixels, jump (stride product), centre of the
    first unit. ``is_global``: every unit sees the same region, the union over all positions (after a global
    pooling, a flatten, or a squeeze-excitation gate); further layers no longer widen it."""

    size: tuple[int, int] = (1, 1)
    jump: tuple[int, int] = (1, 1)
    start: tuple[float, float] = (0.5, 0.5)
    is_global: bool = False

    def conv(self, k: Sequence[int], s: Sequence[int], p: Sequence[int], d: Sequence[int]) -> RF:
        if self.is_global:
            return self
        size = tuple(self.size[i] + (d[i] * (k[i] - 1)) * self.jump[i] for i in range(2))
        start = tuple(self.start[i] + ((d[i] * (k[i] - 1)) / 2 - p[i]) * self.jump[i] for i in range(2))
        jump = tuple(self.jump[i] * s[i] for i in range(2))
        return RF(size, jump, start)  # type: ignore[arg-type]

    def span(self, n: Sequence[int]) -> RF:
        """An op that mixes all ``n`` positions per axis (global pooling, flatten → FC): the union of fields."""
        if self.is_global:
            return self
        size = tuple(self.size[i] + (n[i] - 1) * self.jump[i] for i in range(2))
        start = tuple(self.start[i] + (n[i] - 1) / 2 * self.jump[i] for i in range(2))
        return RF(size, self.jump, start, True)  # type: ignore[arg-type]

    @staticmethod
    def merge(rfs: Sequence[RF], aligned: Sequence[RF] | None = None) -> RF:
        """Where branches meet (concatenation, add, gating): the widest field per axis.

        Jump and start come from ``aligned``, the inputs on the output's own grid; an input broadcast
        onto it (a 1×1 squeeze-excitation gate) contributes its extent only.
        """
        grid = list(aligned or ()) or list(rfs)
        size = tuple(max(r.size[i] for r in rfs) for i in range(2))
        pick = [max(grid, key=lambda r, i=i: r.size[i]) for i in range(2)]
        return RF(
            size,  # type: ignore[arg-type]
            (pick[0].jump[0], pick[1].jump[1]),
            (pick[0].start[0], pick[1].start[1]),
            any(r.is_global for r in rfs),
        )


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector: building and tracing a deep network makes tens of thousands of
    small objects and no cycles worth collecting; the collections they trigger cost about a third of a
    summary of ResNet-1202."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _pair(v: Any, default: Sequence[int] | None = None) -> tuple[int, int]:
    if v is None or (isinstance(v, Sequence) and len(v) == 0):
        assert default is not None
        return tuple(default)  # type: ignore[return-value]
    if isinstance(v, int):
        return (v, v)
    return (int(v[0]), int(v[-1]))


def _other_ops(packet: Any, args: tuple[Any, ...], out: Any) -> int:
    """Non-MAC operations, one per output element; pooling counts its window, batch norm 2 (scale, shift)."""
    outs = list(_tensors(out))
    if not outs:
        return 0
    n = outs[0].numel()
    if packet in (aten.max_pool2d_with_indices, aten.max_pool2d, aten.avg_pool2d):
        k = _pair(args[1])
        return n * k[0] * k[1]
    if packet in (aten._adaptive_avg_pool2d, aten.adaptive_max_pool2d, aten.mean, aten.sum):
        return args[0].numel()
    if packet in _BN_OPS:
        return 2 * n
    if packet in _FREE_OPS:
        return 0
    return n


_BN_OPS = {
    aten.native_batch_norm,
    aten._native_batch_norm_legit,
    aten._native_batch_norm_legit_no_training,
    aten._native_batch_norm_legit_functional,
}
_FREE_OPS = {
    aten.view,
    aten._unsafe_view,
    aten.reshape,
    aten.t,
    aten.transpose,
    aten.permute,
    aten.expand,
    aten.clone,
    aten.detach,
    aten.cat,
    aten.split,
    aten.split_with_sizes,
    aten.slice,
    aten.select,
    aten.unsqueeze,
    aten.squeeze,
    aten.empty_like,
    aten.zeros_like,
    aten.ones_like,
    aten.alias,
    aten.contiguous,
    aten.constant_pad_nd,
    aten.native_dropout,
    aten.bernoulli_,
    aten.copy_,
    aten.lift_fresh,
    aten._to_copy,
}


def _tensors(x: Any) -> Iterator[torch.Tensor]:
    """The tensors in a (nested) list or tuple of op arguments or results."""
    if isinstance(x, torch.Tensor):
        yield x
    elif isinstance(x, list | tuple):
        for y in x:
            yield from _tensors(y)


def _sig(a: Any) -> Any:
    if isinstance(a, torch.Tensor):
        if not a.is_meta:
            raise TypeError
        return (a.shape, a.stride(), a.dtype)
    if isinstance(a, list | tuple):
        return tuple(_sig(b) for b in a)
    return a


def _signature(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """A hashable key for an op on meta tensors, or None when the op's result cannot be reused."""
    try:
        key = (func, _sig(args), _sig(tuple(kwargs.items())) if kwargs else ())
        hash(key)
    except TypeError:
        return None
    return key


def _template(out: Any, args: tuple[Any, ...]) -> Any:
    """Shapes of an op's outputs, remembering which output is one of its tensor inputs (in-place ops)."""
    if isinstance(out, torch.Tensor):
        for i, a in enumerate(args):
            if a is out:
                return ("arg", i)
        return ("new", out.shape, out.stride(), out.dtype)
    if isinstance(out, list | tuple):
        return ("seq", type(out) is tuple, tuple(_template(o, args) for o in out))
    return ("value", out)


def _rebuild(t: Any, args: tuple[Any, ...]) -> Any:
    kind = t[0]
    if kind == "new":
        return torch.empty_strided(t[1], t[2], dtype=t[3], device="meta")
    if kind == "arg":
        return args[t[1]]
    if kind == "seq":
        items = [_rebuild(x, args) for x in t[2]]
        return tuple(items) if t[1] else items
    return t[1]


def _eval_bn(packet: Any, args: tuple[Any, ...]) -> bool:
    if packet is aten._native_batch_norm_legit_no_training:
        return True
    return packet is aten.native_batch_norm and len(args) > 5 and args[5] is False


@dataclass
class ModuleRecord:
    """What one module did during the traced forward pass."""

    name: str
    order: int
    output_shapes: list[tuple[int, ...]] = field(default_factory=list)
    rf: RF | None = None
    spatial: bool = True  # False once the output has no spatial axes (after flatten / global pooling)
    calls: int = 0
    input_shapes: list[tuple[int, ...]] = field(default_factory=list)
    kind: str | None = None  # "Concat" or "Add" for a merge inside a container's forward; None for a module


class Tracer(TorchDispatchMode):
    """Dispatch mode that counts MACs per module and propagates receptive fields per tensor."""

    def __init__(self, count_all: bool = False, track_rf: bool = True) -> None:
        super().__init__()
        self.count_all = count_all
        self.track_rf = track_rf
        self.stack: list[str] = [""]
        # per-module tracing: the records, and the modules whose forward merges branches (not leaves)
        self.records: dict[str, ModuleRecord] | None = None
        self.containers: set[str] = set()
        self.merges: dict[str, int] = defaultdict(int)
        self.macs: dict[str, int] = defaultdict(int)
        self.other_ops: dict[str, int] = defaultdict(int)
        self._rf: dict[int, RF] = {}
        self._spatial: dict[int, bool] = {}
        self._keep: list[torch.Tensor] = []  # keeps ids unique while we hold them
        # Repeated blocks run the same ops on the same shapes: meta results are reused by signature.
        self._memo: dict[Any, tuple[Any, int]] = {}

    def seed(self, x: torch.Tensor) -> None:
        self._set(x, RF(), True)

    def rf_of(self, t: torch.Tensor) -> tuple[RF | None, bool]:
        return self._rf.get(id(t)), self._spatial.get(id(t), True)

    def _set(self, t: torch.Tensor, rf: RF, spatial: bool) -> None:
        self._rf[id(t)] = rf
        self._spatial[id(t)] = spatial
        self._keep.append(t)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        kwargs = kwargs or {}
        packet = func.overloadpacket
        key = _signature(func, args, kwargs)
        hit = self._memo.get(key) if key is not None else None
        if hit is not None:
            out = _rebuild(hit[0], args)
            macs = hit[1]
        else:
            if args and isinstance(args[0], torch.Tensor) and args[0].is_meta and _eval_bn(packet, args):
                # eval-mode BN keeps the shape; its meta kernel is a slow Python decomposition
                x = args[0]
                out = (torch.empty_like(x), x.new_empty((0,)), x.new_empty((0,)))
            else:
                out = func(*args, **kwargs)
            macs = (
                int(flop_registry[packet](*args, **kwargs, out_val=out)) // 2
                if packet in flop_registry
                else 0
            )
            if key is not None:
                self._memo[key] = (_template(out, args), macs)
        owner = self.stack[-1]
        merge = self._merge_kind(packet, args, out) if self.records is not None else None
        if merge is not None:
            owner = self._merge_record(owner, merge, out)
        if macs:
            self.macs[owner] += macs
        if self.count_all and packet not in flop_registry:
            self.other_ops[owner] += _other_ops(packet, args, out)
        if self.track_rf:
            self._propagate(packet, args, out)
            if merge is not None:
                rec = self.records[owner]  # type: ignore[index]
                rec.rf, rec.spatial = self.rf_of(out)
        return out

    def _merge_kind(self, packet: Any, args: tuple[Any, ...], out: Any) -> str | None:
        """``"Concat"`` or ``"Add"`` when a container's own forward joins branches (not inside a leaf layer)."""
        if self.stack[-1] not in self.containers or not isinstance(out, torch.Tensor) or out.dim() < 2:
            return None
        if packet is aten.cat and len(args[0]) > 1:
            return "Concat"
        if packet in (aten.add, aten.add_) and all(
            isinstance(a, torch.Tensor) and a.shape == out.shape for a in args[:2]
        ):
            return "Add"
        return None

    def _merge_record(self, owner: str, kind: str, out: torch.Tensor) -> str:
        label = kind.lower()
        self.merges[f"{owner}.{label}"] += 1
        n = self.merges[f"{owner}.{label}"]
        name = f"({label})" if n == 1 else f"({label} {n})"
        name = f"{owner}.{name}" if owner else name
        assert self.records is not None
        rec = self.records.setdefault(name, ModuleRecord(name, len(self.records), kind=kind))
        rec.calls += 1
        rec.output_shapes = [tuple(out.shape[1:])]
        return name

    def _propagate(self, packet: Any, args: tuple[Any, ...], out: Any) -> None:
        flat_in = [a for a in _tensors(args) if id(a) in self._rf]
        if not flat_in:
            return
        outs = list(_tensors(out))
        if not outs:
            return
        x = args[0] if isinstance(args[0], torch.Tensor) else flat_in[0]
        rf, spatial = self.rf_of(x)
        if rf is None:
            rf, spatial = self._merge(flat_in, outs[0]), all(self._spatial[id(a)] for a in flat_in)
        if not spatial:
            new, new_spatial = self._merge(flat_in, outs[0]), False
        elif packet in (aten.convolution, aten._convolution) and x.dim() == 4:
            k = tuple(args[1].shape[-2:])
            new, new_spatial = rf.conv(k, _pair(args[3]), _pair(args[4]), _pair(args[5])), True
        elif packet in (aten.max_pool2d_with_indices, aten.max_pool2d, aten.avg_pool2d):
            k = _pair(args[1])
            s = _pair(args[2] if len(args) > 2 else None, k)
            p = _pair(args[3] if len(args) > 3 else 0)
            d = _pair(args[4] if packet is not aten.avg_pool2d and len(args) > 4 else 1)
            new, new_spatial = rf.conv(k, s, p, d), True
        elif packet is aten.constant_pad_nd and x.dim() == 4:
            pad = list(args[1]) + [0, 0, 0, 0]
            new = RF(rf.size, rf.jump, (rf.start[0] - pad[2] * rf.jump[0], rf.start[1] - pad[0] * rf.jump[1]))
            new_spatial = True
        elif packet is aten.slice and x.dim() == 4 and len(args) > 1 and args[1] % 4 in (2, 3):
            # x[:, :, a::s] keeps every s-th row (or column) from a: a subsampling, not a mixing
            axis = args[1] % 4 - 2
            begin = args[2] if len(args) > 2 and args[2] is not None else 0
            step = args[4] if len(args) > 4 else 1
            jump, start = list(rf.jump), list(rf.start)
            start[axis] += max(0, begin) * jump[axis]
            jump[axis] *= step
            new, new_spatial = RF(rf.size, tuple(jump), tuple(start), rf.is_global), True  # type: ignore[arg-type]
        elif x.dim() == 4 and packet in (aten._adaptive_avg_pool2d, aten.adaptive_max_pool2d):
            (h, w), (oh, ow) = x.shape[-2:], outs[0].shape[-2:]
            k = (h - (oh - 1) * (h // oh), w - (ow - 1) * (w // ow))
            new, new_spatial = rf.conv(k, (h // oh, w // ow), (0, 0), (1, 1)), True
        elif x.dim() == 4 and outs[0].dim() == 4 and outs[0].shape[-2:] != x.shape[-2:]:
            # a spatial reduction (mean over H, W with keepdim) or resize: treat as mixing the whole extent
            new, new_spatial = self._merge(flat_in, x).span(tuple(x.shape[-2:])), True
        elif x.dim() == 4 and outs[0].dim() < 4:
            new, new_spatial = self._merge(flat_in, x).span(tuple(x.shape[-2:])), False
        else:
            new, new_spatial = self._merge(flat_in, outs[0]), all(self._spatial[id(a)] for a in flat_in)
        for t in outs:
            self._set(t, new, new_spatial)

    def _merge(self, tensors: list[torch.Tensor], like: torch.Tensor) -> RF:
        grid = like.shape[-2:] if like.dim() == 4 else None
        aligned = [self._rf[id(a)] for a in tensors if grid is not None and a.dim() == 4 and a.shape[-2:] == grid]
        return RF.merge([self._rf[id(a)] for a in tensors], aligned)


_CHECKED = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)


def check_layer(name: str, module: nn.Module, x: torch.Tensor, strict: bool, warnings: list[str]) -> None:
    """Check a conv/pool layer's output volume before PyTorch runs it, with the lectures' arithmetic."""
    if x.dim() != 4:
        return
    if isinstance(module, nn.Conv2d):
        if not isinstance(module.padding, tuple):  # 'same' / 'valid'
            return
        k, s, p, d, ceil = module.kernel_size, module.stride, module.padding, module.dilation, False
    else:
        k, s = _pair(module.kernel_size), _pair(module.stride, _pair(module.kernel_size))
        p = _pair(module.padding)
        d = _pair(getattr(module, "dilation", 1))
        ceil = bool(module.ceil_mode)
    for axis, size in enumerate(x.shape[-2:]):
        try:
            output_size(
                int(size), k[axis], p[axis], s[axis], d[axis], strict=True, ceil_mode=ceil, layer=name
            )
        except ShapeError as err:
            if "fractional" not in str(err):
                raise
            if strict and not ceil:
                raise
            how = "rounded up (ceil_mode)" if ceil else "floored"
            warnings.append(f"{name}: {formula(int(size), k[axis], p[axis], s[axis], d[axis])}, {how}")
            break


_PRIMITIVE = (int, float, str, bool, type(None))


def _attr_key(v: Any) -> Any:
    """A hashable stand-in for a module attribute: the value for plain data, the identity for anything else."""
    if isinstance(v, _PRIMITIVE):
        return v
    if isinstance(v, list | tuple) and all(isinstance(x, _PRIMITIVE) for x in v):
        return tuple(v)
    return ("id", id(v))


def _fingerprints(model: nn.Module) -> dict[nn.Module, int]:
    """Structural hash of every module: its class, plain attributes, parameter and buffer shapes and its
    children's fingerprints. Equal fingerprints run the same ops on the same input."""
    out: dict[nn.Module, int] = {}

    def visit(m: nn.Module) -> int:
        if m in out:
            return out[m]
        attrs = tuple(sorted((k, _attr_key(v)) for k, v in vars(m).items() if not k.startswith("_")))
        tensors = tuple(
            (k, tuple(t.shape), t.dtype, getattr(t, "requires_grad", False))
            for table in (m._parameters, m._buffers)
            for k, t in table.items()
            if t is not None
        )
        kids = tuple((k, visit(c)) for k, c in m._modules.items() if c is not None)
        out[m] = hash((type(m), attrs, tensors, kids))
        return out[m]

    visit(model)
    return out


@dataclass
class _Capture:
    """What one traced call of a block did, relative to its name and its input's receptive field."""

    records: list[tuple[str, ModuleRecord, Any]]  # (relative name, record, rf coefficients)
    macs: dict[str, int]
    other_ops: dict[str, int]
    warnings: list[tuple[str, str]]
    out: tuple[Any, Any, bool]  # (template, rf coefficients, spatial)


def _rf_coeffs(rf: RF | None, base: RF | None) -> Any:
    """``rf`` as an affine function of the block input's field ``base`` (size, start offsets in its jumps)."""
    if rf is None or base is None:
        return None
    j = base.jump
    return (
        tuple((rf.size[i] - base.size[i]) / j[i] for i in range(2)),
        tuple(rf.jump[i] / j[i] for i in range(2)),
        tuple((rf.start[i] - base.start[i]) / j[i] for i in range(2)),
        rf.is_global,
    )


def _rf_apply(c: Any, base: RF | None) -> RF | None:
    if c is None or base is None:
        return None
    j = base.jump
    return RF(
        tuple(int(round(base.size[i] + c[0][i] * j[i])) for i in range(2)),  # type: ignore[arg-type]
        tuple(int(round(c[1][i] * j[i])) for i in range(2)),  # type: ignore[arg-type]
        tuple(base.start[i] + c[2][i] * j[i] for i in range(2)),  # type: ignore[arg-type]
        c[3],
    )


class _BlockReuse:
    """Traces each distinct (block structure, input) once and replays its records for the repeats: a
    ResNet-1202 stage is 200 identical blocks, each otherwise a few dozen dispatched ops."""

    def __init__(self, model: nn.Module, names: dict[nn.Module, str], tracer: Tracer, warnings: list[str]):
        self.names, self.tracer, self.warnings = names, tracer, warnings
        self.cache: dict[Any, _Capture | None] = {}
        fps = _fingerprints(model)
        seen: dict[int, int] = defaultdict(int)
        for m in names:
            if m._modules:
                seen[fps[m]] += 1
        self.patched = [m for m in names if m._modules and seen[fps[m]] > 1 and "forward" not in vars(m)]
        for m in self.patched:  # an instance attribute shadows the class's forward (nn.Module's setattr is slow)
            vars(m)["forward"] = self._wrap(m, fps[m])

    def restore(self) -> None:
        for m in self.patched:
            del vars(m)["forward"]

    def _wrap(self, mod: nn.Module, fp: int) -> Any:
        original = type(mod).forward.__get__(mod)
        name = self.names[mod]

        def forward(*args: Any, **kwargs: Any) -> Any:
            if kwargs or len(args) != 1 or not isinstance(args[0], torch.Tensor):
                return original(*args, **kwargs)
            x = args[0]
            rf, spatial = self.tracer.rf_of(x)
            key = (fp, x.shape, x.stride(), x.dtype, rf is None or rf.is_global, spatial)
            if key in self.cache:
                cap = self.cache[key]
                return original(x) if cap is None else self._replay(cap, name, rf)
            return self._capture(key, original, x, name, rf)

        return forward

    def _capture(self, key: Any, original: Any, x: torch.Tensor, name: str, rf: RF | None) -> Any:
        t = self.tracer
        records = t.records
        assert records is not None
        prefix = name + "."
        mine = [k for k in records if k.startswith(prefix)]
        n_rec, n_warn = len(records), len(self.warnings)
        macs0 = {k: t.macs.get(k, 0) for k in [name, *mine]}
        other0 = {k: t.other_ops.get(k, 0) for k in [name, *mine]}
        out = original(x)
        if mine or not isinstance(out, torch.Tensor):  # a block called twice, or several outputs: no reuse
            self.cache[key] = None
            return out
        new = list(records.values())[n_rec:]
        if any(not r.name.startswith(prefix) for r in new):
            self.cache[key] = None
            return out
        cut = len(name)
        warns = self.warnings[n_warn:]
        if any(not w.startswith(prefix) for w in warns):
            self.cache[key] = None
            return out

        def delta(table: dict[str, int], before: dict[str, int]) -> dict[str, int]:
            keys = [name] + [r.name for r in new]
            return {k[cut:]: table.get(k, 0) - before.get(k, 0) for k in keys if table.get(k, 0) - before.get(k, 0)}

        out_rf, out_spatial = t.rf_of(out)
        self.cache[key] = _Capture(
            records=[(r.name[cut:], r, _rf_coeffs(r.rf, rf)) for r in new],
            macs=delta(t.macs, macs0),
            other_ops=delta(t.other_ops, other0),
            warnings=[(w[cut:].split(":", 1)[0], w.split(":", 1)[1]) for w in warns],
            out=(_template(out, ()), _rf_coeffs(out_rf, rf), out_spatial),
        )
        return out

    def _replay(self, cap: _Capture, name: str, rf: RF | None) -> torch.Tensor:
        t = self.tracer
        records = t.records
        assert records is not None
        for rel, r, c in cap.records:
            full = name + rel
            rec = records.setdefault(full, ModuleRecord(full, len(records), kind=r.kind))
            rec.calls += r.calls
            rec.output_shapes, rec.input_shapes = r.output_shapes, r.input_shapes
            rec.rf, rec.spatial = _rf_apply(c, rf), r.spatial
        for table, delta in ((t.macs, cap.macs), (t.other_ops, cap.other_ops)):
            for rel, v in delta.items():
                table[name + rel] += v
        self.warnings += [f"{name}{rel}:{text}" for rel, text in cap.warnings]
        template, c, spatial = cap.out
        with _disable_current_modes():  # making the output is not an op of the traced network
            out = _rebuild(template, ())
        new_rf = _rf_apply(c, rf)
        if new_rf is not None:
            t._set(out, new_rf, spatial)
        return out


def trace(
    model: nn.Module,
    input_size: Sequence[int],
    *,
    count_all: bool = False,
    track_rf: bool = True,
    per_module: bool = True,
    strict: bool = False,
    reuse: bool = True,
) -> tuple[Tracer, dict[str, ModuleRecord], list[str]]:
    """Run ``model`` (already on the meta device, in the wanted mode) on a meta input of ``input_size``.

    ``reuse``: trace each repeated block (same structure, same input) once and replay it for the repeats.
    """
    tracer = Tracer(count_all=count_all, track_rf=track_rf)
    records: dict[str, ModuleRecord] = {}
    warnings: list[str] = []
    handles = []
    reuser: _BlockReuse | None = None
    if per_module:
        names = {m: n for n, m in model.named_modules()}
        tracer.records = records
        tracer.containers = {n for m, n in names.items() if m._modules}

        def pre(mod: nn.Module, inputs: tuple[Any, ...]) -> None:
            name = names.get(mod)
            if name is None:
                return
            rec = records.setdefault(name, ModuleRecord(name, len(records)))
            rec.input_shapes = [tuple(t.shape[1:]) for t in _tensors(inputs)]
            if isinstance(mod, _CHECKED) and inputs and isinstance(inputs[0], torch.Tensor):
                check_layer(name, mod, inputs[0], strict, warnings)
            tracer.stack.append(name)

        def post(mod: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
            if mod not in names:
                return
            name = tracer.stack.pop()
            rec = records[name]
            rec.calls += 1
            outs = list(_tensors(output))
            rec.output_shapes = [tuple(t.shape[1:]) for t in outs]
            if outs and track_rf:
                rec.rf, rec.spatial = tracer.rf_of(outs[0])

        del names[model]
        # two global hooks cost far less than a pair per module on graphs with thousands of modules
        handles.append(register_module_forward_pre_hook(pre))
        handles.append(register_module_forward_hook(post))
        if reuse:
            reuser = _BlockReuse(model, names, tracer, warnings)
    # training-mode batch norm needs two values per channel, even on a 1×1 map: run a batch of 2, count per image
    batch = 2 if model.training else 1
    x = torch.empty((batch, *input_size), device="meta")
    tracer.seed(x)
    try:
        with torch.no_grad(), tracer, gc_paused():
            model(x)
    except ShapeError:
        raise
    except (RuntimeError, ValueError, IndexError) as err:
        where = tracer.stack[-1] if len(tracer.stack) > 1 else "(model)"
        raise ShapeError(f"layer {where!r} failed on input {_fmt(input_size)}: {err}") from err
    finally:
        for h in handles:
            h.remove()
        if reuser is not None:
            reuser.restore()
    if batch > 1:
        for table in (tracer.macs, tracer.other_ops):
            for k in table:
                table[k] //= batch
    return tracer, records, warnings


def _fmt(shape: Sequence[int]) -> str:
    return "×".join(str(s) for s in shape)


def nearest_unfloored(model: nn.Module, input_size: Sequence[int], reach: int = 64) -> tuple[int | None, int | None]:
    """The nearest square sides below and above ``input_size``'s width at which no conv or pooling layer of
    the meta ``model`` has a fractional output volume (None when there is none within ``reach``)."""
    c, side = input_size[0], input_size[-1]

    def exact(s: int) -> bool:
        try:
            trace(model, (c, s, s), track_rf=False, strict=True, reuse=False)
            return True
        except (ShapeError, RuntimeError):
            return False

    below = next((s for s in range(side - 1, max(side - reach, 0), -1) if exact(s)), None)
    above = next((s for s in range(side + 1, side + reach) if exact(s)), None)
    return below, above


def min_input_size(model: nn.Module, input_size: Sequence[int]) -> int | None:
    """Smallest square input (side) at which the meta ``model`` runs at all (PyTorch flooring fractional
    output volumes), searching up to ``input_size``'s side; None if it does not run there either."""
    c, hi = input_size[0], max(input_size[1:])

    def works(side: int) -> bool:
        try:
            trace(model, (c, side, side), track_rf=False, per_module=False)
            return True
        except (ShapeError, RuntimeError):
            return False

    if not works(hi):
        return None
    lo = 1
    while lo < hi:
        mid = (lo + hi) // 2
        if works(mid):
            hi = mid
        else:
            lo = mid + 1
    return hi
