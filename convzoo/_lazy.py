"""Packages whose public names are imported on first use, so ``import convzoo`` and ``convzoo --help`` do not
pay for torch (DESIGN §8, Floors).

A package lists ``name → module that defines it`` and calls :func:`lazy_exports`; ``from convzoo import
create_model`` then imports :mod:`convzoo.registry` at that moment. Where an exported name is also the name of
a submodule (``convzoo.inspect.summary`` the function and ``convzoo/inspect/summary.py``), the export wins, as
it did when the package imported it eagerly: importing the submodule does not rebind the package's name.
"""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Mapping
from typing import Any

__all__ = ["deferred_module", "lazy_exports"]


class _LazyPackage(types.ModuleType):
    _lazy: dict[str, str]

    def __getattr__(self, name: str) -> Any:  # only called for names not yet set
        where = self.__dict__.get("_lazy", {}).get(name)
        if where is None:
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(where), name)
        self.__dict__[name] = value
        return value

    def __setattr__(self, name: str, value: Any) -> None:
        if (
            isinstance(value, types.ModuleType)
            and name in self.__dict__.get("_lazy", {})
            and value.__name__ == f"{self.__name__}.{name}"
        ):
            return  # the import system binding a submodule whose name the package exports as something else
        super().__setattr__(name, value)

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self.__dict__.get("_lazy", {})))


def lazy_exports(package: str, exports: Mapping[str, str]) -> None:
    """Make ``package`` (its ``__name__``) export each name of ``exports`` from the module it maps to, imported
    on first access."""
    module = sys.modules[package]
    module.__class__ = _LazyPackage
    module.__dict__["_lazy"] = dict(exports)


class _Deferred(types.ModuleType):
    """A stand-in for a module, imported at its first attribute access (then it forwards every access)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(importlib.import_module(self.__name__), name)


def deferred_module(name: str) -> Any:
    """``torch = deferred_module("torch")``: a module that code at its top may name, imported only when a
    function first uses it, for modules whose declarations commands read without running them (``repro list``
    lists the analytic claims)."""
    return _Deferred(name)
