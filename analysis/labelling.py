"""Neuron labelling, class prediction and accuracy for unsupervised spiking networks.

Diehl & Cook (2015): after (unsupervised) training, each excitatory neuron is
assigned the class for which its mean response over labelled images is
highest; a test image is then classified by the class whose assigned neurons
respond most on average (``method="all"``). The ``"proportion"`` method lets
every neuron vote with its class-response proportions instead (each neuron's
mean responses per class, normalised to sum 1 over the classes).

Responses are spike counts, shape ``(n_images, n_neurons)``, as returned by
:func:`neurocbram.evaluation.evaluate_responses`.

Which images label the neurons hardly matters. The paper's figures label them
on all 60,000 training images. The published demo's evaluation script loads
the same test activity for labelling and for scoring, so it labels in-sample
on the test set (peter-u-diehl/stdp-mnist: its README says so, and GitHub
issue #3). We measured 13 trained N = 100 networks
(CBRAM and ideal cards, both integrators, per-spike and deferred depression;
10,000 test images). Against labels from the first 10,000 training images
(the benchmarks' default), the "all"-vote accuracy changed by a mean of
-0.15 point with the last 10,000 training images, -0.12 with all 60,000, and
+0.04 with in-sample test labels (the published script). No single network
moved by more than 1.0 point. The labelling protocol is therefore not why
N = 100 stays below the paper's 82.9%.

Example
-------
>>> import numpy as np
>>> responses = np.array([[5, 0], [0, 3], [4, 1]])
>>> labels = np.array([0, 1, 0])
>>> neuron_labels = assign_labels(responses, labels, n_classes=2)
>>> neuron_labels
array([0, 1])
>>> predict(responses, neuron_labels, n_classes=2)
array([0, 1, 0])
"""

from __future__ import annotations

import numpy as np

from neurocbram.checks import check_count

__all__ = [
    "UNLABELLED",
    "class_mean_responses",
    "assign_labels",
    "class_proportions",
    "predict",
    "accuracy",
    "confusion_matrix",
]

#: label given to neurons that never responded to any labelled image
UNLABELLED = -1


def _check_responses(responses: np.ndarray, name: str = "responses") -> np.ndarray:
    arr = np.asarray(responses)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_images, n_neurons), got shape {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise TypeError(f"{name} must be numeric spike counts, got dtype {arr.dtype}")
    if arr.size and not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    if arr.size and arr.min() < 0:
        raise ValueError(f"{name} must be non-negative spike counts (found {arr.min()})")
    return arr.astype(np.float64, copy=False)


def _check_labels(
    labels: np.ndarray, n_classes: int, n_images: int, name: str = "labels"
) -> np.ndarray:
    check_count(n_classes, "n_classes")
    arr = np.asarray(labels)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if not np.all(np.equal(np.mod(arr, 1), 0)):
            raise ValueError(f"{name} must be integer class indices")
    arr = arr.astype(np.int64)
    if arr.shape[0] != n_images:
        raise ValueError(f"{name} has {arr.shape[0]} entries but there are {n_images} images")
    if arr.size and (arr.min() < 0 or arr.max() >= n_classes):
        raise ValueError(
            f"{name} must lie in [0, {n_classes}) (n_classes={n_classes}); "
            f"found values {arr.min()}..{arr.max()}"
        )
    return arr


def class_mean_responses(
    responses: np.ndarray, labels: np.ndarray, n_classes: int = 10
) -> np.ndarray:
    """Mean response of each neuron to the images of each class.

    Parameters
    ----------
    responses
        ``(n_images, N)`` spike counts (non-negative).
    labels
        ``(n_images,)`` class of each image, ``0 <= label < n_classes``.
    n_classes
        Number of classes.

    Returns
    -------
    numpy.ndarray
        ``(n_classes, N)`` mean spike counts per image; rows of classes without
        images are 0.
    """
    r = _check_responses(responses)
    y = _check_labels(labels, n_classes, r.shape[0])
    sums = np.zeros((int(n_classes), r.shape[1]))
    np.add.at(sums, y, r)
    n_per_class = np.bincount(y, minlength=int(n_classes)).astype(np.float64)
    return np.divide(
        sums, n_per_class[:, None], out=np.zeros_like(sums), where=n_per_class[:, None] > 0
    )


def assign_labels(responses: np.ndarray, labels: np.ndarray, n_classes: int = 10) -> np.ndarray:
    """Diehl & Cook labelling: each neuron takes the class it responds to most on average.

    Parameters
    ----------
    responses
        ``(n_images, N)`` spike counts to labelled (training) images.
    labels
        ``(n_images,)`` classes of those images.
    n_classes
        Number of classes.

    Returns
    -------
    numpy.ndarray
        ``int64 (N,)`` class of each neuron; :data:`UNLABELLED` (-1) for neurons that
        never fired. Ties go to the lowest class index.
    """
    means = class_mean_responses(responses, labels, n_classes)
    neuron_labels = np.argmax(means, axis=0).astype(np.int64)
    neuron_labels[means.max(axis=0, initial=0.0) <= 0] = UNLABELLED
    return neuron_labels


def class_proportions(responses: np.ndarray, labels: np.ndarray, n_classes: int = 10) -> np.ndarray:
    """Per-neuron class-response proportions for ``predict(..., method="proportion")``.

    Returns
    -------
    numpy.ndarray
        ``(n_classes, N)`` mean responses per class, each column divided by its sum
        (columns of silent neurons are 0).
    """
    means = class_mean_responses(responses, labels, n_classes)
    total = means.sum(axis=0, keepdims=True)
    return np.divide(means, total, out=np.zeros_like(means), where=total > 0)


def predict(
    responses: np.ndarray,
    neuron_labels: np.ndarray,
    method: str = "all",
    proportions: np.ndarray | None = None,
    n_classes: int | None = None,
) -> np.ndarray:
    """Classify images from spike counts.

    Parameters
    ----------
    responses
        ``(n_images, N)`` spike counts.
    neuron_labels
        ``(N,)`` class of each neuron from :func:`assign_labels` (-1 = unlabelled,
        ignored by ``"all"``).
    method
        ``"all"``: the class whose assigned neurons have the highest mean count
        (classes without neurons score -inf); ``"proportion"``: the class with the
        largest ``sum_j responses[:, j] * proportions[class, j]``.
    proportions
        ``(n_classes, N)`` from :func:`class_proportions`; required for ``"proportion"``.
    n_classes
        Number of classes; default ``max(neuron_labels) + 1`` (or the rows of
        ``proportions``).

    Returns
    -------
    numpy.ndarray
        ``int64 (n_images,)`` predicted classes. Images without any spikes (or ties)
        get the lowest-index best class.
    """
    r = _check_responses(responses)
    nl = np.asarray(neuron_labels)
    if nl.ndim != 1 or nl.shape[0] != r.shape[1]:
        raise ValueError(
            f"neuron_labels must have shape ({r.shape[1]},) to match responses, got {nl.shape}"
        )
    if nl.size and not np.issubdtype(nl.dtype, np.integer):
        raise ValueError("neuron_labels must be integer classes (-1 = unlabelled)")
    nl = nl.astype(np.int64)
    if nl.size and nl.min() < UNLABELLED:
        raise ValueError(f"neuron_labels must be >= {UNLABELLED}, found {nl.min()}")
    if n_classes is None:
        if proportions is not None:
            n_classes = np.asarray(proportions).shape[0]
        else:
            n_classes = int(nl.max(initial=UNLABELLED)) + 1
    n_classes = int(n_classes)
    if n_classes < 1:
        raise ValueError("n_classes must be >= 1 (no neuron is labelled)")
    if nl.size and nl.max() >= n_classes:
        raise ValueError(f"neuron_labels must be < n_classes={n_classes}, found {nl.max()}")
    if method == "all":
        scores = np.full((r.shape[0], n_classes), -np.inf)
        for c in range(n_classes):
            members = nl == c
            if members.any():
                scores[:, c] = r[:, members].mean(axis=1)
    elif method == "proportion":
        if proportions is None:
            raise ValueError("method='proportion' needs proportions (see class_proportions)")
        prop = np.asarray(proportions, dtype=np.float64)
        if prop.shape != (n_classes, r.shape[1]):
            raise ValueError(
                f"proportions must have shape ({n_classes}, {r.shape[1]}), got {prop.shape}"
            )
        scores = r @ prop.T
    else:
        raise ValueError(f"method must be 'all' or 'proportion', got {method!r}")
    return np.argmax(scores, axis=1).astype(np.int64)


def accuracy(predictions: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of ``predictions`` equal to ``labels`` (both 1-D, same length)."""
    p = np.asarray(predictions)
    y = np.asarray(labels)
    if p.ndim != 1 or y.ndim != 1:
        raise ValueError(f"predictions and labels must be 1-D, got {p.shape} and {y.shape}")
    if p.shape != y.shape:
        raise ValueError(f"predictions ({p.shape[0]}) and labels ({y.shape[0]}) differ in length")
    if p.size == 0:
        raise ValueError("accuracy of an empty set is undefined")
    return float(np.mean(p == y))


def confusion_matrix(
    predictions: np.ndarray, labels: np.ndarray, n_classes: int = 10
) -> np.ndarray:
    """Counts ``M[true, predicted]``.

    Returns
    -------
    numpy.ndarray
        ``int64 (n_classes, n_classes)``; row ``t`` holds how images of class ``t``
        were classified.
    """
    y = _check_labels(
        labels, n_classes, np.asarray(labels).shape[0] if np.ndim(labels) == 1 else -1
    )
    p = _check_labels(predictions, n_classes, y.shape[0], name="predictions")
    m = np.zeros((int(n_classes), int(n_classes)), dtype=np.int64)
    np.add.at(m, (y, p), 1)
    return m
