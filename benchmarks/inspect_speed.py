"""Time and peak memory of `convzoo.summary` beside torchinfo (and fvcore where it installs), same run.

    python benchmarks/inspect_speed.py                 # VGG-E and the deepest registered network
    python benchmarks/inspect_speed.py resnet50 ...    # any models

Each measurement runs in a fresh subprocess so peak RSS is its own. Ours builds the model by name on the
meta device (construction included in the time); torchinfo and fvcore get a model already built on the CPU
(construction excluded, which favours them; the ratio counting their build is printed too) and run a real
forward pass. Ours traces each distinct repeated block once and replays it for the repeats (a ResNet-1202
stage is 200 identical blocks). Targets: ours < 1 s of CPU time, >= 10x faster than torchinfo. The load
average is printed at the start and the end: a busy machine slows both tools, the ratio less than the times.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import time


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(tool: str, name: str) -> dict[str, float]:
    import torch

    import convzoo

    info = convzoo.model_info(name)
    convzoo.summary("lenet5")  # warm up imports and dispatch caches on a tiny net
    base = _peak_mib()
    if tool == "convzoo":
        cpu0, t0 = time.process_time(), time.perf_counter()
        s = convzoo.summary(name)
        params = s.total_params
    else:
        torch.manual_seed(0)
        build0 = time.process_time()
        model = convzoo.create_model(name).eval()
        build_cpu = time.process_time() - build0
        x = torch.zeros(1, *info.input_size)
        cpu0, t0 = time.process_time(), time.perf_counter()
        if tool == "torchinfo":
            import torchinfo

            params = torchinfo.summary(model, input_data=x, verbose=0, depth=100).total_params
        else:
            from fvcore.nn import FlopCountAnalysis, parameter_count_table

            FlopCountAnalysis(model, x).total()
            parameter_count_table(model)
            params = sum(p.numel() for p in model.parameters())
    return {
        "build_cpu_s": 0.0 if tool == "convzoo" else build_cpu,
        "cpu_s": time.process_time() - cpu0,
        "wall_s": time.perf_counter() - t0,
        "peak_rss_mib": _peak_mib() - base,
        "params": params,
    }


def cpu_model() -> str:
    """The CPU's model name as lscpu reports it (the ratio is what transfers between machines)."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return platform.processor() or "unknown"
    name = next((line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name")), "")
    return f"{name or 'unknown'}, {os.cpu_count()} logical CPUs"


def deepest() -> str:
    import torch
    from torch import nn

    import convzoo

    def weighted_layers(name: str) -> int:
        with torch.device("meta"):
            m = convzoo.create_model(name)
        return sum(isinstance(x, nn.Conv2d | nn.Linear) for x in m.modules())

    return max(convzoo.list_models(), key=weighted_layers)


def run(tool: str, name: str) -> dict[str, float] | None:
    proc = subprocess.run([sys.executable, __file__, "--one", tool, name], capture_output=True, text=True)
    if proc.returncode != 0:
        print(f"  {tool} on {name} failed: {proc.stderr.strip().splitlines()[-1:]}")
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str]) -> int:
    if argv[:1] == ["--one"]:
        print(json.dumps(measure(argv[1], argv[2])))
        return 0
    import importlib.util

    tools = ["convzoo", "torchinfo"] + (["fvcore"] if importlib.util.find_spec("fvcore") else [])
    names = argv or ["vgg19", deepest(), "preact_resnet1001_cifar"]
    print(f"CPU: {cpu_model()}; load average {os.getloadavg()[0]:.1f} (ratios are from the same run)")
    ok = True
    for name in names:
        print(f"{name}:")
        results = {t: run(t, name) for t in tools}
        ours = results["convzoo"]
        assert ours is not None
        for tool, r in results.items():
            if r is None:
                continue
            ratio = (
                ""
                if tool == "convzoo"
                else f"  ours is {r['cpu_s'] / ours['cpu_s']:.1f}x faster "
                f"({(r['cpu_s'] + r['build_cpu_s']) / ours['cpu_s']:.1f}x counting its CPU model build)"
            )
            print(
                f"  {tool:9s} cpu {r['cpu_s']:.3f} s  wall {r['wall_s']:.3f} s  "
                f"peak RSS +{r['peak_rss_mib']:.0f} MiB  params {int(r['params']):,}{ratio}"
            )
        ti = results.get("torchinfo")
        ok &= ours["cpu_s"] < 1.0 and (ti is None or ti["cpu_s"] / ours["cpu_s"] >= 10)
    print("targets (< 1 s CPU, >= 10x torchinfo):", "met" if ok else "NOT met")
    print(f"load average {os.getloadavg()[0]:.1f} at the end on {os.cpu_count()} logical CPUs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
