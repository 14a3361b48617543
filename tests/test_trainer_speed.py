"""The trainer's GPU path, exercised on the CPU: the same functions with the device as a parameter.

On a GPU the training images live on the device as uint8, augmentation runs there, and the loop reads the
device (``.item()``, ``.tolist()``, ``bool(tensor)``) once per log interval, never once per step. The CPU runs
the same code, so these tests count the reads a run makes and check the results against the per-step
reference; ``--compile`` is checked with dynamo's eager backend (inductor's compile is too slow for a test).
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest
import torch
from torch import nn

from convzoo.data import AugmentSpec, BatchAugment, load_data
from convzoo.data.augment import to_device
from convzoo.train import NonFiniteLossError, TrainConfig, get_recipe, train
from convzoo.train import trainer as trainer_mod
from convzoo.train.distributed import DistInfo
from convzoo.train.evaluation import evaluate
from convzoo.train.sources import InMemory, mix

ROOT = Path(__file__).resolve().parents[1]
CPU = torch.device("cpu")


class SmallNet(nn.Module):
    def __init__(self, num_classes: int = 10, in_chans: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_chans, 6, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(6)
        self.fc = nn.Linear(6 * 4, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn(self.conv(x)))
        return self.fc(nn.functional.adaptive_avg_pool2d(x, 2).flatten(1))


def small_net(num_classes: int = 10, in_chans: int = 1) -> SmallNet:
    return SmallNet(num_classes, in_chans)


class NanAt(SmallNet):
    """NaN logits from its 3rd training forward on."""

    calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = super().forward(x)
        if self.training:
            self.calls += 1
            if self.calls >= 3:
                out = out * float("nan")
        return out


def nan_at_3(num_classes: int = 10, in_chans: int = 1) -> NanAt:
    return NanAt(num_classes, in_chans)


@pytest.fixture(scope="module")
def digits():
    return load_data("digits", val_size=0, per_class=10, seed=0)  # 100 training images


def _cfg(tmp_path: Path, **over) -> TrainConfig:
    recipe = get_recipe("fast").replace(
        epochs=over.pop("epochs", 2), batch_size=over.pop("batch_size", 4), lr=0.1, amp=False,
        channels_last=False, augment="crop:1,flip", tta="none", lookahead={}, small_crops={}, bn_lr_scale=1.0,
        val_size=0,
    )  # fmt: skip
    kw = dict(
        model=over.pop("model", "test_trainer_speed:small_net"), data="digits", recipe=recipe,
        out_dir=str(tmp_path / "runs"), name="run", progress=False, threads=1, device="cpu",
        checkpoint_minutes=1e6,
    )  # fmt: skip
    kw.update(over)
    return TrainConfig(**kw)


def _quiet(_: str) -> None:
    pass


# --------------------------------------------------------------------------------- device-resident data


def test_to_device_on_the_cpu_is_the_tensor_itself():
    t = torch.arange(6)
    assert to_device(t, CPU) is t


def test_in_memory_batches_are_the_per_step_reference(digits):
    """The device-resident source (images indexed where they live, random draws moved without a sync) gives
    the very batches the former per-step copy gave: images[rows] copied, then augmented."""
    spec = AugmentSpec.parse("crop:2,flip")
    aug = BatchAugment(spec, digits.mean, digits.std)
    src = InMemory(digits, aug, seed=7)
    images, labels = src.resident(CPU)
    assert images is digits.train.images and labels is digits.train.labels  # on the CPU: no copy
    spe, batch = len(digits.train) // 8, 8
    got = list(src.batches(1, 2, spe=spe, batch=batch, info=DistInfo(), device=CPU))
    perm = torch.randperm(len(digits.train), generator=torch.Generator().manual_seed(mix(7, 1, 1)))
    for k, (x, y, scale) in enumerate(got):
        step = 2 + k
        rows = perm[step * batch : (step + 1) * batch]
        want = aug(
            digits.train.images[rows].clone(), torch.Generator().manual_seed(mix(7, spe + step, 2)), total=batch
        )
        assert torch.equal(x, want) and torch.equal(y, digits.train.labels[rows]) and scale == 1.0
    assert len(got) == spe - 2


def test_evaluate_reads_the_device_once(digits, monkeypatch):
    """The sums stay on the device until the end: one read for the whole set, whatever its batches."""
    model = small_net()
    reads = _count_reads(monkeypatch)
    m = evaluate(model, digits.test, digits.mean, digits.std, batch_size=16, device=CPU)
    assert reads["n"] == 1, reads
    assert set(m) == {"loss", "err", "top5_err"} and math.isfinite(m["loss"]) and 0 <= m["err"] <= 100


# --------------------------------------------------------------------------------- host syncs per step

READS = ("item", "tolist", "__bool__", "__float__", "__int__", "__index__", "numpy", "cpu")


def _count_reads(monkeypatch, where: dict | None = None) -> dict:
    """Count every read of a tensor's value by the host (what waits for a GPU), and torch.cuda.synchronize;
    ``where["on"]`` False (when given) leaves reads uncounted."""
    reads = {"n": 0}
    for name in READS:
        orig = getattr(torch.Tensor, name)

        def counted(self, *a, _orig=orig, **k):
            if where is None or where["on"]:
                reads["n"] += 1
            return _orig(self, *a, **k)

        monkeypatch.setattr(torch.Tensor, name, counted)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda *a, **k: reads.__setitem__("n", reads["n"] + 1))
    return reads


def test_the_step_loop_reads_the_device_once_per_log_interval(tmp_path, digits, monkeypatch):
    """25 steps an epoch, a log interval of 10: the loop reads the device 3 times an epoch (steps 10, 20 and
    the epoch's end), each read a single transfer, and never between them."""
    monkeypatch.setattr(trainer_mod, "SYNC_EVERY", 10)
    where = {"on": False}
    reads = _count_reads(monkeypatch, where)
    syncs: list[int] = []
    real_epoch, real_sync = trainer_mod._train_epoch, trainer_mod._sync

    def epoch(run, state, folder, stop):
        where["on"] = True
        try:
            return real_epoch(run, state, folder, stop)
        finally:
            where["on"] = False

    def sync(run, state, window):
        held = len(window.n)
        before = reads["n"]
        out = real_sync(run, state, window)
        if held:
            syncs.append(reads["n"] - before)
        return out

    monkeypatch.setattr(trainer_mod, "_train_epoch", epoch)
    monkeypatch.setattr(trainer_mod, "_sync", sync)
    res = train(_cfg(tmp_path), data=digits, log=_quiet)
    assert len(syncs) == 6 and all(n == 1 for n in syncs), syncs  # 2 epochs × (10, 20, 25)
    assert reads["n"] == len(syncs), f"{reads['n'] - len(syncs)} read(s) of the device outside the log points"
    assert [r["epoch"] for r in res.metrics] == [1, 2] and all(math.isfinite(r["train_loss"]) for r in res.metrics)


def test_metrics_match_a_log_interval_of_one_step(tmp_path, digits, monkeypatch):
    """Reading the device every step or every 10 steps gives the same weights and the same metrics."""
    monkeypatch.setattr(trainer_mod, "SYNC_EVERY", 1)
    every = train(_cfg(tmp_path, name="every"), data=digits, log=_quiet)
    monkeypatch.setattr(trainer_mod, "SYNC_EVERY", 10)
    lazy = train(_cfg(tmp_path, name="lazy"), data=digits, log=_quiet)
    a, b = every.model.state_dict(), lazy.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    keys = ("train_loss", "train_err", "test_loss", "test_err")
    assert [[r[k] for k in keys] for r in every.metrics] == [[r[k] for k in keys] for r in lazy.metrics]


def test_a_non_finite_loss_is_named_at_its_own_step(tmp_path, digits, monkeypatch):
    """Found at the next log point (step 10), the loss is reported at the step it became NaN (3)."""
    monkeypatch.setattr(trainer_mod, "SYNC_EVERY", 10)
    with pytest.raises(NonFiniteLossError, match=r"loss became nan at step 3 \(epoch 1, step 3 of 25\)"):
        train(_cfg(tmp_path, model="test_trainer_speed:nan_at_3"), data=digits, log=_quiet)
    assert not list((tmp_path / "runs" / "run" / "checkpoints").glob("ckpt_*"))  # nothing NaN saved


def test_a_mid_epoch_checkpoint_reads_the_device_first(tmp_path, digits, monkeypatch):
    """A stop between log points (step 32; the last read was at step 30) syncs before its save: the
    checkpoint holds the epoch's sums up to its own step, and the run resumed from it ends bit-identical, in
    weights and in every metric, to the run never interrupted."""
    monkeypatch.setattr(trainer_mod, "SYNC_EVERY", 10)
    ref = train(_cfg(tmp_path, name="ref"), data=digits, log=_quiet)
    asked = {"n": 0}

    def stop_at_32(run, stop):  # asked after every step but an epoch's last, and after an epoch: 32nd = step 32
        asked["n"] += 1
        return asked["n"] >= 32

    with monkeypatch.context() as m:
        m.setattr(trainer_mod, "_stop_requested", stop_at_32)
        with pytest.raises(trainer_mod.TrainingInterrupted, match="stopped at step 32 of 50"):
            train(_cfg(tmp_path), data=digits, log=_quiet)
    from convzoo.train.checkpoint import load_checkpoint, read_latest

    state = load_checkpoint(read_latest(tmp_path / "runs" / "run" / "checkpoints"), small_net())
    assert state["loop"]["global_step"] == 32 and state["loop"]["epoch_sums"][2] == 7 * 4  # steps 26-32
    done = train(_cfg(tmp_path, resume=True), data=digits, log=_quiet)
    a, b = ref.model.state_dict(), done.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    keys = ("epoch", "train_loss", "train_err", "test_loss", "test_err")
    assert [[r[k] for k in keys] for r in ref.metrics] == [[r[k] for k in keys] for r in done.metrics]


# --------------------------------------------------------------------------------- torch.compile option


def test_compile_trains_the_compiled_model_and_saves_its_own_weights(tmp_path, digits, monkeypatch):
    compiled = []
    real = torch.compile

    def eager_compile(model, **kw):
        compiled.append(model)
        return real(model, backend="eager")  # dynamo traces; no C++ build in a test

    monkeypatch.setattr(torch, "compile", eager_compile)
    res = train(_cfg(tmp_path, compile=True, epochs=1), data=digits, log=_quiet)
    assert compiled == [res.model]
    from safetensors.torch import load_file

    from convzoo.train.checkpoint import read_latest

    keys = load_file(str(read_latest(tmp_path / "runs" / "run" / "checkpoints") / "model.safetensors"))
    assert set(keys) == set(res.model.state_dict()) and not any("_orig_mod" in k for k in keys)
    # a resume may switch it (as --device): the same computation, fused
    more = train(_cfg(tmp_path, compile=False, epochs=2, resume=True), data=digits, log=_quiet)
    assert [r["epoch"] for r in more.metrics] == [1, 2]


# --------------------------------------------------------------------------------- the GPU script


def test_gpu_long_runs_on_the_cpu(tmp_path):
    """``benchmarks/gpu_long.py --device cpu``: a smoke of the GPU script on the CPU, one arm, tiny data."""
    spec = importlib.util.spec_from_file_location("gpu_long", ROOT / "benchmarks" / "gpu_long.py")
    gpu_long = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gpu_long)
    rows = gpu_long.main(
        ["--device", "cpu", "--data", "digits", "--per-class", "13", "--image-size", "32", "--epochs", "1",
         "--arms", "resnet20", "--no-compile", "--out", str(tmp_path / "runs"), "--json", str(tmp_path / "g.json")]
    )  # fmt: skip
    assert [r["arm"] for r in rows] == ["resnet20"] and rows[0]["images_per_s"] > 0 and rows[0]["wall_s"] > 0
    assert rows[0]["train_images"] == 130 and (tmp_path / "g.json").is_file()


def test_model_rates_benchmark_runs_and_measures_against_resnet20(capsys):
    """``benchmarks/model_rates.py``: the side-by-side step benchmark behind the estimator's multiples."""
    spec = importlib.util.spec_from_file_location("model_rates", ROOT / "benchmarks" / "model_rates.py")
    model_rates = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(model_rates)
    got = model_rates.main(["--models", "cnn4_cifar,resnet20_cifar", "--rounds", "1", "--batch", "8"])
    assert got["resnet20_cifar"] == 1.0 and got["cnn4_cifar"] > 0
    out = capsys.readouterr().out
    assert "cnn4_cifar" in out and "× ResNet-20's rate" in out and "batch 8" in out
