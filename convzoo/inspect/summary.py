"""The layer table: output volume, parameters, multiply-adds and receptive field of every layer.

Convention: **MACs** are the multiply-accumulates of convolutions and fully connected layers (the papers'
"multiply-adds"; FLOPs = 2 × MACs). ``count_all=True`` adds the other operations in a separate column:
one per output element of element-wise ops (activations, adds, scaling), two per element for batch norm,
the window size per output element for pooling.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import io
import json
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from convzoo.inspect.output_size import ShapeError
from convzoo.inspect.trace import ModuleRecord, gc_paused, min_input_size, trace
from convzoo.registry import UnknownModelError, block_info, create_model, model_info


@dataclass
class LayerRow:
    """One row of the table. ``receptive_field`` is the side in input pixels (``[h, w]`` when not square)."""

    name: str
    type: str
    output_shape: list[int] | list[list[int]]
    params: int
    macs: int
    receptive_field: int | list[int] | None
    depth: int
    other_ops: int = 0
    is_global: bool = False  # every unit sees the same region: the union over all positions

    def to_dict(self, count_all: bool) -> dict[str, Any]:
        d = {
            k: getattr(self, k) for k in ("name", "type", "output_shape", "params", "macs", "receptive_field")
        }
        if count_all:
            d["other_ops"] = self.other_ops
        return d


@dataclass
class Summary:
    """Result of :func:`summary`; ``str()`` gives the table, ``to_json``/``to_markdown``/``to_csv``/``to_keras``."""

    model: str
    input_size: tuple[int, ...]
    layers: list[LayerRow]
    total_params: int
    trainable_params: int
    total_macs: int
    total_other_ops: int = 0
    count_all: bool = False
    warnings: list[str] = field(default_factory=list)
    not_run: list[tuple[str, int]] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)

    def row(self, name: str) -> LayerRow:
        for r in self.layers:
            if r.name == name:
                return r
        raise KeyError(
            f"no layer {name!r} in the summary of {self.model}; layers: {[r.name for r in self.layers]}"
        )

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "model": self.model,
            "input_size": list(self.input_size),
            "layers": [r.to_dict(self.count_all) for r in self.layers],
            "total_params": self.total_params,
            "trainable_params": self.trainable_params,
            "total_macs": self.total_macs,
            "total_flops": 2 * self.total_macs,
        }
        if self.count_all:
            d["total_other_ops"] = self.total_other_ops
        if self.warnings:
            d["warnings"] = self.warnings
        if self.not_run:
            d["not_run"] = [{"name": n, "params": p} for n, p in self.not_run]
        if self.info:
            d["info"] = self.info
        return d

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def _cells(self) -> tuple[list[str], list[list[str]]]:
        head = ["Layer", "Type", "Output shape", "Params", "MACs", "RF"]
        if self.count_all:
            head.insert(5, "Other ops")
        rows = []
        for r in self.layers:
            cells = [r.name, r.type, _shape(r.output_shape), f"{r.params:,}", f"{r.macs:,}", _rf(r)]
            if self.count_all:
                cells.insert(5, f"{r.other_ops:,}")
            rows.append(cells)
        return head, rows

    def _footer(self) -> list[str]:
        lines = [
            f"Input: {'×'.join(map(str, self.input_size))}",
            f"Total params: {self.total_params:,} ({self.total_params / 1e6:.3f} M)"
            + (
                "" if self.trainable_params == self.total_params else f", trainable {self.trainable_params:,}"
            ),
            f"Total MACs: {self.total_macs:,} ({_si(self.total_macs)}; FLOPs = 2 × MACs)",
        ]
        if self.count_all:
            lines.append(f"Other ops (BN, pooling, activations, adds): {self.total_other_ops:,}")
        for key, value in self.info.items():
            lines.append(f"{key.replace('_', ' ').capitalize()}: {value}")
        for name, params in self.not_run:
            lines.append(f"Not run in eval mode: {name} ({params:,} params, counted in the total)")
        lines += [f"Warning: {w}" for w in self.warnings]
        return lines

    def to_table(self) -> str:
        head, rows = self._cells()
        widths = [max(len(x) for x in col) for col in zip(head, *rows, strict=True)]
        right = {3, 4, 5, 6}

        def fmt(cells: list[str]) -> str:
            return "  ".join(
                c.rjust(w) if i in right else c.ljust(w)
                for i, (c, w) in enumerate(zip(cells, widths, strict=True))
            )

        rule = "-" * (sum(widths) + 2 * (len(widths) - 1))
        return "\n".join([self.model, rule, fmt(head), rule, *map(fmt, rows), rule, *self._footer()])

    def to_markdown(self) -> str:
        head, rows = self._cells()
        lines = [
            "| " + " | ".join(head) + " |",
            "|" + "|".join("---:" if i >= 3 else "---" for i in range(len(head))) + "|",
        ]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
        return "\n".join([f"**{self.model}**", "", *lines, "", *(f"- {line}" for line in self._footer())])

    def to_csv(self) -> str:
        buf = io.StringIO()
        writer = csv.writer(buf)
        keys = ["name", "type", "output_shape", "params", "macs", "receptive_field"] + (
            ["other_ops"] if self.count_all else []
        )
        writer.writerow(keys)
        for r in self.layers:
            d = r.to_dict(self.count_all)
            d["output_shape"] = _shape(r.output_shape)
            d["receptive_field"] = "" if r.receptive_field is None else _rf(r)
            writer.writerow([d[k] for k in keys])
        writer.writerow(
            ["TOTAL", "", "", self.total_params, self.total_macs, ""]
            + ([self.total_other_ops] if self.count_all else [])
        )
        return buf.getvalue()

    def to_keras(self) -> str:
        """Keras's ``model.summary()`` layout: channels-last shapes with a batch axis; activations folded
        into the layer before them, as Keras fuses them."""
        rows = [("input (InputLayer)", "[(None, " + ", ".join(map(str, _hwc(self.input_size))) + ")]", 0)]
        for r in self.layers:
            if r.params == 0 and r.type in _ACTIVATIONS:
                continue
            shape = r.output_shape if isinstance(r.output_shape[0], int) else r.output_shape[0]
            rows.append(
                (
                    f"{r.name} ({_KERAS.get(r.type, r.type)})",
                    "(None, " + ", ".join(map(str, _hwc(shape))) + ")",
                    r.params,
                )
            )
        w = (max(34, *(len(r[0]) + 2 for r in rows)), max(28, *(len(r[1]) + 2 for r in rows)), 12)
        line = "_" * sum(w)
        out = [
            f'Model: "{self.model}"',
            line,
            "Layer (type)".ljust(w[0]) + "Output Shape".ljust(w[1]) + "Param #",
            "=" * sum(w),
        ]
        out += [a.ljust(w[0]) + b.ljust(w[1]) + f"{c:,}" for a, b, c in rows]
        out += [
            "=" * sum(w),
            f"Total params: {self.total_params:,}",
            f"Trainable params: {self.trainable_params:,}",
            f"Non-trainable params: {self.total_params - self.trainable_params:,}",
            line,
        ]
        return "\n".join(out)

    def format(self, fmt: str) -> str:
        formats = {
            "table": self.to_table,
            "markdown": self.to_markdown,
            "csv": self.to_csv,
            "json": self.to_json,
            "keras": self.to_keras,
        }
        if fmt not in formats:
            raise ValueError(f"unknown format {fmt!r}; choose one of: {', '.join(formats)}")
        return formats[fmt]()

    def __str__(self) -> str:
        return self.to_table()


_ACTIVATIONS = {"ReLU", "ReLU6", "Tanh", "Sigmoid", "GELU", "SiLU", "ELU", "LeakyReLU", "ScaledTanh"}
_KERAS = {
    "Conv2d": "Conv2D",
    "Linear": "Dense",
    "MaxPool2d": "MaxPooling2D",
    "AvgPool2d": "AveragePooling2D",
    "AdaptiveAvgPool2d": "GlobalAveragePooling2D",
    "BatchNorm2d": "BatchNormalization",
    "Flatten": "Flatten",
    "Dropout": "Dropout",
}


def _hwc(shape: Sequence[int]) -> list[int]:
    return [*shape[1:], shape[0]] if len(shape) == 3 else list(shape)


def _si(n: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= scale:
            return f"{n / scale:.3f} {unit}"
    return str(int(n))


def _shape(shape: Any) -> str:
    if shape and isinstance(shape[0], list | tuple):
        return ", ".join(_shape(s) for s in shape)
    return "×".join(map(str, shape)) if shape else "-"


def _rf(r: LayerRow) -> str:
    if r.receptive_field is None:
        return "-"
    rf = r.receptive_field
    text = f"{rf[0]}×{rf[1]}" if isinstance(rf, list) else str(rf)
    return f"{text} (global)" if r.is_global else text


def _meta_copy(model: nn.Module) -> nn.Module:
    """A copy of ``model`` on the meta device with none of its hooks; the original is not touched."""
    memo: dict[int, Any] = {}
    for t in list(model.parameters()) + list(model.buffers()):
        meta = torch.empty_like(t, device="meta")
        memo[id(t)] = (
            nn.Parameter(meta, requires_grad=t.requires_grad) if isinstance(t, nn.Parameter) else meta
        )
    clone = copy.deepcopy(model, memo)
    for m in clone.modules():
        for hooks in (m._forward_hooks, m._forward_pre_hooks, m._backward_hooks, m._backward_pre_hooks):
            hooks.clear()
    return clone


_RESET_CLASSES = (nn.modules.conv._ConvNd, nn.Linear, nn.modules.batchnorm._NormBase)


@contextlib.contextmanager
def _meta_device_without_init() -> Iterator[None]:
    """``torch.device("meta")`` with weight initialisation skipped in this thread (it is a no-op on meta
    anyway, but dispatching it costs about a fifth of building a deep network)."""
    me = threading.get_ident()
    saved: list[tuple[Any, str, Any]] = []

    def skip(original: Any, returns_arg: bool) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if threading.get_ident() != me:
                return original(*args, **kwargs)
            return args[0] if returns_arg else None

        return wrapper

    for fname in (
        "uniform_",
        "normal_",
        "trunc_normal_",
        "constant_",
        "ones_",
        "zeros_",
        "kaiming_uniform_",
        "kaiming_normal_",
        "xavier_uniform_",
        "xavier_normal_",
        "orthogonal_",
    ):
        saved.append((nn.init, fname, getattr(nn.init, fname)))
    for cls in _RESET_CLASSES:
        saved.append((cls, "reset_parameters", cls.__dict__["reset_parameters"]))
    try:
        for owner, attr, original in saved:
            setattr(owner, attr, skip(original, owner is nn.init))
        with torch.device("meta"):
            yield
    finally:
        for owner, attr, original in saved:
            setattr(owner, attr, original)


@gc_paused()
def build_meta(name: str, **create_kwargs: Any) -> tuple[nn.Module, tuple[int, int, int]]:
    """Build a registered model (or lecture block) on the meta device, with its default input size."""
    try:
        info = model_info(name)
    except UnknownModelError as err:
        try:
            block = block_info(name)
        except UnknownModelError:
            raise err from None
        if create_kwargs:
            raise TypeError(f"block {name!r} takes no options") from None
        with _meta_device_without_init():
            return block.fn(), block.input_size
    with _meta_device_without_init():
        model = create_model(name, **create_kwargs)
    return model, (create_kwargs.get("in_chans") or info.input_size[0], *info.input_size[1:])


def parse_input_size(text: str | Sequence[int]) -> tuple[int, ...]:
    """``"3x227x227"`` → (3, 227, 227); also accepts ``"227"`` (square, 3 channels) and sequences."""
    if not isinstance(text, str):
        return tuple(int(v) for v in text)
    parts = text.lower().replace("×", "x").replace(",", "x").split("x")
    try:
        dims = tuple(int(p) for p in parts if p.strip())
    except ValueError:
        raise ValueError(f"cannot read input size {text!r}; write it as CxHxW, e.g. 3x227x227") from None
    if len(dims) == 1:
        dims = (3, dims[0], dims[0])
    if len(dims) == 2:
        dims = (3, *dims)
    if len(dims) != 3 or min(dims) < 1:
        raise ValueError(f"input size {text!r} must be three positive integers CxHxW, e.g. 3x227x227")
    return dims


@gc_paused()
def summary(
    model_or_name: nn.Module | str,
    input_size: Sequence[int] | str | None = None,
    *,
    depth: int | None = None,
    count_all: bool = False,
    strict: bool = False,
    training: bool = False,
    **create_kwargs: Any,
) -> Summary:
    """Layer table of a registered model (by name, built on the meta device) or of your own ``nn.Module``.

    Your module is not touched: the table is computed on a weight-free meta copy without your hooks.
    ``depth`` collapses modules deeper than it into their ancestor at that depth. ``strict`` turns a
    layer whose output volume is fractional (and floored by PyTorch) into an error. ``training=True``
    traces training mode (auxiliary classifiers run).
    """
    if isinstance(model_or_name, str):
        model, default_size = build_meta(model_or_name, **create_kwargs)
        label = model_or_name
    else:
        if create_kwargs:
            raise TypeError("options such as num_classes apply only when the model is given by name")
        model = _meta_copy(model_or_name)
        label = getattr(model_or_name, "convzoo_name", type(model_or_name).__name__)
        default_size = None
    size = parse_input_size(input_size) if input_size is not None else default_size
    if size is None:
        raise ValueError("give input_size for your own model, e.g. input_size=(3, 224, 224)")
    if depth is not None and depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    model.train(training)
    try:
        tracer, records, warnings = trace(model, size, count_all=count_all, strict=strict)
    except ShapeError as err:
        smallest = min_input_size(model, default_size) if default_size else None
        hint = (
            f" The smallest input {label} accepts is {size[0]}×{smallest}×{smallest}"
            f" (its default is {'×'.join(map(str, default_size))})."
            if smallest and default_size
            else ""
        )
        msg = str(err).rstrip(".")
        raise ShapeError(f"{msg}.{hint}") from None
    layers, not_run = _rows(model, records, tracer.macs, tracer.other_ops, depth)
    params = list(model.parameters())
    info_fn = getattr(model, "inspect_info", None)
    return Summary(
        model=label,
        input_size=tuple(size),
        layers=layers,
        total_params=sum(p.numel() for p in params),
        trainable_params=sum(p.numel() for p in params if p.requires_grad),
        total_macs=sum(tracer.macs.values()),
        total_other_ops=sum(tracer.other_ops.values()),
        count_all=count_all,
        warnings=warnings,
        not_run=not_run,
        info=info_fn() if callable(info_fn) else {},
    )


def _rows(
    model: nn.Module,
    records: dict[str, ModuleRecord],
    macs: dict[str, int],
    other: dict[str, int],
    depth: int | None,
) -> tuple[list[LayerRow], list[tuple[str, int]]]:
    def level(name: str) -> int:
        return name.count(".") + 1 if name else 0

    def ancestors(name: str) -> list[str]:
        parts = name.split(".")
        return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]

    modules = dict(model.named_modules())
    own_params: dict[str, int] = dict.fromkeys(modules, 0)
    subtree_params: dict[str, int] = dict.fromkeys(modules, 0)
    for pname, p in model.named_parameters():
        owner = pname.rpartition(".")[0]
        own_params[owner] += p.numel()
        for a in ancestors(owner) if owner else []:
            subtree_params[a] += p.numel()
    has_children = {n.rpartition(".")[0] for n in modules if n}

    def cut(table: dict[str, int]) -> dict[str, int]:
        """Per-module totals, with everything below ``depth`` added into its ancestor at ``depth``."""
        if depth is None:
            return table
        out: dict[str, int] = {}
        for k, v in table.items():
            key = ".".join(k.split(".")[:depth]) if k else k
            out[key] = out.get(key, 0) + v
        return out

    macs_at, other_at = cut(macs), cut(other)
    rows = []
    for name in sorted(records, key=lambda n: records[n].order):
        is_leaf = name not in has_children
        collapsed = depth is not None and level(name) == depth and not is_leaf
        if depth is not None and level(name) > depth:
            continue
        if not (is_leaf or collapsed or own_params[name] or macs_at.get(name) or other_at.get(name)):
            continue
        rec, mod = records[name], modules[name]
        rf = rec.rf
        rf_val: int | list[int] | None = None
        if rf is not None:
            rf_val = rf.size[0] if rf.size[0] == rf.size[1] else [rf.size[0], rf.size[1]]
        shapes = [list(s) for s in rec.output_shapes]
        rows.append(
            LayerRow(
                name=name,
                type=type(mod).__name__ if (is_leaf or collapsed) else f"{type(mod).__name__} (own)",
                output_shape=shapes[0] if len(shapes) == 1 else shapes,
                params=subtree_params[name] if collapsed else own_params[name],
                macs=macs_at.get(name, 0),
                receptive_field=rf_val,
                depth=level(name),
                other_ops=other_at.get(name, 0),
                is_global=bool(rf and rf.is_global),
            )
        )
    # parameters of modules that never ran (auxiliary heads in eval mode)
    ran = {
        a for name in records if name for a in ancestors(name)
    }  # containers like ModuleList are never called
    not_run: list[tuple[str, int]] = []
    for name in modules:  # pre-order: a module's descendants follow it
        if not name or name in ran or (not_run and name.startswith(not_run[-1][0] + ".")):
            continue
        if subtree_params[name]:
            not_run.append((name, subtree_params[name]))
    return rows, not_run
