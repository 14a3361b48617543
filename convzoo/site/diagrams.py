"""The site's diagrams: ``convzoo draw``'s SVGs, cached by the content of what Graphviz is asked to draw.

A diagram is captured from the model (:func:`convzoo.viz.draw.draw`, cheap: one meta-device forward pass);
only Graphviz's layout is slow, so its SVG is kept under ``<cache>/<sha256 of dot's version and the DOT
text>.svg`` and reused while the model, the drawing code and Graphviz are unchanged. Layouts that are not
cached run in parallel, one ``dot`` process per core.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from convzoo.site.write import write_file

MAX_SVG_BYTES = 32 << 20
_SIZE = re.compile(rb'<svg\s+width="([0-9.]+)pt"\s+height="([0-9.]+)pt"')


@dataclass(frozen=True)
class SiteDiagram:
    """One model's drawing: the SVG bytes and its natural size in CSS pixels (Graphviz writes points)."""

    name: str
    svg: bytes
    width_px: float
    height_px: float
    boxes: int
    cached: bool


def dot_version() -> str | None:
    """``dot -V``'s line, or None when Graphviz is not installed."""
    exe = shutil.which("dot")
    if exe is None:
        return None
    done = subprocess.run([exe, "-V"], capture_output=True, text=True, timeout=60)
    return (done.stderr or done.stdout).strip() or "dot"


def _size(svg: bytes) -> tuple[float, float]:
    m = _SIZE.search(svg[:4096])
    if not m:
        return 0.0, 0.0
    return float(m.group(1)) * 4 / 3, float(m.group(2)) * 4 / 3


def _cached(path: Path) -> bytes | None:
    """A cache entry, if it is a plain SVG file of sane size (anything else is drawn again)."""
    if path.is_symlink() or not path.is_file() or path.stat().st_size > MAX_SVG_BYTES:
        return None
    data = path.read_bytes()
    return data if b"<svg" in data[:4096] and data.rstrip().endswith(b"</svg>") else None


def _render(diagram: object, cache_file: Path) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "diagram.svg"
        diagram.render(out)  # type: ignore[attr-defined]
        data = out.read_bytes()
    write_file(cache_file, data, owned=True)  # the cache is convzoo's: an unreadable entry is drawn again
    return data


def draw_all(names: list[str], cache: Path, jobs: int | None = None) -> dict[str, SiteDiagram]:
    """The diagram of every model in ``names`` (empty when Graphviz is missing), from the cache or drawn."""
    from convzoo.viz.draw import draw

    version = dot_version()
    if version is None:
        return {}
    captured = {}
    for name in names:
        d = draw(name)
        key = hashlib.sha256(f"{version}\n{d.source}".encode()).hexdigest()
        captured[name] = (d, cache / f"{key}.svg")
    found = {name: _cached(path) for name, (_, path) in captured.items()}
    missing = [name for name, data in found.items() if data is None]
    workers = max(1, min(len(missing), jobs or os.cpu_count() or 1))
    if missing:
        with ThreadPoolExecutor(workers) as pool:
            drawn = dict(zip(missing, pool.map(lambda n: _render(*captured[n]), missing), strict=True))
    else:
        drawn = {}
    out = {}
    for name in names:
        svg = found[name] if found[name] is not None else drawn[name]
        w, h = _size(svg)  # type: ignore[arg-type]
        out[name] = SiteDiagram(name, svg, w, h, len(captured[name][0].nodes), found[name] is not None)  # type: ignore[arg-type]
    return out
