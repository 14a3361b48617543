"""convzoo.repro: claims as data, the verdict rule, analytic figures, smoke runs, skip and resume, list/docs."""

from __future__ import annotations

import dataclasses
import json
import math
import re

import pytest
import torch

from convzoo.cli import main
from convzoo.repro import Check, Claim, claims, get_claim, run_claim
from convzoo.repro.budgets import smoke
from convzoo.repro.estimate import plan, scale_recipe
from convzoo.repro.results import ArmResult, Measure, ResultFileError, epochs_to, measure, read_arm_result
from convzoo.repro.spec import BUDGETS, METRICS, TRAIN_RATE_MACS, TRAIN_RATE_MACS_BF16, Arm, Budget
from convzoo.repro.verdict import (
    CONTRADICTED,
    HOLDS,
    INCONCLUSIVE,
    NOT_EVALUATED,
    NOT_REACHED,
    arm_stats,
    judge_check,
    verdict,
)
from convzoo.train.recipes import get_recipe

ISSUE_CLAIMS = {
    "degradation", "unit_placement", "shortcuts", "stochastic_depth", "all_conv", "gap_vs_fc",
    "densenet_efficiency", "wide_vs_deep", "squeeze_excitation", "relu_vs_tanh", "inception_residual",
    "aux_classifiers", "stacked_3x3", "inception_reduction", "factorize_5x5", "factorize_asymmetric",
    "googlenet_params", "bottleneck_cost", "resnext_block", "densenet_connections", "se_overhead",
    "stochastic_depth_depth", "fc_as_conv", "resnext_forms", "grid_reduction", "vgg_params", "momentum_ravine",
    "adaptive_steps", "adam_bias_correction",
}  # fmt: skip
TRAINED = [c.id for c in claims() if c.kind == "trained"]
ANALYTIC = [c.id for c in claims() if c.kind == "analytic"]
IMAGENET = {"inception_residual", "aux_classifiers"}
# smoke arms of ResNet-110 size and up (a few seconds each on a quiet 2-core CPU) run with the slow tests
HEAVY_SMOKE = IMAGENET | {"unit_placement", "shortcuts", "stochastic_depth", "squeeze_excitation", "wide_vs_deep",
                          "densenet_efficiency"}  # fmt: skip


@pytest.fixture(scope="module")
def listing() -> list[dict]:
    from convzoo.repro.cli import claim_rows

    return claim_rows()


# ------------------------------------------------------------------------------------- claims as data


def test_every_claim_of_the_issue_is_listed() -> None:
    assert {c.id for c in claims()} == ISSUE_CLAIMS


@pytest.mark.parametrize("cid", TRAINED)
def test_trained_claim_is_consistent(cid: str) -> None:
    c = get_claim(cid)
    names = [a.name for a in c.arms]
    assert len(set(names)) == len(names)
    for check in c.checks:  # each side an arm, or a selection of arms (the best of a grid)
        assert check.metric in METRICS
        assert all(c.arm(n) for side in (check.better, check.worse) for n in c.selections.get(side, (side,)))
    for name in BUDGETS:
        if name in c.unavailable:
            with pytest.raises(ValueError, match=re.escape(c.unavailable[name][:20])):
                c.budget(name)
            continue
        b = c.budget(name)
        assert c.checks_at(b), f"{cid} at {name} has no check whose two arms both run"
    for a in c.arms:
        get_recipe(a.recipe).replace(**a.recipe_changes)  # every change names a recipe field


def test_cpu_budgets_fit_an_hour_and_the_paper_budget_keeps_the_recipe(listing: list[dict]) -> None:
    rows = {r["id"]: r for r in listing}
    for cid in TRAINED:
        cpu = rows[cid]["budgets"]["cpu"]
        if cid in IMAGENET:
            assert not cpu["available"] and cpu["why"]
            continue
        assert cpu["available"] and cpu["data"] == "cifar10-jpg"
        assert 0 < cpu["estimated_s"] <= 3600, (cid, cpu["estimated_s"])
        paper = get_claim(cid).budget("paper")
        # sized for the slower case: fp32 on a 2-core CPU without native bf16
        b = get_claim(cid).budget("cpu")
        fp32 = b.seeds * sum(p.seconds for p in plan(get_claim(cid), b, rate=TRAIN_RATE_MACS))
        assert fp32 <= 3600, (cid, fp32)
        assert paper.epochs is None and paper.per_class is None and not paper.recipe_changes


def test_estimates_use_bf16_only_where_the_budget_autocasts_and_the_cpu_has_it(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from convzoo import cpuinfo
    from convzoo.repro import estimate
    from convzoo.repro.spec import TRAIN_RATE_MACS_AVX512

    c = get_claim("degradation")
    read_flags = estimate.avx512.__wrapped__
    for native, amp, flags, rate in ((True, True, {"avx512f"}, TRAIN_RATE_MACS_BF16),
                                     (False, True, {"avx512f"}, TRAIN_RATE_MACS_AVX512),
                                     (True, False, {"avx512f"}, TRAIN_RATE_MACS_AVX512),
                                     (False, True, {"avx2"}, TRAIN_RATE_MACS)):  # fmt: skip
        monkeypatch.setattr(estimate, "native_bf16", lambda native=native: native)
        monkeypatch.setattr(cpuinfo, "cpu_flags", lambda flags=flags: (flags, "a CPU"))
        assert read_flags() == ("avx512f" in flags)  # the flag read itself, uncached
        monkeypatch.setattr(estimate, "avx512", lambda flags=flags: "avx512f" in flags)
        b = dataclasses.replace(c.budget("cpu"), amp=amp)
        p = estimate.plan(c, b)[0]
        images = 3 * p.epochs * p.train_images + p.evaluations * p.test_images
        assert p.seconds == pytest.approx(p.macs * images / rate)


def test_every_arm_builds_with_its_overrides(listing: list[dict]) -> None:
    """plan() built every arm of every budget on meta: MACs and parameters are known for all of them."""
    from convzoo.repro.estimate import plan

    for c in claims():
        for name, b in c.budgets.items():
            for p in plan(c, b):
                assert p.macs > 0 and p.params > 0 and p.seconds > 0, (c.id, name, p.arm.name)


def test_unknown_claim_and_budget_name_the_cause() -> None:
    with pytest.raises(ValueError, match="Did you mean: degradation"):
        get_claim("degradaton")
    with pytest.raises(ValueError, match="unknown budget"):
        get_claim("degradation").budget("huge")
    with pytest.raises(ValueError, match="needs a data set"):
        run_claim("inception_residual", "paper", out="/nonexistent-never-created")


# --------------------------------------------------------------------------------------- list / JSON


def test_list_json_has_every_claim_with_arms_budgets_and_estimates(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["repro", "list", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["id"] for r in rows} == ISSUE_CLAIMS
    deg = next(r for r in rows if r["id"] == "degradation")
    assert deg["kind"] == "trained" and deg["where"].startswith("Fig. 6")
    assert {a["name"] for a in deg["arms"]} >= {"plain20", "plain56", "resnet20", "resnet110"}
    r20 = next(a for a in deg["arms"] if a["name"] == "resnet20")
    assert r20["paper"] == [{"metric": "test_err", "value": 8.75, "where": "Table 6"}]
    assert set(deg["budgets"]) == set(BUDGETS)
    assert all(r["budgets"] for r in rows)


def test_list_text_names_each_claim_and_its_times(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["repro", "list"]) == 0
    out = capsys.readouterr().out
    for cid in ISSUE_CLAIMS:
        assert f"\n{cid}  [" in "\n" + out
    assert "cpu: n/a" in out and "time on this machine, its arms one after another (elapsed with --jobs 2): smoke" in out
    relu = out[out.index("\nrelu_vs_tanh  [") :].split("\n\n")[0]  # its long arms are committed in docs/repro
    assert re.search(r"long: 6 of 6 arm-runs committed under today's spec \(they took [^)]+\); all done", relu)


def test_list_power_table_says_which_budget_can_decide_each_check(capsys: pytest.CaptureFixture[str]) -> None:
    """Each check: the paper's gap beside the smallest gap each budget resolves; a check no CPU budget trains says
    it is left to the GPU, one about early training that it needs no convergence."""
    assert main(["repro", "list"]) == 0
    out = "\n" + capsys.readouterr().out

    def line(claim: str, check: str) -> str:
        block = out[out.index(f"\n{claim}  [") :].split("\n\n")[0]
        return next(x for x in block.splitlines() if x.strip().startswith(check))

    gpu = "no CPU budget can decide it in 12 h: left to `--budget paper` on a GPU"
    assert gpu in line("shortcuts", "identity beats constant_scaling")  # ResNet-110 arms: paper budget only
    assert "resolves paper ≥" in line("shortcuts", "identity beats constant_scaling")
    assert gpu not in line("shortcuts", "identity beats conv1x1")  # the long budget trains it
    assert "long ≥" in line("shortcuts", "identity beats conv1x1")
    gap = line("gap_vs_fc", "gap beats fc")
    assert "paper gap 1.18" in gap and "cpu ≥ 1.57 (below resolution)" in gap and gpu not in gap
    assert "[early training: no convergence needed]" in line("degradation", "the deeper plain net")
    tiny = line("unit_placement", "r110_full_preact beats r110_original")  # 0.24 points: no budget resolves it
    assert "below resolution at every budget, the paper's own included" in tiny and gpu not in tiny


def test_list_says_what_a_fresh_clone_would_still_train(tmp_path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    """Outside a checkout (no docs/repro here) the list says nothing about committed arms: it cannot know."""
    monkeypatch.chdir(tmp_path)
    assert main(["repro", "list", "--format", "json"]) == 0
    rows = {r["id"]: r for r in json.loads(capsys.readouterr().out)}
    long = rows["degradation"]["budgets"]["long"]
    assert long["committed"] is None and long["to_run"] is None
    assert main(["repro", "list"]) == 0
    assert "arm-runs" not in capsys.readouterr().out


# ------------------------------------------------------------------------------------ the verdict rule
# (the paired statistics, convergence, power and outcomes: tests/test_repro_decide.py)

CHECK = Check("test_err", "a", "b", "a beats b")
FLAT = [60.0, 40.0, 30.0, 25.0, 22.0, 21.0, 20.5, 20.3, 20.2, 20.2]


def runs(arm: str, *test_errs: float) -> list[ArmResult]:
    """Converged runs (one per value) without per-image results: compared unpaired."""
    out = []
    for seed, e in enumerate(test_errs):
        rows = [{"epoch": float(i + 1), "train_err": v} for i, v in enumerate(FLAT)]
        rows[-1]["test_err"] = e
        out.append(run_result(rows, arm=arm, seed=seed))
    return out


def toy(check: Check = CHECK) -> Claim:
    arms = tuple(Arm(n, "lenet5", "resnet_cifar") for n in ("a", "b"))
    return Claim("toy", "A (2020)", "T1", "a beats b", "trained", arms=arms, checks=(check,),
                 budgets={"cpu": Budget("cpu", "digits", epochs=10)})  # fmt: skip


def outcome(check: Check, better: list[ArmResult], worse: list[ArmResult]) -> str:
    c = toy(check)
    o = judge_check(c, check, c.budgets["cpu"], {check.better: better, check.worse: worse})
    assert o is not None
    return o.outcome


def test_gap_well_beyond_the_noise_holds_and_reversed_is_contradicted() -> None:
    assert outcome(CHECK, runs("a", 5.0, 5.1, 4.9), runs("b", 7.0, 7.1, 6.9)) == HOLDS
    assert outcome(CHECK, runs("a", 7.0, 7.1, 6.9), runs("b", 5.0, 5.1, 4.9)) == CONTRADICTED


def test_gap_within_the_seed_spread_is_inconclusive() -> None:
    # means differ by 1 point but the seeds spread by ±2 (and two seeds have one degree of freedom)
    assert outcome(CHECK, runs("a", 3.0, 7.0), runs("b", 4.0, 8.0)) == INCONCLUSIVE


def test_the_shared_test_set_noise_is_not_divided_by_seeds() -> None:
    shared = arm_stats([Measure(5.0, 0.3, shared=True)] * 3)
    own = arm_stats([Measure(5.0, 0.3)] * 3)
    assert shared.se == pytest.approx(0.3) and own.se == pytest.approx(0.3 / math.sqrt(3))


def test_a_check_of_size_needs_the_factor_not_just_the_direction() -> None:
    six = Check("epochs_to_25", "a", "b", "six times faster", factor=6.0)

    def crossing(arm: str, epoch: int, n: int = 30) -> list[ArmResult]:
        rows = [{"epoch": float(e), "train_err": 80.0 if e < epoch else 20.0} for e in range(1, n + 1)]
        return [run_result(rows, arm=arm, train_images=50_000)]

    assert outcome(Check("epochs_to_25", "a", "b", "faster"), crossing("a", 9), crossing("b", 14)) == HOLDS
    assert outcome(six, crossing("a", 9), crossing("b", 14)) == CONTRADICTED  # 1.5× faster, not 6×
    assert outcome(six, crossing("a", 2), crossing("b", 20)) == HOLDS  # 10×


def test_claim_verdict_combines_checks() -> None:
    from types import SimpleNamespace as O

    assert verdict([O(outcome=HOLDS), O(outcome=HOLDS)]) == HOLDS  # type: ignore[list-item]
    assert verdict([O(outcome=HOLDS), O(outcome=NOT_REACHED)]) == "undecided"  # type: ignore[list-item]
    assert verdict([O(outcome=HOLDS), O(outcome=CONTRADICTED)]) == CONTRADICTED  # type: ignore[list-item]
    assert verdict([]) == NOT_EVALUATED
    assert verdict([O(outcome=HOLDS)], evaluated=False) == NOT_EVALUATED  # type: ignore[list-item]


def run_result(rows: list[dict], **kw: object) -> ArmResult:
    base = dict(arm="a", seed=0, wall_s=1.0, images_per_s=1.0, train_images=1000, test_images=10_000,
                val_images=0, estimated_s=1.0)  # fmt: skip
    return ArmResult(rows=rows, **{**base, **kw})  # type: ignore[arg-type]


def test_metrics_and_their_sampling_noise() -> None:
    r = run_result([{"epoch": 1, "train_err": 60.0, "epoch_s": 10.0}, {"epoch": 2, "train_err": 20.0,
                    "test_err": 25.0, "epoch_s": 12.0}])  # fmt: skip
    m = measure(r, "test_err")
    assert m == Measure(25.0, pytest.approx(100 * math.sqrt(0.25 * 0.75 / 10_000)), shared=True)
    assert measure(r, "val_err") is None
    t = measure(r, "train_s")
    assert t is not None and t.value == 22.0 and t.noise == pytest.approx(math.sqrt(2) * math.sqrt(2))
    with pytest.raises(ValueError, match="unknown metric"):
        measure(r, "accuracy")


def test_a_diverged_run_scores_chance_and_has_no_time() -> None:
    r = run_result([], diverged="the loss became nan at step 3", classes=10)
    assert measure(r, "test_err") == Measure(90.0, 0.0) and measure(r, "train_s") is None


def test_epochs_to_interpolates_and_censors() -> None:
    rows = [{"epoch": 1, "train_err": 50.0}, {"epoch": 2, "train_err": 20.0}]
    assert epochs_to(rows, 25.0) == pytest.approx(1 + 25 / 30)
    assert epochs_to([{"epoch": 1, "train_err": 25.0}], 25.0) == pytest.approx(1.0)
    assert epochs_to([{"epoch": 1, "train_err": 60.0}, {"epoch": 2, "train_err": 40.0}], 25.0) == 3.0


# -------------------------------------------------------------------------------------- the schedule


def test_scaled_recipe_keeps_the_schedule_shape() -> None:
    r = scale_recipe(get_recipe("resnet110_cifar"), epochs=10, steps_per_epoch=100)
    assert r.iterations == 1000 and r.interval == "step" and r.epochs is None
    m = r.schedule_params["milestones"]
    # the warm-up keeps its 400 steps where the run is long enough, else 10% of the run (never a fraction of it)
    assert m == [round(31_600 / 64_000 * 1000), round(47_600 / 64_000 * 1000)] and r.warmup == 100
    assert r.warmup_lr == 0.01
    assert scale_recipe(get_recipe("resnet110_cifar"), epochs=100, steps_per_epoch=100).warmup == 400
    assert scale_recipe(get_recipe("preact_resnet_cifar"), epochs=5, steps_per_epoch=39).warmup == 19
    w = scale_recipe(get_recipe("wrn_cifar"), epochs=20, steps_per_epoch=10)
    assert w.iterations == 200 and w.schedule_params["milestones"] == [60, 120, 160]
    tiny = scale_recipe(get_recipe("resnet110_cifar"), epochs=1, steps_per_epoch=1)
    assert tiny.schedule_params["milestones"] == [1] and tiny.warmup == 0 and tiny.warmup_lr is None


# -------------------------------------------------------------------------------------- analytic claims


def rows_of(cid: str) -> dict:
    r = get_claim(cid).compute()  # type: ignore[misc]
    return r


def test_stacked_3x3_is_27_vs_49_c2() -> None:
    r = rows_of("stacked_3x3")
    assert r["verdict"] == HOLDS and [x["computed"] for x in r["rows"]][0] == 7
    assert "110,592 = 27 C²" in r["rows"][1]["computed"] and "200,704 = 49 C²" in r["rows"][2]["computed"]


@pytest.mark.parametrize(
    "cid, expected",
    [
        ("inception_reduction", ["854 M", "271 M"]),
        ("factorize_5x5", ["28%"]),
        ("factorize_asymmetric", ["33%", "71%"]),
        ("bottleneck_cost", ["73,728", "69,632", "3.66 vs 3.86 G"]),
        ("resnext_block", ["69,632", "70,144", "4.09 vs 4.23 G"]),
        ("densenet_connections", [78, 136]),
        ("stochastic_depth_depth", [54, "40.25"]),
    ],
)
def test_analytic_figures_are_exact(cid: str, expected: list) -> None:
    r = rows_of(cid)
    assert [x["computed"] for x in r["rows"]] == expected
    assert r["verdict"] == HOLDS


def test_googlenet_12x_does_not_hold_as_stated_and_says_why() -> None:
    r = rows_of("googlenet_params")
    assert r["verdict"] == "does not hold"  # an exact count: there is no noise to be undecided about
    assert r["rows"][2]["computed"] == "8.9×" and "7.00 M" in r["explanation"]


def test_se_overhead() -> None:
    r = rows_of("se_overhead")
    assert r["verdict"] == HOLDS and "(+9.9%)" in r["rows"][0]["computed"]


def test_analytic_run_writes_a_report(tmp_path) -> None:  # type: ignore[no-untyped-def]
    folder = run_claim("factorize_5x5", out=tmp_path, log=lambda s: None)
    assert folder == tmp_path / "factorize_5x5" / "exact"
    res = json.loads((folder / "results.json").read_text())
    assert res["verdict"] == HOLDS and "28%" in (folder / "report.md").read_text()


# ---------------------------------------------------------------------------------- smoke runs


@pytest.mark.parametrize(
    "cid", [pytest.param(c, marks=pytest.mark.slow) if c in HEAVY_SMOKE else c for c in TRAINED]
)
def test_every_trained_claim_runs_at_the_smoke_budget(cid: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    lines: list[str] = []
    folder = run_claim(cid, "smoke", out=tmp_path, log=lines.append)
    res = json.loads((folder / "results.json").read_text())
    assert res["verdict"] == NOT_EVALUATED and res["budget"] == "smoke" and res["complete"]
    # an arm whose loss became non-finite is a result too (the paper's "fail"), with no curve
    assert len(res["arms"]) == 2
    assert all(a["runs"] and (a["runs"][0]["curve"] or a["runs"][0]["diverged"]) for a in res["arms"])
    assert res["machine"]["cpu"] and res["command"].startswith(f"convzoo repro run {cid} --budget smoke")
    assert (folder / "report.md").is_file() and (folder / "curves.png").is_file()
    assert any("ETA" in s and "claim ETA" in s for s in lines)


def test_report_names_threads_and_precision_and_leaves_out_what_an_old_run_lacks() -> None:
    from convzoo.repro.report import _machine_line, machine

    m = machine()
    assert m["threads"] == str(torch.get_num_threads()) and m["autocast"] in {"bfloat16", "float16", "none"}
    new = {"cpu": "AMD EPYC", "cores": "2", "threads": "1", "autocast": "bfloat16", "torch": "2.14"}
    assert _machine_line(new, True) == "AMD EPYC (2 cores, 1 training thread; bfloat16 autocast)"
    assert _machine_line({**new, "threads": "2"}, False) == "AMD EPYC (2 cores, 2 training threads; fp32)"
    assert _machine_line({**new, "autocast": "none"}, True).endswith("; fp32)")  # amp asked, none native
    assert _machine_line(new, None) == "AMD EPYC (2 cores, 1 training thread)"  # the recipe chose
    assert _machine_line({"cpu": "AMD EPYC", "cores": "2", "torch": "2.14"}, True) == "AMD EPYC (2 cores)"


def test_an_arm_that_barely_left_chance_is_marked() -> None:
    from convzoo.repro.report import at_chance

    def arm(*ends: float, classes: int = 10) -> dict:
        return {
            "runs": [{"curve": [{"train_err": 95.0}, {"train_err": e}], "classes": classes} for e in ends]
        }

    assert at_chance(arm(89.98)) and at_chance(arm(83.0, 90.1))  # within 10 points of chance
    assert not at_chance(arm(79.5)) and not at_chance(arm(89.9, 60.0))  # one seed learned
    assert not at_chance(arm(88.0, classes=100))  # chance is 99% for 100 classes
    assert not at_chance({"runs": []}) and not at_chance({"runs": [{"curve": []}]})
    assert not at_chance(arm(89.9) | {"runs": [{"curve": [{"train_err": "90"}]}]})  # not a number: no claim


def test_a_check_with_an_arm_at_chance_is_not_reached_whatever_its_gap() -> None:
    dead = [run_result([{"epoch": float(e), "train_err": 89.0} for e in range(1, 11)], arm="b")]
    dead[0].rows[-1]["test_err"] = 89.0
    c = toy()
    o = judge_check(c, CHECK, c.budgets["cpu"], {"a": runs("a", 60.0), "b": dead})
    assert o is not None and o.outcome == NOT_REACHED and o.at_chance == ("b",)
    assert o.gap_alone == "in the paper's direction beyond the noise"


def test_the_table_shows_the_paper_figures_of_the_arms_that_ran() -> None:
    from convzoo.repro.docs import paper_cell

    c = get_claim("wide_vs_deep")
    assert paper_cell(c) == "test_err wrn16_8 4.81 vs preact164 5.46 (Table 4)"
    assert (
        paper_cell(c, frozenset({"wrn16_8", "wrn40_4"})) == "test_err wrn16_8 4.81 vs wrn40_4 4.97 (Table 4)"
    )
    assert "ResNet-110" in paper_cell(
        get_claim("unit_placement"), frozenset({"r20_original", "r20_full_preact"})
    )


def tiny_claim(epochs: int = 2) -> Claim:
    c = get_claim("degradation")
    b = dataclasses.replace(smoke(), epochs=epochs, per_class=3, arms=("resnet20",))
    return dataclasses.replace(c, id="tiny", budgets={"smoke": b}, checks=())


def test_finished_arm_is_skipped_and_interrupted_arm_resumes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from convzoo.repro.runner import arm_config, budget_data
    from convzoo.train.trainer import train

    claim = tiny_claim()
    b = claim.budget("smoke")
    folder = tmp_path / "tiny" / "smoke"
    data = budget_data(b, "digits", 0, 0)
    cfg = arm_config(claim.arm("resnet20"), b, 0, "digits", len(data.train), folder)
    first = train(
        dataclasses.replace(cfg, max_epochs=1), data=data, log=lambda s: None
    )  # interrupted after 1
    assert len(first.metrics) == 1 and not (folder / "resnet20-s0.json").exists()

    lines: list[str] = []
    run_claim(claim, "smoke", out=tmp_path, log=lines.append)
    assert any("resumed" in s for s in lines), lines
    done = read_arm_result(folder / "resnet20-s0.json", claim)
    assert done is not None and done.resumed and [r["epoch"] for r in done.rows] == [1, 2]
    assert done.rows[0] == pytest.approx({k: v for k, v in first.metrics[0].items() if k in done.rows[0]})

    stamp = (folder / "resnet20-s0.json").stat().st_mtime_ns
    lines.clear()
    run_claim(claim, "smoke", out=tmp_path, log=lines.append)
    assert any("finished earlier" in s and "skipped" in s for s in lines)
    assert (folder / "resnet20-s0.json").stat().st_mtime_ns == stamp


def test_damaged_result_file_is_refused_with_its_name(tmp_path) -> None:  # type: ignore[no-untyped-def]
    claim = tiny_claim()
    bad = tmp_path / "resnet20-s0.json"
    for text, match in [
        ("{not json", "not valid JSON"),
        (json.dumps({"arm": "os.system", "rows": []}), "not an arm of claim"),
        (json.dumps({"arm": "resnet20", "rows": [{"test_err": "nan"}]}), "finite number"),
        (json.dumps([1, 2]), "expected a JSON object"),
    ]:
        bad.write_text(text)
        with pytest.raises(ResultFileError, match=match) as e:
            read_arm_result(bad, claim)
        assert str(bad) in str(e.value)


# -------------------------------------------------------------------------------------------- docs


def test_docs_render_from_results_and_say_not_run_yet(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from convzoo.repro.docs import write_docs

    folder = run_claim("degradation", "smoke", out=tmp_path / "runs", log=lambda s: None)
    (tmp_path / "docs" / "degradation" / "smoke").mkdir(parents=True)
    (tmp_path / "docs" / "degradation" / "smoke" / "results.json").write_bytes((folder / "results.json").read_bytes())
    readme = write_docs(tmp_path / "docs").read_text()
    assert "[degradation](degradation/report.md)" in readme and "[smoke](degradation/smoke/report.md)" in readme
    assert "| [unit_placement](unit_placement/report.md) |" in readme and "not run yet" in readme
    assert "| [googlenet_params](googlenet_params/report.md)" in readme and "does not hold" in readme
    assert (tmp_path / "docs" / "degradation" / "smoke" / "curves.png").is_file()
    page = (tmp_path / "docs" / "degradation" / "report.md").read_text()
    assert "[**smoke**](smoke/report.md)" in page and "**cpu**: not run yet" in page
    assert "Claim: not evaluated" in (tmp_path / "docs" / "degradation" / "smoke" / "report.md").read_text()
    assert "older spec" not in readme


def test_index_lines_flag_pages_of_an_older_spec(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A page whose runs were trained under another arm spec says so on every index line that shows its
    outcome, not only on its own page (the index is what a newcomer reads)."""
    from convzoo.repro.docs import write_docs

    folder = run_claim("degradation", "smoke", out=tmp_path / "runs", log=lambda s: None)
    r = json.loads((folder / "results.json").read_text())
    for arm in r["arms"]:
        for run in arm["runs"]:
            run["arm_hash"] = "0123456789abcdef"
    (tmp_path / "docs" / "degradation" / "smoke").mkdir(parents=True)
    (tmp_path / "docs" / "degradation" / "smoke" / "results.json").write_text(json.dumps(r))
    readme = write_docs(tmp_path / "docs").read_text()
    row = next(line for line in readme.splitlines() if "[smoke](degradation/smoke/report.md)" in line)
    assert "2 run(s) of an older spec: to re-run" in row
    checks = [line for line in readme.splitlines() if line.startswith("| [degradation](degradation/smoke")]
    assert checks and all("(older spec)" in line for line in checks)
    assert "older spec: to re-run" in (tmp_path / "docs" / "degradation" / "report.md").read_text()


# -------------------------------------------------------------------------------------------- demo


def test_demo_budget_is_a_short_tour() -> None:
    from convzoo.repro.demo import DEMO_BUDGET, demo_claim
    from convzoo.repro.estimate import plan

    claim = demo_claim()
    assert claim.budget("demo") is DEMO_BUDGET and claim.checks_at(DEMO_BUDGET)
    assert sum(p.seconds for p in plan(claim, DEMO_BUDGET)) < 120


@pytest.mark.slow
def test_demo_tour_runs_and_ends_with_the_report(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import convzoo.repro.demo as d

    monkeypatch.setattr(d, "DEMO_BUDGET", dataclasses.replace(d.DEMO_BUDGET, epochs=1))
    lines: list[str] = []
    assert d.demo(out=tmp_path, say=lines.append) == 0
    text = "\n".join(lines)
    assert "Total MACs" in text and "854 M (paper: 854 M)" in text and "at the demo budget; claim" in text
    assert str(tmp_path / "degradation" / "demo" / "report.md") in lines[-1]
    assert "--budget long" in lines[-1] and "needs trained nets" in lines[-1]


def test_an_interrupted_arm_says_how_to_go_on_in_repro_terms(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C inside an arm: the trainer's advice (`--resume`) is replaced by the repro command to re-run."""
    from convzoo.repro import runner
    from convzoo.train.trainer import TrainingInterrupted

    def interrupted(*args: object, **kwargs: object) -> None:
        raise TrainingInterrupted(
            "SIGINT: stopped at step 4 of 10; saved x/ckpt_000001. To continue, run the same command with --resume"
        )

    monkeypatch.setattr(runner, "_run_arm", interrupted)
    with pytest.raises(TrainingInterrupted) as info:
        run_claim("degradation", "smoke", out=tmp_path, log=lambda s: None)
    message = str(info.value)
    assert "saved x/ckpt_000001" in message and "--resume" not in message
    assert f"convzoo repro run degradation --budget smoke --out {tmp_path}" in message
