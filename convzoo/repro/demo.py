"""``make demo`` / ``convzoo demo``: a short tour of the main job on the embedded digits set (no download).

1. a layer table (ResNet-20, the inspector on the meta device);
2. an analytic claim (the Inception module's 1×1 reductions, computed from the registered blocks);
3. a trained claim that shows its effect in a couple of minutes: degradation (He et al. 2015, Fig. 6), plain-20/56
   vs ResNet-20/56 on 8×8 digits, with its verdict and report.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

from convzoo.repro.readback import MAX_RESULTS_BYTES, read_json_file
from convzoo.repro.registry import get_claim
from convzoo.repro.runner import run_claim
from convzoo.repro.spec import Budget, Claim

__all__ = ["DEMO_BUDGET", "demo", "demo_claim"]

# All 1,438 training digits at their own 8×8 size, resnet_cifar's schedule shape over 6 epochs; no augmentation
# (a flipped digit is another digit). Digits are easy: plain-20 reached 0% training error by epoch 13 of a
# 20-epoch trial, after which final training errors cannot separate the nets, so the tour stops at 6 epochs
# (about a minute of training on a quiet 2-core CPU).
DEMO_BUDGET = Budget(
    name="demo",
    data="digits",
    epochs=6,
    arms=("plain20", "plain56", "resnet20", "resnet56"),
    recipe_changes={"val_size": 0, "augment": ""},
    amp=False,
    channels_last=False,
    note="the tour of `make demo`: all 1,438 8×8 digits, 6 epochs, no augmentation, one seed",
)


def demo_claim() -> Claim:
    """The degradation claim at the demo budget, with the checks that show early in training (Fig. 6 shows
    them at every iteration); the test-error check needs trained nets (the long budget)."""
    c = get_claim("degradation")
    return dataclasses.replace(c, budgets={"demo": DEMO_BUDGET}, checks=tuple(x for x in c.checks if x.early))


def demo(out: str | Path = "runs/demo", say: Callable[[str], None] = print) -> int:
    """Run the tour; returns an exit code."""
    from convzoo.inspect import summary

    t0 = time.perf_counter()
    say("== 1. What a network is: ResNet-20's layer table (built on the meta device, no weights) ==")
    say(str(summary("resnet20_cifar", depth=2)).split("\nUnit:")[0])
    say("\n== 2. An analytic claim, computed from the models: convzoo repro run inception_reduction ==")
    folder = run_claim("inception_reduction", out=out, log=lambda s: None)
    res = read_json_file(folder / "results.json", MAX_RESULTS_BYTES, "the claim's results")
    for row in res["rows"]:
        say(f"  {row['what']}: {row['computed']} (paper: {row['paper']})")
    say(f"  verdict: {res['verdict']}")
    say("\n== 3. A trained claim: degradation (He et al. 2015, Fig. 6) on the embedded digits ==")
    folder = run_claim(
        demo_claim(), "demo", out=out, log=lambda s: say(s) if s.startswith("[") else None, progress=False
    )
    res = read_json_file(folder / "results.json", MAX_RESULTS_BYTES, "the claim's results")
    for c in res["checks"]:
        ch = c["check"]
        say(
            f"  {ch['says']}: {ch['metric']} {ch['better']} {c['better']['mean']:.2f} vs {ch['worse']} "
            f"{c['worse']['mean']:.2f} (gap {c['gap']:.2f}, needs {c['threshold']:.2f}): {c['outcome']}"
        )
    say(f"  {res['headline']}; claim {res['verdict']}")
    say(
        f"\nTour done in {(time.perf_counter() - t0) / 60:.1f} min. Report: {folder / 'report.md'} "
        f"(figure {folder / 'curves.png'}).\n{_next_step()}"
    )
    return 0


def _next_step() -> str:
    """The demo's last line: what the other checks need, with the same estimates as `repro list`."""
    from convzoo.repro.estimate import claim_elapsed, human_time

    c = get_claim("degradation")
    rest = [x.says for x in c.checks if not x.early and x in c.checks_at(c.budgets["long"])]
    return (
        f"The other check ({'; '.join(rest)}) needs trained nets: `convzoo repro run degradation --budget long "
        f"--jobs 2` (CIFAR-10, ~{human_time(claim_elapsed(c, 'long', 2))} on this machine); `convzoo repro list` "
        "shows every claim's budgets and power."
    )
