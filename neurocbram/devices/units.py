"""Parse physical quantities written in device-card JSON ("12.5 uS", "300 us", 2e-12)."""

from __future__ import annotations

import math
import re

__all__ = ["UNITS", "parse_quantity", "format_quantity"]

_PREFIXES = {"": 1.0, "m": 1e-3, "u": 1e-6, "µ": 1e-6, "n": 1e-9, "p": 1e-12, "f": 1e-15, "k": 1e3}

#: base unit -> physical dimension name; every SI prefix above is accepted in front.
UNITS = {"S": "conductance", "V": "voltage", "s": "time", "J": "energy", "W": "power", "ohm": "resistance"}

_QUANTITY = re.compile(r"^\s*([-+0-9.eE]+)\s*([a-zA-Zµ]*)\s*$")


def _unit_scale(unit: str, dimension: str, field: str) -> float:
    for base, base_dimension in UNITS.items():
        if unit.endswith(base) and unit[: -len(base)] in _PREFIXES:
            if base_dimension != dimension:
                raise ValueError(
                    f"{field}: unit {unit!r} is a {base_dimension}, expected a {dimension}"
                )
            return _PREFIXES[unit[: -len(base)]]
    raise ValueError(
        f"{field}: unknown unit {unit!r} (use one of {sorted(UNITS)} with an optional "
        f"prefix from {sorted(p for p in _PREFIXES if p)})"
    )


def parse_quantity(value: object, dimension: str, field: str) -> float:
    """Return ``value`` in SI units.

    ``value`` is a plain number (already SI) or a string ``"<number> <unit>"``;
    ``field`` names the card field in error messages.
    """
    if isinstance(value, bool) or value is None:
        raise ValueError(f"{field}: expected a {dimension}, got {value!r}")
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        match = _QUANTITY.match(value)
        if not match:
            raise ValueError(f"{field}: cannot read {value!r} as '<number> <unit>'")
        try:
            number = float(match.group(1))
        except ValueError:
            raise ValueError(f"{field}: cannot read the number in {value!r}") from None
        unit = match.group(2)
        if unit:
            number *= _unit_scale(unit, dimension, field)
    else:
        raise ValueError(f"{field}: expected a {dimension}, got {type(value).__name__}")
    if not math.isfinite(number):
        raise ValueError(f"{field}: value is {number} (must be finite)")
    return number


def format_quantity(value: float, unit: str) -> str:
    """Format an SI value with an engineering prefix, e.g. ``format_quantity(1.2e-5, 'S')``."""
    if value == 0:
        return f"0 {unit}"
    for prefix, scale in (("k", 1e3), ("", 1.0), ("m", 1e-3), ("u", 1e-6), ("n", 1e-9),
                          ("p", 1e-12), ("f", 1e-15)):
        if abs(value) >= scale:
            return f"{value / scale:.4g} {prefix}{unit}"
    return f"{value:.4g} {unit}"
