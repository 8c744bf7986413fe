"""Figures for Small-World pruning and CGaP, drawn from the JSON results of the benchmarks.

* :func:`plot_accuracy_vs_sparsity` - test accuracy vs weight sparsity, Small-World
  (one line per rewiring probability) vs magnitude pruning, dense baseline dashed;
* :func:`plot_lc_vs_sparsity` - ``L / L_dense`` and ``C / C_dense`` (mean over layers)
  and the characteristic path length of the unit graph vs sparsity for each method;
* :func:`plot_widths` - CGaP layer widths vs training step, one panel per dataset.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from neurocbram.figure_io import save_figure

__all__ = ["plot_accuracy_vs_sparsity", "plot_lc_vs_sparsity", "plot_widths", "write_figures"]


def _models(result: dict) -> list[str]:
    return [m for m in ("lenet300", "lenet5", "lenet5-caffe") if m in result]


def _series(runs: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in runs:
        out.setdefault(r["method"], []).append(r)
    return {k: sorted(v, key=lambda r: r["sparsity"]) for k, v in out.items()}


def plot_accuracy_vs_sparsity(result: dict, path: str | Path) -> Path:
    """Accuracy vs sparsity per model (``result``: output of ``benchmarks/small_world.py``)."""
    models = _models(result)
    if not models:
        raise ValueError("result holds no model (expected 'lenet300' and/or 'lenet5')")
    fig, axes = plt.subplots(1, len(models), figsize=(5 * len(models), 3.8), squeeze=False)
    for ax, m in zip(axes[0], models):
        res = result[m]
        for method, rows in _series(res["runs"]).items():
            ax.plot([r["sparsity"] for r in rows], [100 * r["accuracy"] for r in rows], "o-", label=method)
        ax.axhline(100 * res["dense"]["accuracy"], color="k", ls="--", lw=1, label="dense")
        ax.set(title=f"{m} ({res['epochs']:g} epochs, {res['train_samples']} train)",
               xlabel="weight sparsity", ylabel="test accuracy (%)")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_lc_vs_sparsity(result: dict, path: str | Path) -> Path:
    """Mean-over-layers ``L / L_dense`` and ``C / C_dense`` vs sparsity for every method and model."""
    models = _models(result)
    if not models:
        raise ValueError("result holds no model (expected 'lenet300' and/or 'lenet5')")
    fig, axes = plt.subplots(len(models), 3, figsize=(14, 3.6 * len(models)), squeeze=False)
    for row, m in zip(axes, models):
        res = result[m]
        dense_l = np.array(res["dense"]["metrics"]["L"])
        dense_g = res["dense"]["metrics"].get("L_graph")
        for method, rows in _series(res["runs"]).items():
            s = [0.0] + [r["sparsity"] for r in rows]
            lr = [1.0] + [float(np.mean(np.array(r["L"]) / dense_l)) for r in rows]
            cr = [1.0] + [float(np.mean(r["C_rel"])) for r in rows]
            row[0].plot(s, lr, "o-", label=method)
            row[1].plot(s, cr, "o-", label=method)
            if dense_g and all(r.get("L_graph") for r in rows):
                row[2].plot(s, [dense_g] + [r["L_graph"] for r in rows], "o-", label=method)
        row[0].set(title=f"{m}: L, connections per class", xlabel="weight sparsity",
                   ylabel="L / L_dense (mean over layers)", yscale="log")
        row[1].set(title=f"{m}: C, classes per unit", xlabel="weight sparsity",
                   ylabel="C / C_dense (mean over layers)")
        row[2].set(title=f"{m}: path length of the unit graph", xlabel="weight sparsity",
                   ylabel="mean shortest path (hops)")
        row[1].legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_widths(result: dict, path: str | Path) -> Path:
    """CGaP widths vs training step (``result``: output of ``benchmarks/cgap.py``)."""
    names = [d for d in ("mnist", "harder") if d in result]
    if not names:
        raise ValueError("result holds no dataset (expected 'mnist' and/or 'harder')")
    fig, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 3.8), squeeze=False, sharey=True)
    for ax, name in zip(axes[0], names):
        hist = result[name]["history"]
        steps = [h["step"] for h in hist]
        w = np.array([h["widths"] for h in hist])
        for k in range(w.shape[1]):
            ax.step(steps, w[:, k], where="post", label=f"layer {k + 1} (baseline {result[name]['baseline_widths'][k]})")
        ax.set(title=f"{result.get('arch', '')} on {name}: test {100 * result[name]['accuracy']:.2f}% "
                     f"(baseline {100 * result[name]['baseline_accuracy']:.2f}%)",
               xlabel="training step", ylabel="units", yscale="log")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


def write_figures(result: dict, folder: str | Path) -> list[Path]:
    """All figures that ``result`` supports, written into ``folder``; returns their paths."""
    folder = Path(folder)
    if result.get("benchmark") == "cgap":
        return [plot_widths(result, folder / f"cgap_widths_vs_step_{result.get('arch', 'net')}.png")]
    return [plot_accuracy_vs_sparsity(result, folder / "small_world_accuracy_vs_sparsity.png"),
            plot_lc_vs_sparsity(result, folder / "small_world_L_C_vs_sparsity.png")]
