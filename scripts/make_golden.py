"""Regenerate tests/golden_counts.json: exact parameter and MAC counts of every model at its paper's input.

Run deliberately (`python scripts/make_golden.py`) after changing an architecture, and review the diff.
"""

from __future__ import annotations

import json
from pathlib import Path

import convzoo
from convzoo.trust_write import write_file


def main() -> None:
    out = {}
    for name in convzoo.list_models():
        s = convzoo.summary(name)
        out[name] = {"params": s.total_params, "macs": s.total_macs, "input_size": list(s.input_size)}
    path = Path(__file__).resolve().parent.parent / "tests" / "golden_counts.json"
    write_file(path, json.dumps(out, indent=1, sort_keys=True) + "\n", owned=True)  # the tests' golden file
    print(f"wrote {len(out)} models to {path}")


if __name__ == "__main__":
    main()
