"""The inspector reproduces the papers' and courses' tables for the networks before residual learning:
AlexNet's structural table, VGG's Table 2, a Keras-style VGG-16 summary, ZFNet's Fig. 3 map sizes,
LeNet-5's connection counts, and receptive fields computed by hand."""

from __future__ import annotations

import re

import pytest

import convzoo
from convzoo.models.vgg import VGG

# --- (a) AlexNet's structural table at 227×227: output volume and parameters of every layer ---------------
# (layer, output volume, parameters one tower, parameters two towers)
ALEXNET_TABLE = [
    ("features.conv1", [96, 55, 55], 96 * (11 * 11 * 3 + 1), 96 * (11 * 11 * 3 + 1)),
    ("features.relu1", [96, 55, 55], 0, 0),
    ("features.norm1", [96, 55, 55], 0, 0),
    ("features.pool1", [96, 27, 27], 0, 0),
    ("features.conv2", [256, 27, 27], 256 * (5 * 5 * 96 + 1), 256 * (5 * 5 * 48 + 1)),
    ("features.relu2", [256, 27, 27], 0, 0),
    ("features.norm2", [256, 27, 27], 0, 0),
    ("features.pool2", [256, 13, 13], 0, 0),
    ("features.conv3", [384, 13, 13], 384 * (3 * 3 * 256 + 1), 384 * (3 * 3 * 256 + 1)),
    ("features.relu3", [384, 13, 13], 0, 0),
    ("features.conv4", [384, 13, 13], 384 * (3 * 3 * 384 + 1), 384 * (3 * 3 * 192 + 1)),
    ("features.relu4", [384, 13, 13], 0, 0),
    ("features.conv5", [256, 13, 13], 256 * (3 * 3 * 384 + 1), 256 * (3 * 3 * 192 + 1)),
    ("features.relu5", [256, 13, 13], 0, 0),
    ("features.pool5", [256, 6, 6], 0, 0),
    ("classifier.flatten", [9216], 0, 0),
    ("classifier.fc6", [4096], 4096 * (9216 + 1), 4096 * (9216 + 1)),
    ("classifier.relu6", [4096], 0, 0),
    ("classifier.drop6", [4096], 0, 0),
    ("classifier.fc7", [4096], 4096 * 4097, 4096 * 4097),
    ("classifier.relu7", [4096], 0, 0),
    ("classifier.drop7", [4096], 0, 0),
    ("classifier.fc8", [1000], 1000 * 4097, 1000 * 4097),
]


@pytest.mark.parametrize("name, column", [("alexnet", 2), ("alexnet_2gpu", 3)])
def test_alexnet_structural_table(name: str, column: int) -> None:
    s = convzoo.summary(name)
    assert s.input_size == (3, 227, 227)
    got = [(r.name, r.output_shape, r.params) for r in s.layers]
    assert got == [(row[0], row[1], row[column]) for row in ALEXNET_TABLE]
    assert s.total_params == {"alexnet": 62_378_344, "alexnet_2gpu": 60_965_224}[name]


@pytest.mark.parametrize("name, towers", [("alexnet", 1), ("alexnet_2gpu", 2)])
def test_alexnet_multiply_adds(name: str, towers: int) -> None:
    """MACs of a conv = output positions × output maps × (input maps per group × k × k)."""
    s = convzoo.summary(name)
    groups = {"conv1": 1, "conv2": towers, "conv3": 1, "conv4": towers, "conv5": towers}
    fan_in = {"conv1": 3 * 121, "conv2": 96 * 25, "conv3": 256 * 9, "conv4": 384 * 9, "conv5": 384 * 9}
    for conv, g in groups.items():
        row = s.row(f"features.{conv}")
        c, h, w = row.output_shape
        assert row.macs == h * w * c * fan_in[conv] // g, conv
    fc = 9216 * 4096 + 4096 * 4096 + 4096 * 1000
    conv_macs = sum(s.row(f"features.{c}").macs for c in groups)
    assert s.total_macs == conv_macs + fc
    assert s.total_macs == {"alexnet": 1_135_256_096, "alexnet_2gpu": 724_406_816}[name]


# --- (b) VGG Table 2: parameters per configuration, to the paper's rounding and exactly -----------------------
VGG_TABLE_2 = {
    "vgg11": (133, 132_863_336),
    "vgg11_lrn": (133, 132_863_336),
    "vgg13": (133, 133_047_848),
    "vgg16_c": (134, 133_638_952),
    "vgg16": (138, 138_357_544),
    "vgg19": (144, 143_667_240),
}


@pytest.mark.parametrize("name", sorted(VGG_TABLE_2))
def test_vgg_table_2(name: str) -> None:
    millions, exact = VGG_TABLE_2[name]
    s = convzoo.summary(name)
    assert s.total_params == exact
    assert round(s.total_params / 1e6) == millions


def test_vgg_multiply_adds_match_torchvision_gflops() -> None:
    """torchvision's "GFLOPS" column is multiply-adds: 7.61, 11.31, 15.47, 19.63 for A, B, D, E."""
    macs = {n: convzoo.summary(n).total_macs for n in ("vgg11", "vgg13", "vgg16", "vgg19")}
    assert {n: round(m / 1e9, 2) for n, m in macs.items()} == {
        "vgg11": 7.61,
        "vgg13": 11.31,
        "vgg16": 15.47,
        "vgg19": 19.63,
    }
    assert macs["vgg16"] == 15_470_264_320


# --- (c) Keras-style summary of VGG-16 with a 2-class head ---------------------------------------------------
# Keras's VGG16(classes=2) rows: (its layer name, output shape, params); our layers carry the paper's names.
KERAS_VGG16 = [
    ("block1_conv1", (224, 224, 64), 1_792),
    ("block1_conv2", (224, 224, 64), 36_928),
    ("block1_pool", (112, 112, 64), 0),
    ("block2_conv1", (112, 112, 128), 73_856),
    ("block2_conv2", (112, 112, 128), 147_584),
    ("block2_pool", (56, 56, 128), 0),
    ("block3_conv1", (56, 56, 256), 295_168),
    ("block3_conv2", (56, 56, 256), 590_080),
    ("block3_conv3", (56, 56, 256), 590_080),
    ("block3_pool", (28, 28, 256), 0),
    ("block4_conv1", (28, 28, 512), 1_180_160),
    ("block4_conv2", (28, 28, 512), 2_359_808),
    ("block4_conv3", (28, 28, 512), 2_359_808),
    ("block4_pool", (14, 14, 512), 0),
    ("block5_conv1", (14, 14, 512), 2_359_808),
    ("block5_conv2", (14, 14, 512), 2_359_808),
    ("block5_conv3", (14, 14, 512), 2_359_808),
    ("block5_pool", (7, 7, 512), 0),
    ("flatten", (25088,), 0),
    ("fc1", (4096,), 102_764_544),
    ("fc2", (4096,), 16_781_312),
    ("predictions", (2,), 8_194),
]
KERAS_NAMES = {"flatten": "classifier.flatten", "fc1": "classifier.fc6", "fc2": "classifier.fc7"}
KERAS_NAMES["predictions"] = "classifier.fc8"
_ROW = re.compile(r"^(\S+) \((\w+)\)\s*\(None, ([\d, ]+)\)\s+([\d,]+)$")


def _ours(keras_name: str) -> str:
    return KERAS_NAMES.get(keras_name) or "features." + keras_name.replace("_", ".", 1)


def test_keras_style_vgg16_two_classes() -> None:
    text = convzoo.summary("vgg16", num_classes=2).to_keras()
    rows = {}
    for line in text.splitlines():
        m = _ROW.match(line)
        if m:
            shape = tuple(int(v) for v in m.group(3).split(","))
            rows[m.group(1)] = (m.group(2), shape, int(m.group(4).replace(",", "")))
    assert "Total params: 134,268,738" in text and "Trainable params: 134,268,738" in text
    kinds = {"conv": "Conv2D", "pool": "MaxPooling2D", "flatten": "Flatten"}
    for name, shape, params in KERAS_VGG16:
        kind = next((v for k, v in kinds.items() if k in name), "Dense")
        assert rows.pop(_ours(name)) == (kind, shape, params), name
    # the paper's dropout after fc6 and fc7 is the only addition to Keras's table (its ReLUs are folded)
    assert rows == {
        "classifier.drop6": ("Dropout", (4096,), 0),
        "classifier.drop7": ("Dropout", (4096,), 0),
    }


# --- ZFNet Fig. 3 and LeNet-5 Section II-B ------------------------------------------------------------------
def test_zfnet_feature_maps_match_fig_3() -> None:
    s = convzoo.summary("zfnet")
    sizes = {
        n: s.row(f"features.{n}").output_shape[1:] for n in ("conv1", "pool1", "conv2", "pool2", "conv5")
    }
    assert sizes == {
        "conv1": [110, 110],
        "pool1": [55, 55],
        "conv2": [26, 26],
        "pool2": [13, 13],
        "conv5": [13, 13],
    }
    assert s.row("features.pool5").output_shape == [256, 6, 6]
    assert convzoo.summary("zfnet_512_1024_512").row("features.pool5").output_shape == [512, 6, 6]


def test_lenet5_maps_and_connections_of_section_2b() -> None:
    """The paper counts connections with biases: MACs plus one per output unit."""
    s = convzoo.summary("lenet5")
    shapes = {n: s.row(f"features.{n}").output_shape for n in ("c1", "s2", "act3", "s4", "c5")}
    assert shapes == {
        "c1": [6, 28, 28],
        "s2": [6, 14, 14],
        "act3": [16, 10, 10],
        "s4": [16, 5, 5],
        "c5": [120, 1, 1],
    }
    c3 = [s.row(f"features.c3.fanin{n}") for n in (3, 4, 6)]
    connections = {
        "C1": s.row("features.c1").macs + 6 * 28 * 28,
        "C3": sum(r.macs for r in c3) + 16 * 10 * 10,
        "C5": s.row("features.c5").macs + 120,
        "F6": s.row("classifier.f6").macs + 84,
    }
    assert connections == {"C1": 122_304, "C3": 151_600, "C5": 48_120, "F6": 10_164}
    assert sum(r.params for r in c3) == 1_516 and s.row("features.s2").params == 12
    assert s.total_params == s.trainable_params == 60_000


# --- (d) receptive fields -----------------------------------------------------------------------------------
def test_stacked_3x3_convs_see_5x5_then_7x7() -> None:
    stack = VGG([("conv3-64",) * 3], num_classes=10, img_size=32)
    s = convzoo.summary(stack, input_size=(3, 32, 32))
    assert [s.row(f"features.block1.conv{i}").receptive_field for i in (1, 2, 3)] == [3, 5, 7]
    vgg16 = convzoo.summary("vgg16")
    rf = {
        r.name.removeprefix("features."): r.receptive_field for r in vgg16.layers if r.name.startswith("feat")
    }
    assert [rf["block1.conv1"], rf["block1.conv2"], rf["block1.pool"]] == [3, 5, 6]
    # each later 3×3 conv adds 2 × (stride product): 2 in block 2, 4 in block 3, 8 in block 4, 16 in block 5
    assert [rf[f"block3.conv{i}"] for i in (1, 2, 3)] == [24, 32, 40]
    assert [rf["block4.conv3"], rf["block4.pool"], rf["block5.conv3"], rf["block5.pool"]] == [
        92,
        100,
        196,
        212,
    ]
    c = convzoo.summary("vgg16_c")
    assert c.row("features.block3.conv3").receptive_field == c.row("features.block3.conv2").receptive_field


def test_alexnet_receptive_fields_by_hand() -> None:
    """RF_l = RF_(l-1) + (k_l − 1) · (product of earlier strides): 11, +2·4, +4·8, +2·8, +2·16 ..."""
    want = {"conv1": 11, "pool1": 19, "conv2": 51, "pool2": 67, "conv3": 99, "conv4": 131, "conv5": 163}
    want["pool5"] = 195
    for name in ("alexnet", "alexnet_2gpu"):
        s = convzoo.summary(name)
        assert {k: s.row(f"features.{k}").receptive_field for k in want} == want
