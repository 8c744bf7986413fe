"""Frozen-weight evaluation speed (images/s) of the batched D&C evaluator; prints one JSON object.

Network: N = 400 excitatory + 400 inhibitory neurons with either a trained state
(``--state``: a ``trained_state.npz`` written by ``neurocbram train`` or
``benchmarks/accuracy.py``) or random weights (uniform [0, 0.3], each neuron's
column scaled to sum 78, theta drawn around 20 mV); real MNIST test images,
350 ms presentations at dt = 0.5 ms with the D&C retry rule (images with < 5
spikes are presented again at a higher rate; the retries are part of the cost,
and random weights need about twice as many presentations per image as trained
ones). Timed with one thread and with all cores; the numba kernel is compiled
(and cached) before timing.

    NEUROCBRAM_MNIST=/path/to/mnist python benchmarks/evaluation_speed.py [--images 2000] \
        [--state runs/accuracy-400-cbram-shi2018/trained_state.npz]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np
from brian2 import mV

from neurocbram.datasets import load_mnist
from neurocbram.evaluation import available_engines, evaluate_responses


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--neurons", type=int, default=400)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--numpy-images", type=int, default=100,
                        help="images for the pure-NumPy engine (slower), 0 to skip")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mnist", default=None, help="MNIST folder (default: $NEUROCBRAM_MNIST)")
    parser.add_argument("--state", default=None,
                        help="trained_state.npz to evaluate (default: random weights)")  # fmt: skip
    args = parser.parse_args(argv)

    images, _ = load_mnist("test", args.mnist, download=False, progress=False)
    images = images[: args.images]
    if args.state is not None:
        from neurocbram.networks.diehl_cook import TrainedState

        state = TrainedState.load(args.state)
        weights = state.w * state.gain[None, :]  # as neurocbram.training.evaluate_state
        theta = state.theta_mV * mV
        network = f"trained state {args.state}"
    else:
        rng = np.random.default_rng(args.seed)
        weights = rng.uniform(0.0, 0.3, (784, args.neurons))
        weights *= 78.0 / weights.sum(axis=0)
        theta = rng.normal(20.0, 2.0, args.neurons) * mV
        network = "random: weights uniform[0,0.3], columns scaled to sum 78; theta normal(20, 2) mV"

    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        threadpool_limits = None
    n_cores = os.cpu_count() or 1
    engine = available_engines()[0]
    common = dict(seed=args.seed, batch_size=args.batch_size, progress=False)

    t0 = time.perf_counter()
    evaluate_responses(weights, theta, images[:8], engine=engine, **common)  # compile / warm up
    warmup_s = time.perf_counter() - t0

    runs = {}
    for threads in sorted({1, n_cores}):
        limiter = threadpool_limits(threads) if threadpool_limits else None
        load_before = os.getloadavg()[0]
        t0, c0 = time.perf_counter(), time.process_time()
        counts, intensities = evaluate_responses(
            weights, theta, images, engine=engine, n_threads=threads, **common
        )
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
        if limiter is not None:
            limiter.unregister()
        presentations = float(np.sum((intensities - 1.0) / 0.5 + 1.0))
        runs[f"{threads}_thread" + ("s" if threads > 1 else "")] = {
            "threads": threads,
            "seconds": round(elapsed, 3),
            "images_per_s": round(len(images) / elapsed, 1),
            "presentations_per_s": round(presentations / elapsed, 1),
            # CPU time of this process (all threads): robust to other users' load
            "cpu_seconds": round(cpu, 3),
            "images_per_cpu_s": round(len(images) / cpu, 1),
            "presentations_per_cpu_s": round(presentations / cpu, 1),
            "load_average_1min_before": round(load_before, 2),
        }

    result = {
        "benchmark": "evaluation_speed",
        "engine": engine,
        "neurons": weights.shape[1],
        "images": len(images),
        "batch_size": args.batch_size,
        "dt_ms": 0.5,
        "presentation_ms": 350,
        "network": network,
        "presentations_per_image": round(presentations / len(images), 3),
        "images_retried_fraction": round(float(np.mean(intensities > 1.0)), 4),
        "mean_spikes_per_image": round(float(counts.sum(axis=1).mean()), 2),
        "warmup_compile_s": round(warmup_s, 2),
        "runs": runs,
        "target_images_per_s": 1000,
        "best_images_per_s": max(r["images_per_s"] for r in runs.values()),
    }
    if args.numpy_images > 0 and engine != "numpy":
        subset = images[: args.numpy_images]
        t0 = time.perf_counter()
        evaluate_responses(weights, theta, subset, engine="numpy", **common)
        elapsed = time.perf_counter() - t0
        result["numpy_engine"] = {
            "images": len(subset),
            "images_per_s": round(len(subset) / elapsed, 1),
            "threads": n_cores,
        }
    result["machine"] = {
        "cpu": _cpu_name(),
        "cores": n_cores,
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "numba": _version("numba"),
        "platform": platform.platform(),
    }
    print(json.dumps(result, indent=2))
    return result


def _version(module: str) -> str | None:
    try:
        return __import__(module).__version__
    except ImportError:
        return None


if __name__ == "__main__":
    main()
