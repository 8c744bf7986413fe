"""Brian2's C++ standalone device with a leaner per-step scheduler.

Brian2's generated ``Network::run`` does, at every time step, work that does
not depend on the model: it searches a ``std::set`` for each object's clock,
rebuilds the set of due clocks (heap allocations) and reads the process CPU
clock (a system call). For a network whose whole step costs a few
microseconds, as the Diehl & Cook network at N = 400 does, that was 8% of the
training time with exponential Euler and 14% with forward Euler. :class:`LeanStandaloneDevice` is Brian2's
``CPPStandaloneDevice`` with one change: ``network.cpp`` comes from
neurocbram's template, which keeps the same interface and the same schedule
(which objects run at which step, in which order; the same results bit for
bit, see ``tests/test_standalone_device.py``) and does that bookkeeping once
per run. Everything else -- code objects, ``run_args``, building, reading
results -- is Brian2's.

``set_device("neurocbram_standalone", ...)`` selects it (registered on import);
:class:`neurocbram.standalone.StandaloneProgram` uses it.

:func:`vectorise_state_updater` gives a group's state updater a template
(``templates/stateupdate.cpp``) whose loop GCC vectorises, ``exp`` included
(glibc's SIMD ``exp``): with exponential Euler the neurons' ``exp`` was a
fifth of the Diehl & Cook network's training time at N = 400, one scalar call
per neuron and step. :func:`vectorise_thresholder` does the same for a group's
event conditions. Both work on either standalone device.
"""

from __future__ import annotations

from pathlib import Path

from brian2 import get_device
from brian2.devices.cpp_standalone.codeobject import CPPStandaloneCodeObject
from brian2.devices.cpp_standalone.device import CPPStandaloneDevice
from brian2.devices.device import all_devices
from brian2.groups.group import Group

__all__ = ["DEVICE_NAME", "TEMPLATER", "TEMPLATES", "LeanStandaloneDevice", "TemplateCodeObject",
           "use_templates", "vectorise_state_updater", "vectorise_thresholder"]

#: Brian2's standalone templates, with neurocbram's (``templates/*.cpp``) taking precedence
TEMPLATER = CPPStandaloneCodeObject.templater.derive("neurocbram")

#: neurocbram's C++ templates (part of a build's cache key)
TEMPLATES = tuple(sorted((Path(__file__).parent / "templates").glob("*.cpp")))

#: the name under which the device is registered for ``set_device``
DEVICE_NAME = "neurocbram_standalone"


class LeanStandaloneDevice(CPPStandaloneDevice):
    """``cpp_standalone`` whose ``Network::run`` does its clock bookkeeping once per run."""

    def generate_network_source(self, writer, compiler) -> None:
        maximum_run_time = self._maximum_run_time
        if maximum_run_time is not None:
            maximum_run_time = float(maximum_run_time)
        writer.write("network.*", TEMPLATER.network(None, None, maximum_run_time=maximum_run_time))


all_devices[DEVICE_NAME] = LeanStandaloneDevice()


class TemplateCodeObject(CPPStandaloneCodeObject):
    """C++ standalone code object built from neurocbram's templates (``templates/*.cpp``:
    state updater, thresholder, synaptic pathway and its spike push), Brian2's for the rest."""

    templater = TEMPLATER


def use_templates(runner) -> bool:
    """Build ``runner`` (a state updater, thresholder or synaptic pathway) from neurocbram's
    templates. Returns True on the standalone devices, False on others (left as it is)."""
    if not isinstance(get_device(), CPPStandaloneDevice):
        return False
    runner.codeobj_class = TemplateCodeObject
    return True


def vectorise_state_updater(group: Group) -> bool:
    """Build ``group``'s state updater from neurocbram's vectorisable template (C++ standalone).

    The template (``templates/stateupdate.cpp``) computes the same statements
    as Brian2's; GCC then runs the loop over 2 or 4 neurons at a time, ``exp``
    included (glibc's vector ``exp``, within 4 ulp of the scalar one, so
    results are not bit-identical to Brian2's template). The loop vectorises
    only if its statements do: Brian2's refractoriness by time steps
    (``timestep(t - lastspike, dt) >= ...``, a double-to-int64 conversion) does
    not on AVX2, hence :data:`neurocbram.neurons.REFRACTORY_CONDITION`.
    Returns True when the template is in place, False on other devices.
    """
    return use_templates(group.state_updater)


def vectorise_thresholder(group: Group, event: str = "spike") -> bool:
    """Build ``group``'s thresholder of ``event`` from neurocbram's template (C++ standalone).

    The template (``templates/threshold.cpp``) evaluates the condition once per
    neuron, in order, as Brian2's does, but in a loop without branches that GCC
    vectorises (if the condition does: no ``rand()``, no double-to-int64
    ``timestep``), into one byte per neuron; the event list is built from those
    bytes only in a step where one is set. For events most steps lack (the
    Diehl & Cook network's spikes, its once-per-slot ``normalise`` event) a step
    then costs two short vector loops instead of a branch per neuron. The same
    events bit for bit. Returns True when the template is in place, False on
    other devices.
    """
    if event not in group.thresholder:
        raise ValueError(f"group {group.name!r} has no event {event!r}; it has "
                         f"{', '.join(sorted(group.thresholder))}")
    return use_templates(group.thresholder[event])
