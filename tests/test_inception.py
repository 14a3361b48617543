"""The Inception family: exact counts, GoogLeNet's Table 1, auxiliary heads, SE, lecture blocks, peer parity."""

from __future__ import annotations

import warnings
from fractions import Fraction

import pytest
import torch
from torch import nn

import convzoo
from convzoo.hub import weight_sources
from convzoo.layers import SqueezeExcite
from convzoo.models.googlenet import GoogLeNet, InceptionModule, InceptionOutputs, InceptionResBlock, Pool
from convzoo.models.inception import InceptionResNet, InceptionV3

INCEPTION_MODELS = convzoo.list_models(family="googlenet") + convzoo.list_models(family="inception")


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """One intra-op thread: on a shared 2-core machine OpenMP's spinning threads make these tests 10× slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def meta_model(name: str, **kwargs: object) -> nn.Module:
    with torch.device("meta"):
        return convzoo.create_model(name, **kwargs)


def cpu_model(name: str, **kwargs: object) -> nn.Module:
    """Built on the meta device and materialized uninitialised: for tests that load every weight anyway."""
    return meta_model(name, **kwargs).to_empty(device="cpu")


# Exact parameter counts (1000 classes), with and without the auxiliary heads.
PARAMS = {
    "googlenet": (13_378_280, 6_998_552),
    "googlenet_tv": (13_004_888, 6_624_904),  # torchvision: 6,624,904 ("num_params" of its weights)
    "bn_inception": (11_285_224, 11_285_224),
    "se_bn_inception": (11_931_622, 11_931_622),
    "inception_v3": (27_161_264, 23_834_568),  # torchvision: 27,161,264 with its aux head
    "se_inception_v3": (28_822_884, 25_496_188),
    "inception_v4": (42_679_816, 42_679_816),  # timm
    "inception_resnet_v1": (22_756_328, 22_756_328),
    "inception_resnet_v2": (55_843_464, 55_843_464),  # timm
    "se_inception_resnet_v2": (65_092_718, 65_092_718),
}


def test_every_inception_model_is_registered() -> None:
    assert set(INCEPTION_MODELS) <= set(convzoo.list_models())
    for name in INCEPTION_MODELS:
        info = convzoo.model_info(name)
        assert info.paper.arxiv and info.description


@pytest.mark.parametrize("name", INCEPTION_MODELS)
def test_parameter_counts(name: str) -> None:
    total, without_aux = PARAMS[name]
    model = meta_model(name)
    assert n_params(model) == total
    assert n_params(model) - n_params(model.aux_heads) == without_aux
    if model.aux_heads:
        assert n_params(meta_model(name, aux_logits=False)) == without_aux


def test_counts_match_the_peers() -> None:
    import timm
    import torchvision

    with torch.device("meta"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peers = {
            "googlenet_tv": torchvision.models.googlenet(init_weights=False, aux_logits=True),
            "inception_v3": torchvision.models.inception_v3(init_weights=False, aux_logits=True),
            "inception_v4": timm.create_model("inception_v4"),
            "inception_resnet_v2": timm.create_model("inception_resnet_v2"),
        }
    for name, peer in peers.items():
        assert n_params(meta_model(name)) == n_params(peer) == PARAMS[name][0], name


# Exact MACs (eval mode, the registry's input size). torchvision publishes 1.498 and 5.713 "GFLOPS" (MACs)
# for googlenet and inception_v3; the Inception-v3 abstract says "5 billion multiply-adds".
MACS = {
    "googlenet": 1_582_671_872,
    "googlenet_tv": 1_498_376_192,
    "bn_inception": 2_032_600_064,
    "se_bn_inception": 2_033_239_424,
    "inception_v3": 5_713_216_096,
    "se_inception_v3": 5_714_867_040,
    "inception_v4": 12_253_974_624,
    "inception_resnet_v1": 6_206_361_696,
    "inception_resnet_v2": 13_155_794_016,
    "se_inception_resnet_v2": 13_164_990_944,
}


def test_macs() -> None:
    import torchvision

    for name, macs in MACS.items():
        assert convzoo.summary(name).total_macs == macs, name
    assert (
        round(MACS["googlenet_tv"] / 1e9, 3)
        == torchvision.models.GoogLeNet_Weights.IMAGENET1K_V1.meta["_ops"]
    )
    assert (
        round(MACS["inception_v3"] / 1e9, 3)
        == torchvision.models.Inception_V3_Weights.IMAGENET1K_V1.meta["_ops"]
    )


def test_inception_resnet_v1_block_from_figure_10() -> None:
    # Figure 10: 1×1 32 | 1×1 32 → 3×3 32 | 1×1 32 → 3×3 32 → 3×3 32, then a linear 1×1 back to 256.
    conv_bn = lambda cin, cout, k: cin * cout * k * k + 2 * cout  # noqa: E731
    expected = 3 * conv_bn(256, 32, 1) + 3 * conv_bn(32, 32, 3) + (96 * 256 + 256)
    block = meta_model("inception_resnet_v1").features.block35_1
    assert isinstance(block, InceptionResBlock) and n_params(block) == expected == 77_440


# GoogLeNet Table 1: (layer rows, params in K = weights/1024, ops in M = MACs/1e6).
TABLE1 = {
    "conv1": (("conv1",), 2.7, 34),
    "conv2-3": (("conv2", "conv3"), 112, 360),
    "3a": (("inception3a",), 159, 128),
    "3b": (("inception3b",), 380, 304),
    "4a": (("inception4a",), 364, 73),
    "4b": (("inception4b",), 437, 88),
    "4c": (("inception4c",), 463, 100),
    "4d": (("inception4d",), 580, 119),
    "4e": (("inception4e",), 840, 170),
    "5a": (("inception5a",), 1072, 54),
    "5b": (("inception5b",), 1388, 71),
}
# Where the paper's own columns disagree with the architecture they describe (the registry note says so).
TABLE1_PARAM_MISMATCH = {"conv1", "4a", "4c", "4d", "4e", "5a", "5b"}
TABLE1_OPS_MISMATCH = {"conv1", "5a"}


def test_googlenet_reproduces_table_1() -> None:
    model = meta_model("googlenet")
    s = convzoo.summary("googlenet", depth=2)
    param_off, ops_off = set(), set()
    for row_name, (layers, k_params, m_ops) in TABLE1.items():
        weights = sum(
            m.weight.numel()
            for layer in layers
            for m in model.features.get_submodule(layer).modules()
            if isinstance(m, nn.Conv2d)
        )
        macs = sum(s.row(f"features.{layer}").macs for layer in layers)
        if abs(weights / 1024 - k_params) > 1.5:
            param_off.add(row_name)
        if abs(macs / 1e6 - m_ops) > 1.0:
            ops_off.add(row_name)
    assert param_off == TABLE1_PARAM_MISMATCH
    assert ops_off == TABLE1_OPS_MISMATCH
    fc = s.row("fc")
    assert fc.macs == 1024 * 1000 and model.fc.weight.numel() / 1024 == 1000  # "linear: 1000K, 1M"
    assert s.row("features.inception5b").output_shape == [1024, 7, 7]
    note = convzoo.model_info("googlenet").note or ""
    assert all(word in note for word in ("4c (463K vs 497.5K)", "5a (54M vs 51.1M)"))


def test_googlenet_module_widths_add_up() -> None:
    s = convzoo.summary("googlenet", depth=2)
    shapes = {
        f"inception{k}": c
        for k, c in {"3a": 256, "3b": 480, "4a": 512, "4d": 528, "4e": 832, "5b": 1024}.items()
    }
    for layer, channels in shapes.items():
        assert s.row(f"features.{layer}").output_shape[0] == channels


def test_aux_heads_in_training_mode() -> None:
    with torch.device("meta"):  # shapes and graph only: the parity tests below check the numbers
        model = convzoo.create_model("googlenet_tv", num_classes=7).train()
        out = model(torch.empty(2, 3, 64, 64))
        assert isinstance(out, InceptionOutputs) and len(out.aux_logits) == 2
        assert out.logits.shape == out.aux_logits[0].shape == out.aux_logits[1].shape == (2, 7)
        assert isinstance(model.eval()(torch.empty(1, 3, 64, 64)), torch.Tensor)
        no_aux = convzoo.create_model("googlenet_tv", num_classes=7, aux_logits=False).train()
        assert len(no_aux.aux_heads) == 0 and isinstance(no_aux(torch.empty(2, 3, 64, 64)), torch.Tensor)
        v3 = convzoo.create_model("inception_v3", num_classes=7).train()
        out = v3(torch.empty(2, 3, 299, 299))
        assert len(out.aux_logits) == 1 and out.aux_logits[0].shape == (2, 7)
    assert GoogLeNet.aux_weights == (0.3, 0.3) and InceptionV3.aux_weights == (0.4,)


def _backward_reaches_every_parameter(model: nn.Module, out: torch.Tensor | InceptionOutputs) -> None:
    if isinstance(out, InceptionOutputs):
        loss = out.logits.sum() + sum(
            w * a.sum() for w, a in zip(model.aux_weights, out.aux_logits, strict=True)
        )
    else:
        loss = out.sum()
    loss.backward()
    assert [n for n, p in model.named_parameters() if p.grad is None] == []


def test_googlenet_backward_reaches_its_aux_heads() -> None:
    with torch.device("meta"):
        model = convzoo.create_model("googlenet", num_classes=5).train()
        _backward_reaches_every_parameter(model, model(torch.empty(1, 3, 224, 224)))
        with pytest.raises(ValueError, match="aux_logits=False"):
            model(torch.empty(1, 3, 128, 128))


def test_inception_resnet_backward_and_drop_path() -> None:
    with torch.device("meta"):
        model = convzoo.create_model("inception_resnet_v1", num_classes=3, drop_path_rate=0.2).train()
        _backward_reaches_every_parameter(model, model(torch.empty(2, 3, 75, 75)))
    blocks = [m for m in model.modules() if isinstance(m, InceptionResBlock)]
    rates = [m.drop_path.drop_prob for m in blocks]
    assert len(blocks) == 20 and rates == pytest.approx([0.2 * i / 20 for i in range(1, 21)])
    scales = {
        name.split("_")[0]: m.scale for name, m in model.features.named_children() if hasattr(m, "scale")
    }
    assert scales == {"block35": 0.17, "block17": 0.10, "block8": 0.20}


def test_a_small_inception_net_learns_on_cpu() -> None:
    torch.manual_seed(0)
    block = nn.Sequential(
        InceptionModule(3, 8, 4, 8, 2, 4, 4, norm_layer="bn"),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(24, 2),
    )
    x, y = torch.randn(16, 3, 8, 8), torch.randint(0, 2, (16,))
    opt = torch.optim.SGD(block.parameters(), lr=0.1, momentum=0.9)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(block(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_reset_classifier_replaces_main_and_aux_heads() -> None:
    model = meta_model("inception_v3")
    model.reset_classifier(10)
    assert model.num_classes == 10 and model.fc.out_features == 10
    assert model.aux_heads.aux1.fc.out_features == 10


def test_squeeze_excitation_on_every_module() -> None:
    v3 = meta_model("inception_v3", attn_layer="se")
    assert sum(isinstance(m, SqueezeExcite) for m in v3.modules()) == 11  # 3 + 1 + 4 + 1 + 2 modules
    assert n_params(v3) == n_params(meta_model("se_inception_v3"))
    irv2 = meta_model("se_inception_resnet_v2")
    assert sum(isinstance(m, SqueezeExcite) for m in irv2.modules()) == 43  # 40 blocks + 3 mixed
    v4 = meta_model("inception_v4", attn_layer="se")
    assert not any(isinstance(m, SqueezeExcite) for m in v4.features[:6].modules())  # not in the stem
    assert sum(isinstance(m, SqueezeExcite) for m in v4.modules()) == 16
    block = InceptionModule(192, 64, 96, 128, 16, 32, 32, attn_layer="se")
    assert isinstance(block.attn, SqueezeExcite) and block.attn.fc1.in_channels == 256


def test_lecture_modules_side_by_side() -> None:
    naive = convzoo.summary("inception_naive_lecture")
    reduced = convzoo.summary("inception_reduced_lecture")
    assert naive.layers[-1].output_shape == [672, 28, 28] and reduced.layers[-1].output_shape == [480, 28, 28]
    assert naive.total_macs == 28 * 28 * 256 * (128 * 1 + 192 * 9 + 96 * 25) == 854_196_224  # "854M ops"
    assert reduced.total_macs == 28 * 28 * (256 * (64 + 64 + 128 + 64) + 64 * 192 * 9 + 64 * 96 * 25)
    assert reduced.total_macs / naive.total_macs < 0.32
    # receptive field of the concatenation is the widest branch (the 5×5), not the last one (the pool)
    assert naive.layers[-1].receptive_field == reduced.layers[-1].receptive_field == 5


def test_factorized_convolutions_save_what_the_paper_says() -> None:
    def conv_macs(name: str) -> int:
        return convzoo.summary(name).total_macs

    assert Fraction(conv_macs("factorized_5x5_lecture"), conv_macs("conv5x5_lecture")) == Fraction(18, 25)
    assert Fraction(conv_macs("asymmetric_7x7_lecture"), conv_macs("conv7x7_lecture")) == Fraction(14, 49)
    for full, factorized in (
        ("conv5x5_lecture", "factorized_5x5_lecture"),
        ("conv7x7_lecture", "asymmetric_7x7_lecture"),
    ):
        rf = [convzoo.summary(n).layers[-1].receptive_field for n in (full, factorized)]
        assert rf[0] == rf[1]


def test_module_receptive_fields_in_a_network() -> None:
    s = convzoo.summary("googlenet", depth=2)
    # conv1 7/2 → pool 3/2 → 1×1 → 3×3 → pool 3/2: 7, 11, 11, 19, 27; 3a's 5×5 at jump 8 adds 32
    assert [s.row(f"features.{n}").receptive_field for n in ("conv1", "pool1", "conv3", "pool2")] == [
        7,
        11,
        19,
        27,
    ]
    assert s.row("features.inception3a").receptive_field == 27 + (5 - 1) * 8 == 59


def test_bad_arguments_say_what_to_do() -> None:
    with pytest.raises(ValueError, match="c3r=c5r=pool_proj=0"):
        InceptionModule(256, 128, 64, 192, 0, 96, 0, reduce=False)
    with pytest.raises(ValueError, match="positive integers"):
        InceptionModule(256, 128, 64, 0, 64, 96, 64)
    with pytest.raises(ValueError, match="style"):
        GoogLeNet(style="caffe")
    with pytest.raises(ValueError, match="version"):
        InceptionResNet(version="v3")
    with pytest.raises(ValueError, match="'max' or 'avg'"):
        Pool("min")
    with pytest.raises(TypeError, match="does not take"):
        convzoo.create_model("inception_v4", aux_logits=True)
    with pytest.raises(ValueError, match="in_chans=3"):
        convzoo.create_model("inception_v3", in_chans=1, transform_input=True)


def test_peer_weights_are_registered_with_their_urls() -> None:
    urls = {s.model: s.url for s in weight_sources() if s.model in INCEPTION_MODELS}
    assert urls["googlenet_tv"].endswith("googlenet-1378be20.pth")
    assert urls["inception_v3"].endswith("inception_v3_google-0cc3c7bd.pth")
    assert "timm/inception_v4.tf_in1k" in urls["inception_v4"]
    assert "timm/inception_resnet_v2.tf_in1k" in urls["inception_resnet_v2"]


def _randomize_bn(model: nn.Module) -> None:
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)


def _peer(name: str) -> nn.Module:
    import timm
    import torchvision

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if name == "googlenet_tv":
            return torchvision.models.googlenet(
                init_weights=False, aux_logits=True, dropout=0.0, dropout_aux=0.0
            )
        if name == "inception_v3":
            return torchvision.models.inception_v3(init_weights=False, aux_logits=True, dropout=0.0)
        return timm.create_model(name)


@pytest.mark.parametrize(
    ("name", "source", "size"),
    [
        ("googlenet_tv", "torchvision", 64),
        ("inception_v3", "torchvision", 75),
        ("inception_v4", "timm", 75),
        ("inception_resnet_v2", "timm", 75),
    ],
)
def test_parity_with_peer(name: str, source: str, size: int) -> None:
    torch.manual_seed(0)
    peer = _peer(name)
    _randomize_bn(peer)
    ours = cpu_model(name)
    convzoo.load_weights(ours, source, state_dict=peer.state_dict())
    peer.eval(), ours.eval()
    x = torch.randn(1, 3, size, size)
    with torch.no_grad():
        assert (ours(x) - peer(x)).abs().max().item() < 1e-4


def test_googlenet_tv_aux_parity_in_training_mode() -> None:
    torch.manual_seed(0)
    peer = _peer("googlenet_tv")
    ours = cpu_model("googlenet_tv", dropout=0.0, aux_dropout=0.0)
    convzoo.load_weights(ours, "torchvision", state_dict=peer.state_dict())
    x = torch.randn(2, 3, 64, 64)
    theirs, mine = peer.train()(x), ours.train()(x)
    assert (mine.logits - theirs.logits).abs().max() < 1e-4
    assert (mine.aux_logits[0] - theirs.aux_logits1).abs().max() < 1e-4
    assert (mine.aux_logits[1] - theirs.aux_logits2).abs().max() < 1e-4


def test_inception_v3_aux_head_parity() -> None:
    torch.manual_seed(0)
    peer = _peer("inception_v3")
    _randomize_bn(peer)
    ours = cpu_model("inception_v3")
    convzoo.load_weights(ours, "torchvision", state_dict=peer.state_dict())
    grid = torch.randn(2, 768, 17, 17)  # the 17×17 map after Mixed_6e at 299×299
    with torch.no_grad():
        assert (ours.aux_heads.aux1.eval()(grid) - peer.AuxLogits.eval()(grid)).abs().max() < 1e-4


def test_transform_input_matches_torchvision() -> None:
    peer = _peer("googlenet_tv")
    peer.transform_input = True
    ours = cpu_model("googlenet_tv", transform_input=True)
    convzoo.load_weights(ours, "torchvision", state_dict=peer.state_dict())
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        assert (ours.eval()(x) - peer.eval()(x)).abs().max() < 1e-5


def test_mapping_errors_name_the_keys() -> None:
    peer_sd = _peer("googlenet_tv").state_dict()
    ours = cpu_model("googlenet_tv", aux_logits=False)
    convzoo.load_weights(ours, "torchvision", state_dict=peer_sd)  # aux heads are optional keys
    del peer_sd["fc.bias"]
    peer_sd["extra.weight"] = torch.zeros(1)
    with pytest.raises(ValueError, match=r"missing: fc\.bias.*unexpected: features\.extra\.weight"):
        convzoo.load_weights(ours, "torchvision", state_dict=peer_sd)


def test_fuse_bn_keeps_the_function() -> None:
    torch.manual_seed(0)
    model = convzoo.create_model("googlenet_tv", aux_logits=False)
    _randomize_bn(model)
    model.eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        before = model(x)
        after = model.fuse_bn()(x)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert (before - after).abs().max() < 1e-4
    with pytest.raises(RuntimeError, match="eval"):
        convzoo.create_model("googlenet_tv").fuse_bn()
