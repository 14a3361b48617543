"""Time to accuracy: how long `convzoo train` with the ``fast`` recipe takes to reach a test accuracy.

Trains on the shared CIFAR-10 JPEG folder (50,000 training images, 10,000 test images), evaluates the test set
after the last epoch (and every ``--eval-every`` epochs if asked: each evaluation counts in the time), and
reports the wall-clock time (from the start of this script, data loading included) at which the test accuracy
first reaches ``--target``, with the whole curve.

    python benchmarks/time_to_accuracy.py                       # airbench94, fast recipe (10 epochs), target 90%
    python benchmarks/time_to_accuracy.py --model resnet20_cifar --epochs 15 --eval-every 1 [--json out.json]
    python benchmarks/time_to_accuracy.py --recipe airbench94 --epochs 7   # the paper's hyperparameters

Equivalent command line:
    python -m convzoo train airbench94 --data cifar10-jpg --recipe fast --eval-every 10
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

T0 = time.perf_counter()

import torch  # noqa: E402

from convzoo.train import TrainConfig, get_recipe, train  # noqa: E402
from convzoo.trust_write import owned_under, write_file  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"  # files here are the benchmarks' to replace


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="airbench94")
    p.add_argument("--recipe", default="fast", help="training recipe (convzoo recipes)")
    p.add_argument("--epochs", type=float, help="default: the recipe's")
    p.add_argument(
        "--eval-every",
        type=int,
        default=0,
        help="also test every N epochs (default: after the last only); each test costs time",
    )
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=JSON",
        help="any other recipe field, e.g. --set tta=flip --set 'lookahead={}' (repeatable)",
    )
    p.add_argument("--target", type=float, default=90.0, help="test accuracy to reach, in percent")
    p.add_argument("--out", default="runs")
    p.add_argument("--name", default=None)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--json", help="also write the results here")
    a = p.parse_args()
    over: dict = {} if a.epochs is None else {"epochs": a.epochs, "iterations": None}
    if a.batch_size:
        over["batch_size"] = a.batch_size
    if a.lr:
        over["lr"] = a.lr
    for item in a.set:
        key, _, value = item.partition("=")
        try:
            over[key] = json.loads(value)
        except json.JSONDecodeError:
            over[key] = value  # a bare string
    base = get_recipe(a.recipe)
    unknown = sorted(set(over) - set(base.to_dict()))
    if unknown:
        p.error(f"unknown recipe field(s) {', '.join(unknown)}; see convzoo recipes -v")
    recipe = base.replace(**over)
    name = a.name or f"tta-{a.model}-{time.strftime('%Y%m%d-%H%M%S')}"
    cfg = TrainConfig(
        model=a.model,
        data="cifar10-jpg",
        recipe=recipe,
        out_dir=a.out,
        name=name,
        resume=a.resume,
        progress=False,
        eval_every=a.eval_every or math.ceil(recipe.epochs or 1),
    )
    res = train(cfg)
    setup = time.perf_counter() - T0 - res.wall_s  # imports, data loading, model building
    curve = [
        {
            "epoch": r["epoch"],
            "wall_s": round(setup + r["wall_s"], 1),
            "test_acc": round(100 - r["test_err"], 2),
            "train_loss": round(r["train_loss"], 4),
        }
        for r in res.metrics
        if "test_err" in r
    ]
    reached = next((c for c in curve if c["test_acc"] >= a.target), None)
    total = time.perf_counter() - T0
    print(
        f"\n{a.model}, {a.recipe} recipe, {recipe.epochs:g} epochs, {torch.get_num_threads()} threads: total wall "
        f"{total / 60:.1f} min, final test accuracy {curve[-1]['test_acc']:.2f}%"
    )
    for c in curve:
        print(f"  epoch {c['epoch']:>3}  {c['wall_s'] / 60:6.1f} min  test accuracy {c['test_acc']:6.2f}%")
    if reached:
        print(f"reached {a.target:g}% at epoch {reached['epoch']} after {reached['wall_s'] / 60:.1f} min")
    else:
        print(f"did not reach {a.target:g}% (best {max(c['test_acc'] for c in curve):.2f}%)")
    if a.json:
        write_file(
            a.json,
            json.dumps(
                {
                    "model": a.model,
                    "epochs": recipe.epochs,
                    "target": a.target,
                    "total_wall_s": total,
                    "reached": reached,
                    "curve": curve,
                    "run_dir": str(res.run_dir),
                },
                indent=2,
            ),
            owned=owned_under(RESULTS),
        )


if __name__ == "__main__":
    main()
