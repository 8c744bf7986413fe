"""Figures of device cards and fits (matplotlib; written to files, never windows)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..figure_io import save_figure
from .card import DeviceCard

__all__ = ["plot_card", "plot_fit"]


def _pyplot():
    import matplotlib.pyplot as plt

    return plt


def _unit(g_max: float) -> tuple[float, str]:
    """Display factor and label for conductances up to ``g_max`` (S)."""
    if g_max >= 1e-3:
        return 1e3, "mS"
    if g_max >= 1e-6:
        return 1e6, "µS"
    return 1e9, "nS"


def _pulse_train(card: DeviceCard, n_set: int, n_reset: int) -> np.ndarray:
    """Conductance (S) from g_min through ``n_set`` SET then ``n_reset`` RESET pulses."""
    g = [card.g_min]
    for _ in range(n_set):
        g.append(float(card.g_after_set(g[-1])))
    for _ in range(n_reset):
        g.append(float(card.g_after_reset(g[-1])))
    return np.asarray(g)


def plot_card(card: DeviceCard, path: str | Path, n_pulses: int | None = None) -> Path:
    """Write a two-panel figure of the card's pulse response to ``path`` (PNG/PDF/SVG).

    Left: conductance (µS, nS or mS by range) vs pulse number for ``n_pulses`` SET pulses from
    ``g_min`` then as many RESET pulses (default ``levels + levels // 4``), with the
    measured ramps of a table card in grey. Right: step ΔG vs G for one SET
    and one RESET pulse.
    """
    plt = _pyplot()
    n = int(n_pulses if n_pulses is not None else card.levels + max(1, card.levels // 4))
    train = _pulse_train(card, n, n)
    k, unit = _unit(card.g_max)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    if card.measured_set is not None and card.measured_reset is not None:
        ms, mr = np.atleast_2d(card.measured_set.T).T, np.atleast_2d(card.measured_reset.T).T
        ax1.plot(np.arange(ms.shape[0]), ms * k, color="0.8", lw=0.5)
        ax1.plot(n + np.arange(mr.shape[0]), mr * k, color="0.8", lw=0.5)
        ax1.plot([], [], color="0.8", label="measured ramps")
    ax1.plot(np.arange(train.size), train * k, color="C0", lw=1.5, label="card response")
    ax1.axvline(n, color="k", lw=0.5, ls=":")
    ax1.set_xlabel(f"pulse number ({n} SET, then {n} RESET)")
    ax1.set_ylabel(f"conductance G ({unit})")
    ax1.set_title(f"{card.name}: {card.response.model} model")
    ax1.legend(loc="lower center", fontsize=8)
    g = np.linspace(card.g_min, card.g_max, 400)
    d_set = card.g_after_set(g) - g
    d_reset = card.g_after_reset(g) - g
    ax2.plot(g * k, d_set * k, color="C2", label="SET")
    ax2.plot(g * k, d_reset * k, color="C3", label="RESET")
    ax2.axhline(0, color="k", lw=0.5)
    ax2.set_xlabel(f"conductance G ({unit})")
    ax2.set_ylabel(f"step ΔG per pulse ({unit})")
    ax2.set_title(f"levels {card.levels}, on/off {card.on_off_ratio:.3g}")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_fit(set_curves: Any, reset_curves: Any, fit: Any, path: str | Path, title: str = "") -> Path:
    """Write measured ramps vs the fitted NeuroSim model (:class:`FitResult`) to ``path``.

    Left: SET ramps; middle: RESET ramps (data grey, mean black, fit red);
    right: residual of the mean curves.
    """
    plt = _pyplot()
    s = np.atleast_2d(np.asarray(set_curves, dtype=float).T).T
    r = np.atleast_2d(np.asarray(reset_curves, dtype=float).T).T
    k, unit = _unit(fit.g_max)
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    for ax, data, direction in ((axes[0], s, "set"), (axes[1], r, "reset")):
        n = np.arange(data.shape[0])
        ax.plot(n, data * k, color="0.8", lw=0.5)
        mean = np.nanmean(data, axis=1)
        ax.plot(n, mean * k, color="k", lw=1.2, label="mean of ramps")
        model = fit.model(n, direction)
        a = fit.a_set if direction == "set" else fit.a_reset
        nl = fit.nl_set if direction == "set" else fit.nl_reset
        ax.plot(n, model * k, color="C3", lw=1.2, ls="--", label=f"fit: A/Pmax={a:.3g}, NL={nl:.3g}")
        ax.set_xlabel(f"{direction.upper()} pulse number")
        ax.set_ylabel(f"conductance G ({unit})")
        ax.legend(fontsize=8)
        axes[2].plot(n, (mean - model) * k, label=f"{direction.upper()} mean - fit")
    axes[2].axhline(0, color="k", lw=0.5)
    axes[2].set_xlabel("pulse number")
    axes[2].set_ylabel(f"residual ({unit})")
    axes[2].set_title(f"RMS {fit.residual_rms * k:.3g} {unit} ({100 * fit.residual_rel:.2g}% of range)")
    axes[2].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path)
