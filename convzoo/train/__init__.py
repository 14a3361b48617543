"""Training: the loop, optimizers, schedules, paper recipes, checkpoints and distributed runs."""

from convzoo.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from convzoo.train.optim import OPTIMIZER_NAMES, build_optimizer
from convzoo.train.recipes import RECIPES, Recipe, get_recipe
from convzoo.train.trainer import NonFiniteLossError, TrainConfig, TrainResult, evaluate, train

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
