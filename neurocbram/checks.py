"""Checks of user-given arguments shared across the package."""

from __future__ import annotations

import math
import numbers

__all__ = ["check_count"]


def check_count(value: object, name: str, minimum: int = 1) -> int:
    """``value`` as an ``int`` if it is a whole number >= ``minimum``.

    Accepts Python and NumPy integers and whole floats (``3.0``); rejects
    booleans, strings, non-finite numbers and fractions with a ``ValueError``
    that names ``name``, e.g. ``"jobs must be a positive integer, got 2.5"``.
    """
    kind = "a positive integer" if minimum == 1 else (
        "a non-negative integer" if minimum == 0 else f"an integer >= {minimum}")
    whole = (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and int(value) == value
    )
    if not whole or int(value) < minimum:
        raise ValueError(f"{name} must be {kind}, got {value!r}")
    return int(value)
