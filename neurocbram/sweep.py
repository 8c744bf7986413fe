"""Pruning sweep: soft-pruning during training versus hard pruning, with the energy ledger.

For every seed the sweep trains

* one **unpruned** network (fraction 0), then hard-prunes its trained state
  at every fraction (conventional pruning after training, no retraining,
  :func:`neurocbram.pruning.prune_trained_state`, lowest weights) -- or, with
  ``hard="during"``, trains one network per fraction with hard-pruning
  events at the same schedule and selection rule as the soft ones
  (``hard="both"``: the two); ``hard_fractions`` may differ from the soft ones;
* one **soft-pruned** network per fraction > 0, frozen by the schedule
  ``PruningSchedule(final_fraction=f, start_image=prune_start * images,
  end_image=prune_end * images, steps=steps)``.

Every configuration is labelled and tested with the frozen-network evaluator
(:func:`neurocbram.training.evaluate_state`) on the same images, and priced
with :func:`neurocbram.energy.price` (training: the counters of the compiled
network; inference: the evaluator's exact counts on the test images).
Training configurations are independent processes (``jobs`` at a time);
each checkpoints into its own folder, so an interrupted sweep resumes. The
worker processes end with the sweep on Linux (:mod:`neurocbram.workers`), so a resumed
sweep is the only writer of those folders.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from neurocbram.workers import worker_pool

if TYPE_CHECKING:
    from neurocbram.networks.diehl_cook import DiehlCookParameters

__all__ = ["SweepConfig", "run_sweep", "train_configuration"]

KINDS = ("soft", "hard")
#: when hard pruning happens: on the trained unpruned network, during training, or both
HARD_WHEN = ("after", "during", "both")


@dataclass(frozen=True)
class SweepConfig:
    """What to sweep (see the module doc). Fractions lie in [0, 1)."""

    fractions: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 0.9)
    kinds: tuple[str, ...] = KINDS
    seeds: tuple[int, ...] = (0,)
    neurons: int = 100
    images: int = 6000
    card: str = "cbram-shi2018"
    #: pruning events between these fractions of training (images), in ``steps`` events
    prune_start: float = 0.5
    prune_end: float = 0.5
    steps: int = 1
    criterion: str = "lowest"
    scope: str = "per_neuron"
    #: weight in [0, 1] given to soft-pruned synapses; None: the mean of those frozen;
    #: "keep": each at its present weight
    constant: float | str | None = None
    #: "after": hard-prune the trained unpruned network; "during": like the soft schedule;
    #: "both"
    hard: str = "after"
    #: fractions of hard pruning (None: ``fractions``)
    hard_fractions: tuple[float, ...] | None = None
    label_images: int = 1000
    test_images: int = 1000
    jobs: int = 2
    slots: int = 250  # DEFAULT_SLOTS of the network (not imported here: lazy imports)
    mnist: str | None = None
    #: the network's state updater and depression mode (see ``DiehlCookParameters``)
    integration: str = "exponential_euler"
    depression: str = "per_spike"

    def __post_init__(self) -> None:
        if not self.fractions:
            raise ValueError("fractions: give at least one pruned fraction")
        for name in ("fractions", "hard_fractions"):
            for f in getattr(self, name) or ():
                if not 0.0 <= f < 1.0:
                    raise ValueError(f"{name} must lie in [0, 1), got {f!r}")
        unknown = sorted(set(self.kinds) - set(KINDS))
        if unknown or not self.kinds:
            raise ValueError(f"kinds must be some of {KINDS}, got {self.kinds!r}")
        if not 0.0 <= self.prune_start <= self.prune_end < 1.0:
            raise ValueError(
                "prune_start and prune_end are fractions of training with "
                f"0 <= prune_start <= prune_end < 1, got {self.prune_start}, {self.prune_end}"
            )
        if self.hard not in HARD_WHEN:
            raise ValueError(f"hard must be one of {HARD_WHEN}, got {self.hard!r}")
        if self.jobs < 1:
            raise ValueError(f"jobs must be >= 1, got {self.jobs}")
        from neurocbram.pruning import PruningSchedule

        PruningSchedule(constant=self.constant)  # checks the constant
        self.params()  # checks integration and depression
        if not 1 <= self.images <= 60000:
            raise ValueError(f"images must lie in 1..60000, got {self.images}")

    def params(self) -> DiehlCookParameters:
        """The network's :class:`~neurocbram.networks.diehl_cook.DiehlCookParameters`."""
        from neurocbram.networks.diehl_cook import DiehlCookParameters

        return DiehlCookParameters(n_neurons=self.neurons, integration=self.integration,
                                   depression=self.depression)

    def fractions_of(self, kind: str) -> tuple[float, ...]:
        """The pruned fractions of ``kind`` ("soft" or "hard")."""
        if kind == "hard" and self.hard_fractions is not None:
            return tuple(self.hard_fractions)
        return tuple(self.fractions)

    def hard_when(self, when: str) -> bool:
        """Does hard pruning happen ``when`` ("after" or "during" training)?"""
        return "hard" in self.kinds and self.hard in (when, "both")

    def schedule(self, fraction: float, kind: str):
        """The pruning schedule of one configuration."""
        from neurocbram.pruning import PruningSchedule

        return PruningSchedule(
            final_fraction=fraction, kind=kind, criterion=self.criterion, scope=self.scope,
            constant=self.constant if kind == "soft" else None,
            start_image=int(self.prune_start * self.images),
            end_image=int(self.prune_end * self.images), steps=self.steps,
        )  # fmt: skip


def _load_data(config: SweepConfig):
    from neurocbram.datasets import load_mnist

    train = load_mnist("train", config.mnist, progress=False)
    test = load_mnist("test", config.mnist, progress=False)
    return train, test


def _evaluate(state, params, config: SweepConfig, data, seed: int) -> dict[str, Any]:
    """Accuracy and the inference ledger of one trained state."""
    from neurocbram.devices import load_card
    from neurocbram.energy import OperationCounts, price
    from neurocbram.training import evaluate_state

    (x, y), (tx, ty) = data
    evaluation = evaluate_state(state, params, x[: config.label_images], y[: config.label_images],
                                tx[: config.test_images], ty[: config.test_images], seed=seed,
                                counts=True)
    inference = evaluation["test_counts"]
    removed = None if state.removed is None else ~np.asarray(state.removed, bool)
    counts = OperationCounts(
        images=inference.images,
        synaptic_reads=inference.synaptic_reads(removed),
        spikes={"inputs": int(inference.input_spikes.sum()),
                "excitatory": inference.excitatory_spikes,
                "inhibitory": inference.inhibitory_spikes},
    )
    report = price(counts, load_card(config.card))
    return {"accuracy": evaluation["accuracy"], "inference_energy": report.to_dict()}


def _folder_name(config: SweepConfig, kind: str, fraction: float, seed: int, pruned: bool) -> str:
    """Checkpoint folder of one configuration: the settings that change its training."""
    if not pruned:
        return f"none-{fraction:g}-seed{seed}"
    tags = ""
    if config.criterion != "lowest":
        tags += f"-{config.criterion}"
    if kind == "soft" and config.constant is not None:
        c = config.constant
        tags += f"-c{c}" if isinstance(c, str) else f"-c{c:g}"
    return f"{kind}-{fraction:g}{tags}-seed{seed}"


def train_configuration(config: SweepConfig, kind: str, fraction: float, seed: int,
                        out: Path) -> list[dict[str, Any]]:
    """Train one configuration (resuming from its checkpoint) and return its table rows."""
    from neurocbram.devices import load_card
    from neurocbram.energy import price
    from neurocbram.pruning import prune_trained_state
    from neurocbram.training import Trainer

    data = _load_data(config)
    (x, y), _ = data
    params = config.params()
    schedule = config.schedule(fraction, kind) if fraction > 0 else None
    folder = out / _folder_name(config, kind, fraction, seed, schedule is not None)
    folder.mkdir(parents=True, exist_ok=True)
    trainer = Trainer(x[: config.images], y[: config.images], config.images, card=config.card,
                      params=params, seed=seed, slots=config.slots, pruning=schedule,
                      checkpoint=folder / "checkpoint.npz")
    try:
        result = trainer.train(resume=True)
    finally:
        trainer.close()
    result.state.save(folder / "trained_state.npz")
    card = load_card(config.card)
    training = price(result.counts, card)
    start = int(config.prune_start * config.images)
    common = {
        "seed": seed,
        "train_images": result.images,
        "set_pulses": result.set_pulses,
        "reset_pulses": result.reset_pulses,
        "skipped_frozen": result.counts.skipped_frozen,
        "pulses_after_pruning_start": result.pulses_between(start),
        "pulses_steady_after_pruning": _steady_pulses(result, config),
        "training_energy": training.to_dict(),
        "state": str(folder / "trained_state.npz"),
    }
    rows = []
    kind_of_row = kind if schedule else "none"
    rows.append({"kind": kind_of_row, "fraction": fraction, "when": "during",
                 "pruned_fraction": result.pruned_fraction,
                 **_evaluate(result.state, params, config, data, seed), **common})
    if schedule is None and config.hard_when("after"):
        for f in config.fractions_of("hard"):
            if f == 0:
                continue
            pruned = prune_trained_state(result.state, f, kind="hard", criterion="lowest",
                                         scope=config.scope)
            rows.append({"kind": "hard", "fraction": f, "when": "after",
                         "pruned_fraction": float(pruned.removed.mean()),
                         **_evaluate(pruned, params, config, data, seed), **common})
    (folder / "rows.json").write_text(json.dumps(rows, indent=1))
    return rows


def _steady_pulses(result, config: SweepConfig) -> int:
    """Pulses from the chunk after the last pruning event to the end (programming excluded)."""
    end = int(config.prune_end * config.images)
    later = [h[0] for h in result.pulse_history if h[0] > end]
    return result.pulses_between(later[1]) if len(later) > 1 else 0


def _job(args: tuple) -> list[dict[str, Any]]:
    config, kind, fraction, seed, out = args
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("NUMBA_NUM_THREADS", "1")
    return train_configuration(config, kind, fraction, seed, Path(out))


def run_sweep(config: SweepConfig, out: str | Path, progress: bool = True) -> list[dict[str, Any]]:
    """Run every configuration (``config.jobs`` processes) and write ``sweep.json`` + figures."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    jobs = []
    for seed in config.seeds:
        jobs.append((config, "none", 0.0, seed, str(out)))
        for kind in config.kinds:
            if kind == "hard" and not config.hard_when("during"):
                continue  # hard pruning after training only evaluates the unpruned run
            jobs.extend((config, kind, f, seed, str(out)) for f in config.fractions_of(kind) if f > 0)
    rows: list[dict[str, Any]] = []
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(jobs), unit="config", desc="sweep")
    with worker_pool(min(config.jobs, len(jobs)), "spawn") as pool:
        for got in pool.map(_job, jobs):
            rows.extend(got)
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    rows.sort(key=lambda r: (r["kind"], r["fraction"], r["seed"]))
    summary = {"config": asdict(config), "rows": rows}
    (out / "sweep.json").write_text(json.dumps(summary, indent=1))
    _figures(rows, out)
    return rows


def _figures(rows: list[dict[str, Any]], out: Path) -> None:
    """Accuracy vs pruned fraction, energy bars, receptive fields and pulse histogram."""
    from neurocbram.analysis import pruning_figures
    from neurocbram.energy import EnergyReport, OperationCounts
    from neurocbram.networks.diehl_cook import TrainedState

    table = []
    hard_when = sorted({r["when"] for r in rows if r["kind"] == "hard"})
    split = len(hard_when) > 1  # one hard curve per "when"
    for row in rows:
        point = {"fraction": row["fraction"], "accuracy": row["accuracy"], "seed": row["seed"]}
        if row["kind"] == "hard":
            table.append({"kind": "hard", **point, **({"when": row["when"]} if split else {})})
            continue
        table.append({"kind": "soft", **point})
        if row["kind"] == "none":  # the unpruned network starts every hard curve
            table.extend({"kind": "hard", **point, **({"when": w} if split else {})} for w in hard_when)
    pruning_figures.plot_accuracy_vs_pruned(
        table, references={"Shi et al. 2018, soft 75%": 0.93},
        path=out / "accuracy_vs_pruned_fraction.png",
    )

    def report(entry: dict[str, Any]) -> EnergyReport:
        counts = OperationCounts(**entry["counts"])
        return EnergyReport(entry["images"], entry["memristive_J"], entry["digital_J"], counts)

    first = {}
    for row in rows:
        if row["when"] == "during" and row["seed"] == rows[0]["seed"]:
            first[f"{row['kind']} {row['fraction']:g}"] = row
    reports = {f"train {name}": report(row["training_energy"]) for name, row in first.items()}
    reports.update({f"infer {name}": report(row["inference_energy"])
                    for name, row in first.items() if name.startswith("none")})
    pruning_figures.plot_energy_bars(reports, path=out / "energy_per_image.png")
    soft = [row for row in first.values() if row["kind"] == "soft"]
    if soft:
        chosen = min(soft, key=lambda r: abs(r["fraction"] - 0.75))
        state = TrainedState.load(chosen["state"])
        pruning_figures.plot_receptive_fields_pruned(
            state.w, state.frozen, state.removed,
            title=f"soft-pruned {chosen['fraction']:.0%}: frozen synapses marked",
            path=out / "receptive_fields_pruned.png",
        )
        pruning_figures.plot_pulse_histogram(state.set_pulses, state.reset_pulses, state.frozen,
                                             path=out / "pulse_histogram.png")
