"""Family-agnostic building blocks."""

from convzoo.layers.conv_norm_act import ConvNormAct, same_padding
from convzoo.layers.drop_path import DropPath
from convzoo.layers.factories import ScaledTanh, get_act_layer, get_norm_layer
from convzoo.layers.init import he_normal_
from convzoo.layers.lrn import paper_lrn
from convzoo.layers.squeeze_excite import SqueezeExcite, get_attn_layer

__all__ = [
    "ConvNormAct",
    "DropPath",
    "ScaledTanh",
    "SqueezeExcite",
    "get_act_layer",
    "get_attn_layer",
    "get_norm_layer",
    "he_normal_",
    "paper_lrn",
    "same_padding",
]
