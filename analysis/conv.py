"""Vectorised NumPy convolutional layers, a small ``Sequential`` network and LeNet-5.

Layers work on ``float32`` (or float64) batches in NCHW layout. Convolutions
use :func:`numpy.lib.stride_tricks.sliding_window_view` to build the im2col
matrix in one copy, so a forward pass is one matrix product; the backward pass
scatters the column gradients back with one strided add per kernel offset.

Weights follow the crossbar convention of :mod:`neurocbram.analysis.mlp`:
a dense layer holds ``W`` of shape ``(n_out, n_in)``, a convolution holds
``W`` of shape ``(F, C, kh, kw)``, which maps onto an array as the unrolled
``(F, C*kh*kw)`` matrix (see :func:`unrolled`).

The layers compute with the array library of their input, so a network moved
to an NVIDIA GPU (:meth:`Sequential.to`, CuPy; :mod:`~neurocbram.analysis.backend`)
trains there with the same code; :func:`train_net` copies the data over once.

Every layer with weights can carry a binary ``mask`` of the weight's shape
(pruning): the forward pass uses ``W * mask`` implicitly because
:meth:`Sequential.apply_masks` zeroes the masked weights after every optimizer
step and :meth:`Sequential.loss_and_grads` zeroes their gradients, so a masked
weight stays exactly 0 through training.

LeNet-5 (LeCun et al., Proc. IEEE 86:2278, 1998), in its common modern form:
conv 5x5 (6 maps, "same" padding on 28x28 MNIST) - ReLU - max-pool 2 - conv 5x5
(16) - ReLU - max-pool 2 - dense 400->120 - ReLU - dense 84 - ReLU - dense 10,
softmax cross-entropy (61 706 parameters). :func:`lenet5_caffe` is the larger
Caffe variant (20-50-500, 431 080 parameters) that Han et al. (NeurIPS 2015)
call LeNet-5.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from neurocbram.checks import check_count

from .backend import array_module, check_device, device_of, to_device, to_numpy

__all__ = [
    "Conv2D",
    "Dense",
    "Flatten",
    "MaxPool2D",
    "ReLU",
    "Sequential",
    "cosine_lr",
    "from_mlp",
    "lenet5",
    "lenet5_caffe",
    "mlp_net",
    "train_net",
    "unrolled",
]


def _rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


class Layer:
    """Base class: ``forward(x, train)``, ``backward(grad)``; weighted layers set ``W``, ``b``."""

    W: np.ndarray | None = None
    b: np.ndarray | None = None
    mask: np.ndarray | None = None
    dW: np.ndarray | None = None
    db: np.ndarray | None = None

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def backward(self, grad: np.ndarray) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    _grad_sq: Any = 0.0

    @property
    def grad_sq(self) -> float:
        """Sum of squared gradients w.r.t. the layer's output in the last backward pass."""
        return float(self._grad_sq)  # read when needed: no GPU sync per training step

    def _store_grad_sq(self, g: np.ndarray) -> None:
        xp = array_module(g)
        self._grad_sq = xp.sum(xp.square(g, dtype=xp.float64))


class Dense(Layer):
    """Fully connected layer ``y = x @ W.T + b`` with ``W`` of shape ``(n_out, n_in)`` (He init)."""

    def __init__(self, n_in: int, n_out: int, seed: int | np.random.Generator | None = 0,
                 dtype: type = np.float32) -> None:
        if int(n_in) != n_in or int(n_out) != n_out or n_in < 1 or n_out < 1:
            raise ValueError(f"Dense sizes must be positive integers, got n_in={n_in!r}, n_out={n_out!r}")
        rng = _rng(seed)
        self.W = (rng.standard_normal((int(n_out), int(n_in))) * np.sqrt(2.0 / n_in)).astype(dtype)
        self.b = np.zeros(int(n_out), dtype=dtype)
        self._x: np.ndarray | None = None

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        if x.ndim != 2 or x.shape[1] != self.W.shape[1]:
            raise ValueError(f"Dense expects input (batch, {self.W.shape[1]}), got {x.shape}")
        if train:
            self._x = x
        return x @ self.W.T + self.b

    def backward(self, grad: np.ndarray) -> np.ndarray:
        self._store_grad_sq(grad)  # for growth criteria
        self.dW = grad.T @ self._x
        self.db = grad.sum(axis=0)
        return grad @ self.W


class Conv2D(Layer):
    """2-D convolution (cross-correlation), stride 1, zero ``padding``; ``W`` (F, C, kh, kw)."""

    def __init__(self, c_in: int, c_out: int, kernel: int = 5, padding: int = 0,
                 seed: int | np.random.Generator | None = 0, dtype: type = np.float32) -> None:
        for name, v in (("c_in", c_in), ("c_out", c_out), ("kernel", kernel)):
            check_count(v, f"Conv2D {name}")
        check_count(padding, "Conv2D padding", minimum=0)
        rng = _rng(seed)
        fan_in = c_in * kernel * kernel
        self.W = (rng.standard_normal((c_out, c_in, kernel, kernel)) * np.sqrt(2.0 / fan_in)).astype(dtype)
        self.b = np.zeros(int(c_out), dtype=dtype)
        self.padding = int(padding)
        #: set by :class:`Sequential` on a first layer, whose input gradient nobody needs
        self.skip_input_grad = False
        self._cols: np.ndarray | None = None
        self._xshape: tuple[int, ...] | None = None

    def _pad(self, x: np.ndarray) -> np.ndarray:
        p = self.padding
        return array_module(x).pad(x, ((0, 0), (0, 0), (p, p), (p, p))) if p else x

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        f, c, kh, kw = self.W.shape
        if x.ndim != 4 or x.shape[1] != c:
            raise ValueError(f"Conv2D expects input (batch, {c}, H, W), got {x.shape}")
        xp = self._pad(x)
        n, _, hp, wp = xp.shape
        ho, wo = hp - kh + 1, wp - kw + 1
        if ho < 1 or wo < 1:
            raise ValueError(f"Conv2D input {x.shape[2:]} is smaller than the kernel {(kh, kw)}")
        windows = array_module(x).lib.stride_tricks.sliding_window_view
        win = windows(xp, (kh, kw), axis=(2, 3))  # (n, c, ho, wo, kh, kw)
        cols = win.transpose(0, 2, 3, 1, 4, 5).reshape(n * ho * wo, c * kh * kw)
        out = cols @ self.W.reshape(f, -1).T + self.b  # (n*ho*wo, f)
        if train:
            self._cols, self._xshape = cols, xp.shape
        return out.reshape(n, ho, wo, f).transpose(0, 3, 1, 2)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        f, c, kh, kw = self.W.shape
        n, _, hp, wp = self._xshape
        ho, wo = grad.shape[2], grad.shape[3]
        g = grad.transpose(0, 2, 3, 1).reshape(-1, f)
        self._store_grad_sq(g)  # for growth criteria
        self.dW = (g.T @ self._cols).reshape(self.W.shape)
        self.db = g.sum(axis=0)
        if self.skip_input_grad:
            return None
        dcols = (g @ self.W.reshape(f, -1)).reshape(n, ho, wo, c, kh, kw)
        dx = array_module(grad).zeros((n, c, hp, wp), dtype=grad.dtype)
        for i in range(kh):
            for j in range(kw):
                dx[:, :, i:i + ho, j:j + wo] += dcols[:, :, :, :, i, j].transpose(0, 3, 1, 2)
        p = self.padding
        return dx[:, :, p:hp - p, p:wp - p] if p else dx


class MaxPool2D(Layer):
    """Non-overlapping ``size`` x ``size`` max pooling (H and W must be multiples of ``size``)."""

    def __init__(self, size: int = 2) -> None:
        self.size = check_count(size, "MaxPool2D size")
        self._arg: np.ndarray | None = None
        self._shape: tuple[int, ...] | None = None

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        s = self.size
        if x.ndim != 4 or x.shape[2] % s or x.shape[3] % s:
            raise ValueError(f"MaxPool2D({s}) expects (batch, C, H, W) with H, W multiples of {s}, got {x.shape}")
        n, c, h, w = x.shape
        blocks = x.reshape(n, c, h // s, s, w // s, s).transpose(0, 1, 2, 4, 3, 5).reshape(n, c, h // s, w // s, s * s)
        arg = blocks.argmax(axis=-1)
        if train:
            self._arg, self._shape = arg, x.shape
        return array_module(x).take_along_axis(blocks, arg[..., None], axis=-1)[..., 0]

    def backward(self, grad: np.ndarray) -> np.ndarray:
        s = self.size
        n, c, h, w = self._shape
        xp = array_module(grad)
        blocks = xp.zeros((n, c, h // s, w // s, s * s), dtype=grad.dtype)
        xp.put_along_axis(blocks, self._arg[..., None], grad[..., None], axis=-1)
        return blocks.reshape(n, c, h // s, w // s, s, s).transpose(0, 1, 2, 4, 3, 5).reshape(n, c, h, w)


class ReLU(Layer):
    """Rectified linear unit."""

    def __init__(self) -> None:
        self._pos: np.ndarray | None = None

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        if train:
            self._pos = x > 0
        return array_module(x).maximum(x, 0)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return grad * self._pos


class Flatten(Layer):
    """(batch, C, H, W) -> (batch, C*H*W), channel-major (map ``c`` owns a block of H*W columns)."""

    def __init__(self) -> None:
        self._shape: tuple[int, ...] | None = None

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        if train:
            self._shape = x.shape
        return x.reshape(len(x), -1)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return grad.reshape(self._shape)


class Sequential:
    """A stack of layers ending in a softmax cross-entropy loss over ``n_classes`` logits.

    ``input_shape`` is the shape of one sample, e.g. ``(784,)`` or ``(1, 28, 28)``;
    inputs of shape ``(batch, prod(input_shape))`` are reshaped automatically.
    """

    def __init__(self, layers: Sequence[Layer], input_shape: tuple[int, ...]) -> None:
        self.layers = list(layers)
        self.input_shape = tuple(int(s) for s in input_shape)
        if self.layers and isinstance(self.layers[0], Conv2D):
            self.layers[0].skip_input_grad = True

    # ----------------------------------------------------------- parameters
    @property
    def weighted(self) -> list[Layer]:
        """The layers that hold weights (Dense, Conv2D), input first."""
        return [layer for layer in self.layers if layer.W is not None]

    @property
    def weights(self) -> list[np.ndarray]:
        """Weight arrays of the weighted layers (the arrays themselves)."""
        return [layer.W for layer in self.weighted]

    @property
    def params(self) -> list[np.ndarray]:
        """``[W0, b0, W1, b1, ...]``, updated in place by the optimisers of :mod:`~neurocbram.analysis.mlp`."""
        return [p for layer in self.weighted for p in (layer.W, layer.b)]

    def n_params(self, nonzero: bool = False) -> int:
        """Number of weights and biases (``nonzero``: weights that are not 0, plus biases)."""
        total = 0
        for layer in self.weighted:
            total += int(array_module(layer.W).count_nonzero(layer.W)) if nonzero else layer.W.size
            total += layer.b.size
        return total

    @property
    def device(self) -> str:
        """Where the weights live and the network computes: ``"cpu"`` or ``"cuda"``."""
        return device_of(self.weighted[0].W) if self.weighted else "cpu"

    def to(self, device: str) -> Sequential:
        """Move weights, biases and masks to ``device`` (``"cpu"``, or ``"cuda"`` with CuPy); returns self.

        Cached activations are dropped. Move a network before training it, not
        between the steps of one optimiser (whose state stays where it was made).
        """
        check_device(device)
        for layer in self.weighted:
            layer.W, layer.b = to_device(layer.W, device), to_device(layer.b, device)
            if layer.mask is not None:
                layer.mask = to_device(layer.mask, device)
        for layer in self.layers:
            for cache in ("_x", "_cols", "_arg", "_pos"):
                if getattr(layer, cache, None) is not None:
                    setattr(layer, cache, None)
        return self

    def set_masks(self, masks: Sequence[np.ndarray | None] | None) -> None:
        """Attach one binary mask (weight shape, or None) per weighted layer and apply them."""
        layers = self.weighted
        if masks is None:
            masks = [None] * len(layers)
        if len(masks) != len(layers):
            raise ValueError(f"need {len(layers)} masks (one per weighted layer), got {len(masks)}")
        for layer, m in zip(layers, masks, strict=False):
            if m is not None:
                m = to_device(m, device_of(layer.W))
                if m.shape != layer.W.shape:
                    raise ValueError(f"mask shape {m.shape} does not match weight shape {layer.W.shape}")
                m = m.astype(layer.W.dtype)
            layer.mask = m
        self.apply_masks()

    def apply_masks(self) -> None:
        """Zero the masked weights (in place)."""
        for layer in self.weighted:
            if layer.mask is not None:
                layer.W *= layer.mask

    # -------------------------------------------------------------- compute
    def _reshape(self, x: np.ndarray) -> np.ndarray:
        x = to_device(x, self.device)
        if x.dtype != self.weighted[0].W.dtype:
            x = x.astype(self.weighted[0].W.dtype)
        if x.shape[1:] != self.input_shape:
            if x.ndim == 2 and x.shape[1] == int(np.prod(self.input_shape)):
                x = x.reshape((len(x),) + self.input_shape)
            else:
                raise ValueError(f"x must have shape (batch, *{self.input_shape}), got {x.shape}")
        return x

    def logits(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        """Network output before the softmax."""
        h = self._reshape(x)
        for layer in self.layers:
            h = layer.forward(h, train)
        return h

    def forward(self, x: np.ndarray) -> list[np.ndarray]:
        """Hidden outputs of every layer (input first), for saliency and inspection."""
        hs = [self._reshape(x)]
        for layer in self.layers:
            hs.append(layer.forward(hs[-1]))
        return hs

    def _probabilities(self, x: np.ndarray) -> np.ndarray:
        z = self.logits(x)
        z = z - z.max(axis=1, keepdims=True)
        e = array_module(z).exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def predict(self, x: np.ndarray, batch: int = 1000) -> np.ndarray:
        """Class probabilities (a NumPy array), computed in batches on the network's device."""
        out = [to_numpy(self._probabilities(x[i:i + batch])) for i in range(0, len(x), batch)]
        return np.concatenate(out) if out else np.zeros((0, 0))

    def accuracy(self, x: np.ndarray, labels: np.ndarray) -> float:
        """Fraction of ``x`` classified as ``labels``."""
        return float(np.mean(self.predict(x).argmax(axis=1) == to_numpy(labels)))

    def loss_and_grads(self, x: np.ndarray, y: np.ndarray) -> tuple[float, list[np.ndarray]]:
        """Mean cross-entropy and gradients aligned with :attr:`params` (masked entries zeroed)."""
        z = self.logits(x, train=True)
        n = len(z)
        xp = array_module(z)
        y = to_device(y, self.device).astype(xp.int64)
        if y.shape != (n,):
            raise ValueError(f"y must be integer labels of shape ({n},), got {y.shape}")
        z = z - z.max(axis=1, keepdims=True)
        logp = z - xp.log(xp.exp(z).sum(axis=1, keepdims=True))
        rows = xp.arange(n)
        loss = -float(logp[rows, y].mean())
        g = xp.exp(logp)
        g[rows, y] -= 1.0
        g /= n
        for layer in reversed(self.layers):
            if g is None:
                break
            g = layer.backward(g)
        grads = []
        for layer in self.weighted:
            dw = layer.dW * layer.mask if layer.mask is not None else layer.dW
            grads += [dw, layer.db]
        return loss, grads


def unrolled(w: np.ndarray) -> np.ndarray:
    """A weight as the 2-D matrix a crossbar holds: ``(n_out, n_in)``; conv ``(F, C*kh*kw)``."""
    w = array_module(w).asarray(w)
    if w.ndim == 2:
        return w
    if w.ndim == 4:
        return w.reshape(w.shape[0], -1)
    raise ValueError(f"weights must be 2-D (dense) or 4-D (conv), got shape {w.shape}")


def lenet5(seed: int | None = 0, widths: Sequence[int] = (6, 16, 120, 84), n_classes: int = 10,
           dtype: type = np.float32) -> Sequential:
    """LeNet-5 for 1x28x28 inputs; ``widths`` = (conv1 maps, conv2 maps, fc1, fc2)."""
    if len(widths) != 4 or any(int(w) != w or w < 1 for w in widths):
        raise ValueError(f"widths must be 4 positive integers, got {widths!r}")
    c1, c2, f1, f2 = (int(w) for w in widths)
    rng = np.random.default_rng(seed)
    layers = [
        Conv2D(1, c1, 5, padding=2, seed=rng, dtype=dtype), ReLU(), MaxPool2D(2),
        Conv2D(c1, c2, 5, seed=rng, dtype=dtype), ReLU(), MaxPool2D(2), Flatten(),
        Dense(c2 * 25, f1, seed=rng, dtype=dtype), ReLU(),
        Dense(f1, f2, seed=rng, dtype=dtype), ReLU(),
        Dense(f2, n_classes, seed=rng, dtype=dtype),
    ]
    return Sequential(layers, (1, 28, 28))


def lenet5_caffe(seed: int | None = 0, n_classes: int = 10, dtype: type = np.float32) -> Sequential:
    """The Caffe "LeNet-5" used by Han et al. (NeurIPS 2015): conv 20, conv 50, dense 500 (431 080 parameters)."""
    rng = np.random.default_rng(seed)
    layers = [
        Conv2D(1, 20, 5, seed=rng, dtype=dtype), ReLU(), MaxPool2D(2),
        Conv2D(20, 50, 5, seed=rng, dtype=dtype), ReLU(), MaxPool2D(2), Flatten(),
        Dense(800, 500, seed=rng, dtype=dtype), ReLU(),
        Dense(500, n_classes, seed=rng, dtype=dtype),
    ]
    return Sequential(layers, (1, 28, 28))


def mlp_net(sizes: Sequence[int], seed: int | None = 0, dtype: type = np.float32) -> Sequential:
    """A ReLU multilayer perceptron as a :class:`Sequential`, e.g. ``(784, 300, 100, 10)``."""
    if len(sizes) < 2 or any(int(s) != s or s < 1 for s in sizes):
        raise ValueError(f"sizes must be >= 2 positive integers, got {sizes!r}")
    rng = np.random.default_rng(seed)
    layers: list[Layer] = []
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=False)):
        layers.append(Dense(a, b, seed=rng, dtype=dtype))
        if k < len(sizes) - 2:
            layers.append(ReLU())
    return Sequential(layers, (int(sizes[0]),))


def from_mlp(model) -> Sequential:
    """A :class:`Sequential` sharing the weight arrays of an :class:`~neurocbram.analysis.mlp.MLP`.

    Only ReLU hidden units with a softmax output are supported (LeNet-300-100 of
    :func:`~neurocbram.analysis.mlp.lenet_300_100`). The arrays are shared, so
    pruning or training either object changes both.
    """
    if model.activation != "relu" or model.output != "softmax":
        raise ValueError("from_mlp needs an MLP with activation='relu' and output='softmax'")
    layers: list[Layer] = []
    for k, (w, b) in enumerate(zip(model.weights, model.biases, strict=False)):
        dense = Dense(w.shape[1], w.shape[0], seed=0, dtype=w.dtype)
        dense.W, dense.b = w, b
        layers.append(dense)
        if k < len(model.weights) - 1:
            layers.append(ReLU())
    return Sequential(layers, (int(model.sizes[0]),))


def train_net(
    net: Sequential,
    x: np.ndarray,
    y: np.ndarray,
    *,
    epochs: float = 1.0,
    batch: int = 100,
    optimizer=None,
    seed: int | None = 0,
    on_step: Callable[[int, float], None] | None = None,
    lr_schedule: str | None = None,
) -> list[float]:
    """Minibatch training with masks kept applied; returns the mean loss of each (partial) epoch.

    ``epochs`` may be fractional (e.g. 0.5 = half an epoch of minibatches).
    ``optimizer``: an ``Adam`` / ``SGD`` of :mod:`~neurocbram.analysis.mlp` (default Adam 1e-3).
    ``x`` and ``y`` are copied once to the network's device (:attr:`Sequential.device`);
    the minibatch order is drawn on the CPU, so it is the same on every device.
    ``on_step(step, loss)`` is called after every update (before the masks'
    next use, so it may change them). ``lr_schedule="cosine"`` anneals the
    optimizer's learning rate from its initial value to 0 over the run
    (:func:`cosine_lr`); ``None`` keeps it constant.
    """
    from .mlp import Adam

    if epochs < 0 or batch < 1:
        raise ValueError(f"epochs must be >= 0 and batch >= 1, got {epochs}, {batch}")
    if lr_schedule not in (None, "cosine"):
        raise ValueError(f"lr_schedule must be None or 'cosine', got {lr_schedule!r}")
    optimizer = optimizer or Adam(1e-3)
    rng = np.random.default_rng(seed)
    x, y = to_device(x, net.device), to_device(y, net.device)
    total_steps = training_steps(len(x), epochs, batch)
    base_lr = optimizer.lr
    losses, step = [], 0
    while step < total_steps:
        order = to_device(rng.permutation(len(x)), net.device)
        acc, seen = 0.0, 0
        for i in range(0, len(x), batch):
            if step >= total_steps:
                break
            sel = order[i:i + batch]
            if lr_schedule == "cosine":
                optimizer.lr = cosine_lr(base_lr, step, total_steps)
            loss, grads = net.loss_and_grads(x[sel], y[sel])
            optimizer.step(net.params, grads)
            net.apply_masks()
            acc += loss * len(sel)
            seen += len(sel)
            step += 1
            if on_step is not None:
                on_step(step, loss)
        losses.append(acc / max(seen, 1))
    optimizer.lr = base_lr
    return losses


def training_steps(n_samples: int, epochs: float, batch: int) -> int:
    """Optimiser steps of :func:`train_net` for ``n_samples`` samples (a last partial batch counts)."""
    return int(round(epochs * np.ceil(n_samples / batch)))


def cosine_lr(base: float, step: int, total: int) -> float:
    """Cosine annealing (Loshchilov & Hutter, ICLR 2017): ``base`` at step 0, 0 at ``total``."""
    if total <= 0:
        return float(base)
    return float(base) * 0.5 * (1.0 + np.cos(np.pi * min(step, total) / total))
