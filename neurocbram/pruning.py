"""Soft-pruning (freezing) and hard-pruning of input synapses during training.

Shi et al., "Neuroinspired unsupervised learning and pruning with subquantum
CBRAM arrays", Nature Communications 9:5312 (2018), prune *during* training:
weights that have matured are set to a constant non-zero value and frozen --
they receive no more pulses (fewer writes, less energy) but still conduct.
They report 93% MNIST accuracy with 75% of the weights soft-pruned, while
conventional pruning (removing the weights) fell below 90% at 40% pruned.

Here a pruning *event* happens at a scheduled image count. It selects, among
the synapses not yet pruned, those that count as matured, until the requested
cumulative fraction is pruned:

``criterion="lowest"`` (default)
    the lowest weights. In an unsupervised digit network the weights from
    background pixels sink early and stay low; these are what freezing saves
    writes on. (Shi et al. prune weights that have settled; the paper's exact
    selection rule is not available to us, so this default is our choice.)
``criterion="stable"``
    the weights that moved least over the last ``stability_window`` training
    images before the event (the training driver keeps a snapshot of the
    conductances taken at the first chunk boundary at or after
    ``event.image - stability_window``).
``criterion="settled"``
    the synapses whose pulses over the last ``stability_window`` images
    cancelled most: ``window_pulses - |dw| * levels`` largest (many pulses,
    little net change), ties broken by the least net change. These are the
    matured synapses that would keep costing writes: receptive-field weights
    that the rule holds in place by alternating SET and RESET. (Weights that
    never receive pulses -- background pixels -- cost nothing to leave alone.)

``scope="per_neuron"`` (default) prunes the same fraction of every neuron's
input weights; ``"global"`` ranks all synapses together.

Soft-pruning sets each selected synapse to a constant weight and raises its
``frozen`` flag, which gates every update in the synapse code
(:mod:`neurocbram.synapses`): frozen synapses get no pulses. The constant is
``constant`` if given (a weight in [0, 1], or a conductance in siemens inside
the card's range), else the mean of the weights being frozen at that event, per
neuron (``per_neuron``) or overall (``global``) -- a non-zero value close to
where the matured weights sat. ``constant="keep"`` freezes each synapse at its
present weight instead (no programming): the natural pairing with the
history criteria (``"stable"``, ``"settled"``), which select weights at every
level, so that one value per neuron would erase the receptive field.
Programming the constant costs pulses once (the
pulses from ``w`` to ``w_new`` along the card's mean response, rounded, SET or
RESET: :func:`neurocbram.synapse_functions.pulses_to_target`; counted by the
training driver); stuck devices keep their value. Hard-pruning selects in the
same way but removes the synapses: weight 0 and frozen (the device is
disconnected from the read path; no pulses).

Measured (N = 400, CBRAM card, 60,000 training images, one event at image
30,000, ``criterion="settled"``, 10,000 test images, ``benchmarks/pruning.py``,
per-spike depression):
unpruned 88.16%; soft-pruned 75% (``constant="keep"``) 87.60% with 4.8x fewer
write pulses after the event; hard-pruned during training with the same rule
75.08% at 40% and 71.33% at 75% -- the freeze, not the selection, keeps the
accuracy, as in Shi et al. Removing the *lowest* weights of the trained
network costs nothing here (88.20% at 40%, 88.41% at 75%): after
normalisation they sit near 0. Seed 1: unpruned 87.97%, soft-pruned 75% 87.57%.
With ``depression="deferred"`` (faster training) soft-pruning 75% lost more:
85.95-86.87% over four runs (seeds 0 and 1) against 88.51 / 88.11% unpruned.
The selection rule alone does not explain it: with ``criterion="stable"`` (same
settings) deferred gave 87.43 / 87.04% and per-spike 87.91 / 87.49% (seeds 0 /
1), again the larger loss for deferred (1.08 / 1.07 against 0.25 / 0.48 point
from unpruned). "stable" also freezes the synapses that were hardly written:
3.9-4.0 million pulses after the event in both modes, with only 0.92-0.97
million skipped on frozen synapses (settled: 1.2-1.35 million pulses, 2.2
million skipped).

All functions here work on arrays of shape (n_inputs, n_neurons) and are
called by the training driver between chunks of images, so no per-image
Python runs in standalone mode.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from neurocbram.devices.card import DeviceCard
    from neurocbram.networks.diehl_cook import TrainedState

__all__ = [
    "CRITERIA",
    "KEEP",
    "PruningSchedule",
    "PruningEvent",
    "select_matured",
    "prune",
    "prune_trained_state",
]

#: ``PruningSchedule.constant`` that freezes each synapse at its present weight
KEEP = "keep"

Criterion = Literal["lowest", "stable", "settled"]
#: criteria that compare with the state ``stability_window`` images before the event
HISTORY_CRITERIA = ("stable", "settled")
#: every criterion, for command-line choices
CRITERIA = ("lowest", *HISTORY_CRITERIA)
Scope = Literal["per_neuron", "global"]
Kind = Literal["soft", "hard"]


@dataclass(frozen=True)
class PruningEvent:
    """Prune up to ``fraction`` (cumulative) of the synapses after ``image`` training images."""

    image: int
    fraction: float


@dataclass(frozen=True)
class PruningSchedule:
    """When and how to prune during training.

    The cumulative pruned fraction rises linearly from ``final_fraction/steps``
    at ``start_image`` to ``final_fraction`` at ``end_image`` in ``steps``
    events. ``kind`` is ``"soft"`` (freeze at a constant) or ``"hard"``
    (remove). ``constant`` is the weight (in [0, 1]) or the conductance
    (Brian2 quantity in siemens, inside the card's range) given to
    soft-pruned synapses, ``None`` for the mean of the weights being frozen,
    ``"keep"`` to freeze each at its present weight.
    ``stability_window`` (images) is the look-back of ``criterion="stable"`` and
    ``"settled"``.
    """

    final_fraction: float = 0.75
    start_image: int = 0
    end_image: int = 0
    steps: int = 1
    kind: Kind = "soft"
    criterion: Criterion = "lowest"
    scope: Scope = "per_neuron"
    constant: Any = None
    stability_window: int = 1000

    def __post_init__(self) -> None:
        if not 0.0 <= self.final_fraction < 1.0:
            raise ValueError(
                f"pruning final_fraction must lie in [0, 1), got {self.final_fraction!r}"
            )
        if self.kind not in ("soft", "hard"):
            raise ValueError(f"pruning kind must be 'soft' or 'hard', got {self.kind!r}")
        if self.criterion not in CRITERIA:
            raise ValueError(
                f"pruning criterion must be 'lowest', 'stable' or 'settled', got {self.criterion!r}"
            )
        if self.scope not in ("per_neuron", "global"):
            raise ValueError(f"pruning scope must be 'per_neuron' or 'global', got {self.scope!r}")
        if self.steps < 1:
            raise ValueError(f"pruning steps must be >= 1, got {self.steps!r}")
        if self.start_image < 0 or self.end_image < self.start_image:
            raise ValueError(
                f"pruning needs 0 <= start_image <= end_image, got {self.start_image}..{self.end_image}"
            )
        if self.stability_window < 1:
            raise ValueError(f"pruning stability_window must be >= 1 image, got {self.stability_window!r}")
        if isinstance(self.constant, str):
            if self.constant != KEEP:
                raise ValueError(
                    f"pruning constant must be a weight in [0, 1], a conductance, None or "
                    f"{KEEP!r}; got {self.constant!r}"
                )
        elif _is_conductance(self.constant):
            if not float(self.constant) > 0:
                raise ValueError(f"pruning constant must be a positive conductance, got {self.constant!r}")
        elif self.constant is not None and not (
            isinstance(self.constant, (int, float, np.integer, np.floating))
            and 0.0 <= self.constant <= 1.0
        ):
            raise ValueError(
                f"pruning constant is a weight and must lie in [0, 1] (the card's conductance "
                f"range), or a conductance in siemens; got {self.constant!r}"
            )
        if self.kind == "hard" and self.constant is not None:
            raise ValueError("hard pruning removes synapses (weight 0); do not give a constant")

    def for_card(self, card: DeviceCard) -> PruningSchedule:
        """This schedule with ``constant`` as a weight of ``card`` (checks a conductance's range)."""
        if not _is_conductance(self.constant):
            return self
        g = float(self.constant)
        if not card.g_min <= g <= card.g_max:
            raise ValueError(
                f"pruning constant {self.constant!r} lies outside the conductance range of card "
                f"{card.name!r} ([{card.g_min:.4g}, {card.g_max:.4g}] S)"
            )
        return replace(self, constant=float(card.weight(g)))

    def describe(self) -> dict[str, Any]:
        """JSON-friendly description (for checkpoints and results)."""
        out = {name: getattr(self, name) for name in self.__dataclass_fields__}
        if _is_conductance(self.constant):
            out["constant"] = repr(self.constant)
        return out

    def events(self) -> list[PruningEvent]:
        """The pruning events in order of image count."""
        if self.final_fraction == 0:
            return []
        images = np.linspace(self.start_image, self.end_image, self.steps)
        fractions = self.final_fraction * np.arange(1, self.steps + 1) / self.steps
        return [PruningEvent(int(round(i)), float(f)) for i, f in zip(images, fractions, strict=True)]

    def check_fits(self, total_images: int) -> None:
        """Raise if an event lies past the end of training (``total_images``)."""
        if self.events() and self.end_image >= total_images:
            raise ValueError(
                f"pruning schedule ends at image {self.end_image}, at or past the end of training "
                f"({total_images} images): its last event would never be applied (prune a "
                "trained state with prune_trained_state instead)"
            )


def _is_conductance(value: Any) -> bool:
    """True for a Brian2 quantity; raises if it is not in siemens."""
    from brian2 import Quantity, siemens

    if not isinstance(value, Quantity) or value.dim is Quantity(1).dim:
        return False
    if value.dim is not siemens.dim:
        raise ValueError(f"pruning constant must be a weight or a conductance (siemens), got {value!r}")
    return True


def _check_weights(weights: np.ndarray, name: str = "weights") -> np.ndarray:
    weights = np.asarray(weights, dtype=float)
    if weights.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (inputs, neurons) array, got shape {weights.shape}")
    if not np.all(np.isfinite(weights)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return weights


def select_matured(
    weights: np.ndarray,
    pruned: np.ndarray,
    fraction: float,
    criterion: Criterion = "lowest",
    scope: Scope = "per_neuron",
    previous_weights: np.ndarray | None = None,
    window_pulses: np.ndarray | None = None,
    levels: int | None = None,
) -> np.ndarray:
    """Boolean mask of synapses to prune now so that ``fraction`` of them are pruned in all.

    ``pruned`` marks synapses pruned at earlier events (never selected again);
    ``previous_weights`` is needed for ``criterion="stable"`` and ``"settled"``,
    which also needs ``window_pulses`` (pulses each synapse received since
    ``previous_weights``) and the card's ``levels`` (pulses per unit weight).
    """
    weights = _check_weights(weights)
    pruned = np.asarray(pruned, dtype=bool)
    if pruned.shape != weights.shape:
        raise ValueError(f"pruned mask shape {pruned.shape} differs from weights {weights.shape}")
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"pruning fraction must lie in [0, 1), got {fraction!r}")
    tie = np.zeros_like(weights)
    if criterion == "lowest":
        score = weights.copy()
    elif criterion in HISTORY_CRITERIA:
        if previous_weights is None:
            raise ValueError(f"criterion {criterion!r} needs previous_weights")
        previous = _check_weights(previous_weights, "previous_weights")
        if previous.shape != weights.shape:
            raise ValueError("previous_weights and weights differ in shape")
        score = np.abs(weights - previous)
        if criterion == "settled":
            if window_pulses is None or levels is None:
                raise ValueError("criterion 'settled' needs window_pulses and levels")
            pulses = _check_weights(window_pulses, "window_pulses")
            if pulses.shape != weights.shape:
                raise ValueError("window_pulses and weights differ in shape")
            score, tie = -(pulses - score * levels), score
    else:
        raise ValueError(f"unknown pruning criterion {criterion!r}")
    score[pruned] = np.inf  # already pruned: never chosen again
    if scope == "per_neuron":
        n_inputs = weights.shape[0]
        target = int(np.floor(fraction * n_inputs + 1e-9))
        need = np.maximum(target - pruned.sum(axis=0), 0)
        order = np.lexsort((tie, score), axis=0)
        ranks = np.empty_like(order)
        np.put_along_axis(ranks, order, np.arange(n_inputs)[:, None], axis=0)
        return ranks < need[None, :]
    if scope == "global":
        target = int(np.floor(fraction * weights.size + 1e-9))
        need = max(target - int(pruned.sum()), 0)
        flat = np.zeros(weights.size, dtype=bool)
        flat[np.lexsort((tie.ravel(), score.ravel()))[:need]] = True
        return flat.reshape(weights.shape)
    raise ValueError(f"unknown pruning scope {scope!r}")


def prune(
    weights: np.ndarray,
    pruned: np.ndarray,
    event: PruningEvent,
    schedule: PruningSchedule,
    previous_weights: np.ndarray | None = None,
    window_pulses: np.ndarray | None = None,
    levels: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Apply one pruning event (history arguments as :func:`select_matured`).

    Returns ``(new_weights, new_pruned, selected)``: soft-pruned synapses take
    the schedule's constant (the mean of the selected weights, or their own
    weight for ``"keep"``), hard-pruned ones 0; ``new_pruned`` is the frozen
    mask to hand to the synapse model.
    """
    weights = _check_weights(weights)
    selected = select_matured(
        weights, pruned, event.fraction, schedule.criterion, schedule.scope, previous_weights,
        window_pulses, levels,
    )
    new_weights = weights.copy()
    if schedule.kind == "hard":
        new_weights[selected] = 0.0
    elif schedule.constant == KEEP:
        pass
    elif schedule.constant is not None:
        new_weights[selected] = schedule.constant
    elif schedule.scope == "per_neuron":
        counts = selected.sum(axis=0)
        sums = np.where(selected, weights, 0.0).sum(axis=0)
        means = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
        new_weights = np.where(selected, means[None, :], new_weights)
    elif selected.any():
        new_weights[selected] = weights[selected].mean()
    return new_weights, np.asarray(pruned, dtype=bool) | selected, selected


def prune_trained_state(
    state: TrainedState,
    fraction: float,
    *,
    kind: Kind = "hard",
    criterion: Criterion = "lowest",
    scope: Scope = "per_neuron",
    constant: Any = None,
    card: DeviceCard | str | None = None,
) -> TrainedState:
    """Prune a trained network after training (no retraining): the conventional baseline.

    Synapses already pruned during training count towards ``fraction``.
    Hard pruning sets the removed weights to 0; soft pruning to ``constant``
    or the mean of the selected weights (as :func:`prune`). ``card`` (default:
    the state's card) converts the new weights to conductances.
    """
    from neurocbram.devices import load_card
    from neurocbram.networks.diehl_cook import TrainedState

    card = load_card(card if card is not None else state.card)
    schedule = PruningSchedule(final_fraction=fraction, kind=kind, criterion=criterion,
                               scope=scope, constant=constant).for_card(card)
    if criterion in HISTORY_CRITERIA:
        raise ValueError(f"criterion {criterion!r} needs the weights' history: prune during training")
    w = np.asarray(state.w, dtype=float)
    frozen = np.zeros(w.shape, bool) if state.frozen is None else np.asarray(state.frozen, bool)
    removed = np.zeros(w.shape, bool) if state.removed is None else np.asarray(state.removed, bool)
    new_w, new_frozen, selected = prune(w, frozen, PruningEvent(state.images_seen, fraction), schedule)
    if kind == "hard":
        removed = removed | selected
    return TrainedState(
        G=np.asarray(card.conductance(new_w)), w=new_w, theta_mV=state.theta_mV.copy(),
        gain=state.gain.copy(), card=state.card, images_seen=state.images_seen,
        frozen=new_frozen, removed=removed, set_pulses=state.set_pulses,
        reset_pulses=state.reset_pulses,
    )
