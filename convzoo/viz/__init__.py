"""Pictures: block diagrams (Graphviz), the big-picture charts (matplotlib), what the filters see."""

from convzoo.viz.draw import Diagram, draw

__all__ = ["Diagram", "draw"]
