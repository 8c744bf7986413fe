"""The lean standalone device runs Brian2's schedule: same results as ``cpp_standalone``."""

from __future__ import annotations

import numpy as np
import pytest

brian2 = pytest.importorskip("brian2")

from brian2 import (  # noqa: E402
    EventMonitor,
    Hz,
    Network,
    NeuronGroup,
    PoissonGroup,
    SpikeMonitor,
    StateMonitor,
    Synapses,
    defaultclock,
    ms,
    mV,
    seed,
)
from standalone_helpers import standalone  # noqa: E402

from neurocbram.standalone_device import DEVICE_NAME, LeanStandaloneDevice  # noqa: E402


def three_clock_network():
    """Poisson inputs (dt 0.1 ms) -> LIF neurons (dt 0.25 ms), a 1 ms run_regularly, a 0.5 ms monitor."""
    defaultclock.dt = 0.1 * ms
    seed(11)
    inputs = PoissonGroup(30, 150 * Hz)
    neurons = NeuronGroup(8, "dv/dt = -v / (10*ms) : volt\ndrive : volt", threshold="v > 10*mV",
                          reset="v = 0*mV", refractory=2 * ms, method="exact", dt=0.25 * ms)
    # a slower clock changes the drive in steps; it must run at its own times only
    neurons.run_regularly("drive += 0.01*mV * (i + 1)", dt=1 * ms)
    synapses = Synapses(inputs, neurons, on_pre="v_post += 0.8*mV + drive_post")
    synapses.connect(p=0.5)
    spikes = SpikeMonitor(neurons)
    voltage = StateMonitor(neurons, ["v", "drive"], record=True, dt=0.5 * ms)
    return Network(inputs, neurons, synapses, spikes, voltage), spikes, voltage


def run_on(device_name: str, folder, durations):
    with standalone(device_name, folder) as build:
        network, spikes, voltage = three_clock_network()
        for duration in durations:
            # a report function makes the scheduler read the clock at every object
            network.run(duration, report="text", report_period=1 * ms)
        build()
        return {
            "spike_i": np.asarray(spikes.i[:]),
            "spike_t": np.asarray(spikes.t[:] / ms),
            "v": np.asarray(voltage.v[:] / mV),
            "drive": np.asarray(voltage.drive[:] / mV),
            "t": np.asarray(voltage.t[:] / ms),
            "network_cpp": (folder / "network.cpp").read_text(),
        }


@pytest.mark.standalone
def test_lean_device_matches_cpp_standalone(tmp_path):
    # two runs, the second not a multiple of the slowest clock's dt
    durations = (20 * ms, 7.3 * ms)
    lean = run_on(DEVICE_NAME, tmp_path / "lean", durations)
    stock = run_on("cpp_standalone", tmp_path / "stock", durations)
    assert "clock_of" in lean["network_cpp"] and "clock_of" not in stock["network_cpp"]
    for key in ("spike_i", "spike_t", "v", "drive", "t"):
        np.testing.assert_array_equal(lean[key], stock[key], err_msg=key)
    # not vacuous: neurons spiked, and the 1 ms clock ran 28 times (0, 1, ..., 27 ms)
    assert lean["spike_i"].size > 20
    np.testing.assert_allclose(lean["drive"][:, -1], 0.01 * 28 * np.arange(1, 9))
    assert lean["t"].size == 55


def test_device_is_registered():
    from brian2.devices.device import all_devices

    assert isinstance(all_devices[DEVICE_NAME], LeanStandaloneDevice)


#: extra events of the conductance network: a level crossing, and one that draws a random number
EVENTS = {"high": "v > -54*mV", "coin": "rand() < 0.02"}


def conductance_network(refractory, vectorise: bool, threshold: str = "v > -52*mV",
                        vectorise_events: bool = False):
    """Poisson-driven conductance LIF neurons integrated with exponential Euler (exp in the loop)."""
    from neurocbram.standalone_device import vectorise_state_updater, vectorise_thresholder

    defaultclock.dt = 0.5 * ms
    seed(5)
    inputs = PoissonGroup(40, 150 * Hz)
    neurons = NeuronGroup(
        37,  # not a multiple of the vector width: the loop's remainder runs too
        "dv/dt = ((-65*mV - v) + ge * (0*mV - v) + gi * (-100*mV - v)) / (20*ms) : volt (unless refractory)\n"
        "dge/dt = -ge / (1*ms) : 1\ndgi/dt = -gi / (2*ms) : 1",
        threshold=threshold, reset="v = -53*mV", refractory=refractory, method="exponential_euler",
        events=dict(EVENTS),  # Brian2 adds "spike" to the dict it is given
    )
    neurons.v = -65 * mV
    excitation = Synapses(inputs, neurons, on_pre="ge_post += 0.15 + 0.01 * (i % 7)")
    excitation.connect(p=0.4)
    inhibition = Synapses(neurons, neurons, on_pre="gi_post += 0.2")
    inhibition.connect(condition="i != j")
    if vectorise:
        assert vectorise_state_updater(neurons)
    if vectorise_events:
        assert all(vectorise_thresholder(neurons, event) for event in ("spike", *EVENTS))
    spikes = SpikeMonitor(neurons)
    voltage = StateMonitor(neurons, "v", record=True)
    events = [EventMonitor(neurons, event) for event in EVENTS]
    return Network(inputs, neurons, excitation, inhibition, spikes, voltage, *events), spikes, voltage, events


def run_conductance(folder, refractory, vectorise: bool, **options):
    with standalone(DEVICE_NAME, folder) as build:
        network, spikes, voltage, events = conductance_network(refractory, vectorise, **options)
        network.run(300 * ms)
        build()
        codes = folder / "code_objects"
        return {"spike_i": np.asarray(spikes.i[:]), "spike_t": np.asarray(spikes.t[:] / ms),
                "v": np.asarray(voltage.v[:] / mV),
                **{f"{event}_{key}": np.asarray(getattr(monitor, key)[:])
                   for event, monitor in zip(EVENTS, events) for key in ("i", "t_")},
                "code": next(codes.glob("neurongroup*stateupdater_codeobject.cpp")).read_text(),
                "threshold_code": next(codes.glob("neurongroup*spike_thresholder_codeobject.cpp"))
                .read_text()}


@pytest.mark.standalone
def test_vectorised_state_updater_matches_brian2_template(tmp_path):
    from neurocbram.neurons import REFRACTORY_CONDITION

    # Brian2's refractoriness by whole steps, Brian2's template: the reference
    stock = run_conductance(tmp_path / "stock", 2.2 * ms, vectorise=False)
    # the same period as a condition in seconds (bit for bit), then in the vectorised loop
    condition = REFRACTORY_CONDITION.replace("refractory /", "(2.2*ms) /")
    same = run_conductance(tmp_path / "condition", condition, vectorise=False)
    vector = run_conductance(tmp_path / "vector", condition, vectorise=True)
    assert "timestep(" in stock["code"] or "_timestep(t - lastspike" in stock["code"]
    assert "_timestep(t - lastspike" not in same["code"]
    assert "#pragma GCC ivdep" in vector["code"] and "ivdep" not in same["code"]
    for key in ("spike_i", "spike_t", "v"):
        np.testing.assert_array_equal(same[key], stock[key], err_msg=key)
    # glibc's vector exp differs from the scalar one by a few ulp at most
    np.testing.assert_array_equal(vector["spike_i"], stock["spike_i"])
    np.testing.assert_array_equal(vector["spike_t"], stock["spike_t"])
    np.testing.assert_allclose(vector["v"], stock["v"], rtol=0, atol=1e-9)
    # not vacuous: the neurons spiked, some again as soon as the refractory period let them
    # (2.2 ms is 4 whole steps of 0.5 ms: Brian2 releases a neuron after 2.0 ms)
    assert stock["spike_i"].size > 100
    gaps = np.concatenate([np.diff(stock["spike_t"][stock["spike_i"] == k]) for k in range(37)])
    assert gaps.min() == pytest.approx(2.0)


@pytest.mark.standalone
def test_vectorised_thresholders_give_the_same_events(tmp_path):
    from neurocbram.neurons import EXCITATORY_THRESHOLD

    # a 3.1 ms spike lock (6 whole steps) on top of 2.2 ms refractoriness, as Brian2 would
    # count it in steps, Brian2's thresholder: the reference
    stock = run_conductance(tmp_path / "stock", 2.2 * ms, vectorise=False,
                            threshold="v > -52*mV and timestep(t - lastspike, dt) >= "
                                      "timestep(3.1*ms, dt)")
    # the lock in seconds as the excitatory neurons write it, in the vectorised thresholders
    lock = EXCITATORY_THRESHOLD.split(" and ", 1)[1].replace("spike_lock /", "(3.1*ms) /")
    vector = run_conductance(tmp_path / "vector", 2.2 * ms, vectorise=False,
                             threshold=f"v > -52*mV and {lock}", vectorise_events=True)
    assert "_any" in vector["threshold_code"] and "_any" not in stock["threshold_code"]
    for key in ("spike_i", "spike_t", "v", "high_i", "high_t_", "coin_i", "coin_t_"):
        np.testing.assert_array_equal(vector[key], stock[key], err_msg=key)
    # not vacuous: neurons spiked again as soon as the lock let them (6 steps), many steps
    # had no spike (the list is skipped), the other events held for some neurons, not all
    gaps = np.concatenate([np.diff(stock["spike_t"][stock["spike_i"] == k]) for k in range(37)])
    assert stock["spike_i"].size > 100 and gaps.min() == pytest.approx(3.0)
    assert np.unique(stock["spike_t"]).size < 0.8 * 600
    for event in EVENTS:
        assert 0.01 < stock[f"{event}_i"].size / (37 * 600) < 0.5, event


def test_vectorised_thresholder_needs_the_event(tmp_path):
    from neurocbram.standalone_device import vectorise_thresholder

    with standalone(DEVICE_NAME, tmp_path):
        group = NeuronGroup(3, "v : 1", threshold="v > 1", events={"high": "v > 0.5"})
        with pytest.raises(ValueError, match="no event 'burst'; it has high, spike"):
            vectorise_thresholder(group, "burst")
