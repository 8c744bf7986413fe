"""``neurocbram train``: train the Diehl & Cook network on MNIST, label it, test it.

The defaults make a small job (50 neurons, 1000 training images, labelling on
300 and testing on 500 images) that shows learning in about a minute once the
standalone program is compiled (the first run also compiles it, once per
network shape and card). Output folder contents: ``result.json``,
``trained_state.npz`` (:class:`~neurocbram.networks.diehl_cook.TrainedState`),
``checkpoint.npz`` and the figures ``receptive_fields.png``,
``raster_first_images.png``, ``accuracy_vs_images.png``, ``confusion.png``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

__all__ = ["HELP", "add_arguments", "add_dynamics_arguments", "add_schedule_arguments", "run", "main"]

HELP = "train the Diehl & Cook network with memristive synapses on MNIST and test it"


def add_dynamics_arguments(parser: argparse.ArgumentParser) -> None:
    """``--integration`` and ``--depression`` (also used by the benchmarks)."""
    # the choices of neurocbram.neurons.INTEGRATION_METHODS and
    # neurocbram.networks.diehl_cook.DEPRESSION_MODES (not imported: keeps --help fast)
    parser.add_argument("--integration", choices=("exponential_euler", "euler"),
                        default="exponential_euler",
                        help="state updater of the neurons (default exponential_euler; euler as "
                        "the published code: faster, stable with the spike lock)")
    parser.add_argument("--depression", choices=("per_spike", "deferred"), default="per_spike",
                        help="STDP depression at every input spike (default), or summed per "
                        "synapse and applied when the neuron next spikes or its slot ends "
                        "(~1.1x faster at N = 400; soft-pruned networks lost ~1 point more)")


def add_schedule_arguments(parser: argparse.ArgumentParser) -> None:
    """``--rest``, ``--simulate-rest``, ``--carry-over`` and ``--slots`` (also used by the benchmarks)."""
    # DiehlCookParameters().rest and neurocbram.networks.diehl_cook.DEFAULT_SLOTS
    # (not imported: keeps --help fast; tests/test_network.py checks they agree)
    parser.add_argument("--rest", type=float, default=150.0, metavar="MS",
                        help="rest after each presentation, ms (default 150, Diehl & Cook)")
    parser.add_argument("--simulate-rest", action="store_true",
                        help="simulate the rest instead of resetting exactly (slower)")
    parser.add_argument("--carry-over", action="store_true",
                        help="with --simulate-rest: no reset after the rest, the neurons' state "
                             "carries over to the next image (as the published code)")
    parser.add_argument("--slots", type=int, default=250,
                        help="presentation slots per compiled run (default 250)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``neurocbram train``."""
    parser.add_argument("--neurons", type=int, default=50, help="excitatory neurons (default 50)")
    parser.add_argument("--images", type=int, default=1000,
                        help="training images per epoch (default 1000, at most 60000)")
    parser.add_argument("--epochs", type=int, default=1, help="passes over the images (default 1)")
    parser.add_argument("--card", default="cbram-shi2018",
                        help="device card: bundled name or card.json path (default cbram-shi2018)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--out", default="results/train", help="output folder (default results/train)")
    parser.add_argument("--target", choices=["standalone", "runtime", "cython", "numpy"],
                        default="standalone",
                        help="cpp_standalone (default; compiled once and cached) or a runtime "
                             "target for debugging (runtime = cython)")
    parser.add_argument("--checkpoint-every", type=int, default=1000, metavar="K",
                        help="checkpoint every K images (default 1000)")
    parser.add_argument("--resume", action="store_true",
                        help="continue from OUT/checkpoint.npz when it exists")
    parser.add_argument("--label-images", type=int, default=300,
                        help="training images used to label the neurons (default 300)")
    parser.add_argument("--test-images", type=int, default=500,
                        help="test images classified (default 500, at most 10000)")
    add_schedule_arguments(parser)
    add_dynamics_arguments(parser)
    parser.add_argument("--mnist", metavar="DIR", help="folder of the MNIST files")


def _check(args: argparse.Namespace) -> None:
    if args.neurons < 1:
        raise ValueError(f"--neurons must be >= 1, got {args.neurons}")
    if not 1 <= args.images <= 60000:
        raise ValueError(f"--images must lie in 1..60000 (MNIST training set), got {args.images}")
    if args.epochs < 1:
        raise ValueError(f"--epochs must be >= 1, got {args.epochs}")
    if not 1 <= args.label_images <= 60000:
        raise ValueError(f"--label-images must lie in 1..60000, got {args.label_images}")
    if not 1 <= args.test_images <= 10000:
        raise ValueError(f"--test-images must lie in 1..10000, got {args.test_images}")
    if args.checkpoint_every < 1:
        raise ValueError(f"--checkpoint-every must be >= 1, got {args.checkpoint_every}")
    if args.slots < 1:
        raise ValueError(f"--slots must be >= 1, got {args.slots}")
    if args.rest < 0:
        raise ValueError(f"--rest must be >= 0 ms, got {args.rest}")
    if args.carry_over and not args.simulate_rest:
        raise ValueError("--carry-over needs --simulate-rest (the state carries over a simulated rest)")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ValueError(f"cannot create the output folder {out}: {error}") from None


def run(args: argparse.Namespace) -> int:
    """Train, label, test; write result.json and figures into ``--out``."""
    _check(args)
    quiet = bool(getattr(args, "quiet", False))
    import numpy as np
    from brian2 import ms

    from neurocbram.datasets import load_mnist
    from neurocbram.devices import load_card
    from neurocbram.networks.diehl_cook import DiehlCookParameters
    from neurocbram.training import Trainer, evaluate_state

    card = load_card(args.card)
    out = Path(args.out)
    train_x, train_y = load_mnist("train", args.mnist, progress=not quiet)
    test_x, test_y = load_mnist("test", args.mnist, progress=not quiet)
    params = DiehlCookParameters(n_neurons=args.neurons, rest=args.rest * ms,
                                simulate_rest=args.simulate_rest, carry_over=args.carry_over,
                                integration=args.integration, depression=args.depression)
    trainer = Trainer(
        train_x[: args.images], train_y[: args.images], args.images * args.epochs,
        card=card, params=params, seed=args.seed, target=args.target, slots=args.slots,
        checkpoint=out / "checkpoint.npz", checkpoint_every=args.checkpoint_every,
        record_raster=True,
    )  # fmt: skip

    bar = None
    if not quiet:
        from tqdm.auto import tqdm

        print(f"building the network ({args.target}; compiled once per shape and card) ...",
              file=sys.stderr, flush=True)
    start = time.perf_counter()

    def progress(new: int, state) -> None:
        nonlocal bar
        if quiet:
            return
        if bar is None:
            bar = tqdm(total=trainer.n_images, initial=state.position - new, unit="img",
                       desc="train", dynamic_ncols=True)
        bar.update(new)
        bar.set_postfix(retries=state.retries, refresh=False)

    try:
        result = trainer.train(resume=args.resume, progress=progress)
    finally:
        if bar is not None:
            bar.close()
        trainer.close()
    state = result.state
    state.save(out / "trained_state.npz")

    evaluation = evaluate_state(
        state, params, train_x[: args.label_images], train_y[: args.label_images],
        test_x[: args.test_images], test_y[: args.test_images], seed=args.seed,
        progress=not quiet,
    )  # fmt: skip
    total = time.perf_counter() - start

    summary = {
        "network": "diehl_cook",
        "card": card.name,
        "neurons": args.neurons,
        "target": args.target,
        "seed": args.seed,
        "epochs": args.epochs,
        "rest_ms": args.rest,
        "simulate_rest": args.simulate_rest,
        "carry_over": args.carry_over,
        "label_images": args.label_images,
        "test_images": args.test_images,
        "test_accuracy": evaluation["accuracy"],
        "chance": 0.1,
        **result.summary(),
        "total_seconds": round(total, 2),
        "accuracy_vs_images": [[int(n), float(a)] for n, a in result.history],
        "confusion": np.asarray(evaluation["confusion"]).tolist(),
    }
    (out / "result.json").write_text(json.dumps(summary, indent=2) + "\n")
    _figures(out, state, evaluation, result, float(params.slot_duration / ms))
    print(
        f"trained {result.images} images ({result.images_per_second:.1f} img/s, build "
        f"{result.build_seconds:.1f} s{' cached' if result.build_reused else ''}); "
        f"test accuracy {100 * evaluation['accuracy']:.1f}% on {args.test_images} images "
        f"(N={args.neurons}, card {card.name}); results in {out}"
    )
    return 0


def _figures(out: Path, state, evaluation: dict, result, slot_ms: float) -> None:
    """Receptive fields, raster of the first images, accuracy curve, confusion matrix."""
    import numpy as np

    from neurocbram.analysis import figures

    figures.plot_receptive_fields(state.w, out / "receptive_fields.png",
                                  neuron_labels=evaluation["neuron_labels"])
    if result.raster is not None:
        i, t = result.raster
        keep = t * 1e3 < 5 * slot_ms
        figures.plot_raster(i[keep], t[keep] * 1e3, out / "raster_first_images.png",
                            n_neurons=state.n_neurons, time_unit="ms",
                            boundaries=[k * slot_ms for k in range(5)],
                            title="excitatory spikes, first training presentations")
    if result.history:
        seen, accuracy = np.asarray(result.history, dtype=float).T
        figures.plot_accuracy_curve(seen, accuracy, out / "accuracy_vs_images.png",
                                    title="running training accuracy")
    if hasattr(figures, "plot_confusion"):
        figures.plot_confusion(np.asarray(evaluation["confusion"]), out / "confusion.png")


def main(argv: list[str] | None = None) -> int:
    """Run ``neurocbram train`` (used by ``python -m neurocbram.networks.diehl_cook``)."""
    parser = argparse.ArgumentParser(prog="neurocbram train", description=HELP)
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except (FileNotFoundError, ValueError) as error:
        print(f"neurocbram train: error: {error}", file=sys.stderr)
        return 2
