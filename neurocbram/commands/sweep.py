"""``neurocbram sweep``: accuracy and write energy versus pruned fraction, soft vs hard.

Trains one unpruned network and one soft-pruned network per fraction for
each seed (parallel processes), hard-prunes the unpruned networks after
training (or during it with the soft rule, ``--hard during``, or both), tests
every configuration on the same images and writes ``sweep.json`` plus the figures
``accuracy_vs_pruned_fraction.png``, ``energy_per_image.png``,
``receptive_fields_pruned.png`` and ``pulse_histogram.png``
(:mod:`neurocbram.sweep`). Re-running the same command resumes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from neurocbram.commands.train import add_dynamics_arguments
from neurocbram.pruning import CRITERIA, KEEP
from neurocbram.sweep import HARD_WHEN

__all__ = ["HELP", "add_arguments", "pruning_constant", "run"]

HELP = "sweep the pruned fraction for soft- and hard-pruning (accuracy, pulses, energy)"


def pruning_constant(text: str) -> float | str | None:
    """``--constant``: a weight, ``keep``, or ``mean`` (None: the mean of the weights frozen)."""
    if text in (KEEP, "mean"):
        return None if text == "mean" else text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a weight in [0, 1], 'keep' or 'mean', got {text!r}"
        ) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``neurocbram sweep``."""
    parser.add_argument("--fractions", type=float, nargs="+", default=[0, 0.25, 0.5, 0.75, 0.9],
                        help="pruned fractions in [0, 1) (default 0 0.25 0.5 0.75 0.9)")
    parser.add_argument("--kinds", nargs="+", choices=["soft", "hard"], default=["soft", "hard"])
    parser.add_argument("--hard", choices=HARD_WHEN, default="after",
                        help="hard-prune the trained network (default), during training with "
                             "the soft schedule and criterion, or both")
    parser.add_argument("--hard-fractions", type=float, nargs="+", default=None,
                        help="pruned fractions of hard pruning (default: --fractions)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--neurons", type=int, default=100)
    parser.add_argument("--images", type=int, default=6000, help="training images (default 6000)")
    parser.add_argument("--card", default="cbram-shi2018")
    parser.add_argument("--prune-start", type=float, default=0.5,
                        help="first pruning event, as a fraction of training (default 0.5)")
    parser.add_argument("--prune-end", type=float, default=0.5,
                        help="last pruning event, as a fraction of training (default 0.5)")
    parser.add_argument("--steps", type=int, default=1, help="pruning events (default 1)")
    parser.add_argument("--criterion", choices=CRITERIA, default="lowest")
    parser.add_argument("--scope", choices=["per_neuron", "global"], default="per_neuron")
    parser.add_argument("--constant", type=pruning_constant, default=None, metavar="W",
                        help="weight in [0, 1] of soft-pruned synapses, 'keep' to freeze "
                             "each at its present weight, or 'mean' (default): the mean of the "
                             "weights frozen at each event, per neuron or overall")
    parser.add_argument("--label-images", type=int, default=1000)
    parser.add_argument("--test-images", type=int, default=1000)
    parser.add_argument("--slots", type=int, default=250,
                        help="presentation slots per compiled run (default 250)")
    parser.add_argument("--jobs", type=int, default=2, help="parallel processes (default 2)")
    add_dynamics_arguments(parser)
    parser.add_argument("--out", default="results/sweep")
    parser.add_argument("--mnist", metavar="DIR", help="folder of the MNIST files")


def run(args: argparse.Namespace) -> int:
    """Run the sweep and print a table of the results."""
    from neurocbram.sweep import SweepConfig, run_sweep

    config = SweepConfig(
        fractions=tuple(args.fractions), kinds=tuple(args.kinds), seeds=tuple(args.seeds),
        neurons=args.neurons, images=args.images, card=args.card, prune_start=args.prune_start,
        prune_end=args.prune_end, steps=args.steps, criterion=args.criterion, scope=args.scope,
        constant=args.constant, hard=args.hard,
        hard_fractions=None if args.hard_fractions is None else tuple(args.hard_fractions),
        label_images=args.label_images, test_images=args.test_images,
        jobs=args.jobs, mnist=args.mnist, slots=args.slots,
        integration=args.integration, depression=args.depression,
    )  # fmt: skip
    rows = run_sweep(config, Path(args.out), progress=not getattr(args, "quiet", False))
    print(f"{'kind':>5} {'when':>6} {'fraction':>8} {'seed':>4} {'accuracy':>8} {'pulses after start':>18}")
    for row in rows:
        print(f"{row['kind']:>5} {row['when']:>6} {row['fraction']:>8.2f} {row['seed']:>4} "
              f"{100 * row['accuracy']:>7.1f}% {row['pulses_after_pruning_start']:>18}",
              file=sys.stdout)
    print(f"results in {args.out}")
    return 0
