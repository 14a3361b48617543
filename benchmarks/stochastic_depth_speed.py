"""Training-step time of ResNet-110 with and without stochastic depth (Huang et al. 2016, Table 2: ≈25% faster).

With p_L = 0.5 and the linear decay rule a mini-batch runs Σ p_l = 40.25 of the 54 residual branches on
average (expected depth, Eq. 5), so a step should take about 75% of the constant-depth step plus the part that
does not shrink (stem, shortcuts, head, optimizer). The two nets run alternately, one SGD step each (forward,
backward, update), so drift in the machine's load hits both equally; the branches actually run are counted, so
the measured ratio can be set beside the realised fraction of the net computed.

    python benchmarks/stochastic_depth_speed.py                          # batch 128, 32×32, 20 steps each
    python benchmarks/stochastic_depth_speed.py --steps 50 --json out.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

import convzoo
from convzoo.trust_write import owned_under, write_file

RESULTS = Path(__file__).resolve().parent / "results"  # files here are the benchmarks' to replace


def step(
    model: torch.nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor
) -> tuple[float, float]:
    """One SGD step's wall time and this process's CPU time (the latter hardly moved by other processes)."""
    start, cpu = time.perf_counter(), time.process_time()
    loss = torch.nn.functional.cross_entropy(model(x), y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return time.perf_counter() - start, time.process_time() - cpu


def measure(batch: int, steps: int, warmup: int) -> dict[str, float]:
    torch.manual_seed(0)
    models = {name: convzoo.create_model(name).train() for name in ("resnet110_cifar", "resnet110_sd_cifar")}
    opts = {
        n: torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4) for n, m in models.items()
    }
    x, y = torch.randn(batch, 3, 32, 32), torch.randint(0, 10, (batch,))
    branches = [b.branch for stage in models["resnet110_sd_cifar"].stages for b in stage]
    ran = {"n": 0}
    for br in branches:
        br.register_forward_hook(lambda *_: ran.__setitem__("n", ran["n"] + 1))
    times: dict[str, list[float]] = {n: [] for n in models}
    cpu: dict[str, list[float]] = {n: [] for n in models}
    for i in range(warmup + steps):
        order = list(models) if i % 2 == 0 else list(models)[::-1]
        if i == warmup:
            ran["n"] = 0
        for n in order:
            t, c = step(models[n], opts[n], x, y)
            if i >= warmup:
                times[n].append(t)
                cpu[n].append(c)
    const, sd = times["resnet110_cifar"], times["resnet110_sd_cifar"]
    expected = models["resnet110_sd_cifar"].inspect_info()["expected_depth"] / len(branches)
    return {
        "batch": batch,
        "steps": steps,
        "threads": torch.get_num_threads(),
        "constant_s_per_step_median": statistics.median(const),
        "sd_s_per_step_median": statistics.median(sd),
        "constant_s_per_step_mean": statistics.fmean(const),
        "sd_s_per_step_mean": statistics.fmean(sd),
        "speedup_median": statistics.median(const) / statistics.median(sd),
        "speedup_total": sum(const) / sum(sd),
        "time_saved_total": 1 - sum(sd) / sum(const),
        "cpu_speedup_total": sum(cpu["resnet110_cifar"]) / sum(cpu["resnet110_sd_cifar"]),
        "cpu_time_saved_total": 1 - sum(cpu["resnet110_sd_cifar"]) / sum(cpu["resnet110_cifar"]),
        "branches_run_fraction": ran["n"] / (steps * len(branches)),
        "branches_expected_fraction": expected,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--steps", type=int, default=20, help="timed SGD steps per net (alternating)")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    p.add_argument("--json", default=None, help="also write the result to this file")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    r = measure(args.batch_size, args.steps, args.warmup)
    print(
        f"ResNet-110, batch {r['batch']}, 32×32, {r['threads']} threads, {r['steps']} steps each, "
        f"torch {torch.__version__}\n"
        f"constant depth   {r['constant_s_per_step_median']:.3f} s/step (median), {r['constant_s_per_step_mean']:.3f} mean\n"
        f"stochastic depth {r['sd_s_per_step_median']:.3f} s/step (median), {r['sd_s_per_step_mean']:.3f} mean\n"
        f"speed-up {r['speedup_median']:.2f}× (medians), {r['speedup_total']:.2f}× (totals: "
        f"{100 * r['time_saved_total']:.1f}% less time); branches run {100 * r['branches_run_fraction']:.1f}% "
        f"(expected {100 * r['branches_expected_fraction']:.1f}%)\n"
        f"CPU time: {r['cpu_speedup_total']:.2f}× ({100 * r['cpu_time_saved_total']:.1f}% less)"
    )
    if args.json:
        write_file(args.json, json.dumps(r, indent=2), owned=owned_under(RESULTS))


if __name__ == "__main__":
    main()
