"""NumPy conv/pool layers: gradients vs finite differences, shapes, masks, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from neurocbram.analysis.conv import (
    Conv2D, Dense, Flatten, MaxPool2D, ReLU, Sequential, lenet5, mlp_net, train_net, unrolled,
)
from neurocbram.analysis.mlp import Adam


def _numeric_grad(net, x, y, p, eps=1e-6):
    num = np.zeros_like(p)
    for i in np.ndindex(p.shape):
        old = p[i]
        p[i] = old + eps
        lp = net.loss_and_grads(x, y)[0]
        p[i] = old - eps
        lm = net.loss_and_grads(x, y)[0]
        p[i] = old
        num[i] = (lp - lm) / (2 * eps)
    return num


def _small_cnn(first_conv: bool = True) -> Sequential:
    layers = [Conv2D(2, 3, 3, padding=1, seed=1, dtype=np.float64), ReLU(), MaxPool2D(2),
              Conv2D(3, 2, 3, seed=2, dtype=np.float64), ReLU(), Flatten(),
              Dense(2 * 2 * 2, 4, seed=3, dtype=np.float64)]
    if not first_conv:
        layers = [Flatten()] + layers
    return Sequential(layers, (2, 8, 8))


def test_gradients_match_finite_differences():
    rng = np.random.default_rng(0)
    net = _small_cnn()
    x = rng.standard_normal((4, 2, 8, 8))
    y = rng.integers(0, 4, 4)
    _, grads = net.loss_and_grads(x, y)
    for p, g in zip(net.params, grads, strict=False):
        np.testing.assert_allclose(g, _numeric_grad(net, x, y, p), atol=1e-7, rtol=1e-5)


def test_input_gradient_of_conv_and_pool():
    rng = np.random.default_rng(1)
    conv, pool = Conv2D(2, 3, 3, padding=1, seed=0, dtype=np.float64), MaxPool2D(2)
    x = rng.standard_normal((2, 2, 6, 6))
    w_out = rng.standard_normal((2, 3, 3, 3))

    def f(xx):
        return float((pool.forward(conv.forward(xx)) * w_out).sum())

    pool.forward(conv.forward(x, train=True), train=True)
    dx = conv.backward(pool.backward(w_out))
    num = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + 1e-6
        fp = f(x)
        x[i] = old - 1e-6
        fm = f(x)
        x[i] = old
        num[i] = (fp - fm) / 2e-6
    np.testing.assert_allclose(dx, num, atol=1e-6)


def test_conv_matches_direct_loop():
    rng = np.random.default_rng(2)
    conv = Conv2D(2, 3, 3, padding=1, seed=0, dtype=np.float64)
    x = rng.standard_normal((1, 2, 5, 5))
    out = conv.forward(x)
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    ref = np.zeros((1, 3, 5, 5))
    for f in range(3):
        for i in range(5):
            for j in range(5):
                ref[0, f, i, j] = (xp[0, :, i:i + 3, j:j + 3] * conv.W[f]).sum() + conv.b[f]
    np.testing.assert_allclose(out, ref, atol=1e-12)


def test_lenet5_shapes_and_params():
    net = lenet5(0)
    assert net.n_params() == 61706
    x = np.zeros((3, 784), dtype=np.float32)
    assert net.logits(x).shape == (3, 10)
    assert [unrolled(w).shape for w in net.weights] == [(6, 25), (16, 150), (120, 400), (84, 120), (10, 84)]


def test_masked_weights_stay_exactly_zero_through_training():
    rng = np.random.default_rng(3)
    net = mlp_net((20, 16, 5), seed=0)
    masks = [rng.random(w.shape) < 0.3 for w in net.weights]
    net.set_masks(masks)
    x = rng.random((200, 20)).astype(np.float32)
    y = rng.integers(0, 5, 200)
    before = [w.copy() for w in net.weights]
    train_net(net, x, y, epochs=2, batch=20, optimizer=Adam(1e-2))
    for w, m, b in zip(net.weights, masks, before, strict=False):
        assert np.all(w[~m] == 0.0)
        assert not np.allclose(w[m], b[m])  # the kept weights did train


def test_bad_input_raises():
    with pytest.raises(ValueError):
        Dense(0, 3)
    with pytest.raises(ValueError):
        Conv2D(1, -2, 3)
    with pytest.raises(ValueError):
        lenet5(widths=(6, 16, 120))
    net = mlp_net((10, 4, 3))
    with pytest.raises(ValueError):
        net.logits(np.zeros((2, 11)))
    with pytest.raises(ValueError):
        net.set_masks([np.ones((4, 9)), None])
    with pytest.raises(ValueError):
        MaxPool2D(2).forward(np.zeros((1, 1, 5, 4)))


def test_from_mlp_shares_weights_and_function():
    from neurocbram.analysis.conv import from_mlp
    from neurocbram.analysis.mlp import lenet_300_100

    mlp = lenet_300_100(seed=1)
    net = from_mlp(mlp)
    x = np.random.default_rng(5).random((4, 784)).astype(np.float32)
    np.testing.assert_allclose(net.predict(x), mlp.predict(x), atol=1e-5)
    net.weights[0][:] = 0
    assert not mlp.weights[0].any()


def test_lenet5_caffe_parameter_count():
    from neurocbram.analysis.conv import lenet5_caffe

    net = lenet5_caffe(0)
    assert net.n_params() == 431080  # Han et al. (NeurIPS 2015), Table 1
    assert net.logits(np.zeros((2, 784), np.float32)).shape == (2, 10)


def test_cosine_schedule_anneals_and_restores_lr():
    from neurocbram.analysis.conv import cosine_lr

    assert cosine_lr(0.1, 0, 100) == pytest.approx(0.1)
    assert cosine_lr(0.1, 50, 100) == pytest.approx(0.05)
    assert cosine_lr(0.1, 100, 100) == pytest.approx(0.0, abs=1e-12)
    rng = np.random.default_rng(5)
    x, y = rng.random((40, 6)).astype(np.float32), rng.integers(0, 2, 40)
    net, seen = mlp_net((6, 4, 2)), []
    opt = Adam(0.01)
    train_net(net, x, y, epochs=1, batch=10, optimizer=opt, lr_schedule="cosine",
              on_step=lambda step, loss: seen.append(opt.lr))
    assert seen[0] == pytest.approx(0.01) and seen == sorted(seen, reverse=True)
    assert opt.lr == 0.01  # the optimizer's own rate comes back after the run
    with pytest.raises(ValueError, match="lr_schedule"):
        train_net(net, x, y, lr_schedule="step")
