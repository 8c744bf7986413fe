"""Input encodings at the Brian2 boundary: image -> Poisson rates, events -> spike times.

Both functions return Brian2 quantities (``Hz``, ``second``) so that the units
are explicit where the arrays enter a ``PoissonGroup`` or ``SpikeGeneratorGroup``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from brian2 import Hz, Quantity, defaultclock, second, us
from brian2.units.fundamentalunits import DimensionMismatchError, fail_for_dimension_mismatch

__all__ = ["DIEHL_COOK_MAX_RATE", "image_rates", "events_to_spike_generator"]

#: Diehl & Cook (2015): the brightest pixel (255) fires at 63.75 Hz (pixel / 4 Hz).
DIEHL_COOK_MAX_RATE: Quantity = 63.75 * Hz

_POLARITY_MODES = ("both", "on", "off", "separate")


def _require_unit(value: object, unit: Quantity, name: str) -> float:
    try:
        fail_for_dimension_mismatch(value, unit, f"{name} must be in units of {unit!r}")
    except DimensionMismatchError as error:
        raise ValueError(str(error)) from None
    number = float(value / unit)  # type: ignore[operator]
    if not np.isfinite(number):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return number


def image_rates(
    images: np.ndarray,
    max_rate: Quantity = DIEHL_COOK_MAX_RATE,
    intensity: float = 1.0,
) -> Quantity:
    """Poisson rates for pixel intensities (Diehl & Cook 2015).

    ``rate = pixel / 255 * max_rate * intensity``; with the defaults a pixel of
    value ``v`` fires at ``v / 4`` Hz. Diehl & Cook raise the maximum rate by
    32 Hz when an image evokes fewer than 5 spikes: pass
    ``intensity = 1 + k * 32 / 63.75`` (or ``max_rate = (63.75 + 32 k) * Hz``).

    Parameters
    ----------
    images
        Pixel intensities 0..255 (any shape, e.g. ``(28, 28)``, ``(N, 28, 28)``
        or ``(N, 784)``); ``uint8`` or float.
    max_rate
        Rate of a pixel of 255 at ``intensity = 1`` (Brian2 quantity, Hz).
    intensity
        Dimensionless factor >= 0.

    Returns
    -------
    brian2.Quantity
        Rates in Hz, same shape as ``images`` (reshape to ``(-1, 784)`` for a
        ``PoissonGroup`` of 784 inputs).

    Raises
    ------
    ValueError
        Pixels outside 0..255 or not finite, ``max_rate`` not a rate, or a
        negative or non-finite ``intensity``.
    """
    max_rate_hz = _require_unit(max_rate, Hz, "max_rate")
    if max_rate_hz < 0:
        raise ValueError(f"max_rate must be >= 0 Hz, got {max_rate!r}")
    intensity = float(intensity)
    if not np.isfinite(intensity) or intensity < 0:
        raise ValueError(f"intensity must be a finite number >= 0, got {intensity}")
    pixels = np.asarray(images)
    if pixels.dtype.kind not in "uif":
        raise ValueError(f"images must be numeric pixel values, got dtype {pixels.dtype}")
    pixels = pixels.astype(np.float64)
    if pixels.size and (not np.isfinite(pixels).all() or pixels.min() < 0 or pixels.max() > 255):
        finite = pixels[np.isfinite(pixels)]
        span = f"{finite.min()}..{finite.max()}" if finite.size else "none finite"
        raise ValueError(
            f"pixel values must lie in 0..255 and be finite, got range {span}"
            + ("" if finite.size == pixels.size else f" ({pixels.size - finite.size} non-finite)")
        )
    return Quantity(pixels * (max_rate_hz * intensity / 255.0), dim=Hz.dim)


def events_to_spike_generator(
    events: np.ndarray,
    sensor_size: tuple[int, ...],
    *,
    polarity: Literal["both", "on", "off", "separate"] = "both",
    time_unit: Quantity = us,
    dt: Quantity | None = None,
) -> tuple[np.ndarray, Quantity, int]:
    """Indices and times for a ``SpikeGeneratorGroup`` from a tonic-style event array.

    A pixel ``(x, y)`` maps to neuron ``y * width + x``; with
    ``polarity="separate"`` OFF events go to ``width * height + y * width + x``.
    ON events have ``p`` equal to 1 (or ``True``); OFF events ``p`` equal to 0
    or -1.

    A ``SpikeGeneratorGroup`` accepts at most one spike per neuron per time
    step. Events of one neuron that fall into the same step of ``dt`` (binned
    exactly as Brian2 bins them) are **dropped**, keeping the earliest; the
    times of the kept events are not changed.

    Parameters
    ----------
    events
        Structured array with fields ``x``, ``y``, ``t``, ``p`` (as tonic
        gives, ``t`` in ``time_unit``, microseconds by default).
    sensor_size
        ``(width, height)`` or tonic's ``(width, height, polarities)``.
    polarity
        ``"both"`` (one channel, ignore polarity), ``"on"`` / ``"off"`` (keep
        only those events), or ``"separate"`` (ON and OFF on separate neurons).
    time_unit
        Unit of the ``t`` field (Brian2 time quantity).
    dt
        Time step of the ``SpikeGeneratorGroup`` (give the same ``dt`` there);
        default ``defaultclock.dt`` at call time.

    Returns
    -------
    indices : numpy.ndarray
        ``int32`` neuron indices, sorted by time, then index.
    times : brian2.Quantity
        Spike times (seconds), same length.
    n_neurons : int
        ``width * height``, doubled for ``polarity="separate"``.

    Raises
    ------
    ValueError
        Not a structured array, missing or non-integer x/y fields, unknown ``polarity``, polarity
        values other than -1/0/1, negative or non-finite times, coordinates
        outside ``sensor_size``, or a bad ``time_unit`` / ``dt``.
    """
    if polarity not in _POLARITY_MODES:
        raise ValueError(f"polarity must be one of {_POLARITY_MODES}, got {polarity!r}")
    if len(sensor_size) not in (2, 3) or any(int(s) <= 0 for s in sensor_size[:2]):
        raise ValueError(
            f"sensor_size must be (width, height[, polarities]) with positive sizes, "
            f"got {sensor_size!r}"
        )
    width, height = int(sensor_size[0]), int(sensor_size[1])
    unit_s = _require_unit(time_unit, second, "time_unit")
    if unit_s <= 0:
        raise ValueError(f"time_unit must be positive, got {time_unit!r}")
    dt_s = _require_unit(defaultclock.dt if dt is None else dt, second, "dt")
    if dt_s <= 0:
        raise ValueError(f"dt must be positive, got {dt!r}")

    events = np.asarray(events)
    names = events.dtype.names
    if names is None:
        raise ValueError(
            "events must be a structured array with fields x, y, t, p "
            f"(got plain dtype {events.dtype})"
        )
    missing = [field for field in ("x", "y", "t", "p") if field not in names]
    if missing:
        raise ValueError(f"events lack field(s) {missing}; fields present: {list(names)}")
    for field in ("x", "y"):
        if events.dtype[field].kind not in "iu":
            raise ValueError(f"event field {field!r} must be integer, got {events.dtype[field]}")
    events = events.reshape(-1)
    x = events["x"].astype(np.int64)
    y = events["y"].astype(np.int64)
    t = events["t"].astype(np.float64)
    p = events["p"].astype(np.int64)

    def first_bad(mask: np.ndarray) -> str:
        k = int(np.flatnonzero(mask)[0])
        return f"event {k}: x={x[k]}, y={y[k]}, t={events['t'][k]}, p={events['p'][k]}"

    if (bad := ~np.isfinite(t)).any():
        raise ValueError(f"non-finite event time ({bad.sum()} events; first: {first_bad(bad)})")
    if (bad := t < 0).any():
        raise ValueError(f"negative event time ({bad.sum()} events; first: {first_bad(bad)})")
    if (bad := (x < 0) | (x >= width) | (y < 0) | (y >= height)).any():
        raise ValueError(
            f"{bad.sum()} events outside sensor_size (width {width}, height {height}); "
            f"first: {first_bad(bad)}"
        )
    if (bad := ~np.isin(p, (-1, 0, 1))).any():
        raise ValueError(f"polarity values must be -1, 0 or 1; first: {first_bad(bad)}")

    on = p == 1
    index = y * width + x
    n_neurons = width * height
    if polarity == "on":
        keep = on
    elif polarity == "off":
        keep = ~on
    else:
        keep = np.ones(len(events), dtype=bool)
    if polarity == "separate":
        index = np.where(on, index, index + width * height)
        n_neurons *= 2
    index, times_s = index[keep], t[keep] * unit_s

    # Bin as SpikeGeneratorGroup.before_run does, then keep each neuron's first
    # event per bin.
    bins = np.asarray((times_s + 1e-3 * dt_s) / dt_s, dtype=np.int64)
    order = np.lexsort((times_s, index, bins))
    bins, index, times_s = bins[order], index[order], times_s[order]
    first = np.ones(len(bins), dtype=bool)
    first[1:] = (np.diff(bins) != 0) | (np.diff(index) != 0)
    index, times_s = index[first], times_s[first]
    order = np.lexsort((index, times_s))
    return index[order].astype(np.int32), Quantity(times_s[order], dim=second.dim), n_neurons
