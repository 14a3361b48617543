"""Datasets in memory as uint8 tensors, and augmentation of whole batches with tensor ops."""

from convzoo.data.augment import AugmentSpec, BatchAugment, lighting_pca, normalize
from convzoo.data.datasets import (
    CIFAR_URLS,
    MAX_IMAGE_PIXELS,
    BadImageError,
    DataFileError,
    DataSplits,
    ImageSet,
    UnsafePickleError,
    channel_stats,
    load_cifar,
    load_data,
    load_digits,
    load_image_folder,
    load_mnist,
    read_image,
    restricted_unpickle,
)
from convzoo.data.download import download_and_verify, extract_folder, safe_extract

__all__ = [
    "AugmentSpec",
    "BadImageError",
    "BatchAugment",
    "CIFAR_URLS",
    "DataFileError",
    "DataSplits",
    "MAX_IMAGE_PIXELS",
    "ImageSet",
    "channel_stats",
    "download_and_verify",
    "extract_folder",
    "lighting_pca",
    "load_cifar",
    "load_data",
    "load_digits",
    "load_image_folder",
    "load_mnist",
    "normalize",
    "read_image",
    "restricted_unpickle",
    "safe_extract",
    "UnsafePickleError",
]
