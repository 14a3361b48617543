"""argparse types for convzoo's options: numbers within limits, lists of them, and output paths.

Every numeric option of every command is parsed by one of these or validated by the trainer's own table
(``tests/test_trust_options.py`` scans the parsers), so an absurd value — a batch of 100,000, 100,000 threads,
a 200,000-pixel scale — is refused while the arguments are read, in one style, with exit status 2::

    convzoo bench: error: argument --batch: 100000 is over the limit 4096 (...)

Paths are checked the same way: ``-o`` must name a file in a folder that exists, ``--out`` a folder (or a
place for one). The limits are listed in docs/reliability.md ("Options and limits"). Nothing heavy is
imported here, so ``--help`` stays instant.
"""

from __future__ import annotations

import argparse
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "CORES",
    "MAX_BATCH",
    "MAX_CHANNELS",
    "MAX_CLASSES",
    "MAX_SIDE",
    "MAX_THREADS",
    "MAX_TRAIN_BATCH",
    "MAX_WORKERS",
    "WEIGHTS_HELP",
    "Number",
    "Whole",
    "WholeList",
    "at_most",
    "input_size",
    "output_file",
    "output_folder",
    "weights_source",
    "whole_number",
]


def _cores() -> int:
    """CPU cores this process may run on (its affinity, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


CORES = _cores()
MAX_THREADS = min(1024, max(8, 4 * CORES))
MAX_WORKERS = min(256, max(8, 4 * CORES))
MAX_SIDE = 4096
MAX_CHANNELS = 4096
MAX_BATCH = 4096  # one device, one step (bench)
MAX_TRAIN_BATCH = (
    65_536  # global, split across processes: the largest published ImageNet batch (Jia et al. 2018)
)
MAX_CLASSES = 100_000
THREADS_WHY = f"4 × this machine's {CORES} cores, at least 8; libgomp runs out of memory far above it"
WORKERS_WHY = f"4 × this machine's {CORES} cores, at least 8, at most 256 processes"
SIDE_WHY = "pixels; one 4096×4096 RGB image is 200 MB as float32"
CLASSES_WHY = "a 2048-feature classifier over 100,000 classes already holds 205 M parameters"

_WHOLE = re.compile(r"[+-]?\d+")
_MAX_DIGITS = 18  # longer is over every limit here, and int() of 5,000 digits raises


def _shown(text: str) -> str:
    """``text`` as an error message quotes it: at most 24 characters."""
    text = text.strip()
    return text if len(text) <= 24 else f"{text[:20]}… ({len(text)} characters)"


def _over(text: str, high: float, why: str) -> argparse.ArgumentTypeError:
    return argparse.ArgumentTypeError(
        f"{_shown(text)} is over the limit {high:g}{f' ({why})' if why else ''}"
    )


@dataclass(frozen=True)
class Whole:
    """An argparse ``type``: a whole number >= ``low`` and, if ``high`` is set, <= ``high``.

    ``why`` says where ``high`` comes from; the message names the value and the limit. ``low`` None: the
    command checks the lower end itself (and names the option in its own words).
    """

    low: int | None
    high: int | None = None
    why: str = ""

    def __call__(self, text: str) -> int:
        t = text.strip()
        at_least = "" if self.low is None else f" >= {self.low}"
        if not _WHOLE.fullmatch(t):
            raise argparse.ArgumentTypeError(f"must be a whole number{at_least}, got {_shown(text)!r}")
        if self.high is not None and len(t.lstrip("+-")) > _MAX_DIGITS:
            if t.startswith("-"):
                raise argparse.ArgumentTypeError(f"{_shown(t)} has more than {_MAX_DIGITS} digits")
            raise _over(t, self.high, self.why)
        value = int(t)
        if self.low is not None and value < self.low:
            raise argparse.ArgumentTypeError(f"must be a whole number{at_least}, got {text!r}")
        if self.high is not None and value > self.high:
            raise _over(t, self.high, self.why)
        return value


def whole_number(minimum: int, maximum: int | None = None, why: str = "") -> Whole:
    """An argparse ``type``: a whole number >= ``minimum`` (<= ``maximum``); argparse names the option, exit 2."""
    return Whole(minimum, maximum, why)


def at_most(maximum: int, why: str = "") -> Whole:
    """An argparse ``type``: a whole number <= ``maximum``; the command checks the lower end in its own words."""
    return Whole(None, maximum, why)


@dataclass(frozen=True)
class Number:
    """An argparse ``type``: a finite number in [``low``, ``high``] (``low_open``: above ``low``)."""

    low: float
    high: float
    low_open: bool = False
    why: str = ""

    def __call__(self, text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        below = value <= self.low if self.low_open else value < self.low
        if not math.isfinite(value) or below:
            sign = ">" if self.low_open else ">="
            raise argparse.ArgumentTypeError(
                f"must be a finite number {sign} {self.low:g}, got {_shown(text)!r}"
            )
        if value > self.high:
            raise _over(text, self.high, self.why)
        return value


@dataclass(frozen=True)
class WholeList:
    """An argparse ``type``: comma-separated whole numbers, each an ``item``, at most ``most`` of them.

    Returns the distinct values in order, or (``as_text``) the same written back as ``"a,b,c"``.
    """

    item: Whole
    most: int
    as_text: bool = False

    @property
    def high(self) -> int | None:
        return self.item.high

    def __call__(self, text: str) -> list[int] | str:
        parts = [p for p in text.split(",") if p.strip()]
        if not parts:
            raise argparse.ArgumentTypeError(f"must be whole numbers separated by commas, got {text!r}")
        if len(parts) > self.most:
            raise argparse.ArgumentTypeError(f"{len(parts)} values are over the limit {self.most}")
        values, bad = [], []
        for part in parts:
            try:
                values.append(self.item(part))
            except argparse.ArgumentTypeError as e:
                bad.append((part.strip(), e))
        if len(bad) > 1:
            raise argparse.ArgumentTypeError(f"{', '.join(repr(p) for p, _ in bad)} refused: {bad[0][1]}")
        if bad:
            raise bad[0][1]
        values = list(dict.fromkeys(values))
        return ",".join(map(str, values)) if self.as_text else values


@dataclass(frozen=True)
class _InputSize:
    """An argparse ``type`` for ``--input CxHxW``: channels up to :data:`MAX_CHANNELS`, sides up to
    :data:`MAX_SIDE`. Returns the text unchanged; the command reads it (and words its other mistakes)."""

    high: int = MAX_SIDE

    def __call__(self, text: str) -> str:
        dims = [p.strip() for p in text.lower().replace("×", "x").replace(",", "x").split("x") if p.strip()]
        names = ("channels", "height", "width")[-len(dims) :] if len(dims) > 1 else ("side",)
        for name, d in zip(names, dims, strict=False):
            high = MAX_CHANNELS if name == "channels" else MAX_SIDE
            if _WHOLE.fullmatch(d) and (len(d.lstrip("+")) > _MAX_DIGITS or int(d) > high):
                raise _over(text, high, f"{name} at most {high}")
        return text


input_size = _InputSize()


def output_file(text: str) -> str:
    """An argparse ``type`` for ``-o FILE``: not a folder. (A missing folder is the writer's to name, with
    the file: :func:`convzoo.trust_write.check_target`, which the commands call before their work.)"""
    path = Path(text)
    if not text or path.is_dir():
        raise argparse.ArgumentTypeError(
            f"{text or repr(text)} is a folder; give a file name, e.g. {path / 'out'}"
        )
    return text


def output_folder(text: str) -> str:
    """An argparse ``type`` for ``--out FOLDER``: a folder, or a place where one can be made (no file in the way)."""
    path = Path(text)
    for place in (path, *path.parents):
        if place.exists() or place.is_symlink():
            if not place.is_dir():
                what = "is a file" if place == path else f"is inside {place}, which is a file"
                raise argparse.ArgumentTypeError(f"{text} {what}, not a folder; give a folder")
            break
    return text


WEIGHT_PROVIDERS = ("torchvision", "timm")
_SOURCE_NAME = re.compile(r"(torchvision|timm)(\.[A-Za-z0-9_]{1,64})?")
WEIGHTS_HELP = (
    "a peer's pretrained ImageNet weights: torchvision or timm (what their pretrained=True loads), or a named "
    "source such as torchvision.v2 or timm.ra_in1k (`convzoo list NAME --weights` lists them)"
)


def key_value(text: str) -> tuple[str, object]:
    """An argparse ``type`` for ``KEY=VALUE`` options: the value as JSON where it parses (``true``, ``224``,
    ``[100,150]``), else as the text itself."""
    import json

    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def add_model_args(p: argparse.ArgumentParser | argparse._ArgumentGroup, example: str) -> None:
    """``--model-arg KEY=VALUE`` (repeatable): a model override; ``example`` shows one for the command."""
    p.add_argument(
        "--model-arg", type=key_value, action="append", default=[], metavar="KEY=VALUE",
        help=f"model override, e.g. {example} (repeatable; `convzoo info NAME` lists them)",
    )  # fmt: skip


def add_weights_args(p: argparse.ArgumentParser, what: str, file: str = "") -> None:
    """``--weights SOURCE`` and ``--weights-file FILE``, the same in every command; ``what`` says what the
    weights do in this one, ``file`` what the local file stands for (default: a copy of the download)."""
    p.add_argument("--weights", type=weights_source, metavar="SOURCE", help=f"{WEIGHTS_HELP}; {what}")
    p.add_argument(
        "--weights-file", metavar="FILE",
        help=f"with --weights: {file or 'a local copy of the weights instead of the download'}; its content "
        "decides whose weights they are (a V2 file named as torchvision is used as torchvision.v2)",
    )  # fmt: skip


def weights_source(text: str) -> str:
    """An argparse ``type`` for ``--weights``: a provider, or a provider's named source (``torchvision.v2``).
    Whether the model has that source is the command's to say (with the sources it has)."""
    if not _SOURCE_NAME.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"{_shown(text)} is not a weights source: give torchvision or timm, or one of the sources "
            "`convzoo list NAME --weights` shows (e.g. torchvision.v2)"
        )
    return text
