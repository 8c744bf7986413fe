"""Writes aimed at a target along the card's pulse response (``program_code``)."""

from __future__ import annotations

import numpy as np
import pytest
from brian2 import Network, NeuronGroup, ms, prefs, siemens

from neurocbram.devices import load_card
from neurocbram.synapse_functions import memristor_functions, pulse_positions, pulses_to_target
from neurocbram.synapses import MemristiveSynapse, memristive_synapses

N = 400


def test_positions_of_a_linear_card_are_pulse_counts():
    card = load_card("ideal-linear")
    grid = card.transfer_tables[0]
    set_position, reset_position = pulse_positions(card)
    span = card.g_max - card.g_min
    np.testing.assert_allclose(set_position, (grid - card.g_min) / span * card.levels, atol=1e-6)
    np.testing.assert_allclose(reset_position, (card.g_max - grid) / span * card.levels, atol=1e-6)


def test_positions_follow_the_ramp_of_a_nonlinear_card():
    card = load_card("cbram-shi2018")
    grid = card.transfer_tables[0]
    set_position, reset_position = pulse_positions(card)
    set_fn, reset_fn = memristor_functions(card)
    for k in (1, 5, 20, 40):
        up = set_fn.iterate(np.array([card.g_min]), np.array([k]), 1.0)[0]
        down = reset_fn.iterate(np.array([card.g_max]), np.array([k]), 1.0)[0]
        assert np.interp(up, grid, set_position) == pytest.approx(k, abs=1e-3)
        assert np.interp(down, grid, reset_position) == pytest.approx(k, abs=1e-3)
    # nonlinear: RESET from w = 0.2 to 0.1 takes > 20% more pulses than 0.1 * levels
    def reset_pulses(w_from: float, w_to: float) -> float:
        return float(np.interp(card.conductance(w_to), grid, reset_position)
                     - np.interp(card.conductance(w_from), grid, reset_position))

    assert reset_pulses(0.2, 0.1) > 1.2 * 0.1 * card.levels
    assert reset_pulses(0.9, 0.8) < 0.8 * 0.1 * card.levels


def _write(card_name: str, method: str, target: str, g0: np.ndarray, dw: np.ndarray,
           analog: bool = False):
    """``G`` after one write of ``dw`` per synapse (no variation), in a runtime ``target``."""
    prefs.codegen.target = target
    memristor = MemristiveSynapse(card_name, c2c=False, analog=analog)
    source, sink = NeuronGroup(len(g0), ""), NeuronGroup(len(g0), "")
    synapses = memristive_synapses(source, sink, memristor, model="dw : 1", connect=None)
    synapses.connect(j="i")
    synapses.set_scale = 1.0
    synapses.reset_scale = 1.0
    synapses.G = g0 * siemens
    synapses.dw = dw
    code = getattr(memristor, method)("dw")
    synapses.run_regularly(code, dt=1 * ms)
    Network(source, sink, synapses).run(1 * ms)
    return np.asarray(synapses.G[:] / siemens)


@pytest.mark.parametrize("target", ["numpy", "cython"])
def test_program_code_reaches_the_target_where_pulse_code_misses(target):
    card = load_card("cbram-shi2018")
    rng = np.random.default_rng(4)
    w0 = rng.uniform(0.02, 0.4, N)
    dw = -w0 * 0.34  # the first normalisation: a sum of ~118 scaled to 78
    g0 = card.conductance(w0)
    wanted = card.weight(card.conductance(w0 + dw))
    aimed = card.weight(_write(card.name, "program_code", target, g0, dw))
    nominal = card.weight(_write(card.name, "pulse_code", target, g0, dw))
    # one pulse at most from the target (stochastic rounding), unbiased on the sum
    assert np.max(np.abs(aimed - wanted)) < 1.5 / card.levels
    assert abs(aimed.sum() - wanted.sum()) < 0.02 * abs(dw.sum())
    # |dw| * levels RESET pulses fall short where the RESET steps are small
    assert nominal.sum() - wanted.sum() > 0.15 * abs(dw.sum())


def test_program_code_is_exact_for_analog_synapses():
    card = load_card("ideal-linear")
    w0 = np.linspace(0.1, 0.9, 9)
    dw = np.full(9, 0.05)
    prefs.codegen.target = "numpy"
    memristor = MemristiveSynapse(card, c2c=False, analog=True)
    assert memristor.program_code("dw") == memristor.pulse_code("dw")
    got = card.weight(_write(card.name, "program_code", "numpy", card.conductance(w0), dw, True))
    np.testing.assert_allclose(got, w0 + dw, atol=1e-12)


def test_pulses_to_target_sign_and_linear_count():
    card = load_card("ideal-linear")
    g = card.conductance(np.array([0.2, 0.5, 0.5]))
    target = card.conductance(np.array([0.5, 0.2, 0.5]))
    np.testing.assert_allclose(
        pulses_to_target(card, g, target), [0.3 * card.levels, -0.3 * card.levels, 0.0], atol=1e-6
    )
