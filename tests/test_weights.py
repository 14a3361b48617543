"""Pretrained weights load only into the network they belong to; what each source publishes is exposed.

Cases by class: a configuration that differs (paper form vs V1.5, SE added, other in_chans, a tampered layer,
a model that claims another name) is refused with the create_model call to use; a new head loads the backbone
and keeps its classifier; every source's own configuration loads; preprocessing, accuracy and class names come
from the provider; `convzoo predict --weights` gives the provider's own top-5.
"""

from __future__ import annotations

import dataclasses
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
    Preprocess,
    find_source,
    format_weights_table,
    identify,
    imagenet_classes,
    load_weights,
    pretrained_model,
    weight_sources,
)
from convzoo.hub.load import _check_config, load_pretrained

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
    sources = [s for s in weight_sources() if s.provider == "timm" and s.url]
    assert len(sources) == 7
    for s in sources:
        assert re.search(r"'(.+)'", s.preprocess.source)[1] == s.weights_name, s.model
        cfg = timm.models.get_pretrained_cfg(s.weights_name).to_dict()
        p = s.preprocess
        assert p.crop == cfg["input_size"][-1] and p.resize == math.floor(p.crop / cfg["crop_pct"]), s.model
        assert (p.interpolation, p.mean, p.std) == (cfg["interpolation"], cfg["mean"], cfg["std"]), s.model
        assert s.license == cfg["license"]
        hub = f"https://huggingface.co/{cfg.get('hf_hub_id')}/resolve/main/"
        assert s.url in (cfg.get("url"), f"{hub}pytorch_model.bin", f"{hub}model.safetensors")
        for known in s.known_files:  # a GitHub release file of the same weights: the prefix in timm's cfg url
            if "GitHub release" in known.what:
                assert cfg["url"].endswith(f"-{known.sha256}.pth"), (s.model, cfg["url"])


def test_timm_sources_carry_timms_published_accuracy_and_a_size() -> None:
    """timm publishes accuracy in its results table, measured at the pretrained cfg's own preprocessing
    (registration refuses a figure measured otherwise); every downloadable timm row has a size."""
    for s in (s for s in weight_sources() if s.provider == "timm" and s.url):
        assert s.top1 is not None and 75 < s.top1 < 85 and s.top5 is not None and 90 < s.top5 < 97, s.model
        assert "results-imagenet.csv" in s.metric_source and f"{s.preprocess.crop} px" in s.metric_source
        assert s.file_size and 40e6 < s.file_size < 500e6, s.model
    a1 = find_source("resnet50", "timm")
    assert (a1.weights_name, a1.top1, a1.top5) == ("resnet50.a1_in1k", 80.382, 94.598)
    assert (a1.preprocess.resize, a1.preprocess.crop, a1.preprocess.interpolation) == (235, 224, "bicubic")
    assert find_source("resnet50", "timm.a1_in1k") == a1  # its alias, as timm names it
    assert a1.file_size == 102_000_000 and "102 MB" in a1.size_source
    from convzoo.hub.sources import Accuracy, Preprocess, register_weights

    with pytest.raises(ValueError, match="measured at 288 px, crop_pct 1.0"):  # timm's 81.22 % is at 288 px
        register_weights(
            "resnet50", "timm.wrong", "resnet50", accuracy=Accuracy(81.24, 95.1, 288, 1.0, "bicubic", "test"),
            preprocess=Preprocess(235, 224, (0.5,) * 3, (0.5,) * 3, "bicubic"),
        )  # fmt: skip


def test_timm_resnet50_preprocessing_equals_timms_own_transform() -> None:
    timm = pytest.importorskip("timm")
    img = picture()
    for source in ("timm", "timm.ra_in1k"):
        ws = find_source("resnet50", source)
        cfg = timm.data.resolve_data_config({}, pretrained_cfg=timm.models.get_pretrained_cfg(ws.weights_name).to_dict())
        theirs = timm.data.create_transform(**cfg)(img)
        ours = convzoo.transforms("resnet50", weights=source)(img)
        assert ours.shape == theirs.shape == (3, 224, 224)
        assert (ours - theirs).abs().max() < 0.02, source  # PIL resize either way; timm rounds its size alike


def test_resnet50_v2_is_torchvisions_published_v2() -> None:
    ws = find_source("resnet50", "torchvision.v2")
    v2 = torchvision.models.ResNet50_Weights.IMAGENET1K_V2
    assert ws.url == v2.url and ws.url.endswith("resnet50-11ad3fa6.pth") and ws.checksum.sha256 == "11ad3fa6"
    assert "prefix" in ws.checksum.provenance and "no full digest" in ws.checksum.provenance
    assert (ws.top1, ws.top5) == (80.858, 95.434) and ws.weights_name == "ResNet50_Weights.IMAGENET1K_V2"
    assert (ws.preprocess.resize, ws.preprocess.crop, ws.preprocess.interpolation) == (232, 224, "bilinear")
    assert ws.config == {"v1_5": True} and ws.license == "BSD-3-Clause"
    # 97.79 MiB, printed with 2 decimals: the download bounds allow that rounding
    from convzoo.hub.load import _size_bounds

    low, high = _size_bounds(ws)
    assert low <= round(97.785 * 2**20) and high >= round(97.795 * 2**20) and high - low < 25_000
    img = picture()
    assert torch.allclose(convzoo.transforms("resnet50", weights="torchvision.v2")(img), v2.transforms()(img), atol=1e-6)
    for s in weight_sources():  # every torchvision URL is one of torchvision's own weight entries
        if s.provider == "torchvision" and s.url:
            assert s.weights_name.endswith(("IMAGENET1K_V1", "IMAGENET1K_V2")), s.url


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
    rows = {line.split()[1]: line for line in out.splitlines() if line.startswith("resnet50 ")}
    assert "80.86" in rows["torchvision.v2"] and "232→224 bilinear" in rows["torchvision.v2"]
    assert "(IMAGENET1K_V2)" in rows["torchvision.v2"] and "(resnet50.a1_in1k)" in rows["timm"]
    for tag, top1, pre in (("timm", "80.38", "235→224 bicubic"), ("timm.ra_in1k", "78.82", "256→224 bicubic")):
        assert top1 in rows[tag] and "97.3 MiB" in rows[tag] and "apache-2.0" in rows[tag] and pre in rows[tag]
    assert main(["list", "se_resnet50", "--weights"]) == 0
    se = capsys.readouterr().out
    assert "80.26" in se and "≈107.4 MiB" in se  # timm's figure; a size computed from the tensors, marked
    assert main(["list", "inception*", "--weights", "--format", "json"]) == 0
    v4 = next(d for d in json.loads(capsys.readouterr().out) if d["model"] == "inception_v4")
    assert v4["checksum"] == "published by the server" and "X-Linked-Etag" in v4["checksum_provenance"]
    assert v4["top1"] == 80.144 and v4["license"] == "apache-2.0" and v4["preprocess"]["crop"] == 299
    assert v4["file_size"] == 171_000_000 and v4["weights_name"] == "inception_v4.tf_in1k"
    assert main(["info", "se_resnet50"]) == 0
    assert "weights:    timm: convzoo.create_model('se_resnet50', v1_5=True)" in capsys.readouterr().out
    table = format_weights_table(weight_sources("resnet18"), markdown=True).splitlines()
    assert table[0].startswith("| model | source | builds |") and table[2].startswith(
        "| resnet18 | torchvision (IMAGENET1K_V1) |"
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


# --- a weights file is matched to its source by content, not by the name given ---------------------------------


@pytest.fixture
def publish(monkeypatch):
    """``publish(model, source, path)``: pretend ``path`` is the source's published file (its SHA-256 prefix
    becomes the source's checksum), as the real V2 or timm file would be; no download is possible here."""
    from convzoo.hub import Checksum, sha256sum, sources

    def _publish(model: str, source: str, path: Path) -> None:
        ws = sources._SOURCES[(model, source)]
        checksum = Checksum(sha256sum(path)[:8], provenance="a test's stand-in for the published file")
        monkeypatch.setitem(sources._SOURCES, (model, source), dataclasses.replace(ws, checksum=checksum))
        sources._torchvision_meta.cache_clear()

    yield _publish
    sources._torchvision_meta.cache_clear()


def fake_source(monkeypatch, model: str, source: str, **changes: object) -> None:
    """Register another source for ``model`` for one test (a second provider, another key layout)."""
    from convzoo.hub import sources

    base = sources._SOURCES[(model, "torchvision")]
    ws = dataclasses.replace(base, source=source, url=None, checksum=None, **changes)
    monkeypatch.setitem(sources._SOURCES, (model, source), ws)


def saved(state: dict[str, torch.Tensor], path: Path) -> Path:
    torch.save(state, path)
    return path


TIMM_LIKE = Preprocess(235, 224, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), "bicubic", "a test")


def test_a_published_file_of_another_source_is_loaded_as_that_source(tmp_path, monkeypatch, publish) -> None:
    fake_source(monkeypatch, "resnet18", "timm", preprocess=TIMM_LIKE, weights_name="resnet18.test")
    path = saved(peer_state("resnet18"), tmp_path / "theirs.pth")
    publish("resnet18", "timm", path)
    match = identify("resnet18", "torchvision", path)  # named as torchvision's: the checksum says timm's
    assert match.source.source == "timm" and match.how == "the published file"
    assert "is the published file of timm's resnet18.test (source 'timm')" in match.note
    assert "not of 'torchvision'" in match.note and "bicubic" in match.note
    assert convzoo.transforms("resnet18", weights="torchvision", file=path).transforms[0].size == [235]
    with pytest.warns(UserWarning, match="not of 'torchvision': loading it as 'timm'"):
        model = pretrained_model("resnet18", "torchvision", file=path)
    assert torch.equal(model.stem.conv.weight, torch.load(path)["conv1.weight"])


def test_an_unknown_file_whose_layout_several_sources_share_gets_the_named_source_and_says_so(
    tmp_path, monkeypatch
) -> None:
    fake_source(monkeypatch, "resnet18", "timm", preprocess=TIMM_LIKE, weights_name="resnet18.test")
    path = saved(peer_state("resnet18"), tmp_path / "resaved.pth")
    match = identify("resnet18", "torchvision", path)
    assert match.source.source == "torchvision" and match.how == "named"
    assert "is not torchvision's published resnet18 file" in match.note
    assert "fit 'timm' as well" in match.note and "`--weights timm`" in match.note and "bicubic" in match.note


def test_a_layout_only_one_source_has_decides(tmp_path, monkeypatch) -> None:
    """A file in another provider's key names (here every key under "model.") is loaded as that provider's."""
    from convzoo.models.resnet import from_torchvision_resnet

    def prefixed(sd):  # the other provider's layout: its converter strips the prefix first
        return from_torchvision_resnet({k.removeprefix("model."): v for k, v in sd.items() if k.startswith("model.")})

    fake_source(monkeypatch, "resnet18", "timm", convert=prefixed, preprocess=TIMM_LIKE)
    theirs = {f"model.{k}": v for k, v in peer_state("resnet18").items()}
    path = saved(theirs, tmp_path / "prefixed.pth")
    match = identify("resnet18", "torchvision", path)
    assert match.source.source == "timm" and match.how == "key layout"
    assert "its key layout is timm's, not torchvision's" in match.note
    with pytest.warns(UserWarning, match="key layout is timm's"):
        model = pretrained_model("resnet18", "torchvision", file=path)
    assert torch.equal(model.fc.weight, theirs["model.fc.weight"])


def test_a_published_file_of_another_network_is_refused_with_its_name(tmp_path, publish) -> None:
    path = saved(peer_state("resnet18"), tmp_path / "r18.pth")
    publish("resnet18", "torchvision", path)
    with pytest.raises(ValueError, match=r"published file of torchvision's .* for 'resnet18', not weights of 'resnet34'"):
        identify("resnet34", "torchvision", path)


def test_sources_are_named_by_provider_with_aliases_and_a_did_you_mean() -> None:
    assert find_source("resnet50", "torchvision.v1").source == "torchvision"
    with pytest.raises(ValueError, match=r"did you mean 'torchvision.v2'\?; it has: timm, timm.ra_in1k, torchvision"):
        find_source("resnet50", "torchvision.v3")
    with pytest.raises(SystemExit):
        main(["predict", "--weights", "pytorch", "resnet50", "x.jpg"])  # not a provider: refused at parsing


def test_a_v2_file_given_as_torchvision_gets_v2s_preprocessing_in_predict(tmp_path, capsys, publish) -> None:
    """The issue's case: torchvision's V2 file passed with --weights torchvision is V2 (232 → 224), and the
    top-5 is what torchvision's V2 transform and model give."""
    torch.manual_seed(0)
    peer = torchvision.models.resnet50().eval()
    for m in peer.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_var.uniform_(0.5, 2.0)
    file, image = saved(peer.state_dict(), tmp_path / "resnet50-v2.pth"), tmp_path / "cat.png"
    picture((400, 260)).save(image)
    publish("resnet50", "torchvision.v2", file)
    weights = torchvision.models.ResNet50_Weights.IMAGENET1K_V2
    with torch.no_grad():
        top = peer(weights.transforms()(Image.open(image))[None]).softmax(1)[0].topk(5)
    expected = [f"{100 * p:6.2f}%  {weights.meta['categories'][i]}".strip() for p, i in zip(*top, strict=True)]
    v2_note = r"published file of torchvision's ResNet50_Weights.IMAGENET1K_V2.*resize 232 bilinear"
    with pytest.warns(UserWarning, match=v2_note):
        code = main(["predict", "--weights", "torchvision", "resnet50", "--weights-file", str(file), str(image)])
    out = capsys.readouterr().out.splitlines()
    assert code == 0 and [line.strip() for line in out[1:]] == expected


def test_a_timm_state_dict_is_recognised_or_named(tmp_path, publish) -> None:
    """timm's resnet50 has torchvision's key names: its published file is recognised by its SHA-256 and gets
    timm's bicubic 235 → 224; a re-saved timm state dict cannot be told apart, and the warning says how to
    ask for timm's preprocessing."""
    timm = pytest.importorskip("timm")
    from safetensors.torch import save_file

    torch.manual_seed(0)
    state = timm.create_model("resnet50").state_dict()
    path = tmp_path / "model.safetensors"
    save_file(state, str(path))
    match = identify("resnet50", "torchvision", path)
    assert match.source.source == "torchvision" and "'timm'" in match.note and "235" in match.note
    publish("resnet50", "timm", path)
    match = identify("resnet50", "torchvision", path)
    assert match.source.source == "timm" and match.source.preprocess.interpolation == "bicubic"
    with pytest.warns(UserWarning, match="published file of timm's resnet50.a1_in1k"):
        model, ws = load_pretrained("resnet50", "torchvision", match=match)
    assert ws.source == "timm" and torch.equal(model.fc.weight, state["fc.weight"])


# --- --weights on summary, eval and export --------------------------------------------------------------------


def test_summary_with_weights_shows_the_sources_configuration_accuracy_and_preprocessing(capsys) -> None:
    assert main(["summary", "resnet50", "--weights", "torchvision.v2", "--depth", "1"]) == 0
    out = capsys.readouterr().out
    assert "weights: torchvision's ResNet50_Weights.IMAGENET1K_V2 (source 'torchvision.v2')" in out
    assert "create_model('resnet50', v1_5=True)" in out and "top-1 80.86%, top-5 95.43%" in out
    assert "resize the shorter side to 232 (bilinear), centre-crop 224" in out and "25,557,032" in out
    assert main(["summary", "inception_v4", "--weights", "timm", "--format", "json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["input_size"] == [3, 299, 299] and d["weights"]["top1"] == 80.144
    assert d["weights"]["preprocess"]["interpolation"] == "bicubic"
    assert main(["summary", "resnet50", "--weights", "timm", "--model-arg", "v1_5=false"]) == 2
    assert "v1_5=False would build another network" in capsys.readouterr().err


def imagenet_folder(root: Path, per_class: int = 2) -> Path:
    """val/<wnid>/ for two ImageNet-1k classes (tench, goldfish), small pictures of different sizes."""
    for c, wnid in enumerate(("n01440764", "n01443537")):
        (root / "val" / wnid).mkdir(parents=True)
        for i in range(per_class):
            picture((300 + 40 * i, 260 - 20 * c)).save(root / "val" / wnid / f"{i}.png")
    return root


def test_eval_with_weights_uses_the_sources_preprocessing(tmp_path: Path, capsys) -> None:
    torch.manual_seed(0)
    peer = torchvision.models.resnet18().eval()
    file = saved(peer.state_dict(), tmp_path / "r18.pth")
    root = imagenet_folder(tmp_path / "imagenet")
    tf = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.transforms()
    images = sorted((root / "val").rglob("*.png"))
    x = torch.stack([tf(Image.open(p).convert("RGB")) for p in images])
    labels = torch.tensor([0 if "n01440764" in str(p) else 1 for p in images])
    with torch.no_grad():
        loss = -peer(x).softmax(1)[torch.arange(len(labels)), labels].log().mean().item()
    with pytest.warns(UserWarning, match="is not torchvision's published resnet18 file"):
        code = main(["eval", "--weights", "torchvision", "resnet18", "--weights-file", str(file), "--data",
                     str(root), "--json"])  # fmt: skip
    out = capsys.readouterr()
    m = json.loads(out.out)
    assert code == 0 and m["images"] == 4 and m["source"] == "torchvision" and m["published_top1"] == 69.758
    assert m["loss"] == pytest.approx(loss, rel=1e-4)  # torchvision's transform and model, image for image
    assert "images of 2 of ImageNet-1k's 1000 classes" in out.err
    (root / "val" / "cats").mkdir()
    picture().save(root / "val" / "cats" / "a.png")
    code = main(["eval", "--weights", "torchvision", "resnet18", "--weights-file", str(file), "--data", str(root)])
    assert code == 2 and "named by their WordNet IDs" in capsys.readouterr().err
    assert main(["eval", "--weights", "torchvision", "resnet18", "--data", str(root), "--tta", "flip"]) == 2
    assert "--tta do not apply to --weights" in capsys.readouterr().err


def test_the_shipped_imagenet_wnids_are_timms() -> None:
    timm = pytest.importorskip("timm")
    from convzoo.hub.evaluate import imagenet_wnids

    path = Path(timm.__file__).parent / "data" / "_info" / "imagenet_synsets.txt"
    assert list(imagenet_wnids()) == path.read_text().split()


@pytest.mark.slow
def test_export_with_weights_carries_the_sources_preprocessing(tmp_path: Path, publish, capsys) -> None:
    pytest.importorskip("onnxruntime")
    from convzoo.deploy import read_export_metadata

    torch.manual_seed(0)
    file = saved(torchvision.models.resnet50().state_dict(), tmp_path / "resnet50-v2.pth")
    publish("resnet50", "torchvision.v2", file)
    out = tmp_path / "r50.onnx"
    with pytest.warns(UserWarning, match="published file of torchvision's ResNet50_Weights.IMAGENET1K_V2"):
        code = main(["export", "resnet50", "--weights", "torchvision", "--weights-file", str(file), "--format",
                     "onnx", "-o", str(out)])  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 0 and "preprocessing carried in the file: resize 232 (bilinear), centre-crop 224x224" in printed
    meta = read_export_metadata(out)
    assert (meta["resize"], meta["crop"], meta["interpolation"]) == (232, [224, 224], "bilinear")
    assert meta["weights_source"]["source"] == "torchvision.v2" and meta["weights_source"]["top1"] == 80.858
    assert meta["classes"][0] == "tench" and meta["num_classes"] == 1000
