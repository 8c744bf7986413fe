"""Benchmark of issue 5: soft- vs hard-pruning accuracy, write pulses, and the ledger's cost.

Prints one JSON object. Runs :func:`neurocbram.sweep.run_sweep` (soft-pruning
during training at 40/50/75/90%; hard pruning at 40/75%, both of the trained
unpruned network (lowest weights) and during training with the soft
schedule and selection rule, ``--hard``), then times training with and
without the ledger's spike counters (same network, same images;
``--ledger-images`` images, best of two runs).

    python benchmarks/pruning.py --neurons 400 --images 60000 --out runs/pruning400
    python benchmarks/pruning.py --neurons 100 --images 6000 --out runs/pruning100   # smaller

Soft-pruning freezes, by default, the synapses whose pulses over the last
1,000 images cancelled most, each at its present weight (``--criterion settled
--constant keep``): the receptive-field weights that STDP and normalisation
hold in place and that take most of the writes. ``--criterion lowest
--constant mean`` is the library's default rule,
freezing the lowest weights at one value per neuron; at N = 400 those got only
a quarter of the pulses, so freezing them cannot cut the writes 3x.

Paper (Shi et al., Nature Communications 9:5312, 2018, CBRAM, unsupervised
SNN): 93% MNIST accuracy with 75% of the weights soft-pruned; conventional
pruning below 90% at 40%. Targets of the issue: soft 75% within 1 point of
unpruned and above hard 40%; >= 3x fewer write pulses after pruning starts;
ledger slowdown < 5%.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from neurocbram.commands.sweep import pruning_constant
from neurocbram.commands.train import add_dynamics_arguments
from neurocbram.pruning import CRITERIA
from neurocbram.sweep import HARD_WHEN

SOFT_FRACTIONS = (0.4, 0.5, 0.75, 0.9)
HARD_FRACTIONS = (0.4, 0.75)


def ledger_overhead(neurons: int, images: int, card: str, mnist: str | None) -> dict:
    """Training images per second with and without the ledger's counters (best of 2)."""
    from neurocbram.networks.diehl_cook import DiehlCookParameters

    from neurocbram.datasets import load_mnist
    from neurocbram.training import Trainer

    x, y = load_mnist("train", mnist, progress=False)
    params = DiehlCookParameters(n_neurons=neurons)
    speeds = {}
    for ledger in (False, True, False, True):
        trainer = Trainer(x[:images], y[:images], images, card=card, params=params, seed=0,
                          ledger=ledger)
        try:
            trainer.build()
            start = time.perf_counter()
            result = trainer.train()
            elapsed = time.perf_counter() - start
        finally:
            trainer.close()
        speeds.setdefault(ledger, []).append(result.images / elapsed)
    best = {k: max(v) for k, v in speeds.items()}
    return {
        "images": images,
        "images_per_second_without": round(best[False], 2),
        "images_per_second_with": round(best[True], 2),
        "slowdown_percent": round(100 * (1 - best[True] / best[False]), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--neurons", type=int, default=100)
    parser.add_argument("--images", type=int, default=6000)
    parser.add_argument("--card", default="cbram-shi2018")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--label-images", type=int, default=2000)
    parser.add_argument("--test-images", type=int, default=2000)
    parser.add_argument("--prune-at", type=float, default=0.5,
                        help="pruning event as a fraction of training (default 0.5)")
    parser.add_argument("--criterion", choices=CRITERIA, default="settled",
                        help="what counts as matured (default settled: pulses cancelled most)")
    parser.add_argument("--constant", type=pruning_constant, default="keep",
                        help="weight of frozen synapses, 'keep' (default: each at its present "
                             "weight), or 'mean' for the per-neuron mean of those frozen")
    parser.add_argument("--hard", choices=HARD_WHEN, default="both",
                        help="hard pruning of the trained network (lowest weights), during "
                             "training with the soft rule, or both (default)")
    parser.add_argument("--jobs", type=int, default=2)
    add_dynamics_arguments(parser)
    parser.add_argument("--ledger-images", type=int, default=500)
    parser.add_argument("--out", default=None)
    parser.add_argument("--mnist", default=None)
    args = parser.parse_args()

    from neurocbram.sweep import SweepConfig, run_sweep

    out = Path(args.out or f"runs/pruning-{args.neurons}-{args.card}")
    config = SweepConfig(fractions=(0.0, *SOFT_FRACTIONS), seeds=tuple(args.seeds),
                         hard=args.hard, hard_fractions=HARD_FRACTIONS,
                         neurons=args.neurons, images=args.images, card=args.card,
                         prune_start=args.prune_at, prune_end=args.prune_at,
                         criterion=args.criterion, constant=args.constant,
                         label_images=args.label_images, test_images=args.test_images,
                         jobs=args.jobs, mnist=args.mnist,
                         integration=args.integration, depression=args.depression)
    start = time.perf_counter()
    rows = run_sweep(config, out, progress=False)
    sweep_seconds = time.perf_counter() - start

    def mean(kind: str, fraction: float, key: str = "accuracy", when: str = "during") -> float | None:
        values = [r[key] for r in rows if r["kind"] == kind and r["when"] == when
                  and abs(r["fraction"] - fraction) < 1e-9]
        return round(sum(values) / len(values), 4) if values else None

    plain = mean("none", 0.0)
    plain_pulses = mean("none", 0.0, "pulses_steady_after_pruning")
    soft75_pulses = mean("soft", 0.75, "pulses_steady_after_pruning")
    report = {
        "benchmark": "pruning",
        "neurons": args.neurons,
        "train_images": args.images,
        "card": args.card,
        "integration": args.integration,
        "depression": args.depression,
        "seeds": args.seeds,
        "pruning_at_image": int(args.prune_at * args.images),
        "criterion": args.criterion,
        "hard": args.hard,
        "constant": args.constant,
        "test_images": args.test_images,
        "accuracy": {
            "unpruned": plain,
            **{f"soft_{int(100 * f)}": mean("soft", f) for f in SOFT_FRACTIONS},
            **{f"hard_{when}_{int(100 * f)}": mean("hard", f, when=when)
               for when in ("after", "during") for f in HARD_FRACTIONS},
        },
        "write_pulses_after_pruning_excluding_programming": {
            "unpruned": plain_pulses,
            "soft_75": soft75_pulses,
            "ratio": round(plain_pulses / soft75_pulses, 2) if soft75_pulses else None,
        },
        "write_pulses_after_pruning_including_programming": {
            "unpruned": mean("none", 0.0, "pulses_after_pruning_start"),
            "soft_75": mean("soft", 0.75, "pulses_after_pruning_start"),
        },
        "training_energy_per_image_J": {
            row["kind"] + f"_{row['fraction']:g}": row["training_energy"]["per_image_J"]
            for row in rows if row["when"] == "during" and row["seed"] == args.seeds[0]
        },
        "sweep_seconds": round(sweep_seconds, 1),
        "ledger": ledger_overhead(args.neurons, args.ledger_images, args.card, args.mnist),
        "out": str(out),
    }
    accuracy = report["accuracy"]
    soft75 = accuracy["soft_75"]

    def above(other: float | None) -> bool | None:
        return None if soft75 is None or other is None else soft75 > other

    report["targets"] = {
        "soft75_within_1_point": None if soft75 is None else soft75 >= plain - 0.01,
        "soft75_above_hard40_after": above(accuracy["hard_after_40"]),
        "soft75_above_hard40_during_same_rule": above(accuracy["hard_during_40"]),
        "pulses_3x_fewer": None if report["write_pulses_after_pruning_excluding_programming"][
            "ratio"] is None else report["write_pulses_after_pruning_excluding_programming"][
            "ratio"] >= 3,
        "ledger_below_5_percent": report["ledger"]["slowdown_percent"] < 5,
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
