"""`convzoo bench` / `convzoo.bench`: alternation, baselines, skipped configurations, formats, bad input."""

from __future__ import annotations

import json
import sys

import pytest

from convzoo.cli import main
from convzoo.deploy import bench as B
from convzoo.deploy.bench import BenchResult, Config, bench, format_result, measure

FAST = {"repeats": 2, "warmup": 1, "min_sample_s": 0.0, "threads": 1}


class FakeClock:
    """Time advances only when a runner runs: each call of configuration i costs (i + 1) ms."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _runners(n: int, clock: FakeClock, log: list[str]) -> dict[Config, B.Runner]:
    def make(i: int) -> B.Runner:
        def run() -> None:
            log.append(f"c{i}")
            clock.now += (i + 1) * 1e-3

        return run

    return {Config("m", i + 1, "eager", "fp32"): make(i) for i in range(n)}


# --- the measurement core: alternation, blocks, statistics ----------------------------------------------------


def test_measure_warms_up_round_robin_then_rotates_the_order_each_round() -> None:
    clock, log = FakeClock(), []
    measure(_runners(3, clock, log), warmup=2, repeats=4, min_sample_s=0.0, clock=clock)
    warm, timed = log[:6], log[6:]
    assert warm == ["c0", "c1", "c2"] * 2
    assert timed == ["c0", "c1", "c2", "c1", "c2", "c0", "c2", "c0", "c1", "c0", "c1", "c2"]


def test_measure_blocks_tiny_calls_and_reports_seconds_per_call() -> None:
    clock, log = FakeClock(), []
    out = measure(_runners(2, clock, log), warmup=1, repeats=3, min_sample_s=0.005, clock=clock)
    (s0, k0), (s1, k1) = out.values()
    assert (k0, k1) == (5, 3)  # 1 ms calls need 5 per 5 ms sample; 2 ms calls need 3
    assert s0 == pytest.approx([1e-3] * 3) and s1 == pytest.approx([2e-3] * 3)
    assert log.count("c0") == 1 + 3 * 5 and log.count("c1") == 1 + 3 * 3


def test_measure_without_warmup_times_single_calls() -> None:
    clock, log = FakeClock(), []
    out = measure(_runners(2, clock, log), warmup=0, repeats=2, min_sample_s=1.0, clock=clock)
    assert [k for _, k in out.values()] == [1, 1] and log == ["c0", "c1", "c1", "c0"]


def test_percentile_interpolates_like_numpy() -> None:
    assert B._percentile([1.0, 2.0, 3.0, 4.0, 5.0], 0.9) == pytest.approx(4.6)
    assert B._percentile([7.0], 0.9) == 7.0


# --- rows, baselines and skipped configurations ---------------------------------------------------------------


@pytest.fixture(scope="module")
def lenet_result() -> BenchResult:
    return bench("lenet5", batch=[1, 2], dtype=["fp32", "bf16"], backend=["eager"], **FAST)


def test_a_row_for_every_requested_configuration(lenet_result: BenchResult) -> None:
    got = [(r.batch, r.backend, r.dtype, r.impl) for r in lenet_result.rows]
    assert got == [(b, "eager", d, "convzoo") for b in (1, 2) for d in ("fp32", "bf16")]
    for r in lenet_result.rows:
        if r.skipped is None:
            assert len(r.samples_ms) == FAST["repeats"] and r.median_ms and r.p90_ms and r.images_per_s
            assert r.p90_ms >= r.median_ms and r.images_per_s == pytest.approx(r.batch / r.median_ms * 1e3)


def test_without_a_peer_the_baseline_is_our_eager_fp32_and_says_so(lenet_result: BenchResult) -> None:
    base = [r for r in lenet_result.rows if r.dtype == "fp32"]
    assert all(r.ratio == pytest.approx(1.0) and r.max_rel_diff == 0.0 for r in base)
    assert all(
        "convzoo lenet5 eager fp32" in r.baseline and "no peer" in r.baseline for r in lenet_result.rows
    )


def test_bf16_without_native_support_is_skipped_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(B, "native_low_precision", lambda dtype: (False, f"this CPU has no native {dtype}"))
    monkeypatch.setattr(B, "installed", lambda module: module != "openvino")
    rows = bench("lenet5", dtype=["fp32", "bf16"], backend=["eager", "openvino"], **FAST).rows
    skipped = {(r.backend, r.dtype): r.skipped for r in rows if r.skipped}
    assert set(skipped) == {("eager", "bf16"), ("openvino", "fp32"), ("openvino", "bf16")}
    assert "native bf16" in skipped[("eager", "bf16")] and "not installed" in skipped[("openvino", "fp32")]
    assert all(r.median_ms is None and r.ratio is None for r in rows if r.skipped)
    assert "skipped: " in format_result(BenchResult(B.Method(1, 1, 0, 1, {}, "cpu", False, {}), rows))


def test_ratios_are_against_the_peers_eager_model_of_the_same_batch() -> None:
    result = bench("resnet18", batch=[1, 2], image_size=32, against="torchvision", **FAST)
    peer = {r.batch: r for r in result.rows if r.impl == "torchvision"}
    ours = {r.batch: r for r in result.rows if r.impl == "convzoo"}
    assert set(peer) == set(ours) == {1, 2}
    for b in (1, 2):
        assert ours[b].ratio == pytest.approx(peer[b].median_ms / ours[b].median_ms)
        assert peer[b].ratio == pytest.approx(1.0)
        assert ours[b].baseline == "torchvision resnet18 eager fp32"
        assert peer[b].max_rel_diff is not None and peer[b].max_rel_diff < 1e-5  # its weights are in ours


def test_against_none_uses_our_own_eager_fp32() -> None:
    rows = bench("resnet18", image_size=32, against="none", **FAST).rows
    assert [r.impl for r in rows] == ["convzoo"] and "no peer" in rows[0].baseline


# --- formats ----------------------------------------------------------------------------------------------------


def test_json_round_trips_with_the_method(lenet_result: BenchResult) -> None:
    obj = json.loads(format_result(lenet_result, "json"))
    assert obj["method"]["threads"] == 1 and obj["method"]["versions"]["torch"]
    assert len(obj["rows"]) == len(lenet_result.rows) and "skipped" in obj["rows"][0]
    assert BenchResult.from_dict(obj) == lenet_result


@pytest.mark.parametrize(
    "damage",
    [
        lambda o: o.pop("rows"),
        lambda o: o["rows"][0].update(median_ms="fast"),
        lambda o: o["rows"][0].update(batch=True),
        lambda o: o["rows"][0].update(module="os:system"),
        lambda o: o["method"].update(versions={"torch": ["x"]}),
    ],
)
def test_json_with_a_wrong_field_is_refused_naming_the_file(lenet_result: BenchResult, damage) -> None:  # type: ignore[no-untyped-def]
    obj = json.loads(format_result(lenet_result, "json"))
    damage(obj)
    with pytest.raises(ValueError, match="results.json"):
        BenchResult.from_dict(obj, "results.json")


def test_markdown_table_has_one_line_per_row_and_the_method(lenet_result: BenchResult) -> None:
    lines = format_result(lenet_result, "markdown").splitlines()
    assert lines[0].startswith("| model | batch |") and set(lines[1]) <= set("|- ")
    table = [line for line in lines if line.startswith("|")]
    assert len(table) == 2 + len(lenet_result.rows)
    assert all(line.count("|") == len(B.COLUMNS) + 1 for line in table)
    assert any(line.startswith("Method: ") and "1 warm-up call(s)" in line for line in lines)


# --- the command line: results and bad input --------------------------------------------------------------------


def test_cli_writes_json_rows(capsys: pytest.CaptureFixture[str], tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "bench.json"
    argv = ["bench", "lenet5", "--repeats", "1", "--warmup", "0", "--threads", "1", "--format", "json", "-o"]
    assert main([*argv, str(out)]) == 0 and f"wrote {out}" in capsys.readouterr().out
    obj = json.loads(out.read_text())
    assert [r["model"] for r in obj["rows"]] == ["lenet5"] and obj["method"]["repeats"] == 1


@pytest.mark.parametrize(
    ("argv", "cause"),
    [
        (["--backend", "eager,tensorrt"], "'tensorrt'"),
        (["--batch", "0,x"], "'0', 'x'"),
        (["--dtype", "int3"], "'int3'"),
        (["--repeats", "0"], "--repeats"),
        (["--against", "keras"], "keras"),
    ],
)
def test_cli_bad_option_exits_2_naming_it(
    capsys: pytest.CaptureFixture[str], argv: list[str], cause: str
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["bench", "lenet5", *argv])
    assert exc.value.code == 2 and cause in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "cause"),
    [
        (["no_such_net"], "no_such_net"),
        (["lenet5", "--against", "timm"], "timm has no lenet5"),
        (["resnet18", "--against", "timm"], "mapped peers of resnet18: torchvision"),
        (["lenet5", "-o", "/no/such/dir/out.json"], "no such folder /no/such/dir"),
    ],
)
def test_cli_bad_model_or_peer_exits_2_before_any_work(
    capsys: pytest.CaptureFixture[str], argv: list[str], cause: str
) -> None:
    assert main(["bench", *argv]) == 2
    err = capsys.readouterr().err
    assert cause in err and "preparing" not in err


@pytest.mark.parametrize(
    "kwargs",
    [{"batch": [0]}, {"batch": []}, {"threads": 0}, {"backend": ["gpu"]}, {"dtype": []}, {"against": "x"}],
)
def test_api_bad_arguments_raise_value_error(kwargs: dict) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValueError):
        bench("lenet5", **kwargs)


# --- the other backends: same function, every requested row ------------------------------------------------------


def test_folded_rows_compute_the_same_function() -> None:
    rows = bench("resnet20_cifar", batch=[2], backend=["eager", "folded"], **FAST).rows
    assert [r.backend for r in rows] == ["eager", "folded"]
    assert rows[1].ratio is not None and rows[1].max_rel_diff is not None and 0 < rows[1].max_rel_diff < 1e-4


@pytest.mark.slow
def test_compile_and_runtimes_rows_compute_the_same_function() -> None:
    backends = ["compile", "onnxruntime", "openvino"]
    rows = bench("resnet20_cifar", batch=[1], backend=backends, **FAST).rows
    assert [r.backend for r in rows] == ["eager", *backends]
    for r in rows[1:]:
        assert (
            r.skipped is None and r.ratio is not None and r.max_rel_diff is not None and r.max_rel_diff < 1e-4
        )


# --- benchmarks/inference.py: the docs table and the targets come from the JSON ---------------------------------


def _inference_script():  # type: ignore[no-untyped-def]
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parent.parent / "benchmarks" / "inference.py"
    spec = importlib.util.spec_from_file_location("inference_benchmark", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_inference_report_table_and_targets_from_json(tmp_path, lenet_result: BenchResult) -> None:  # type: ignore[no-untyped-def]
    script = _inference_script()
    method = lenet_result.method
    rows = [
        B.Row("resnet50", 32, "eager", "fp32", "torchvision", median_ms=100.0, ratio=1.0, baseline="tv"),
        B.Row("resnet50", 32, "eager", "fp32", median_ms=125.0, ratio=0.8, baseline="tv"),
        B.Row("resnet50", 32, "onnxruntime", "fp32", median_ms=50.0, ratio=2.0, baseline="tv"),
        B.Row("resnet50", 32, "eager", "bf16", skipped="no native bf16", baseline="tv"),
    ]
    report = {"commands": ["python x"], "seconds": {"resnet50 b32": 9.0}, "runs": [BenchResult(method, rows).to_dict()],
              "not_run": [{"model": "vgg16", "batch": 32, "reason": "time limit"}]}  # fmt: skip
    script.write(report, tmp_path)
    text = script.markdown(script.load(tmp_path / "inference.json"))
    table = [line for line in text.splitlines() if line.startswith("|")]
    assert len({line.count("|") for line in table}) == 1 and len(table) == 4
    assert "| resnet50 | 32 | torchvision: 100.0 ms | **0.80×** (125.0 ms) |" in table[2]
    assert "[1] no native bf16" in text and "[2] time limit" in text
    assert "ResNet-50 batch 32: 2.00× (resnet50 b32 onnxruntime fp32) — met" in text
    assert "slowest): 0.80× (resnet50 b32 eager fp32) — not met (80% of the goal)" in text
    assert "Measured by: `python x`." in text
    assert "ResNet-50 batch 1: not measured" in text and "— not met (25% of the goal)" in text
    (tmp_path / "bad.json").write_text(json.dumps({**report, "not_run": [{"model": 1}]}))
    with pytest.raises(SystemExit, match="bad.json"):
        script.load(tmp_path / "bad.json")


def test_inference_plan_resumes_and_lists_what_the_time_limit_left_out(
    tmp_path, monkeypatch, lenet_result
) -> None:  # type: ignore[no-untyped-def]
    import argparse

    script, calls = _inference_script(), []

    def fake_bench(model: str, *, batch: list[int], **kw: object) -> BenchResult:
        calls.append((model, batch[0]))
        row = B.Row(model, batch[0], "eager", "fp32", median_ms=1.0, ratio=1.0, baseline="ours")
        return BenchResult(lenet_result.method, [row])

    monkeypatch.setattr(script.convzoo, "bench", fake_bench)
    monkeypatch.setattr(script, "format_result", lambda result: "")

    def run(**kw: object) -> dict:  # type: ignore[type-arg]
        opts = {
            "models": ["resnet56_cifar"],
            "batch": None,
            "resume": False,
            "time_limit": 0,
            "threads": 1,
            **kw,
        }
        return script.run_plan(argparse.Namespace(**opts), tmp_path)

    run(batch=[1])
    report = run(resume=True)  # the batch-1 group is kept, only batch 32 runs
    assert calls == [("resnet56_cifar", 1), ("resnet56_cifar", 32)] and len(report["runs"]) == 2
    assert len(script.load(tmp_path / "inference.json")["commands"]) == 2
    report = run(models=["vgg16"], time_limit=1e-9)
    assert [(n["model"], n["batch"]) for n in report["not_run"]] == [("vgg16", 1), ("vgg16", 32)]
    assert "minute limit" in report["not_run"][0]["reason"] and len(calls) == 2


def test_docs_inference_table_is_the_committed_json_regenerated() -> None:
    from pathlib import Path

    script, root = _inference_script(), Path(__file__).parent.parent
    text = script.markdown(script.load(root / "benchmarks" / "results" / "inference.json"))
    docs = (root / "docs" / "performance.md").read_text()
    lines = [line for line in text.splitlines() if line.startswith(("|", "[", "- "))]
    assert len(lines) > 10 and [line for line in lines if line not in docs] == []
