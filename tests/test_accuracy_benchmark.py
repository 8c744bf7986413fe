"""Argument checks of benchmarks/accuracy.py (they run before any data is loaded)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "accuracy.py"


@pytest.mark.parametrize(("option", "value"), [("--images", "0"), ("--label-images", "0"),
                                               ("--label-images", "60001")])
def test_out_of_range_image_counts_are_refused(option, value, tmp_path):
    run = subprocess.run([sys.executable, str(SCRIPT), option, value, "--out", str(tmp_path / "run")],
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 2
    assert f"{option} must lie in 1..60000" in run.stderr
    assert not (tmp_path / "run").exists()  # refused before any work
