"""A small vectorised multilayer perceptron in NumPy (backprop, softmax cross-entropy).

Weights follow the crossbar convention: layer ``k`` has ``W[k]`` of shape
``(n_out, n_in)`` and bias ``b[k]`` of shape ``(n_out,)``; ``a = h @ W.T + b``.
Hidden units use ReLU (or sigmoid / tanh); the output is a softmax with
cross-entropy loss (``output="softmax"``) or element-wise sigmoids with binary
cross-entropy (``output="sigmoid"``, for pattern reconstruction). The loss is
the mean over the batch. Optimisers: plain SGD (with momentum) and Adam
(Kingma & Ba, ICLR 2015; default betas 0.9 / 0.999, eps 1e-8); they update
NumPy or CuPy arrays alike (:mod:`~neurocbram.analysis.backend`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from neurocbram.datasets import load_mnist

from .backend import array_module

__all__ = ["MLP", "Adam", "SGD", "train", "mnist_arrays", "lenet_300_100"]

Activation = Literal["relu", "sigmoid", "tanh"]


def _act(name: str, a: np.ndarray) -> np.ndarray:
    if name == "relu":
        return np.maximum(a, 0.0)
    if name == "sigmoid":
        return 0.5 * (1.0 + np.tanh(0.5 * a))
    if name == "tanh":
        return np.tanh(a)
    raise ValueError(f"activation must be 'relu', 'sigmoid' or 'tanh', got {name!r}")


def _act_grad(name: str, a: np.ndarray, h: np.ndarray) -> np.ndarray:
    if name == "relu":
        return (a > 0).astype(a.dtype)
    if name == "sigmoid":
        return h * (1.0 - h)
    return 1.0 - h**2


@dataclass
class MLP:
    """Fully connected network; ``sizes`` = (n_in, hidden..., n_out).

    ``weights`` / ``biases`` are float arrays (``W`` of shape (n_out, n_in)).
    """

    sizes: Sequence[int]
    activation: Activation = "relu"
    output: Literal["softmax", "sigmoid"] = "softmax"
    seed: int | None = 0
    dtype: type = np.float64
    weights: list[np.ndarray] = field(init=False)
    biases: list[np.ndarray] = field(init=False)

    def __post_init__(self) -> None:
        if len(self.sizes) < 2 or any(int(s) != s or s < 1 for s in self.sizes):
            raise ValueError(f"sizes must be >= 2 positive integers, got {self.sizes!r}")
        _act(self.activation, np.zeros(1))
        if self.output not in ("softmax", "sigmoid"):
            raise ValueError(f"output must be 'softmax' or 'sigmoid', got {self.output!r}")
        rng = np.random.default_rng(self.seed)
        self.weights, self.biases = [], []
        for n_in, n_out in zip(self.sizes[:-1], self.sizes[1:]):
            gain = 2.0 if self.activation == "relu" else 1.0  # He / LeCun normal init
            self.weights.append((rng.standard_normal((n_out, n_in)) * np.sqrt(gain / n_in)).astype(self.dtype))
            self.biases.append(np.zeros(n_out, dtype=self.dtype))

    @property
    def params(self) -> list[np.ndarray]:
        """``[W0, b0, W1, b1, ...]`` (the arrays themselves, updated in place)."""
        return [p for pair in zip(self.weights, self.biases) for p in pair]

    def _check_x(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=self.dtype)
        if x.ndim != 2 or x.shape[1] != self.sizes[0]:
            raise ValueError(f"x must have shape (batch, {self.sizes[0]}), got {x.shape}")
        return x

    def forward(self, x: np.ndarray, weights: Sequence[np.ndarray] | None = None) -> list[np.ndarray]:
        """Activations of every layer, input first; the last is the output probabilities.

        ``weights`` replaces ``self.weights`` (e.g. the weights read from an array).
        """
        x = self._check_x(x)
        weights = self.weights if weights is None else weights
        hs = [x]
        for k, (w, b) in enumerate(zip(weights, self.biases)):
            a = hs[-1] @ w.T + b
            if k < len(weights) - 1:
                hs.append(_act(self.activation, a))
            elif self.output == "softmax":
                a = a - a.max(axis=1, keepdims=True)
                e = np.exp(a)
                hs.append(e / e.sum(axis=1, keepdims=True))
            else:
                hs.append(_act("sigmoid", a))
        return hs

    def predict(self, x: np.ndarray, weights: Sequence[np.ndarray] | None = None,
                batch: int = 2000) -> np.ndarray:
        """Output probabilities for ``x`` (computed in batches)."""
        x = self._check_x(x)
        return np.concatenate([self.forward(x[i:i + batch], weights)[-1]
                               for i in range(0, len(x), batch)]) if len(x) else np.zeros((0, self.sizes[-1]))

    def accuracy(self, x: np.ndarray, labels: np.ndarray,
                 weights: Sequence[np.ndarray] | None = None) -> float:
        """Fraction of ``x`` whose arg-max output equals ``labels``."""
        return float(np.mean(np.argmax(self.predict(x, weights), axis=1) == np.asarray(labels)))

    def _targets(self, y: np.ndarray, n: int) -> np.ndarray:
        y = np.asarray(y)
        if self.output == "softmax" and y.ndim == 1:
            t = np.zeros((n, self.sizes[-1]), dtype=self.dtype)
            t[np.arange(n), y.astype(int)] = 1.0
            return t
        if y.shape != (n, self.sizes[-1]):
            raise ValueError(f"y must be labels (batch,) or targets (batch, {self.sizes[-1]}), got {y.shape}")
        return y.astype(self.dtype)

    def loss_and_grads(
        self, x: np.ndarray, y: np.ndarray, weights: Sequence[np.ndarray] | None = None
    ) -> tuple[float, list[np.ndarray], list[np.ndarray]]:
        """Mean loss and its gradients ``(loss, dW list, db list)`` by backpropagation.

        ``y``: integer labels (softmax) or target arrays in [0, 1].
        """
        weights = self.weights if weights is None else weights
        hs = self.forward(x, weights)
        n = hs[0].shape[0]
        t = self._targets(y, n)
        p = hs[-1]
        eps = 1e-12
        if self.output == "softmax":
            loss = -np.sum(t * np.log(p + eps)) / n
        else:
            loss = -np.sum(t * np.log(p + eps) + (1 - t) * np.log(1 - p + eps)) / n
        delta = (p - t) / n  # both output/loss pairs give this gradient w.r.t. the pre-activation
        dws: list[np.ndarray] = [None] * len(weights)  # type: ignore[list-item]
        dbs: list[np.ndarray] = [None] * len(weights)  # type: ignore[list-item]
        for k in range(len(weights) - 1, -1, -1):
            dws[k] = delta.T @ hs[k]
            dbs[k] = delta.sum(axis=0)
            if k:
                h = hs[k]
                a_grad = (h > 0).astype(h.dtype) if self.activation == "relu" else _act_grad(self.activation, h, h)
                delta = (delta @ weights[k]) * a_grad
        return float(loss), dws, dbs


class SGD:
    """Stochastic gradient descent with momentum; ``step(params, grads)`` updates in place."""

    def __init__(self, lr: float = 0.05, momentum: float = 0.9) -> None:
        self.lr, self.momentum = float(lr), float(momentum)
        self._v: list[np.ndarray] | None = None

    def step(self, params: list[np.ndarray], grads: list[np.ndarray]) -> None:
        if self._v is None:
            self._v = [array_module(p).zeros_like(p) for p in params]
        for p, g, v in zip(params, grads, self._v):
            v *= self.momentum
            v -= self.lr * g
            p += v

    def forget(self, index: int, where: np.ndarray) -> None:
        """Zero the momentum of the entries ``where`` of parameter ``index`` (e.g. regrown weights)."""
        if self._v is not None:
            self._v[index][where] = 0


class Adam:
    """Adam (Kingma & Ba, ICLR 2015); ``step(params, grads)`` updates in place."""

    def __init__(self, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8) -> None:
        self.lr, self.beta1, self.beta2, self.eps = float(lr), beta1, beta2, eps
        self.t = 0
        self._m: list[np.ndarray] | None = None
        self._v: list[np.ndarray] | None = None

    def step(self, params: list[np.ndarray], grads: list[np.ndarray]) -> None:
        if self._m is None:
            self._m = [array_module(p).zeros_like(p) for p in params]
            self._v = [array_module(p).zeros_like(p) for p in params]
        self.t += 1
        c1 = 1 - self.beta1**self.t
        c2 = 1 - self.beta2**self.t
        for p, g, m, v in zip(params, grads, self._m, self._v):
            m *= self.beta1
            m += (1 - self.beta1) * g
            v *= self.beta2
            v += (1 - self.beta2) * g * g
            p -= self.lr * (m / c1) / (array_module(v).sqrt(v / c2) + self.eps)

    def forget(self, index: int, where: np.ndarray) -> None:
        """Zero both moments of the entries ``where`` of parameter ``index`` (e.g. regrown weights)."""
        if self._m is not None:
            self._m[index][where] = 0
            self._v[index][where] = 0


def train(
    model: MLP,
    x: np.ndarray,
    y: np.ndarray,
    *,
    epochs: int = 10,
    batch: int = 100,
    optimizer: Adam | SGD | None = None,
    seed: int | None = 0,
    callback: Callable[[int, float], None] | None = None,
) -> list[float]:
    """Minibatch training of all weights and biases; returns the mean loss of each epoch."""
    if epochs < 0 or batch < 1:
        raise ValueError(f"epochs must be >= 0 and batch >= 1, got {epochs}, {batch}")
    optimizer = optimizer or Adam()
    rng = np.random.default_rng(seed)
    x = model._check_x(x)
    losses = []
    for epoch in range(epochs):
        order = rng.permutation(len(x))
        total = 0.0
        for i in range(0, len(x), batch):
            sel = order[i:i + batch]
            loss, dws, dbs = model.loss_and_grads(x[sel], y[sel])
            optimizer.step(model.params, [g for pair in zip(dws, dbs) for g in pair])
            total += loss * len(sel)
        losses.append(total / max(len(x), 1))
        if callback is not None:
            callback(epoch, losses[-1])
    return losses


def lenet_300_100(seed: int | None = 0) -> MLP:
    """LeNet-300-100 (LeCun et al., Proc. IEEE 1998): 784-300-100-10, ReLU, softmax."""
    return MLP((784, 300, 100, 10), activation="relu", output="softmax", seed=seed, dtype=np.float32)


def mnist_arrays(
    split: Literal["train", "test"] = "train", folder: str | Path | None = None, limit: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """MNIST as ``(x float32 (N, 784) in [0, 1], labels int64 (N,))``, optionally the first ``limit``.

    Files are found by :func:`neurocbram.datasets.load_mnist` (``folder``, then
    ``$NEUROCBRAM_MNIST``, then the cache, then a download).
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    images, labels = load_mnist(split=split, folder=folder)
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    return images.reshape(len(images), -1).astype(np.float32) / 255.0, labels.astype(np.int64)
