"""The lean standalone device runs Brian2's schedule: same results as ``cpp_standalone``."""

from __future__ import annotations

import numpy as np
import pytest

brian2 = pytest.importorskip("brian2")

from brian2 import (  # noqa: E402
    Hz,
    Network,
    NeuronGroup,
    PoissonGroup,
    SpikeMonitor,
    StateMonitor,
    Synapses,
    defaultclock,
    device,
    ms,
    mV,
    prefs,
    seed,
    set_device,
)

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
    prefs.devices.cpp_standalone.extra_make_args_unix = ["-j2"]
    set_device(device_name, directory=str(folder), build_on_run=False)
    try:
        network, spikes, voltage = three_clock_network()
        for duration in durations:
            # a report function makes the scheduler read the clock at every object
            network.run(duration, report="text", report_period=1 * ms)
        device.build(directory=str(folder), compile=True, run=True, with_output=False)
        return {
            "spike_i": np.asarray(spikes.i[:]),
            "spike_t": np.asarray(spikes.t[:] / ms),
            "v": np.asarray(voltage.v[:] / mV),
            "drive": np.asarray(voltage.drive[:] / mV),
            "t": np.asarray(voltage.t[:] / ms),
            "network_cpp": (folder / "network.cpp").read_text(),
        }
    finally:
        device.reinit()
        set_device("runtime")


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
