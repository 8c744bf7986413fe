"""Training speed of the Diehl & Cook network in cpp_standalone (prints one JSON object).

Defaults: N = 400 excitatory neurons, the CBRAM card, 350 ms per image
(the 150 ms rest applied exactly at the reset, not simulated), dt = 0.5 ms, one thread. The build
(code generation + compilation) is timed separately from training; with
``--fresh-build`` it goes to a temporary folder, so the compilation is
measured even when a cached build exists.

    python benchmarks/train_speed.py --neurons 400 --images 300
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import tempfile
import time

from neurocbram.commands.train import add_dynamics_arguments, add_schedule_arguments


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--neurons", type=int, default=400)
    parser.add_argument("--images", type=int, default=300, help="images to train on (timed)")
    parser.add_argument("--card", default="cbram-shi2018")
    add_schedule_arguments(parser)
    parser.add_argument("--make-jobs", type=int, default=1, help="parallel compiler jobs")
    parser.add_argument("--fresh-build", action="store_true",
                        help="build in a temporary folder (time a full compilation)")
    add_dynamics_arguments(parser)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    if args.fresh_build:
        os.environ["NEUROCBRAM_BUILD_CACHE"] = tempfile.mkdtemp(prefix="neurocbram-bench-")
    from brian2 import ms

    from neurocbram.datasets import load_mnist
    from neurocbram.networks.diehl_cook import DiehlCookParameters
    from neurocbram.training import Trainer

    images, labels = load_mnist("train", progress=False)
    params = DiehlCookParameters(n_neurons=args.neurons, rest=args.rest * ms,
                                simulate_rest=args.simulate_rest, carry_over=args.carry_over,
                                integration=args.integration, depression=args.depression)
    trainer = Trainer(images[: args.images], labels[: args.images], args.images,
                      card=args.card, params=params, seed=args.seed, target="standalone",
                      slots=args.slots, make_jobs=args.make_jobs)
    import neurocbram.standalone as standalone

    start = time.perf_counter()
    trainer.build()
    build_seconds = time.perf_counter() - start
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_before = children.ru_utime + children.ru_stime
    result = trainer.train()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_seconds = children.ru_utime + children.ru_stime - cpu_before
    trainer.close()
    print(json.dumps({
        "benchmark": "train_speed",
        "neurons": args.neurons,
        "card": args.card,
        "integration": args.integration,
        "depression": args.depression,
        "dt_ms": 0.5,
        "presentation_ms": 350,
        "rest_ms": args.rest,
        "simulate_rest": args.simulate_rest,
        "carry_over": args.carry_over,
        "slots_per_run": args.slots,
        "images": result.images,
        "presentations": result.presentations,
        "train_seconds": round(result.train_seconds, 2),
        "images_per_second": round(result.images_per_second, 2),
        "program_cpu_seconds": round(cpu_seconds, 2),
        "images_per_cpu_second": round(result.images / cpu_seconds, 2) if cpu_seconds else None,
        "load_average_1min": round(os.getloadavg()[0], 2),
        "build_seconds": round(build_seconds, 2),
        "build_reused": result.build_reused,
        "build_dir": str(standalone.build_cache_dir()),
        "threads": 1,
        "machine": platform.machine(),
        "cpus_visible": os.cpu_count(),
    }))


if __name__ == "__main__":
    main()
