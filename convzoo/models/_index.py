"""Write ``convzoo/models/index.json``: every model's registry entry and weights, read by ``convzoo list`` and
``info`` without importing torch (:func:`convzoo.registry.model_meta`).

    python -m convzoo.models._index          # after changing a family, the registry or the weight sources
    python -m convzoo.models._index --check  # exit 1 where the index is not current

The index is used only while the files it was written from are unchanged (their fingerprint is in it);
otherwise the commands import the families, as they did before it existed.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from convzoo.hub.sources import weight_sources
from convzoo.registry import _REGISTRY, INDEX_PATH, _ensure_loaded, index_fingerprint, model_info
from convzoo.trust_write import write_file

__all__ = ["build_index", "index_text"]


def build_index() -> dict[str, Any]:
    """The index as the families declare it now."""
    _ensure_loaded()  # imports the families
    models = {}
    for name in sorted(_REGISTRY):
        weights = [w.to_dict() for w in weight_sources(name) if w.url]
        models[name] = {**model_info(name).to_dict(), "weights": weights}
    return {"fingerprint": index_fingerprint(), "models": models}


def index_text() -> str:
    return json.dumps(build_index(), indent=1, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m convzoo.models._index", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 where the index is not current")
    args = parser.parse_args(argv)
    text = index_text()
    current = INDEX_PATH.read_text(encoding="utf-8") if INDEX_PATH.exists() else ""
    if args.check:
        if current != text:
            print(f"{INDEX_PATH} is not current: run python -m convzoo.models._index", file=sys.stderr)
            return 1
        return 0
    if current != text:
        write_file(INDEX_PATH, text, owned=True)  # the package's own generated file
        print(f"wrote {INDEX_PATH} ({len(text):,} bytes)")
    else:
        print(f"{INDEX_PATH} is current")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
