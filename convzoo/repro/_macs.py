"""Write ``convzoo/repro/macs.json``: every claim's arms' multiply-adds and parameters at every budget's image
size, read by ``repro list`` and the estimates without building a network.

    python -m convzoo.repro._macs          # after changing a family, a layer, the registry or the inspector
    python -m convzoo.repro._macs --check  # exit 1 where the file is not current

The file is used only while the code it was counted with is unchanged (its fingerprint is in it); otherwise
the estimates count afresh, as they did before it existed.
"""

from __future__ import annotations

import json
import sys

from convzoo.registry import index_fingerprint
from convzoo.repro.estimate import MACS_PATH, MACS_SOURCES, fresh_counts, plan
from convzoo.repro.registry import claims
from convzoo.trust_write import write_file

__all__ = ["macs_text"]


def _plan_everything() -> None:
    for c in claims():
        for name, b in c.budgets.items():
            if c.kind == "trained" and name not in c.unavailable:
                plan(c, b)


def macs_text() -> str:
    """``macs.json`` as the code counts today."""
    counts = {k: list(v) for k, v in sorted(fresh_counts(_plan_everything).items())}
    return json.dumps({"fingerprint": index_fingerprint(MACS_SOURCES), "macs": counts}, indent=1) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    text = macs_text()
    current = MACS_PATH.read_text(encoding="utf-8") if MACS_PATH.exists() else ""
    if current == text:
        print(f"{MACS_PATH} is current")
        return 0
    if "--check" in args:
        print(f"{MACS_PATH} is not current: run python -m convzoo.repro._macs", file=sys.stderr)
        return 1
    write_file(MACS_PATH, text, owned=True)  # the package's own generated file
    print(f"wrote {MACS_PATH} ({len(text):,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
