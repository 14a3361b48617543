"""convzoo: the classic convolutional networks of image recognition, exact to their papers."""

from typing import TYPE_CHECKING

from convzoo._lazy import lazy_exports

if TYPE_CHECKING:
    from convzoo.deploy import optimize
    from convzoo.deploy.bench import bench
    from convzoo.hub import load_weights, transforms
    from convzoo.inspect import Summary, output_size, summary
    from convzoo.registry import Paper, Reported, create_model, list_models, model_info, register_model
    from convzoo.viz import draw

lazy_exports(
    __name__,
    {
        "optimize": "convzoo.deploy",
        "bench": "convzoo.deploy.bench",
        "load_weights": "convzoo.hub",
        "transforms": "convzoo.hub",
        "Summary": "convzoo.inspect",
        "output_size": "convzoo.inspect",
        "summary": "convzoo.inspect",
        "Paper": "convzoo.registry",
        "Reported": "convzoo.registry",
        "create_model": "convzoo.registry",
        "list_models": "convzoo.registry",
        "model_info": "convzoo.registry",
        "register_model": "convzoo.registry",
        "draw": "convzoo.viz",
    },
)

__version__ = "0.1.0"

__all__ = [
    "Paper",
    "Reported",
    "Summary",
    "bench",
    "create_model",
    "draw",
    "list_models",
    "load_weights",
    "model_info",
    "optimize",
    "output_size",
    "register_model",
    "summary",
    "transforms",
]
