"""The optimizers at CNN scale: one zoo network trained briefly with each, on a fixed CIFAR-10 subset.

Every run goes through the trainer (:func:`convzoo.train.trainer.train`) with the same seed, so all optimizers
start from the same weights and see the same batches; only the optimizer and its learning rate differ. The
schedule is constant, so the curves compare the update rules themselves.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from convzoo.lab.plots import COLORS  # noqa: E402
from convzoo.lab.trajectories import OPTIMIZERS, check_lr  # noqa: E402
from convzoo.trust_write import write_file  # noqa: E402

__all__ = ["CNN_LR", "CNNComparison", "compare_optimizers"]

# Usual starting rates: SGD 0.1 (He et al. 2015); momentum and Nesterov 0.01, the same rate once the
# momentum sum's 1/(1-β) = 10 gain is counted (see the two momentum forms in rules.py); the adaptive methods
# at torch's defaults (AdaGrad 0.01, RMSProp and Adam 1e-3).
CNN_LR: dict[str, float] = {
    "sgd": 0.1,
    "momentum": 0.01,
    "nesterov": 0.01,
    "adagrad": 0.01,
    "rmsprop": 1e-3,
    "adam": 1e-3,
    "amsgrad": 1e-3,
}


@dataclass
class CNNComparison:
    """Per-epoch metrics of each optimizer's run, and the files written."""

    model: str
    runs: dict[str, list[dict[str, Any]]]
    lrs: dict[str, float]
    plot: Path
    csv: Path

    def table(self) -> str:
        lines = [f"{self.model}: {'optimizer':<10} {'lr':>7} {'train loss':>11} {'test err %':>11}"]
        for name, rows in self.runs.items():
            last = rows[-1]
            err = last.get("test_err", float("nan"))
            lines.append(
                f"{'':<{len(self.model)}}  {name:<10} {self.lrs[name]:>7g} {last['train_loss']:>11.4f} "
                f"{err:>11.2f}"
            )
        return "\n".join(lines)


def compare_optimizers(
    model: str = "lenet5_modern",
    optimizers: Sequence[str] = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"),
    *,
    lrs: float | Mapping[str, float] | None = None,
    epochs: int = 5,
    per_class: int = 200,
    batch_size: int = 32,
    out_dir: str | Path = "runs/lab/optim_cnn",
    device: str = "auto",
    data: str = "cifar10-jpg",
    data_root: str | None = None,
    seed: int = 0,
    log: Any = None,
) -> CNNComparison:
    """Train ``model`` for ``epochs`` with each optimizer on the first ``per_class`` images of each class.

    ``data`` is any trainer data spec (default ``cifar10-jpg``: ``$CONVZOO_CIFAR10_JPG`` or the shared
    folder).
    Writes ``optimizers.png`` (training loss and test error against the epoch) and ``optimizers.csv``.
    """
    from convzoo.data.datasets import load_data
    from convzoo.train.recipes import get_recipe
    from convzoo.train.trainer import TrainConfig, train

    names = list(optimizers)
    if not names:
        raise ValueError("give at least one optimizer")
    for name in names:
        if name not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {name!r}; choose from: {', '.join(OPTIMIZERS)}")
    if isinstance(lrs, Mapping):
        rates = {n: check_lr(lrs.get(n, CNN_LR[n]), n) for n in names}
    else:
        rates = {n: check_lr(CNN_LR[n] if lrs is None else lrs, n) for n in names}
    out = Path(out_dir)
    splits = load_data(data, root=data_root, per_class=per_class, seed=seed)
    base = get_recipe("fast").replace(
        name="lab",
        epochs=epochs,
        batch_size=batch_size,
        schedule="constant",
        interval="epoch",
        schedule_params={},
        warmup=0,
        label_smoothing=0.0,
        amp=False,
        channels_last=False,
        weight_decay=5e-4,
        lookahead={},  # the optimizer alone, not Lookahead on top of it
        small_crops={},
        augment="crop:2,flip",
        tta="flip",
    )
    runs: dict[str, list[dict[str, Any]]] = {}
    for name in names:
        spec = OPTIMIZERS[name]
        # the trainer's optimizer names match the lab's; RMSProp runs plain (no momentum term) with ρ = 0.9
        recipe = base.replace(
            optimizer=name,
            lr=rates[name],
            momentum=0.0 if name == "rmsprop" else 0.9,
            alpha=spec.kwargs.get("alpha", 0.99),
            eps=spec.kwargs.get("eps"),
        )
        cfg = TrainConfig(
            model=model,
            data=data,
            recipe=recipe,
            per_class=per_class,
            seed=seed,
            out_dir=str(out),
            name=name,
            device=device,
            progress=False,
        )
        result = train(cfg, data=splits, log=log or (lambda s: None))
        runs[name] = result.metrics
    return CNNComparison(
        model,
        runs,
        rates,
        _plot(model, runs, rates, out / "optimizers.png", per_class),
        _write_csv(runs, out / "optimizers.csv"),
    )


def _write_csv(runs: dict[str, list[dict[str, Any]]], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = ["optimizer", "epoch", "lr", "train_loss", "train_err", "test_loss", "test_err"]
    buf = io.StringIO(newline="")
    writer = csv.DictWriter(buf, fieldnames=keys, extrasaction="ignore")
    writer.writeheader()
    for name, rows in runs.items():
        for row in rows:
            writer.writerow({"optimizer": name, **row})
    return write_file(path, buf.getvalue())  # never over a file convzoo did not write


def _plot(
    model: str, runs: dict[str, list[dict[str, Any]]], lrs: dict[str, float], path: Path, per_class: int
) -> Path:
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.2), dpi=110)
    for name, rows in runs.items():
        epochs = [r["epoch"] for r in rows]
        label = f"{OPTIMIZERS[name].label} (lr={lrs[name]:g})"
        a1.plot(epochs, [r["train_loss"] for r in rows], marker="o", color=COLORS.get(name), label=label)
        a2.plot(
            epochs,
            [r.get("test_err", float("nan")) for r in rows],
            marker="o",
            color=COLORS.get(name),
            label=label,
        )
    a1.set_ylabel("training loss")
    a2.set_ylabel("test error (%)")
    for ax in (a1, a2):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    a1.legend(fontsize=7.5)
    fig.suptitle(
        f"{model} on CIFAR-10, first {per_class} images per class, same start and batches; "
        "constant learning rate",
        fontsize=10,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_file(path, fig.savefig)
    plt.close(fig)
    return path
