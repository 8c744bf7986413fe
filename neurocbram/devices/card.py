"""Device cards: the single description of one memristive device.

A card is data (``card.json`` plus optional CSV files of measured pulse trains
in the same folder), loaded into the frozen dataclasses below. Its central
promise is the **pulse response**: the conductance after one SET or one RESET
pulse from any state ``G``, always inside ``[g_min, g_max]``.

The response is defined by one of three models (``response.model``):

``"exponential"``
    The NeuroSim nonlinear model, G_LTP(P) = B(1 - exp(-P/A)) + Gmin and
    G_LTD(P) = -B(1 - exp((P - Pmax)/A)) + Gmax with
    B = (Gmax - Gmin)/(1 - exp(-Pmax/A)). One pulse maps G affinely:
    G' = G_inf + (G - G_inf) exp(-1/A). ``a_set`` / ``a_reset`` give A/Pmax.
``"linear"``
    Equal steps of (Gmax - Gmin)/Pmax (the ideal device; A -> infinity).
``"table"``
    Measured curves: ``set_curve`` / ``reset_curve`` name CSV files whose
    columns are cycles (or devices) and whose rows are the conductance after
    each successive identical pulse. The response follows the mean curve:
    from G, find the (fractional) pulse number on the curve and step by one.

Every model is exposed the same way, as a *transfer table*: G' sampled on a
uniform grid of G over [g_min, g_max], linearly interpolated in between.
For the affine models the interpolation is exact; for measured curves it is
the definition of the response. Brian2 code, NumPy references and the
rate-coded crossbar all use the same table, so every target agrees.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .units import parse_quantity

__all__ = [
    "CardError",
    "PulseShape",
    "PulseEnergy",
    "Variability",
    "Response",
    "DeviceCard",
    "TRANSFER_TABLE_POINTS",
]

#: number of grid points of the transfer tables (uniform in G, ends included)
TRANSFER_TABLE_POINTS = 1025

RESPONSE_MODELS = ("exponential", "linear", "table")


class CardError(ValueError):
    """A device card is malformed; the message names the card and the field."""


@dataclass(frozen=True)
class PulseShape:
    """One programming pulse: ``amplitude`` in volts (signed), ``width`` in seconds."""

    amplitude: float
    width: float


@dataclass(frozen=True)
class PulseEnergy:
    """Energy per operation on one device, in joules."""

    set_pulse: float
    reset_pulse: float
    read: float


@dataclass(frozen=True)
class Variability:
    """Non-idealities of a population of devices (all fractions are dimensionless).

    ``c2c_sigma``: cycle-to-cycle, relative std of each pulse's conductance step.
    ``d2d_sigma``: device-to-device, relative std of each device's step size (drawn once).
    ``stuck_on_rate`` / ``stuck_off_rate``: fraction of devices stuck at Gmax / Gmin.
    ``write_sigma``: std of the log of the achieved/target conductance when
    programming a target in one shot (lognormal write variation).
    """

    c2c_sigma: float = 0.0
    d2d_sigma: float = 0.0
    stuck_on_rate: float = 0.0
    stuck_off_rate: float = 0.0
    write_sigma: float = 0.0


@dataclass(frozen=True)
class Response:
    """Which pulse-response model the card uses and its parameters (see module doc)."""

    model: Literal["exponential", "linear", "table"]
    a_set: float | None = None
    a_reset: float | None = None
    set_curve: str | None = None
    reset_curve: str | None = None


@dataclass(frozen=True)
class DeviceCard:
    """A memristive device: conductance range, pulses, energies, response, variation.

    Conductances are in siemens, times in seconds, energies in joules.
    ``levels`` is the number of identical pulses that take the device from
    ``g_min`` to ``g_max`` (NeuroSim's ``maxNumLevel``).
    ``provenance`` maps field names to where their value comes from
    (``"published: ..."`` or ``"assumed: ..."``).
    ``measured_set`` / ``measured_reset`` hold the measured curves of a table
    card (rows: pulse number, columns: cycles), in siemens.
    """

    name: str
    technology: str
    citation: str
    g_min: float
    g_max: float
    levels: int
    set_pulse: PulseShape
    reset_pulse: PulseShape
    energy: PulseEnergy
    response: Response
    variability: Variability = field(default_factory=Variability)
    description: str = ""
    provenance: Mapping[str, str] = field(default_factory=dict)
    fit: Mapping[str, Any] | None = None
    measured_set: np.ndarray | None = field(default=None, repr=False, compare=False)
    measured_reset: np.ndarray | None = field(default=None, repr=False, compare=False)
    source_dir: Path | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.validate()

    # ------------------------------------------------------------------ checks
    def _error(self, field_name: str, problem: str) -> CardError:
        return CardError(f"device card {self.name!r}: {field_name}: {problem}")

    def validate(self) -> None:
        """Raise :class:`CardError` naming the first bad field."""
        for name in ("g_min", "g_max"):
            value = getattr(self, name)
            if value is None or not math.isfinite(value):
                raise self._error(name, f"must be a finite conductance, got {value!r}")
            if value < 0:
                raise self._error(name, f"must be >= 0 S, got {value!r}")
        if self.g_min >= self.g_max:
            raise self._error("g_min", f"must be below g_max ({self.g_min!r} >= {self.g_max!r})")
        if not isinstance(self.levels, (int, np.integer)) or self.levels < 1:
            raise self._error("levels", f"must be a positive integer, got {self.levels!r}")
        for name in ("set_pulse", "reset_pulse"):
            pulse = getattr(self, name)
            if not math.isfinite(pulse.amplitude):
                raise self._error(f"{name}.amplitude", "must be finite")
            if not (math.isfinite(pulse.width) and pulse.width > 0):
                raise self._error(f"{name}.width", f"must be > 0 s, got {pulse.width!r}")
        for name, value in asdict(self.energy).items():
            if not (math.isfinite(value) and value >= 0):
                raise self._error(f"energy.{name}", f"must be a finite energy >= 0 J, got {value!r}")
        for name, value in asdict(self.variability).items():
            if not math.isfinite(value) or value < 0:
                raise self._error(f"variability.{name}", f"must be finite and >= 0, got {value!r}")
        rates = self.variability.stuck_on_rate, self.variability.stuck_off_rate
        for name, value in zip(("stuck_on_rate", "stuck_off_rate"), rates):
            if value > 1:
                raise self._error(f"variability.{name}", f"is a rate and must lie in [0, 1], got {value!r}")
        if sum(rates) > 1:
            raise self._error("variability", "stuck_on_rate + stuck_off_rate exceeds 1")
        self._validate_response()

    def _validate_response(self) -> None:
        response = self.response
        if response.model not in RESPONSE_MODELS:
            raise self._error(
                "response.model", f"unknown model {response.model!r} (known: {', '.join(RESPONSE_MODELS)})"
            )
        if response.model == "exponential":
            for name in ("a_set", "a_reset"):
                value = getattr(response, name)
                if value is None or not math.isfinite(value) or value <= 0:
                    raise self._error(f"response.{name}", f"must be a positive number (A/Pmax), got {value!r}")
        if response.model == "table":
            for name in ("measured_set", "measured_reset"):
                curves = getattr(self, name)
                if curves is None or np.size(curves) == 0:
                    raise self._error(name, "a table card needs measured curves; none given (empty data)")
                if not np.all(np.isfinite(curves)):
                    raise self._error(name, "contains NaN or infinite conductances")
                if np.any(curves < 0):
                    raise self._error(name, "contains negative conductances")
                if curves.shape[0] < 2:
                    raise self._error(name, "needs at least two pulses per curve")
            if np.any(np.diff(self.mean_set_curve) <= 0):
                raise self._error(
                    "measured_set", "the mean SET curve must increase monotonically with pulse number"
                )
            if np.any(np.diff(self.mean_reset_curve) >= 0):
                raise self._error(
                    "measured_reset", "the mean RESET curve must decrease monotonically with pulse number"
                )

    # ---------------------------------------------------------------- response
    @property
    def on_off_ratio(self) -> float:
        """Gmax / Gmin (infinite when Gmin is 0)."""
        return self.g_max / self.g_min if self.g_min > 0 else math.inf

    @property
    def mean_set_curve(self) -> np.ndarray:
        """Mean measured SET curve (S) over cycles, rows = pulse number; table cards only."""
        return np.mean(np.atleast_2d(self.measured_set.T).T, axis=1)

    @property
    def mean_reset_curve(self) -> np.ndarray:
        """Mean measured RESET curve (S) over cycles; table cards only."""
        return np.mean(np.atleast_2d(self.measured_reset.T).T, axis=1)

    def _affine_step(self, direction: Literal["set", "reset"]) -> tuple[float, float, float]:
        """``(decay, g_inf, step)`` of the one-pulse map of the model cards.

        Exponential: G' = g_inf + (G - g_inf) * decay; linear: G' = G +/- step.
        """
        span = self.g_max - self.g_min
        if self.response.model == "linear":
            step = span / self.levels
            return 1.0, (math.inf if direction == "set" else -math.inf), step
        a = (self.response.a_set if direction == "set" else self.response.a_reset) * self.levels
        b = span / -math.expm1(-self.levels / a)
        decay = math.exp(-1.0 / a)
        g_inf = self.g_min + b if direction == "set" else self.g_max - b
        return decay, g_inf, 0.0

    def _table_next(self, curve: np.ndarray, g: np.ndarray) -> np.ndarray:
        """Step one pulse along a monotonic measured curve (increasing for SET)."""
        increasing = curve[-1] > curve[0]
        c = curve if increasing else curve[::-1]
        pulse = np.interp(g, c, np.arange(c.size, dtype=float))
        if not increasing:
            pulse = (c.size - 1) - pulse
        # beyond the last measured pulse the curve continues with its last step
        nxt = np.interp(pulse + 1.0, np.arange(curve.size, dtype=float), curve)
        last_step = curve[-1] - curve[-2]
        beyond = pulse + 1.0 > curve.size - 1
        nxt = np.where(beyond, curve[-1] + last_step * (pulse + 1.0 - (curve.size - 1)), nxt)
        # below the start of the curve (e.g. under Gmin of a SET ramp) use the first step
        before = (g < c[0]) if increasing else (g > c[-1])
        first_step = curve[1] - curve[0]
        nxt = np.where(before, g + first_step, nxt)
        return nxt

    def _exact_next(self, g: np.ndarray, direction: Literal["set", "reset"]) -> np.ndarray:
        if self.response.model == "table":
            curve = self.mean_set_curve if direction == "set" else self.mean_reset_curve
            nxt = self._table_next(curve, g)
        else:
            decay, g_inf, step = self._affine_step(direction)
            if self.response.model == "linear":
                nxt = g + step if direction == "set" else g - step
            else:
                nxt = g_inf + (g - g_inf) * decay
        return nxt

    @cached_property
    def transfer_tables(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(grid, after_set, after_reset)``: G' after one pulse, on a uniform grid of G (S).

        ``grid`` has :data:`TRANSFER_TABLE_POINTS` points from ``g_min`` to
        ``g_max``. The tables are *not* clipped, so that their linear
        interpolation is exact for the affine models; the response at any G is
        ``clip(interp(G, grid, table), g_min, g_max)`` -- the one rule that
        every implementation (NumPy, Brian2 targets, crossbar) follows.
        """
        grid = np.linspace(self.g_min, self.g_max, TRANSFER_TABLE_POINTS)
        tables = (grid, self._exact_next(grid, "set"), self._exact_next(grid, "reset"))
        for table in tables:
            table.setflags(write=False)
        return tables

    def g_after_set(self, g: np.ndarray | float, pulses: int = 1) -> np.ndarray:
        """Conductance (S) after ``pulses`` identical SET pulses from ``g`` (no variation)."""
        return self._after(g, pulses, 1)

    def g_after_reset(self, g: np.ndarray | float, pulses: int = 1) -> np.ndarray:
        """Conductance (S) after ``pulses`` identical RESET pulses from ``g`` (no variation)."""
        return self._after(g, pulses, 2)

    def _after(self, g, pulses: int, which: int) -> np.ndarray:
        if pulses < 0:
            raise ValueError(f"pulses must be >= 0, got {pulses}")
        tables = self.transfer_tables
        g = np.clip(np.asarray(g, dtype=float), self.g_min, self.g_max)
        for _ in range(pulses):
            g = np.clip(np.interp(g, tables[0], tables[which]), self.g_min, self.g_max)
        return g

    def weight(self, g: np.ndarray | float) -> np.ndarray:
        """Normalised weight (G - Gmin)/(Gmax - Gmin) in [0, 1]."""
        return (np.asarray(g, dtype=float) - self.g_min) / (self.g_max - self.g_min)

    def conductance(self, w: np.ndarray | float) -> np.ndarray:
        """Conductance (S) of normalised weight ``w`` in [0, 1]."""
        return self.g_min + np.asarray(w, dtype=float) * (self.g_max - self.g_min)

    def with_variability(self, **changes: float) -> DeviceCard:
        """A copy of this card with some :class:`Variability` fields changed."""
        return replace(self, variability=replace(self.variability, **changes),
                       measured_set=self.measured_set, measured_reset=self.measured_reset,
                       source_dir=self.source_dir)

    # --------------------------------------------------------------------- I/O
    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source_dir: Path | None = None) -> DeviceCard:
        """Build a card from its JSON mapping; CSV curve files are read from ``source_dir``."""
        name = str(data.get("name", "<unnamed>"))

        def error(field_name: str, problem: str) -> CardError:
            return CardError(f"device card {name!r}: {field_name}: {problem}")

        def require(mapping: Mapping[str, Any], key: str, where: str) -> Any:
            if not isinstance(mapping, Mapping):
                raise error(where, f"must be an object, got {type(mapping).__name__}")
            if key not in mapping or mapping[key] is None:
                raise error(f"{where}.{key}" if where else key, "missing")
            return mapping[key]

        def quantity(mapping, key, dimension, where, default=None):
            if default is not None and key not in mapping:
                return default
            value = require(mapping, key, where)
            try:
                return parse_quantity(value, dimension, f"{where}.{key}" if where else key)
            except ValueError as err:
                raise CardError(f"device card {name!r}: {err}") from None

        conductance = require(data, "conductance", "")
        pulses = require(data, "pulses", "")
        energy = require(data, "energy", "")
        response_data = require(data, "response", "")
        model = require(response_data, "model", "response")
        variability_data = data.get("variability", {}) or {}
        try:
            variability = Variability(**{k: float(v) for k, v in variability_data.items()})
        except TypeError as err:
            raise error("variability", f"unknown field ({err})") from None
        except ValueError as err:
            raise error("variability", str(err)) from None

        measured: dict[str, np.ndarray | None] = {"set": None, "reset": None}
        if model == "table":
            for which in ("set", "reset"):
                file_name = require(response_data, f"{which}_curve", "response")
                if source_dir is None:
                    raise error(f"response.{which}_curve", "a table card must be loaded from its folder")
                measured[which] = read_curves_csv(Path(source_dir) / file_name, name)
        levels = data.get("levels")
        if levels is None and model == "table":
            levels = int(measured["set"].shape[0] - 1)
        if levels is None:
            raise error("levels", "missing")
        if isinstance(levels, bool) or not isinstance(levels, int):
            raise error("levels", f"must be a positive integer, got {levels!r}")

        return cls(
            name=name,
            technology=str(data.get("technology", "")),
            citation=str(require(data, "citation", "")),
            description=str(data.get("description", "")),
            g_min=quantity(conductance, "g_min", "conductance", "conductance"),
            g_max=quantity(conductance, "g_max", "conductance", "conductance"),
            levels=levels,
            set_pulse=PulseShape(
                quantity(require(pulses, "set", "pulses"), "amplitude", "voltage", "pulses.set"),
                quantity(pulses["set"], "width", "time", "pulses.set"),
            ),
            reset_pulse=PulseShape(
                quantity(require(pulses, "reset", "pulses"), "amplitude", "voltage", "pulses.reset"),
                quantity(pulses["reset"], "width", "time", "pulses.reset"),
            ),
            energy=PulseEnergy(
                quantity(energy, "set_pulse", "energy", "energy"),
                quantity(energy, "reset_pulse", "energy", "energy"),
                quantity(energy, "read", "energy", "energy"),
            ),
            response=Response(
                model=str(model),
                a_set=_optional_float(response_data.get("a_set")),
                a_reset=_optional_float(response_data.get("a_reset")),
                set_curve=response_data.get("set_curve"),
                reset_curve=response_data.get("reset_curve"),
            ),
            variability=variability,
            provenance=dict(data.get("provenance", {})),
            fit=data.get("fit"),
            measured_set=measured["set"],
            measured_reset=measured["reset"],
            source_dir=Path(source_dir) if source_dir is not None else None,
        )

    @classmethod
    def load(cls, path: str | Path) -> DeviceCard:
        """Load ``card.json`` (or a folder holding one)."""
        path = Path(path)
        if path.is_dir():
            path = path / "card.json"
        if not path.exists():
            raise FileNotFoundError(f"device card file {path} does not exist")
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise CardError(f"device card file {path}: not valid JSON ({err})") from None
        if not isinstance(data, Mapping):
            raise CardError(f"device card file {path}: must hold a JSON object")
        return cls.from_dict(data, source_dir=path.parent)

    def to_dict(self) -> dict[str, Any]:
        """The JSON mapping of this card (SI numbers; curves stay in their CSV files)."""
        response = {k: v for k, v in asdict(self.response).items() if v is not None}
        data: dict[str, Any] = {
            "name": self.name,
            "technology": self.technology,
            "description": self.description,
            "citation": self.citation,
            "conductance": {"g_min": self.g_min, "g_max": self.g_max},
            "levels": int(self.levels),
            "pulses": {"set": asdict(self.set_pulse), "reset": asdict(self.reset_pulse)},
            "energy": asdict(self.energy),
            "response": response,
            "variability": asdict(self.variability),
            "provenance": dict(self.provenance),
        }
        if self.fit is not None:
            data["fit"] = dict(self.fit)
        return data

    def save(self, folder: str | Path) -> Path:
        """Write ``card.json`` (and the curve CSVs of a table card) into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        if self.response.model == "table":
            write_curves_csv(folder / self.response.set_curve, self.measured_set)
            write_curves_csv(folder / self.response.reset_curve, self.measured_reset)
        path = folder / "card.json"
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return path


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def read_curves_csv(path: Path, card_name: str = "<unnamed>") -> np.ndarray:
    """Read measured curves: a header row, then one row per pulse, one column per cycle (S)."""
    if not path.exists():
        raise CardError(f"device card {card_name!r}: curve file {path} does not exist")
    with path.open(newline="") as handle:
        rows = [row for row in csv.reader(handle) if row and any(cell.strip() for cell in row)]
    if len(rows) < 2:
        raise CardError(f"device card {card_name!r}: curve file {path.name}: empty data")
    try:
        values = np.array([[float(cell) for cell in row] for row in rows[1:]], dtype=float)
    except ValueError as err:
        raise CardError(f"device card {card_name!r}: curve file {path.name}: {err}") from None
    return values


def write_curves_csv(path: Path, curves: np.ndarray) -> None:
    """Write curves as read by :func:`read_curves_csv` (columns ``cycle1..cycleN``)."""
    curves = np.atleast_2d(np.asarray(curves, dtype=float).T).T
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([f"cycle{k + 1}" for k in range(curves.shape[1])])
        writer.writerows([[repr(float(v)) for v in row] for row in curves])
