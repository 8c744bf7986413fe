"""Continuous Growth and Pruning (Du et al., arXiv:1905.11533) on MNIST and a harder MNIST.

Growth stops by a data-driven rule (the saliency of candidate units falls
below a fraction of its largest value), so the peak widths depend on the data.
Prints one JSON object: per dataset the seed / peak / final widths, accuracy
vs the fixed-width baseline trained for the same number of steps, parameter
and FLOP reductions, the width history, crossbar tiles before/after and the
accuracy on a device card.

    python benchmarks/cgap.py --quick
    python benchmarks/cgap.py --arch lenet5 --train-limit 60000
"""

from __future__ import annotations

import os

for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")  # one BLAS thread: much faster on a shared machine

import argparse  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from _json_output import emit  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", choices=("lenet300", "lenet5"), default="lenet300")
    parser.add_argument("--datasets", nargs="+", choices=("mnist", "harder"), default=["mnist", "harder"])
    parser.add_argument("--seed-fraction", type=float, default=0.05,
                        help="seed width as a fraction of the baseline width (at least 1 unit)")
    parser.add_argument("--max-growth-steps", type=int, default=6000)
    parser.add_argument("--grow-every", type=int, default=300)
    parser.add_argument("--prune-every", type=int, default=200)
    parser.add_argument("--final-steps", type=int, default=3000)
    parser.add_argument("--growth-threshold", type=float, default=0.05,
                        help="a layer stops growing when its candidates' saliency falls below this "
                             "fraction of the largest seen (twice in a row)")
    parser.add_argument("--cap-factor", type=float, default=2.0,
                        help="safety cap on widths, as a multiple of the baseline widths")
    parser.add_argument("--tolerance", type=float, default=0.001,
                        help="allowed validation-accuracy drop below the best seen while pruning")
    parser.add_argument("--no-retry", action="store_true",
                        help="stop pruning at the first rejected step (no retry with a halved fraction)")
    parser.add_argument("--train-limit", type=int, default=None)
    parser.add_argument("--test-limit", type=int, default=None)
    parser.add_argument("--mnist", type=Path, default=None,
                        help="folder with the MNIST IDX files (default: $NEUROCBRAM_MNIST, then the cache)")
    parser.add_argument("--card", default="cbram-shi2018")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--quick", action="store_true", help="10000 train / 2000 test, short phases")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.train_limit, args.test_limit = args.train_limit or 10000, args.test_limit or 2000
        args.max_growth_steps, args.grow_every, args.prune_every, args.final_steps = 600, 100, 50, 100

    from neurocbram.analysis.cgap import run_cgap_experiment

    log = (lambda s: print(s, file=sys.stderr, flush=True)) if args.verbose else None
    result = run_cgap_experiment(
        args.arch, datasets=args.datasets, seed_fraction=args.seed_fraction,
        max_growth_steps=args.max_growth_steps, grow_every=args.grow_every,
        prune_every=args.prune_every, final_steps=args.final_steps, tolerance=args.tolerance,
        retry_smaller=not args.no_retry, growth_threshold=args.growth_threshold, cap_factor=args.cap_factor,
        train_limit=args.train_limit, test_limit=args.test_limit, mnist=args.mnist, card=args.card or None,
        seed=args.seed, log=log)
    result = {"benchmark": "cgap", "reference": {
        "paper": "Du, Li & Cao, arXiv:1905.11533 (2019)",
        "vgg19_cifar100": {"param_reduction": 0.789, "flop_reduction": 0.532},
        "resnet110_cifar10": {"param_reduction": 0.640, "flop_reduction": 0.633}}} | result
    return emit(result, args.json)


if __name__ == "__main__":
    sys.exit(main())
