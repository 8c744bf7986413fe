"""Figures of pruning and energy: content (marks, bars, lines), files and clear errors."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.container import BarContainer
from matplotlib.figure import Figure
from matplotlib.patches import StepPatch
from neurocbram.analysis.pruning_figures import (
    FROZEN_RGBA,
    REMOVED_RGBA,
    plot_accuracy_vs_pruned,
    plot_energy_bars,
    plot_pulse_histogram,
    plot_receptive_fields_pruned,
    receptive_field_mosaic,
)

from neurocbram.energy import EnergyReport, OperationCounts


def _masks(n: int = 6, seed: int = 0):
    rng = np.random.default_rng(seed)
    w = rng.uniform(0, 1, (784, n))
    frozen = rng.uniform(size=(784, n)) < 0.5
    removed = frozen & (rng.uniform(size=(784, n)) < 0.3)  # hard pruning also freezes
    return w, frozen, removed


# --------------------------------------------------------------------------- receptive fields


def test_receptive_field_mosaic_layout():
    columns = np.arange(784 * 3, dtype=float).reshape(784, 3)
    mosaic = receptive_field_mosaic(columns)  # 2 x 2 tiles
    assert mosaic.shape == (57, 57)
    np.testing.assert_array_equal(mosaic[:28, 29:], columns[:, 1].reshape(28, 28))
    np.testing.assert_array_equal(mosaic[29:, :28], columns[:, 2].reshape(28, 28))
    assert np.isnan(mosaic[28]).all() and np.isnan(mosaic[29:, 29:]).all()


def test_receptive_fields_mark_frozen_and_removed_where_the_masks_say(tmp_path):
    w, frozen, removed = _masks()
    fig = plot_receptive_fields_pruned(w, frozen, removed, n_show=4, path=tmp_path / "rf.png")
    assert isinstance(fig, Figure) and (tmp_path / "rf.png").stat().st_size > 0
    ax = fig.axes[0]
    weights_img, overlay_img = ax.images
    np.testing.assert_array_equal(weights_img.get_array(), receptive_field_mosaic(w[:, :4]))
    overlay = np.asarray(overlay_img.get_array())
    only_frozen = receptive_field_mosaic(frozen[:, :4] & ~removed[:, :4], fill=False)
    gone = receptive_field_mosaic(removed[:, :4], fill=False)
    assert only_frozen.any() and gone.any()
    np.testing.assert_allclose(overlay[only_frozen], np.tile(FROZEN_RGBA, (only_frozen.sum(), 1)))
    np.testing.assert_allclose(overlay[gone], np.tile(REMOVED_RGBA, (gone.sum(), 1)))
    assert np.all(overlay[~only_frozen & ~gone, 3] == 0)  # nothing else is marked
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0].startswith("frozen") and labels[1].startswith("removed")
    assert len(fig.axes) == 2  # image + colorbar


def test_receptive_fields_without_removed_and_n_show_beyond_n():
    w, frozen, _ = _masks(n=3)
    fig = plot_receptive_fields_pruned(w, frozen, n_show=100)
    overlay = np.asarray(fig.axes[0].images[1].get_array())
    assert overlay.shape[:2] == (57, 57)
    np.testing.assert_array_equal(overlay[..., 3] > 0, receptive_field_mosaic(frozen, fill=False))


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((np.zeros((783, 2)), np.zeros((783, 2), bool)), {}, "w must have shape"),
        ((np.zeros((784, 2)), np.zeros((784, 3), bool)), {}, "frozen must have shape"),
        ((np.zeros((784, 2)), np.zeros((784, 2)), None), {}, "frozen must be a boolean"),
        ((np.zeros((784, 2)), np.zeros((784, 2), bool), np.zeros((784, 1), bool)), {},
         "removed must have shape"),
        ((np.zeros((784, 2)), np.zeros((784, 2), bool)), {"n_show": 0}, "n_show"),
    ],
)  # fmt: skip
def test_receptive_fields_errors(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        plot_receptive_fields_pruned(*args, **kwargs)


# --------------------------------------------------------------------------- pulses


def _stairs(ax) -> list[StepPatch]:
    return [p for p in ax.patches if isinstance(p, StepPatch)]


def test_pulse_histogram_counts_every_synapse_split_by_frozen(tmp_path):
    rng = np.random.default_rng(1)
    sets = rng.poisson(3.0, (784, 4))
    resets = rng.poisson(2.0, (784, 4))
    frozen = rng.uniform(size=(784, 4)) < 0.75
    fig = plot_pulse_histogram(sets, resets, frozen, path=tmp_path / "pulses.png")
    assert (tmp_path / "pulses.png").exists()
    assert len(fig.axes) == 3
    for ax, pulses in zip(fig.axes, (sets, resets, sets + resets), strict=True):
        assert ax.get_yscale() == "log"
        (frozen_hist, other_hist) = _stairs(ax)
        values, edges, _ = frozen_hist.get_data()
        assert values.sum() == frozen.sum() and other_hist.get_data()[0].sum() == (~frozen).sum()
        # bin of count c: one bin per integer here
        np.testing.assert_array_equal(values, np.bincount(pulses[frozen], minlength=len(values)))
        assert edges[0] == -0.5
    assert fig.axes[2].get_title().startswith(f"total (SET + RESET): {(sets + resets).sum():,}")


def test_pulse_histogram_without_mask_and_wide_range():
    sets = np.array([[0, 1000], [5, 7]])
    fig = plot_pulse_histogram(sets, np.zeros_like(sets))
    (hist,) = _stairs(fig.axes[0])
    values, _, _ = hist.get_data()
    assert values.sum() == 4 and len(values) <= 61  # wide bins beyond 60 counts


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((np.ones((3, 2)), np.ones((2, 3))), "reset_pulses must have the shape"),
        ((np.ones((3, 2)), np.ones((3, 2)), np.ones((3, 1), bool)), "frozen must have the shape"),
        ((np.ones((3, 2)), np.ones((3, 2)), np.ones((3, 2))), "frozen must be a boolean"),
        ((-np.ones((3, 2)), np.ones((3, 2))), "set_pulses must hold non-negative"),
        ((np.ones((3, 2)), np.full((3, 2), 0.5)), "reset_pulses must hold non-negative integer"),
        ((np.zeros(0), np.zeros(0)), "set_pulses is empty"),
    ],
)
def test_pulse_histogram_errors(args, message):
    with pytest.raises(ValueError, match=message):
        plot_pulse_histogram(*args)


# --------------------------------------------------------------------------- accuracy


TABLE = [
    {"kind": "soft", "fraction": 0.0, "accuracy": 0.90, "seed": 0},
    {"kind": "soft", "fraction": 0.0, "accuracy": 0.92, "seed": 1},
    {"kind": "soft", "fraction": 0.75, "accuracy": 0.86, "seed": 0},
    {"kind": "soft", "fraction": 0.75, "accuracy": 0.88, "seed": 1},
    {"kind": "hard", "fraction": 0.75, "accuracy": 0.60, "seed": 0},
    {"kind": "hard", "fraction": 0.4, "accuracy": 0.85, "seed": 0},
]


def test_accuracy_vs_pruned_curves_bands_and_references(tmp_path):
    fig = plot_accuracy_vs_pruned(
        TABLE, references={"Shi et al. 2018, soft 75%": 0.93}, path=tmp_path / "acc.pdf"
    )
    assert (tmp_path / "acc.pdf").exists()
    (ax,) = fig.axes
    soft, hard, reference = ax.get_lines()
    np.testing.assert_allclose(soft.get_xdata(), [0, 75])
    np.testing.assert_allclose(soft.get_ydata(), [91, 87])  # means over seeds, in %
    np.testing.assert_allclose(hard.get_xdata(), [40, 75])  # sorted by fraction
    np.testing.assert_allclose(hard.get_ydata(), [85, 60])
    np.testing.assert_allclose(reference.get_ydata(), [93, 93])
    assert len(ax.collections) == 1  # min-max band for soft only (hard has one seed)
    band = ax.collections[0].get_paths()[0].vertices[:, 1]
    assert band.min() == pytest.approx(86) and band.max() == pytest.approx(92)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0].startswith("soft") and labels[1] == "hard pruning"
    assert labels[2] == "Shi et al. 2018, soft 75%"


def test_accuracy_vs_pruned_hard_after_and_during_are_two_curves():
    table = [
        {"kind": "soft", "fraction": 0.0, "accuracy": 0.90},
        {"kind": "hard", "when": "after", "fraction": 0.0, "accuracy": 0.90},
        {"kind": "hard", "when": "after", "fraction": 0.4, "accuracy": 0.88},
        {"kind": "hard", "when": "during", "fraction": 0.0, "accuracy": 0.90},
        {"kind": "hard", "when": "during", "fraction": 0.4, "accuracy": 0.70},
    ]
    (ax,) = plot_accuracy_vs_pruned(table).axes
    _, after, during = ax.get_lines()
    np.testing.assert_allclose(after.get_ydata(), [90, 88])
    np.testing.assert_allclose(during.get_ydata(), [90, 70])
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["soft pruning", "hard pruning (after training)", "hard pruning (during training)"]
    with pytest.raises(ValueError, match=r"table\[0\] when must be 'after' or 'during'"):
        plot_accuracy_vs_pruned([{"kind": "hard", "when": "later", "fraction": 0.1, "accuracy": 0.5}])


@pytest.mark.parametrize(
    ("table", "references", "message"),
    [
        ([], None, "table is empty"),
        ([{"kind": "medium", "fraction": 0.5, "accuracy": 0.5}], None, "kind must be"),
        ([{"kind": "soft", "accuracy": 0.5}], None, r"table\[0\] lacks fraction"),
        ([{"kind": "soft", "fraction": 75, "accuracy": 0.5}], None, "fraction must lie"),
        ([{"kind": "soft", "fraction": 0.7, "accuracy": 81}], None, "accuracy must be a fraction"),
        (TABLE, {"paper": 93}, r"references\['paper'\]"),
    ],
)
def test_accuracy_vs_pruned_errors(table, references, message):
    with pytest.raises(ValueError, match=message):
        plot_accuracy_vs_pruned(table, references=references)
    with pytest.raises(TypeError, match="table must be a list"):
        plot_accuracy_vs_pruned({"kind": "soft", "fraction": 0.5, "accuracy": 0.5})
    with pytest.raises(TypeError, match=r"table\[1\] must be a dict"):
        plot_accuracy_vs_pruned([TABLE[0], 0.9])


# --------------------------------------------------------------------------- energy


def _report(images: int, scale: float) -> EnergyReport:
    return EnergyReport(
        images=images,
        memristive={"set_pulses": 2e-9 * scale, "reset_pulses": 1e-9 * scale,
                    "reads": 5e-10 * scale, "spikes": 0.0},
        digital={"updates": 4e-7 * scale, "reads": 3e-6 * scale, "spikes": 0.0},
        counts=OperationCounts(images=images),
    )  # fmt: skip


def test_energy_bars_stack_components_per_image(tmp_path):
    reports = {"no pruning": _report(10, 1.0), "soft 75%": _report(20, 0.5)}
    fig = plot_energy_bars(reports, path=tmp_path / "energy.png")
    assert (tmp_path / "energy.png").exists()
    (ax,) = fig.axes
    assert ax.get_yscale() == "log"
    containers = {c.get_label(): c for c in ax.containers if isinstance(c, BarContainer)}
    assert set(containers) == {
        "memristive set_pulses", "memristive reset_pulses", "memristive reads",
        "memristive spikes", "digital updates", "digital reads", "digital spikes",
    }  # fmt: skip
    set_bars = containers["memristive set_pulses"]
    np.testing.assert_allclose([b.get_height() for b in set_bars], [2e-10, 0.5e-10])
    np.testing.assert_allclose([b.get_x() + b.get_width() / 2 for b in set_bars], [0, 3])
    for name, report in reports.items():
        k = list(reports).index(name)
        for side, x in (("memristive", 3 * k), ("digital", 3 * k + 1)):
            stacked = sum(
                c[k].get_height() for label, c in containers.items() if label.startswith(side)
            )
            tops = max(c[k].get_y() + c[k].get_height() for label, c in containers.items()
                       if label.startswith(side))  # fmt: skip
            expected = getattr(report, side + "_total") / report.images
            assert stacked == pytest.approx(expected) and tops == pytest.approx(expected)
            assert containers[f"{side} reads"][k].get_x() == pytest.approx(x - 0.45)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[-1] == "digital baseline" and "set pulses" in legend
    assert [t.get_text() for t in ax.get_xticklabels()][:2] == [
        "no pruning\nmemristive",
        "no pruning\ndigital",
    ]


@pytest.mark.parametrize(
    ("reports", "message"),
    [
        ({}, "reports must be a non-empty dict"),
        ({"a": object()}, r"reports\['a'\] is not an EnergyReport"),
        ({"a": _report(0, 1.0)}, r"reports\['a'\] covers 0 images"),
    ],
)
def test_energy_bars_errors(reports, message):
    with pytest.raises(ValueError, match=message):
        plot_energy_bars(reports)
