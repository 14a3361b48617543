"""Inception speed: our Inception-v3 against torchvision's, and the time ``convzoo.summary`` takes per network.

Forward pass in eval mode at batch 8, 299×299, in one process with the two models' runs interleaved (so a
load change on a shared machine hits both), each configuration with the same weights: torchvision's are
loaded into ours through the registered key mapping, and the outputs are checked equal before timing.
Configurations: both in the default (NCHW) memory format; both channels_last; and ours with its batch norms
folded into the convolutions (``model.fuse_bn()``, same function up to float rounding) against torchvision
as it ships. The ratios printed are torchvision's time over ours (≥ 1.0: ours is at least as fast), of the
medians and of the fastest runs (the minimum is the steadier figure on a loaded machine).

    python benchmarks/inception_speed.py [--repeats 7] [--batch 8] [--threads N] [--skip-forward]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import torch
from torch import nn

import convzoo

INCEPTION_NETS = convzoo.list_models(family="googlenet") + convzoo.list_models(family="inception")


def _time_once(model: nn.Module, x: torch.Tensor) -> float:
    start = time.perf_counter()
    with torch.inference_mode():
        model(x)
    return time.perf_counter() - start


def forward_times(
    repeats: int, batch: int, channels_last: bool, fuse: bool = False
) -> tuple[list[float], list[float], float]:
    """Seconds per forward of torchvision and of ours, and the max abs difference of their logits."""
    import torchvision

    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tv = torchvision.models.inception_v3(init_weights=False, aux_logits=True).eval()
    ours = convzoo.create_model("inception_v3").eval()
    for m in tv.modules():  # non-trivial statistics, so that folding them is a real test
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)
    convzoo.load_weights(ours, "torchvision", state_dict=tv.state_dict())
    if fuse:
        ours.fuse_bn()
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    tv, ours = tv.to(memory_format=fmt), ours.to(memory_format=fmt)
    x = torch.randn(batch, 3, 299, 299).to(memory_format=fmt)
    with torch.inference_mode():
        diff = (tv(x) - ours(x)).abs().max().item()  # also the warm-up run of each
    times: dict[str, list[float]] = {"tv": [], "ours": []}
    for i in range(repeats):
        order = [("tv", tv), ("ours", ours)] if i % 2 == 0 else [("ours", ours), ("tv", tv)]
        for key, model in order:
            times[key].append(_time_once(model, x))
    return times["tv"], times["ours"], diff


def summary_times() -> dict[str, float]:
    out = {}
    for name in INCEPTION_NETS:
        start = time.perf_counter()
        convzoo.summary(name)
        out[name] = time.perf_counter() - start
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--threads", type=int, default=None, help="intra-op threads (default: torch's)")
    parser.add_argument("--skip-forward", action="store_true", help="only time the summaries")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    if not args.skip_forward:
        configs = {
            "NCHW": (False, False),
            "channels_last": (True, False),
            "NCHW, ours fuse_bn": (False, True),
        }
        for label, (channels_last, fuse) in configs.items():
            tv, ours, diff = forward_times(args.repeats, args.batch, channels_last, fuse)
            med_tv, med_ours = statistics.median(tv), statistics.median(ours)
            print(
                f"inception_v3 eval forward, batch {args.batch}, 299×299, {label:18s}: median torchvision "
                f"{med_tv * 1e3:7.1f} ms, convzoo {med_ours * 1e3:7.1f} ms, ratio {med_tv / med_ours:.3f}; "
                f"min ratio {min(tv) / min(ours):.3f}; max |Δlogits| {diff:.1e}"
            )
    print("convzoo.summary per network (target < 1 s):")
    for name, seconds in summary_times().items():
        print(f"  {name:24s} {seconds:6.3f} s")


if __name__ == "__main__":
    main()
