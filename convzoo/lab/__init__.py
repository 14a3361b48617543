"""The optimizer and schedule lab: lecture update rules checked against ``torch.optim``, and drawn."""

from typing import TYPE_CHECKING

from convzoo._lazy import lazy_exports

if TYPE_CHECKING:
    from convzoo.lab.surfaces import SURFACES, Surface, get_surface
    from convzoo.lab.trajectories import OPTIMIZERS, Trajectory, make_optimizer, race, run_optimizer

lazy_exports(
    __name__,
    {
        "SURFACES": "convzoo.lab.surfaces",
        "Surface": "convzoo.lab.surfaces",
        "get_surface": "convzoo.lab.surfaces",
        "OPTIMIZERS": "convzoo.lab.trajectories",
        "Trajectory": "convzoo.lab.trajectories",
        "make_optimizer": "convzoo.lab.trajectories",
        "race": "convzoo.lab.trajectories",
        "run_optimizer": "convzoo.lab.trajectories",
    },
)

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
