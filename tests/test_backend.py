"""Array backend of the rate-coded networks: NumPy everywhere, CuPy on a GPU when present.

The GPU tests need CuPy and a CUDA device and are skipped without them (CI has
neither); they check that a network trained on the GPU follows the CPU run.
This file uses no conftest fixture, so it runs alone with ``--noconftest``.
"""

from __future__ import annotations

import copy
import importlib.util

import numpy as np
import pytest

from neurocbram.analysis.backend import array_module, check_device, device_of, to_device, to_numpy
from neurocbram.analysis.conv import Conv2D, Dense, Flatten, MaxPool2D, ReLU, Sequential, train_net
from neurocbram.analysis.mlp import SGD, Adam
from neurocbram.analysis.small_world import Rewiring, compare_pruning, magnitude_masks


def _gpu_available() -> bool:
    if importlib.util.find_spec("cupy") is None:
        return False
    import cupy

    try:
        return cupy.cuda.runtime.getDeviceCount() > 0
    except cupy.cuda.runtime.CUDARuntimeError:
        return False


GPU = _gpu_available()
needs_gpu = pytest.mark.skipif(not GPU, reason="needs CuPy and a CUDA GPU")


def _small_cnn(dtype=np.float64) -> Sequential:
    rng = np.random.default_rng(3)
    layers = [Conv2D(1, 4, 3, padding=1, seed=rng, dtype=dtype), ReLU(), MaxPool2D(2),
              Conv2D(4, 6, 3, seed=rng, dtype=dtype), ReLU(), MaxPool2D(2), Flatten(),
              Dense(6 * 3 * 3, 16, seed=rng, dtype=dtype), ReLU(), Dense(16, 3, seed=rng, dtype=dtype)]
    return Sequential(layers, (1, 16, 16))


def _toy_data(n: int = 240, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three classes of 16x16 images: a bright bar at one of three heights, plus noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = rng.random((n, 1, 16, 16)) * 0.3
    for i, c in enumerate(y):
        x[i, 0, 3 + 5 * c:5 + 5 * c, 2:14] += 1.0
    return x.reshape(n, -1), y


def test_cpu_backend_and_bad_device():
    a = np.arange(6.0)
    assert array_module(a) is np and array_module([1, 2]) is np
    assert device_of(a) == "cpu" and to_device(a, "cpu") is a
    np.testing.assert_array_equal(to_numpy([1, 2]), [1, 2])
    for bad in ("gpu", "CUDA", None):
        with pytest.raises(ValueError, match="device must be one of"):
            check_device(bad)
    net = _small_cnn()
    assert net.device == "cpu" and net.to("cpu") is net
    with pytest.raises(ValueError, match="device"):
        net.to("tpu")
    x, y = _toy_data(60)
    with pytest.raises(ValueError, match="device"):
        compare_pruning("lenet300", (x, y, x, y), device="gpu")


@pytest.mark.skipif(importlib.util.find_spec("cupy") is not None, reason="CuPy is installed")
def test_cuda_without_cupy_says_what_is_missing():
    with pytest.raises(RuntimeError, match="CuPy"):
        _small_cnn().to("cuda")


@needs_gpu
@pytest.mark.parametrize("optimizer", [Adam(3e-3), SGD(0.05)], ids=["adam", "sgd"])
def test_gpu_training_follows_the_cpu_run(optimizer):
    x, y = _toy_data()
    cpu, gpu = _small_cnn(), _small_cnn().to("cuda")
    masks = [np.random.default_rng(k).random(w.shape) < 0.7 for k, w in enumerate(cpu.weights)]
    cpu.set_masks(masks)
    gpu.set_masks(masks)
    assert gpu.device == "cuda" and all(device_of(p) == "cuda" for p in gpu.params)
    loss_cpu = train_net(cpu, x, y, epochs=3, batch=20, optimizer=copy.deepcopy(optimizer), seed=1)
    loss_gpu = train_net(gpu, x, y, epochs=3, batch=20, optimizer=copy.deepcopy(optimizer), seed=1)
    np.testing.assert_allclose(loss_gpu, loss_cpu, rtol=1e-9)
    for w_cpu, w_gpu, m in zip(cpu.params, gpu.params, [m for m in masks for _ in (0, 1)], strict=True):
        np.testing.assert_allclose(to_numpy(w_gpu), w_cpu, rtol=1e-8, atol=1e-10)
    for layer, m in zip(gpu.weighted, masks, strict=True):
        assert not to_numpy(layer.W)[~m].any()  # pruned weights stayed exactly 0
    np.testing.assert_allclose(gpu.predict(x), cpu.predict(x), atol=1e-9)
    assert gpu.accuracy(x, y) == cpu.accuracy(x, y) > 0.9
    assert cpu.layers[3].grad_sq == pytest.approx(gpu.layers[3].grad_sq, rel=1e-6)
    back = copy.deepcopy(gpu).to("cpu")
    assert back.device == "cpu" and isinstance(back.weights[0], np.ndarray)


@needs_gpu
def test_magnitude_masks_of_gpu_weights():
    w = np.random.default_rng(0).standard_normal((20, 30)).astype(np.float32)
    (m_gpu,) = magnitude_masks([to_device(w, "cuda")], [0.1])
    (m_cpu,) = magnitude_masks([w], [0.1])
    assert isinstance(m_gpu, np.ndarray)
    np.testing.assert_array_equal(m_gpu, m_cpu)


@needs_gpu
def test_compare_pruning_on_the_gpu_matches_the_cpu():
    rng = np.random.default_rng(2)
    x, y = rng.random((700, 784)).astype(np.float32), rng.integers(0, 10, 700)
    x[np.arange(700), y * 70] += 3.0  # one telling pixel per class
    kw = {"sparsities": [0.9], "ps": [0.3], "epochs": 2, "val_size": 200, "card": None, "seed": 0,
          "rewiring": Rewiring(0.3, every=2)}
    cpu = compare_pruning("lenet300", (x, y, x[:300], y[:300]), **kw)
    gpu = compare_pruning("lenet300", (x, y, x[:300], y[:300]), device="cuda", **kw)
    assert gpu["device"] == "cuda"
    assert gpu["dense"]["accuracy"] == pytest.approx(cpu["dense"]["accuracy"], abs=2 / 300)
    for r_cpu, r_gpu in zip(cpu["runs"], gpu["runs"], strict=True):
        assert r_gpu["sparsity"] == r_cpu["sparsity"]
        assert r_gpu["accuracy"] == pytest.approx(r_cpu["accuracy"], abs=2 / 300)
