"""Every registered model: builds, runs forward and backward, is deterministic and finite in eval mode, and
keeps its golden parameter and MAC counts (tests/golden_counts.json, regenerated only by scripts/make_golden.py)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pytest
import torch

import convzoo
from convzoo.inspect.paper_check import check_model
from convzoo.inspect.summary import build_meta
from convzoo.inspect.trace import min_input_size

MODELS = convzoo.list_models()
GOLDEN = json.loads((Path(__file__).parent / "golden_counts.json").read_text())


@cache
def small_kwargs(name: str) -> dict[str, int]:
    """Models whose classifier is built for a fixed input (VGG's fc6) take img_size: test them at 32 px
    where their feature extractor allows it."""
    kwargs = {"num_classes": 10}
    if "img_size" in convzoo.model_info(name).accepts:
        try:
            build_meta(name, img_size=32, **kwargs)
            kwargs["img_size"] = 32
        except ValueError:  # e.g. AlexNet's stride-4 11×11 stem cannot take 32 px
            pass
    return kwargs


@cache
def input_for(name: str, training: bool = True) -> tuple[int, int, int]:
    """The smallest input the model accepts, but not below 32 px (nor above the paper's size)."""
    model, default = build_meta(name, **small_kwargs(name))
    side = min_input_size(model.train(training), default) or default[1]
    side = min(max(side, 32), default[1])
    return (default[0], side, side)


def _logits(out: object) -> list[torch.Tensor]:
    if isinstance(out, torch.Tensor):
        return [out]
    logits = [out.logits]  # type: ignore[attr-defined]
    aux = getattr(out, "aux_logits", None) or ()
    return logits + [a for a in aux if a is not None]


@pytest.mark.parametrize("name", MODELS)
def test_forward_backward_every_parameter_gets_gradient(name: str) -> None:
    torch.manual_seed(0)
    kwargs = small_kwargs(name)
    if "drop_path_rate" in convzoo.model_info(name).accepts:
        kwargs["drop_path_rate"] = 0.0  # stochastic depth skips whole branches, which then get no gradient
    model = convzoo.create_model(name, **kwargs).train()
    x = torch.randn(2, *input_for(name))
    outs = _logits(model(x))
    assert all(o.shape == (2, 10) for o in outs), [o.shape for o in outs]
    sum(o.float().pow(2).mean() for o in outs).backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"parameters without gradient: {missing[:10]}"
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def calibrate_batch_norm(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Give every BN the statistics of the batch it sees, as training would have: a randomly initialised
    1000-layer net with BN's initial statistics overflows in eval mode (500 unnormalised residual sums).

    Returns the eval-mode output of that pass: each BN normalises with the statistics just set, so it is the
    output any later eval pass on ``x`` must reproduce bit for bit."""

    def set_stats(bn: torch.nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        h = inputs[0]
        dims = [0, *range(2, h.dim())]
        bn.running_mean.copy_(h.mean(dims))
        bn.running_var.copy_(h.var(dims, unbiased=False))

    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    handles = [m.register_forward_pre_hook(set_stats) for m in bns if m.track_running_stats]
    with torch.no_grad():
        out = model.eval()(x)
    for h in handles:
        h.remove()
    return out


@pytest.mark.parametrize("name", MODELS)
def test_eval_mode_is_deterministic_and_plain(name: str) -> None:
    torch.manual_seed(0)
    model = convzoo.create_model(name, **small_kwargs(name))
    x = torch.randn(2, *input_for(name, training=False))
    a = calibrate_batch_norm(model, x)
    with torch.no_grad():
        b = model(x)
        split = model.forward_head(model.forward_features(x))
    assert isinstance(a, torch.Tensor) and a.shape == (2, 10)
    assert torch.isfinite(a).all()
    assert torch.equal(a, b) and torch.allclose(a, split)
    model.reset_classifier(5)
    with torch.no_grad():
        assert model(x).shape == (2, 5)
    assert model.num_classes == 5


@pytest.mark.parametrize("name", MODELS)
def test_golden_counts(name: str) -> None:
    assert name in GOLDEN, f"{name} is new: run `python scripts/make_golden.py` and review the diff"
    s = convzoo.summary(name)
    assert (s.total_params, s.total_macs) == (GOLDEN[name]["params"], GOLDEN[name]["macs"])


def test_golden_has_no_stale_models() -> None:
    assert sorted(GOLDEN) == MODELS


@pytest.mark.parametrize("name", MODELS)
def test_paper_figures_match_or_are_explained(name: str) -> None:
    c = check_model(name)
    assert not c.unexplained, [(x.figure, x.ours, x.paper, x.source) for x in c.unexplained]


@pytest.mark.parametrize("name", MODELS)
def test_info_cites_paper(name: str) -> None:
    info = convzoo.model_info(name)
    assert info.paper.arxiv or info.paper.url, f"{name} cites no arXiv id or URL"
    assert info.paper.year >= 1989 and info.description
