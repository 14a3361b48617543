"""Analytic claims: exact figures computed from the models themselves with the inspector (on meta)."""

from __future__ import annotations

from convzoo.repro.spec import Claim

__all__ = ["ANALYTIC_CLAIMS"]

ANALYTIC_CLAIMS: tuple[Claim, ...] = ()
