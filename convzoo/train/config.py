"""What a training run is given: :class:`TrainConfig`, in a module of its own so the trainer and its helpers
(``options``, ``parts``) all import it from below and none of them imports the trainer."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from convzoo.train.recipes import Recipe

__all__ = ["TrainConfig"]


@dataclass
class TrainConfig:
    """Everything a run needs. ``recipe`` holds the optimization settings (already overridden); None: the
    default recipe, ``fast`` adapted to the model and the data (:func:`convzoo.train.options.default_recipe`,
    as ``convzoo train`` without ``--recipe``), resolved once the data's classes are known and recorded."""

    model: str
    data: str = "digits"
    recipe: Recipe | None = None
    data_root: str | None = None
    per_class: int | None = None  # keep the first n images per class (small fixed subsets)
    image_size: int | None = None  # resize images to n×n (upscale digits for a 32-px network)
    seed: int = 0
    out_dir: str = "runs"
    name: str | None = None
    resume: bool = False
    device: str = "auto"
    amp: bool | None = None  # None: the recipe's choice, where the device supports it
    channels_last: bool | None = None
    checkpoint_every: int = 0  # also save every n optimizer steps (0: at the end of each epoch only)
    checkpoint_minutes: float = 10.0  # and at least every this many minutes
    eval_every: int = 1  # epochs
    max_epochs: float | None = None  # stop after this many epochs (of a longer schedule): a budget
    threads: int | None = None
    download: bool = False
    skip_bad_images: bool = False
    progress: bool | None = None  # None: a bar on a terminal, plain lines otherwise
    stream: bool | None = None  # None: stream an image folder too large for memory; True/False: force
    workers: int | None = None  # DataLoader workers decoding a streamed folder (None: up to 8)
    compile: bool = False  # torch.compile the model for training (the GPU path; evaluation stays eager)
    model_kwargs: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["recipe"] = self.recipe.to_dict() if self.recipe is not None else None
        return d

