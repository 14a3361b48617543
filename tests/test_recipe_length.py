"""A paper recipe run for another length (``--epochs``/``--iterations``) scales its milestones or step size to
the same fractions of the run, as ``repro`` does, and says so first (issue 23)."""

from __future__ import annotations

import pytest
import torch

from convzoo.train.recipes import _LENGTH_PARAMS, RECIPES, fit_schedule, scale_recipe, with_overrides
from convzoo.train.schedules import build_schedule

TIMED = sorted(n for n, r in RECIPES.items() if any(k in r.schedule_params for k in _LENGTH_PARAMS))
SPE = 351  # CIFAR-10's 45,000 training images in batches of 128


def test_the_recipes_with_lengths_are_covered() -> None:
    assert {"resnet_cifar", "wrn_cifar", "densenet_cifar", "googlenet", "inception_v3"} <= set(TIMED)


def _lrs(r, steps: int) -> list[float]:  # type: ignore[no-untyped-def]
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=r.lr)
    sched = build_schedule(
        opt, r.schedule, total_steps=steps, interval=r.interval, warmup_steps=r.warmup,
        warmup_lr=r.warmup_lr, **r.schedule_params,
    )  # fmt: skip
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


@pytest.mark.parametrize("name", TIMED)
@pytest.mark.parametrize("length", [{"epochs": 10, "iterations": None}, {"iterations": 2000, "epochs": None}])
def test_shortened_recipe_scales_like_repro(name: str, length: dict) -> None:  # type: ignore[type-arg]
    base = RECIPES[name]
    r = with_overrides(base, length, {"epochs": "--epochs", "iterations": "--iterations"})
    fitted, line = fit_schedule(r, SPE)
    steps = 2000 if length["iterations"] else 10 * SPE
    epochs = steps / SPE
    expect = scale_recipe(r.replace(epochs=base.epochs, iterations=base.iterations), epochs, SPE)
    assert fitted.iterations == steps and fitted.epochs is None and fitted.interval == "step"
    assert fitted.schedule_params == expect.schedule_params and fitted.warmup == expect.warmup
    assert line is not None and line.startswith("--epochs 10: " if length["epochs"] else "--iterations 2,000: ")
    for key in _LENGTH_PARAMS:
        if key not in base.schedule_params:
            continue
        new = fitted.schedule_params[key]
        assert ("milestones" if key == "milestones" else "step size") in line
        for v in new if isinstance(new, list) else [new]:
            assert f"{v:,}" in line and 1 <= v < steps  # every milestone (and the step) falls inside the run
    assert "fitted to this length" in fitted.summary


@pytest.mark.parametrize("name", [n for n in TIMED if RECIPES[n].schedule in ("multistep", "step")])
def test_the_rate_decays_within_a_shortened_run(name: str) -> None:
    r = with_overrides(RECIPES[name], {"epochs": 2, "iterations": None})
    fitted, _ = fit_schedule(r, 50)
    lrs = _lrs(fitted, fitted.iterations)  # type: ignore[arg-type]
    assert lrs[-1] < max(lrs)  # unscaled, resnet_cifar's 32k milestone lies past a 100-step run: lr stays 0.1


def test_the_paper_length_or_own_milestones_are_left_alone() -> None:
    assert fit_schedule(RECIPES["resnet_cifar"], SPE) == (RECIPES["resnet_cifar"], None)
    own = with_overrides(
        RECIPES["resnet_cifar"],
        {"epochs": 10, "iterations": None, "schedule_params": {"milestones": [100, 200]}},
    )
    assert fit_schedule(own, SPE) == (own, None)
    already = scale_recipe(RECIPES["resnet_cifar"], 10, SPE)  # what repro hands the trainer
    assert fit_schedule(already, SPE) == (already, None)
    assert fit_schedule(with_overrides(RECIPES["fast"], {"epochs": 3}), SPE)[1] is None  # onecycle: no milestones


def test_the_issue_example() -> None:
    r = with_overrides(RECIPES["resnet_cifar"], {"epochs": 10, "iterations": None})
    fitted, line = fit_schedule(r, SPE)
    assert fitted.schedule_params["milestones"] == [1755, 2632]
    assert line == (
        "--epochs 10: milestones scaled to 1,755 and 2,632 steps (the paper's 32,000 and 48,000 of 64,000 "
        "iterations), the same fractions of this run's 3,510 steps"
    )


def test_trainer_says_it_first(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from convzoo.train.config import TrainConfig
    from convzoo.train.trainer import train

    r = with_overrides(RECIPES["wrn_cifar"], {"epochs": 1, "iterations": None, "augment": "none", "val_size": 0})
    lines: list[str] = []
    cfg = TrainConfig(
        model="cnn4_cifar", data="digits", recipe=r, per_class=60, image_size=32, out_dir=str(tmp_path),
        progress=False, threads=1,
    )
    res = train(cfg, log=lines.append)
    assert lines[0].startswith("recipe wrn_cifar, --epochs 1: milestones scaled to"), lines[:3]
    assert res.final_test_err is not None
