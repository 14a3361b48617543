"""``convzoo train | eval | predict | recipes`` and ``convzoo demo``.

:func:`register` adds the subcommands to the main ``convzoo`` parser; ``python -m convzoo.train`` runs them
without it (:func:`main`).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from convzoo.cli_args import (
    MAX_CLASSES,
    MAX_SIDE,
    MAX_THREADS,
    MAX_WORKERS,
    THREADS_WHY,
    WORKERS_WHY,
    Whole,
    WholeList,
    add_model_args,
    add_weights_args,
    key_value,
    output_folder,
    whole_number,
)
from convzoo.train.recipes import TTA_MODES

__all__ = ["DEMO_MODEL", "build_config", "demo", "main", "register"]

DEMO_MODEL = "lenet5_modern"


def _add_train(sub: Any) -> None:
    p = sub.add_parser(
        "train",
        help="train a model (see docs/training.md)",
        description="Train a registered model on a dataset with a paper's recipe.",
    )
    p.add_argument("model", help="registered model name (convzoo list), or package.module:function")
    p.add_argument(
        "--data",
        default="digits",
        help="digits, mnist, cifar10, cifar100, cifar10-jpg, or an image folder PATH/{train,test}/<class>/",
    )
    p.add_argument("--data-root", help="folder holding the official CIFAR/MNIST files")
    p.add_argument(
        "--download", action="store_true", help="download CIFAR from its official address if missing"
    )
    p.add_argument(
        "--recipe",
        help="training recipe (convzoo recipes); default: fast, adapted to the model and the data (no mirroring "
        "of digits or text; a lower rate for networks without normalization), the changes printed and recorded",
    )
    g = p.add_argument_group("recipe overrides")
    g.add_argument("--epochs", type=float)
    g.add_argument("--iterations", type=int, help="length in optimizer steps (instead of --epochs)")
    g.add_argument("--max-epochs", type=float, help="stop after this many epochs of the (longer) schedule")
    g.add_argument("--batch-size", type=int)
    g.add_argument("--lr", type=float)
    g.add_argument("--optimizer", help="sgd, momentum, nesterov, adagrad, rmsprop, adam, amsgrad, adamw")
    g.add_argument("--momentum", type=float)
    g.add_argument("--weight-decay", type=float)
    g.add_argument("--no-decay-bn-bias", action=argparse.BooleanOptionalAction, default=None)
    g.add_argument(
        "--schedule", help="constant, step, multistep, exponential, inverse_time, plateau, cosine, onecycle"
    )
    g.add_argument("--interval", choices=("epoch", "step"))
    g.add_argument(
        "--schedule-param",
        type=key_value,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="schedule parameter, e.g. milestones=[100,150] (repeatable)",
    )
    g.add_argument("--warmup", type=int, help="warm-up length in schedule intervals")
    g.add_argument("--warmup-lr", type=float)
    g.add_argument("--bn-lr-scale", type=float, help="learning rate × this for BN layers (weight decay ÷ it)")
    g.add_argument("--label-smoothing", type=float)
    g.add_argument("--clip-grad", type=float, help="clip the gradient norm to this value")
    g.add_argument(
        "--augment",
        help="e.g. crop:4,flip or scale:0.08-1,flip,lighting:0.1 or none; crop:2:reflect pads by reflection, "
        "flip:alt alternates each image's flip between epochs",
    )
    g.add_argument(
        "--lookahead",
        type=key_value,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="Lookahead over the optimizer: every=5 decay=0.77 power=3 (repeatable; every=0 turns it off)",
    )
    g.add_argument(
        "--small-crops",
        type=key_value,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="train the first epochs on random windows: size=24 epochs=4 (repeatable; epochs=0 turns it off)",
    )
    g.add_argument(
        "--val-size",
        help="hold out this many training images (a whole number, e.g. 5000) or this fraction of them (in [0, 1), "
        "e.g. 0.1) for validation",
    )
    g.add_argument("--init", choices=("he", "default"))
    g.add_argument("--zero-init-residual", action=argparse.BooleanOptionalAction, default=None)
    g.add_argument(
        "--amp",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="bf16 autocast on CPUs that support it, fp16/bf16 on CUDA",
    )
    g.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None)
    g.add_argument(
        "--tta",
        choices=TTA_MODES,
        help="test-time augmentation of the evaluations: flip averages each image's and its mirror's softmax, "
        "flip-translate also both shifted by ±1 pixel (6 views)",
    )
    add_model_args(p, "drop_path_rate=0.2")
    p.add_argument("--per-class", type=int, help="use only the first N images of each class")
    p.add_argument("--image-size", type=int, help="resize images to N×N")
    p.add_argument("--skip-bad-images", action="store_true", help="skip (and count) unreadable images")
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--stream",
        dest="stream",
        action="store_const",
        const=True,
        default=None,
        help="stream an image folder through DataLoader workers (default: when it is too large for memory)",
    )
    g.add_argument(
        "--in-memory", dest="stream", action="store_const", const=False, help="load it into memory"
    )
    p.add_argument(
        "--workers", type=int, help="DataLoader workers decoding a streamed folder (default: up to 8)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=output_folder, default="runs", help="folder for run folders (default: runs)")
    p.add_argument("--name", help="run folder name (default: MODEL-DATA-TIME)")
    p.add_argument("--resume", action="store_true", help="continue runs/NAME from its latest checkpoint")
    p.add_argument("--checkpoint-every", type=int, default=0, help="also save every N optimizer steps")
    p.add_argument("--checkpoint-minutes", type=float, default=10.0)
    p.add_argument("--eval-every", type=int, default=1, help="evaluate every N epochs")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument(
        "--compile",
        action="store_true",
        help="torch.compile the model for training (pays on GPUs; measured 1.0-1.1x on CPUs, docs/performance.md)",
    )
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None)
    p.set_defaults(func=_cmd_train)


# recipe fields set by options of the same name (--batch-size sets batch_size)
_RECIPE_OPTIONS = (
    "lr",
    "optimizer",
    "momentum",
    "weight_decay",
    "no_decay_bn_bias",
    "bn_lr_scale",
    "schedule",
    "interval",
    "warmup",
    "warmup_lr",
    "label_smoothing",
    "clip_grad",
    "augment",
    "init",
    "zero_init_residual",
    "amp",
    "channels_last",
    "tta",
    "batch_size",
)
# recipe fields given as KEY=VALUE pairs: their keys, and the key whose 0 turns the feature off
_DICT_OPTIONS = {
    "lookahead": (("every", "decay", "power"), "every"),
    "small_crops": (("size", "epochs"), "epochs"),
}
_FLAGS = {
    "schedule_params": "--schedule / --schedule-param",
    "epochs": "--epochs",
    "iterations": "--iterations",
}


def _flag(field_name: str) -> str:
    return _FLAGS.get(field_name, "--" + field_name.replace("_", "-"))


def _given(args: argparse.Namespace, recipe: Any) -> dict[str, Any]:
    """The recipe fields the command line sets."""
    from convzoo.train.options import parse_val_size

    if args.epochs is not None and args.iterations is not None:
        raise ValueError("--epochs and --iterations both set the run's length: give one of them")
    over: dict[str, Any] = {k: getattr(args, k) for k in _RECIPE_OPTIONS if getattr(args, k) is not None}
    if args.epochs is not None:
        over.update(epochs=args.epochs, iterations=None)
    if args.iterations is not None:
        over.update(iterations=args.iterations, epochs=None)
    if args.val_size is not None:
        over["val_size"] = parse_val_size(args.val_size)
    if args.schedule is not None and args.schedule != recipe.schedule:
        over["schedule_params"] = {}  # the recipe's parameters belong to its own schedule
    if args.schedule_param:
        over["schedule_params"] = {
            **over.get("schedule_params", recipe.schedule_params),
            **dict(args.schedule_param),
        }
    for option, (keys, off) in _DICT_OPTIONS.items():
        pairs = getattr(args, option)
        if pairs:
            merged = {**getattr(recipe, option), **dict(pairs)}
            unknown = sorted(set(merged) - set(keys))
            if unknown:
                raise ValueError(f"{_flag(option)} knows {', '.join(keys)}, not {', '.join(unknown)}")
            over[option] = {} if merged.get(off) == 0 else merged
    return over


def _folder_classes(data: str) -> list[str] | None:
    """The class folder names of an image folder ``data`` (without reading any image), else None."""
    train_dir = Path(data) / "train"
    try:
        return sorted(p.name for p in train_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:  # not a folder, or unreadable: loading the data says why
        return None


def build_config(args: argparse.Namespace, log: Callable[[str], None] | None = None) -> Any:
    """A :class:`TrainConfig` from parsed ``train`` arguments: the recipe (``--recipe``, or by default ``fast``
    adapted to the model and the data), then the options given. Each change to the recipe is recorded in its
    summary with its reason; ``log`` receives the default recipe's choices. Nothing is loaded or written.
    """
    from convzoo.train.options import default_changes
    from convzoo.train.recipes import get_recipe, paper_recipe, with_overrides
    from convzoo.train.trainer import TrainConfig

    model_args = dict(args.model_arg)
    recipe = get_recipe(args.recipe or "fast")
    changes: dict[str, Any] = {}
    reasons: dict[str, str] = {}
    if args.recipe is None:
        changes, reasons = default_changes(
            args.model, args.data, _folder_classes(args.data), model_args, per_class=args.per_class
        )
    given = _given(args, recipe)
    if log is not None and args.recipe is None:
        log("recipe: fast (the default; --recipe NAME for another, see `convzoo recipes`)")
        for k in sorted(set(changes) - set(given)):
            log(f"  {k} {getattr(recipe, k)!r} → {changes[k]!r}: {reasons[k]}")
        if paper_recipe(args.model):
            log(f"  the paper's own recipe: --recipe {paper_recipe(args.model)}")
    changes.update(given)
    reasons.update({k: _flag(k) for k in given})
    recipe = with_overrides(recipe, changes, reasons)
    return TrainConfig(
        model=args.model,
        data=args.data,
        recipe=recipe,
        data_root=args.data_root,
        per_class=args.per_class,
        image_size=args.image_size,
        seed=args.seed,
        out_dir=args.out,
        name=args.name,
        resume=args.resume,
        device=args.device,
        amp=args.amp,
        channels_last=args.channels_last,
        checkpoint_every=args.checkpoint_every,
        checkpoint_minutes=args.checkpoint_minutes,
        eval_every=args.eval_every,
        max_epochs=args.max_epochs,
        threads=args.threads,
        download=args.download,
        skip_bad_images=args.skip_bad_images,
        progress=args.progress,
        stream=args.stream,
        workers=args.workers,
        compile=args.compile,
        model_kwargs={**recipe.model_kwargs, **model_args},
    )


def _fail(e: BaseException, command: str) -> int:
    """``convzoo COMMAND: error: ...`` and the exit status (the scheme of :mod:`convzoo.cli`): 3 for a run whose
    loss stopped being finite (its last good checkpoint is kept); 1 for a failure that is not the input's, the
    same command works later: the run folder is in use by another convzoo process, the disk is full; else 2 (a
    usage error or bad input)."""
    print(f"convzoo {command}: error: {e}", file=sys.stderr)
    if isinstance(e, FloatingPointError):
        return 3
    return 1 if _busy_folder(e) or _disk_full(e) else 2


def _busy_folder(e: BaseException) -> bool:
    from convzoo.train.runfolder import RunFolderBusy

    return isinstance(e, RunFolderBusy)


def _disk_full(e: BaseException | None) -> bool:
    """Whether ``e`` or an exception it was raised from is "no space left" (or a disk quota exceeded)."""
    import errno

    seen: set[int] = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        e = e.__cause__ or (None if e.__suppress_context__ else e.__context__)
    return False


_USER_ERRORS = (
    ValueError,
    KeyError,
    TypeError,
    FileNotFoundError,
    FileExistsError,
    RuntimeError,
    OSError,
    FloatingPointError,
)


def _usage_error(e: BaseException) -> int:
    print(f"convzoo train: error: {e}", file=sys.stderr)
    return 2


def _configure(args: argparse.Namespace) -> Any:
    """The validated :class:`TrainConfig` of ``train`` arguments (printing the default recipe's choices), or
    the exit code of a usage error: bad options fail here, before any data is loaded or anything written."""
    from convzoo.registry import UnknownModelError, model_info
    from convzoo.train.options import validate_config

    try:
        if ":" not in args.model:
            model_info(args.model)  # unknown names fail here, with the closest names suggested
        choices: list[str] = []
        cfg = build_config(args, log=choices.append)
        validate_config(cfg)
    except (ValueError, TypeError, UnknownModelError) as e:
        return _usage_error(e)
    for line in choices:
        print(line)
    return cfg


def _run(cfg: Any) -> Any:
    """Train ``cfg``; the result, or the exit code of an error (printed)."""
    from convzoo.train.trainer import train

    try:
        return train(cfg)
    except _USER_ERRORS as e:
        return _fail(e, "train")
    except KeyboardInterrupt as e:  # the trainer stopped at a step boundary and says how to resume
        why = str(e) or (  # stopped before the loop took over Ctrl-C: nothing was trained or saved
            "interrupted while setting up (loading the data, building the model), before the first step; "
            "nothing was saved: to start, run the same command again"
        )
        print(f"stopped: {why}", file=sys.stderr)
        return 130


def _say_if_busy(threads: int | None, command: str, device: str = "cpu") -> None:
    """One line on stderr when other work holds the cores this command's threads need (rank 0 only)."""
    import os

    from convzoo.busy import busy_note, note_wanted

    if device.startswith("cuda") or os.environ.get("RANK", "0") != "0" or not note_wanted():
        return
    import torch

    note = busy_note(threads or torch.get_num_threads(), command)
    if note:
        print(note, file=sys.stderr)


def _cmd_train(args: argparse.Namespace) -> int:
    cfg = _configure(args)
    if isinstance(cfg, int):
        return cfg
    _say_if_busy(cfg.threads, "train", str(cfg.device))
    result = _run(cfg)
    if isinstance(result, int):
        return result
    last = result.metrics[-1] if result.metrics else {}
    acc = f"test accuracy {100 - last['test_err']:.2f}%" if "test_err" in last else "no test split"
    print(f"done: {acc}; {result.images_per_s:.0f} train images/s; run folder {result.run_dir}")
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from convzoo.train.inference import evaluate_checkpoint
    from convzoo.train.options import eval_warnings

    if args.weights_file and not args.weights:
        return _fail(ValueError(_FILE_NEEDS_SOURCE), "eval")
    if args.weights:  # a peer's pretrained weights: the first argument names the model
        try:
            return _weights_eval(args)
        except _USER_ERRORS as e:
            return _fail(e, "eval")

    for warning in eval_warnings(args.checkpoint, args.data, args.tta):
        print(warning, file=sys.stderr)
    split = args.split or ("val" if args.protocol else "test")
    try:
        if args.protocol:
            m = _protocol_eval(args, split)
        else:
            m = evaluate_checkpoint(
                args.checkpoint,
                args.data,
                data_root=args.data_root,
                per_class=args.per_class,
                split=split,
                tta=args.tta,
                model=args.model,
                skip_bad_images=args.skip_bad_images,
                optimize=args.optimize,
            )
    except _USER_ERRORS as e:
        return _fail(e, "eval")
    if args.json:
        print(json.dumps(m))
    else:
        print(
            f"{split}: {int(m['images'])} images, top-1 accuracy {100 - m['err']:.2f}%, "
            f"top-5 accuracy {100 - m['top5_err']:.2f}%, loss {m['loss']:.4f}"
        )
    return 0


def _weights_eval(args: argparse.Namespace) -> int:
    """``eval --weights SOURCE NAME --data FOLDER``: ImageNet accuracy with the source's own preprocessing."""
    from convzoo.hub.evaluate import evaluate_weights

    refused = [f"--{k.replace('_', '-')}" for k in ("protocol", "scales", "optimize", "model") if getattr(args, k)]
    refused += ["--tta"] if args.tta != "none" else []
    if refused:
        raise ValueError(
            f"{', '.join(refused)} do not apply to --weights: a source's weights are evaluated with its "
            "provider's own preprocessing (one centre crop), as the provider measured its accuracy"
        )
    if not args.data:
        raise ValueError("--weights needs --data FOLDER: ImageNet's layout (val/<wnid>/*, or a flat val/ "
                         "with the devkit)")  # fmt: skip
    split = args.split or "val"
    m, ws = evaluate_weights(
        args.checkpoint, args.weights, args.data, split, file=args.weights_file, per_class=args.per_class,
        workers=args.workers, skip_bad_images=args.skip_bad_images,
    )  # fmt: skip
    p = ws.preprocess
    how = f"{ws.describe()}, resize {p.resize} {p.interpolation} → crop {p.crop}" if p else ws.describe()
    if args.json:
        print(json.dumps({**m, "source": ws.source, "weights_name": ws.weights_name,
                          "published_top1": ws.top1, "published_top5": ws.top5}))  # fmt: skip
        return 0
    published = "" if ws.top1 is None else f" (published on the full val set: top-1 {ws.top1:.2f}%)"
    print(
        f"{split}: {int(m['images'])} images, top-1 accuracy {100 - m['err']:.2f}%, "
        f"top-5 accuracy {100 - m['top5_err']:.2f}%, loss {m['loss']:.4f}; {how}{published}"
    )
    return 0


def _protocol_eval(args: argparse.Namespace, split: str) -> dict[str, float]:
    """``eval --protocol``: stream ``DATA/<split>`` (class folders, or ImageNet's flat val with the devkit)
    through the paper's test protocol at the checkpoint's crop size and normalization."""
    from convzoo.data.protocols import evaluate_protocol, parse_scales
    from convzoo.data.stream import index_split
    from convzoo.train.inference import load_trained

    if not args.data:
        raise ValueError("--protocol needs --data FOLDER (an image folder with <split>/<class>/* files)")
    if args.tta != "none":
        raise ValueError("--tta and --protocol both choose the test views; pass one of them")
    if args.optimize:
        raise ValueError("--optimize does not apply to --protocol (the protocols rewrite the model's layers)")
    net, meta = load_trained(args.checkpoint, args.model)
    crop = meta.image_size[1]
    scales = parse_scales(args.scales, args.protocol, crop)
    on_bad = "skip" if args.skip_bad_images else "error"
    index = index_split(args.data, split, classes=meta.classes, on_bad=on_bad)
    if args.per_class:
        index = index.per_class(args.per_class)
    print(f"protocol {args.protocol}, scales {','.join(map(str, scales))}, crop {crop}", file=sys.stderr)
    return evaluate_protocol(
        net,
        index,
        args.protocol,
        meta.mean,
        meta.std,
        scales=scales,
        crop=crop,
        workers=args.workers,
        on_bad=on_bad,
    )


def _cmd_predict(args: argparse.Namespace) -> int:
    import torch

    from convzoo.train.inference import predict

    if args.threads:
        torch.set_num_threads(args.threads)
    _say_if_busy(args.threads, "predict")
    try:
        if args.weights and args.optimize:
            raise ValueError("--optimize applies to a checkpoint, not to a peer's --weights")
        if args.weights_file and not args.weights:
            raise ValueError(_FILE_NEEDS_SOURCE)
        if args.weights:  # a peer's pretrained weights: the first argument names the model
            from convzoo.hub import classify

            results = classify(
                args.checkpoint,
                args.weights,
                args.images,
                topk=args.top,
                file=args.weights_file,
                skip_bad_images=args.skip_bad_images,
            )
        else:
            results = predict(
                args.checkpoint,
                args.images,
                topk=args.top,
                model=args.model,
                skip_bad_images=args.skip_bad_images,
                optimize=args.optimize,
            )
    except _USER_ERRORS as e:
        return _fail(e, "predict")
    for path, top in zip(args.images, results, strict=True):
        if top is not None:
            print(path)
            for name, p in top:
                print(f"  {100 * p:6.2f}%  {name}")
    if all(top is None for top in results):
        return _fail(ValueError("none of the images could be read"), "predict")
    return 0


def _add_inference_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", help="run folder, checkpoint folder or .safetensors file")
    p.add_argument(
        "--model",
        help="build this model (registered name or package.module:function) instead of the one the file names; "
        "needed for a model of your own, since convzoo never imports code named by a file",
    )
    p.add_argument("--skip-bad-images", action="store_true", help="skip unreadable images with a note")
    p.add_argument(
        "--optimize",
        nargs="?",
        const="fp32",
        choices=["fp32", "bf16", "fp16"],
        help="run the inference module of convzoo.optimize: batch norms folded, channels_last, in this dtype "
        "(default fp32, exact to 1e-4; bf16/fp16 only where the CPU or GPU computes them natively); "
        "before the positional arguments write --optimize=DTYPE",
    )


_FILE_NEEDS_SOURCE = (
    "--weights-file is a local copy of a peer's weights: name the source with --weights (e.g. --weights torchvision)"
)


def _add_weights_args(p: argparse.ArgumentParser, example: str) -> None:
    add_weights_args(p, f"CHECKPOINT is then a model name; {example}")


def _cmd_recipes(args: argparse.Namespace) -> int:
    from convzoo.train.recipes import RECIPES, format_recipes

    if args.json:
        print(json.dumps({k: r.to_dict() for k, r in RECIPES.items()}, indent=2))
    else:
        print(format_recipes(verbose=args.verbose))
    return 0


def register(subparsers: Any) -> None:
    """Add ``train``, ``eval``, ``predict`` and ``recipes`` to an argparse subparsers object."""
    _add_train(subparsers)
    p = subparsers.add_parser("eval", help="evaluate a run or checkpoint on a dataset")
    _add_inference_args(p)
    p.add_argument("--data", help="dataset spec (default: the one it was trained on)")
    p.add_argument("--data-root")
    p.add_argument(
        "--split", choices=("test", "train", "val"), help="default: test, or val with --protocol (ImageNet's)"
    )
    p.add_argument(
        "--protocol",
        choices=("center", "10crop", "dense", "multicrop144"),
        help="a paper's test protocol on a streamed image folder: center (one 224 crop), 10crop (AlexNet), "
        "dense (VGG: FC layers as convolutions over whole images), multicrop144 (GoogLeNet); see docs/training.md",
    )
    p.add_argument(
        "--scales",
        type=WholeList(Whole(None, MAX_SIDE, "pixels on the shorter side"), most=16, as_text=True),
        help="with --protocol: shorter sides, e.g. 256,384,512 (default: the paper's)",
    )
    p.add_argument(
        "--workers",
        type=whole_number(0, MAX_WORKERS, WORKERS_WHY),
        default=0,
        help="with --protocol: DataLoader worker processes",
    )
    p.add_argument(
        "--tta",
        choices=TTA_MODES,
        default="none",
        help="test-time augmentation: flip averages each image's and its mirror's softmax, flip-translate "
        "also both shifted by ±1 pixel (6 views)",
    )
    p.add_argument("--per-class", type=whole_number(1), help="use only the first N images of each class")
    p.add_argument("--json", action="store_true")
    _add_weights_args(p, "evaluated with the source's own preprocessing on an ImageNet-layout --data folder")
    p.set_defaults(func=_cmd_eval)
    p = subparsers.add_parser("predict", help="top-5 classes of image files")
    _add_inference_args(p)
    p.add_argument("images", nargs="+")
    p.add_argument("--top", type=whole_number(1, MAX_CLASSES), default=5, help="how many classes to print (default 5)")
    p.add_argument(
        "--threads", type=whole_number(1, MAX_THREADS, THREADS_WHY), help="torch CPU threads (1 on a busy machine)"
    )
    _add_weights_args(p, "e.g. `convzoo predict --weights torchvision.v2 resnet50 cat.jpg`")
    p.set_defaults(func=_cmd_predict)
    p = subparsers.add_parser("recipes", help="list the training recipes and their sources")
    p.add_argument("-v", "--verbose", action="store_true", help="print every field")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_recipes)


def demo(out_dir: str = "runs") -> int:
    """Train LeNet-5 (modern variant) on scikit-learn's 8×8 digits upscaled to 32×32 with exactly what
    ``convzoo train lenet5_modern --data digits --image-size 32`` does (the default recipe, printed); print the
    accuracy and the run folder.
    """
    import time

    command = ["train", DEMO_MODEL, "--data", "digits", "--image-size", "32"]
    print(f"demo: convzoo {' '.join(command)}")
    name = f"demo-{DEMO_MODEL}-digits-{time.strftime('%Y%m%d-%H%M%S')}"
    parser = argparse.ArgumentParser(prog="convzoo")
    _add_train(parser.add_subparsers())
    cfg = _configure(parser.parse_args([*command, "--out", out_dir, "--name", name, "--no-progress"]))
    result = cfg if isinstance(cfg, int) else _run(cfg)
    if isinstance(result, int):
        return result
    acc = 100 - result.metrics[-1]["test_err"]
    print(
        f"demo: {DEMO_MODEL} on 8×8 digits (upscaled to 32×32), {len(result.metrics)} epochs in "
        f"{result.wall_s:.0f} s: test accuracy {acc:.2f}%"
    )
    print(f"run folder: {result.run_dir}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m convzoo.train {train,eval,predict,recipes,demo} ...``"""
    parser = argparse.ArgumentParser(prog="python -m convzoo.train")
    sub = parser.add_subparsers(dest="command", required=True)
    register(sub)
    sub.add_parser("demo", help="train the embedded digits demo").set_defaults(func=lambda a: demo())
    args = parser.parse_args(argv)
    return int(args.func(args))
