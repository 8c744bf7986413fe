"""Fit measured pulse trains to the NeuroSim nonlinear model and build table cards.

Measured data are conductance-vs-pulse arrays: rows are pulse numbers (row 0
is the state before the first pulse of the ramp), columns are cycles or
devices; SET (potentiating) and RESET (depressing) ramps are given separately.
Ramps of unequal length are padded with NaN at their end.

The model (NeuroSim; Chen, Peng & Yu, IEEE TCAD 37:3067, 2018) is written here
in pulses ``n`` counted from the start of each ramp, with ``a = A/Pmax``::

    SET:   G(n) = Gmin + (Gmax - Gmin) * f(n / Pmax; a)
    RESET: G(n) = Gmax - (Gmax - Gmin) * f(n / Pmax; a)
    f(x; a) = (1 - exp(-x/a)) / (1 - exp(-1/a))

which is G_LTP(P) = B(1 - e^(-P/A)) + Gmin and, with ``n = Pmax - P``,
G_LTD(P) = -B(1 - e^((P - Pmax)/A)) + Gmax. ``a > 0``: steps shrink along the
ramp (the usual saturating shape, NeuroSim's LTP NL > 0 *and* LTD NL < 0);
``a < 0``: steps grow along the ramp; ``|a| -> inf``: linear. The fit uses the
curvature ``c = 1/a`` so that the linear device (c = 0) is an interior point.

NeuroSim's nonlinearity label NL (``getParamA`` table) is *derived* here, not
interpolated: NL is the largest vertical distance between the normalised
curve ``f`` and the straight line, divided by 0.07*sqrt(2) (~0.098995). This
reproduces the design-note points NL 0.5/1/2.4/4.88 <-> a 2.52/1.2517/0.499/
0.2003 to better than 0.1 % (see tests/test_fitting.py). Its sign follows ``a``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from scipy.optimize import brentq, least_squares, minimize_scalar

from .card import CardError, DeviceCard, PulseEnergy, PulseShape, Response, Variability

__all__ = [
    "NL_SCALE",
    "FitResult",
    "normalized_curve",
    "model_ramp",
    "nl_from_a",
    "a_from_nl",
    "prepare_curves",
    "fit_measurements",
    "card_from_measurements",
    "read_ramps_csv",
]

#: max deviation from linear (fraction of range) of a curve with NL label 1
NL_SCALE = 0.07 * math.sqrt(2.0)

Direction = Literal["set", "reset"]


# ----------------------------------------------------------------- the model
def _f_curv(x: np.ndarray, c: float) -> np.ndarray:
    """Normalised ramp ``f(x; a=1/c)``; ``c = 0`` is the straight line."""
    x = np.asarray(x, dtype=float)
    if abs(c) < 1e-9:
        return x.copy()
    return np.expm1(-c * x) / math.expm1(-c)


def normalized_curve(x: np.ndarray | float, a: float) -> np.ndarray:
    """Normalised NeuroSim ramp ``f(x; a)`` for ``x = n/Pmax`` in [0, 1] (dimensionless).

    ``a = A/Pmax``; ``a = inf`` gives the linear ramp, negative ``a`` a ramp whose
    steps grow with pulse number.
    """
    c = 0.0 if math.isinf(a) else 1.0 / a
    return _f_curv(np.asarray(x, dtype=float), c)


def model_ramp(
    n: np.ndarray | float, g_min: float, g_max: float, p_max: float, a: float,
    direction: Direction = "set",
) -> np.ndarray:
    """Conductance (S) after ``n`` pulses of a SET ramp from ``g_min`` (or RESET from ``g_max``)."""
    f = normalized_curve(np.asarray(n, dtype=float) / p_max, a)
    if direction == "set":
        return g_min + (g_max - g_min) * f
    return g_max - (g_max - g_min) * f


def _max_deviation(c: float) -> float:
    """Max of f(x; 1/c) - x over [0, 1] (negative for c < 0); closed form."""
    if abs(c) < 1e-12:
        return 0.0
    if c < 0:
        return -_max_deviation(-c)
    k = -math.expm1(-c)  # 1 - e^-c
    x_star = math.log(c / k) / c  # where f'(x) = 1
    x_star = min(max(x_star, 0.0), 1.0)
    return float(-math.expm1(-c * x_star) / k - x_star)


def nl_from_a(a: float) -> float:
    """NeuroSim nonlinearity label of a ramp with ``a = A/Pmax`` (sign of ``a``; 0 if linear)."""
    if math.isinf(a):
        return 0.0
    if a == 0 or not math.isfinite(a):
        raise ValueError(f"a = A/Pmax must be finite and non-zero, got {a!r}")
    return _max_deviation(1.0 / a) / NL_SCALE


def a_from_nl(nl: float) -> float:
    """``A/Pmax`` of NeuroSim's nonlinearity label ``nl`` (inverse of :func:`nl_from_a`).

    ``|nl|`` must be below 1/NL_SCALE (~10.1, a step-like ramp); ``nl = 0`` gives ``inf``.
    """
    if nl == 0:
        return math.inf
    target = abs(nl) * NL_SCALE
    if not target < 1.0:
        raise ValueError(f"NL label {nl!r} out of range (|NL| < {1 / NL_SCALE:.3f})")
    # deviation grows monotonically with the curvature c = 1/a > 0
    hi = 1.0
    while _max_deviation(hi) < target:
        hi *= 2.0
    c = brentq(lambda c: _max_deviation(c) - target, 0.0, hi, xtol=1e-13, rtol=1e-13)
    return math.copysign(1.0 / c, nl)


# ------------------------------------------------------------ data handling
def read_ramps_csv(path: str | Path) -> np.ndarray:
    """Read ramps from CSV: header row, one row per pulse, one column per ramp (S).

    Empty cells (ramps of unequal length) become NaN.
    """
    path = Path(path)
    rows = [line.split(",") for line in path.read_text().splitlines()[1:] if line.strip()]
    if not rows:
        raise CardError(f"curve file {path}: empty data")
    width = max(len(r) for r in rows)
    out = np.full((len(rows), width), np.nan)
    for i, row in enumerate(rows):
        for j, cell in enumerate(row):
            cell = cell.strip()
            if cell:
                out[i, j] = float(cell)
    return out


def _as_curves(curves: Any, name: str) -> np.ndarray:
    arr = np.asarray(curves, dtype=float)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.size == 0 or arr.shape[0] < 2:
        raise CardError(f"{name}: needs a 2-D array with at least two pulses (empty data)")
    if np.isinf(arr).any():
        raise CardError(f"{name}: contains infinite conductances")
    if np.any(arr[np.isfinite(arr)] < 0):
        raise CardError(f"{name}: contains negative conductances")
    return arr


def prepare_curves(curves: Any, direction: Direction, name: str | None = None) -> tuple[np.ndarray, str]:
    """Make ragged measured ramps into the rectangular, monotonic-mean array a table card needs.

    1. Ramps are cut to the shortest ramp (trailing NaN padding removed); a NaN
       inside a ramp is an error.
    2. If the mean over ramps is not strictly monotonic (increasing for SET,
       decreasing for RESET), the rows after the longest strictly monotonic
       prefix are dropped (at least two rows must remain).

    Returns ``(curves, note)``; ``note`` says what was done (for the card's provenance).
    """
    name = name or f"measured_{direction}"
    arr = _as_curves(curves, name)
    finite = np.isfinite(arr)
    lengths = np.array([np.argmin(col) if not col.all() else col.size for col in finite.T])
    for j, length in enumerate(lengths):
        if finite[length:, j].any():
            raise CardError(f"{name}: ramp {j + 1} has a NaN inside the ramp (only trailing padding allowed)")
    if lengths.min() < 2:
        raise CardError(f"{name}: a ramp has fewer than two finite pulses (empty data)")
    notes = []
    n_rows = int(lengths.min())
    if n_rows < arr.shape[0]:
        notes.append(f"ramps of {lengths.min()}-{lengths.max()} rows cut to the shortest ({n_rows} rows)")
    arr = arr[:n_rows]
    mean = arr.mean(axis=1)
    steps = np.diff(mean) * (1.0 if direction == "set" else -1.0)
    bad = np.flatnonzero(steps <= 0)
    if bad.size:
        keep = int(bad[0]) + 1
        if keep < 2:
            raise CardError(f"{name}: the mean curve is not monotonic from its first pulse")
        notes.append(f"mean curve not monotonic after row {keep - 1}: {n_rows - keep} rows dropped")
        arr = arr[:keep]
    else:
        notes.append("mean curve strictly monotonic, no smoothing or trimming needed")
    return arr, "; ".join(notes)


# -------------------------------------------------------------- the result
@dataclass(frozen=True)
class FitResult:
    """NeuroSim-model fit of measured SET/RESET ramps.

    Attributes
    ----------
    a_set, a_reset : A/Pmax of the SET and RESET ramps (signed, see module doc).
    nl_set, nl_reset : NeuroSim NL labels (same sign convention as ``a``; NeuroSim
        itself writes the usual depressing ramp with a negative LTD label).
    g_min, g_max : fitted end points (S).
    p_max_set, p_max_reset : pulses per ramp used as Pmax (rows - 1).
    levels_set, levels_reset : pulses from Gmin to Gmax (= p_max; the card's ``levels``
        is the SET value).
    levels_effective : (Gmax - Gmin) / largest mean step of either ramp -- the number of
        states at the coarsest resolution (equals ``levels`` for a linear device).
    on_off_ratio : Gmax / Gmin.
    c2c_sigma_set, c2c_sigma_reset, c2c_sigma : cycle-to-cycle spread of the per-pulse
        step: RMS deviation of each step from the mean step at that pulse number,
        divided by the mean absolute step (relative; combined = RMS of the two).
    d2d_sigma_set, d2d_sigma_reset, d2d_sigma : ramp-to-ramp spread: std of ln(s) where
        ``s`` is each ramp's fitted speed along the mean curve (lognormal log-std, as
        :func:`neurocbram.devices.pulses.sample_population` draws it).
    scale_spread : relative std of the per-ramp speeds ``s`` (both directions pooled).
    residual_rms, residual_max : RMS and max |data - model| over all points (S).
    residual_rel : residual_rms / (Gmax - Gmin).
    residual_rms_set, residual_rms_reset : RMS per direction (S).
    n_ramps_set, n_ramps_reset : number of ramps fitted.
    """

    a_set: float
    a_reset: float
    nl_set: float
    nl_reset: float
    g_min: float
    g_max: float
    p_max_set: int
    p_max_reset: int
    levels_set: int
    levels_reset: int
    levels_effective: float
    on_off_ratio: float
    c2c_sigma_set: float
    c2c_sigma_reset: float
    c2c_sigma: float
    d2d_sigma_set: float
    d2d_sigma_reset: float
    d2d_sigma: float
    scale_spread: float
    residual_rms: float
    residual_max: float
    residual_rel: float
    residual_rms_set: float
    residual_rms_reset: float
    n_ramps_set: int
    n_ramps_reset: int

    @property
    def p_max(self) -> int:
        """Pmax of the SET ramp (NeuroSim's maxNumLevel)."""
        return self.p_max_set

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping (floats; ``inf`` written as the string "inf")."""
        out: dict[str, Any] = {}
        for key, value in asdict(self).items():
            if isinstance(value, float) and not math.isfinite(value):
                out[key] = str(value)
            elif isinstance(value, (np.floating, float)):
                out[key] = float(value)
            else:
                out[key] = int(value) if isinstance(value, (np.integer, int)) else value
        return out

    def model(self, n: np.ndarray, direction: Direction) -> np.ndarray:
        """Fitted model conductance (S) after ``n`` pulses of a ramp."""
        a, p = (self.a_set, self.p_max_set) if direction == "set" else (self.a_reset, self.p_max_reset)
        return model_ramp(n, self.g_min, self.g_max, p, a, direction)


# ------------------------------------------------------------- the fitting
def _c2c(curves: np.ndarray, sign: float) -> float:
    steps = np.diff(curves, axis=0)
    mean = np.nanmean(steps, axis=1, keepdims=True)
    dev = steps - mean
    ok = np.isfinite(dev)
    denom = np.nanmean(np.abs(mean))
    return float(np.sqrt(np.mean(dev[ok] ** 2)) / denom) if denom > 0 else 0.0


def _ramp_speeds(curves: np.ndarray, direction: Direction) -> np.ndarray:
    """Per-ramp speed ``s_j``: ramp j follows the mean curve as M(p0_j + s_j n)."""
    mean = np.nanmean(curves, axis=1)
    rows = np.isfinite(mean)
    mean = mean[rows]
    sign = 1.0 if direction == "set" else -1.0
    # make the mean strictly monotonic for inversion (cumulative max of sign*mean)
    m = sign * mean
    m = np.maximum.accumulate(m) + np.arange(m.size) * 1e-15 * max(abs(m[-1]), 1.0)
    pos = np.arange(m.size, dtype=float)
    first, last = m[1] - m[0], m[-1] - m[-2]

    def curve(p: np.ndarray) -> np.ndarray:
        inside = np.interp(p, pos, m)
        inside = np.where(p < 0, m[0] + first * p, inside)
        return np.where(p > pos[-1], m[-1] + last * (p - pos[-1]), inside)

    speeds = []
    for col in curves.T:
        g = sign * col[np.isfinite(col)]
        if g.size < 3:
            continue
        p0 = float(np.interp(g[0], m, pos))
        n = np.arange(g.size, dtype=float)
        res = minimize_scalar(lambda s: float(np.sum((curve(p0 + s * n) - g) ** 2)),
                              bounds=(0.05, 20.0), method="bounded", options={"xatol": 1e-6})
        speeds.append(res.x)
    return np.asarray(speeds)


def fit_measurements(
    set_curves: Any,
    reset_curves: Any,
    p_max_set: int | None = None,
    p_max_reset: int | None = None,
) -> FitResult:
    """Fit the NeuroSim model jointly to measured SET and RESET ramps.

    Parameters
    ----------
    set_curves, reset_curves : array (pulses x ramps), conductance in S; NaN pads
        ramps of unequal length at their end. Row 0 is the state before the first pulse.
    p_max_set, p_max_reset : Pmax of each direction (default: rows - 1).

    Returns
    -------
    FitResult
        Shared Gmin/Gmax and one A/Pmax per direction (``scipy.optimize.least_squares``
        on all finite points), with variability and residual statistics.
    """
    s = _as_curves(set_curves, "measured_set")
    r = _as_curves(reset_curves, "measured_reset")
    ps = int(p_max_set if p_max_set is not None else s.shape[0] - 1)
    pr = int(p_max_reset if p_max_reset is not None else r.shape[0] - 1)
    if ps < 1 or pr < 1:
        raise CardError("fit: Pmax must be >= 1 pulse")
    ns = np.broadcast_to(np.arange(s.shape[0], dtype=float)[:, None], s.shape)
    nr = np.broadcast_to(np.arange(r.shape[0], dtype=float)[:, None], r.shape)
    ms, mr = np.isfinite(s), np.isfinite(r)
    if not ms.any() or not mr.any():
        raise CardError("fit: no finite data (empty data)")
    xs, ys = ns[ms] / ps, s[ms]
    xr, yr = nr[mr] / pr, r[mr]
    lo = float(min(ys.min(), yr.min()))
    hi = float(max(ys.max(), yr.max()))
    span0 = hi - lo
    if not span0 > 0:
        raise CardError("fit: the data do not change conductance")
    ys_n, yr_n = (ys - lo) / span0, (yr - lo) / span0

    def residuals(theta: np.ndarray) -> np.ndarray:
        g0, g1, cs, cr = theta
        fs = g0 + (g1 - g0) * _f_curv(xs, cs)
        fr = g1 - (g1 - g0) * _f_curv(xr, cr)
        return np.concatenate([fs - ys_n, fr - yr_n])

    best = None
    for c0 in (-2.0, 0.0, 2.0):
        sol = least_squares(residuals, x0=[0.0, 1.0, c0, c0], bounds=([-1, 0, -60, -60], [1, 2, 60, 60]),
                            x_scale=[0.1, 0.1, 1.0, 1.0], method="trf")
        if best is None or sol.cost < best.cost:
            best = sol
    g0, g1, cs, cr = best.x
    g_min, g_max = lo + g0 * span0, lo + g1 * span0
    if not g_max > g_min:
        raise CardError("fit: fitted Gmax is not above Gmin")
    a_set = math.inf if abs(cs) < 1e-9 else 1.0 / cs
    a_reset = math.inf if abs(cr) < 1e-9 else 1.0 / cr
    res = best.fun * span0
    res_s, res_r = res[: ys.size], res[ys.size:]
    span = g_max - g_min

    mean_steps = np.concatenate([np.abs(np.diff(np.nanmean(s, axis=1))), np.abs(np.diff(np.nanmean(r, axis=1)))])
    max_step = float(np.nanmax(mean_steps))
    c2c_s, c2c_r = _c2c(s, 1.0), _c2c(r, -1.0)
    sp_s, sp_r = _ramp_speeds(s, "set"), _ramp_speeds(r, "reset")
    d2d_s = float(np.std(np.log(sp_s))) if sp_s.size > 1 else 0.0
    d2d_r = float(np.std(np.log(sp_r))) if sp_r.size > 1 else 0.0
    speeds = np.concatenate([sp_s / np.mean(sp_s), sp_r / np.mean(sp_r)]) if sp_s.size and sp_r.size else np.ones(1)
    return FitResult(
        a_set=a_set, a_reset=a_reset, nl_set=nl_from_a(a_set), nl_reset=nl_from_a(a_reset),
        g_min=float(g_min), g_max=float(g_max), p_max_set=ps, p_max_reset=pr,
        levels_set=ps, levels_reset=pr,
        levels_effective=float(span / max_step) if max_step > 0 else math.inf,
        on_off_ratio=float(g_max / g_min) if g_min > 0 else math.inf,
        c2c_sigma_set=c2c_s, c2c_sigma_reset=c2c_r, c2c_sigma=float(math.sqrt((c2c_s**2 + c2c_r**2) / 2)),
        d2d_sigma_set=d2d_s, d2d_sigma_reset=d2d_r, d2d_sigma=float(math.sqrt((d2d_s**2 + d2d_r**2) / 2)),
        scale_spread=float(np.std(speeds)),
        residual_rms=float(np.sqrt(np.mean(res**2))), residual_max=float(np.max(np.abs(res))),
        residual_rel=float(np.sqrt(np.mean(res**2)) / span),
        residual_rms_set=float(np.sqrt(np.mean(res_s**2))), residual_rms_reset=float(np.sqrt(np.mean(res_r**2))),
        n_ramps_set=int(s.shape[1]), n_ramps_reset=int(r.shape[1]),
    )


# ----------------------------------------------------------- card builder
def _levels_on_curve(curve: np.ndarray, g_from: float, g_to: float) -> int:
    """Pulses along a monotonic increasing mean curve from ``g_from`` to reach ``g_to``."""
    pos = np.arange(curve.size, dtype=float)
    p0 = float(np.interp(g_from, curve, pos))
    p1 = float(np.interp(g_to, curve, pos))
    return max(1, int(math.ceil(p1 - p0 - 1e-9)))


def card_from_measurements(
    name: str,
    set_curves: Any,
    reset_curves: Any,
    *,
    technology: str,
    citation: str,
    set_pulse: PulseShape,
    reset_pulse: PulseShape,
    energy: PulseEnergy,
    description: str = "",
    provenance: Mapping[str, str] | None = None,
    set_curve_file: str = "set_curve.csv",
    reset_curve_file: str = "reset_curve.csv",
    stuck_on_rate: float = 0.0,
    stuck_off_rate: float = 0.0,
    write_sigma: float = 0.0,
) -> DeviceCard:
    """Build a table card (``response.model = "table"``) from measured ramps.

    The ramps are made rectangular with :func:`prepare_curves`; the card keeps
    them (``measured_set`` / ``measured_reset``, written to ``set_curve_file`` /
    ``reset_curve_file`` by :meth:`DeviceCard.save`). ``g_min`` / ``g_max`` are the
    range covered by *both* mean curves (NeuroSim's measured-device convention:
    the larger of the two starting/ending minima, the smaller of the maxima), so
    neither response is extrapolated inside the range. ``levels`` is the number
    of SET pulses that take the mean SET curve from ``g_min`` to ``g_max``.
    ``c2c_sigma`` / ``d2d_sigma`` come from the fit, which is stored in ``card.fit``.
    """
    s, note_s = prepare_curves(set_curves, "set")
    r, note_r = prepare_curves(reset_curves, "reset")
    fit = fit_measurements(s, r)
    mean_s, mean_r = s.mean(axis=1), r.mean(axis=1)
    g_min = float(max(mean_s[0], mean_r[-1]))
    g_max = float(min(mean_s[-1], mean_r[0]))
    if not g_max > g_min:
        raise CardError(f"device card {name!r}: g_min: SET and RESET mean curves do not overlap")
    levels = _levels_on_curve(mean_s, g_min, g_max)
    prov = {
        "g_min": f"measured: max(mean SET start, mean RESET end) of the ramps ({g_min:.6g} S)",
        "g_max": f"measured: min(mean SET end, mean RESET start) of the ramps ({g_max:.6g} S)",
        "levels": "measured: SET pulses along the mean SET curve from g_min to g_max",
        "response": "measured: mean of the ramps (table model)",
        "variability.c2c_sigma": "fitted: RMS deviation of per-pulse steps from the mean step, relative "
                                 "to the mean step (SET and RESET combined)",
        "variability.d2d_sigma": "fitted: std of ln(per-ramp speed along the mean curve); the ramps are "
                                 "cycles, so this ramp-to-ramp spread stands in for device-to-device",
        "measured_set": f"prepared: {note_s}",
        "measured_reset": f"prepared: {note_r}",
    }
    prov.update(provenance or {})
    fit_dict = fit.to_dict()
    fit_dict["model"] = "NeuroSim exponential, joint least-squares fit (neurocbram.devices.fitting)"
    return DeviceCard(
        name=name, technology=technology, citation=citation, description=description,
        g_min=g_min, g_max=g_max, levels=levels, set_pulse=set_pulse, reset_pulse=reset_pulse,
        energy=energy,
        response=Response(model="table", set_curve=set_curve_file, reset_curve=reset_curve_file),
        variability=Variability(c2c_sigma=round(fit.c2c_sigma, 4), d2d_sigma=round(fit.d2d_sigma, 4),
                                stuck_on_rate=stuck_on_rate, stuck_off_rate=stuck_off_rate,
                                write_sigma=write_sigma),
        provenance=prov, fit=fit_dict, measured_set=s, measured_reset=r,
    )
