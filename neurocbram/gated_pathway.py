"""Synaptic pathways that skip synapses whose postsynaptic gate is zero (C++ standalone).

A Brian2 pathway visits every synapse of a spiking source neuron. For STDP
depression in Diehl & Cook's rule (``dw = -eta_pre * post_trace1`` at each
input spike) that is every excitatory neuron, although only the neurons that
spiked since the slot started have ``post_trace1 > 0``; for the others the
statements read a dozen arrays and write three back unchanged. :func:`gate_pathway`
makes a pathway skip the synapses whose gate variable (e.g. ``post_trace1_post``)
is exactly zero. It is exact only for statements that change nothing when the
gate is zero (no random number drawn, nothing written but the same values): the
caller states that. Only the cpp_standalone device has the gated template; on
other devices the pathway is left as it is.
"""

from __future__ import annotations

from brian2 import get_device
from brian2.devices.cpp_standalone.codeobject import CPPStandaloneCodeObject
from brian2.devices.cpp_standalone.device import CPPStandaloneDevice
from brian2.utils.stringtools import get_identifiers

from neurocbram.standalone_device import TEMPLATER

__all__ = ["GatedSynapsesCodeObject", "gate_pathway"]


class GatedSynapsesCodeObject(CPPStandaloneCodeObject):
    """C++ standalone code object whose ``synapses`` template skips gated-off synapses."""

    templater = TEMPLATER


def gate_pathway(pathway, gate_variable: str) -> bool:
    """Make ``pathway`` (a ``SynapticPathway``) skip synapses where ``gate_variable`` is 0.

    ``gate_variable`` is a pre- or postsynaptic variable as the pathway's statements
    name it (``"post_trace1_post"``) and must be read by them. Returns True when the
    gate is in place (cpp_standalone device), False otherwise (the pathway then visits
    every synapse, as usual).
    """
    if not isinstance(get_device(), CPPStandaloneDevice):
        return False
    if gate_variable not in get_identifiers(pathway.code):
        raise ValueError(
            f"gate variable {gate_variable!r} does not appear in the statements of "
            f"pathway {pathway.name!r}"
        )
    if pathway.synapses.variables.indices[gate_variable] == "_idx":
        raise ValueError(
            f"gate variable {gate_variable!r} of pathway {pathway.name!r} is synaptic; "
            "the gate reads a pre- or postsynaptic variable (e.g. 'trace_post')"
        )
    pathway.codeobj_class = GatedSynapsesCodeObject
    pathway.template_kwds = dict(pathway.template_kwds or {}, gate_variable=gate_variable)
    return True
