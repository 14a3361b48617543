"""Regenerate the model table in README.md from the registry (tests/test_readme.py checks it is current).

    python scripts/update_readme.py
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import convzoo
from convzoo.inspect.summary import human
from convzoo.registry import Reported
from convzoo.trust_write import write_file

ROOT = Path(__file__).resolve().parent.parent
START, END = "<!-- models:start -->", "<!-- models:end -->"


def paper_figures(rep: Reported) -> str:
    """The paper's figures with their source; peers' counts are parity checks, not listed as the paper's."""
    main = ", ".join(f"{k} {v}" for k, v in rep.as_dict().items() if k not in ("source", "figures"))
    parts = [f"{main} ({rep.source})" if main and rep.source else main]
    parts += [f"{f.figure} {f.value} ({f.source})" for f in rep.figures if not f.peer]
    return "; ".join(p for p in parts if p) or "-"


def model_table() -> str:
    golden = json.loads((ROOT / "tests" / "golden_counts.json").read_text())
    lines = ["| Model | Paper | Input | Params | MACs | Paper reports (source) |", "|---|---|---|---:|---:|---|"]
    for name in convzoo.list_models():
        info = convzoo.model_info(name)
        g = golden[name]
        first_author = info.paper.authors.split(",")[0].split(" and ")[0].strip()
        lines.append(
            f"| `{name}` | {first_author} {info.paper.year} | {'×'.join(map(str, info.input_size))} "
            f"| {human(g['params'])} | {human(g['macs'])} | {paper_figures(info.reported).replace('|', '/')} |"
        )
    return "\n".join(lines)


def updated(text: str) -> str:
    pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        raise SystemExit(f"README.md has no {START} ... {END} block")
    return pattern.sub(lambda _: f"{START}\n{model_table()}\n{END}", text)


def main() -> None:
    path = ROOT / "README.md"
    write_file(path, updated(path.read_text()), owned=True)
    print(f"updated the model table in {path}")


if __name__ == "__main__":
    main()
