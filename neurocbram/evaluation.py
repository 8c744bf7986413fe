"""Fast frozen-weight evaluation of the Diehl & Cook (2015) network, many images at once.

During evaluation nothing learns: the input->excitatory weights and the adaptive
thresholds ``theta`` are fixed, so each image is an independent simulation that
starts from the resting state. This module runs those simulations in batches
outside Brian2, reproducing the arithmetic of Brian2's runtime code for the
groups of :mod:`neurocbram.neurons` step by step:

* every time step, in Brian2's default schedule order
  (``groups -> thresholds -> synapses -> resets``):

  1. *groups*: ``not_refractory = (k - k_lastspike) >= timestep(refractory)``;
     the state updater from the old values, only where ``not_refractory`` for
     ``v`` (the ``(unless refractory)`` flag). Exponential Euler (default):
     ``ge *= exp(-dt/tau_ge)``, same for ``gi``, and ``v = -b + (b + v) *
     exp(a*dt)`` with ``a = -(1 + ge + gi)/tau_m`` and ``b = (v_rest + ge*E_exc +
     gi*E_inh)/tau_m / a``; forward Euler: ``ge += (-dt/tau_ge) * ge`` and ``v +=
     (dt/tau_m) * ((v_rest + (ge*(E_exc - v) + gi*(E_inh - v))) - v)``. The
     floating-point expressions are written in the same order as Brian2's
     generated NumPy code, so states agree with it to the last bit, up to ``exp``:
     both engines share a vectorisable ``exp`` within 1 ulp of libm's (``_exp``);
  2. *thresholds*: input spikes (``rand() < rate*dt`` per input and step, as
     :class:`~brian2.input.poissongroup.PoissonGroup`), excitatory spikes
     where ``v > v_threshold + theta``, not refractory and at least ``spike_lock``
     after their last spike (:data:`~neurocbram.neurons.EXCITATORY_THRESHOLD`), inhibitory spikes
     where ``v > v_threshold`` and not refractory; spiking neurons get
     ``lastspike = t``;
  3. *synapses* (no delays): ``ge_exc += w[i, :]`` for every input spike ``i`` (in
     ascending input order, one addition at a time as ``numpy.add.at`` does),
     ``ge_inh[j] += w_exc_inh`` one-to-one, ``gi_exc[k] += w_inh_exc`` once for
     each spiking inhibitory neuron ``j != k``;
  4. *resets*: ``v = v_reset``.

* Each presentation starts from the resting state (``v = v_rest``, ``ge = gi =
  0``, never spiked): the exact reset with which the trainer
  (:mod:`neurocbram.networks.diehl_cook`) replaces D&C's 150 ms rest.
  ``initial_state="group"`` starts instead from ``v = v_rest + v_initial_offset``,
  the value of a freshly built :mod:`neurocbram.neurons` group.
* D&C retry rule: an image that made fewer than ``min_spikes`` excitatory
  spikes is presented again with the input rates raised by ``intensity_step``
  (in units of the base maximum rate; 0.5 x 63.75 Hz = D&C's +32 Hz); only
  those images are re-simulated.

Input spike trains are Bernoulli(``rate*dt``) per input and time step, drawn
as geometric inter-spike gaps (the same distribution, far fewer random
numbers, since most pixels are black; :func:`poisson_input_spikes`). Each
presentation has its own Mersenne-Twister stream seeded by
:func:`presentation_seeds` from ``(seed, image index, retry)``, so results
depend on the seed only: not on the engine, batch size or thread count.

Two engines share these semantics: ``"numba"`` (compiled, spikes drawn in the
kernel, presentations spread over threads; used when numba is installed)
and ``"numpy"`` (vectorised over the batch; always available, ~40x slower).
Inhibitory neurons whose excitatory partner has not fired yet all follow the
same input-free trajectory; the numba engine computes it once and simulates
only the driven ones (exact: same arithmetic). The inhibitory ``gi`` is
omitted (nothing targets it, it stays 0 and ``0 * (E_inh - v)`` adds nothing).

Example::

    from brian2 import mV
    from neurocbram.analysis.labelling import accuracy, assign_labels, predict

    label_counts, _ = evaluate_responses(w_eff, theta_mV * mV, train_images[:10000], seed=1)
    test_counts, _ = evaluate_responses(w_eff, theta_mV * mV, test_images, seed=2)
    neuron_labels = assign_labels(label_counts, train_labels[:10000])
    print(accuracy(predict(test_counts, neuron_labels), test_labels))

``evaluate_responses(..., counts=True)`` also returns :class:`InferenceCounts`:
the exact input spikes per pixel, excitatory and inhibitory spikes of every
presentation simulated, retries included (for the energy ledger of inference;
``InferenceCounts.synaptic_reads(active)`` gives the input->excitatory reads).

``tests/test_evaluation.py`` checks that both engines give excitatory spike
trains identical, step for step, to those of a Brian2 runtime network built
from :mod:`neurocbram.neurons` and fed the same input spikes through a
:class:`~brian2.input.spikegeneratorgroup.SpikeGeneratorGroup`, and that mean
counts agree statistically with a Brian2 network driven by its own
:class:`~brian2.input.poissongroup.PoissonGroup`.
"""

from __future__ import annotations

import math
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from brian2 import Hz, Quantity, ms, second, volt

from .neurons import (
    DEFAULT_INTEGRATION,
    ExcitatoryParameters,
    InhibitoryParameters,
    check_integration,
)

__all__ = [
    "N_INPUTS",
    "InferenceCounts",
    "InputSpikes",
    "NetworkConstants",
    "available_engines",
    "evaluate_responses",
    "poisson_input_spikes",
    "presentation_seeds",
    "simulate_presentations",
    "spike_probabilities",
]

#: number of input neurons (28 x 28 pixels)
N_INPUTS = 784

try:  # optional accelerator
    import numba as _numba
except ImportError:  # pragma: no cover - depends on the environment
    _numba = None


def available_engines() -> list[str]:
    """Engines usable here: ``"numpy"`` always, ``"numba"`` when numba imports."""
    return (["numba"] if _numba is not None else []) + ["numpy"]


# --------------------------------------------------------------------------- constants


@dataclass(frozen=True)
class NetworkConstants:
    """Plain-float (SI) constants of one evaluation, in the form Brian2's generated code uses.

    Build it with :meth:`from_parameters`; the attribute names mirror Brian2's
    loop-invariant constants (``c_ge = -dt/tau_ge`` etc.).
    """

    n_steps: int
    exc_v_initial: float
    exc_v_rest: float
    exc_v_reset: float
    exc_v_threshold: float
    exc_E_exc: float
    exc_E_inh: float
    exc_c_v: float
    exc_c_ge: float
    exc_c_gi: float
    exc_refractory_steps: int
    #: steps after a spike before the next may occur: ``max(refractory, spike_lock)``
    exc_lock_steps: int
    inh_v_initial: float
    inh_v_rest: float
    inh_v_reset: float
    inh_v_threshold: float
    inh_E_exc: float
    inh_c_v: float
    inh_c_ge: float
    inh_refractory_steps: int
    w_exc_inh: float
    w_inh_exc: float
    #: exponential Euler (True) or forward Euler (False)
    exponential: bool = True
    dt: float = 0.0
    #: exponential Euler constants in Brian2's order: ``exp(-dt/tau_ge)``,
    #: ``exp(-dt/tau_gi)``, ``E_exc/tau_m``, ``E_inh/tau_m``, ``v_rest/tau_m``,
    #: ``1/tau_m``, ``0 - 1/tau_m`` (inhibitory: without the ``gi`` terms' zeros)
    exc_exponential: tuple[float, ...] = ()
    inh_exponential: tuple[float, ...] = ()

    @classmethod
    def from_parameters(
        cls,
        excitatory: ExcitatoryParameters,
        inhibitory: InhibitoryParameters,
        *,
        dt: Quantity,
        duration: Quantity,
        w_exc_inh: float,
        w_inh_exc: float,
        initial_state: str = "rest",
        integration: str = DEFAULT_INTEGRATION,
    ) -> NetworkConstants:
        """Constants for time step ``dt``, presentation ``duration`` and ``initial_state``.

        ``initial_state="rest"`` starts every presentation at ``v = v_rest`` (the
        trainer's exact reset); ``"group"`` at ``v = v_rest + v_initial_offset``, the
        value a freshly built :func:`~neurocbram.neurons.excitatory_group` has.
        ``integration``: the neurons' state updater (:data:`~neurocbram.neurons.INTEGRATION_METHODS`).
        """
        check_integration(integration)
        if initial_state not in ("rest", "group"):
            raise ValueError(f"initial_state must be 'rest' or 'group', got {initial_state!r}")
        dt_s = _seconds(dt, "dt")
        duration_s = _seconds(duration, "duration")
        if dt_s <= 0:
            raise ValueError(f"dt must be positive, got {dt!r}")
        n_steps = round(duration_s / dt_s)
        if n_steps < 1 or abs(n_steps * dt_s - duration_s) > 1e-9 * max(duration_s, 1.0):
            raise ValueError(f"duration ({duration!r}) must be a positive multiple of dt ({dt!r})")
        e, i = excitatory, inhibitory
        f = float
        offset = initial_state == "group"
        return cls(
            n_steps=n_steps,
            exc_v_initial=f(e.v_rest + e.v_initial_offset) if offset else f(e.v_rest),
            exc_v_rest=f(e.v_rest),
            exc_v_reset=f(e.v_reset),
            exc_v_threshold=f(e.v_threshold),
            exc_E_exc=f(e.E_exc),
            exc_E_inh=f(e.E_inh),
            exc_c_v=dt_s / f(e.tau_membrane),
            exc_c_ge=(-dt_s) / f(e.tau_ge),
            exc_c_gi=(-dt_s) / f(e.tau_gi),
            exc_refractory_steps=_timestep(f(e.refractory), dt_s),
            exc_lock_steps=max(_timestep(f(e.refractory), dt_s), _timestep(f(e.spike_lock), dt_s)),
            inh_v_initial=f(i.v_rest + i.v_initial_offset) if offset else f(i.v_rest),
            inh_v_rest=f(i.v_rest),
            inh_v_reset=f(i.v_reset),
            inh_v_threshold=f(i.v_threshold),
            inh_E_exc=f(i.E_exc),
            inh_c_v=dt_s / f(i.tau_membrane),
            inh_c_ge=(-dt_s) / f(i.tau_ge),
            inh_refractory_steps=_timestep(f(i.refractory), dt_s),
            w_exc_inh=float(w_exc_inh),
            w_inh_exc=float(w_inh_exc),
            exponential=integration == "exponential_euler",
            dt=dt_s,
            exc_exponential=_exponential_constants(e, dt_s, with_gi=True),
            inh_exponential=_exponential_constants(i, dt_s, with_gi=False),
        )


def _exponential_constants(
    p: ExcitatoryParameters | InhibitoryParameters, dt: float, with_gi: bool
) -> tuple[float, ...]:
    """Loop-invariant constants of Brian2's exponential Euler code for ``v``, ``ge``, ``gi``."""
    tau = float(p.tau_membrane)
    inv_tau = 1.0 / tau
    decay_gi = (float(np.exp((-dt) / float(p.tau_gi))),) if with_gi else ()
    e_inh = (float(p.E_inh) / tau,) if with_gi else ()
    return (
        float(np.exp((-dt) / float(p.tau_ge))),
        *decay_gi,
        float(p.E_exc) / tau,
        *e_inh,
        float(p.v_rest) / tau,
        inv_tau,
        0.0 - inv_tau,
    )


def _timestep(t: float, dt: float) -> int:
    """Brian2's ``timestep(t, dt)``: ``int((t + 1e-3*dt) / dt)``."""
    return int(np.int64((t + 1e-3 * dt) / dt))


def _seconds(value: Quantity | float, name: str) -> float:
    if isinstance(value, Quantity):
        if value.dim != second.dim:
            raise ValueError(f"{name} must be a time (e.g. 0.5*ms), got {value!r}")
        return float(value)
    raise TypeError(f"{name} must be a Brian2 time quantity (e.g. 0.5*ms), got {value!r}")


# --------------------------------------------------------------------------- input spikes


@dataclass(frozen=True)
class InputSpikes:
    """Input spikes of a batch of presentations, sorted by (presentation, input, step).

    Attributes
    ----------
    image_ptr
        ``int64 (B + 1,)``: spikes of presentation ``b`` are ``[image_ptr[b], image_ptr[b+1])``.
    index
        ``int32``: input neuron (pixel, row-major) of each spike, 0..783.
    step
        ``int32``: time step of each spike (spike time = ``step * dt``).
    """

    image_ptr: np.ndarray
    index: np.ndarray
    step: np.ndarray

    @property
    def n_presentations(self) -> int:
        """Number of presentations ``B``."""
        return len(self.image_ptr) - 1

    def presentation_of_spike(self) -> np.ndarray:
        """``int64``: the presentation each spike belongs to."""
        return np.repeat(np.arange(self.n_presentations), np.diff(self.image_ptr))

    @classmethod
    def from_arrays(
        cls, image: np.ndarray, index: np.ndarray, step: np.ndarray, n_presentations: int
    ) -> InputSpikes:
        """Sort and pack spikes given as parallel arrays (presentation, input, step).

        Raises
        ------
        ValueError
            Unequal lengths, indices out of range, negative steps, or an input
            spiking twice in one step of one presentation.
        """
        image = np.asarray(image, dtype=np.int64)
        index = np.asarray(index, dtype=np.int64)
        step = np.asarray(step, dtype=np.int64)
        if not image.shape == step.shape == index.shape or image.ndim != 1:
            raise ValueError("image, index and step must be 1-D arrays of equal length")
        if image.size:
            if image.min() < 0 or image.max() >= n_presentations:
                raise ValueError(f"image (presentation) indices must lie in [0, {n_presentations})")
            if index.min() < 0 or index.max() >= N_INPUTS:
                raise ValueError(f"index (input neuron) must lie in [0, {N_INPUTS})")
            if step.min() < 0:
                raise ValueError("step must be non-negative")
        key = (image * N_INPUTS + index) * (int(step.max(initial=0)) + 1) + step
        order = np.argsort(key, kind="stable")
        if np.any(np.diff(key[order]) == 0):
            raise ValueError("an input neuron can spike at most once per time step")
        ptr = np.zeros(n_presentations + 1, dtype=np.int64)
        np.cumsum(np.bincount(image, minlength=n_presentations), out=ptr[1:])
        return cls(ptr, index[order].astype(np.int32), step[order].astype(np.int32))


def spike_probabilities(rates: np.ndarray, dt: Quantity) -> np.ndarray:
    """Per-step spike probabilities ``clip(rate*dt, 0, 1)`` of ``(B, 784)`` rates in Hz."""
    rates = np.asarray(rates, dtype=np.float64)
    if rates.ndim != 2 or rates.shape[1] != N_INPUTS:
        raise ValueError(f"rates must have shape (B, {N_INPUTS}), got {rates.shape}")
    if not np.all(np.isfinite(rates)) or (rates.size and rates.min() < 0):
        raise ValueError("rates must be finite and non-negative (Hz)")
    return np.ascontiguousarray(np.clip(rates * _seconds(dt, "dt"), 0.0, 1.0))


def poisson_input_spikes(
    rates: np.ndarray, n_steps: int, dt: Quantity, seeds: np.ndarray
) -> InputSpikes:
    """Bernoulli(``rate*dt``) input spikes per step, as a PoissonGroup produces them.

    Parameters
    ----------
    rates
        ``(B, 784)`` firing rates in Hz.
    n_steps
        Number of time steps per presentation.
    dt
        Time step.
    seeds
        ``(B,)`` integers in ``[0, 2**32)``: presentation ``b`` draws from a
        Mersenne Twister seeded with ``seeds[b]`` (NumPy's legacy seeding).

    Notes
    -----
    The gaps between the spikes of a Bernoulli(p) process are geometric, so each
    input's train is drawn as a cumulative sum of gaps
    ``floor(log1p(-u) / log1p(-p)) + 1`` with ``u`` uniform in [0, 1): the same
    distribution as one uniform draw per input and step, with random numbers
    only for inputs of non-zero rate. Inputs are drawn in ascending order, each
    until its train passes ``n_steps``. The numba engine draws the same
    numbers in compiled code, so both engines see identical spikes.
    """
    p = spike_probabilities(rates, dt)
    return _poisson_spikes(p, int(n_steps), _check_seeds(seeds, p.shape[0]))


def _next_spike_step(position: int, u: float, prob: float, log_q: float, n_steps: int) -> int:
    """Step of an input's next spike after ``position``, from one uniform ``u`` (both engines).

    The gap is geometric, ``floor(log1p(-u) / log_q) + 1`` with ``log_q =
    log1p(-prob)``, or 1 when ``prob >= 1``; a step ``>= n_steps`` ends the
    train (capped there, so the integer cannot overflow).
    """
    if prob >= 1.0:
        return position + 1
    r = math.log1p(-u) / log_q
    return position + ((n_steps + 1) if r >= n_steps else int(r) + 1)


def _poisson_spikes(p: np.ndarray, n_steps: int, seeds: np.ndarray) -> InputSpikes:
    """:func:`poisson_input_spikes` from per-step probabilities (reference implementation)."""
    image, index, step = [], [], []
    for b in range(p.shape[0]):
        stream = np.random.RandomState(int(seeds[b]))
        buffer, used = stream.random_sample(256).tolist(), 0
        for i in np.flatnonzero(p[b] > 0).tolist():
            prob = float(p[b, i])
            log_q = math.log1p(-prob) if prob < 1.0 else -math.inf
            position = -1
            while True:
                if used == len(buffer):
                    buffer, used = stream.random_sample(256).tolist(), 0
                position = _next_spike_step(position, buffer[used], prob, log_q, n_steps)
                used += 1
                if position >= n_steps:
                    break
                image.append(b)
                index.append(i)
                step.append(position)
    ptr = np.zeros(p.shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(np.asarray(image, dtype=np.int64), minlength=p.shape[0]), out=ptr[1:])
    return InputSpikes(ptr, np.asarray(index, dtype=np.int32), np.asarray(step, dtype=np.int32))


def presentation_seeds(
    entropy: int | np.random.SeedSequence | None,
    images: np.ndarray,
    attempt: int | np.ndarray,
) -> np.ndarray:
    """Input-stream seeds of ``images`` (indices) at retry ``attempt`` (0 = first presentation).

    ``attempt`` is one integer or one per image.

    Each seed comes from ``SeedSequence(entropy, spawn_key=(image, attempt))``, so a
    presentation's input spikes depend on the seed, the image index and the attempt
    only: not on batch size, engine or thread count.
    """
    if isinstance(entropy, np.random.SeedSequence):
        entropy = entropy.entropy
    images = np.asarray(images).ravel()
    attempts = np.broadcast_to(np.asarray(attempt), images.shape)
    return np.array(
        [
            np.random.SeedSequence(entropy, spawn_key=(int(i), int(a))).generate_state(1)[0]
            for i, a in zip(images, attempts, strict=True)
        ],
        dtype=np.int64,
    )


def _check_seeds(seeds: np.ndarray, n: int) -> np.ndarray:
    seeds = np.asarray(seeds)
    if seeds.shape != (n,) or not np.issubdtype(seeds.dtype, np.integer):
        raise ValueError(f"seeds must be {n} integers, got shape {seeds.shape} {seeds.dtype}")
    if seeds.size and (seeds.min() < 0 or seeds.max() >= 2**32):
        raise ValueError("seeds must lie in [0, 2**32)")
    return seeds.astype(np.int64)


# --------------------------------------------------------------------------- engines


# Cody & Waite's split of ln 2 (as in fdlibm): k * _LN2_HI is exact for |k| < 2**11
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_LOG2_E = 1.4426950408889634
(_C0, _C1, _C2, _C3, _C4, _C5, _C6, _C7, _C8, _C9, _C10, _C11, _C12, _C13) = (
    1.0 / math.factorial(i) for i in range(14)
)
#: below this argument ``exp`` is taken as ``exp(_EXP_FLOOR) = 2**-1022`` (the smallest
#: normal double instead of subnormals or 0: within rounding of anything it is added to)
_EXP_FLOOR = -1022.0 * math.log(2.0)


def _pow2(n: int) -> float:
    """``2.0**n`` for an integer ``n`` in ``[-1022, 1023]`` (exact)."""
    return math.ldexp(1.0, n)


if _numba is not None:
    from llvmlite import ir as _ir
    from numba.extending import intrinsic as _intrinsic

    @_intrinsic
    def _pow2(typingctx, n):  # noqa: F811 - compiled replacement of the function above
        """``2.0**n`` written straight into the exponent bits (a vectorisable bit cast)."""

        def codegen(context, builder, signature, args):
            i64 = _ir.IntType(64)
            biased = builder.add(args[0], _ir.Constant(i64, 1023))
            return builder.bitcast(builder.shl(biased, _ir.Constant(i64, 52)), _ir.DoubleType())

        return _numba.types.float64(_numba.types.int64), codegen


def _exp_series(r):
    """``exp(r)`` for ``|r| <= ln(2)/2`` (float or array): the Taylor polynomial of degree 13.

    The terms of degree 3 to 13 are summed by Estrin's scheme (independent
    products, so the pipeline overlaps them), the last three by Horner's rule,
    which keeps the rounding of a plain Horner evaluation (truncation < 1e-17
    relative). The same operations in the same order for both engines.
    """
    r2 = r * r
    r4 = r2 * r2
    high = (
        ((_C3 + _C4 * r) + (_C5 + _C6 * r) * r2)
        + ((_C7 + _C8 * r) + (_C9 + _C10 * r) * r2) * r4
        + ((_C11 + _C12 * r) + _C13 * r2) * (r4 * r4)
    )
    return _C0 + r * (_C1 + r * (_C2 + r * high))


#: :func:`_exp_series` as :func:`_exp` calls it (compiled and inlined when numba is installed)
_series = _exp_series


def _exp(x):  # pragma: no cover - compiled by numba
    """``exp(x)`` for ``x <= 0`` in branch-free arithmetic that vectorises (within 1 ulp of libm).

    ``x = r - k ln 2`` with integer ``k`` and ``|r| <= ln(2)/2``; ``exp(r)`` by
    :func:`_exp_series`, then the exact scaling by ``2**-k``. A libm ``exp`` call
    per neuron and step kept the loop scalar and was most of the evaluator's time;
    with Horner's rule alone (26 dependent operations) the series was still 80% of
    the excitatory update, Estrin's scheme makes that loop 1.3x faster. Measured
    against ``math.exp`` on 2e5 arguments in ``[-700, 0]``: at most 1 ulp apart,
    6.4% of values differ.
    """
    x = max(x, _EXP_FLOOR)
    k = math.floor(x * -_LOG2_E + 0.5)
    r = (x + k * _LN2_HI) + k * _LN2_LO
    return _series(r) * _pow2(-np.int64(k))


def _exp_array(x: np.ndarray) -> np.ndarray:
    """:func:`_exp` on an array, operation for operation (the numpy engine's ``exp``)."""
    x = np.maximum(x, _EXP_FLOOR)
    k = np.floor(x * -_LOG2_E + 0.5)
    r = (x + k * _LN2_HI) + k * _LN2_LO
    return _exp_series(r) * np.ldexp(1.0, -k.astype(np.int64))


def _free_inhibitory_trajectory(c: NetworkConstants) -> np.ndarray:
    """``v`` of an inhibitory neuron that never receives input, after each step's update."""
    traj = np.empty(c.n_steps)
    v = np.float64(c.inh_v_initial)
    x = c.inh_exponential
    for k in range(c.n_steps):
        if c.exponential:  # ge = 0: a = 0 - 1/tau_m, ba = v_rest/tau_m / a
            a = x[4] + (x[3] * -0.0)
            ba = (x[2] + (x[1] * 0.0)) / a
            v = (-ba) + ((ba + v) * _exp(c.dt * a))
        else:
            v = (c.inh_c_v * ((c.inh_v_rest + (0.0 * (c.inh_E_exc - v))) - v)) + v
        traj[k] = v
    return traj


def _simulate_numpy(
    weights: np.ndarray,
    thresholds: np.ndarray,
    spikes: InputSpikes,
    c: NetworkConstants,
    record: np.ndarray | None,
    input_counts: np.ndarray | None = None,
    inh_counts: np.ndarray | None = None,
) -> np.ndarray:
    """Vectorised over the batch; same arithmetic as the numba kernel.

    ``input_counts`` (``(B, 784)``) and ``inh_counts`` (``(B,)``), if given, are
    incremented by the input spikes per pixel and the inhibitory spikes of each
    presentation (spikes at steps ``>= n_steps`` are not simulated, not counted).
    """
    n = weights.shape[1]
    batch = spikes.n_presentations
    v_e = np.full((batch, n), c.exc_v_initial)
    ge_e = np.zeros((batch, n))
    gi_e = np.zeros((batch, n))
    last_e = np.full((batch, n), -(2**40), dtype=np.int64)
    v_i = np.full((batch, n), c.inh_v_initial)
    ge_i = np.zeros((batch, n))
    last_i = np.full((batch, n), -(2**40), dtype=np.int64)
    counts = np.zeros((batch, n), dtype=np.int32)
    # input spikes ordered by (step, image, input)
    image_of = spikes.presentation_of_spike()
    if input_counts is not None:
        inside = spikes.step < c.n_steps
        key = image_of[inside] * N_INPUTS + spikes.index[inside]
        input_counts += np.bincount(key, minlength=batch * N_INPUTS).reshape(batch, N_INPUTS)
    order = np.argsort(spikes.step.astype(np.int64) * batch + image_of, kind="stable")
    s_step, s_img, s_inp = spikes.step[order], image_of[order], spikes.index[order]
    # rank of each spike among the spikes of its (image, step): additions of one rank
    # touch distinct images, so ``ge[img] += w[inp]`` rank by rank keeps the sequential order
    if s_step.size:
        group = s_step.astype(np.int64) * batch + s_img
        first = np.r_[0, np.flatnonzero(np.diff(group)) + 1]
        rank = np.arange(group.size) - np.repeat(first, np.diff(np.r_[first, group.size]))
    else:
        rank = np.zeros(0, dtype=np.int64)
    bounds = np.searchsorted(s_step, np.arange(c.n_steps + 1))
    new_v = np.empty((batch, n))
    tmp = np.empty((batch, n))
    ex, ix = c.exc_exponential, c.inh_exponential
    for k in range(c.n_steps):
        # groups: update from old values (expression order as Brian2's numpy code)
        nr_e = (k - last_e) >= c.exc_refractory_steps
        nr_i = (k - last_i) >= c.inh_refractory_steps
        if c.exponential:
            a = (ex[6] + (ex[5] * (-ge_e))) - (ex[5] * gi_e)
            ba = (ex[4] + ((ex[2] * ge_e) + (ex[3] * gi_e))) / a
            np.copyto(v_e, (-ba) + ((ba + v_e) * _exp_array(c.dt * a)), where=nr_e)
            ge_e *= ex[0]
            gi_e *= ex[1]
            a = ix[4] + (ix[3] * (-ge_i))
            ba = (ix[2] + (ix[1] * ge_i)) / a
            np.copyto(v_i, (-ba) + ((ba + v_i) * _exp_array(c.dt * a)), where=nr_i)
            ge_i *= ix[0]
        else:
            np.subtract(c.exc_E_exc, v_e, out=tmp)
            tmp *= ge_e
            np.subtract(c.exc_E_inh, v_e, out=new_v)
            new_v *= gi_e
            tmp += new_v
            np.add(c.exc_v_rest, tmp, out=tmp)
            tmp -= v_e
            tmp *= c.exc_c_v
            tmp += v_e
            np.copyto(v_e, tmp, where=nr_e)
            ge_e += c.exc_c_ge * ge_e
            gi_e += c.exc_c_gi * gi_e
            np.subtract(c.inh_E_exc, v_i, out=tmp)
            tmp *= ge_i
            np.add(c.inh_v_rest, tmp, out=tmp)
            tmp -= v_i
            tmp *= c.inh_c_v
            tmp += v_i
            np.copyto(v_i, tmp, where=nr_i)
            ge_i += c.inh_c_ge * ge_i
        # thresholds
        spk_e = (v_e > thresholds) & ((k - last_e) >= c.exc_lock_steps)
        spk_i = (v_i > c.inh_v_threshold) & nr_i
        last_e[spk_e] = k
        last_i[spk_i] = k
        counts += spk_e
        if inh_counts is not None:
            inh_counts += spk_i.sum(axis=1)
        if record is not None:
            record[:, k, :] = spk_e
        # synapses
        lo, hi = bounds[k], bounds[k + 1]
        if hi > lo:
            r = rank[lo:hi]
            for level in range(int(r.max()) + 1):
                sel = lo + np.flatnonzero(r == level)
                ge_e[s_img[sel]] += weights[s_inp[sel]]
        np.add(ge_i, c.w_exc_inh, out=ge_i, where=spk_e)
        n_inh = spk_i.sum(axis=1, keepdims=True)
        if n_inh.any():
            others = n_inh - spk_i
            for level in range(int(others.max())):
                np.add(gi_e, c.w_inh_exc, out=gi_e, where=others > level)
        # resets
        v_e[spk_e] = c.exc_v_reset
        v_i[spk_i] = c.inh_v_reset
    return counts


def _present_one(  # pragma: no cover - compiled by numba
        b, weights, thresholds, generate, probabilities, seeds,
        image_ptr, spike_index, spike_step, n_steps,
        e_v0, e_vrest, e_vreset, e_EE, e_EI, e_cv, e_cge, e_cgi, e_ref, e_lock,
        i_vrest, i_vreset, i_vth, i_EE, i_cv, i_cge, i_ref, i_free,
        w_ei, w_ie, counts, record, do_record, input_counts, inh_counts, do_count,
        exponential, dt, e_x, i_x,
):  # fmt: skip
    """Presentation ``b`` of the batch (numba engine; same arithmetic as the numpy engine)."""
    n = weights.shape[1]
    n_in = weights.shape[0]
    # this presentation's input spikes, input by input
    if generate:
        expected = 0.0
        for i in range(n_in):
            expected += probabilities[b, i]
        expected *= n_steps
        capacity = int(expected + 8.0 * math.sqrt(expected) + 64.0)
        idx_buf = np.empty(capacity, dtype=np.int32)
        step_buf = np.empty(capacity, dtype=np.int32)
        n_spk = 0
        np.random.seed(seeds[b])
        for i in range(n_in):
            prob = probabilities[b, i]
            if prob <= 0.0:
                continue
            log_q = math.log1p(-prob) if prob < 1.0 else -math.inf
            position = -1
            while True:
                position = _next_spike_step(position, np.random.random(), prob, log_q, n_steps)
                if position >= n_steps:
                    break
                if n_spk == capacity:  # rare: grow the buffers
                    capacity *= 2
                    grown = np.empty(capacity, dtype=np.int32)
                    grown[:n_spk] = idx_buf[:n_spk]
                    idx_buf = grown
                    grown = np.empty(capacity, dtype=np.int32)
                    grown[:n_spk] = step_buf[:n_spk]
                    step_buf = grown
                idx_buf[n_spk] = i
                step_buf[n_spk] = position
                n_spk += 1
    else:
        lo = image_ptr[b]
        n_spk = image_ptr[b + 1] - lo
        idx_buf = spike_index[lo : lo + n_spk]
        step_buf = spike_step[lo : lo + n_spk]
    # counting sort by step (stable: ascending input within a step)
    bucket = np.zeros(n_steps + 1, dtype=np.int64)
    for s in range(n_spk):
        if step_buf[s] < n_steps:
            bucket[step_buf[s] + 1] += 1
            if do_count:
                input_counts[b, idx_buf[s]] += 1
    for k in range(n_steps):
        bucket[k + 1] += bucket[k]
    fill = bucket[:n_steps].copy()
    rows = np.empty(max(bucket[n_steps], 1), dtype=np.int64)
    for s in range(n_spk):
        st = step_buf[s]
        if st < n_steps:
            rows[fill[st]] = idx_buf[s]
            fill[st] += 1
    v_e = np.full(n, e_v0)
    ge_e = np.zeros(n)
    gi_e = np.zeros(n)
    last_e = np.full(n, -(2**40), dtype=np.int64)
    fire_e = np.zeros(n, dtype=np.bool_)
    spk_e = np.empty(n, dtype=np.int64)
    # inhibitory neurons: those never driven follow i_free (exactly); the others
    # ("active") are simulated in slots 0..n_active-1, in the order they became active
    # (contiguous, so their update loop vectorises like the excitatory one)
    active = np.empty(n, dtype=np.int64)  # neuron of each slot
    slot = np.full(n, -1, dtype=np.int64)  # slot of each neuron, -1 while inactive
    n_active = 0
    v_i = np.zeros(n)
    ge_i = np.zeros(n)
    last_i = np.full(n, -(2**40), dtype=np.int64)
    fire_i = np.zeros(n, dtype=np.bool_)
    spk_i = np.empty(n, dtype=np.int64)  # neurons that spiked in the step
    spk_i_slot = np.empty(n, dtype=np.int64)
    spk_i_flag = np.zeros(n, dtype=np.int64)
    x0, x1, x2, x3, x4, x5, x6 = e_x[0], e_x[1], e_x[2], e_x[3], e_x[4], e_x[5], e_x[6]
    for k in range(n_steps):
        # groups + thresholds of excitatory neurons (both are per neuron)
        # (branch-free loop bodies: the method is the same for the whole run, so the
        # compiler moves its test out of the loops and vectorises them)
        n_fire = 0
        for j in range(n):
            v = v_e[j]
            ge = ge_e[j]
            gi = gi_e[j]
            if exponential:
                a = (x6 + (x5 * (-ge))) - (x5 * gi)
                ba = (x4 + ((x2 * ge) + (x3 * gi))) / a
                v_next = (-ba) + ((ba + v) * _exp(dt * a))
                ge_e[j] = x0 * ge
                gi_e[j] = x1 * gi
            else:
                v_next = e_cv * ((e_vrest + ((ge * (e_EE - v)) + (gi * (e_EI - v)))) - v) + v
                ge_e[j] = (e_cge * ge) + ge
                gi_e[j] = (e_cgi * gi) + gi
            v = v_next if (k - last_e[j]) >= e_ref else v
            v_e[j] = v
            fire = ((k - last_e[j]) >= e_lock) & (v > thresholds[j])
            fire_e[j] = fire
            n_fire += fire
        n_fire_i = 0
        for q in range(n_active):
            v = v_i[q]
            ge = ge_i[q]
            if exponential:
                a = i_x[4] + (i_x[3] * (-ge))
                ba = (i_x[2] + (i_x[1] * ge)) / a
                v_next = (-ba) + ((ba + v) * _exp(dt * a))
                ge_i[q] = i_x[0] * ge
            else:
                v_next = (i_cv * ((i_vrest + (ge * (i_EE - v))) - v)) + v
                ge_i[q] = (i_cge * ge) + ge
            nr = (k - last_i[q]) >= i_ref
            v = v_next if nr else v
            v_i[q] = v
            fire = nr & (v > i_vth)
            fire_i[q] = fire
            n_fire_i += fire
        n_i = 0
        for q in range(n_active if n_fire_i > 0 else 0):
            if fire_i[q]:
                spk_i[n_i] = active[q]
                spk_i_slot[n_i] = q
                n_i += 1
                last_i[q] = k
        if do_count:
            inh_counts[b] += n_i
        n_e = 0
        for j in range(n if n_fire > 0 else 0):  # most steps: no excitatory spike
            if fire_e[j]:
                spk_e[n_e] = j
                n_e += 1
                last_e[j] = k
                counts[b, j] += 1
                if do_record:
                    record[b, k, j] = 1
        # synapses
        for s in range(bucket[k], bucket[k + 1]):
            row = rows[s]
            for j in range(n):
                ge_e[j] += weights[row, j]
        for q in range(n_e):
            j = spk_e[q]
            if slot[j] < 0:
                slot[j] = n_active
                active[n_active] = j
                v_i[n_active] = i_free[k]
                n_active += 1
            ge_i[slot[j]] += w_ei
        if n_i > 0:
            for q in range(n_i):
                spk_i_flag[spk_i[q]] = 1
            for j in range(n):
                for _ in range(n_i - spk_i_flag[j]):
                    gi_e[j] += w_ie
            for q in range(n_i):
                spk_i_flag[spk_i[q]] = 0
        # resets
        for q in range(n_e):
            v_e[spk_e[q]] = e_vreset
        for q in range(n_i):
            v_i[spk_i_slot[q]] = i_vreset


def _present_range(  # pragma: no cover - compiled by numba
    start, stop, weights, thresholds, generate, probabilities, seeds,
    image_ptr, spike_index, spike_step, n_steps,
    e_v0, e_vrest, e_vreset, e_EE, e_EI, e_cv, e_cge, e_cgi, e_ref, e_lock,
    i_vrest, i_vreset, i_vth, i_EE, i_cv, i_cge, i_ref, i_free,
    w_ei, w_ie, counts, record, do_record, input_counts, inh_counts, do_count,
    exponential, dt, e_x, i_x,
):  # fmt: skip
    """Presentations ``start..stop-1`` of the batch (runs without the GIL)."""
    for b in range(start, stop):
        _present_one(
            b, weights, thresholds, generate, probabilities, seeds,
            image_ptr, spike_index, spike_step, n_steps,
            e_v0, e_vrest, e_vreset, e_EE, e_EI, e_cv, e_cge, e_cgi, e_ref, e_lock,
            i_vrest, i_vreset, i_vth, i_EE, i_cv, i_cge, i_ref, i_free,
            w_ei, w_ie, counts, record, do_record, input_counts, inh_counts, do_count,
            exponential, dt, e_x, i_x,
        )  # fmt: skip


if _numba is not None:
    # error_model="numpy": no zero-division checks (they keep loops from vectorising)
    _jit = _numba.njit(
        cache=True, nogil=True, fastmath=False, boundscheck=False, error_model="numpy"
    )
    _series = _numba.njit(inline="always", error_model="numpy")(_exp_series)
    _exp = _numba.njit(inline="always", error_model="numpy")(_exp)
    _next_spike_step = _numba.njit(inline="always", error_model="numpy")(_next_spike_step)
    _present_one = _jit(_present_one)
    _present_range = _jit(_present_range)


def _simulate_numba(
    weights: np.ndarray,
    thresholds: np.ndarray,
    spikes: InputSpikes | None,
    c: NetworkConstants,
    record: np.ndarray | None,
    probabilities: np.ndarray | None = None,
    seeds: np.ndarray | None = None,
    n_threads: int | None = None,
    input_counts: np.ndarray | None = None,
    inh_counts: np.ndarray | None = None,
) -> np.ndarray:
    """Run the numba kernel on explicit ``spikes`` or on spikes it draws from ``seeds``.

    ``input_counts`` / ``inh_counts``: optional per-presentation counters, as in
    :func:`_simulate_numpy` (both given or neither).
    """
    free = _free_inhibitory_trajectory(c)
    if np.any(free > c.inh_v_threshold):  # undriven inhibitory neurons would fire
        if spikes is None:
            spikes = _poisson_spikes(probabilities, c.n_steps, seeds)
        return _simulate_numpy(weights, thresholds, spikes, c, record, input_counts, inh_counts)
    generate = spikes is None
    if generate:
        batch = probabilities.shape[0]
        image_ptr = np.zeros(batch + 1, dtype=np.int64)
        index = step = np.zeros(0, dtype=np.int32)
    else:
        batch = spikes.n_presentations
        image_ptr, index, step = spikes.image_ptr, spikes.index, spikes.step
        probabilities = np.zeros((1, 1))
        seeds = np.zeros(1, dtype=np.int64)
    n = weights.shape[1]
    counts = np.zeros((batch, n), dtype=np.int32)
    rec = record if record is not None else np.zeros((1, 1, 1), dtype=np.uint8)
    do_count = input_counts is not None
    if not do_count:
        input_counts = np.zeros((1, 1), dtype=np.int64)
        inh_counts = np.zeros(1, dtype=np.int64)
    args = (
        weights, thresholds, generate, probabilities, seeds,
        image_ptr, index, step, c.n_steps,
        c.exc_v_initial, c.exc_v_rest, c.exc_v_reset, c.exc_E_exc, c.exc_E_inh,
        c.exc_c_v, c.exc_c_ge, c.exc_c_gi, c.exc_refractory_steps, c.exc_lock_steps,
        c.inh_v_rest, c.inh_v_reset, c.inh_v_threshold, c.inh_E_exc,
        c.inh_c_v, c.inh_c_ge, c.inh_refractory_steps, free,
        c.w_exc_inh, c.w_inh_exc, counts, rec, record is not None,
        input_counts, inh_counts, do_count,
        c.exponential, c.dt, np.array(c.exc_exponential), np.array(c.inh_exponential),
    )  # fmt: skip
    # small chunks balance the threads: presentations differ in cost (brightness, intensity)
    chunks = [(lo, min(lo + 4, batch)) for lo in range(0, batch, 4)]
    threads = min(n_threads or os.cpu_count() or 1, len(chunks))
    if threads <= 1:
        _present_range(0, batch, *args)
    else:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(lambda chunk: _present_range(chunk[0], chunk[1], *args), chunks))
    return counts


# --------------------------------------------------------------------------- public API


def _check_weights_theta(weights: np.ndarray, theta: Quantity | np.ndarray) -> tuple:
    w = np.ascontiguousarray(np.asarray(weights, dtype=np.float64))
    if w.ndim != 2 or w.shape[0] != N_INPUTS:
        raise ValueError(f"weights must have shape ({N_INPUTS}, N), got {w.shape}")
    if not np.all(np.isfinite(w)):
        raise ValueError("weights contain NaN or infinite values")
    if w.size and w.min() < 0:
        raise ValueError(
            f"weights must be non-negative (conductance-based synapses), min is {w.min():g}"
        )
    if isinstance(theta, Quantity):
        if theta.dim != volt.dim:
            raise ValueError(f"theta must be a voltage, got units {theta.dim}")
        th = np.asarray(theta / volt, dtype=np.float64)
    else:
        th = np.asarray(theta, dtype=np.float64)
        if th.size and np.max(np.abs(th)) > 1.0:
            raise ValueError(
                "theta without units is read in volts, but |theta| > 1 V; "
                "pass a Quantity (e.g. theta_mV * mV)"
            )
    th = np.broadcast_to(th, (w.shape[1],)) if th.ndim == 0 else th
    if th.shape != (w.shape[1],):
        raise ValueError(f"theta must have shape ({w.shape[1]},) to match weights, got {th.shape}")
    return w, np.ascontiguousarray(th)


def _resolve_engine(engine: str) -> str:
    if engine == "auto":
        return available_engines()[0]
    if engine not in ("numpy", "numba"):
        raise ValueError(f"engine must be 'auto', 'numpy' or 'numba', got {engine!r}")
    if engine == "numba" and _numba is None:
        raise ImportError("engine='numba' needs the numba package")
    return engine


def simulate_presentations(
    weights: np.ndarray,
    theta: Quantity | np.ndarray,
    spikes: InputSpikes,
    *,
    dt: Quantity = 0.5 * ms,
    duration: Quantity = 350 * ms,
    excitatory: ExcitatoryParameters | None = None,
    inhibitory: InhibitoryParameters | None = None,
    w_exc_inh: float = 10.4,
    w_inh_exc: float = 17.0,
    initial_state: str = "rest",
    integration: str = DEFAULT_INTEGRATION,
    engine: str = "auto",
    n_threads: int | None = None,
    record: bool = False,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Simulate presentations with given input spikes (frozen weights and theta).

    Parameters
    ----------
    weights
        ``(784, N)`` effective input->excitatory weights (dimensionless, ``ge += w``).
    theta
        ``(N,)`` adaptive thresholds (volt; plain arrays are read as volts).
    spikes
        Input spikes of ``B`` presentations; steps beyond ``duration`` are ignored.
    dt, duration
        Time step and presentation length.
    excitatory, inhibitory
        Neuron parameters (defaults: Diehl & Cook).
    w_exc_inh, w_inh_exc
        Excitatory->inhibitory (one-to-one) and inhibitory->excitatory (all but self) weights.
    initial_state
        State every presentation starts from (``ge = gi = 0``, never spiked, and):
        ``"rest"``: ``v = v_rest``, the exact reset of the trainer
        (:mod:`neurocbram.networks.diehl_cook`); ``"group"``: ``v = v_rest +
        v_initial_offset``, as a freshly built :mod:`neurocbram.neurons` group.
    integration
        State updater of the neurons, ``"exponential_euler"`` (default) or ``"euler"``.
    engine
        ``"auto"``, ``"numba"`` or ``"numpy"``.
    n_threads
        Threads of the numba engine (default: all cores); results do not depend on it.
    record
        Also return the excitatory spike raster.

    Returns
    -------
    counts : numpy.ndarray
        ``int32 (B, N)`` excitatory spike counts.
    raster : numpy.ndarray or None
        ``uint8 (B, n_steps, N)``, 1 where excitatory neuron spiked at that step (if ``record``).
    """
    w, th_theta = _check_weights_theta(weights, theta)
    exc = excitatory or ExcitatoryParameters()
    inh = inhibitory or InhibitoryParameters()
    c = NetworkConstants.from_parameters(
        exc, inh, dt=dt, duration=duration, w_exc_inh=w_exc_inh, w_inh_exc=w_inh_exc,
        initial_state=initial_state, integration=integration,
    )  # fmt: skip
    thresholds = float(exc.v_threshold) + th_theta  # Brian2: v > (v_threshold + theta)
    raster = (
        np.zeros((spikes.n_presentations, c.n_steps, w.shape[1]), dtype=np.uint8)
        if record
        else None
    )
    if spikes.step.size and spikes.step.max() >= c.n_steps:
        keep = spikes.step < c.n_steps
        image = spikes.presentation_of_spike()
        spikes = InputSpikes.from_arrays(
            image[keep], spikes.index[keep], spikes.step[keep], spikes.n_presentations
        )
    if _resolve_engine(engine) == "numba":
        counts = _simulate_numba(w, thresholds, spikes, c, raster, n_threads=n_threads)
    else:
        counts = _simulate_numpy(w, thresholds, spikes, c, raster)
    return counts, raster


def _images_as_rows(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim == 3 and images.shape[1:] == (28, 28):
        images = images.reshape(len(images), N_INPUTS)
    if images.ndim != 2 or images.shape[1] != N_INPUTS:
        raise ValueError(f"images must have shape (n, 28, 28) or (n, 784), got {images.shape}")
    if images.size and (images.min() < 0 or images.max() > 255):
        raise ValueError("images must hold pixel values in 0..255")
    return images


@dataclass(frozen=True, eq=False)
class InferenceCounts:
    """Exact operation counts of everything :func:`evaluate_responses` simulated.

    Every presentation counts, retries included (the energy of inference).

    Attributes
    ----------
    images
        Number of images evaluated.
    presentations
        Number of presentations simulated (``images`` plus the retries).
    n_neurons
        Number of excitatory neurons ``N`` (= inhibitory neurons).
    input_spikes
        ``int64 (784,)``: spikes of each input neuron (pixel, row-major), summed
        over all presentations.
    excitatory_spikes, inhibitory_spikes
        Spikes of all excitatory / inhibitory neurons over all presentations.
    """

    images: int
    presentations: int
    n_neurons: int
    input_spikes: np.ndarray
    excitatory_spikes: int
    inhibitory_spikes: int

    def __post_init__(self) -> None:
        spikes = np.array(self.input_spikes, dtype=np.int64)  # a private, read-only copy
        if spikes.shape != (N_INPUTS,):
            raise ValueError(f"input_spikes must have shape ({N_INPUTS},), got {spikes.shape}")
        scalars = (self.images, self.presentations, self.n_neurons, self.excitatory_spikes,
                   self.inhibitory_spikes)  # fmt: skip
        if spikes.min() < 0 or min(scalars) < 0:
            raise ValueError("InferenceCounts must hold non-negative counts")
        spikes.setflags(write=False)
        object.__setattr__(self, "input_spikes", spikes)

    def synaptic_reads(self, active: np.ndarray | None = None) -> int:
        """Input->excitatory synaptic reads: one per input spike per existing target synapse.

        ``sum_i input_spikes[i] * (number of active targets of input i)``.

        Parameters
        ----------
        active
            ``bool (784, N)``: True where the synapse exists (e.g. ``~removed`` after
            hard pruning; soft-pruned synapses still conduct, so are read).
            ``None``: all ``N`` targets of every input.

        The fixed excitatory->inhibitory (one per excitatory spike) and
        inhibitory->excitatory (``N - 1`` per inhibitory spike) connections are not
        included.
        """
        if active is None:
            return int(self.input_spikes.sum()) * self.n_neurons
        mask = np.asarray(active)
        if mask.dtype != np.bool_:
            raise ValueError(f"active must be a boolean mask, got dtype {mask.dtype}")
        if mask.shape != (N_INPUTS, self.n_neurons):
            raise ValueError(
                f"active must have shape ({N_INPUTS}, {self.n_neurons}), got {mask.shape}"
            )
        return int(self.input_spikes @ mask.sum(axis=1, dtype=np.int64))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, InferenceCounts):
            return NotImplemented
        scalars = ("images", "presentations", "n_neurons", "excitatory_spikes",
                   "inhibitory_spikes")  # fmt: skip
        return all(getattr(self, a) == getattr(other, a) for a in scalars) and bool(
            np.array_equal(self.input_spikes, other.input_spikes)
        )

    def __add__(self, other: InferenceCounts) -> InferenceCounts:
        """Counts of two evaluations of the same network (e.g. labelling + test set)."""
        if not isinstance(other, InferenceCounts):
            return NotImplemented
        if other.n_neurons != self.n_neurons:
            raise ValueError(
                f"cannot add counts of networks with {self.n_neurons} and {other.n_neurons} neurons"
            )
        return InferenceCounts(
            images=self.images + other.images,
            presentations=self.presentations + other.presentations,
            n_neurons=self.n_neurons,
            input_spikes=self.input_spikes + other.input_spikes,
            excitatory_spikes=self.excitatory_spikes + other.excitatory_spikes,
            inhibitory_spikes=self.inhibitory_spikes + other.inhibitory_spikes,
        )


def evaluate_responses(
    weights: np.ndarray,
    theta: Quantity | np.ndarray,
    images: np.ndarray,
    *,
    dt: Quantity = 0.5 * ms,
    duration: Quantity = 350 * ms,
    max_rate: Quantity = 63.75 * Hz,
    intensity: float = 1.0,
    intensity_step: float = 0.5,
    min_spikes: int = 5,
    max_retries: int = 10,
    excitatory: ExcitatoryParameters | None = None,
    inhibitory: InhibitoryParameters | None = None,
    w_exc_inh: float = 10.4,
    w_inh_exc: float = 17.0,
    initial_state: str = "rest",
    integration: str = DEFAULT_INTEGRATION,
    batch_size: int = 500,
    seed: int | np.random.SeedSequence | None = None,
    engine: str = "auto",
    n_threads: int | None = None,
    progress: bool = True,
    counts: bool = False,
) -> tuple[np.ndarray, np.ndarray] | tuple[np.ndarray, np.ndarray, InferenceCounts]:
    """Excitatory spike counts of the frozen network for each image (D&C protocol).

    Parameters
    ----------
    weights
        ``(784, N)`` effective input->excitatory weights, normalisation gains included.
    theta
        ``(N,)`` adaptive thresholds (volt; plain arrays are read as volts), held fixed.
    images
        ``uint8 (n, 28, 28)`` or ``(n, 784)``, pixel values 0..255.
    dt, duration
        Time step (0.5 ms) and presentation length (350 ms).
    max_rate
        Input rate of a 255 pixel at intensity 1 (D&C: 63.75 Hz = pixel/4 Hz).
    intensity, intensity_step
        Starting rate factor, and its increase at each retry (0.5 = +31.9 Hz).
    min_spikes
        Images with fewer excitatory spikes (all neurons together) are presented again.
    max_retries
        Retries per image before its last counts are accepted anyway (with a warning).
    excitatory, inhibitory, w_exc_inh, w_inh_exc, initial_state, integration
        Network parameters, start state and state updater, as in :func:`simulate_presentations`
        (default: every presentation starts from the resting state, like training).
    batch_size
        Presentations simulated together (retries of earlier images first, then new ones).
    seed
        Seed of the input spike trains. Image ``i`` at retry ``a`` uses
        :func:`presentation_seeds`, so counts depend on the seed and the image's
        position only (not on ``batch_size``, engine or thread count).
    engine
        ``"auto"`` (numba if installed), ``"numba"`` or ``"numpy"``.
    n_threads
        Threads of the numba engine (default: all cores).
    progress
        Show a tqdm progress bar.
    counts
        Also return the exact :class:`InferenceCounts` of every presentation
        simulated, retries included (identical for both engines).

    Returns
    -------
    responses : numpy.ndarray
        ``int32 (n, N)`` spike counts of the accepted presentation of each image.
    intensities : numpy.ndarray
        ``float64 (n,)`` rate factor of that presentation (1.0 = no retry).
    operations : InferenceCounts
        Only if ``counts``: input, excitatory and inhibitory spikes of all presentations.
    """
    rows = _images_as_rows(images)
    w, th = _check_weights_theta(weights, theta)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if max_retries < 0 or min_spikes < 0:
        raise ValueError("max_retries and min_spikes must be >= 0")
    if intensity <= 0 or intensity_step < 0:
        raise ValueError("intensity must be > 0 and intensity_step >= 0")
    if not isinstance(max_rate, Quantity) or max_rate.dim != Hz.dim:
        raise ValueError(f"max_rate must be a rate (e.g. 63.75*Hz), got {max_rate!r}")
    engine = _resolve_engine(engine)
    exc = excitatory or ExcitatoryParameters()
    inh = inhibitory or InhibitoryParameters()
    c = NetworkConstants.from_parameters(
        exc, inh, dt=dt, duration=duration, w_exc_inh=w_exc_inh, w_inh_exc=w_inh_exc,
        initial_state=initial_state, integration=integration,
    )  # fmt: skip
    thresholds = float(exc.v_threshold) + th  # Brian2 evaluates v > (v_threshold + theta)
    entropy = np.random.SeedSequence(seed).entropy
    n = len(rows)
    responses = np.zeros((n, w.shape[1]), dtype=np.int32)
    want_counts = counts
    total_input = np.zeros(N_INPUTS, dtype=np.int64)
    total_exc = total_inh = presentations = 0
    used = np.full(n, float(intensity))
    rate_per_pixel = float(max_rate) / 255.0  # Hz per grey level at intensity 1
    dt_s = float(dt)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n, unit="img", desc="evaluate")
    # a queue keeps batches full: retries of earlier images are topped up with new images
    attempt = np.zeros(n, dtype=np.int64)
    pending = np.zeros(0, dtype=np.int64)
    next_new = 0
    n_exhausted = 0
    while pending.size or next_new < n:
        new = np.arange(next_new, min(n, next_new + max(0, batch_size - pending.size)))
        next_new += new.size
        todo = np.concatenate([pending[:batch_size], new])
        pending = pending[batch_size:]
        rates = rows[todo].astype(np.float64) * (rate_per_pixel * used[todo])[:, None]
        p = np.ascontiguousarray(np.clip(rates * dt_s, 0.0, 1.0))
        seeds = presentation_seeds(entropy, todo, attempt[todo])
        in_counts = np.zeros((todo.size, N_INPUTS), dtype=np.int64) if want_counts else None
        inh_counts = np.zeros(todo.size, dtype=np.int64) if want_counts else None
        if engine == "numba":
            got = _simulate_numba(
                w, thresholds, None, c, None, p, seeds, n_threads, in_counts, inh_counts
            )
        else:
            spikes = _poisson_spikes(p, c.n_steps, seeds)
            got = _simulate_numpy(w, thresholds, spikes, c, None, in_counts, inh_counts)
        responses[todo] = got
        if want_counts:
            total_input += in_counts.sum(axis=0)
            total_exc += int(got.sum(dtype=np.int64))
            total_inh += int(inh_counts.sum())
            presentations += todo.size
        quiet = got.sum(axis=1) < min_spikes
        exhausted = quiet & (attempt[todo] >= max_retries)
        n_exhausted += int(exhausted.sum())
        redo = todo[quiet & ~exhausted]
        attempt[redo] += 1
        used[redo] += intensity_step
        pending = np.concatenate([pending, redo])
        if bar is not None:
            bar.update(todo.size - redo.size)
    if n_exhausted:
        warnings.warn(
            f"{n_exhausted} image(s) still made < {min_spikes} spikes after {max_retries} "
            "retries; their last counts are kept",
            RuntimeWarning,
            stacklevel=2,
        )
    if bar is not None:
        bar.close()
    if want_counts:
        operations = InferenceCounts(
            images=n,
            presentations=presentations,
            n_neurons=w.shape[1],
            input_spikes=total_input,
            excitatory_spikes=total_exc,
            inhibitory_spikes=total_inh,
        )
        return responses, used, operations
    return responses, used
