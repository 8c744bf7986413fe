"""Pruning schedules and selection (array level; the synapse's frozen gate is tested with the synapse)."""

from __future__ import annotations

import numpy as np
import pytest

from neurocbram.pruning import PruningEvent, PruningSchedule, prune, select_matured


def _weights(seed: int = 0, shape=(50, 6)) -> np.ndarray:
    return np.random.default_rng(seed).random(shape)


def test_per_neuron_selection_takes_the_lowest_fraction_of_every_neuron():
    w = _weights()
    selected = select_matured(w, np.zeros_like(w, dtype=bool), 0.4)
    assert np.all(selected.sum(axis=0) == 20)
    for j in range(w.shape[1]):
        assert w[selected[:, j], j].max() < w[~selected[:, j], j].min()


def test_global_selection_ranks_all_synapses_together():
    w = _weights()
    w[:, 0] *= 0.001  # neuron 0 holds the 50 lowest weights
    w[:, 1:] += 0.01
    selected = select_matured(w, np.zeros_like(w, dtype=bool), 0.1, scope="global")
    assert selected.sum() == 30
    assert w[selected].max() < w[~selected].min()
    assert selected[:, 0].sum() == 30


def test_cumulative_events_never_reselect_and_reach_the_fraction():
    w = _weights(1)
    schedule = PruningSchedule(final_fraction=0.6, start_image=100, end_image=300, steps=3)
    assert [e.image for e in schedule.events()] == [100, 200, 300]
    assert [e.fraction for e in schedule.events()] == pytest.approx([0.2, 0.4, 0.6])
    pruned = np.zeros_like(w, dtype=bool)
    for event in schedule.events():
        w, new_pruned, selected = prune(w, pruned, event, schedule)
        assert not np.any(selected & pruned)
        pruned = new_pruned
    assert np.all(pruned.sum(axis=0) == 30)


def test_soft_pruning_sets_the_mean_or_the_constant_and_hard_pruning_zero():
    w = _weights(2)
    none = np.zeros_like(w, dtype=bool)
    event = PruningEvent(0, 0.5)
    soft, _, sel = prune(w, none, event, PruningSchedule(final_fraction=0.5))
    for j in range(w.shape[1]):
        assert np.allclose(soft[sel[:, j], j], w[sel[:, j], j].mean())
        assert soft[sel[:, j], j][0] > 0
    assert np.array_equal(soft[~sel], w[~sel])
    fixed, _, sel = prune(w, none, event, PruningSchedule(final_fraction=0.5, constant=0.05))
    assert np.all(fixed[sel] == 0.05)
    hard, _, sel = prune(w, none, event, PruningSchedule(final_fraction=0.5, kind="hard"))
    assert np.all(hard[sel] == 0.0) and np.array_equal(hard[~sel], w[~sel])
    kept, frozen, sel = prune(w, none, event, PruningSchedule(final_fraction=0.5, constant="keep"))
    assert np.array_equal(kept, w) and np.array_equal(frozen, sel) and sel.sum() == 25 * 6


def test_stable_criterion_picks_the_weights_that_moved_least():
    previous = _weights(3)
    moved = previous.copy()
    moved[:10] += 0.5  # the first ten inputs keep learning
    selected = select_matured(moved, np.zeros_like(moved, dtype=bool), 0.5,
                              criterion="stable", previous_weights=previous)
    assert not selected[:10].any()
    with pytest.raises(ValueError, match="previous_weights"):
        select_matured(moved, np.zeros_like(moved, dtype=bool), 0.5, criterion="stable")


def test_settled_criterion_picks_busy_synapses_whose_pulses_cancelled():
    previous = np.full((6, 2), 0.3)
    now = previous.copy()
    now[1] += 0.2  # 20 net pulses of 100 levels: still learning
    pulses = np.array([[40, 40], [30, 30], [0, 0], [10, 10], [0, 0], [25, 25]], dtype=float)
    now[4] += 0.01  # silent but moved a little (normalisation)
    selected = select_matured(now, np.zeros_like(now, dtype=bool), 0.5, criterion="settled",
                              previous_weights=previous, window_pulses=pulses, levels=100)
    # cancelled pulses: 40, 30 - 20 = 10, 0, 10, 0 - 1, 25 -> inputs 0, 5, then 3 (ties with
    # input 1 on cancelled pulses, but moved less)
    assert np.flatnonzero(selected[:, 0]).tolist() == [0, 3, 5]
    assert np.array_equal(selected[:, 0], selected[:, 1])
    with pytest.raises(ValueError, match="needs window_pulses and levels"):
        select_matured(now, np.zeros_like(now, dtype=bool), 0.5, criterion="settled",
                       previous_weights=previous)


@pytest.mark.parametrize("fraction", [-0.1, 1.0, 1.5])
def test_fraction_outside_zero_one_is_rejected(fraction):
    with pytest.raises(ValueError, match=r"final_fraction must lie in \[0, 1\)"):
        PruningSchedule(final_fraction=fraction)
    with pytest.raises(ValueError, match=r"fraction must lie in \[0, 1\)"):
        select_matured(_weights(), np.zeros((50, 6), dtype=bool), fraction)


def test_schedule_past_the_end_of_training_is_rejected():
    schedule = PruningSchedule(final_fraction=0.5, start_image=500, end_image=2000, steps=4)
    schedule.check_fits(2001)
    with pytest.raises(ValueError, match="ends at image 2000, at or past the end of training"):
        schedule.check_fits(1000)
    with pytest.raises(ValueError, match="would never be applied"):
        schedule.check_fits(2000)


def test_constant_outside_the_card_range_is_rejected():
    with pytest.raises(ValueError, match="constant is a weight and must lie in"):
        PruningSchedule(constant=1.2)
    with pytest.raises(ValueError, match="hard pruning removes synapses"):
        PruningSchedule(kind="hard", constant=0.1)
    with pytest.raises(ValueError, match="'keep'; got 'mean'"):
        PruningSchedule(constant="mean")


def test_constant_conductance_outside_the_card_range_names_the_card():
    from brian2 import mV, uS

    from neurocbram.devices import load_card

    card = load_card("cbram-shi2018")
    assert PruningSchedule(constant=card.g_min * 1e6 * uS).for_card(card).constant == pytest.approx(0)
    with pytest.raises(ValueError, match="outside the conductance range of card 'cbram-shi2018'"):
        PruningSchedule(constant=50 * uS).for_card(card)
    with pytest.raises(ValueError, match="weight or a conductance"):
        PruningSchedule(constant=5 * mV)


def test_bad_shapes_and_values_are_named():
    with pytest.raises(ValueError, match="2-D"):
        select_matured(np.zeros(5), np.zeros(5, dtype=bool), 0.5)
    with pytest.raises(ValueError, match="NaN"):
        select_matured(np.full((3, 2), np.nan), np.zeros((3, 2), dtype=bool), 0.5)
    with pytest.raises(ValueError, match="pruned mask shape"):
        select_matured(np.zeros((3, 2)), np.zeros((2, 3), dtype=bool), 0.5)
