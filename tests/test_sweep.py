"""``neurocbram sweep``: soft vs hard pruning in parallel processes, table and figures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from neurocbram.cli import main
from neurocbram.sweep import SweepConfig

pytestmark = pytest.mark.network


def test_sweep_writes_the_table_and_figures(tmp_path: Path, mnist_dir: Path) -> None:
    out = tmp_path / "sweep"
    # the shape of tests/test_network.py (20 neurons, 50 slots) reuses its build
    code = main(["--quiet", "sweep", "--fractions", "0", "0.5", "--neurons", "20",
                 "--images", "120", "--label-images", "100", "--test-images", "100",
                 "--jobs", "2", "--out", str(out), "--mnist", str(mnist_dir),
                 "--slots", "50"])
    assert code == 0
    table = json.loads((out / "sweep.json").read_text())
    rows = {(r["kind"], r["fraction"]): r for r in table["rows"]}
    assert set(rows) == {("none", 0.0), ("soft", 0.5), ("hard", 0.5)}
    soft, hard, plain = rows[("soft", 0.5)], rows[("hard", 0.5)], rows[("none", 0.0)]
    assert soft["pruned_fraction"] == pytest.approx(0.5, abs=1 / 784)
    assert hard["pruned_fraction"] == pytest.approx(0.5, abs=1 / 784)
    assert soft["skipped_frozen"] > 0 and plain["skipped_frozen"] == 0
    for row in table["rows"]:
        assert 0.0 <= row["accuracy"] <= 1.0
        assert row["training_energy"]["per_image_J"]["memristive"] > 0
    # hard pruning after training: the same training, fewer reads at inference
    assert hard["set_pulses"] == plain["set_pulses"]
    reads = [r["inference_energy"]["counts"]["synaptic_reads"] for r in (plain, hard)]
    assert reads[1] < reads[0]
    for name in ("accuracy_vs_pruned_fraction.png", "energy_per_image.png",
                 "receptive_fields_pruned.png", "pulse_histogram.png"):
        assert (out / name).stat().st_size > 1000


def test_sweep_hard_pruning_after_and_during(tmp_path: Path, mnist_dir: Path) -> None:
    from neurocbram.sweep import run_sweep

    config = SweepConfig(fractions=(0.0, 0.5), kinds=("soft", "hard"), hard="both",
                         hard_fractions=(0.25,), neurons=20, images=120, label_images=100,
                         test_images=100, slots=50, jobs=2, mnist=str(mnist_dir))
    rows = run_sweep(config, tmp_path, progress=False)
    got = {(r["kind"], r["when"], r["fraction"]) for r in rows}
    assert got == {("none", "during", 0.0), ("soft", "during", 0.5), ("hard", "after", 0.25),
                   ("hard", "during", 0.25)}
    by = {(r["kind"], r["when"]): r for r in rows}
    plain, after, during = by[("none", "during")], by[("hard", "after")], by[("hard", "during")]
    assert after["set_pulses"] == plain["set_pulses"]  # pruned once trained: same training
    assert after["skipped_frozen"] == plain["skipped_frozen"] == 0
    assert during["skipped_frozen"] > 0  # removed during training: the rule's pulses not issued
    for r in (after, during):
        assert r["pruned_fraction"] == pytest.approx(0.25, abs=1 / 784)
    assert (tmp_path / "hard-0.25-seed0" / "trained_state.npz").exists()
    assert not (tmp_path / "hard-0.5-seed0").exists()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"fractions": (0.0, 1.0)}, "fractions must lie in"),
        ({"kinds": ("soft", "medium")}, "kinds must be some of"),
        ({"prune_start": 0.6, "prune_end": 0.4}, "prune_start and prune_end"),
        ({"hard": "later"}, "hard must be"),
        ({"hard_fractions": (0.4, 1.2)}, "hard_fractions must lie in"),
        ({"constant": 1.5}, "constant is a weight"),
        ({"constant": "mean"}, "constant must be a weight in \\[0, 1\\], a conductance, None or 'keep'"),
        ({"depression": "never"}, "depression must be one of"),
        ({"integration": "rk4"}, "integration method must be one of"),
    ],
)
def test_sweep_rejects_bad_configurations(options, message) -> None:
    with pytest.raises(ValueError, match=message):
        SweepConfig(**options)


def test_sweep_network_follows_the_dynamics_options() -> None:
    params = SweepConfig(neurons=7, integration="euler", depression="per_spike").params()
    assert (params.n_neurons, params.integration, params.depression) == (7, "euler", "per_spike")


def test_constant_option_reads_a_weight_or_keep() -> None:
    import argparse

    from neurocbram.commands.sweep import pruning_constant

    assert pruning_constant("keep") == "keep"
    assert pruning_constant("0.05") == 0.05
    assert pruning_constant("mean") is None
    with pytest.raises(argparse.ArgumentTypeError, match="'mean', got 'half'"):
        pruning_constant("half")
