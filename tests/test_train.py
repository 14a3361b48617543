"""Trainer, optimizers, recipes, checkpoints, exact resume after SIGKILL, DDP, bad input.

The tiny models below are reached as ``test_train:tiny_net`` (``module:function`` model names), also from the
subprocesses, which get this folder on ``PYTHONPATH``.
"""

from __future__ import annotations

import argparse
import csv
import errno
import json
import math
import os
import random
import signal
import subprocess
import sys
import time
from collections import namedtuple
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from torch import nn

from convzoo.data import ImageSet, load_data, normalize
from convzoo.train import (
    RECIPES,
    CheckpointError,
    NonFiniteLossError,
    TrainConfig,
    build_optimizer,
    get_recipe,
    load_checkpoint,
    save_checkpoint,
    train,
)
from convzoo.train import checkpoint as ckpt_mod
from convzoo.train.cli import main, register
from convzoo.train.optim import OPTIMIZER_NAMES, Lookahead
from convzoo.train.schedules import build_schedule
from convzoo.train.trainer import _mix, evaluate, he_init, training_loss, tta_views

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent


# ------------------------------------------------------------------------------------------------ tiny models


class TinyNet(nn.Module):
    """conv-BN-ReLU-pool-dropout-linear: small enough for subprocess tests."""

    def __init__(
        self, num_classes: int = 10, in_chans: int = 1, bn: bool = True, dropout: float = 0.2
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_chans, 8, 3, padding=1, bias=not bn)
        self.bn = nn.BatchNorm2d(8) if bn else nn.Identity()
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(8 * 4, num_classes)
        self.num_classes, self.in_chans = num_classes, in_chans

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn(self.conv(x)))
        x = nn.functional.adaptive_avg_pool2d(x, 2).flatten(1)
        return self.fc(self.drop(x))


def tiny_net(num_classes: int = 10, in_chans: int = 1, **kw) -> TinyNet:
    return TinyNet(num_classes, in_chans, **kw)


def tiny_net_nobn(num_classes: int = 10, in_chans: int = 1) -> TinyNet:
    """No BN (per-process batch statistics) and no dropout: for comparing 2 processes with 1."""
    return TinyNet(num_classes, in_chans, bn=False, dropout=0.0)


class FreezeNet(TinyNet):
    """A TinyNet whose classifier bias trains for the first 1.5 epochs only (as airbench's whitening bias)."""

    freeze_after = {"fc.bias": 1.5}


def freeze_net(num_classes: int = 10, in_chans: int = 1) -> FreezeNet:
    return FreezeNet(num_classes, in_chans)


def fixed32_net(num_classes: int = 10, in_chans: int = 1) -> nn.Module:
    """Needs 32×32 input (a linear layer of fixed size after three 2× poolings)."""
    return nn.Sequential(
        nn.Conv2d(in_chans, 4, 3, padding=1), nn.MaxPool2d(8), nn.Flatten(), nn.Linear(64, num_classes)
    )


class PoisonNet(TinyNet):
    """Returns NaN logits from its 6th training forward on."""

    def __init__(self, num_classes: int = 10, in_chans: int = 1) -> None:
        super().__init__(num_classes, in_chans)
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = super().forward(x)
        if self.training:
            self.calls += 1
            if self.calls >= 6:
                out = out * float("nan")
        return out


def poison_net(num_classes: int = 10, in_chans: int = 1) -> PoisonNet:
    return PoisonNet(num_classes, in_chans)


Out = namedtuple("Out", ["logits", "aux_logits"])


class AuxNet(TinyNet):
    aux_weights = (0.3,)

    def forward(self, x: torch.Tensor):
        out = super().forward(x)
        return Out(out, (out * 0.5,)) if self.training else out


def aux_net(num_classes: int = 10, in_chans: int = 1) -> AuxNet:
    return AuxNet(num_classes, in_chans)


def _cfg(tmp_path: Path, model: str = "test_train:tiny_net", **over) -> TrainConfig:
    recipe = get_recipe("fast").replace(
        epochs=over.pop("epochs", 2),
        batch_size=over.pop("batch_size", 32),
        lr=0.3,
        amp=False,
        channels_last=False,
        augment=over.pop("augment", "crop:1"),
        tta=over.pop("tta", "none"),
        lookahead={},
        small_crops={},
        bn_lr_scale=1.0,
    )
    kw = dict(
        model=model,
        data="digits",
        recipe=recipe,
        per_class=over.pop("per_class", 20),
        out_dir=str(tmp_path / "runs"),
        name="run",
        progress=False,
        threads=1,
    )
    kw.update(over)
    return TrainConfig(**kw)


def _quiet(_: str) -> None:
    pass


# ------------------------------------------------------------------------------------------------ optimizers


@pytest.mark.parametrize("name", OPTIMIZER_NAMES)
def test_every_optimizer_reduces_a_loss(name):
    torch.manual_seed(0)
    model = nn.Linear(4, 1)
    x = torch.randn(64, 4)
    y = x @ torch.tensor([1.0, -2.0, 0.5, 3.0]) + 0.1
    lr = {"sgd": 0.05, "momentum": 0.02, "nesterov": 0.02, "adagrad": 0.3}.get(name, 0.03)
    opt = build_optimizer(model, name, lr, weight_decay=1e-4)
    first = None
    for _ in range(50):
        loss = ((model(x).squeeze(1) - y) ** 2).mean()
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * first


def test_optimizer_options_reach_torch():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    opt = build_optimizer(model, "nesterov", 0.1, weight_decay=5e-4, no_decay_bn_bias=True)
    assert isinstance(opt, torch.optim.SGD) and opt.defaults["nesterov"] and opt.defaults["momentum"] == 0.9
    wd = {p.ndim: g["weight_decay"] for g in opt.param_groups for p in g["params"]}
    assert wd == {4: 5e-4, 1: 0.0}  # conv weight decayed; conv bias, BN weight and bias not
    assert build_optimizer(model, "amsgrad", 1e-3).defaults["amsgrad"] is True
    rms = build_optimizer(model, "rmsprop", 0.045, alpha=0.9, eps=1.0, momentum=0.0)
    assert rms.defaults["alpha"] == 0.9 and rms.defaults["eps"] == 1.0
    assert isinstance(build_optimizer(model, "adamw", 1e-3, weight_decay=0.05), torch.optim.AdamW)
    assert build_optimizer(model, "sgd", 0.1).defaults["momentum"] == 0.0
    with pytest.raises(ValueError, match="unknown optimizer 'adm'.*Did you mean: adam"):
        build_optimizer(model, "adm", 0.1)
    with pytest.raises(ValueError, match="learning rate must be positive"):
        build_optimizer(model, "sgd", 0.0)


def test_bn_lr_scale_keeps_the_decay_per_step():
    """airbench's BN scaling: BN parameters at lr × s with weight decay ÷ s; everything else unchanged."""
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4, 2))
    opt = build_optimizer(model, "nesterov", 0.5, momentum=0.85, weight_decay=1e-3, bn_lr_scale=64)
    bn = {id(p) for p in model[1].parameters()}
    by_group = [({id(p) for p in g["params"]}, g["lr"], g["weight_decay"]) for g in opt.param_groups]
    assert by_group[-1] == (bn, 32.0, pytest.approx(1e-3 / 64))
    assert all(not (ids & bn) and lr == 0.5 and wd == 1e-3 for ids, lr, wd in by_group[:-1])
    undecayed = build_optimizer(model, "sgd", 0.5, weight_decay=1e-3, no_decay_bn_bias=True, bn_lr_scale=2)
    assert [(len(g["params"]), g["weight_decay"]) for g in undecayed.param_groups] == [
        (2, 1e-3),
        (2, 0.0),
        (2, 0.0),
    ]
    schedule = build_schedule(opt, "onecycle", total_steps=10, interval="step")
    for _ in range(3):
        opt.step()
        schedule.step()
    assert opt.param_groups[-1]["lr"] == pytest.approx(64 * opt.param_groups[0]["lr"])  # scaled all along
    with pytest.raises(ValueError, match="bn_lr_scale must be positive"):
        build_optimizer(model, "sgd", 0.1, bn_lr_scale=0.0)


# ------------------------------------------------------------------------------------------------ recipes


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_every_recipe_builds_its_optimizer_schedule_and_augmentation(name):
    from convzoo.data import AugmentSpec

    r = get_recipe(name)
    assert r.source and r.summary and (r.epochs is None) != (r.iterations is None)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    opt = build_optimizer(
        model,
        r.optimizer,
        r.lr,
        momentum=r.momentum,
        weight_decay=r.weight_decay,
        eps=r.eps,
        alpha=r.alpha,
        no_decay_bn_bias=r.no_decay_bn_bias,
    )
    total = (
        r.iterations
        if r.interval == "step" and r.iterations
        else int(r.epochs or 1) * (390 if r.interval == "step" else 1)
    )
    sched = build_schedule(
        opt,
        r.schedule,
        total_steps=total,
        interval=r.interval,
        warmup_steps=r.warmup,
        warmup_lr=r.warmup_lr,
        **r.schedule_params,
    )
    assert sched.interval == r.interval
    AugmentSpec.parse(r.augment)


def test_resnet_cifar_recipe_is_the_papers():
    r = get_recipe("resnet_cifar")
    assert (r.optimizer, r.lr, r.momentum, r.weight_decay, r.batch_size) == ("momentum", 0.1, 0.9, 1e-4, 128)
    assert (
        r.iterations == 64_000 and r.schedule_params["milestones"] == [32_000, 48_000] and r.val_size == 5000
    )
    opt = torch.optim.SGD(nn.Linear(1, 1).parameters(), lr=r.lr)
    s = build_schedule(opt, r.schedule, total_steps=r.iterations, interval="step", **r.schedule_params)
    lrs = []
    for t in range(r.iterations):
        if t in (31_999, 32_000, 47_999, 48_000):
            lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        s.step()
    assert lrs == pytest.approx([0.1, 0.01, 0.01, 0.001])
    assert (
        get_recipe("resnet110_cifar").warmup_lr == 0.01 and get_recipe("inception_v3").label_smoothing == 0.1
    )


def test_unknown_recipe_suggests(capsys):
    with pytest.raises(ValueError, match="unknown recipe 'resnet_cifr'.*Did you mean: resnet_cifar"):
        get_recipe("resnet_cifr")
    assert main(["recipes"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in RECIPES) and "arXiv:1512.03385" in out


def test_register_adds_the_four_commands():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    register(sub)
    for argv in (["train", "m"], ["eval", "r"], ["predict", "c", "i.png"], ["recipes"]):
        assert callable(parser.parse_args(argv).func)


# ------------------------------------------------------------------------------------------------ model parts


def test_aux_losses_are_weighted():
    y = torch.tensor([1, 2])
    main_logits, aux_logits = torch.randn(2, 5), torch.randn(2, 5)
    loss, logits = training_loss(Out(main_logits, (aux_logits,)), y, (0.3,))
    ce = nn.functional.cross_entropy
    assert torch.allclose(loss, ce(main_logits, y) + 0.3 * ce(aux_logits, y)) and logits is main_logits
    plain, _ = training_loss(main_logits, y, ())
    assert torch.allclose(plain, ce(main_logits, y))
    with pytest.raises(ValueError, match="2 auxiliary outputs but has 1 aux_weights"):
        training_loss(Out(main_logits, (aux_logits, aux_logits)), y, (0.3,))


def test_he_init_and_zero_init_residual(tmp_path):
    torch.manual_seed(0)
    conv = nn.Conv2d(64, 128, 3)
    he_init(conv)
    assert conv.weight.std().item() == pytest.approx((2 / (128 * 9)) ** 0.5, rel=0.05)  # fan_out
    with pytest.raises(ValueError, match="no residual branches"):
        train(
            _cfg(tmp_path, recipe=get_recipe("fast").replace(zero_init_residual=True, epochs=1)), log=_quiet
        )


def test_aux_model_trains(tmp_path):
    result = train(_cfg(tmp_path, "test_train:aux_net", epochs=1, amp=True), log=_quiet)  # bf16 autocast
    assert np.isfinite(result.metrics[-1]["train_loss"])


# ------------------------------------------------------------------------------------------------ end to end


def test_train_writes_a_complete_run_folder_then_eval_and_predict(tmp_path, capsys):
    result = train(_cfg(tmp_path, epochs=5), log=_quiet)
    run = tmp_path / "runs" / "run"
    assert result.run_dir == run
    config = json.loads((run / "config.json").read_text())
    assert config["model"] == "test_train:tiny_net" and config["resolved"]["train_images"] == 200
    rows = list(csv.DictReader(open(run / "metrics.csv")))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4, 5] and {"train_loss", "test_err", "lr"} <= set(
        rows[0]
    )
    assert (run / "curves.png").stat().st_size > 1000
    assert float(rows[-1]["train_loss"]) < float(rows[0]["train_loss"])
    assert result.final_test_err < 75  # 10 classes: chance is 90% error
    model = tiny_net()
    state = load_checkpoint(run, model)
    assert state["loop"]["global_step"] == 5 * (200 // 32) and len(state["metrics"]) == 5

    assert main(["eval", str(run), "--per-class", "20", "--json"]) == 2  # a file never names code to import
    assert "not a registered convzoo model" in capsys.readouterr().err
    assert main(["eval", str(run), "--per-class", "20", "--json", "--model", "test_train:tiny_net"]) == 0
    ev = json.loads(capsys.readouterr().out)
    assert ev["images"] == 200 and ev["err"] == pytest.approx(result.final_test_err, abs=1e-6)

    img = load_data("digits").test.images[0, 0].numpy()
    Image.fromarray(img).save(tmp_path / "digit.png")
    Image.fromarray(np.stack([img] * 3, -1)).save(
        tmp_path / "digit_rgb.png"
    )  # RGB converted to the model's gray
    own = ["--model", "test_train:tiny_net"]
    assert main(["predict", str(run), str(tmp_path / "digit.png"), str(tmp_path / "digit_rgb.png"), *own]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert (
        len(lines) == 12
        and lines[0].endswith("digit.png")
        and lines[1].strip().endswith(("0", "1", "2", "3", "4", "5", "6", "7", "8", "9"))
    )
    assert lines[1] == lines[7]

    with pytest.raises(FileExistsError, match="--resume"):
        train(_cfg(tmp_path), log=_quiet)


def test_flip_tta_averages_the_softmax_of_image_and_mirror(tmp_path, capsys):
    """``tta="flip"`` scores each image by the mean of its and its mirror's softmax; the loss is the NLL of it."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 5, 6)).eval()  # not mirror-symmetric
    images = torch.randint(0, 256, (50, 3, 4, 5), dtype=torch.uint8)
    data = ImageSet(images, torch.randint(0, 6, (50,)), [str(i) for i in range(6)])
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    x = normalize(images, mean, std)
    with torch.no_grad():
        p = (model(x).softmax(1) + model(x.flip(3)).softmax(1)) / 2
    out = evaluate(model, data, mean, std, batch_size=16, tta="flip")
    assert out["err"] == pytest.approx(100 - 100 * (p.argmax(1) == data.labels).float().mean().item())
    assert out["loss"] == pytest.approx(-p[torch.arange(50), data.labels].log().mean().item(), rel=1e-5)
    plain = evaluate(model, data, mean, std, batch_size=16)
    assert plain["loss"] != pytest.approx(out["loss"])
    with pytest.raises(ValueError, match="unknown test-time augmentation 'ten'.*none, flip"):
        evaluate(model, data, mean, std, tta="ten")

    result = train(_cfg(tmp_path, epochs=1, tta="flip"), log=_quiet)
    own = ["--model", "test_train:tiny_net"]
    assert main(["eval", str(result.run_dir), "--per-class", "20", "--json", "--tta", "flip", *own]) == 0
    assert json.loads(capsys.readouterr().out)["err"] == pytest.approx(result.final_test_err, abs=1e-6)


def test_flip_translate_tta_weighs_six_views():
    x = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).view(2, 3, 4, 5)
    views = tta_views(x, "flip-translate")
    assert [w for w, _ in views] == [0.25, 0.25, 0.125, 0.125, 0.125, 0.125]
    assert torch.equal(views[1][1], x.flip(3))
    up_left, down_right = views[2][1], views[4][1]  # shifted by one pixel, the edge reflected
    assert torch.equal(up_left[..., 1:, 1:], x[..., :-1, :-1]) and torch.equal(
        up_left[..., 0, 1:], x[..., 1, :-1]
    )
    assert torch.equal(down_right[..., :-1, :-1], x[..., 1:, 1:]) and torch.equal(
        views[5][1], down_right.flip(3)
    )
    assert [w for w, _ in tta_views(x, "flip")] == [0.5, 0.5] and tta_views(x, "none")[0][1] is x

    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 5, 6)).eval()
    images = torch.randint(0, 256, (40, 3, 4, 5), dtype=torch.uint8)
    data = ImageSet(images, torch.randint(0, 6, (40,)), [str(i) for i in range(6)])
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    with torch.no_grad():
        p = sum(w * model(v).softmax(1) for w, v in tta_views(normalize(images, mean, std), "flip-translate"))
    out = evaluate(model, data, mean, std, batch_size=16, tta="flip-translate")
    assert out["err"] == pytest.approx(100 - 100 * (p.argmax(1) == data.labels).float().mean().item())
    assert out["loss"] == pytest.approx(-p[torch.arange(40), data.labels].log().mean().item(), rel=1e-5)


def test_lookahead_moves_the_slow_weights_part_way_every_k_steps():
    """slow ← slow + α(fast − slow), fast ← slow every k steps, α = 1 − decay·(t/T)^power (Zhang et al. 2019
    with power 0; Jordan 2024's growing average with power 3)."""
    model = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    la = Lookahead(model, total_steps=10, every=2, decay=0.5, power=0.0)
    assert la.alpha(7) == 0.5 and Lookahead(model, 10, 2, 0.5, 3.0).alpha(5) == pytest.approx(1 - 0.5 / 8)
    w0 = model[0].weight.detach().clone()
    with torch.no_grad():
        model[0].weight.add_(1.0)
        model[1].running_mean.add_(4.0)  # buffers are averaged too
    la.step(1)  # not a multiple of every: nothing happens
    assert torch.equal(model[0].weight, w0 + 1)
    la.step(2)
    assert torch.allclose(model[0].weight, w0 + 0.5) and torch.allclose(
        model[1].running_mean, torch.full((2,), 2.0)
    )
    assert torch.allclose(la.slow["0.weight"], w0 + 0.5)
    with torch.no_grad():
        model[0].weight.add_(1.0)
    la.finish(3)  # one last update for the step since the previous one, then the slow weights
    assert torch.allclose(model[0].weight, w0 + 1.0) and torch.allclose(la.slow["0.weight"], w0 + 1.0)
    with torch.no_grad():
        model[0].weight.add_(1.0)
    la.finish(4)  # on an update step (already taken): just the slow weights
    assert torch.allclose(model[0].weight, w0 + 1.0)
    copy = Lookahead(model, 10, 2, 0.5)
    copy.load_state_dict({k: v + 1 for k, v in la.state_dict().items()})
    assert torch.allclose(copy.slow["0.weight"], w0 + 2.0)
    assert model[1].num_batches_tracked.dtype == torch.int64 and "1.num_batches_tracked" not in la.slow
    with pytest.raises(ValueError, match="do not match|does not match"):
        copy.load_state_dict({"x": torch.zeros(1)})
    with pytest.raises(ValueError, match="'decay' must be in"):
        Lookahead(model, 10, 2, decay=1.0)


def test_a_parameter_frozen_after_some_epochs_stops_changing(tmp_path, monkeypatch):
    """``freeze_after`` (airbench's whitening bias: 3 epochs) trains the parameter for 1.5 epochs here."""
    from convzoo.train import trainer as trainer_mod

    states: dict[int, dict[str, torch.Tensor]] = {}
    real_save = trainer_mod.save_checkpoint

    def recording_save(ckpt_dir, model, state, metadata, index):
        states[state["loop"]["global_step"]] = {k: v.clone() for k, v in model.state_dict().items()}
        return real_save(ckpt_dir, model, state, metadata, index=index)

    monkeypatch.setattr(trainer_mod, "save_checkpoint", recording_save)
    result = train(_cfg(tmp_path, "test_train:freeze_net", epochs=3, checkpoint_every=1), log=_quiet)
    spe = 200 // 32
    last, frozen_at = 3 * spe, math.ceil(1.5 * spe)
    assert set(states) == set(range(1, last + 1))
    assert not torch.equal(states[frozen_at - 1]["fc.bias"], states[frozen_at]["fc.bias"])  # trained until
    assert torch.equal(states[frozen_at]["fc.bias"], states[last]["fc.bias"])  # then never again
    assert not torch.equal(states[frozen_at]["fc.weight"], states[last]["fc.weight"])
    assert result.model.fc.bias.requires_grad is False

    class Bad(TinyNet):
        freeze_after = {"whiten.bias": 3}

    with pytest.raises(
        ValueError, match="freeze_after names parameters the model does not have: whiten.bias"
    ):
        trainer_mod.frozen_after(Bad(), 10)


def test_small_crops_are_skipped_where_they_cannot_apply(tmp_path):
    """A model with a fixed-size classifier, or images no larger than the crops: full-size training, said so."""
    recipe = get_recipe("fast").replace(epochs=1, small_crops={"size": 24, "epochs": 1}, amp=False)
    said: list[str] = []
    cfg = _cfg(tmp_path, "test_train:fixed32_net", image_size=32, recipe=recipe, name="fixed")
    assert np.isfinite(train(cfg, log=said.append).metrics[-1]["train_loss"])
    assert any("cannot take the recipe's 24×24 small crops; training at full size" in s for s in said)
    assert np.isfinite(train(_cfg(tmp_path, recipe=recipe, name="digits8"), log=_quiet).metrics[-1]["train_loss"])
    bad = _cfg(tmp_path, recipe=recipe.replace(small_crops={"size": 4, "epoch": 1}), name="bad")
    with pytest.raises(ValueError, match="--small-crops knows size, epochs, not epoch"):  # validate_config
        train(bad, log=_quiet)


def test_lookahead_from_the_command_line(tmp_path, capsys):
    assert (
        main(
            _train_argv(tmp_path, "la", epochs=1, augment="crop:1:reflect,flip:alt")
            + ["--lookahead", "every=4", "--lookahead", "decay=0.5", "--tta", "flip-translate"]
        )
        == 0
    )
    config = json.loads((tmp_path / "la" / "config.json").read_text())
    assert config["recipe"]["lookahead"] == {"every": 4, "decay": 0.5, "power": 3}  # merged with the recipe's
    assert (
        config["recipe"]["augment"] == "crop:1:reflect,flip:alt"
        and config["recipe"]["tta"] == "flip-translate"
    )
    state = torch.load(ckpt_mod.read_latest(tmp_path / "la" / "checkpoints") / "state.pt", weights_only=True)
    assert set(state["lookahead"]) == set(_weights(tmp_path / "la")) - {"bn.num_batches_tracked"}
    assert (
        main(_train_argv(tmp_path, "sc", epochs=2) + ["--small-crops", "size=6", "--small-crops", "epochs=1"])
        == 0
    )
    assert json.loads((tmp_path / "sc" / "config.json").read_text())["recipe"]["small_crops"] == {
        "size": 6,
        "epochs": 1,
    }
    capsys.readouterr()
    assert main(_train_argv(tmp_path, "sc2", epochs=1) + ["--small-crops", "size=0"]) != 0
    assert "--small-crops size must be a whole number >= 1 and <= 4096, got 0" in capsys.readouterr().err
    capsys.readouterr()
    assert main(_train_argv(tmp_path, "la2", epochs=1) + ["--lookahead", "rate=3"]) != 0
    assert "--lookahead knows every, decay, power, not rate" in capsys.readouterr().err
    assert main(_train_argv(tmp_path, "la3", epochs=1) + ["--lookahead", "every=0"]) == 0
    assert json.loads((tmp_path / "la3" / "config.json").read_text())["recipe"]["lookahead"] == {}


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), str(ROOT), env.get("PYTHONPATH", "")])
    env.update(
        OMP_NUM_THREADS="1", CONVZOO_CACHE=env.get("CONVZOO_CACHE", str(Path.home() / ".cache" / "convzoo"))
    )
    return env


def _train_argv(
    out: Path,
    name: str,
    model: str = "test_train:tiny_net",
    epochs: int = 4,
    batch: int = 16,
    augment: str = "crop:1,flip",
) -> list[str]:
    return [
        "train",
        model,
        "--data",
        "digits",
        "--per-class",
        "30",
        "--epochs",
        str(epochs),
        "--batch-size",
        str(batch),
        "--lr",
        "0.05",
        "--no-amp",
        "--no-channels-last",
        "--augment",
        augment,
        "--threads",
        "1",
        "--out",
        str(out),
        "--name",
        name,
        "--no-progress",
    ]


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(str(ckpt_mod.find_checkpoint(run)))


@pytest.mark.slow
def test_resume_after_sigkill_is_bit_identical(tmp_path):
    """Kill a run with SIGKILL at a random moment (mid-epoch, maybe mid-save), resume it, compare weights.

    The run carries every piece of state the loop has: BN statistics, dropout, momentum, the schedule,
    reflection-padded crops with alternating flips, Lookahead's slow weights and a parameter frozen after
    1.5 epochs.
    """
    py = [sys.executable, "-m", "convzoo.train"]
    extra = ["--lookahead", "every=3", "--lookahead", "decay=0.6", "--lookahead", "power=1"]
    ref = subprocess.run(
        py + _train_argv(tmp_path, "ref", "test_train:freeze_net", augment="crop:1:reflect,flip:alt") + extra,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ref.returncode == 0, ref.stderr

    argv = _train_argv(tmp_path, "killed", "test_train:freeze_net", augment="crop:1:reflect,flip:alt") + [
        *extra,
        "--checkpoint-every",
        "1",
        "--resume",
    ]
    proc = subprocess.Popen(py + argv, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    latest = tmp_path / "killed" / "checkpoints" / "latest"
    deadline = time.time() + 120
    while not latest.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    time.sleep(random.Random().uniform(0.0, 0.4))
    assert proc.poll() is None, "the run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    killed_at = torch.load(ckpt_mod.read_latest(latest.parent) / "state.pt", weights_only=True)["loop"][
        "global_step"
    ]
    assert 0 < killed_at < 4 * (300 // 16)

    resumed = subprocess.run(py + argv, env=_env(), capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resumed {tmp_path / 'killed'} at step {killed_at}" in resumed.stdout
    a, b = _weights(tmp_path / "ref"), _weights(tmp_path / "killed")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), f"killed at step {killed_at}"
    drop = ("epoch_s", "images_per_s", "wall_s")
    rows = [
        [
            {k: v for k, v in r.items() if k not in drop}
            for r in csv.DictReader(open(tmp_path / n / "metrics.csv"))
        ]
        for n in ("ref", "killed")
    ]
    assert rows[0] == rows[1]


@pytest.mark.slow
def test_two_gloo_processes_match_one(tmp_path):
    """torchrun with 2 processes and the same global batch ends where 1 process does (|Δw| < 1e-5).

    The model has no BN (each process would normalize with its own half-batch statistics) and no dropout; the
    remaining difference is float summation order in the gradient all-reduce.
    """
    model = "test_train:tiny_net_nobn"
    one = subprocess.run(
        [sys.executable, "-m", "convzoo.train"] + _train_argv(tmp_path, "one", model, 2, 32),
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert one.returncode == 0, one.stderr
    two = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node=2",
            "-m",
            "convzoo",  # the lead's entry point dispatches to convzoo.train.cli
        ]
        + _train_argv(tmp_path, "two", model, 2, 32),
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert two.returncode == 0, two.stderr[-3000:]
    assert "on 2 processes" in two.stdout and two.stdout.count("epoch 2/2") == 1  # rank 0 alone logs
    a, b = _weights(tmp_path / "one"), _weights(tmp_path / "two")
    diff = max((a[k] - b[k]).abs().max().item() for k in a)
    assert diff < 1e-5, diff
    rows = [list(csv.DictReader(open(tmp_path / n / "metrics.csv"))) for n in ("one", "two")]
    assert float(rows[0][-1]["test_err"]) == pytest.approx(float(rows[1][-1]["test_err"]), abs=0.5)


# ------------------------------------------------------------------------------------------------ failures


def test_non_finite_loss_stops_and_keeps_the_last_checkpoint(tmp_path):
    cfg = _cfg(tmp_path, "test_train:poison_net", checkpoint_every=2, epochs=1)
    with pytest.raises(
        NonFiniteLossError,
        match=r"loss became nan at step 6 .*last good checkpoint .*ckpt_000002.* "
        r"lower learning rate \(e\.g\. --lr 0\.03\)",
    ):
        train(cfg, log=_quiet)
    state = load_checkpoint(tmp_path / "runs" / "run", poison_net())
    assert state["loop"]["global_step"] == 4


def test_failed_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    model = tiny_net()
    first = save_checkpoint(tmp_path, model, {"loop": {"global_step": 1}}, {"model": "tiny"}, index=1)
    before = load_file(str(first / "model.safetensors"))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1)

    def full_disk(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ckpt_mod.torch, "save", full_disk)
    with pytest.raises(CheckpointError, match="No space left.*last good checkpoint .*ckpt_000001 is intact"):
        save_checkpoint(tmp_path, model, {"loop": {"global_step": 2}}, {"model": "tiny"}, index=2)
    monkeypatch.undo()
    assert ckpt_mod.read_latest(tmp_path) == first and not list(tmp_path.glob(".tmp*"))
    assert not (tmp_path / "ckpt_000002").exists()
    fresh = tiny_net()
    ckpt_mod.load_model_weights(fresh, first / "model.safetensors")
    assert all(torch.equal(fresh.state_dict()[k], before[k]) for k in before)
    # a save killed after its folder was renamed but before the pointer moved leaves a stray folder: ignored,
    # then replaced by the next save of that number
    (tmp_path / "ckpt_000002").mkdir()
    assert ckpt_mod.read_latest(tmp_path) == first
    second = save_checkpoint(tmp_path, model, {"loop": {"global_step": 2}}, {"model": "tiny"}, index=2)
    assert ckpt_mod.read_latest(tmp_path) == second and (second / "state.pt").exists()


def test_pickle_checkpoint_with_code_is_refused(tmp_path):
    model = tiny_net()
    folder = save_checkpoint(tmp_path, model, {"loop": {}}, {"model": "tiny"}, index=1)

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    torch.save({"format": ckpt_mod.FORMAT, "payload": Evil()}, folder / "state.pt")
    with pytest.raises(CheckpointError, match="refusing to load .*could run code"):
        load_checkpoint(tmp_path, model)
    assert not (tmp_path / "pwned").exists()


def test_checkpoint_of_another_architecture_lists_the_keys(tmp_path):
    save_checkpoint(tmp_path, tiny_net(), {"loop": {}}, {"model": "tiny"}, index=1)
    with pytest.raises(
        CheckpointError, match=r"does not fit.*missing: 0\.bias, 0\.weight.*unexpected: bn\.bias"
    ):
        ckpt_mod.load_model_weights(fixed32_net(), tmp_path / "ckpt_000001" / "model.safetensors")
    with pytest.raises(CheckpointError, match="no such run or checkpoint"):
        load_checkpoint(tmp_path / "nothing", tiny_net())


def test_bad_cli_input_is_reported(tmp_path, capsys):
    base = ["--out", str(tmp_path), "--epochs", "1", "--no-progress"]
    assert main(["train", "resnet20_cifr", *base]) == 2  # a usage error, before any data is loaded
    assert "unknown model 'resnet20_cifr'. Did you mean: resnet20_cifar" in capsys.readouterr().err
    assert main(["train", "test_train:tiny_net", "--recipe", "fsat", *base]) == 2
    assert "Did you mean: fast" in capsys.readouterr().err
    assert main(["train", "test_train:tiny_net", "--data", str(tmp_path / "missing"), *base]) == 2
    assert "no such folder" in capsys.readouterr().err
    assert main(["train", "test_train:fixed32_net", "--data", "digits", *base]) == 2
    assert "cannot take the data's 8×8 images" in capsys.readouterr().err
    assert main(["train", "lenet5", "--data", "digits", *base]) == 2
    err = capsys.readouterr().err
    assert "its paper used 32×32" in err and "--image-size" in err
    assert main(["train", "test_train:tiny_net", "--batch-size", "4096", *base]) == 2
    assert "larger than the 1438 training images" in capsys.readouterr().err
    assert main(["eval", str(tmp_path / "nope")]) == 2
    assert "no such run or checkpoint" in capsys.readouterr().err


def test_seed_mixing_is_stable():
    assert _mix(0, 1) != _mix(1, 0) and _mix(3, 4) == _mix(3, 4) and 0 <= _mix(2**70, -1) < 2**63


@pytest.mark.slow
def test_demo_trains_lenet_on_digits(tmp_path, capsys):
    from convzoo.train.cli import demo

    assert demo(out_dir=str(tmp_path)) == 0
    out = capsys.readouterr().out
    acc = float(out.split("test accuracy ")[1].split("%")[0])
    assert acc > 90 and "run folder:" in out
