"""``neurocbram structure``: Small-World pruning and CGaP (rate-coded, NumPy or CuPy) with figures."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from neurocbram.analysis.backend import DEVICES

HELP = "structural pruning: 'small-world' (Krishnan et al. 2019) or 'cgap' (Du et al. 2019), JSON + figures"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``structure small-world|cgap [--model M] [--quick] [--epochs E] [--out DIR] ...``."""
    parser.add_argument("method", choices=("small-world", "cgap"))
    parser.add_argument("--model", choices=("lenet300", "lenet5", "lenet5-caffe", "both"), default=None,
                        help="network (small-world default: both; cgap default: lenet300)")
    parser.add_argument("--quick", action="store_true", help="small subset and short training")
    parser.add_argument("--sparsity", type=float, nargs="+", default=[0.9, 0.97],
                        help="small-world: target weight sparsities in [0, 1)")
    parser.add_argument("--p", type=float, nargs="+", default=[0.0, 0.1, 0.3, 1.0],
                        help="small-world: rewiring probabilities")
    parser.add_argument("--rewire", type=float, default=0.3,
                        help="small-world: fraction of connections rewired every 100 steps, decayed to 0 at "
                             "75%% of the run (RigL); 0 holds the masks fixed")
    parser.add_argument("--epochs", type=float, default=20.0,
                        help="small-world: training epochs of every run (dense, Small-World, magnitude)")
    parser.add_argument("--train-limit", type=int, default=None)
    parser.add_argument("--test-limit", type=int, default=None)
    parser.add_argument("--mnist", type=Path, default=None,
                        help="folder with the MNIST IDX files (default: $NEUROCBRAM_MNIST, then the cache)")
    parser.add_argument("--card", default="cbram-shi2018", help="device card for the crossbar accuracy ('' = none)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=1,
                        help="small-world: training runs in parallel processes (same results; default 1)")
    parser.add_argument("--device", choices=DEVICES, default="cpu",
                        help="small-world: train on the CPU (NumPy) or an NVIDIA GPU (needs CuPy)")
    parser.add_argument("--out", type=Path, default=Path("."), help="folder for the JSON result and figures")


def run(args: argparse.Namespace) -> int:
    """Run the chosen method, print the JSON headline, write ``<method>.json`` and the figures."""
    import os

    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from neurocbram.analysis.structure_figures import write_figures

    card = args.card or None
    if card:
        from neurocbram.devices import load_card

        load_card(card)  # unknown card: a clear error before any training
    if args.method == "small-world":
        from neurocbram.analysis.mlp import mnist_arrays
        from neurocbram.analysis.small_world import Rewiring, check_sparsity, compare_pruning

        for s in args.sparsity:
            check_sparsity(s)
        # a bad fraction fails here, before any training
        rewiring = Rewiring(args.rewire, every=20 if args.quick else 100) if args.rewire else None
        if args.jobs < 1:
            raise ValueError(f"--jobs must be >= 1, got {args.jobs}")
        train_limit, test_limit, epochs, val_size = args.train_limit, args.test_limit, args.epochs, 5000
        if args.quick:
            train_limit, test_limit, epochs, val_size = train_limit or 5000, test_limit or 2000, 2.0, 1000
        x, y = mnist_arrays("train", folder=args.mnist, limit=train_limit)
        xt, yt = mnist_arrays("test", folder=args.mnist, limit=test_limit)
        models = ("lenet300", "lenet5") if args.model in (None, "both") else (args.model,)
        result: dict = {"benchmark": "small_world"}
        for m in models:
            result[m] = compare_pruning(m, (x, y, xt, yt), sparsities=args.sparsity, ps=args.p, epochs=epochs,
                                        val_size=val_size, card=card, seed=args.seed, jobs=args.jobs,
                                        device=args.device, rewiring=rewiring,
                                        log=None if args.quiet else print)
    else:
        from neurocbram.analysis.cgap import run_cgap_experiment

        arch = "lenet300" if args.model in (None, "both") else args.model
        kw = dict(max_growth_steps=600, grow_every=100, prune_every=50, final_steps=100) if args.quick else {}
        result = {"benchmark": "cgap"} | run_cgap_experiment(
            arch, train_limit=args.train_limit or (10000 if args.quick else None),
            test_limit=args.test_limit or (2000 if args.quick else None), mnist=args.mnist, card=card,
            seed=args.seed,
            log=None if args.quiet else print, **kw)
        for name in ("mnist", "harder"):
            result[name].pop("config", None)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"{args.method}.json"
    path.write_text(json.dumps(result))
    figures = write_figures(result, args.out)
    print(json.dumps({"result": str(path), "figures": [str(f) for f in figures]}))
    return 0
