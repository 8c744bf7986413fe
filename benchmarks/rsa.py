"""Benchmark: RSA vs read-verify-write on a faulty array, and crossbar read speed.

Prints one JSON object: float / faulty / RSA (fault-aware mapping, and the
naive-mapping ablation) / R-V-W accuracy, write and read counts, modelled
times and their ratios (full runs and at the same accuracy), wall times, and
the time of one 784x300 layer read on a batch of 1,000.
``--quick`` uses 10k training and 2k test images, 2 epochs and 300 RSA steps.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
from neurocbram.analysis.crossbar import CrossbarLayer
from neurocbram.analysis.rsa import RSAConfig, default_card, run_rsa


def read_speed(repeats: int = 20) -> dict:
    """Median time (ms) of a 784x300 read on a batch of 1,000 inputs, without and with read noise."""
    card = default_card()
    rng = np.random.default_rng(0)
    x64 = rng.random((1000, 784))
    out = {}
    for noise, x in ((0.0, x64), (0.02, x64), (0.0, x64.astype(np.float32))):
        layer = CrossbarLayer(card, (300, 784), w_max=1.0, levels=32, read_noise=noise, seed=0)
        layer.program(rng.uniform(-1, 1, (300, 784)))
        layer.read(x)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            layer.read(x)
            times.append(time.perf_counter() - t0)
        out[f"read_ms_noise_{noise}_{x.dtype}"] = 1e3 * float(np.median(times))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", action="store_true", help="progress on stderr")
    args = parser.parse_args()
    config = RSAConfig(seed=args.seed)
    if args.quick:
        config.train_limit, config.test_limit, config.train_epochs, config.rsa_steps = 10000, 2000, 2, 300
    if args.steps is not None:
        config.rsa_steps = args.steps
    result = run_rsa(config, log=lambda m: print(m, file=sys.stderr, flush=True) if args.verbose else None)
    ablation = result["ablation"] or {}
    print(json.dumps({
        "benchmark": "rsa",
        "quick": args.quick,
        "card": result["card"],
        "accuracy": result["accuracy"],
        "rsa_naive_mapping_accuracy": (ablation.get("naive_mapping") or {}).get("rsa_accuracy"),
        "targets": result["targets"],
        "fault_mapping": result["fault_mapping"],
        "rsa_cells": result["rsa"]["cells"],
        "rsa_cell_fraction": result["rsa"]["cell_fraction"],
        "rsa_steps": result["rsa"]["steps"],
        "rsa_sram_updates": result["rsa"]["sram_cell_updates"],
        "rsa_rram_rewrites": result["rsa"]["rram_one_shot_rewrites"],
        "rsa_device_reads": result["rsa"]["device_reads"],
        "rsa_modelled_time_s": result["rsa"]["modelled_time_s"],
        "rsa_modelled_overhead_s": result["rsa"]["modelled_overhead_s"],
        "rsa_steps_to_reach_rvw_accuracy": result["rsa_steps_to_reach_rvw_accuracy"],
        "rsa_steps_to_within_1pt_of_float": result["rsa_steps_to_within_1pt_of_float"],
        "rvw_pulses": result["rvw"]["pulses"],
        "rvw_verify_reads": result["rvw"]["verify_reads"],
        "rvw_pulse_width_s": result["rvw"]["pulse_width_s"],
        "rvw_modelled_time_s": result["rvw"]["modelled_time_s"],
        "rvw_modelled_time_s_by_pulse_width": result["rvw_modelled_time_s_by_pulse_width"],
        "rvw_to_reach_rsa_accuracy": result["rvw_to_reach_rsa_accuracy"],
        "at_same_accuracy": result["at_same_accuracy"],
        "rvw_fault_aware": {k: v for k, v in result["rvw_fault_aware"].items() if k != "per_layer"},
        "ratios": result["ratios"],
        "wall_s": {"total": result["wall_s"], "rsa_adaptation": result["rsa"]["wall_s"],
                   "rvw": result["rvw"]["wall_s"], "rvw_fault_aware": result["rvw_fault_aware"]["wall_s"]},
        "layer_read_784x300_batch1000": read_speed(),
    }))


if __name__ == "__main__":
    main()
