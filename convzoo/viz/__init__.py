"""Pictures: block diagrams (Graphviz), the big-picture charts (matplotlib), what the filters see."""

from typing import TYPE_CHECKING

from convzoo._lazy import lazy_exports

if TYPE_CHECKING:
    from convzoo.viz.draw import Diagram, draw

lazy_exports(
    __name__,
    {
        "Diagram": "convzoo.viz.draw",
        "draw": "convzoo.viz.draw",
    },
)

__all__ = ["Diagram", "draw"]
