"""Training driver of the Diehl & Cook network: chunks, checkpoints, resume.

Training presents a stream of ``n_images`` images (the training set in order,
repeated for several epochs) in *chunks* of ``slots`` presentation slots
(:class:`neurocbram.networks.diehl_cook.DiehlCookNetwork`). One chunk is one
run of the network: in ``cpp_standalone`` (default) one execution of the
program compiled once (:class:`neurocbram.standalone.StandaloneProgram`),
with the chunk's images, the conductances ``G``, the thresholds ``theta``,
the pulse counters, the starting intensity and a seed as ``run_args``; in
runtime mode (``target="cython"`` or ``"numpy"``, for debugging) the same
objects run in Python. Everything that changes between chunks lives in
:class:`TrainingState`, which is checkpointed atomically.

Reproducibility: the initial weights and the devices are drawn from
``seed``; chunk ``k`` runs with the seed ``SeedSequence([seed, k])``. Chunks
start from the exact resting state, so a run resumed from a checkpoint
continues exactly as the uninterrupted run (standalone: bit for bit). The
runtime targets use NumPy's generator instead of the standalone one, so they
agree with standalone statistically, not spike for spike.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from brian2 import Hz, second, siemens, volt

from neurocbram.analysis import labelling
from neurocbram.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from neurocbram.checks import check_count
from neurocbram.devices import DeviceCard, load_card
from neurocbram.devices.pulses import STUCK_NONE, sample_population
from neurocbram.energy import OperationCounts
from neurocbram.networks.diehl_cook import (
    DEFAULT_SLOTS,
    N_INPUTS,
    DiehlCookNetwork,
    DiehlCookParameters,
    TrainedState,
    network_key,
)
from neurocbram.pruning import HISTORY_CRITERIA, PruningSchedule, prune
from neurocbram.synapse_functions import pulses_to_target

__all__ = [
    "TARGETS",
    "TrainingState",
    "TrainingResult",
    "Trainer",
    "chunk_seed",
    "evaluate_state",
]

#: code-generation targets accepted by :class:`Trainer` ("runtime" = "cython")
TARGETS = ("standalone", "runtime", "cython", "numpy")

#: images per block of the running accuracy (labels from the previous block)
HISTORY_BLOCK = 250


def chunk_seed(seed: int, chunk: int) -> int:
    """Seed (31 bits) of chunk ``chunk`` of a run with seed ``seed`` (negative: evaluation)."""
    sequence = np.random.SeedSequence([int(seed), int(chunk) + 2**20])
    return int(sequence.generate_state(1)[0] & 0x7FFFFFFF)


def evaluate_state(
    state: TrainedState,
    params: DiehlCookParameters,
    label_images: np.ndarray,
    label_labels: np.ndarray,
    test_images: np.ndarray,
    test_labels: np.ndarray,
    *,
    seed: int = 0,
    progress: bool = False,
    counts: bool = False,
) -> dict[str, Any]:
    """Label the neurons on ``label_images`` and classify ``test_images`` (frozen weights).

    Responses come from :func:`neurocbram.evaluation.evaluate_responses` with
    the effective weights ``w * gain``, the learnt ``theta`` and the
    presentation protocol of ``params`` (retries included).

    Returns
    -------
    dict
        ``accuracy`` (fraction), ``neuron_labels`` (N,), ``predictions``,
        ``confusion`` (10 x 10, rows true class), ``label_responses``,
        ``test_responses``; with ``counts``, also ``label_counts`` and
        ``test_counts`` (:class:`neurocbram.evaluation.InferenceCounts`, exact
        operation counts of the presentations simulated, retries included).
    """
    from neurocbram.evaluation import evaluate_responses

    weights = state.w * state.gain[None, :]
    common = dict(
        dt=params.dt,
        duration=params.presentation,
        max_rate=params.unit_rate * params.intensity_start,
        intensity=1.0,
        intensity_step=params.intensity_step / params.intensity_start,
        min_spikes=params.min_spikes,
        max_retries=params.max_retries,
        excitatory=params.excitatory,
        inhibitory=params.inhibitory,
        w_exc_inh=params.exc_to_inh,
        w_inh_exc=params.inh_to_exc,
        integration=params.integration,
        progress=progress,
    )
    seeds = (chunk_seed(seed, -1), chunk_seed(seed, -2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        label_out = evaluate_responses(
            weights, state.theta_mV * 1e-3, label_images, seed=seeds[0], counts=counts, **common
        )
        test_out = evaluate_responses(
            weights, state.theta_mV * 1e-3, test_images, seed=seeds[1], counts=counts, **common
        )
    label_responses, test_responses = label_out[0], test_out[0]
    neuron_labels = labelling.assign_labels(label_responses, label_labels)
    predictions = labelling.predict(test_responses, neuron_labels)
    result = {
        "accuracy": float(labelling.accuracy(predictions, test_labels)),
        "neuron_labels": neuron_labels,
        "predictions": predictions,
        "confusion": labelling.confusion_matrix(predictions, test_labels),
        "label_responses": label_responses,
        "test_responses": test_responses,
    }
    if counts:
        result.update(label_counts=label_out[2], test_counts=test_out[2])
    return result


@dataclass
class TrainingState:
    """Everything that changes between chunks (the checkpoint).

    Per-synapse arrays have ``784*N`` entries in Brian2's order of
    ``connect()`` (synapse ``k`` from pixel ``k // N`` to neuron ``k % N``).
    """

    G: np.ndarray                 # siemens
    set_scale: np.ndarray
    reset_scale: np.ndarray
    stuck: np.ndarray
    set_pulses: np.ndarray
    reset_pulses: np.ndarray
    theta: np.ndarray             # volt, (N,)
    frozen: np.ndarray | None = None          # bool: pruned (soft or hard), no more pulses
    removed: np.ndarray | None = None         # bool: hard-pruned (weight 0, not read)
    frozen_skipped: np.ndarray | None = None  # pulses not issued because frozen
    snapshot_G: np.ndarray | None = None      # conductances for criteria "stable"/"settled"
    snapshot_pulses: np.ndarray | None = None  # SET + RESET pulses at that time ("settled")
    #: int (N,): 1 where a neuron's weights moved since its last normalisation
    weights_changed: np.ndarray | None = None
    position: int = 0             # images of the stream accepted so far
    intensity: float = 2.0        # intensity of the next presentation
    chunk: int = 0                # chunks run so far
    presentations: int = 0
    retries: int = 0
    spikes: int = 0
    block_responses: np.ndarray | None = None   # responses of the current history block
    block_labels: np.ndarray | None = None
    previous_labels: np.ndarray | None = None   # neuron labels from the previous block
    history: list[tuple[int, float]] = field(default_factory=list)
    pruning_events_done: int = 0
    #: exact operation counts so far (see :meth:`Trainer.counts`)
    ledger: dict[str, int] = field(default_factory=dict)
    #: (images accepted, SET pulses, RESET pulses) cumulated after every chunk
    pulse_history: list[tuple[int, int, int]] = field(default_factory=list)

    HEADER = ("position", "intensity", "chunk", "presentations", "retries", "spikes", "history",
              "pruning_events_done", "ledger", "pulse_history")
    ARRAYS = ("G", "set_scale", "reset_scale", "stuck", "set_pulses", "reset_pulses", "theta",
              "frozen", "removed", "frozen_skipped", "snapshot_G", "snapshot_pulses", "weights_changed",
              "block_responses", "block_labels", "previous_labels")

    def save(self, path: Path, meta: dict[str, Any]) -> Path:
        header = {name: getattr(self, name) for name in self.HEADER}
        header["meta"] = meta
        arrays = {name: getattr(self, name) for name in self.ARRAYS
                  if getattr(self, name) is not None}
        return save_checkpoint(path, header, arrays)

    @classmethod
    def load(cls, path: Path, meta: dict[str, Any]) -> TrainingState:
        header, arrays = load_checkpoint(path)
        saved = header.pop("meta", {})
        differ = sorted(k for k in set(meta) | set(saved) if meta.get(k) != saved.get(k))
        if differ:
            raise CheckpointError(
                f"checkpoint {path} belongs to a different run (differs in: {', '.join(differ)})"
            )
        for name in ("history", "pulse_history"):
            header[name] = [tuple(entry) for entry in header.get(name, [])]
        state = cls(**{name: arrays.get(name) for name in cls.ARRAYS}, **header)
        if state.weights_changed is None:  # checkpoints written before the flag existed
            state.weights_changed = np.ones(len(state.theta), dtype=np.int32)
        return state


@dataclass
class TrainingResult:
    """Outcome of :meth:`Trainer.train`."""

    state: TrainedState
    images: int
    presentations: int
    retries: int
    spikes: int
    set_pulses: int
    reset_pulses: int
    train_seconds: float            # wall time of the chunks run in this call
    build_seconds: float
    images_per_second: float        # images accepted per wall second (this call)
    build_reused: bool
    history: list[tuple[int, float]]
    raster: tuple[np.ndarray, np.ndarray] | None = None   # (i, t in s) of the first chunk
    counts: OperationCounts | None = None     # exact operation counts of the whole run
    pulse_history: list[tuple[int, int, int]] = field(default_factory=list)
    pruned_fraction: float = 0.0              # fraction of synapses frozen (soft or hard)

    def pulses_between(self, start: int, stop: int | None = None) -> int:
        """SET + RESET pulses applied between ``start`` and ``stop`` images (chunk resolution).

        Uses the cumulative counts after each chunk: from the last chunk that
        ended at or before ``start`` to the first that ended at or after ``stop``.
        """
        points = [(0, 0, 0), *self.pulse_history]
        before = max((p for p in points if p[0] <= start), key=lambda p: p[0])
        stop = points[-1][0] if stop is None else stop
        after = min((p for p in points if p[0] >= stop), key=lambda p: p[0], default=points[-1])
        return int(after[1] + after[2] - before[1] - before[2])

    def summary(self) -> dict[str, Any]:
        return {
            "images": self.images,
            "presentations": self.presentations,
            "retries": self.retries,
            "excitatory_spikes": self.spikes,
            "set_pulses": self.set_pulses,
            "reset_pulses": self.reset_pulses,
            "train_seconds": round(self.train_seconds, 3),
            "build_seconds": round(self.build_seconds, 3),
            "build_reused": self.build_reused,
            "images_per_second": round(self.images_per_second, 2),
            "pruned_fraction": round(self.pruned_fraction, 6),
            "counts": None if self.counts is None else asdict(self.counts),
        }


class Trainer:
    """Train the Diehl & Cook network on a stream of images.

    Parameters
    ----------
    images, labels : ndarray
        Training set, ``uint8 (M, 28, 28)`` (or ``(M, 784)``) and ``(M,)``.
    n_images : int
        Images to present in all (epochs included); image ``k`` of the stream
        is ``images[k % M]``.
    card : DeviceCard or str
        Device card of the input synapses.
    params : DiehlCookParameters
    seed : int
        Seed of everything random.
    target : {"standalone", "runtime", "cython", "numpy"}
        ``cpp_standalone`` (compiled once, default) or a runtime target for
        debugging (``"runtime"`` is ``"cython"``).
    slots : int
        Presentation slots per chunk (fixed by the build).
    checkpoint : Path, optional
        Checkpoint file, written every ``checkpoint_every`` images (at the
        end of the chunk that crosses the multiple) and at the end.
    record_raster : bool
        Keep the excitatory spikes of the first chunk (``TrainingResult.raster``).
    make_jobs : int
        Parallel compiler jobs of the standalone build.
    pruning : PruningSchedule, optional
        Soft- or hard-pruning during training (:mod:`neurocbram.pruning`):
        each event is applied at the first chunk boundary at or after its
        image count (``slots`` images of granularity), by setting ``G`` and
        the synapses' ``frozen`` flags between chunks.
    ledger : bool
        Count input and inhibitory spikes in the compiled network for the
        energy ledger (:meth:`counts`); ``False`` keeps only what training
        needs (pulses, excitatory spikes).
    """

    def __init__(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        n_images: int,
        *,
        card: DeviceCard | str = "cbram-shi2018",
        params: DiehlCookParameters | None = None,
        seed: int = 0,
        target: str = "standalone",
        slots: int = DEFAULT_SLOTS,
        checkpoint: str | Path | None = None,
        checkpoint_every: int = 1000,
        record_raster: bool = False,
        make_jobs: int = 2,
        pruning: PruningSchedule | None = None,
        ledger: bool = True,
    ) -> None:
        if target not in TARGETS:
            raise ValueError(f"unknown target {target!r}; choose one of {', '.join(TARGETS)}")
        rows = np.asarray(images)
        if rows.ndim == 3:
            rows = rows.reshape(len(rows), -1)
        if rows.ndim != 2 or rows.shape[1] != N_INPUTS:
            raise ValueError(f"images must have shape (M, 28, 28) or (M, 784), got {np.shape(images)}")
        if len(rows) == 0:
            raise ValueError("no training images")
        if len(labels) != len(rows):
            raise ValueError(f"{len(rows)} images but {len(labels)} labels")
        check_count(n_images, "n_images")
        if checkpoint_every < 1:
            raise ValueError(f"checkpoint_every must be >= 1, got {checkpoint_every}")
        self.rows = rows
        self.labels = np.asarray(labels)
        self.n_images = int(n_images)
        self.card = load_card(card)
        self.params = params or DiehlCookParameters()
        self.seed = int(seed)
        self.target = target
        self.slots = int(slots)
        self.checkpoint = Path(checkpoint) if checkpoint is not None else None
        self.checkpoint_every = int(checkpoint_every)
        self.record_raster = record_raster
        self.make_jobs = int(make_jobs)
        if pruning is not None:
            if not isinstance(pruning, PruningSchedule):
                raise TypeError(f"pruning must be a PruningSchedule, got {type(pruning).__name__}")
            pruning.check_fits(self.n_images)
            pruning = pruning.for_card(self.card)
        self.pruning = pruning
        self.ledger = bool(ledger)
        self._counter_base: dict[str, np.ndarray] = {}
        self.unit_rate_hz = float(self.params.unit_rate / Hz)
        self.net: DiehlCookNetwork | None = None
        self.program = None
        self.build_seconds = 0.0
        self.build_reused = False

    # ------------------------------------------------------------ metadata
    def meta(self) -> dict[str, Any]:
        """What a checkpoint must agree with to be resumed."""
        return {
            "seed": self.seed,
            "n_images": self.n_images,
            "slots": self.slots,
            "card": self.card.name,
            "params": self.params.describe(),
            "n_train": int(len(self.rows)),
            "target": "standalone" if self.target == "standalone" else "runtime",
            "pruning": None if self.pruning is None else self.pruning.describe(),
            "ledger": self.ledger,
        }

    def initial_state(self) -> TrainingState:
        """Initial weights uniform in [0, initial_weight_max] and freshly drawn devices."""
        n_syn = N_INPUTS * self.params.n_neurons
        weights_seq, devices_seq = np.random.SeedSequence(self.seed).spawn(2)
        rng = np.random.default_rng(weights_seq)
        w = rng.uniform(0.0, self.params.initial_weight_max, n_syn)
        population = sample_population(self.card, n_syn, np.random.default_rng(devices_seq))
        G = population.pin(self.card, self.card.conductance(w))
        return TrainingState(
            G=G,
            set_scale=np.asarray(population.set_scale, dtype=float),
            reset_scale=np.asarray(population.reset_scale, dtype=float),
            stuck=np.asarray(population.stuck, dtype=np.int32),
            set_pulses=np.zeros(n_syn, dtype=np.int32),
            reset_pulses=np.zeros(n_syn, dtype=np.int32),
            theta=np.zeros(self.params.n_neurons),
            frozen=np.zeros(n_syn, dtype=bool),
            removed=np.zeros(n_syn, dtype=bool),
            frozen_skipped=np.zeros(n_syn, dtype=np.int32),
            weights_changed=np.ones(self.params.n_neurons, dtype=np.int32),
            intensity=self.params.intensity_start,
        )

    # ---------------------------------------------------------------- build
    def build(self) -> None:
        """Create the network (and compile it in standalone mode, reusing a cached build)."""
        if self.net is not None:
            return
        from brian2 import device, prefs, set_device

        if self.target == "standalone":
            from neurocbram.standalone import StandaloneProgram, seed_from_variable

            def define() -> DiehlCookNetwork:
                net = DiehlCookNetwork(self.card, self.params, self.slots, ledger=self.ledger)
                device.apply_run_args()
                seed_from_variable(net.control, "rng_seed")
                net.network.run(net.chunk_duration)
                return net

            # the key only depends on the description, not on the objects
            probe_key = network_key(self.card, self.params, self.slots, self.ledger)
            self.program = StandaloneProgram(probe_key, define, make_jobs=self.make_jobs)
            self.net = self.program.build()
            self.build_seconds = self.program.build_time
            self.build_reused = self.program.reused
        else:
            start = time.perf_counter()
            set_device("runtime")
            prefs.codegen.target = "cython" if self.target == "runtime" else self.target
            self.net = DiehlCookNetwork(self.card, self.params, self.slots, ledger=self.ledger)
            self._counter_base = {}
            self.build_seconds = time.perf_counter() - start

    def close(self) -> None:
        """Release the standalone device (results folder of this process)."""
        if self.program is not None:
            self.program.close()
            self.program = None
        self.net = None

    # ----------------------------------------------------------------- chunk
    def _chunk_table(self, position: int) -> tuple[np.ndarray, int]:
        n = min(self.slots, self.n_images - position)
        table = np.zeros((self.slots, N_INPUTS))
        index = (position + np.arange(n)) % len(self.rows)
        table[:n] = self.rows[index] * (self.unit_rate_hz / 255.0)
        return table, n

    def _run_chunk(self, state: TrainingState) -> dict[str, Any]:
        """Run one chunk from ``state``; returns the raw results."""
        net = self.net
        table, n_chunk = self._chunk_table(state.position)
        seed = chunk_seed(self.seed, state.chunk)
        S, exc, ctrl = net.input_synapses, net.excitatory, net.control
        if self.target == "standalone":
            run_args = {
                net.image_table: table,
                ctrl.n_images: n_chunk,
                ctrl.intensity: state.intensity,
                ctrl.rng_seed: seed,
                exc.theta: state.theta * volt,
                exc.weights_changed: state.weights_changed,
                S.G: state.G * siemens,
                S.set_scale: state.set_scale,
                S.reset_scale: state.reset_scale,
                S.stuck: state.stuck,
                S.set_pulses: state.set_pulses,
                S.reset_pulses: state.reset_pulses,
                S.frozen: state.frozen,
                S.frozen_skipped: state.frozen_skipped,
            }
            self.program.run(run_args)
            spike_i = np.asarray(net.excitatory_spikes.i[:])
            spike_t = np.asarray(net.excitatory_spikes.t_[:])
            slot_images = np.asarray(net.control_monitor.image[0])
        else:
            from brian2 import seed as brian_seed

            net.image_table.values[:] = table
            ctrl.image = 0
            ctrl.slot = 0
            ctrl.count = 0
            ctrl.retries = 0
            ctrl.has_image = 0
            ctrl.n_images = n_chunk
            ctrl.intensity = state.intensity
            if self.params.carry_over:  # start at rest, as a standalone run does
                net.reset_neurons()
            exc.theta = state.theta * volt
            exc.weights_changed = state.weights_changed
            S.G[:] = state.G * siemens
            S.set_scale[:] = state.set_scale
            S.reset_scale[:] = state.reset_scale
            S.stuck[:] = state.stuck
            S.set_pulses[:] = state.set_pulses
            S.reset_pulses[:] = state.reset_pulses
            S.frozen[:] = state.frozen
            S.frozen_skipped[:] = state.frozen_skipped
            n_spikes_before = net.excitatory_spikes.num_spikes
            n_monitor_before = len(net.control_monitor.t)
            t0 = float(net.network.t / second)
            brian_seed(seed)
            net.network.run(net.chunk_duration)
            spike_i = np.asarray(net.excitatory_spikes.i[n_spikes_before:])
            spike_t = np.asarray(net.excitatory_spikes.t_[n_spikes_before:]) - t0
            slot_images = np.asarray(net.control_monitor.image[0][n_monitor_before:])
        counters = {}
        for name, monitor in (("inputs", net.input_spike_counter),
                              ("inhibitory", net.inhibitory_spike_counter)):
            if monitor is None:
                continue
            total = np.asarray(monitor.count[:], dtype=np.int64).copy()
            # runtime monitors accumulate over runs; standalone runs start from zero
            counters[name] = total - self._counter_base.get(name, 0)
            if self.target != "standalone":
                self._counter_base[name] = total
        return {
            "n_chunk": n_chunk,
            "G": np.asarray(S.G_[:], dtype=float).copy(),
            "set_pulses": np.asarray(S.set_pulses[:], dtype=np.int32).copy(),
            "reset_pulses": np.asarray(S.reset_pulses[:], dtype=np.int32).copy(),
            "frozen_skipped": np.asarray(S.frozen_skipped[:], dtype=np.int32).copy(),
            "counters": counters,
            "theta": np.asarray(exc.theta_[:], dtype=float).copy(),
            "weights_changed": np.asarray(exc.weights_changed[:], dtype=np.int32).copy(),
            "image": int(ctrl.image[0]),
            "intensity": float(ctrl.intensity[0]),
            "count": int(ctrl.count[0]),
            "has_image": int(ctrl.has_image[0]),
            "retries": int(ctrl.retries[0]),
            "spike_i": spike_i,
            "spike_t": spike_t,
            "slot_images": slot_images[: self.slots],
        }

    def _advance(self, state: TrainingState, out: dict[str, Any]) -> np.ndarray:
        """Fold the results of a chunk into ``state``; returns the accepted responses."""
        p = self.params
        image, intensity, retries = out["image"], out["intensity"], out["retries"]
        # the decision about the last slot (the program stops before the next boundary)
        if out["has_image"]:
            if out["count"] >= p.min_spikes or intensity >= p.max_intensity - 1e-6:
                image += 1
                intensity = p.intensity_start
            else:
                intensity += p.intensity_step
                retries += 1
        slot_images = out["slot_images"]
        following = np.append(slot_images[1:], image)
        accepted_slots = np.flatnonzero((following > slot_images) & (slot_images < out["n_chunk"]))
        slot_of_spike = (out["spike_t"] / float(p.slot_duration / second) + 1e-9).astype(int)
        counts = np.zeros((self.slots, p.n_neurons), dtype=np.int32)
        np.add.at(counts, (np.clip(slot_of_spike, 0, self.slots - 1), out["spike_i"]), 1)
        responses = counts[accepted_slots]
        stream = state.position + slot_images[accepted_slots]
        presented = int(np.sum(slot_images < out["n_chunk"]))

        self._count_operations(state, out, presented)
        state.G = out["G"]
        state.set_pulses = out["set_pulses"]
        state.reset_pulses = out["reset_pulses"]
        state.frozen_skipped = out["frozen_skipped"]
        state.theta = out["theta"]
        state.weights_changed = out["weights_changed"]
        state.position += image
        state.intensity = float(intensity)
        state.chunk += 1
        state.presentations += presented
        state.retries += retries
        state.spikes += int(len(out["spike_i"]))
        state.pulse_history.append(
            (int(state.position), int(state.set_pulses.sum()), int(state.reset_pulses.sum()))
        )
        self._update_history(state, responses, self.labels[stream % len(self.rows)])
        return responses

    # ---------------------------------------------------------------- ledger
    def _count_operations(self, state: TrainingState, out: dict[str, Any], presented: int) -> None:
        """Add one chunk's exact operation counts to ``state.ledger``.

        Reads: one per input spike per synapse that exists (not hard-pruned).
        Update requests of the learning rule on synapses that are not frozen
        (what a digital implementation computes and writes): one per input
        spike per target (depression), one per excitatory spike per input
        (potentiation) and, when normalising, one per synapse per presentation.
        """
        n = self.params.n_neurons
        ledger = state.ledger
        frozen = state.frozen.reshape(N_INPUTS, n)
        removed = state.removed.reshape(N_INPUTS, n)
        exc_counts = np.bincount(out["spike_i"], minlength=n).astype(np.int64)
        updates = int(exc_counts @ (N_INPUTS - frozen.sum(axis=0)))
        if self.params.weight_total is not None:
            updates += presented * int(frozen.size - frozen.sum())
        add = {
            "excitatory_spikes": int(exc_counts.sum()),
            "frozen_skipped": int(out["frozen_skipped"].sum() - state.frozen_skipped.sum()),
        }
        if "inputs" in out["counters"]:
            inputs = out["counters"]["inputs"]
            add["input_spikes"] = int(inputs.sum())
            add["synaptic_reads"] = int(inputs @ (n - removed.sum(axis=1)))
            add["inhibitory_spikes"] = int(out["counters"]["inhibitory"].sum())
            updates += int(inputs @ (n - frozen.sum(axis=1)))
            add["update_events"] = updates
        for key, value in add.items():
            ledger[key] = ledger.get(key, 0) + value

    def counts(self, state: TrainingState) -> OperationCounts:
        """The exact operation counts of training so far (for :func:`neurocbram.energy.price`).

        Without ``ledger`` only pulses, excitatory spikes and skipped pulses are known.
        """
        ledger = state.ledger
        spikes = {"excitatory": ledger.get("excitatory_spikes", 0)}
        if "input_spikes" in ledger:
            spikes.update(inputs=ledger["input_spikes"], inhibitory=ledger["inhibitory_spikes"])
        return OperationCounts(
            images=int(state.position),
            set_pulses=int(state.set_pulses.sum()),
            reset_pulses=int(state.reset_pulses.sum()),
            update_events=ledger.get("update_events", 0),
            skipped_frozen=ledger.get("frozen_skipped", 0),
            synaptic_reads=ledger.get("synaptic_reads", 0),
            spikes=spikes,
        )

    # --------------------------------------------------------------- pruning
    def _prune(self, state: TrainingState) -> None:
        """Apply the pruning events that are due (before a chunk); snapshot for 'stable'/'settled'."""
        schedule = self.pruning
        if schedule is None:
            return
        events = schedule.events()
        n = self.params.n_neurons
        while state.pruning_events_done < len(events):
            event = events[state.pruning_events_done]
            if schedule.criterion in HISTORY_CRITERIA and state.snapshot_G is None and (
                state.position >= event.image - schedule.stability_window
            ):
                state.snapshot_G = state.G.copy()
                state.snapshot_pulses = state.set_pulses + state.reset_pulses
            if state.position < event.image:
                return
            card = self.card
            shape = (N_INPUTS, n)
            w = np.asarray(card.weight(state.G)).reshape(shape)
            previous = window = None
            if schedule.criterion in HISTORY_CRITERIA:
                previous = np.asarray(card.weight(state.snapshot_G)).reshape(shape)
                if state.snapshot_pulses is not None:
                    window = state.set_pulses + state.reset_pulses - state.snapshot_pulses
                    window = window.reshape(shape)
            new_w, frozen, selected = prune(
                w, state.frozen.reshape(shape), event, schedule, previous, window, card.levels
            )
            selected = selected.ravel()
            G_new = np.asarray(card.conductance(new_w.ravel()))
            if schedule.kind == "hard":
                state.removed = state.removed | selected
            else:
                # soft: the constant is programmed (stuck devices keep their value)
                working = selected & (state.stuck == STUCK_NONE)
                G_new = np.where(working, G_new, state.G)
                # pulses along the card's mean response (its nonlinearity included)
                steps = np.rint(np.abs(pulses_to_target(card, state.G, G_new))).astype(np.int32)
                rising = G_new > state.G
                state.set_pulses = state.set_pulses + np.where(working & rising, steps, 0)
                state.reset_pulses = state.reset_pulses + np.where(working & ~rising, steps, 0)
            state.G = np.where(selected, G_new, state.G)
            state.frozen = frozen.ravel()
            # the weights moved outside the program: normalise every neuron next
            state.weights_changed = np.ones(n, dtype=np.int32)
            state.snapshot_G = state.snapshot_pulses = None
            state.pruning_events_done += 1

    def _update_history(self, state: TrainingState, responses: np.ndarray, labels: np.ndarray) -> None:
        """Running accuracy: each block of images is classified with the labels of the last."""
        n = self.params.n_neurons
        if state.block_responses is None:
            state.block_responses = np.zeros((0, n), dtype=np.int32)
            state.block_labels = np.zeros(0, dtype=np.int64)
        state.block_responses = np.concatenate([state.block_responses, responses])
        state.block_labels = np.concatenate([state.block_labels, labels.astype(np.int64)])
        while len(state.block_labels) >= HISTORY_BLOCK:
            block_r = state.block_responses[:HISTORY_BLOCK]
            block_l = state.block_labels[:HISTORY_BLOCK]
            seen = state.position - len(state.block_labels) + HISTORY_BLOCK
            if state.previous_labels is not None:
                accuracy = float(np.mean(labelling.predict(block_r, state.previous_labels) == block_l))
                state.history.append((int(seen), accuracy))
            state.previous_labels = labelling.assign_labels(block_r, block_l)
            state.block_responses = state.block_responses[HISTORY_BLOCK:]
            state.block_labels = state.block_labels[HISTORY_BLOCK:]

    # ----------------------------------------------------------------- train
    def train(
        self,
        resume: bool = False,
        progress: Callable[[int, TrainingState], None] | None = None,
        stop_after_chunks: int | None = None,
        max_seconds: float | None = None,
    ) -> TrainingResult:
        """Train until ``n_images`` images were accepted.

        ``resume``: continue from ``checkpoint`` when it exists. ``progress``
        is called after each chunk with the number of newly accepted images.
        ``stop_after_chunks`` / ``max_seconds`` stop early (after a whole
        chunk, with a checkpoint); a later ``resume`` continues exactly.
        """
        meta = self.meta()
        if resume and self.checkpoint is not None and self.checkpoint.exists():
            state = TrainingState.load(self.checkpoint, meta)
        else:
            state = self.initial_state()
        if state.position < self.n_images:
            self.build()
        raster = None
        start_images = state.position
        start = time.perf_counter()
        chunks = 0
        while state.position < self.n_images:
            before = state.position
            self._prune(state)
            out = self._run_chunk(state)
            if self.record_raster and raster is None:
                raster = (out["spike_i"], out["spike_t"])
            self._advance(state, out)
            chunks += 1
            if progress is not None:
                progress(state.position - before, state)
            stop = (stop_after_chunks is not None and chunks >= stop_after_chunks) or (
                max_seconds is not None and time.perf_counter() - start > max_seconds
            )
            crossed = state.position // self.checkpoint_every > before // self.checkpoint_every
            if self.checkpoint is not None and (crossed or stop or state.position >= self.n_images):
                state.save(self.checkpoint, meta)
            if stop:
                break
        elapsed = time.perf_counter() - start
        trained = self.trained_state(state)
        return TrainingResult(
            state=trained,
            images=state.position,
            presentations=state.presentations,
            retries=state.retries,
            spikes=state.spikes,
            set_pulses=int(state.set_pulses.sum()),
            reset_pulses=int(state.reset_pulses.sum()),
            train_seconds=elapsed,
            build_seconds=self.build_seconds,
            images_per_second=(state.position - start_images) / elapsed if elapsed > 0 else 0.0,
            build_reused=self.build_reused,
            history=list(state.history),
            raster=raster,
            counts=self.counts(state),
            pulse_history=list(state.pulse_history),
            pruned_fraction=float(state.frozen.mean()),
        )

    def trained_state(self, state: TrainingState) -> TrainedState:
        """The :class:`TrainedState` of a training state (``(784, N)`` matrices)."""
        n = self.params.n_neurons
        G = state.G.reshape(N_INPUTS, n)
        return TrainedState(
            G=G.copy(),
            w=np.asarray(self.card.weight(G)),
            theta_mV=state.theta * 1e3,
            gain=np.ones(n),
            card=self.card.name,
            images_seen=int(state.position),
            frozen=state.frozen.reshape(N_INPUTS, n).copy(),
            removed=state.removed.reshape(N_INPUTS, n).copy(),
            set_pulses=state.set_pulses.reshape(N_INPUTS, n).copy(),
            reset_pulses=state.reset_pulses.reshape(N_INPUTS, n).copy(),
        )
