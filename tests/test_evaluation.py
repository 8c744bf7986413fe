"""The batched evaluator against Brian2 itself.

Exactness: the same input spikes are fed to a Brian2 runtime network built from
:mod:`neurocbram.neurons` (``SpikeGeneratorGroup`` -> ``Synapses`` with fixed
``w``) and to :func:`simulate_presentations`; the excitatory spike trains must
be identical, step for step. The input process and the mean responses are
compared statistically with Brian2 networks driven by a ``PoissonGroup``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from brian2 import Hz, ms, mV

from neurocbram import evaluation as ev
from neurocbram.datasets import load_mnist
from neurocbram.evaluation import (
    InputSpikes,
    available_engines,
    evaluate_responses,
    poisson_input_spikes,
    simulate_presentations,
)

DT = 0.5 * ms
ENGINES = available_engines()


def _test_images(mnist_dir: Path, n: int) -> np.ndarray:
    images, _ = load_mnist("test", mnist_dir, download=False, progress=False)
    return images[:n]


def _brian2_excitatory_spikes(
    weights, theta, spikes: InputSpikes, b: int, n_steps: int, initial_state: str,
    integration: str = "exponential_euler", excitatory=None,
):  # fmt: skip
    """Run presentation ``b`` in a Brian2 runtime (numpy) network; return a (steps, N) raster."""
    import brian2 as b2

    from neurocbram.neurons import excitatory_group, inhibitory_group

    b2.prefs.codegen.target = "numpy"
    n = weights.shape[1]
    sel = spikes.presentation_of_spike() == b
    inputs = b2.SpikeGeneratorGroup(784, spikes.index[sel], spikes.step[sel] * DT, dt=DT)
    exc = excitatory_group(n, excitatory, learning=False, dt=DT, method=integration)
    exc.theta = theta
    inh = inhibitory_group(n, dt=DT, method=integration)
    if initial_state == "rest":  # the trainer's exact reset; "group" keeps v_rest - 40 mV
        exc.v = exc.namespace["v_rest"]
        inh.v = inh.namespace["v_rest"]
    s_in = b2.Synapses(inputs, exc, "w : 1", on_pre="ge_post += w", dt=DT)
    s_in.connect()
    s_in.w = weights[s_in.i[:], s_in.j[:]]
    s_ei = b2.Synapses(exc, inh, on_pre="ge_post += 10.4", dt=DT)
    s_ei.connect(j="i")
    s_ie = b2.Synapses(inh, exc, on_pre="gi_post += 17", dt=DT)
    s_ie.connect(condition="i != j")
    monitor = b2.SpikeMonitor(exc)
    net = b2.Network(inputs, exc, inh, s_in, s_ei, s_ie, monitor)
    net.run(n_steps * DT, namespace={})
    raster = np.zeros((n_steps, n), dtype=np.uint8)
    steps = np.round(np.asarray(monitor.t / DT)).astype(int)
    raster[steps, np.asarray(monitor.i)] = 1
    return raster


@pytest.mark.network
@pytest.mark.parametrize(
    ("case", "n", "weight_sum", "theta_range", "intensity", "initial_state"),
    [
        # a few spikes, each followed by inhibition
        ("diehl_cook_like", 20, 78.0, (0.0, 4.0), 2.0, "rest"),
        # bursts: refractoriness, several inhibitory spikes per step; start below rest
        ("high_activity", 30, 200.0, (-5.0, 1.0), 4.0, "group"),
    ],
)
@pytest.mark.parametrize("integration", ["exponential_euler", "euler"])
@pytest.mark.parametrize("spike_lock", [50 * ms, 5 * ms])
def test_identical_spike_trains_to_brian2(
    mnist_dir, case, n, weight_sum, theta_range, intensity, initial_state, integration, spike_lock
):
    rng = np.random.default_rng(3)
    weights = rng.uniform(0, 1, (784, n))
    weights *= weight_sum / weights.sum(axis=0)
    theta = rng.uniform(*theta_range, n) * mV
    images = _test_images(mnist_dir, 2).reshape(2, 784)
    rates = images * (63.75 / 255 * intensity)
    spikes = poisson_input_spikes(rates, 700, DT, rng.integers(0, 2**32, 2))
    excitatory = ev.ExcitatoryParameters(spike_lock=spike_lock)
    references = [
        _brian2_excitatory_spikes(
            weights, theta, spikes, b, 700, initial_state, integration, excitatory
        )
        for b in range(2)
    ]
    intervals = np.concatenate([np.diff(np.flatnonzero(r[:, j])) for r in references for j in range(n)])
    if case == "high_activity":  # the lock decides: without it, spikes follow closer
        assert (intervals < 100).any() == (spike_lock < 50 * ms)
    assert intervals.min(initial=10**6) >= round(spike_lock / DT)
    for engine in ENGINES:
        counts, raster = simulate_presentations(
            weights, theta, spikes, engine=engine, record=True, initial_state=initial_state,
            integration=integration, excitatory=excitatory,
        )  # fmt: skip
        for b, reference in enumerate(references):
            assert reference.sum() >= 4, "the case must produce spikes to be meaningful"
            np.testing.assert_array_equal(raster[b], reference, err_msg=f"{case} {engine} #{b}")
            np.testing.assert_array_equal(counts[b], reference.sum(axis=0))


def test_input_spikes_match_poissongroup_statistics():
    """Geometric-gap spike trains vs Brian2's PoissonGroup (``rand() < rates*dt``)."""
    import brian2 as b2

    b2.prefs.codegen.target = "numpy"
    trials, n_steps = 20, 700
    rates = np.tile(np.linspace(0.0, 127.5, 784), (trials, 1))  # Hz, 0..2 x 63.75
    p = rates * float(DT)
    expected = p.sum(axis=0) * n_steps  # per input, summed over trials
    ours = poisson_input_spikes(rates, n_steps, DT, np.arange(trials))
    our_counts = np.bincount(ours.index, minlength=784)
    group = b2.PoissonGroup(784 * trials, rates.ravel() * Hz, dt=DT)
    monitor = b2.SpikeMonitor(group, record=False)
    b2.Network(group, monitor).run(n_steps * DT)
    brian_counts = np.asarray(monitor.count).reshape(trials, 784).sum(axis=0)
    variance = (p * (1 - p)).sum(axis=0) * n_steps
    live = variance > 0
    for counts in (our_counts, brian_counts):
        assert np.all(counts[~live] == 0)
        z = (counts[live] - expected[live]) / np.sqrt(variance[live])
        assert abs(z.mean()) < 4 / np.sqrt(live.sum())  # no bias in the total
        assert 0.8 < np.mean(z**2) < 1.2  # binomial spread per input
    # no input spikes twice in one step, every spike inside the presentation
    key = (ours.presentation_of_spike() * 784 + ours.index) * n_steps + ours.step
    assert np.unique(key).size == key.size and ours.step.max() < n_steps


def test_engines_and_batch_sizes_agree(mnist_dir):
    images = _test_images(mnist_dir, 6)
    rng = np.random.default_rng(1)
    weights = rng.uniform(0, 0.3, (784, 10))
    weights *= 78 / weights.sum(axis=0)
    theta = np.full(10, 5.0) * mV
    runs = [
        evaluate_responses(
            weights, theta, images, seed=7, batch_size=bs, engine=engine, progress=False
        )
        for engine in ENGINES
        for bs in (6, 4)
    ]
    for counts, intensities in runs[1:]:
        np.testing.assert_array_equal(counts, runs[0][0])
        np.testing.assert_array_equal(intensities, runs[0][1])
    other_seed, _ = evaluate_responses(weights, theta, images, seed=8, progress=False)
    assert not np.array_equal(other_seed, runs[0][0])


def test_retry_rule_redoes_only_quiet_images():
    images = np.zeros((3, 28, 28), dtype=np.uint8)
    images[1] = 255  # bright: fires at intensity 1
    images[2, 10:18, 10:18] = 60  # dim: needs more input
    weights = np.full((784, 5), 78 / 784)
    theta = np.zeros(5) * mV
    with pytest.warns(RuntimeWarning, match="1 image"):
        counts, intensities = evaluate_responses(
            weights, theta, images, seed=0, max_retries=6, progress=False
        )
    assert intensities[0] == 1.0 + 6 * 0.5 and counts[0].sum() == 0  # blank never fires
    assert intensities[1] == 1.0 and counts[1].sum() >= 5
    assert 1.0 < intensities[2] < 4.0 and counts[2].sum() >= 5


def test_retry_semantics_follow_min_spikes():
    images = np.full((2, 784), 128, dtype=np.uint8)
    weights = np.full((784, 4), 78 / 784)
    counts, intensities = evaluate_responses(
        weights, np.zeros(4) * mV, images, seed=0, min_spikes=0, progress=False
    )
    np.testing.assert_array_equal(intensities, 1.0)
    assert counts.dtype == np.int32 and counts.shape == (2, 4)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"weights": np.zeros((783, 4))}, ValueError, r"weights must have shape \(784, N\)"),
        ({"weights": np.full((784, 4), -0.1)}, ValueError, "weights must be non-negative"),
        ({"theta": np.full(4, 20.0)}, ValueError, "read in volts"),
        ({"theta": np.zeros(3) * mV}, ValueError, r"theta must have shape \(4,\)"),
        ({"theta": np.zeros(4) * ms}, ValueError, "theta must be a voltage"),
        ({"images": np.zeros((2, 27, 28))}, ValueError, "images must have shape"),
        ({"images": np.full((2, 784), 300)}, ValueError, "0..255"),
        ({"duration": 350.2 * ms}, ValueError, "multiple of dt"),
        ({"dt": 0.5}, TypeError, "dt must be a Brian2 time"),
        ({"engine": "gpu"}, ValueError, "engine must be"),
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"max_rate": 63.75}, ValueError, "max_rate must be a rate"),
    ],
)
def test_clear_errors(kwargs, error, message):
    args = {
        "weights": np.zeros((784, 4)),
        "theta": np.zeros(4) * mV,
        "images": np.zeros((2, 28, 28), dtype=np.uint8),
    }
    args.update(kwargs)
    with pytest.raises(error, match=message):
        evaluate_responses(
            args.pop("weights"), args.pop("theta"), args.pop("images"), progress=False, **args
        )


@pytest.mark.parametrize("engine", ev.available_engines())
def test_vectorised_exp_is_within_one_ulp_of_libm(engine):
    rng = np.random.default_rng(0)
    x = -rng.random(200_000) * rng.choice([1e-3, 1e-2, 0.1, 1.0, 10.0, 100.0, 700.0], 200_000)
    x = np.r_[x, 0.0, -0.0, -1e-300, -np.log(2.0), -0.5 * np.log(2.0)]
    if engine == "numba":
        ours = np.array([ev._exp(float(value)) for value in x[:20_000]])
        x = x[:20_000]
    else:
        ours = ev._exp_array(x.copy())
    exact = np.array([math.exp(value) for value in x])  # the platform's libm
    assert np.all(np.abs(ours - exact) <= np.spacing(exact)), "more than 1 ulp from libm"
    assert np.mean(ours != exact) < 0.15
    # below the double range of exp the result floors at 2**-1022 (about 2.2e-308)
    floor = ev._exp(-800.0) if engine == "numba" else ev._exp_array(np.array([-800.0]))[0]
    assert floor == pytest.approx(2.0**-1022, rel=1e-12)


def test_input_spike_validation():
    with pytest.raises(ValueError, match="at most once per time step"):
        InputSpikes.from_arrays(np.array([0, 0]), np.array([5, 5]), np.array([3, 3]), 1)
    with pytest.raises(ValueError, match="input neuron"):
        InputSpikes.from_arrays(np.array([0]), np.array([784]), np.array([3]), 1)
    with pytest.raises(ValueError, match="seeds must lie"):
        poisson_input_spikes(np.zeros((1, 784)), 10, DT, np.array([-1]))
    packed = InputSpikes.from_arrays(
        np.array([1, 0, 1]), np.array([3, 2, 1]), np.array([0, 4, 9]), 2
    )
    np.testing.assert_array_equal(packed.image_ptr, [0, 1, 3])
    np.testing.assert_array_equal(packed.index, [2, 1, 3])


def test_constants_follow_brian2_timestep():
    c = ev.NetworkConstants.from_parameters(
        ev.ExcitatoryParameters(), ev.InhibitoryParameters(), dt=DT, duration=350 * ms,
        w_exc_inh=10.4, w_inh_exc=17.0,
    )  # fmt: skip
    assert (c.n_steps, c.exc_refractory_steps, c.inh_refractory_steps) == (700, 10, 4)
    assert c.exc_lock_steps == 100  # the published code's 50 ms threshold gate
    assert c.exc_v_initial == pytest.approx(-0.065) and c.exc_c_ge == -0.5
    group = ev.NetworkConstants.from_parameters(
        ev.ExcitatoryParameters(), ev.InhibitoryParameters(), dt=DT, duration=350 * ms,
        w_exc_inh=10.4, w_inh_exc=17.0, initial_state="group",
    )  # fmt: skip
    assert group.exc_v_initial == pytest.approx(-0.105)


@pytest.mark.network
def test_mean_counts_match_poissongroup_network(mnist_dir):
    """Statistical check end to end: Brian2 with its own PoissonGroup vs the evaluator.

    ``trials`` independent copies of a small network (block-diagonal synapses) run in one
    Brian2 runtime network; per-neuron mean counts must agree within 4 standard errors.
    """
    import brian2 as b2

    from neurocbram.neurons import excitatory_group, inhibitory_group

    b2.prefs.codegen.target = "numpy"
    n, trials, ours_trials = 8, 40, 400
    rng = np.random.default_rng(5)
    weights = rng.uniform(0, 1, (784, n))
    weights *= 78.0 / weights.sum(axis=0)
    theta = rng.uniform(0.0, 2.0, n) * mV
    image = _test_images(mnist_dir, 1).reshape(784)
    rates = image * (63.75 / 255 * 2.0)

    inputs = b2.PoissonGroup(784 * trials, np.tile(rates, trials) * Hz, dt=DT)
    exc = excitatory_group(n * trials, learning=False, dt=DT)
    exc.theta = np.tile(np.asarray(theta), trials) * b2.volt
    inh = inhibitory_group(n * trials, dt=DT)
    exc.v = exc.namespace["v_rest"]
    inh.v = inh.namespace["v_rest"]
    t, i, j = np.meshgrid(np.arange(trials), np.arange(784), np.arange(n), indexing="ij")
    s_in = b2.Synapses(inputs, exc, "w : 1", on_pre="ge_post += w", dt=DT)
    s_in.connect(i=(t * 784 + i).ravel(), j=(t * n + j).ravel())
    s_in.w = np.tile(weights.ravel(), trials)
    s_ei = b2.Synapses(exc, inh, on_pre="ge_post += 10.4", dt=DT)
    s_ei.connect(j="i")
    t, a, c = np.meshgrid(np.arange(trials), np.arange(n), np.arange(n), indexing="ij")
    keep = (a != c).ravel()
    s_ie = b2.Synapses(inh, exc, on_pre="gi_post += 17", dt=DT)
    s_ie.connect(i=(t * n + a).ravel()[keep], j=(t * n + c).ravel()[keep])
    monitor = b2.SpikeMonitor(exc, record=False)
    b2.Network(inputs, exc, inh, s_in, s_ei, s_ie, monitor).run(350 * ms, namespace={})
    brian = np.asarray(monitor.count).reshape(trials, n).astype(float)

    ours, _ = simulate_presentations(
        weights, theta,
        poisson_input_spikes(np.tile(rates, (ours_trials, 1)), 700, DT, np.arange(ours_trials)),
    )  # fmt: skip
    assert brian.sum() > 5 * trials  # enough activity to compare
    # standard error under the hypothesis that both draw from one law (pooled variance):
    # a rarely firing neuron can have no spike in all 40 Brian2 trials, a zero variance
    # that would make each sample's own variance estimate the error too small
    pooled = ((trials - 1) * brian.var(axis=0, ddof=1)
              + (ours_trials - 1) * ours.var(axis=0, ddof=1)) / (trials + ours_trials - 2)
    se = np.sqrt(pooled * (1 / trials + 1 / ours_trials))
    z = (brian.mean(axis=0) - ours.mean(axis=0)) / np.maximum(se, 1e-9)
    assert np.all(np.abs(z) < 4), (brian.mean(axis=0), ours.mean(axis=0))
    total_z = (brian.sum(1).mean() - ours.sum(1).mean()) / np.sqrt(
        brian.sum(1).var(ddof=1) / trials + ours.sum(1).var(ddof=1) / ours_trials
    )
    assert abs(total_z) < 4


# --------------------------------------------------------------------------- inference counts


def _retry_case() -> tuple[np.ndarray, np.ndarray, object]:
    """Images that need 0, some and (blank) all retries; uniform weights, theta 0."""
    images = np.zeros((4, 28, 28), dtype=np.uint8)
    images[0, 7:21, 7:21] = 255  # bright: enough spikes at once
    images[1, 8:20, 8:20] = 90  # dim: fires a little, retried until it reaches min_spikes
    images[3, 11:17, 11:17] = 255  # small patch
    weights = np.random.default_rng(0).uniform(0, 1, (784, 5))
    weights *= 78 / weights.sum(axis=0)
    return images, weights, np.zeros(5) * mV


def _regenerated_presentations(images, intensities, seed, step=0.5):
    """Input spikes of every presentation the evaluator made, from the module's seed functions."""
    rows = images.reshape(len(images), 784).astype(np.float64)
    attempts = np.round((intensities - 1.0) / step).astype(int)
    image_idx = np.concatenate([np.full(a + 1, i) for i, a in enumerate(attempts)])
    attempt = np.concatenate([np.arange(a + 1) for a in attempts])
    rates = rows[image_idx] * (63.75 / 255.0 * (1.0 + step * attempt))[:, None]
    seeds = ev.presentation_seeds(seed, image_idx, attempt)
    return poisson_input_spikes(rates, 700, DT, seeds)


def test_inference_counts_identical_across_engines_and_default_unchanged():
    images, weights, theta = _retry_case()
    kwargs = {"seed": 3, "max_retries": 3, "batch_size": 3, "progress": False}
    results = {}
    for engine in ENGINES:
        with pytest.warns(RuntimeWarning, match="1 image"):  # the blank image
            results[engine] = evaluate_responses(
                weights, theta, images, engine=engine, counts=True, **kwargs
            )
    with pytest.warns(RuntimeWarning, match="1 image"):
        plain = evaluate_responses(weights, theta, images, **kwargs)
    reference = results[ENGINES[0]][2]
    assert reference.presentations > len(images)  # retries happened
    assert reference.inhibitory_spikes > 0
    assert len(plain) == 2
    for responses, intensities, got in results.values():
        assert got == reference
        np.testing.assert_array_equal(got.input_spikes, reference.input_spikes)
        assert (got.excitatory_spikes, got.inhibitory_spikes) == (
            reference.excitatory_spikes, reference.inhibitory_spikes
        )  # fmt: skip
        np.testing.assert_array_equal(plain[0], responses)
        np.testing.assert_array_equal(plain[1], intensities)


@pytest.mark.parametrize("engine", ENGINES)
def test_inference_counts_match_regenerated_presentations(engine):
    """Every presentation (retries included) re-simulated from regenerated input spikes."""
    images, weights, theta = _retry_case()
    with pytest.warns(RuntimeWarning, match="1 image"):  # the blank image
        responses, intensities, got = evaluate_responses(
            weights, theta, images, seed=5, max_retries=3, engine=engine, progress=False,
            counts=True,
        )  # fmt: skip
    assert intensities[2] == 2.5 and intensities[1] > 1.0  # blank: all retries; dim: some
    spikes = _regenerated_presentations(images, intensities, seed=5)
    assert got.presentations == spikes.n_presentations == 4 + int(np.sum((intensities - 1) / 0.5))
    assert got.images == 4 and got.n_neurons == 5
    np.testing.assert_array_equal(got.input_spikes, np.bincount(spikes.index, minlength=784))
    black = images.reshape(4, 784).max(axis=0) == 0
    assert black.any() and np.all(got.input_spikes[black] == 0)
    all_counts, _ = simulate_presentations(weights, theta, spikes, engine=engine)
    assert got.excitatory_spikes == all_counts.sum()
    # discarded (quiet but not silent) presentations add spikes beyond the accepted ones
    assert got.excitatory_spikes > responses.sum()


def test_excitatory_counts_equal_responses_without_retries():
    images, weights, theta = _retry_case()
    responses, intensities, got = evaluate_responses(
        weights, theta, images, seed=2, min_spikes=0, progress=False, counts=True
    )
    np.testing.assert_array_equal(intensities, 1.0)
    assert got.presentations == got.images == 4
    assert got.excitatory_spikes == responses.sum() > 0
    # with no excitatory->inhibitory drive the inhibitory neurons never fire
    _, _, silent = evaluate_responses(
        weights, theta, images, seed=2, min_spikes=0, w_exc_inh=0.0, progress=False, counts=True
    )
    assert silent.inhibitory_spikes == 0 and got.inhibitory_spikes > 0


def test_synaptic_reads_with_mask():
    spikes = np.zeros(784, dtype=np.int64)
    spikes[0], spikes[5] = 2, 3
    counts = ev.InferenceCounts(
        images=1, presentations=1, n_neurons=4, input_spikes=spikes,
        excitatory_spikes=0, inhibitory_spikes=0,
    )  # fmt: skip
    assert counts.synaptic_reads() == 5 * 4
    active = np.ones((784, 4), dtype=bool)
    active[0, :2] = False  # pixel 0 reaches 2 neurons
    active[5, 1:] = False  # pixel 5 reaches 1 neuron
    active[7, :] = False  # silent pixel: no effect
    assert counts.synaptic_reads(active) == 2 * 2 + 3 * 1
    assert counts.synaptic_reads(np.zeros((784, 4), dtype=bool)) == 0
    with pytest.raises(ValueError, match=r"active must have shape \(784, 4\)"):
        counts.synaptic_reads(np.ones((784, 3), dtype=bool))
    with pytest.raises(ValueError, match="active must be a boolean"):
        counts.synaptic_reads(np.ones((784, 4)))
    total = counts + counts
    assert total.presentations == 2 and total.synaptic_reads(active) == 14
    assert not counts.input_spikes.flags.writeable
    with pytest.raises(ValueError, match="input_spikes must have shape"):
        ev.InferenceCounts(1, 1, 4, np.zeros(783), 0, 0)
