"""DenseNet (Huang et al. 2017): exact sizes, the paper's layout, torchvision parity, memory-efficient equality."""

from __future__ import annotations

import copy
import functools
import re

import pytest
import torch
import torchvision
from torch import nn

import convzoo
from convzoo.hub import convert_state_dict, weight_sources
from convzoo.layers import SqueezeExcite
from convzoo.models.densenet import DenseLayer, DenseNet, cifar_config
from convzoo.registry import parse_figure

# Exact parameter counts. ImageNet: torchvision's (the authors' released models). CIFAR: computed from the
# architecture; each rounds to the paper's Table 2 figure (checked below).
PARAMS = {
    "densenet121": 7_978_856,
    "densenet169": 14_149_480,
    "densenet201": 20_013_928,
    "densenet264": 33_337_704,
    "densenet40_k12_cifar": 1_019_722,
    "densenet100_k12_cifar": 6_979_642,
    "densenet100_k24_cifar": 27_249_082,
    "densenet_bc100_k12_cifar": 769_162,
    "densenet_bc250_k24_cifar": 15_324_406,
    "densenet_bc190_k40_cifar": 25_624_430,
}
TABLE2 = {  # Table 2: params, C10+ error, C100+ error
    "densenet40_k12_cifar": ("1.0M", 5.24, 24.42),
    "densenet100_k12_cifar": ("7.0M", 4.10, 20.20),
    "densenet100_k24_cifar": ("27.2M", 3.74, 19.25),
    "densenet_bc100_k12_cifar": ("0.8M", 4.51, 22.27),
    "densenet_bc250_k24_cifar": ("15.3M", 3.62, 17.60),
    "densenet_bc190_k40_cifar": ("25.6M", 3.46, 17.18),
}
TABLE3 = {  # Table 3, single-crop top-1 / top-5 error
    "densenet121": (25.02, 7.71),
    "densenet169": (23.80, 6.85),
    "densenet201": (22.58, 6.34),
    "densenet264": (22.15, 6.12),
}


def meta_model(name: str, **kwargs) -> nn.Module:
    with torch.device("meta"):
        return convzoo.create_model(name, **kwargs)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def tiny(**kwargs) -> DenseNet:
    """A small CIFAR-style DenseNet for fast numerical tests."""
    args = dict(growth_rate=6, block_layers=(3, 2), stem="cifar", stem_width=12, num_classes=5)
    return DenseNet(**{**args, **kwargs})


def test_registered_names():
    assert convzoo.list_models("densenet*") == sorted(PARAMS)


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_exact_parameter_count(name):
    assert n_params(meta_model(name)) == PARAMS[name]


@pytest.mark.parametrize("name", sorted(TABLE2))
def test_cifar_sizes_and_errors_match_table2(name):
    params, c10, c100 = TABLE2[name]
    info = convzoo.model_info(name)
    assert (info.reported.params, info.reported.cifar10_err, info.reported.cifar100_err) == (params, c10, c100)
    assert info.input_size == (3, 32, 32) and info.num_classes == 10
    value, tol = parse_figure(params)
    assert abs(PARAMS[name] - value) <= tol


@pytest.mark.parametrize("name", sorted(TABLE3))
def test_imagenet_errors_match_table3(name):
    rep = convzoo.model_info(name).reported
    assert (rep.top1_err, rep.top5_err) == TABLE3[name]
    if rep.params is not None:
        assert rep.params == PARAMS[name]


@pytest.mark.parametrize("name", ["densenet121", "densenet169", "densenet201"])
def test_parameter_count_equals_torchvision(name):
    with torch.device("meta"):
        peer = getattr(torchvision.models, name)()
    assert n_params(peer) == PARAMS[name]


def test_densenet121_layout_follows_table1():
    s = convzoo.summary("densenet121", depth=2)
    assert s.total_params == PARAMS["densenet121"]
    assert s.total_macs == 2_834_161_664  # torchvision lists 2.834 GFLOPS (= multiply-adds)
    shapes = {
        "stem.conv": [64, 112, 112],
        "stem.pool": [64, 56, 56],
        "stages.dense1": [256, 56, 56],
        "stages.trans1": [128, 28, 28],
        "stages.dense2": [512, 28, 28],
        "stages.trans2": [256, 14, 14],
        "stages.dense3": [1024, 14, 14],
        "stages.trans3": [512, 7, 7],
        "stages.dense4": [1024, 7, 7],
        "fc": [1000],
    }
    for name, shape in shapes.items():
        assert list(s.row(name).output_shape) == shape, name
    s = convzoo.summary("densenet121")
    assert s.row("stages.dense1.layer1.conv1").output_shape[0] == 4 * 32  # bottleneck 4k
    assert s.row("stages.dense1.layer1.conv2").output_shape[0] == 32  # growth rate k


@pytest.mark.parametrize(
    ("name", "stem", "layers", "bottleneck", "theta"),
    [
        ("densenet40_k12_cifar", 16, 12, 0, 1.0),
        ("densenet100_k24_cifar", 16, 32, 0, 1.0),
        ("densenet_bc100_k12_cifar", 24, 16, 4, 0.5),
        ("densenet_bc250_k24_cifar", 48, 41, 4, 0.5),
        ("densenet_bc190_k40_cifar", 80, 31, 4, 0.5),
    ],
)
def test_cifar_configs(name, stem, layers, bottleneck, theta):
    cfg = meta_model(name).config
    assert (cfg.stem, cfg.stem_width, cfg.block_layers) == ("cifar", stem, (layers,) * 3)
    assert (cfg.bottleneck_width, cfg.compression) == (bottleneck, theta)


def test_cifar_feature_map_sizes_and_receptive_field():
    # DenseNet (L=40, k=12): 32×32, 16×16, 8×8 feature maps. The widest path through the first block is the
    # stem conv and the block's 12 3×3 convs in a chain, so its receptive field is 1 + 2·13 = 27, not 3 + 2.
    s = convzoo.summary("densenet40_k12_cifar", depth=2)
    assert list(s.row("stages.dense1").output_shape) == [16 + 12 * 12, 32, 32]
    assert s.row("stages.dense1").receptive_field == 27
    assert list(s.row("stages.trans1").output_shape) == [160, 16, 16]
    assert list(s.row("stages.dense3").output_shape) == [448, 8, 8]
    # DenseNet-BC (100, 12): 16 layers per block; the 1×1 bottlenecks add nothing to the receptive field.
    assert convzoo.summary("densenet_bc100_k12_cifar", depth=2).row("stages.dense1").receptive_field == 1 + 2 * 17
    efficient = convzoo.summary("densenet_bc100_k12_cifar", depth=2, memory_efficient=True)
    assert efficient.row("stages.dense1").receptive_field == 35 and efficient.total_macs == 287_929_692
    rows = convzoo.summary("densenet_bc100_k12_cifar", depth=3)
    assert [rows.row(f"stages.dense1.layer{i}").receptive_field for i in (1, 2, 16)] == [5, 7, 35]


def test_cifar_config_rejects_impossible_depths():
    with pytest.raises(ValueError, match=r"DenseNet-BC depth must be 4 \+ 6·n"):
        cifar_config(101, 12, bc=True)
    with pytest.raises(ValueError, match=r"DenseNet depth must be 4 \+ 3·n"):
        cifar_config(41, 12, bc=False)
    assert cifar_config(40, 12, bc=False).block_layers == (12, 12, 12)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"stem": "mnist"}, "stem must be"),
        ({"compression": 0.0}, "compression"),
        ({"block_layers": ()}, "block_layers"),
        ({"bottleneck_width": -1}, "bottleneck_width"),
        ({"drop_rate": 1.0}, "drop_rate"),
        ({"norm_layer": "none"}, "need a norm_layer"),
        ({"num_classes": 0}, "num_classes"),
    ],
)
def test_bad_arguments_are_explained(kwargs, message):
    with pytest.raises(ValueError, match=message):
        meta_model("densenet121", **kwargs)


def test_unknown_override_lists_the_accepted_ones():
    with pytest.raises(TypeError, match="memory_efficient"):
        convzoo.create_model("densenet121", memory_eficient=True)


# --- parity with torchvision --------------------------------------------------------------------------------


def _randomize_bn(model: nn.Module) -> None:
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.rand(m.running_mean.shape, generator=g) - 0.5)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
            m.bias.data.copy_(torch.rand(m.bias.shape, generator=g) * 0.4 - 0.2)


def _old_style(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The key form of torchvision's published files: 'denselayer1.norm.1.weight' instead of 'norm1'."""
    return {re.sub(r"(denselayer\d+\.(?:norm|conv))([12])\.", r"\1.\2.", k): v for k, v in state_dict.items()}


@pytest.mark.parametrize("name", ["densenet121", "densenet169", "densenet201"])
def test_parity_with_torchvision(name):
    torch.manual_seed(0)
    peer = getattr(torchvision.models, name)().eval()
    _randomize_bn(peer)
    x = torch.randn(1, 3, 64, 64)  # feature maps 16, 8, 4, 2: every transition still pools
    ours = convzoo.create_model(name).eval()
    convzoo.load_weights(ours, "torchvision", state_dict=peer.state_dict())
    with torch.no_grad():
        assert (ours(x) - peer(x)).abs().max().item() < 1e-4
    # the published files' old key form loads the very same tensors
    old = convzoo.create_model(name)
    convzoo.load_weights(old, "torchvision", state_dict=_old_style(peer.state_dict()))
    for (key, a), b in zip(ours.state_dict().items(), old.state_dict().values(), strict=True):
        assert torch.equal(a, b), key


def test_old_style_keys_convert_like_new_ones():
    with torch.device("meta"):
        sd = torchvision.models.densenet121().state_dict()
    old = _old_style(sd)
    assert "features.denseblock1.denselayer1.norm.1.weight" in old
    assert list(convert_state_dict("densenet121", "torchvision", old)) == list(
        convert_state_dict("densenet121", "torchvision", sd)
    )


def test_torchvision_weight_sources():
    hashes = {"densenet121": "a639ec97", "densenet169": "b2777c0a", "densenet201": "c1103571"}
    for name, digest in hashes.items():
        (src,) = weight_sources(name)
        assert src.source == "torchvision" and src.peer_name == name and src.sha256 == digest
        assert src.url == f"https://download.pytorch.org/models/{name}-{digest}.pth"
    assert weight_sources("densenet264") == []


# --- memory-efficient option ---------------------------------------------------------------------------------


def _train_step(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    torch.manual_seed(1)  # the same dropout masks for both forms
    y = model(x)
    (y * torch.linspace(-1, 1, y.shape[1])).sum().backward()
    return y.detach()


@pytest.mark.parametrize("bottleneck_width", [4, 0])
def test_memory_efficient_gives_identical_outputs_gradients_and_statistics(bottleneck_width):
    torch.manual_seed(0)
    plain = tiny(bottleneck_width=bottleneck_width, drop_rate=0.2)
    efficient = copy.deepcopy(plain)
    efficient.set_memory_efficient(True)
    calls = []
    efficient.stages.dense1.layer2.norm1.register_forward_hook(lambda *_: calls.append(1))
    x = torch.randn(3, 3, 16, 16)
    y_plain, y_eff = _train_step(plain, x), _train_step(efficient, x)
    assert len(calls) == 2  # the concatenation-BN-ReLU-conv really was recomputed in backward
    assert torch.equal(y_plain, y_eff)
    for (name, p), q in zip(plain.named_parameters(), efficient.parameters(), strict=True):
        assert torch.allclose(p.grad, q.grad, rtol=0, atol=1e-6), name
    # BN running statistics are updated once, not a second time by the recomputation
    for (name, b), c in zip(plain.named_buffers(), efficient.buffers(), strict=True):
        assert torch.equal(b, c), name


def test_memory_efficient_registered_model_and_eval_mode():
    torch.manual_seed(0)
    plain = convzoo.create_model("densenet_bc100_k12_cifar", block_layers=(4, 4, 4))
    efficient = convzoo.create_model("densenet_bc100_k12_cifar", block_layers=(4, 4, 4), memory_efficient=True)
    efficient.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(_train_step(plain, x), _train_step(efficient, x))
    for p, q in zip(plain.parameters(), efficient.parameters(), strict=True):
        assert torch.allclose(p.grad, q.grad, rtol=0, atol=1e-6)
    with torch.no_grad():  # no checkpointing without gradients
        assert torch.equal(plain.eval()(x), efficient.eval()(x))


# --- plug-ins: attention, dropout, norm/act; model API ---------------------------------------------------------


def test_squeeze_excitation_on_every_dense_layer():
    model = meta_model("densenet121", attn_layer="se")
    layers = [m for m in model.modules() if isinstance(m, DenseLayer)]
    assert len(layers) == 6 + 12 + 24 + 16
    assert all(isinstance(m.attn, SqueezeExcite) for m in layers)
    # SE(32 channels, reduction 16): 32·2 + 2 and 2·32 + 32 parameters per layer
    assert n_params(model) == PARAMS["densenet121"] + 58 * (32 * 2 + 2 + 2 * 32 + 32)


def test_forward_backward_with_plugins_every_parameter_gets_a_gradient():
    torch.manual_seed(0)
    # SE as a callable with reduction 2 (growth rate 6 would leave reduction 16 a single, easily dead unit)
    model = tiny(attn_layer=functools.partial(SqueezeExcite, reduction=2), act_layer="silu", drop_rate=0.1)
    y = model(torch.randn(2, 3, 16, 16))
    assert y.shape == (2, 5)
    y.sum().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing


def test_densenet121_forward_backward_small_input():
    model = convzoo.create_model("densenet121", num_classes=7)
    y = model(torch.randn(1, 3, 64, 64))
    assert y.shape == (1, 7)
    y.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_dropout_follows_each_conv_in_training_only():
    torch.manual_seed(0)
    base = tiny(bottleneck_width=4)
    dropped = tiny(bottleneck_width=4, drop_rate=0.2)
    dropped.load_state_dict(base.state_dict())
    assert isinstance(dropped.stages.trans1.drop, nn.Dropout) and not hasattr(base.stages.trans1, "drop")
    x = torch.randn(2, 3, 16, 16)
    base.eval()
    dropped.eval()
    with torch.no_grad():
        assert torch.equal(base(x), dropped(x))
        assert torch.equal(dropped(x), dropped(x))  # deterministic in eval mode
        assert not torch.equal(base.train()(x), dropped.train()(x))


def test_model_api():
    model = convzoo.create_model("densenet_bc100_k12_cifar", in_chans=1, num_classes=100, block_layers=(2, 2, 2))
    assert (model.in_chans, model.num_classes, model.num_features) == (1, 100, 48)
    x = torch.randn(2, 1, 32, 32)
    feats = model.forward_features(x)
    assert feats.shape == (2, 48, 8, 8)  # 24 + 2·12, halved, + 2·12, halved, + 2·12
    assert model.get_classifier() is model.fc
    model.reset_classifier(3)
    assert model(x).shape == (2, 3) and model.num_classes == 3
    assert torch.equal(model.fc.bias, torch.zeros(3))


def test_init_follows_the_authors_code():
    torch.manual_seed(0)
    model = tiny(bottleneck_width=0)
    conv = model.stages.dense1.layer1.conv1  # 3×3, 6 outputs: He init, std = sqrt(2 / (3·3·6)) = 0.192
    assert abs(conv.weight.std().item() - (2 / (9 * 6)) ** 0.5) < 0.02
    assert torch.equal(model.norm.weight, torch.ones(model.num_features))
    assert torch.equal(model.fc.bias, torch.zeros(5))
