"""``neurocbram evaluate``: label a trained network and measure its test accuracy."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

__all__ = ["HELP", "add_arguments", "run"]

HELP = "label the neurons of a trained state (trained_state.npz) and classify MNIST test images"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``neurocbram evaluate``."""
    parser.add_argument("state", help="trained_state.npz written by `neurocbram train`, or its folder")
    parser.add_argument("--label-images", type=int, default=1000,
                        help="training images used to label the neurons (default 1000)")
    parser.add_argument("--test-images", type=int, default=10000,
                        help="test images classified (default 10000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the input spike trains")
    parser.add_argument("--mnist", metavar="DIR", help="folder of the MNIST files")
    parser.add_argument("--integration", choices=("exponential_euler", "euler"),
                        default="exponential_euler",
                        help="state updater of the neurons (as in training; default exponential_euler)")
    parser.add_argument("--out", help="write the result as JSON to this file")


def run(args: argparse.Namespace) -> int:
    """Print the accuracy; returns 0."""
    if not 1 <= args.label_images <= 60000:
        raise ValueError(f"--label-images must lie in 1..60000, got {args.label_images}")
    if not 1 <= args.test_images <= 10000:
        raise ValueError(f"--test-images must lie in 1..10000, got {args.test_images}")
    path = Path(args.state)
    if path.is_dir():
        path = path / "trained_state.npz"
    if not path.exists():
        raise FileNotFoundError(f"trained state {path} does not exist")
    quiet = bool(getattr(args, "quiet", False))

    from neurocbram.datasets import load_mnist
    from neurocbram.networks.diehl_cook import DiehlCookParameters, TrainedState
    from neurocbram.training import evaluate_state

    state = TrainedState.load(path)
    params = DiehlCookParameters(n_neurons=state.n_neurons, integration=args.integration)
    train_x, train_y = load_mnist("train", args.mnist, progress=not quiet)
    test_x, test_y = load_mnist("test", args.mnist, progress=not quiet)
    result = evaluate_state(
        state, params, train_x[: args.label_images], train_y[: args.label_images],
        test_x[: args.test_images], test_y[: args.test_images], seed=args.seed,
        progress=not quiet,
    )  # fmt: skip
    summary = {
        "state": str(path),
        "card": state.card,
        "neurons": state.n_neurons,
        "images_seen": state.images_seen,
        "label_images": args.label_images,
        "test_images": args.test_images,
        "test_accuracy": result["accuracy"],
    }
    if args.out:
        Path(args.out).write_text(json.dumps(summary, indent=2) + "\n")
    print(f"test accuracy {100 * result['accuracy']:.1f}% on {args.test_images} images "
          f"(N={state.n_neurons}, {state.images_seen} training images, card {state.card})",
          file=sys.stdout)
    return 0
