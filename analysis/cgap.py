"""Continuous Growth and Pruning (CGaP; Du, Li & Cao, arXiv:1905.11533, 2019) in NumPy.

CGaP starts training from a small seed network, grows layers by adding
learning units (neurons, filters) next to the most salient ones, reaches a
peak, then prunes the least salient units (Du et al. report e.g. 78.9% fewer
parameters and 53.2% fewer FLOPs for VGG-19 on CIFAR-100, and 64.0% / 63.3%
for ResNet-110 on CIFAR-10; their abstract).

Our implementation (details we could not check against the paper's text are
our choices, stated here):

* **Saliency** of a unit: first-order Taylor estimate of the loss change when
  the unit's incoming weights and bias are removed, ``(sum_j w_j dL/dw_j)**2``
  (Molchanov et al., CVPR 2019), averaged over minibatches with an
  exponential moving average.
* **Growth** (:func:`grow_units`): every ``grow_every`` steps each growing
  hidden layer gains ``ceil(growth_rate * width)`` candidate units. Each copies
  the incoming weights of one of the most salient units plus Gaussian noise
  (``growth_noise`` times that unit's weight std) and starts **inert**: its
  outgoing weights are exactly 0, so the network computes the same function
  right after growth (tested).
* **Data-driven peak** (:func:`candidate_saliency`): a candidate's saliency is
  the squared norm of the loss gradient w.r.t. its (zero) outgoing weights on
  a fixed probe batch of training data, i.e. how fast the loss would fall if
  the unit were used. While the residual error still holds structure that new
  units can capture, candidates are salient; once the data are fitted, they
  are not. When a layer's mean candidate saliency falls below
  ``growth_threshold`` times the largest value seen for that layer, the
  candidates are withdrawn; after ``growth_patience`` such misses in a row the
  layer stops growing; misses count only once the validation accuracy gains
  less than ``settle_gain`` per growth period (early on, every score falls
  with the fast-falling loss). ``max_widths`` is only a safety cap (the experiment
  sets it to twice the baseline), and growth also stops if the validation
  accuracy has not improved by ``min_gain`` for ``patience`` events.
  :attr:`CGaPResult.stopped_by` / ``layer_stop`` say which rule ended growth.
* **Pruning** (:func:`remove_units`): repeatedly drop the ``prune_fraction``
  least salient units of every hidden layer, fine-tune ``prune_every`` steps,
  and accept while the validation accuracy stays within ``tolerance`` of the
  best validation accuracy seen so far; a rejected step is undone and, with
  ``retry_smaller``, retried with half the fraction until no layer would lose
  a whole unit (without it, pruning stops at the first rejection). Then
  ``final_steps`` of fine-tuning with cosine learning-rate decay.
* The baseline (``baseline_widths``, default ``max_widths``) is the fixed-width
  network trained for the same number of steps (Adam, cosine decay).
* All choices use a validation split carved from the training data; the test
  set is only reported.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from .conv import Conv2D, Sequential, cosine_lr, lenet5, mlp_net, train_net
from .mlp import Adam

__all__ = [
    "CGaPConfig",
    "CGaPResult",
    "build",
    "candidate_saliency",
    "flops",
    "grow_units",
    "harder_mnist",
    "remove_units",
    "run_cgap",
    "run_cgap_experiment",
    "unit_saliency",
    "widths",
]

ARCHS = ("lenet300", "lenet5")
BASELINE = {"lenet300": (300, 100), "lenet5": (6, 16, 120, 84)}


def _check_widths(arch: str, w: Sequence[int]) -> tuple[int, ...]:
    if arch not in ARCHS:
        raise ValueError(f"arch must be one of {ARCHS}, got {arch!r}")
    w = tuple(w)
    n = len(BASELINE[arch])
    if len(w) != n or any(int(v) != v or v < 1 for v in w):
        raise ValueError(f"{arch} needs {n} positive integer widths, got {w!r}")
    return tuple(int(v) for v in w)


def build(arch: str, hidden: Sequence[int], seed: int | None = 0) -> Sequential:
    """``"lenet300"`` with hidden widths ``(h1, h2)`` or ``"lenet5"`` with ``(c1, c2, f1, f2)``."""
    hidden = _check_widths(arch, hidden)
    if arch == "lenet300":
        return mlp_net((784, *hidden, 10), seed=seed)
    return lenet5(seed, widths=hidden)


def widths(net: Sequential) -> list[int]:
    """Number of units of every hidden weighted layer (all but the classifier)."""
    return [int(layer.W.shape[0]) for layer in net.weighted[:-1]]


def flops(net: Sequential) -> int:
    """Multiply-accumulates of one forward pass (weights only; conv counts every output position)."""
    h = np.zeros((1,) + net.input_shape, dtype=net.weighted[0].W.dtype)
    total = 0
    for layer in net.layers:
        out = layer.forward(h)
        if layer.W is not None:
            positions = out.shape[2] * out.shape[3] if out.ndim == 4 else 1
            total += int(layer.W.size) * positions
        h = out
    return total


def _next_axis_blocks(net: Sequential, k: int) -> tuple:
    """The layer after weighted layer ``k`` and how many of its input columns each unit owns."""
    cur, nxt = net.weighted[k], net.weighted[k + 1]
    if isinstance(nxt, Conv2D):
        return nxt, 1
    block = nxt.W.shape[1] // cur.W.shape[0]
    return nxt, block


def grow_units(net: Sequential, k: int, parents: Sequence[int], rng: np.random.Generator,
               noise: float = 0.1) -> None:
    """Add ``len(parents)`` units to hidden weighted layer ``k``, in place, without changing the function.

    A new unit's incoming weights (and bias) are those of its parent plus
    ``noise * std(parent weights)`` Gaussian noise; its outgoing weights are 0.
    """
    layers = net.weighted
    if not (0 <= k < len(layers) - 1):
        raise ValueError(f"k must index a hidden weighted layer (0..{len(layers) - 2}), got {k}")
    parents = np.asarray(parents, dtype=int)
    if parents.size == 0:
        return
    cur = layers[k]
    if parents.min() < 0 or parents.max() >= cur.W.shape[0]:
        raise ValueError(f"parents must index existing units of layer {k}")
    nxt, block = _next_axis_blocks(net, k)
    w_new = cur.W[parents].copy()
    std = w_new.reshape(len(parents), -1).std(axis=1).reshape((-1,) + (1,) * (w_new.ndim - 1))
    w_new += (noise * std * rng.standard_normal(w_new.shape)).astype(w_new.dtype)
    cur.W = np.concatenate([cur.W, w_new])
    cur.b = np.concatenate([cur.b, cur.b[parents]])
    if isinstance(nxt, Conv2D):
        zeros = np.zeros((nxt.W.shape[0], len(parents)) + nxt.W.shape[2:], dtype=nxt.W.dtype)
        nxt.W = np.concatenate([nxt.W, zeros], axis=1)
    else:
        n_out = nxt.W.shape[0]
        w3 = nxt.W.reshape(n_out, -1, block)
        zeros = np.zeros((n_out, len(parents), block), dtype=nxt.W.dtype)
        nxt.W = np.concatenate([w3, zeros], axis=1).reshape(n_out, -1)
    cur.mask = nxt.mask = None


def remove_units(net: Sequential, k: int, keep: Sequence[int]) -> None:
    """Keep only units ``keep`` (sorted indices) of hidden weighted layer ``k``, in place."""
    layers = net.weighted
    if not (0 <= k < len(layers) - 1):
        raise ValueError(f"k must index a hidden weighted layer (0..{len(layers) - 2}), got {k}")
    keep = np.sort(np.asarray(keep, dtype=int))
    cur = layers[k]
    if keep.size == 0 or keep.min() < 0 or keep.max() >= cur.W.shape[0]:
        raise ValueError(f"keep must be a non-empty list of units of layer {k}")
    nxt, block = _next_axis_blocks(net, k)
    cur.W, cur.b = cur.W[keep].copy(), cur.b[keep].copy()
    if isinstance(nxt, Conv2D):
        nxt.W = nxt.W[:, keep].copy()
    else:
        n_out = nxt.W.shape[0]
        nxt.W = nxt.W.reshape(n_out, -1, block)[:, keep].reshape(n_out, -1).copy()
    cur.mask = nxt.mask = None


def candidate_saliency(net: Sequential, k: int, units: Sequence[int], x: np.ndarray,
                       y: np.ndarray, normalize: bool = False) -> np.ndarray:
    """Per unit of hidden layer ``k``: squared norm of the loss gradient w.r.t. its outgoing weights.

    For a freshly grown, still inert unit (outgoing weights 0) this is the rate
    at which a gradient step on those weights would lower the mean loss on
    ``(x, y)``: how much the network can still gain from the unit. With
    ``normalize`` it is divided by ``sum(delta**2) * sum(h**2)`` (``delta``: the
    loss gradient at the next layer's output, ``h``: the unit's activity), a
    squared cosine between the unit's activity and the error still to explain,
    so it does not shrink merely because the loss does (the growth rule uses
    the raw score: its fall as the residual error shrinks is the signal).
    """
    layers = net.weighted
    if not (0 <= k < len(layers) - 1):
        raise ValueError(f"k must index a hidden weighted layer (0..{len(layers) - 2}), got {k}")
    units = np.asarray(units, dtype=int)
    _, grads = net.loss_and_grads(x, y)
    nxt, block = _next_axis_blocks(net, k)
    g = grads[2 * (k + 1)].astype(np.float64)
    if isinstance(nxt, Conv2D):
        score = (g[:, units] ** 2).sum(axis=(0, 2, 3))
        _, c, kh, kw = nxt.W.shape
        cols = nxt._cols.reshape(len(nxt._cols), c, kh * kw)[:, units]
        h_sq = (cols.astype(np.float64) ** 2).sum(axis=(0, 2)) / (kh * kw)
    else:
        score = (g.reshape(g.shape[0], -1, block)[:, units] ** 2).sum(axis=(0, 2))
        h = nxt._x.reshape(len(nxt._x), -1, block)[:, units]
        h_sq = (h.astype(np.float64) ** 2).sum(axis=(0, 2))
    if not normalize:
        return score
    denom = nxt.grad_sq * h_sq
    return np.divide(score, denom, out=np.zeros_like(score), where=denom > 0)


def unit_saliency(net: Sequential, grads: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Per hidden unit ``(sum over its incoming weights and bias of w * dL/dw)**2``.

    ``grads`` as returned by :meth:`Sequential.loss_and_grads` (aligned with ``params``).
    """
    out = []
    for i, layer in enumerate(net.weighted[:-1]):
        dw, db = grads[2 * i], grads[2 * i + 1]
        s = (layer.W * dw).reshape(layer.W.shape[0], -1).sum(axis=1) + layer.b * db
        out.append(s.astype(np.float64) ** 2)
    return out


def harder_mnist(x: np.ndarray, seed: int = 0, noise: float = 0.35, shift: int = 3) -> np.ndarray:
    """A harder MNIST: each image shifted by up to ``shift`` pixels and given Gaussian pixel noise.

    ``x``: (N, 784) in [0, 1]. Shifts are uniform integers in ``[-shift, shift]``
    per axis (zero fill), then ``noise``-std Gaussian noise, clipped to [0, 1].
    Deterministic for a given ``seed``.
    """
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2 or x.shape[1] != 784:
        raise ValueError(f"x must have shape (N, 784), got {x.shape}")
    if noise < 0 or int(shift) != shift or shift < 0:
        raise ValueError(f"noise must be >= 0 and shift an integer >= 0, got {noise!r}, {shift!r}")
    rng = np.random.default_rng(seed)
    n, s = len(x), int(shift)
    img = np.pad(x.reshape(n, 28, 28), ((0, 0), (s, s), (s, s)))
    dy, dx = rng.integers(-s, s + 1, n), rng.integers(-s, s + 1, n)
    out = np.empty((n, 28, 28), dtype=np.float32)
    for a in range(-s, s + 1):
        for b in range(-s, s + 1):
            sel = (dy == a) & (dx == b)
            if sel.any():
                out[sel] = img[sel, s + a:s + a + 28, s + b:s + b + 28]
    out += noise * rng.standard_normal(out.shape).astype(np.float32)
    return np.clip(out, 0.0, 1.0).reshape(n, 784)


@dataclass
class CGaPConfig:
    """Hyper-parameters of :func:`run_cgap` (steps are minibatch updates)."""

    arch: str = "lenet300"
    seed_widths: tuple[int, ...] = (15, 5)
    max_widths: tuple[int, ...] = (300, 100)
    growth_rate: float = 0.3
    growth_noise: float = 0.1
    grow_every: int = 200
    patience: int = 3
    min_gain: float = 0.002
    growth_threshold: float = 0.05
    growth_patience: int = 2
    settle_gain: float = 0.01
    probe_size: int = 1000
    baseline_widths: tuple[int, ...] | None = None
    max_growth_steps: int = 6000
    prune_fraction: float = 0.1
    prune_every: int = 150
    retry_smaller: bool = True
    tolerance: float = 0.003
    final_steps: int = 600
    batch: int = 100
    lr: float = 1e-3
    saliency_decay: float = 0.95
    keep_moments: bool = True
    seed: int = 0

    def validate(self) -> None:
        """``ValueError`` for inconsistent settings."""
        s = _check_widths(self.arch, self.seed_widths)
        m = _check_widths(self.arch, self.max_widths)
        if any(a > b for a, b in zip(s, m, strict=False)):
            raise ValueError(f"seed_widths {s} must not exceed max_widths {m}")
        if self.baseline_widths is not None:
            _check_widths(self.arch, self.baseline_widths)
        if not (0 <= self.growth_threshold < 1):
            raise ValueError(f"growth_threshold must lie in [0, 1), got {self.growth_threshold!r}")
        if not self.settle_gain >= 0:
            raise ValueError(f"settle_gain must be >= 0, got {self.settle_gain!r}")
        if int(self.probe_size) < 1:
            raise ValueError(f"probe_size must be >= 1, got {self.probe_size!r}")
        for name in ("grow_every", "patience", "growth_patience", "prune_every", "batch"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        for name in ("max_growth_steps", "final_steps"):
            if int(getattr(self, name)) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if not (self.growth_rate > 0):
            raise ValueError(f"growth_rate must be > 0, got {self.growth_rate!r}")
        if not (0 < self.prune_fraction < 1):
            raise ValueError(f"prune_fraction must lie in (0, 1), got {self.prune_fraction!r}")
        if not (0 <= self.tolerance < 1) or not (0 <= self.saliency_decay < 1):
            raise ValueError("tolerance and saliency_decay must lie in [0, 1)")


@dataclass
class CGaPResult:
    """Outcome of :func:`run_cgap`."""

    config: dict
    seed_widths: list[int]
    peak_widths: list[int]
    final_widths: list[int]
    baseline_widths: list[int]
    accuracy: float
    baseline_accuracy: float
    params: int
    baseline_params: int
    flops: int
    baseline_flops: int
    steps: int
    history: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    stopped_by: str = ""
    layer_stop: list = field(default_factory=list)
    #: accuracies on the validation split (held out from training; for choosing settings)
    val_accuracy: float = float("nan")
    baseline_val_accuracy: float = float("nan")
    net: Sequential | None = None
    baseline_net: Sequential | None = None

    def summary(self) -> dict:
        """JSON-ready headline numbers (history included, networks left out)."""
        d = {k: v for k, v in asdict(self).items() if k not in ("net", "baseline_net")}
        d["param_reduction"] = 1.0 - self.params / self.baseline_params
        d["flop_reduction"] = 1.0 - self.flops / self.baseline_flops
        d["accuracy_loss_points"] = 100.0 * (self.baseline_accuracy - self.accuracy)
        return d


class _Trainer:
    """Minibatch stream + Adam + saliency moving average for a network that changes shape."""

    def __init__(self, net: Sequential, x, y, cfg: CGaPConfig, rng: np.random.Generator) -> None:
        self.net, self.x, self.y, self.cfg, self.rng = net, x, y, cfg, rng
        self.order = rng.permutation(len(x))
        self.pos = 0
        self.step_count = 0
        self.reset()

    def reset(self) -> None:
        """A fresh optimizer and zero saliencies."""
        self.opt = Adam(self.cfg.lr)
        self.sal = [np.zeros(w) for w in widths(self.net)]

    def _moment_nets(self) -> list[Sequential]:
        """Adam's first and second moments dressed as networks of the current shape."""
        if not self.cfg.keep_moments or self.opt._m is None:
            return []
        out = []
        for arrays in (self.opt._m, self.opt._v):
            shadow = copy.copy(self.net)
            shadow.layers = [copy.copy(layer) for layer in self.net.layers]
            for i, layer in enumerate(shadow.weighted):
                layer.W, layer.b = arrays[2 * i], arrays[2 * i + 1]
            out.append(shadow)
        return out

    def _moments_from(self, shadows: list[Sequential]) -> None:
        if shadows:
            self.opt._m, self.opt._v = shadows[0].params, shadows[1].params
        else:
            self.opt = Adam(self.cfg.lr)

    def grow(self, k: int, parents: np.ndarray) -> None:
        """:func:`grow_units` on the network; the new units start with zero Adam moments and saliency."""
        shadows = self._moment_nets()
        grow_units(self.net, k, parents, self.rng, self.cfg.growth_noise)
        for sh in shadows:
            grow_units(sh, k, parents, np.random.default_rng(0), 0.0)  # rows zeroed below
            sh.weighted[k].W[-len(parents):] = 0
            sh.weighted[k].b[-len(parents):] = 0
        self._moments_from(shadows)
        self.sal[k] = np.concatenate([self.sal[k], np.zeros(len(parents))])

    def remove(self, k: int, keep: np.ndarray) -> None:
        """:func:`remove_units` on the network, its Adam moments and saliencies."""
        keep = np.sort(np.asarray(keep, dtype=int))
        shadows = self._moment_nets()
        remove_units(self.net, k, keep)
        for sh in shadows:
            remove_units(sh, k, keep)
        self._moments_from(shadows)
        self.sal[k] = self.sal[k][keep]

    def steps(self, n: int, anneal: bool = False) -> None:
        """``n`` minibatch updates; ``anneal``: cosine learning-rate decay from ``cfg.lr`` to 0."""
        d = self.cfg.saliency_decay
        for i in range(n):
            if anneal:
                self.opt.lr = cosine_lr(self.cfg.lr, i, n)
            if self.pos + self.cfg.batch > len(self.order):
                self.order, self.pos = self.rng.permutation(len(self.x)), 0
            sel = self.order[self.pos:self.pos + self.cfg.batch]
            self.pos += self.cfg.batch
            _, grads = self.net.loss_and_grads(self.x[sel], self.y[sel])
            for acc, s in zip(self.sal, unit_saliency(self.net, grads), strict=False):
                acc *= d
                acc += (1 - d) * s
            self.opt.step(self.net.params, grads)
            self.step_count += 1


def _grow_step(net: Sequential, tr: _Trainer, cfg: CGaPConfig, rng: np.random.Generator,
               stop: list[str | None], best_score: list[float | None], misses: list[int],
               xp: np.ndarray, yp: np.ndarray, settled: bool = True) -> None:
    """One growth event: add candidates to every growing layer, keep them while they are salient.

    A layer's candidates (copies of its most salient units, outgoing weights 0)
    are scored by :func:`candidate_saliency` on the probe batch ``(xp, yp)``;
    when their mean score falls below ``growth_threshold`` times the largest
    score of the layer's earlier events, they are removed again; after
    ``growth_patience`` such misses in a row the layer stops growing for good.
    Misses count only once training has ``settled`` (the validation accuracy
    rose by less than ``settle_gain`` over the last growth period): while the
    loss is still falling fast, every score falls with it.
    ``stop[k]`` (None while layer ``k`` grows) receives the reason,
    ``"saliency"`` or ``"max_widths"``; the lists are updated in place.
    """
    added: dict[int, np.ndarray] = {}
    for k, (w, m) in enumerate(zip(widths(net), cfg.max_widths, strict=False)):
        if stop[k]:
            continue
        n_new = min(m - w, math.ceil(cfg.growth_rate * w))
        ranked = np.argsort(-tr.sal[k])
        tr.grow(k, np.resize(ranked, n_new))
        added[k] = np.arange(w, w + n_new)
    for k, units in added.items():
        score = float(candidate_saliency(net, k, units, xp, yp).mean())
        if score >= (best_score[k] or 0.0):
            best_score[k] = score if score > 0 else None  # the reference: the largest score so far
        if best_score[k] is not None and settled and score < cfg.growth_threshold * best_score[k]:
            tr.remove(k, np.arange(units[0]))  # not worth it: withdraw the candidates
            misses[k] += 1
            if misses[k] >= cfg.growth_patience:
                stop[k] = "saliency"
            continue
        misses[k] = 0
        if units[-1] + 1 >= cfg.max_widths[k]:
            stop[k] = "max_widths"


def run_cgap(cfg: CGaPConfig, data: tuple, *, val_size: int = 5000, baseline: bool = True,
             log: Callable[[str], None] | None = None) -> CGaPResult:
    """Grow from ``cfg.seed_widths``, prune, fine-tune; compare with the fixed ``cfg.max_widths`` net.

    ``data`` = ``(x_train, y_train, x_test, y_test)``; the last ``val_size``
    training samples are held out for the growth/pruning decisions.
    """
    cfg.validate()
    say = log or (lambda s: None)
    t0 = time.time()
    x, y, xt, yt = data
    if not (0 < val_size < len(x)):
        raise ValueError(f"val_size must lie in (0, {len(x)}), got {val_size}")
    xtr, ytr, xv, yv = x[:-val_size], y[:-val_size], x[-val_size:], y[-val_size:]
    rng = np.random.default_rng(cfg.seed)
    net = build(cfg.arch, cfg.seed_widths, seed=cfg.seed)
    tr = _Trainer(net, xtr, ytr, cfg, rng)
    history: list[dict] = []

    def record(phase: str, acc: float) -> None:
        history.append({"step": tr.step_count, "phase": phase, "widths": widths(net), "val_accuracy": acc})

    # ---- growth
    best, bad = -1.0, 0
    stop: list[str | None] = [None if w < m else "max_widths" for w, m in zip(widths(net), cfg.max_widths, strict=False)]
    best_score: list[float | None] = [None] * len(stop)
    misses = [0] * len(stop)
    stopped_by = "max_growth_steps"
    probe = rng.choice(len(xtr), size=min(cfg.probe_size, len(xtr)), replace=False)
    record("seed", net.accuracy(xv, yv))
    last = history[-1]["val_accuracy"]
    while tr.step_count < cfg.max_growth_steps:
        tr.steps(cfg.grow_every)
        acc = net.accuracy(xv, yv)
        settled, last = acc - last < cfg.settle_gain, acc
        best, bad = (acc, 0) if acc > best + cfg.min_gain else (best, bad + 1)
        if bad >= cfg.patience:
            stopped_by = "patience"
            break
        _grow_step(net, tr, cfg, rng, stop, best_score, misses, xtr[probe], ytr[probe], settled)
        if all(stop):
            stopped_by = "layers stopped"
            break
        record("grow", acc)  # widths right after growth; accuracy of the step just before
        if not cfg.keep_moments:
            tr.reset()
        say(f"[cgap {cfg.arch}] step {tr.step_count}: widths {widths(net)}, val {acc:.4f}")
    peak_widths = widths(net)
    peak_acc = net.accuracy(xv, yv)
    record("peak", peak_acc)
    ref_acc = max(best, peak_acc)  # the best validation accuracy seen so far
    say(f"[cgap {cfg.arch}] peak {peak_widths} val {peak_acc:.4f}")
    # ---- pruning
    frac = cfg.prune_fraction
    while True:
        saved = (tr.net, tr.sal, tr.opt)
        tr.net, tr.sal, tr.opt = copy.deepcopy(net), [v.copy() for v in tr.sal], copy.deepcopy(tr.opt)
        changed = False
        for k, w in enumerate(widths(tr.net)):
            n_drop = int(frac * w)
            if n_drop >= 1 and w - n_drop >= 1:
                tr.remove(k, np.argsort(-tr.sal[k])[: w - n_drop])
                changed = True
        if not changed:
            tr.net, tr.sal, tr.opt = saved
            break
        cand = tr.net
        if not cfg.keep_moments:
            tr.reset()
        tr.steps(cfg.prune_every)
        acc = cand.accuracy(xv, yv)
        if acc < ref_acc - cfg.tolerance:
            tr.net, tr.sal, tr.opt = saved
            record("prune-rejected", acc)
            if not cfg.retry_smaller:
                break
            frac /= 2  # try a smaller step; stops once no layer would lose a whole unit
            continue
        net = cand
        ref_acc = max(ref_acc, acc)
        record("prune", acc)
        say(f"[cgap {cfg.arch}] step {tr.step_count}: pruned to {widths(net)}, val {acc:.4f}")
    tr.net = net
    if not cfg.keep_moments:
        tr.reset()
    tr.steps(cfg.final_steps, anneal=True)
    record("final", net.accuracy(xv, yv))
    total_steps = tr.step_count
    acc_test = net.accuracy(xt, yt)
    base_net, base_acc, base_val = None, float("nan"), float("nan")
    base_widths = tuple(cfg.baseline_widths or cfg.max_widths)
    base = build(cfg.arch, base_widths, seed=cfg.seed)
    if baseline:
        base_net = base
        train_net(base_net, xtr, ytr, epochs=total_steps / math.ceil(len(xtr) / cfg.batch),
                  batch=cfg.batch, optimizer=Adam(cfg.lr), seed=cfg.seed, lr_schedule="cosine")
        base_acc = base_net.accuracy(xt, yt)
        base_val = base_net.accuracy(xv, yv)
    say(f"[cgap {cfg.arch}] final {widths(net)} test {acc_test:.4f}, baseline {base_acc:.4f}")
    return CGaPResult(
        config=asdict(cfg), seed_widths=list(cfg.seed_widths), peak_widths=peak_widths,
        final_widths=widths(net), baseline_widths=list(base_widths), accuracy=acc_test,
        baseline_accuracy=base_acc, params=net.n_params(), baseline_params=base.n_params(),
        flops=flops(net), baseline_flops=flops(base), steps=total_steps, history=history,
        seconds=round(time.time() - t0, 1), stopped_by=stopped_by, layer_stop=list(stop),
        val_accuracy=history[-1]["val_accuracy"], baseline_val_accuracy=base_val,
        net=net, baseline_net=base_net)


def run_cgap_experiment(
    arch: str = "lenet300",
    *,
    datasets: Sequence[str] = ("mnist", "harder"),
    seed_fraction: float = 0.05,
    max_growth_steps: int = 6000,
    grow_every: int = 300,
    prune_every: int = 200,
    final_steps: int = 3000,
    tolerance: float = 0.001,
    retry_smaller: bool = True,
    growth_threshold: float = 0.05,
    cap_factor: float = 2.0,
    train_limit: int | None = None,
    test_limit: int | None = None,
    mnist=None,
    card: str | None = "cbram-shi2018",
    array_sizes: Sequence[int] = (64, 128),
    seed: int = 0,
    log: Callable[[str], None] | None = None,
) -> dict:
    """CGaP on MNIST and/or :func:`harder_mnist`; widths, reductions, tiles and card accuracy per dataset.

    Seeds are ``seed_fraction`` of the baseline widths; growth may reach
    ``cap_factor`` times the baseline (a safety cap: growth is meant to stop by
    the saliency criterion, ``growth_threshold``, first). ``mnist``: folder of the MNIST files (default: ``$NEUROCBRAM_MNIST``, then the cache).
    """
    from .mlp import mnist_arrays
    from .small_world import card_accuracy, network_tiles

    if not (0 < seed_fraction <= 1):
        raise ValueError(f"seed_fraction must lie in (0, 1], got {seed_fraction!r}")
    base = BASELINE[arch] if arch in BASELINE else _check_widths(arch, ())
    if not cap_factor >= 1:
        raise ValueError(f"cap_factor must be >= 1, got {cap_factor!r}")
    seeds = tuple(max(1, round(seed_fraction * w)) for w in base)
    caps = tuple(int(math.ceil(cap_factor * w)) for w in base)
    x, y = mnist_arrays("train", folder=mnist, limit=train_limit)
    xt, yt = mnist_arrays("test", folder=mnist, limit=test_limit)
    out: dict = {"arch": arch, "seed_fraction": seed_fraction, "train_samples": int(len(x)),
                 "test_samples": int(len(xt)), "card": card,
                 "harder": "harder_mnist: random shifts up to 3 px + Gaussian noise std 0.35 (train and test)"}
    for name in datasets:
        if name not in ("mnist", "harder"):
            raise ValueError(f"dataset must be 'mnist' or 'harder', got {name!r}")
        data = (x, y, xt, yt) if name == "mnist" else (harder_mnist(x, seed + 1), y,
                                                       harder_mnist(xt, seed + 2), yt)
        cfg = CGaPConfig(arch=arch, seed_widths=seeds, max_widths=caps, baseline_widths=base,
                         growth_threshold=growth_threshold, grow_every=grow_every,
                         max_growth_steps=max_growth_steps, prune_every=prune_every,
                         final_steps=final_steps, tolerance=tolerance,
                         retry_smaller=retry_smaller, seed=seed)
        res = run_cgap(cfg, data, val_size=min(5000, len(x) // 5), log=log)
        row = res.summary()
        row["tiles"] = {str(n): {"baseline": network_tiles(res.baseline_net.weights, n)["dense"],
                                 "cgap": network_tiles(res.net.weights, n)["dense"]}
                        for n in array_sizes}
        if card:
            row["card_accuracy"] = card_accuracy(res.net, card, data[2], data[3], seed=seed)
            row["baseline_card_accuracy"] = card_accuracy(res.baseline_net, card, data[2], data[3], seed=seed)
        out[name] = row
    return out
