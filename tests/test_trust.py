"""The trust boundary: files are inert (issue 10).

Each bad file is built here, then read through the real CLI (``convzoo.cli.main``) or the API. Every case
asserts a non-zero exit or a :class:`RejectedFile`, an error naming the file and the cause, that no payload ran
(marker file absent, module not imported) and that the folder is byte-for-byte unchanged. The readers are
fuzzed with hypothesis: only their own errors escape, no code is imported, sizes are capped before reading.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib
import json
import os
import re
import struct
import sys
import tracemalloc
import uuid
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from safetensors.torch import save_file

from convzoo import trust
from convzoo.cli import main
from convzoo.registry import create_model, list_models
from convzoo.train import checkpoint as ckpt
from convzoo.train.inference import load_trained, predict
from convzoo.trust import RejectedFile

BASE_META: dict[str, Any] = {
    "model": "lenet5_modern",
    "num_classes": 3,
    "in_chans": 1,
    "image_size": [1, 32, 32],
    "classes": ["zero", "one", "two"],
    "mean": [0.5],
    "std": [0.25],
    "data": "digits",
    "model_kwargs": {},
    "resize": 32,
}
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


# ------------------------------------------------------------------------------------------------ helpers


@functools.cache
def _lenet_state() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return {
        k: v.clone() for k, v in create_model("lenet5_modern", num_classes=3, in_chans=1).state_dict().items()
    }


def lenet_state() -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in _lenet_state().items()}


def write_weights(path: Path, meta: Any = BASE_META, tensors: dict[str, torch.Tensor] | None = None) -> Path:
    """A safetensors file with ``meta`` (a dict, or the raw metadata text) in its header."""
    text = meta if isinstance(meta, str) else json.dumps(meta)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(lenet_state() if tensors is None else tensors, str(path), metadata={"convzoo": text})
    return path


def write_raw_safetensors(path: Path, header: bytes) -> Path:
    path.write_bytes(struct.pack("<Q", len(header)) + header)
    return path


def folder_hash(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def image(tmp_path: Path, name: str = "digit.png") -> Path:
    p = tmp_path / "images" / name
    p.parent.mkdir(exist_ok=True)
    Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8) * 4).save(p)
    return p


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def refused_with_peak(read: Callable[..., Any], *args: Any) -> tuple[RejectedFile, int]:
    """The RejectedFile ``read(*args)`` raises and the peak of Python memory allocated meanwhile."""
    tracemalloc.start()
    try:
        read(*args)
    except RejectedFile as e:
        return e, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    raise AssertionError(f"{read.__name__}{args} was not refused")


def assert_refused(rc: int, err: str, path: Path, cause: str) -> None:
    assert rc != 0, err
    assert str(path) in err and cause in err, err
    assert "Traceback" not in err


# ------------------------------------------------------------------------------------------------ payloads


@pytest.fixture
def hub_payload(tmp_path: Path) -> tuple[dict[str, Any], Path]:
    """Metadata naming ``torch.hub:load`` on a local hubconf.py that would write a marker file."""
    repo, marker = tmp_path / "hubrepo", tmp_path / "PWNED_HUB"
    repo.mkdir()
    (repo / "hubconf.py").write_text(
        f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\n"
        "def m(**kw):\n    import torch\n    return torch.nn.Identity()\n"
    )
    kwargs = {"repo_or_dir": str(repo), "model": "m", "source": "local", "trust_repo": True}
    return {**BASE_META, "model": "torch.hub:load", "model_kwargs": kwargs}, marker


@pytest.fixture
def module_payload(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[dict[str, Any], Path, str]:
    """Metadata naming ``MODULE:make`` for a module on sys.path whose import writes a marker file."""
    name, marker = f"evil_{uuid.uuid4().hex[:8]}", tmp_path / "PWNED_MODULE"
    code = tmp_path / "code"
    code.mkdir()
    (code / f"{name}.py").write_text(
        f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\ndef make(**kw):\n    raise SystemExit\n"
    )
    monkeypatch.syspath_prepend(str(code))
    return {**BASE_META, "model": f"{name}:make"}, marker, name


class CodeImported(BaseException):
    """Raised by the import guard; a BaseException so that no ``except Exception`` can swallow it."""


@contextlib.contextmanager
def importing_nothing() -> Iterator[None]:
    """Within: any ``importlib.import_module`` call fails the test (the registry is loaded before)."""
    list_models()
    real = importlib.import_module

    def refuse(name: str, *args: Any, **kwargs: Any) -> None:
        raise CodeImported(name)

    importlib.import_module = refuse  # type: ignore[assignment]
    try:
        yield
    finally:
        importlib.import_module = real


# ------------------------------------------------------------------------------------------------ data never chooses code


@pytest.mark.parametrize("command", ["predict", "eval", "api"])
@pytest.mark.parametrize("payload", ["hub", "module", "this"])
def test_a_weights_file_naming_code_never_runs_it(
    payload: str, command: str, hub_payload, module_payload, tmp_path, capsys, monkeypatch
):
    marker, module = tmp_path / "never", "this"
    if payload == "hub":
        meta, marker = hub_payload
    elif payload == "module":
        meta, marker, module = module_payload
    else:
        meta = {**BASE_META, "model": "this:x"}
        monkeypatch.delitem(sys.modules, "this", raising=False)
    run = tmp_path / "run"
    weights = write_weights(run / "model.safetensors", meta)
    extra = ["--per-class", "2"] if command == "eval" else [image(tmp_path)]
    before = folder_hash(tmp_path)
    if command == "api":
        with pytest.raises(RejectedFile, match="not a registered convzoo model") as e:
            load_trained(run)
        rc, err = 1, str(e.value)
    else:
        rc, _, err = run_cli(capsys, command, run, *extra)
    assert_refused(rc, err, weights, "convzoo never imports code named by a file")
    assert f"--model {meta['model']}" in err
    assert not marker.exists() and module not in sys.modules
    assert folder_hash(tmp_path) == before


@pytest.mark.parametrize(
    ("model", "kwargs", "cause"),
    [
        (
            "lenet5_modern",
            {"repo_or_dir": "/tmp", "trust_repo": True},
            "'repo_or_dir', which 'lenet5_modern' does not take",
        ),
        (
            "lenet5_modern",
            {"act_layer": {"__class__": "os.system"}},
            "is not of the type 'lenet5_modern' declares",
        ),
        ("lenet5_modern", {"act_layer": ["relu"]}, "LayerSpec"),
        ("lenet5_modern", {"num_classes": 3}, "must not repeat 'num_classes'"),
        ("resnet20_cifar", {"stages": [[3, 16, 1]]}, "Sequence[Stage]"),
        ("resnet20_cifar", {"drop_path_rate": True}, "(float;"),
        ("resnet20_cifar", {"groups": 1.5}, "(int;"),
        ("densenet40_k12_cifar", {"block_layers": [1, "2"]}, "tuple[int, ...]"),
        ("densenet40_k12_cifar", {"block_layers": [1] * 5000}, "tuple[int, ...]"),
    ],
)
def test_overrides_from_a_file_are_the_models_declared_ones_with_declared_types(model, kwargs, cause):
    meta = {**BASE_META, "model": model, "model_kwargs": kwargs}
    with pytest.raises(RejectedFile, match="model_kwargs") as e:
        trust.parse_run_metadata(meta, "ckpt/model.safetensors")
    assert "ckpt/model.safetensors" in str(e.value) and cause in str(e.value)


def test_declared_overrides_of_declared_types_are_accepted():
    meta = {
        **BASE_META,
        "model": "resnet20_cifar",
        "model_kwargs": {"drop_path_rate": 0.1, "attn_layer": "se"},
    }
    parsed = trust.parse_run_metadata(meta, "x.safetensors")
    assert parsed.registered and parsed.model_kwargs == {"drop_path_rate": 0.1, "attn_layer": "se"}
    assert trust.override_types("densenet40_k12_cifar")["block_layers"] == "tuple[int, ...]"
    dense = {**BASE_META, "model": "densenet40_k12_cifar", "model_kwargs": {"block_layers": [2, 2, 2]}}
    assert trust.parse_run_metadata(dense, "x").model_kwargs["block_layers"] == [2, 2, 2]


def test_a_layer_name_from_a_file_is_looked_up_never_imported(tmp_path, capsys):
    weights = write_weights(
        tmp_path / "m.safetensors", {**BASE_META, "model_kwargs": {"act_layer": "os:system"}}
    )
    rc, _, err = run_cli(capsys, "predict", weights, image(tmp_path))
    assert_refused(rc, err, weights, "unknown activation 'os:system'")


def test_a_model_the_user_types_is_still_built(tmp_path, capsys, monkeypatch):
    """A run of the user's own ``package.module:function`` model predicts when the user names it again."""
    name = f"mine_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(
        "from convzoo.registry import create_model\n"
        "def net(num_classes, in_chans):\n    return create_model('lenet5_modern', num_classes, in_chans)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    weights = write_weights(tmp_path / "run" / "model.safetensors", {**BASE_META, "model": f"{name}:net"})
    rc, _, err = run_cli(capsys, "predict", weights, image(tmp_path))
    assert_refused(rc, err, weights, f"--model {name}:net")
    assert name not in sys.modules
    rc, out, err = run_cli(
        capsys, "predict", weights, image(tmp_path), "--model", f"{name}:net", "--top", "2"
    )
    assert rc == 0, err
    lines = out.splitlines()
    assert len(lines) == 3 and lines[1].strip().endswith(("zero", "one", "two")) and "%" in lines[1]


def test_overrides_cannot_build_a_model_larger_than_its_weights_file(tmp_path, capsys):
    """A file can describe a model far larger than itself: it is sized on the meta device first."""
    meta = {**BASE_META, "model": "resnet18", "model_kwargs": {"stem_width": 64}}
    weights = write_weights(tmp_path / "model.safetensors", meta)
    err, peak = refused_with_peak(load_trained, weights)
    assert re.search(
        rf"{re.escape(str(weights))}: .* bytes of weights, more than the \d+-byte file", str(err)
    )
    assert peak < 64 * 2**20
    rc, out, err = run_cli(capsys, "predict", weights, image(tmp_path))
    assert_refused(rc, err, weights, "more than the")


# ------------------------------------------------------------------------------------------------ metadata errors


def _without(key: str) -> dict[str, Any]:
    return {k: v for k, v in BASE_META.items() if k != key}


BAD_METADATA = [
    *[
        (_without(k), f"has no {k!r} field")
        for k in ("model", "num_classes", "in_chans", "image_size", "classes")
    ],
    *[(_without(k), f"has no {k!r} field") for k in ("mean", "std")],
    ("{not json", "the convzoo metadata is not valid JSON"),
    ('{"model": NaN}', "not valid JSON"),
    ("[1, 2]", "must be a JSON object, not list"),
    ({**BASE_META, "num_classes": 0}, "'num_classes' must be an integer in [1,"),
    ({**BASE_META, "num_classes": True}, "'num_classes' must be an integer"),
    ({**BASE_META, "classes": ["a", "b"]}, "'classes' must be a list of 3 class names"),
    ({**BASE_META, "classes": ["a", "b", 3]}, "'classes' must be a list of 3 class names"),
    ({**BASE_META, "in_chans": 3}, "in_chans 3 but image_size"),
    ({**BASE_META, "image_size": [1, -32, 32]}, "'image_size' must be a list of 3 positive integers"),
    ({**BASE_META, "mean": [0.5, 0.5]}, "'mean' must be a list of 1 finite numbers"),
    ({**BASE_META, "mean": [1e999]}, "not valid JSON (Infinity is not a JSON number)"),
    ({**BASE_META, "std": [0.0]}, "'std' must be a list of 1 positive numbers"),
    ({**BASE_META, "resize": "32"}, "'resize' must be a positive integer or null"),
    ({**BASE_META, "model": "x" * 300}, "'model' must be a string of at most 200"),
    ({**BASE_META, "model_kwargs": ["act_layer"]}, "'model_kwargs' must be a JSON object"),
]


@pytest.mark.parametrize(("meta", "cause"), BAD_METADATA)
def test_bad_metadata_is_refused_naming_the_file_and_the_field(meta, cause, tmp_path, capsys):
    weights = write_weights(tmp_path / "run" / "model.safetensors", meta)
    img = image(tmp_path)
    before = folder_hash(tmp_path)
    rc, out, err = run_cli(capsys, "predict", weights, img)
    assert_refused(rc, err, weights, cause)
    assert "%" not in out and folder_hash(tmp_path) == before


@pytest.mark.parametrize(
    ("header", "cause"),
    [
        (b"this is not json", "the safetensors header is not valid JSON"),
        (b"\xff\xfe{}", "not valid JSON"),
        (b"[]", "the safetensors header is not a JSON object"),
        (b'{"__metadata__": [1]}', "__metadata__ is not a JSON object"),
        (b'{"__metadata__": {}}', "no convzoo metadata"),
        (b'{"__metadata__": {"convzoo": 7}}', "the convzoo metadata must be a JSON string"),
        (b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),
    ],
)
def test_a_damaged_header_names_the_file_and_the_cause(header, cause, tmp_path, capsys):
    weights = write_raw_safetensors(tmp_path / "model.safetensors", header)
    rc, _, err = run_cli(capsys, "predict", weights, image(tmp_path))
    assert_refused(rc, err, weights, cause)


def test_truncated_and_oversized_headers_are_refused_before_reading(tmp_path):
    short = tmp_path / "short.safetensors"
    short.write_bytes(b"\x01\x02")
    with pytest.raises(RejectedFile, match="shorter than its 8-byte header length"):
        trust.read_weights_metadata(short)
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(struct.pack("<Q", 1000) + b"{}")
    with pytest.raises(RejectedFile, match="header says 1000 bytes, the file has 2"):
        trust.read_weights_metadata(truncated)
    huge = tmp_path / "huge.safetensors"
    huge.write_bytes(struct.pack("<Q", 2**62) + b"{}")
    err, peak = refused_with_peak(trust.read_weights_metadata, huge)
    assert f"{huge}: safetensors header of {2**62} bytes, more than" in str(err) and peak < 2**20


# ------------------------------------------------------------------------------------------------ tensors


def _tensors(case: str) -> dict[str, torch.Tensor]:
    state = lenet_state()
    key = "classifier.output.weight"
    t = state[key]
    state[key] = {
        "int8": lambda: t.to(torch.int8),
        "bool": lambda: t > 0,
        "float64": lambda: t.double(),
        "nan": lambda: torch.full_like(t, float("nan")),
        "inf": lambda: t.index_fill(0, torch.tensor([0]), float("inf")),
        "shape": lambda: t[:1],
    }[case]()
    return state


@pytest.mark.parametrize(
    ("case", "cause"),
    [
        ("int8", "the wrong dtype (never cast silently)"),
        ("bool", "torch.bool for torch.float32"),
        ("float64", "torch.float64 for torch.float32"),
        ("nan", "non-finite weights"),
        ("inf", "non-finite weights"),
        ("shape", "shape mismatch"),
    ],
)
def test_weights_of_another_dtype_shape_or_non_finite_are_refused(case, cause, tmp_path, capsys):
    weights = write_weights(tmp_path / "model.safetensors", tensors=_tensors(case))
    rc, out, err = run_cli(capsys, "predict", weights, image(tmp_path))
    assert_refused(rc, err, weights, cause)
    assert "nan%" not in out and "%" not in out
    model = create_model("lenet5_modern", num_classes=3, in_chans=1)
    kept = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(RejectedFile, match=str(weights)):
        ckpt.load_model_weights(model, weights)
    assert all(torch.equal(kept[k], v) for k, v in model.state_dict().items())


def test_outputs_that_overflow_fail_instead_of_printing_nan(tmp_path, capsys):
    state = lenet_state()
    for k, v in state.items():
        if v.is_floating_point():
            state[k] = torch.full_like(v, 3e38)
    weights = write_weights(tmp_path / "model.safetensors", tensors=state)
    rc, out, err = run_cli(capsys, "predict", weights, image(tmp_path))
    assert rc != 0 and "not finite" in err and str(weights) in err
    assert "nan" not in out.lower()


# ------------------------------------------------------------------------------------------------ state.pt


def _state(**over: Any) -> dict[str, Any]:
    state = {
        "format": trust.CHECKPOINT_FORMAT,
        "metadata": dict(BASE_META),
        "optimizer": {"state": {}, "param_groups": []},
        "schedule": {},
        "scaler": {},
        "loop": {"global_step": 5, "save_index": 1, "epoch_sums": [0.0, 0.0, 0.0], "epoch_time": 0.0},
        "metrics": [{"epoch": 1}],
        "best": float("inf"),
        "config": {"model": "lenet5_modern"},
    }
    state.update(over)
    return {k: v for k, v in state.items() if v is not None}


def _checkpoint(folder: Path, state: Any) -> Path:
    ck = folder / "checkpoints" / "ckpt_000001"
    write_weights(ck / "model.safetensors")
    torch.save(state, ck / "state.pt")
    (folder / "checkpoints" / "latest").write_text("ckpt_000001\n")
    return ck / "state.pt"


BAD_STATES = [
    *[(_state(**{k: None}), f"has no {k!r} field") for k in ("metadata", "optimizer", "schedule", "loop")],
    *[(_state(**{k: None}), f"has no {k!r} field") for k in ("metrics", "best", "config")],
    ({"metadata": BASE_META}, "not a convzoo training state"),
    ([1, 2, 3], "not a convzoo training state"),
    (_state(metadata={**BASE_META, "model": "torch.hub:load", "std": [0]}), "'std'"),
    (_state(loop={"save_index": 1, "epoch_sums": [], "epoch_time": 0.0}), "loop has no 'global_step'"),
    (_state(loop={"global_step": -1, "save_index": 1, "epoch_sums": [], "epoch_time": 0}), "'global_step'"),
    (_state(loop={"global_step": "5", "save_index": 1, "epoch_sums": [], "epoch_time": 0}), "'global_step'"),
    (
        _state(loop={"global_step": 5, "save_index": 1, "epoch_sums": [float("nan")], "epoch_time": 0}),
        "epoch_sums",
    ),
    *[
        (_state(loop={"global_step": 5, "save_index": 1, "epoch_sums": [], "epoch_time": 0, "wall_s": w}), "'wall_s'")
        for w in (-1.0, float("inf"), "12", None)
    ],
    (_state(loop={"global_step": 5, "save_index": 1, "epoch_sums": [], "epoch_time": -0.5}), "'epoch_time'"),
    (_state(metrics=[1, 2]), "'metrics' must be a list of dicts"),
    (_state(best=float("nan")), "'best' is NaN"),
    (_state(best="0.5"), "'best' must be a float or int"),
    (_state(optimizer=[1]), "'optimizer' must be a dict"),
]


@pytest.mark.parametrize(("state", "cause"), BAD_STATES)
def test_a_bad_training_state_names_the_file_and_the_key(state, cause, tmp_path):
    state_file = _checkpoint(tmp_path, state)
    before = folder_hash(tmp_path)
    model = create_model("lenet5_modern", num_classes=3, in_chans=1)
    with pytest.raises(ckpt.CheckpointError) as e:
        ckpt.load_checkpoint(tmp_path, model)
    assert str(state_file) in str(e.value) and cause in str(e.value)
    assert folder_hash(tmp_path) == before


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204
        return (exec, (f"open({str(self.marker)!r}, 'w').write('ran')",))


def test_a_pickled_payload_in_state_pt_never_runs(tmp_path):
    marker = tmp_path / "PWNED_PICKLE"
    state_file = _checkpoint(tmp_path / "run", _state(config=_Payload(marker)))
    with pytest.raises(RejectedFile, match="could run code when unpickled") as e:
        trust.read_train_state(state_file)
    assert str(state_file) in str(e.value) and not marker.exists()


def test_an_oversized_state_is_refused_before_loading(tmp_path, monkeypatch):
    state_file = _checkpoint(tmp_path, _state())
    monkeypatch.setattr(trust, "MAX_STATE_BYTES", 100)
    with pytest.raises(RejectedFile, match="the training state is .* bytes, more than the 100 allowed"):
        trust.read_train_state(state_file)


def test_a_compressed_state_archive_is_refused_before_it_can_expand(tmp_path):
    """A deflated entry of zeros expands ~1000x: torch.load would allocate far more than the file holds."""
    n = 16 * 2**20
    plain = tmp_path / "plain.pt"
    torch.save({"t": torch.zeros(n, dtype=torch.uint8)}, plain)
    bomb = tmp_path / "bomb.pt"
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(bomb, "w") as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info), compress_type=zipfile.ZIP_DEFLATED)
    assert bomb.stat().st_size < n // 100
    err, peak = refused_with_peak(trust.read_train_state, bomb)
    assert f"{bomb}: the training state has compressed or oversized entries" in str(err) and peak < 2**20
    bomb.write_bytes(plain.read_bytes()[:1000])
    assert "not a torch.save archive" in str(refused_with_peak(trust.read_train_state, bomb)[0])


# ------------------------------------------------------------------------------------------------ latest pointer


@pytest.mark.parametrize(
    "text",
    [
        "../ckpt_000001",
        "/etc/passwd",
        "ckpt_000001/../../x",
        "ckpt_1",
        "ckpt_000001 \n",
        " ckpt_000001",
        "ckpt_000001\n\n",
        "ckpt_00000١",
        "",
        "ckpt_000001\x00",
        "x" * 1000,
    ],
)
def test_a_latest_pointer_can_only_name_a_checkpoint_inside_its_folder(text, tmp_path, capsys):
    run = tmp_path / "run"
    _checkpoint(run, _state())
    (run / "checkpoints" / "latest").write_text(text)
    before = folder_hash(tmp_path)
    with pytest.raises(RejectedFile, match=str(run / "checkpoints" / "latest")):
        trust.latest_pointer_target(run / "checkpoints")
    rc, out, err = run_cli(capsys, "predict", run, image(tmp_path))
    assert rc != 0 and str(run / "checkpoints" / "latest") in err and "%" not in out
    assert {k: v for k, v in folder_hash(tmp_path).items() if "images" not in k} == before


def test_a_latest_pointer_that_is_not_a_regular_file_is_refused_without_reading(tmp_path):
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    (folder / "latest").symlink_to("/dev/zero")
    with pytest.raises(RejectedFile, match="not a regular file"):
        trust.latest_pointer_target(folder)
    (folder / "latest").unlink()
    os.mkfifo(folder / "latest")  # opening a FIFO would block
    with pytest.raises(RejectedFile, match="not a regular file"):
        trust.latest_pointer_target(folder)
    (folder / "latest").unlink()
    with open(folder / "latest", "wb") as f:
        f.truncate(2**33)  # sparse: 8 GiB that are never read
    with pytest.raises(RejectedFile, match="more than the 64 allowed"):
        trust.latest_pointer_target(folder)
    (folder / "latest").unlink()
    assert trust.latest_pointer_target(folder) is None
    (folder / "latest").write_text("ckpt_000042\n")
    assert trust.latest_pointer_target(folder) == folder / "ckpt_000042"


# ------------------------------------------------------------------------------------------------ config.json


@pytest.mark.parametrize(
    ("content", "cause"),
    [
        (b"{oops", "not valid JSON"),
        (b"[1]", "must be a JSON object, not list"),
        (b"", "not valid JSON"),
        (b'{"lr": Infinity}', "not valid JSON"),
        (b'{"a": 1' + b"0" * 5000 + b"}", "not valid JSON"),
    ],
)
def test_a_bad_run_config_names_the_file(content, cause, tmp_path):
    path = tmp_path / "config.json"
    path.write_bytes(content)
    with pytest.raises(RejectedFile, match=cause) as e:
        trust.read_run_config(path)
    assert str(path) in str(e.value)


def test_an_oversized_run_config_is_refused_before_reading(tmp_path):
    path = tmp_path / "config.json"
    with open(path, "wb") as f:
        f.truncate(2**34)
    err, peak = refused_with_peak(trust.read_run_config, path)
    assert f"{path}: the run config is {2**34} bytes" in str(err) and peak < 2**20
    path.write_text('{"model": "resnet20_cifar"}')
    assert trust.read_run_config(path) == {"model": "resnet20_cifar"}


# ------------------------------------------------------------------------------------------------ predict on bad images


def test_predict_skips_bad_images_when_asked_as_its_error_advises(tmp_path, capsys):
    weights = write_weights(tmp_path / "model.safetensors")
    good, bad = image(tmp_path), tmp_path / "images" / "bad.png"
    bad.write_bytes(b"not a png")
    rc, out, err = run_cli(capsys, "predict", weights, good, bad)
    assert rc != 0 and str(bad) in err and "--skip-bad-images" in err
    rc, out, err = run_cli(capsys, "predict", weights, good, bad, "--skip-bad-images")
    assert rc == 0 and f"skipped {bad}" in err
    assert out.splitlines()[0] == str(good) and str(bad) not in out and len(out.splitlines()) == 4
    rc, out, err = run_cli(capsys, "predict", weights, bad, tmp_path / "missing.png", "--skip-bad-images")
    assert rc != 0 and "none of the images could be read" in err and out == ""
    result = predict(weights, [bad, good], skip_bad_images=True)
    assert result[0] is None and result[1] is not None and len(result[1]) == 3


# ------------------------------------------------------------------------------------------------ fuzzing

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=20,
)


def read_guarded(read: Callable[..., Any], *args: Any) -> Any:
    """``read(*args)`` with imports refused: its result, or the RejectedFile it raised; nothing else escapes."""
    with importing_nothing():
        try:
            return read(*args)
        except RejectedFile as e:
            return e


def assert_refused_naming(result: Any, path: str | Path) -> None:
    assert isinstance(result, RejectedFile) and str(path) in str(result), result


@pytest.mark.parametrize("name", ["", " ", "resnet18\n", "a b", "\x1b[31mred"])
def test_a_blank_or_unprintable_model_name_is_refused_naming_the_file(name: str) -> None:
    """Hypothesis found model '' accepted (as a model of the user's own, to be named later): a name that no
    model can have, or that would print control characters, is refused when the file is read."""
    got = read_guarded(trust.parse_run_metadata, {**BASE_META, "model": name}, "f.safetensors")
    assert_refused_naming(got, "f.safetensors")
    assert "field 'model' must name a model" in str(got)


@FUZZ
@given(key=st.sampled_from(sorted(BASE_META)), value=JSON)
def test_fuzz_metadata_fields(key, value):
    meta = read_guarded(trust.parse_run_metadata, {**BASE_META, key: value}, "f.safetensors")
    if not isinstance(meta, RejectedFile):
        assert meta.registered == (meta.model in list_models()) and len(meta.classes) == meta.num_classes
        assert meta.model and meta.model.isprintable() and not any(c.isspace() for c in meta.model)
        if not meta.registered:  # a name of the user's own model: never imported, refused unless the user names it
            refused = read_guarded(trust.build_model_from_metadata, meta, None, "f.safetensors")
            assert isinstance(refused, RejectedFile) and "not a registered convzoo model" in str(refused)
        assert len(meta.mean) == len(meta.std) == meta.in_chans == meta.image_size[0]


@FUZZ
@given(obj=JSON, model=st.sampled_from(["lenet5_modern", "resnet20_cifar", "densenet40_k12_cifar", "a.b:c"]))
def test_fuzz_metadata_objects_and_overrides(obj, model):
    if obj != BASE_META:
        assert_refused_naming(read_guarded(trust.parse_run_metadata, obj, "f.safetensors"), "f.safetensors")
    meta = read_guarded(trust.parse_run_metadata, {**BASE_META, "model": model, "model_kwargs": obj}, "f")
    if not isinstance(meta, RejectedFile):
        declared = trust.override_types(model) if meta.registered else {}
        assert obj is None or isinstance(obj, dict) and (not meta.registered or set(obj) <= set(declared))


@FUZZ
@given(data=st.binary(max_size=200), claimed=st.one_of(st.none(), st.integers(0, 2**64 - 1)))
def test_fuzz_safetensors_bytes(data, claimed, tmp_path):
    path = tmp_path / "fuzz.safetensors"
    path.write_bytes(data if claimed is None else struct.pack("<Q", claimed) + data)
    assert_refused_naming(read_guarded(trust.read_weights_metadata, path), path)
    assert_refused_naming(read_guarded(ckpt.load_model_weights, torch.nn.Linear(1, 1), path), path)


@FUZZ
@given(meta=st.dictionaries(st.text(max_size=8), st.text(max_size=30), max_size=4), text=JSON)
def test_fuzz_safetensors_metadata_text(meta, text, tmp_path):
    path = tmp_path / "fuzz.safetensors"
    save_file({"w": torch.zeros(1)}, str(path), metadata={**meta, "convzoo": json.dumps(text)})
    assert_refused_naming(read_guarded(trust.read_weights_metadata, path), path)


@FUZZ
@given(data=st.binary(max_size=300))
def test_fuzz_state_bytes(data, tmp_path):
    path = tmp_path / "state.pt"
    path.write_bytes(data)
    assert_refused_naming(read_guarded(trust.read_train_state, path), path)


@FUZZ
@given(over=st.dictionaries(st.sampled_from(sorted(_state())), JSON, max_size=3), loop=JSON)
def test_fuzz_state_dicts(over, loop, tmp_path):
    path = tmp_path / "state.pt"
    torch.save(_state(**{"loop": loop, **over}), path)
    state = read_guarded(trust.read_train_state, path)
    if isinstance(state, RejectedFile):
        assert str(path) in str(state)
    else:
        assert state["loop"]["global_step"] >= 0 and all(isinstance(r, dict) for r in state["metrics"])


@FUZZ
@given(data=st.binary(max_size=80))
def test_fuzz_latest_pointer(data, tmp_path):
    folder = tmp_path / "ck"
    folder.mkdir(exist_ok=True)
    (folder / "latest").write_bytes(data)
    target = read_guarded(trust.latest_pointer_target, folder)
    if isinstance(target, RejectedFile):
        assert str(folder / "latest") in str(target)
    else:
        assert target.parent == folder and trust.CHECKPOINT_NAME.fullmatch(target.name)


@FUZZ
@given(data=st.binary(max_size=200) | JSON.map(lambda v: json.dumps(v).encode()))
def test_fuzz_run_config(data, tmp_path):
    path = tmp_path / "config.json"
    path.write_bytes(data)
    config = read_guarded(trust.read_run_config, path)
    assert isinstance(config, dict) or str(path) in str(config)
