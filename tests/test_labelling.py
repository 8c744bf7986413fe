"""Labelling, prediction, accuracy and figures on hand-made responses with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from neurocbram.analysis.labelling import (
    UNLABELLED,
    accuracy,
    assign_labels,
    class_mean_responses,
    class_proportions,
    confusion_matrix,
    predict,
)

# 6 images of 3 classes, 4 neurons: neuron 0 likes class 0, 1 likes 1, 2 likes 2, 3 is silent
RESPONSES = np.array(
    [
        [6, 1, 0, 0],  # class 0
        [4, 0, 1, 0],  # class 0
        [1, 5, 0, 0],  # class 1
        [0, 7, 2, 0],  # class 1
        [0, 1, 3, 0],  # class 2
        [2, 0, 5, 0],  # class 2
    ]
)
LABELS = np.array([0, 0, 1, 1, 2, 2])


def test_class_means_and_labels():
    means = class_mean_responses(RESPONSES, LABELS, n_classes=3)
    np.testing.assert_allclose(means[:, 0], [5.0, 0.5, 1.0])
    np.testing.assert_allclose(means[:, 2], [0.5, 1.0, 4.0])
    labels = assign_labels(RESPONSES, LABELS, n_classes=3)
    np.testing.assert_array_equal(labels, [0, 1, 2, UNLABELLED])


def test_labels_use_means_not_sums():
    # class 0 has 3 weak images (sum 6), class 1 one strong image (sum 4): mean wins
    responses = np.array([[2], [2], [2], [4]])
    assert assign_labels(responses, np.array([0, 0, 0, 1]), n_classes=2)[0] == 1


def test_predict_all_known_answers():
    neuron_labels = np.array([0, 1, 2, UNLABELLED])
    test = np.array([[3, 0, 0, 9], [0, 2, 1, 9], [1, 0, 4, 0], [0, 0, 0, 0]])
    # the silent/unlabelled neuron 3 is ignored; an image with no spikes gets class 0
    np.testing.assert_array_equal(predict(test, neuron_labels, n_classes=3), [0, 1, 2, 0])


def test_predict_all_averages_over_assigned_neurons():
    # class 0 has two neurons (mean 2), class 1 one neuron (3): class 1 wins
    neuron_labels = np.array([0, 0, 1])
    assert predict(np.array([[4, 0, 3]]), neuron_labels)[0] == 1
    # a class with no neuron can never win
    assert predict(np.array([[0, 0, 0]]), np.array([1, 1, 1]), n_classes=3)[0] == 1


def test_predict_proportion():
    prop = class_proportions(RESPONSES, LABELS, n_classes=3)
    np.testing.assert_allclose(prop[:, :3].sum(axis=0), 1.0)
    np.testing.assert_allclose(prop[:, 3], 0.0)  # silent neuron votes nothing
    np.testing.assert_allclose(prop[:, 0], np.array([5.0, 0.5, 1.0]) / 6.5)
    neuron_labels = assign_labels(RESPONSES, LABELS, n_classes=3)
    pred = predict(RESPONSES, neuron_labels, method="proportion", proportions=prop)
    np.testing.assert_array_equal(pred, LABELS)
    # a hand-computed case: image [1, 0, 1, 0] scores prop[:,0] + prop[:,2]
    scores = prop[:, 0] + prop[:, 2]
    expected = int(np.argmax(scores))
    got = predict(np.array([[1, 0, 1, 0]]), neuron_labels, "proportion", prop)[0]
    assert got == expected


def test_accuracy_and_confusion():
    pred = np.array([0, 1, 1, 2, 2, 0])
    assert accuracy(pred, LABELS) == pytest.approx(3 / 6)
    m = confusion_matrix(pred, LABELS, n_classes=3)
    np.testing.assert_array_equal(m, [[1, 1, 0], [0, 1, 1], [1, 0, 1]])
    assert m.sum() == 6 and np.trace(m) == 3


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: assign_labels(RESPONSES[:5], LABELS, 3), "6 entries but there are 5"),
        (lambda: assign_labels(-RESPONSES, LABELS, 3), "non-negative"),
        (lambda: assign_labels(RESPONSES, LABELS + 1, 3), r"labels must lie in \[0, 3\)"),
        (lambda: assign_labels(RESPONSES[0], LABELS, 3), "2-D"),
        (lambda: assign_labels(RESPONSES, LABELS, 0), "n_classes"),
        (
            lambda: predict(RESPONSES, np.array([0, 1]), n_classes=3),
            "neuron_labels must have shape",
        ),
        (lambda: predict(RESPONSES, np.array([0, 1, 2, 5]), n_classes=3), "< n_classes=3"),
        (lambda: predict(RESPONSES, np.array([0, 1, 2, -1]), "proportion"), "needs proportions"),
        (lambda: predict(RESPONSES, np.array([0, 1, 2, -1]), "vote"), "method"),
        (
            lambda: predict(RESPONSES, np.array([0, 1, 2, -1]), "proportion", np.ones((3, 2))),
            "proportions must have shape",
        ),
        (lambda: accuracy(np.array([0, 1]), np.array([0])), "differ in length"),
        (lambda: confusion_matrix(np.array([0, 3]), np.array([0, 1]), 3), "predictions must lie"),
    ],
)
def test_clear_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# --------------------------------------------------------------------------- figures


def test_figures_are_written(tmp_path):
    from neurocbram.analysis import figures

    rng = np.random.default_rng(0)
    w = rng.uniform(0, 1, (784, 10))
    out = [
        figures.plot_receptive_fields(
            w, tmp_path / "receptive_fields_N10.png", neuron_labels=np.arange(10) - 1,
            frozen_mask=w > 0.8,
        ),
        figures.plot_raster(
            rng.integers(0, 10, 50), np.sort(rng.uniform(0, 700, 50)),
            tmp_path / "raster_images_0-1.png", boundaries=[0, 350], image_labels=[7, 2],
        ),
        figures.plot_accuracy_curve(
            np.array([1000, 2000, 4000]), np.array([0.5, 0.7, 0.8]), tmp_path / "accuracy_curve.png"
        ),
        figures.plot_confusion(
            confusion_matrix(LABELS, LABELS, 3), tmp_path / "confusion_matrix.png"
        ),
    ]  # fmt: skip
    for path in out:
        assert path.exists() and path.stat().st_size > 1000, path
