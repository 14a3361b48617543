"""Peers' pretrained weights (torchvision, timm): key mappings, verified downloads, the right network.

Each family declares its sources with :func:`register_weights`. Then::

    model = convzoo.create_model("resnet50", weights="torchvision")   # V1.5 form, downloaded, verified, loaded
    model = convzoo.create_model("resnet50", weights="torchvision", num_classes=10)  # backbone only, new head
    convzoo.load_weights(model, "torchvision", state_dict=tv_model.state_dict())    # no download
    find_source("resnet50", "torchvision").preprocess.transform()    # the resize, crop and mean/std they expect

Modules: :mod:`~convzoo.hub.download` (cache, checksums, caps, deadline), :mod:`~convzoo.hub.sources` (what
each source is, provider metadata), :mod:`~convzoo.hub.load` (configuration check and loading).
"""

from convzoo.hub.classify import classify
from convzoo.hub.download import (
    MAX_DOWNLOAD_BYTES,
    Checksum,
    DownloadError,
    default_cache_dir,
    download,
    sha256sum,
)
from convzoo.hub.identify import WeightsMatch, identify, transforms
from convzoo.hub.load import fetch, load_state_dict_strict, load_weights, pretrained_model, read_state_dict
from convzoo.hub.sources import (
    TIMM_LICENSE,
    Accuracy,
    KnownFile,
    Preprocess,
    WeightSource,
    convert_state_dict,
    find_source,
    format_weights_table,
    imagenet_classes,
    published_size,
    register_weights,
    rename_keys,
    timm_accuracy,
    timm_preprocess,
    weight_sources,
)

__all__ = [
    "TIMM_LICENSE",
    "Accuracy",
    "KnownFile",
    "MAX_DOWNLOAD_BYTES",
    "Checksum",
    "DownloadError",
    "Preprocess",
    "WeightsMatch",
    "WeightSource",
    "classify",
    "convert_state_dict",
    "default_cache_dir",
    "download",
    "fetch",
    "find_source",
    "format_weights_table",
    "identify",
    "imagenet_classes",
    "load_state_dict_strict",
    "load_weights",
    "pretrained_model",
    "read_state_dict",
    "register_weights",
    "published_size",
    "rename_keys",
    "sha256sum",
    "timm_accuracy",
    "timm_preprocess",
    "transforms",
    "weight_sources",
]
