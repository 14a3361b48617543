"""Learning-rate schedules: closed forms, warm-up, exact resume, clear errors."""

from __future__ import annotations

import io
import math

import pytest
import torch

from convzoo.train.schedules import SCHEDULE_NAMES, build_schedule, schedule_curve, synthetic_val_error

T = 40
A0 = 0.1


def _close(a: list[float], b: list[float]) -> None:
    assert len(a) == len(b)
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        assert x == pytest.approx(y, rel=1e-12, abs=1e-15), f"step {i}: {x} != {y}"


def test_closed_forms() -> None:
    _close(schedule_curve("constant", total_steps=T, base_lr=A0), [A0] * T)
    _close(
        schedule_curve("step", total_steps=T, base_lr=A0, step_size=10, gamma=0.5),
        [A0 * 0.5 ** (t // 10) for t in range(T)],
    )
    _close(
        schedule_curve("multistep", total_steps=T, base_lr=A0, milestones=[5, 30]),
        [A0 * 0.1 ** ((t >= 5) + (t >= 30)) for t in range(T)],
    )
    _close(
        schedule_curve("exponential", total_steps=T, base_lr=A0, k=0.05),
        [A0 * math.exp(-0.05 * t) for t in range(T)],
    )
    _close(
        schedule_curve("inverse_time", total_steps=T, base_lr=A0, k=0.2),
        [A0 / (1 + 0.2 * t) for t in range(T)],
    )
    _close(
        schedule_curve("cosine", total_steps=T, base_lr=A0, min_lr=1e-3),
        [1e-3 + (A0 - 1e-3) * (1 + math.cos(math.pi * t / T)) / 2 for t in range(T)],
    )


def test_defaults_end_where_documented() -> None:
    assert schedule_curve("exponential", total_steps=T, base_lr=A0)[-1] == pytest.approx(A0 / 100)
    assert schedule_curve("inverse_time", total_steps=T, base_lr=A0)[-1] == pytest.approx(A0 / 10)
    multistep = schedule_curve("multistep", total_steps=T, base_lr=A0)
    assert multistep[T // 2 - 1] == A0 and multistep[T // 2] == pytest.approx(A0 / 10)
    assert multistep[3 * T // 4] == pytest.approx(A0 / 100)


def test_onecycle_rises_then_anneals() -> None:
    lrs = schedule_curve("onecycle", total_steps=100, base_lr=A0, max_lr=1.0, pct_start=0.25)
    peak = max(range(100), key=lrs.__getitem__)
    assert lrs[0] == pytest.approx(1.0 / 25) and lrs[peak] == pytest.approx(1.0) and peak in (24, 25)
    assert lrs[-1] == pytest.approx(1.0 / 25 / 1e4)
    assert all(a <= b for a, b in zip(lrs[:peak], lrs[1 : peak + 1], strict=True))
    linear = schedule_curve(
        "onecycle", total_steps=101, base_lr=A0, max_lr=1.0, pct_start=21 / 101, anneal_strategy="linear"
    )
    line = [1.0 - (1.0 - 1.0 / 25 / 1e4) * t / 80 for t in range(81)]  # peak at step 20, then straight down
    assert linear[20:] == pytest.approx(line, rel=1e-6)


def test_warmup_is_linear_and_composes_with_every_schedule() -> None:
    for name in SCHEDULE_NAMES:
        plain = schedule_curve(name, total_steps=T - 8, base_lr=A0)
        warm = schedule_curve(name, total_steps=T, base_lr=A0, warmup_steps=8, warmup_lr=0.01)
        start = plain[0]
        _close(warm[:9], [0.01 + (start - 0.01) * t / 8 for t in range(9)])
        _close(warm[8:], plain)  # after the warm-up, the schedule runs unchanged over the remaining steps
    assert schedule_curve("cosine", total_steps=T, base_lr=A0, warmup_steps=4)[0] == 0.0


def test_plateau_divides_by_ten_after_patience() -> None:
    falling = [0.5 - 0.01 * t for t in range(10)]
    errors = falling + [falling[-1]] * 30
    lrs = schedule_curve("plateau", total_steps=40, base_lr=A0, patience=3, metrics=errors)
    # the error last improved at step 9; steps 10..13 are four bad ones (> patience 3): cut after step 13
    assert lrs[:14] == [A0] * 14 and lrs[14] == pytest.approx(A0 / 10)
    assert lrs[18] == pytest.approx(A0 / 100)
    synthetic = schedule_curve("plateau", total_steps=100, base_lr=A0)
    assert len({round(x, 9) for x in synthetic}) >= 3  # the synthetic error curve makes it cut twice
    assert 0 < synthetic_val_error(1.0, None) < 0.9


def _run(schedule_name: str, steps: int, resume_at: int | None, **kw) -> list[float]:
    """Train a tiny model with SGD+momentum; optionally save at ``resume_at`` and resume in fresh objects."""
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    data = torch.randn(16, 3)

    def make(m: torch.nn.Module):
        opt = torch.optim.SGD(m.parameters(), lr=A0, momentum=0.9)
        return opt, build_schedule(opt, schedule_name, total_steps=steps, interval="step", **kw)

    opt, sched = make(model)
    lrs = []
    for t in range(steps):
        if t == resume_at:
            buf = io.BytesIO()
            torch.save(
                {"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict()}, buf
            )
            buf.seek(0)
            state = torch.load(buf, weights_only=True)
            model = torch.nn.Linear(3, 1)
            opt, sched = make(model)
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["opt"])
            sched.load_state_dict(state["sched"])
        loss = model(data).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        lrs.append(opt.param_groups[0]["lr"])
        sched.step(metric=loss.item() if sched.needs_metric else None)
    return lrs + [p.detach().clone() for p in model.parameters()]


@pytest.mark.parametrize("name", SCHEDULE_NAMES)
def test_resume_is_exact(name: str) -> None:
    kw = {"warmup_steps": 3, "warmup_lr": 0.001}
    if name == "plateau":
        kw["patience"] = 1
    full = _run(name, 30, None, **kw)
    for resume_at in (2, 3, 17):
        resumed = _run(name, 30, resume_at, **kw)
        for a, b in zip(full, resumed, strict=True):
            assert torch.equal(torch.as_tensor(a), torch.as_tensor(b)), (name, resume_at)


@pytest.mark.parametrize(
    ("name", "kw"),
    [
        ("onecycle", {"anneal_strategy": "linear", "final_div_factor": 1000.0, "pct_start": 0.15}),
        ("onecycle", {}),
        ("cosine", {"min_lr": 1e-4}),
        ("multistep", {"milestones": [1]}),
        ("exponential", {}),
    ],
)
def test_after_the_last_step_and_past_it_the_rate_is_the_last_steps(name, kw) -> None:
    """The rate left in the optimizer after the run (what the last epoch row logs, and what an extended run
    holds) is the last step's, not one a scheduler extrapolated past its end (one-cycle's linear decay went
    to -6e-6 after 11,700 steps, and to -0.12 after a run of one step)."""
    for steps in (1, 2, 40, 11_700):
        if name == "onecycle" and steps * kw.get("pct_start", 0.3) - 1 == 0:
            continue
        opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=A0)
        sched = build_schedule(opt, name, total_steps=steps, interval="step", **kw)
        used = []
        for _ in range(steps + 3):
            used.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        assert used[steps:] == [used[steps - 1]] * 3 and sched.get_last_lr() == [used[steps - 1]], (name, steps)
        assert min(used) > 0 and used[:steps] == pytest.approx(
            schedule_curve(name, total_steps=steps, base_lr=A0, **kw)
        )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "linear"}, "unknown schedule 'linear'; choose one of: constant"),
        ({"name": "step", "milestones": [3]}, "accepts: step_size, gamma"),
        ({"name": "cosine", "total_steps": 0}, "total_steps must be a positive integer"),
        ({"name": "cosine", "warmup_steps": 10}, "warmup_steps must be an integer in [0, total_steps)"),
        ({"name": "cosine", "warmup_lr": 0.1}, "set warmup_steps > 0"),
        ({"name": "cosine", "interval": "batch"}, "interval must be 'epoch' or 'step'"),
        ({"name": "exponential", "k": -1.0}, "k must be a finite number >= 0"),
        ({"name": "plateau", "factor": 2.0}, "factor must be < 1"),
        ({"name": "multistep", "milestones": [0, 4]}, "milestones must be distinct integers >= 1"),
        ({"name": "onecycle", "pct_start": 1.5}, "pct_start must be in (0, 1)"),
        ({"name": "onecycle", "anneal_strategy": "exp"}, "anneal_strategy must be 'cos' or 'linear'"),
        ({"name": "onecycle", "pct_start": 0.1}, "a rising phase of one step; change pct_start"),
    ],
)
def test_bad_arguments(kwargs: dict, message: str) -> None:
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=A0)
    kwargs = {"total_steps": 10, **kwargs}
    with pytest.raises(ValueError) as err:
        build_schedule(opt, **kwargs)
    assert message in str(err.value)


def test_plateau_needs_the_metric() -> None:
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=A0)
    sched = build_schedule(opt, "plateau", total_steps=10)
    opt.step()
    with pytest.raises(ValueError, match="needs the validation metric"):
        sched.step()
    with pytest.raises(ValueError, match="non-finite metric"):
        sched.step(float("nan"))
    other = build_schedule(
        torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=A0), "cosine", total_steps=10
    )
    with pytest.raises(ValueError, match="holds the state of schedule 'plateau'"):
        other.load_state_dict(sched.state_dict())
