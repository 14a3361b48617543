"""The statistics behind a check: paired comparisons on one test set, seed spread, convergence and power.

Two arms of a check are scored on the *same* test images, so they are compared image by image (a paired test):
for each image the difference of the two arms' errors, averaged over seeds; the gap is the mean of those
differences and its test-set noise their standard error. Seeds add their own spread (the per-seed gaps'
standard error, with ``seeds − 1`` degrees of freedom); the two are combined and the critical value taken from
Student's t with Welch–Satterthwaite degrees of freedom, so two seeds are not read as if they were twenty.
With one seed and no seed spread this is McNemar's test (:func:`mcnemar`) in its normal form.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "PairedGap",
    "critical",
    "final_slope",
    "mcnemar",
    "min_detectable_gap",
    "pack_bits",
    "paired_gap",
    "t_quantile",
    "unpack_bits",
]

CONFIDENCE = 0.95  # two-sided


def pack_bits(bits: Sequence[bool]) -> str:
    """Per-image correctness as base64 of packed bits (10,000 images: 1,668 characters)."""
    out = bytearray((len(bits) + 7) // 8)
    for i, b in enumerate(bits):
        if b:
            out[i >> 3] |= 1 << (i & 7)
    return base64.b64encode(bytes(out)).decode("ascii")


def unpack_bits(text: str, n: int) -> list[bool]:
    """The inverse of :func:`pack_bits` for ``n`` images; ValueError if the text does not hold ``n`` bits."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError) as e:
        raise ValueError(f"per-image correctness is not base64 ({e})") from None
    if len(raw) != (n + 7) // 8:
        raise ValueError(f"per-image correctness holds {len(raw) * 8} bits, expected {n}")
    return [bool(raw[i >> 3] >> (i & 7) & 1) for i in range(n)]


def t_quantile(p: float, df: float) -> float:
    """Student's t quantile (``df`` may be fractional; ∞ gives the normal one)."""
    from scipy.special import ndtri, stdtrit  # scipy.special, not scipy.stats: a quarter of the import time

    return float(ndtri(p)) if math.isinf(df) else float(stdtrit(df, p))


def critical(df: float) -> float:
    """The two-sided critical value at :data:`CONFIDENCE` for ``df`` degrees of freedom."""
    return t_quantile(1 - (1 - CONFIDENCE) / 2, df)


def mcnemar(n01: int, n10: int) -> float:
    """Exact two-sided McNemar p-value: ``n01`` images only the first arm got right, ``n10`` only the second."""
    n, k = n01 + n10, min(n01, n10)
    if n == 0:
        return 1.0
    from scipy.special import bdtr

    return min(1.0, 2 * float(bdtr(k, n, 0.5)))  # exact, and no overflow past 1,023 discordant images


@dataclass(frozen=True)
class PairedGap:
    """``gap`` = error(worse) − error(better) in points, with its noise parts and the decision threshold."""

    gap: float
    se_test: float  # the test set's sampling noise of the gap (paired, over images)
    se_seed: float  # the seeds' spread of the gap ÷ √seeds (0 with one seed)
    df: float  # Welch–Satterthwaite degrees of freedom of the combined noise
    threshold: float  # critical(df) × √(se_test² + se_seed²)
    seeds: int
    n: int  # test images
    only_better: int  # images (summed over seeds) only the better arm got right
    only_worse: int
    p_mcnemar: float  # on the pooled discordant counts

    @property
    def se(self) -> float:
        return math.hypot(self.se_test, self.se_seed)


def paired_gap(better: Sequence[Sequence[bool]], worse: Sequence[Sequence[bool]]) -> PairedGap:
    """Compare two arms' per-image correctness, one list per seed (seeds paired by index)."""
    if not better or len(better) != len(worse):
        raise ValueError(f"paired comparison needs the same number of seeds per arm, got {len(better)} and {len(worse)}")
    n = len(better[0])
    if n == 0 or any(len(v) != n for v in (*better, *worse)):
        raise ValueError("paired comparison needs every seed of both arms scored on the same test images")
    k = len(better)
    diff = [0.0] * n  # per image: mean over seeds of (worse wrong) − (better wrong)
    per_seed, only_b, only_w = [], 0, 0
    for b, w in zip(better, worse, strict=True):
        s = 0
        for i in range(n):
            d = int(b[i]) - int(w[i])  # +1: only the better arm right
            diff[i] += d / k
            s += d
            only_b += d > 0
            only_w += d < 0
        per_seed.append(100 * s / n)
    gap = 100 * sum(diff) / n
    var_i = sum((x - gap / 100) ** 2 for x in diff) / max(n - 1, 1)
    se_test = 100 * math.sqrt(var_i / n)
    se_seed = math.sqrt(sum((g - gap) ** 2 for g in per_seed) / (k - 1) / k) if k > 1 else 0.0
    df = _satterthwaite(se_test, se_seed, k)
    thr = critical(df) * math.hypot(se_test, se_seed)
    return PairedGap(gap, se_test, se_seed, df, thr, k, n, only_b, only_w, mcnemar(only_b, only_w))


def _satterthwaite(se_test: float, se_seed: float, seeds: int) -> float:
    if se_seed == 0 or seeds < 2:
        return math.inf
    total = se_test**2 + se_seed**2
    return (seeds - 1) * (total / se_seed**2) ** 2


def min_detectable_gap(n_test: int, error: float, seeds: int, seed_sd: float) -> float:
    """The smallest gap (points) a paired check can resolve, decided before any run: the test noise of a gap
    between two nets near ``error`` % whose mistakes differ on about ``error`` % of the images (discordance ≈
    the error rate, a conservative figure for two nets of one family), plus a seed-to-seed sd of the gap of
    ``seed_sd`` points ÷ √seeds, at the critical value of that many seeds (one seed: the test noise alone, and
    the seed sd is not divided)."""
    q = min(max(error / 100, 0.0), 1.0)
    se_test = 100 * math.sqrt(q / max(n_test, 1))
    se_seed = seed_sd / math.sqrt(seeds)
    df = _satterthwaite(se_test, se_seed, seeds) if seeds > 1 else math.inf
    return critical(df) * math.hypot(se_test, se_seed)


def final_slope(epochs: Sequence[float], values: Sequence[float], fraction: float = 0.1) -> float | None:
    """Least-squares slope (points per epoch) of ``values`` over the last ``fraction`` of the run, at least
    the last three points; None with fewer than three."""
    if len(epochs) < 3:
        return None
    end = epochs[-1]
    keep = [i for i, e in enumerate(epochs) if e >= end * (1 - fraction)]
    if len(keep) < 3:
        keep = list(range(len(epochs) - 3, len(epochs)))
    xs, ys = [epochs[i] for i in keep], [values[i] for i in keep]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx if sxx else None
