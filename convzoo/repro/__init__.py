"""Reproductions: the papers' claims as data, re-run on this machine, with a verdict and a report.

``convzoo repro list | run CLAIM | report CLAIM | docs``; in Python :func:`run_claim`, :func:`get_claim`,
:func:`claims`.
"""

from typing import TYPE_CHECKING

from convzoo._lazy import lazy_exports

if TYPE_CHECKING:
    from convzoo.repro.registry import claims, get_claim
    from convzoo.repro.runner import run_claim
    from convzoo.repro.spec import Arm, Budget, Check, Claim, PaperFigure

lazy_exports(
    __name__,
    {
        "claims": "convzoo.repro.registry",
        "get_claim": "convzoo.repro.registry",
        "run_claim": "convzoo.repro.runner",
        "Arm": "convzoo.repro.spec",
        "Budget": "convzoo.repro.spec",
        "Check": "convzoo.repro.spec",
        "Claim": "convzoo.repro.spec",
        "PaperFigure": "convzoo.repro.spec",
    },
)

__all__ = ["Arm", "Budget", "Check", "Claim", "PaperFigure", "claims", "get_claim", "run_claim"]
