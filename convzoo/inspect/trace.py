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
from torch.utils._python_dispatch import TorchDispatchMode
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


class Tracer(TorchDispatchMode):
    """Dispatch mode that counts MACs per module and propagates receptive fields per tensor."""

    def __init__(self, count_all: bool = False, track_rf: bool = True) -> None:
        super().__init__()
        self.count_all = count_all
        self.track_rf = track_rf
        self.stack: list[str] = [""]
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
        if macs:
            self.macs[owner] += macs
        if self.count_all and packet not in flop_registry:
            self.other_ops[owner] += _other_ops(packet, args, out)
        if self.track_rf:
            self._propagate(packet, args, out)
        return out

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


def trace(
    model: nn.Module,
    input_size: Sequence[int],
    *,
    count_all: bool = False,
    track_rf: bool = True,
    per_module: bool = True,
    strict: bool = False,
) -> tuple[Tracer, dict[str, ModuleRecord], list[str]]:
    """Run ``model`` (already on the meta device, in the wanted mode) on a meta input of ``input_size``."""
    tracer = Tracer(count_all=count_all, track_rf=track_rf)
    records: dict[str, ModuleRecord] = {}
    warnings: list[str] = []
    handles = []
    if per_module:
        names = {m: n for n, m in model.named_modules()}

        def pre(mod: nn.Module, inputs: tuple[Any, ...]) -> None:
            name = names.get(mod)
            if name is None:
                return
            if name not in records:
                records[name] = ModuleRecord(name, len(records))
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
    if batch > 1:
        for table in (tracer.macs, tracer.other_ops):
            for k in table:
                table[k] //= batch
    return tracer, records, warnings


def _fmt(shape: Sequence[int]) -> str:
    return "×".join(str(s) for s in shape)


def min_input_size(model: nn.Module, input_size: Sequence[int]) -> int | None:
    """Smallest square input (side) the meta ``model`` accepts, searching up to the default size."""
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
