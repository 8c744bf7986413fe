"""Gated and direct synaptic pathways visit the right synapses and change nothing else."""

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
    defaultclock,
    ms,
    seed,
    siemens,
)
from standalone_helpers import standalone  # noqa: E402

from neurocbram.devices import load_card  # noqa: E402
from neurocbram.pathways import direct_pathway, gate_pathway  # noqa: E402
from neurocbram.standalone_device import TemplateCodeObject  # noqa: E402
from neurocbram.synapses import MemristiveSynapse, memristive_synapses  # noqa: E402

N_INPUTS, N_TARGETS = 40, 12
#: targets 0, 3, 6, 9 have no trace: their synapses must be skipped in the depression
TRACE = np.where(np.arange(N_TARGETS) % 3 == 0, 0.0, np.linspace(0.2, 1.0, N_TARGETS))
#: inputs 0, 4, 8, ... never spike: their trace stays 0, their synapses are skipped in the
#: potentiation
INPUT_RATE = np.where(np.arange(N_INPUTS) % 4 == 0, 0.0, 100.0)


def stdp_network(gated: bool, direct: bool, all_but_self: bool = False):
    """Poisson inputs driving LIF targets through memristive synapses: transmission, depression
    by ``eta * trace_post`` pulses at each input spike, potentiation by ``eta * spike_trace_pre`` at
    each target spike."""
    defaultclock.dt = 0.5 * ms
    seed(7)
    memristor = MemristiveSynapse(load_card("cbram-shi2018"))
    inputs = NeuronGroup(N_INPUTS, "rate : Hz\ndspike_trace/dt = -spike_trace / (10*ms) : 1",
                         threshold="rand() < rate * dt", reset="spike_trace = 1", method="exact")
    inputs.rate = INPUT_RATE * Hz
    targets = NeuronGroup(N_TARGETS, "dv/dt = -v / (5*ms) : 1\ntrace : 1", threshold="v > 1",
                          reset="v = 0", method="exact")
    targets.trace = TRACE
    synapses = memristive_synapses(
        inputs, targets, memristor,
        model="load : 1\nhits : 1",
        on_pre={"transmission": "v_post += 0.3 * w",
                "depression": memristor.pulse_code("-eta * trace_post", direction="reset"),
                # an input's trace is 0 until its first spike has been reset
                "count": "hits += spike_trace_pre"},
        on_post={"post": "load += spike_trace_pre\n"
                 + memristor.pulse_code("eta * spike_trace_pre", direction="set")},
        namespace={"eta": 0.02},
        connect=None,
        name="stdp",
    )
    if all_but_self:
        synapses.connect(condition="i != j")
        n_synapses = N_INPUTS * N_TARGETS - N_TARGETS
    else:
        synapses.connect()
        n_synapses = N_INPUTS * N_TARGETS
    memristor.initialise(synapses, w=0.8, seed=3, n_synapses=n_synapses)
    synapses.depression.order = 0
    engaged = []
    if gated:
        engaged.append(gate_pathway(synapses.depression, "trace_post"))
        engaged.append(gate_pathway(synapses.post, "spike_trace_pre"))
        # gated on its own spiking neuron's variable (the event side)
        engaged.append(gate_pathway(synapses.count, "spike_trace_pre"))
    if direct:
        engaged += [direct_pathway(pathway) for pathway in
                    (synapses.transmission, synapses.depression, synapses.post, synapses.count)]
    spikes = SpikeMonitor(targets)
    return Network(inputs, targets, synapses, spikes), synapses, spikes, engaged


def run_standalone(folder, gated: bool, direct: bool, all_but_self: bool = False):
    with standalone("cpp_standalone", folder) as build:
        network, synapses, spikes, engaged = stdp_network(gated, direct, all_but_self)
        codeobj_class = synapses.depression.codeobj_class
        network.run(200 * ms)
        build()
        return {
            "engaged": engaged,
            "codeobj_class": codeobj_class,
            "G": np.asarray(synapses.G[:] / siemens),
            "reset_pulses": np.asarray(synapses.reset_pulses[:]),
            "set_pulses": np.asarray(synapses.set_pulses[:]),
            "load": np.asarray(synapses.load[:]),
            "hits": np.asarray(synapses.hits[:]),
            "pre": np.asarray(synapses.i[:]),
            "post": np.asarray(synapses.j[:]),
            "spike_i": np.asarray(spikes.i[:]),
            "spike_t": np.asarray(spikes.t[:] / ms),
            "code": {role: next((folder / "code_objects").glob(f"{pathway.name}_codeobject*.cpp"))
                     .read_text()
                     for role, pathway in (("depression", synapses.depression),
                                           ("transmission", synapses.transmission))},
            "stdout": (folder / "results" / "stdout.txt").read_text(),
        }


def assert_same_run(one, other):
    for key in ("G", "reset_pulses", "set_pulses", "load", "hits", "spike_i", "spike_t"):
        np.testing.assert_array_equal(one[key], other[key], err_msg=key)


@pytest.fixture(scope="module")
def plain_run(tmp_path_factory):
    return run_standalone(tmp_path_factory.mktemp("plain"), gated=False, direct=False)


@pytest.mark.standalone
def test_gated_pathway_gives_the_same_synapses(tmp_path, plain_run):
    gated = run_standalone(tmp_path / "gated", gated=True, direct=False)
    assert gated["engaged"] == [True] * 3 and gated["codeobj_class"] is TemplateCodeObject
    assert "continue;" in gated["code"]["depression"]
    assert all("continue;" not in code for code in plain_run["code"].values())
    # the same conductances, pulse counts and spikes, bit for bit (the skipped
    # synapses would have drawn no random number)
    assert_same_run(gated, plain_run)
    # not a vacuous comparison: traced targets were depressed, untraced ones not;
    # the targets spiked and potentiated the synapses of active inputs only
    traced = TRACE[gated["post"]] > 0
    assert gated["reset_pulses"][traced].sum() > 100
    assert np.all(gated["reset_pulses"][~traced] == 0)
    active = INPUT_RATE[gated["pre"]] > 0
    assert len(gated["spike_i"]) > 20 and gated["set_pulses"][active].sum() > 100
    assert np.all(gated["set_pulses"][~active] == 0) and np.all(gated["load"][~active] == 0)
    # the count saw each active input's spikes after its first (trace 0 at the first)
    assert np.all(gated["hits"][active] > 0) and np.all(gated["hits"][~active] == 0)


@pytest.mark.standalone
@pytest.mark.parametrize("gated", [False, True], ids=["direct", "gated-direct"])
def test_direct_pathways_give_the_same_run(tmp_path, plain_run, gated):
    direct = run_standalone(tmp_path / "direct", gated=gated, direct=True)
    assert all(direct["engaged"]) and len(direct["engaged"]) == 4 + 3 * gated
    assert all("_neurocbram_direct_" in code for code in direct["code"].values())
    # the program took the direct loops (it says when it falls back to the queue)
    assert "spike queue" not in direct["stdout"]
    assert_same_run(direct, plain_run)


@pytest.mark.standalone
def test_direct_pathways_fall_back_to_the_queue(tmp_path):
    """Not a full matrix (no synapse from i to i): the program uses the spike queue."""
    direct = run_standalone(tmp_path / "direct", gated=True, direct=True, all_but_self=True)
    plain = run_standalone(tmp_path / "plain", gated=False, direct=False, all_but_self=True)
    assert all(direct["engaged"])
    for pathway in ("transmission", "depression", "post", "count"):
        assert f"pathway stdp_{pathway} uses the spike queue" in direct["stdout"]
    assert_same_run(direct, plain)
    assert len(direct["spike_i"]) > 20 and direct["reset_pulses"].sum() > 100


def test_gate_and_direct_are_left_off_outside_standalone():
    _, synapses, _, engaged = stdp_network(gated=True, direct=True)
    assert engaged == [False] * 7
    assert synapses.depression.codeobj_class is not TemplateCodeObject


def test_gate_variable_must_be_read_by_the_pathway(tmp_path):
    with standalone("cpp_standalone", tmp_path):
        _, synapses, _, _ = stdp_network(gated=False, direct=False)
        with pytest.raises(ValueError, match="'v_post'.*depression"):
            gate_pathway(synapses.depression, "v_post")
        # a substring of a name in the statements is not a name in them
        with pytest.raises(ValueError, match="'trace'.*depression"):
            gate_pathway(synapses.depression, "trace")
        with pytest.raises(ValueError, match="'G'.*not a per-neuron"):
            gate_pathway(synapses.depression, "G")
        # transmission writes v_post: it cannot gate it
        with pytest.raises(ValueError, match="'v_post' is written"):
            gate_pathway(synapses.transmission, "v_post")


def test_direct_pathway_needs_whole_groups(tmp_path):
    with standalone("cpp_standalone", tmp_path):
        inputs = PoissonGroup(10, 50 * Hz)
        targets = NeuronGroup(6, "v : 1")
        synapses = brian2.Synapses(inputs, targets[2:], on_pre="v_post += 1")
        with pytest.raises(ValueError, match="target .* is a subgroup"):
            direct_pathway(synapses.pre)
