"""Property tests of the NumPy pulse semantics (neurocbram.devices.pulses) on the bundled cards."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neurocbram.devices import DeviceCard, PulseEnergy, PulseShape, Response, Variability, list_cards, load_card
from neurocbram.devices.pulses import pulse_event, sample_population

CARDS = {name: load_card(name) for name in list_cards()}
NAMES = sorted(CARDS)
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])

events = st.lists(st.tuples(st.sampled_from(["set", "reset"]), st.integers(0, 12)), min_size=1, max_size=12)


@SETTINGS
@given(name=st.sampled_from(NAMES), w0=st.floats(0, 1), seq=events, seed=st.integers(0, 2**31 - 1),
       extra=st.floats(0, 0.5))
def test_conductance_stays_in_range(name, w0, seq, seed, extra):
    """G never leaves [Gmin, Gmax], with the card's variation plus extra D2D/C2C/stuck faults."""
    v = CARDS[name].variability
    card = CARDS[name].with_variability(d2d_sigma=v.d2d_sigma + extra, c2c_sigma=v.c2c_sigma + extra,
                                        stuck_on_rate=0.05, stuck_off_rate=0.05)
    rng = np.random.default_rng(seed)
    pop = sample_population(card, 16, rng)
    g = pop.pin(card, np.full(16, card.conductance(w0)))
    for direction, n in seq:
        g = pulse_event(card, g, n, direction, pop, rng.standard_normal(16))
        assert np.all(g >= card.g_min) and np.all(g <= card.g_max)


@pytest.mark.parametrize("name", NAMES)
def test_set_pulses_reach_gmax_within_levels(name):
    """From Gmin, identical SET pulses (no variation) reach Gmax after ``levels`` +- 1 pulses.

    For the table card, ``levels`` is the number of SET pulses along the mean
    measured SET curve from g_min to g_max (see fitting.card_from_measurements).
    """
    card = CARDS[name]
    tol = 1e-9 * (card.g_max - card.g_min)
    g = np.array([card.g_min])
    count = 0
    while g[0] < card.g_max - tol and count < 3 * card.levels + 10:
        g = pulse_event(card, g, 1, "set")
        count += 1
    assert abs(count - card.levels) <= 1, (name, count, card.levels)


@pytest.mark.parametrize("name", NAMES)
def test_reset_pulses_reach_gmin(name):
    """From Gmax, RESET pulses reach Gmin (exponential/linear cards: after ``levels`` +- 1)."""
    card = CARDS[name]
    tol = 1e-9 * (card.g_max - card.g_min)
    g = np.array([card.g_max])
    count = 0
    while g[0] > card.g_min + tol and count < 3 * card.levels + 10:
        g = pulse_event(card, g, 1, "reset")
        count += 1
    assert g[0] <= card.g_min + tol
    if card.response.model != "table":
        assert abs(count - card.levels) <= 1


@SETTINGS
@given(name=st.sampled_from(NAMES), w0=st.floats(0, 1), seq=events, seed=st.integers(0, 2**31 - 1))
def test_stuck_devices_never_move(name, w0, seq, seed):
    card = CARDS[name].with_variability(stuck_on_rate=0.5, stuck_off_rate=0.5, c2c_sigma=0.2, d2d_sigma=0.2)
    rng = np.random.default_rng(seed)
    pop = sample_population(card, 12, rng)
    assert np.all(pop.stuck != 0)
    g0 = pop.pin(card, np.full(12, card.conductance(w0)))
    g = g0
    for direction, n in seq:
        g = pulse_event(card, g, n, direction, pop, rng.standard_normal(12))
    np.testing.assert_array_equal(g, g0)


@SETTINGS
@given(name=st.sampled_from(NAMES), seq=events, seed=st.integers(0, 2**31 - 1))
def test_same_seed_same_trajectory(name, seq, seed):
    card = CARDS[name].with_variability(d2d_sigma=0.1, c2c_sigma=0.1, stuck_on_rate=0.1, stuck_off_rate=0.1)

    def trajectory(s: int) -> np.ndarray:
        rng = np.random.default_rng(s)
        pop = sample_population(card, 10, rng)
        g = pop.pin(card, card.conductance(rng.random(10)))
        out = [g]
        for direction, n in seq:
            g = pulse_event(card, g, n, direction, pop, rng.standard_normal(10))
            out.append(g)
        return np.array(out)

    np.testing.assert_array_equal(trajectory(seed), trajectory(seed))


@pytest.mark.parametrize("name", NAMES)
def test_bundled_card_json_round_trip(name, tmp_path):
    card = CARDS[name]
    card.save(tmp_path)
    again = DeviceCard.load(tmp_path)
    assert again == card
    if card.response.model == "table":
        np.testing.assert_array_equal(again.measured_set, card.measured_set)
        np.testing.assert_array_equal(again.measured_reset, card.measured_reset)
    np.testing.assert_array_equal(again.transfer_tables[1], card.transfer_tables[1])


positive = st.floats(1e-3, 1e3)


@SETTINGS
@given(g_min=st.floats(1e-9, 1e-4), ratio=st.floats(1.01, 1e3), levels=st.integers(1, 1000),
       model=st.sampled_from(["exponential", "linear"]), a_set=positive, a_reset=positive,
       rates=st.tuples(st.floats(0, 0.5), st.floats(0, 0.5)), sig=st.floats(0, 2), v=st.floats(-10, 10),
       width=st.floats(1e-12, 1.0))
def test_random_card_json_round_trip(tmp_path_factory, g_min, ratio, levels, model, a_set, a_reset, rates, sig,
                                     v, width):
    response = Response(model=model, a_set=a_set if model == "exponential" else None,
                        a_reset=a_reset if model == "exponential" else None)
    card = DeviceCard(
        name="random", technology="t", citation="c", g_min=g_min, g_max=g_min * ratio, levels=levels,
        set_pulse=PulseShape(v, width), reset_pulse=PulseShape(-v, width),
        energy=PulseEnergy(width * 1e-6, width * 2e-6, 1e-15), response=response,
        variability=Variability(sig, sig / 2, rates[0], rates[1], sig / 3),
        provenance={"g_min": "assumed: test"}, fit={"a_set": a_set},
    )
    folder = tmp_path_factory.mktemp("card")
    card.save(folder)
    assert DeviceCard.load(folder) == card


def test_population_statistics_follow_card():
    card = CARDS["cbram-shi2018"].with_variability(d2d_sigma=0.2, stuck_on_rate=0.1, stuck_off_rate=0.2)
    pop = sample_population(card, 20000, seed=1)
    assert math.isclose(np.std(np.log(pop.set_scale)), 0.2, rel_tol=0.05)
    assert math.isclose(np.mean(pop.stuck == 2), 0.1, abs_tol=0.01)
    assert math.isclose(np.mean(pop.stuck == 1), 0.2, abs_tol=0.01)
