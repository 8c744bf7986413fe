"""Brian2 `Function` objects applying a device card's pulse response.

``memristor_set(G, n, scale)`` / ``memristor_reset(G, n, scale)`` return the
conductance (S) after ``n`` deterministic SET / RESET pulses from ``G`` on a
device whose step is scaled by ``scale`` (device-to-device variation, see
:mod:`neurocbram.devices.pulses`)::

    repeat n times:  G <- clip(G + scale*(T(G) - G), g_min, g_max)

``T`` is the card's transfer table (:attr:`DeviceCard.transfer_tables`),
linearly interpolated. The functions have one implementation per target:

``numpy``
    vectorised over the synapses of the call with :func:`numpy.interp`, so it
    reproduces :func:`neurocbram.devices.pulses.pulse_event` bit for bit;
``cython`` / ``cpp`` (runtime and ``cpp_standalone``)
    a short loop over the ``n`` pulses with a linear interpolation into the
    table, which reaches the generated code as a namespace array (the
    mechanism :class:`brian2.TimedArray` uses). In ``cpp_standalone`` the
    table becomes a static array of the program: no Python runs during a
    simulation.

The names of the functions and of their tables in generated code carry a
digest of the card's response (``_memristor_<digest>_set``), so two cards in
one network never collide, and two synapse objects with the same card share
one table.

Two more functions make the synaptic code cheap where nothing happens (most
synaptic events of a learning rule ask for no pulse):
``memristor_event(G, n_set, n_reset, set_scale, reset_scale, sigma)`` applies
a whole pulse event (SET pulses, RESET pulses, then one cycle-to-cycle draw on
the total step) and returns at once when both counts are zero;
``pulse_round(x)`` rounds ``x >= 0`` stochastically and draws a random number
only when ``x`` has a fractional part.

``memristor_pulses(G, G_target)`` aims a write at a target conductance: the
(fractional) number of pulses that take a device from ``G`` to ``G_target``
along the card's mean pulse response, positive for SET and negative for
RESET. It reads two *pulse-position* tables (:func:`pulse_positions`): the
pulse number at which the deterministic SET ramp from ``g_min`` (RESET ramp
from ``g_max``) passes each conductance; the count is the difference of two
positions. On a nonlinear device, a change ``dw`` needs more pulses where the
steps are small than ``|dw| * levels``.
"""

from __future__ import annotations

import hashlib
from typing import Literal

import numpy as np
from brian2 import Function, check_units, siemens

from .devices.card import DeviceCard
from .devices.pulses import deterministic_pulses

__all__ = [
    "memristor_functions",
    "memristor_event_function",
    "pulse_round_function",
    "memristor_pulses_function",
    "pulse_positions",
    "pulses_to_target",
    "card_digest",
    "IMPLEMENTED_TARGETS",
]

#: code-generation targets with an implementation of the pulse functions
IMPLEMENTED_TARGETS = ("numpy", "cython", "cpp")

#: C++: grid position ``x`` of conductance ``g`` on the transfer grid, clipped, and its interval ``j``
_CPP_GRID_INDEX = (
    "double x = (g - %G_MIN%) * %INV_DG%; "
    "if (x < 0.0) x = 0.0; else if (x > %LAST%) x = %LAST%; "
    "int j = (int)x; "
    "if (j > %LAST_INTERVAL%) j = %LAST_INTERVAL%;"
)

_CPP_TEMPLATE = """
static inline double %NAME%(const double G, const int n, const double scale)
{
    // n pulses; transfer table uniform on [g_min, g_max] with %POINTS% points
    double g = G;
    for (int k = 0; k < n; k++)
    {
        %GRID_INDEX%
        const double frac = x - j;
        const double lo = _namespace%TABLE%[j];
        const double after = lo + frac * (_namespace%TABLE%[j + 1] - lo);
        g = g + scale * (after - g);
        if (g < %G_MIN%)
            g = %G_MIN%;
        else if (g > %G_MAX%)
            g = %G_MAX%;
    }
    return g;
}
"""

_CYTHON_TEMPLATE = """
cdef double %NAME%(double G, int n, double scale):
    global _namespace%TABLE%
    cdef double g = G
    cdef double x, frac, lo, after
    cdef int j, k
    for k in range(n):
        x = min(max((g - %G_MIN%) * %INV_DG%, 0.0), %LAST%)
        j = min(<int>x, %LAST_INTERVAL%)
        frac = x - j
        lo = _namespace%TABLE%[j]
        after = lo + frac * (_namespace%TABLE%[j + 1] - lo)
        g = g + scale * (after - g)
        if g < %G_MIN%:
            g = %G_MIN%
        elif g > %G_MAX%:
            g = %G_MAX%
    return g
"""


def card_digest(card: DeviceCard) -> str:
    """A short hex digest of the card's pulse response (range and transfer tables)."""
    grid, after_set, after_reset = card.transfer_tables
    digest = hashlib.sha1()
    for array in (grid, after_set, after_reset):
        digest.update(np.ascontiguousarray(array, dtype=np.float64).tobytes())
    return digest.hexdigest()[:10]


def _grid_replacements(card: DeviceCard) -> dict[str, str]:
    """Template values locating a conductance on the card's transfer grid (``%GRID_INDEX%``)."""
    points = card.transfer_tables[0].size
    g_min, g_max = float(card.g_min), float(card.g_max)
    return {
        "G_MIN": repr(g_min),
        "G_MAX": repr(g_max),
        "INV_DG": repr((points - 1) / (g_max - g_min)),
        "LAST": repr(float(points - 1)),
        "LAST_INTERVAL": str(points - 2),
        "POINTS": str(points),
    }


def _add_compiled(function: Function, cpp: str, cython: str, replacements: dict[str, str],
                  namespace: dict[str, np.ndarray], name: str) -> None:
    """Add the C++ and Cython implementations filled from their templates."""
    for target, template in (("cpp", cpp), ("cython", cython)):
        function.implementations.add_implementation(
            target, code=_fill(template, replacements), namespace=namespace, name=name
        )


def _fill(template: str, replacements: dict[str, str]) -> str:
    template = template.replace("%GRID_INDEX%", _CPP_GRID_INDEX)
    for key, value in replacements.items():
        template = template.replace(f"%{key}%", value)
    return template


def _make_function(card: DeviceCard, direction: Literal["set", "reset"], digest: str) -> Function:
    grid, after_set, after_reset = card.transfer_tables
    table = np.ascontiguousarray(after_set if direction == "set" else after_reset, dtype=np.float64)
    name = f"_memristor_{digest}_{direction}"
    table_name = f"{name}_table"

    def iterate(G, n, scale):
        """Unitless vectorised pulses (numpy target and Python calls)."""
        n = np.asarray(n)
        if n.dtype.kind == "f":
            if np.any(n != np.floor(n)):
                raise ValueError(f"memristor_{direction}: pulse counts must be integers")
            n = n.astype(np.int64)
        if np.any(n < 0):
            raise ValueError(f"memristor_{direction}: pulse counts must be >= 0, got {n.min()}")
        g = deterministic_pulses(card, G, n, direction, scale)
        return g if g.shape else float(g)

    @check_units(G=siemens, n=1, scale=1, result=siemens)
    def pulses(G, n, scale):
        return iterate(np.asarray(G), n, scale) * siemens

    pulses.__name__ = f"memristor_{direction}"
    pulses.__doc__ = (
        f"Conductance (S) after ``n`` deterministic {direction.upper()} pulses of card "
        f"{card.name!r} from ``G`` with step scale ``scale``."
    )
    function = Function(
        pulses, arg_types=["float", "integer", "float"], return_type="float", stateless=True
    )
    function.implementations.add_implementation("numpy", code=iterate)
    replacements = {"NAME": name, "TABLE": table_name, **_grid_replacements(card)}
    _add_compiled(function, _CPP_TEMPLATE, _CYTHON_TEMPLATE, replacements,
                  {table_name: table}, name)
    function.iterate = iterate  # the numpy implementation, reused by the event function
    return function


def memristor_functions(card: DeviceCard) -> tuple[Function, Function]:
    """``(memristor_set, memristor_reset)`` Brian2 functions for ``card``.

    Both have the signature ``f(G, n, scale)``: ``G`` in siemens, ``n`` an
    integer number of pulses (>= 0), ``scale`` the dimensionless step scale;
    they return the conductance (S) after ``n`` deterministic pulses.

    Examples
    --------
    >>> from brian2 import uS
    >>> set_fn, reset_fn = memristor_functions(card)   # doctest: +SKIP
    >>> set_fn(1*uS, 3, 1.0)                           # doctest: +SKIP
    """
    if not isinstance(card, DeviceCard):
        raise TypeError(f"expected a DeviceCard, got {type(card).__name__}")
    digest = card_digest(card)
    return _make_function(card, "set", digest), _make_function(card, "reset", digest)


_EVENT_CPP = """
static inline double %NAME%(const double G, const int n_set, const int n_reset,
                            const double set_scale, const double reset_scale,
                            const double sigma, const int _vectorisation_idx)
{
    // one pulse event; most synaptic events ask for none and return here
    if (n_set == 0 && n_reset == 0)
        return G;
    double g = %SET%(G, n_set, set_scale);
    g = %RESET%(g, n_reset, reset_scale);
    if (sigma > 0.0)
    {
        // cycle-to-cycle noise on the total step of the event
        const double relative = sigma / sqrt((double)(n_set + n_reset)) * _randn(_vectorisation_idx);
        g = G + (g - G) * (1.0 + relative);
        g = g < %G_MIN% ? %G_MIN% : (g > %G_MAX% ? %G_MAX% : g);
    }
    return g;
}
"""

_EVENT_CYTHON = """
cdef double %NAME%(double G, int n_set, int n_reset, double set_scale, double reset_scale,
                   double sigma, int _vectorisation_idx):
    if n_set == 0 and n_reset == 0:
        return G
    cdef double g = %SET%(G, n_set, set_scale)
    g = %RESET%(g, n_reset, reset_scale)
    if sigma > 0.0:
        g = G + (g - G) * (1.0 + sigma / sqrt(<double>(n_set + n_reset)) * _randn(_vectorisation_idx))
        if g < %G_MIN%:
            g = %G_MIN%
        elif g > %G_MAX%:
            g = %G_MAX%
    return g
"""


def memristor_event_function(card: DeviceCard, set_function: Function,
                             reset_function: Function) -> Function:
    """Brian2 function ``memristor_event(G, n_set, n_reset, set_scale, reset_scale, sigma)``.

    The conductance (S) after one pulse event: ``n_set`` SET pulses, then
    ``n_reset`` RESET pulses (the card's response, as ``memristor_set`` /
    ``memristor_reset``), then, if ``sigma > 0`` and any pulse was applied, the
    total step scaled by ``1 + sigma/sqrt(n_set + n_reset) * z`` with ``z``
    from Brian2's ``randn`` and clipped to ``[g_min, g_max]``
    (:func:`neurocbram.devices.pulses.pulse_event`). An event without pulses
    returns ``G`` without drawing a random number.
    """
    from brian2.core.functions import DEFAULT_FUNCTIONS

    g_min, g_max = float(card.g_min), float(card.g_max)

    def event_numpy(G, n_set, n_reset, set_scale, reset_scale, sigma, _vectorisation_idx):
        G = np.asarray(G, dtype=float)
        g = set_function.iterate(G, n_set, set_scale)
        g = reset_function.iterate(g, n_reset, reset_scale)
        sigma = float(np.max(sigma)) if np.size(sigma) else 0.0
        if sigma > 0:
            total = np.broadcast_to(np.asarray(n_set) + np.asarray(n_reset), np.shape(G))
            size = np.size(_vectorisation_idx) if np.ndim(_vectorisation_idx) else 1
            z = np.random.randn(size) if np.ndim(_vectorisation_idx) else np.random.randn()
            relative = np.where(total > 0, sigma / np.sqrt(np.maximum(total, 1)) * z, 0.0)
            g = np.where(total > 0, np.clip(G + (g - G) * (1.0 + relative), g_min, g_max), g)
        return g

    @check_units(G=siemens, n_set=1, n_reset=1, set_scale=1, reset_scale=1, sigma=1,
                 result=siemens)
    def memristor_event(G, n_set, n_reset, set_scale, reset_scale, sigma):
        idx = np.arange(np.size(G)) if np.ndim(G) else 0
        return event_numpy(np.asarray(G), n_set, n_reset, set_scale, reset_scale, sigma,
                           idx) * siemens

    function = Function(
        memristor_event,
        arg_types=["float", "integer", "integer", "float", "float", "float"],
        return_type="float",
        auto_vectorise=True,
        stateless=False,
    )
    function.implementations.add_implementation("numpy", code=event_numpy)
    name = set_function.implementations["cpp"].name.replace("_set", "_event")
    replacements = {
        "NAME": name,
        "SET": set_function.implementations["cpp"].name,
        "RESET": reset_function.implementations["cpp"].name,
        "G_MIN": repr(g_min),
        "G_MAX": repr(g_max),
    }
    dependencies = {
        "randn": DEFAULT_FUNCTIONS["randn"],
        "memristor_set": set_function,
        "memristor_reset": reset_function,
    }
    for target, template in (("cpp", _EVENT_CPP), ("cython", _EVENT_CYTHON)):
        function.implementations.add_implementation(
            target, code=_fill(template, replacements), name=name, dependencies=dependencies
        )
    return function


_ROUND_NAME = "_neurocbram_pulse_round"

_ROUND_CPP = f"""
static inline int {_ROUND_NAME}(const double x, const int _vectorisation_idx)
{{
    // floor(x) + Bernoulli(x - floor(x)); no random number for whole x (e.g. 0)
    const double whole = floor(x);
    const double fraction = x - whole;
    return (int)whole + ((fraction > 0.0 && _rand(_vectorisation_idx) < fraction) ? 1 : 0);
}}
"""

_ROUND_CYTHON = f"""
cdef int {_ROUND_NAME}(double x, int _vectorisation_idx):
    cdef double whole = floor(x)
    cdef double fraction = x - whole
    if fraction > 0.0 and _rand(_vectorisation_idx) < fraction:
        return <int>whole + 1
    return <int>whole
"""


def _pulse_round_numpy(x, _vectorisation_idx):
    """``floor(x) + (rand() < x - floor(x))`` (numpy target: one draw per element)."""
    x = np.asarray(x, dtype=float)
    size = np.size(_vectorisation_idx) if np.ndim(_vectorisation_idx) else 1
    draws = np.random.rand(size) if np.ndim(_vectorisation_idx) else np.random.rand()
    whole = np.floor(x)
    return (whole + (draws < x - whole)).astype(np.int64)


def pulse_round_function() -> Function:
    """Brian2 function ``pulse_round(x)``: ``x >= 0`` rounded stochastically (unbiased).

    ``floor(x) + 1`` with probability ``x - floor(x)``, else ``floor(x)``;
    the expected value is ``x``. The compiled versions draw (Brian2's
    ``rand``) only when ``x`` has a fractional part, so the many synaptic
    events whose learning rule asks for exactly zero cost no random number.
    """
    from brian2.core.functions import DEFAULT_FUNCTIONS

    @check_units(x=1, result=1)
    def pulse_round(x):
        x = np.asarray(x, dtype=float)
        return _pulse_round_numpy(x, np.arange(x.size) if x.ndim else 0)

    function = Function(
        pulse_round, arg_types=["float"], return_type="integer", auto_vectorise=True,
        stateless=False,
    )
    rand = {"rand": DEFAULT_FUNCTIONS["rand"]}
    function.implementations.add_implementation("numpy", code=_pulse_round_numpy)
    function.implementations.add_implementation("cpp", code=_ROUND_CPP, name=_ROUND_NAME,
                                                dependencies=rand)
    function.implementations.add_implementation("cython", code=_ROUND_CYTHON, name=_ROUND_NAME,
                                                dependencies=rand)
    return function


_C2C_NAME = "_neurocbram_c2c_normal"

_C2C_CPP = f"""
static inline double {_C2C_NAME}(const int n, const int _vectorisation_idx)
{{
    // a standard normal draw only for events that apply pulses
    return n > 0 ? _randn(_vectorisation_idx) : 0.0;
}}
"""

_C2C_CYTHON = f"""
cdef double {_C2C_NAME}(int n, int _vectorisation_idx):
    if n > 0:
        return _randn(_vectorisation_idx)
    return 0.0
"""


def _c2c_normal_numpy(n, _vectorisation_idx):
    """Standard normal draws where ``n > 0``, zero elsewhere (numpy target)."""
    n = np.asarray(n)
    size = np.size(_vectorisation_idx) if np.ndim(_vectorisation_idx) else 1
    draws = np.random.randn(size) if np.ndim(_vectorisation_idx) else np.random.randn()
    return np.where(n > 0, draws, 0.0)


def c2c_normal_function() -> Function:
    """Brian2 function ``c2c_normal(n)``: ``randn()`` if ``n > 0`` else 0.

    Cycle-to-cycle noise is needed only for events that apply pulses; drawing
    it only there (with Brian2's own generator, so :func:`brian2.seed` still
    makes runs reproducible) avoids a normal draw per synaptic event.
    """
    from brian2.core.functions import DEFAULT_FUNCTIONS

    @check_units(n=1, result=1)
    def c2c_normal(n):
        n = np.asarray(n)
        return np.where(n > 0, np.random.randn(*n.shape), 0.0)

    function = Function(
        c2c_normal, arg_types=["integer"], return_type="float", auto_vectorise=True, stateless=False
    )
    randn = {"randn": DEFAULT_FUNCTIONS["randn"]}
    function.implementations.add_implementation("numpy", code=_c2c_normal_numpy)
    function.implementations.add_implementation(
        "cpp", code=_C2C_CPP, name=_C2C_NAME, dependencies=randn
    )
    function.implementations.add_implementation(
        "cython", code=_C2C_CYTHON, name=_C2C_NAME, dependencies=randn
    )
    return function


def pulse_positions(card: DeviceCard) -> tuple[np.ndarray, np.ndarray]:
    """Pulse numbers of the card's mean SET and RESET ramps on its transfer-table grid.

    ``set_position[k]``: (fractional) number of SET pulses that take a device
    from ``g_min`` to ``grid[k]`` (deterministic response, step scale 1);
    ``reset_position[k]``: RESET pulses from ``g_max`` down to ``grid[k]``.
    Between pulses the position is interpolated linearly in ``G``. Where a
    ramp stalls before the end of the range (steps below 1e-9 of it, or after
    ``100 * levels`` pulses) the position goes on with the last step.
    """
    grid, after_set, after_reset = card.transfer_tables
    g_min, g_max = float(card.g_min), float(card.g_max)
    span = g_max - g_min
    limit = 100 * int(card.levels) + 1

    def ramp(table: np.ndarray, start: float, end: float) -> np.ndarray:
        g = start
        trajectory = [g]
        for _ in range(limit):
            after = float(np.clip(np.interp(g, grid, table), g_min, g_max))
            if abs(after - g) < 1e-9 * span:
                break
            g = after
            trajectory.append(g)
            if abs(g - end) <= 1e-12 * span:
                break
        trajectory = np.asarray(trajectory)
        if abs(trajectory[-1] - end) > 1e-12 * span:  # stalled: continue with the last step
            step = trajectory[-1] - trajectory[-2] if trajectory.size > 1 else (end - start) / card.levels
            extra = abs(end - trajectory[-1]) / max(abs(step), 1e-9 * span)
            trajectory = np.append(trajectory, end)
            positions = np.append(np.arange(trajectory.size - 1, dtype=float),
                                  trajectory.size - 2 + extra)
        else:
            positions = np.arange(trajectory.size, dtype=float)
        return trajectory, positions

    up, up_pos = ramp(after_set, g_min, g_max)
    down, down_pos = ramp(after_reset, g_max, g_min)
    set_position = np.interp(grid, up, up_pos)
    reset_position = np.interp(grid, down[::-1], down_pos[::-1])
    return np.ascontiguousarray(set_position), np.ascontiguousarray(reset_position)


def _pulses_between(grid, set_position, reset_position, G, G_target):
    """Signed pulse counts from ``G`` to ``G_target`` given the position tables."""
    G = np.asarray(G, dtype=float)
    G_target = np.asarray(G_target, dtype=float)
    up = np.interp(G_target, grid, set_position) - np.interp(G, grid, set_position)
    down = np.interp(G, grid, reset_position) - np.interp(G_target, grid, reset_position)
    result = np.where(G_target > G, up, np.where(G_target < G, down, 0.0))
    return result if result.shape else float(result)


def pulses_to_target(card: DeviceCard, G: np.ndarray, G_target: np.ndarray) -> np.ndarray:
    """Fractional pulses (SET > 0, RESET < 0) from ``G`` to ``G_target`` (siemens, plain
    arrays) along the card's mean response; the NumPy form of ``memristor_pulses``."""
    return _pulses_between(card.transfer_tables[0], *pulse_positions(card), G, G_target)


_PULSES_CPP = """
static inline double %NAME%_position(const double *table, const double g)
{
    %GRID_INDEX%
    return table[j] + (x - j) * (table[j + 1] - table[j]);
}

static inline double %NAME%(const double G, const double G_target)
{
    // pulses from G to G_target along the mean ramp: > 0 SET, < 0 RESET
    if (G_target > G)
        return %NAME%_position(_namespace%SET_TABLE%, G_target)
               - %NAME%_position(_namespace%SET_TABLE%, G);
    if (G_target < G)
        return %NAME%_position(_namespace%RESET_TABLE%, G)
               - %NAME%_position(_namespace%RESET_TABLE%, G_target);
    return 0.0;
}
"""

_PULSES_CYTHON = """
cdef double %NAME%_position(double* table, double g):
    cdef double x = min(max((g - %G_MIN%) * %INV_DG%, 0.0), %LAST%)
    cdef int j = min(<int>x, %LAST_INTERVAL%)
    return table[j] + (x - j) * (table[j + 1] - table[j])

cdef double %NAME%(double G, double G_target):
    global _namespace%SET_TABLE%, _namespace%RESET_TABLE%
    if G_target > G:
        return (%NAME%_position(_namespace%SET_TABLE%, G_target)
                - %NAME%_position(_namespace%SET_TABLE%, G))
    if G_target < G:
        return (%NAME%_position(_namespace%RESET_TABLE%, G)
                - %NAME%_position(_namespace%RESET_TABLE%, G_target))
    return 0.0
"""


def memristor_pulses_function(card: DeviceCard) -> Function:
    """Brian2 function ``memristor_pulses(G, G_target)`` (see the module doc).

    Returns the fractional number of pulses from ``G`` to ``G_target`` (both
    siemens) along the card's mean pulse response: positive SET pulses when
    ``G_target > G``, negative RESET pulses when below, 0 when equal.
    """
    if not isinstance(card, DeviceCard):
        raise TypeError(f"expected a DeviceCard, got {type(card).__name__}")
    grid = card.transfer_tables[0]
    set_position, reset_position = pulse_positions(card)
    name = f"_memristor_{card_digest(card)}_pulses"
    set_table, reset_table = f"{name}_set_position", f"{name}_reset_position"

    def pulses_numpy(G, G_target):
        return _pulses_between(grid, set_position, reset_position, G, G_target)

    @check_units(G=siemens, G_target=siemens, result=1)
    def memristor_pulses(G, G_target):
        return pulses_numpy(np.asarray(G), np.asarray(G_target))

    function = Function(
        memristor_pulses, arg_types=["float", "float"], return_type="float", stateless=True
    )
    function.implementations.add_implementation("numpy", code=pulses_numpy)
    replacements = {"NAME": name, "SET_TABLE": set_table, "RESET_TABLE": reset_table,
                    **_grid_replacements(card)}
    _add_compiled(function, _PULSES_CPP, _PULSES_CYTHON, replacements,
                  {set_table: set_position, reset_table: reset_position}, name)
    return function
