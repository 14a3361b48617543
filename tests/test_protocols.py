"""The papers' test protocols against hand computations of the averaged scores on small generated images, and
the fully connected head applied as convolutions (VGG §3.2)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import convzoo
from convzoo.data.protocols import (
    FullyConvolutional,
    dense_model,
    evaluate_protocol,
    image_scores,
    parse_scales,
    protocol_views,
)
from convzoo.data.stream import index_split
from convzoo.models.alexnet import AlexNet, alexnet_layers, zfnet_layers
from convzoo.models.vgg import VGG, VGG_CONFIGS

MEAN, STD = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
CROP, K = 8, 5


class LinearNet(nn.Module):
    """A fixed linear classifier of CROP×CROP crops: its scores can be computed by hand."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3 * CROP * CROP, K)
        with torch.no_grad():
            g = torch.Generator().manual_seed(0)
            self.fc.weight.copy_(torch.randn(K, 3 * CROP * CROP, generator=g))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.flatten(1))


class TinyFCNet(nn.Module):
    """A 2×2 convolution to a 4×(s-1)×(s-1) map, then fc6/fc7 as AlexNet/VGG have them (Flatten + Linear)."""

    feature_shape = (4, CROP - 1, CROP - 1)

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.features = nn.Conv2d(3, 4, 2)
        self.classifier = nn.Sequential(
            nn.Flatten(1), nn.Linear(4 * (CROP - 1) ** 2, 6), nn.ReLU(), nn.Dropout(0.5), nn.Linear(6, K)
        )

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.forward_features(x))


def _image(path: Path, w: int, h: int, seed: int) -> Path:
    a = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    Image.fromarray(a).save(path)  # PNG: lossless, so the hand computation decodes the same pixels
    return path


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("protocols")
    sizes = [(20, 12), (11, 17), (15, 15), (31, 13)]  # landscape, portrait, square, wide
    for i, (w, h) in enumerate(sizes):
        d = root / "val" / f"c{i % 2}"
        d.mkdir(parents=True, exist_ok=True)
        _image(d / f"{i}.png", w, h, i)
    return root


def _norm(views: list[np.ndarray]) -> torch.Tensor:
    x = torch.from_numpy(np.stack(views).astype(np.float32) / 255).permute(0, 3, 1, 2)
    return (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)


def _short(img: Image.Image, s: int) -> np.ndarray:
    w, h = img.size
    size = (s, round(h * s / w)) if w <= h else (round(w * s / h), s)
    return np.asarray(img.resize(size, Image.BILINEAR))


def _crop(a: np.ndarray, top: int, left: int, c: int = CROP) -> np.ndarray:
    return a[top : top + c, left : left + c]


def _hand_views(img: Image.Image, protocol: str) -> list[np.ndarray]:
    """The views, written out from the papers' descriptions with explicit coordinates (shorter side 12 for
    center and 10crop)."""
    c = CROP
    if protocol == "center":  # shorter side 12, centre 8×8
        a = _short(img, 12)
        h, w = a.shape[:2]
        return [_crop(a, (h - c) // 2, (w - c) // 2)]
    if protocol == "10crop":  # 12×12 centre square; corners and centre; mirrors
        a = _short(img, 12)
        h, w = a.shape[:2]
        sq = a[(h - 12) // 2 : (h - 12) // 2 + 12, (w - 12) // 2 : (w - 12) // 2 + 12]
        five = [_crop(sq, 0, 0), _crop(sq, 0, 4), _crop(sq, 4, 0), _crop(sq, 4, 4), _crop(sq, 2, 2)]
        return five + [v[:, ::-1] for v in five]
    assert protocol == "multicrop144"
    views = []
    for s in (9, 10, 11, 13):  # the default 256, 288, 320, 352 at crop 8
        a = _short(img, s)
        h, w = a.shape[:2]
        long = max(h, w)
        for o in (0, (long - s) // 2, long - s):
            sq = a[:, o : o + s] if w >= h else a[o : o + s, :]
            m = s - c
            five = [
                _crop(sq, 0, 0),
                _crop(sq, 0, m),
                _crop(sq, m, 0),
                _crop(sq, m, m),
                _crop(sq, m // 2, m // 2),
            ]
            whole = np.asarray(Image.fromarray(np.ascontiguousarray(sq)).resize((c, c), Image.BILINEAR))
            views += five + [whole]
    return views + [v[:, ::-1] for v in views]


@pytest.mark.parametrize(
    ("protocol", "scales", "count"), [("center", "12", 1), ("10crop", "12", 10), ("multicrop144", None, 144)]
)
def test_fixed_size_protocols_average_softmax_over_hand_made_views(
    folder: Path, protocol: str, scales: str | None, count: int
) -> None:
    net = LinearNet().eval()
    sizes = parse_scales(scales, protocol, CROP)
    for path in sorted(folder.rglob("*.png")):
        img = Image.open(path).convert("RGB")
        views = _hand_views(img, protocol)
        assert len(views) == count == len(protocol_views(img, protocol, sizes, CROP))
        with torch.no_grad():
            want = net(_norm(views)).softmax(1).mean(0)
        got = image_scores(net, path, protocol, MEAN, STD, scales=sizes, crop=CROP)
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


def _dense_hand(net: TinyFCNet, img: Image.Image, scales: tuple[int, ...]) -> torch.Tensor:
    """Slide fc6 over every 7×7 window of the feature map, average the scores, softmax; mirrors and scales."""
    probs = []
    for s in scales:
        a = _short(img, s)
        for v in (a, a[:, ::-1]):
            f = net.features(_norm([v]))[0]  # 4×H'×W'
            _, hh, ww = f.shape
            scores = [
                net.classifier(f[:, i : i + CROP - 1, j : j + CROP - 1][None])[0]
                for i in range(hh - CROP + 2)
                for j in range(ww - CROP + 2)
            ]
            probs.append(torch.stack(scores).mean(0).softmax(0))
    return torch.stack(probs).mean(0)


def test_dense_protocol_slides_the_fc_head_over_every_window(folder: Path) -> None:
    net = TinyFCNet().eval()
    scales = (8, 11)
    for path in sorted(folder.rglob("*.png")):
        with torch.no_grad():
            want = _dense_hand(net, Image.open(path).convert("RGB"), scales)
        got = image_scores(net, path, "dense", MEAN, STD, scales=scales, crop=CROP)
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("protocol", ["center", "10crop", "dense", "multicrop144"])
def test_evaluate_protocol_scores_every_image_once_with_its_label(folder: Path, protocol: str) -> None:
    net = TinyFCNet().eval()
    index = index_split(folder, "val")
    m = evaluate_protocol(net, index, protocol, MEAN, STD, crop=CROP, batch_size=3)
    probs = torch.stack([image_scores(net, p, protocol, MEAN, STD, crop=CROP) for p in index.files]).double()
    y = torch.tensor(index.labels)
    assert m["images"] == len(index) == 4
    assert m["loss"] == pytest.approx(-probs[torch.arange(4), y].log().mean().item(), rel=1e-5)
    assert m["err"] == pytest.approx(100 * (probs.argmax(1) != y).double().mean().item())


def _alexnet() -> nn.Module:
    return AlexNet(alexnet_layers(1), 7, 3, 99, fc_width=32)


def _zfnet() -> nn.Module:
    return AlexNet(zfnet_layers(), 7, 3, 99, fc_width=32, ceil_mode=True)


def _vgg_a() -> nn.Module:
    return VGG(VGG_CONFIGS["A"], 7, 3, img_size=64, fc_width=32)


@pytest.mark.parametrize(("build", "size"), [(_alexnet, 99), (_zfnet, 99), (_vgg_a, 64)])
def test_fc_as_convolutions_equals_the_original_at_the_training_size(build, size: int) -> None:  # noqa: ANN001
    """The papers' layers with narrow fc6/fc7 (the conversion does not depend on their width)."""
    torch.manual_seed(0)
    model = build().eval()
    dense = dense_model(model)
    assert isinstance(dense, FullyConvolutional)
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        torch.testing.assert_close(dense(x), model(x), rtol=1e-4, atol=1e-5)
        assert dense(torch.randn(1, 3, size + 64, size + 32)).shape == (1, 7)  # any larger image


def test_a_globally_pooled_network_is_already_fully_convolutional() -> None:
    model = convzoo.create_model("resnet18", num_classes=3)
    assert dense_model(model) is model


def test_a_head_that_does_not_match_its_feature_map_is_refused() -> None:
    net = TinyFCNet()
    net.feature_shape = (4, 5, 5)
    with pytest.raises(ValueError, match="cannot apply it as a convolution"):
        dense_model(net)


@pytest.mark.parametrize(
    ("text", "protocol", "match"),
    [
        ("256,abc", "dense", "whole numbers"),
        ("100,384", "dense", "at least the crop size 224"),
        ("256,384", "center", "center takes one scale"),
        ("256", "five-crop", "unknown protocol"),
    ],
)
def test_bad_scales_and_protocols_are_refused_by_name(text: str, protocol: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        parse_scales(text, protocol, 224)


def test_default_scales_follow_the_papers_and_the_crop() -> None:
    assert parse_scales(None, "dense") == (256, 384, 512)
    assert parse_scales(None, "multicrop144") == (256, 288, 320, 352)
    assert parse_scales(None, "center", 112) == (128,)
    assert parse_scales("300,400", "multicrop144") == (300, 400)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ResNet-18 checkpoint for 32×32 crops of the folder's two classes."""
    from convzoo.train.checkpoint import save_checkpoint

    classes = ["c0", "c1"]
    torch.manual_seed(0)
    model = convzoo.create_model("resnet18", num_classes=len(classes))
    meta = {
        "model": "resnet18",
        "num_classes": len(classes),
        "in_chans": 3,
        "image_size": [3, 32, 32],
        "classes": classes,
        "mean": list(MEAN),
        "std": list(STD),
        "data": "folder",
    }
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "run", model, {}, meta, index=1)


def test_eval_command_runs_a_protocol_on_a_streamed_folder(folder: Path, checkpoint: Path, capsys) -> None:  # noqa: ANN001
    from convzoo.train.cli import main
    from convzoo.train.inference import load_trained

    ckpt = checkpoint
    assert (
        main(["eval", str(ckpt), "--data", str(folder), "--protocol", "center", "--scales", "40", "--json"])
        == 0
    )
    got = json.loads(capsys.readouterr().out)
    net, _ = load_trained(ckpt)
    want = evaluate_protocol(net, index_split(folder, "val"), "center", MEAN, STD, scales=(40,), crop=32)
    assert got == pytest.approx(want)


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (["--protocol", "dense", "--scales", "16"], "at least the crop size 32"),
        (["--protocol", "center", "--tta", "flip"], "--tta and --protocol"),
        (["--protocol", "center", "--split", "train"], "does not exist"),
    ],
)
def test_eval_command_names_the_bad_option(
    folder: Path, checkpoint: Path, capsys, extra: list[str], match: str
) -> None:  # noqa: ANN001
    from convzoo.train.cli import main

    assert main(["eval", str(checkpoint), "--data", str(folder), *extra]) != 0
    assert match in capsys.readouterr().err
