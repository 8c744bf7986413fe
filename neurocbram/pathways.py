"""Faster synaptic pathways for C++ standalone: gated and direct.

A Brian2 pathway visits, at each step, every synapse of the neurons that had
the pathway's event, through a spike queue: the queue copies the synapse
indices in (``push``) and out (``peek``) and the loop reads each synapse's pre-
and postsynaptic index from memory. Two changes to that, both exact (the same
synapses visited in the same order, so the same results bit for bit):

* :func:`gate_pathway` skips the synapses whose gate variable is zero, for
  statements that change nothing there (Diehl & Cook's STDP depression,
  ``-eta_pre * post_trace1_post``, for the neurons without a spike in the slot:
  at N = 400 that pathway was 25-32% of the training time);
* :func:`direct_pathway` visits the synapses of a full ``N_pre x N_post``
  matrix (Brian2's order after ``connect()``, synapse ``i * N_post + j``) with
  zero delays straight from the step's events, without the queue: the pre- and
  postsynaptic indices are then loop counters, and a transmission such as
  ``ge_post += w`` becomes a contiguous loop GCC vectorises. A gated direct
  pathway lists the open gates once per step and visits only their synapses.
  Whether the synapses form that matrix is checked by the compiled program at
  the start of each run (``connect()`` happens there); if not, the pathway
  runs through the queue as usual.

Only the cpp_standalone devices have these templates (``templates/synapses.cpp``
and ``templates/synapses_push_spikes.cpp``); on other devices pathways are left
as they are.
"""

from __future__ import annotations

import re

from brian2 import get_device
from brian2.groups.subgroup import Subgroup
from brian2.utils.stringtools import get_identifiers

from neurocbram.standalone_device import use_templates

__all__ = ["direct_pathway", "gate_pathway"]

#: left-hand sides of Brian2's abstract-code statements (``x = ...``, ``x += ...``)
_ASSIGNED = re.compile(r"^\s*([A-Za-z_]\w*)\s*(?:[-+*/%]|//|\*\*)?=(?!=)", re.MULTILINE)


def gate_pathway(pathway, gate_variable: str) -> bool:
    """Make ``pathway`` (a ``SynapticPathway``) skip synapses where ``gate_variable`` is 0.

    ``gate_variable`` is a pre- or postsynaptic variable as the pathway's statements
    name it (``"post_trace1_post"``) and must be read, not written, by them; the
    statements must change nothing (write back the same values, draw no random
    number) where it is zero: the caller states that. Returns True when the gate is
    in place (cpp_standalone devices), False otherwise (the pathway then visits every
    synapse, as usual).
    """
    if gate_variable not in get_identifiers(pathway.code):
        raise ValueError(
            f"gate variable {gate_variable!r} does not appear in the statements of "
            f"pathway {pathway.name!r}"
        )
    if pathway.synapses.variables.indices[gate_variable] not in ("_presynaptic_idx",
                                                                  "_postsynaptic_idx"):
        raise ValueError(
            f"gate variable {gate_variable!r} of pathway {pathway.name!r} is not a per-neuron "
            "pre- or postsynaptic variable (e.g. 'trace_post'); synaptic and shared variables "
            "cannot gate"
        )
    if gate_variable in _ASSIGNED.findall(pathway.code):
        raise ValueError(
            f"gate variable {gate_variable!r} is written by the statements of pathway "
            f"{pathway.name!r}; a gate must stay fixed while the pathway runs"
        )
    if not use_templates(pathway):
        return False
    pathway.template_kwds = dict(pathway.template_kwds or {}, gate_variable=gate_variable)
    return True


def direct_pathway(pathway) -> bool:
    """Let ``pathway`` visit a full synapse matrix straight from its events (no spike queue).

    The pathway's ``Synapses`` must connect two whole groups (not subgroups). The
    compiled program checks at the start of every run that the synapses are the
    full matrix in Brian2's ``connect()`` order (synapse ``i * N_post + j``
    connects ``i`` to ``j``) with zero delays; if they are not, the pathway runs
    through Brian2's spike queue. Returns True when the direct template is in
    place (cpp_standalone devices), False otherwise.
    """
    synapses = pathway.synapses
    for role, group in (("source", synapses.source), ("target", synapses.target)):
        if isinstance(group, Subgroup):
            raise ValueError(
                f"pathway {pathway.name!r}: the {role} {group.name!r} is a subgroup; a "
                "direct pathway needs the synapses to connect whole groups"
            )
    if not use_templates(pathway):
        return False
    device = get_device()
    n_pre, n_post = len(synapses.source), len(synapses.target)
    pre_pathway = pathway.prepost == "pre"
    events = pathway.source.variables[pathway.eventspace_name]
    pathway.template_kwds = dict(
        pathway.template_kwds or {},
        direct={
            "flag": f"_neurocbram_direct_{pathway.name}",
            "events": device.get_array_name(events, access_data=False),
            "n_events_slot": len(pathway.source),  # the eventspace's last entry: the count
            "n_pre": n_pre,
            "n_post": n_post,
            # synapse of (event neuron _s, other neuron _t): _s * event_stride + _t * other_stride
            "event_stride": n_post if pre_pathway else 1,
            "other_stride": 1 if pre_pathway else n_post,
            "n_other": n_post if pre_pathway else n_pre,
            "event_index": "_presynaptic_idx" if pre_pathway else "_postsynaptic_idx",
            "other_index": "_postsynaptic_idx" if pre_pathway else "_presynaptic_idx",
            "synaptic_pre": device.get_array_name(synapses.variables["_synaptic_pre"],
                                                  access_data=False),
            "synaptic_post": device.get_array_name(synapses.variables["_synaptic_post"],
                                                   access_data=False),
            "delay": device.get_array_name(pathway.variables["delay"], access_data=False),
        },
    )
    return True
