"""Energy-ledger counters of training, and pruning inside the compiled network."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_network import CARD, PARAMS, SLOTS  # the standalone shape: one cached build

from neurocbram.networks.diehl_cook import N_INPUTS, DiehlCookParameters, TrainedState
from neurocbram.pruning import PruningSchedule
from neurocbram.training import Trainer

pytestmark = pytest.mark.network


@pytest.fixture(scope="module")
def mnist(mnist_train):
    return mnist_train


def _train(images, labels, n_images, **kwargs):
    options = dict(card=CARD, params=PARAMS, seed=3, slots=SLOTS)
    options.update(kwargs)
    trainer = Trainer(images, labels, n_images, **options)
    try:
        return trainer.train()
    finally:
        trainer.close()


@pytest.mark.parametrize("pruning", [None, "hard"])
def test_counters_equal_counts_from_spike_monitors(mnist, pruning) -> None:
    """Runtime network with full spike monitors beside the ledger's counters."""
    from brian2 import SpikeMonitor

    x, y = mnist
    n = 10
    schedule = None
    if pruning:  # an event before the first chunk: one mask for the whole run
        schedule = PruningSchedule(final_fraction=0.4, start_image=0, end_image=0, kind=pruning)
    trainer = Trainer(x[:12], y[:12], 12, card=CARD, params=DiehlCookParameters(n_neurons=n),
                      seed=3, slots=8, target="numpy", pruning=schedule)
    trainer.build()
    monitors = {name: SpikeMonitor(getattr(trainer.net, name), name=f"{name}_all")
                for name in ("inputs", "excitatory", "inhibitory")}
    trainer.net.network.add(*monitors.values())
    result = trainer.train()
    trainer.close()
    counts = result.counts
    per_input = np.bincount(monitors["inputs"].i[:], minlength=N_INPUTS)
    per_neuron = np.bincount(monitors["excitatory"].i[:], minlength=n)
    assert counts.spikes == {
        "inputs": int(per_input.sum()),
        "excitatory": int(per_neuron.sum()),
        "inhibitory": int(monitors["inhibitory"].num_spikes),
    }
    assert counts.spikes["inputs"] > 1000 and counts.spikes["excitatory"] > 0
    frozen, removed = result.state.frozen, result.state.removed
    assert frozen.mean() == pytest.approx(0.4 if pruning else 0.0, abs=1 / N_INPUTS)
    assert np.array_equal(removed, frozen if pruning == "hard" else np.zeros_like(frozen))
    assert counts.synaptic_reads == int(per_input @ (~removed).sum(axis=1))
    live = ~frozen
    assert counts.update_events == (
        int(per_input @ live.sum(axis=1)) + int(per_neuron @ live.sum(axis=0))
        + result.presentations * int(live.sum())
    )
    assert counts.images == 12
    assert counts.set_pulses == int(result.state.set_pulses.sum()) > 0


def test_soft_pruning_freezes_synapses_at_the_constant_and_saves_pulses(mnist) -> None:
    x, y = mnist
    schedule = PruningSchedule(final_fraction=0.75, start_image=100, end_image=100, constant=0.05)
    plain = _train(x[:300], y[:300], 300)
    soft = _train(x[:300], y[:300], 300, pruning=schedule)
    state = soft.state
    assert np.all(state.frozen.sum(axis=0) == int(0.75 * N_INPUTS))
    assert state.removed.sum() == 0
    # frozen synapses keep the constant to the end (stuck devices keep their value)
    card_w = state.w[state.frozen]
    stuck = (np.isclose(card_w, 0.0) | np.isclose(card_w, 1.0))
    np.testing.assert_allclose(card_w[~stuck], 0.05, atol=1e-12)
    assert stuck.mean() < 0.05
    assert soft.counts.skipped_frozen > 0
    # the unfrozen weights still sum to the normalisation total
    np.testing.assert_allclose(state.w.sum(axis=0), PARAMS.weight_total, rtol=0.05)
    # pulses after the chunk in which the event was applied (its programming pulses)
    start = [h[0] for h in soft.pulse_history if h[0] > 100][1]
    assert plain.pulses_between(start) > 2 * soft.pulses_between(start)


def test_settled_pruning_freezes_the_busy_synapses_in_place(mnist) -> None:
    x, y = mnist
    schedule = PruningSchedule(final_fraction=0.25, start_image=100, end_image=100,
                               criterion="settled", constant="keep", stability_window=60)
    result = _train(x[:200], y[:200], 200, pruning=schedule)
    state = result.state
    frozen = state.frozen
    assert np.all(frozen.sum(axis=0) == N_INPUTS // 4) and state.removed.sum() == 0
    # the criterion chose synapses that were being written, not the silent background
    # (whose pulses come from normalisation only; the lowest weights would be those)
    pulses = state.set_pulses + state.reset_pulses
    assert pulses[frozen].mean() > 1.2 * pulses[~frozen].mean()
    assert result.counts.skipped_frozen > 0
    # "keep": no programming, the frozen weights stay where they were (not one value)
    assert np.unique(state.w[frozen]).size > 100


def test_hard_pruning_removes_synapses_and_reads(mnist) -> None:
    x, y = mnist
    schedule = PruningSchedule(final_fraction=0.5, start_image=50, end_image=100, steps=2,
                               kind="hard")
    result = _train(x[:150], y[:150], 150, pruning=schedule)
    state = result.state
    assert np.all(state.removed.sum(axis=0) == N_INPUTS // 2)
    assert np.all(state.w[state.removed] == 0)
    assert result.counts.synaptic_reads < result.counts.spikes["inputs"] * PARAMS.n_neurons


def test_resume_with_pruning_is_exact(mnist, tmp_path: Path) -> None:
    x, y = mnist
    schedule = PruningSchedule(final_fraction=0.6, start_image=60, end_image=120, steps=2)
    whole = _train(x[:200], y[:200], 200, pruning=schedule)
    path = tmp_path / "run.npz"
    first = Trainer(x[:200], y[:200], 200, card=CARD, params=PARAMS, seed=3, slots=SLOTS,
                    pruning=schedule, checkpoint=path)
    try:
        first.train(stop_after_chunks=2)
    finally:
        first.close()
    second = Trainer(x[:200], y[:200], 200, card=CARD, params=PARAMS, seed=3, slots=SLOTS,
                     pruning=schedule, checkpoint=path)
    try:
        resumed = second.train(resume=True)
    finally:
        second.close()
    np.testing.assert_array_equal(resumed.state.G, whole.state.G)
    np.testing.assert_array_equal(resumed.state.frozen, whole.state.frozen)
    assert resumed.counts == whole.counts
    saved = tmp_path / "state.npz"
    whole.state.save(saved)
    again = TrainedState.load(saved)
    np.testing.assert_array_equal(again.frozen, whole.state.frozen)
    np.testing.assert_array_equal(again.set_pulses, whole.state.set_pulses)


def test_pruning_bad_input_is_rejected() -> None:
    images, labels = np.zeros((4, 28, 28), np.uint8), np.zeros(4)
    with pytest.raises(ValueError, match="at or past the end of training"):
        Trainer(images, labels, 100, pruning=PruningSchedule(start_image=50, end_image=100))
    with pytest.raises(TypeError, match="pruning must be a PruningSchedule"):
        Trainer(images, labels, 100, pruning=0.5)
    with pytest.raises(ValueError, match="final_fraction must lie in"):
        PruningSchedule(final_fraction=1.0)
