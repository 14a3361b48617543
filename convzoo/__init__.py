"""convzoo: the classic convolutional networks of image recognition, exact to their papers."""

from convzoo.deploy import optimize
from convzoo.deploy.bench import bench
from convzoo.hub import load_weights
from convzoo.inspect import Summary, output_size, summary
from convzoo.registry import Paper, Reported, create_model, list_models, model_info, register_model
from convzoo.viz import draw

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
]
