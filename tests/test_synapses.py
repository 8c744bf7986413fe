"""Quick checks of the memristive synapse in the numpy target (no compilation)."""

from __future__ import annotations

import re

import numpy as np
import pytest

brian2 = pytest.importorskip("brian2")

from brian2 import (  # noqa: E402
    DimensionMismatchError,
    Network,
    NeuronGroup,
    Synapses,
    TimedArray,
    defaultclock,
    ms,
    prefs,
    seed,
    siemens,
    uS,
)

from neurocbram.devices.card import CardError, DeviceCard  # noqa: E402
from neurocbram.devices.pulses import (  # noqa: E402
    STUCK_NONE,
    STUCK_OFF,
    STUCK_ON,
    DevicePopulation,
    pulse_event,
    sample_population,
)
from neurocbram.synapse_functions import IMPLEMENTED_TARGETS, card_digest  # noqa: E402
from neurocbram.synapses import MemristiveSynapse, memristive_synapses, pulse_count  # noqa: E402

BASE = {
    "citation": "synthetic test card",
    "conductance": {"g_min": "1 uS", "g_max": "10 uS"},
    "levels": 32,
    "pulses": {
        "set": {"amplitude": "1 V", "width": "1 us"},
        "reset": {"amplitude": "-1 V", "width": "1 us"},
    },
    "energy": {"set_pulse": "1 pJ", "reset_pulse": "1 pJ", "read": "0.01 pJ"},
    "variability": {
        "c2c_sigma": 0.05,
        "d2d_sigma": 0.2,
        "stuck_on_rate": 0.05,
        "stuck_off_rate": 0.05,
    },
}


def make_card(model: str, folder=None) -> DeviceCard:
    if model == "exponential":
        response = {"model": "exponential", "a_set": 0.5, "a_reset": 0.3}
    elif model == "linear":
        response = {"model": "linear"}
    else:
        p = np.arange(17.0)
        rise = 1e-6 + 9e-6 * (1 - np.exp(-p / 6)) / (1 - np.exp(-16 / 6))
        fall = 10e-6 - 9e-6 * (1 - np.exp(-p / 4)) / (1 - np.exp(-16 / 4))
        (folder / "set.csv").write_text("cycle1\n" + "\n".join(f"{v:.17g}" for v in rise) + "\n")
        (folder / "reset.csv").write_text("cycle1\n" + "\n".join(f"{v:.17g}" for v in fall) + "\n")
        response = {"model": "table", "set_curve": "set.csv", "reset_curve": "reset.csv"}
    return DeviceCard.from_dict({**BASE, "name": f"test-{model}", "response": response}, folder)


@pytest.fixture(params=["exponential", "linear", "table"])
def card(request, tmp_path) -> DeviceCard:
    return make_card(request.param, tmp_path)


@pytest.fixture(autouse=True)
def _numpy_target():
    prefs.codegen.target = "numpy"
    defaultclock.dt = 0.1 * ms


def driven_synapses(memristor: MemristiveSynapse, sequence: np.ndarray, frozen=None, w=0.5, seed=1):
    """Synapses (one per column of ``sequence``) receiving the signed pulse counts per step."""
    n = sequence.shape[1]
    source, target = NeuronGroup(n, ""), NeuronGroup(n, "")
    table = TimedArray(sequence.astype(float), dt=defaultclock.dt)
    S = memristive_synapses(
        source,
        target,
        memristor,
        connect={"i": np.arange(n), "j": np.arange(n)},
        w=w,
        seed=seed,
        namespace={"pulse_sequence": table},
    )
    if frozen is not None:
        S.frozen = frozen
    S.run_regularly(
        "k = int(pulse_sequence(t, i))\n"
        + memristor.set_code("k * int(k > 0)")
        + memristor.reset_code("-k * int(k < 0)")
    )
    return Network(source, target, S), S


def random_sequence(rng, steps=60, n=400):
    return rng.integers(-4, 5, size=(steps, n))


# ------------------------------------------------------------------ functions
def test_functions_follow_the_reference(card):
    memristor = MemristiveSynapse(card)
    g = card.conductance(np.linspace(0, 1, 11))
    scale = np.linspace(0.5, 1.5, 11)
    population = DevicePopulation(scale, scale, np.zeros(11, dtype=np.int8))
    functions = {"set": memristor.memristor_set, "reset": memristor.memristor_reset}
    for n in (0, 1, 3, 7):
        for direction, function in functions.items():
            got = np.asarray(function(g * siemens, n, scale) / siemens)
            expected = pulse_event(card, g, n, direction, population)
            np.testing.assert_array_equal(got, expected)
    # without variation, n pulses = the card's own n-pulse response
    five = np.asarray(memristor.memristor_set(g * siemens, 5, 1.0) / siemens)
    np.testing.assert_allclose(five, card.g_after_set(g, 5), rtol=1e-12)


def test_distinct_cards_have_distinct_names():
    exponential, linear = make_card("exponential"), make_card("linear")
    names = {MemristiveSynapse(c).memristor_set.implementations["cpp"].name
             for c in (exponential, linear)}
    assert len(names) == 2
    assert card_digest(exponential) == card_digest(make_card("exponential"))
    set_impl = MemristiveSynapse(exponential).memristor_set.implementations["cython"]
    reset_impl = MemristiveSynapse(exponential).memristor_reset.implementations["cython"]
    assert set_impl.name != reset_impl.name
    assert not set(set_impl.get_namespace(None)) & set(reset_impl.get_namespace(None))


# ------------------------------------------------------------- pulse events
def test_bounds_stuck_frozen_and_counters(card):
    rng = np.random.default_rng(5)
    sequence = random_sequence(rng)
    sequence[10:30] = 4  # long SET runs push devices against g_max (c2c noise on)
    n = sequence.shape[1]
    frozen = rng.random(n) < 0.1
    memristor = MemristiveSynapse(card)
    network, S = driven_synapses(memristor, sequence, frozen=frozen)
    g_start = np.asarray(S.G[:] / siemens)
    network.run(len(sequence) * defaultclock.dt)
    g = np.asarray(S.G[:] / siemens)
    stuck = np.asarray(S.stuck[:])
    assert np.all(g >= card.g_min) and np.all(g <= card.g_max)
    assert np.any(g == card.g_max)
    still = (stuck != STUCK_NONE) | frozen
    np.testing.assert_array_equal(g[still], g_start[still])
    assert np.all(g_start[stuck == STUCK_OFF] == card.g_min)
    assert np.all(g_start[stuck == STUCK_ON] == card.g_max)
    assert np.all(g[~still] != g_start[~still])
    live = ~still
    np.testing.assert_array_equal(S.set_pulses[:], np.clip(sequence, 0, None).sum(axis=0) * live)
    np.testing.assert_array_equal(S.reset_pulses[:], np.clip(-sequence, 0, None).sum(axis=0) * live)
    np.testing.assert_allclose(memristor.weights(S), S.w[:], rtol=1e-12)


def test_count_stuck_pulses_option():
    card = make_card("linear")
    sequence = np.array([[2] * 200, [-1] * 200])
    memristor = MemristiveSynapse(card, count_stuck_pulses=True)
    network, S = driven_synapses(memristor, sequence, frozen=np.arange(200) < 20)
    network.run(2 * defaultclock.dt)
    expected = (np.arange(200) >= 20).astype(int)
    np.testing.assert_array_equal(S.set_pulses[:], 2 * expected)
    np.testing.assert_array_equal(S.reset_pulses[:], expected)


def test_c2c_noise_scales_as_documented():
    card = make_card("linear")
    n_syn, pulses = 4000, 4
    memristor = MemristiveSynapse(card)
    network, S = driven_synapses(memristor, np.full((1, n_syn), pulses), w=0.3)
    population = sample_population(card, n_syn, seed=1)
    memristor.initialise(S, w=0.3, population=population)
    seed(3)
    network.run(defaultclock.dt)
    g0 = card.conductance(0.3)
    deterministic = pulse_event(card, np.full(n_syn, g0), pulses, "set", population)
    live = population.stuck == STUCK_NONE
    relative = (S.G[:][live] / siemens - g0) / (deterministic[live] - g0) - 1
    assert abs(np.mean(relative)) < 0.005
    assert np.std(relative) == pytest.approx(card.variability.c2c_sigma / np.sqrt(pulses), rel=0.08)


def test_same_seed_same_trajectory_with_c2c():
    card = make_card("exponential")
    sequence = random_sequence(np.random.default_rng(2), steps=30, n=100)

    def trajectory(brian_seed):
        network, S = driven_synapses(MemristiveSynapse(card), sequence, seed=4)
        seed(brian_seed)
        network.run(len(sequence) * defaultclock.dt)
        return np.asarray(S.G[:] / siemens)

    first, second, other = trajectory(7), trajectory(7), trajectory(8)
    np.testing.assert_array_equal(first, second)
    assert np.any(first != other)


# ------------------------------------------------------------ pulse counts
def test_pulse_count_is_unbiased():
    n = 40000
    group = NeuronGroup(n, "x : 1\ncount : integer")
    group.x = np.repeat([0.0, 0.3, 1.0, 2.75], n // 4)
    group.run_regularly(f"count = {pulse_count('x')}")
    seed(11)
    Network(group).run(defaultclock.dt)
    count = np.asarray(group.count[:]).reshape(4, -1)
    for row, x in zip(count, (0.0, 0.3, 1.0, 2.75)):
        assert set(np.unique(row)) <= {int(np.floor(x)), int(np.ceil(x))}
        assert abs(row.mean() - x) < 4 * np.sqrt(0.25 / row.size)


def test_pulse_code_maps_weight_changes_to_pulses():
    card = make_card("linear")  # dw_per_pulse = 1/32
    n = 20000
    memristor = MemristiveSynapse(card, c2c=False)
    source, target = NeuronGroup(n, "dw : 1"), NeuronGroup(n, "")
    source.dw = np.repeat([0.5 / 32, -2.25 / 32], n // 2)
    S = memristive_synapses(
        source, target, memristor, connect={"i": np.arange(n), "j": np.arange(n)}, w=0.5, seed=2
    )
    S.run_regularly(memristor.pulse_code("dw_pre"))
    seed(1)
    Network(source, target, S).run(defaultclock.dt)
    live = np.asarray(S.stuck[:]) == STUCK_NONE
    set_pulses, reset_pulses = np.asarray(S.set_pulses[:]), np.asarray(S.reset_pulses[:])
    up, down = live & (np.arange(n) < n // 2), live & (np.arange(n) >= n // 2)
    assert set(np.unique(set_pulses[up])) == {0, 1} and np.all(reset_pulses[up] == 0)
    assert set(np.unique(reset_pulses[down])) == {2, 3} and np.all(set_pulses[down] == 0)
    assert set_pulses[up].mean() == pytest.approx(0.5, abs=0.03)
    assert reset_pulses[down].mean() == pytest.approx(2.25, abs=0.03)
    # a linear device moves by exactly one nominal step per pulse (scaled by d2d)
    w_change = memristor.weights(S) - 0.5
    set_scale, reset_scale = np.asarray(S.set_scale[:]), np.asarray(S.reset_scale[:])
    expected = (set_pulses * set_scale - reset_pulses * reset_scale) / 32
    np.testing.assert_allclose(w_change[live], expected[live], atol=1e-12)


@pytest.mark.parametrize("direction, sign", [("reset", -1.0), ("set", 1.0)])
def test_one_direction_pulse_code_equals_the_full_code(direction, sign):
    """For requests of one sign the trimmed code gives the same devices, counters
    and random stream as the full code, without touching the other direction."""
    card = make_card("exponential")
    n = 4000
    memristor = MemristiveSynapse(card)  # c2c noise on: one normal draw per event

    def run(code_direction: str) -> tuple:
        source, target = NeuronGroup(n, "dw : 1"), NeuronGroup(n, "")
        source.dw = sign * np.linspace(0.0, 3.5 / 32, n)  # whole and fractional pulses, and 0
        S = memristive_synapses(source, target, memristor, w=0.5, seed=4,
                                connect={"i": np.arange(n), "j": np.arange(n)})
        S.run_regularly(memristor.pulse_code("dw_pre", direction=code_direction))
        seed(9)
        Network(source, target, S).run(3 * defaultclock.dt)
        return (np.asarray(S.G[:]), np.asarray(S.set_pulses[:]), np.asarray(S.reset_pulses[:]),
                float(np.random.rand()))

    trimmed, full = run(direction), run("both")
    for got, want in zip(trimmed, full):
        np.testing.assert_array_equal(got, want)
    assert (full[1] if direction == "set" else full[2]).sum() > 0
    other = "reset" if direction == "set" else "set"
    code = memristor.pulse_code("dw_pre", direction=direction)
    assert not re.search(rf"\b{other}_(scale|pulses)\b", code)
    with pytest.raises(ValueError, match="direction"):
        memristor.pulse_code("dw_pre", direction="down")


def test_user_stdp_rule_composes():
    """A hand-written pair-based STDP rule calling the pulse code in on_pre/on_post."""
    card = make_card("exponential")
    memristor = MemristiveSynapse(card)
    inputs = NeuronGroup(20, "", threshold="rand() < 0.2")
    output = NeuronGroup(
        5, "dv/dt = -v/(10*ms) : 1", threshold="v > 1", reset="v = 0", method="exact"
    )
    S = Synapses(
        inputs,
        output,
        model=memristor.equations
        + """
        dpre/dt = -pre/(20*ms) : 1 (event-driven)
        dpost/dt = -post/(20*ms) : 1 (event-driven)
        """,
        on_pre="v_post += 0.5*w\npre = 1\n" + memristor.pulse_code("-0.01*post"),
        on_post="post = 1\n" + memristor.pulse_code("0.05*pre"),
        namespace=memristor.namespace,
    )
    S.connect()
    memristor.initialise(S, w="0.3*rand()", seed=1)
    seed(2)
    Network(inputs, output, S).run(20 * ms)
    g = np.asarray(S.G[:] / siemens)
    assert np.all((g >= card.g_min) & (g <= card.g_max))
    assert S.set_pulses[:].sum() > 0 and S.reset_pulses[:].sum() > 0
    stuck = np.asarray(S.stuck[:])
    assert np.all(g[stuck == STUCK_OFF] == card.g_min)
    assert np.all(g[stuck == STUCK_ON] == card.g_max)


# ------------------------------------------------------------------- errors
def test_clear_errors():
    card = make_card("exponential")
    with pytest.raises(TypeError, match="DeviceCard"):
        MemristiveSynapse(42)
    with pytest.raises(CardError):
        MemristiveSynapse("no-such-card")
    memristor = MemristiveSynapse(card)
    with pytest.raises(ValueError, match=">= 0"):
        memristor.set_code(-1)
    with pytest.raises(TypeError):
        memristor.reset_code(1.5)
    with pytest.raises(ValueError, match=">= 0"):
        pulse_count(-0.5)
    assert pulse_count(0.25) == "(int(floor(0.25)) + int(rand() < (0.25) - floor(0.25)))"
    with pytest.raises(ValueError, match="empty"):
        memristor.set_code("  ")
    with pytest.raises(ValueError, match=">= 0"):
        memristor.memristor_set(2 * uS, -1, 1.0)
    with pytest.raises(ValueError, match="dw_per_pulse"):
        MemristiveSynapse(card, dw_per_pulse=0)

    class FakeCodeObject:
        class_name = "cuda_standalone"

    with pytest.raises(KeyError, match="Available implementations"):
        memristor.memristor_set.implementations[FakeCodeObject]
    assert set(IMPLEMENTED_TARGETS) <= set(memristor.memristor_set.implementations)

    source, target = NeuronGroup(3, ""), NeuronGroup(3, "")
    S = memristive_synapses(source, target, memristor, connect=None)
    S.connect()
    with pytest.raises(ValueError, match=r"\[g_min, g_max\]"):
        memristor.initialise(S, G=20 * uS)
    with pytest.raises(DimensionMismatchError):
        memristor.initialise(S, G=np.full(9, 2e-6))
    with pytest.raises(ValueError, match="not both"):
        memristor.initialise(S, G=2 * uS, w=0.5)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        memristor.initialise(S, w=1.5)
    with pytest.raises(ValueError, match="n_synapses"):
        memristor.initialise(S, n_synapses=4)
    plain = Synapses(source, target, "x : 1")
    plain.connect()
    with pytest.raises(ValueError, match="MemristiveSynapse.equations"):
        memristor.initialise(plain)
    with pytest.raises(ValueError, match="reserved"):
        memristive_synapses(source, target, card, namespace={"g_max": 1 * uS})
    with pytest.raises(ValueError, match="hide"):
        memristive_synapses(source, NeuronGroup(3, "g_max : siemens"), card)
    with pytest.raises(TypeError, match="connect"):
        memristive_synapses(source, target, card, connect=3)


def test_negative_pulse_count_at_run_time_is_an_error():
    card = make_card("linear")
    memristor = MemristiveSynapse(card)
    network, S = driven_synapses(memristor, np.zeros((1, 5), dtype=int))
    S.run_regularly(memristor.set_code("-2"))
    with pytest.raises(Exception) as info:  # Brian2 wraps it in a BrianObjectException
        network.run(defaultclock.dt)
    assert isinstance(info.value.__cause__, ValueError)
    assert ">= 0" in str(info.value.__cause__)
