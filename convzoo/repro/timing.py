"""Training time compared fairly: the two arms' optimizer steps timed *interleaved* in one process.

Arms trained one after the other on a shared machine meet different loads, so their wall times cannot be
compared. Here both arms' networks take turns on the same batch, a few steps each, in rounds whose order
alternates (ABBA…), so a change of load hits both alike. Each round gives a ratio of step times; the saving is
``1 − better ÷ worse`` (a relative figure, comparable with the paper's hours on its GPU where seconds are not).
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Sequence
from typing import Any

from convzoo.repro.spec import Arm, Budget

__all__ = ["ROUNDS", "interleaved_saving", "time_arms"]

ROUNDS = 12
STEPS = 4  # optimizer steps per arm per round


def _step_fn(arm: Arm, budget: Budget, batch: int) -> Any:
    import torch
    import torch.nn.functional as F

    from convzoo.registry import create_model
    from convzoo.repro.estimate import arm_recipe, data_sizes

    r = arm_recipe(arm, budget)
    size = data_sizes(budget)[2]
    model = create_model(arm.model, num_classes=10, in_chans=size[0], **{**r.model_kwargs, **dict(arm.overrides)})
    layout = torch.channels_last if budget.channels_last else torch.contiguous_format
    model = model.to(memory_format=layout).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, *size, generator=g).contiguous(memory_format=layout)
    y = torch.randint(0, 10, (batch,), generator=g)

    def step() -> None:
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def time_arms(arms: Sequence[Arm], budget: Budget, batch: int = 64, rounds: int = ROUNDS) -> dict[str, list[float]]:
    """Seconds per optimizer step of each arm, one figure per round, the arms interleaved (order alternating)."""
    steps = {a.name: _step_fn(a, budget, batch) for a in arms}
    for fn in steps.values():  # warm-up: allocator, oneDNN kernels
        fn(), fn()
    out: dict[str, list[float]] = {a.name: [] for a in arms}
    for r in range(rounds):
        order = list(steps) if r % 2 == 0 else list(reversed(steps))
        for name in order:
            t0 = time.perf_counter()
            for _ in range(STEPS):
                steps[name]()
            out[name].append((time.perf_counter() - t0) / STEPS)
    return out


def interleaved_saving(better: Sequence[float], worse: Sequence[float]) -> dict[str, float]:
    """The relative saving of ``better`` over ``worse`` (%, from each round's ratio), its standard error and
    the critical value for that many rounds."""
    from convzoo.repro.stats import critical

    if len(better) != len(worse) or len(better) < 2:
        raise ValueError("an interleaved comparison needs the same number of rounds (at least 2) for both arms")
    savings = [100 * (1 - b / w) for b, w in zip(better, worse, strict=True)]
    mean = statistics.fmean(savings)
    se = statistics.stdev(savings) / math.sqrt(len(savings))
    return {"saving": mean, "se": se, "critical": critical(len(savings) - 1), "rounds": float(len(savings))}
