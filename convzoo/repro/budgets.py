"""The three budgets every trained claim is offered at, built by three small functions.

- ``smoke``: the embedded digits set, one optimizer step per arm; proves the plumbing, verdict "not evaluated".
- ``cpu``: the CIFAR-10 JPEG folder on this 2-core CPU in at most an hour per claim: a training subset, fewer
  epochs (the paper's schedule shape scaled to that length), bf16 autocast and channels_last, one seed unless
  stated; evaluated on the whole 10,000-image test set unless stated.
- ``long``: the whole 50,000-image CIFAR-10 training set for up to 12 hours per claim on 2 cores, long enough
  for each arm to reach a plateau; one recipe for both arms of a check (a budget-aware one-cycle schedule with
  linear decay where the claim is about trained architectures; the paper's own constant rate where the claim
  depends on it); run arm by arm, two at a time, across sessions (finished arms are committed).
- ``paper``: the paper's own recipe on the full data set (a GPU, or many machines through torchrun).
"""

from __future__ import annotations

from typing import Any

from convzoo.repro.spec import Budget

__all__ = ["ONE_CYCLE", "cpu", "long", "paper", "smoke"]


def smoke(image_size: int = 8, **changes: Any) -> Budget:
    """One step of 10 images per arm on digits (8×8, or upscaled to ``image_size``); only the two arms of the claim's
    first check run (every arm's model and overrides are built on meta by ``repro list``)."""
    return Budget(
        name="smoke",
        data="digits",
        epochs=1,
        per_class=1,
        test_per_class=1,
        image_size=image_size,
        recipe_changes={"batch_size": 10, "val_size": 0, **changes},
        amp=False,
        channels_last=False,
        note="plumbing only: digits, one step of the first check's two arms",
    )


def cpu(
    epochs: float,
    per_class: int,
    *,
    arms: tuple[str, ...] | None = None,
    eval_every: int = 1,
    test_per_class: int | None = None,
    seeds: int = 1,
    note: str = "",
    error_floor: float = 30.0,
    **changes: Any,
) -> Budget:
    """``epochs`` over ``per_class`` × 10 CIFAR-10 training images, the paper's schedule scaled to that length;
    the power table assumes arms near ``error_floor`` % test error (what an hour's training reaches)."""
    return _cifar10("cpu", epochs, changes, per_class=per_class, test_per_class=test_per_class, seeds=seeds,
                    arms=arms, eval_every=eval_every, note=note, error_floor=error_floor)  # fmt: skip


def _cifar10(name: str, epochs: float, changes: dict[str, Any], **fields: Any) -> Budget:
    """A budget on the CIFAR-10 JPEG folder, bf16 autocast where native, channels_last, no validation split."""
    return Budget(
        name=name,
        data="cifar10-jpg",
        epochs=epochs,
        recipe_changes={"val_size": 0, **changes},
        amp=True,
        channels_last=True,
        **fields,
    )


# A budget-aware schedule for trained-architecture claims at the long budget: the rate rises from lr/25 over the
# first 15% of steps (the warm-up deep nets need) and falls linearly to ~0, so every arm ends on a plateau.
ONE_CYCLE: dict[str, Any] = {
    "schedule": "onecycle",
    "interval": "step",
    "schedule_params": {"pct_start": 0.15, "anneal_strategy": "linear", "div_factor": 25.0, "final_div_factor": 1e3},
    "warmup": 0,
    "warmup_lr": None,
}


def long(
    epochs: float,
    *,
    per_class: int | None = None,
    seeds: int = 1,
    arms: tuple[str, ...] | None = None,
    eval_every: int = 5,
    error_floor: float = 5.0,
    note: str = "",
    **changes: Any,
) -> Budget:
    """``epochs`` over the whole CIFAR-10 training set (``per_class``: a subset, for small-data checks), every
    arm under the same recipe changes; evaluated on all 10,000 test images."""
    return _cifar10("long", epochs, changes, per_class=per_class, seeds=seeds, arms=arms, eval_every=eval_every,
                    note=note, error_floor=error_floor)  # fmt: skip


def paper(
    data: str | None = "cifar10",
    seeds: int = 1,
    note: str = "",
    arms: tuple[str, ...] | None = None,
    **changes: Any,
) -> Budget:
    """The recipe as the paper ran it on the whole data set (``data=None``: the user gives ``--data``); ``arms``:
    the paper's arms where the claim also has arms of its own for the cpu budget."""
    return Budget(name="paper", data=data or "", seeds=seeds, arms=arms, recipe_changes=changes, note=note)
