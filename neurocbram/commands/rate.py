"""``neurocbram rate rsa|activity-difference``: the rate-coded crossbar experiments.

Each writes ``<out>/<experiment>.json`` and its figures into ``--out`` and
prints a one-line JSON summary.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

__all__ = ["HELP", "add_arguments", "run"]

HELP = "rate-coded crossbar experiments: random sparse adaptation, activity-difference training"


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must lie in [0, 1], got {text}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``rsa`` and ``activity-difference`` sub-commands to ``parser``."""
    sub = parser.add_subparsers(dest="experiment", metavar="EXPERIMENT", required=True)

    rsa = sub.add_parser("rsa", help="RSA vs read-verify-write on a faulty array (LeNet-300-100, MNIST)")
    rsa.add_argument("--out", type=Path, default=Path("results/rate"), help="output folder")
    rsa.add_argument("--card", default=None, help="device card (default: cbram-shi2018)")
    rsa.add_argument("--levels", type=int, default=32, help="conductance levels per device")
    rsa.add_argument("--stuck-on", type=_fraction, default=None, help="stuck-on (SA1) rate (default 0.0904)")
    rsa.add_argument("--stuck-off", type=_fraction, default=None, help="stuck-off (SA0) rate (default 0.0175)")
    rsa.add_argument("--write-sigma", type=float, default=0.1, help="lognormal write variation (std of ln G)")
    rsa.add_argument("--fraction", type=_fraction, default=0.05, help="fraction of weights given RSA cells")
    rsa.add_argument("--steps", type=int, default=None, help="RSA adaptation steps (minibatches of 100)")
    rsa.add_argument("--epochs", type=int, default=None, help="float training epochs")
    rsa.add_argument("--seed", type=int, default=0)
    rsa.add_argument("--quick", action="store_true", help="small run (10k train / 2k test images)")

    ad = sub.add_parser("activity-difference", help="activity-difference training: Braille names, MNIST")
    ad.add_argument("--out", type=Path, default=Path("results/rate"), help="output folder")
    ad.add_argument("--task", choices=("braille", "mnist", "both"), default="both")
    ad.add_argument("--cards", nargs="*", default=["cbram-shi2018"], help="device cards for on-card runs")
    ad.add_argument("--steps", type=int, default=None, help="Braille training steps (batches of 32)")
    ad.add_argument("--trials", type=int, default=None, help="Braille test copies per name and distortion")
    ad.add_argument("--epochs", type=int, default=None, help="MNIST float epochs")
    ad.add_argument("--device-epochs", type=int, default=None, help="MNIST epochs on each card")
    ad.add_argument("--device-limit", type=int, default=None, help="MNIST training images on cards")
    ad.add_argument("--seed", type=int, default=0)
    ad.add_argument("--quick", action="store_true", help="small run (minutes)")


def _log(args: argparse.Namespace) -> Callable[[str], None]:
    quiet = getattr(args, "quiet", False)
    return (lambda message: None) if quiet else (lambda message: print(message, file=sys.stderr, flush=True))


def _write(out: Path, name: str, result: dict) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.json"
    path.write_text(json.dumps(result, indent=1, default=float) + "\n")
    return path


def _run_rsa(args) -> int:
    from neurocbram.analysis import rate_figures
    from neurocbram.analysis.rsa import RSAConfig, run_rsa
    from neurocbram.devices import load_card

    config = RSAConfig(levels=args.levels, write_sigma=args.write_sigma, rsa_fraction=args.fraction, seed=args.seed)
    if args.stuck_on is not None:
        config.stuck_on_rate = args.stuck_on
    if args.stuck_off is not None:
        config.stuck_off_rate = args.stuck_off
    if args.quick:
        config.train_limit, config.test_limit, config.train_epochs, config.rsa_steps = 10000, 2000, 2, 300
        config.eval_every = 50
    if args.steps is not None:
        config.rsa_steps = args.steps
    if args.epochs is not None:
        config.train_epochs = args.epochs
    card = load_card(args.card) if args.card else None
    result = run_rsa(config, card=card, log=_log(args))
    path = _write(args.out, "rsa", result)
    figure = rate_figures.rsa_recovery(result, args.out / "rsa_recovery_accuracy_vs_steps.png")
    print(json.dumps({"result": str(path), "figure": str(figure), "accuracy": result["accuracy"],
                      "rvw_pulses": result["rvw"]["pulses"], "rsa_sram_updates": result["rsa"]["sram_cell_updates"],
                      "ratios": result["ratios"]}))
    return 0


def _run_ad(args) -> int:
    from neurocbram.analysis import rate_figures
    from neurocbram.analysis.activity_difference import BrailleConfig, MnistADConfig, run_braille, run_mnist_ad
    from neurocbram.devices import load_card

    for name in args.cards:  # fail early, naming the unknown card
        load_card(name)
    summary: dict = {}
    if args.task in ("braille", "both"):
        config = BrailleConfig(cards=tuple(args.cards), seed=args.seed)
        if args.quick:
            config.steps, config.trials = 1000, 20
        if args.steps is not None:
            config.steps = args.steps
        if args.trials is not None:
            config.trials = args.trials
        result = run_braille(config, log=_log(args))
        summary["braille"] = {"result": str(_write(args.out, "braille", result)),
                              "accuracy": {k: v["accuracy"] for k, v in result["methods"].items()}}
        rate_figures.braille_accuracy_vs_distortion(result, args.out / "braille_accuracy_vs_distortion.png")
        rate_figures.braille_patterns(result, args.out / "braille_patterns_distorted_reconstructed.png")
    if args.task in ("mnist", "both"):
        config = MnistADConfig(cards=tuple(args.cards), seed=args.seed)
        if args.quick:
            config.epochs, config.train_limit, config.test_limit = 1, 5000, 1000
            config.device_limit = 2000
        for field in ("epochs", "device_epochs", "device_limit"):
            if getattr(args, field) is not None:
                setattr(config, field, getattr(args, field))
        result = run_mnist_ad(config, log=_log(args))
        summary["mnist"] = {"result": str(_write(args.out, "mnist_activity_difference", result)),
                            "test_accuracy": {k: v["test_accuracy"] for k, v in result["runs"].items()}}
        rate_figures.mnist_activity_difference_curves(result, args.out / "mnist_activity_difference_accuracy.png")
    print(json.dumps(summary))
    return 0


def run(args: argparse.Namespace) -> int:
    """Run the chosen experiment; returns the exit status."""
    if args.experiment == "rsa":
        return _run_rsa(args)
    return _run_ad(args)
