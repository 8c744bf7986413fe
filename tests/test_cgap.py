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


def test_candidate_saliency_is_the_outgoing_gradient():
    from neurocbram.analysis.cgap import candidate_saliency

    rng = np.random.default_rng(6)
    net = build("lenet300", (4, 3), seed=0)
    x, y = rng.random((20, 784)).astype(np.float32), rng.integers(0, 10, 20)
    grow_units(net, 0, [0, 1], rng)
    net.weighted[0].W[5] = 0.0  # a dead candidate (ReLU(0)): adding it cannot help
    net.weighted[0].b[5] = 0.0
    s = candidate_saliency(net, 0, [4, 5], x, y, normalize=False)
    _, g = net.loss_and_grads(x, y)
    assert s[0] == pytest.approx(float((g[2][:, 4].astype(float) ** 2).sum())) and s[0] > 0
    assert s[1] == 0.0
    cos2 = candidate_saliency(net, 0, [4, 5], x, y, normalize=True)  # squared cosine: scale-free, at most 1
    assert 0 < cos2[0] <= 1 and cos2[1] == 0.0
    net.weighted[0].W[4] *= 3.0  # a louder copy of the same unit explains the same error
    assert candidate_saliency(net, 0, [4], x, y, normalize=True)[0] == pytest.approx(cos2[0], rel=1e-4)


def test_growth_stops_by_saliency_before_the_cap():
    rng = np.random.default_rng(7)
    x = (rng.random((800, 784)) - 0.5).astype(np.float32)
    y = (x[:, :392].mean(1) > x[:, 392:].mean(1)).astype(int)  # easy: one linear feature
    cfg = CGaPConfig(seed_widths=(2, 2), max_widths=(200, 200), growth_rate=0.5, grow_every=30,
                     max_growth_steps=600, prune_every=10, final_steps=10, batch=50, patience=100,
                     growth_threshold=0.3, probe_size=300, baseline_widths=(8, 8))
    res = run_cgap(cfg, (x, y, x[:100], y[:100]), val_size=100, baseline=False)
    assert res.stopped_by == "layers stopped" and "saliency" in res.layer_stop
    assert all(p < m for p, m in zip(res.peak_widths, cfg.max_widths, strict=False))
    assert res.baseline_widths == [8, 8]
    assert max(res.peak_widths) > 2  # it did grow first
    with pytest.raises(ValueError, match="growth_threshold"):
        CGaPConfig(growth_threshold=1.5).validate()


def test_adam_moments_follow_growth_and_pruning():
    from neurocbram.analysis.cgap import _Trainer

    rng = np.random.default_rng(8)
    x, y = rng.random((100, 784)).astype(np.float32), rng.integers(0, 10, 100)
    cfg = CGaPConfig(seed_widths=(4, 3), max_widths=(10, 10), batch=20)
    tr = _Trainer(build("lenet300", (4, 3)), x, y, cfg, rng)
    tr.steps(3)
    m_before = [a.copy() for a in tr.opt._m]
    tr.grow(0, np.array([1, 2]))
    assert [a.shape for a in tr.opt._m] == [p.shape for p in tr.net.params]
    np.testing.assert_array_equal(tr.opt._m[0][:4], m_before[0])  # old units keep their moments
    assert not tr.opt._m[0][4:].any() and not tr.opt._v[2][:, 4:].any()  # new units start at 0
    tr.remove(0, np.array([0, 2, 5]))
    np.testing.assert_array_equal(tr.opt._m[0][:2], m_before[0][[0, 2]])
    assert [a.shape for a in tr.opt._v] == [p.shape for p in tr.net.params] and len(tr.sal[0]) == 3
    tr.steps(2)  # shapes agree, so training goes on
