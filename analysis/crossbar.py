"""A rate-coded crossbar layer on a device card (NumPy).

Signed weights are stored as **differential conductance pairs**
``w = (G+ - G-) * w_max / (g_max - g_min)``: a weight ``w_max`` is one device at
``g_max`` and its partner at ``g_min``. Everything that changes a conductance
goes through the reference semantics of :mod:`neurocbram.devices.pulses`:

* one-shot programming: :func:`~neurocbram.devices.pulses.program_conductance`
  (lognormal write variation ``write_sigma`` of the card), counted as one
  write operation per device;
* read-verify-write (R-V-W): one-shot, then rounds of *read every unfinished
  device; give each out-of-tolerance device SET or RESET pulses* through
  :func:`~neurocbram.devices.pulses.pulse_event`, until every device is within
  ``tolerance`` or has used its pulse budget. By default a round gives the
  number of pulses (at most ``round_pulses``) that the card's nominal curve
  predicts; ``predictive=False`` gives one pulse per round. A device that does
  not move under a pulse is declared stuck and its partner is re-targeted so
  that ``G+ - G-`` stays right where the range allows. Every pulse and every
  single-device read is counted;
* in-situ updates: a weight change becomes a number of identical pulses
  (``|dw| / w_step``, stochastically rounded so that the expected change is
  right, ``w_step = w_max / card.levels``, the mean weight step of one pulse
  of a linear device; with ``state_aware=True`` the conductance change is
  divided by each device's nominal step at its present state instead, at the
  cost of reading the pair). The pulses keep one device of each pair near
  ``g_min`` where they can: ``dw > 0`` first RESETs ``G-`` with up to the
  pulses that would empty it, and SETs ``G+`` with the rest (mirrored for
  ``dw < 0``); each device gets at most one pulse event per update.

Fault handling (the controller sees only reads): :meth:`CrossbarLayer.detect_stuck`
flags devices whose single read-back after programming sits at a range end and
is inconsistent with the target under write variation / read noise;
:meth:`CrossbarLayer.remap_stuck` re-writes (one shot) the partners of flagged
devices so that ``G+ - G-`` matches the weight where the range allows;
:meth:`CrossbarLayer.verify` runs R-V-W from the present state, optionally with
known stuck devices never pulsed. Reads and writes are counted as above.

Stuck devices (``stuck`` of :func:`~neurocbram.devices.pulses.sample_population`,
stuck-off at ``g_min``, stuck-on at ``g_max``) never change; pulses sent to
them are still counted (the controller does not know which devices are stuck).
Quantisation snaps programming targets to ``levels`` equally spaced
conductances from ``g_min`` to ``g_max`` (``levels="card"``: ``card.levels + 1``
states, the states of a linear device; ``None``: no quantisation).

Reads are matrix products; optional read noise is a relative Gaussian error
``read_noise`` on every device conductance in every read, added exactly in
distribution on the outputs (variance ``sum_i x_i**2 sigma**2 (G+**2 + G-**2)``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np

from neurocbram.checks import check_count
from neurocbram.devices.card import DeviceCard
from neurocbram.devices.pulses import (
    STUCK_NONE,
    STUCK_OFF,
    STUCK_ON,
    DevicePopulation,
    as_generator,
    program_conductance,
    pulse_event,
    sample_population,
)

__all__ = ["CrossbarCounts", "CrossbarLayer", "ProgramReport", "check_fraction"]

SeedLike = int | np.random.Generator | None


def check_fraction(name: str, value: float) -> float:
    """``value`` as a float in [0, 1], else ``ValueError`` naming ``name``."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}") from None
    if not (0.0 <= value <= 1.0):
        raise ValueError(f"{name} must lie in [0, 1], got {value!r}")
    return value


@dataclass
class CrossbarCounts:
    """Operation counters of one layer, for the energy ledger (device operations).

    ``set_pulses`` / ``reset_pulses``: identical programming pulses sent to
    devices (stuck ones included). ``one_shot_writes``: one-shot programming
    operations (one per device written). ``verify_reads``: single-device reads
    of read-verify-write. ``vector_reads``: matrix-vector products (one per
    input vector); ``device_reads``: device reads they imply (2 per weight).
    """

    set_pulses: int = 0
    reset_pulses: int = 0
    one_shot_writes: int = 0
    verify_reads: int = 0
    vector_reads: int = 0
    device_reads: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counters as a plain dictionary."""
        return {k: int(v) for k, v in asdict(self).items()}

    def energy(self, card: DeviceCard) -> float:
        """Energy (J) of the counted operations; a one-shot write is costed as one SET pulse."""
        e = card.energy
        return float(
            (self.set_pulses + self.one_shot_writes) * e.set_pulse
            + self.reset_pulses * e.reset_pulse
            + (self.verify_reads + self.device_reads) * e.read
        )


@dataclass(frozen=True)
class ProgramReport:
    """Outcome of programming a layer.

    ``pulses``: SET + RESET pulses; ``reads``: verify reads; ``iterations``:
    verify rounds; ``converged``: fraction of devices that ended within
    tolerance (stuck devices included, 1.0 for one-shot); ``stuck_found``:
    devices R-V-W found not to respond to a pulse.
    """

    method: str
    one_shot_writes: int
    pulses: int
    set_pulses: int
    reset_pulses: int
    reads: int
    iterations: int
    converged: float
    stuck_found: int


class CrossbarLayer:
    """A weight matrix of shape ``(n_out, n_in)`` on differential device pairs.

    Parameters
    ----------
    card
        The device card (conductances in S).
    shape
        ``(n_out, n_in)``; a read maps ``x`` of length ``n_in`` to ``n_out`` outputs.
    w_max
        Weight represented by a full-range pair (``G+ = g_max, G- = g_min``), > 0.
    levels
        Programmable conductance states per device: ``"card"`` (``card.levels + 1``),
        an integer >= 2, or ``None`` (continuous).
    read_noise
        Relative std of each device's conductance in each read (dimensionless, >= 0).
    seed
        Seed or Generator for the device population and all later randomness.
    """

    def __init__(
        self,
        card: DeviceCard,
        shape: tuple[int, int],
        w_max: float = 1.0,
        levels: int | Literal["card"] | None = "card",
        read_noise: float = 0.0,
        seed: SeedLike = None,
    ) -> None:
        if not isinstance(card, DeviceCard):
            raise TypeError(f"card must be a DeviceCard, got {type(card).__name__}")
        if len(shape) != 2 or any(int(s) != s or s < 1 for s in shape):
            raise ValueError(f"shape must be two positive integers (n_out, n_in), got {shape!r}")
        if not (np.isfinite(w_max) and w_max > 0):
            raise ValueError(f"w_max must be a finite weight > 0, got {w_max!r}")
        if levels == "card":
            levels = int(card.levels) + 1
        if levels is not None and (int(levels) != levels or levels < 2):
            raise ValueError(f"levels must be 'card', None or an integer >= 2, got {levels!r}")
        if not (np.isfinite(read_noise) and read_noise >= 0):
            raise ValueError(f"read_noise must be a relative std >= 0, got {read_noise!r}")
        self.card = card
        self.shape = (int(shape[0]), int(shape[1]))
        self.w_max = float(w_max)
        self.levels = None if levels is None else int(levels)
        self.read_noise = float(read_noise)
        self.rng = as_generator(seed)
        n = self.shape[0] * self.shape[1]
        both = sample_population(card, 2 * n, self.rng)
        self.pop_pos = DevicePopulation(both.set_scale[:n], both.reset_scale[:n], both.stuck[:n])
        self.pop_neg = DevicePopulation(both.set_scale[n:], both.reset_scale[n:], both.stuck[n:])
        # conductances (S), stored flat; fresh devices sit at g_min unless stuck
        self.g_pos = self.pop_pos.pin(card, np.full(n, card.g_min))
        self.g_neg = self.pop_neg.pin(card, np.full(n, card.g_min))
        self.counts = CrossbarCounts()
        self._w_cache: np.ndarray | None = None
        self._w32_cache: np.ndarray | None = None
        self._last_targets: tuple[np.ndarray, np.ndarray] | None = None
        #: stuck codes ``(G+, G-)`` found by the last :meth:`detect_stuck` (None before)
        self.detected_stuck: tuple[np.ndarray, np.ndarray] | None = None

    # ------------------------------------------------------------ properties
    @property
    def span(self) -> float:
        """``g_max - g_min`` (S)."""
        return self.card.g_max - self.card.g_min

    @property
    def scale(self) -> float:
        """Weight per siemens of conductance difference (1/S)."""
        return self.w_max / self.span

    @property
    def w_step(self) -> float:
        """Nominal weight change of one pulse on one device, ``w_max / card.levels``."""
        return self.w_max / self.card.levels

    @property
    def stuck(self) -> tuple[np.ndarray, np.ndarray]:
        """Stuck codes of the ``(G+, G-)`` devices, each of shape ``shape``."""
        return self.pop_pos.stuck.reshape(self.shape), self.pop_neg.stuck.reshape(self.shape)

    @property
    def weights(self) -> np.ndarray:
        """The weights the array holds now, ``(G+ - G-) * scale`` (no read noise, not counted)."""
        if self._w_cache is None:
            self._w_cache = ((self.g_pos - self.g_neg) * self.scale).reshape(self.shape)
            self._w_cache.setflags(write=False)
        return self._w_cache

    def _changed(self) -> None:
        self._w_cache = None
        self._w32_cache = None

    def _weights_like(self, x: np.ndarray) -> np.ndarray:
        if x.dtype != np.float32:
            return self.weights
        if self._w32_cache is None:
            self._w32_cache = self.weights.astype(np.float32)
        return self._w32_cache

    # ---------------------------------------------------------- quantisation
    def quantize(self, g: np.ndarray) -> np.ndarray:
        """Conductances (S) snapped to the nearest of the layer's ``levels`` states."""
        g = np.clip(np.asarray(g, dtype=float), self.card.g_min, self.card.g_max)
        if self.levels is None:
            return g
        k = np.rint((g - self.card.g_min) / self.span * (self.levels - 1))
        return self.card.g_min + k * self.span / (self.levels - 1)

    def targets(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Quantised target conductances ``(G+, G-)`` (S, flat) for weights ``w``."""
        w = self._check_weights(w)
        frac = np.clip(w / self.w_max, -1.0, 1.0).ravel()
        g_pos = self.quantize(self.card.g_min + np.maximum(frac, 0.0) * self.span)
        g_neg = self.quantize(self.card.g_min + np.maximum(-frac, 0.0) * self.span)
        return g_pos, g_neg

    def _check_weights(self, w: np.ndarray, name: str = "w") -> np.ndarray:
        w = np.asarray(w, dtype=float)
        if w.shape != self.shape:
            raise ValueError(f"{name} must have the layer shape {self.shape}, got {w.shape}")
        if not np.all(np.isfinite(w)):
            raise ValueError(f"{name} must be finite")
        return w

    # ----------------------------------------------------------- programming
    def program(
        self,
        w: np.ndarray,
        method: Literal["one-shot", "rvw"] = "one-shot",
        *,
        tolerance: float | None = None,
        max_pulses: int = 100,
        compensate_stuck: bool = True,
        callback: Callable[[int], None] | None = None,
        predictive: bool = True,
        round_pulses: int = 8,
    ) -> ProgramReport:
        """Program weights ``w`` (shape ``shape``, clipped to ``[-w_max, w_max]``).

        ``method="one-shot"``: one write per device with the card's lognormal
        ``write_sigma``. ``method="rvw"``: one-shot, then read-verify-write with
        ``tolerance`` (S; default half a quantisation step, or 1% of the range
        when unquantised) and at most ``max_pulses`` pulses per device. With
        ``compensate_stuck``, a device that did not move under a pulse is taken
        as stuck and its partner is re-targeted to keep ``G+ - G-``.
        With ``predictive``, each round gives a device the number of pulses
        that brings it nearest its target on the card's nominal (variation-free)
        curve, at most ``round_pulses`` (so that a stuck device wastes few
        pulses before it is found); otherwise one pulse per round. ``callback(iteration)`` is called after every verify round (R-V-W only),
        with the layer's conductances up to date.
        """
        if method not in ("one-shot", "rvw"):
            raise ValueError(f"method must be 'one-shot' or 'rvw', got {method!r}")
        check_count(max_pulses, "max_pulses", minimum=0)
        t_pos, t_neg = self.targets(w)
        self._last_targets = (t_pos.copy(), t_neg.copy())
        before = CrossbarCounts(**asdict(self.counts))
        self.g_pos = program_conductance(self.card, t_pos, self.pop_pos, self.rng)
        self.g_neg = program_conductance(self.card, t_neg, self.pop_neg, self.rng)
        self.counts.one_shot_writes += 2 * t_pos.size
        self._changed()
        iterations, converged, stuck_found = 0, 1.0, 0
        if method == "rvw":
            iterations, converged, stuck_found = self._verify_loop(
                t_pos, t_neg, self._tolerance(tolerance), int(max_pulses), compensate_stuck,
                callback, predictive, int(round_pulses))
        return self._report(method, before, iterations, converged, stuck_found)

    def _tolerance(self, tolerance: float | None) -> float:
        """Verify tolerance (S): default half a quantisation step, or 1% of the range."""
        if tolerance is None:
            tolerance = 0.5 * self.span / (self.levels - 1) if self.levels else 0.01 * self.span
        if not (np.isfinite(tolerance) and tolerance > 0):
            raise ValueError(f"tolerance must be a conductance > 0 S, got {tolerance!r}")
        return float(tolerance)

    def _report(self, method: str, before: CrossbarCounts, iterations: int, converged: float,
                stuck_found: int) -> ProgramReport:
        """What a programming call did, from the counters before and now."""
        c = self.counts
        return ProgramReport(
            method=method,
            one_shot_writes=c.one_shot_writes - before.one_shot_writes,
            pulses=(c.set_pulses + c.reset_pulses) - (before.set_pulses + before.reset_pulses),
            set_pulses=c.set_pulses - before.set_pulses,
            reset_pulses=c.reset_pulses - before.reset_pulses,
            reads=c.verify_reads - before.verify_reads,
            iterations=iterations,
            converged=converged,
            stuck_found=stuck_found,
        )

    def verify(
        self,
        w: np.ndarray,
        known_stuck: tuple[np.ndarray, np.ndarray] | None = None,
        *,
        tolerance: float | None = None,
        max_pulses: int = 100,
        compensate_stuck: bool = True,
        callback: Callable[[int], None] | None = None,
        predictive: bool = True,
        round_pulses: int = 8,
    ) -> ProgramReport:
        """Read-verify-write towards ``w`` from the *present* conductances (no one-shot write).

        With ``known_stuck`` (``(G+, G-)`` stuck codes, e.g. from
        :meth:`detect_stuck`) the targets are :meth:`fault_aware_targets` and the
        known-stuck devices are never pulsed; otherwise the plain targets. The
        other parameters are those of :meth:`program` (``method="rvw"``).
        """
        check_count(max_pulses, "max_pulses", minimum=0)
        if known_stuck is None:
            t_pos, t_neg = self.targets(w)
            known = None
        else:
            t_pos, t_neg = self.fault_aware_targets(w, *known_stuck)
            known = np.concatenate([np.asarray(k).ravel() != STUCK_NONE for k in known_stuck])
        self._last_targets = (t_pos.copy(), t_neg.copy())
        tolerance = self._tolerance(tolerance)
        before = CrossbarCounts(**asdict(self.counts))
        iterations, converged, stuck_found = self._verify_loop(
            t_pos, t_neg, tolerance, int(max_pulses), compensate_stuck, callback, predictive,
            int(round_pulses), known)
        return self._report("rvw", before, iterations, converged, stuck_found)

    def _verify_loop(self, t_pos, t_neg, tol, max_pulses, compensate, callback,
                     predictive, round_pulses, known=None) -> tuple[int, float, int]:
        n = t_pos.size
        g = np.concatenate([self.g_pos, self.g_neg])
        target = np.concatenate([t_pos, t_neg])
        pop = DevicePopulation(
            np.concatenate([self.pop_pos.set_scale, self.pop_neg.set_scale]),
            np.concatenate([self.pop_pos.reset_scale, self.pop_neg.reset_scale]),
            np.concatenate([self.pop_pos.stuck, self.pop_neg.stuck]),
        )
        partner = np.concatenate([np.arange(n, 2 * n), np.arange(n)])
        sign = np.concatenate([np.ones(n), -np.ones(n)])  # contribution to G+ - G-
        diff = t_pos - t_neg
        active = np.ones(2 * n, dtype=bool)
        flagged = np.zeros(2 * n, dtype=bool)
        used = np.zeros(2 * n, dtype=np.int64)
        if known is not None:  # devices already known stuck: never read or pulsed again
            flagged |= known
            active &= ~known
        iterations = 0
        while True:
            idx = np.flatnonzero(active)
            if idx.size == 0:
                break
            self.counts.verify_reads += idx.size
            read = self._noisy(g[idx])
            err = read - target[idx]
            ok = np.abs(err) <= tol
            active[idx[ok]] = False
            todo = idx[~ok & (used[idx] < max_pulses)]
            active[idx[~ok & (used[idx] >= max_pulses)]] = False
            if todo.size == 0:
                break
            iterations += 1
            up = target[todo] > g[todo]
            old = g[todo]
            new = old.copy()
            for mask, direction in ((up, "set"), (~up, "reset")):
                sel = todo[mask]
                if sel.size == 0:
                    continue
                sub = DevicePopulation(pop.set_scale[sel], pop.reset_scale[sel], pop.stuck[sel])
                z = self.rng.standard_normal(sel.size)
                if predictive:
                    budget = np.minimum(max_pulses - used[sel], round_pulses)
                    k = self._nominal_pulses(g[sel], target[sel], direction, budget)
                else:
                    k = np.ones(sel.size, dtype=np.int64)
                new[mask] = pulse_event(self.card, g[sel], k, direction, sub, z)
                if direction == "set":
                    self.counts.set_pulses += int(k.sum())
                else:
                    self.counts.reset_pulses += int(k.sum())
                used[sel] += k
            g[todo] = new
            dead = todo[(new == old) & ~flagged[todo]]
            if dead.size:
                flagged[dead] = True
                active[dead] = False
                if compensate:
                    mate = partner[dead]
                    ok_mate = ~flagged[mate]
                    dead, mate = dead[ok_mate], mate[ok_mate]
                    pair = dead % n
                    # keep G+ - G- = diff: mate = g_stuck -/+ diff
                    want = np.where(sign[mate] > 0, g[dead] + diff[pair], g[dead] - diff[pair])
                    target[mate] = self.quantize(want)
                    active[mate] = used[mate] < max_pulses
            if callback is not None:
                self.g_pos, self.g_neg = g[:n].copy(), g[n:].copy()
                self._changed()
                callback(iterations)
        self.g_pos, self.g_neg = g[:n].copy(), g[n:].copy()
        self._changed()
        converged = float(np.mean(np.abs(g - target) <= tol))
        return iterations, converged, int(flagged.sum())

    def _nominal_pulses(self, g: np.ndarray, target: np.ndarray, direction: str,
                        budget: np.ndarray) -> np.ndarray:
        """Pulses (>= 1, <= budget) that bring ``g`` nearest ``target`` on the card's nominal curve."""
        grid, after_set, after_reset = self.card.transfer_tables
        table = after_set if direction == "set" else after_reset
        cur = g.copy()
        best_k = np.ones(g.size, dtype=np.int64)
        best_err = np.full(g.size, np.inf)
        for k in range(1, int(budget.max(initial=1)) + 1):
            cur = np.clip(np.interp(cur, grid, table), self.card.g_min, self.card.g_max)
            err = np.abs(cur - target)
            better = (err < best_err) & (k <= budget)
            best_k[better] = k
            best_err[better] = err[better]
            passed = cur >= target if direction == "set" else cur <= target
            if np.all(passed | (k >= budget)):
                break
        return best_k

    def _noisy(self, g: np.ndarray) -> np.ndarray:
        if self.read_noise <= 0:
            return g
        return g * (1.0 + self.read_noise * self.rng.standard_normal(g.shape))

    # ------------------------------------------------------------------ reads
    def read(self, x: np.ndarray, *, transpose: bool = False, noise: bool = True) -> np.ndarray:
        """Outputs ``x @ W.T`` (or ``x @ W`` with ``transpose``) for one or a batch of inputs.

        ``x`` has shape ``(n_in,)`` or ``(batch, n_in)`` (``n_out`` when
        transposed). Counts one vector read per input vector.
        """
        x = np.asarray(x)
        if x.dtype != np.float32:
            x = x.astype(float, copy=False)
        n_in = self.shape[0] if transpose else self.shape[1]
        if x.ndim not in (1, 2) or x.shape[-1] != n_in:
            raise ValueError(f"x must have shape ({n_in},) or (batch, {n_in}), got {x.shape}")
        w = self._weights_like(x)
        y = x @ w if transpose else x @ w.T
        batch = 1 if x.ndim == 1 else x.shape[0]
        self.counts.vector_reads += batch
        self.counts.device_reads += batch * 2 * self.g_pos.size
        if noise and self.read_noise > 0:
            g2 = ((self.g_pos**2 + self.g_neg**2) * (self.read_noise * self.scale) ** 2).reshape(self.shape)
            var = (x**2) @ g2 if transpose else (x**2) @ g2.T
            y = y + np.sqrt(var) * self.rng.standard_normal(y.shape)
        return y

    # ---------------------------------------------------------------- updates
    def pulse_counts(self, delta_w: np.ndarray, stochastic: bool = True) -> np.ndarray:
        """Signed pulse numbers for a weight change: ``|dw| / w_step``, rounded.

        With ``stochastic``, rounding is up with probability equal to the
        fractional part (unbiased); otherwise to the nearest integer.
        """
        delta_w = self._check_weights(delta_w, "delta_w")
        q = np.abs(delta_w) / self.w_step
        if stochastic:
            n = np.floor(q + self.rng.random(q.shape, dtype=np.float32))
        else:
            n = np.rint(q)
        return (np.sign(delta_w) * n).astype(np.int64)

    def update(self, delta_w: np.ndarray, *, stochastic: bool = True, max_pulses: int = 16,
               state_aware: bool = False) -> int:
        """Apply a weight change in situ as pulse events; returns the number of pulses.

        At most ``max_pulses`` pulses per device per call. See the module
        docstring for which device of the pair receives them. With
        ``state_aware``, the pulse counts divide the needed conductance change
        by each device's *nominal* step at its present conductance (the
        card's transfer table, no variation) instead of the mean step
        ``span / levels``; this needs the two conductances of every candidate
        pair, counted as two ``verify_reads``.
        """
        if state_aware:
            return self._update_state_aware(delta_w, stochastic, max_pulses)
        n = self.pulse_counts(delta_w, stochastic).ravel()
        idx = np.flatnonzero(n)
        if idx.size == 0:
            return 0
        n = np.clip(n[idx], -max_pulses, max_pulses)
        up = n > 0
        k = np.abs(n)
        levels = self.card.levels
        # linear-equivalent pulses that would bring the device to be emptied back to g_min
        other = np.where(up, self.g_neg[idx], self.g_pos[idx])
        empty = np.ceil((other - self.card.g_min) / self.span * levels - 1e-9).astype(np.int64)
        r = np.minimum(k, np.maximum(empty, 0))
        return self._apply_plan(idx, up, k, r)

    def _min_step(self) -> float:
        grid, after_set, after_reset = self.card.transfer_tables
        steps = np.concatenate([np.abs(after_set - grid), np.abs(after_reset - grid)])
        positive = steps[steps > 0]
        return float(positive.min()) if positive.size else self.span / self.card.levels

    def _update_state_aware(self, delta_w: np.ndarray, stochastic: bool, max_pulses: int) -> int:
        d = self._check_weights(delta_w, "delta_w").ravel()
        dg = np.abs(d) / self.scale
        u = self.rng.random(d.shape, dtype=np.float32) if stochastic else np.full(d.shape, 0.5)
        idx = np.flatnonzero((dg / self._min_step() + u >= 1) & (dg > 0))
        if idx.size == 0:
            return 0
        self.counts.verify_reads += 2 * idx.size
        grid, after_set, after_reset = self.card.transfer_tables
        up = d[idx] > 0
        other = np.where(up, self.g_neg[idx], self.g_pos[idx])
        active = np.where(up, self.g_pos[idx], self.g_neg[idx])
        remove = np.minimum(dg[idx], other - self.card.g_min)
        rest = dg[idx] - remove
        step_other = np.abs(np.interp(other, grid, after_reset) - other)
        step_active = np.abs(np.interp(active, grid, after_set) - active)
        with np.errstate(divide="ignore", invalid="ignore"):
            r_exact = np.where(step_other > 0, remove / step_other, 0.0)
            s_exact = np.where(step_active > 0, rest / step_active, 0.0)
        # one unbiased rounding of the total (the same uniform draw as the candidate test,
        # whose bound dg / min_step is never below r_exact + s_exact)
        n = np.minimum(np.floor(r_exact + s_exact + u[idx]), max_pulses).astype(np.int64)
        r = np.minimum(n, np.ceil(r_exact - 1e-9).astype(np.int64))
        s = n - r
        return self._apply_plan(idx, up, r + s, r)

    def _apply_plan(self, idx: np.ndarray, up: np.ndarray, k: np.ndarray, r: np.ndarray) -> int:
        """``r`` RESETs on the device being emptied, ``k - r`` SETs on the other (pairs ``idx``)."""
        plan = (
            ("g_neg", self.pop_neg, up & (r > 0), r, "reset"),
            ("g_pos", self.pop_pos, up & (k > r), k - r, "set"),
            ("g_pos", self.pop_pos, ~up & (r > 0), r, "reset"),
            ("g_neg", self.pop_neg, ~up & (k > r), k - r, "set"),
        )
        total = 0
        for attr, pop, mask, count, direction in plan:
            if not mask.any():
                continue
            sel = idx[mask]
            kk = count[mask]
            sub = DevicePopulation(pop.set_scale[sel], pop.reset_scale[sel], pop.stuck[sel])
            z = self.rng.standard_normal(sel.size) if self.card.variability.c2c_sigma > 0 else None
            g = getattr(self, attr)
            g[sel] = pulse_event(self.card, g[sel], kk, direction, sub, z)
            pulses = int(kk.sum())
            total += pulses
            if direction == "set":
                self.counts.set_pulses += pulses
            else:
                self.counts.reset_pulses += pulses
        self._changed()
        return total

    # ------------------------------------------------------- fault handling
    def read_back(self, positions: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Read every device once (``2 * n`` single-device reads, counted as
        ``verify_reads``, with the layer's read noise); returns ``(G+, G-)``
        of shape ``shape`` (S). With ``positions`` (boolean, shape ``shape``)
        only those pairs are read and counted; the others are NaN."""
        if positions is None:
            self.counts.verify_reads += 2 * self.g_pos.size
            return self._noisy(self.g_pos).reshape(self.shape), self._noisy(self.g_neg).reshape(self.shape)
        sel = np.asarray(positions, dtype=bool)
        if sel.shape != self.shape:
            raise ValueError(f"positions must have the layer shape {self.shape}, got {sel.shape}")
        idx = np.flatnonzero(sel)
        self.counts.verify_reads += 2 * idx.size
        out = []
        for g in (self.g_pos, self.g_neg):
            r = np.full(g.size, np.nan)
            r[idx] = self._noisy(g[idx])
            out.append(r.reshape(self.shape))
        return out[0], out[1]

    def detect_stuck(self, n_sigma: float = 4.0) -> tuple[np.ndarray, np.ndarray]:
        """Stuck codes ``(G+, G-)`` (shape ``shape``) inferred from one read-back
        after the last :meth:`program`.

        A device is flagged stuck-on (stuck-off) when its read lies at the top
        (bottom) of the range, within the spread ``s = sqrt(write_sigma**2 +
        read_noise**2)`` (log scale), *and* more than ``n_sigma * s`` above
        (below) its programming target in log scale, i.e. the read cannot be
        explained by write variation or read noise. Stuck devices whose target
        lies near their stuck value are not found (they are nearly harmless).
        Costs the ``2 * n`` reads of :meth:`read_back`; uses only reads and the
        targets the controller itself chose, never the hidden stuck map.
        """
        if self._last_targets is None:
            raise ValueError("detect_stuck needs a programmed layer (call program first)")
        if not (np.isfinite(n_sigma) and n_sigma > 0):
            raise ValueError(f"n_sigma must be > 0, got {n_sigma!r}")
        spread = float(np.hypot(self.card.variability.write_sigma, self.read_noise))
        margin = n_sigma * max(spread, 1e-6)
        g_min, g_max = self.card.g_min, self.card.g_max
        codes = []
        for read, target in zip(self.read_back(), self._last_targets):
            read = read.ravel()
            log_ratio = np.log(np.maximum(read, 1e-30) / target)
            code = np.full(read.shape, STUCK_NONE, dtype=np.int8)
            code[(log_ratio > margin) & (read >= g_max * np.exp(-margin))] = STUCK_ON
            code[(log_ratio < -margin) & (read <= g_min * np.exp(margin))] = STUCK_OFF
            codes.append(code.reshape(self.shape))
        self.detected_stuck = (codes[0], codes[1])
        return codes[0], codes[1]

    def fault_aware_targets(self, w: np.ndarray, stuck_pos: np.ndarray,
                            stuck_neg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Quantised targets ``(G+, G-)`` (flat, S) that keep ``G+ - G-`` as close
        to the weight as the known stuck devices allow.

        Where exactly one device of a pair is known stuck at ``g_s``, its partner
        is re-targeted to ``g_s -/+ (t+ - t-)`` (clipped to the range): e.g. a
        ``G+`` stuck on at ``g_max`` with ``G-`` at ``g_max - w / scale`` holds
        any ``w >= 0`` exactly and ``w < 0`` as 0 instead of ``w_max - |w|``.
        Pairs with both devices stuck, or none, keep the plain targets.
        """
        t_pos, t_neg = self.targets(w)
        sp = np.asarray(stuck_pos).ravel()
        sn = np.asarray(stuck_neg).ravel()
        if sp.shape != t_pos.shape or sn.shape != t_neg.shape:
            raise ValueError(f"stuck maps must have the layer shape {self.shape}")
        g_stuck = {STUCK_ON: self.card.g_max, STUCK_OFF: self.card.g_min}
        diff = t_pos - t_neg
        t_pos, t_neg = t_pos.copy(), t_neg.copy()
        for code, g_s in g_stuck.items():
            only_pos = (sp == code) & (sn == STUCK_NONE)
            t_pos[only_pos] = g_s
            t_neg[only_pos] = self.quantize(g_s - diff[only_pos])
            only_neg = (sn == code) & (sp == STUCK_NONE)
            t_neg[only_neg] = g_s
            t_pos[only_neg] = self.quantize(g_s + diff[only_neg])
        return t_pos, t_neg

    def remap_stuck(self, w: np.ndarray, stuck_pos: np.ndarray, stuck_neg: np.ndarray) -> int:
        """Fault-aware re-mapping after programming ``w``: one-shot re-write of
        every device whose :meth:`fault_aware_targets` target differs from its
        present target (the partners of known stuck devices). Returns the number
        of devices written (counted as ``one_shot_writes``)."""
        if self._last_targets is None:
            raise ValueError("remap_stuck needs a programmed layer (call program first)")
        new_pos, new_neg = self.fault_aware_targets(w, stuck_pos, stuck_neg)
        old_pos, old_neg = self._last_targets
        written = 0
        known = (np.asarray(stuck_pos).ravel(), np.asarray(stuck_neg).ravel())
        for attr, pop, new, old, stuck in (("g_pos", self.pop_pos, new_pos, old_pos, known[0]),
                                           ("g_neg", self.pop_neg, new_neg, old_neg, known[1])):
            sel = np.flatnonzero((new != old) & (stuck == STUCK_NONE))  # no write to a known-stuck device
            if sel.size:
                sub = DevicePopulation(pop.set_scale[sel], pop.reset_scale[sel], pop.stuck[sel])
                g = getattr(self, attr)
                g[sel] = program_conductance(self.card, new[sel], sub, self.rng)
                written += int(sel.size)
        self.counts.one_shot_writes += written
        self._last_targets = (new_pos, new_neg)
        self._changed()
        return written

    def stuck_mask(self) -> np.ndarray:
        """Boolean ``shape`` array: True where either device of the pair is stuck."""
        sp, sn = self.stuck
        return (sp != STUCK_NONE) | (sn != STUCK_NONE)
