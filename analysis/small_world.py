"""Small-World structural pruning (Krishnan, Du & Cao, arXiv:1911.04453, 2019) and magnitude pruning.

Krishnan et al. trim a network into a locally clustered, globally sparse
"Small-World" structure *before* training, train the sparse network, and
report LeNet-5 on MNIST with 2.3% of the parameters kept (97.7% compression)
at 99.18% accuracy against a 99.29% dense baseline (their abstract and
results; VGG-16 on CIFAR-10 kept 9.02%).

What this module does (our implementation; the paper's full text was not
available to us, so the operational details below are ours and stated here):

* **Units.** A neuron of a dense layer, or a feature map of a convolution; a
  convolution connection ``(out map f, in map c)`` is the whole ``kh x kw``
  kernel. A dense layer after ``Flatten`` groups its inputs by map.
* **Small-World mask** (:func:`small_world_mask`, Watts & Strogatz, Nature
  393:440, 1998, on a bipartite layer). Input and output units of a layer sit
  on two rings; with rewiring probability ``p = 0`` every output unit connects
  to the ``k`` input units nearest to its own ring position (a regular,
  locally dense lattice); each connection is then rewired with probability
  ``p`` to a uniformly drawn input unit it does not connect to yet
  (``p = 1``: a random Erdős–Rényi-like layer of the same density).
* **Hierarchical trimming.** Per-layer densities by the Erdős–Rényi(-Kernel)
  rule (Mocanu et al., Nat. Commun. 9:2383, 2018; Evci et al., ICML 2020):
  density proportional to ``(sum of the weight's dimensions) / (its size)``,
  scaled to reach the requested overall sparsity, capped at 1
  (:func:`layer_densities`); small layers (first conv, classifier) stay dense.
* **Training from the start** with the mask held fixed (:func:`train_sparse`).
* **Magnitude pruning** (Han et al., NeurIPS 2015, "Learning both weights and
  connections"): train dense, remove the smallest ``|w|`` of each layer to the
  same per-layer densities (in ``rounds`` steps), fine-tune with the mask.
* **Metrics** (:func:`structure_metrics`), following the issue's reading of
  the paper's definitions: per weighted layer, ``C`` = mean number of output
  classes that a source unit (neuron or feature map feeding the layer)
  contributes to through nonzero paths; ``L`` = mean over classes of the
  number of the layer's nonzero weights that lie on a path to that class
  ("connections per class"). Dense networks give ``C = n_classes`` and
  ``L = layer size``. We also give the classic graph metrics
  (:func:`characteristic_path_length`, :func:`clustering_coefficient`, with
  the Watts–Strogatz definitions) for any undirected graph, the unit graph of
  a network (:func:`unit_graph`) and the Watts–Strogatz ring graph
  (:func:`watts_strogatz`).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import shortest_path

from .conv import Sequential, train_net, unrolled

__all__ = [
    "SparseResult",
    "characteristic_path_length",
    "check_sparsity",
    "clustering_coefficient",
    "layer_densities",
    "magnitude_masks",
    "magnitude_prune",
    "network_small_world_masks",
    "rescale_sparse_init",
    "ring_lattice",
    "small_world_mask",
    "structure_metrics",
    "train_sparse",
    "unit_connectivity",
    "unit_graph",
    "watts_strogatz",
    "array_tiles",
    "network_tiles",
    "card_accuracy",
    "compare_pruning",
    "make_model",
]


def check_sparsity(sparsity: float, name: str = "sparsity") -> float:
    """``sparsity`` as a float in [0, 1), else ``ValueError``."""
    try:
        s = float(sparsity)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number in [0, 1), got {sparsity!r}") from None
    if not (0.0 <= s < 1.0):
        raise ValueError(f"{name} must lie in [0, 1), got {sparsity!r}")
    return s


def _check_p(p: float) -> float:
    p = float(p)
    if not (0.0 <= p <= 1.0):
        raise ValueError(f"rewiring probability p must lie in [0, 1], got {p!r}")
    return p


# ------------------------------------------------------------ graph metrics
def _adjacency(adj: np.ndarray) -> np.ndarray:
    a = np.asarray(adj)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"adjacency must be a square matrix, got shape {a.shape}")
    a = a != 0
    a = a | a.T
    np.fill_diagonal(a, False)
    return a


def characteristic_path_length(adj: np.ndarray) -> float:
    """Mean shortest-path length over all connected ordered pairs of an undirected graph.

    Unweighted (each edge counts 1); pairs in different components are left out
    (``nan`` if no pair is connected).
    """
    a = _adjacency(adj)
    d = shortest_path(csr_matrix(a), method="D", directed=False, unweighted=True)
    off = ~np.eye(len(a), dtype=bool) & np.isfinite(d)
    return float(d[off].mean()) if off.any() else float("nan")


def clustering_coefficient(adj: np.ndarray) -> float:
    """Watts–Strogatz clustering: mean over nodes of (edges among neighbours) / (k(k-1)/2).

    Nodes with fewer than two neighbours count as 0 (the networkx convention).
    """
    a = _adjacency(adj).astype(float)
    k = a.sum(axis=1)
    tri = ((a @ a) * a).sum(axis=1) / 2.0
    pairs = k * (k - 1) / 2.0
    c = np.divide(tri, pairs, out=np.zeros_like(tri), where=pairs > 0)
    return float(c.mean()) if len(c) else float("nan")


def ring_lattice(n: int, k: int) -> np.ndarray:
    """Adjacency of a ring of ``n`` nodes, each joined to its ``k`` nearest neighbours (``k`` even)."""
    if int(n) != n or n < 1 or int(k) != k or k < 0 or k % 2 or k >= n:
        raise ValueError(f"need integers n >= 1 and even 0 <= k < n, got n={n!r}, k={k!r}")
    i = np.arange(n)
    d = np.abs(i[:, None] - i[None, :])
    d = np.minimum(d, n - d)
    return (d > 0) & (d <= k // 2)


def watts_strogatz(n: int, k: int, p: float, seed: int | None = 0) -> np.ndarray:
    """Watts–Strogatz graph: a :func:`ring_lattice` whose edges are rewired with probability ``p``.

    Each edge ``(i, i+j)`` keeps ``i`` and moves its other end to a random node
    that is neither ``i`` nor already a neighbour (Watts & Strogatz 1998).
    """
    p = _check_p(p)
    a = ring_lattice(n, k)
    rng = np.random.default_rng(seed)
    for j in range(1, k // 2 + 1):
        for i in range(n):
            t = (i + j) % n
            if a[i, t] and rng.random() < p:
                free = np.flatnonzero(~a[i])
                free = free[free != i]
                if free.size:
                    new = rng.choice(free)
                    a[i, t] = a[t, i] = False
                    a[i, new] = a[new, i] = True
    return a


# ---------------------------------------------------------- network structure
def unit_connectivity(w: np.ndarray, n_prev_units: int | None = None) -> np.ndarray:
    """Boolean ``(out units, in units)``: which unit pairs have at least one nonzero weight.

    Dense ``(n_out, n_in)``; conv ``(F, C, kh, kw)`` -> ``(F, C)``. When the
    dense layer follows a ``Flatten`` (``n_in`` a multiple of ``n_prev_units``),
    its columns are grouped by map, channel-major.
    """
    w = np.asarray(w)
    if w.ndim == 4:
        return np.any(w != 0, axis=(2, 3))
    if w.ndim != 2:
        raise ValueError(f"weights must be 2-D or 4-D, got shape {w.shape}")
    if n_prev_units and w.shape[1] != n_prev_units:
        if w.shape[1] % n_prev_units:
            raise ValueError(f"{w.shape[1]} inputs cannot be grouped into {n_prev_units} units")
        return np.any(w.reshape(w.shape[0], n_prev_units, -1) != 0, axis=2)
    return w != 0


def _unit_layers(weights: Sequence[np.ndarray]) -> list[np.ndarray]:
    out, prev = [], None
    for w in weights:
        u = unit_connectivity(w, prev)
        out.append(u)
        prev = u.shape[0]
    return out


def unit_graph(weights: Sequence[np.ndarray]) -> np.ndarray:
    """Undirected adjacency over all units of the network (inputs first) from its nonzero weights."""
    units = _unit_layers(weights)
    sizes = [units[0].shape[1]] + [u.shape[0] for u in units]
    offs = np.concatenate([[0], np.cumsum(sizes)])
    a = np.zeros((offs[-1], offs[-1]), dtype=bool)
    for k, u in enumerate(units):
        a[offs[k + 1]:offs[k + 2], offs[k]:offs[k + 1]] = u
    return a | a.T


def structure_metrics(weights: Sequence[np.ndarray], graph: bool = False) -> dict:
    """Per-layer ``L`` (connections per class) and ``C`` (classes per source unit); see the module doc.

    Returns ``{"L": [...], "C": [...], "L_rel": [...], "C_rel": [...], "density": [...]}``
    (``*_rel``: divided by the dense values, layer size and ``n_classes``), and
    with ``graph`` the characteristic path length of :func:`unit_graph`
    (``"L_graph"``).
    """
    if not weights:
        raise ValueError("weights must be a non-empty list of weight arrays")
    units = _unit_layers(weights)
    n_classes = units[-1].shape[0]
    out: dict = {"L": [], "C": [], "L_rel": [], "C_rel": [], "density": []}
    down = np.eye(n_classes, dtype=np.int64)  # classes reached by the current layer's output units
    for k in range(len(units) - 1, -1, -1):
        w = np.asarray(weights[k])
        nz_per_out = (unrolled(w) != 0).sum(axis=1)
        per_class = float((nz_per_out @ down).mean())  # nonzero weights on a path to each class
        src = (units[k].T.astype(np.int64) @ down) > 0  # (source units, classes)
        c = float(src.sum(axis=1).mean())
        for key, v in (("L", per_class), ("C", c), ("L_rel", per_class / w.size),
                       ("C_rel", c / n_classes), ("density", np.count_nonzero(w) / w.size)):
            out[key].insert(0, float(v))
        down = src.astype(np.int64)
    if graph:
        out["L_graph"] = characteristic_path_length(unit_graph(weights))
    return out


# --------------------------------------------------------------- the masks
def layer_densities(shapes: Sequence[tuple[int, ...]], sparsity: float, method: str = "erk",
                    min_density: Sequence[float] | None = None) -> list[float]:
    """Per-layer weight densities whose size-weighted mean is ``1 - sparsity``.

    ``method="erk"``: density proportional to ``sum(shape) / prod(shape)``,
    clamped to ``[min_density, 1]`` (clamped layers are fixed, the others share
    the remaining budget); ``"uniform"``: the same density in every layer.
    """
    s = check_sparsity(sparsity)
    sizes = np.array([int(np.prod(sh)) for sh in shapes], dtype=float)
    if sizes.size == 0 or np.any(sizes < 1):
        raise ValueError(f"shapes must be non-empty positive shapes, got {shapes!r}")
    if method == "uniform":
        return [1.0 - s] * len(sizes)
    if method != "erk":
        raise ValueError(f"method must be 'erk' or 'uniform', got {method!r}")
    lo = np.zeros(len(sizes)) if min_density is None else np.asarray(min_density, dtype=float)
    budget = (1.0 - s) * sizes.sum()
    raw = np.array([sum(sh) / np.prod(sh) for sh in shapes], dtype=float)
    fixed = np.full(len(sizes), np.nan)
    for _ in range(len(sizes) + 1):
        free = np.isnan(fixed)
        if not free.any():
            break
        eps = max(budget - np.nansum(fixed * sizes), 0.0) / (raw[free] * sizes[free]).sum()
        d = np.where(free, eps * raw, fixed)
        over, under = free & (d > 1.0), free & (d < lo)
        if not (over.any() or under.any()):
            break
        fixed[over] = 1.0
        fixed[under] = lo[under]
    return [float(np.clip(v, 0.0, 1.0)) for v in d]


def small_world_mask(shape: tuple[int, int], density: float, p: float,
                     seed: int | np.random.Generator | None = 0) -> np.ndarray:
    """Boolean ``(n_out, n_in)`` unit mask: ring lattice of the given density, rewired with ``p``.

    Output unit ``i`` sits at ring position ``(i + 0.5) / n_out``; it keeps the
    ``k_i`` input units nearest that position (``sum k_i = round(density * n_out * n_in)``,
    every unit at least one), and each connection moves with probability ``p``
    to a random input it is not yet connected to.
    """
    n_out, n_in = (int(v) for v in shape)
    if n_out < 1 or n_in < 1:
        raise ValueError(f"shape must be two positive integers, got {shape!r}")
    if not (0.0 < density <= 1.0):
        raise ValueError(f"density must lie in (0, 1], got {density!r}")
    p = _check_p(p)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    total = max(n_out, int(round(density * n_out * n_in)))
    k = np.full(n_out, total // n_out)
    k[: total % n_out] += 1
    k = np.minimum(k, n_in)
    centre = ((np.arange(n_out) + 0.5) * n_in / n_out - 0.5)
    mask = np.zeros((n_out, n_in), dtype=bool)
    for i in range(n_out):
        # the k_i inputs nearest the centre on the ring
        start = int(np.floor(centre[i] - (k[i] - 1) / 2.0 + 0.5))
        cols = np.mod(start + np.arange(k[i]), n_in)
        mask[i, cols] = True
        if p > 0 and k[i] < n_in:
            cols = np.flatnonzero(mask[i])
            move = cols[rng.random(cols.size) < p]
            if move.size:
                free = np.flatnonzero(~mask[i])
                new = rng.choice(free, size=min(move.size, free.size), replace=False)
                mask[i, move[: new.size]] = False
                mask[i, new] = True
    return mask


def _expand(unit_mask: np.ndarray, w: np.ndarray) -> np.ndarray:
    """A unit mask grown to the weight's shape (conv kernels, flattened map blocks)."""
    if w.ndim == 4:
        return np.broadcast_to(unit_mask[:, :, None, None], w.shape).copy()
    if unit_mask.shape[1] != w.shape[1]:
        return np.repeat(unit_mask, w.shape[1] // unit_mask.shape[1], axis=1)
    return unit_mask.copy()


def network_small_world_masks(net: Sequential, sparsity: float, p: float, seed: int | None = 0,
                              method: str = "erk") -> list[np.ndarray]:
    """Small-World masks for every weighted layer of ``net`` at overall weight ``sparsity``."""
    check_sparsity(sparsity)
    rng = np.random.default_rng(seed)
    weights = net.weights
    # conv layers are wired kernel by kernel (units = maps), dense layers weight by weight;
    # every output unit keeps at least one input
    ushapes = [w.shape[:2] if w.ndim == 4 else w.shape for w in weights]
    lows = [1.0 / u[1] for u in ushapes]
    dens = layer_densities([w.shape for w in weights], sparsity, method, min_density=lows)
    masks = []
    for w, u, d in zip(weights, ushapes, dens):
        m = np.ones(u, dtype=bool) if d >= 1.0 else small_world_mask(u, d, p, rng)
        masks.append(_expand(m, w))
    return masks


def magnitude_masks(weights: Sequence[np.ndarray], densities: Sequence[float]) -> list[np.ndarray]:
    """Keep the largest ``|w|`` of each layer (``round(density * size)`` weights, at least 1)."""
    masks = []
    for w, d in zip(weights, densities):
        w = np.abs(np.asarray(w)).ravel()
        keep = max(1, int(round(float(d) * w.size)))
        m = np.zeros(w.size, dtype=bool)
        m[np.argpartition(-w, keep - 1)[:keep]] = True
        masks.append(m.reshape(np.shape(weights[len(masks)])))
    return masks


# -------------------------------------------------------------- training
@dataclass
class SparseResult:
    """Outcome of one sparse model: accuracy (test), sparsity (weights), L/C metrics, masks."""

    method: str
    sparsity: float
    accuracy: float
    metrics: dict
    masks: list[np.ndarray]
    net: Sequential

    def summary(self) -> dict:
        """JSON-ready headline numbers."""
        return {"method": self.method, "sparsity": round(self.sparsity, 5),
                "accuracy": round(self.accuracy, 5),
                "L": [round(v, 2) for v in self.metrics["L"]],
                "C": [round(v, 3) for v in self.metrics["C"]],
                "density": [round(v, 5) for v in self.metrics["density"]],
                "L_graph": self.metrics.get("L_graph")}


def _sparsity(net: Sequential) -> float:
    total = sum(w.size for w in net.weights)
    return 1.0 - sum(int(np.count_nonzero(w)) for w in net.weights) / total


def rescale_sparse_init(net: Sequential) -> None:
    """Scale each unit's incoming masked weights by ``sqrt(dense fan-in / kept fan-in)``.

    Keeps the He-initialisation variance of the pre-activations when most inputs
    are pruned (otherwise a 97%-sparse layer starts with ~6x smaller outputs).
    """
    for layer in net.weighted:
        w2 = unrolled(layer.W)
        kept = np.count_nonzero(w2, axis=1)
        scale = np.sqrt(w2.shape[1] / np.maximum(kept, 1)).astype(layer.W.dtype)
        layer.W *= scale.reshape((-1,) + (1,) * (layer.W.ndim - 1))


def train_sparse(net: Sequential, masks: Sequence[np.ndarray], x: np.ndarray, y: np.ndarray,
                 x_test: np.ndarray, y_test: np.ndarray, *, epochs: float = 1.0, batch: int = 100,
                 lr: float = 1e-3, seed: int | None = 0, method: str = "small-world",
                 rescale: bool = True) -> SparseResult:
    """Train ``net`` from its initial weights with ``masks`` held fixed; evaluate on the test set.

    With ``rescale``, the initial weights are first scaled to the sparse fan-in
    (:func:`rescale_sparse_init`).
    """
    from .mlp import Adam

    net.set_masks(masks)
    if rescale:
        rescale_sparse_init(net)
    train_net(net, x, y, epochs=epochs, batch=batch, optimizer=Adam(lr), seed=seed)
    return SparseResult(method, _sparsity(net), net.accuracy(x_test, y_test),
                        structure_metrics(net.weights, graph=True), [np.asarray(m, bool) for m in masks], net)


def magnitude_prune(dense: Sequential, densities: Sequence[float], x: np.ndarray, y: np.ndarray,
                    x_test: np.ndarray, y_test: np.ndarray, *, rounds: int = 1,
                    finetune_epochs: float = 1.0, batch: int = 100, lr: float = 5e-4,
                    seed: int | None = 0) -> SparseResult:
    """Han et al. (2015) prune-and-fine-tune of a trained ``dense`` net (a copy) to ``densities``.

    ``rounds`` geometric steps from density 1 to the targets, each followed by
    ``finetune_epochs / rounds`` epochs of masked fine-tuning.
    """
    from .mlp import Adam

    if int(rounds) != rounds or rounds < 1:
        raise ValueError(f"rounds must be a positive integer, got {rounds!r}")
    net = copy.deepcopy(dense)
    masks = None
    for r in range(1, rounds + 1):
        step = [float(d) ** (r / rounds) for d in densities]
        masks = magnitude_masks(net.weights, step)
        net.set_masks(masks)
        train_net(net, x, y, epochs=finetune_epochs / rounds, batch=batch, optimizer=Adam(lr),
                  seed=None if seed is None else seed + r)
    return SparseResult("magnitude", _sparsity(net), net.accuracy(x_test, y_test),
                        structure_metrics(net.weights, graph=True), masks, net)



# -------------------------------------------------------- crossbar mapping
def array_tiles(w: np.ndarray, size: int = 64, differential: bool = True) -> dict:
    """Crossbar tiles of ``size x size`` needed for one weight (dense or conv, unrolled).

    Convention: inputs on rows (word lines), outputs on columns; with
    ``differential`` each output takes two adjacent columns (``G+``, ``G-``).
    ``dense``: tiles of the full matrix; ``nonzero``: tiles holding at least one
    nonzero weight, weights left in place; ``compacted``: the same after
    deleting all-zero rows (unused inputs) and all-zero output columns.
    """
    if int(size) != size or size < 1:
        raise ValueError(f"array size must be a positive integer, got {size!r}")
    nz = (unrolled(w) != 0).T  # (rows = inputs, outputs)
    if differential:
        nz = np.repeat(nz, 2, axis=1)
    rows, cols = nz.shape
    gr, gc = -(-rows // size), -(-cols // size)
    pad = np.zeros((gr * size, gc * size), dtype=bool)
    pad[:rows, :cols] = nz
    used = pad.reshape(gr, size, gc, size).any(axis=(1, 3))
    kept = nz[nz.any(axis=1)][:, nz.any(axis=0)]
    comp = (-(-kept.shape[0] // size)) * (-(-kept.shape[1] // size)) if kept.size else 0
    return {"dense": int(gr * gc), "nonzero": int(used.sum()), "compacted": int(comp)}


def network_tiles(weights: Sequence[np.ndarray], size: int = 64, differential: bool = True) -> dict:
    """:func:`array_tiles` summed over the layers (and per layer under ``"layers"``)."""
    per = [array_tiles(w, size, differential) for w in weights]
    tot = {k: int(sum(t[k] for t in per)) for k in ("dense", "nonzero", "compacted")}
    tot["layers"] = per
    return tot


def card_accuracy(net: Sequential, card, x: np.ndarray, y: np.ndarray, *,
                  levels="card", seed: int | None = 0) -> float:
    """Accuracy with every weight programmed one-shot into a :class:`~neurocbram.analysis.crossbar.CrossbarLayer`.

    ``card``: a :class:`~neurocbram.devices.DeviceCard` or a bundled card name.
    ``w_max`` of each layer is its largest ``|w|``; pruned cells are left
    unwritten at ``g_min`` (weight 0), so zeros stay zero. Biases stay digital.
    """
    from neurocbram.devices import load_card

    from .crossbar import CrossbarLayer

    if isinstance(card, str):
        card = load_card(card)
    rng = np.random.default_rng(seed)
    hw = copy.deepcopy(net)
    for layer in hw.weighted:
        w2 = unrolled(layer.W).astype(float)
        w_max = float(np.abs(w2).max()) or 1.0
        xb = CrossbarLayer(card, w2.shape, w_max=w_max, levels=levels, seed=rng)
        xb.program(w2, "one-shot")
        layer.W = (np.asarray(xb.weights) * (w2 != 0)).reshape(layer.W.shape).astype(layer.W.dtype)
    return hw.accuracy(x, y)


# ------------------------------------------------------------- experiment
MODELS = ("lenet300", "lenet5", "lenet5-caffe")


def make_model(name: str, seed: int | None = 0) -> Sequential:
    """``"lenet300"`` (LeNet-300-100, 784-300-100-10), ``"lenet5"`` or ``"lenet5-caffe"`` (20-50-500)."""
    from .conv import lenet5, lenet5_caffe, mlp_net

    if name == "lenet300":
        return mlp_net((784, 300, 100, 10), seed=seed)
    if name == "lenet5":
        return lenet5(seed)
    if name == "lenet5-caffe":
        return lenet5_caffe(seed)
    raise ValueError(f"model must be one of {MODELS}, got {name!r}")


def compare_pruning(
    model: str,
    data: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    *,
    sparsities: Sequence[float] = (0.9, 0.97),
    ps: Sequence[float] = (0.0, 0.1, 1.0),
    epochs: float = 5.0,
    finetune_epochs: float = 2.0,
    rounds: int = 2,
    card: str | None = "cbram-shi2018",
    array_sizes: Sequence[int] = (64, 128),
    lr: float = 1e-3,
    sparse_lr: float = 3e-3,
    seed: int = 0,
    log=None,
) -> dict:
    """Dense baseline, Small-World (trained sparse from the start) for each ``p``, and magnitude
    pruning at the same per-layer densities, for each sparsity; accuracies, L/C, tiles, card accuracy.

    ``data`` = ``(x_train, y_train, x_test, y_test)``; ``log(str)`` receives progress lines.
    Adam learning rates: ``lr`` (dense), ``sparse_lr`` (Small-World from scratch),
    ``lr / 2`` (magnitude fine-tuning).
    """
    import time

    say = log or (lambda s: None)
    for s in sparsities:
        check_sparsity(s)
    for p in ps:
        _check_p(p)
    x, y, xt, yt = data
    t0 = time.time()
    dense = make_model(model, seed)
    from .mlp import Adam

    train_net(dense, x, y, epochs=epochs, seed=seed, optimizer=Adam(lr))
    acc_dense = dense.accuracy(xt, yt)
    say(f"[{model}] dense: {acc_dense:.4f} ({time.time() - t0:.0f} s)")

    def tiles(ws):
        return {str(n): network_tiles(ws, n) for n in array_sizes}

    def strip(t):
        return {n: {k: v for k, v in d.items() if k != "layers"} for n, d in t.items()}

    out = {"model": model, "epochs": epochs, "lr": lr, "sparse_lr": sparse_lr, "finetune_epochs": finetune_epochs, "rounds": rounds,
           "train_samples": int(len(x)), "test_samples": int(len(xt)), "seed": seed,
           "dense": {"accuracy": acc_dense, "params": dense.n_params(),
                     "metrics": structure_metrics(dense.weights, graph=True), "tiles": strip(tiles(dense.weights))},
           "runs": []}
    if card:
        out["dense"]["card_accuracy"] = card_accuracy(dense, card, xt, yt, seed=seed)
    for s in sparsities:
        best = None
        for p in ps:
            t1 = time.time()
            net = make_model(model, seed)
            masks = network_small_world_masks(net, s, p, seed=seed)
            res = train_sparse(net, masks, x, y, xt, yt, epochs=epochs, lr=sparse_lr, seed=seed,
                               method=f"small-world p={p:g}")
            row = res.summary() | {"p": p, "target_sparsity": s, "tiles": strip(tiles(net.weights)),
                                   "L_rel": res.metrics["L_rel"], "C_rel": res.metrics["C_rel"]}
            out["runs"].append(row)
            say(f"[{model}] s={s:g} small-world p={p:g}: {res.accuracy:.4f} ({time.time() - t1:.0f} s)")
            if best is None or res.accuracy > best[0].accuracy:
                best = (res, row)
        dens = best[0].metrics["density"]
        t1 = time.time()
        mag = magnitude_prune(dense, dens, x, y, xt, yt, rounds=rounds, finetune_epochs=finetune_epochs,
                              lr=lr / 2, seed=seed)
        row = mag.summary() | {"p": None, "target_sparsity": s, "tiles": strip(tiles(mag.net.weights)),
                               "L_rel": mag.metrics["L_rel"], "C_rel": mag.metrics["C_rel"]}
        out["runs"].append(row)
        say(f"[{model}] s={s:g} magnitude: {mag.accuracy:.4f} ({time.time() - t1:.0f} s)")
        if card:
            best[1]["card_accuracy"] = card_accuracy(best[0].net, card, xt, yt, seed=seed)
            row["card_accuracy"] = card_accuracy(mag.net, card, xt, yt, seed=seed)
    out["card"] = card
    out["seconds"] = round(time.time() - t0, 1)
    return out
