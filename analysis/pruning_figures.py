"""Figures of pruning and energy: pruned receptive fields, pulse counts, accuracy, joules.

Each function takes the data, draws one :class:`~matplotlib.figure.Figure` (no
pyplot state, so it works under any backend, Agg included) and returns it; with
``path`` it is also written by :func:`neurocbram.figure_io.save_figure` (which
closes it). Name files after what they show (``receptive_fields_soft75_N400.png``,
``pulses_per_synapse_soft75.png``, ``accuracy_vs_pruned.png``, ``energy_per_image.png``).

Bad input raises :class:`ValueError` (:class:`TypeError` for a table that is
not a list of dicts) naming the argument.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from neurocbram.figure_io import save_figure

if TYPE_CHECKING:
    from neurocbram.energy import EnergyReport

__all__ = [
    "FROZEN_RGBA",
    "REMOVED_RGBA",
    "plot_accuracy_vs_pruned",
    "plot_energy_bars",
    "plot_pulse_histogram",
    "plot_receptive_fields_pruned",
    "receptive_field_mosaic",
]

#: overlay colour of frozen (soft-pruned) synapses: translucent blue
FROZEN_RGBA = (0.0, 0.45, 1.0, 0.5)
#: overlay colour of removed (hard-pruned) synapses: opaque green
REMOVED_RGBA = (0.1, 0.65, 0.2, 0.9)

#: curve key -> (colour, line style, legend label); hard rows with a ``when`` key
#: ("after" / "during" training) get a curve each
_CURVES = {
    "soft": ("tab:blue", "o-", "soft pruning"),
    "hard": ("tab:red", "s--", "hard pruning"),
    "hard after": ("tab:red", "s--", "hard pruning (after training)"),
    "hard during": ("tab:purple", "^-.", "hard pruning (during training)"),
}
_HARD_WHEN = ("after", "during")
_COMPONENT_COLOURS = {
    "set_pulses": "tab:red",
    "reset_pulses": "tab:orange",
    "updates": "tab:purple",
    "reads": "tab:blue",
    "spikes": "tab:gray",
}


def _finish(fig: Figure, path: str | Path | None) -> Figure:
    if path is not None:
        save_figure(fig, path)
    return fig


def _synapse_array(value: Any, name: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
    array = np.asarray(value)
    if shape is not None and array.shape != shape:
        raise ValueError(f"{name} must have shape {shape} (like w), got {array.shape}")
    return array


# --------------------------------------------------------------------------- receptive fields


def receptive_field_mosaic(
    columns: np.ndarray, cols: int | None = None, fill: float = np.nan
) -> np.ndarray:
    """Tile ``(784, n)`` per-neuron values into one 2-D image of 28 x 28 tiles.

    Neuron ``j`` sits at row ``j // cols``, column ``j % cols`` (default ``cols =
    ceil(sqrt(n))``), its tile at ``[29*row : 29*row + 28, 29*col : 29*col + 28]``;
    the one-pixel gaps and unused tiles hold ``fill``. A trailing axis (e.g. RGBA)
    is kept.
    """
    columns = np.asarray(columns)
    if columns.ndim < 2 or columns.shape[0] != 784:
        raise ValueError(f"columns must have shape (784, n, ...), got {columns.shape}")
    n = columns.shape[1]
    cols = cols or max(1, math.ceil(math.sqrt(n)))
    rows = max(1, math.ceil(n / cols))
    extra = columns.shape[2:]
    dtype = np.result_type(columns.dtype, np.asarray(fill).dtype)
    mosaic = np.full((rows * 29 - 1, cols * 29 - 1, *extra), fill, dtype=dtype)
    for j in range(n):
        r, c = divmod(j, cols)
        mosaic[r * 29 : r * 29 + 28, c * 29 : c * 29 + 28] = columns[:, j].reshape(28, 28, *extra)
    return mosaic


def plot_receptive_fields_pruned(
    w: np.ndarray,
    frozen: np.ndarray,
    removed: np.ndarray | None = None,
    *,
    n_show: int = 100,
    vmax: float | None = None,
    title: str | None = None,
    path: str | Path | None = None,
) -> Figure:
    """Input weights of the first ``n_show`` neurons, frozen and removed synapses marked.

    Parameters
    ----------
    w
        ``(784, N)`` input->excitatory weights (dimensionless, grey scale ``hot_r``).
    frozen
        ``bool (784, N)``: soft-pruned (frozen) synapses, drawn with a translucent
        blue overlay (:data:`FROZEN_RGBA`).
    removed
        ``bool (784, N)`` or None: hard-pruned (removed) synapses, drawn opaque green
        (:data:`REMOVED_RGBA`); takes precedence over ``frozen`` (hard pruning also
        freezes).
    n_show
        Number of neurons shown (the first ones), at least 1.
    vmax
        Top of the weight scale; default the largest weight shown.
    title
        Figure title; default states ``N`` and the frozen / removed fractions of all synapses.
    path
        If given, the figure is saved there (and closed).

    The axes hold two images: the weight mosaic, then the RGBA overlay (see
    :func:`receptive_field_mosaic` for the tile layout).
    """
    w = np.asarray(w, dtype=np.float64)
    if w.ndim != 2 or w.shape[0] != 784 or w.shape[1] < 1:
        raise ValueError(f"w must have shape (784, N) with N >= 1, got {w.shape}")
    frozen = _synapse_array(frozen, "frozen", w.shape)
    if frozen.dtype != np.bool_:
        raise ValueError(f"frozen must be a boolean mask, got dtype {frozen.dtype}")
    if removed is not None:
        removed = _synapse_array(removed, "removed", w.shape)
        if removed.dtype != np.bool_:
            raise ValueError(f"removed must be a boolean mask, got dtype {removed.dtype}")
    else:
        removed = np.zeros(w.shape, dtype=bool)
    if int(n_show) < 1:
        raise ValueError(f"n_show must be >= 1, got {n_show}")
    if vmax is not None and not vmax > 0:
        raise ValueError(f"vmax must be > 0, got {vmax}")
    n = w.shape[1]
    shown = slice(0, min(int(n_show), n))
    overlay = np.zeros((784, shown.stop, 4))
    overlay[frozen[:, shown] & ~removed[:, shown]] = FROZEN_RGBA
    overlay[removed[:, shown]] = REMOVED_RGBA
    mosaic = receptive_field_mosaic(w[:, shown])
    cols = math.ceil(math.sqrt(shown.stop))
    rows = math.ceil(shown.stop / cols)
    size = max(5.0, min(16.0, cols * 1.1))
    fig = Figure(figsize=(size, size * rows / cols + 0.8), dpi=100)
    ax = fig.subplots()
    cmap = colormaps["hot_r"].with_extremes(bad="white")
    top = vmax or float(max(np.max(w[:, shown]), 1e-12))
    image = ax.imshow(mosaic, cmap=cmap, vmin=0.0, vmax=top, interpolation="nearest")
    ax.imshow(receptive_field_mosaic(overlay, cols, fill=0.0), interpolation="nearest")
    ax.set_axis_off()
    fig.colorbar(image, ax=ax, fraction=0.03, label="weight")
    handles = [
        Patch(color=FROZEN_RGBA, label=f"frozen (soft-pruned), {np.mean(frozen & ~removed):.0%}"),
        Patch(color=REMOVED_RGBA, label=f"removed (hard-pruned), {np.mean(removed):.0%}"),
    ]
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=2,
              fontsize=8, frameon=False)  # fmt: skip
    heading = title or f"Receptive fields ({shown.stop} of {n} neurons shown)"
    ax.set_title(heading)
    return _finish(fig, path)


# --------------------------------------------------------------------------- pulses


def _pulse_counts(value: Any, name: str) -> np.ndarray:
    array = np.asarray(value)
    if array.size == 0:
        raise ValueError(f"{name} is empty")
    if not np.issubdtype(array.dtype, np.number) or not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must hold finite pulse counts")
    if array.min() < 0 or np.any(array != np.round(array)):
        raise ValueError(f"{name} must hold non-negative integer pulse counts")
    return array.astype(np.int64)


def _pulse_bins(top: int, max_bins: int = 60) -> np.ndarray:
    """Bin edges from -0.5: one bin per count up to ``max_bins`` counts, wider beyond."""
    width = max(1, math.ceil((top + 1) / max_bins))
    return np.arange(-0.5, top + width + 0.5, width, dtype=np.float64)


def plot_pulse_histogram(
    set_pulses: np.ndarray,
    reset_pulses: np.ndarray,
    frozen: np.ndarray | None = None,
    *,
    title: str | None = None,
    path: str | Path | None = None,
) -> Figure:
    """Histograms of pulses per synapse: SET, RESET and total, with a log-scaled count axis.

    Parameters
    ----------
    set_pulses, reset_pulses
        Non-negative integer pulse counts per synapse, same shape (e.g. ``(784, N)``).
    frozen
        Optional boolean mask of that shape: synapses frozen (soft-pruned) at some
        point; then each panel shows frozen and never-frozen synapses separately.
    title, path
        Figure title; if ``path`` is given the figure is saved there (and closed).

    Three axes (SET, RESET, total); each histogram is one
    :class:`~matplotlib.patches.StepPatch` (``ax.stairs``) whose values count synapses.
    """
    sets = _pulse_counts(set_pulses, "set_pulses")
    resets = _pulse_counts(reset_pulses, "reset_pulses")
    if resets.shape != sets.shape:
        raise ValueError(
            f"reset_pulses must have the shape of set_pulses {sets.shape}, got {resets.shape}"
        )
    groups: list[tuple[str, np.ndarray, str]]
    if frozen is None:
        groups = [("all synapses", np.ones(sets.shape, dtype=bool), "k")]
    else:
        mask = np.asarray(frozen)
        if mask.shape != sets.shape:
            raise ValueError(
                f"frozen must have the shape of set_pulses {sets.shape}, got {mask.shape}"
            )
        if mask.dtype != np.bool_:
            raise ValueError(f"frozen must be a boolean mask, got dtype {mask.dtype}")
        groups = [("frozen", mask, "tab:blue"), ("never frozen", ~mask, "tab:red")]
    fig = Figure(figsize=(12, 3.8), dpi=100)
    axes = fig.subplots(1, 3, sharey=True)
    for ax, (name, pulses) in zip(
        axes, (("SET", sets), ("RESET", resets), ("total (SET + RESET)", sets + resets)),
        strict=True,
    ):  # fmt: skip
        edges = _pulse_bins(int(pulses.max()))
        for label, mask, colour in groups:
            if not mask.any():
                continue
            values, _ = np.histogram(pulses[mask], bins=edges)
            ax.stairs(values, edges, color=colour, linewidth=1.3, baseline=None,
                      label=f"{label} ({mask.sum()}, mean {pulses[mask].mean():.1f})")  # fmt: skip
        ax.set_yscale("log", nonpositive="mask")
        ax.set_xlabel(f"{name} pulses per synapse")
        ax.set_title(f"{name}: {int(pulses.sum()):,} pulses")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[0].set_ylabel("synapses")
    fig.suptitle(title or f"Pulses per synapse ({sets.size:,} synapses)")
    fig.tight_layout()
    return _finish(fig, path)


# --------------------------------------------------------------------------- accuracy


def _accuracy_rows(table: Sequence[Mapping[str, Any]]) -> list[tuple[str, float, float]]:
    if isinstance(table, Mapping) or not isinstance(table, Sequence):
        raise TypeError("table must be a list of dicts with kind, fraction and accuracy")
    if len(table) == 0:
        raise ValueError("table is empty: nothing to plot")
    rows = []
    for k, row in enumerate(table):
        if not isinstance(row, Mapping):
            raise TypeError(f"table[{k}] must be a dict, got {type(row).__name__}")
        missing = [key for key in ("kind", "fraction", "accuracy") if key not in row]
        if missing:
            raise ValueError(f"table[{k}] lacks {', '.join(missing)}")
        kind = row["kind"]
        if kind not in ("soft", "hard"):
            raise ValueError(f"table[{k}] kind must be 'soft' or 'hard', got {kind!r}")
        when = row.get("when")
        if kind == "hard" and when is not None:
            if when not in _HARD_WHEN:
                raise ValueError(f"table[{k}] when must be 'after' or 'during', got {when!r}")
            kind = f"hard {when}"
        fraction, acc = float(row["fraction"]), float(row["accuracy"])
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"table[{k}] fraction must lie in [0, 1], got {fraction}")
        if not 0.0 <= acc <= 1.0:
            raise ValueError(f"table[{k}] accuracy must be a fraction in [0, 1], got {acc}")
        rows.append((kind, fraction, acc))
    return rows


def plot_accuracy_vs_pruned(
    table: Sequence[Mapping[str, Any]],
    *,
    references: Mapping[str, float] | None = None,
    title: str | None = None,
    path: str | Path | None = None,
) -> Figure:
    """Test accuracy (%) against the pruned fraction (%), one curve per pruning kind.

    Parameters
    ----------
    table
        Rows ``{"kind": "soft" | "hard", "fraction": 0.75, "accuracy": 0.81, "seed": 0}``
        (fraction and accuracy as fractions in [0, 1]); hard rows may say
        ``"when": "after" | "during"`` (training), giving one curve each; other
        keys are ignored.
        Each curve is the mean over the rows (seeds) at each fraction; where some
        fraction has several rows, a min-max band is drawn.
    references
        Horizontal reference lines, label -> accuracy in [0, 1]
        (e.g. ``{"Shi et al. 2018, soft 75%": 0.93}``).
    title, path
        Figure title; if ``path`` is given the figure is saved there (and closed).

    Lines: one per kind (in the order soft, hard, hard after, hard during; labelled
    by kind), then one per reference.
    """
    rows = _accuracy_rows(table)
    refs = dict(references or {})
    for label, value in refs.items():
        if not 0.0 <= float(value) <= 1.0:
            raise ValueError(f"references[{label!r}] must be an accuracy in [0, 1], got {value}")
    fig = Figure(figsize=(6.5, 4.2), dpi=100)
    ax = fig.subplots()
    for kind, (colour, style, label) in _CURVES.items():
        mine = [(f, a) for k, f, a in rows if k == kind]
        if not mine:
            continue
        fractions = np.array(sorted({f for f, _ in mine}))
        per = [np.array([a for f, a in mine if f == x]) for x in fractions]
        mean = np.array([p.mean() for p in per])
        seeds = max(len(p) for p in per)
        label += f" (mean of {seeds} runs, min-max)" if seeds > 1 else ""
        ax.plot(100 * fractions, 100 * mean, style, color=colour, label=label)
        if seeds > 1:
            ax.fill_between(100 * fractions, [100 * p.min() for p in per],
                            [100 * p.max() for p in per], color=colour, alpha=0.2,
                            linewidth=0)  # fmt: skip
    for (label, value), dash in zip(refs.items(), [":", "-.", (0, (5, 2)), (0, (1, 3))] * 8):
        ax.axhline(100 * float(value), color="0.35", linestyle=dash, linewidth=1.2, label=label)
    ax.set_xlabel("pruned synapses (%)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_xlim(-2, 102)
    low = min([a for _, _, a in rows] + [float(v) for v in refs.values()])
    ax.set_ylim(max(0.0, 100 * low - 10), 100)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    ax.set_title(title or "Accuracy against pruned fraction")
    fig.tight_layout()
    return _finish(fig, path)


# --------------------------------------------------------------------------- energy


def _components(parts: Sequence[Mapping[str, float]]) -> list[str]:
    """Component names in a fixed order (known ones first), as they appear in ``parts``."""
    seen: list[str] = []
    for part in parts:
        seen += [k for k in part if k not in seen]
    known = [k for k in _COMPONENT_COLOURS if k in seen]
    return known + [k for k in seen if k not in known]


def plot_energy_bars(
    reports: Mapping[str, EnergyReport],
    *,
    log: bool = True,
    title: str | None = None,
    path: str | Path | None = None,
) -> Figure:
    """Joules per image by component: a memristive and a digital stacked bar per report.

    Parameters
    ----------
    reports
        Name -> :class:`~neurocbram.energy.EnergyReport` (``.memristive`` and
        ``.digital``: component -> J over ``.images`` images, ``images >= 1``).
        Memristive components: ``set_pulses``, ``reset_pulses``, ``reads``,
        ``spikes``; digital: ``updates``, ``reads``, ``spikes`` (others are drawn too).
    log
        Logarithmic energy axis (components span orders of magnitude).
    title, path
        Figure title; if ``path`` is given the figure is saved there (and closed).

    Bars are at x = 3k (memristive, solid) and 3k + 1 (digital, hatched) for report k;
    each component is one :class:`~matplotlib.container.BarContainer` whose label is
    ``"memristive <component>"`` or ``"digital <component>"`` (heights in J/image).
    The totals and the digital/memristive ratio are written above each pair; the
    legend lists the components with non-zero energy.
    """
    if not isinstance(reports, Mapping) or len(reports) == 0:
        raise ValueError("reports must be a non-empty dict of name -> EnergyReport")
    names = list(reports)
    for name, report in reports.items():
        if not all(hasattr(report, a) for a in ("memristive", "digital", "images")):
            raise ValueError(f"reports[{name!r}] is not an EnergyReport (needs .memristive, "
                             ".digital, .images)")  # fmt: skip
        if int(report.images) < 1:
            raise ValueError(f"reports[{name!r}] covers {report.images} images; need >= 1")
        for side in ("memristive", "digital"):
            values = getattr(report, side).values()
            if any(not np.isfinite(v) or v < 0 for v in values):
                raise ValueError(f"reports[{name!r}].{side} must hold finite energies >= 0 J")
    x = 3.0 * np.arange(len(names))
    fig = Figure(figsize=(max(5.0, 1.9 * len(names) + 2.5), 4.6), dpi=100)
    ax = fig.subplots()
    cycle = iter(colormaps["tab10"].colors[5:] * 4)
    colours = dict(_COMPONENT_COLOURS)
    totals = {}
    for side, offset, hatch in (("memristive", 0.0, None), ("digital", 1.0, "//")):
        parts = [getattr(reports[n], side) for n in names]
        per_image = [{k: float(v) / int(reports[n].images) for k, v in p.items()}
                     for n, p in zip(names, parts, strict=True)]  # fmt: skip
        bottom = np.zeros(len(names))
        for component in _components(parts):
            colour = colours.setdefault(component, next(cycle))
            heights = np.array([p.get(component, 0.0) for p in per_image])
            ax.bar(x + offset, heights, width=0.9, bottom=bottom, color=colour, hatch=hatch,
                   edgecolor="white" if hatch is None else "0.2", linewidth=0.5,
                   label=f"{side} {component}")  # fmt: skip
            bottom += heights
        totals[side] = bottom
    for k, _ in enumerate(names):
        mem, dig = totals["memristive"][k], totals["digital"][k]
        ratio = f"\ndigital / memristive = {dig / mem:.3g}" if mem > 0 else ""
        top = max(mem, dig)
        ax.text(x[k] + 0.5, top * (1.6 if log else 1.03),
                f"memristive {mem:.3g} J\ndigital {dig:.3g} J{ratio}",
                ha="center", va="bottom", fontsize=7)  # fmt: skip
    ticks = np.ravel(np.column_stack([x, x + 1.0]))
    labels = [f"{n}\n{side}" for n in names for side in ("memristive", "digital")]
    ax.set_xticks(ticks, labels, fontsize=8)
    if log:
        ax.set_yscale("log")
        positive = [v for t in totals.values() for v in t if v > 0]
        if positive:
            ax.set_ylim(min(positive) / 1e3, max(positive) * 60)
    ax.set_ylabel("energy per image (J)")
    used = [c for c in colours if any(getattr(r, s).get(c, 0.0) > 0 for r in reports.values()
                                       for s in ("memristive", "digital"))]  # fmt: skip
    handles = [Patch(color=colours[c], label=c.replace("_", " ")) for c in used]
    handles.append(Patch(facecolor="white", edgecolor="0.2", hatch="//", label="digital baseline"))
    ax.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_title(title or "Energy per image: memristive vs digital baseline")
    fig.tight_layout()
    return _finish(fig, path)
