"""Small-World pruning: graph metrics on known graphs, masks, L/C, tiles, errors."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from neurocbram.analysis.conv import lenet5, mlp_net
from neurocbram.analysis.small_world import (
    Rewiring, array_tiles, card_accuracy, characteristic_path_length, check_sparsity, clustering_coefficient,
    layer_densities, magnitude_masks, network_small_world_masks, ring_lattice, small_world_mask,
    structure_metrics, train_sparse, unit_graph, watts_strogatz,
)


def test_path_length_and_clustering_of_known_graphs():
    complete = ~np.eye(5, dtype=bool)
    assert characteristic_path_length(complete) == 1.0
    assert clustering_coefficient(complete) == 1.0
    path = np.zeros((4, 4), bool)
    path[[0, 1, 2], [1, 2, 3]] = True
    assert characteristic_path_length(path) == pytest.approx(10 / 6)
    assert clustering_coefficient(path) == 0.0
    star = np.zeros((5, 5), bool)
    star[0, 1:] = True
    assert characteristic_path_length(star) == pytest.approx((4 * 1 + 6 * 2) / 10)
    assert clustering_coefficient(star) == 0.0


def test_ring_lattice_matches_closed_forms():
    n, k = 20, 4
    a = ring_lattice(n, k)
    # Watts & Strogatz: C(0) = 3(k-2) / (4(k-1))
    assert clustering_coefficient(a) == pytest.approx(3 * (k - 2) / (4 * (k - 1)))
    # distances 1..5 (x2 each side: 1,1,2,2,...,5 with d=5 once) for n=20, k=4 -> mean over 19 others
    d = np.arange(1, n)
    hops = np.ceil(np.minimum(d, n - d) / (k // 2))
    assert characteristic_path_length(a) == pytest.approx(hops.mean())


def test_rewiring_shortens_paths_keeps_edges():
    a0 = watts_strogatz(100, 6, 0.0, seed=1)
    a1 = watts_strogatz(100, 6, 0.2, seed=1)
    assert a0.sum() == a1.sum()
    assert characteristic_path_length(a1) < characteristic_path_length(a0)
    assert clustering_coefficient(a1) < clustering_coefficient(a0)


def test_small_world_mask_density_and_locality():
    m0 = small_world_mask((10, 50), 0.2, 0.0)
    assert m0.sum() == 100 and np.all(m0.sum(axis=1) == 10)
    rows, cols = np.nonzero(m0)
    centre = (rows + 0.5) * 5 - 0.5
    assert np.all(np.minimum(np.abs(cols - centre), 50 - np.abs(cols - centre)) <= 5.5)
    m1 = small_world_mask((10, 50), 0.2, 1.0, seed=3)
    assert m1.sum() == 100 and not np.array_equal(m0, m1)


def test_network_masks_reach_sparsity_and_metrics():
    net = lenet5(0)
    masks = network_small_world_masks(net, 0.977, 0.1, seed=0)
    kept = sum(m.sum() for m in masks) / sum(m.size for m in masks)
    assert kept == pytest.approx(0.023, abs=0.002)
    for m, w in zip(masks, net.weights, strict=False):
        assert m.shape == w.shape
        if w.ndim == 4:  # whole kernels
            assert np.all(m.all(axis=(2, 3)) == m.any(axis=(2, 3)))
    dense = structure_metrics(net.weights)
    assert dense["C"] == [10.0] * 5 and dense["L_rel"][0] == 1.0
    sparse = structure_metrics([w * m for w, m in zip(net.weights, masks, strict=False)])
    assert all(c <= 10 for c in sparse["C"]) and sparse["C"][-1] < 10


def test_metrics_on_hand_built_network():
    # 2 inputs -> 2 hidden -> 2 classes, hidden 0 only to class 0, hidden 1 to both
    w1 = np.array([[1.0, 0.0], [1.0, 1.0]])
    w2 = np.array([[1.0, 1.0], [0.0, 1.0]])
    m = structure_metrics([w1, w2])
    assert m["C"] == [2.0, 1.5]  # input 0 reaches both classes (via h1), input 1 via h1 too; h0: 1, h1: 2
    assert m["L"] == [(3 + 2) / 2, (2 + 1) / 2]
    g = unit_graph([w1, w2])
    assert g.shape == (6, 6) and g.sum() == 2 * 6


def test_layer_densities_hit_budget():
    shapes = [(300, 784), (100, 300), (10, 100)]
    d = layer_densities(shapes, 0.97)
    sizes = np.array([np.prod(s) for s in shapes])
    assert np.dot(d, sizes) / sizes.sum() == pytest.approx(0.03)
    assert d[0] < d[1] < d[2] <= 1
    assert layer_densities(shapes, 0.5, "uniform") == [0.5] * 3


def test_magnitude_masks_keep_largest():
    w = np.array([[0.1, -3.0], [2.0, 0.01]])
    (m,) = magnitude_masks([w], [0.5])
    assert m.tolist() == [[False, True], [True, False]]


def test_tiles_convention():
    w = np.zeros((64, 128))  # 128 inputs (rows) x 64 outputs -> 128 differential columns
    w[0, 0] = 1.0
    t = array_tiles(w, 64)
    assert t == {"dense": 4, "nonzero": 1, "compacted": 1}
    assert array_tiles(w, 64, differential=False)["dense"] == 2


@pytest.mark.parametrize("rewiring", [None, Rewiring(fraction=0.3, every=2)], ids=["fixed", "rewired"])
def test_sparse_training_keeps_sparsity_masks_and_card_accuracy(rewiring):
    rng = np.random.default_rng(0)
    x = rng.random((300, 784)).astype(np.float32)
    y = rng.integers(0, 10, 300)
    net = mlp_net((784, 30, 10), seed=0)
    masks = network_small_world_masks(net, 0.9, 0.1)
    res = train_sparse(net, masks, x, y, x[:100], y[:100], epochs=2, batch=50, rewiring=rewiring)
    for w, m, m0 in zip(res.net.weights, res.masks, masks, strict=True):
        assert np.all(w[~m] == 0) and m.sum() == m0.sum()
    assert res.sparsity == pytest.approx(0.9, abs=0.01)
    moved = any((m != m0).any() for m, m0 in zip(res.masks, masks, strict=True))
    assert moved == (rewiring is not None) and (res.rewired > 0) == moved
    acc = card_accuracy(res.net, "cbram-shi2018", x[:100], y[:100])
    assert 0.0 <= acc <= 1.0


def _unit(mask):
    return mask[:, :, 0, 0] if mask.ndim == 4 else mask


def test_rewiring_moves_connections_at_fixed_density_without_changing_the_function():
    from neurocbram.analysis.mlp import Adam

    rng = np.random.default_rng(1)
    x = rng.random((40, 784)).astype(np.float32)
    y = rng.integers(0, 10, 40)
    net = lenet5(seed=0, widths=(4, 6, 12, 10))
    masks = network_small_world_masks(net, 0.8, 0.1, seed=0)
    net.set_masks(masks)
    optimizer = Adam(1e-2)
    hook = Rewiring(fraction=0.3, every=2, end=1.0).hook(net, optimizer, total_steps=6)
    for step in (1, 2):
        _, grads = net.loss_and_grads(x[:20], y[:20])
        optimizer.step(net.params, grads)
        net.apply_masks()
        for m, v in zip(optimizer._m, optimizer._v, strict=True):
            m += 1.0  # stale moments, as left behind by weights dropped earlier
            v += 1.0
        before = copy.deepcopy(net)
        old = [np.asarray(layer.mask, bool).copy() for layer in net.weighted]
        hook(step, 0.0)
    # step 2 rewired: the net computes what the old one does without the dropped weights
    # (grown ones start at 0), every layer keeps its count, the masks moved
    for layer, now in zip(before.weighted, net.weighted, strict=True):
        layer.W *= np.asarray(now.mask, bool)
    np.testing.assert_array_equal(net.logits(x[20:]), before.logits(x[20:]))
    assert hook.moved > 0
    moved_layers = 0
    for i, (layer, was) in enumerate(zip(net.weighted, old, strict=True)):
        now = np.asarray(layer.mask, bool)
        assert now.sum() == was.sum()
        assert np.all(layer.W[~now] == 0)
        if layer.W.ndim == 4:  # whole kernels move
            assert np.array_equal(now, np.broadcast_to(_unit(now)[:, :, None, None], now.shape))
        grown = now & ~was
        if grown.any():
            moved_layers += 1
            assert np.all(layer.W[grown] == 0)
            assert np.all(optimizer._m[2 * i][grown] == 0) and np.all(optimizer._v[2 * i][grown] == 0)
        if masks[i].all():
            assert now.all()  # dense layers are left alone
    assert moved_layers >= 2


def test_rewiring_rejects_bad_settings():
    for bad in ({"fraction": 0.0}, {"fraction": 1.0}, {"every": 0}, {"end": 0.0}):
        with pytest.raises(ValueError):
            Rewiring(**bad)


def test_bad_input_raises():
    for bad in (-0.1, 1.0, 1.5, "x"):
        with pytest.raises(ValueError):
            check_sparsity(bad)
    with pytest.raises(ValueError):
        network_small_world_masks(mlp_net((4, 3, 2)), 1.0, 0.1)
    with pytest.raises(ValueError):
        small_world_mask((3, 4), 0.5, 1.5)
    with pytest.raises(ValueError):
        characteristic_path_length(np.zeros((3, 4)))
    with pytest.raises(ValueError):
        structure_metrics([np.zeros((2, 3, 4))])
    with pytest.raises(ValueError):
        card_accuracy(mlp_net((4, 3, 2)), "no-such-card", np.zeros((1, 4)), np.zeros(1))


def test_cli_rejects_bad_input_before_training(tmp_path):
    import argparse

    from neurocbram.commands import structure

    parser = argparse.ArgumentParser()
    parser.add_argument("--quiet", action="store_true")
    structure.add_arguments(parser)
    for argv in (["small-world", "--card", "no-such-card"], ["small-world", "--sparsity", "1.0", "--card", ""],
                 ["small-world", "--rewire", "1.5", "--card", ""], ["cgap", "--card", "no-such-card"]):
        args = parser.parse_args(argv + ["--out", str(tmp_path)])
        with pytest.raises(ValueError):
            structure.run(args)
    args = parser.parse_args(["small-world", "--jobs", "0", "--card", "", "--out", str(tmp_path)])
    with pytest.raises(ValueError, match="--jobs must be >= 1"):
        structure.run(args)


def test_hilbert_ring_is_a_path_of_neighbours():
    from neurocbram.analysis.small_world import hilbert_index, image_ring

    r, c = np.divmod(np.arange(64), 8)
    d = hilbert_index(8, r, c)
    assert sorted(d.tolist()) == list(range(64))
    o = np.argsort(d)
    assert np.all(np.abs(np.diff(r[o])) + np.abs(np.diff(c[o])) == 1)  # each step moves to a neighbour
    active = np.zeros(36, bool)
    active[[7, 8, 14, 30]] = True
    ring = image_ring(active, 6)
    assert sorted(ring.tolist()) == [7, 8, 14, 30]
    with pytest.raises(ValueError, match="power of 2"):
        hilbert_index(6, r, c)


def test_mask_restricted_to_inputs():
    inputs = np.zeros(40, bool)
    inputs[10:30] = True
    m = small_world_mask((8, 40), 0.1, 0.5, seed=0, inputs=inputs)
    assert not m[:, ~inputs].any() and m.sum() == 32
    ring = np.array([5, 3, 1, 7])
    m = small_world_mask((2, 8), 0.25, 0.0, inputs=ring)
    assert m[:, [0, 2, 4, 6]].sum() == 0 and m.sum() == 4
    with pytest.raises(ValueError, match="inputs"):
        small_world_mask((2, 8), 0.25, 0.0, inputs=np.array([1, 1]))


def test_network_densities_er_keeps_convs_denser_than_erk():
    from neurocbram.analysis.small_world import network_densities

    net = lenet5(0)
    er, erk = network_densities(net, 0.977, "er"), network_densities(net, 0.977, "erk")
    sizes = np.array([w.size for w in net.weights])
    for d in (er, erk):
        assert np.dot(d, sizes) / sizes.sum() == pytest.approx(0.023, abs=1e-6)
    assert er[1] > erk[1] and er[0] == 1.0
    with pytest.raises(ValueError, match="method"):
        network_densities(net, 0.9, "random")


def test_gradual_magnitude_pruning_schedule_and_masks():
    from neurocbram.analysis.small_world import cubic_density, gradual_magnitude_prune

    assert cubic_density(0, 10, 20, 0.1) == 1.0 and cubic_density(25, 10, 20, 0.1) == 0.1
    mid = [cubic_density(t, 10, 20, 0.1) for t in range(10, 21)]
    assert mid == sorted(mid, reverse=True) and mid[5] == pytest.approx(1 - 0.9 * (1 - 0.5 ** 3))
    rng = np.random.default_rng(1)
    x = rng.random((400, 784)).astype(np.float32)
    y = rng.integers(0, 10, 400)
    net = mlp_net((784, 20, 10), seed=0)
    res = gradual_magnitude_prune(net, [0.05, 0.5], x, y, x[:50], y[:50], epochs=2, every=2, batch=50)
    assert [round(m.mean(), 3) for m in res.masks] == [0.05, 0.5]
    for w, m in zip(res.net.weights, res.masks, strict=False):
        assert np.all(w[~m] == 0) and np.count_nonzero(w[m]) > 0.9 * m.sum()
    with pytest.raises(ValueError, match="start"):
        gradual_magnitude_prune(net, [0.5, 0.5], x, y, x, y, start=0.7, end=0.2)


def test_compare_pruning_in_parallel_gives_the_same_runs():
    """The runs are seeded and independent: two worker processes reproduce one process."""
    from neurocbram.analysis.small_world import compare_pruning

    rng = np.random.default_rng(0)
    x = rng.random((700, 784)).astype(np.float32)
    y = x[:, :10].argmax(axis=1)
    kw = dict(sparsities=[0.9], ps=[0.0, 1.0], epochs=1.0, val_size=200, card=None,
              rewiring=Rewiring(0.3, every=2))
    one = compare_pruning("lenet300", (x, y, x[:200], y[:200]), jobs=1, **kw)
    two = compare_pruning("lenet300", (x, y, x[:200], y[:200]), jobs=2, **kw)
    for result in (one, two):
        result.pop("seconds"), result.pop("jobs")
    assert [r["method"] for r in one["runs"]] == ["small-world p=0", "small-world p=1",
                                             "magnitude (gradual)"]
    assert one["runs"][0]["rewired"] > 0 and one["rewiring"]["fraction"] == 0.3
    assert one == two
    with pytest.raises(ValueError, match="jobs"):
        compare_pruning("lenet300", (x, y, x, y), jobs=0, **kw)


def _fake_result(seed: int, dense: float, runs: list[tuple]) -> dict:
    """A compare_pruning result with only the fields seed_summary reads: (sparsity, p, accuracy, selected)."""
    return {"model": "lenet300", "seed": seed, "dense": {"accuracy": dense},
            "runs": [{"target_sparsity": s, "p": p, "accuracy": a} | ({"selected": True} if sel else {})
                     for s, p, a, sel in runs]}


def test_seed_summary_means_and_gaps_against_each_seeds_dense_run():
    from neurocbram.analysis.small_world import seed_summary

    a = _fake_result(0, 0.98, [(0.97, 0.0, 0.90, False), (0.97, 0.3, 0.976, True), (0.97, None, 0.979, False)])
    b = _fake_result(1, 0.97, [(0.97, 0.0, 0.968, True), (0.97, 0.3, 0.975, False), (0.97, None, 0.965, False)])
    out = seed_summary([a, b])
    assert out["seeds"] == [0, 1] and out["dense"]["mean"] == pytest.approx(0.975)
    assert out["dense"]["std"] == pytest.approx(np.std([0.98, 0.97], ddof=1))
    (row,) = out["sparsities"]
    sw, mag = row["small_world"], row["magnitude"]
    assert sw["accuracy"] == [0.976, 0.968] and sw["p"] == [0.3, 0.0]  # the selected run, not the best test
    assert sw["gap_points"] == pytest.approx([-0.4, -0.2])
    assert sw["mean_gap_points"] == pytest.approx(-0.3) and sw["worst_gap_points"] == pytest.approx(-0.4)
    assert mag["gap_points"] == pytest.approx([-0.1, -0.5]) and mag["worst_gap_points"] == pytest.approx(-0.5)
    assert seed_summary([a])["dense"]["std"] == 0.0


def test_seed_summary_rejects_mismatched_results():
    from neurocbram.analysis.small_world import seed_summary

    runs = [(0.97, 0.3, 0.976, True), (0.97, None, 0.979, False)]
    a = _fake_result(0, 0.98, runs)
    with pytest.raises(ValueError, match="at least one"):
        seed_summary([])
    with pytest.raises(ValueError, match="seed twice"):
        seed_summary([a, a])
    with pytest.raises(ValueError, match="one model"):
        seed_summary([a, _fake_result(1, 0.98, runs) | {"model": "lenet5"}])
    unselected = _fake_result(1, 0.98, [(0.97, 0.3, 0.976, False), (0.97, None, 0.979, False)])
    with pytest.raises(ValueError, match="one small_world run at sparsity 0.97"):
        seed_summary([a, unselected])


def test_seed_summary_reads_real_compare_pruning_results():
    from neurocbram.analysis.small_world import compare_pruning, seed_summary

    rng = np.random.default_rng(1)
    x = rng.random((500, 784)).astype(np.float32)
    y = x[:, :10].argmax(axis=1)
    runs = [compare_pruning("lenet300", (x, y, x[:100], y[:100]), sparsities=[0.9], ps=[0.0], epochs=1.0,
                            val_size=100, card=None, seed=seed) for seed in (0, 1)]
    (row,) = seed_summary(runs)["sparsities"]
    for r, acc in zip(runs, row["small_world"]["accuracy"], strict=True):
        (selected,) = [run for run in r["runs"] if run.get("selected")]
        assert acc == selected["accuracy"]
    mags = [run["accuracy"] for r in runs for run in r["runs"] if run["p"] is None]
    assert row["magnitude"]["mean"] == pytest.approx(np.mean(mags))
