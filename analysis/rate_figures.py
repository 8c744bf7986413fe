"""Figures of the rate-coded experiments, drawn from their JSON result dictionaries.

Each function takes the dictionary returned by :func:`~neurocbram.analysis.rsa.run_rsa`,
:func:`~neurocbram.analysis.activity_difference.run_braille` or
:func:`~neurocbram.analysis.activity_difference.run_mnist_ad` and writes one
file named after what it shows; it returns the path.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from neurocbram.figure_io import save_figure

__all__ = [
    "braille_accuracy_vs_distortion",
    "braille_image",
    "braille_patterns",
    "mnist_activity_difference_curves",
    "rsa_recovery",
]




def braille_image(dots: np.ndarray) -> np.ndarray:
    """A 2-D image (3 rows x 3 columns per cell, one blank column between cells) of dots 1-6."""
    cells = np.asarray(dots, dtype=float).reshape(-1, 6)
    img = np.full((3, 3 * len(cells)), np.nan)
    for k, c in enumerate(cells):
        img[:, 3 * k] = c[:3]       # dots 1, 2, 3 (left column)
        img[:, 3 * k + 1] = c[3:]   # dots 4, 5, 6 (right column)
    return img


def braille_accuracy_vs_distortion(result: dict, path: str | Path) -> Path:
    """Exact-name reconstruction accuracy vs fraction of flipped dots, one line per method."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, data in result["methods"].items():
        flips = [float(f) for f in data["accuracy"]]
        ax.plot(np.array(flips) * 100, [100 * a for a in data["accuracy"].values()], "o-", label=name)
    ax.set_xlabel("flipped dots (%)")
    ax.set_ylabel("exact-name reconstruction (%)")
    ax.set_ylim(-2, 102)
    noise = result.get("config", {}).get("noise")
    ax.set_title(f"Braille names, analog noise std {noise}" if noise is not None else "Braille names")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, path, dpi=130)


def braille_patterns(result: dict, path: str | Path) -> Path:
    """The nine clean patterns, a distorted input (~10% flipped) and its reconstruction."""
    ex = result["examples"]
    n = len(ex["names"])
    fig, axes = plt.subplots(n, 3, figsize=(9, 0.75 * n + 0.6))
    titles = ("clean", "distorted input", "reconstruction (activity difference)")
    for i in range(n):
        for j, key in enumerate(("clean", "distorted", "reconstructed")):
            ax = axes[i, j]
            ax.imshow(braille_image(np.clip(ex[key][i], 0, 1)), cmap="Greys", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(titles[j], fontsize=9)
            if j == 0:
                ax.set_ylabel(ex["names"][i], rotation=0, ha="right", va="center", fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path, dpi=130)


def rsa_recovery(result: dict, path: str | Path) -> Path:
    """Accuracy vs RSA adaptation steps, and accuracy vs modelled time for RSA and R-V-W."""
    acc = result["accuracy"]
    rsa = result["curves"]["rsa"]
    rvw = result["curves"]["rvw"]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    a1.plot([p["step"] for p in rsa], [100 * p["accuracy"] for p in rsa], "o-", label="RSA")
    a1.set_xscale("symlog", linthresh=10)
    a1.axhline(100 * acc["float"], color="k", ls="--", lw=1, label="float")
    a1.axhline(100 * acc["rvw"], color="C1", ls=":", lw=1, label="R-V-W (final)")
    a1.set_xlabel("RSA adaptation steps (minibatches; linear below 10)")
    a1.set_ylabel("test accuracy (%)")
    a1.legend(fontsize=8)
    a1.grid(alpha=0.3)
    if all("time_s" in p for p in rsa):
        rsa_t = [(p["time_s"], p["accuracy"]) for p in rsa if p["step"] > 0]
    else:  # results written before the curves carried times
        per_step = result["rsa"]["modelled_time_s"] / max(result["rsa"]["steps"], 1)
        rsa_t = [(p["step"] * per_step, p["accuracy"]) for p in rsa if p["step"] > 0]
    rvw_t = [(p["time_s"], p["accuracy"]) for p in rvw if p["time_s"] > 0]
    if rsa_t:
        a2.plot(*zip(*[(t, 100 * a) for t, a in rsa_t]), "o-", label="RSA (SRAM cells only)")
    if rvw_t:
        a2.plot(*zip(*[(t, 100 * a) for t, a in rvw_t]), "s-", label="read-verify-write")
    rvw_fa = result["curves"].get("rvw_fault_aware") or []
    fa_t = [(p["time_s"], p["accuracy"]) for p in rvw_fa if p["time_s"] > 0]
    if fa_t:
        a2.plot(*zip(*[(t, 100 * a) for t, a in fa_t]), "^-", label="R-V-W, fault-aware start")
    naive = ((result.get("ablation") or {}).get("naive_mapping") or {}).get("curve")
    if naive:
        a1.plot([p["step"] for p in naive], [100 * p["accuracy"] for p in naive], ".-", color="C3",
                alpha=0.7, label="RSA, naive mapping")
        a1.legend(fontsize=8)
    a2.axhline(100 * acc["faulty_one_shot"], color="C3", ls=":", lw=1, label="one-shot array")
    a2.axhline(100 * acc["float"], color="k", ls="--", lw=1)
    a2.set_xscale("log")
    a2.set_xlabel("modelled adaptation time (s)")
    a2.set_ylabel("test accuracy (%)")
    a2.legend(fontsize=8)
    a2.grid(alpha=0.3)
    fig.suptitle(f"RSA vs R-V-W on {result['card']}", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path, dpi=130)


def mnist_activity_difference_curves(result: dict, path: str | Path) -> Path:
    """MNIST test accuracy per epoch of activity-difference training, per weight backend."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, run in result["runs"].items():
        curve = run["curve"]
        ax.plot([p["epoch"] for p in curve], [100 * p["test_accuracy"] for p in curve], "o-", label=name)
    ax.set_xlabel("epoch")
    ax.set_ylabel("test accuracy (%)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, path, dpi=130)
