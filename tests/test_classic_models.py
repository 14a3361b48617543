"""The networks before residual learning: LeNet-5, AlexNet, ZFNet, VGG, NIN, All-CNN.

Exact parameter pins (computed by hand from each paper's layers, cross-checked with the paper or a peer),
the papers' structural details, peer parity with torchvision's VGG, and forward/backward on small inputs.
"""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

import convzoo
from convzoo.layers import ScaledTanh, paper_lrn
from convzoo.models.alexnet import TowerLRN
from convzoo.models.allconv import AllConvNet
from convzoo.models.lenet import C3_TABLE, DIGIT_BITMAPS, EuclideanRBF, PartialConv2d, TrainableSubsample
from convzoo.models.vgg import VGG, VGG_CONFIGS

# name -> exact trainable parameters (default head), with the arithmetic that gives it
PARAMS = {
    # 6·26 + 6·2 + (6·76 + 9·101 + 151) + 16·2 + 120·401 + 84·121: the paper's 60,000 (Section II-B)
    "lenet5": 60_000,
    "lenet5_modern": 156 + 16 * 151 + 48_120 + 10_164 + 850,
    # conv 3,747,200 + fc 58,631,144; the two-GPU form groups conv2/4/5
    "alexnet": 62_378_344,
    "alexnet_2gpu": 60_965_224,
    "zfnet": 62_378_344 - 96 * (11 * 11 * 3 - 7 * 7 * 3),
    "zfnet_512_1024_512": 107_627_624,
    # Table 2: 133, 133, 133, 134, 138, 144 M; D and E equal torchvision's vgg16 / vgg19
    "vgg11": 132_863_336,
    "vgg11_lrn": 132_863_336,
    "vgg13": 133_047_848,
    "vgg16_c": 138_357_544 - 8 * (256 * 256 + 2 * 512 * 512),  # three 3×3 convs become 1×1
    "vgg16": 138_357_544,
    "vgg19": 143_667_240,
    # the authors' Caffe models; All-CNN-C for 100 classes is DeepOBS's 1,387,108
    "nin_cifar10": 966_986,
    "nin_imagenet": 7_595_176,
    "allcnn_c": 1_369_738,
    "convpool_cnn_c": 1_369_738,
    "strided_cnn_c": 954_730,
    "base_cnn_c": 954_730,
}
# batch norm adds 2 parameters per conv channel (torchvision's vgg*_bn keep the conv biases)
BN_CHANNELS = {"vgg11": 2752, "vgg11_lrn": 2752, "vgg13": 2944, "vgg16_c": 4224, "vgg16": 4224, "vgg19": 5504}
PARAMS.update({f"{k}_bn": PARAMS[k] + 2 * c for k, c in BN_CHANNELS.items()})
CLASSIC = sorted(PARAMS)


def meta(name: str, **kwargs: object) -> nn.Module:
    with torch.device("meta"):
        return convzoo.create_model(name, **kwargs)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def test_every_classic_model_is_pinned() -> None:
    families = ("lenet", "alexnet", "vgg", "nin", "allconv")
    registered = sorted(n for f in families for n in convzoo.list_models(family=f))
    assert registered == CLASSIC


@pytest.mark.parametrize("name", CLASSIC)
def test_exact_parameter_count(name: str) -> None:
    assert n_params(meta(name)) == PARAMS[name]
    assert sum(p.numel() for p in meta(name).parameters()) == PARAMS[name]  # nothing frozen


def test_torchvision_agrees_on_vgg_bn_counts() -> None:
    for name in ("vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn"):
        with torch.device("meta"):
            peer = getattr(torchvision.models, name)()
        assert n_params(peer) == PARAMS[name]


# --- forward, backward, overrides: small inputs (the fully connected heads are built for them) -------------
SMALL = {name: {} for name in CLASSIC}
SMALL.update({name: {"img_size": 32} for name in CLASSIC if name.startswith("vgg")})  # fc6 on 1×1 maps
SMALL.update({"alexnet": {"img_size": 67}, "alexnet_2gpu": {"img_size": 67}})  # 1×1 after pool5
SMALL.update({"zfnet": {"img_size": 64}, "zfnet_512_1024_512": {"img_size": 64}})
SIDE = {"alexnet": 67, "alexnet_2gpu": 67, "zfnet": 64, "zfnet_512_1024_512": 64, "nin_imagenet": 64}


@pytest.mark.parametrize("name", CLASSIC)
def test_train_backward_eval_determinism_and_overrides(name: str) -> None:
    torch.manual_seed(0)
    model = convzoo.create_model(name, num_classes=5, in_chans=2, **SMALL[name]).train()
    assert (model.num_classes, model.in_chans) == (5, 2)
    side = SIDE.get(name, 32)
    x = torch.randn(1, 2, side, side)
    out = model(x)
    assert out.shape == (1, 5)
    out.pow(2).mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, f"no gradient reaches {missing}"
    model.eval()
    with torch.no_grad():
        a, b = model(x), model(x)
        split = model.forward_head(model.forward_features(x))
    assert torch.equal(a, b) and torch.allclose(a, split)
    model.reset_classifier(3)
    with torch.no_grad():
        assert model(x).shape == (1, 3)
    assert model.num_classes == 3 and model.get_classifier() is not None


def test_unknown_override_names_the_allowed_ones() -> None:
    with pytest.raises(TypeError, match="img_size"):
        convzoo.create_model("vgg16", batch_norm=True)


# --- LeNet-5 ----------------------------------------------------------------------------------------------
def test_lenet5_layer_parameters_match_section_2b() -> None:
    f = meta("lenet5").features
    counts = {name: n_params(getattr(f, name)) for name in ("c1", "s2", "c3", "s4", "c5")}
    assert counts == {"c1": 156, "s2": 12, "c3": 1516, "s4": 32, "c5": 48_120}
    assert n_params(meta("lenet5").classifier.f6) == 10_164
    assert isinstance(f.s2, TrainableSubsample) and isinstance(f.c3, PartialConv2d)
    acts = [name for name, m in f.named_children() if isinstance(m, ScaledTanh)]
    assert acts == ["act1", "act2", "act3", "act4", "act5"]  # squashing after every layer up to F6
    assert isinstance(meta("lenet5").classifier.act6, ScaledTanh)


def test_c3_follows_table_i() -> None:
    """Output map j of C3 changes only when one of the S2 maps Table I gives it changes."""
    assert [len(t) for t in C3_TABLE] == [3] * 6 + [4] * 9 + [6]
    torch.manual_seed(0)
    c3 = PartialConv2d(6, C3_TABLE, 5)
    x = torch.randn(1, 6, 14, 14)
    for i in range(6):
        dx = torch.zeros_like(x)
        dx[:, i] = 1.0
        changed = (c3(x + dx) - c3(x)).abs().amax(dim=(0, 2, 3)) > 0
        assert changed.tolist() == [i in t for t in C3_TABLE], f"input map {i}"


def test_partial_conv_equals_masked_dense_conv() -> None:
    torch.manual_seed(0)
    c3 = PartialConv2d(6, C3_TABLE, 5)
    dense = torch.zeros(16, 6, 5, 5)
    bias = torch.zeros(16)
    for n in c3.fan_ins:
        conv = getattr(c3, f"fanin{n}")
        outs = [j for j, t in enumerate(C3_TABLE) if len(t) == n]
        for g, j in enumerate(outs):
            dense[j, list(C3_TABLE[j])] = conv.weight[g].detach()
            bias[j] = conv.bias[g].detach()
    x = torch.randn(2, 6, 14, 14)
    assert torch.allclose(c3(x), nn.functional.conv2d(x, dense, bias), atol=1e-5)


def test_partial_conv_rejects_a_bad_table() -> None:
    with pytest.raises(ValueError, match="entry 1"):
        PartialConv2d(6, [(0, 1), (2, 6)], 5)


def test_subsampling_is_coefficient_times_sum_plus_bias() -> None:
    s = TrainableSubsample(2)
    with torch.no_grad():
        s.weight.copy_(torch.tensor([0.5, -1.0]))
        s.bias.copy_(torch.tensor([0.25, 2.0]))
    x = torch.arange(32.0).view(1, 2, 4, 4)
    want = x.unfold(2, 2, 2).unfold(3, 2, 2).sum((-1, -2)) * torch.tensor([0.5, -1.0]).view(1, 2, 1, 1)
    assert torch.allclose(s(x), want + torch.tensor([0.25, 2.0]).view(1, 2, 1, 1))


def test_rbf_output_is_fixed_bitmaps_and_negative_distance() -> None:
    model = convzoo.create_model("lenet5")
    rbf = model.get_classifier()
    assert isinstance(rbf, EuclideanRBF) and not list(rbf.parameters())
    centres = rbf.centres
    assert centres.shape == (10, 84) and set(centres.unique().tolist()) == {-1.0, 1.0}
    assert len({tuple(c.tolist()) for c in centres}) == 10  # distinct digits
    assert all(len(b) == 12 and all(len(r) == 7 for r in b) for b in DIGIT_BITMAPS)
    # a unit whose F6 state is exactly the bitmap of digit 3 is at distance 0 from class 3
    assert rbf(centres[3:4]).argmax().item() == 3 and rbf.distances(centres[3:4])[0, 3] == 0
    x = torch.randn(4, 84)
    assert torch.allclose(rbf(x), -((x[:, None] - centres) ** 2).sum(-1))
    model.reset_classifier(26)
    assert model.get_classifier().centres.shape == (26, 84)


def test_lenet5_paper_init_is_uniform_in_fan_in_range() -> None:
    torch.manual_seed(0)
    model = convzoo.create_model("lenet5")
    c5 = model.features.c5.weight
    assert c5.abs().max() <= 2.4 / 400 and c5.abs().max() > 2.0 / 400


def test_lenet_refuses_other_input_sizes() -> None:
    with pytest.raises(ValueError, match="32×32"):
        convzoo.create_model("lenet5").eval()(torch.randn(1, 1, 28, 28))


# --- AlexNet and ZFNet ------------------------------------------------------------------------------------
def _order(model: nn.Module) -> list[str]:
    return [name for name, _ in model.features.named_children()]


def test_alexnet_layer_order_and_towers() -> None:
    for name in ("alexnet", "alexnet_2gpu"):
        m = meta(name)
        assert _order(m)[:8] == ["conv1", "relu1", "norm1", "pool1", "conv2", "relu2", "norm2", "pool2"]
        assert [n for n, _ in m.classifier.named_children()] == [
            "flatten", "fc6", "relu6", "drop6", "fc7", "relu7", "drop7", "fc8"
        ]  # fmt: skip
        assert (
            m.classifier.drop6.p == 0.5 and m.features.pool1.kernel_size == 3 and m.features.pool1.stride == 2
        )
    two = meta("alexnet_2gpu").features
    assert [getattr(two, f"conv{i}").groups for i in range(1, 6)] == [1, 2, 1, 2, 2]
    assert isinstance(two.norm1, TowerLRN) and two.norm1.towers == 2
    lrn = meta("alexnet").features.norm1
    assert (lrn.size, lrn.k, lrn.beta, lrn.alpha / lrn.size) == (5, 2.0, 0.75, pytest.approx(1e-4))


def test_tower_lrn_normalizes_each_half_separately() -> None:
    x = torch.randn(2, 8, 3, 3)
    lrn = paper_lrn()
    assert torch.allclose(TowerLRN(2)(x), torch.cat([lrn(x[:, :4]), lrn(x[:, 4:])], 1))


def test_alexnet_paper_init() -> None:
    torch.manual_seed(0)
    m = convzoo.create_model("alexnet")
    ones = {"conv2", "conv4", "conv5", "fc6", "fc7"}
    layers = {**dict(m.features.named_children()), **dict(m.classifier.named_children())}
    for name, layer in layers.items():
        if isinstance(layer, nn.Conv2d | nn.Linear):
            assert torch.all(layer.bias == (1.0 if name in ones else 0.0)), name
            assert abs(layer.weight.std().item() - 0.01) < 0.002, name


def test_alexnet_wrong_input_size_is_explained() -> None:
    model = convzoo.create_model("alexnet", num_classes=3).eval()
    with pytest.raises(ValueError, match="227×227"):
        model(torch.randn(1, 3, 224, 224))
    resized = convzoo.create_model("alexnet", num_classes=3, img_size=224).eval()
    assert resized(torch.randn(1, 3, 224, 224)).shape == (1, 3)


def test_zfnet_conv1_is_7x7_stride_2_and_pools_before_normalizing() -> None:
    m = meta("zfnet")
    c1, c2 = m.features.conv1, m.features.conv2
    assert (c1.kernel_size, c1.stride, c2.kernel_size, c2.stride) == ((7, 7), (2, 2), (5, 5), (2, 2))
    assert _order(m)[:4] == ["conv1", "relu1", "pool1", "norm1"]
    assert [getattr(m.features, f"conv{i}").out_channels for i in (3, 4, 5)] == [384, 384, 256]
    assert [getattr(meta("zfnet_512_1024_512").features, f"conv{i}").out_channels for i in (3, 4, 5)] == [
        512,
        1024,
        512,
    ]


# --- VGG --------------------------------------------------------------------------------------------------
def test_vgg_configs_are_table_1() -> None:
    weight_layers = {
        c: sum(x.startswith("conv") for s in cfg for x in s) + 3 for c, cfg in VGG_CONFIGS.items()
    }
    assert weight_layers == {"A": 11, "A-LRN": 11, "B": 13, "C": 16, "D": 16, "E": 19}
    c = meta("vgg16_c").features
    assert [getattr(c, f"block{b}").conv3.kernel_size for b in (3, 4, 5)] == [(1, 1)] * 3
    assert c.block3.conv2.kernel_size == (3, 3)
    lrn = meta("vgg11_lrn").features.block1
    assert [n for n, _ in lrn.named_children()] == ["conv1", "relu1", "lrn", "pool"]
    bn = meta("vgg16_bn").features.block1
    assert [n for n, _ in bn.named_children()] == ["conv1", "bn1", "relu1", "conv2", "bn2", "relu2", "pool"]
    assert not any(isinstance(m, nn.BatchNorm2d) for m in meta("vgg16").modules())


def test_vgg_bad_config_and_size_errors() -> None:
    with pytest.raises(ValueError, match="conv<kernel>-<channels>"):
        VGG([["conv3x3-64"]])
    with pytest.raises(ValueError, match="multiple of 32"):
        convzoo.create_model("vgg11", img_size=100)
    model = convzoo.create_model("vgg11", num_classes=3, img_size=64).eval()
    with pytest.raises(ValueError, match="at least 64×64"):
        model(torch.randn(1, 3, 32, 32))


def test_vgg_dense_evaluation_averages_the_score_map() -> None:
    """Section 3.2: on a larger image the FC layers slide as convolutions and the class scores are averaged."""
    torch.manual_seed(0)
    model = convzoo.create_model("vgg11", num_classes=4, img_size=64).eval()  # fc6 on 2×2×512 maps
    feats = torch.randn(1, 512, 3, 4)
    with torch.no_grad():
        dense = model.forward_head(feats)
        crops = [model.classifier(feats[:, :, i : i + 2, j : j + 2]) for i in range(2) for j in range(3)]
    assert torch.allclose(dense, torch.stack(crops).mean(0), atol=1e-5)
    with torch.no_grad():
        assert model(torch.randn(1, 3, 96, 128)).shape == (1, 4)


VGG_PEERS = ["vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn"]


@pytest.mark.parametrize("name", VGG_PEERS)
def test_vgg_torchvision_key_mapping_fits_exactly(name: str) -> None:
    with torch.device("meta"):
        peer = getattr(torchvision.models, name)()
    mapped = convzoo.hub.convert_state_dict(name, "torchvision", peer.state_dict())
    ours = meta(name).state_dict()
    assert sorted(mapped) == sorted(ours)
    assert all(mapped[k].shape == ours[k].shape for k in ours)
    source = convzoo.hub.weight_sources(name)[0]
    assert source.url.endswith(f"{name}-{source.sha256}.pth")


def _randomize_bn(model: nn.Module) -> None:
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 1.5)


@pytest.mark.parametrize("name", ["vgg13", "vgg19_bn"])
def test_vgg_logits_match_torchvision_small_head(name: str) -> None:
    """torchvision's VGG with fc6 cut to 1×1 maps (its classifier indices unchanged) against ours at 32 px."""
    torch.manual_seed(0)
    peer = getattr(torchvision.models, name)(num_classes=10)
    peer.avgpool = nn.Identity()
    peer.classifier[0] = nn.Linear(512, 4096)
    _randomize_bn(peer)
    ours = convzoo.create_model(name, num_classes=10, img_size=32)
    # fc6 is cut like the peer's here, so the configuration check (fc6 of the 224 net) is off on purpose
    convzoo.load_weights(ours, "torchvision", state_dict=peer.state_dict(), check_config=False)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        diff = (peer.eval()(x) - ours.eval()(x)).abs().max().item()
    assert diff < 1e-4


@pytest.mark.slow
@pytest.mark.parametrize("name", ["vgg16"])
def test_vgg_logits_match_torchvision_at_224(name: str) -> None:
    torch.manual_seed(0)
    peer = getattr(torchvision.models, name)(num_classes=10).eval()
    _randomize_bn(peer)
    ours = convzoo.create_model(name, num_classes=10).eval()
    convzoo.load_weights(ours, "torchvision", state_dict=peer.state_dict())
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        assert (peer(x) - ours(x)).abs().max().item() < 1e-4


# --- Network in Network -----------------------------------------------------------------------------------
def test_nin_mlpconv_structure() -> None:
    f = meta("nin_cifar10").features
    convs = [(n, m.out_channels, m.kernel_size[0]) for n, m in f.named_children() if isinstance(m, nn.Conv2d)]
    assert convs == [
        ("conv1", 192, 5), ("cccp1", 160, 1), ("cccp2", 96, 1),
        ("conv2", 192, 5), ("cccp3", 192, 1), ("cccp4", 192, 1),
        ("conv3", 192, 3), ("cccp5", 192, 1), ("cccp6", 10, 1),
    ]  # fmt: skip
    assert isinstance(f.pool1, nn.MaxPool2d) and isinstance(f.pool2, nn.AvgPool2d)
    assert [n for n, m in f.named_children() if isinstance(m, nn.Dropout)] == ["drop1", "drop2"]
    assert _order(meta("nin_cifar10"))[-1] == "relu_cccp6"  # ReLU on the class maps, as the authors' model
    im = meta("nin_imagenet").features
    assert [getattr(im, f"conv{i}").out_channels for i in range(1, 5)] == [96, 256, 384, 1024]
    assert [n for n, m in im.named_children() if isinstance(m, nn.Dropout)] == ["drop3"]


def test_nin_imagenet_class_maps_are_6x6() -> None:
    with torch.device("meta"):
        model = convzoo.create_model("nin_imagenet", num_classes=1000)
        assert model.forward_features(torch.empty(1, 3, 224, 224)).shape == (1, 1000, 6, 6)


# --- All-CNN ----------------------------------------------------------------------------------------------
def _kinds(model: AllConvNet) -> list[str]:
    out = []
    for m in model.features:
        if isinstance(m, nn.Conv2d):
            out.append(f"conv{m.kernel_size[0]}-{m.out_channels}" + ("/2" if m.stride == (2, 2) else ""))
        elif isinstance(m, nn.MaxPool2d):
            out.append("pool")
        elif isinstance(m, nn.Dropout):
            out.append(f"drop{m.p}")
    return out


def test_allconv_tables_1_and_2() -> None:
    head = ["conv3-192", "conv1-192", "conv1-10"]
    assert _kinds(meta("allcnn_c")) == [
        "drop0.2", "conv3-96", "conv3-96", "conv3-96/2", "drop0.5", "conv3-192", "conv3-192", "conv3-192/2",
        "drop0.5", *head,
    ]  # fmt: skip
    assert _kinds(meta("strided_cnn_c")) == [
        "drop0.2", "conv3-96", "conv3-96/2", "drop0.5", "conv3-192", "conv3-192/2", "drop0.5", *head,
    ]  # fmt: skip
    assert _kinds(meta("convpool_cnn_c")) == [
        "drop0.2", "conv3-96", "conv3-96", "conv3-96", "pool", "drop0.5", "conv3-192", "conv3-192", "conv3-192",
        "pool", "drop0.5", *head,
    ]  # fmt: skip
    assert _kinds(meta("base_cnn_c")) == [
        "drop0.2", "conv3-96", "conv3-96", "pool", "drop0.5", "conv3-192", "conv3-192", "pool", "drop0.5", *head,
    ]  # fmt: skip


@pytest.mark.parametrize("name", ["allcnn_c", "strided_cnn_c", "convpool_cnn_c", "base_cnn_c"])
def test_allconv_averages_6x6_class_maps(name: str) -> None:
    with torch.device("meta"):
        model = convzoo.create_model(name, num_classes=100)
        assert model.forward_features(torch.empty(1, 3, 32, 32)).shape == (1, 100, 6, 6)
