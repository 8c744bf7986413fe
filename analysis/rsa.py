"""Random sparse adaptation (RSA) versus read-verify-write on a faulty array.

Mohanty, Du, Chen, Seo, Yu & Cao, "Random sparse adaptation for accurate
inference with inaccurate multi-level RRAM arrays", IEDM 2017
(doi:10.1109/IEDM.2017.8268339), as discussed by Du et al. (Arizona State,
same group). A trained network is programmed once (one shot) into an RRAM
array with quantisation, write variation and stuck-at faults; the array is
then read-only. A random, hard-wired ~5% of weight positions (equal count per
row and per column) get a high-precision on-chip (SRAM-like) cell whose value
is *added* to the array's output; only these cells are trained, with the loss
gradient restricted to them. The baseline is read-verify-write (R-V-W) of
every cell. Published claims (abstract of Mohanty et al.): ~5% of parameters
suffice on MNIST and CIFAR-10 CNNs; RSA is 10-100x faster than R-V-W.

Defaults and where they come from:

* 32 conductance levels per device (the multi-level RRAM of the task brief /
  Mohanty et al.).
* stuck-at faults: **SA1 (stuck at the low-resistance state, i.e. stuck-on,
  G = g_max) 9.04%** and **SA0 (stuck at the high-resistance state, stuck-off,
  G = g_min) 1.75%**, measured on a 4 Mb HfO2 RRAM test chip by C.-Y. Chen et
  al., IEEE Trans. Computers 64:180 (2015), and cited with this SA0/SA1
  convention by L. Xia et al. (DAC 2017) and by Du et al. The assignment of
  the two numbers to SA0/SA1 follows those secondary sources; the primary
  table was not re-checked here.
* lognormal write variation ``write_sigma = 0.1`` (std of ln G): **assumed**
  (Mohanty et al. sweep the variation; no single published value is used).
* timing model (all **assumed**, parameters of :class:`RSAConfig`): R-V-W is
  cell by cell, ``pulses x pulse width + reads x read_time``; RSA is
  ``steps x (batch x layers x 2 x mvm_time + cells x sram_write_time)``.
  Biases stay in the digital periphery (float, never adapted).
* ``rsa_init="float"`` (default): following the abstract's "mapping [the
  selected model parameters] to on-chip memory", the selected weights start
  in their SRAM cells at their trained values and their RRAM cells are
  programmed to zero; ``"zero"`` keeps the full array and starts the cells at 0.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from neurocbram.devices.card import DeviceCard
from neurocbram.devices.pulses import as_generator

from .crossbar import CrossbarLayer, check_fraction
from .mlp import MLP, Adam, lenet_300_100, mnist_arrays, train

__all__ = [
    "RSAConfig",
    "SA1_STUCK_ON_RATE",
    "SA0_STUCK_OFF_RATE",
    "balanced_sparse_mask",
    "default_card",
    "map_network",
    "array_weights",
    "rsa_adapt",
    "run_rsa",
]

#: SA1 (stuck at LRS, stuck-on) rate, Chen et al. IEEE TC 64:180 (2015) as cited by Du et al.
SA1_STUCK_ON_RATE = 0.0904
#: SA0 (stuck at HRS, stuck-off) rate, same source
SA0_STUCK_OFF_RATE = 0.0175


@dataclass
class RSAConfig:
    """Parameters of the RSA experiment (see the module docstring for sources).

    Times in seconds; ``rsa_fraction`` is the fraction of weights per row
    (and, up to rounding, per column) that get an SRAM cell.
    """

    levels: int = 32
    stuck_on_rate: float = SA1_STUCK_ON_RATE
    stuck_off_rate: float = SA0_STUCK_OFF_RATE
    write_sigma: float = 0.1
    rsa_fraction: float = 0.05
    rsa_steps: int = 2000
    rsa_batch: int = 100
    rsa_lr: float = 1e-3
    rsa_init: str = "float"
    rvw_max_pulses: int = 64
    rvw_tolerance: float | None = None
    read_time: float = 10e-9
    mvm_time: float = 100e-9
    sram_write_time: float = 1e-9
    train_epochs: int = 8
    train_limit: int | None = None
    test_limit: int | None = None
    eval_every: int = 100
    seed: int = 0
    weight_percentile: float = 100.0

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad parameter."""
        for name in ("stuck_on_rate", "stuck_off_rate", "rsa_fraction"):
            check_fraction(name, getattr(self, name))
        if self.stuck_on_rate + self.stuck_off_rate > 1:
            raise ValueError("stuck_on_rate + stuck_off_rate must not exceed 1")
        if int(self.levels) != self.levels or self.levels < 2:
            raise ValueError(f"levels must be an integer >= 2, got {self.levels!r}")
        if self.write_sigma < 0:
            raise ValueError(f"write_sigma must be >= 0, got {self.write_sigma!r}")
        for name in ("rsa_steps", "rsa_batch", "rvw_max_pulses", "train_epochs", "eval_every"):
            value = getattr(self, name)
            if int(value) != value or value < (1 if name in ("rsa_batch", "eval_every") else 0):
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        if self.rsa_init not in ("float", "zero"):
            raise ValueError(f"rsa_init must be 'float' or 'zero', got {self.rsa_init!r}")
        if not (0 < self.weight_percentile <= 100):
            raise ValueError(f"weight_percentile must lie in (0, 100], got {self.weight_percentile!r}")


def default_card() -> DeviceCard:
    """The bundled ``cbram-shi2018`` card if present, else a generic linear RRAM card (assumed)."""
    try:
        from neurocbram.devices import load_card

        return load_card("cbram-shi2018")
    except (ValueError, FileNotFoundError, OSError):
        return DeviceCard.from_dict({
            "name": "generic-linear-rram",
            "technology": "RRAM (generic)",
            "citation": "assumed: ideal linear device used only when no bundled card is available",
            "conductance": {"g_min": 1e-6, "g_max": 1e-4},
            "levels": 128,
            "pulses": {"set": {"amplitude": 1.0, "width": 100e-9},
                       "reset": {"amplitude": -1.0, "width": 100e-9}},
            "energy": {"set_pulse": 1e-12, "reset_pulse": 1e-12, "read": 1e-14},
            "response": {"model": "linear"},
        })


def balanced_sparse_mask(shape: tuple[int, int], fraction: float, seed=None) -> np.ndarray:
    """Random boolean mask with ``round(fraction * n_in)`` cells in every row and
    equal counts (within one) in every column, no position twice.
    """
    fraction = check_fraction("fraction", fraction)
    n_out, n_in = shape
    rng = as_generator(seed)
    k = int(round(fraction * n_in))
    mask = np.zeros(shape, dtype=bool)
    if k == 0:
        return mask
    total = k * n_out
    cols = np.resize(rng.permutation(n_in), total)  # each column floor/ceil(total/n_in) times
    cols = rng.permutation(cols)
    rows = np.repeat(np.arange(n_out), k)
    # repair duplicate (row, col) pairs by swapping columns between entries
    for _ in range(100):
        key = rows * n_in + cols
        _, first = np.unique(key, return_index=True)
        dup = np.setdiff1d(np.arange(total), first)
        if dup.size == 0:
            break
        taken = set(key.tolist())
        for p in dup:
            for q in rng.integers(0, total, size=50):
                a, b = rows[p] * n_in + cols[q], rows[q] * n_in + cols[p]
                if rows[p] != rows[q] and a not in taken and b not in taken:
                    taken.discard(rows[q] * n_in + cols[q])
                    taken.update((a, b))
                    cols[p], cols[q] = cols[q], cols[p]
                    break
    mask[rows, cols] = True
    return mask


def map_network(model: MLP, card: DeviceCard, config: RSAConfig, seed=None) -> list[CrossbarLayer]:
    """One :class:`CrossbarLayer` per weight matrix, ``w_max`` = the layer's largest |w|
    (or ``weight_percentile``), before programming."""
    rng = as_generator(config.seed if seed is None else seed)
    card = card.with_variability(
        stuck_on_rate=config.stuck_on_rate, stuck_off_rate=config.stuck_off_rate,
        write_sigma=config.write_sigma,
    )
    layers = []
    for w in model.weights:
        w_max = float(np.percentile(np.abs(w), config.weight_percentile)) or 1.0
        layers.append(CrossbarLayer(card, w.shape, w_max=w_max, levels=config.levels, seed=rng))
    return layers


def array_weights(layers: Sequence[CrossbarLayer]) -> list[np.ndarray]:
    """The weights the layers hold (float32 copies)."""
    return [np.asarray(layer.weights, dtype=np.float32) for layer in layers]


def rsa_adapt(
    model: MLP,
    base: Sequence[np.ndarray],
    masks: Sequence[np.ndarray],
    x: np.ndarray,
    y: np.ndarray,
    *,
    steps: int,
    batch: int = 100,
    lr: float = 1e-3,
    seed=None,
    init: Sequence[np.ndarray] | None = None,
    callback: Callable[[int, list[np.ndarray]], None] | None = None,
    every: int = 100,
) -> list[np.ndarray]:
    """Train only the masked SRAM cells ``S`` added to the read-only weights ``base``.

    The effective weights are ``base + mask * S``; the gradient of the loss
    is restricted to the mask (Adam). ``init``: starting values of ``S``
    (default zero). Returns the trained ``S`` (zero off the mask).
    """
    if len(base) != len(masks) or any(b.shape != m.shape for b, m in zip(base, masks)):
        raise ValueError("base and masks must be lists of equally shaped arrays")
    rng = as_generator(seed)
    if init is None:
        cells = [np.zeros(m.shape, dtype=np.float32) for m in masks]
    else:
        cells = [np.where(m, c, 0).astype(np.float32) for c, m in zip(init, masks)]
    opt = Adam(lr)
    for step in range(1, steps + 1):
        sel = rng.integers(0, len(x), size=batch)
        weights = [b + c for b, c in zip(base, cells)]
        _, dws, _ = model.loss_and_grads(x[sel], y[sel], weights)
        opt.step(cells, [(g * m).astype(np.float32) for g, m in zip(dws, masks)])
        if callback is not None and (step % every == 0 or step == steps):
            callback(step, [b + c for b, c in zip(base, cells)])
    return cells


def run_rsa(
    config: RSAConfig | None = None,
    card: DeviceCard | None = None,
    model: MLP | None = None,
    data: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None,
    log: Callable[[str], None] | None = None,
) -> dict:
    """The whole experiment; returns a JSON-ready dictionary of results and curves.

    ``data`` = ``(x_train, y_train, x_test, y_test)`` (default: MNIST);
    ``model``: a trained network (default: train LeNet-300-100 for
    ``config.train_epochs`` epochs with Adam).
    """
    config = config or RSAConfig()
    config.validate()
    card = card or default_card()
    log = log or (lambda message: None)
    t_start = time.perf_counter()
    if data is None:
        x, y = mnist_arrays("train", limit=config.train_limit)
        xt, yt = mnist_arrays("test", limit=config.test_limit)
    else:
        x, y, xt, yt = data
    if model is None:
        model = lenet_300_100(seed=config.seed)
        log(f"training float LeNet-300-100 for {config.train_epochs} epochs")
        train(model, x, y, epochs=config.train_epochs, batch=100, optimizer=Adam(1e-3), seed=config.seed)
    acc_float = model.accuracy(xt, yt)
    log(f"float accuracy {acc_float:.4f}")

    # faulty array, one-shot programmed (the same array for RSA and for R-V-W)
    def fresh_layers():
        layers = map_network(model, card, config, seed=config.seed + 1)
        for layer, w in zip(layers, model.weights):
            layer.program(w, "one-shot")
        return layers

    layers = fresh_layers()
    base = array_weights(layers)
    acc_faulty = model.accuracy(xt, yt, base)
    stuck_fraction = float(np.mean(np.concatenate([
        np.concatenate([s.ravel() for s in layer.stuck]) != 0 for layer in layers])))
    n_weights = int(sum(w.size for w in model.weights))
    log(f"one-shot faulty array accuracy {acc_faulty:.4f} (stuck devices {stuck_fraction:.4f})")

    # ideal quantised array (no faults, no write variation): the quantisation floor
    ideal = map_network(model, card.with_variability(c2c_sigma=0.0, d2d_sigma=0.0),
                        RSAConfig(**{**asdict(config), "stuck_on_rate": 0.0, "stuck_off_rate": 0.0,
                                     "write_sigma": 0.0}), seed=config.seed + 1)
    for layer, w in zip(ideal, model.weights):
        layer.program(w, "one-shot")
    acc_quantised = model.accuracy(xt, yt, array_weights(ideal))

    # RSA
    mask_rng = as_generator(config.seed + 2)
    masks = [balanced_sparse_mask(w.shape, config.rsa_fraction, mask_rng) for w in model.weights]
    n_cells = int(sum(m.sum() for m in masks))
    if config.rsa_init == "float":
        # the RSA positions' parameters live in the SRAM cells (starting at their trained
        # value); their RRAM cells are programmed to zero weight (same one-shot array otherwise)
        rsa_layers = map_network(model, card, config, seed=config.seed + 1)
        for layer, w, m in zip(rsa_layers, model.weights, masks):
            layer.program(np.where(m, 0.0, w), "one-shot")
        rsa_base = array_weights(rsa_layers)
        init = [np.where(m, w, 0.0) for w, m in zip(model.weights, masks)]
    else:
        rsa_base, init = base, None
    acc_start = model.accuracy(xt, yt, [b + (0 if c is None else c) for b, c in
                                        zip(rsa_base, init or [None] * len(rsa_base))])
    rsa_curve = [{"step": 0, "accuracy": acc_start}]

    def on_step(step, weights):
        rsa_curve.append({"step": step, "accuracy": model.accuracy(xt, yt, weights)})
        log(f"RSA step {step}: accuracy {rsa_curve[-1]['accuracy']:.4f}")

    t0 = time.perf_counter()
    cells = rsa_adapt(model, rsa_base, masks, x, y, steps=config.rsa_steps, batch=config.rsa_batch,
                      lr=config.rsa_lr, seed=config.seed + 3, init=init, callback=on_step,
                      every=config.eval_every)
    rsa_wall = time.perf_counter() - t0
    acc_rsa = rsa_curve[-1]["accuracy"]
    rsa_time = config.rsa_steps * (config.rsa_batch * len(layers) * 2 * config.mvm_time
                                   + n_cells * config.sram_write_time)
    # R-V-W of the whole (same) array, layer after layer, accuracy after each verify round
    rvw_layers = fresh_layers()
    rvw_curve = [{"pulses": 0, "reads": 0, "time_s": 0.0, "accuracy": acc_faulty}]
    pulse_width = 0.5 * (card.set_pulse.width + card.reset_pulse.width)

    def rvw_time(pulses: int, reads: int) -> float:
        return pulses * pulse_width + reads * config.read_time

    reports = []
    t0 = time.perf_counter()
    checkpoints = {1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256}

    def record(layer_index: int) -> None:
        pulses = sum(lay.counts.set_pulses + lay.counts.reset_pulses for lay in rvw_layers)
        reads = sum(lay.counts.verify_reads for lay in rvw_layers)
        acc = model.accuracy(xt, yt, array_weights(rvw_layers))
        rvw_curve.append({"layer": layer_index, "pulses": pulses, "reads": reads,
                          "time_s": rvw_time(pulses, reads), "accuracy": acc})

    for i, (layer, w) in enumerate(zip(rvw_layers, model.weights)):
        report = layer.program(
            w, "rvw", tolerance=config.rvw_tolerance, max_pulses=config.rvw_max_pulses,
            callback=lambda it, i=i: record(i) if it in checkpoints else None,
        )
        reports.append(asdict(report))
        record(i)
        log(f"R-V-W layer {i}: {report.pulses} pulses, {report.iterations} rounds, "
            f"accuracy {rvw_curve[-1]['accuracy']:.4f}")
    rvw_wall = time.perf_counter() - t0
    acc_rvw = rvw_curve[-1]["accuracy"]
    rvw_pulses = rvw_curve[-1]["pulses"]
    rvw_reads = rvw_curve[-1]["reads"]
    rsa_updates = config.rsa_steps * n_cells
    match = next((p for p in rvw_curve if p["accuracy"] >= acc_rsa), None)
    rsa_match = next((p for p in rsa_curve if p["accuracy"] >= acc_rvw), None)
    result = {
        "experiment": "rsa",
        "card": card.name,
        "config": asdict(config),
        "network": "LeNet-300-100 (784-300-100-10, ReLU, softmax)",
        "n_weights": n_weights,
        "accuracy": {"float": acc_float, "quantised_ideal": acc_quantised,
                     "faulty_one_shot": acc_faulty, "rsa": acc_rsa, "rvw": acc_rvw},
        "stuck_device_fraction": stuck_fraction,
        "rsa": {"cells": n_cells, "cell_fraction": n_cells / n_weights, "steps": config.rsa_steps,
                "rram_pulses_after_programming": 0, "sram_cell_updates": rsa_updates,
                "modelled_time_s": rsa_time, "wall_s": rsa_wall,
                "recovered_within_1pt": bool(acc_float - acc_rsa <= 0.01),
                "cells_norm": float(sum(np.abs(c).sum() for c in cells))},
        "rvw": {"pulses": rvw_pulses, "verify_reads": rvw_reads,
                "modelled_time_s": rvw_time(rvw_pulses, rvw_reads), "wall_s": rvw_wall,
                "per_layer": reports},
        "one_shot_writes": 2 * n_weights,
        "rvw_to_reach_rsa_accuracy": None if match is None else {
            "pulses": match["pulses"], "reads": match["reads"], "time_s": match["time_s"]},
        "rsa_steps_to_reach_rvw_accuracy": None if rsa_match is None else rsa_match["step"],
        "rsa_steps_to_within_1pt_of_float": next(
            (p["step"] for p in rsa_curve if p["accuracy"] >= acc_float - 0.01), None),
        # the same R-V-W counts at other pulse widths (the card's is used above)
        "rvw_modelled_time_s_by_pulse_width": {
            f"{w:g}": rvw_pulses * w + rvw_reads * config.read_time for w in (1e-7, 1e-6, 1e-5)},
        "ratios": {
            "rvw_pulses_per_rsa_sram_update": rvw_pulses / max(rsa_updates, 1),
            "rvw_time_over_rsa_time": rvw_time(rvw_pulses, rvw_reads) / max(rsa_time, 1e-30),
        },
        "curves": {"rsa": rsa_curve, "rvw": rvw_curve},
        "wall_s": time.perf_counter() - t_start,
    }
    return result
