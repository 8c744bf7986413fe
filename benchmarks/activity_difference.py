"""Benchmark: activity-difference training (Braille names, MNIST one hidden layer).

Prints one JSON object with exact-name reconstruction accuracy per method and
distortion, and MNIST test accuracy with float weights and on each card.
``--quick``: 1,000 Braille steps, MNIST 1 epoch on 5k images (cards: 2k).
"""

from __future__ import annotations

import argparse
import json
import time

from neurocbram.analysis.activity_difference import BrailleConfig, MnistADConfig, run_braille, run_mnist_ad


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--cards", nargs="*", default=["cbram-shi2018"])
    parser.add_argument("--task", choices=("braille", "mnist", "both"), default="both")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--device-epochs", type=int, default=None)
    args = parser.parse_args()
    t0 = time.perf_counter()
    out: dict = {"benchmark": "activity_difference", "quick": args.quick}
    if args.task in ("braille", "both"):
        config = BrailleConfig(cards=tuple(args.cards))
        if args.quick:
            config.steps, config.trials = 1000, 20
        result = run_braille(config)
        out["braille_exact_accuracy"] = {k: v["accuracy"] for k, v in result["methods"].items()}
        out["braille_steps"] = config.steps
    if args.task in ("mnist", "both"):
        config = MnistADConfig(cards=tuple(args.cards))
        if args.quick:
            config.epochs, config.train_limit, config.test_limit, config.device_limit = 1, 5000, 1000, 2000
        if args.epochs is not None:
            config.epochs = args.epochs
        if args.device_epochs is not None:
            config.device_epochs = args.device_epochs
        result = run_mnist_ad(config)
        out["mnist_test_accuracy"] = {k: v["test_accuracy"] for k, v in result["runs"].items()}
        out["mnist_epochs"] = {k: v["epochs"] for k, v in result["runs"].items()}
    out["wall_s"] = time.perf_counter() - t0
    print(json.dumps(out))


if __name__ == "__main__":
    main()
