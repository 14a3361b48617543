"""scripts/curves_add_lr.py: published curves get each epoch's rate from their committed arm files, or nothing
is written."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import curves_add_lr  # noqa: E402

PAGE = ROOT / "docs" / "repro" / "squeeze_excitation" / "cpu"


def _copy_without_rates(tmp_path: Path) -> Path:
    dest = tmp_path / "docs" / "squeeze_excitation" / "cpu"
    shutil.copytree(PAGE / "arms", dest / "arms")
    results = json.loads((PAGE / "results.json").read_text())
    for a in results["arms"]:
        for run in a["runs"]:
            for p in run["curve"]:
                p.pop("lr", None)
    (dest / "results.json").write_text(json.dumps(results, indent=1))
    return dest


def test_rates_come_back_from_the_committed_arms(tmp_path: Path) -> None:
    dest = _copy_without_rates(tmp_path)
    curves_add_lr.main(["--docs", str(tmp_path / "docs")])
    got = json.loads((dest / "results.json").read_text())
    for a in got["arms"]:
        for run in a["runs"]:
            arm = json.loads((dest / "arms" / f"{a['name']}-s{run['seed']}.json").read_text())
            assert [p["lr"] for p in run["curve"]] == [r["lr"] for r in arm["rows"]]
    before = (dest / "results.json").read_bytes()
    curves_add_lr.main(["--docs", str(tmp_path / "docs")])  # a second run changes nothing
    assert (dest / "results.json").read_bytes() == before


@pytest.mark.parametrize("tamper", ["arm_hash", "train_err", "missing"])
def test_a_mismatched_arm_file_stops_it_naming_the_file_and_writing_nothing(tmp_path: Path, tamper: str) -> None:
    dest = _copy_without_rates(tmp_path)
    arm_file = sorted((dest / "arms").iterdir())[0]
    arm = json.loads(arm_file.read_text())
    if tamper == "missing":
        arm_file.unlink()
    else:
        if tamper == "arm_hash":
            arm["arm_hash"] = "0" * 16
        else:
            arm["rows"][-1]["train_err"] += 1.0
        arm_file.write_text(json.dumps(arm))
    before = (dest / "results.json").read_bytes()
    with pytest.raises(SystemExit, match=str(arm_file.name)):
        curves_add_lr.main(["--docs", str(tmp_path / "docs")])
    assert (dest / "results.json").read_bytes() == before
