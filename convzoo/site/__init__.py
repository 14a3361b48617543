"""The zoo as a website: ``convzoo site -o DIR`` (MkDocs + Material), one page per registered network.

Importing this package is cheap (the CLI registers ``site`` at start-up); the build and its heavy imports
live in :mod:`convzoo.site.build`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["build_site"]


def build_site(*args: Any, **kwargs: Any) -> Any:
    """:func:`convzoo.site.build.build_site`: build the site into a folder; returns a ``SiteReport``."""
    from convzoo.site.build import build_site as _build_site

    return _build_site(*args, **kwargs)
