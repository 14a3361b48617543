"""Reproductions: the papers' claims as data, re-run on this machine, with a verdict and a report.

``convzoo repro list | run CLAIM | report CLAIM | docs``; in Python :func:`run_claim`, :func:`get_claim`,
:func:`claims`.
"""

from convzoo.repro.registry import claims, get_claim
from convzoo.repro.runner import run_claim
from convzoo.repro.spec import Arm, Budget, Check, Claim, PaperFigure

__all__ = ["Arm", "Budget", "Check", "Claim", "PaperFigure", "claims", "get_claim", "run_claim"]
