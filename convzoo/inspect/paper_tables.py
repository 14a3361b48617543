"""Per-layer tables the papers print, beside our counts in the paper's own units and conventions.

GoogLeNet's Table 1 counts parameters as weights without biases in units of 1024 and operations as
multiply-adds in millions; AlexNet's is the CS231n lecture's table of output volumes; VGG's Table 1 spells
each configuration's layers. Each of our cells is computed in the paper's convention, so a student sees
which rows differ by convention and which are slips of the paper. A cell agrees when it is within one unit
of the printed figure's last digit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from convzoo.registry import parse_figure


@dataclass(frozen=True)
class PaperRow:
    """One printed row: its label, the modules of ours it covers, and its figures as printed."""

    label: str
    layers: tuple[str, ...]
    output: str | None = None  # H×W×C, as printed
    params: str | None = None
    ops: str | None = None
    spec: str | None = None  # the layer as printed: "conv3-64", "maxpool", "FC-4096" (VGG's Table 1)


@dataclass(frozen=True)
class PaperTable:
    source: str
    convention: str
    rows: tuple[PaperRow, ...]
    params_unit: int = 1000  # what the printed "K" means
    weights_only: bool = False  # the params column leaves biases out


def _inception(label: str, out: str, params: str, ops: str) -> PaperRow:
    return PaperRow(f"inception ({label})", (f"features.inception{label}",), out, params, ops)


_F = "features."
GOOGLENET_TABLE_1 = PaperTable(
    source="Szegedy et al. 2014 (arXiv:1409.4842), Table 1",
    convention="params: weights without biases, K = 1024; ops: multiply-adds, M = 10^6",
    params_unit=1024,
    weights_only=True,
    rows=(
        PaperRow("convolution 7×7/2", (_F + "conv1",), "112×112×64", "2.7K", "34M"),
        PaperRow("max pool 3×3/2", (_F + "pool1",), "56×56×64"),
        PaperRow("convolution 3×3/1", (_F + "conv2", _F + "conv3"), "56×56×192", "112K", "360M"),
        PaperRow("max pool 3×3/2", (_F + "pool2",), "28×28×192"),
        _inception("3a", "28×28×256", "159K", "128M"),
        _inception("3b", "28×28×480", "380K", "304M"),
        PaperRow("max pool 3×3/2", (_F + "pool3",), "14×14×480"),
        _inception("4a", "14×14×512", "364K", "73M"),
        _inception("4b", "14×14×512", "437K", "88M"),
        _inception("4c", "14×14×512", "463K", "100M"),
        _inception("4d", "14×14×528", "580K", "119M"),
        _inception("4e", "14×14×832", "840K", "170M"),
        PaperRow("max pool 3×3/2", (_F + "pool4",), "7×7×832"),
        _inception("5a", "7×7×832", "1072K", "54M"),
        _inception("5b", "7×7×1024", "1388K", "71M"),
        PaperRow("avg pool 7×7/1", ("global_pool",), "1×1×1024"),
        PaperRow("linear", ("fc",), "1×1×1000", "1000K", "1M"),
    ),
)


def _alexnet_lecture() -> PaperTable:
    """CS231n's AlexNet walk-through: the volume after every layer, and conv1's (11·11·3)·96 = 35K weights."""
    vols = ("55×55×96", "27×27×96", "27×27×96", "27×27×256", "13×13×256", "13×13×256", "13×13×384",
            "13×13×384", "13×13×256", "6×6×256")  # fmt: skip
    names = ("conv1", "pool1", "norm1", "conv2", "pool2", "norm2", "conv3", "conv4", "conv5", "pool5")
    rows = [
        PaperRow(n.upper(), (f"features.{n}",), v, "35K" if n == "conv1" else None)
        for n, v in zip(names, vols, strict=True)
    ]
    rows += [PaperRow(f"FC{i}", (f"classifier.fc{i}",), o) for i, o in ((6, "4096"), (7, "4096"), (8, "1000"))]
    return PaperTable(
        source="Stanford CS231n lecture notes (AlexNet at 227×227); Krizhevsky et al. 2012, Section 3.5",
        convention="volumes H×W×C; params: weights without biases, K = 1000. The lecture pools before it "
        "normalizes (Caffe's reference model); the paper, and ours, normalize first",
        rows=tuple(rows),
        weights_only=True,
    )


def _vgg_table_1(column: str, blocks: tuple[tuple[str, ...], ...]) -> PaperTable:
    """One column of VGG's Table 1: each block's convolutions as printed ("conv3-64"), then max-pool; FCs."""
    rows = []
    for b, convs in enumerate(blocks, 1):
        rows += [PaperRow(spec, (f"features.block{b}.conv{j}",), spec=spec) for j, spec in enumerate(convs, 1)]
        rows.append(PaperRow("maxpool", (f"features.block{b}.pool",), spec="maxpool"))
    rows += [PaperRow(f"FC-{n}", (f"classifier.fc{i}",), spec=f"FC-{n}") for i, n in ((6, 4096), (7, 4096), (8, 1000))]
    return PaperTable(
        source=f"Simonyan & Zisserman 2014 (arXiv:1409.1556), Table 1, configuration {column}",
        convention="convolutions as conv<receptive field size>-<number of channels>",
        rows=tuple(rows),
    )


def _c(n: int, width: int, k: int = 3) -> tuple[str, ...]:
    return (f"conv{k}-{width}",) * n


_VGG_A = (_c(1, 64), _c(1, 128), _c(2, 256), _c(2, 512), _c(2, 512))
_VGG_B = (_c(2, 64), _c(2, 128), _c(2, 256), _c(2, 512), _c(2, 512))
_VGG_C = (_c(2, 64), _c(2, 128), _c(2, 256) + _c(1, 256, 1), _c(2, 512) + _c(1, 512, 1), _c(2, 512) + _c(1, 512, 1))
_VGG_D = (_c(2, 64), _c(2, 128), _c(3, 256), _c(3, 512), _c(3, 512))
_VGG_E = (_c(2, 64), _c(2, 128), _c(4, 256), _c(4, 512), _c(4, 512))

PAPER_TABLES: dict[str, PaperTable] = {
    "vgg11": _vgg_table_1("A", _VGG_A),
    "vgg13": _vgg_table_1("B", _VGG_B),
    "vgg16_c": _vgg_table_1("C", _VGG_C),
    "vgg16": _vgg_table_1("D", _VGG_D),
    "vgg19": _vgg_table_1("E", _VGG_E),
    "googlenet": GOOGLENET_TABLE_1,
    "alexnet": _alexnet_lecture(),
    "alexnet_2gpu": _alexnet_lecture(),
}


def paper_rows(table: PaperTable, model: nn.Module, layer: Callable[[str], Any]) -> list[dict[str, Any]]:
    """Each printed row beside ours, in the paper's convention, with a verdict per figure. ``layer(name)``
    gives one of our modules as a summary row (output shape, MACs of its subtree), or None."""
    out = []
    for prow in table.rows:
        by_name = {n: layer(n) for n in prow.layers}
        missing = [n for n, r in by_name.items() if r is None]
        if missing:
            raise KeyError(f"{table.source}: no layer {missing} in the model; the table is out of date")
        params = sum(
            p.numel()
            for n, p in model.named_parameters()
            if any(n.startswith(layer + ".") for layer in prow.layers)
            and not (table.weights_only and n.endswith("bias"))
        )
        ours = {
            "spec": _spec(by_name[prow.layers[-1]]),
            "output": "×".join(map(str, _hwc(by_name[prow.layers[-1]].output_shape))),
            "params": params,
            "ops": sum(by_name[n].macs for n in prow.layers),
        }
        cells: dict[str, Any] = {"row": prow.label, "layers": list(prow.layers)}
        for key, printed in (("spec", prow.spec), ("output", prow.output), ("params", prow.params), ("ops", prow.ops)):
            cells[key] = {"paper": printed, "ours": _in_units(ours[key], key, table, printed), "verdict": None}
            if printed is not None:
                cells[key]["verdict"] = _agrees(ours[key], printed, key, table)
        out.append(cells)
    return out


def _hwc(shape: list[int]) -> list[int]:
    return [*shape[1:], shape[0]] if len(shape) == 3 else list(shape)


def _scale(printed: str, key: str, table: PaperTable) -> tuple[float, float]:
    value, tol = parse_figure(printed)
    if key == "params" and printed.strip()[-1:].upper() == "K":
        value, tol = value / 1000 * table.params_unit, tol / 1000 * table.params_unit
    return value, tol


def _spec(row: Any) -> str:
    """Our layer written as VGG's Table 1 writes it."""
    kind = row.type.split(" ")[0]
    if kind == "Conv2d" and row.kernel:
        return f"conv{row.kernel[0]}-{row.output_shape[0]}"
    if kind == "Linear":
        return f"FC-{row.output_shape[-1]}"
    return {"MaxPool2d": "maxpool", "LocalResponseNorm": "LRN"}.get(kind, kind)


def _agrees(ours: Any, printed: str, key: str, table: PaperTable) -> str:
    if key == "spec":
        return "match" if ours == printed else "differs"
    if key == "output":  # a printed 1×1×1000 is our flat 1000: the same volume
        return "match" if _flat(str(ours)) == _flat(printed) else "differs"
    value, tol = _scale(printed, key, table)
    return "match" if abs(ours - value) <= 2 * tol else "differs"  # within one unit of the last digit


def _flat(volume: str) -> str:
    return volume.removeprefix("1×1×")


def _in_units(ours: Any, key: str, table: PaperTable, printed: Any = None) -> str:
    """Ours in the paper's units, and in the suffix the paper printed beside it (1,018.0K beside its 1072K,
    not 1.02M)."""
    if key in ("spec", "output") or not ours:
        return str(ours)
    if key == "params":
        unit = table.params_unit
        in_k = str(printed).upper().endswith("K") if printed is not None else ours < 1000 * unit
        return f"{ours / unit:,.1f}K" if in_k else f"{ours / unit / 1000:.2f}M"
    return f"{ours / 1e6:.1f}M"
