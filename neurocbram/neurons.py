"""LIF neurons of the Diehl & Cook (2015) network as reusable Brian2 building blocks.

Diehl P.U. & Cook M. (2015) "Unsupervised learning of digit recognition using
spike-timing-dependent plasticity", Front. Comput. Neurosci. 9:99. Values
below are those of the paper and its published code (see ../shared/DESIGN.md
section 3): conductance-based LIF neurons whose synaptic conductances ``ge``
and ``gi`` are dimensionless (in units of the leak conductance), an
adaptive threshold ``theta`` for the excitatory neurons, lateral inhibition
through a one-to-one excitatory->inhibitory and an all-but-self
inhibitory->excitatory pathway.

The equations are plain strings with units; every constant lives in a
parameter dataclass whose :meth:`namespace` is handed to Brian2, so users
change a value without editing equations::

    params = ExcitatoryParameters(tau_membrane=50 * ms)
    exc = excitatory_group(400, params)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from brian2 import NeuronGroup, Quantity, ms, mV

__all__ = [
    "ExcitatoryParameters",
    "InhibitoryParameters",
    "EXCITATORY_EQUATIONS",
    "INHIBITORY_EQUATIONS",
    "EXCITATORY_THRESHOLD",
    "REFRACTORY_CONDITION",
    "INTEGRATION_METHODS",
    "DEFAULT_INTEGRATION",
    "check_integration",
    "excitatory_group",
    "inhibitory_group",
]

#: state updaters the neurons (and the batched evaluator) support
INTEGRATION_METHODS = ("exponential_euler", "euler")
#: Brian2's exponential Euler: exact for ``v`` while ``ge``/``gi`` are held over a step,
#: hence stable for any conductance. Forward Euler (the published code's Brian 1
#: integrator) overshoots ``E_inh`` once ``dt/tau_membrane * (1 + ge + gi) > 1`` and
#: diverges above 2: with ``dt = 0.5 ms`` that is ~12 (resp. ~24) inhibitory spikes
#: of weight 17 in one step, which a few hundred neurons whose thresholds relaxed
#: together produce, starting a self-sustaining storm of spikes (seen before the
#: 50 ms ``spike_lock`` was added; see :mod:`neurocbram.networks.diehl_cook`).
#: Holding ``ge``/``gi`` over a step costs exponential Euler accuracy instead: at
#: ``dt = 0.5 ms`` each excitatory event moves ``v`` 27% more than the equations do,
#: each inhibitory one 13% more; forward Euler's charge is exact.
DEFAULT_INTEGRATION = "exponential_euler"


def check_integration(method: str) -> str:
    """``method`` if the neurons support it, else a ``ValueError`` naming the choices."""
    if method not in INTEGRATION_METHODS:
        raise ValueError(
            f"integration method must be one of {', '.join(INTEGRATION_METHODS)}, got {method!r}"
        )
    return method

#: excitatory LIF with adaptive threshold; ``theta`` relaxes towards ``theta_relax``;
#: ``theta_decay`` gates the relaxation (1 while training, 0 to hold theta fixed)
EXCITATORY_EQUATIONS = """
dv/dt = ((v_rest - v) + ge * (E_exc - v) + gi * (E_inh - v)) / tau_membrane : volt (unless refractory)
dge/dt = -ge / tau_ge : 1
dgi/dt = -gi / tau_gi : 1
dtheta/dt = -theta_decay * (theta - theta_relax) / tau_theta : volt
"""

#: excitatory spike condition: above the adaptive threshold and at least ``spike_lock``
#: after the neuron's last spike (Brian2 adds "and not refractory" itself); the lock
#: compares seconds, half a step below the period, as :data:`REFRACTORY_CONDITION`
#: does: the same steps as ``timestep(t - lastspike, dt) >= timestep(spike_lock, dt)``,
#: without the double-to-int64 conversion that keeps a thresholder from vectorising
EXCITATORY_THRESHOLD = (
    "v > v_threshold + theta and "
    "(t - lastspike) >= (floor(spike_lock / dt + 0.001) - 0.5) * dt"
)

#: refractoriness (Brian2's ``refractory`` argument): a neuron stays refractory while
#: fewer than ``timestep(refractory, dt)`` steps have passed since its last spike.
#: ``refractory="refractory"`` would make Brian2 compare whole time steps,
#: ``timestep(t - lastspike, dt) >= timestep(refractory, dt)``; since ``t`` and
#: ``lastspike`` are multiples of ``dt``, this comparison in seconds, half a step
#: below the period, releases the neuron at the same step, and it has no
#: double-to-int64 conversion, which would keep the state updater's loop from
#: vectorising (:func:`neurocbram.standalone_device.vectorise_state_updater`).
REFRACTORY_CONDITION = "(t - lastspike) < (floor(refractory / dt + 0.001) - 0.5) * dt"

#: inhibitory LIF (fixed threshold)
INHIBITORY_EQUATIONS = """
dv/dt = ((v_rest - v) + ge * (E_exc - v) + gi * (E_inh - v)) / tau_membrane : volt (unless refractory)
dge/dt = -ge / tau_ge : 1
dgi/dt = -gi / tau_gi : 1
"""


def _quantity(value: Quantity):
    """A dataclass field defaulting to a Brian2 quantity (an ndarray, hence a factory)."""
    return field(default_factory=lambda: value)


@dataclass(frozen=True)
class ExcitatoryParameters:
    """Excitatory neuron constants (Diehl & Cook 2015, Table/Methods and published code)."""

    v_rest: Quantity = _quantity(-65.0 * mV)
    v_reset: Quantity = _quantity(-65.0 * mV)
    v_threshold: Quantity = _quantity(-52.0 * mV)
    E_exc: Quantity = _quantity(0.0 * mV)
    E_inh: Quantity = _quantity(-100.0 * mV)
    tau_membrane: Quantity = _quantity(100.0 * ms)
    tau_ge: Quantity = _quantity(1.0 * ms)
    tau_gi: Quantity = _quantity(2.0 * ms)
    refractory: Quantity = _quantity(5.0 * ms)
    #: shortest interval between two spikes of a neuron. The published code gates
    #: its threshold with ``timer > refrac_e`` (5 ms) where ``dtimer/dt = 100.0 : ms``
    #: (0.1 s/s) and a spike sets ``timer = 0``: read with units, the gate opens
    #: 50 ms after a spike, while ``v`` integrates again after the 5 ms refractory
    #: period. The script imports ``brian_no_units``, under which the timer runs at
    #: 100 s/s and the gate opens one step after the spike: set ``spike_lock`` to
    #: ``refractory`` for that, and for the paper's text (5 ms dead time only).
    spike_lock: Quantity = _quantity(50.0 * ms)
    theta_plus: Quantity = _quantity(0.05 * mV)
    tau_theta: Quantity = _quantity(1e7 * ms)
    #: value theta relaxes to. The published code starts theta at 20 mV and
    #: compares ``v`` with ``theta - 20 mV + v_threshold``, while theta decays
    #: towards 0: the threshold's adaptive part starts at 0 and relaxes
    #: towards -20 mV. Written here as theta starting at 0 and ``theta_relax``.
    theta_relax: Quantity = _quantity(-20.0 * mV)
    #: initial membrane potential below rest, as in the published code (v_rest - 40 mV)
    v_initial_offset: Quantity = _quantity(-40.0 * mV)

    def namespace(self, theta_decay: float = 1.0) -> dict[str, object]:
        """Constants for ``NeuronGroup(namespace=...)``; ``theta_decay`` 0 freezes theta."""
        names = asdict(self)
        names.pop("v_initial_offset")
        names["theta_decay"] = float(theta_decay)
        return names


@dataclass(frozen=True)
class InhibitoryParameters:
    """Inhibitory neuron constants (Diehl & Cook 2015)."""

    v_rest: Quantity = _quantity(-60.0 * mV)
    v_reset: Quantity = _quantity(-45.0 * mV)
    v_threshold: Quantity = _quantity(-40.0 * mV)
    E_exc: Quantity = _quantity(0.0 * mV)
    E_inh: Quantity = _quantity(-85.0 * mV)
    tau_membrane: Quantity = _quantity(10.0 * ms)
    tau_ge: Quantity = _quantity(1.0 * ms)
    tau_gi: Quantity = _quantity(2.0 * ms)
    refractory: Quantity = _quantity(2.0 * ms)
    v_initial_offset: Quantity = _quantity(-40.0 * mV)

    def namespace(self) -> dict[str, object]:
        """Constants for ``NeuronGroup(namespace=...)``."""
        names = asdict(self)
        names.pop("v_initial_offset")
        return names


def excitatory_group(
    n: int,
    params: ExcitatoryParameters | None = None,
    *,
    learning: bool = True,
    name: str = "excitatory",
    method: str = DEFAULT_INTEGRATION,
    dt: Quantity | None = None,
) -> NeuronGroup:
    """``n`` excitatory neurons; while ``learning`` each spike raises theta by ``theta_plus``.

    Spike condition :data:`EXCITATORY_THRESHOLD`; reset sets ``v = v_reset``.
    """
    params = params or ExcitatoryParameters()
    reset = "v = v_reset" + ("\ntheta += theta_plus" if learning else "")
    group = NeuronGroup(
        n,
        EXCITATORY_EQUATIONS,
        threshold=EXCITATORY_THRESHOLD,
        reset=reset,
        refractory=REFRACTORY_CONDITION,
        method=method,
        namespace=params.namespace(theta_decay=1.0 if learning else 0.0),
        name=name,
        dt=dt,
    )
    group.v = params.v_rest + params.v_initial_offset
    return group


def inhibitory_group(
    n: int,
    params: InhibitoryParameters | None = None,
    *,
    name: str = "inhibitory",
    method: str = DEFAULT_INTEGRATION,
    dt: Quantity | None = None,
) -> NeuronGroup:
    """``n`` inhibitory neurons with a fixed threshold."""
    params = params or InhibitoryParameters()
    group = NeuronGroup(
        n,
        INHIBITORY_EQUATIONS,
        threshold="v > v_threshold",
        reset="v = v_reset",
        refractory=REFRACTORY_CONDITION,
        method=method,
        namespace=params.namespace(),
        name=name,
        dt=dt,
    )
    group.v = params.v_rest + params.v_initial_offset
    return group
