"""Diehl & Cook's float rule, re-implemented without Brian2: a cross-check of the network (prints JSON).

An independent implementation (Numba, no Brian2, no device card) of the
published training script (peter-u-diehl/stdp-mnist, ``Diehl&Cook_spiking_MNIST.py``)
read literally: float weights with hard bounds [0, 1], nearest-spike STDP
traces with exact decay, forward Euler at dt = 0.5 ms, 350 ms per image then
150 ms of rest without any reset, column sums normalised to 78 before every
presentation (no clipping, as published), intensity retries (capped at 20),
5 ms refractory periods with ``v`` held, no input delays. Labels come from
``--label-images`` training images and the test images are classified with
frozen weights and thresholds (:mod:`neurocbram.analysis.labelling`), as in
``benchmarks/accuracy.py``. Its accuracy is what the Brian2 network with the
ideal analog card (``--card ideal-linear --analog --integration euler``) should
reproduce; Diehl & Cook report 82.9% for N = 100.

``--spike-lock-ms``: the published threshold is gated by ``timer > 5 ms`` with
``dtimer/dt = 100.0 : ms``. Read with units, the timer runs at 0.1 s/s and a
neuron stays silent for 50 ms after a spike (default, as the network's
``spike_lock``). The script imports ``brian_no_units``, under which the timer
runs at 100 s/s and the gate opens after one step: ``--spike-lock-ms 0``.

    python benchmarks/float_reference.py --neurons 100 --images 60000 --seed 0
    python benchmarks/float_reference.py --neurons 20 --images 500 --test-images 500   # ~1 min
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from _json_output import emit
from numba import njit

DT = 0.5  # ms
STEPS_ON, STEPS_OFF = 700, 300  # 350 ms of input, 150 ms of rest


@njit
def _seed(seed: int) -> None:
    np.random.seed(seed)


@njit
def _present(w, state, refractory, rates, active, learn, lock_steps):
    """One presentation (input, then rest); returns the excitatory spike counts during the input."""
    v_e, ge_e, gi_e, theta, since, v_i, ge_i, gi_i, pre, post1, post2 = state
    ref_e, ref_i = refractory
    n_in, n = w.shape
    counts = np.zeros(n, np.int64)
    spike_e = np.zeros(n, np.bool_)
    spike_i = np.zeros(n, np.bool_)
    decay_pre, decay_post1, decay_post2 = np.exp(-DT / 20.0), np.exp(-DT / 20.0), np.exp(-DT / 40.0)
    for step in range(STEPS_ON + STEPS_OFF):
        on = step < STEPS_ON
        pre *= decay_pre
        post1 *= decay_post1
        post2 *= decay_post2
        for j in range(n):  # forward Euler, every variable from its old value
            v = v_e[j]
            if ref_e[j] > 0:
                ref_e[j] -= 1
            else:
                v_e[j] = v + DT * ((-65.0 - v) - ge_e[j] * v + gi_e[j] * (-100.0 - v)) / 100.0
            ge_e[j] -= DT * ge_e[j]
            gi_e[j] -= DT * gi_e[j] / 2.0
            if learn:
                theta[j] -= DT * theta[j] / 1e7
            since[j] += 1
            v = v_i[j]
            if ref_i[j] > 0:
                ref_i[j] -= 1
            else:
                v_i[j] = v + DT * ((-60.0 - v) - ge_i[j] * v + gi_i[j] * (-85.0 - v)) / 10.0
            ge_i[j] -= DT * ge_i[j]
            gi_i[j] -= DT * gi_i[j] / 2.0
        for j in range(n):
            spike_e[j] = v_e[j] > theta[j] - 72.0 and since[j] > lock_steps and ref_e[j] <= 0
            spike_i[j] = v_i[j] > -40.0 and ref_i[j] <= 0
        if on:  # Poisson inputs: transmission and depression
            for k in range(active.size):
                i = active[k]
                if np.random.random() < rates[i] * DT * 1e-3:
                    pre[i] = 1.0
                    for j in range(n):
                        ge_e[j] += w[i, j]
                        if learn:
                            w[i, j] = max(w[i, j] - 1e-4 * post1[j], 0.0)
        for j in range(n):
            if spike_e[j]:
                if on:
                    counts[j] += 1
                ge_i[j] += 10.4
                if learn:  # potentiation with the trace before this spike
                    for i in range(n_in):
                        w[i, j] = min(w[i, j] + 1e-2 * pre[i] * post2[j], 1.0)
                    post1[j] = 1.0
                    post2[j] = 1.0
        for j in range(n):
            if spike_i[j]:
                for m in range(n):
                    if m != j:
                        gi_e[m] += 17.0
        for j in range(n):
            if spike_e[j]:
                v_e[j] = -65.0
                since[j] = 0
                ref_e[j] = 10
                if learn:
                    theta[j] += 0.05
            if spike_i[j]:
                v_i[j] = -45.0
                ref_i[j] = 4
    return counts


class FloatNetwork:
    """The published network's state: weights ``w`` (784, N), thresholds, membranes and traces."""

    def __init__(self, n: int, seed: int, spike_lock_ms: float = 50.0) -> None:
        rng = np.random.default_rng(seed)
        _seed(seed)
        self.w = (rng.random((784, n)) + 0.01) * 0.3  # as the published random/XeAe.npy
        self.state = (np.full(n, -105.0), np.zeros(n), np.zeros(n), np.full(n, 20.0), np.full(n, 10**9),
                      np.full(n, -100.0), np.zeros(n), np.zeros(n), np.zeros(784), np.zeros(n), np.zeros(n))
        self.refractory = (np.zeros(n, np.int64), np.zeros(n, np.int64))
        self.lock_steps = int(round(spike_lock_ms / DT))  # silent while steps since the spike <= this
        self.retries = 0

    def run(self, images: np.ndarray, learn: bool, max_retries: int = 20) -> np.ndarray:
        """Present ``images`` (uint8, (n, 28, 28)); returns their spike counts (n, N)."""
        out = np.zeros((len(images), self.w.shape[1]), np.int64)
        for k, image in enumerate(images):
            base = image.ravel().astype(np.float64) / 8.0
            active = np.flatnonzero(base > 0)
            for retry in range(max_retries + 1):
                if learn:
                    self.w *= 78.0 / self.w.sum(axis=0)
                counts = _present(self.w, self.state, self.refractory, base * (2 + retry), active, learn,
                                  self.lock_steps)
                if counts.sum() >= 5 or retry == max_retries:
                    break
                self.retries += 1
            out[k] = counts
        return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--neurons", type=int, default=100)
    parser.add_argument("--images", type=int, default=60000, help="training images (cycling through the set)")
    parser.add_argument("--label-images", type=int, default=10000, help="training images that label the neurons")
    parser.add_argument("--test-images", type=int, default=10000)
    parser.add_argument("--spike-lock-ms", type=float, default=50.0,
                        help="silence after a spike (50: the equations with units; 0: as the script ran)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mnist", type=Path, default=None,
                        help="folder with the MNIST IDX files (default: $NEUROCBRAM_MNIST, then the cache)")
    parser.add_argument("--json", type=Path, default=None, help="also write the result here")
    args = parser.parse_args(argv)
    for name in ("neurons", "images", "label_images", "test_images"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if not 0 <= args.spike_lock_ms <= 350:
        parser.error(f"--spike-lock-ms must lie in [0, 350], got {args.spike_lock_ms}")

    from neurocbram.analysis import labelling
    from neurocbram.datasets import load_mnist

    x, y = load_mnist("train", args.mnist)
    xt, yt = load_mnist("test", args.mnist)
    net = FloatNetwork(args.neurons, args.seed, args.spike_lock_ms)
    t0 = time.time()
    net.run(x[np.arange(args.images) % len(x)], learn=True)
    train_s, retries = time.time() - t0, net.retries
    lab_r = net.run(x[:args.label_images], learn=False)
    test_r = net.run(xt[:args.test_images], learn=False)
    lab_y, test_y = y[:args.label_images], yt[:args.test_images]
    neuron_labels = labelling.assign_labels(lab_r, lab_y)
    result = {
        "benchmark": "float_reference", "neurons": args.neurons, "images": args.images, "seed": args.seed,
        "spike_lock_ms": args.spike_lock_ms, "label_images": args.label_images, "test_images": args.test_images,
        "accuracy": labelling.accuracy(labelling.predict(test_r, neuron_labels, n_classes=10), test_y),
        "accuracy_proportion": labelling.accuracy(labelling.predict(
            test_r, neuron_labels, "proportion", labelling.class_proportions(lab_r, lab_y)), test_y),
        "training_retries": retries, "train_seconds": round(train_s, 1),
        "train_images_per_s": round(args.images / train_s, 1),
        "weights_below_0.01": float(np.mean(net.w < 0.01)),
        "reference": "Diehl & Cook 2015, Front. Comput. Neurosci. 9:99: 82.9% for N = 100",
    }
    return emit(result, args.json)


if __name__ == "__main__":
    sys.exit(main())
