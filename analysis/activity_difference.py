"""Activity-difference training of a layered energy-based rate network (NumPy).

The two-phase family: contrastive Hebbian learning and equilibrium
propagation (Scellier & Bengio, Front. Comput. Neurosci. 11:24, 2017),
realised on memristor crossbars by Yi et al., "Activity-difference training
of deep neural networks using memristor crossbars", Nature Electronics 6:45
(2023, online 2022). No gradient is back-propagated: every weight changes by
the difference of *local* activity products between two settled phases.

Network: layers ``s_0`` (input, clamped), ``s_1 .. s_L``; symmetric weights
``W_k`` of shape ``(n_{k+1}, n_k)``; rates ``rho(s) = clip(s, 0, 1)`` (hard
sigmoid). The dynamics lower the Hopfield-like energy
``E = sum_k |s_k|^2 / 2 - sum_k s_{k+1}^T W_k s_k - sum_k b_k . s_k``: layer by
layer (input side first), ``s_k <- rho(W_{k-1} s_{k-1} + W_k^T s_{k+1} + b_k)``,
the fixed-point form of Ernoult et al. (NeurIPS 2019, "prototypical"
setting). In the *nudged* phase the output also feels
``beta * (y - s_L)``; ``beta = inf`` (``clamp=True``) clamps the output to
``y`` (contrastive Hebbian learning).

Update (per batch, averaged over examples)::

    dW_k = lr_k / beta * (s_{k+1}' s_k'^T - s_{k+1}^0 s_k^0^T)
    db_k = lr_k / beta * (s_k' - s_k^0)

with ``'`` the nudged (or clamped, ``beta -> 1``) phase and ``0`` the free
phase. With ``symmetric=True`` the two phases are nudged by ``+beta`` and
``-beta`` and the factor is ``1 / (2 beta)`` (Laborieux et al., Front.
Neurosci. 15:633674, 2021), which removes the first-order bias of the
estimate. On a device card each ``W_k`` lives in a
:class:`~neurocbram.analysis.crossbar.CrossbarLayer`: states are computed with
array reads (both directions) and ``dW_k`` is applied as SET/RESET pulses
(sign and count from the activity difference; by default *state-aware*
counts, i.e. the conductance change divided by each device's nominal step at
its present conductance, which costs two reads per updated pair and removes
most of the drift that the card's asymmetric nonlinearity causes with
open-loop counts). Biases stay in the digital periphery.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from neurocbram.devices.card import DeviceCard
from neurocbram.devices.pulses import as_generator

from .crossbar import CrossbarLayer

__all__ = [
    "activity_difference_update",
    "EnergyNetwork",
    "train_epoch",
    "hopfield_store",
    "hopfield_recall",
    "BrailleConfig",
    "run_braille",
    "MnistADConfig",
    "run_mnist_ad",
]


def rho(s: np.ndarray) -> np.ndarray:
    """Hard-sigmoid rate ``clip(s, 0, 1)``."""
    return np.clip(s, 0.0, 1.0)


def activity_difference_update(
    pre_free: np.ndarray, post_free: np.ndarray, pre_nudged: np.ndarray, post_nudged: np.ndarray,
    lr: float, beta: float = 1.0,
) -> np.ndarray:
    """``lr / beta * mean_batch(post' pre'^T - post^0 pre^0^T)``, shape ``(n_post, n_pre)``.

    Arrays are ``(batch, n)`` or ``(n,)`` rates of the pre- and post-synaptic
    layer in the free and nudged (or clamped) phases.
    """
    if not beta > 0:
        raise ValueError(f"beta must be > 0, got {beta!r}")
    same_pre = pre_free is pre_nudged  # e.g. the clamped input layer: one product suffices
    a, b, c, d = (np.atleast_2d(np.asarray(v)) for v in (pre_free, post_free, pre_nudged, post_nudged))
    if a.shape != c.shape or b.shape != d.shape or a.shape[0] != b.shape[0]:
        raise ValueError(
            f"pre/post rates of both phases must have matching shapes, got {a.shape}, {b.shape}, {c.shape}, {d.shape}"
        )
    n = a.shape[0]
    if same_pre:
        return lr / beta * ((d - b).T @ a) / n
    return lr / beta * (d.T @ c - b.T @ a) / n


class _FloatWeights:
    def __init__(self, w: np.ndarray) -> None:
        self.w = w

    @property
    def weights(self) -> np.ndarray:
        return self.w

    def read(self, x: np.ndarray, transpose: bool = False) -> np.ndarray:
        return x @ self.w if transpose else x @ self.w.T

    def update(self, delta: np.ndarray) -> int:
        self.w += delta
        return 0


class _DeviceWeights:
    def __init__(self, layer: CrossbarLayer, state_aware: bool = True) -> None:
        self.layer = layer
        self.state_aware = state_aware

    @property
    def weights(self) -> np.ndarray:
        return self.layer.weights

    def read(self, x: np.ndarray, transpose: bool = False) -> np.ndarray:
        return self.layer.read(x, transpose=transpose)

    def update(self, delta: np.ndarray) -> int:
        return self.layer.update(delta, state_aware=self.state_aware)


@dataclass
class EnergyNetwork:
    """Layered energy-based network trained by activity difference.

    Parameters
    ----------
    sizes
        ``(n_in, n_hidden..., n_out)``.
    card
        ``None`` for float weights, else the device card of every layer.
    w_max
        Weight of a full-range device pair, per layer (card only).
    levels
        Conductance states per device (card only; ``"card"``: the card's).
    seed
        Seed of the initial weights, device populations and pulse rounding.
    state_aware
        Card only: pulse counts from each device's nominal step at its present
        conductance (costs two reads per updated pair), see
        :meth:`CrossbarLayer.update`; ``False``: open-loop counts from the mean step.
    """

    sizes: Sequence[int]
    card: DeviceCard | None = None
    w_max: Sequence[float] | float = 0.5
    levels: int | str | None = "card"
    seed: int | None = 0
    state_aware: bool = True

    def __post_init__(self) -> None:
        if len(self.sizes) < 2 or any(int(s) != s or s < 1 for s in self.sizes):
            raise ValueError(f"sizes must be >= 2 positive integers, got {self.sizes!r}")
        rng = as_generator(self.seed)
        n_layers = len(self.sizes) - 1
        w_max = [self.w_max] * n_layers if np.isscalar(self.w_max) else list(self.w_max)
        if len(w_max) != n_layers:
            raise ValueError(f"w_max must be a number or one per layer ({n_layers}), got {self.w_max!r}")
        self.rng = rng
        self.layers: list[_FloatWeights | _DeviceWeights] = []
        self.biases = [np.zeros(n) for n in self.sizes[1:]]
        for k, (n_in, n_out) in enumerate(zip(self.sizes[:-1], self.sizes[1:])):
            bound = np.sqrt(6.0 / (n_in + n_out))  # Glorot uniform
            w0 = rng.uniform(-bound, bound, size=(n_out, n_in))
            if self.card is None:
                self.layers.append(_FloatWeights(w0))
            else:
                layer = CrossbarLayer(self.card, (n_out, n_in), w_max=float(w_max[k]),
                                      levels=self.levels, seed=rng)
                layer.program(np.clip(w0, -w_max[k], w_max[k]), "one-shot")
                self.layers.append(_DeviceWeights(layer, self.state_aware))

    @property
    def weights(self) -> list[np.ndarray]:
        """Current weight matrices (as read from the arrays, for a card)."""
        return [np.asarray(layer.weights) for layer in self.layers]

    @property
    def crossbars(self) -> list[CrossbarLayer]:
        """The crossbar layers (empty for float weights)."""
        return [layer.layer for layer in self.layers if isinstance(layer, _DeviceWeights)]

    def settle(
        self, x: np.ndarray, steps: int, states: list[np.ndarray] | None = None,
        target: np.ndarray | None = None, beta: float = 0.0, clamp: bool = False,
    ) -> list[np.ndarray]:
        """Run ``steps`` layer-by-layer updates; returns the states ``[x, s_1, ..., s_L]``.

        ``target`` with ``beta`` nudges the output; ``clamp`` fixes it to ``target``.
        """
        x = np.atleast_2d(np.asarray(x, dtype=float))
        if x.shape[1] != self.sizes[0]:
            raise ValueError(f"x must have shape (batch, {self.sizes[0]}), got {x.shape}")
        if states is None:
            states = [x] + [np.zeros((x.shape[0], n)) for n in self.sizes[1:]]
        else:
            states = [x] + [s.copy() for s in states[1:]]
        L = len(self.layers)
        if clamp:
            states[L] = np.asarray(target, dtype=float).copy()
        drive_in = self.layers[0].read(x) + self.biases[0]  # constant during settling
        for _ in range(steps):
            for k in range(1, L + 1):
                if k == L and clamp:
                    continue
                total = drive_in if k == 1 else self.layers[k - 1].read(states[k - 1]) + self.biases[k - 1]
                if k < L:
                    total = total + self.layers[k].read(states[k + 1], transpose=True)
                elif beta:
                    total = total + beta * (target - states[k])
                states[k] = rho(total)
        return states

    def predict(self, x: np.ndarray, steps: int = 30) -> np.ndarray:
        """Output rates after free settling."""
        return self.settle(x, steps)[-1]

    def train_batch(
        self, x: np.ndarray, target: np.ndarray, *, lr: Sequence[float], beta: float = 0.5,
        free_steps: int = 30, nudged_steps: int = 10, symmetric: bool = True, clamp: bool = False,
    ) -> dict[str, float]:
        """One activity-difference update from a batch; returns the free-phase loss and pulses."""
        target = np.atleast_2d(np.asarray(target, dtype=float))
        x = np.atleast_2d(np.asarray(x, dtype=float))  # one object shared by all phases
        free = self.settle(x, free_steps)
        if clamp:
            plus = self.settle(x, nudged_steps, free, target, clamp=True)
            minus, factor = free, 1.0
        elif symmetric:
            plus = self.settle(x, nudged_steps, free, target, beta)
            minus = self.settle(x, nudged_steps, free, target, -beta)
            factor = 2.0 * beta
        else:
            plus, minus, factor = self.settle(x, nudged_steps, free, target, beta), free, beta
        pulses = 0
        for k, layer in enumerate(self.layers):
            dw = activity_difference_update(minus[k], minus[k + 1], plus[k], plus[k + 1], lr[k], factor)
            pulses += layer.update(dw)
            self.biases[k] += lr[k] / factor * (plus[k + 1] - minus[k + 1]).mean(axis=0)
        return {"loss": float(0.5 * np.mean(np.sum((free[-1] - target) ** 2, axis=1))), "pulses": pulses}


def train_epoch(
    net: EnergyNetwork, x: np.ndarray, targets: np.ndarray, *, batch: int = 20, seed=None,
    progress: Callable[[int, int], None] | None = None, **kwargs,
) -> dict[str, float]:
    """One pass over ``(x, targets)`` in shuffled minibatches; ``kwargs`` go to ``train_batch``."""
    rng = as_generator(seed)
    order = rng.permutation(len(x))
    losses, pulses = [], 0
    t0 = time.perf_counter()
    for i in range(0, len(x), batch):
        sel = order[i:i + batch]
        out = net.train_batch(x[sel], targets[sel], **kwargs)
        losses.append(out["loss"])
        pulses += out["pulses"]
        if progress is not None:
            progress(i + len(sel), len(x))
    return {"loss": float(np.mean(losses)), "pulses": int(pulses), "wall_s": time.perf_counter() - t0}


# ------------------------------------------------------------ Hopfield baseline
def hopfield_store(patterns: np.ndarray) -> np.ndarray:
    """Hebbian outer-product weights ``W = P^T P / N`` (zero diagonal) of 0/1 ``patterns`` as +-1."""
    p = 2.0 * np.asarray(patterns, dtype=float) - 1.0
    w = p.T @ p / p.shape[1]
    np.fill_diagonal(w, 0.0)
    return w


def hopfield_recall(w: np.ndarray, x: np.ndarray, sweeps: int = 20, seed=None) -> np.ndarray:
    """Asynchronous sign dynamics from inputs ``x`` (thresholded at 0.5); returns 0/1 states."""
    rng = as_generator(seed)
    s = np.where(np.atleast_2d(x) > 0.5, 1.0, -1.0)
    for _ in range(sweeps):
        changed = False
        for i in rng.permutation(w.shape[0]):
            h = s @ w[:, i]
            new = np.where(h > 0, 1.0, np.where(h < 0, -1.0, s[:, i]))
            changed |= bool(np.any(new != s[:, i]))
            s[:, i] = new
        if not changed:
            break
    return (s > 0).astype(float)


# ------------------------------------------------------------------ experiments
@dataclass
class BrailleConfig:
    """Braille reconstruction experiment (:mod:`neurocbram.analysis.braille`).

    Training inputs are the nine names with a random flip fraction drawn
    uniformly from ``[0, train_flip_max]`` plus analog noise ``noise`` (std, in
    dot units); evaluation uses ``trials`` distorted copies of each name per
    flip fraction in ``flips``. ``cards``: device cards for the on-card runs.
    ``clamp``: second phase clamps the output to the clean pattern (contrastive
    Hebbian learning); with ``clamp=False`` it is nudged with ``beta``
    (equilibrium propagation). In our runs the nudged hard-sigmoid variant left
    saturated output units without a learning signal on this task, so the
    clamped form is the default here. ``w_max`` (card runs) is about three
    times the largest weight the float network learns (~0.3).
    """

    hidden: int = 96
    steps: int = 3000
    batch: int = 32
    lr: tuple[float, float] = (0.05, 0.02)
    beta: float = 0.5
    clamp: bool = True
    free_steps: int = 20
    nudged_steps: int = 8
    w_max: float = 1.0
    train_flip_max: float = 0.3
    noise: float = 0.1
    flips: tuple[float, ...] = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4)
    trials: int = 100
    cards: tuple[str, ...] = ("cbram-shi2018",)
    backprop_lr: float = 3e-3
    seed: int = 0


def _braille_batch(clean: np.ndarray, n: int, config: BrailleConfig, rng) -> tuple[np.ndarray, np.ndarray]:
    from .braille import distort

    idx = rng.integers(0, len(clean), size=n)
    flips = rng.uniform(0.0, config.train_flip_max, size=n)
    x = np.concatenate([distort(clean[i:i + 1], f, config.noise, rng) for i, f in zip(idx, flips)])
    return x, clean[idx]


def _exact(out: np.ndarray, clean: np.ndarray) -> np.ndarray:
    return np.all((out > 0.5) == (clean > 0.5), axis=1)


def run_braille(config: BrailleConfig | None = None, log: Callable[[str], None] | None = None) -> dict:
    """Exact-name reconstruction accuracy vs flipped-dot fraction for every method.

    Methods: activity difference with float weights (``ad-float``) and on each
    card (``ad-<card>``), the same architecture trained by backpropagation
    (``backprop``: feed-forward sigmoid MLP with the same layer sizes, Adam,
    binary cross-entropy), a classical Hopfield memory of the nine patterns
    (``hopfield``), and, as a reference, the stored name nearest to the input
    (``nearest-name``, an ideal decoder that is given the nine patterns).
    """
    from neurocbram.devices import load_card

    from .braille import NAMES, distort, patterns
    from .mlp import MLP, Adam

    config = config or BrailleConfig()
    log = log or (lambda message: None)
    clean = patterns()
    n_dots = clean.shape[1]
    rng = np.random.default_rng(config.seed)
    # one fixed evaluation set per flip fraction, shared by all methods
    eval_sets = {}
    for f in config.flips:
        reps = np.repeat(np.arange(len(clean)), config.trials)
        eval_sets[f] = (distort(clean[reps], f, config.noise, rng), clean[reps])
    results: dict[str, dict] = {}
    examples: dict[str, list] = {}

    def evaluate(name: str, recall: Callable[[np.ndarray], np.ndarray], extra: dict | None = None) -> None:
        acc = {str(f): float(np.mean(_exact(recall(x), c))) for f, (x, c) in eval_sets.items()}
        results[name] = {"accuracy": acc, **(extra or {})}
        log(f"{name}: " + ", ".join(f"{float(f):.0%}: {a:.3f}" for f, a in acc.items()))

    settle_steps = config.free_steps
    for card_name in (None, *config.cards):
        card = None if card_name is None else load_card(card_name)
        label = "ad-float" if card is None else f"ad-{card.name}"
        net = EnergyNetwork((n_dots, config.hidden, n_dots), card=card, w_max=config.w_max, seed=config.seed)
        t0 = time.perf_counter()
        pulses = 0
        train_rng = np.random.default_rng(config.seed + 1)
        for step in range(config.steps):
            x, t = _braille_batch(clean, config.batch, config, train_rng)
            pulses += net.train_batch(x, t, lr=config.lr, beta=config.beta, free_steps=config.free_steps,
                                      nudged_steps=config.nudged_steps, clamp=config.clamp)["pulses"]
        extra = {"train_wall_s": time.perf_counter() - t0, "pulses": pulses}
        if card is not None:
            extra["counts"] = [layer.counts.as_dict() for layer in net.crossbars]
            extra["energy_j"] = float(sum(layer.counts.energy(card) for layer in net.crossbars))
        extra["max_abs_weight"] = [float(np.abs(w).max()) for w in net.weights]
        evaluate(label, lambda x, net=net: net.predict(x, settle_steps), extra)
        if card is None:
            x10, _ = eval_sets[min(config.flips, key=lambda f: abs(f - 0.1))]
            first = np.arange(len(clean)) * config.trials
            examples = {"names": list(NAMES), "clean": clean.tolist(), "distorted": x10[first].tolist(),
                        "reconstructed": net.predict(x10[first], settle_steps).tolist()}

    mlp = MLP((n_dots, config.hidden, n_dots), activation="sigmoid", output="sigmoid", seed=config.seed)
    opt = Adam(config.backprop_lr)
    train_rng = np.random.default_rng(config.seed + 1)
    for step in range(config.steps):
        x, t = _braille_batch(clean, config.batch, config, train_rng)
        _, dws, dbs = mlp.loss_and_grads(x, t)
        opt.step(mlp.params, [g for pair in zip(dws, dbs) for g in pair])
    evaluate("backprop", mlp.predict)

    w_hop = hopfield_store(clean)
    evaluate("hopfield", lambda x: hopfield_recall(w_hop, x, seed=config.seed))
    # reference, not a network: the stored name nearest in squared distance (knows all nine)
    evaluate("nearest-name", lambda x: clean[np.argmin(((x[:, None, :] - clean[None]) ** 2).sum(-1), axis=1)])
    return {"experiment": "braille", "names": list(NAMES), "dots": n_dots,
            "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in config.__dict__.items()},
            "methods": results, "examples": examples}


@dataclass
class MnistADConfig:
    """MNIST with one hidden layer trained by activity difference (symmetric nudging).

    ``epochs`` with float weights; ``device_epochs`` of in-situ training on
    each card in ``cards`` (weights as pulses), on the first ``device_limit``
    training images (``None``: all). ``w_max``: weight of a full-range pair
    per layer, about twice the largest weight of the float network after one
    epoch (0.10 and 0.14 in our runs), so that weights have headroom and one
    pulse is a small fraction of a weight.
    """

    hidden: int = 500
    epochs: int = 10
    batch: int = 20
    lr: tuple[float, float] = (0.1, 0.05)
    beta: float = 0.5
    free_steps: int = 20
    nudged_steps: int = 8
    w_max: tuple[float, float] = (0.2, 0.5)
    cards: tuple[str, ...] = ("cbram-shi2018",)
    device_epochs: int = 1
    device_limit: int | None = None
    train_limit: int | None = None
    test_limit: int | None = None
    seed: int = 0


def run_mnist_ad(config: MnistADConfig | None = None, log: Callable[[str], None] | None = None) -> dict:
    """Train 784-hidden-10 by activity difference with float weights and on cards; test accuracy."""
    from neurocbram.devices import load_card

    from .mlp import mnist_arrays

    config = config or MnistADConfig()
    log = log or (lambda message: None)
    x, y = mnist_arrays("train", limit=config.train_limit)
    xt, yt = mnist_arrays("test", limit=config.test_limit)
    x, xt = x.astype(float), xt.astype(float)
    targets = np.eye(10)[y]
    kwargs = dict(lr=config.lr, beta=config.beta, free_steps=config.free_steps, nudged_steps=config.nudged_steps)

    def accuracy(net: EnergyNetwork) -> float:
        return float(np.mean(np.concatenate([net.predict(xt[i:i + 1000], config.free_steps).argmax(1)
                                             for i in range(0, len(xt), 1000)]) == yt))

    runs = {}
    for card_name, epochs, limit in ((None, config.epochs, None),
                                     *((c, config.device_epochs, config.device_limit) for c in config.cards)):
        card = None if card_name is None else load_card(card_name)
        label = "float" if card is None else card.name
        net = EnergyNetwork((784, config.hidden, 10), card=card, w_max=config.w_max, seed=config.seed)
        xs, ts = (x, targets) if limit is None else (x[:limit], targets[:limit])
        curve = []
        for epoch in range(epochs):
            out = train_epoch(net, xs, ts, batch=config.batch, seed=config.seed + epoch, **kwargs)
            curve.append({"epoch": epoch + 1, "test_accuracy": accuracy(net), **out})
            log(f"AD MNIST {label} epoch {epoch + 1}: test {curve[-1]['test_accuracy']:.4f} ({out['wall_s']:.0f} s)")
        run = {"epochs": epochs, "train_images": len(xs), "test_accuracy": curve[-1]["test_accuracy"] if curve else None,
               "curve": curve}
        if card is not None:
            run["counts"] = [layer.counts.as_dict() for layer in net.crossbars]
            run["energy_j"] = float(sum(layer.counts.energy(card) for layer in net.crossbars))
        runs[label] = run
    return {"experiment": "mnist-activity-difference", "network": f"784-{config.hidden}-10 energy-based",
            "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in config.__dict__.items()},
            "runs": runs}
