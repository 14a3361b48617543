"""Pictures a reader can trust and read at normal size (issue 24): the chart's one protocol and its labels, the
diagrams' size and notation, and what `visualize` says about its weights."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import pytest

from convzoo.cli import main
from convzoo.registry import list_models, model_info

REPO = Path(__file__).resolve().parents[1]
HAS_DOT = shutil.which("dot") is not None
needs_dot = pytest.mark.skipif(not HAS_DOT, reason="Graphviz's `dot` is not installed (make graphviz)")


# ---------------------------------------------------------------------------------------------- chart


def test_imagenet_table_cites_a_source_per_point_and_keeps_one_protocol_per_marker() -> None:
    from convzoo.viz.chart import IMAGENET_TABLE, PROTOCOL, PROTOCOLS, imagenet_points, unplotted

    rows = list(csv.DictReader(IMAGENET_TABLE.open(encoding="utf-8")))
    assert rows and all(r["source"].strip() and r["dataset"] == "ILSVRC-2012 val" for r in rows)
    points = {p.name: p for p in imagenet_points()}
    assert set(points) == {r["model"] for r in rows}
    imagenet = [n for n in list_models() if model_info(n).num_classes == 1000]
    assert sorted(set(points) | set(unplotted("bubbles"))) == sorted(imagenet)  # every network: a point or named
    markers = [m for m, _, _ in PROTOCOLS.values()]
    assert len(set(markers)) == len(markers) and len({h for _, h, _ in PROTOCOLS.values()}) == len(PROTOCOLS)
    assert {p.protocol for p in points.values()} <= set(PROTOCOLS)
    # single-crop figures where a source has one: the SE paper's ordering holds again
    assert points["resnet50"].protocol == PROTOCOL and points["resnet50"].value == 75.3
    assert points["se_resnet50"].value > points["resnet50"].value
    assert points["alexnet"].protocol == "10-crop" and "ILSVRC-2012 val" in points["alexnet"].provenance
    assert points["vgg16_c"].protocol == "dense" and points["zfnet"].protocol == "unstated"


def test_provider_figures_are_the_installed_providers_metadata() -> None:
    from convzoo.hub.sources import find_source
    from convzoo.viz.chart import imagenet_points

    peers = [p for p in imagenet_points() if p.kind == "provider weights"]
    assert peers
    for p in peers:
        w = find_source(p.name, "torchvision")
        assert p.value == pytest.approx(w.top1) and p.crop == str(w.preprocess.crop), p.name
        assert p.from_peer and "torchvision" in p.provenance


def test_paper_rows_agree_with_the_registry_where_it_records_the_same_figure() -> None:
    from convzoo.viz.chart import cifar_points, imagenet_points

    for p in imagenet_points():
        rep = model_info(p.name).reported
        if p.kind == "paper" and rep.top1_err is not None and "single" in (rep.source or "").lower():
            assert p.value == pytest.approx(100 - rep.top1_err), p.name
    for p in cifar_points():
        assert p.value == pytest.approx(model_info(p.name).reported.cifar10_err), p.name


def _boxes(drawn):  # type: ignore[no-untyped-def]
    from convzoo.viz.chart import text_box

    fig = drawn.fig
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    return r, [(t.get_text(), text_box(t, r)) for t in drawn.labels]


def _assert_clear(drawn) -> None:  # type: ignore[no-untyped-def]
    """Labels overlap no other label, no legend and no marker; a label away from its marker has a leader."""
    r, boxes = _boxes(drawn)
    assert len(boxes) == len(drawn.markers) - len(drawn.measured)
    for i, (a, ba) in enumerate(boxes):
        for b, bb in boxes[i + 1 :]:
            assert not ba.overlaps(bb), (a, b)
        for leg in drawn.legends:
            assert not ba.overlaps(leg.get_window_extent(r)), a
        for ax, x, y, rad in drawn.markers:
            assert _gap(ax, x, y, rad, ba, drawn.fig.dpi / 72) >= 0, (a, x, y)
    for t, (_, box), (ax, x, y, rad) in zip(drawn.labels, boxes, drawn.markers, strict=False):
        if _gap(ax, x, y, rad, box, drawn.fig.dpi / 72) > 12 * drawn.fig.dpi / 72:  # moved away: a leader line
            assert t.arrow_patch is not None, t.get_text()


def _gap(ax, x: float, y: float, rad: float, box, k: float) -> float:  # type: ignore[no-untyped-def]
    """Pixels between a marker's disc (radius ``rad`` points) and a text box; negative where they overlap."""
    px, py = ax.transData.transform((x, y))
    nx, ny = min(max(px, box.x0), box.x1), min(max(py, box.y0), box.y1)
    return float(((nx - px) ** 2 + (ny - py) ** 2) ** 0.5 - rad * k * 0.99)


def test_bubble_labels_clear_each_other_the_bubbles_and_the_legends() -> None:
    from convzoo.viz.chart import PROTOCOLS, figure

    drawn = figure("bubbles")
    try:
        _assert_clear(drawn)
        legend_texts = {t.get_text() for leg in drawn.legends for t in leg.get_texts()}
        for prot in {p.protocol for p in drawn.points}:  # each protocol drawn has its legend entry
            assert PROTOCOLS[prot][2] in legend_texts
        footnote = " ".join(t.get_text() for t in drawn.fig.texts)
        assert "nin_imagenet" in footnote and "--format csv" in footnote
    finally:
        drawn.fig.clf()


def test_cifar_chart_is_log_x_marks_augmentation_and_adds_runs_only_when_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from convzoo.viz.chart import figure

    monkeypatch.chdir(REPO)  # inside the repository, where docs/repro holds results: still none unless asked
    drawn = figure("cifar")
    try:
        ax = drawn.fig.axes[0]
        assert ax.get_xscale() == "log" and not drawn.measured
        assert "augmentation" not in ax.get_ylabel()
        prot = {p.name: p.protocol for p in drawn.points}
        assert prot["allcnn_c"] == "with augmentation" and prot["base_cnn_c"] == "without augmentation"
        _assert_clear(drawn)
    finally:
        drawn.fig.clf()
    folder = tmp_path / "runs" / "claim" / "cpu"
    folder.mkdir(parents=True)
    arm = {"model": "resnet20_cifar", "overrides": {}, "params": 272474,
           "measured": {"test_err": {"mean": 41.0, "se": 0.3}}}  # fmt: skip
    (folder / "results.json").write_text(json.dumps({"budget": "cpu", "data": "cifar10", "arms": [arm, arm]}))
    out = tmp_path / "c.png"
    assert main(["chart", "cifar", "--models", "resnet2*", "--runs", str(tmp_path / "runs"), "-o", str(out)]) == 0
    said = capsys.readouterr().out
    assert "found 2 measured CIFAR-10 run(s) in 1 results.json file(s)" in said and out.exists()
    assert main(["chart", "cifar", "--runs", str(tmp_path / "nowhere"), "-o", str(tmp_path / "d.png")]) == 2
    assert main(["chart", "cifar", "--linear-x", "--models", "resnet2*", "-o", str(tmp_path / "e.png")]) == 0


@pytest.mark.parametrize(
    "args, message",
    [
        (["bars", "--x", "params"], "no x axis"),
        (["bars", "--x", "macs"], "no x axis"),
        (["bars", "--log-x"], "no x scale"),
        (["bars", "--linear-x"], "no x scale"),
        (["bubbles", "--runs", "docs/repro"], "--runs"),
        (["cifar", "--x", "macs"], "parameters"),
        (["bubbles", "--format", "svg"], ".svg file"),  # -o x.png with --format svg
    ],
)
def test_chart_options_that_cannot_work_are_refused(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["chart", *args, "--models", "resnet1*", "-o", str(tmp_path / "x.png")]) == 2
    assert message in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_chart_options_that_work(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["chart", "bubbles", "--x", "params", "--models", "resnet1*", "-o", str(tmp_path / "p.svg")]) == 0
    assert "parameters (M)" in (tmp_path / "p.svg").read_text()
    capsys.readouterr()
    assert main(["chart", "--format", "csv", "--models", "resnet5*"]) == 0
    rows = list(csv.DictReader(capsys.readouterr().out.splitlines()))
    assert [r["model"] for r in rows] == ["resnet50"] and rows[0]["protocol"] == "single-crop" and rows[0]["source"]
    assert main(["chart", "bars", "--models", "vgg1*", "-o", str(tmp_path / "b.csv")]) == 0
    assert (tmp_path / "b.csv").read_text().startswith("model,family,top1,protocol")


# ---------------------------------------------------------------------------------------------- draw

IMAGENET = [n for n in list_models() if model_info(n).num_classes == 1000]


@needs_dot
@pytest.mark.slow
@pytest.mark.parametrize("name", IMAGENET)
def test_default_diagram_fits_a_page_with_readable_text(name: str, tmp_path: Path) -> None:
    """At 96 dpi no side over 2,000 px and no text under 10 px (8 pt): readable without zooming."""
    from convzoo.viz.draw import draw

    d = draw(name)
    png = d.render(tmp_path / "d.png")
    head = png.read_bytes()[:24]
    w, h = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    assert max(w, h) <= 2000, (name, w, h)
    svg = d.render(tmp_path / "d.svg").read_text()
    sizes = [float(s) for s in re.findall(r'font-size="([0-9.]+)"', svg)]
    assert sizes and min(sizes) * 96 / 72 >= 10, (name, min(sizes))


def test_stage_names_of_the_papers_at_every_depth() -> None:
    from convzoo.viz.draw import draw

    src = draw("resnet50").source
    assert all(f"conv{i}_x ×{n}" in src for i, n in ((2, 3), (3, 4), (4, 6), (5, 3)))
    assert [n.label.split("\n")[0] for n in draw("resnet50", depth=2).nodes.values() if n.op == "block"] == [
        "conv2_x ×3", "conv3_x ×4", "conv4_x ×6", "conv5_x ×3",
    ]  # fmt: skip
    assert "inception (3a)" in draw("googlenet").source and "dense block (1)" in draw("densenet121").source
    deep = [n.label for n in draw("googlenet", depth=2).nodes.values() if n.op == "block"]
    assert "inception (3a)\n256" in deep and "inception (5b)\n1024" in deep
    assert "×4  Inception-A" in draw("inception_v4").source


def test_auxiliary_classifiers_are_drawn() -> None:
    from convzoo.viz.draw import draw

    taps_of = {"googlenet": ["features.inception4a", "features.inception4d"], "inception_v3": ["features.mixed6e"]}
    for name, taps in taps_of.items():
        d = draw(name)
        assert d.aux == [f"aux_heads.aux{i}" for i in range(1, len(taps) + 1)], name
        for aux, tap in zip(d.aux, taps, strict=True):
            mine = sorted((n for n in d.nodes.values() if n.path.startswith(aux + ".")), key=lambda n: n.id)
            assert mine[-1].op == "fc" and mine[-1].out == (1000,), (name, aux)
            assert d.nodes[mine[0].inputs[0]].path.startswith(tap), (name, aux)  # fed by the module it taps
        assert "auxiliary classifier 1" in d.source
        last = max(d.nodes.values(), key=lambda n: n.id)  # the main classifier still ends the drawing
        assert last.path == "fc"


def test_alexnet_2gpu_draws_two_towers() -> None:
    from convzoo.viz.draw import draw

    d = draw("alexnet_2gpu")
    towers = {t: [n for n in d.nodes.values() if n.tower == t] for t in (1, 2)}
    assert len(towers[1]) == len(towers[2]) > 5
    labels = [n.label for n in towers[1]]
    assert labels[:2] == ["11×11 conv, 48, /4", "max pool 3×3, /2"] and "5×5 conv, 128" in labels
    conv2 = [n for n in towers[2] if n.label == "5×5 conv, 128"][0]
    assert [d.nodes[i].tower for i in conv2.inputs] == [2]  # grouped: its own GPU's maps only
    conv3 = [n for n in towers[1] if n.label == "3×3 conv, 192"][0]
    assert sorted(d.nodes[i].tower for i in conv3.inputs) == [1, 2]  # conv3 sees both GPUs
    assert "GPU 1" in d.source and "GPU 2" in d.source
    assert not any(n.tower for n in draw("alexnet").nodes.values())


def test_vgg_in_its_own_notation_and_plain_nets_as_plain_blocks() -> None:
    from convzoo.viz.draw import draw

    labels = [n.label for n in draw("vgg16").nodes.values()]
    assert labels[1:4] == ["conv3-64", "conv3-64", "maxpool"] and "FC-4096" in labels and "FC-1000" in labels
    assert "3×3 conv, 64" in [n.label for n in draw("vgg16", notation="he").nodes.values()]
    assert "conv1-256" in [n.label for n in draw("vgg16_c").nodes.values()]  # config C's 1×1 convolutions
    plain = draw("plain34").source
    assert "plain block" in plain and "ResidualBlock" not in plain and "residual unit" not in plain
    assert [n.label for n in draw("plain34", depth=3).nodes.values() if n.op == "block"][0] == "plain block\n64"
    assert "residual unit" in draw("resnet34").source


def test_relu_after_addition_labels_the_arrow_and_projections_are_boxes() -> None:
    from convzoo.viz.draw import draw

    src = draw("resnet50").source
    assert "xlabel" not in src  # the ReLU after ⊕ no longer touches it: it labels the arrow leaving it
    assert re.search(r'label=" ReLU\\n 256×56×56"', src)
    projections = re.findall(r'(p\d+) \[label="1×1 conv, (\d+)', src)
    assert [c for _, c in projections] == ["256", "512", "1024", "2048"]
    for p, _ in projections:  # the projection sits inside its unit's box, beside the branch
        block = src[: src.index(f"{p} [label=")].rsplit("subgraph", 1)[1]
        assert "residual unit" in block


def test_folded_blocks_say_when_their_inputs_differ() -> None:
    from convzoo.viz.draw import draw

    src = draw("inception_v3").source
    assert "256×35×35, then 288×35×35" in src and src.count("256×35×35, then 288×35×35") == 1
    assert "64×56×56 … 224×56×56" in draw("densenet121").source  # each dense layer reads more channels


def test_dense_connections_are_drawn_with_expand() -> None:
    from convzoo.viz.draw import draw

    d = draw("densenet40_k12_cifar", expand=True)
    layers = [n for n in d.nodes.values() if n.op == "conv" and n.path.startswith("stages.dense1.")]
    concats = [n for n in d.nodes.values() if n.op == "concat" and n.path.startswith("stages.dense1")]
    assert len(layers) == 12
    for conv in layers:  # every layer's maps reach every later layer and the block's output
        assert [c for c in concats if conv.id in c.inputs] == [c for c in concats if c.id > conv.id], conv.path


def test_wrapping_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from convzoo.viz.draw import _Dot, draw

    assert len(_Dot(draw("resnet50", columns=2))._layout()[0]) == 2
    assert len(_Dot(draw("resnet50", columns=1))._layout()[0]) == 1
    assert "continued" not in draw("resnet50", columns=1).source
    tall = _Dot(draw("resnet50", max_height=600))._layout()[0]
    assert len(tall) > len(_Dot(draw("resnet50", max_height=3000))._layout()[0])
    with pytest.raises(ValueError, match="columns"):
        draw("resnet50", columns=0)
    with pytest.raises(ValueError, match="dpi"):
        draw("resnet50", dpi=5)
    with pytest.raises(SystemExit):  # one way to wrap at a time
        main(["draw", "resnet18", "--columns", "2", "--max-height", "900", "-o", str(tmp_path / "x.dot")])
    assert "not allowed with" in capsys.readouterr().err


@needs_dot
def test_dpi_scales_the_png(tmp_path: Path) -> None:
    def size(p: Path) -> tuple[int, int]:
        head = p.read_bytes()[:24]
        return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")

    assert main(["draw", "vgg11", "-o", str(tmp_path / "a.png")]) == 0
    assert main(["draw", "vgg11", "--dpi", "192", "-o", str(tmp_path / "b.png")]) == 0
    (w1, h1), (w2, h2) = size(tmp_path / "a.png"), size(tmp_path / "b.png")
    assert abs(w2 / w1 - 2) < 0.05 and abs(h2 / h1 - 2) < 0.05


# ---------------------------------------------------------------------------------------------- visualize


def test_visualize_says_when_the_weights_are_random(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "f.png"
    assert main(["visualize", "lenet5", "filters", "-o", str(out)]) == 0
    said = capsys.readouterr().out
    assert "untrained (random) weights" in said and out.exists()
    from convzoo.viz import visualize as v

    seen: list[str] = []
    real = v.save_grid
    v.save_grid = lambda grid, path, title="", **kw: (seen.append(title), real(grid, path, title, **kw))[1]
    try:
        assert main(["visualize", "lenet5", "filters", "-o", str(tmp_path / "g.png")]) == 0
    finally:
        v.save_grid = real
    assert "untrained (random) weights" in seen[0]  # on the picture too


def test_visualize_activations_default_to_the_last_maps_of_7x7_or_more(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from convzoo import create_model
    from convzoo.viz.visualize import default_activation_layer

    assert default_activation_layer(create_model("lenet5"), (1, 32, 32)) == "features.c3"  # 10×10, not c5's 1×1
    assert default_activation_layer(create_model("resnet20_cifar"), (3, 32, 32)) == "stages.2.2"
    out = tmp_path / "a.png"
    assert main(["visualize", "lenet5", "activations", "--data", "digits", "--limit", "20", "-o", str(out)]) == 0
    assert "layer features.c3 (16 maps of 10×10)" in capsys.readouterr().out


def test_visualize_refuses_an_unknown_layer_naming_the_nearest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["visualize", "lenet5", "activations", "--data", "digits", "--layer", "feature.c3"]
    assert main([*args, "-o", str(tmp_path / "x.png")]) == 2
    assert "the nearest is 'features.c3'" in capsys.readouterr().err
    assert main(["visualize", "lenet5", "filters", "--layer", "features.c3", "-o", str(tmp_path / "y.png")]) == 2
    assert "--layer does not change `visualize filters`" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_visualize_advice_names_its_own_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONVZOO_CIFAR10_JPG", str(tmp_path / "none"))
    args = ["visualize", "resnet20_cifar", "top", "--data", "cifar10", "--data-root", str(tmp_path / "nothing")]
    assert main([*args, "-o", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert "--download" in err and "--data-root" in err and "visualize` takes --download and --data-root" in err


def test_visualize_loads_a_peers_weights_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import torch
    import torchvision

    torch.manual_seed(0)
    peer = torchvision.models.vgg11()
    torch.save(peer.state_dict(), tmp_path / "vgg11.pth")
    out = tmp_path / "f.png"
    with pytest.warns(UserWarning, match="not torchvision's published"):
        args = ["visualize", "vgg11", "filters", "--weights", "torchvision", "--weights-file"]
        assert main([*args, str(tmp_path / "vgg11.pth"), "-o", str(out)]) == 0
    assert "untrained" not in capsys.readouterr().out and out.exists()
    from convzoo.viz.visualize import _load

    with pytest.warns(UserWarning, match="not torchvision's published"):
        src = _load("vgg11", None, "torchvision", str(tmp_path / "vgg11.pth"))
    assert src.mean == (0.485, 0.456, 0.406) and src.side == 224 and not src.random  # the peer's preprocessing
    assert torch.equal(next(iter(src.net.state_dict().values())), peer.features[0].weight)
    assert main(["visualize", "alexnet", "filters", "--weights", "torchvision", "-o", str(tmp_path / "a.png")]) == 2
    assert "no peer weights are mapped" in capsys.readouterr().err
    assert main(["visualize", "vgg11", "filters", "--weights-file", "x.pth", "-o", str(tmp_path / "b.png")]) == 2
