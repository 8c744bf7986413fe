"""Gated synaptic pathways skip synapses with a zero gate and change nothing else."""

from __future__ import annotations

import numpy as np
import pytest

brian2 = pytest.importorskip("brian2")

from brian2 import (  # noqa: E402
    Hz,
    Network,
    NeuronGroup,
    PoissonGroup,
    defaultclock,
    device,
    ms,
    prefs,
    seed,
    set_device,
    siemens,
)

from neurocbram.devices import load_card  # noqa: E402
from neurocbram.gated_pathway import GatedSynapsesCodeObject, gate_pathway  # noqa: E402
from neurocbram.synapses import MemristiveSynapse, memristive_synapses  # noqa: E402

N_INPUTS, N_TARGETS = 40, 12
#: targets 0, 3, 6, 9 have no trace: their synapses must be skipped
TRACE = np.where(np.arange(N_TARGETS) % 3 == 0, 0.0, np.linspace(0.2, 1.0, N_TARGETS))


def depression_network(gated: bool):
    """Poisson inputs depressing their synapses by ``eta * trace_post`` pulses at each spike."""
    defaultclock.dt = 0.5 * ms
    seed(7)
    memristor = MemristiveSynapse(load_card("cbram-shi2018"))
    inputs = PoissonGroup(N_INPUTS, 80 * Hz)
    targets = NeuronGroup(N_TARGETS, "trace : 1")
    targets.trace = TRACE
    synapses = memristive_synapses(
        inputs, targets, memristor,
        on_pre={"depression": memristor.pulse_code("-eta * trace_post", direction="reset")},
        namespace={"eta": 0.02},
        connect=None,
    )
    synapses.connect()
    memristor.initialise(synapses, w=0.8, seed=3, n_synapses=N_INPUTS * N_TARGETS)
    engaged = gate_pathway(synapses.depression, "trace_post") if gated else False
    return Network(inputs, targets, synapses), synapses, engaged


def run_standalone(folder, gated: bool):
    prefs.devices.cpp_standalone.extra_make_args_unix = ["-j2"]
    set_device("cpp_standalone", directory=str(folder), build_on_run=True)
    try:
        network, synapses, engaged = depression_network(gated)
        codeobj_class = synapses.depression.codeobj_class
        network.run(200 * ms)
        return {
            "engaged": engaged,
            "codeobj_class": codeobj_class,
            "G": np.asarray(synapses.G[:] / siemens),
            "reset_pulses": np.asarray(synapses.reset_pulses[:]),
            "post": np.asarray(synapses.j[:]),
            "code": (folder / "code_objects" / f"{synapses.depression.name}_codeobject.cpp").read_text(),
        }
    finally:
        device.reinit()
        set_device("runtime")


@pytest.mark.standalone
def test_gated_pathway_gives_the_same_synapses(tmp_path):
    gated = run_standalone(tmp_path / "gated", gated=True)
    plain = run_standalone(tmp_path / "plain", gated=False)
    assert gated["engaged"] and gated["codeobj_class"] is GatedSynapsesCodeObject
    assert "if (" in gated["code"] and "continue;" in gated["code"]
    assert "continue;" not in plain["code"]
    # the same conductances and pulse counts, bit for bit (the skipped synapses
    # would have drawn no random number)
    np.testing.assert_array_equal(gated["G"], plain["G"])
    np.testing.assert_array_equal(gated["reset_pulses"], plain["reset_pulses"])
    # not a vacuous comparison: traced targets were depressed, untraced ones not
    traced = TRACE[gated["post"]] > 0
    assert gated["reset_pulses"][traced].sum() > 100
    assert np.all(gated["reset_pulses"][~traced] == 0)


def test_gate_is_left_off_outside_standalone():
    _, synapses, engaged = depression_network(gated=True)
    assert engaged is False
    assert synapses.depression.codeobj_class is not GatedSynapsesCodeObject


def test_gate_variable_must_be_read_by_the_pathway(tmp_path):
    set_device("cpp_standalone", directory=str(tmp_path), build_on_run=False)
    try:
        _, synapses, _ = depression_network(gated=False)
        with pytest.raises(ValueError, match="'v_post'.*depression"):
            gate_pathway(synapses.depression, "v_post")
        # a substring of a name in the statements is not a name in them
        with pytest.raises(ValueError, match="'trace'.*depression"):
            gate_pathway(synapses.depression, "trace")
        with pytest.raises(ValueError, match="'G'.*synaptic"):
            gate_pathway(synapses.depression, "G")
    finally:
        device.reinit()
        set_device("runtime")
