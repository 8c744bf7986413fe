"""MLP gradients, balanced RSA masks, sparse adaptation, fault detection and fault-aware
mapping, and tiny end-to-end RSA runs (synthetic and a few hundred MNIST images)."""

from __future__ import annotations

import numpy as np
import pytest
from neurocbram.analysis.crossbar import CrossbarLayer
from neurocbram.analysis.mlp import MLP, SGD, Adam, mnist_arrays, train
from neurocbram.analysis.rsa import (
    SA0_STUCK_OFF_RATE,
    SA1_STUCK_ON_RATE,
    RSAConfig,
    array_weights,
    balanced_sparse_mask,
    program_network,
    rsa_adapt,
    run_rsa,
)

from neurocbram.devices import DeviceCard
from neurocbram.devices.pulses import STUCK_NONE, STUCK_OFF, STUCK_ON


def tiny_card() -> DeviceCard:
    return DeviceCard.from_dict({
        "name": "tiny", "citation": "test",
        "conductance": {"g_min": 1e-6, "g_max": 1e-4}, "levels": 128,
        "pulses": {"set": {"amplitude": 1, "width": 1e-7}, "reset": {"amplitude": -1, "width": 1e-7}},
        "energy": {"set_pulse": 1e-12, "reset_pulse": 1e-12, "read": 1e-15},
        "response": {"model": "linear"},
    })


@pytest.mark.parametrize("activation,output", [("tanh", "softmax"), ("sigmoid", "sigmoid"), ("relu", "softmax")])
def test_mlp_gradients_match_finite_differences(activation, output):
    rng = np.random.default_rng(0)
    model = MLP((5, 4, 3), activation=activation, output=output, seed=1)
    x = rng.normal(size=(6, 5))
    y = rng.integers(0, 3, 6) if output == "softmax" else rng.random((6, 3))
    _, dws, dbs = model.loss_and_grads(x, y)
    eps = 1e-6
    for params, grads in ((model.weights, dws), (model.biases, dbs)):
        for p, g in zip(params, grads):
            for idx in np.ndindex(p.shape):
                old = p[idx]
                p[idx] = old + eps
                up = model.loss_and_grads(x, y)[0]
                p[idx] = old - eps
                down = model.loss_and_grads(x, y)[0]
                p[idx] = old
                assert abs((up - down) / (2 * eps) - g[idx]) < 1e-6


def test_mlp_learns_a_separable_problem_with_both_optimisers():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 2))
    y = (x[:, 0] + x[:, 1] > 0).astype(int)
    for opt in (Adam(1e-2), SGD(0.1)):
        model = MLP((2, 8, 2), seed=0)
        losses = train(model, x, y, epochs=20, batch=20, optimizer=opt)
        assert losses[-1] < losses[0]
        assert model.accuracy(x, y) > 0.95


def test_stuck_rates_are_the_cited_values():
    assert SA1_STUCK_ON_RATE == 0.0904 and SA0_STUCK_OFF_RATE == 0.0175
    config = RSAConfig()
    assert config.stuck_on_rate == SA1_STUCK_ON_RATE and config.levels == 32


@pytest.mark.parametrize("shape,fraction", [((300, 784), 0.05), ((100, 300), 0.05), ((10, 100), 0.05), ((7, 9), 0.5)])
def test_balanced_sparse_mask(shape, fraction):
    mask = balanced_sparse_mask(shape, fraction, seed=1)
    rows = mask.sum(axis=1)
    cols = mask.sum(axis=0)
    assert np.all(rows == round(fraction * shape[1]))
    assert cols.max() - cols.min() <= 1
    assert mask.sum() == rows.sum()
    other = balanced_sparse_mask(shape, fraction, seed=2)
    assert not np.array_equal(mask, other)


def test_rsa_adapt_changes_only_masked_cells_and_recovers():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 10))
    y = (x @ rng.normal(size=(10, 3))).argmax(axis=1)
    model = MLP((10, 16, 3), seed=0)
    train(model, x, y, epochs=30, batch=25, optimizer=Adam(1e-2))
    good = model.accuracy(x, y)
    damaged = [w + rng.normal(0, 0.5, w.shape) * (rng.random(w.shape) < 0.2) for w in model.weights]
    masks = [balanced_sparse_mask(w.shape, 0.3, rng) for w in model.weights]
    bad = model.accuracy(x, y, damaged)
    cells = rsa_adapt(model, damaged, masks, x, y, steps=300, batch=50, lr=1e-2, seed=0)
    for c, m in zip(cells, masks):
        assert np.all(c[~m] == 0)
    assert model.accuracy(x, y, [d + c for d, c in zip(damaged, cells)]) > bad
    assert good > bad


def test_run_rsa_end_to_end_on_a_tiny_problem():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 12)).astype(np.float32)
    y = (x @ rng.normal(size=(12, 4))).argmax(axis=1)
    model = MLP((12, 20, 4), seed=0)
    train(model, x, y, epochs=20, batch=20, optimizer=Adam(1e-2))
    config = RSAConfig(rsa_steps=40, eval_every=20, rsa_fraction=0.25, rvw_max_pulses=32)
    result = run_rsa(config, card=tiny_card(), model=model, data=(x, y, x, y))
    acc = result["accuracy"]
    assert {"float", "quantised_ideal", "faulty_one_shot", "rsa", "rvw"} <= set(acc)
    assert result["rsa"]["rram_pulses_after_programming"] == 0
    assert result["rvw"]["pulses"] > 0 and result["rvw"]["verify_reads"] > 0
    assert result["curves"]["rsa"][-1]["step"] == 40
    assert abs(result["stuck_device_fraction"] - (SA1_STUCK_ON_RATE + SA0_STUCK_OFF_RATE)) < 0.05
    # fault-aware mapping: stuck devices found from reads, partners re-written once
    fm = result["fault_mapping"]
    assert fm["fault_aware"] and fm["detected_stuck"] > 0 and fm["remap_writes"] > 0
    assert fm["false_alarms"] <= 0.01 * fm["devices"]
    assert result["rsa"]["rram_one_shot_rewrites"] == fm["remap_writes"]
    assert acc["rsa_array_before_adaptation"] > acc["faulty_one_shot"]
    # the timing model: RSA = overhead + steps x per-step time; curves carry times
    rsa = result["rsa"]
    assert rsa["modelled_time_s"] == pytest.approx(rsa["modelled_overhead_s"] + 40 * rsa["modelled_time_per_step_s"])
    assert [p["step"] for p in result["curves"]["rsa"]][:4] == [0, 1, 2, 3]
    same = result["at_same_accuracy"]
    assert same["accuracy"] == min(acc["rsa"], acc["rvw"])
    assert same["rvw_time_over_rsa_time"] == pytest.approx(same["rvw_time_s"] / same["rsa_time_s"])
    fa = result["rvw_fault_aware"]
    assert fa["remap_writes"] == fm["remap_writes"] and fa["pulses"] < result["rvw"]["pulses"]
    assert result["ablation"]["naive_mapping"]["array_accuracy"] == acc["faulty_one_shot"]


def _layer_with_faults(seed=0, shape=(40, 60), w_max=1.0):
    card = tiny_card().with_variability(stuck_on_rate=0.1, stuck_off_rate=0.05, write_sigma=0.1)
    rng = np.random.default_rng(seed)
    w = rng.uniform(-w_max, w_max, shape) * (rng.random(shape) < 0.8)
    return CrossbarLayer(card, shape, w_max=w_max, levels=32, seed=seed), w


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_detect_stuck_finds_stuck_on_devices_from_reads_only(seed):
    layer, w = _layer_with_faults(seed)
    layer.program(w, "one-shot")
    reads = layer.counts.verify_reads
    found = layer.detect_stuck()
    assert layer.counts.verify_reads - reads == 2 * w.size  # one counted read per device
    t_pos, t_neg = (t.reshape(w.shape) for t in layer._last_targets)
    for f, true, t in zip(found, layer.stuck, (t_pos, t_neg)):
        assert np.all((f == STUCK_NONE) | (f == true))  # no false alarm
        # every stuck-on device sent a target well below g_max is found
        visible = (true == STUCK_ON) & (t < 0.5 * layer.card.g_max)
        assert visible.sum() > 0 and np.all(f[visible] == STUCK_ON)
        visible_off = (true == STUCK_OFF) & (t > 3 * layer.card.g_min)
        assert np.all(f[visible_off] == STUCK_OFF)


def test_fault_aware_mapping_reduces_the_error_on_stuck_pairs():
    naive, w = _layer_with_faults(3)
    aware, _ = _layer_with_faults(3)
    naive.program(w, "one-shot")
    aware.program(w, "one-shot")
    stuck_before = [s.copy() for s in (aware.g_pos, aware.g_neg)]
    written = aware.remap_stuck(w, *aware.detect_stuck())
    assert written > 0 and aware.counts.one_shot_writes == 2 * w.size + written
    sp, sn = aware.stuck
    on = (sp == STUCK_ON) ^ (sn == STUCK_ON)
    err_naive = np.abs(naive.weights - w)[on]
    err_aware = np.abs(aware.weights - w)[on]
    assert err_aware.mean() < 0.7 * err_naive.mean()  # uniform weights: about 0.6
    # a lone stuck-on G+ with w >= 0 is now held to within a few quantisation steps
    pos_ok = (sp == STUCK_ON) & (sn == STUCK_NONE) & (w >= 0)
    assert np.abs(aware.weights - w)[pos_ok].max() < 0.25
    # stuck devices never change
    for g, before, code in ((aware.g_pos, stuck_before[0], sp), (aware.g_neg, stuck_before[1], sn)):
        stuck = code.ravel() != STUCK_NONE
        assert np.array_equal(g[stuck], before[stuck])


def test_verify_from_known_stuck_never_pulses_known_devices():
    layer, w = _layer_with_faults(4)
    layer.program(w, "one-shot")
    found = layer.detect_stuck()
    layer.remap_stuck(w, *found)
    known = np.concatenate([f.ravel() != STUCK_NONE for f in found])
    g_before = np.concatenate([layer.g_pos, layer.g_neg]).copy()
    report = layer.verify(w, found, max_pulses=64)
    assert report.one_shot_writes == 0 and report.pulses > 0
    # known devices are neither read nor pulsed: reads only from the others
    assert report.reads <= 64 * int((~known).sum())
    g_after = np.concatenate([layer.g_pos, layer.g_neg])
    assert np.array_equal(g_after[known], g_before[known])
    plain, _ = _layer_with_faults(4)
    plain_report = plain.program(w, "rvw", max_pulses=64)
    assert report.pulses < plain_report.pulses
    assert np.abs(layer.weights - w).mean() <= np.abs(plain.weights - w).mean() + 0.01


def test_rsa_adapt_bias_adaptation_and_schedule():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 6))
    y = (x[:, :3] @ rng.normal(size=(3, 3))).argmax(axis=1)
    model = MLP((6, 8, 3), seed=0)
    masks = [balanced_sparse_mask(w.shape, 0.5, rng) for w in model.weights]
    base = [w.copy() for w in model.weights]
    biases = [b.copy() for b in model.biases]
    rsa_adapt(model, base, masks, x, y, steps=20, batch=20, lr=1e-2, seed=0, schedule="cosine")
    assert all(np.array_equal(b, c) for b, c in zip(model.biases, biases))
    seen = []
    rsa_adapt(model, base, masks, x, y, steps=20, batch=20, lr=1e-2, seed=0, adapt_biases=True,
              callback=lambda step, w: seen.append(step), every=10, eval_steps={1, 3})
    assert not all(np.array_equal(b, c) for b, c in zip(model.biases, biases))
    assert seen == [1, 3, 10, 20]
    with pytest.raises(ValueError, match="schedule"):
        rsa_adapt(model, base, masks, x, y, steps=1, schedule="step")


def test_rsa_on_a_few_hundred_mnist_images_recovers_with_fault_aware_mapping(mnist_dir):
    x, y = mnist_arrays("train", folder=mnist_dir, limit=600)
    xt, yt = x[400:], y[400:]
    x, y = x[:400], y[:400]
    model = MLP((784, 64, 10), seed=0, dtype=np.float32)
    train(model, x, y, epochs=15, batch=20, optimizer=Adam(2e-3), seed=0)
    config = RSAConfig(rsa_steps=60, rsa_batch=50, eval_every=30, rsa_fraction=0.1, rvw_max_pulses=16)
    card = tiny_card()
    naive, _ = program_network(model, card, config, fault_aware=False)
    aware, info = program_network(model, card, config, fault_aware=True)
    assert info["remap_writes"] > 0 and info["false_alarms"] == 0
    err = [float(np.mean([np.abs(a - w).mean() for a, w in zip(array_weights(layers), model.weights)]))
           for layers in (naive, aware)]
    assert err[1] < 0.6 * err[0]
    acc_naive = model.accuracy(xt, yt, array_weights(naive))
    acc_aware = model.accuracy(xt, yt, array_weights(aware))
    assert acc_aware > acc_naive
    result = run_rsa(config, card=card, model=model, data=(x, y, xt, yt))
    assert result["accuracy"]["rsa"] >= result["accuracy"]["rsa_start"] - 0.02
    assert result["accuracy"]["rsa"] > result["ablation"]["naive_mapping"]["rsa_accuracy"]


def test_rsa_config_errors_name_the_parameter():
    with pytest.raises(ValueError, match="stuck_on_rate"):
        RSAConfig(stuck_on_rate=1.5).validate()
    with pytest.raises(ValueError, match="rsa_fraction"):
        RSAConfig(rsa_fraction=-0.1).validate()
    with pytest.raises(ValueError, match="levels"):
        RSAConfig(levels=1).validate()
    with pytest.raises(ValueError, match="rsa_init"):
        RSAConfig(rsa_init="random").validate()
    with pytest.raises(ValueError, match="rsa_lr_schedule"):
        RSAConfig(rsa_lr_schedule="step").validate()
    with pytest.raises(ValueError, match="detect_sigma"):
        RSAConfig(detect_sigma=0).validate()
    with pytest.raises(ValueError, match="fraction"):
        balanced_sparse_mask((3, 3), 2.0)
    with pytest.raises(ValueError, match="x must have shape"):
        MLP((3, 2)).forward(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="activation"):
        MLP((3, 2), activation="gelu")  # type: ignore[arg-type]
