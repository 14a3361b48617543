"""Training: the loop, optimizers, schedules, paper recipes, checkpoints and distributed runs."""

from typing import TYPE_CHECKING

from convzoo._lazy import lazy_exports

if TYPE_CHECKING:
    from convzoo.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
    from convzoo.train.config import TrainConfig
    from convzoo.train.optim import OPTIMIZER_NAMES, build_optimizer
    from convzoo.train.recipes import RECIPES, Recipe, get_recipe
    from convzoo.train.trainer import NonFiniteLossError, TrainResult, evaluate, train

lazy_exports(
    __name__,
    {
        "CheckpointError": "convzoo.train.checkpoint",
        "load_checkpoint": "convzoo.train.checkpoint",
        "save_checkpoint": "convzoo.train.checkpoint",
        "OPTIMIZER_NAMES": "convzoo.train.optim",
        "build_optimizer": "convzoo.train.optim",
        "RECIPES": "convzoo.train.recipes",
        "Recipe": "convzoo.train.recipes",
        "get_recipe": "convzoo.train.recipes",
        "NonFiniteLossError": "convzoo.train.trainer",
        "TrainConfig": "convzoo.train.config",
        "TrainResult": "convzoo.train.trainer",
        "evaluate": "convzoo.train.trainer",
        "train": "convzoo.train.trainer",
    },
)

__all__ = [
    "OPTIMIZER_NAMES",
    "RECIPES",
    "CheckpointError",
    "NonFiniteLossError",
    "Recipe",
    "TrainConfig",
    "TrainResult",
    "build_optimizer",
    "evaluate",
    "get_recipe",
    "load_checkpoint",
    "save_checkpoint",
    "train",
]
