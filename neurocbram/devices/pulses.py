"""Populations of devices and the reference semantics of a pulse event (NumPy).

This module is the contract that every implementation of a memristive update
follows -- the Brian2 synapse in all code-generation targets and the rate-coded
crossbar -- and the reference the tests compare them with.

A *pulse event* on device ``i`` applies ``n`` identical SET (or RESET) pulses:

1. deterministic part, iterated ``n`` times:
   ``G <- clip(G + s_i * (T(G) - G), g_min, g_max)`` where ``T`` is the card's
   transfer table (:attr:`DeviceCard.transfer_tables`, linearly interpolated)
   and ``s_i`` the device's step scale (device-to-device variation, mean 1);
2. cycle-to-cycle noise on the total step of the event:
   ``G <- clip(G0 + (G - G0) * (1 + c2c_sigma / sqrt(n) * z), g_min, g_max)``
   with ``z ~ N(0, 1)`` (the variance of ``n`` independent relative errors on
   roughly equal steps);
3. stuck devices never change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from .card import DeviceCard

__all__ = [
    "STUCK_NONE",
    "STUCK_OFF",
    "STUCK_ON",
    "DevicePopulation",
    "sample_population",
    "pulse_event",
    "deterministic_pulses",
    "as_generator",
    "program_conductance",
]

STUCK_NONE, STUCK_OFF, STUCK_ON = 0, 1, 2

SeedLike = int | np.random.Generator | None


def as_generator(seed: SeedLike) -> np.random.Generator:
    """A NumPy Generator from a seed or an existing Generator."""
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


@dataclass(frozen=True)
class DevicePopulation:
    """Per-device parameters drawn once (device-to-device variation and faults).

    ``set_scale`` / ``reset_scale``: multipliers of each device's SET / RESET
    step (dimensionless, mean 1). ``stuck``: :data:`STUCK_NONE`,
    :data:`STUCK_OFF` (pinned at g_min) or :data:`STUCK_ON` (pinned at g_max).
    """

    set_scale: np.ndarray
    reset_scale: np.ndarray
    stuck: np.ndarray

    def __len__(self) -> int:
        return int(self.stuck.size)

    def pin(self, card: DeviceCard, g: np.ndarray) -> np.ndarray:
        """``g`` with stuck devices set to their stuck conductance (S)."""
        g = np.array(g, dtype=float, copy=True)
        g[self.stuck == STUCK_OFF] = card.g_min
        g[self.stuck == STUCK_ON] = card.g_max
        return g


def sample_population(card: DeviceCard, n: int, seed: SeedLike = None) -> DevicePopulation:
    """Draw ``n`` devices from the card's variability (reproducible for a given seed).

    Step scales are lognormal with median 1 and log-std ``d2d_sigma`` (always
    positive); stuck-on / stuck-off devices are drawn with the card's rates.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    rng = as_generator(seed)
    sigma = card.variability.d2d_sigma
    set_scale = np.exp(sigma * rng.standard_normal(n)) if sigma > 0 else np.ones(n)
    reset_scale = np.exp(sigma * rng.standard_normal(n)) if sigma > 0 else np.ones(n)
    u = rng.random(n)
    stuck = np.full(n, STUCK_NONE, dtype=np.int8)
    stuck[u < card.variability.stuck_off_rate] = STUCK_OFF
    on = (u >= card.variability.stuck_off_rate) & (
        u < card.variability.stuck_off_rate + card.variability.stuck_on_rate
    )
    stuck[on] = STUCK_ON
    return DevicePopulation(set_scale, reset_scale, stuck)


def deterministic_pulses(
    card: DeviceCard,
    g: np.ndarray,
    n: np.ndarray,
    direction: Literal["set", "reset"],
    scale: np.ndarray | float = 1.0,
) -> np.ndarray:
    """Step 1 of a pulse event: ``n`` pulses with step scale ``scale``, no noise.

    ``G <- clip(G + scale * (T(G) - G), g_min, g_max)``, repeated ``n`` times
    per device; ``g``, ``n`` (integers >= 0) and ``scale`` broadcast together.
    Returns a new float array of the broadcast shape (S).
    """
    grid, after_set, after_reset = card.transfer_tables
    table = after_set if direction == "set" else after_reset
    g, n, scale = np.broadcast_arrays(
        np.asarray(g, dtype=float), np.asarray(n), np.asarray(scale, dtype=float)
    )
    shape = g.shape
    g = np.array(g, dtype=float).ravel()  # a writable copy
    n, scale = n.ravel(), scale.ravel()
    for k in range(int(n.max(initial=0))):
        active = np.flatnonzero(n > k)
        g_active = g[active]
        step = scale[active] * (np.interp(g_active, grid, table) - g_active)
        g[active] = np.clip(g_active + step, card.g_min, card.g_max)
    return g.reshape(shape)


def pulse_event(
    card: DeviceCard,
    g: np.ndarray,
    n: np.ndarray | int,
    direction: Literal["set", "reset"],
    population: DevicePopulation | None = None,
    c2c_normal: np.ndarray | None = None,
) -> np.ndarray:
    """Conductances (S) after a pulse event of ``n`` pulses on each device.

    ``g`` and ``n`` broadcast together (``n >= 0`` integers). ``c2c_normal``
    holds the standard normal draws ``z`` of step 2 (``None``: no
    cycle-to-cycle noise, whatever the card says).
    """
    if direction not in ("set", "reset"):
        raise ValueError(f"direction must be 'set' or 'reset', got {direction!r}")
    g0 = np.asarray(g, dtype=float)
    n = np.asarray(n)
    if np.any(n < 0):
        raise ValueError("pulse counts must be >= 0")
    g0, n = np.broadcast_arrays(g0, n)
    if population is None:
        scale = 1.0
    else:
        scale = population.set_scale if direction == "set" else population.reset_scale
    g_new = deterministic_pulses(card, g0, n, direction, scale)
    if c2c_normal is not None and card.variability.c2c_sigma > 0:
        relative = card.variability.c2c_sigma / np.sqrt(np.maximum(n, 1)) * c2c_normal
        g_new = np.clip(g0 + (g_new - g0) * (1.0 + relative), card.g_min, card.g_max)
    if population is not None:
        g_new = np.where(population.stuck == STUCK_NONE, g_new, g0)
    return g_new


def program_conductance(
    card: DeviceCard,
    target: np.ndarray,
    population: DevicePopulation | None = None,
    seed: SeedLike = None,
) -> np.ndarray:
    """One-shot programming of target conductances (S) with lognormal write variation.

    The achieved conductance is ``target * exp(write_sigma * z)``, ``z ~ N(0, 1)``,
    clipped to the card's range; stuck devices keep their stuck value.
    """
    target = np.asarray(target, dtype=float)
    if np.any(~np.isfinite(target)):
        raise ValueError("target conductances must be finite")
    sigma = card.variability.write_sigma
    achieved = target * np.exp(sigma * as_generator(seed).standard_normal(target.shape)) if sigma > 0 else target
    achieved = np.clip(achieved, card.g_min, card.g_max)
    return population.pin(card, achieved) if population is not None else achieved
