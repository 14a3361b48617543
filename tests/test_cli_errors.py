"""Errors that name the fix, and defaults that suit the data (issue 23): one error style and exit status across
commands, "did you mean" for a mistyped override, `summary --model-arg`, the image size a network needs, a
folder of varied sizes streamed, a small data set's batch, a model's channels, the weights' variants."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import convzoo
from convzoo.cli import ERRORS_AND_EXIT_STATUS, main


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    try:
        rc = main(list(argv))
    except SystemExit as e:  # argparse's own usage errors
        rc = int(e.code or 0)
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.mark.parametrize(
    "argv",
    [
        ("info", "nosuch"),
        ("summary", "nosuch"),
        ("output-size", "5", "11", "0", "4"),
        ("train", "nosuch"),
        ("train", "lenet5", "--data", "/nonexistent/folder"),
        ("eval", "/nonexistent/run"),
        ("predict", "/nonexistent/run", "/nonexistent/image.png"),
        ("export", "nosuch", "--format", "onnx", "-o", "/tmp/never-written.onnx"),
        ("train", "lenet5", "--epochs", "many"),  # argparse's own
        ("summary", "alexnet", "--model-arg", "novalue"),
    ],
)
def test_one_error_style_and_exit_status(capsys: pytest.CaptureFixture[str], argv: tuple[str, ...]) -> None:
    rc, _, err = _run(capsys, *argv)
    lines = [ln for ln in err.splitlines() if ": error: " in ln]
    assert rc == 2, err
    assert lines and lines[-1].startswith(f"convzoo {argv[0]}: error: "), err
    assert "Traceback" not in err


def test_the_scheme_is_in_the_help(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = _run(capsys, "--help")
    assert rc == 0 and "exit status:" in out and "convzoo COMMAND: error:" in out
    assert ERRORS_AND_EXIT_STATUS.splitlines()[0] in out
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert "`convzoo COMMAND: error: ...`" in readme and "**2** not done" in readme


def test_a_mistyped_override_gets_did_you_mean(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(TypeError, match=r"'num_clases' \(did you mean num_classes\?\)"):
        convzoo.create_model("resnet18", num_clases=10)
    rc, _, err = _run(capsys, "summary", "alexnet", "--model-arg", "num_clases=10")
    assert rc == 2 and "did you mean num_classes?" in err
    rc, _, err = _run(capsys, "train", "resnet18", "--model-arg", "num_clases=10", "--out", "/nonexistent")
    assert rc == 2 and "did you mean num_classes?" in err


def test_summary_takes_model_args(capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = _run(capsys, "summary", "alexnet", "--input", "3x224x224")
    assert rc == 2 and "--model-arg img_size=" in err  # the advice names the option that exists
    rc, out, err = _run(capsys, "summary", "alexnet", "--input", "3x224x224", "--model-arg", "img_size=224")
    assert rc == 0, err
    assert "Total params" in out or "params" in out.lower()


def test_train_names_the_image_size_a_network_needs(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rc, _, err = _run(capsys, "train", "alexnet", "--data", "digits", "--out", str(tmp_path))
    assert rc == 2, err
    assert "--image-size 227" in err and "features.conv1" in err and "smaller than the kernel" in err
    assert "Calculated padded input size" not in err  # PyTorch's own words replaced by the layer's arithmetic


def _folder(root: Path, sizes: list[tuple[int, int]], per_class: int) -> Path:
    rng = np.random.default_rng(0)
    for split, n in (("train", per_class), ("test", 2)):
        for c in ("cat", "dog"):
            (root / split / c).mkdir(parents=True, exist_ok=True)
            for i in range(n):
                w, h = sizes[i % len(sizes)]
                img = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
                Image.fromarray(img).save(root / split / c / f"{i}.jpg")
    return root


def test_varied_sizes_stream_and_lenet_says_it_takes_three_channels(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data = _folder(tmp_path / "data", [(50, 40), (70, 64), (45, 80)], per_class=6)
    argv = ["train", "lenet5", "--data", str(data), "--epochs", "1", "--workers", "0", "--no-progress"]
    rc, out, err = _run(capsys, *argv, "--out", str(tmp_path / "runs"))
    assert rc == 0, err
    assert "data: streaming" in out and "vary in size" in out and "--image-size" not in err
    assert "lenet5's paper takes 1-channel images" in out and "built for 3 input channels" in out
    assert "batch_size 128 → 8" in out  # 12 training images: one batch that fits, not "lower --batch-size"


def test_small_subsets_shrink_the_batch(tmp_path: Path) -> None:
    from convzoo.train.options import default_changes, known_train_images

    data = _folder(tmp_path / "data", [(16, 16)], per_class=50)  # 100 training images
    assert known_train_images(str(data)) == 100 and known_train_images(str(data), per_class=5) == 10
    changes, reasons = default_changes("resnet18", str(data), ["cat", "dog"])
    assert changes["batch_size"] == 16 and "100 training images" in reasons["batch_size"]
    changes, _ = default_changes("resnet18", str(data), ["cat", "dog"], per_class=5)
    assert changes["batch_size"] == 8  # 10 images: a batch that fits
    assert default_changes("resnet18", "cifar10", None, per_class=10)[0]["batch_size"] == 16


def test_channel_note() -> None:
    from convzoo.train.parts import channel_note

    note = channel_note("lenet5", 3)
    assert note is not None and "1-channel" in note and "in_chans=3" in note
    assert channel_note("lenet5", 1) is None and channel_note("resnet18", 3) is None
    assert channel_note("pkg.mod:fn", 3) is None


def test_googlenet_weights_point_at_the_variant_that_has_them() -> None:
    with pytest.raises(ValueError, match=r"create_model\('googlenet_tv', weights='torchvision'\)"):
        convzoo.create_model("googlenet", weights="torchvision")


@pytest.mark.parametrize(("peer", "ours"), [("googlenet", "googlenet_tv"), ("inception_v3", "inception_v3")])
def test_aux_less_peer_state_dicts_suggest_aux_logits_false(peer: str, ours: str) -> None:
    import torchvision

    from convzoo.hub import load_weights

    sd = getattr(torchvision.models, peer)(weights=None, aux_logits=False, init_weights=False).state_dict()
    with pytest.raises(ValueError, match=rf"create_model\('{ours}', aux_logits=False\)"):
        load_weights(convzoo.create_model(ours), "torchvision", state_dict=sd)
    load_weights(convzoo.create_model(ours, aux_logits=False), "torchvision", state_dict=sd)  # which works
