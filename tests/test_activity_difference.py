"""Activity-difference rule, energy network, Braille patterns and the Hopfield baseline."""

from __future__ import annotations

import numpy as np
import pytest

from neurocbram.analysis.activity_difference import (
    BrailleConfig,
    EnergyNetwork,
    activity_difference_update,
    hopfield_recall,
    hopfield_store,
    run_braille,
)
from neurocbram.analysis.braille import BRAILLE_DOTS, NAME_LENGTH, NAMES, cell, decode, distort, encode, patterns
from neurocbram.devices import DeviceCard
from neurocbram.devices.pulses import STUCK_OFF, STUCK_ON


def card(**variability) -> DeviceCard:
    return DeviceCard.from_dict({
        "name": "ad-test", "citation": "test",
        "conductance": {"g_min": 1e-6, "g_max": 1e-4}, "levels": 64,
        "pulses": {"set": {"amplitude": 1, "width": 1e-7}, "reset": {"amplitude": -1, "width": 1e-7}},
        "energy": {"set_pulse": 1e-12, "reset_pulse": 1e-12, "read": 1e-15},
        "response": {"model": "exponential", "a_set": 1.0, "a_reset": 1.0},
        "variability": variability,
    })


def test_update_rule_hand_computed_two_neurons():
    # pre rate 0.5, post free 0.3, post clamped 1.0: dW = lr * (1.0 * 0.5 - 0.3 * 0.5)
    dw = activity_difference_update([0.5], [0.3], [0.5], [1.0], lr=0.1)
    assert dw.shape == (1, 1) and dw[0, 0] == pytest.approx(0.035)
    assert activity_difference_update([0.5], [0.3], [0.5], [1.0], lr=0.1, beta=0.5)[0, 0] == pytest.approx(0.07)
    # batch mean of two examples
    dw = activity_difference_update([[1.0], [0.0]], [[0.2], [0.4]], [[1.0], [0.0]], [[0.6], [0.9]], lr=1.0)
    assert dw[0, 0] == pytest.approx((0.6 * 1.0 - 0.2 * 1.0) / 2)


def test_two_neuron_network_clamped_phase_update():
    net = EnergyNetwork((1, 1), seed=0)
    net.layers[0].w[:] = 0.4
    net.biases[0][:] = 0.1
    net.train_batch(np.array([[0.5]]), np.array([[1.0]]), lr=[0.1], clamp=True, free_steps=5, nudged_steps=5)
    free = 0.4 * 0.5 + 0.1
    assert net.weights[0][0, 0] == pytest.approx(0.4 + 0.1 * (1.0 * 0.5 - free * 0.5))
    assert net.biases[0][0] == pytest.approx(0.1 + 0.1 * (1.0 - free))


@pytest.mark.parametrize("symmetric", [False, True])
def test_nudged_update_equals_the_closed_form_of_a_linear_output_layer(symmetric):
    rng = np.random.default_rng(0)
    net = EnergyNetwork((3, 2), seed=1)
    net.layers[0].w[:] = rng.uniform(-0.1, 0.1, (2, 3))
    net.biases[0][:] = 0.5
    w0 = net.weights[0].copy()
    x = rng.uniform(0, 1, (4, 3))
    y = rng.uniform(0.3, 0.7, (4, 2))
    beta = 0.2
    a = x @ w0.T + 0.5  # inside (0, 1): rho is the identity there
    net.train_batch(x, y, lr=[1.0], beta=beta, free_steps=3, nudged_steps=200, symmetric=symmetric)
    # fixed point of o = a + b (y - o): o = (a + b y) / (1 + b)
    plus = (a + beta * y) / (1 + beta)
    minus = (a - beta * y) / (1 - beta) if symmetric else a
    expected = ((plus - minus).T @ x) / len(x) / (2 * beta if symmetric else beta)
    assert np.allclose(net.weights[0] - w0, expected, atol=1e-9)
    # and it points down the gradient of the squared error (o - y) x^T
    grad = ((a - y).T @ x) / len(x)
    assert np.sum(expected * grad) < 0


def test_network_on_a_card_keeps_stuck_devices_and_counts_pulses():
    c = card(stuck_on_rate=0.1, stuck_off_rate=0.1, c2c_sigma=0.05, d2d_sigma=0.1)
    net = EnergyNetwork((12, 8, 4), card=c, w_max=0.5, seed=0)
    rng = np.random.default_rng(0)
    x, y = rng.random((16, 12)), rng.random((16, 4))
    pulses = 0
    for _ in range(5):
        pulses += net.train_batch(x, y, lr=[0.5, 0.5], beta=0.5, free_steps=5, nudged_steps=3)["pulses"]
    counted = sum(lay.counts.set_pulses + lay.counts.reset_pulses for lay in net.crossbars)
    assert pulses == counted > 0
    for layer in net.crossbars:
        for g, pop in ((layer.g_pos, layer.pop_pos), (layer.g_neg, layer.pop_neg)):
            assert np.all(g[pop.stuck == STUCK_ON] == c.g_max)
            assert np.all(g[pop.stuck == STUCK_OFF] == c.g_min)


def test_braille_table_and_encoding():
    assert len(BRAILLE_DOTS) == 26
    assert list(cell("a")) == [1, 0, 0, 0, 0, 0]
    assert list(cell("W")) == [0, 1, 0, 1, 1, 1]  # w = dots 2-4-5-6
    assert list(cell("Z")) == [1, 0, 1, 0, 1, 1]  # z = dots 1-3-5-6
    # k-t are a-j plus dot 3
    for first, second in zip("ABCDEFGHIJ", "KLMNOPQRST"):
        assert np.array_equal(cell(second), cell(first) + np.eye(6)[2])
    p = patterns()
    assert p.shape == (9, 6 * NAME_LENGTH)
    assert [decode(row) for row in p] == list(NAMES)
    assert len(set(map(tuple, p))) == 9
    assert encode("KNUTH").shape == (6 * NAME_LENGTH,)


def test_distort_flips_the_exact_number_of_dots():
    p = patterns()
    d = distort(p, 0.25, seed=0)
    assert np.all((d != p).sum(axis=1) == round(0.25 * p.shape[1]))
    noisy = distort(p, 0.0, noise=0.1, seed=0)
    assert 0.08 < np.std(noisy - p) < 0.12


def test_hopfield_recalls_orthogonal_patterns():
    pats = np.array([[1, 0, 1, 0, 1, 0, 1, 0], [1, 1, 0, 0, 1, 1, 0, 0]], dtype=float)
    w = hopfield_store(pats)
    noisy = pats.copy()
    noisy[:, 0] = 1 - noisy[:, 0]
    assert np.array_equal(hopfield_recall(w, noisy, seed=0), pats)


def test_small_braille_run():
    config = BrailleConfig(hidden=32, steps=30, trials=2, flips=(0.0, 0.1), cards=(), seed=0)
    result = run_braille(config)
    assert set(result["methods"]) == {"ad-float", "backprop", "hopfield", "nearest-name"}
    assert len(result["examples"]["reconstructed"]) == 9


def test_bad_inputs_name_the_parameter():
    with pytest.raises(ValueError, match="flip_fraction"):
        distort(patterns(), 1.5)
    with pytest.raises(ValueError, match="noise"):
        distort(patterns(), 0.1, noise=-1)
    with pytest.raises(ValueError, match="letter"):
        cell("1")
    with pytest.raises(ValueError, match="longer"):
        encode("ABCDEFGHIJ")
    with pytest.raises(ValueError, match="beta"):
        activity_difference_update([1], [1], [1], [1], lr=1, beta=0)
    with pytest.raises(ValueError, match="shapes"):
        activity_difference_update([[1, 2]], [1], [1], [1], lr=1)
    with pytest.raises(ValueError, match="sizes"):
        EnergyNetwork((3,))
    with pytest.raises(ValueError, match="w_max"):
        EnergyNetwork((3, 2, 1), card=card(), w_max=(1.0,))
    with pytest.raises(ValueError, match="x must have shape"):
        EnergyNetwork((3, 2)).settle(np.zeros((1, 4)), 2)


def test_rate_command_rejects_bad_arguments():
    import argparse

    from neurocbram.commands import rate
    from neurocbram.devices.card import CardError

    parser = argparse.ArgumentParser()
    rate.add_arguments(parser)
    with pytest.raises(CardError, match="no-such-card"):
        rate.run(parser.parse_args(["activity-difference", "--task", "braille", "--cards", "no-such-card"]))
    with pytest.raises(SystemExit):
        parser.parse_args(["rsa", "--stuck-on", "1.5"])
    with pytest.raises(argparse.ArgumentTypeError, match=r"\[0, 1\]"):
        rate._fraction("-0.2")
    assert rate.HELP and callable(rate.run)
