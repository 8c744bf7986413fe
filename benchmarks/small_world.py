"""Small-World pruning (Krishnan et al., arXiv:1911.04453) vs magnitude pruning (Han et al. 2015).

Prints one JSON object: dense baseline, Small-World accuracy / L / C per
rewiring probability, magnitude pruning at the same per-layer densities,
crossbar tiles (64x64, 128x128, differential pairs) and accuracy on a device card.

    python benchmarks/small_world.py --quick          # small subset, ~1-2 min
    python benchmarks/small_world.py --model lenet5 --epochs 10 --train-limit 60000
"""

from __future__ import annotations

import os

for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")  # one BLAS thread: much faster on a shared machine

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("lenet300", "lenet5", "lenet5-caffe", "both"), default="both")
    parser.add_argument("--sparsity", type=float, nargs="+", default=[0.9, 0.97])
    parser.add_argument("--p", type=float, nargs="+", default=[0.0, 0.1, 1.0])
    parser.add_argument("--epochs", type=float, default=5.0)
    parser.add_argument("--finetune-epochs", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--train-limit", type=int, default=None)
    parser.add_argument("--test-limit", type=int, default=None)
    parser.add_argument("--mnist", type=Path, default=None,
                        help="folder with the MNIST IDX files (default: $NEUROCBRAM_MNIST, then the cache)")
    parser.add_argument("--card", default="cbram-shi2018")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="also write the result here")
    parser.add_argument("--quick", action="store_true", help="5000 train / 2000 test, 1 epoch")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.train_limit, args.test_limit = args.train_limit or 5000, args.test_limit or 2000
        args.epochs, args.finetune_epochs, args.rounds = 1.0, 0.5, 1

    from neurocbram.analysis.mlp import mnist_arrays
    from neurocbram.analysis.small_world import compare_pruning

    x, y = mnist_arrays("train", folder=args.mnist, limit=args.train_limit)
    xt, yt = mnist_arrays("test", folder=args.mnist, limit=args.test_limit)
    log = (lambda s: print(s, file=sys.stderr, flush=True)) if args.verbose else None
    models = ("lenet300", "lenet5") if args.model == "both" else (args.model,)
    result = {"benchmark": "small_world", "reference": {
        "paper": "Krishnan, Du & Cao, arXiv:1911.04453 (2019)",
        "lenet5_mnist": {"kept_params": 0.023, "accuracy": 0.9918, "dense_accuracy": 0.9929}}}
    for m in models:
        result[m] = compare_pruning(m, (x, y, xt, yt), sparsities=args.sparsity, ps=args.p,
                                    epochs=args.epochs, finetune_epochs=args.finetune_epochs,
                                    rounds=args.rounds, card=args.card or None, seed=args.seed, log=log)
    text = json.dumps(result)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
