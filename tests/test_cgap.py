"""CGaP: growth keeps the function, pruning slices consistently, a tiny run, errors."""

from __future__ import annotations

import numpy as np
import pytest

from neurocbram.analysis.cgap import (
    CGaPConfig, build, flops, grow_units, harder_mnist, remove_units, run_cgap, unit_saliency, widths,
)


@pytest.mark.parametrize("arch,w", [("lenet300", (5, 4)), ("lenet5", (2, 3, 5, 4))])
def test_growth_keeps_the_function(arch, w):
    rng = np.random.default_rng(0)
    net = build(arch, w, seed=0)
    x = rng.random((6, 784)).astype(np.float32)
    before = net.logits(x)
    for k in range(len(w)):
        grow_units(net, k, [0, 1, 1], rng, noise=0.5)
    assert widths(net) == [v + 3 for v in w]
    np.testing.assert_allclose(net.logits(x), before, atol=1e-5)
    # the new units are live: their outgoing weights get a nonzero gradient
    y = rng.integers(0, 10, 6)
    _, grads = net.loss_and_grads(x, y)
    assert np.abs(grads[2]).sum() > 0


def test_remove_units_equals_zeroing_them():
    rng = np.random.default_rng(1)
    net = build("lenet5", (3, 4, 6, 5), seed=1)
    x = rng.random((4, 784)).astype(np.float32)
    ref = build("lenet5", (3, 4, 6, 5), seed=1)
    ref.weighted[1].W[[0, 2]] = 0  # conv2 maps 0 and 2 silenced (ReLU(0 + b)): zero their bias too
    ref.weighted[1].b[[0, 2]] = 0
    remove_units(net, 1, [1, 3])
    np.testing.assert_allclose(net.logits(x), ref.logits(x), atol=1e-5)
    assert widths(net) == [3, 2, 6, 5]
    assert flops(net) < flops(ref)


def test_saliency_shapes():
    rng = np.random.default_rng(2)
    net = build("lenet300", (7, 3))
    _, g = net.loss_and_grads(rng.random((5, 784)), rng.integers(0, 10, 5))
    s = unit_saliency(net, g)
    assert [v.shape for v in s] == [(7,), (3,)] and all(np.all(v >= 0) for v in s)


def test_tiny_run_grows_and_prunes():
    rng = np.random.default_rng(3)
    x = rng.random((600, 784)).astype(np.float32)
    y = (x[:, :392].sum(1) > x[:, 392:].sum(1)).astype(int)
    cfg = CGaPConfig(seed_widths=(2, 2), max_widths=(12, 6), grow_every=20, max_growth_steps=100,
                     prune_every=10, final_steps=10, batch=50, patience=10)
    res = run_cgap(cfg, (x, y, x[:100], y[:100]), val_size=100)
    assert max(h["widths"][0] for h in res.history) > 2
    assert res.final_widths[0] <= res.peak_widths[0]
    assert res.params < res.baseline_params


def test_harder_mnist_is_deterministic_and_bounded():
    x = np.random.default_rng(4).random((10, 784)).astype(np.float32)
    a, b = harder_mnist(x, seed=1), harder_mnist(x, seed=1)
    assert np.array_equal(a, b) and a.min() >= 0 and a.max() <= 1


def test_bad_input_raises():
    with pytest.raises(ValueError):
        build("lenet300", (-1, 4))
    with pytest.raises(ValueError):
        build("lenet5", (1, 2))
    with pytest.raises(ValueError):
        build("vgg", (1, 2))
    with pytest.raises(ValueError):
        CGaPConfig(seed_widths=(0, 5)).validate()
    with pytest.raises(ValueError):
        CGaPConfig(seed_widths=(400, 5)).validate()
    with pytest.raises(ValueError):
        harder_mnist(np.zeros((2, 10)))
    net = build("lenet300", (4, 3))
    with pytest.raises(ValueError):
        grow_units(net, 2, [0], np.random.default_rng())
    with pytest.raises(ValueError):
        remove_units(net, 0, [])
