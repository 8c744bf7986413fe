"""The float re-implementation of Diehl & Cook in benchmarks/float_reference.py (a cross-check)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "float_reference.py"


@pytest.fixture(scope="module")
def reference():
    sys.path.insert(0, str(PATH.parent))  # the scripts import their shared helper by name
    try:
        spec = importlib.util.spec_from_file_location("float_reference", PATH)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(PATH.parent))
    return module


def test_learning_keeps_bounds_sums_and_the_spike_lock(reference, mnist_train):
    images = mnist_train[0][:30]
    net = reference.FloatNetwork(12, seed=0, spike_lock_ms=50.0)
    w0 = net.w.copy()
    counts = net.run(images, learn=True)
    assert counts.shape == (30, 12) and (counts.sum(axis=1) >= 5).mean() > 0.8
    assert counts.max() <= 7  # one spike per 50 ms at most: 350 ms hold 7
    assert net.w.min() >= 0.0 and net.w.max() <= 1.0 and not np.allclose(net.w, w0)
    # normalised to 78 before the last presentation, then moved by that presentation's STDP only
    assert np.abs(net.w.sum(axis=0) - 78.0).max() < 1.0
    theta = net.state[3]
    assert (theta > 20.0).any() and (theta >= 20.0 * np.exp(-30 * 500 / 1e7) - 1e-9).all()


def test_frozen_run_changes_nothing(reference, mnist_train):
    net = reference.FloatNetwork(8, seed=1)
    net.run(mnist_train[0][:10], learn=True)
    w, theta = net.w.copy(), net.state[3].copy()
    counts = net.run(mnist_train[0][10:20], learn=False)
    np.testing.assert_array_equal(net.w, w)
    np.testing.assert_array_equal(net.state[3], theta)
    assert counts.sum() > 0


def test_bad_arguments_are_named(reference, capsys):
    for argv, name in ((["--neurons", "0"], "--neurons"), (["--spike-lock-ms", "-1"], "--spike-lock-ms")):
        with pytest.raises(SystemExit):
            reference.main(argv)
        assert name in capsys.readouterr().err
