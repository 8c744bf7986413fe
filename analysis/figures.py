"""Figures of the spiking MNIST networks (matplotlib, written to files).

Every function takes the data and a ``path`` and returns the path it wrote;
name the file after what it shows (``receptive_fields_N400.png``,
``raster_test_images_0-4.png``, ...). The format follows the suffix.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from neurocbram.figure_io import save_figure

__all__ = [
    "plot_receptive_fields",
    "plot_raster",
    "plot_accuracy_curve",
    "plot_confusion",
]




def plot_receptive_fields(
    weights: np.ndarray,
    path: str | Path,
    neuron_labels: np.ndarray | None = None,
    frozen_mask: np.ndarray | None = None,
    *,
    vmax: float | None = None,
    title: str | None = None,
) -> Path:
    """Input weights of each excitatory neuron as a 28 x 28 image, one tile per neuron.

    Parameters
    ----------
    weights
        ``(784, N)`` input->excitatory weights (dimensionless).
    path
        Output file.
    neuron_labels
        ``(N,)`` assigned classes, written in each tile's corner (-1: none).
    frozen_mask
        ``(784, N)`` booleans, True for soft-pruned (frozen) synapses; drawn as a blue
        overlay, and the overall frozen fraction is added to the title.
    vmax
        Top of the grey scale; default the largest weight.
    title
        Figure title.
    """
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 2 or w.shape[0] != 784:
        raise ValueError(f"weights must have shape (784, N), got {w.shape}")
    n = w.shape[1]
    if neuron_labels is not None:
        neuron_labels = np.asarray(neuron_labels)
        if neuron_labels.shape != (n,):
            raise ValueError(f"neuron_labels must have shape ({n},), got {neuron_labels.shape}")
    if frozen_mask is not None:
        frozen_mask = np.asarray(frozen_mask, dtype=bool)
        if frozen_mask.shape != w.shape:
            raise ValueError(f"frozen_mask must have shape {w.shape}, got {frozen_mask.shape}")
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    # one big mosaic image is much faster than N axes
    mosaic = np.full((rows * 29 - 1, cols * 29 - 1), np.nan)
    overlay = np.zeros((rows * 29 - 1, cols * 29 - 1, 4))
    for j in range(n):
        r, c = divmod(j, cols)
        mosaic[r * 29 : r * 29 + 28, c * 29 : c * 29 + 28] = w[:, j].reshape(28, 28)
        if frozen_mask is not None:
            overlay[r * 29 : r * 29 + 28, c * 29 : c * 29 + 28, 1] = 0.6
            overlay[r * 29 : r * 29 + 28, c * 29 : c * 29 + 28, 2] = 1.0
            overlay[r * 29 : r * 29 + 28, c * 29 : c * 29 + 28, 3] = 0.45 * frozen_mask[
                :, j
            ].reshape(28, 28)
    size = max(5.0, min(16.0, cols * 1.1))
    fig, ax = plt.subplots(figsize=(size, size * rows / cols), dpi=100)
    cmap = plt.get_cmap("hot_r").with_extremes(bad="white")
    image = ax.imshow(mosaic, cmap=cmap, vmin=0.0, vmax=vmax or float(np.max(w, initial=1e-12)))
    if frozen_mask is not None:
        ax.imshow(overlay)
    if neuron_labels is not None and n <= 1600:
        for j in range(n):
            r, c = divmod(j, cols)
            text = "-" if neuron_labels[j] < 0 else str(int(neuron_labels[j]))
            ax.text(c * 29 + 1, r * 29 + 6, text, color="tab:green", fontsize=6 if n > 100 else 9)
    ax.set_axis_off()
    fig.colorbar(image, ax=ax, fraction=0.03, label="weight")
    heading = title or f"Receptive fields of {n} excitatory neurons"
    if frozen_mask is not None:
        heading += f" ({frozen_mask.mean():.0%} of synapses frozen, blue)"
    ax.set_title(heading)
    return save_figure(fig, path)


def plot_raster(
    spike_indices: np.ndarray,
    spike_times: np.ndarray,
    path: str | Path,
    *,
    n_neurons: int | None = None,
    boundaries: Sequence[float] | None = None,
    image_labels: Sequence[int | str] | None = None,
    time_unit: str = "ms",
    title: str | None = None,
) -> Path:
    """Spike raster (neuron index against time), e.g. for a few consecutive images.

    Parameters
    ----------
    spike_indices
        ``(n_spikes,)`` neuron of each spike.
    spike_times
        ``(n_spikes,)`` spike times in ``time_unit`` (plain numbers), or a Brian2 time
        quantity.
    path
        Output file.
    n_neurons
        Height of the raster; default ``max(index) + 1``.
    boundaries
        Times (``time_unit``) where presentations start; drawn as dashed lines.
    image_labels
        One label per presentation (written above it); needs ``boundaries``.
    time_unit
        Unit name for the axis (and for converting Brian2 quantities: ``"ms"`` or ``"s"``).
    title
        Figure title.
    """
    idx = np.asarray(spike_indices)
    times = spike_times
    if hasattr(times, "dim"):  # Brian2 Quantity
        from brian2 import ms, second

        times = np.asarray(times / (ms if time_unit == "ms" else second))
    times = np.asarray(times, dtype=np.float64)
    if idx.shape != times.shape or idx.ndim != 1:
        raise ValueError(
            "spike_indices and spike_times must be 1-D of equal length, "
            f"got {idx.shape} and {times.shape}"
        )
    n = n_neurons if n_neurons is not None else int(idx.max(initial=-1)) + 1
    fig, ax = plt.subplots(figsize=(10, 4), dpi=100)
    ax.plot(times, idx, "|", color="k", markersize=3)
    if boundaries is not None:
        bounds = list(boundaries)
        for b in bounds:
            ax.axvline(b, color="tab:red", linestyle="--", linewidth=0.8)
        if image_labels is not None:
            ends = bounds[1:] + [max(float(times.max(initial=bounds[-1])), bounds[-1])]
            for start, end, lab in zip(bounds, ends, image_labels, strict=False):
                ax.text((start + end) / 2, n + 0.5, str(lab), ha="center", va="bottom")
    ax.set_xlabel(f"time ({time_unit})")
    ax.set_ylabel("neuron index")
    ax.set_ylim(-0.5, max(n, 1) + 2)
    ax.set_title(title or f"{idx.size} spikes of {n} neurons")
    return save_figure(fig, path)


def plot_accuracy_curve(
    images_seen: np.ndarray,
    accuracy: np.ndarray,
    path: str | Path,
    *,
    label: str | None = None,
    title: str | None = None,
) -> Path:
    """Accuracy (fraction or percent) against the number of training images seen."""
    x = np.asarray(images_seen, dtype=np.float64)
    y = np.asarray(accuracy, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(
            f"images_seen and accuracy must be 1-D of equal length, got {x.shape}, {y.shape}"
        )
    percent = y.size > 0 and np.nanmax(y) > 1.0
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    ax.plot(x, y if percent else 100 * y, "o-", label=label)
    ax.set_xlabel("training images seen")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    if label:
        ax.legend()
    ax.set_title(title or "Test accuracy during training")
    return save_figure(fig, path)


def plot_confusion(
    matrix: np.ndarray,
    path: str | Path,
    *,
    normalise: bool = True,
    class_names: Sequence[str] | None = None,
    title: str | None = None,
) -> Path:
    """Confusion matrix ``M[true, predicted]`` as a heat map (rows normalised by default)."""
    m = np.asarray(matrix, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"matrix must be square, got shape {m.shape}")
    k = m.shape[0]
    shown = m / np.maximum(m.sum(axis=1, keepdims=True), 1) if normalise else m
    fig, ax = plt.subplots(figsize=(1 + 0.55 * k, 1 + 0.5 * k), dpi=100)
    image = ax.imshow(shown, cmap="Blues", vmin=0)
    names = list(class_names) if class_names is not None else [str(i) for i in range(k)]
    ax.set_xticks(range(k), names)
    ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if k <= 20:
        top = shown.max(initial=0)
        for t in range(k):
            for p in range(k):
                text = f"{shown[t, p]:.2f}" if normalise else f"{int(m[t, p])}"
                ax.text(p, t, text, ha="center", va="center", fontsize=7,
                        color="white" if shown[t, p] > 0.6 * top else "black")  # fmt: skip
    fig.colorbar(
        image, ax=ax, fraction=0.046, label="fraction of true class" if normalise else "count"
    )
    total = m.sum()
    acc = np.trace(m) / total if total else float("nan")
    ax.set_title(title or f"Confusion matrix (accuracy {acc:.1%})")
    return save_figure(fig, path)
