"""Parity with torchvision and timm: their (randomly initialised) weights, mapped by the keys registered in
convzoo.models.resnet*, give the same logits in eval mode. No download: the same mapping loads their files."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

import convzoo
from convzoo.hub import convert_state_dict, weight_sources

torchvision = pytest.importorskip("torchvision")
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    timm = pytest.importorskip("timm")

# (our model, overrides, source, peer model). torchvision's and timm's bottleneck ResNets stride in the 3×3:
# the paper-form nets load them with v1_5=True. timm's resnetv2_50 is our ResNet-50 with full pre-activation
# units (the mapping is registered for preact_resnet152, the paper's net with a timm peer).
CASES = [
    ("resnet18", {}, "torchvision", "resnet18"),
    ("resnet34", {}, "torchvision", "resnet34"),
    ("resnet50", {"v1_5": True}, "torchvision", "resnet50"),
    ("resnet101", {"v1_5": True}, "torchvision", "resnet101"),
    ("resnet152", {"v1_5": True}, "torchvision", "resnet152"),
    ("resnext50_32x4d", {}, "torchvision", "resnext50_32x4d"),
    ("resnext101_32x8d", {}, "torchvision", "resnext101_32x8d"),
    ("wide_resnet50_2", {}, "torchvision", "wide_resnet50_2"),
    ("se_resnet50", {"v1_5": True}, "timm", "seresnet50"),
    ("se_resnext50_32x4d", {}, "timm", "seresnext50_32x4d"),
    ("senet154", {}, "timm", "legacy_senet154"),
]
SLOW = {"resnet152", "resnext101_32x8d", "senet154"}  # the biggest peers: run in CI, skipped by -m "not slow"
PARAMS = [pytest.param(*c, id=c[0], marks=[pytest.mark.slow] if c[0] in SLOW else []) for c in CASES]
MAX_ABS_DIFF = 1e-4


def peer(source: str, name: str) -> nn.Module:
    torch.manual_seed(0)
    model = torchvision.models.get_model(name) if source == "torchvision" else timm.create_model(name)
    for m in model.modules():  # random BN statistics and affines, so that a mis-mapped BN shows
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            nn.init.uniform_(m.weight, 0.5, 1.5)
            nn.init.uniform_(m.bias, -0.5, 0.5)
    return model.eval()


def compare(ours: nn.Module, theirs: nn.Module, size: int = 64) -> float:
    torch.manual_seed(1)
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        return (ours.eval()(x) - theirs(x)).abs().max().item()


@pytest.mark.parametrize("name, overrides, source, peer_name", PARAMS)
def test_logits_match_peer(name, overrides, source, peer_name):
    theirs = peer(source, peer_name)
    ours = convzoo.create_model(name, **overrides)
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in theirs.parameters())
    convzoo.load_weights(ours, source, state_dict=theirs.state_dict())
    diff = compare(ours, theirs)
    print(f"{name} vs {source} {peer_name}: max abs diff {diff:.2e}")
    assert diff < MAX_ABS_DIFF


def test_preactivation_resnet_matches_timm_resnetv2():
    theirs = peer("timm", "resnetv2_50")
    ours = convzoo.create_model("resnet50", unit="full_preact", v1_5=True)
    mapped = convert_state_dict("preact_resnet152", "timm", theirs.state_dict())
    ours.load_state_dict(mapped, strict=True)
    diff = compare(ours, theirs)
    print(f"pre-act resnet50 vs timm resnetv2_50: max abs diff {diff:.2e}")
    assert diff < MAX_ABS_DIFF
    with torch.device("meta"):  # and the registered net is exactly timm's resnetv2_152
        ours152, theirs152 = convzoo.create_model("preact_resnet152"), timm.create_model("resnetv2_152")
    assert set(convert_state_dict("preact_resnet152", "timm", theirs152.state_dict())) == set(
        ours152.state_dict()
    )


def test_paper_form_differs_from_v1_5_with_the_same_weights():
    theirs = peer("torchvision", "resnet50")
    ours = convzoo.create_model("resnet50")  # stride in the first 1×1: same tensors, another function
    with pytest.raises(ValueError, match=r"belong to convzoo.create_model\('resnet50', v1_5=True\)"):
        convzoo.load_weights(ours, "torchvision", state_dict=theirs.state_dict())
    convzoo.load_weights(ours, "torchvision", state_dict=theirs.state_dict(), check_config=False)
    assert compare(ours, theirs) > 1e-3


def test_registered_sources_name_real_files():
    for name in ["resnet18", "resnet50", "resnext101_32x8d", "wide_resnet50_2", "se_resnet50", "senet154"]:
        by_source = {s.source: s for s in weight_sources(name)}
        src = by_source.get("torchvision") or by_source["timm"]  # the library's own .pth (others: safetensors)
        assert src.url and src.url.endswith(".pth")
        assert src.sha256 and src.url.rsplit("-", 1)[1].startswith(src.sha256)  # torch.hub's name-hash rule


def test_mismatched_weights_are_refused_with_the_keys():
    theirs = torchvision.models.resnet18()
    ours = convzoo.create_model("resnet34")
    with pytest.raises(ValueError, match="missing: .*stages.0.2"):
        convzoo.load_weights(ours, "torchvision", state_dict=theirs.state_dict())
    with pytest.raises(ValueError, match="no 'timm' weights are mapped for 'resnet18'"):
        convzoo.load_weights(convzoo.create_model("resnet18"), "timm", state_dict=theirs.state_dict())
