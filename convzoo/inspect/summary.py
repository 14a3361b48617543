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
import dataclasses
import io
import json
import math
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from convzoo.inspect.columns import DEFAULT_COLUMNS
from convzoo.inspect.output_size import ShapeError
from convzoo.inspect.paper_tables import PAPER_TABLES, PaperTable, paper_rows
from convzoo.inspect.trace import ModuleRecord, gc_paused, min_input_size, nearest_unfloored, trace
from convzoo.registry import UnknownModelError, block_info, create_model, model_info


@dataclass
class LayerRow:
    """One row of the table. ``receptive_field`` is the side in input pixels (``[h, w]`` when not square).

    A row is a layer, a merge inside a block's forward (``Concat``, ``Add``), a block collapsed at the
    chosen depth, a container's own parameters or operations (``(own)``), or a module that did not run.
    """

    name: str
    type: str
    output_shape: list[int] | list[list[int]]
    params: int
    macs: int
    receptive_field: int | list[int] | None
    depth: int
    other_ops: int = 0
    is_global: bool = False  # every unit sees the same region: the union over all positions
    input_shape: list[int] = field(default_factory=list)
    buffers: int = 0  # floating-point buffers (BN running statistics): Keras counts them as parameters
    kernel: list[int] | None = None
    stride: list[int] | None = None
    padding: list[int] | None = None
    calls: int = 1

    def to_dict(self, count_all: bool) -> dict[str, Any]:
        keys = ["name", "type", "input_shape", "output_shape", "kernel", "stride", "padding"]
        keys += ["params", "buffers", "macs", "receptive_field", "is_global"]
        d = {k: getattr(self, k) for k in keys}
        if count_all:
            d["other_ops"] = self.other_ops
        return d


# The table's optional columns: header, cell.
COLUMNS: dict[str, tuple[str, Callable[[LayerRow, Summary], str]]] = {
    "input": ("Input shape", lambda r, s: _shape(r.input_shape, s.shape_order)),
    "output": ("Output shape", lambda r, s: _shape(r.output_shape, s.shape_order)),
    "kernel": ("Kernel", lambda r, s: _geom(r.kernel)),
    "stride": ("Stride", lambda r, s: _geom(r.stride)),
    "padding": ("Padding", lambda r, s: _geom(r.padding)),
    "params": ("Params", lambda r, s: f"{r.params:,}"),
    "params_percent": ("Params %", lambda r, s: f"{100 * r.params / s.total_params:.2f}%" if s.total_params else "-"),
    "macs": ("MACs", lambda r, s: f"{r.macs:,}"),
    "other_ops": ("Other ops", lambda r, s: f"{r.other_ops:,}"),
    "rf": ("RF", lambda r, s: _rf(r)),
}
_LEFT = {"input", "output", "kernel", "stride", "padding"}


@dataclass
class Memory:
    """torchinfo's memory estimate, in bytes, for a batch: the input, the parameters, and the forward/backward
    pass (the outputs of layers that have parameters, ×2 for their gradients)."""

    batch_size: int
    input_bytes: int
    params_bytes: int
    forward_backward_bytes: int

    @property
    def total_bytes(self) -> int:
        return self.input_bytes + self.params_bytes + self.forward_backward_bytes

    def lines(self) -> list[str]:
        mb = 1e6
        return [
            f"Input size (MB): {self.input_bytes / mb:.2f}",
            f"Forward/backward pass size (MB): {self.forward_backward_bytes / mb:.2f}",
            f"Params size (MB): {self.params_bytes / mb:.2f}",
            f"Estimated total size (MB): {self.total_bytes / mb:.2f}"
            f"  (batch {self.batch_size}; torchinfo's estimate: outputs of layers with parameters, ×2 for gradients)",
        ]


@dataclass
class Summary:
    """Result of :func:`summary`; ``str()`` gives the table, ``to_json``/``to_markdown``/``to_csv``/``to_keras``.

    Display options: ``columns`` (keys of :data:`COLUMNS`), ``shape_order`` (``"chw"`` or ``"hwc"``, the
    lecture's 55×55×96), ``show_floors`` (list every layer that floors a fractional output volume).
    """

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
    total_buffers: int = 0
    memory: Memory | None = None
    depth: int | None = None
    columns: tuple[str, ...] = DEFAULT_COLUMNS
    shape_order: str = "chw"
    show_floors: bool = False
    paper_table: list[dict[str, Any]] = field(default_factory=list)
    paper_source: str | None = None
    _tree: _Tree | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.count_all and self.columns == DEFAULT_COLUMNS:
            self.columns = ("output", "params", "macs", "other_ops", "rf")
        unknown = [c for c in self.columns if c not in COLUMNS]
        if unknown:
            raise ValueError(f"unknown column(s) {', '.join(unknown)}; choose from: {', '.join(COLUMNS)}")
        if self.shape_order not in ("chw", "hwc"):
            raise ValueError(f"shape_order must be 'chw' or 'hwc', got {self.shape_order!r}")

    def row(self, name: str) -> LayerRow:
        for r in self.layers:
            if r.name == name:
                return r
        raise KeyError(
            f"no layer {name!r} in the summary of {self.model}; layers: {[r.name for r in self.layers]}"
        )

    def at_depth(self, depth: int | None) -> Summary:
        """The same summary laid out at another depth, without tracing again."""
        if self._tree is None:
            raise ValueError("this summary keeps no trace to re-lay out; call summary(..., depth=...)")
        if depth is not None and depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        return dataclasses.replace(self, layers=self._tree.rows(depth), depth=depth)

    @property
    def floors(self) -> list[str]:
        """Layers whose output volume is fractional and that PyTorch floors (or rounds up, with ceil_mode)."""
        return [w for w in self.warnings if w.endswith(("floored", "rounded up (ceil_mode)"))]

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "model": self.model,
            "input_size": list(self.input_size),
            "depth": self.depth,
            "layers": [r.to_dict(self.count_all) for r in self.layers],
            "total_params": self.total_params,
            "trainable_params": self.trainable_params,
            "total_buffers": self.total_buffers,
            "total_macs": self.total_macs,
            "total_flops": 2 * self.total_macs,
        }
        if self.count_all:
            d["total_other_ops"] = self.total_other_ops
        if self.memory is not None:
            d["memory"] = {**dataclasses.asdict(self.memory), "total_bytes": self.memory.total_bytes}
        if self.warnings:
            d["warnings"] = self.warnings
        if self.not_run:
            d["not_run"] = [{"name": n, "params": p} for n, p in self.not_run]
        if self.info:
            d["info"] = self.info
        if self.paper_table:
            d["paper_table"] = {"source": self.paper_source, "rows": self.paper_table}
        return d

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def _cells(self) -> tuple[list[str], list[list[str]]]:
        head = ["Layer", "Type"] + [COLUMNS[c][0] for c in self.columns]
        if self.shape_order == "hwc":
            head = [h.replace("shape", "shape (H×W×C)") for h in head]
        rows = [[r.name, r.type] + [COLUMNS[c][1](r, self) for c in self.columns] for r in self.layers]
        return head, rows

    def _legend(self) -> list[str]:
        lines = []
        if any(r.is_global for r in self.layers):
            lines.append(
                "RF (global): after global pooling, flatten or a gate every unit sees the same region; the "
                "number is the theoretical receptive field, the union of all positions' fields, which can "
                "exceed the input (padding extends it past the border)."
            )
        if any(r.type in ("Concat", "Add") for r in self.layers):
            lines.append("Concat / Add: branches joined inside a block's forward (a concatenation, a residual sum).")
        if any(r.type.endswith("(own)") for r in self.layers):
            lines.append("(own): parameters and operations of a block itself, beside its children's rows.")
        return lines

    def _footer(self) -> list[str]:
        lines = [
            f"Input: {_shape(list(self.input_size), self.shape_order)}",
            f"Total params: {self.total_params:,} ({human(self.total_params)})"
            + (
                "" if self.trainable_params == self.total_params else f", trainable {self.trainable_params:,}"
            ),
            f"Total MACs: {self.total_macs:,} ({human(self.total_macs)}; FLOPs = 2 × MACs)",
        ]
        if self.count_all:
            lines.append(f"Other ops (BN, pooling, activations, adds): {self.total_other_ops:,}")
        if self.memory is not None:
            lines += self.memory.lines()
        for key, value in self.info.items():
            lines.append(f"{key.replace('_', ' ').capitalize()}: {value}")
        for name, params in self.not_run:
            lines.append(f"Not run in eval mode: {name} ({params:,} params, counted in the total)")
        floors = self.floors
        others = [w for w in self.warnings if w not in floors]
        if floors and not self.show_floors:
            lines.append(
                f"Note: {len(floors)} layer{'s' if len(floors) > 1 else ''} floor a fractional output volume as "
                f"PyTorch does (first: {floors[0]}); list them with --floors, refuse them with --strict"
            )
        lines += [f"Warning: {w}" for w in (self.warnings if self.show_floors else others)]
        return lines + self._legend()

    def to_table(self) -> str:
        head, rows = self._cells()
        widths = [max(len(x) for x in col) for col in zip(head, *rows, strict=True)]
        left = {0, 1} | {i + 2 for i, c in enumerate(self.columns) if c in _LEFT}

        def fmt(cells: list[str]) -> str:
            return "  ".join(
                c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
            ).rstrip()

        rule = "-" * (sum(widths) + 2 * (len(widths) - 1))
        paper = ["", *_grid(*self._paper_cells())] if self.paper_table else []
        return "\n".join([self.model, rule, fmt(head), rule, *map(fmt, rows), rule, *self._footer(), *paper])

    def _paper_cells(self) -> tuple[str, list[str], list[list[str]]]:
        """The paper's per-layer table beside ours (``summary(..., paper=True)``): ✗ marks a difference."""
        keys = [k for k in ("spec", "output", "params", "ops") if any(r[k]["paper"] for r in self.paper_table)]
        head = ["Paper row", "Our layers"]
        for k in keys:
            head += [{"spec": "Layer", "output": "Output", "params": "Params", "ops": "Ops"}[k], "Ours"]
        rows = []
        for r in self.paper_table:
            cells = [r["row"], ", ".join(r["layers"])]
            for key in keys:
                c = r[key]
                mark = {"match": "", "differs": " ✗", None: ""}[c["verdict"]]
                cells += [c["paper"] or "-", (c["ours"] + mark) if c["paper"] else c["ours"]]
            rows.append(cells)
        legend = "; ✗ marks our figure where it differs from the printed one beyond its precision"
        return str(self.paper_source) + legend, head, rows

    def to_markdown(self) -> str:
        head, rows = self._cells()
        left = {0, 1} | {i + 2 for i, c in enumerate(self.columns) if c in _LEFT}
        lines = [
            "| " + " | ".join(head) + " |",
            "|" + "|".join("---" if i in left else "---:" for i in range(len(head))) + "|",
        ]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
        paper: list[str] = []
        if self.paper_table:
            title, phead, prows = self._paper_cells()
            paper = ["", f"**{title}**", "", "| " + " | ".join(phead) + " |", "|" + "---|" * len(phead)]
            paper += ["| " + " | ".join(r) + " |" for r in prows]
        return "\n".join([f"**{self.model}**", "", *lines, "", *(f"- {line}" for line in self._footer()), *paper])

    def to_csv(self) -> str:
        buf = io.StringIO()
        writer = csv.writer(buf)
        keys = ["name", "type", "input_shape", "output_shape", "kernel", "stride", "padding", "params", "macs"]
        keys += ["receptive_field"] + (["other_ops"] if self.count_all else [])
        writer.writerow(keys)
        for r in self.layers:
            d = r.to_dict(self.count_all)
            for k in ("input_shape", "output_shape"):
                d[k] = _shape(d[k], self.shape_order)
            for k in ("kernel", "stride", "padding"):
                d[k] = "" if d[k] is None else _geom(d[k])
            d["receptive_field"] = "" if r.receptive_field is None else _rf(r)
            writer.writerow([d[k] for k in keys])
        writer.writerow(
            ["TOTAL", "", "", "", "", "", "", self.total_params, self.total_macs, ""]
            + ([self.total_other_ops] if self.count_all else [])
        )
        return buf.getvalue()

    def to_keras(self) -> str:
        """Keras's ``model.summary()``, counted as Keras counts: channels-last shapes with a batch axis,
        activations folded into the layer before them, and BN's moving statistics (PyTorch buffers) counted
        as non-trainable parameters. The difference from PyTorch's count is stated under the table."""
        rows = [("input (InputLayer)", "[(None, " + ", ".join(map(str, _hwc(self.input_size))) + ")]", 0)]
        for r in self.layers:
            if r.params == 0 and r.buffers == 0 and r.type in _ACTIVATIONS:
                continue
            shape = r.output_shape if not r.output_shape or isinstance(r.output_shape[0], int) else r.output_shape[0]
            if r.type == "AdaptiveAvgPool2d" and list(shape[1:]) == [1, 1]:
                shape = shape[:1]  # Keras's GlobalAveragePooling2D drops the 1×1: (None, 2048)
            rows.append(
                (
                    f"{r.name} ({_KERAS.get(r.type, r.type)})",
                    "(None, " + ", ".join(map(str, _hwc(shape))) + ")",  # type: ignore[arg-type]
                    r.params + r.buffers,
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
        total = self.total_params + self.total_buffers
        out += [
            "=" * sum(w),
            f"Total params: {total:,}",
            f"Trainable params: {self.trainable_params:,}",
            f"Non-trainable params: {total - self.trainable_params:,}",
            line,
        ]
        if self.total_buffers:
            out.append(
                f"Counted as Keras counts: the {self.total_buffers:,} moving statistics of batch norm (PyTorch "
                f"buffers) are non-trainable params. PyTorch counts {self.total_params:,} parameters."
            )
        convs = [r for r in self.layers if r.type == "Conv2d" and _bias_free(r)]
        if convs and self.total_buffers:
            biases = sum(int(r.output_shape[0]) for r in convs)  # type: ignore[arg-type]
            out.append(
                f"These {len(convs)} convolutions have no bias (batch norm follows them); Keras's applications "
                f"give theirs one anyway, so keras.applications counts {biases:,} more: {total + biases:,}."
            )
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
    "Concat": "Concatenate",
    "Add": "Add",
}


def _bias_free(r: LayerRow) -> bool:
    """Whether a Conv2d row's parameters are its weights alone: C_out × (C_in / groups) × kh × kw."""
    try:
        c_out, c_in, k = int(r.output_shape[0]), int(r.input_shape[0]), (r.kernel or [1, 1])  # type: ignore[arg-type]
    except (IndexError, TypeError, ValueError):
        return False
    kk = int(k[0]) * int(k[-1])
    if not c_out or r.params % c_out:
        return False
    per_out = r.params // c_out
    return per_out % kk == 0 and per_out // kk > 0 and c_in % (per_out // kk) == 0


def _grid(title: str, head: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(x) for x in col) for col in zip(head, *rows, strict=True)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [head, *rows]]
    return [title, *lines]


def _hwc(shape: Sequence[int]) -> list[int]:
    return [*shape[1:], shape[0]] if len(shape) == 3 else list(shape)


def human(n: float, unit: str = "") -> str:
    """A count in the unit that fits its magnitude, four significant digits: 416.5 K, 25.56 M, 4.089 G."""
    for prefix, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.4g} {prefix}{unit}"
    return f"{int(n)}{' ' + unit if unit else ''}"


def _shape(shape: Any, order: str = "chw") -> str:
    if shape and isinstance(shape[0], list | tuple):
        return ", ".join(_shape(s, order) for s in shape)
    if not shape:
        return "-"
    return "×".join(map(str, _hwc(shape) if order == "hwc" else shape))


def _geom(v: list[int] | None) -> str:
    if v is None:
        return "-"
    return str(v[0]) if v[0] == v[1] else f"{v[0]}×{v[1]}"


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
    batch_size: int = 1,
    columns: Sequence[str] | None = None,
    shape_order: str = "chw",
    show_floors: bool = False,
    paper: bool = False,
    **create_kwargs: Any,
) -> Summary:
    """Layer table of a registered model (by name, built on the meta device) or of your own ``nn.Module``.

    Your module is not touched: the table is computed on a weight-free meta copy without your hooks.
    ``depth`` collapses modules deeper than it into their ancestor at that depth; the rows at any depth
    add up to the totals. ``strict`` turns a layer whose output volume is fractional (and floored by
    PyTorch) into an error. ``training=True`` traces training mode (auxiliary classifiers run).
    ``batch_size`` sets the memory estimate's batch; ``columns``, ``shape_order`` and ``show_floors`` the
    display (see :class:`Summary`). ``paper=True`` adds the per-layer table the paper prints (GoogLeNet's
    Table 1, AlexNet's lecture table), our figures computed in its units and conventions.
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
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    model.train(training)
    try:
        tracer, records, warnings = trace(model, size, count_all=count_all, strict=strict)
    except ShapeError as err:
        hint = _size_hint(model, label, size, strict, default_size)
        raise ShapeError(f"{str(err).rstrip('.')}.{hint}") from None
    tree = _Tree.build(model, records, tracer.macs, tracer.other_ops)
    table = _paper_table(label, paper)
    params = list(model.parameters())
    info_fn = getattr(model, "inspect_info", None)
    return Summary(
        model=label,
        input_size=tuple(size),
        layers=tree.rows(depth),
        total_params=sum(p.numel() for p in params),
        trainable_params=sum(p.numel() for p in params if p.requires_grad),
        total_macs=sum(tracer.macs.values()),
        total_other_ops=sum(tracer.other_ops.values()),
        count_all=count_all,
        warnings=warnings,
        not_run=tree.not_run(),
        info=info_fn() if callable(info_fn) else {},
        total_buffers=tree.subtree_buffers.get("", 0),
        memory=_memory(model, tree, size, batch_size),
        depth=depth,
        columns=tuple(columns) if columns else DEFAULT_COLUMNS,
        shape_order=shape_order,
        show_floors=show_floors,
        paper_table=paper_rows(table, model, tree.layer) if table else [],
        paper_source=f"{table.source} ({table.convention})" if table else None,
        _tree=tree,
    )


def _paper_table(label: str, wanted: bool) -> PaperTable | None:
    if not wanted:
        return None
    if label not in PAPER_TABLES:
        raise ValueError(f"no per-layer paper table for {label!r}; there is one for: {', '.join(PAPER_TABLES)}")
    return PAPER_TABLES[label]


def _memory(model: nn.Module, tree: _Tree, size: Sequence[int], batch: int) -> Memory:
    """torchinfo's estimate: outputs of the layers that own parameters (once per call), ×2 for gradients."""
    element = next((p.element_size() for p in model.parameters()), 4)
    outputs = 0
    for name, rec in tree.records.items():
        if rec.kind is None and tree.own_params.get(name) and not tree.modules[name]._modules:
            outputs += rec.calls * sum(math.prod(s) for s in rec.output_shapes)
    return Memory(
        batch_size=batch,
        input_bytes=batch * math.prod(size) * 4,
        params_bytes=sum(p.numel() * p.element_size() for p in model.parameters()),
        forward_backward_bytes=2 * batch * outputs * element,
    )


def _size_hint(
    model: nn.Module, label: str, size: Sequence[int], strict: bool, default: Sequence[int] | None
) -> str:
    """What input would work: with ``strict``, the nearest square inputs at which no layer floors; and the
    smallest square input at which the network runs at all (PyTorch flooring fractional volumes)."""
    c, side = size[0], size[-1]
    hi = default[-1] if default else max(2 * side, 512)
    smallest = min_input_size(model, (c, hi, hi))
    runs = (
        f" The smallest square input at which {label} runs (PyTorch flooring fractional volumes) is "
        f"{c}×{smallest}×{smallest}."
        if smallest
        else ""
    )
    if not strict:
        return runs
    below, above = nearest_unfloored(model, size)
    near = " and ".join(f"{c}×{s}×{s}" for s in (below, above) if s)
    if not near:
        return f" No square input within 64 pixels of {side} avoids flooring.{runs}"
    return f" The nearest square inputs at which no layer floors: {near}.{runs}"


@dataclass
class _Tree:
    """The module tree and one traced pass: enough to lay out the table at any depth without tracing again."""

    modules: dict[str, nn.Module]
    records: dict[str, ModuleRecord]
    macs: dict[str, int]
    other: dict[str, int]
    own_params: dict[str, int]
    subtree_params: dict[str, int]
    own_buffers: dict[str, int]
    subtree_buffers: dict[str, int]
    span: dict[str, tuple[int, str, str]]  # per module, over its subtree: (first order, first record, last record)

    @classmethod
    def build(cls, model: nn.Module, records: dict[str, ModuleRecord], macs: dict[str, int], other: dict[str, int]) -> _Tree:
        modules = dict(model.named_modules())
        counts = {k: dict.fromkeys(modules, 0) for k in ("op", "sp", "ob", "sb")}
        for kind, items in (("p", model.named_parameters()), ("b", model.named_buffers())):
            for pname, t in items:
                if kind == "b" and not t.is_floating_point():
                    continue  # BN's num_batches_tracked: a counter, not a figure any library counts
                owner = pname.rpartition(".")[0]
                counts["o" + kind][owner] += t.numel()
                for a in _ancestors(owner):
                    counts["s" + kind][a] += t.numel()
        # records are in call order: the first to reach an ancestor is its first, the last its last
        first: dict[str, str] = {}
        last: dict[str, str] = {}
        for seen, names in ((first, list(records)), (last, list(reversed(records)))):
            for name in names:
                for a in reversed(_ancestors(name)):
                    if a in seen:
                        break
                    seen[a] = name
        span = {a: (records[f].order, f, last[a]) for a, f in first.items()}
        return cls(modules, records, macs, other, counts["op"], counts["sp"], counts["ob"], counts["sb"], span)

    def rows(self, depth: int | None) -> list[LayerRow]:
        """Rows that partition the network at ``depth``: every parameter and MAC is in exactly one row."""
        macs_at, other_at = _cut(self.macs, depth), _cut(self.other, depth)
        has_children = {n.rpartition(".")[0] for n in [*self.modules, *self.records] if n}
        keyed: list[tuple[tuple[int, int], LayerRow]] = []
        last_order, skip = -1, None
        names = list(self.modules) + [n for n, r in self.records.items() if r.kind]
        for index, name in enumerate(names):
            if name in self.span:
                last_order = self.span[name][0]
            if not name or (depth is not None and _level(name) > depth):
                continue
            if skip is not None and name.startswith(skip):
                continue
            ran = name in self.span
            leaf = name not in has_children
            if not ran:
                if not self.subtree_params.get(name) or name in self.records:
                    continue
                skip = name + "."
                keyed.append(((last_order, index), self._row(name, "not run", macs_at, other_at)))
            elif leaf or (depth is not None and _level(name) == depth):
                keyed.append(((self.span[name][0], 0), self._row(name, "whole", macs_at, other_at)))
            elif self.own_params[name] or macs_at.get(name) or other_at.get(name):
                keyed.append(((self.span[name][0], 0), self._row(name, "own", macs_at, other_at)))
        root = self._row("", "own", macs_at, other_at)
        if root.params or root.macs or root.other_ops:
            keyed.append(((-1, 0), root))
        return [row for _, row in sorted(keyed, key=lambda kr: kr[0])]

    def layer(self, name: str) -> LayerRow | None:
        """One module as a whole (its subtree collapsed into one row), or None if there is no such module."""
        if name not in self.modules or name not in self.span:
            return None
        return self._row(name, "whole", _cut(self.macs, _level(name)), _cut(self.other, _level(name)))

    def not_run(self) -> list[tuple[str, int]]:
        """The outermost modules that did not run (auxiliary heads in eval mode) and hold parameters."""
        out: list[tuple[str, int]] = []
        for name in self.modules:
            if name and name not in self.span and self.subtree_params[name]:
                if not (out and name.startswith(out[-1][0] + ".")):
                    out.append((name, self.subtree_params[name]))
        return out

    def _parallel_outputs(self, name: str, mod: nn.Module) -> list[ModuleRecord]:
        """For a container that is iterated, not called: its children's last records when they run side by
        side (each child's input is not the previous child's output, as Inception's branches); else []."""
        kids = [self.records[self.span[k][2]] for k in (f"{name}.{c}" for c in mod._modules) if k in self.span]
        firsts = [self.records[self.span[k][1]] for k in (f"{name}.{c}" for c in mod._modules) if k in self.span]
        chained = all(
            nxt.input_shapes[:1] == prev.output_shapes[:1] for prev, nxt in zip(kids, firsts[1:], strict=False)
        )
        return [] if chained or not all(k.output_shapes for k in kids) else kids

    def _row(self, name: str, part: str, macs_at: dict[str, int], other_at: dict[str, int]) -> LayerRow:
        rec = self.records.get(name)
        mod = self.modules.get(name)
        kind = rec.kind if rec is not None and rec.kind else type(mod).__name__
        shown = self.records.get(self.span[name][2]) if name in self.span and rec is None else rec
        whole = part != "own"
        rf = shown.rf if shown is not None else None
        shapes = [list(s) for s in shown.output_shapes] if shown is not None else []
        if rec is None and mod is not None and name in self.span:
            branches = self._parallel_outputs(name, mod)
            if branches:
                shapes = [list(b.output_shapes[0]) for b in branches]
                rf = max((b.rf for b in branches if b.rf is not None), key=lambda r: r.size, default=rf)
        first = self.records.get(name) or (self.records[self.span[name][1]] if name in self.span else None)
        return LayerRow(
            name=name or "(model)",
            type={"whole": kind, "own": f"{kind} (own)", "not run": f"{kind} (not run)"}[part],
            output_shape=shapes[0] if len(shapes) == 1 else shapes,
            params=(self.subtree_params if whole else self.own_params).get(name, 0),
            macs=macs_at.get(name, 0),
            receptive_field=None if rf is None else (rf.size[0] if rf.size[0] == rf.size[1] else list(rf.size)),
            depth=_level(name),
            other_ops=other_at.get(name, 0),
            is_global=bool(rf and rf.is_global),
            input_shape=list(first.input_shapes[0]) if first is not None and first.input_shapes else [],
            buffers=(self.subtree_buffers if whole else self.own_buffers).get(name, 0),
            kernel=_geometry(mod, "kernel_size") if mod is not None and part == "whole" else None,
            stride=_geometry(mod, "stride") if mod is not None and part == "whole" else None,
            padding=_geometry(mod, "padding") if mod is not None and part == "whole" else None,
            calls=shown.calls if shown is not None else 0,
        )


def _level(name: str) -> int:
    return name.count(".") + 1 if name else 0


def _ancestors(name: str) -> list[str]:
    """``"a.b.c"`` → ``["", "a", "a.b", "a.b.c"]``; the root ``""`` is everyone's ancestor."""
    parts = name.split(".") if name else []
    return [""] + [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def _cut(table: dict[str, int], depth: int | None) -> dict[str, int]:
    """Per-module totals, with everything below ``depth`` added into its ancestor at ``depth``."""
    if depth is None:
        return dict(table)
    out: dict[str, int] = defaultdict(int)
    for k, v in table.items():
        out[".".join(k.split(".")[:depth]) if k else k] += v
    return out


def _geometry(mod: nn.Module, attr: str) -> list[int] | None:
    """Kernel size, stride or padding of a conv or pooling layer as ``[h, w]``; None for other layers."""
    if not isinstance(mod, nn.modules.conv._ConvNd | nn.modules.pooling._MaxPoolNd | nn.modules.pooling._AvgPoolNd):
        return None
    v = getattr(mod, attr, None)
    if isinstance(v, str):  # padding="same"
        return None
    if v is None:
        v = mod.kernel_size
    return [int(v), int(v)] if isinstance(v, int) else [int(x) for x in v]
