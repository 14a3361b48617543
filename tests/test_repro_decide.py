"""Reproductions that decide: paired statistics, the five outcomes, pre-registration (spec hashes, the publish
refusal), equal treatment, grid selections, and committed arms reused across sessions."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest

from convzoo.repro import prereg, stats, verdict
from convzoo.repro.budgets import long
from convzoo.repro.prereg import committed_runs
from convzoo.repro.registry import claims, get_claim
from convzoo.repro.report import judge
from convzoo.repro.results import ArmResult, measure
from convzoo.repro.spec import Arm, Budget, Check, Claim, PaperFigure

# ------------------------------------------------------------------------------------------------ statistics


def test_mcnemar_matches_a_hand_computed_example() -> None:
    # 3 images only the first arm got right, 12 only the second: p = 2 · Σ_{i≤3} C(15, i) / 2^15
    assert stats.mcnemar(3, 12) == pytest.approx(2 * (1 + 15 + 105 + 455) / 2**15)
    assert stats.mcnemar(12, 3) == stats.mcnemar(3, 12)
    assert stats.mcnemar(0, 0) == 1.0
    assert stats.mcnemar(10, 10) == 1.0


def test_mcnemar_with_thousands_of_discordant_images() -> None:
    """A cpu-budget pair differs on ~3,000 of 10,000 test images: 2.0**n overflowed past n = 1,023."""
    exact = 2 * sum(math.comb(3000, i) for i in range(1400 + 1)) / 2**3000  # integers: exact, no overflow
    assert stats.mcnemar(1400, 1600) == pytest.approx(exact, rel=1e-9) and 1e-5 < exact < 1e-2
    assert stats.mcnemar(5000, 5000) == 1.0 and stats.mcnemar(0, 10_000) == 0.0


def test_paired_gap_by_hand() -> None:
    # 100 images: both right on 80, only the better right on 12, only the worse right on 3, both wrong on 5
    better = [True] * 80 + [True] * 12 + [False] * 3 + [False] * 5
    worse = [True] * 80 + [False] * 12 + [True] * 3 + [False] * 5
    g = stats.paired_gap([better], [worse])
    assert g.gap == pytest.approx(9.0)  # errors 8% vs 17%
    # per-image differences: +1 on 12, −1 on 3, 0 on 85 → mean 0.09, sample variance (Σd² − n·mean²)/(n − 1)
    var = (15 - 100 * 0.09**2) / 99
    assert g.se_test == pytest.approx(100 * math.sqrt(var / 100))
    assert g.se_seed == 0 and math.isinf(g.df)
    assert g.threshold == pytest.approx(stats.critical(math.inf) * g.se_test)
    assert (g.only_better, g.only_worse) == (12, 3)
    assert g.p_mcnemar == pytest.approx(stats.mcnemar(12, 3))


def test_seeds_add_their_spread_and_never_shrink_the_test_noise() -> None:
    rng = __import__("random").Random(0)
    base = [rng.random() < 0.9 for _ in range(2000)]
    better = [base, base]
    worse_same = [[b and rng.random() < keep for b in base] for keep in (0.97, 0.94)]
    one = stats.paired_gap(better[:1], worse_same[:1])
    two = stats.paired_gap(better, worse_same)
    assert two.se_seed > 0 and two.df < math.inf
    # the test set's noise of a mean over seeds scored on the same images is not divided by √seeds
    assert two.se_test > one.se_test / math.sqrt(2) * 1.05
    assert two.threshold > stats.critical(math.inf) * two.se_test  # t with few degrees of freedom is wider


def test_paired_gap_refuses_unpaired_inputs() -> None:
    with pytest.raises(ValueError, match="same number of seeds"):
        stats.paired_gap([[True]], [[True], [False]])
    with pytest.raises(ValueError, match="same test images"):
        stats.paired_gap([[True, False]], [[True]])


def test_bits_round_trip_and_refuse_the_wrong_length() -> None:
    bits = [i % 3 == 0 for i in range(10_000)]
    text = stats.pack_bits(bits)
    assert len(text) < 1700 and stats.unpack_bits(text, 10_000) == bits
    with pytest.raises(ValueError, match="expected 9000"):
        stats.unpack_bits(text, 9_000)
    with pytest.raises(ValueError, match="base64"):
        stats.unpack_bits("not base64 !", 8)


def test_t_quantiles_and_power() -> None:
    assert stats.critical(1) == pytest.approx(12.706, abs=1e-3)
    assert stats.critical(math.inf) == pytest.approx(1.960, abs=1e-3)
    a = stats.min_detectable_gap(10_000, 8.0, 1, 0.2)
    assert stats.min_detectable_gap(2_000, 8.0, 1, 0.2) > a  # fewer images resolve less
    assert stats.min_detectable_gap(10_000, 8.0, 5, 0.2) < a  # more seeds resolve more
    assert stats.min_detectable_gap(10_000, 30.0, 1, 0.2) > a  # noisier arms resolve less


# ------------------------------------------------------------------------------------------------ outcomes


def _arm(name: str, paper: float | None = None) -> Arm:
    figs = (PaperFigure("test_err", paper, "Table 1"),) if paper is not None else ()
    return Arm(name, "lenet5", "resnet_cifar", paper=figs)


def _claim(b_paper: float | None = 5.0, w_paper: float | None = 8.0, early: bool = False) -> Claim:
    budget = Budget("cpu", "digits", epochs=10)
    return Claim(
        id="toy",
        paper="A (2020)",
        where="Table 1",
        says="b beats w",
        kind="trained",
        arms=(_arm("b", b_paper), _arm("w", w_paper)),
        checks=(Check("test_err", "b", "w", "b beats w", early=early),),
        budgets={"cpu": budget},
    )


def _run(
    arm: str, wrong: int, curve: list[float], n: int = 10_000, seed: int = 0, lrs: list[float] | None = None
) -> ArmResult:
    bits = [i >= wrong for i in range(n)]
    rows: list[dict[str, float]] = [{"epoch": float(e + 1), "train_err": v} for e, v in enumerate(curve)]
    for row, lr in zip(rows, lrs or [], strict=False):
        row["lr"] = lr
    rows[-1]["test_err"] = 100 * wrong / n
    return ArmResult(
        arm=arm, seed=seed, rows=rows, wall_s=1.0, images_per_s=1.0, train_images=50_000, test_images=n,
        val_images=0, estimated_s=1.0, correct=stats.pack_bits(bits), epochs=len(curve),
    )  # fmt: skip


FLAT = [60, 40, 30, 25, 22, 21, 20.5, 20.3, 20.2, 20.2]
FALLING = [80, 75, 70, 65, 60, 55, 50, 45, 40, 35]
DEAD = [90.0] * 10


def _outcome(claim: Claim, b: ArmResult, w: ArmResult) -> str:
    return judge(claim, claim.budgets["cpu"], {"b": [b], "w": [w]})[0]["outcome"]


@pytest.mark.parametrize(
    ("b", "w", "kw", "outcome"),
    [
        (_run("b", 500, FLAT), _run("w", 900, FLAT), {}, verdict.HOLDS),
        (_run("b", 900, FLAT), _run("w", 500, FLAT), {}, verdict.CONTRADICTED),
        (_run("b", 500, FALLING), _run("w", 900, FLAT), {}, verdict.NOT_REACHED),
        (_run("b", 500, FALLING), _run("w", 900, FALLING), {"early": True}, verdict.HOLDS),
        (_run("b", 500, DEAD), _run("w", 900, FLAT), {"early": True}, verdict.NOT_REACHED),
        (_run("b", 500, FLAT), _run("w", 900, DEAD), {"early": True}, verdict.HOLDS),
        (_run("b", 500, FLAT), _run("w", 900, DEAD), {}, verdict.NOT_REACHED),
        (_run("b", 500, FLAT), _run("w", 900, FLAT), {"b_paper": 5.0, "w_paper": 5.1}, verdict.BELOW_RESOLUTION),
        (_run("b", 700, FLAT), _run("w", 702, FLAT), {}, verdict.INCONCLUSIVE),
    ],
    ids=["holds", "contradicted", "not-reached", "early-holds", "better-at-chance", "early-worse-stuck",
         "trained-worse-stuck", "below-resolution", "inconclusive"],
)
def test_each_outcome(b: ArmResult, w: ArmResult, kw: dict, outcome: str) -> None:
    assert _outcome(_claim(**kw), b, w) == outcome


def test_a_reversed_gap_with_an_unconverged_arm_is_not_a_contradiction() -> None:
    o = judge(_claim(), _claim().budgets["cpu"], {"b": [_run("b", 900, FALLING)], "w": [_run("w", 500, FLAT)]})[0]
    assert o["outcome"] == verdict.NOT_REACHED and o["gap_alone"] == "reversed beyond the noise"


def test_below_resolution_with_arms_still_learning_says_both_and_never_contradicted() -> None:
    """gap_vs_fc's first cpu re-run: GAP 3.6 points worse (McNemar p 8e-6) with both heads still learning."""
    runs = {"b": [_run("b", 900, FALLING)], "w": [_run("w", 500, FALLING)]}
    c = _claim(b_paper=5.0, w_paper=5.1)
    o = judge(c, c.budgets["cpu"], runs)[0]
    assert o["outcome"] == verdict.BELOW_RESOLUTION and "b and w still learning" in o["why"]
    assert o["gap_alone"] == "reversed beyond the noise" and "contradicted" not in o["gap_alone"]


def test_headline_counts_every_outcome() -> None:
    rows = [{"outcome": o} for o in (verdict.HOLDS, verdict.HOLDS, verdict.NOT_REACHED)]
    assert verdict.headline(rows, "cpu") == "2 of 3 checks hold; 1 not reached at the cpu budget"


def test_a_diverged_run_never_reaches_25_percent() -> None:
    r = replace(_run("b", 0, [50.0]), diverged="loss is nan", rows=[], epochs=20.0)
    assert measure(r, "epochs_to_25").value == 21.0


def test_a_selection_stands_for_its_fastest_candidate() -> None:
    c = get_claim("relu_vs_tanh")
    b = c.budgets["long"]
    runs = {
        name: [replace(_run(name, 0, curve), correct="")]
        for name, curve in {
            "relu_lr0.01": [50, 30, 24, 20, 18],
            "relu_lr0.03": [40, 24, 20, 18, 17],
            "relu_lr0.1": [60, 50, 40, 35, 30],
            "tanh_lr0.01": [60, 50, 40, 30, 24],
            "tanh_lr0.03": [55, 45, 35, 26, 24],
            "tanh_lr0.1": [90, 90, 90, 90, 90],
        }.items()
    }
    checks = {c_["check"]["says"]: c_ for c_ in judge(c, b, runs)}
    fastest = checks["ReLU at its fastest rate reaches 25% in fewer epochs than tanh at its"]
    assert fastest["selected"] == {"relu_best": "relu_lr0.03", "tanh_best": "tanh_lr0.03"}


# ------------------------------------------------------------------------------------------------ pre-registration


def test_every_registered_claim_treats_its_arms_alike() -> None:
    for c in claims():
        prereg.check_equal_treatment(c)


def test_an_undeclared_difference_is_refused_and_a_declared_one_is_not() -> None:
    arms = (Arm("a", "lenet5", "resnet_cifar"), Arm("b", "lenet5", "resnet_cifar", recipe_changes={"lr": 0.5}))
    claim = Claim("toy", "A (2020)", "T1", "a beats b", "trained", arms=arms, checks=(Check("test_err", "a", "b", "x"),),
                  budgets={"cpu": Budget("cpu", "digits", epochs=1)})  # fmt: skip
    with pytest.raises(prereg.UnequalArms, match="differ in lr"):
        prereg.check_equal_treatment(claim)
    ok = replace(claim, checks=(Check("test_err", "a", "b", "x", differs={"lr": "the claim is about the rate"}),))
    prereg.check_equal_treatment(ok)


def test_the_densenet_arms_share_one_recipe() -> None:
    c = get_claim("densenet_efficiency")
    for b in c.budgets.values():
        for check in c.checks_at(b):
            assert not check.differs and not prereg.undeclared(check, c, b)


def test_the_spec_hash_follows_what_is_trained_not_the_wording() -> None:
    c = get_claim("squeeze_excitation")
    b = c.budgets["long"]
    h = prereg.spec_hash(c, b)
    assert prereg.spec_hash(replace(c, says="reworded"), replace(b, note="reworded")) == h
    assert prereg.spec_hash(c, replace(b, epochs=31)) != h
    assert prereg.spec_hash(c, replace(b, seeds=4)) != h
    a = c.arm("r20")
    assert prereg.arm_hash(a, b) != prereg.arm_hash(replace(a, recipe_changes={"lr": 0.2}), b)


def test_publish_is_refused_for_runs_of_another_spec() -> None:
    c = get_claim("squeeze_excitation")
    b = c.budgets["long"]
    good = {a.name: prereg.arm_hash(a, b) for a in c.arms_at(b)}
    results = {"arms": [{"name": n, "runs": [{"seed": 0, "arm_hash": h}]} for n, h in good.items()]}
    assert prereg.unpublishable(c, b, results) == []
    results["arms"][0]["runs"][0]["arm_hash"] = "0" * 16
    assert "trained under spec 0000000000000000" in prereg.unpublishable(c, b, results)[0]
    results["arms"][1]["runs"] = []
    assert any("no finished run" in p for p in prereg.unpublishable(c, b, results))


def test_long_budgets_use_the_whole_training_set_and_one_recipe() -> None:
    for cid in ("degradation", "squeeze_excitation", "shortcuts", "relu_vs_tanh", "gap_vs_fc"):
        c = get_claim(cid)
        b = c.budgets["long"]
        assert b.name == "long" and b.data == "cifar10-jpg"
        if cid != "gap_vs_fc":  # the small-data overfitting test
            assert b.per_class is None
        for check in c.checks_at(b):
            assert not prereg.undeclared(check, c, b)
    assert long(10).eval_every == 5


# ------------------------------------------------------------------------------------------------ committed arms


def _toy_trained(lr: float = 0.05) -> Claim:
    budget = Budget("cpu", "digits", epochs=1, per_class=3, test_per_class=2, image_size=32,
                    recipe_changes={"batch_size": 10, "val_size": 0}, amp=False, channels_last=False)  # fmt: skip
    arms = tuple(Arm(n, "lenet5", "resnet_cifar", recipe_changes={"lr": lr}) for n in ("a", "b"))
    return Claim("toy_trained", "A (2020)", "T1", "a beats b", "trained", arms=arms,
                 checks=(Check("test_err", "a", "b", "a beats b"),), budgets={"cpu": budget})  # fmt: skip


@pytest.mark.slow
def test_committed_arms_are_reused_on_a_fresh_clone_and_rerun_when_the_spec_changes(tmp_path: Path) -> None:
    from convzoo.repro.runner import run_claim

    committed = tmp_path / "docs"
    log1: list[str] = []
    run_claim(_toy_trained(), "cpu", out=tmp_path / "a", committed=committed, log=log1.append, progress=False)
    files = sorted((committed / "toy_trained" / "cpu" / "arms").glob("*.json"))
    assert [f.name for f in files] == ["a-s0.json", "b-s0.json"]
    toy = _toy_trained()
    assert committed_runs(toy, toy.budgets["cpu"], committed) == (["a-s0", "b-s0"], [])
    changed = _toy_trained(0.01)  # what `repro list` says before a run: both are of an older spec now
    assert committed_runs(changed, changed.budgets["cpu"], committed) == ([], ["a-s0", "b-s0"])
    kept = files[1].read_bytes()
    files[1].write_text("{damaged")  # a file that does not read is still to train
    assert committed_runs(toy, toy.budgets["cpu"], committed) == (["a-s0"], ["b-s0"])
    files[1].write_bytes(kept)
    saved = json.loads(files[0].read_text())
    assert saved["arm_hash"] and saved["spec_hash"] and saved["machine"]["cpu"] and len(saved["correct"]) > 0
    err = 100 - 100 * sum(stats.unpack_bits(saved["correct"], saved["test_images"])) / saved["test_images"]
    assert err == pytest.approx(saved["rows"][-1]["test_err"], abs=1e-6)

    log2: list[str] = []  # a fresh clone: a new --out, the same committed folder
    run_claim(_toy_trained(), "cpu", out=tmp_path / "b", committed=committed, log=log2.append, progress=False)
    assert sum(line.endswith("; reused") for line in log2) == 2, log2
    assert not (tmp_path / "b" / "toy_trained" / "cpu" / "a-s0").exists()  # nothing trained

    log3: list[str] = []  # a changed recipe: the committed results are of an older spec
    run_claim(_toy_trained(0.01), "cpu", out=tmp_path / "c", committed=committed, log=log3.append, progress=False)
    assert sum("older spec" in line for line in log3) == 2
    assert (tmp_path / "c" / "toy_trained" / "cpu" / "a-s0").is_dir()


# ------------------------------------------------------------------------------------------------ timing


def test_interleaved_saving_by_hand() -> None:
    from convzoo.repro.timing import interleaved_saving

    s = interleaved_saving([0.7, 0.8, 0.75], [1.0, 1.0, 1.0])  # savings 30, 20, 25 %
    assert s["saving"] == pytest.approx(25.0)
    assert s["se"] == pytest.approx(5.0 / math.sqrt(3))
    assert s["critical"] == pytest.approx(stats.critical(2))
    with pytest.raises(ValueError, match="same number of rounds"):
        interleaved_saving([1.0], [1.0])


def test_arms_are_timed_in_alternating_rounds() -> None:
    from convzoo.repro.timing import time_arms

    b = Budget("smoke", "digits", epochs=1, image_size=32, amp=False, channels_last=False)
    arms = [Arm("a", "lenet5", "resnet_cifar"), Arm("b", "lenet5", "resnet_cifar")]
    t = time_arms(arms, b, batch=4, rounds=3)
    assert set(t) == {"a", "b"} and all(len(v) == 3 and min(v) > 0 for v in t.values())


def test_a_time_check_is_judged_on_the_interleaved_saving() -> None:
    c = get_claim("stochastic_depth")
    b = c.budgets["cpu"]
    runs = {n: [replace(_run(n, 500, FLAT), correct="")] for n in ("stochastic", "constant")}
    fast = {"stochastic|constant": {"better": [0.70, 0.72, 0.71, 0.69], "worse": [1.0, 1.01, 0.99, 1.0]}}
    out = {o["check"]["metric"]: o for o in judge(c, b, runs, fast)}
    assert out["train_s"]["outcome"] == verdict.HOLDS and out["train_s"]["interleaved"]
    assert out["train_s"]["gap"] == pytest.approx(29.5, abs=0.5)
    same = {"stochastic|constant": {"better": [1.0, 0.9, 1.1, 1.0], "worse": [1.0, 1.0, 1.0, 1.0]}}
    assert {o["check"]["metric"]: o for o in judge(c, b, runs, same)}["train_s"]["outcome"] == verdict.INCONCLUSIVE


def test_measured_model_rates_reach_the_estimates() -> None:
    """Each network's rate per MAC is the one measured in its precision (WRN 2× ResNet-20's in fp32, DenseNet 0.5
    in fp32 but 0.37 in bf16); others train at the base rate. The fp32 claims whose arms ran with nothing else on
    the AVX-512 Xeon took (sum of arm wall times): all_conv 27 min, densenet_efficiency 29, gap_vs_fc 16,
    stochastic_depth 31 (estimated at the old one-rate-for-all 55, 54, 23 and 56)."""
    from convzoo.repro.estimate import model_rate, plan
    from convzoo.repro.spec import TRAIN_RATE_MACS_AVX512

    assert model_rate("wrn16_8_cifar") == 2.0 and model_rate("densenet_bc100_k12_cifar") == 0.5
    assert model_rate("densenet_bc100_k12_cifar", "bf16") == 0.37 and model_rate("wrn16_8_cifar", "bf16") == 1.0
    assert model_rate("resnet20_cifar") == 1.0 and model_rate("cnn4_cifar") == 1.0
    assert model_rate("allcnn_c") == model_rate("base_cnn_c") == 1.5 and model_rate("nin_cifar10") == 1.3
    measured_min = {"all_conv": 27, "densenet_efficiency": 29, "gap_vs_fc": 16, "stochastic_depth": 31}
    for claim, minutes in measured_min.items():
        c = get_claim(claim)
        b = c.budget("cpu")
        estimate = b.seeds * sum(p.seconds for p in plan(c, b, rate=TRAIN_RATE_MACS_AVX512))
        assert 0.7 < minutes * 60 / estimate < 1.3, (claim, estimate / 60)


def test_the_elapsed_estimate_schedules_arms_as_the_runner_does() -> None:
    """`--jobs 2` halves the claim's time only as far as its arms allow: each arm-run goes, in the runner's order,
    to the first process to be free (degradation's long budget: plain-20 | plain-56, then ResNet-20 on the first
    free, then ResNet-56)."""
    from convzoo.repro.estimate import claim_elapsed, claim_seconds, plan

    c = get_claim("degradation")
    t = {p.arm.name: p.seconds for p in plan(c, c.budget("long"))}
    assert list(t) == ["plain20", "plain56", "resnet20", "resnet56"]
    a, b = t["plain20"], t["plain56"]  # the two processes' first arms
    a, b = (a + t["resnet20"], b) if a <= b else (a, b + t["resnet20"])
    a, b = (a + t["resnet56"], b) if a <= b else (a, b + t["resnet56"])
    assert claim_elapsed(c, "long", 2) == pytest.approx(max(a, b))
    assert claim_elapsed(c, "long", 1) == pytest.approx(claim_seconds(c, "long"))
    assert claim_seconds(c, "long") / 2 <= claim_elapsed(c, "long", 2) < claim_seconds(c, "long")


def test_the_last_process_to_finish_writes_the_report(tmp_path: Path) -> None:
    """`repro run --jobs 2`: the process that finds an arm busy and then outlives it writes the report (the
    cpu re-runs of degradation and relu_vs_tanh ended with "the report waits" and no report at all)."""
    from convzoo.repro.runner import run_claim
    from convzoo.train.runfolder import RunFolder

    folder = run_claim("degradation", "smoke", out=tmp_path, log=lambda s: None, progress=False)
    saved = (folder / "plain56-s0.json").read_bytes()
    for run in range(2):
        (folder / "plain56-s0.json").unlink()
        (folder / "report.md").unlink()
        lines: list[str] = []

        def log(line: str, finish: bool = run == 0, lines: list[str] = lines) -> None:
            lines.append(line)
            if finish and "left to that process" in line:  # the other process finishes its arm meanwhile
                (folder / "plain56-s0.json").write_bytes(saved)

        with RunFolder.open(folder / "plain56-s0", say=lambda s: None):
            run_claim("degradation", "smoke", out=tmp_path, log=log, progress=False)
        waits = any("the report waits" in line for line in lines)
        assert (folder / "report.md").exists() is (run == 0) and waits is (run == 1), lines
        (folder / "plain56-s0.json").write_bytes(saved)
        (folder / "report.md").write_text("")


def test_an_arm_at_chance_is_not_called_still_learning() -> None:
    """all_conv's cpu re-run: Model C ended at chance; the page said it was "still learning"."""
    c = _claim(b_paper=5.0, w_paper=5.1)
    runs = {"b": [_run("b", 3000, FALLING)], "w": [_run("w", 9000, [90.0] * 10)]}
    o = judge(c, c.budgets["cpu"], runs)[0]
    assert o["outcome"] == verdict.BELOW_RESOLUTION
    assert o["why"].endswith("and b still learning and w near chance at the end of the budget"), o["why"]


# ------------------------------------------------------------------------------------------------ convergence

# 20 epochs of a step schedule as the papers': the rate ÷10 at 50% and at 75%. Still falling: 2 points an epoch
# at the peak rate, 1.5 after the first cut, flat at the last rate. After a plateau: flat before each cut.
CUT = [1.0] * 10 + [0.1] * 5 + [0.01] * 5
CUT_STILL_FALLING = [80 - 2 * e for e in range(10)] + [58 - 1.5 * e for e in range(5)] + [51.9, 51.85] + [51.8] * 3
CUT_AFTER_PLATEAU = [80, 60, 50, 45, 42, 41, 40.6, 40.4, 40.3, 40.3] + [38, 37.8, 37.7, 37.7, 37.7] + [37.6] * 5


def test_a_plateau_at_a_decayed_rate_is_no_plateau() -> None:
    """gap_vs_fc's long page: flat over its last tenth (the rate at 1/100 of its peak) while still falling 1.5
    points an epoch before that cut: not converged, and the fall before the cut is the one reported."""
    r = _run("b", 500, CUT_STILL_FALLING, lrs=CUT)
    ok, fall = verdict.converged(r)
    assert not ok and fall == pytest.approx(2 * 1.5)  # 1.5 points an epoch over a tenth of the run (2 epochs)
    assert verdict.converged(_run("b", 500, CUT_STILL_FALLING))[0]  # without the rates: the old rule's answer


def test_a_plateau_reached_before_the_rate_was_cut_counts() -> None:
    ok, fall = verdict.converged(_run("b", 500, CUT_AFTER_PLATEAU, lrs=CUT))
    assert ok and fall is not None and fall <= verdict.PLATEAU


@pytest.mark.parametrize(
    ("lrs", "curve", "ok"),
    [
        ([0.1] * 10, FLAT, True),  # a constant rate: the end is the only window
        ([0.1] * 10, FALLING, False),
        ([0.1 * (10 - e) / 10 for e in range(10)], FLAT, True),  # linear decay: the rate falls under 0.1 × only at the end
        ([0.1 * (10 - e) / 10 for e in range(10)], FALLING, False),
        ([0.1] * 9 + [0.0], FLAT, True),
    ],
    ids=["constant-flat", "constant-falling", "linear-flat", "linear-falling", "last-epoch-at-zero"],
)
def test_the_rate_window_never_turns_a_falling_end_into_a_plateau(lrs: list[float], curve: list[float], ok: bool) -> None:
    """The window before the rate decayed is judged *beside* the end, never instead of it: the rule only ever
    adds reasons for *not reached*."""
    assert verdict.converged(_run("b", 500, curve, lrs=lrs))[0] is ok


def test_a_reversed_gap_after_the_rate_froze_a_still_learning_arm_is_not_a_contradiction() -> None:
    runs = {"b": [_run("b", 900, CUT_STILL_FALLING, lrs=CUT)], "w": [_run("w", 500, CUT_AFTER_PLATEAU, lrs=CUT)]}
    o = judge(_claim(), _claim().budgets["cpu"], runs)[0]
    assert o["outcome"] == verdict.NOT_REACHED and o["gap_alone"] == "reversed beyond the noise"
    assert o["why"] == "b still learning at the end of the budget"


def test_results_json_keeps_the_rate_and_its_rejudged_page_applies_the_rule(tmp_path: Path) -> None:
    """The curve a results.json keeps holds each epoch's rate, so a page re-judged from it (a fresh clone's
    `repro docs`) applies the rate window; a page whose runs predate the rules lists the revisions."""
    from convzoo.repro.page import _changes
    from convzoo.repro.report import _run_dict, rejudge, runs_of

    c = _claim()
    runs = {"b": _run("b", 900, CUT_STILL_FALLING, lrs=CUT), "w": _run("w", 500, CUT_AFTER_PLATEAU, lrs=CUT)}
    results = {
        "claim": "toy", "budget": "cpu", "kind": "trained",
        "arms": [{"name": k, "group": "", "runs": [{**_run_dict(r), "spec_hash": "0" * 16}]} for k, r in runs.items()],
    }  # fmt: skip
    assert all("lr" in p for a in results["arms"] for p in a["runs"][0]["curve"])
    back = runs_of(c, results, tmp_path / "results.json")
    assert [row["lr"] for row in back["b"][0].rows] == CUT
    judged = rejudge(results, tmp_path / "results.json", c)
    assert judged["checks"][0]["outcome"] == verdict.NOT_REACHED
    assert [v["version"] for v in judged["rule_revisions"]][-1] == verdict.rules()["version"]
    lines = _changes({**judged, "run_spec_hashes": ["0" * 16]})
    assert any(line.startswith("Rules revised after results were seen") for line in lines)
    assert any(f"{verdict.LIVE_RATE:g} × its peak" in line for line in lines)
    assert not any("Rules revised" in line for line in _changes({**judged, "run_spec_hashes": [judged["spec_hash"]]}))
