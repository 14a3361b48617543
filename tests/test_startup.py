"""Instant commands (DESIGN §8, Floors): ``--help``, ``list``, ``info``, ``output-size`` and ``recipes`` import
neither torch nor the model code. Their start-up time is measured by ``benchmarks/startup.py``, not here."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest

from convzoo import registry

HEAVY = ("torch", "torchvision", "matplotlib", "onnx", "numpy", "PIL", "convzoo.models")

# Runs the CLI in a fresh interpreter, then prints which heavy modules it imported.
_PROBE = (
    "import sys\n"
    "sys.argv = ['convzoo', *sys.argv[1:]]\n"
    "from convzoo.cli import main\n"
    "try:\n"
    "    rc = main()\n"
    "except SystemExit as e:\n"
    "    rc = e.code\n"
    f"print('\\n#heavy', [m for m in {HEAVY!r} if m in sys.modules], rc)\n"
)


def _heavy_imports(*argv: str) -> tuple[list[str], str]:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, *argv], capture_output=True, text=True, timeout=120, check=False
    ).stdout
    line = [ln for ln in out.splitlines() if ln.startswith("#heavy ")][-1]
    heavy, rc = line.removeprefix("#heavy ").rsplit(" ", 1)
    assert rc in ("0", "None"), out
    return json.loads(heavy.replace("'", '"')), out


@pytest.mark.parametrize(
    "argv",
    [
        ("--help",),
        ("list",),
        ("list", "resnet*", "--format", "json"),
        ("info", "resnet50"),
        ("info", "googlenet", "--format", "json"),
        ("output-size", "227", "11", "0", "4"),
        ("recipes",),
        ("train", "--help"),
        ("repro", "--help"),
    ],
)
def test_instant_commands_import_no_torch(argv: tuple[str, ...]) -> None:
    heavy, out = _heavy_imports(*argv)
    assert heavy == [], f"convzoo {' '.join(argv)} imported {heavy}"
    if argv[0] == "info" and argv[1] == "resnet50":
        assert "top-1 76.13%" in out  # the weights' provider metadata, from the index


def test_index_is_current() -> None:
    """models/index.json is what the families declare now; after changing a family, the registry or the weight
    sources, run ``python -m convzoo.models._index``."""
    from convzoo.models._index import index_text

    assert registry.INDEX_PATH.read_text(encoding="utf-8") == index_text(), (
        "convzoo/models/index.json is not current: run python -m convzoo.models._index"
    )
    assert registry._index() is not None


def test_index_entries_are_the_registry() -> None:
    index = registry._index()
    assert index is not None
    assert sorted(index) == registry.list_models() == sorted(registry._REGISTRY)
    for name, entry in index.items():
        meta = registry._info_from_dict(entry)
        assert meta.to_dict() == registry.model_info(name).to_dict()
        assert meta.reported == registry.model_info(name).reported


def test_model_meta_builds_and_suggests() -> None:
    index = registry._index()
    assert index is not None
    meta = registry._info_from_dict(index["lenet5"])
    assert meta.fn().__class__.__name__ == registry.model_info("lenet5").fn().__class__.__name__
    with pytest.raises(registry.UnknownModelError, match="resnet50"):
        registry.model_meta("resnet_50")


def test_stale_index_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "index_fingerprint", lambda: "changed")
    registry._index.cache_clear()
    try:
        assert registry._index() is None
        assert registry.model_meta("resnet50") is registry.model_info("resnet50")
        assert registry.weights_meta("resnet50") is None
        assert "resnet50" in registry.list_models()
    finally:
        monkeypatch.undo()
        registry._index.cache_clear()


@pytest.mark.parametrize(
    "package", ["convzoo", "convzoo.inspect", "convzoo.train", "convzoo.deploy", "convzoo.viz", "convzoo.repro",
                "convzoo.lab"],
)  # fmt: skip
def test_lazy_packages_export_everything(package: str) -> None:
    mod = importlib.import_module(package)
    for name in mod.__all__:
        value = getattr(mod, name)
        assert not isinstance(value, type(sys)), f"{package}.{name} is a module, not the export"
    assert set(mod.__all__) <= set(dir(mod))


def test_exported_name_survives_its_submodule() -> None:
    """``convzoo.inspect.summary`` stays the function after ``convzoo/inspect/summary.py`` is imported."""
    import convzoo.inspect
    import convzoo.inspect.summary  # noqa: F401

    assert callable(convzoo.inspect.summary) and not isinstance(convzoo.inspect.summary, type(sys))
    from convzoo.inspect import summary

    assert summary.__module__ == "convzoo.inspect.summary"


def test_column_names_match_the_table() -> None:
    from convzoo.inspect.columns import COLUMN_NAMES, DEFAULT_COLUMNS
    from convzoo.inspect.summary import COLUMNS

    assert tuple(COLUMNS) == COLUMN_NAMES
    assert set(DEFAULT_COLUMNS) <= set(COLUMN_NAMES)


def test_bench_choices_are_bench_s() -> None:
    from convzoo.deploy import bench, bench_choices

    for name in ("AGAINST", "BACKENDS", "DTYPES", "PEERS"):
        assert getattr(bench, name) is getattr(bench_choices, name)


def test_create_model_with_weights_goes_through_the_hub_loader() -> None:
    import convzoo.hub.load

    registry._ensure_loaded()
    assert registry._WEIGHTS_LOADER is convzoo.hub.load.pretrained_model


def test_repro_list_builds_no_network() -> None:
    """``repro list`` reads each arm's multiply-adds from ``convzoo/repro/macs.json`` and the models' metadata
    from the index: no torch, no family (SciPy's t quantiles give the power table)."""
    heavy, out = _heavy_imports("repro", "list")
    assert [m for m in heavy if m not in ("numpy",)] == [], f"convzoo repro list imported {heavy}"
    assert "time on this machine" in out and "resolves" in out


def test_macs_index_is_current() -> None:
    """``convzoo/repro/macs.json`` holds what the counter says today for every arm ``repro list`` plans; after
    changing a family, a layer or the inspector, run ``python -m convzoo.repro._macs``."""
    from convzoo.repro import estimate
    from convzoo.repro._macs import macs_text

    assert estimate.MACS_PATH.read_text(encoding="utf-8") == macs_text(), (
        "convzoo/repro/macs.json is not current: run python -m convzoo.repro._macs"
    )


def test_stale_macs_index_counts_afresh(monkeypatch: pytest.MonkeyPatch) -> None:
    from convzoo.repro import estimate
    from convzoo.repro.registry import get_claim

    arm = get_claim("degradation").arm("resnet20")
    fresh = estimate.arm_macs(arm, (3, 32, 32))
    monkeypatch.setattr(registry, "index_fingerprint", lambda sources=registry.INDEX_SOURCES: "changed")
    estimate._macs_index.cache_clear()
    estimate._macs.cache_clear()
    try:
        assert estimate._macs_index() == {}
        assert estimate.arm_macs(arm, (3, 32, 32)) == fresh == (40_551_040, 269_722)  # He et al.: 0.27 M
    finally:
        monkeypatch.undo()
        estimate._macs_index.cache_clear()
        estimate._macs.cache_clear()
