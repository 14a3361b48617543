"""Inference and export (issue 14): convzoo.optimize, the runtimes, convzoo export, predict/eval --optimize.

Models are the smallest registered member of each family at a small input, their batch norms given random
statistics and affine parameters so that a wrong fold shows. Families whose smallest member is big export in
the slow tests; every family is covered.
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

import convzoo
from convzoo.cli import main
from convzoo.cpuinfo import cpu_flags, native_bf16_cpu
from convzoo.deploy import (
    ExportCheckFailed,
    NoNativeLowPrecision,
    OnnxRuntimeRunner,
    OpenVinoRunner,
    check_close,
    export,
    fold_batch_norms,
    native_low_precision,
    optimize,
    read_export_metadata,
    to_onnx,
    top1_agreement,
)
from convzoo.registry import list_models, model_info

# The submodules, which the package's functions of the same names hide as attributes.
export_module = importlib.import_module("convzoo.deploy.export")
optimize_module = importlib.import_module("convzoo.deploy.optimize")
RTOL = 1e-4
FAMILIES = sorted({model_info(n).family for n in list_models()})
GOLDEN = json.loads((Path(__file__).parent / "golden_counts.json").read_text())  # see test_models_all.py


def smallest(family: str) -> str:
    """The registered member of ``family`` with the fewest MACs (then parameters) by the golden counts."""
    members = [n for n in list_models() if model_info(n).family == family]
    return min(members, key=lambda n: (GOLDEN[n]["macs"], GOLDEN[n]["params"], n))


def families(fast: set[str]) -> list[Any]:
    """Every family, those outside ``fast`` marked slow."""
    return [f if f in fast else pytest.param(f, marks=pytest.mark.slow) for f in FAMILIES]


def randomize_norms(model: nn.Module, seed: int = 0) -> nn.Module:
    """Batch norms with random running statistics and affine parameters, as after training."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, _BatchNorm) and m.running_mean is not None:
                m.running_mean.uniform_(-0.5, 0.5, generator=g)
                m.running_var.uniform_(0.5, 2.0, generator=g)
                if m.weight is not None:
                    m.weight.uniform_(0.5, 1.5, generator=g)
                    m.bias.uniform_(-0.5, 0.5, generator=g)
    return model


def small_input(name: str, batch: int = 2) -> tuple[dict[str, Any], torch.Tensor]:
    """Build keywords and an input of a small size the model accepts (64 or 96 for the ImageNet models)."""
    c, s, _ = model_info(name).input_size
    size = s if s <= 32 else (64 if s <= 224 else 96)
    kwargs: dict[str, Any] = {"num_classes": 10}
    if "img_size" in model_info(name).accepts:
        kwargs["img_size"] = size
    return kwargs, torch.randn(batch, c, size, size, generator=torch.Generator().manual_seed(1))


@functools.cache
def _built(name: str) -> tuple[nn.Module, torch.Tensor]:
    kwargs, x = small_input(name)
    torch.manual_seed(0)
    return randomize_norms(convzoo.create_model(name, **kwargs).eval()), x


def built(name: str) -> tuple[nn.Module, torch.Tensor]:
    model, x = _built(name)
    return model, x.clone()


def n_norms(model: nn.Module) -> int:
    return sum(isinstance(m, _BatchNorm) for m in model.modules())


# ------------------------------------------------------------------------------------------------ optimize, fp32


@pytest.mark.parametrize(
    "family", families(set(FAMILIES) - {"densenet", "googlenet", "inception", "resnet_variants"})
)
def test_optimize_fp32_matches_every_family(family: str) -> None:
    model, x = built(smallest(family))
    opt = optimize(model)
    err = check_close(model, opt, x)
    assert err <= RTOL, f"{smallest(family)}: max relative error {err:.2e}"
    assert opt(x).dtype == torch.float32
    folded = int(opt.optimizations[0].removeprefix("fold_bn:"))
    assert opt.optimizations == (f"fold_bn:{folded}", "channels_last")
    assert n_norms(opt.net) == n_norms(model) - folded


# (model, folded, left): every norm right after a conv folds; norms before a conv (pre-activation, DenseNet)
# or after a pooling layer (airbench) stay.
FOLDS = [
    ("resnet18", 20, 0),
    ("resnet50", 53, 0),
    ("vgg11_bn", 8, 0),
    ("inception_v3", 96, 0),
    ("resnet20_cifar", 19, 0),
    ("preact_resnet110_cifar", 54, 55),
    ("wrn16_8_cifar", 6, 7),
    ("densenet40_k12_cifar", 0, 39),
    ("densenet121", 1, 120),
    ("airbench94", 3, 3),
    ("vgg11", 0, 0),
]


@pytest.mark.parametrize(("name", "folded", "left"), FOLDS)
def test_fold_counts(name: str, folded: int, left: int) -> None:
    with torch.device("meta"):
        model = convzoo.create_model(name).eval()
    assert fold_batch_norms(model) == folded
    assert n_norms(model) == left


@pytest.mark.parametrize(
    ("name", "size", "folded", "left"), [("resnet18", 64, 20, 0), ("preact_resnet110_cifar", 16, 54, 55)]
)
def test_nets_that_fold_every_norm_or_some_still_match(name: str, size: int, folded: int, left: int) -> None:
    model = _built(name)[0]  # DenseNet, which folds none but its stem's, is its family's test (slow)
    opt = optimize(model)
    assert opt.optimizations[0] == f"fold_bn:{folded}" and n_norms(opt.net) == left
    assert check_close(model, opt, torch.randn(1, 3, size, size)) <= RTOL


class _TwoInputs(nn.Sequential):
    def forward(self, x: torch.Tensor) -> torch.Tensor:  # the norm sees the input, not the conv's output
        return self[0](x) + self[1](x)


def test_only_exact_pairs_fold() -> None:
    """A norm after pooling, before a conv, in a Sequential with its own forward, or without running
    statistics is left alone; a Linear before BatchNorm1d folds."""
    torch.manual_seed(0)
    cases = [
        (nn.Sequential(nn.Conv2d(3, 4, 3), nn.MaxPool2d(2), nn.BatchNorm2d(4)), 0),
        (nn.Sequential(nn.BatchNorm2d(3), nn.Conv2d(3, 4, 3, padding=1)), 0),
        (_TwoInputs(nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4)), 0),
        (nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4, track_running_stats=False)), 0),
        (nn.Sequential(nn.Conv2d(3, 4, 3, groups=1), nn.BatchNorm2d(4), nn.ReLU()), 1),
        (nn.Sequential(nn.Flatten(), nn.Linear(48, 5), nn.BatchNorm1d(5)), 1),
    ]
    for net, folds in cases:
        randomize_norms(net.eval())
        x = torch.randn(2, 3 if not isinstance(net, _TwoInputs) else 4, 4, 4)
        opt = optimize(net)
        assert opt.optimizations[0] == f"fold_bn:{folds}", net
        assert check_close(net, opt, x) <= RTOL, net


def test_the_original_model_is_untouched_and_still_trains() -> None:
    torch.manual_seed(0)
    model = randomize_norms(convzoo.create_model("resnet20_cifar"))  # training mode
    before = {k: v.clone() for k, v in model.state_dict().items()}
    optimize(model)
    assert model.training and n_norms(model) == 19
    after = model.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    assert all(p.requires_grad for p in model.parameters())
    model(torch.randn(4, 3, 32, 32)).sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_the_optimized_module_is_inference_only() -> None:
    model, x = built("resnet20_cifar")
    opt = optimize(model)
    assert not opt.training and not any(p.requires_grad for p in opt.parameters())
    assert not opt(x).requires_grad
    with pytest.raises(RuntimeError, match="inference only"):
        opt.train()
    opt.eval()  # allowed: evaluate() calls it


def test_bad_options_are_refused() -> None:
    model, _ = built("resnet20_cifar")
    with pytest.raises(ValueError, match="unknown dtype 'int4'"):
        optimize(model, dtype="int4")
    with pytest.raises(ValueError, match="unknown backend 'tvm'"):
        optimize(model, backend="tvm")
    with torch.device("meta"):
        meta_model = convzoo.create_model("resnet20_cifar")
    with pytest.raises(ValueError, match="meta device"):
        optimize(meta_model)
    with pytest.raises(ValueError, match="training mode"):
        check_close(convzoo.create_model("resnet20_cifar"), optimize(model), torch.randn(2, 3, 32, 32))


# ------------------------------------------------------------------------------------------------ low precision


def _flags(monkeypatch: pytest.MonkeyPatch, flags: set[str]) -> None:
    monkeypatch.setattr(optimize_module, "_cpu_flags", lambda cpuinfo="": (flags, "Test CPU 9000"))


@pytest.mark.parametrize("dtype", ["bf16", "fp16"])
def test_low_precision_refused_without_native_arithmetic(monkeypatch: pytest.MonkeyPatch, dtype: str) -> None:
    _flags(monkeypatch, {"avx2", "fma"})
    model, _ = built("resnet20_cifar")
    with pytest.raises(NoNativeLowPrecision, match=f"Test CPU 9000 has no native {dtype}"):
        optimize(model, dtype=dtype)
    assert native_low_precision(dtype)[0] is False


def test_bf16_where_native_or_forced_agrees_on_top1(monkeypatch: pytest.MonkeyPatch) -> None:
    model, _ = built("resnet20_cifar")
    x = torch.randn(16, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    _flags(monkeypatch, {"avx2", "amx_bf16"})
    assert native_low_precision("bf16") == (True, "Test CPU 9000 has amx_bf16")
    opt = optimize(model, dtype="bf16")
    assert opt.optimizations == ("fold_bn:19", "bf16", "channels_last")
    assert next(opt.net.parameters()).dtype == torch.bfloat16 and opt(x).dtype == torch.float32
    assert check_close(model, opt, x) < 5e-2  # bf16 keeps 8 bits of mantissa: not the fp32 path
    assert top1_agreement(model, opt, x) >= 0.9
    _flags(monkeypatch, set())
    assert optimize(model, dtype="bf16", force=True).optimizations[1] == "bf16"


def test_cpu_flags_are_read_from_cpuinfo(tmp_path: Path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: Xeon Test\nflags\t\t: fpu avx2 amx_bf16 amx_tile\n\n" * 2)
    assert cpu_flags(info) == ({"fpu", "avx2", "amx_bf16", "amx_tile"}, "Xeon Test")
    assert cpu_flags(tmp_path / "absent") == (set(), "unknown CPU")


def test_native_bf16_needs_the_unit_in_the_flags(tmp_path: Path) -> None:
    """An AVX-512 Xeon without AVX512-BF16 emulates bf16 at a seventh of fp32's speed: not native."""
    info = tmp_path / "cpuinfo"
    for flags, native in [("fpu avx512f avx512bw", False), ("avx512f avx512_bf16", True), ("amx_bf16", True)]:
        info.write_text(f"processor\t: 0\nmodel name\t: Xeon Test\nflags\t\t: {flags}\n")
        assert native_bf16_cpu(info) is native, flags
    assert native_bf16_cpu(tmp_path / "absent") is True  # no flags to read (not Linux): oneDNN decides


# ------------------------------------------------------------------------------------------------ compile


@pytest.mark.slow
def test_compile_backend_matches_and_records_it() -> None:
    model, x = built("resnet20_cifar")
    opt = optimize(model, backend="compile", example=x)
    assert opt.optimizations == ("fold_bn:19", "channels_last", "compile")
    assert check_close(model, opt, x) <= RTOL
    assert check_close(model, opt, torch.randn(3, 3, 32, 32)) <= RTOL  # another batch size recompiles


# ------------------------------------------------------------------------------------------------ runtimes


@pytest.mark.parametrize("family", families({"cnn4", "lenet", "resnet"}))
def test_onnx_runtime_parity_for_every_family_at_any_batch(family: str, tmp_path: Path) -> None:
    """Exported at batch 2, run by ONNX Runtime at batch 1 and 5."""
    model, x = built(smallest(family))
    runner = OnnxRuntimeRunner(to_onnx(model, tmp_path / "m.onnx", x), threads=1)
    for batch in (1, 5):
        xb = torch.cat([x] * 3)[:batch]
        got, ref = runner(xb), model(xb).detach()
        assert got.shape == ref.shape and got.dtype == torch.float32
        assert (got - ref).abs().max() <= RTOL * ref.abs().max() + 1e-6, smallest(family)


def test_an_example_of_batch_1_still_exports_a_dynamic_batch(tmp_path: Path) -> None:
    model, x = built("cnn4_cifar")
    runner = OnnxRuntimeRunner(to_onnx(model, tmp_path / "m.onnx", x[:1]))
    xb = torch.cat([x, x])
    assert torch.allclose(runner(xb), model(xb), rtol=1e-4, atol=1e-6)


@pytest.mark.slow
def test_a_fixed_batch_export_refuses_another_batch(tmp_path: Path) -> None:
    model, x = built("cnn4_cifar")
    fixed = OnnxRuntimeRunner(to_onnx(model, tmp_path / "f.onnx", x, dynamic_batch=False))
    with pytest.raises(Exception, match="(?i)dimension|shape"):
        fixed(torch.randn(5, 3, 32, 32))


@pytest.mark.slow  # the export tests check OpenVINO f32 parity too
@pytest.mark.parametrize("name", ["resnet20_cifar", "bn_inception"])
def test_openvino_f32_parity(name: str, tmp_path: Path) -> None:
    model, x = built(name)
    runner = OpenVinoRunner(to_onnx(model, tmp_path / "m.onnx", x), threads=1, precision="f32")
    assert str(runner.compiled.get_property("INFERENCE_PRECISION_HINT")) == "<Type: 'float32'>"
    assert int(runner.compiled.get_property("INFERENCE_NUM_THREADS")) == 1
    xb = torch.cat([x, x[:1]])
    ref = model(xb).detach()
    assert (runner(xb) - ref).abs().max() <= RTOL * ref.abs().max() + 1e-6


def identity_onnx(path: Path) -> Path:
    """A one-node ONNX file (not convzoo's: no metadata), written without the exporter."""
    import onnx
    from onnx import TensorProto, helper

    io = [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["batch", 3]) for n in ("x", "y")]
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "identity", io[:1], io[1:])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def test_runner_options_are_checked(tmp_path: Path) -> None:
    path = identity_onnx(tmp_path / "m.onnx")
    x = torch.randn(2, 3)
    assert torch.equal(OnnxRuntimeRunner(path, threads=1)(x), x)
    with pytest.raises(ValueError, match="threads must be a positive whole number"):
        OnnxRuntimeRunner(path, threads=0)
    with pytest.raises(ValueError, match="unknown OpenVINO precision 'int8'"):
        OpenVinoRunner(path, precision="int8")


# ------------------------------------------------------------------------------------------------ export


def write_run(folder: Path, name: str = "resnet20_cifar") -> tuple[Path, nn.Module, dict[str, Any]]:
    """A checkpoint folder of ``name`` on 1×32×32 images of 10 digit classes (random weights, random norms)."""
    meta = {
        "model": name,
        "num_classes": 10,
        "in_chans": 1,
        "image_size": [1, 32, 32],
        "classes": [str(i) for i in range(10)],
        "mean": [0.25],
        "std": [0.5],
        "data": "digits",
        "model_kwargs": {},
        "resize": 32,
    }
    torch.manual_seed(0)
    model = randomize_norms(convzoo.create_model(name, num_classes=10, in_chans=1)).eval()
    folder.mkdir(parents=True)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(folder / "model.safetensors"), metadata={"convzoo": json.dumps(meta)})
    return folder, model, meta


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, nn.Module, dict[str, Any]]:
    return write_run(tmp_path_factory.mktemp("deploy") / "run")


EXT = {"onnx": "onnx", "pt2": "pt2", "openvino": "xml"}


@pytest.fixture(scope="module")
def run_export(run: Any, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Any]:
    """The run exported (batch norms folded) in a format, once per format, each in a folder of its own."""
    reports: dict[str, Any] = {}

    def get(fmt: str) -> Any:
        if fmt not in reports:
            folder = tmp_path_factory.mktemp(fmt)
            reports[fmt] = export(run[0], fmt, folder / f"m.{EXT[fmt]}", optimize=True)
        return reports[fmt]

    return get


@pytest.mark.parametrize("fmt", ["onnx", "pt2", "openvino"])
def test_export_a_run_carries_its_preprocessing_and_classes(fmt: str, run: Any, run_export: Any) -> None:
    meta = run[2]
    report = run_export(fmt)
    assert report.max_abs_diff <= report.tolerance and report.bytes > 100_000
    back = read_export_metadata(report.path)
    assert back["classes"] == meta["classes"] and back["num_classes"] == 10
    assert (back["mean"], back["std"]) == (meta["mean"], meta["std"])
    assert (back["input_size"], back["resize"], back["crop"]) == ([1, 32, 32], 32, [32, 32])
    assert back["model"] == "resnet20_cifar" and back["optimizations"] == ["fold_bn:19"]
    assert sorted(report.path.parent.iterdir()) == sorted(report.files)  # no temporary file left


def test_pt2_program_runs_at_another_batch_size(run: Any, run_export: Any) -> None:
    model = run[1]
    report = run_export("pt2")
    program = torch.export.load(str(report.path)).module()
    for batch in (1, 4):
        x = torch.randn(batch, 1, 32, 32)
        assert torch.allclose(program(x), model(x), rtol=1e-4, atol=1e-5)


def test_export_a_name_records_what_is_known(tmp_path: Path) -> None:
    report = export("cnn4_cifar", "onnx", tmp_path / "c.onnx", image_size=40, num_classes=7)
    back = read_export_metadata(report.path)
    assert back["input_size"] == [3, 40, 40] and back["num_classes"] == 7 and back["crop"] == [40, 40]
    assert back["classes"] == [] and back["mean"] is None and "random" in back["weights"]
    assert OnnxRuntimeRunner(report.path)(torch.randn(3, 3, 40, 40)).shape == (3, 7)


def test_a_failed_check_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def wrong(fmt: str, tmp: Path) -> tuple[Any, str]:
        assert tmp.exists()
        return (lambda x: torch.zeros(len(x), 10)), "a broken runtime"

    monkeypatch.setattr(export_module, "_runner", wrong)
    with pytest.raises(ExportCheckFailed, match="a broken runtime differs from the eager model"):
        export("cnn4_cifar", "openvino", tmp_path / "m.xml")
    assert list(tmp_path.iterdir()) == []


def test_malformed_or_foreign_metadata_is_refused(tmp_path: Path) -> None:
    import onnx

    plain = identity_onnx(tmp_path / "plain.onnx")
    with pytest.raises(ValueError, match=r"plain\.onnx: no convzoo metadata 'model'"):
        read_export_metadata(plain)
    report = export("cnn4_cifar", "onnx", tmp_path / "l.onnx")
    for key, value in [("classes", '"cat"'), ("input_size", "[1, 32]"), ("mean", "{"), ("num_classes", "0")]:
        doc = onnx.load(str(report.path))
        for prop in doc.metadata_props:
            if prop.key == f"convzoo.{key}":
                prop.value = value
        onnx.save(doc, str(tmp_path / "bad.onnx"))
        with pytest.raises(ValueError, match=rf"bad\.onnx: convzoo metadata '{key}'"):
            read_export_metadata(tmp_path / "bad.onnx")
    with pytest.raises(ValueError, match="not an exported file"):
        read_export_metadata(tmp_path / "model.tflite")
    (tmp_path / "bad.pt2").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ValueError, match=r"bad\.pt2: not a readable \.pt2 archive"):
        read_export_metadata(tmp_path / "bad.pt2")


# ------------------------------------------------------------------------------------------------ CLI


def cli(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_cli_export_prints_file_size_check_and_diff(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    rc, out, err = cli(
        capsys, "export", "lenet5", "--format", "onnx", "-o", tmp_path / "l.onnx", "--optimize"
    )
    assert rc == 0, err
    assert f"wrote {tmp_path / 'l.onnx'}" in out and " MB, onnx" in out
    assert "checked ONNX Runtime at batch 3" in out and "max abs diff" in out
    assert read_export_metadata(tmp_path / "l.onnx")["optimizations"] == ["fold_bn:0"]


def _bad_cases(tmp_path: Path, run_folder: Path) -> list[tuple[list[Any], str]]:
    (tmp_path / "a_file").write_text("x")
    return [
        (["lenet5", "--format", "tflite"], "unknown export format 'tflite'"),
        (["lenet6", "--format", "onnx"], "unknown model 'lenet6'"),
        (["lenet5", "--format", "onnx", "-o", tmp_path / "no" / "l.onnx"], "the folder"),
        (["lenet5", "--format", "onnx", "-o", tmp_path / "a_file" / "l.onnx"], "does not exist"),
        (["lenet5", "--format", "onnx", "-o", tmp_path], "is a folder"),
        (["lenet5", "--format", "openvino", "-o", tmp_path / "l.onnx"], "OpenVINO IR is an .xml file"),
        ([tmp_path, "--format", "onnx"], "holds no checkpoint"),
        ([run_folder, "--format", "onnx", "--num-classes", "3"], "is a run"),
    ]


def test_cli_bad_input_exits_2_naming_the_cause(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for argv, cause in _bad_cases(tmp_path, run[0]):
        before = sorted(tmp_path.rglob("*"))
        rc, out, err = cli(capsys, "export", *argv)
        assert rc == 2 and cause in err and "Traceback" not in err, (argv, err)
        assert sorted(tmp_path.rglob("*")) == before, argv


def test_cli_missing_package_names_the_extra(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "openvino", None)  # import openvino raises ImportError
    rc, _, err = cli(capsys, "export", "lenet5", "--format", "openvino", "-o", tmp_path / "l.xml")
    assert rc == 2 and "'openvino' package" in err and "pip install 'convzoo[deploy]'" in err
    assert list(tmp_path.iterdir()) == []


def test_a_write_that_fails_midway_leaves_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def half_written(net: nn.Module, tmp: Path, example: torch.Tensor, meta: dict[str, str]) -> None:
        tmp.write_bytes(b"half")
        raise OSError(28, "No space left on device")

    monkeypatch.setitem(export_module._WRITERS, "pt2", half_written)
    (tmp_path / "old.pt2").write_bytes(b"the user's previous file")
    rc, _, err = cli(capsys, "export", "lenet5", "--format", "pt2", "-o", tmp_path / "old.pt2", "--force")
    assert rc == 1 and "No space left on device" in err and "files saved before are unchanged" in err
    assert [p.name for p in tmp_path.iterdir()] == ["old.pt2"]
    assert (tmp_path / "old.pt2").read_bytes() == b"the user's previous file"


# ------------------------------------------------------------------------------------------------ predict / eval


def test_eval_optimize_gives_the_same_top1(capsys: pytest.CaptureFixture[str], run: Any) -> None:
    folder = run[0]
    rc, plain, err = cli(capsys, "eval", folder, "--json", "--per-class", "15")
    assert rc == 0, err
    rc, fast, err = cli(capsys, "eval", folder, "--json", "--per-class", "15", "--optimize")
    assert rc == 0, err
    a, b = json.loads(plain), json.loads(fast)
    assert a["images"] == b["images"] > 100 and a["err"] == b["err"] and a["top5_err"] == b["top5_err"]
    assert abs(a["loss"] - b["loss"]) <= 1e-4 * a["loss"]


def test_predict_optimize_gives_the_same_top1(
    capsys: pytest.CaptureFixture[str], run: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(0)
    images = []
    for i in range(4):
        images.append(tmp_path / f"{i}.png")
        Image.fromarray(rng.integers(0, 256, (32, 32), dtype=np.uint8)).save(images[-1])
    outputs = []
    for extra in ([], ["--optimize"], ["--optimize=fp32"]):
        rc, out, err = cli(capsys, "predict", run[0], *images, "--top", "1", *extra)
        assert rc == 0, err
        outputs.append([line.split("%")[1].strip() for line in out.splitlines() if "%" in line])
    assert len(outputs[0]) == 4 and outputs[0] == outputs[1] == outputs[2]
    _flags(monkeypatch, set())
    rc, _, err = cli(capsys, "predict", run[0], *images, "--optimize", "bf16")
    assert rc != 0 and "no native bf16" in err


def test_optimize_flag_is_refused_where_it_does_not_apply(
    capsys: pytest.CaptureFixture[str], run: Any
) -> None:
    rc, _, err = cli(
        capsys, "eval", run[0], "--protocol", "center", "--data", os.fspath(run[0]), "--optimize"
    )
    assert rc != 0 and "--optimize does not apply to --protocol" in err
