"""README.md and docs/*.md stay true: every command and Python snippet in them is executed by a test.

What counts as a command: each line of a ```bash``` (or unlabelled) block and of an indented block that starts
with ``convzoo``, ``python``, ``make``, ``torchrun``, ``pip`` or ``.venv/bin/``, and each such inline `span`
without placeholders (``NAME``, ``RUN``, ``<name>``, ``...``, ``a|b``: those name a form, not a command). Output
lines (``convzoo bench: error: ...``) and paths (``convzoo/trust.py``) are not commands. Every ```python```
block is a snippet. :data:`PLANS` says how each is tested; a command or snippet without a plan fails
:func:`test_every_doc_command_and_snippet_has_a_plan`, so a new one cannot slip in untested, and a plan whose
command left the docs fails too.

How:

- ``run``: run as written (in-process ``convzoo.cli.main``, in a scratch folder holding the files the docs
  assume: ``cat.jpg``, ``cat.png``, ``dog.png``, ``docs/images/``, ``docs/repro``), exit status and output
  checked; ``slow`` the same, marked slow.
- ``cifar``: needs ``../shared/datasets/cifar10-jpg`` (skipped with that reason where it is absent); the run
  folders the command names (``runs/r20``, ``runs/resnet20``, ...) are trained first on a 2-image-per-class
  subset for one epoch, so the command itself runs as written.
- ``served``: downloads pretrained weights; the file is served on 127.0.0.1 (a randomly initialised
  state dict of the right network, the source's URL and checksum pointed at it), so the command runs as
  written against a real HTTP download.
- ``parse``: parsed by the real argument parser (``train`` also validated as it is before any data loads)
  but not run, with the reason: hours of training, ImageNet at ``/data/imagenet``, a second machine.
- ``covered``: another named test runs exactly this (the README's model table, the suite itself).
- ``skip``: not a command a test can run (a system package install, a web server that runs until stopped).

By rule rather than by entry: ``make TARGET`` must be a target of the Makefile, ``python benchmarks/X.py
--flag ...`` must name a script that declares each flag (benchmarks measure for minutes; they are run by hand
and their results committed), ``.venv/bin/pytest ... tests/X.py`` must name a test file. Substitutions
(``fill``) are listed in each plan: a placeholder filled, ``/data/imagenet`` pointed at a small folder of the
same layout.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import importlib.util
import re
import shlex
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
DOCS = ("README.md", *sorted(f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md")))
CIFAR = ROOT.parent / "shared" / "datasets" / "cifar10-jpg"
NO_CIFAR = f"needs CIFAR-10 as JPEG folders at {CIFAR} (../shared/datasets/cifar10-jpg), absent here"


def test_model_table_is_current() -> None:
    spec = importlib.util.spec_from_file_location("update_readme", ROOT / "scripts" / "update_readme.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    text = (ROOT / "README.md").read_text()
    assert mod.updated(text) == text, "README model table is stale: run `python scripts/update_readme.py`"


def test_readme_names_the_two_commands() -> None:
    text = (ROOT / "README.md").read_text()
    assert "make demo" in text and "make test" in text


# --- what the docs contain ----------------------------------------------------------------------------------

_SHELL_LANGS = {"bash", "sh", "shell", "console", ""}
_COMMAND_WORDS = ("convzoo", "python", "make", "torchrun", ".venv/bin/", "pip", "apt-get")
_PLACEHOLDER = re.compile(r"\.\.\.|\||<[a-z]+>|\[|\b(NAME|RUN|IMG|CLAIM|FILE|DIR|DTYPE|COMMAND|B|PATH|SOURCE)\b")
_JARGON = re.compile(r"\bissue \d+|\bissue's\b|\bstop \d+\b|\bthis session\b|\bwave \d\b", re.IGNORECASE)


@dataclass(frozen=True)
class Item:
    file: str
    line: int
    kind: str  # "shell", "inline" or "python"
    text: str

    @property
    def key(self) -> str:
        """A command's own text; a snippet's file and first statement (stable when lines move)."""
        if self.kind != "python":
            return self.text
        first = next(s for s in self.text.splitlines() if s.strip() and not s.startswith(("import ", "from ")))
        return f"{self.file}: {first.split('#')[0].strip()}"


def _commands(block: str) -> Iterator[str]:
    for line in re.sub(r"\\\n\s*", " ", block).splitlines():
        line = re.sub(r"\s+#\s.*$", "", line).strip()
        words = line.split()
        if not words or not line.startswith(_COMMAND_WORDS):
            continue
        if words[0].endswith(":") or (words[0].startswith("convzoo") and words[0] != "convzoo"):
            continue  # a path (convzoo/trust.py) or an output line
        if len(words) > 1 and words[1].endswith(":"):
            continue  # output: "convzoo bench: error: ..."
        yield " ".join(words)


def doc_items() -> list[Item]:
    items = []
    for name in DOCS:
        text = (ROOT / name).read_text()
        for m in re.finditer(r"(?ms)^```(\w*)\n(.*?)^```", text):
            line = text[: m.start()].count("\n") + 2
            if m.group(1) == "python":
                items.append(Item(name, line, "python", m.group(2)))
            elif m.group(1) in _SHELL_LANGS:
                items += [Item(name, line, "shell", c) for c in _commands(m.group(2))]
        prose = re.sub(r"(?ms)^```.*?^```", lambda m: "\n" * m.group(0).count("\n"), text)
        for m in re.finditer(r"(?m)^((?: {4}.*\n)+)", prose):
            items += [Item(name, prose[: m.start()].count("\n") + 1, "shell", c) for c in _commands(m.group(1))]
        for m in re.finditer(r"`([^`\n]+)`", prose):
            span = m.group(1).replace("\\|", "|")
            if not _PLACEHOLDER.search(span):
                items += [Item(name, prose[: m.start()].count("\n") + 1, "inline", c) for c in _commands(span)]
    return items


# --- how each is tested ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    how: str  # run, slow, cifar, cifar-slow, served, parse, covered, skip
    why: str = ""  # parse / covered / skip: the reason; otherwise what the check is about
    code: int = 0  # the exit status the docs promise
    expect: str = ""  # text the command prints (stdout or stderr)
    fill: tuple[tuple[str, str], ...] = ()  # (text, replacement) applied before running
    setup: str = ""  # python: names the snippet uses but does not define, defined first


RUN, SLOW = Plan("run"), Plan("slow")
IMAGENET = (("/data/imagenet", "imagenet"),)
HOURS = "trains for an hour or more (a paper recipe, or tens of CIFAR epochs); test_train runs the same loop"
MULTI = "torchrun on 2 processes (or 2 machines) training for an hour; tests/test_train's distributed test runs it"
IMAGENET_RUN = "needs a network trained on ImageNet at /data/imagenet; test_protocols runs every protocol"
CONSTRUCTOR_SETUP = "import torch\nimport torchvision\nmy_model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3))"

PLANS: dict[str, Plan] = {
    # README: a tour of the command line
    "convzoo list": Plan("run", expect="resnet50"),
    "convzoo info alexnet": Plan("run", expect="Krizhevsky"),
    "convzoo summary alexnet": Plan("run", expect="55×55"),
    "convzoo summary vgg16 --num-classes 2 --format keras": Plan("run", expect="Total params"),
    "convzoo summary resnet50 --depth 2 --format markdown": Plan("run", expect="| stages.0 | Sequential |"),
    "convzoo summary alexnet --input 3x224x224 --strict": Plan("run", code=2, expect="54.25"),
    "convzoo summary resnet50 --all-ops": RUN,
    "convzoo summary alexnet --shape-order hwc --columns input,output,kernel,stride,params_percent": Plan(
        "run", expect="55×55×96"
    ),
    "convzoo summary googlenet --paper": Plan("run", expect="Table 1"),
    "convzoo paper-check": Plan("slow", why="every registered model against its paper"),
    "convzoo paper-check --format json": Plan("slow", expect='"figure"'),
    "convzoo list --weights": Plan("run", expect="torchvision.v2 (IMAGENET1K_V2)"),
    "convzoo draw resnet34 -o resnet34.svg": Plan("slow", why="needs Graphviz's dot"),
    "convzoo chart -o chart.png": SLOW,
    "convzoo repro list": Plan("slow", expect="degradation"),
    "convzoo repro run degradation --budget cpu": Plan("parse", why="trains 4 arms on CIFAR-10 for about an hour"),
    "convzoo repro run degradation": Plan("parse", why="trains the claim's arms (an hour at the cpu budget)"),
    "convzoo repro run relu_vs_tanh --budget cpu": Plan("parse", why="trains the claim's arms for an hour"),
    "convzoo export resnet50 --format onnx -o r50.onnx": Plan("slow", expect="checked ONNX Runtime"),
    "convzoo bench resnet50 --batch 1,32 --backend eager,folded,compile,onnxruntime,openvino --threads 1": Plan(
        "parse", why="times 10 configurations of ResNet-50 for minutes; tests/test_bench runs bench on small nets"
    ),
    "convzoo output-size 227 11 0 4": Plan("run", expect="= 55"),
    # README: pretrained weights
    "convzoo summary resnet50 --weights torchvision.v2": Plan("run", expect="top-1 80.86%"),
    "convzoo predict --weights torchvision.v2 resnet50 cat.jpg": Plan("served", expect="cat.jpg"),
    "convzoo eval --weights timm resnet50 --data /data/imagenet": Plan(
        "served", expect="bicubic", fill=IMAGENET, why="/data/imagenet: a 2-class folder of ImageNet's layout"
    ),
    "convzoo export resnet50 --weights torchvision.v2 --format onnx -o r50.onnx": Plan(
        "served", expect="resize 232 (bilinear)"
    ),
    "convzoo visualize resnet50 filters --weights timm -o filters.png": Plan("served"),
    # README: training
    "convzoo recipes": Plan("run", expect="resnet110_cifar"),
    "convzoo recipes -v": RUN,
    "convzoo train resnet20_cifar --data cifar10-jpg --recipe fast --epochs 10": Plan("parse", why=HOURS),
    "convzoo train resnet110_cifar --data cifar10 --download --recipe resnet110_cifar": Plan(
        "parse", why="downloads CIFAR-10 (170 MB) and trains 64k iterations"
    ),
    "convzoo train resnet20_cifar --data cifar10-jpg --name r20 --resume": Plan("parse", why=HOURS),
    "convzoo eval runs/r20 --data cifar10-jpg": Plan("cifar-slow", expect="top-1 accuracy"),
    "convzoo eval runs/r20 --tta flip-translate": Plan("cifar-slow", expect="top-1 accuracy"),
    "convzoo predict runs/r20 cat.jpg": Plan("cifar", expect="cat.jpg"),
    "convzoo train airbench94 --data cifar10-jpg --recipe fast": Plan("parse", why="14 minutes of CIFAR-10"),
    "torchrun --nproc_per_node=2 -m convzoo train resnet20_cifar --data cifar10-jpg --recipe fast": Plan(
        "parse", why=MULTI
    ),
    "convzoo train resnet50 --data /data/imagenet --recipe resnet_imagenet --workers 8": Plan(
        "parse", why="ResNet-50 on ImageNet: days on one GPU"
    ),
    "torchrun --nnodes=2 --nproc_per_node=8 --rdzv_backend=c10d --rdzv_endpoint=HOST0:29500 --rdzv_id=r50 -m "
    "convzoo train resnet50 --data /data/imagenet --recipe resnet_imagenet --name r50 --resume": Plan(
        "parse", why="two machines of 8 GPUs"
    ),
    "convzoo eval runs/r50 --data /data/imagenet --protocol 10crop": Plan("parse", why=IMAGENET_RUN),
    "convzoo train lenet5_modern --data digits --image-size 32": Plan("slow", expect="test accuracy"),
    "convzoo predict runs/mine cat.jpg --model mypkg.nets:small": Plan(
        "parse", why="names the reader's own package mypkg; tests/test_trust runs --model package.module:function"
    ),
    # README: the optimizer lab, run and export
    "convzoo optim": SLOW,
    "convzoo optim --surface rosenbrock --optimizers sgd momentum adam --lr adam=0.05 --steps 500": SLOW,
    "convzoo optim --bias-correction": SLOW,
    "convzoo optim cnn": Plan("parse", why="trains one network per optimizer on a CIFAR-10 subset (minutes)"),
    "convzoo schedules": SLOW,
    "convzoo predict runs/resnet20 cat.png --optimize": Plan("cifar", expect="cat.png"),
    "convzoo export runs/resnet20 --format onnx -o r20.onnx": Plan("cifar-slow", expect="wrote r20.onnx"),
    # README: pictures, the site, the index
    "convzoo draw resnet50 -o resnet50.svg": Plan("slow", why="needs Graphviz's dot"),
    "convzoo chart --format csv": Plan("slow", expect="source"),
    "convzoo chart cifar": SLOW,
    "convzoo chart bubbles -o docs/images/chart_bubbles.png": SLOW,
    "convzoo site -o site": Plan("covered", why="tests/test_site.py builds the site and walks it in Chromium"),
    "python -m http.server -d site 8000": Plan("skip", why="serves the site until stopped"),
    "apt-get install graphviz": Plan("skip", why="a system package (make graphviz installs it where it can)"),
    "python scripts/update_readme.py": Plan("covered", why="test_model_table_is_current runs its updated()"),
    "python -m convzoo.models._index": Plan(
        "covered", why="tests/test_startup.py checks the index is what this command writes"
    ),
    "python -m convzoo.repro._macs": Plan(
        "covered", why="tests/test_startup.py checks macs.json is what this command writes"
    ),
    "convzoo --help": Plan("run", expect="exit status"),
    # docs/deploy.md
    "convzoo export resnet20_cifar --format onnx -o r20.onnx": Plan("slow", expect="wrote r20.onnx"),
    "convzoo export runs/resnet20 --format openvino -o r20.xml --optimize": Plan("cifar-slow", expect="r20.xml"),
    # docs/lab.md
    "convzoo optim --surface rosenbrock saddle --optimizers sgd momentum adam --lr adam=0.05 --steps 500": SLOW,
    "convzoo optim --surface all --no-gif --bias-correction": SLOW,
    "convzoo optim --surface ravine --start -9 2.5 --lr 0.5": SLOW,
    # docs/pictures.md
    "convzoo draw densenet264 --depth 2 -o d.png": Plan("slow", why="needs Graphviz's dot"),
    "convzoo draw inception_v4 --expand": Plan("slow", why="needs Graphviz's dot"),
    "convzoo draw resnet152 --columns 2 --dpi 150 -o r.png": Plan("slow", why="needs Graphviz's dot"),
    "convzoo draw vgg16 --direction LR --shape-order hwc": Plan("slow", why="needs Graphviz's dot"),
    "convzoo chart bubbles -o chart.png": SLOW,
    "convzoo chart bars": SLOW,
    "convzoo chart bubbles --models 'resnet*' --x params": SLOW,
    "convzoo chart cifar --runs docs/repro": SLOW,
    "convzoo visualize runs/resnet20_cifar filters": Plan("cifar"),
    "convzoo visualize runs/resnet20_cifar activations --image cat.png": Plan("cifar"),
    "convzoo visualize runs/resnet20_cifar top --layer stages.1 --channels 0,5,9 --data cifar10 --limit 512 "
    "--method guided": Plan("parse", why="reads CIFAR-10's binary files (--data cifar10), downloaded by --download"),
    "convzoo visualize vgg16 top --weights torchvision --weights-file vgg16-397923af.pth --data /data/imagenet-val "
    "--limit 500": Plan("parse", why="a 528 MB torchvision file and 500 ImageNet validation images"),
    "convzoo visualize runs/resnet20-fast top --limit 1000": Plan("cifar-slow"),
    "convzoo visualize runs/allcnn_c-adam filters": Plan("cifar"),
    "convzoo visualize runs/allcnn_c-adam top --limit 1000": Plan("cifar-slow"),
    # docs/training.md
    "python -m convzoo recipes": RUN,
    "python -m convzoo train resnet20_cifar --data cifar10-jpg --recipe fast --epochs 10": Plan("parse", why=HOURS),
    "python -m convzoo train resnet110_cifar --data cifar10 --download --recipe resnet110_cifar": Plan(
        "parse", why="downloads CIFAR-10 and trains 64k iterations"
    ),
    "python -m convzoo eval runs/<name> --data cifar10-jpg": Plan(
        "cifar-slow", expect="top-1 accuracy", fill=(("<name>", "r20"),)
    ),
    "python -m convzoo predict runs/<name> cat.jpg dog.png": Plan("cifar", expect="dog.png", fill=(("<name>", "r20"),)),
    "python -m convzoo train resnet20_cifar --data cifar10-jpg --name r20 --resume": Plan("parse", why=HOURS),
    "torchrun --nnodes=2 --nproc_per_node=8 --rdzv_backend=c10d --rdzv_endpoint=HOST0:29500 --rdzv_id=r50 -m "
    "convzoo train resnet50 --data /data/imagenet --recipe ... --name r50 --resume": Plan(
        "parse", why="two machines; the recipe left to the reader", fill=(("--recipe ...", "--recipe resnet_imagenet"),)
    ),
    "convzoo eval runs/r50 --data /data/imagenet --protocol center": Plan("parse", why=IMAGENET_RUN),
    "convzoo eval runs/vgg16 --data /data/imagenet --protocol dense --scales 256,384,512": Plan(
        "parse", why=IMAGENET_RUN
    ),
    "convzoo eval runs/googlenet --data /data/imagenet --protocol multicrop144 --workers 8": Plan(
        "parse", why=IMAGENET_RUN
    ),
    "convzoo demo": Plan("covered", why="make demo runs it; tests/test_repro.py runs the tour it prints"),
    # Python snippets
    'README.md: convzoo.list_models("resnet*")': Plan(
        "served",
        setup=f"{CONSTRUCTOR_SETUP}\ntv_model = torchvision.models.resnet50()\nx = torch.randn(1, 3, 64, 64)",
    ),
    'README.md: tf = convzoo.transforms("resnet50", weights="torchvision.v2")': Plan("served"),
    'docs/deploy.md: model = convzoo.create_model("resnet50").eval()': Plan(
        "slow", setup="import torch\nimages = torch.randn(2, 3, 224, 224)"
    ),
    'docs/deploy.md: read_export_metadata("r20.onnx")["classes"]': Plan(
        "slow", why="reads the file the export above writes",
        setup="from convzoo.cli import main\n"
        'assert main(["export", "resnet20_cifar", "--format", "onnx", "-o", "r20.onnx"]) == 0',
    ),
    'docs/deploy.md: to_onnx(model, "m.onnx", example)': Plan(
        "slow",
        setup="import torch, convzoo\nmodel = convzoo.create_model('resnet20_cifar').eval()\n"
        "example = torch.randn(2, 3, 32, 32)\nimages = torch.randn(3, 3, 32, 32)",
    ),
    'docs/lab.md: runs = race("ravine", ["sgd", "momentum", "adam"], lr={"adam": 0.5}, steps=300)': SLOW,
    'docs/pictures.md: d = convzoo.draw("resnet50", "resnet50.svg")': Plan("slow", why="needs Graphviz's dot"),
    'docs/training.md: splits = stream_splits("/data/imagenet", augment="resnet", crop=224)': Plan(
        "slow",
        why="the outline runs on a small folder of ImageNet's layout, one epoch, 2 workers",
        fill=IMAGENET + (("workers=8", "workers=2"), ("256, epoch", "4, epoch")),
        setup="import torch, convzoo\nmodel = convzoo.create_model('resnet18', num_classes=2).eval()\n"
        "epochs, rank, world, device = 1, 0, 1, 'cpu'",
    ),
}

BY_RULE = (
    (re.compile(r"^make (\S+)$"), "a Makefile target"),
    (re.compile(r"^python benchmarks/(\w+)\.py"), "a benchmark script with these flags"),
    (re.compile(r"^\.venv/bin/pytest -q (tests/\S+\.py)$"), "a test file of the suite"),
)
# Inline mentions of a command by its name alone: a reference, not an invocation (they parse as nothing).
REFERENCES = {
    "convzoo train", "convzoo draw", "convzoo repro", "convzoo chart", "convzoo summary", "convzoo bench",
    "convzoo predict", "convzoo visualize", "convzoo eval", "convzoo eval --tta", "convzoo repro docs", "convzoo",
    ".venv/bin/convzoo", "torchrun",
}  # fmt: skip


def _rule(text: str) -> str | None:
    return next((what for pattern, what in BY_RULE if pattern.search(text)), None)


def test_every_doc_command_and_snippet_has_a_plan() -> None:
    keys = {i.key: i for i in doc_items()}
    unplanned = [
        f"{i.file}:{i.line}: {k}" for k, i in keys.items() if k not in PLANS and k not in REFERENCES and not _rule(k)
    ]
    assert not unplanned, "commands or snippets in the docs without a plan in tests/test_readme.py:\n" + "\n".join(
        unplanned
    )
    stale = sorted(set(PLANS) - set(keys))
    assert not stale, f"plans for commands no longer in the docs: {stale}"


def test_commands_checked_by_rule_name_what_exists() -> None:
    makefile = (ROOT / "Makefile").read_text()
    for item in doc_items():
        text = item.key
        if m := BY_RULE[0][0].search(text):
            assert re.search(rf"(?m)^{re.escape(m[1])}:", makefile), f"{item.file}:{item.line}: no make target {m[1]}"
        elif m := BY_RULE[1][0].search(text):
            script = ROOT / "benchmarks" / f"{m[1]}.py"
            assert script.is_file(), f"{item.file}:{item.line}: no {script}"
            source = script.read_text()
            for flag in re.findall(r"(?<!\S)(--[a-z][\w-]*)", text):
                assert f'"{flag}"' in source, f"{item.file}:{item.line}: {script.name} has no option {flag}"
        elif m := BY_RULE[2][0].search(text):
            assert (ROOT / m[1]).is_file(), f"{item.file}:{item.line}: no {m[1]}"


def test_user_docs_speak_no_internal_jargon() -> None:
    found = [
        f"{name}:{n}: {m.group(0)!r}"
        for name in DOCS
        for n, line in enumerate((ROOT / name).read_text().splitlines(), 1)
        for m in _JARGON.finditer(line)
    ]
    assert not found, "internal references in user docs (say what is meant instead):\n" + "\n".join(found)


# --- running them ---------------------------------------------------------------------------------------------


def _picture(path: Path, size: tuple[int, int]) -> None:
    rng = np.random.default_rng(len(path.name))
    grad = np.linspace(0, 255, size[0] * size[1] * 3).reshape(size[1], size[0], 3)
    Image.fromarray((grad * 0.7 + rng.integers(0, 76, grad.shape)).astype(np.uint8)).save(path)


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A scratch folder the commands run in, with the files the docs assume."""
    for name, size in (("cat.jpg", (320, 240)), ("cat.png", (300, 260)), ("dog.png", (260, 300))):
        _picture(tmp_path / name, size)
    (tmp_path / "docs" / "images").mkdir(parents=True)
    (tmp_path / "docs" / "repro").symlink_to(ROOT / "docs" / "repro")
    for split in ("train", "val"):  # /data/imagenet's layout: two of ImageNet-1k's classes (tench, goldfish)
        for wnid in ("n01440764", "n01443537"):
            (tmp_path / "imagenet" / split / wnid).mkdir(parents=True)
            for i in range(2):
                _picture(tmp_path / "imagenet" / split / wnid / f"{wnid}_{i}.JPEG", (280 + 20 * i, 250))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _argv(text: str) -> list[str]:
    """The arguments after ``convzoo`` (``python -m convzoo``, ``torchrun ... -m convzoo``)."""
    words = shlex.split(text)
    for i, w in enumerate(words):
        if w == "convzoo" and (i == 0 or words[i - 1] == "-m"):
            return words[i + 1 :]
    raise AssertionError(f"not a convzoo command: {text}")


def _fill(text: str, plan: Plan, workspace: Path) -> str:
    for old, new in plan.fill:
        text = text.replace(old, str(workspace / new) if new == "imagenet" else new)
    return text


def _run(text: str, plan: Plan, workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from convzoo.cli import main

    try:
        code = main(_argv(_fill(text, plan, workspace)))
    except SystemExit as e:  # argparse's own --help and usage errors
        code = e.code if isinstance(e.code, int) else 2
    out = capsys.readouterr()
    said = out.out + out.err
    assert code == plan.code, f"`{text}` exited {code}, the docs promise {plan.code}:\n{said[-3000:]}"
    assert plan.expect in said, f"`{text}` did not print {plan.expect!r}:\n{said[-3000:]}"


def _parse(text: str, plan: Plan, workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from convzoo.cli import build_parser
    from convzoo.train.cli import _configure

    args = build_parser().parse_args(_argv(_fill(text, plan, workspace)))  # exits (fails) on a usage error
    if args.command == "train":
        cfg = _configure(args)  # every option validated, as before any data is loaded
        assert not isinstance(cfg, int), capsys.readouterr().err
    capsys.readouterr()


def _exec(item: Item, plan: Plan, workspace: Path) -> None:
    code = _fill(item.text, plan, workspace)
    namespace: dict[str, object] = {"__name__": "__doc_snippet__"}
    exec(compile(plan.setup, f"<setup of {item.key}>", "exec"), namespace)  # noqa: S102 - the docs' own code
    exec(compile(code, f"{item.file}:{item.line}", "exec"), namespace)  # noqa: S102


def _cases(*hows: str) -> list:  # type: ignore[type-arg]
    seen, cases = set(), []
    for item in doc_items():
        plan = PLANS.get(item.key)
        if plan is None or plan.how not in hows or item.key in seen:
            continue
        seen.add(item.key)
        marks = [pytest.mark.slow] if plan.how in ("slow", "served", "cifar-slow") or item.kind == "python" else []
        if plan.how == "slow" and "dot" in plan.why or "convzoo.draw" in item.text:
            marks.append(pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed"))
        if plan.how.startswith("cifar"):
            marks.append(pytest.mark.skipif(not CIFAR.is_dir(), reason=NO_CIFAR))
        cases.append(pytest.param(item, plan, id=item.key[:90], marks=marks))
    return cases


@pytest.mark.parametrize(("item", "plan"), _cases("run", "slow"))
def test_doc_command_runs(item: Item, plan: Plan, workspace: Path, capsys) -> None:
    if item.kind == "python":
        _exec(item, plan, workspace)
    else:
        _run(item.text, plan, workspace, capsys)


@pytest.mark.parametrize(("item", "plan"), _cases("parse"))
def test_doc_command_parses(item: Item, plan: Plan, workspace: Path, capsys) -> None:
    assert plan.why, f"say why `{item.text}` is only parsed"
    _parse(item.text, plan, workspace, capsys)


# --- trained runs for the commands that name one ---------------------------------------------------------------

RUN_MODELS = {"r20": "resnet20_cifar", "resnet20": "resnet20_cifar", "resnet20_cifar": "resnet20_cifar",
              "resnet20-fast": "resnet20_cifar", "allcnn_c-adam": "allcnn_c"}  # fmt: skip


@pytest.fixture(scope="module")
def trained_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """runs/<name> for every run the docs name: one epoch on 2 images per class of CIFAR-10."""
    from convzoo.cli import main

    root = tmp_path_factory.mktemp("doc-runs")
    for model in sorted(set(RUN_MODELS.values())):
        argv = ["train", model, "--data", "cifar10-jpg", "--per-class", "2", "--epochs", "1", "--batch-size", "10",
                "--name", model, "--out", str(root), "--no-progress", "--threads", "1"]  # fmt: skip
        assert main(argv) == 0, f"could not train the runs the docs use: {' '.join(argv)}"
    return root


@pytest.fixture(scope="module")
def cifar_subset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 100 test and 20 training images of each class of the real CIFAR-10 folder: the commands run
    as written, on a tenth of the test set (evaluating all 10,000 images took ~70 s a command on 2 cores)."""
    if not CIFAR.is_dir():
        pytest.skip(NO_CIFAR)
    root = tmp_path_factory.mktemp("cifar10-subset")
    for split, n in (("test", 100), ("train", 20)):
        for folder in sorted(p for p in (CIFAR / split).iterdir() if p.is_dir()):
            (root / split / folder.name).mkdir(parents=True)
            for image in sorted(folder.iterdir())[:n]:
                shutil.copyfile(image, root / split / folder.name / image.name)
    return root


@pytest.mark.parametrize(("item", "plan"), _cases("cifar", "cifar-slow"))
def test_doc_command_on_a_trained_run(
    item: Item, plan: Plan, workspace: Path, trained_runs: Path, cifar_subset: Path, capsys, monkeypatch
) -> None:
    for name, model in RUN_MODELS.items():
        shutil.copytree(trained_runs / model, workspace / "runs" / name)
    monkeypatch.setenv("CONVZOO_CIFAR10_JPG", str(cifar_subset))
    _run(item.text, plan, workspace, capsys)


# --- downloads served on 127.0.0.1 -----------------------------------------------------------------------------

SERVED = (("resnet50", "torchvision"), ("resnet50", "torchvision.v2"), ("resnet50", "timm"))


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised ResNet-50 in torchvision's key layout (timm's is the same), as safetensors."""
    import torchvision
    from safetensors.torch import save_file

    path = tmp_path_factory.mktemp("served") / "resnet50.safetensors"
    save_file(torchvision.models.resnet50().state_dict(), str(path))
    return path


@pytest.fixture
def served(weights_file: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Every source in SERVED downloads ``weights_file`` from a loopback server, checked against its digest."""
    from convzoo.hub import Checksum, find_source, sources

    body_path, digest = weights_file, hashlib.sha256(weights_file.read_bytes()).hexdigest()

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Length", str(body_path.stat().st_size))
            self.end_headers()
            with open(body_path, "rb") as f:
                shutil.copyfileobj(f, self.wfile)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    monkeypatch.setenv("CONVZOO_CACHE", str(tmp_path / "cache"))
    for model, source in SERVED:
        ws = find_source(model, source)  # with the provider's metadata (preprocessing, accuracy)
        url = f"http://127.0.0.1:{httpd.server_address[1]}/{model}/{source}/model.safetensors"
        checksum = Checksum(digest, provenance="the file this test serves")
        patched = dataclasses.replace(ws, url=url, checksum=checksum, file_size=body_path.stat().st_size, size_slack=0)
        monkeypatch.setitem(sources._SOURCES, (model, source), patched)
    sources._torchvision_meta.cache_clear()
    try:
        yield
    finally:
        sources._torchvision_meta.cache_clear()
        httpd.shutdown()
        httpd.server_close()


@pytest.mark.parametrize(("item", "plan"), _cases("served"))
def test_doc_command_with_downloaded_weights(item: Item, plan: Plan, workspace: Path, served: None, capsys) -> None:
    if item.kind == "python":
        _exec(item, plan, workspace)
    else:
        _run(item.text, plan, workspace, capsys)


def test_the_cifar_folder_is_where_the_docs_say(monkeypatch: pytest.MonkeyPatch) -> None:
    """`cifar10-jpg` is ../shared/datasets/cifar10-jpg relative to the repository (or $CONVZOO_CIFAR10_JPG)."""
    from convzoo.data.datasets import _cifar10_jpg_default

    monkeypatch.delenv("CONVZOO_CIFAR10_JPG", raising=False)
    assert _cifar10_jpg_default() == CIFAR
    assert "../shared/datasets/cifar10-jpg" in (ROOT / "README.md").read_text()


def test_the_doc_harness_finds_each_kind() -> None:
    kinds = {i.kind for i in doc_items()}
    assert kinds == {"shell", "inline", "python"}
