"""The layer table's column names, readable without torch (``convzoo summary --columns`` checks them when
parsing); :data:`convzoo.inspect.summary.COLUMNS` formats each, in this order."""

from __future__ import annotations

__all__ = ["COLUMN_NAMES", "DEFAULT_COLUMNS"]

COLUMN_NAMES = ("input", "output", "kernel", "stride", "padding", "params", "params_percent", "macs", "other_ops", "rf")
DEFAULT_COLUMNS = ("output", "params", "macs", "rf")
