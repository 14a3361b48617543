"""Every claim by id: the trained claims of :mod:`convzoo.repro.trained` and the analytic ones of
:mod:`convzoo.repro.analytic`."""

from __future__ import annotations

import difflib
import functools

from convzoo.repro.spec import Claim

__all__ = ["claims", "get_claim"]


@functools.cache
def _by_id() -> dict[str, Claim]:
    from convzoo.repro.analytic import ANALYTIC_CLAIMS
    from convzoo.repro.analytic_more import ANALYTIC_MORE
    from convzoo.repro.prereg import check_equal_treatment
    from convzoo.repro.trained import TRAINED_CLAIMS

    out: dict[str, Claim] = {}
    for c in TRAINED_CLAIMS + ANALYTIC_CLAIMS + ANALYTIC_MORE:
        if c.id in out:
            raise RuntimeError(f"two claims share the id {c.id!r}")
        check_equal_treatment(c)  # a check's arms differ only in what the claim is about, or say why
        out[c.id] = c
    return out


def claims() -> list[Claim]:
    """Every claim, trained first, in the order of the issue."""
    return list(_by_id().values())


def get_claim(claim_id: str) -> Claim:
    """The claim called ``claim_id``; an unknown id raises an error naming the closest ones."""
    try:
        return _by_id()[claim_id]
    except KeyError:
        close = difflib.get_close_matches(claim_id, list(_by_id()), n=3, cutoff=0.4)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise ValueError(f"unknown claim {claim_id!r}.{hint} `convzoo repro list` shows them all") from None
