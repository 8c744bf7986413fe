"""Memristive synapses for Brian2: pulse-driven conductance, STDP, freeze flag.

Each synapse holds the conductance ``G`` (siemens) of one device. Learning
rules, written by the user as ordinary Brian2 ``on_pre`` / ``on_post`` code,
change it only through **pulse events**: ``n`` identical SET (potentiating)
or RESET (depressing) pulses, with the semantics of
:mod:`neurocbram.devices.pulses` -- the card's one-pulse response iterated
``n`` times with the device's step scale, cycle-to-cycle noise on the total
step, clipping to ``[g_min, g_max]``; stuck devices never change. The same
numbers come out of the ``numpy``, ``cython`` and ``cpp_standalone`` targets
(the response functions are described in :mod:`neurocbram.synapse_functions`).

Model variables (:attr:`MemristiveSynapse.equations`)
------------------------------------------------------
``G : siemens``
    device conductance.
``w = (G - g_min)/(g_max - g_min) : 1``
    the normalised weight that neurons see (``ge_post += w``). It is a
    *subexpression*, not a stored variable: it can never disagree with ``G``
    whoever changes ``G`` (pulse code, pruning, ``run_args``), it costs no
    memory, and Brian2 still lets you use it in any code and record it with
    a ``StateMonitor`` (in every target). Set weights through ``G``
    (:meth:`MemristiveSynapse.initialise` accepts ``w=``); read them with
    :meth:`MemristiveSynapse.weights` (Brian2 2.9.0 cannot evaluate a
    synaptic subexpression such as ``S.w[:]`` after a standalone run).
``set_scale``, ``reset_scale : 1``, ``stuck : integer``
    the device's variation (device-to-device step scales, stuck-at faults:
    0 none, 1 stuck at ``g_min``, 2 stuck at ``g_max``), drawn by
    :meth:`MemristiveSynapse.initialise` with
    :func:`~neurocbram.devices.pulses.sample_population`.
``frozen : boolean``
    soft-pruning flag: a frozen synapse receives no pulses (it keeps
    conducting). Every update below is gated by it, in generated code.
``set_pulses``, ``reset_pulses : integer``
    exact per-synapse counts of the pulses applied (for the energy ledger).
    Pulses are not issued to frozen synapses; by default the pulses addressed
    to stuck devices are not counted either (``count_stuck_pulses=True``
    counts them: a write circuit cannot know a device is stuck).
``frozen_skipped : integer``
    pulses the rule asked for while the synapse was frozen (not issued): the
    writes soft-pruning saved.

From a continuous rule to pulses
--------------------------------
A rule that asks for a weight change ``dw`` (weight units, ``w`` in [0, 1])
issues ``n = pulse_count(|dw| / dw_per_pulse)`` pulses, SET if ``dw > 0``
and RESET if ``dw < 0``. ``dw_per_pulse`` is the mean step of the device,
``1/levels`` by default (``levels`` pulses take it from ``g_min`` to
``g_max``). :func:`pulse_count` rounds stochastically,
``floor(x) + int(rand() < x - floor(x))``, so the expected number of pulses
is exactly ``x``: small changes become single pulses with probability
``|dw|/dw_per_pulse``, and the rule is unbiased on average. The realised
change differs from ``dw`` where the device is nonlinear (its steps shrink
near the end it is moving to), which is the point of simulating the device.
:meth:`MemristiveSynapse.pulse_code` writes this mapping for you.

Example
-------
::

    mem = MemristiveSynapse(card)
    S = Synapses(inputs, exc, model=mem.equations + '''
                     dpre/dt = -pre/tau_pre : 1 (event-driven)
                     dpost/dt = -post/tau_post : 1 (event-driven)''',
                 on_pre='ge_post += w\\npre = 1\\n' + mem.pulse_code('-eta_pre*post'),
                 on_post='post = 1\\n' + mem.pulse_code('eta_post*pre'),
                 namespace={**mem.namespace, 'tau_pre': 20*ms, 'tau_post': 20*ms,
                            'eta_pre': 1e-4, 'eta_post': 1e-2})
    S.connect()
    mem.initialise(S, w='0.3*rand()', seed=1)

Cycle-to-cycle noise draws from Brian2's own normal generator, only for events
that apply pulses, so runs are reproducible with :func:`brian2.seed` in every
target (standalone included).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from brian2 import Synapses, siemens
from brian2.core.functions import Function
from brian2.units.fundamentalunits import DimensionMismatchError, Quantity, get_dimensions

from .checks import check_count
from .devices import load_card
from .devices.card import DeviceCard
from .devices.pulses import STUCK_NONE, STUCK_OFF, STUCK_ON, DevicePopulation, sample_population
from .synapse_functions import (
    IMPLEMENTED_TARGETS,
    c2c_normal_function,
    memristor_event_function,
    memristor_functions,
    memristor_pulses_function,
    pulse_round_function,
)

__all__ = [
    "MemristiveSynapse",
    "memristive_synapses",
    "pulse_count",
    "IMPLEMENTED_TARGETS",
    "STUCK_NONE",
    "STUCK_OFF",
    "STUCK_ON",
]

#: names :attr:`MemristiveSynapse.namespace` defines for the generated code
NAMESPACE_NAMES = (
    "memristor_set", "memristor_reset", "memristor_event", "pulse_round", "g_min", "g_max",
    "c2c_sigma", "c2c_normal", "dw_per_pulse", "memristor_pulses",
)

_EQUATIONS = """
G : siemens                           # device conductance
w = (G - g_min)/(g_max - g_min) : 1   # normalised weight in [0, 1]
set_scale : 1 (constant)              # device-to-device scale of the SET step
reset_scale : 1 (constant)            # device-to-device scale of the RESET step
stuck : integer (constant)            # 0: works, 1: stuck at g_min, 2: stuck at g_max
frozen : boolean                      # soft-pruned: receives no pulses
set_pulses : integer                  # SET pulses applied so far
reset_pulses : integer                # RESET pulses applied so far
frozen_skipped : integer              # pulses not issued because the synapse was frozen
"""


def pulse_count(x: str | float) -> str:
    """Abstract-code expression rounding ``x`` >= 0 pulses stochastically (unbiased).

    Returns ``int(floor(x)) + int(rand() < x - floor(x))``, an integer whose
    mean is ``x``. ``x`` (an expression or a number) is inserted more than
    once, so it must not itself call ``rand()`` (assign it to a variable
    first, as :meth:`MemristiveSynapse.pulse_code` does).
    """
    x = _expression(x, "x", allow_float=True)
    return f"(int(floor({x})) + int(rand() < ({x}) - floor({x})))"


def _dw_expression(dw: str | float) -> str:
    """A weight change as an abstract-code expression (numbers must be finite)."""
    if isinstance(dw, (float, int, np.floating, np.integer)) and not isinstance(dw, bool):
        if not np.isfinite(dw):
            raise ValueError(f"dw must be finite, got {dw}")
        dw = repr(float(dw))
    return _expression(dw, "dw")


def _expression(value: Any, what: str, allow_float: bool = False) -> str:
    """An abstract-code expression from a string or a non-negative number."""
    numbers = (int, np.integer, float, np.floating) if allow_float else (int, np.integer)
    if isinstance(value, bool) or not isinstance(value, (str, *numbers)):
        kind = "a number" if allow_float else "an integer"
        raise TypeError(
            f"{what} must be an abstract-code expression (str) or {kind}, "
            f"got {type(value).__name__}"
        )
    if isinstance(value, str):
        if not value.strip():
            raise ValueError(f"{what} is an empty expression")
        if "\n" in value.strip():
            raise ValueError(f"{what} must be a single expression, got several lines")
        return f"({value.strip()})"
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{what} must be >= 0 pulses, got {value}")
    return repr(float(value)) if isinstance(value, (float, np.floating)) else str(int(value))


class MemristiveSynapse:
    """The memristive part of a Brian2 ``Synapses`` model, built from a device card.

    Parameters
    ----------
    card : DeviceCard or str or Path
        The device (a card, a bundled card name or a ``card.json`` path).
    c2c : bool, optional
        Apply the card's cycle-to-cycle noise (one normal draw per event that applies pulses).
        Default ``True``; ``False`` makes the pulses deterministic.
    dw_per_pulse : float, optional
        Weight change (dimensionless) one pulse stands for in
        :meth:`pulse_code`; default ``1/levels``.
    count_stuck_pulses : bool, optional
        Count the pulses addressed to stuck devices in ``set_pulses`` /
        ``reset_pulses`` (default ``False``: only pulses that act are counted).
    analog : bool, optional
        Continuous reference instead of pulses (default ``False``): every
        requested ``dw`` is applied exactly, ``G += dw * (g_max - g_min) *
        scale`` (clipped), as by an ideal device with unlimited levels; the
        pulse counters then count update *events*. Only for cards with the
        ``linear`` response model (for which one pulse is such a step).

    Attributes
    ----------
    memristor_set, memristor_reset : brian2.Function
        ``f(G, n, scale)``: conductance (S) after ``n`` deterministic pulses.
    """

    def __init__(
        self,
        card: DeviceCard | str | Path,
        *,
        c2c: bool = True,
        dw_per_pulse: float | None = None,
        count_stuck_pulses: bool = False,
        analog: bool = False,
    ) -> None:
        if isinstance(card, (str, Path)):
            card = load_card(card)
        if not isinstance(card, DeviceCard):
            raise TypeError(
                f"card must be a DeviceCard (or a card name / path), got {type(card).__name__}"
            )
        self.card = card
        self.c2c_sigma = float(card.variability.c2c_sigma) if c2c else 0.0
        if dw_per_pulse is None:
            dw_per_pulse = 1.0 / card.levels
        if not (np.isfinite(dw_per_pulse) and dw_per_pulse > 0):
            raise ValueError(f"dw_per_pulse must be a positive number, got {dw_per_pulse!r}")
        self.dw_per_pulse = float(dw_per_pulse)
        self.count_stuck_pulses = bool(count_stuck_pulses)
        if analog and card.response.model != "linear":
            raise ValueError(
                f"analog updates need a card with the 'linear' response model; card "
                f"{card.name!r} uses {card.response.model!r}"
            )
        self.analog = bool(analog)
        self.memristor_set: Function
        self.memristor_reset: Function
        self.memristor_set, self.memristor_reset = memristor_functions(card)
        self.c2c_normal: Function = c2c_normal_function()
        self.memristor_event: Function = memristor_event_function(
            card, self.memristor_set, self.memristor_reset
        )
        self.pulse_round: Function = pulse_round_function()
        self.memristor_pulses: Function = memristor_pulses_function(card)

    def __repr__(self) -> str:
        analog = ", analog=True" if self.analog else ""
        return f"MemristiveSynapse(card={self.card.name!r}, c2c_sigma={self.c2c_sigma}{analog})"

    # ------------------------------------------------------------ model parts
    @property
    def equations(self) -> str:
        """Model lines to include in ``Synapses(model=...)`` (see module doc)."""
        return _EQUATIONS

    @property
    def namespace(self) -> dict[str, Any]:
        """Names the generated code needs; pass (merged with yours) to ``Synapses``."""
        return {
            "memristor_set": self.memristor_set,
            "memristor_reset": self.memristor_reset,
            "g_min": self.card.g_min * siemens,
            "g_max": self.card.g_max * siemens,
            "c2c_sigma": self.c2c_sigma,
            "c2c_normal": self.c2c_normal,
            "memristor_event": self.memristor_event,
            "pulse_round": self.pulse_round,
            "dw_per_pulse": self.dw_per_pulse,
            "memristor_pulses": self.memristor_pulses,
        }

    def set_code(self, n: str | int = 1) -> str:
        """Abstract code applying a SET event of ``n`` pulses (expression or int >= 0)."""
        return self._event_code("set", set_n=_expression(n, "n"), reset_n=None)

    def reset_code(self, n: str | int = 1) -> str:
        """Abstract code applying a RESET event of ``n`` pulses (expression or int >= 0)."""
        return self._event_code("reset", set_n=None, reset_n=_expression(n, "n"))

    def pulse_code(self, dw: str | float, direction: str = "both") -> str:
        """Abstract code realising a requested weight change ``dw`` as pulses.

        ``n = pulse_count(|dw| / dw_per_pulse)`` pulses, SET for ``dw > 0``,
        RESET for ``dw < 0`` (one pulse event; see the module doc). ``dw``
        (dimensionless, weight units) may call ``rand()``: it is evaluated once.
        ``direction="reset"`` is for a ``dw`` that is never positive
        (``"set"``: never negative). The code then leaves out the other
        direction and neither reads nor writes its arrays; a request of the
        other sign applies no pulses. Analog synapses ignore it.
        """
        if direction not in ("both", "set", "reset"):
            raise ValueError(f"direction must be 'both', 'set' or 'reset', got {direction!r}")
        dw = _dw_expression(dw)
        p = "_memristor_dw"
        if self.analog:
            return self._analog_code(dw)
        lines = [
            f"{p} = 1.0*{dw}",
            f"{p}_n = pulse_round(abs({p}) / dw_per_pulse)",
        ]
        code = "\n".join(lines) + "\n"
        set_n = f"{p}_n * int({p} > 0)" if direction != "reset" else None
        reset_n = f"{p}_n * int({p} < 0)" if direction != "set" else None
        return code + self._event_code("dw", set_n=set_n, reset_n=reset_n)

    def program_code(self, dw: str | float) -> str:
        """Abstract code aiming a weight change ``dw`` at its target along the card's ramp.

        Unlike :meth:`pulse_code` (``|dw| / dw_per_pulse`` pulses: a request
        in weight units, realised with the device's nonlinearity, as STDP
        updates are), the pulse count is chosen so that the card's mean pulse
        response reaches ``G + dw * (g_max - g_min)``: ``memristor_pulses(G,
        target)`` pulses, stochastically rounded (one event; device-to-device
        and cycle-to-cycle variation still apply). For writes with a target,
        such as weight normalisation. Analog synapses apply ``dw`` exactly.
        """
        dw = _dw_expression(dw)
        if self.analog:
            return self._analog_code(dw)
        p = "_memristor_dw"
        lines = [
            f"{p} = 1.0*{dw}",
            f"{p}_pulses = memristor_pulses(G, clip(G + {p} * (g_max - g_min), g_min, g_max))",
            f"{p}_n = pulse_round(abs({p}_pulses))",
        ]
        return "\n".join(lines) + "\n" + self._event_code(
            "dw", set_n=f"{p}_n * int({p}_pulses > 0)", reset_n=f"{p}_n * int({p}_pulses < 0)"
        )

    def _analog_code(self, dw: str) -> str:
        """Exact continuous update (``analog=True``); counters count update events."""
        p = "_memristor_dw"
        gate = "int(not frozen) * int(stuck == 0)"
        counted = "int(not frozen)" if self.count_stuck_pulses else gate
        return "\n".join([
            f"{p} = 1.0*{dw}",
            f"{p}_scale = set_scale * int({p} > 0) + reset_scale * int({p} < 0)",
            f"G = clip(G + {gate} * {p} * {p}_scale * (g_max - g_min), g_min, g_max)",
            f"set_pulses += {counted} * int({p} > 0)",
            f"reset_pulses += {counted} * int({p} < 0)",
            f"frozen_skipped += int(frozen) * int({p} != 0)",
        ]) + "\n"

    def _event_code(self, tag: str, set_n: str | None, reset_n: str | None) -> str:
        """One pulse event: SET and/or RESET pulses, then one c2c draw on the total step.

        ``memristor_event`` applies it, drawing the normal number only when the
        event applies pulses, and returns at once for events without pulses."""
        p = f"_memristor_{tag}"
        lines = []
        counts = {"set": "0", "reset": "0"}
        counted = {}
        for direction, n in (("set", set_n), ("reset", reset_n)):
            if n is None:
                continue
            q = p if direction == tag else f"{p}_{direction}"
            lines.append(f"{q}_wanted = int({n})")
            lines.append(f"{q}_requested = {q}_wanted * int(not frozen)")
            lines.append(f"frozen_skipped += {q}_wanted * int(frozen)")
            lines.append(f"{q}_n = {q}_requested * int(stuck == 0)")
            counts[direction] = f"{q}_n"
            counted[direction] = f"{q}_requested" if self.count_stuck_pulses else f"{q}_n"
        # a direction without pulses needs no device scale (1.0: its array is not read)
        scales = {d: (f"{d}_scale" if d in counted else "1.0") for d in ("set", "reset")}
        lines.append(
            f"G = memristor_event(G, {counts['set']}, {counts['reset']}, {scales['set']}, "
            f"{scales['reset']}, c2c_sigma)"
        )
        for direction, count in counted.items():
            lines.append(f"{direction}_pulses += {count}")
        return "\n".join(lines) + "\n"

    def weights(self, synapses: Synapses) -> np.ndarray:
        """Weights ``w`` in [0, 1] of ``synapses`` computed from ``G`` (also after standalone)."""
        return self.card.weight(np.asarray(synapses.G[:] / siemens))

    # --------------------------------------------------------------- devices
    def initialise(
        self,
        synapses: Synapses,
        G: Quantity | str | None = None,
        *,
        w: float | np.ndarray | str | None = None,
        seed: int | np.random.Generator | None = None,
        population: DevicePopulation | None = None,
        n_synapses: int | None = None,
    ) -> DevicePopulation:
        """Draw the devices of ``synapses`` and set their conductances.

        Parameters
        ----------
        synapses : brian2.Synapses
            Connected synapses whose model includes :attr:`equations`.
        G : Quantity or str, optional
            Initial conductance (siemens; array, scalar or a string expression).
        w : float, array or str, optional
            Initial weight in [0, 1] instead of ``G`` (default: ``G = g_min``).
        seed : int or numpy.random.Generator, optional
            Seed of :func:`~neurocbram.devices.pulses.sample_population`.
        population : DevicePopulation, optional
            Use these devices instead of drawing new ones.
        n_synapses : int, optional
            Number of synapses; needed in ``cpp_standalone``, where Brian2
            only knows it after the build (e.g. ``N_pre*N_post`` for
            ``connect()``).

        Returns
        -------
        DevicePopulation
            The devices (step scales and stuck flags); stuck devices are pinned.
        """
        card = self.card
        for name in ("G", "set_scale", "reset_scale", "stuck", "frozen", "set_pulses"):
            if name not in synapses.variables:
                raise ValueError(
                    f"{synapses.name} has no variable {name!r}: include "
                    "MemristiveSynapse.equations in its model"
                )
        if G is not None and w is not None:
            raise ValueError("give the initial conductance G or the weight w, not both")
        n = _synapse_count(synapses, n_synapses)
        if population is None:
            population = sample_population(card, n, seed)
        elif len(population) != n:
            raise ValueError(f"population has {len(population)} devices for {n} synapses")
        if n == 0:
            return population
        synapses.set_scale = np.asarray(population.set_scale, dtype=np.float64)
        synapses.reset_scale = np.asarray(population.reset_scale, dtype=np.float64)
        synapses.stuck = np.asarray(population.stuck, dtype=np.int32)

        span = card.g_max - card.g_min
        if isinstance(w, str):
            G = f"{card.g_min!r}*siemens + ({w})*{span!r}*siemens"
        elif w is not None:
            w_values = np.asarray(w, dtype=np.float64)
            if np.any(~np.isfinite(w_values)) or np.any(w_values < 0) or np.any(w_values > 1):
                raise ValueError("initial weights w must lie in [0, 1]")
            G = card.conductance(w_values) * siemens
        elif G is None:
            G = card.g_min * siemens
        if isinstance(G, str):
            synapses.G = G
            synapses.G["stuck == 1"] = card.g_min * siemens
            synapses.G["stuck == 2"] = card.g_max * siemens
        else:
            if get_dimensions(G) is not siemens.dim:
                raise DimensionMismatchError(
                    "initial conductance G must be in siemens", get_dimensions(G)
                )
            values = np.broadcast_to(np.asarray(G, dtype=np.float64), (n,))
            tolerance = 1e-12 * span
            if np.any(values < card.g_min - tolerance) or np.any(values > card.g_max + tolerance):
                raise ValueError(
                    f"initial conductances must lie in [g_min, g_max] = "
                    f"[{card.g_min!r}, {card.g_max!r}] S"
                )
            synapses.G = population.pin(card, np.clip(values, card.g_min, card.g_max)) * siemens
        return population


def _synapse_count(synapses: Synapses, n_synapses: int | None) -> int:
    try:
        n = len(synapses)
    except NotImplementedError:  # cpp_standalone before the build
        if n_synapses is None:
            raise ValueError(
                f"the number of synapses of {synapses.name} is unknown before the "
                "standalone build: pass n_synapses (e.g. N_pre*N_post after connect())"
            ) from None
        n = None
    if n_synapses is not None:
        n_synapses = check_count(n_synapses, "n_synapses", minimum=0)
        if n is not None and n != n_synapses:
            raise ValueError(f"{synapses.name} has {n} synapses, not n_synapses={n_synapses}")
        n = n_synapses
    return n


def memristive_synapses(
    source,
    target,
    card: DeviceCard | str | Path | MemristiveSynapse,
    *,
    on_pre: str | Mapping[str, str] | None = None,
    on_post: str | Mapping[str, str] | None = None,
    model: str = "",
    connect: bool | str | Mapping[str, Any] | None = True,
    namespace: Mapping[str, Any] | None = None,
    G: Quantity | str | None = None,
    w: float | np.ndarray | str | None = None,
    seed: int | np.random.Generator | None = None,
    c2c: bool = True,
    **kwargs: Any,
) -> Synapses:
    """``Synapses`` from ``source`` to ``target`` whose weights are devices of ``card``.

    The model is :attr:`MemristiveSynapse.equations` plus ``model``; ``on_pre``
    / ``on_post`` are your code (call ``S.memristor.pulse_code(...)``,
    ``set_code``, ``reset_code`` in it, or build the strings beforehand from
    a :class:`MemristiveSynapse` passed as ``card``). ``connect``: ``True``
    (all to all), a condition string, a dict of ``Synapses.connect``
    arguments, or ``None`` to connect later (then call
    ``S.memristor.initialise(S, ...)`` yourself). After connecting, the
    devices are drawn and ``G`` / ``w`` set (see
    :meth:`MemristiveSynapse.initialise`). ``namespace`` adds your constants
    to the memristor's; further keyword arguments go to ``Synapses``.
    The :class:`MemristiveSynapse` is available as ``S.memristor``.
    """
    memristor = card if isinstance(card, MemristiveSynapse) else MemristiveSynapse(card, c2c=c2c)
    full_namespace = dict(memristor.namespace)
    for name, value in (namespace or {}).items():
        if name in full_namespace and value is not full_namespace[name]:
            raise ValueError(f"namespace entry {name!r} is reserved for the memristive synapse")
        full_namespace[name] = value
    shadowing = sorted(set(NAMESPACE_NAMES) & set(getattr(target, "variables", {})))
    if shadowing:
        raise ValueError(
            f"the target group defines {', '.join(shadowing)}, which would hide the "
            "memristive synapse's names of the same name in the synaptic code; rename them"
        )
    synapses = Synapses(
        source,
        target,
        model=memristor.equations + "\n" + model,
        on_pre=on_pre,
        on_post=on_post,
        namespace=full_namespace,
        **kwargs,
    )
    synapses.add_attribute("memristor")
    synapses.memristor = memristor
    if connect is None or connect is False:
        return synapses
    n_synapses = None
    if connect is True:
        synapses.connect()
        n_synapses = len(source) * len(target)
    elif isinstance(connect, str):
        synapses.connect(condition=connect)
    elif isinstance(connect, Mapping):
        synapses.connect(**connect)
        if set(connect) <= {"i", "j"} and "i" in connect and "j" in connect:
            i, j = np.asarray(connect["i"]), np.asarray(connect["j"])
            n_synapses = int(np.broadcast(i, j).size)
    else:
        raise TypeError(
            "connect must be True, a condition string, a dict or None, "
            f"got {type(connect).__name__}"
        )
    memristor.initialise(synapses, G=G, w=w, seed=seed, n_synapses=n_synapses)
    return synapses
