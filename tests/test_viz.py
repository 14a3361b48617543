"""Pictures: diagrams (structure, not pixels), charts, filter and activation visualizations."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest
import torch
from torch import nn

from convzoo import create_model, list_models, model_info
from convzoo.cli import main
from convzoo.train.inference import load_trained
from convzoo.viz.draw import Diagram, draw
from convzoo.viz.visualize import last_conv_name, strongest_channels

HAS_DOT = shutil.which("dot") is not None
needs_dot = pytest.mark.skipif(not HAS_DOT, reason="Graphviz's `dot` is not installed (make graphviz)")


def _adds(d: Diagram) -> list:
    return [n for n in d.nodes.values() if n.op == "add"]


def _multiplicity(d: Diagram, path: str) -> int:
    """How many blocks a node at ``path`` stands for: the product of the ×N of the groups around it."""
    return math.prod(n for g, n in d.groups.items() if path == g or path.startswith(g + "."))


@pytest.fixture(scope="module")
def diagrams() -> dict[str, Diagram]:
    return {name: draw(name) for name in list_models()}


def test_every_model_draws_connected(diagrams: dict[str, Diagram]) -> None:
    for name, d in diagrams.items():
        assert all(s in d.nodes and t in d.nodes for s, t in d.edges), name
        inputs = [n for n in d.nodes.values() if n.op == "input"]
        assert len(inputs) == 1, name
        reached, todo = set(), [inputs[0].id]
        succ: dict[int, list[int]] = {}
        for s, t in d.edges:
            succ.setdefault(s, []).append(t)
        while todo:
            n = todo.pop()
            if n not in reached:
                reached.add(n)
                todo += succ.get(n, [])
        assert reached == set(d.nodes), f"{name}: boxes not reached from the input"
        assert "digraph" in d.source and all(n.label for n in d.nodes.values())


def test_every_model_ends_in_its_classifier(diagrams: dict[str, Diagram]) -> None:
    for name, d in diagrams.items():
        last = max(d.nodes.values(), key=lambda n: n.id)
        classes = model_info(name).num_classes
        assert last.out[0] == classes, name
        assert f"{classes}" in last.label or last.op != "fc", name


def test_residual_nets_have_one_shortcut_per_unit_and_plain_nets_none(diagrams: dict[str, Diagram]) -> None:
    for name, d in diagrams.items():
        if name.startswith("plain") or model_info(name).family in ("vgg", "alexnet", "lenet", "nin"):
            assert not d.shortcuts and not _adds(d), name
        elif model_info(name).family in ("resnet", "resnet_variants"):
            adds = _adds(d)
            assert adds and len(d.shortcuts) == len(adds), name
            assert {s.add for s in d.shortcuts} == {a.id for a in adds}, name
            # the first unit of each later stage changes the volume: a projection (or zero-pad) shortcut
            assert any(s.kind == "projection" for s in d.shortcuts), name


def test_projection_shortcuts_name_their_layers(diagrams: dict[str, Diagram]) -> None:
    for name in ("resnet50", "se_resnet50", "preact_resnet152", "resnext50_32x4d"):
        proj = [s for s in diagrams[name].shortcuts if s.kind == "projection"]
        assert len(proj) == 4, name  # one per stage
        assert all("1×1 conv" in s.ops[-1] for s in proj), name
        assert sum("/2" in s.ops[-1] for s in proj) == 3, name


@pytest.mark.parametrize(
    "name, counts",
    [
        ("resnet152", [2, 7, 35, 2]),
        ("resnet34", [3, 3, 5, 2]),  # stage 1 keeps its volume: all three units repeat
        ("densenet121", [6, 12, 24, 16]),
        ("densenet264", [6, 12, 64, 48]),
        ("inception_v4", [4, 7, 3]),
        ("inception_resnet_v2", [10, 20, 9]),
    ],
)
def test_repeated_blocks_fold_into_one_group(
    diagrams: dict[str, Diagram], name: str, counts: list[int]
) -> None:
    d = diagrams[name]
    assert sorted(d.groups.values()) == sorted(counts)
    assert len(d.nodes) < 120, f"{name}: {len(d.nodes)} boxes is not readable"


@pytest.mark.parametrize(
    "name", ["resnet50", "densenet121", "inception_v4", "preact_resnet164_cifar", "googlenet"]
)
def test_groups_stand_for_exactly_the_blocks_they_fold(diagrams: dict[str, Diagram], name: str) -> None:
    full = draw(name, expand=True)
    assert not full.groups
    d = diagrams[name]
    for op in ("add", "concat", "conv"):
        folded = sum(_multiplicity(d, n.path) for n in d.nodes.values() if n.op == op)
        assert folded == sum(1 for n in full.nodes.values() if n.op == op), (name, op)


def test_inception_modules_are_branches_side_by_side(diagrams: dict[str, Diagram]) -> None:
    d = diagrams["googlenet"]
    concats = [n for n in d.nodes.values() if n.op == "concat"]
    assert len(concats) == 9 and all(len(c.inputs) == 4 for c in concats)
    assert len(d.clusters) == 9


def test_dense_block_concatenates_its_input_with_the_new_features(diagrams: dict[str, Diagram]) -> None:
    d = draw("densenet40_k12_cifar", expand=True)
    ends = [n for n in d.nodes.values() if n.op == "concat" and n.path.count(".") == 1]
    assert [len(n.inputs) for n in ends] == [13, 13, 13]  # input + 12 layers each
    folded = diagrams["densenet40_k12_cifar"]
    assert [len(n.inputs) for n in folded.nodes.values() if n.op == "concat" and n.path.count(".") == 1] == [
        2
    ] * 3


def test_squeeze_excitation_is_one_box_or_expanded_a_side_branch(diagrams: dict[str, Diagram]) -> None:
    d = draw("se_resnet50", expand=True)
    scales = [n for n in d.nodes.values() if n.op == "scale"]
    assert len(scales) == 16  # one per unit
    for s in scales:
        gate = d.nodes[s.inputs[1]]
        assert gate.out[-2:] == (1, 1) and "Sigmoid" in gate.after
    compact = diagrams["se_resnet50"]
    se = [n for n in compact.nodes.values() if n.op == "se"]
    assert len(se) == 8 and {n.label for n in se} == {"SE, r = 16"}  # one per drawn unit
    assert not [n for n in compact.nodes.values() if n.op == "scale" or "Sigmoid" in n.after]


def test_paper_notation(diagrams: dict[str, Diagram]) -> None:
    labels = [n.label for n in diagrams["alexnet"].nodes.values()]
    assert labels[1:4] == ["11×11 conv, 96, /4", "max pool 3×3, /2", "5×5 conv, 256"]
    assert "fc 4096" in labels and "fc 1000" in labels
    conv1 = diagrams["resnet50"].nodes[1]
    assert conv1.label == "7×7 conv, 64, /2" and conv1.after == ["BN", "ReLU"]
    pre = [n for n in diagrams["preact_resnet164_cifar"].nodes.values() if n.before and n.op == "conv"]
    assert pre and all(n.before[:2] == ["BN", "ReLU"] for n in pre)


def test_depth_draws_deep_modules_as_one_box() -> None:
    d = draw("resnet50", depth=3)
    blocks = [n for n in d.nodes.values() if n.op == "block"]
    assert len(blocks) == 8 and sorted(d.groups.values()) == [2, 2, 3, 5]
    assert all(n.label.startswith("ResidualBlock") for n in blocks)
    assert [n.label for n in draw("resnet50", depth=2).nodes.values() if n.op == "block"] == [
        "conv2_x ×3\n256",  # the paper's stage names (He et al. 2015, Table 1) at every depth
        "conv3_x ×4\n512, /2",
        "conv4_x ×6\n1024, /2",
        "conv5_x ×3\n2048, /2",
    ]
    with pytest.raises(ValueError, match="depth"):
        draw("resnet50", depth=0)


class _Toy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 8, 3, padding=1)
        self.b = nn.Conv2d(3, 8, 1)
        self.c = nn.Conv2d(16, 16, 3, padding=1)
        self.fc = nn.Linear(16, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.cat([self.a(x), self.b(x)], 1)
        y = self.c(y) + y
        return self.fc(y.mean((2, 3)))


def test_user_module_drawn_and_left_untouched() -> None:
    model = _Toy()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    d = draw(model, input_size=(3, 8, 8))
    assert [n.op for n in d.branch_nodes] == ["concat", "add"]
    assert [s.kind for s in d.shortcuts] == ["identity"]
    assert next(model.parameters()).device.type == "cpu"
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    with pytest.raises(ValueError, match="input_size"):
        draw(model)


def test_missing_dot_gives_the_advice(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(shutil, "which", lambda _: None)
    with pytest.raises(FileNotFoundError, match="apt-get install graphviz"):
        draw("lenet5", tmp_path / "x.svg")
    assert not list(tmp_path.iterdir())
    draw("lenet5", tmp_path / "x.dot")  # the DOT source needs no Graphviz
    assert (tmp_path / "x.dot").read_text().startswith("digraph")
    with pytest.raises(ValueError, match=r"\.svg"):
        draw("lenet5", tmp_path / "x.jpg")


@needs_dot
def test_renders_svg_and_png(tmp_path: Path) -> None:
    draw("resnet20_cifar", tmp_path / "r.svg")
    assert "<svg" in (tmp_path / "r.svg").read_text()
    assert main(["draw", "lenet5", "-o", str(tmp_path / "l.png"), "--direction", "LR"]) == 0
    assert (tmp_path / "l.png").read_bytes()[:4] == b"\x89PNG"
    assert not list(tmp_path.glob("*.part"))


def test_cli_draw_usage_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["draw", "no_such_net", "-o", str(tmp_path / "x.dot")]) == 2
    assert "no_such_net" in capsys.readouterr().err
    assert main(["draw", "lenet5", "--depth", "0", "-o", str(tmp_path / "x.dot")]) == 2
    assert "depth" in capsys.readouterr().err


def test_lenet_partial_connections_are_parallel_convolutions() -> None:
    d = draw(create_model("lenet5"), input_size=(1, 32, 32))
    ops = [n.op for n in d.nodes.values()]
    assert ops.count("conv") == 5 and ops.count("concat") == 1  # C1, C3 as three grouped convs, C5
    c1 = d.nodes[1]
    assert c1.label == "5×5 conv, 6" and c1.after == ["ScaledTanh"]


# ---------------------------------------------------------------------------------------------- chart


def test_chart_points_carry_provenance() -> None:
    from convzoo.viz.chart import cifar_points, imagenet_points

    pts = {p.name: p for p in imagenet_points(["resnet50", "googlenet_tv", "lenet5"])}
    assert set(pts) == {"resnet50", "googlenet_tv"}  # lenet5 has no ImageNet top-1
    r50 = pts["resnet50"]  # single-crop: the authors' released models, not the paper's 10-crop 22.85% error
    assert r50.value == pytest.approx(100 - 24.7) and r50.protocol == "single-crop"
    assert "KaimingHe/deep-residual-networks" in r50.provenance and not r50.from_peer
    assert abs(r50.macs / 3.86e9 - 1) < 0.01 and r50.params == 25_557_032  # the paper's 3.8 G multiply-adds
    tv = pts["googlenet_tv"]  # a provider's accuracy of its own weights, and said so
    assert tv.from_peer and "torchvision" in tv.provenance
    cif = {p.name: p for p in cifar_points("resnet*_cifar")}
    assert cif["resnet110_cifar"].value == 6.43 and "Table 6" in cif["resnet110_cifar"].provenance


def _results(tmp_path: Path, arms: object, budget: str = "cpu", data: str = "cifar10") -> Path:
    import json

    folder = tmp_path / "repro" / "claim1" / budget
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps({"budget": budget, "data": data, "arms": arms}))
    return tmp_path / "repro"


def test_measured_results_read_as_numbers_only(tmp_path: Path) -> None:
    from convzoo.viz.chart import read_measured

    arm = {
        "model": "resnet20_cifar",
        "overrides": {},
        "params": 272474,
        "measured": {"test_err": {"mean": 9.1, "se": 0.3}},
    }
    other = {**arm, "model": "os:system"}  # not a registered model: ignored, never looked up as code
    root = _results(tmp_path, [arm, other, {**arm, "overrides": {"drop_path_rate": 0.5}}])
    (m,) = read_measured(root)
    assert (m.model, m.test_err, m.se, m.budget) == ("resnet20_cifar", 9.1, 0.3, "cpu")
    assert read_measured(tmp_path / "absent") == []
    bad = _results(tmp_path / "b", [{**arm, "measured": {"test_err": {"mean": "9"}}}])
    with pytest.raises(ValueError, match=r"results\.json.*finite number"):
        read_measured(bad)
    (tmp_path / "c" / "x").mkdir(parents=True)
    (tmp_path / "c" / "x" / "results.json").write_text("{not json")
    with pytest.raises(ValueError, match="not a results file"):
        read_measured(tmp_path / "c")
    assert read_measured(_results(tmp_path / "s", [arm], budget="smoke")) == []  # plumbing only
    assert read_measured(_results(tmp_path / "h", [arm], data="cifar100")) == []
    assert len(read_measured(_results(tmp_path / "j", [arm], data="cifar10-jpg"))) == 1


def test_chart_files_and_labels_do_not_overlap(tmp_path: Path) -> None:
    import matplotlib.pyplot as plt

    from convzoo.viz.chart import place_labels

    fig, ax = plt.subplots(figsize=(5, 4))
    xy = [(1.0, 1.0), (1.02, 1.01), (1.01, 0.99), (2.0, 2.0), (1.5, 1.5)]
    ax.scatter(*zip(*xy, strict=True))
    ax.set_xlim(0.5, 2.5)
    ax.set_ylim(0.5, 2.5)
    texts = place_labels(ax, xy, ["resnet50", "resnet101", "densenet121", "vgg16", "googlenet"])
    r = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(r) for t in texts]
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])
    plt.close(fig)
    root = _results(tmp_path, [{"model": "resnet20_cifar", "overrides": {}, "params": 272474,
                                "measured": {"test_err": {"mean": 9.1, "se": 0.3}}}])  # fmt: skip
    from convzoo.viz.chart import chart

    (svg,) = chart("cifar", tmp_path / "c.svg", models="resnet[235]?_cifar", log_x=True, repro_dir=root)
    text = svg.read_text()
    assert "<svg" in text and "measured here" in text.replace("&#160;", " ") or "measured" in text
    assert main(["chart", "bars", "--models", "resnet[13]?", "-o", str(tmp_path / "b.png")]) == 0
    assert (tmp_path / "b.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["chart", "--models", "lenet*", "-o", str(tmp_path / "n.png")]) == 2  # no ImageNet top-1
    assert main(["chart", "--models", "resnet18", "-o", str(tmp_path / "n.jpg")]) == 2


# ---------------------------------------------------------------------------------------------- visualize


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from convzoo.train.recipes import get_recipe
    from convzoo.train.trainer import TrainConfig, train

    out = tmp_path_factory.mktemp("viz-run")
    recipe = get_recipe("fast").replace(epochs=1, batch_size=32, amp=False, channels_last=False)
    cfg = TrainConfig(model="lenet5_modern", data="digits", recipe=recipe, per_class=10, image_size=32, out_dir=str(out),
                      name="run", progress=False, threads=1)  # fmt: skip
    return train(cfg, log=lambda _: None).run_dir  # type: ignore[return-value]


def test_filter_grid_shape_and_normalization() -> None:
    from convzoo.viz.visualize import filter_grid

    w = torch.randn(96, 3, 11, 11)
    g = filter_grid(w, nrow=12)
    assert g.shape == (3, 8 * 12 + 1, 12 * 12 + 1)  # 8 rows × 12 columns of 11×11 tiles, 1-pixel gaps
    assert g.min() >= 0 and g.max() <= 1
    tile = g[:, 1:12, 1:12]  # each filter scaled to its own range
    assert tile.min() == 0 and tile.max() == 1
    grey = filter_grid(torch.randn(6, 1, 5, 5))
    assert grey.shape[0] == 3 and torch.equal(grey[0], grey[1])
    with pytest.raises(ValueError, match="out×in×kh×kw"):
        filter_grid(torch.randn(6, 5, 5))


def _small_cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(inplace=True),
        nn.MaxPool2d(2), nn.Conv2d(8, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
    ).eval()  # fmt: skip


def test_projections_stay_in_the_receptive_field() -> None:
    from convzoo.viz.visualize import activations, project, top_patches

    model = _small_cnn()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    images = torch.randn(6, 3, 16, 16)
    assert activations(model, "3", images).shape == (6, 8, 16, 16)
    for layer, side in (("3", 5), ("6", 10)):  # two 3×3 convs see 5×5; after a 2×2 pool and a 3×3 conv, 10×10
        for method in ("guided", "deconvnet"):
            p = project(model, layer, 3, images[0], method)
            t, left, b, r = p.box
            assert 0 < b - t <= side and 0 < r - left <= side, (layer, method, p.box)
            assert p.projection.shape == (3, 16, 16) and 0 <= p.projection.min() and p.projection.max() <= 1
    tops = top_patches(model, "3", 5, images, k=4)
    assert len(tops) == 4 and [t.value for t in tops] == sorted((t.value for t in tops), reverse=True)
    assert len({t.index for t in tops}) == 4
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    with pytest.raises(ValueError, match="no layer 'nope'"):
        activations(model, "nope", images)
    with pytest.raises(ValueError, match="method"):
        project(model, "3", 0, images[0], "saliency")


def test_guided_and_deconvnet_differ_where_relu_masks() -> None:
    from convzoo.viz.visualize import project

    model, x = _small_cnn(), torch.randn(3, 16, 16)
    guided, deconv = (project(model, "6", 1, x, m).projection for m in ("guided", "deconvnet"))
    assert not torch.allclose(guided, deconv)


def test_activations_of_all_cnn_c() -> None:
    from convzoo.viz.visualize import activation_grid, activations

    maps = activations(create_model("allcnn_c"), "features.relu1", torch.randn(1, 3, 32, 32))
    g = activation_grid(maps[0])
    assert maps.shape == (1, 96, 32, 32) and g.shape[0] == 3 and 0 <= g.min() and g.max() <= 1


def test_visualize_a_trained_run(trained: Path, tmp_path: Path) -> None:
    out = tmp_path / "f.png"
    assert main(["visualize", str(trained), "filters", "-o", str(out)]) == 0
    assert out.read_bytes()[:4] == b"\x89PNG"
    for what, extra in (
        ("activations", ["--data", "digits"]),
        ("top", ["--channels", "0,1"]),
    ):  # top: the run's data
        out = tmp_path / f"{what}.png"
        args = ["visualize", str(trained), what, "--layer", "features.act3", "--limit", "40"]
        assert main([*args, *extra, "-o", str(out)]) == 0
        assert out.read_bytes()[:4] == b"\x89PNG"
    assert main(["visualize", str(tmp_path / "nothing"), "filters"]) == 2


def test_visualize_top_defaults_to_the_last_convolution_and_its_strongest_channels(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "top.png"
    assert main(["visualize", str(trained), "top", "--limit", "40", "-o", str(out)]) == 0
    said = capsys.readouterr().out
    net, _ = load_trained(trained)
    layer = last_conv_name(net)
    assert isinstance(dict(net.named_modules())[layer], nn.Conv2d)
    assert layer == [n for n, m in net.named_modules() if isinstance(m, nn.Conv2d)][-1]
    assert f"layer {layer}, channels " in said and out.read_bytes()[:4] == b"\x89PNG"
    maps = torch.zeros(2, 6, 3, 3)
    maps[1, 4, 2, 2], maps[0, 1, 0, 0], maps[0, 5, 1, 1] = 9.0, 7.0, 3.0
    assert strongest_channels(maps, 3) == [4, 1, 5]


def test_visualize_refuses_images_the_model_cannot_take(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["visualize", "resnet20_cifar", "top", "--layer", "stages.0", "--data", "digits", "--limit", "20"]
    assert main([*args, "-o", str(tmp_path / "x.png")]) == 2
    assert "1-channel images; the model takes 3" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
