"""The Diehl & Cook network with memristive synapses: learning, retries, devices, targets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from neurocbram.devices import load_card
from neurocbram.networks.diehl_cook import DiehlCookParameters, TrainedState
from neurocbram.training import Trainer, evaluate_state

pytestmark = pytest.mark.network

CARD = "cbram-shi2018"
#: the shape shared by the standalone tests (and tests/test_resume.py): one cached build
PARAMS = DiehlCookParameters(n_neurons=20)
SLOTS = 50


@pytest.fixture(scope="module")
def mnist(mnist_dir: Path):
    from neurocbram.datasets import load_mnist

    train = load_mnist("train", mnist_dir, download=False, progress=False)
    test = load_mnist("test", mnist_dir, download=False, progress=False)
    return train, test


def _train(images, labels, n_images, target="standalone", seed=3, **kwargs):
    trainer = Trainer(images, labels, n_images, card=CARD, params=PARAMS, seed=seed,
                      target=target, slots=SLOTS, **kwargs)
    try:
        return trainer.train()
    finally:
        trainer.close()


@pytest.fixture(scope="module")
def trained(mnist):
    (x, y), _ = mnist
    return _train(x[:400], y[:400], 400)


def test_parameters_reject_bad_input() -> None:
    with pytest.raises(ValueError, match="n_neurons"):
        DiehlCookParameters(n_neurons=0)
    with pytest.raises(ValueError, match="carry_over=True needs simulate_rest"):
        DiehlCookParameters(carry_over=True)
    with pytest.raises(ValueError, match="unknown target"):
        Trainer(np.zeros((2, 28, 28)), np.zeros(2), 2, target="gpu")
    with pytest.raises(ValueError, match="n_images"):
        Trainer(np.zeros((2, 28, 28)), np.zeros(2), 0)
    with pytest.raises(ValueError):
        Trainer(np.zeros((2, 28, 28)), np.zeros(2), 2, card="no-such-card")


@pytest.mark.standalone
def test_learning_beats_chance_and_the_untrained_network(trained, mnist) -> None:
    (x, y), (tx, ty) = mnist
    assert trained.images == 400
    assert trained.set_pulses > 0 and trained.reset_pulses > 0
    sets = (x[:300], y[:300], tx[:300], ty[:300])
    learnt = evaluate_state(trained.state, PARAMS, *sets, seed=1)["accuracy"]
    trainer = Trainer(x[:1], y[:1], 1, card=CARD, params=PARAMS, seed=3)
    untrained = trainer.trained_state(trainer.initial_state())
    untrained.w *= PARAMS.weight_total / untrained.w.sum(axis=0)
    baseline = evaluate_state(untrained, PARAMS, *sets, seed=1)["accuracy"]
    # measured: 0.48 after 400 images (N=20, seed 3), 0.21 untrained; chance is 0.10
    assert learnt > 0.33
    assert learnt > baseline + 0.1


@pytest.mark.standalone
def test_devices_stay_in_range_and_sums_are_normalised(trained) -> None:
    card = load_card(CARD)
    state: TrainedState = trained.state
    assert state.G.shape == (784, 20)
    assert state.G.min() >= card.g_min and state.G.max() <= card.g_max
    np.testing.assert_allclose(state.w, card.weight(state.G))
    # a neuron that spiked is re-normalised to 78 (programming pulses) before the next
    # presentation, so only those that spiked in the last one carry an image of STDP
    sums = state.w.sum(axis=0)
    on_target = np.abs(sums - 78.0) < 0.01 * 78.0
    assert on_target.sum() >= PARAMS.n_neurons // 2, sums
    np.testing.assert_allclose(sums, 78.0, rtol=0.15)
    np.testing.assert_array_equal(state.gain, 1.0)
    assert np.all(state.theta_mV > 0)


@pytest.mark.standalone
def test_black_images_raise_the_intensity(mnist) -> None:
    (x, y), _ = mnist
    images = np.concatenate([np.zeros((2, 28, 28), dtype=np.uint8), x[:3]])
    labels = np.concatenate([[0, 0], y[:3]])
    result = _train(images, labels, 5)
    # each black image is presented 1 + max_retries times, then accepted anyway
    assert result.retries >= 2 * PARAMS.max_retries
    assert result.presentations >= 2 * (PARAMS.max_retries + 1) + 3
    assert result.images == 5


@pytest.mark.standalone
def test_same_seed_same_result(mnist) -> None:
    (x, y), _ = mnist
    trainer = Trainer(x[:100], y[:100], 100, card=CARD, params=PARAMS, seed=3, slots=SLOTS)
    try:
        first = trainer.train()
        again = trainer.train()  # same compiled program, same seed
        trainer.seed = 4
        other = trainer.train()
    finally:
        trainer.close()
    np.testing.assert_array_equal(again.state.G, first.state.G)
    np.testing.assert_array_equal(again.state.theta_mV, first.state.theta_mV)
    assert not np.array_equal(other.state.G, first.state.G)


@pytest.mark.standalone
def test_runtime_agrees_with_standalone(mnist) -> None:
    """numpy runtime and cpp_standalone: same statistics (different random streams)."""
    (x, y), _ = mnist
    n = 16
    # a black image last: its slot starts with a normalisation and no STDP follows
    images = np.concatenate([x[:n], np.zeros((1, 28, 28), dtype=x.dtype)])
    labels = np.concatenate([y[:n], [0]])
    standalone = _train(images, labels, n + 1)
    runtime = _train(images, labels, n + 1, target="numpy")
    for result in (standalone, runtime):
        assert result.images == n + 1
    per_image = [r.spikes / r.presentations for r in (standalone, runtime)]
    # measured: about 10 spikes per presentation in both
    assert per_image[1] == pytest.approx(per_image[0], rel=0.35)
    pulses = [(r.set_pulses + r.reset_pulses) / r.presentations for r in (standalone, runtime)]
    assert pulses[1] == pytest.approx(pulses[0], rel=0.25)
    theta = [r.state.theta_mV.mean() for r in (standalone, runtime)]
    assert theta[1] == pytest.approx(theta[0], rel=0.35)
    for r in (standalone, runtime):  # normalised by pulses: 78 up to their rounding
        np.testing.assert_allclose(r.state.w.sum(axis=0), 78.0, rtol=0.01)


def test_carry_over_keeps_the_neurons_state_over_the_rest(mnist) -> None:
    """carry_over: the next presentation starts where the rest left v (published code),
    except at a chunk start; otherwise every slot starts at rest."""
    from brian2 import StateMonitor, volt

    (x, y), _ = mnist
    starts = {}
    for carry in (False, True):
        params = DiehlCookParameters(n_neurons=5, max_retries=0, simulate_rest=True,
                                     carry_over=carry)
        # two chunks of two slots
        trainer = Trainer(x[:4], y[:4], 4, card=CARD, params=params, seed=0, slots=2,
                          target="numpy", ledger=False)
        try:
            trainer.build()
            net = trainer.net
            # v at each slot start, after the resting reset (order 1) if there is one
            monitor = StateMonitor(net.excitatory, "v", record=True, dt=params.slot_duration,
                                   when="start", order=2)
            net.network.add(monitor)
            result = trainer.train()
            starts[carry] = monitor.v_[:]
        finally:
            trainer.close()
        assert result.spikes > 0 and starts[carry].shape == (5, 4)
    rest = float(PARAMS.excitatory.v_rest / volt)
    np.testing.assert_allclose(starts[False], rest)
    np.testing.assert_allclose(starts[True][:, [0, 2]], rest)  # chunk starts
    # 150 ms after a presentation, 22% of v's deviation from rest is left
    assert np.all(np.abs(starts[True][:, [1, 3]] - rest).max(axis=0) > 1e-3)


def test_rest_applied_at_the_reset_equals_a_simulated_rest() -> None:
    """Without input, only theta changes: relaxing over simulated rests or in one step agree."""
    from brian2 import mV, ms

    black = np.zeros((4, 28, 28), dtype=np.uint8)
    thetas = {}
    for simulate in (False, True):
        params = DiehlCookParameters(n_neurons=5, max_retries=0, simulate_rest=simulate)
        trainer = Trainer(black, np.zeros(4), 4, card=CARD, params=params, seed=0, slots=4,
                          target="numpy", ledger=False)
        try:
            result = trainer.train()
        finally:
            trainer.close()
        assert result.spikes == 0 and result.presentations == 4
        thetas[simulate] = result.state.theta_mV
    exc = PARAMS.excitatory
    elapsed = 4 * float((PARAMS.presentation + PARAMS.rest) / ms)
    relax = float(exc.theta_relax / mV)
    expected = relax * (1 - np.exp(-elapsed / float(exc.tau_theta / ms)))
    np.testing.assert_allclose(thetas[False], expected, rtol=1e-4)
    np.testing.assert_allclose(thetas[True], thetas[False], rtol=1e-4)
    assert expected < -0.003  # the relaxation is visible


def test_inputs_are_bernoulli_per_time_step() -> None:
    """Geometric waits give one Bernoulli(rate*dt) trial per step: counts and the ISI law."""
    from brian2 import Hz, Network, NeuronGroup, SpikeMonitor, ms, prefs, second, seed

    from neurocbram.networks.diehl_cook import GEOMETRIC_WAIT, INPUT_RESET, INPUT_THRESHOLD

    prefs.codegen.target = "numpy"
    rates = np.repeat([0.0, 20.0, 100.0, 400.0], 500)
    group = NeuronGroup(
        rates.size,
        "rate : Hz\nnext_spike : second\npre_trace : 1\nslot_start : second",
        threshold=INPUT_THRESHOLD, reset=INPUT_RESET, dt=0.5 * ms,
        namespace={"input_dt": 0.5 * ms, "presentation": 10 * second},
    )
    group.rate = rates * Hz
    seed(4)
    group.run_regularly(f"next_spike = t + input_dt * {GEOMETRIC_WAIT}", dt=10 * second,
                        when="start")
    monitor = SpikeMonitor(group)
    steps = 2000
    Network(group, monitor).run(steps * 0.5 * ms)
    counts = np.asarray(monitor.count[:]).reshape(4, -1)
    trains = monitor.spike_trains()
    assert counts[0].sum() == 0
    for row, rate, block in zip(counts[1:], rates[500::500], (1, 2, 3), strict=True):
        p = rate * 0.5e-3
        expected, sd = steps * p, np.sqrt(steps * p * (1 - p) / row.size)
        assert abs(row.mean() - expected) < 4 * sd, (rate, row.mean(), expected)
        # one trial per step: the next spike follows in the very next step with probability p
        gaps = np.concatenate([np.diff(np.rint(trains[k] / (0.5 * ms)))
                               for k in range(500 * block, 500 * (block + 1))])
        assert gaps.min() >= 1
        assert abs(np.mean(gaps == 1) - p) < 4 * np.sqrt(p * (1 - p) / gaps.size) + 1e-3


def test_only_neurons_that_spiked_are_normalised_again() -> None:
    """Black images: no spikes, so after the first normalisation no more pulses."""
    black = np.zeros((4, 28, 28), dtype=np.uint8)
    pulses = []
    for n_images in (1, 4):
        params = DiehlCookParameters(n_neurons=5, max_retries=0)
        trainer = Trainer(black, np.zeros(4), n_images, card=CARD, params=params, seed=0,
                          slots=4, target="numpy", ledger=False)
        try:
            result = trainer.train()
        finally:
            trainer.close()
        assert result.spikes == 0
        pulses.append(result.set_pulses + result.reset_pulses)
    assert pulses[0] > 0  # the initial weights (sum ~ 117.6) are normalised once ...
    assert pulses[1] == pulses[0]  # ... and never again while no neuron spikes


@pytest.mark.parametrize("method", ["exponential_euler", "euler"])
def test_a_volley_of_inhibition_and_the_integration_method(method) -> None:
    """30 inhibitory spikes in one step: exponential Euler stays above E_inh, Euler overshoots."""
    from brian2 import Network, mV, ms, prefs

    from neurocbram.neurons import ExcitatoryParameters, excitatory_group

    prefs.codegen.target = "numpy"
    params = ExcitatoryParameters()
    group = excitatory_group(1, params, learning=False, method=method, dt=0.5 * ms)
    group.v = -60 * mV
    group.gi = 30 * 17.0
    Network(group).run(0.5 * ms)
    v = float(group.v[0] / mV)
    if method == "exponential_euler":
        assert -100.0 < v < -60.0
    else:  # v += dt/tau_m * (gi * (E_inh - v)) = -102 mV: past the reversal potential
        assert v < -150.0


@pytest.mark.parametrize("conductance", ["ge", "gi"])
def test_charge_of_one_synaptic_event(conductance) -> None:
    """At the network's dt (0.5 ms) forward Euler moves v as the equations do; exponential Euler,
    which holds the conductance over each step, by about (dt/tau) / (1 - exp(-dt/tau)) - 1 more
    (27% for ge, 13% for gi: the figures in the network's docs)."""
    from brian2 import Network, mV, ms, prefs

    from neurocbram.neurons import ExcitatoryParameters, excitatory_group

    prefs.codegen.target = "numpy"
    params = ExcitatoryParameters()
    dt = PARAMS.dt
    tau = params.tau_ge if conductance == "ge" else params.tau_gi

    def dv(method: str, step) -> float:
        group = excitatory_group(1, params, learning=False, method=method, dt=step)
        group.v = params.v_rest
        setattr(group, conductance, 1.0)
        Network(group).run(20 * ms)
        return float((group.v[0] - params.v_rest) / mV)

    reference = dv("exponential_euler", 0.002 * ms)  # this step's own excess: 0.1% or less
    excess = float((dt / tau) / (1 - np.exp(-dt / tau)) - 1)
    assert dv("euler", dt) / reference == pytest.approx(1.0, abs=0.003)
    assert dv("exponential_euler", dt) / reference - 1 == pytest.approx(excess, abs=0.005)


def test_integration_method_is_checked() -> None:
    with pytest.raises(ValueError, match="integration method must be one of"):
        DiehlCookParameters(integration="rk4")


def _depression_expected(pre: dict, post: dict, n: int, slot_ms: float, tau_ms: float,
                         dt_ms: float) -> np.ndarray:
    """Diehl & Cook's depression from spike times: ``eta_pre``-free sum over input spikes of
    ``exp(-(s - t_post)/tau)``, ``t_post`` the neuron's last spike of the same slot before
    the step of ``s`` (synapses act before the neuron's reset)."""
    expected = np.zeros((784, n))
    for j in range(n):
        post_t = np.asarray(post.get(j, []))
        for i, pre_t in pre.items():
            for s in pre_t:
                slot_start = np.floor(s / slot_ms + 1e-9) * slot_ms
                earlier = post_t[(post_t >= slot_start - 1e-9) & (post_t < s - 0.5 * dt_ms)]
                if earlier.size:
                    expected[i, j] += np.exp(-(s - earlier.max()) / tau_ms)
    return expected


@pytest.mark.parametrize("depression", ["deferred", "per_spike"])
def test_depression_follows_diehl_cook_in_both_modes(mnist, depression) -> None:
    """Analog updates, no potentiation or normalisation: the weight lost by each synapse is
    ``eta_pre * sum exp(-(s - t_post)/tau_post1)`` over its input spikes, whether the
    depression is applied per input spike or settled at the next spike / slot end."""
    from brian2 import SpikeMonitor, ms

    (x, y), _ = mnist
    params = DiehlCookParameters(n_neurons=8, depression=depression, analog=True, c2c=False,
                                 eta_post=0.0, weight_total=None, max_retries=0)
    trainer = Trainer(x[:2], y[:2], 2, card="ideal-linear", params=params, seed=5, slots=2,
                      target="numpy", ledger=False)
    try:
        start = trainer.initial_state()
        trainer.build()
        inputs = SpikeMonitor(trainer.net.inputs)
        trainer.net.network.add(inputs)
        result = trainer.train()
        excitatory = trainer.net.excitatory_spikes
        post = {j: t / ms for j, t in excitatory.spike_trains().items()}
        pre = {i: t / ms for i, t in inputs.spike_trains().items() if len(t)}
    finally:
        trainer.close()
    assert result.spikes > 10 and sum(len(t) for t in pre.values()) > 100
    card = load_card("ideal-linear")
    before = card.weight(start.G).reshape(784, 8)
    lost = before - card.weight(result.state.G).reshape(784, 8)
    expected = params.eta_pre * _depression_expected(
        pre, post, 8, float(params.slot_duration / ms), float(params.tau_post1 / ms),
        float(params.dt / ms))
    expected *= start.reset_scale.reshape(784, 8)  # device-to-device spread of the steps
    unclipped = (before > 0.01) & (start.stuck.reshape(784, 8) == 0)
    assert expected[unclipped].max() > 1e-4  # some synapses were depressed
    np.testing.assert_allclose(lost[unclipped], expected[unclipped], rtol=1e-6, atol=1e-12)


def test_deferred_depression_is_checked() -> None:
    from brian2 import ms

    with pytest.raises(ValueError, match="depression must be one of"):
        DiehlCookParameters(depression="later")
    with pytest.raises(ValueError, match="tau_post1"):
        DiehlCookParameters(presentation=1000 * ms, tau_post1=20 * ms, depression="deferred")
    DiehlCookParameters(presentation=1000 * ms, tau_post1=20 * ms, depression="per_spike")


def test_command_line_choices_mirror_the_library() -> None:
    """The CLI and the sweep spell choices and defaults out (fast --help, lazy imports);
    they must stay the library's."""
    import argparse

    from brian2 import ms

    from neurocbram.commands import sweep as sweep_command
    from neurocbram.commands.train import add_dynamics_arguments, add_schedule_arguments
    from neurocbram.networks.diehl_cook import DEFAULT_SLOTS, DEPRESSION_MODES
    from neurocbram.neurons import DEFAULT_INTEGRATION, INTEGRATION_METHODS
    from neurocbram.sweep import SweepConfig

    parser = argparse.ArgumentParser()
    add_dynamics_arguments(parser)
    actions = {action.dest: action for action in parser._actions}
    assert set(actions["integration"].choices) == set(INTEGRATION_METHODS)
    assert actions["integration"].default == DEFAULT_INTEGRATION
    assert set(actions["depression"].choices) == set(DEPRESSION_MODES)
    assert actions["depression"].default == DiehlCookParameters().depression
    sweep = SweepConfig()
    assert (sweep.integration, sweep.depression) == (DEFAULT_INTEGRATION,
                                                     DiehlCookParameters().depression)
    assert sweep.slots == DEFAULT_SLOTS
    # --rest / --slots of `neurocbram train` and the benchmarks, and the sweep's --slots
    parser = argparse.ArgumentParser()
    add_schedule_arguments(parser)
    defaults = parser.parse_args([])
    assert defaults.slots == DEFAULT_SLOTS
    assert defaults.rest * ms == DiehlCookParameters().rest
    assert defaults.simulate_rest == DiehlCookParameters().simulate_rest
    parser = argparse.ArgumentParser()
    sweep_command.add_arguments(parser)
    assert parser.parse_args([]).slots == DEFAULT_SLOTS
