"""Training: the trainer, optimizers and learning-rate schedules, recipes, checkpoints."""
