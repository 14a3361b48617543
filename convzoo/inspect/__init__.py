"""Inspection: layer tables, multiply-adds, receptive fields, the output-volume formula, paper check."""

from convzoo.inspect.output_size import ShapeError, output_size
from convzoo.inspect.summary import LayerRow, Summary, parse_input_size, summary

__all__ = ["LayerRow", "ShapeError", "Summary", "output_size", "parse_input_size", "summary"]
