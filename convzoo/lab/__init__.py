"""The optimizer and schedule lab: lecture update rules checked against ``torch.optim``, and drawn."""

from convzoo.lab.surfaces import SURFACES, Surface, get_surface
from convzoo.lab.trajectories import OPTIMIZERS, Trajectory, make_optimizer, race, run_optimizer

__all__ = [
    "OPTIMIZERS",
    "SURFACES",
    "Surface",
    "Trajectory",
    "get_surface",
    "make_optimizer",
    "race",
    "run_optimizer",
]
