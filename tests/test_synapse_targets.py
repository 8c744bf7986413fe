"""The memristive synapse gives the same numbers in numpy, cython and cpp_standalone.

One 300-event sequence of mixed SET / RESET events (1 to 4 pulses, different
per synapse and step) is applied to 1,000 synapses of an exponential card and
1,000 of a table card -- in the same network, so two cards share one
standalone program -- with device-to-device variation, stuck devices and some
frozen synapses, cycle-to-cycle noise off. The conductances and pulse counters
must agree with the NumPy reference :func:`neurocbram.devices.pulses.pulse_event`.
"""

from __future__ import annotations

import numpy as np
import pytest

brian2 = pytest.importorskip("brian2")

from brian2 import (  # noqa: E402
    Network,
    NeuronGroup,
    TimedArray,
    defaultclock,
    device,
    ms,
    prefs,
    seed,
    set_device,
    siemens,
)

from neurocbram.devices.card import DeviceCard  # noqa: E402
from neurocbram.devices.pulses import STUCK_NONE, pulse_event, sample_population  # noqa: E402
from neurocbram.synapses import MemristiveSynapse, memristive_synapses  # noqa: E402

N_SYNAPSES = 1000
N_EVENTS = 300
RTOL = 1e-9

COMMON = {
    "citation": "synthetic test card",
    "conductance": {"g_min": "2 uS", "g_max": "20 uS"},
    "pulses": {
        "set": {"amplitude": "1.2 V", "width": "1 us"},
        "reset": {"amplitude": "-1.0 V", "width": "1 us"},
    },
    "energy": {"set_pulse": "1 pJ", "reset_pulse": "1 pJ", "read": "0.01 pJ"},
    # c2c on the card: the test switches it off in the synapse (c2c=False)
    "variability": {
        "c2c_sigma": 0.03,
        "d2d_sigma": 0.25,
        "stuck_on_rate": 0.03,
        "stuck_off_rate": 0.04,
    },
}


def exponential_card() -> DeviceCard:
    return DeviceCard.from_dict(
        {
            **COMMON,
            "name": "test-exponential",
            "levels": 48,
            "response": {"model": "exponential", "a_set": 0.4, "a_reset": 0.25},
        }
    )


def table_card(folder) -> DeviceCard:
    """A card from small synthetic measured curves (two cycles, 25 pulses each)."""
    pulses = np.arange(25.0)
    g_min, g_max = 2e-6, 20e-6
    rise = g_min + (g_max - g_min) * (1 - np.exp(-pulses / 9.0)) / (1 - np.exp(-24 / 9.0))
    fall = g_max - (g_max - g_min) * (1 - np.exp(-pulses / 6.0)) / (1 - np.exp(-24 / 6.0))
    lines_set = ["cycle1,cycle2"] + [f"{a:.17g},{a * 1.01:.17g}" for a in rise]
    lines_reset = ["cycle1,cycle2"] + [f"{a:.17g},{a * 0.99:.17g}" for a in fall]
    (folder / "set.csv").write_text("\n".join(lines_set) + "\n")
    (folder / "reset.csv").write_text("\n".join(lines_reset) + "\n")
    return DeviceCard.from_dict(
        {
            **COMMON,
            "name": "test-table",
            "response": {"model": "table", "set_curve": "set.csv", "reset_curve": "reset.csv"},
        },
        source_dir=folder,
    )


class Case:
    """One card's devices, start state and event sequence, and its NumPy reference."""

    def __init__(self, card: DeviceCard, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.card = card
        self.population = sample_population(card, N_SYNAPSES, seed=seed)
        self.g0 = card.conductance(rng.uniform(0, 1, N_SYNAPSES))
        self.frozen = rng.random(N_SYNAPSES) < 0.05
        counts = rng.integers(1, 5, size=(N_EVENTS, N_SYNAPSES))
        sign = rng.choice([-1, 0, 1], p=[0.45, 0.1, 0.45], size=(N_EVENTS, N_SYNAPSES))
        # long SET and RESET runs too, so that devices reach both ends
        sign[40:90] = 1
        sign[150:210] = -1
        self.sequence = sign * counts
        self._reference()

    def _reference(self) -> None:
        g = self.population.pin(self.card, self.g0)
        n = np.where(self.frozen, 0, self.sequence)
        n_set, n_reset = np.clip(n, 0, None), np.clip(-n, 0, None)
        for k in range(N_EVENTS):
            g = pulse_event(self.card, g, n_set[k], "set", self.population)
            g = pulse_event(self.card, g, n_reset[k], "reset", self.population)
        live = self.population.stuck == STUCK_NONE
        self.g_final = g
        self.set_pulses = n_set.sum(axis=0) * live
        self.reset_pulses = n_reset.sum(axis=0) * live


@pytest.fixture(scope="module")
def cases(tmp_path_factory) -> list[Case]:
    folder = tmp_path_factory.mktemp("table_card")
    return [Case(exponential_card(), seed=11), Case(table_card(folder), seed=12)]


def simulate(cases: list[Case], noisy: Case | None = None):
    """One network with a synapse population per case; returns (G, set, reset) of each.

    ``noisy``: one more population, with c2c noise on, driven through
    ``pulse_code`` (weight changes of whole nominal steps) instead.
    """
    defaultclock.dt = 0.1 * ms
    objects, synapses = [], []
    populations = [(case, False) for case in cases]
    if noisy is not None:
        populations.append((noisy, True))
    for case, c2c in populations:
        memristor = MemristiveSynapse(case.card, c2c=c2c)
        source = NeuronGroup(N_SYNAPSES, "")
        target = NeuronGroup(N_SYNAPSES, "")
        sequence = TimedArray(case.sequence.astype(np.float64), dt=defaultclock.dt)
        S = memristive_synapses(
            source, target, memristor, connect=None, namespace={"pulse_sequence": sequence}
        )
        S.connect(i=np.arange(N_SYNAPSES), j=np.arange(N_SYNAPSES))
        # the devices of the reference; stuck ones are pinned
        memristor.initialise(
            S, G=case.g0 * siemens, population=case.population, n_synapses=N_SYNAPSES
        )
        S.frozen = case.frozen
        if c2c:
            update = memristor.pulse_code("k * dw_per_pulse")
        else:
            update = memristor.set_code("k * int(k > 0)") + memristor.reset_code("-k * int(k < 0)")
        S.run_regularly("k = int(pulse_sequence(t, i))\n" + update)
        objects += [source, target, S]
        synapses.append(S)
    network = Network(*objects)
    network.run(N_EVENTS * defaultclock.dt)
    return [
        (np.asarray(S.G[:] / siemens), np.asarray(S.set_pulses[:]), np.asarray(S.reset_pulses[:]))
        for S in synapses
    ]


def check(cases: list[Case], results, label: str) -> None:
    for case, (g, set_pulses, reset_pulses) in zip(cases, results):
        assert g.shape == (N_SYNAPSES,)
        relative = np.max(np.abs(g - case.g_final) / np.abs(case.g_final))
        print(f"{label} {case.card.name}: max relative difference {relative:.3g}")
        np.testing.assert_allclose(g, case.g_final, rtol=RTOL, atol=0)
        np.testing.assert_array_equal(set_pulses, case.set_pulses)
        np.testing.assert_array_equal(reset_pulses, case.reset_pulses)
        # the sequence exercises both ends of the range and the stuck devices
        assert np.any(case.g_final == case.card.g_max) and np.any(case.g_final == case.card.g_min)
        assert np.all((case.g_final >= case.card.g_min) & (case.g_final <= case.card.g_max))


def test_reference_sanity(cases):
    for case in cases:
        stuck = case.population.stuck != STUCK_NONE
        assert 0 < stuck.sum() < N_SYNAPSES // 5
        pinned = case.population.pin(case.card, case.g0)
        still = stuck | case.frozen
        np.testing.assert_array_equal(case.g_final[still], pinned[still])


def test_numpy_matches_reference(cases):
    prefs.codegen.target = "numpy"
    check(cases, simulate(cases), "numpy")


@pytest.mark.cython
def test_cython_matches_reference(cases):
    pytest.importorskip("Cython")
    prefs.codegen.target = "cython"
    check(cases, simulate(cases), "cython")


@pytest.mark.standalone
def test_cpp_standalone_matches_reference(cases, tmp_path):
    prefs.devices.cpp_standalone.extra_make_args_unix = ["-j2"]
    set_device("cpp_standalone", directory=str(tmp_path / "standalone"), build_on_run=True)
    noisy = cases[0]
    try:
        seed(5)
        results = simulate(cases, noisy=noisy)
    finally:
        device.reinit()
        device.activate()
        set_device("runtime")
    check(cases, results[:-1], "cpp_standalone")
    # c2c noise on (randn() in generated code): bounds, faults, freezing and counters hold
    g, set_pulses, reset_pulses = results[-1]
    card = noisy.card
    assert np.all((g >= card.g_min) & (g <= card.g_max))
    still = (noisy.population.stuck != STUCK_NONE) | noisy.frozen
    pinned = noisy.population.pin(card, noisy.g0)
    np.testing.assert_array_equal(g[still], pinned[still])
    np.testing.assert_array_equal(set_pulses, noisy.set_pulses)
    np.testing.assert_array_equal(reset_pulses, noisy.reset_pulses)
    relative = np.abs(g[~still] - noisy.g_final[~still]) / noisy.g_final[~still]
    assert 1e-6 < np.median(relative) < 0.5  # noisy, yet the same trajectory on the whole
