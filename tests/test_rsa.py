"""MLP gradients, balanced RSA masks, sparse adaptation, and a tiny end-to-end RSA run."""

from __future__ import annotations

import numpy as np
import pytest

from neurocbram.analysis.mlp import MLP, SGD, Adam, train
from neurocbram.analysis.rsa import (
    SA0_STUCK_OFF_RATE,
    SA1_STUCK_ON_RATE,
    RSAConfig,
    balanced_sparse_mask,
    rsa_adapt,
    run_rsa,
)
from neurocbram.devices import DeviceCard


def tiny_card() -> DeviceCard:
    return DeviceCard.from_dict({
        "name": "tiny", "citation": "test",
        "conductance": {"g_min": 1e-6, "g_max": 1e-4}, "levels": 128,
        "pulses": {"set": {"amplitude": 1, "width": 1e-7}, "reset": {"amplitude": -1, "width": 1e-7}},
        "energy": {"set_pulse": 1e-12, "reset_pulse": 1e-12, "read": 1e-15},
        "response": {"model": "linear"},
    })


@pytest.mark.parametrize("activation,output", [("tanh", "softmax"), ("sigmoid", "sigmoid"), ("relu", "softmax")])
def test_mlp_gradients_match_finite_differences(activation, output):
    rng = np.random.default_rng(0)
    model = MLP((5, 4, 3), activation=activation, output=output, seed=1)
    x = rng.normal(size=(6, 5))
    y = rng.integers(0, 3, 6) if output == "softmax" else rng.random((6, 3))
    _, dws, dbs = model.loss_and_grads(x, y)
    eps = 1e-6
    for params, grads in ((model.weights, dws), (model.biases, dbs)):
        for p, g in zip(params, grads):
            for idx in np.ndindex(p.shape):
                old = p[idx]
                p[idx] = old + eps
                up = model.loss_and_grads(x, y)[0]
                p[idx] = old - eps
                down = model.loss_and_grads(x, y)[0]
                p[idx] = old
                assert abs((up - down) / (2 * eps) - g[idx]) < 1e-6


def test_mlp_learns_a_separable_problem_with_both_optimisers():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 2))
    y = (x[:, 0] + x[:, 1] > 0).astype(int)
    for opt in (Adam(1e-2), SGD(0.1)):
        model = MLP((2, 8, 2), seed=0)
        losses = train(model, x, y, epochs=20, batch=20, optimizer=opt)
        assert losses[-1] < losses[0]
        assert model.accuracy(x, y) > 0.95


def test_stuck_rates_are_the_cited_values():
    assert SA1_STUCK_ON_RATE == 0.0904 and SA0_STUCK_OFF_RATE == 0.0175
    config = RSAConfig()
    assert config.stuck_on_rate == SA1_STUCK_ON_RATE and config.levels == 32


@pytest.mark.parametrize("shape,fraction", [((300, 784), 0.05), ((100, 300), 0.05), ((10, 100), 0.05), ((7, 9), 0.5)])
def test_balanced_sparse_mask(shape, fraction):
    mask = balanced_sparse_mask(shape, fraction, seed=1)
    rows = mask.sum(axis=1)
    cols = mask.sum(axis=0)
    assert np.all(rows == round(fraction * shape[1]))
    assert cols.max() - cols.min() <= 1
    assert mask.sum() == rows.sum()
    other = balanced_sparse_mask(shape, fraction, seed=2)
    assert not np.array_equal(mask, other)


def test_rsa_adapt_changes_only_masked_cells_and_recovers():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 10))
    y = (x @ rng.normal(size=(10, 3))).argmax(axis=1)
    model = MLP((10, 16, 3), seed=0)
    train(model, x, y, epochs=30, batch=25, optimizer=Adam(1e-2))
    good = model.accuracy(x, y)
    damaged = [w + rng.normal(0, 0.5, w.shape) * (rng.random(w.shape) < 0.2) for w in model.weights]
    masks = [balanced_sparse_mask(w.shape, 0.3, rng) for w in model.weights]
    bad = model.accuracy(x, y, damaged)
    cells = rsa_adapt(model, damaged, masks, x, y, steps=300, batch=50, lr=1e-2, seed=0)
    for c, m in zip(cells, masks):
        assert np.all(c[~m] == 0)
    assert model.accuracy(x, y, [d + c for d, c in zip(damaged, cells)]) > bad
    assert good > bad


def test_run_rsa_end_to_end_on_a_tiny_problem():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 12)).astype(np.float32)
    y = (x @ rng.normal(size=(12, 4))).argmax(axis=1)
    model = MLP((12, 20, 4), seed=0)
    train(model, x, y, epochs=20, batch=20, optimizer=Adam(1e-2))
    config = RSAConfig(rsa_steps=40, eval_every=20, rsa_fraction=0.25, rvw_max_pulses=32)
    result = run_rsa(config, card=tiny_card(), model=model, data=(x, y, x, y))
    acc = result["accuracy"]
    assert set(acc) == {"float", "quantised_ideal", "faulty_one_shot", "rsa", "rvw"}
    assert result["rsa"]["rram_pulses_after_programming"] == 0
    assert result["rvw"]["pulses"] > 0 and result["rvw"]["verify_reads"] > 0
    assert result["curves"]["rsa"][-1]["step"] == 40
    assert abs(result["stuck_device_fraction"] - (SA1_STUCK_ON_RATE + SA0_STUCK_OFF_RATE)) < 0.05


def test_rsa_config_errors_name_the_parameter():
    with pytest.raises(ValueError, match="stuck_on_rate"):
        RSAConfig(stuck_on_rate=1.5).validate()
    with pytest.raises(ValueError, match="rsa_fraction"):
        RSAConfig(rsa_fraction=-0.1).validate()
    with pytest.raises(ValueError, match="levels"):
        RSAConfig(levels=1).validate()
    with pytest.raises(ValueError, match="fraction"):
        balanced_sparse_mask((3, 3), 2.0)
    with pytest.raises(ValueError, match="x must have shape"):
        MLP((3, 2)).forward(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="activation"):
        MLP((3, 2), activation="gelu")  # type: ignore[arg-type]
