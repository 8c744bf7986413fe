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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from brian2 import Hz, second, siemens, volt

from neurocbram.analysis import labelling
from neurocbram.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from neurocbram.devices import DeviceCard, load_card
from neurocbram.devices.pulses import sample_population
from neurocbram.networks.diehl_cook import (
    N_INPUTS,
    DiehlCookNetwork,
    DiehlCookParameters,
    TrainedState,
    network_key,
)

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
        ``test_responses``.
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
        progress=progress,
    )
    seeds = (chunk_seed(seed, -1), chunk_seed(seed, -2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        label_responses, _ = evaluate_responses(
            weights, state.theta_mV * 1e-3, label_images, seed=seeds[0], **common
        )
        test_responses, _ = evaluate_responses(
            weights, state.theta_mV * 1e-3, test_images, seed=seeds[1], **common
        )
    neuron_labels = labelling.assign_labels(label_responses, label_labels)
    predictions = labelling.predict(test_responses, neuron_labels)
    return {
        "accuracy": float(labelling.accuracy(predictions, test_labels)),
        "neuron_labels": neuron_labels,
        "predictions": predictions,
        "confusion": labelling.confusion_matrix(predictions, test_labels),
        "label_responses": label_responses,
        "test_responses": test_responses,
    }


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

    HEADER = ("position", "intensity", "chunk", "presentations", "retries", "spikes", "history")
    ARRAYS = ("G", "set_scale", "reset_scale", "stuck", "set_pulses", "reset_pulses", "theta",
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
        header["history"] = [tuple(entry) for entry in header["history"]]
        return cls(**{name: arrays.get(name) for name in cls.ARRAYS}, **header)


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
        slots: int = 100,
        checkpoint: str | Path | None = None,
        checkpoint_every: int = 1000,
        record_raster: bool = False,
        make_jobs: int = 2,
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
        if isinstance(n_images, bool) or int(n_images) != n_images or n_images < 1:
            raise ValueError(f"n_images must be a positive integer, got {n_images!r}")
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
                net = DiehlCookNetwork(self.card, self.params, self.slots)
                device.apply_run_args()
                seed_from_variable(net.control, "rng_seed")
                net.network.run(net.chunk_duration)
                return net

            # the key only depends on the description, not on the objects
            probe_key = network_key(self.card, self.params, self.slots)
            self.program = StandaloneProgram(probe_key, define, make_jobs=self.make_jobs)
            self.net = self.program.build()
            self.build_seconds = self.program.build_time
            self.build_reused = self.program.reused
        else:
            start = time.perf_counter()
            set_device("runtime")
            prefs.codegen.target = "cython" if self.target == "runtime" else self.target
            self.net = DiehlCookNetwork(self.card, self.params, self.slots)
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
                S.G: state.G * siemens,
                S.set_scale: state.set_scale,
                S.reset_scale: state.reset_scale,
                S.stuck: state.stuck,
                S.set_pulses: state.set_pulses,
                S.reset_pulses: state.reset_pulses,
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
            exc.theta = state.theta * volt
            S.G[:] = state.G * siemens
            S.set_scale[:] = state.set_scale
            S.reset_scale[:] = state.reset_scale
            S.stuck[:] = state.stuck
            S.set_pulses[:] = state.set_pulses
            S.reset_pulses[:] = state.reset_pulses
            n_spikes_before = net.excitatory_spikes.num_spikes
            n_monitor_before = len(net.control_monitor.t)
            t0 = float(net.network.t / second)
            brian_seed(seed)
            net.network.run(net.chunk_duration)
            spike_i = np.asarray(net.excitatory_spikes.i[n_spikes_before:])
            spike_t = np.asarray(net.excitatory_spikes.t_[n_spikes_before:]) - t0
            slot_images = np.asarray(net.control_monitor.image[0][n_monitor_before:])
        return {
            "n_chunk": n_chunk,
            "G": np.asarray(S.G_[:], dtype=float).copy(),
            "set_pulses": np.asarray(S.set_pulses[:], dtype=np.int32).copy(),
            "reset_pulses": np.asarray(S.reset_pulses[:], dtype=np.int32).copy(),
            "theta": np.asarray(exc.theta_[:], dtype=float).copy(),
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

        state.G = out["G"]
        state.set_pulses = out["set_pulses"]
        state.reset_pulses = out["reset_pulses"]
        state.theta = out["theta"]
        state.position += image
        state.intensity = float(intensity)
        state.chunk += 1
        state.presentations += presented
        state.retries += retries
        state.spikes += int(len(out["spike_i"]))
        self._update_history(state, responses, self.labels[stream % len(self.rows)])
        return responses

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
        )
