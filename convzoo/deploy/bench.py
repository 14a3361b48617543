"""Inference benchmark: images/s and latency of each configuration, as ratios against a peer in the same run.

Method (printed with every result): each network is built with ``convzoo.create_model`` with random weights;
where a peer library (torchvision, timm) has the network, the peer's model is built with its own random
initialisation (batch-norm statistics randomised, so that folding them is a real change) and those weights
are loaded into ours through the registered key mapping, so every configuration computes the same function and
its outputs are compared with our eager fp32 logits before timing. All configurations of one network
(backends, dtypes, batch sizes and the peer's eager fp32) are prepared, warmed up and then timed
*alternately*: every round times each configuration once, the order rotating by one each round, so a change of
load on a shared machine hits all of them alike. One sample is ``k`` consecutive calls on the same input, ``k``
chosen from the last warm-up call so that a sample lasts at least ``min_sample_s`` (torch.utils.benchmark's
blocked measurement, for tiny models); latency per call is the sample's time over ``k``. Reported: the median
and 90th percentile of the per-call latencies, images/s = batch / median latency, and the ratio of the
baseline's median latency to this configuration's (> 1: faster than the baseline).
"""

from __future__ import annotations

import copy
import dataclasses
import importlib.util
import math
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from convzoo.busy import busy_note, load_average, note_wanted
from convzoo.cli_args import CORES
from convzoo.deploy.bench_choices import AGAINST, BACKENDS, DTYPES, PEERS
from convzoo.deploy.optimize import DTYPES as TORCH_DTYPES
from convzoo.deploy.optimize import native_low_precision, optimize

__all__ = [
    "BACKENDS",
    "DTYPES",
    "PEERS",
    "BenchResult",
    "Config",
    "Method",
    "Row",
    "bench",
    "format_result",
    "measure",
]

RUNTIMES = {"onnxruntime": "onnxruntime", "openvino": "openvino"}  # backend -> the package it needs
OPENVINO_PRECISION = {"fp32": "f32", "bf16": "bf16", "fp16": "f16"}
WEIGHTS_NOTE = (
    "random weights (where a peer has the network, its initialisation copied into ours through the registered "
    "key mapping; batch-norm statistics randomised); one random NCHW fp32 batch per batch size, reused, and any "
    "conversion a backend makes (dtype, channels_last, to numpy) inside the timed call"
)


@dataclass(frozen=True)
class Config:
    """One configuration to time; ``impl`` is "convzoo" or the peer whose eager fp32 model is the baseline."""

    model: str
    batch: int
    backend: str
    dtype: str
    impl: str = "convzoo"

    @property
    def label(self) -> str:
        return f"{self.model} b{self.batch} {self.impl} {self.backend} {self.dtype}"


@dataclass
class Row:
    """The figures of one configuration; ``skipped`` says why a configuration did not run."""

    model: str
    batch: int
    backend: str
    dtype: str
    impl: str = "convzoo"
    median_ms: float | None = None
    p90_ms: float | None = None
    images_per_s: float | None = None
    ratio: float | None = None  # baseline median latency / this median latency
    baseline: str = ""
    max_rel_diff: float | None = None  # max |y - y_ref| / max |y_ref| against our eager fp32 logits
    calls_per_sample: int = 1
    samples_ms: list[float] = field(default_factory=list)
    skipped: str | None = None

    @property
    def config(self) -> Config:
        return Config(self.model, self.batch, self.backend, self.dtype, self.impl)


@dataclass
class Method:
    """How the figures were measured, and on what."""

    warmup: int
    repeats: int
    min_sample_s: float
    threads: int
    image_sizes: dict[str, int]
    cpu: str
    native_bf16: bool
    versions: dict[str, str]
    weights: str = WEIGHTS_NOTE
    order: str = "round-robin over all configurations of a network, order rotated each round"
    note: str = ""
    load: list[float] = dataclasses.field(default_factory=list)  # 1-minute load average at the start and the end
    cores: int = 0  # cores this process could run on

    def load_line(self) -> str:
        """The load beside the ratios: a busy machine inflates every time, and the ratios hold only because
        the configurations were timed alternately under the same load."""
        if not self.load:
            return ""
        loads = " → ".join(f"{v:.1f}" for v in self.load)
        busy = any(busy_note(self.threads, "bench", load=v, cores=self.cores or CORES) for v in self.load)
        return (
            f"Load average {loads} (start → end) on {self.cores} cores, {self.threads} thread(s): "
            + (
                "busy — other work held cores, so absolute times are inflated; the ratios compare "
                "configurations timed alternately under the same load."
                if busy
                else "quiet enough for this thread count."
            )
        )

    def describe(self) -> str:
        sizes = ", ".join(f"{k} {v}×{v}" for k, v in self.image_sizes.items())
        vers = ", ".join(f"{k} {v}" for k, v in self.versions.items())
        text = (
            f"Method: one call checked against our eager fp32 logits, {self.warmup} warm-up call(s), then "
            f"{self.repeats} timed samples per configuration, "
            f"{self.order}; a sample is k consecutive calls lasting >= {self.min_sample_s * 1e3:g} ms; latency "
            f"= median and p90 per call; images/s = batch / median; ratio = baseline median / median. "
            f"{self.threads} thread(s). CPU: {self.cpu}; native bf16: {'yes' if self.native_bf16 else 'no'}. "
            f"{vers}. Inputs {sizes}; {self.weights}."
        )
        return text + (f" {self.note}" if self.note else "") + (f" {self.load_line()}" if self.load else "")


@dataclass
class BenchResult:
    """The rows of one benchmark run and its method."""

    method: Method
    rows: list[Row]

    def to_dict(self) -> dict[str, Any]:
        return {"method": dataclasses.asdict(self.method), "rows": [dataclasses.asdict(r) for r in self.rows]}

    @classmethod
    def from_dict(cls, obj: Any, origin: str = "benchmark JSON") -> BenchResult:
        """Rebuild a result from :meth:`to_dict`'s output, checking every field's name and kind."""
        if not isinstance(obj, dict) or set(obj) != {"method", "rows"} or not isinstance(obj["rows"], list):
            raise ValueError(f"{origin}: expected an object with 'method' and a list of 'rows'")
        return cls(_checked(Method, obj["method"], origin), [_checked(Row, r, origin) for r in obj["rows"]])


_KINDS: dict[str, tuple[type, ...]] = {
    "int": (int,), "float": (int, float), "str": (str,), "bool": (bool,),
    "float | None": (int, float, type(None)), "str | None": (str, type(None)),
    "list[float]": (list,), "dict[str, int]": (dict,), "dict[str, str]": (dict,),
}  # fmt: skip


def _checked(cls: type, obj: Any, origin: str) -> Any:
    """``cls(**obj)`` after checking that ``obj`` has exactly ``cls``'s fields, each of its declared kind."""
    fields = {f.name: str(f.type) for f in dataclasses.fields(cls)}
    if not isinstance(obj, dict) or not set(obj) <= set(fields):
        extra = sorted(set(obj) - set(fields)) if isinstance(obj, dict) else type(obj).__name__
        raise ValueError(f"{origin}: not a {cls.__name__} record (unexpected: {extra})")
    for name, value in obj.items():
        kinds = _KINDS[fields[name]]
        bad_bool = isinstance(value, bool) and bool not in kinds
        inner = value if isinstance(value, list | dict) else ()
        element = (int, float) if fields[name] == "list[float]" else (int, float, str)
        inner_ok = all(
            isinstance(v, element) and not isinstance(v, bool)
            for v in (inner.values() if isinstance(inner, dict) else inner)
        )
        if not isinstance(value, kinds) or bad_bool or not inner_ok:
            raise ValueError(f"{origin}: {cls.__name__}.{name} has the wrong kind of value: {value!r:.60}")
    return cls(**obj)


# --- the measurement core -----------------------------------------------------------------------------------

Runner = Callable[[], object]


def measure(
    runners: Mapping[Config, Runner],
    *,
    warmup: int,
    repeats: int,
    min_sample_s: float,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[Config, tuple[list[float], int]]:
    """Per configuration: the per-call seconds of each sample and the calls per sample.

    Warm-up and timing both go round-robin over the configurations; timed rounds rotate the order by one.
    """
    keys = list(runners)
    last = dict.fromkeys(keys, 0.0)
    for _ in range(warmup):
        for k in keys:
            start = clock()
            runners[k]()
            last[k] = clock() - start
    calls = {k: max(1, math.ceil(min_sample_s / last[k])) if last[k] > 0 else 1 for k in keys}
    samples: dict[Config, list[float]] = {k: [] for k in keys}
    for r in range(repeats):
        shift = r % len(keys) if keys else 0
        for k in keys[shift:] + keys[:shift]:
            start = clock()
            for _ in range(calls[k]):
                runners[k]()
            samples[k].append((clock() - start) / calls[k])
    return {k: (samples[k], calls[k]) for k in keys}


def _percentile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


# --- the machine ----------------------------------------------------------------------------------------------


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, and the logical CPU count."""
    from convzoo.repro.report import machine

    return f"{machine()['cpu']}, {machine()['cores']} logical CPUs"


def installed(module: str) -> bool:
    """Whether an optional runtime package is importable."""
    return importlib.util.find_spec(module) is not None


def versions() -> dict[str, str]:
    """torch's version and, where installed, ONNX Runtime's and OpenVINO's."""
    out = {"torch": torch.__version__}
    for module in RUNTIMES.values():
        if installed(module):
            out[module] = getattr(importlib.import_module(module), "__version__", "?")
    return out


# --- validation -----------------------------------------------------------------------------------------------


def _check_choices(kind: str, values: Iterable[str], allowed: Sequence[str]) -> tuple[str, ...]:
    values = tuple(values)
    bad = [v for v in values if v not in allowed]
    if bad or not values:
        raise ValueError(f"unknown {kind} {', '.join(map(repr, bad)) or '(none given)'}; choose from "
                         f"{', '.join(allowed)}")  # fmt: skip
    return tuple(dict.fromkeys(values))


def _check_numbers(batch: Iterable[int], **counts: tuple[int | float | None, int]) -> tuple[int, ...]:
    batches = tuple(dict.fromkeys(batch))
    if not batches or any(isinstance(b, bool) or not isinstance(b, int) or b < 1 for b in batches):
        raise ValueError(f"batch sizes must be whole numbers >= 1, got {list(batch)}")
    for name, (value, minimum) in counts.items():
        if value is not None and (isinstance(value, bool) or value < minimum):
            raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return batches


def peer_of(name: str, against: str) -> tuple[str, str, dict[str, Any]] | None:
    """(peer library, peer model name, our create_model overrides for that network) or None for our own.

    ``against``: "auto" (torchvision, else timm, else none), "none", or a peer that must have the network.
    """
    from convzoo.hub.sources import weight_sources

    if against == "none":
        return None
    found = {s.source: s for s in weight_sources(name)}
    for source in PEERS if against == "auto" else (against,):
        if source in found:
            return source, found[source].peer_name, dict(found[source].config)
    if against == "auto":
        return None
    has = ", ".join(sorted(found)) or "no peer"
    raise ValueError(f"--against {against}: {against} has no {name} (mapped peers of {name}: {has}); "
                     "use --against auto to fall back to our own eager fp32")  # fmt: skip


# --- preparing configurations ---------------------------------------------------------------------------------


def _skip_reason(cfg: Config) -> str | None:
    if cfg.dtype != "fp32":
        native, why = native_low_precision(cfg.dtype)
        if not native:
            return why
    if cfg.backend == "onnxruntime" and cfg.dtype != "fp32":
        return "ONNX Runtime runs the exported fp32 graph (its CPU provider has no bf16/fp16 convolutions)"
    if cfg.backend in RUNTIMES and not installed(RUNTIMES[cfg.backend]):
        return f"{RUNTIMES[cfg.backend]} is not installed (pip install 'convzoo[deploy]')"
    return None


@dataclass
class _Network:
    """One network's models and inputs: ours (eager fp32, the reference), the peer's, the exported file."""

    name: str
    model: nn.Module
    peer: nn.Module | None
    peer_label: str
    inputs: dict[int, torch.Tensor]
    workdir: Path
    onnx: Path | None = None


def _randomize_bn(model: nn.Module, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.running_mean is not None:
            m.running_mean.copy_(torch.rand(m.running_mean.shape, generator=gen) - 0.5)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=gen) + 0.5)


def _build_peer(source: str, peer_name: str) -> nn.Module:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torchvision's inception init_weights notice
        if source == "torchvision":
            import torchvision

            return torchvision.models.get_model(peer_name, weights=None)
        import timm

        return timm.create_model(peer_name, pretrained=False)


def _network(
    name: str, batches: Sequence[int], against: str, image_size: int | None, workdir: Path
) -> _Network:
    from convzoo.hub import load_weights
    from convzoo.registry import create_model, model_info

    peer_spec = peer_of(name, against)
    torch.manual_seed(0)
    model = create_model(name, **(peer_spec[2] if peer_spec else {})).eval()
    peer, label = None, f"convzoo {name} eager fp32"
    if peer_spec:
        source, peer_name, config = peer_spec
        peer = _build_peer(source, peer_name).eval()
        _randomize_bn(peer, 0)
        load_weights(model, source, state_dict=peer.state_dict())
        label = f"{source} {peer_name} eager fp32"
        if config:  # the peer's configuration of the network, e.g. ResNet-50 v1.5
            label += (
                f" (ours built as its configuration: {', '.join(f'{k}={v!r}' for k, v in config.items())})"
            )
    else:
        _randomize_bn(model, 0)
    chans, size = model_info(name).input_size[0], image_size or model_info(name).input_size[1]
    gen = torch.Generator().manual_seed(1)
    inputs = {b: torch.randn(b, chans, size, size, generator=gen) for b in batches}
    return _Network(name, model, peer, label, inputs, workdir)


def _as_tensor(out: object) -> torch.Tensor:
    if isinstance(out, torch.Tensor):
        return out.float()
    if isinstance(out, tuple | list) and out and isinstance(out[0], torch.Tensor):
        return out[0].float()  # a peer that returns (logits, aux) in eval mode
    raise TypeError(f"a configuration returned {type(out).__name__}, not a tensor of logits")


def _prepare(net: _Network, cfg: Config, threads: int) -> Runner:
    """The configuration's model on its input, as a call with no arguments."""
    x = net.inputs[cfg.batch]
    if cfg.impl != "convzoo":
        assert net.peer is not None
        return _inference(net.peer, x)
    if cfg.backend == "eager":
        model = net.model if cfg.dtype == "fp32" else copy.deepcopy(net.model).to(TORCH_DTYPES[cfg.dtype])
        return _inference(model, x, TORCH_DTYPES[cfg.dtype])
    if cfg.backend in ("folded", "compile"):
        backend = "eager" if cfg.backend == "folded" else "compile"
        return _inference(optimize(net.model, dtype=cfg.dtype, backend=backend, example=x), x)
    return _runtime(net, cfg, x, threads)


def _runtime(net: _Network, cfg: Config, x: torch.Tensor, threads: int) -> Runner:
    from convzoo.deploy import runtimes

    if net.onnx is None:
        net.onnx = net.workdir / f"{net.name}.onnx"
        runtimes.to_onnx(net.model, net.onnx, net.inputs[min(net.inputs)], dynamic_batch=True)
    if cfg.backend == "onnxruntime":
        run: Callable[[torch.Tensor], torch.Tensor] = runtimes.OnnxRuntimeRunner(net.onnx, threads)
    else:
        run = runtimes.OpenVinoRunner(net.onnx, threads, precision=OPENVINO_PRECISION[cfg.dtype])
    return lambda: run(x)


def _inference(model: nn.Module, x: torch.Tensor, dtype: torch.dtype = torch.float32) -> Runner:
    def call() -> object:
        with torch.inference_mode():
            return model(x.to(dtype))

    return call


def _rel_diff(out: object, ref: torch.Tensor) -> float:
    y = _as_tensor(out)
    if y.shape != ref.shape:
        raise ValueError(f"output shape {tuple(y.shape)} differs from eager fp32's {tuple(ref.shape)}")
    return float((y - ref).abs().max() / ref.abs().max().clamp_min(1e-12))


# --- the run ----------------------------------------------------------------------------------------------------


def _configs(name: str, batches: Sequence[int], backends: Sequence[str], dtypes: Sequence[str],
             peer: str | None) -> list[Config]:  # fmt: skip
    """Baselines first (the peer's eager fp32, our eager fp32), then every requested combination."""
    out = []
    for b in batches:
        if peer:
            out.append(Config(name, b, "eager", "fp32", peer))
        out.append(Config(name, b, "eager", "fp32"))
        out += [Config(name, b, be, dt) for be in backends for dt in dtypes if (be, dt) != ("eager", "fp32")]
    return out


def _bench_network(
    net: _Network, configs: Sequence[Config], threads: int, timing: dict[str, Any]
) -> list[Row]:
    rows = {c: Row(c.model, c.batch, c.backend, c.dtype, c.impl, skipped=_skip_reason(c)) for c in configs}
    runners: dict[Config, Runner] = {}
    refs: dict[int, torch.Tensor] = {}  # our eager fp32 logits per batch size
    for c, row in rows.items():
        if row.skipped is None:
            runners[c] = _prepare(net, c, threads)
            if c.batch not in refs:
                with torch.inference_mode():
                    refs[c.batch] = _as_tensor(net.model(net.inputs[c.batch]))
            row.max_rel_diff = _rel_diff(runners[c](), refs[c.batch])
    for c, (samples, calls) in measure(runners, **timing).items():
        row = rows[c]
        row.samples_ms = [s * 1e3 for s in samples]
        row.calls_per_sample = calls
        row.median_ms = statistics.median(row.samples_ms)
        row.p90_ms = _percentile(row.samples_ms, 0.9)
        row.images_per_s = c.batch / (row.median_ms / 1e3)
    _fill_ratios(list(rows.values()), net.peer_label, net.peer is not None)
    return list(rows.values())


def _fill_ratios(rows: list[Row], label: str, has_peer: bool) -> None:
    for row in rows:
        base = next(
            (r for r in rows if r.batch == row.batch and r.backend == "eager" and r.dtype == "fp32"
             and (r.impl != "convzoo") == has_peer), None,
        )  # fmt: skip
        reason = "" if has_peer else f" (no peer mapped for {row.model})"
        row.baseline = f"{label}{reason}"
        if base is not None and base.median_ms and row.median_ms:
            row.ratio = base.median_ms / row.median_ms


def bench(
    names: str | Sequence[str],
    *,
    batch: Iterable[int] = (1,),
    dtype: Iterable[str] = ("fp32",),
    backend: Iterable[str] = ("eager",),
    against: str = "auto",
    threads: int | None = None,
    image_size: int | None = None,
    repeats: int = 10,
    warmup: int = 3,
    min_sample_s: float = 0.02,
    clock: Callable[[], float] = time.perf_counter,
    progress: Callable[[str], None] | None = None,
) -> BenchResult:
    """Time every (network, batch, backend, dtype) against the peer's eager fp32 model of the same network.

    ``against``: "auto" (the peer that has the network, torchvision first; else our own eager fp32, said so in
    each row's ``baseline``), "none", "torchvision" or "timm" (an error if it lacks a network). Configurations
    that cannot run here come back with ``skipped`` set to the reason. See the module docstring for the method.
    """
    from convzoo.registry import model_info

    names = [names] if isinstance(names, str) else list(dict.fromkeys(names))
    if not names:
        raise ValueError("name at least one model to benchmark")
    backends = _check_choices("backend", backend, BACKENDS)
    dtypes = _check_choices("dtype", dtype, DTYPES)
    (against,) = _check_choices("--against value", (against,), AGAINST)
    batches = _check_numbers(batch, threads=(threads, 1), image_size=(image_size, 8), repeats=(repeats, 1),
                             warmup=(warmup, 0))  # fmt: skip
    peers = {n: peer_of(n, against) for n in names}  # unknown names and missing peers fail before any work
    sizes = {n: image_size or model_info(n).input_size[1] for n in names}
    threads = threads or torch.get_num_threads()
    timing = {"warmup": warmup, "repeats": repeats, "min_sample_s": min_sample_s, "clock": clock}
    start = load_average()
    note = busy_note(threads, "bench", load=start) if note_wanted() else None  # the load is recorded anyway
    if note and progress:
        progress(note)
    method = Method(
        warmup,
        repeats,
        min_sample_s,
        threads,
        sizes,
        cpu_model(),
        native_low_precision("bf16")[0],
        versions(),
        load=[] if start is None else [round(start, 2)],
        cores=CORES,
    )
    rows: list[Row] = []
    saved = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with tempfile.TemporaryDirectory(prefix="convzoo-bench-") as tmp:
            for n in names:
                if progress:
                    progress(f"{n}: preparing")
                net = _network(n, batches, against, image_size, Path(tmp))
                peer = peers[n][0] if peers[n] else None
                rows += _bench_network(net, _configs(n, batches, backends, dtypes, peer), threads, timing)
                del net
    finally:
        torch.set_num_threads(saved)
    end = load_average()
    if method.load and end is not None:
        method.load.append(round(end, 2))
    return BenchResult(method, rows)


# --- formatting -----------------------------------------------------------------------------------------------

COLUMNS = (
    "model",
    "batch",
    "runs",
    "backend",
    "dtype",
    "median ms",
    "p90 ms",
    "images/s",
    "ratio",
    "max rel diff",
)


def _cells(row: Row, notes: dict[str, int]) -> tuple[str, ...]:
    def num(v: float | None, fmt: str) -> str:
        return "-" if v is None else format(v, fmt)

    if row.skipped:
        figures: tuple[str, ...] = (
            f"skipped [{notes.setdefault(row.skipped, len(notes) + 1)}]",
            "",
            "",
            "",
            "",
        )
    else:
        ratio = "-" if row.ratio is None else f"{row.ratio:.2f}×"
        figures = (num(row.median_ms, ".2f"), num(row.p90_ms, ".2f"), num(row.images_per_s, ".1f"), ratio,
                   num(row.max_rel_diff, ".1e"))  # fmt: skip
    return (row.model, str(row.batch), row.impl, row.backend, row.dtype, *figures)


def format_result(result: BenchResult, fmt: str = "table") -> str:
    """The rows as an aligned table, a Markdown table or JSON, with the method and each network's baseline."""
    import json

    if fmt == "json":
        return json.dumps(result.to_dict(), indent=1)
    if fmt not in ("table", "markdown"):
        raise ValueError(f"unknown format {fmt!r}; choose from table, markdown, json")
    notes: dict[str, int] = {}
    rows = [COLUMNS, *(_cells(r, notes) for r in result.rows)]
    if fmt == "markdown":
        rows.insert(1, tuple("---" for _ in COLUMNS))
        lines = ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
    else:
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        lines = ["  ".join([*(c.ljust(w) for c, w in zip(r[:5], widths, strict=True)), *(c.rjust(12) for c in r[5:])])
                 .rstrip() for r in rows]  # fmt: skip
    skipped = [f"[{n}] skipped: {reason}" for reason, n in notes.items()]
    load = [result.method.load_line(), ""] if result.method.load else []
    method = result.method.describe().removesuffix(f" {result.method.load_line()}")
    return "\n".join([*lines, "", *load, *skipped, *_baselines(result.rows), method])


def _baselines(rows: Sequence[Row]) -> list[str]:
    seen = dict.fromkeys(f"{r.model}: ratios against {r.baseline}" for r in rows)
    return [*seen, ""]
