"""Crossbar layer: reads, quantisation, read-verify-write counting, stuck devices, errors."""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from neurocbram.analysis.crossbar import CrossbarLayer, check_fraction

from neurocbram.devices import DeviceCard, load_card
from neurocbram.devices.card import CardError
from neurocbram.devices.pulses import STUCK_NONE, STUCK_OFF, STUCK_ON


def make_card(model: str = "linear", levels: int = 64, **variability) -> DeviceCard:
    data = {
        "name": f"test-{model}",
        "citation": "test card",
        "conductance": {"g_min": 1e-6, "g_max": 1e-4},
        "levels": levels,
        "pulses": {"set": {"amplitude": 1.0, "width": 1e-7}, "reset": {"amplitude": -1.0, "width": 1e-7}},
        "energy": {"set_pulse": 1e-12, "reset_pulse": 2e-12, "read": 1e-15},
        "response": {"model": model} if model == "linear" else {"model": model, "a_set": 0.5, "a_reset": 0.3},
        "variability": variability,
    }
    return DeviceCard.from_dict(data)


def test_ideal_read_equals_matrix_product_within_quantisation():
    rng = np.random.default_rng(0)
    w = rng.uniform(-1, 1, size=(30, 40))
    layer = CrossbarLayer(make_card(), w.shape, w_max=1.0, levels=32, seed=1)
    layer.program(w)
    half_step = 0.5 / 31
    assert np.max(np.abs(layer.weights - w)) <= half_step + 1e-12
    x = rng.random((5, 40))
    y = layer.read(x)
    assert np.max(np.abs(y - x @ w.T)) <= half_step * x.sum(axis=1).max() + 1e-9
    assert np.allclose(layer.read(x[0]), y[0])
    yt = layer.read(rng.random(30), transpose=True)
    assert yt.shape == (40,)
    assert layer.counts.vector_reads == 5 + 1 + 1
    assert layer.counts.device_reads == 7 * 2 * w.size


def test_unquantised_ideal_layer_is_exact_and_weights_clip():
    w = np.array([[0.3, -0.7], [2.0, -5.0]])
    layer = CrossbarLayer(make_card(), w.shape, w_max=1.0, levels=None, seed=0)
    layer.program(w)
    assert np.allclose(layer.weights, np.clip(w, -1, 1))


def test_read_noise_statistics():
    w = np.full((1, 100), 0.5)
    layer = CrossbarLayer(make_card(), w.shape, w_max=1.0, levels=None, read_noise=0.05, seed=3)
    layer.program(w)
    x = np.ones((4000, 100))
    y = layer.read(x)[:, 0]
    g_pos, g_neg = layer.g_pos, layer.g_neg
    expected_std = np.sqrt(np.sum((g_pos**2 + g_neg**2) * 0.05**2)) * layer.scale
    assert abs(y.mean() - 50.0) < 4 * expected_std / np.sqrt(4000) + 1e-9
    assert abs(y.std() / expected_std - 1) < 0.1


def test_rvw_converges_and_counts_every_pulse_and_read():
    card = make_card(levels=200, write_sigma=0.3)
    w = np.random.default_rng(2).uniform(-1, 1, size=(20, 25))
    twin = CrossbarLayer(card, w.shape, w_max=1.0, levels=32, seed=7)
    twin.program(w, "one-shot")
    g0 = np.concatenate([twin.g_pos, twin.g_neg])
    layer = CrossbarLayer(card, w.shape, w_max=1.0, levels=32, seed=7)
    tol = 0.5 * layer.span / 31
    report = layer.program(w, "rvw", predictive=False, max_pulses=1000)
    t_pos, t_neg = layer.targets(w)
    target = np.concatenate([t_pos, t_neg])
    g = np.concatenate([layer.g_pos, layer.g_neg])
    assert np.all(np.abs(g - target) <= tol)
    assert report.converged == 1.0
    # a linear device moves by exactly one step per pulse: count the pulses by hand
    step = layer.span / card.levels
    err = np.abs(g0 - target)
    k = np.where(err > tol, np.ceil((err - tol) / step), 0).astype(int)
    assert report.pulses == k.sum() == layer.counts.set_pulses + layer.counts.reset_pulses
    assert report.reads == (k + 1).sum() == layer.counts.verify_reads
    assert layer.counts.one_shot_writes == 2 * w.size
    assert report.iterations == k.max()


def test_rvw_predictive_on_nonlinear_card_with_faults():
    card = make_card("exponential", levels=64, write_sigma=0.2, c2c_sigma=0.02, d2d_sigma=0.05,
                     stuck_on_rate=0.05, stuck_off_rate=0.05)
    w = np.random.default_rng(3).uniform(-1, 1, size=(30, 30))
    layer = CrossbarLayer(card, w.shape, w_max=1.0, levels=32, seed=4)
    one_shot_error = None
    twin = CrossbarLayer(card, w.shape, w_max=1.0, levels=32, seed=4)
    twin.program(w)
    one_shot_error = np.abs(twin.weights - w)[~twin.stuck_mask()].mean()
    report = layer.program(w, "rvw", max_pulses=200)
    healthy = ~layer.stuck_mask()
    assert np.abs(layer.weights - w)[healthy].mean() < one_shot_error / 3
    assert report.stuck_found <= int((layer.pop_pos.stuck != 0).sum() + (layer.pop_neg.stuck != 0).sum())
    assert report.pulses == layer.counts.set_pulses + layer.counts.reset_pulses


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    stuck_on=st.floats(0.0, 0.5),
    stuck_off=st.floats(0.0, 0.5),
    seed=st.integers(0, 10_000),
    model=st.sampled_from(["linear", "exponential"]),
    method=st.sampled_from(["one-shot", "rvw"]),
    state_aware=st.booleans(),
)
def test_stuck_devices_never_change(stuck_on, stuck_off, seed, model, method, state_aware):
    card = make_card(model, levels=32, c2c_sigma=0.1, d2d_sigma=0.2, write_sigma=0.2,
                     stuck_on_rate=stuck_on, stuck_off_rate=stuck_off)
    rng = np.random.default_rng(seed)
    layer = CrossbarLayer(card, (6, 7), w_max=1.0, levels="card", seed=seed)
    stuck = np.concatenate([layer.pop_pos.stuck, layer.pop_neg.stuck])

    def check():
        g = np.concatenate([layer.g_pos, layer.g_neg])
        assert np.all(g[stuck == STUCK_ON] == card.g_max)
        assert np.all(g[stuck == STUCK_OFF] == card.g_min)
        assert np.all((g >= card.g_min) & (g <= card.g_max))

    check()
    layer.program(rng.uniform(-1, 1, (6, 7)), method, max_pulses=20)
    check()
    for _ in range(5):
        layer.update(rng.normal(0, 0.3, (6, 7)), state_aware=state_aware)
        check()
    healthy = stuck == STUCK_NONE
    assert healthy.sum() + (stuck != STUCK_NONE).sum() == stuck.size


def test_update_moves_weights_in_the_requested_direction_and_counts_pulses():
    layer = CrossbarLayer(make_card(levels=100), (4, 5), w_max=1.0, levels=None, seed=0)
    layer.program(np.zeros((4, 5)))
    delta = np.full((4, 5), 0.1)
    delta[0] = -0.1
    pulses = layer.update(delta, stochastic=False)
    assert pulses == 20 * 10
    assert np.allclose(layer.weights, delta)
    assert layer.counts.set_pulses == 200 and layer.counts.reset_pulses == 0
    layer.update(-1.5 * delta, stochastic=False)  # crosses zero: 10 RESETs on one device, 5 SETs on the other
    assert np.allclose(layer.weights, -0.5 * delta)
    assert layer.counts.reset_pulses == 200 and layer.counts.set_pulses == 300
    layer.update(np.full((4, 5), 0.5), stochastic=False)  # at most max_pulses=16 per device per update
    assert layer.counts.reset_pulses + layer.counts.set_pulses == 500 + 16 * 20


def test_state_aware_update_tracks_the_request_on_a_nonlinear_card():
    card = make_card("exponential", levels=64)
    errors = {}
    for state_aware in (False, True):
        layer = CrossbarLayer(card, (50, 50), w_max=1.0, levels=None, seed=0)
        layer.program(np.random.default_rng(1).uniform(-0.8, 0.8, (50, 50)))
        w0 = layer.weights.copy()
        delta = np.random.default_rng(2).choice([-0.05, 0.05], size=(50, 50))
        reads = layer.counts.verify_reads
        layer.update(delta, state_aware=state_aware)
        errors[state_aware] = np.mean(np.abs(layer.weights - w0 - delta))
        if state_aware:
            assert layer.counts.verify_reads - reads == 2 * delta.size
    assert errors[True] < 0.5 * errors[False]


def test_stochastic_pulse_rounding_is_unbiased():
    layer = CrossbarLayer(make_card(levels=100), (100, 100), w_max=1.0, levels=None, seed=0)
    n = layer.pulse_counts(np.full((100, 100), 0.0025))  # a quarter of a pulse
    assert abs(n.mean() - 0.25) < 0.02
    for state_aware in (False, True):
        layer = CrossbarLayer(make_card(levels=100), (100, 100), w_max=1.0, levels=None, seed=1)
        layer.program(np.full((100, 100), 0.3))
        delta = np.where(np.arange(100) % 2, 0.0025, -0.0025)[None, :].repeat(100, 0)
        layer.update(delta, state_aware=state_aware)
        change = layer.weights - 0.3
        assert abs(change[:, 1::2].mean() - 0.0025) < 0.0004
        assert abs(change[:, ::2].mean() + 0.0025) < 0.0004


def test_layer_read_speed_784x300_batch_1000():
    layer = CrossbarLayer(make_card(), (300, 784), w_max=1.0, seed=0)
    layer.program(np.random.default_rng(0).uniform(-1, 1, (300, 784)))
    x = np.random.default_rng(1).random((1000, 784))
    layer.read(x)
    t0 = time.perf_counter()
    layer.read(x)
    assert time.perf_counter() - t0 < 2.0  # generous: shared CI machines


def test_bad_inputs_name_the_parameter():
    card = make_card()
    with pytest.raises(ValueError, match="shape"):
        CrossbarLayer(card, (3,))
    with pytest.raises(ValueError, match="w_max"):
        CrossbarLayer(card, (2, 2), w_max=-1)
    with pytest.raises(ValueError, match="levels"):
        CrossbarLayer(card, (2, 2), levels=1)
    with pytest.raises(ValueError, match="read_noise"):
        CrossbarLayer(card, (2, 2), read_noise=-0.1)
    layer = CrossbarLayer(card, (2, 3))
    with pytest.raises(ValueError, match="w must have the layer shape"):
        layer.program(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="method"):
        layer.program(np.zeros((2, 3)), "magic")
    with pytest.raises(ValueError, match="x must have shape"):
        layer.read(np.zeros(2))
    with pytest.raises(ValueError, match="delta_w"):
        layer.update(np.zeros(3))
    with pytest.raises(ValueError, match="rate"):
        card.with_variability(stuck_on_rate=1.5)
    with pytest.raises(ValueError, match="fraction"):
        check_fraction("fraction", 1.2)
    with pytest.raises(CardError, match="no-such-card"):
        load_card("no-such-card")
    with pytest.raises(TypeError, match="card"):
        CrossbarLayer("cbram", (2, 2))  # type: ignore[arg-type]
