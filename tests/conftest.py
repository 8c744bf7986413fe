"""Shared fixtures: MNIST location, Brian2 device reset, scratch folders."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_MNIST = REPO.parent / "shared" / "data" / "mnist"


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """Folder holding the four MNIST IDX files (NEUROCBRAM_MNIST or ../shared/data/mnist)."""
    folder = Path(os.environ.get("NEUROCBRAM_MNIST", SHARED_MNIST))
    if not (folder / "t10k-labels-idx1-ubyte.gz").exists() and not (
        folder / "t10k-labels-idx1-ubyte"
    ).exists():
        pytest.skip(f"MNIST files not found in {folder}; set NEUROCBRAM_MNIST")
    return folder


@pytest.fixture(scope="session")
def mnist_train(mnist_dir: Path):
    """MNIST training images and labels (uint8 (60000, 28, 28), (60000,))."""
    from neurocbram.datasets import load_mnist

    return load_mnist("train", mnist_dir, download=False, progress=False)


@pytest.fixture(scope="session", autouse=True)
def _freeze_import_garbage():
    """Move import-time objects out of the GC's reach: Brian2's device reset calls
    gc.collect() after every test, which otherwise rescans them each time."""
    import gc

    import brian2  # noqa: F401
    import matplotlib

    matplotlib.use("Agg")
    gc.collect()
    gc.freeze()
    yield


@pytest.fixture(autouse=True)
def _reset_brian2():
    """Give every test a fresh Brian2 device and preferences (as brian2's own conftest does)."""
    yield
    import sys

    if "brian2" not in sys.modules:
        return
    from brian2 import defaultclock, ms, prefs, set_device
    from brian2.devices.device import reinit_devices

    # reinit without deleting: a standalone test may have used a cached build folder
    reinit_devices()
    set_device("runtime")
    prefs.reset_to_defaults()
    defaultclock.dt = 0.1 * ms
