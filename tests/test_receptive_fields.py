"""Receptive fields of whole networks against published values.

Araujo, Norris & Sim (2019), "Computing Receptive Fields of Convolutional Neural Networks", Distill,
Table 1: AlexNet 195, VGG-16 212, ResNet-50 (v1) 483, Inception-v3 1311, Inception-v4 2071,
Inception-ResNet-v2 3039 — the field of the last layer before global pooling, at the paper's input size.
"""

from __future__ import annotations

import pytest

import convzoo

PUBLISHED = {
    "alexnet": 195,
    "vgg16": 212,
    "resnet50": 483,
    "inception_v3": 1311,
    "inception_v4": 2071,
    "inception_resnet_v2": 3039,
}


@pytest.mark.parametrize(("name", "rf"), PUBLISHED.items())
def test_receptive_field_before_global_pooling_matches_distill(name: str, rf: int) -> None:
    s = convzoo.summary(name)
    last_local = [r for r in s.layers if not r.is_global and r.receptive_field is not None][-1]
    assert last_local.receptive_field == rf, last_local.name
    assert s.layers[-1].is_global


def test_squeeze_excitation_makes_the_field_global_once() -> None:
    """An SE gate sees the whole map, so every unit after the first SE block sees the same (finite) region."""
    s = convzoo.summary("se_resnet50")
    first_global = next(r for r in s.layers if r.is_global)
    assert first_global.name.startswith("stages.0.0")
    assert s.layers[-1].receptive_field < 1000  # no compounding of repeated global unions
