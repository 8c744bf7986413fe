"""Pulse updates per second sustained by the memristive synapse in cpp_standalone.

One standalone program holds three populations of ``--synapses`` synapses
(all-to-all between two groups) of the same card; every time step a
``run_regularly`` operation on each of them does:

``baseline``
    computes the signed pulse count of the step but applies no pulse
    (the cost of visiting the synapses);
``deterministic``
    ``set_code`` / ``reset_code`` with counts ``k = (i + j + step) % 7 - 3``
    (-3..3 pulses, mean |k| = 12/7), c2c noise off;
``stochastic``
    ``pulse_code(dw)`` with ``dw`` uniform in [-3, 3] nominal steps:
    stochastic rounding (``rand()``) and c2c noise (``randn()``) on.

Brian2's profiler times each operation inside the program; the number of
pulses comes from the synapses' exact counters. The rate reported is
pulses / (operation time - baseline time) and, without subtracting the
baseline, pulses / operation time. Build (code generation + compilation) is
timed separately. Prints one JSON object.

Usage: python benchmarks/synapse_pulse_rate.py [--synapses 1000000] [--steps 100]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np


def machine_info() -> dict:
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        compiler = subprocess.run(
            ["g++", "--version"], capture_output=True, text=True, check=False
        ).stdout.splitlines()[0]
    except (OSError, IndexError):
        compiler = "unknown"
    import brian2

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "brian2": brian2.__version__,
        "numpy": np.__version__,
        "compiler": compiler,
        "platform": platform.platform(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--synapses", type=int, default=1_000_000, help="synapses per population")
    parser.add_argument("--steps", type=int, default=100, help="time steps simulated")
    parser.add_argument("--card", default="cbram-shi2018", help="bundled card name or card.json")
    parser.add_argument("--directory", default=None, help="standalone project folder")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="make -j")
    args = parser.parse_args()

    from brian2 import Network, NeuronGroup, defaultclock, device, ms, prefs, seed, set_device

    from neurocbram.devices import load_card
    from neurocbram.synapses import MemristiveSynapse, memristive_synapses

    side = int(round(np.sqrt(args.synapses)))
    n_syn = side * side
    card = load_card(args.card)
    directory = args.directory or tempfile.mkdtemp(prefix="neurocbram_pulse_rate_")
    prefs.devices.cpp_standalone.extra_make_args_unix = [f"-j{args.jobs}"]
    set_device("cpp_standalone", directory=directory, build_on_run=False)
    defaultclock.dt = 0.1 * ms
    seed(1)

    step = "_step = int(t/dt + 0.5)\nk = (i + j + _step) % 7 - 3\n"
    deterministic = MemristiveSynapse(card, c2c=False)
    stochastic = MemristiveSynapse(card, c2c=True)
    pulses_both_ways = deterministic.set_code("k * int(k > 0)") + deterministic.reset_code(
        "-k * int(k < 0)"
    )
    random_dw = f"(2*rand() - 1) * 3 * {stochastic.dw_per_pulse!r}"  # +-3 nominal steps
    workloads = {
        "baseline": (deterministic, step + "set_pulses += int(k > 3)\n"),  # never true
        "deterministic": (deterministic, step + pulses_both_ways),
        "stochastic": (stochastic, stochastic.pulse_code(random_dw)),
    }
    objects, populations = [], {}
    for name, (memristor, code) in workloads.items():
        source = NeuronGroup(side, "", name=f"{name}_pre")
        target = NeuronGroup(side, "", name=f"{name}_post")
        S = memristive_synapses(
            source, target, memristor, connect=True, w=0.5, seed=2, name=f"{name}_synapses"
        )
        S.run_regularly(code, name=f"{name}_pulses")
        objects += [source, target, S]
        populations[name] = S
    network = Network(*objects)
    network.run(args.steps * defaultclock.dt, profile=True)

    start = time.perf_counter()
    device.build(directory=directory, compile=True, run=False)
    build_s = time.perf_counter() - start
    start = time.perf_counter()
    device.run(directory=directory)
    run_s = time.perf_counter() - start

    profile = {
        name.split("_pulses")[0]: float(t)
        for name, t in network.profiling_info
        if name.endswith("_pulses_codeobject")
    }
    pulses = {
        name: int(np.sum(S.set_pulses[:], dtype=np.int64))
        + int(np.sum(S.reset_pulses[:], dtype=np.int64))
        for name, S in populations.items()
    }
    events = n_syn * args.steps
    result = {
        "benchmark": "synapse_pulse_rate",
        "target": "cpp_standalone",
        "card": card.name,
        "synapses_per_population": n_syn,
        "steps": args.steps,
        "build_s": round(build_s, 2),
        "program_run_s": round(run_s, 3),
        "operation_s": {k: round(v, 4) for k, v in profile.items()},
        "pulses": pulses,
        "pulse_events_per_population": events,
    }
    for name in ("deterministic", "stochastic"):
        net = profile[name] - profile["baseline"]
        result[f"{name}_pulses_per_s"] = float(f"{pulses[name] / net:.4g}") if net > 0 else None
        result[f"{name}_pulses_per_s_incl_loop"] = float(f"{pulses[name] / profile[name]:.4g}")
        result[f"{name}_events_per_s_incl_loop"] = float(f"{events / profile[name]:.4g}")
    result["machine"] = machine_info()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
