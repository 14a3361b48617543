"""Suite-wide settings: cores shared fairly between xdist workers, a dataset cache of the run's own, and no
busy-machine note on stderr (``CONVZOO_QUIET_LOAD=1``; ``tests/test_busy.py`` unsets it for its own tests).

Under ``pytest -n N`` each worker (and every subprocess a test starts) gets ``cores // N`` intra-op threads,
so N workers never oversubscribe the machine (OpenMP threads spinning on a busy core make a step ~10× slower).
Decoded-image caches go to a folder under the run's basetemp, shared by its workers (writes are atomic), so the
suite never fills the user's ``~/.cache/convzoo`` with caches of its temporary folders.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import torch


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def threads_per_worker(workers: int, cores: int) -> int:
    """Intra-op threads for one of ``workers`` processes sharing ``cores``: at least one."""
    return max(1, cores // max(1, workers))


def pytest_configure(config: pytest.Config) -> None:
    # no "machine is busy" note from bench/train/predict (the load often exceeds CI's 2 cores under -n 2):
    # tests compare stderr line by line; inherited by subprocesses; tests/test_busy.py unsets it for its own
    os.environ.setdefault("CONVZOO_QUIET_LOAD", "1")
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0"))
    if workers > 1:
        threads = threads_per_worker(workers, _cores())
        torch.set_num_threads(threads)
        os.environ["OMP_NUM_THREADS"] = str(threads)  # inherited by the subprocesses tests start


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """``$CONVZOO_CACHE`` is a folder of this run's (shared by its xdist workers) unless the user set one."""
    if "CONVZOO_CACHE" in os.environ:
        yield
        return
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # each worker's basetemp is a subfolder of the run's
    os.environ["CONVZOO_CACHE"] = str(root / "convzoo-cache")
    try:
        yield
    finally:
        os.environ.pop("CONVZOO_CACHE", None)


def _own_module_fixtures(item: pytest.Item) -> bool:
    """Whether ``item`` uses a (non-autouse) module-scoped fixture defined in its own test module."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return False
    module = item.nodeid.split("::")[0]
    autouse = set(info.initialnames) - set(info.argnames)
    return any(
        defs and name not in autouse and defs[-1].scope == "module" and defs[-1].baseid == module
        for name, defs in info.name2fixturedefs.items()
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under xdist, ``slow`` tests are collected first, so none of the longest is the last thing a worker
    runs while the other idles. Tests sharing a module fixture with a slow test move with it (the fixture,
    e.g. a reference training run, is built once per worker, not again after other modules)."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return
    first = {i.nodeid.split("::")[0] for i in items if i.get_closest_marker("slow") and _own_module_fixtures(i)}

    def late(item: pytest.Item) -> bool:
        shares = item.nodeid.split("::")[0] in first and _own_module_fixtures(item)
        return not (item.get_closest_marker("slow") or shares)

    items.sort(key=late)
