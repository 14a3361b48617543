"""Pretrained weights load only into the network they belong to; what each source publishes is exposed.

Cases by class: a configuration that differs (paper form vs V1.5, SE added, other in_chans, a tampered layer,
a model that claims another name) is refused with the create_model call to use; a new head loads the backbone
and keeps its classifier; every source's own configuration loads; preprocessing, accuracy and class names come
from the provider; `convzoo predict --weights` gives the provider's own top-5.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import convzoo
from convzoo.cli import main
from convzoo.hub import (
    find_source,
    format_weights_table,
    imagenet_classes,
    load_weights,
    pretrained_model,
    weight_sources,
)
from convzoo.hub.load import _check_config

torchvision = pytest.importorskip("torchvision")


def meta_model(name: str, **overrides: object) -> torch.nn.Module:
    with torch.device("meta"):
        return convzoo.create_model(name, **overrides)


def peer_state(name: str, **kwargs: object) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return torchvision.models.get_model(name, **kwargs).state_dict()


# --- another configuration is refused, with the call to use -----------------------------------------------------


@pytest.mark.parametrize(
    ("name", "overrides", "source", "expected"),
    [
        ("resnet50", {}, "torchvision", r"create_model\('resnet50', v1_5=True\)"),  # paper form: logits off by 6
        ("resnet101", {}, "torchvision", r"create_model\('resnet101', v1_5=True\)"),
        ("se_resnet50", {}, "timm", r"create_model\('se_resnet50', v1_5=True\)"),  # paper form: off by 1.2
        # the README's example: SE blocks added to torchvision's ResNet-50, with a new head
        ("resnet50", {"num_classes": 10, "attn_layer": "se"}, "torchvision",
         r"create_model\('resnet50', v1_5=True, num_classes=10\).*stages\.0\.0\.attn: yours SqueezeExcite"),
        ("resnet18", {"in_chans": 1}, "torchvision", r"stem\.conv.*yours Conv2d\(1, 64"),
        ("vgg16", {"img_size": 32}, "torchvision", r"classifier\.fc6: yours Linear\(in_features=512"),
    ],
)  # fmt: skip
def test_another_configuration_is_refused_with_the_call_to_use(name, overrides, source, expected) -> None:
    model = meta_model(name, **overrides)
    with pytest.raises(ValueError, match=expected) as err:
        load_weights(model, source, state_dict={})  # refused before any tensor is read
    assert f"create_model({name!r}, weights={source!r}" in str(err.value)


def test_the_structure_is_compared_not_only_the_name() -> None:
    impostor = meta_model("resnet18")
    impostor.convzoo_name = "resnet34"  # type: ignore[assignment]
    with pytest.raises(ValueError, match=r"stages\.0\.2: yours absent, the weights' ResidualBlock"):
        load_weights(impostor, "torchvision", state_dict={})
    tampered = meta_model("resnet50", v1_5=True)
    conv = next(m for n, m in tampered.named_modules() if n.endswith("branch.conv2") and m.stride == (2, 2))
    conv.stride = (1, 1)
    with pytest.raises(ValueError, match=r"branch\.conv2: yours Conv2d\(128, 128, .*stride=\(1, 1\)"):
        load_weights(tampered, "torchvision", state_dict={})


def test_create_model_with_weights_refuses_conflicting_overrides_and_unknown_sources() -> None:
    with pytest.raises(ValueError, match=r"belong to create_model\('resnet50', v1_5=True\); v1_5=False"):
        convzoo.create_model("resnet50", weights="torchvision", v1_5=False)
    with pytest.raises(ValueError, match="no 'torchvision' weights are mapped for 'alexnet'"):
        convzoo.create_model("alexnet", weights="torchvision")


# --- the right configuration loads; a new head keeps its classifier ----------------------------------------------

FAST_SOURCES = [("resnet50", "torchvision"), ("googlenet_tv", "torchvision"), ("vgg11_bn", "torchvision")]
ALL_SOURCES = [
    pytest.param(s.model, s.source, marks=[] if (s.model, s.source) in FAST_SOURCES else [pytest.mark.slow])
    for s in weight_sources()
]


@pytest.mark.parametrize(("name", "source"), ALL_SOURCES)
def test_every_source_fits_its_own_configuration_and_names_its_head(name: str, source: str) -> None:
    ws = find_source(name, source)
    assert _check_config(meta_model(name, **ws.config), ws) == frozenset()
    model = meta_model(name, **ws.config, num_classes=10)
    head = _check_config(model, ws)
    classifier = next(n for n, m in model.named_modules() if m is model.get_classifier())
    assert {f"{classifier}.weight", f"{classifier}.bias"} <= head
    assert all(k.startswith(classifier + ".") or k.startswith("aux_heads.") for k in head), sorted(head)


def test_a_new_head_gets_the_backbone_and_keeps_its_classifier() -> None:
    theirs = peer_state("resnet18")
    torch.manual_seed(1)
    ours = convzoo.create_model("resnet18", num_classes=10)
    own_fc = ours.fc.weight.detach().clone()
    with pytest.warns(
        UserWarning, match=r"loaded torchvision's resnet18 backbone; the classifier \(fc\.bias, fc"
    ):
        load_weights(ours, "torchvision", state_dict=theirs)
    assert torch.equal(ours.fc.weight, own_fc)
    assert torch.equal(ours.stem.conv.weight, theirs["conv1.weight"])
    assert ours.fc.weight.shape == (10, 512)


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (
            lambda t: t.to(torch.int8),
            r"wrong dtype \(never cast silently\): stem\.conv\.weight \(torch\.int8",
        ),
        (
            lambda t: torch.full_like(t, float("nan")),
            r"non-finite weights \(NaN or infinity\) in stem\.conv\.weight",
        ),
    ],
)
def test_wrong_dtype_or_non_finite_weights_are_refused_and_nothing_changes(
    tamper, message, tmp_path: Path
) -> None:
    theirs = peer_state("resnet18")
    theirs["conv1.weight"] = tamper(theirs["conv1.weight"])
    torch.save(theirs, tmp_path / "w.pth")
    model = convzoo.create_model("resnet18")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with (
        pytest.warns(UserWarning, match="not torchvision's published"),
        pytest.raises(ValueError, match=message) as e,
    ):
        load_weights(model, "torchvision", file=tmp_path / "w.pth")
    assert str(tmp_path / "w.pth") in str(e.value)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_pretrained_model_builds_the_configuration_and_loads(tmp_path: Path) -> None:
    theirs = peer_state("resnet50")
    model = pretrained_model("resnet50", "torchvision", state_dict=theirs).eval()
    assert model.convzoo_name == "resnet50"
    peer = torchvision.models.resnet50().eval()
    peer.load_state_dict(theirs)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert (model(x) - peer(x)).abs().max() < 1e-4


# --- what the provider publishes ------------------------------------------------------------------------------


def test_torchvision_sources_carry_the_providers_accuracy_size_and_license() -> None:
    sources = [s for s in weight_sources() if s.source == "torchvision"]
    assert len(sources) >= 20
    for s in sources:
        assert s.top1 is not None and 50 < s.top1 < 90 and s.file_size and s.license == "BSD-3-Clause", (
            s.model
        )
        assert s.preprocess is not None and s.preprocess.source.startswith("torchvision ")
    ws = find_source("resnet50", "torchvision")
    weights = torchvision.models.ResNet50_Weights.IMAGENET1K_V1
    assert (ws.top1, ws.top5) == (weights.meta["_metrics"]["ImageNet-1K"]["acc@1"], 92.862)
    assert ws.to_dict()["create"] == "create_model('resnet50', v1_5=True)"


def picture(size: tuple[int, int] = (300, 260)) -> Image.Image:
    rng = np.random.default_rng(0)
    grad = np.linspace(0, 255, size[0] * size[1] * 3).reshape(size[1], size[0], 3)
    return Image.fromarray((grad * 0.7 + rng.integers(0, 76, grad.shape)).astype(np.uint8))


def test_preprocessing_equals_torchvisions_transform() -> None:
    img = picture()
    ours = find_source("resnet50", "torchvision").preprocess.transform()(img)
    theirs = torchvision.models.ResNet50_Weights.IMAGENET1K_V1.transforms()(img)
    assert ours.shape == (3, 224, 224) and torch.allclose(ours, theirs, atol=1e-6)


def test_googlenet_preprocessing_folds_torchvisions_transform_input() -> None:
    img = picture()
    ours = find_source("googlenet_tv", "torchvision").preprocess.transform()(img)
    peer = torchvision.models.googlenet(init_weights=False, aux_logits=False, transform_input=True)
    theirs = peer._transform_input(
        torchvision.models.GoogLeNet_Weights.IMAGENET1K_V1.transforms()(img)[None]
    )[0]
    assert torch.allclose(ours, theirs, atol=1e-5)


def test_timm_preprocessing_and_license_match_timms_pretrained_cfg() -> None:
    timm = pytest.importorskip("timm")
    sources = [s for s in weight_sources() if s.source == "timm" and s.url]
    assert len(sources) == 5
    for s in sources:
        cfg = timm.models.get_pretrained_cfg(re.search(r"'(.+)'", s.preprocess.source)[1]).to_dict()
        p = s.preprocess
        assert p.crop == cfg["input_size"][-1] and p.resize == math.floor(p.crop / cfg["crop_pct"]), s.model
        assert (p.interpolation, p.mean, p.std) == (cfg["interpolation"], cfg["mean"], cfg["std"]), s.model
        assert s.license == cfg["license"]
        assert s.url in (
            cfg.get("url"),
            f"https://huggingface.co/{cfg.get('hf_hub_id')}/resolve/main/pytorch_model.bin",
        )


def test_imagenet_class_names_need_no_download() -> None:
    classes = imagenet_classes()
    assert len(classes) == len(set(classes)) == 1000
    assert (classes[0], classes[207], classes[999]) == ("tench", "golden retriever", "toilet tissue")


# --- convzoo predict --weights --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["resnet18", pytest.param("resnet50", marks=pytest.mark.slow)]
)  # 50: V1.5 config
def test_predict_with_torchvision_weights_prints_torchvisions_top5(name: str, tmp_path: Path, capsys) -> None:
    torch.manual_seed(0)
    peer = torchvision.models.get_model(name).eval()
    for m in peer.modules():  # spread the logits so that the top 5 are far from ties
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_var.uniform_(0.5, 2.0)
    file, image = tmp_path / f"{name}-local.pth", tmp_path / "cat.png"
    torch.save(peer.state_dict(), file)
    picture().save(image)
    weights = torchvision.models.get_model_weights(name).IMAGENET1K_V1
    with torch.no_grad():
        top = peer(weights.transforms()(Image.open(image))[None]).softmax(1)[0].topk(5)
    expected = [f"{100 * p:6.2f}%  {weights.meta['categories'][i]}" for p, i in zip(*top, strict=True)]
    with pytest.warns(UserWarning, match=f"is not torchvision's published {name} file"):
        code = main(["predict", "--weights", "torchvision", name, "--weights-file", str(file), str(image)])
    out = capsys.readouterr().out.splitlines()
    assert code == 0 and out[0] == str(image)
    assert [line.strip() for line in out[1:]] == [e.strip() for e in expected]


def test_predict_with_weights_names_a_bad_image(tmp_path: Path, capsys) -> None:
    (tmp_path / "bad.jpg").write_bytes(b"not an image")
    code = main(["predict", "--weights", "torchvision", "resnet18", str(tmp_path / "bad.jpg")])
    assert code != 0 and f"cannot decode image {tmp_path / 'bad.jpg'}" in capsys.readouterr().err


# --- feature extraction: the same methods on every family ------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["resnet18", "densenet121", "googlenet", "vgg11", "nin_cifar10", "lenet5_modern"]
)
def test_pre_logits_are_the_classifiers_input(name: str) -> None:
    info = convzoo.model_info(name)
    model = meta_model(name).eval()
    classifier = model.get_classifier()
    width = getattr(classifier, "in_features", None) or classifier.in_channels
    with torch.no_grad():
        assert model.forward_pre_logits(torch.zeros(2, *info.input_size, device="meta")).shape[:2] == (
            2,
            width,
        )


def test_pre_logits_features_and_a_reset_classifier_on_real_weights() -> None:
    torch.manual_seed(0)
    model = convzoo.create_model("resnet18").eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        feats = model.forward_features(x)
        emb = model.forward_pre_logits(x)
        assert feats.shape == (2, 512, 2, 2) and emb.shape == (2, 512)
        assert torch.allclose(model.fc(emb), model(x), atol=1e-5)
        model.reset_classifier(7)
        assert model(x).shape == (2, 7) and torch.equal(model.forward_pre_logits(x), emb)


def test_list_weights_and_info_show_each_source(capsys) -> None:
    assert main(["list", "resnet50", "--weights"]) == 0
    out = capsys.readouterr().out
    for text in (
        "create_model('resnet50', v1_5=True)",
        "76.13",
        "92.86",
        "97.8 MiB",
        "BSD-3-Clause",
        "256→224",
    ):
        assert text in out
    assert main(["list", "inception*", "--weights", "--format", "json"]) == 0
    v4 = next(d for d in json.loads(capsys.readouterr().out) if d["model"] == "inception_v4")
    assert v4["checksum"] == "published by the server" and "X-Linked-Etag" in v4["checksum_provenance"]
    assert v4["top1"] is None and v4["license"] == "apache-2.0" and v4["preprocess"]["crop"] == 299
    assert main(["info", "se_resnet50"]) == 0
    assert "weights:    timm: convzoo.create_model('se_resnet50', v1_5=True)" in capsys.readouterr().out
    table = format_weights_table(weight_sources("resnet18"), markdown=True).splitlines()
    assert table[0].startswith("| model | source | builds |") and table[2].startswith(
        "| resnet18 | torchvision |"
    )


@pytest.mark.parametrize(
    ("name", "names", "shapes"),
    [
        ("resnet50", ["stages.1", "stages.2", "stages.3"], [(512, 28, 28), (1024, 14, 14), (2048, 7, 7)]),
        ("googlenet", ["features.inception3b", "features.inception4e"], [(480, 28, 28), (832, 14, 14)]),
    ],
)
def test_forward_intermediates_give_a_feature_pyramid(
    name: str, names: list[str], shapes: list[tuple]
) -> None:
    model = meta_model(name).eval()
    with torch.no_grad():
        maps = model.forward_intermediates(torch.zeros(1, 3, 224, 224, device="meta"), names)
    assert list(maps) == names and [tuple(t.shape[1:]) for t in maps.values()] == shapes
    with pytest.raises(ValueError, match="has no submodule 'stages.9'"):
        model.forward_intermediates(torch.zeros(1, 3, 224, 224, device="meta"), ["stages.9"])
