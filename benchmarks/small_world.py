"""Small-World pruning (Krishnan et al., arXiv:1911.04453) vs magnitude pruning (Han et al. 2015).

Prints one JSON object: dense baseline, Small-World accuracy / L / C per
rewiring probability (trained sparse from the start, its connections moved
at fixed density while training; --rewire 0 holds them), gradual magnitude pruning
at the same per-layer densities, all with the same number of epochs (Adam,
cosine learning-rate decay); the last 5000 training images are a validation
split (picks the best p), the test set is only reported. Also crossbar tiles
(64x64, 128x128, differential pairs) and accuracy on a device card.

    python benchmarks/small_world.py --quick          # small subset, ~1 min
    python benchmarks/small_world.py --model lenet300 --epochs 20 --sparsity 0.9 0.97
    python benchmarks/small_world.py --model lenet300 --epochs 20 --sparsity 0.97 --p 0.3 --seed 0 1 2 3
    python benchmarks/small_world.py --model lenet5-caffe --epochs 8 --sparsity 0.977 --p 0.1
    python benchmarks/small_world.py --model lenet5-caffe --epochs 24 --sparsity 0.977 --jobs 2
    python benchmarks/small_world.py --model lenet5-caffe --epochs 24 --sparsity 0.977 --p 0.3 --rewire 0
    python benchmarks/small_world.py --model lenet5-caffe --epochs 24 --sparsity 0.977 --device cuda
"""

from __future__ import annotations

import os

for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")  # one BLAS thread: much faster on a shared machine

import argparse  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from _json_output import emit  # noqa: E402

from neurocbram.analysis.backend import DEVICES  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("lenet300", "lenet5", "lenet5-caffe", "both"), default="both")
    parser.add_argument("--sparsity", type=float, nargs="+", default=[0.9, 0.97])
    parser.add_argument("--p", type=float, nargs="+", default=[0.0, 0.1, 0.3, 1.0])
    parser.add_argument("--epochs", type=float, default=20.0, help="training epochs of every run")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam rate, dense and magnitude pruning")
    parser.add_argument("--sparse-lr", type=float, default=3e-3, help="Adam rate, Small-World")
    parser.add_argument("--rewire", type=float, default=0.3,
                        help="Small-World: fraction of connections rewired every 100 steps, decayed to 0 at "
                             "75%% of the run (RigL); 0 holds the masks fixed")
    parser.add_argument("--allocation", choices=("er", "erk", "uniform"), default="er",
                        help="per-layer densities (er: Erdos-Renyi on unit shapes)")
    parser.add_argument("--val-size", type=int, default=5000, help="training images held out for choices")
    parser.add_argument("--train-limit", type=int, default=None)
    parser.add_argument("--test-limit", type=int, default=None)
    parser.add_argument("--mnist", type=Path, default=None,
                        help="folder with the MNIST IDX files (default: $NEUROCBRAM_MNIST, then the cache)")
    parser.add_argument("--card", default="cbram-shi2018")
    parser.add_argument("--seed", type=int, nargs="+", default=[0],
                        help="one or more seeds; with several, each model's result holds one run per "
                             "seed and their means (dense, Small-World, magnitude, gaps to dense)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="training runs in parallel processes (same results; default 1)")
    parser.add_argument("--device", choices=DEVICES, default="cpu",
                        help="train on the CPU (NumPy) or an NVIDIA GPU (needs CuPy)")
    parser.add_argument("--json", type=Path, default=None, help="also write the result here")
    parser.add_argument("--quick", action="store_true",
                        help="5000 train / 2000 test, 2 epochs, rewiring every 20 steps")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.train_limit, args.test_limit = args.train_limit or 5000, args.test_limit or 2000
        args.epochs, args.val_size = 2.0, 1000

    from neurocbram.analysis.mlp import mnist_arrays
    from neurocbram.analysis.small_world import Rewiring, compare_pruning, seed_summary

    x, y = mnist_arrays("train", folder=args.mnist, limit=args.train_limit)
    xt, yt = mnist_arrays("test", folder=args.mnist, limit=args.test_limit)
    log = (lambda s: print(s, file=sys.stderr, flush=True)) if args.verbose else None
    rewiring = Rewiring(args.rewire, every=20 if args.quick else 100) if args.rewire else None
    models = ("lenet300", "lenet5-caffe") if args.model == "both" else (args.model,)
    result = {"benchmark": "small_world", "reference": {
        "paper": "Krishnan, Du & Cao, arXiv:1911.04453 (2019)",
        "lenet5_mnist": {"kept_params": 0.023, "accuracy": 0.9918, "dense_accuracy": 0.9929},
        "magnitude": "Han et al., NeurIPS 2015 (train, prune, fine-tune); here gradual with a cubic "
                     "schedule (Zhu & Gupta, arXiv:1710.01878) inside the same epoch budget"}}
    if len(set(args.seed)) != len(args.seed):
        parser.error(f"--seed: each seed once, got {args.seed}")
    for m in models:
        per_seed = [compare_pruning(m, (x, y, xt, yt), sparsities=args.sparsity, ps=args.p,
                                    epochs=args.epochs, lr=args.lr, sparse_lr=args.sparse_lr,
                                    allocation=args.allocation, val_size=args.val_size,
                                    card=args.card or None, seed=seed, jobs=args.jobs,
                                    device=args.device, rewiring=rewiring, log=log)
                    for seed in args.seed]
        result[m] = per_seed[0] if len(per_seed) == 1 else {"per_seed": per_seed,
                                                             "summary": seed_summary(per_seed)}
    return emit(result, args.json)


if __name__ == "__main__":
    sys.exit(main())
