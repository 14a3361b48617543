"""Whether other work holds the cores: the load average against the cores this process may use.

On a busy 2-core machine PyTorch eager with 2 threads ran ResNet-50 at 2.6 s per image against 0.15 s with 1
thread: each OpenMP thread waits for a core another process holds, and every parallel region waits for its
slowest thread. ``bench``, ``train`` and ``predict`` check before they start and say so in one line, and
``bench`` records the load beside its ratios. The load average counts runnable processes (on Linux also those
waiting on disk), so it is a hint, not a measurement; nothing here imports torch. ``CONVZOO_QUIET_LOAD=1``
silences the one-line note (the test suite sets it); ``bench`` still records the load.
"""

from __future__ import annotations

import os

from convzoo.cli_args import CORES

__all__ = ["QUIET_ENV", "busy_note", "load_average", "note_wanted"]

MARGIN = 0.5  # a quiet machine's background (shells, daemons) is below this
QUIET_ENV = "CONVZOO_QUIET_LOAD"  # set (to anything but "" or "0"): no busy-machine note on stderr


def note_wanted() -> bool:
    """Whether ``bench``, ``train`` and ``predict`` print the busy-machine note (``$CONVZOO_QUIET_LOAD`` unset,
    empty or ``0``)."""
    return os.environ.get(QUIET_ENV, "").strip() in ("", "0")


def load_average() -> float | None:
    """The 1-minute load average, or None where the system has none (Windows)."""
    try:
        return os.getloadavg()[0]
    except (OSError, AttributeError):
        return None


def busy_note(threads: int, command: str, *, load: float | None = None, cores: int = CORES) -> str | None:
    """One line for stderr when ``threads`` exceed the cores the load leaves free, else None.

    ``load``: the 1-minute load average (read now when None); ``cores``: the cores this process may run on.
    """
    load = load_average() if load is None else load
    if load is None or threads <= cores - load + MARGIN:
        return None
    free = max(cores - load, 0.0)
    left = f"about {int(free + MARGIN)} free" if free >= MARGIN else "none free"
    fewer = max(1, int(free + MARGIN))
    advice = (
        f"pass --threads {fewer}: threads that wait for a core slow every step, often several times over"
        if threads > fewer
        else "expect it to take longer than on a quiet machine"
    )
    return (
        f"note: {command}: the machine is busy: load average {load:.1f} on {cores} core{'s' * (cores != 1)} "
        f"leaves {left} for {threads} thread{'s' * (threads != 1)}; {advice}"
    )
