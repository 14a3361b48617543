"""The three budgets every trained claim is offered at, built by three small functions.

- ``smoke``: the embedded digits set, one optimizer step per arm; proves the plumbing, verdict "not evaluated".
- ``cpu``: the CIFAR-10 JPEG folder on this 2-core CPU in at most an hour per claim: a training subset, fewer
  epochs (the paper's schedule shape scaled to that length), bf16 autocast and channels_last, one seed unless
  stated; evaluated on the whole 10,000-image test set unless stated.
- ``paper``: the paper's own recipe on the full data set (a GPU, or many machines through torchrun).
"""

from __future__ import annotations

from typing import Any

from convzoo.repro.spec import Budget

__all__ = ["cpu", "paper", "smoke"]


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
    **changes: Any,
) -> Budget:
    """``epochs`` over ``per_class`` × 10 CIFAR-10 training images, the paper's schedule scaled to that length."""
    return Budget(
        name="cpu",
        data="cifar10-jpg",
        epochs=epochs,
        per_class=per_class,
        test_per_class=test_per_class,
        seeds=seeds,
        arms=arms,
        eval_every=eval_every,
        recipe_changes={"val_size": 0, **changes},
        amp=True,
        channels_last=True,
        note=note,
    )


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
