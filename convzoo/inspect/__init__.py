"""Inspection: layer tables, multiply-adds, receptive fields, the output-volume formula, paper check."""

from typing import TYPE_CHECKING

from convzoo._lazy import lazy_exports

if TYPE_CHECKING:
    from convzoo.inspect.output_size import ShapeError, output_size
    from convzoo.inspect.summary import LayerRow, Summary, parse_input_size, summary

lazy_exports(
    __name__,
    {
        "ShapeError": "convzoo.inspect.output_size",
        "output_size": "convzoo.inspect.output_size",
        "LayerRow": "convzoo.inspect.summary",
        "Summary": "convzoo.inspect.summary",
        "parse_input_size": "convzoo.inspect.summary",
        "summary": "convzoo.inspect.summary",
    },
)

__all__ = ["LayerRow", "ShapeError", "Summary", "output_size", "parse_input_size", "summary"]
