"""benchmarks/recipe_sweep.py: UCR sets exported as the npz that `data.name=uea` would load, and jobs
run side by side into JSON lines, a late one stopped at the deadline with what it had."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dualbranch.data.series import load_uea

pytest.importorskip("aeon")

SCRIPT = Path(__file__).parents[1] / "benchmarks" / "recipe_sweep.py"


def _sweep(*args: str) -> None:
    subprocess.run([sys.executable, str(SCRIPT), *args], check=True, capture_output=True, text=True)


def test_export_matches_the_uea_loader(tmp_path: Path) -> None:
    _sweep("export-ucr", str(tmp_path), "ItalyPowerDemand")
    for split in ("train", "test"):
        expected = load_uea("ItalyPowerDemand", split)
        with np.load(tmp_path / f"ItalyPowerDemand_{split}.npz") as saved:
            np.testing.assert_array_equal(saved["x"], expected.x)
            np.testing.assert_array_equal(saved["y"], expected.y)
            assert tuple(saved["class_names"]) == expected.class_names


def test_jobs_run_and_a_late_one_is_stopped(tmp_path: Path) -> None:
    _sweep("export-ucr", str(tmp_path), "ItalyPowerDemand")
    data = [
        "data.name=signal_npz",
        f"data.path={tmp_path / 'ItalyPowerDemand_train.npz'}",
        f"data.test_path={tmp_path / 'ItalyPowerDemand_test.npz'}",
        "trainer.threads=1",
    ]
    jobs = [
        {"name": "short", "overrides": [*data, "optim.budget=20"]},
        {"name": "long", "overrides": [*data, "optim.budget=100000"]},
        {"name": "never started", "overrides": data},
    ]
    (tmp_path / "jobs.json").write_text(json.dumps(jobs))
    out = tmp_path / "out.jsonl"
    _sweep("run", str(tmp_path / "jobs.json"), str(out), "--workers", "1", "--deadline", "30")

    rows = {row["name"]: row for row in map(json.loads, out.read_text().splitlines())}
    assert rows["short"]["returncode"] == 0 and 0.0 <= rows["short"]["accuracy"] <= 1.0
    assert rows["short"]["recipe"]["model.name"] == "rocketformer" and rows["short"]["epochs_done"] == 2
    assert rows["long"]["returncode"] != 0 and rows["long"]["accuracy"] is None  # stopped at the deadline
    assert rows["never started"]["skipped"] is True
