"""Diehl & Cook (2015) unsupervised MNIST network with memristive input synapses.

Diehl P.U. & Cook M. (2015) "Unsupervised learning of digit recognition using
spike-timing-dependent plasticity", Front. Comput. Neurosci. 9:99.

784 Poisson inputs -> ``N`` excitatory neurons (adaptive threshold) through
all-to-all memristive synapses; each excitatory neuron drives one inhibitory
neuron (weight 10.4), which inhibits all other excitatory neurons (weight 17).
Run alone, this file trains a small network and prints its test accuracy::

    python -m neurocbram.networks.diehl_cook

Design
------
**Presentation control in generated code.** A chunk of ``slots`` presentation
slots is one Brian2 ``run``. The images of the chunk are the rows of a 2-D
:class:`~brian2.TimedArray` (``image_table``, rates at intensity 1, i.e.
``pixel/8`` Hz). A one-neuron ``control`` group counts the excitatory spikes
(``Synapses(excitatory, control, on_pre='count_post += 1')``) and, at every
slot boundary (``run_regularly``), accepts the image (next row) when it evoked
at least ``min_spikes`` spikes or raises ``intensity`` by ``intensity_step``
and presents it again (Diehl & Cook: ``intensity`` starts at 2, so the
maximum rate starts at 63.75 Hz and rises by 31.875 Hz per retry; a cap of
``max_retries`` retries keeps blank images from looping forever). The inputs
read the control state through linked variables. No Python runs between time
steps, so in ``cpp_standalone`` a whole chunk is one execution of the
compiled program, re-run with new inputs through ``run_args``
(:mod:`neurocbram.standalone`).

**Poisson inputs by geometric waits.** Each input spikes in a time step with
probability ``p = rate * dt`` (the rate is constant within a slot: set at its
start from the image row and the intensity). Instead of a random number per
input and step, an input draws the number of steps to its next spike from the
geometric law of that Bernoulli process (at the slot start and after each
spike); the spike trains have exactly the same law, with one random number per
spike instead of 784 per step.

**Rest versus exact reset.** Diehl & Cook follow each 350 ms presentation
with 150 ms without input, so that the dynamic state (``v``, ``ge``, ``gi``,
traces) decays before the next image. Here every slot boundary sets that
state *exactly* to its resting values instead, and the one lasting effect of
the rest -- the adaptive threshold relaxing for ``rest`` more
(``theta -> theta_relax + (theta - theta_relax) exp(-rest/tau_theta)``) -- is
applied in the same step. So the rest costs no simulated time
(``simulate_rest=False``, default); ``simulate_rest=True`` simulates it
input-free before the reset (30% more time steps; the two agree, see
``tests/test_network.py``). Exact resets also make chunk boundaries exact: a
chunk always starts from the resting state, so splitting training into
chunks (and resuming from a checkpoint) changes nothing.
The published code does not reset at all: 150 ms with ``tau_m`` = 100 ms leave
22% of the membrane's last deviation from rest (``ge``, ``gi`` and the traces
decay to < 3%). ``carry_over=True`` (with ``simulate_rest``) does the same: the
neurons' state carries over the rest into the next presentation (not over
chunk starts, where every run begins at rest, so resuming is still exact).
Measured (N = 100, CBRAM, forward Euler, per-spike, 60,000 images, seeds 0 /
1): 79.04 / 81.06% with carry-over against 82.03 / 80.42% with the exact
reset, both with ~52,000 retries: within the seed-to-seed spread (78.9-82.0%
over seeds 0-2 with the reset), so the reset is not what keeps N = 100 below
Diehl & Cook's 82.9%. The threshold's
relaxation matters: without the rest's share of it, ``theta`` settles higher,
fewer presentations reach ``min_spikes`` and accuracy drops (N = 100, 10,000
images, CBRAM: see the closing notes of the network issue).

**STDP as pulses.** Nearest-spike traces as neuron variables (``pre_trace`` on
the inputs, ``post_trace1``/``post_trace2`` on the excitatory neurons, set to 1 at
a spike): on a presynaptic spike ``dw = -eta_pre * post_trace1``, on a
postsynaptic spike ``dw = eta_post * pre_trace * post_trace2`` (``post_trace2``
before the spike: synapses act before neuron resets in Brian2's schedule).

*When the depression is applied* (``depression``). Literally (``"per_spike"``,
the default), every input spike visits all ``N`` of its synapses (a
``depression`` pathway after ``transmission``), although only the neurons that
already spiked in the slot have ``post_trace1 > 0``; at N = 400 this pathway was
25-32% of the training time. In cpp_standalone the pathway is gated
(:func:`neurocbram.pathways.gate_pathway`): a synapse whose neuron has
``post_trace1 == 0`` is skipped, which is exact, since it would request no
pulse and draw no random number (the same conductances bit for bit, N = 30,
300 images; ``tests/test_pathways.py``). Training at N = 400 is then
1.2-1.3x faster with exponential Euler and 1.4-1.5x with forward Euler (1,000
images, one thread, images per CPU-second: 86-94 vs 70-75; 142-158 vs 102-104;
forward Euler, 60,000 images, seeds 0 / 1: 87.56 / 87.24%).
Those figures are on Brian2's own standalone device. The trainer now builds
on :mod:`neurocbram.standalone_device`, whose per-step scheduling costs less
(the same schedule and results bit for bit): images per CPU-second at N = 400
(1,000-2,000 images, one thread) 103-112 with exponential Euler and 174-190
with forward Euler (197 deferred), against 94-96 and 153-155 on the same
day with Brian2's scheduler.
The neurons' state updaters are built from a template whose loop GCC
vectorises (:func:`neurocbram.standalone_device.vectorise_state_updater`,
with refractoriness as a comparison in seconds,
:data:`neurocbram.neurons.REFRACTORY_CONDITION`): exponential Euler's one
``exp`` per neuron and step, 19% of the training time as a scalar call, runs
four neurons at a time in glibc's vector ``exp``. Measured on one day, the
same machine idle otherwise (N = 400, CBRAM, 1,000 images, one thread, three
runs each, images per CPU-second): exponential Euler 117-121 against 77-79
with Brian2's template (1.5x); forward Euler 139-144 against 135-139. That day
the machine ran slower than when the figures above were taken (forward Euler
174-190 then), so 150 images per second with exponential Euler is not shown.
Results change only by the vector ``exp``'s rounding (within 4 ulp; the same
spikes in ``tests/test_standalone_device.py``): one epoch at N = 400, seed 0,
gives 88.80% (proportion vote 89.25%) against 88.16% before.
The input synapses' pathways then visit their synapses without Brian2's spike
queue (:func:`neurocbram.pathways.direct_pathway`): the inputs connect to the
excitatory neurons as a full matrix, so the synapses of an input spike are one
contiguous block (``ge_post += w`` runs four synapses at a time) and the gated
depression visits only the neurons with a trace, listed once per step. The
potentiation is gated too, on ``pre_trace_pre``: an input without a spike in
the slot has a zero trace (reset at the slot's start) and its synapses would
request no pulse. The same weights, thresholds and pulse counts bit for bit
(N = 100, 400 images, both depression modes; ``tests/test_pathways.py``).
Measured on one day, interleaved (N = 400, CBRAM, 1,000 images, one thread,
three runs each, images per CPU-second): 159-177 against 111-119 with the
queue (1.4x; 150-166 images per second of wall time); forward Euler 226-232
against 140-144 (1.6x). The neurons' thresholders then evaluate their
conditions in a vector loop and build the event list only in a step that has
an event (:func:`neurocbram.standalone_device.vectorise_thresholder`; the spike
lock compared in seconds, :data:`neurocbram.neurons.EXCITATORY_THRESHOLD`):
the same events bit for bit, 195-201 against 167-176 img/CPU-s (interleaved,
three runs each). One epoch at N = 400 (seed 0, before the thresholders)
trained at 186 images per second of wall time, checkpoints included, and gave
88.80% again; N = 100, 79.62% again.
With ``"deferred"`` the same sum is settled per
synapse where the neuron acts anyway: each input keeps ``pre_spike_sum =
sum_s exp(-(s - slot_start)/tau_post1)`` over its spikes of the slot, each
neuron ``post_anchor = exp((t_post - slot_start)/tau_post1)`` of its last
spike, so a synapse owes ``eta_pre * post_anchor * (pre_spike_sum -
depression_mark)``, the mark being ``pre_spike_sum`` when it last settled. It
settles at the neuron's next spike (in the ``post`` pathway, a RESET event
before the potentiation's SET event) and at the last step of the slot
(``slot_end`` event, scheduled at ``end``). Each
synapse loses Diehl & Cook's sum (``tests/test_network.py`` checks both modes
against the spike times, analog card; an input spike in the step of the
neuron's spike counts before it in both, its term read from ``spike_term``);
what differs: the trace decays exactly rather than with the state updater, the
pending depression (< ``eta_pre`` per input spike, far below one pulse) reaches
the device up to one slot later, and the stochastic rounding to pulses happens
once per settlement instead of once per input spike (the same expected pulse
count, one pulse event instead of many). Measured (N = 400, CBRAM, one epoch,
exponential Euler unless said; accuracies with a first version that counted
same-step input spikes after the neuron's spike): before the gate, training
1.55x faster (1.9x with forward Euler), 1.3x once the per-spike pathway left out
the SET arrays (2,000 images: 98-101 vs 74-79 img/s); with the gate only
1.05-1.1x (1,000 images, img/CPU-s: 95-98 vs 86-94; forward Euler 158 vs 142-158);
accuracy 87.70% vs 88.16% per spike (forward Euler 87.84% vs 87.58%), write
pulses within 1% (16.31 vs 16.28 million); N = 100, forward Euler, seeds 0-2:
79.87% vs 80.45% mean. But soft-pruning 75% at image 30,000 (``benchmarks/
pruning.py`` settings) lost more: 85.95-86.87% (four runs, seeds 0 and 1) vs
87.60 / 87.70% (seed 0) and 87.57% (seed 1) per spike, against 88.51 / 88.11%
unpruned deferred and 88.16 / 87.97% unpruned per spike; the cause is not
known (counting same-step input spikes before the neuron's spike, as now, did
not change it). Hence per-spike stays the default; deferred is for fast runs.

Each ``dw`` is realised by
:meth:`neurocbram.synapses.MemristiveSynapse.pulse_code`: ``n = pulse_count(|dw|
* levels)`` SET (dw > 0) or RESET pulses on the device, following the card's
pulse response. The neuron sees ``w = (G - g_min) / (g_max
- g_min)``; ``w_max = 1`` is the device's ``g_max``. ``post_trace2`` (and, per
spike, ``post_trace1``) decays with the neurons' state updater (exact with
exponential Euler).

**Integration.** The neurons use Brian2's exponential Euler by default
(``integration``). The published code's forward Euler is unstable for this
conductance-based membrane once ~24 inhibitory spikes arrive in one 0.5 ms
step (``dt/tau_m * (1 + gi) > 2``); with N = 400, after a few hundred images,
the thresholds of silent neurons relax together, many fire at once and the
network falls into a storm of thousands of spikes per presentation, its
thresholds all driven to ~47 mV and its accuracy to chance. Exponential Euler
is exact for ``v`` at fixed conductances and has no such limit. That storm was
seen without the spike lock (below); with it, which caps each neuron at one
spike per 50 ms, forward Euler stayed stable over a whole epoch at N = 400
(87.58% vs 88.16% with exponential Euler) and did better at N = 100 (82.03% vs
79.08%; CBRAM, 60,000 images, one seed each, per-spike depression). Over seeds
0-2: forward Euler 82.03 / 80.42 / 78.91%, exponential Euler 79.08 / 81.86 /
79.02% (means 80.45 / 79.99%): within the seed spread of each other. (Forward
Euler at 250 slots per compiled run, whose chunks draw other random numbers
than the 100-slot runs above: 78.55 / 78.66% on seeds 0 / 1, five-run mean
79.71%.)
The two integrators also differ in the charge a synaptic event delivers.
Exponential Euler decays ``ge`` and ``gi`` exactly between steps but holds them
fixed within a step, so at dt = 0.5 ms a single event moves ``v`` 26.9% more
than the continuous equations do for ``ge`` (tau 1 ms) and 12.9% more for ``gi``
(tau 2 ms). Forward Euler's per-step factor ``1 - dt/tau`` sums to the exact
charge (within 0.04%; one neuron against dt = 1 us,
``test_charge_of_one_synaptic_event``). Exponential Euler therefore gives more
spikes and higher thresholds for the same weights. The ideal analog card (``ideal-linear``,
``analog=True``, per-spike, seed 0, 60,000 images) reacts to that more than
CBRAM does: N = 100 gives 77.49% with exponential Euler and 67.62% with forward
Euler (69.62% with seed 1; the same card pulsed, 67.45%); with forward Euler
its receptive fields stay blurred: 17% of weights below 0.01, against 29% with exponential Euler.
At N = 400 the order flips: 88.06% with forward Euler, 87.05% with exponential
Euler (CBRAM: 87.58 / 88.16%).

**Cross-check against the float rule.** ``benchmarks/float_reference.py``
re-implements the published float training without Brian2 (Numba; forward
Euler, hard bounds, rest without reset, normalisation before every
presentation; its doc lists what it reads from the published script). N = 100,
60,000 images, labels from 10,000 training images, seeds 0 / 1: 70.42 / 68.58%
(proportion vote 73.92 / 73.71%), 17.2 / 17.0% of weights below 0.01; without
the spike lock, as the script ran under ``brian_no_units``: 67.55 / 69.36%.
That is the ideal card's 67.62 / 69.62% and its 17% of near-zero weights: the
network reproduces the float rule as published, and the rule itself stays
~13 points below Diehl & Cook's 82.9% at N = 100 after one epoch. The CBRAM
card (78.9-82.0% over six runs, either integrator) does better than the ideal one. The published
script's training mode (set for N = 400) presents 180,000 images (``num_examples = 60000 * 3``);
with those three epochs the float rule reaches 79.64 / 77.58% (proportion vote
81.56 / 79.33%), its fields sharper (51 / 49% of weights below 0.01): closer to
82.9%, still below it. The CBRAM network (default settings) over the same three
epochs: 81.45 / 80.53% (proportion vote 83.15 / 83.70%), against 79.08 / 81.86%
after one: more epochs help the float rule much more than the device.

**Weight normalisation by pulses.** Diehl & Cook rescale every neuron's incoming
weights to sum to 78 before each presentation. We do the same on the devices: at
each slot boundary (the neuron's ``normalise`` event, two postsynaptic pathways)
the synapses sum ``w`` into the neuron (``weight_sum``) and every device
receives ``program_code(w * (78/weight_sum - 1))``: the pulses that take it to
its target along the card's mean pulse response
(:meth:`~neurocbram.synapses.MemristiveSynapse.program_code`). A count of ``|dw|
* levels`` instead would miss on a nonlinear device (CBRAM: RESET steps of low
weights are 60-85% of the mean step, so one normalisation from the initial sum
of ~118 ends at ~88, not 78), and a neuron is normalised once after it spiked,
so the miss would stay. Frozen (pruned) synapses keep their weight; the others
are scaled so that the total is still 78 (factor ``(78 - frozen_sum)/(weight_sum
- frozen_sum)``). Because STDP moves the sum only a little per image, the
expected number of pulses is proportional to that drift (``levels * |78 - sum|``
per neuron), not to the array size. Only neurons whose weights moved since their
last normalisation (they spiked: their STDP updates need ``post_trace1 > 0`` or
a postsynaptic spike) are normalised (``weights_changed``); re-normalising an
unchanged neuron is a no-op with float weights, but on devices it would only
dither the sum's rounding residue with pulses (~``levels * 0.2`` per neuron and
presentation). The alternative, a divisive gain in the neuron periphery (``ge +=
w * 78/sum``), costs no pulses but is not the same rule: it never shrinks the
stored weights of inactive (background) pixels, which keep their initial random
values and blur the receptive fields (stored weights of active pixels saturate
at ``g_max``). Re-programming keeps the competition between synapses that makes
the rule work, on the device. The forward path applies no gain:
:class:`TrainedState` has ``gain = 1``.

**Spike lock.** As the published equations read with units, an excitatory
neuron cannot spike again within ``spike_lock`` = 50 ms of its last spike (its
threshold is gated by a timer that runs at 0.1 s/s and must pass 5 ms), while
its membrane integrates again after the 5 ms refractory period
(:attr:`~neurocbram.neurons.ExcitatoryParameters.spike_lock`). The published
script runs with ``brian_no_units``, under which that timer runs at 100 s/s,
so there the gate opens one step after a spike. Measured with
the CBRAM card over 60,000 images, with the lock vs 5 ms only: N = 100, 79.08%
vs 78.95%; N = 400, 88.16% vs 88.11% with half the write pulses (16.3 vs 31.4
million).

The input synapses have no transmission delays (the original code draws
them in 0-10 ms). In Brian 1's STDP on a ``DelayConnection`` (our reading of
its ``stdp.py``), the weight updates of a synapse run at the spike's arrival,
using the postsynaptic trace at that time, and the potentiation reads the
presynaptic trace one delay earlier. Each synapse then acts as if its input
spike train were shifted by its delay. A shifted Poisson train is again
Poisson at the same rate, so delays only change the edges of each
presentation: its first 10 ms, and late spikes that arrive in the rest.
Measured once with an experimental patch that is not part of the package
(fixed per-synapse delays on the 0.5 ms grid in [0, 9.5] ms on the
transmission and depression pathways, potentiation reading a per-synapse trace
of the arrived spikes; N = 100, CBRAM, forward Euler, per-spike, simulated rest
with ``carry_over``, 60,000 images, evaluation without delays): 78.55 / 79.89%
(seeds 0 / 1) against 79.04 / 81.06% without delays.

Labelling on the test set itself, as the published evaluation script does,
does not close the gap either: see :mod:`neurocbram.analysis.labelling`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
from brian2 import (
    Hz,
    Network,
    NeuronGroup,
    Quantity,
    SpikeMonitor,
    StateMonitor,
    Synapses,
    TimedArray,
    linked_var,
    ms,
)

from neurocbram.checks import check_count
from neurocbram.devices import DeviceCard, load_card
from neurocbram.neurons import (
    DEFAULT_INTEGRATION,
    EXCITATORY_EQUATIONS,
    EXCITATORY_THRESHOLD,
    REFRACTORY_CONDITION,
    ExcitatoryParameters,
    InhibitoryParameters,
    check_integration,
    inhibitory_group,
)
from neurocbram.pathways import direct_pathway, gate_pathway
from neurocbram.standalone_device import TEMPLATES, vectorise_state_updater, vectorise_thresholder
from neurocbram.synapses import MemristiveSynapse, memristive_synapses

__all__ = [
    "DEFAULT_SLOTS",
    "DEPRESSION_MODES",
    "N_INPUTS",
    "DiehlCookParameters",
    "DiehlCookNetwork",
    "TrainedState",
    "network_key",
]

#: number of input pixels (28 x 28)
N_INPUTS = 784

#: presentation slots per compiled run: each run re-reads and re-writes the synapse arrays
#: (~80 ms at N = 400), so longer chunks train faster; a chunk is also the granularity of
#: checkpoints and pruning events
DEFAULT_SLOTS = 250

CONTROL_EQUATIONS = """
image : integer          # row of image_table presented in this slot
n_images : integer       # rows of image_table to present in this chunk
intensity : 1            # rate multiplier of the image (Diehl & Cook's input_intensity)
has_image : integer         # 1 while images are left, 0 in idle slots at the end of a chunk
slot : integer           # slots started in this chunk
slot_start : second      # time at which the current slot started
retries : integer        # presentations repeated because of too few spikes (this chunk)
count : integer          # excitatory spikes in the current slot
rng_seed : integer       # seed of the random generator (read by the standalone program)
"""

#: steps to wait for the next success of one Bernoulli(p) trial per time step, minus 1:
#: geometric, ``floor(log(U) / log(1 - p))`` with ``U`` uniform in (0, 1]
#: (``p`` is ``rate * input_dt``; a zero rate waits 1e9 steps, i.e. never within a chunk;
#: the clip also keeps ``floor`` in the integer range of Brian2's numpy target)
GEOMETRIC_WAIT = (
    "floor(clip(log(1 - rand()) / log(1 - clip(rate * input_dt, 1e-12, 1 - 1e-12)), 0, 1e9))"
)

#: the input's Poisson train for the new slot (after ``control_tick``)
INPUT_SLOT_START = f"""
slot_start = t
pre_trace = 0
rate = image_table(image * ms, i) * Hz * intensity * has_image
next_spike = t + input_dt * {GEOMETRIC_WAIT}
"""

#: an input spikes at the time step its wait ends (while its image is presented) ...
INPUT_THRESHOLD = "t > next_spike - 0.5 * input_dt and t - slot_start < presentation"
#: ... and draws its next wait (>= 1 step): one Bernoulli(rate * dt) trial per step, in law
INPUT_RESET = f"pre_trace = 1\nnext_spike = t + input_dt * (1 + {GEOMETRIC_WAIT})"

#: decision at each slot boundary, before the new slot starts
CONTROL_TICK = """
presented = int(slot > 0) * has_image
accept = presented * int(count >= min_spikes or intensity >= max_intensity - 1e-6)
retry = presented - accept
image += accept
intensity += retry * intensity_step + accept * (intensity_start - intensity)
retries += retry
has_image = int(image < n_images)
count = 0
slot += 1
slot_start = t
"""

INPUT_EQUATIONS = """
rate : Hz                # Poisson rate during this slot's presentation
next_spike : second      # time of the next spike of the Poisson train
dpre_trace/dt = -pre_trace / tau_pre : 1
image : integer (linked)
intensity : 1 (linked)
has_image : integer (linked)
slot_start : second      # start of the current slot (synapses cannot read linked variables)
"""

TRACE_EQUATIONS = """
dpost_trace2/dt = -post_trace2 / tau_post2 : 1
weight_sum : 1           # sum of the input weights, computed at each slot boundary
frozen_weight_sum : 1    # sum of the frozen (pruned) input weights, idem
normalising : integer    # 1 when the weights are normalised at this slot boundary
weights_changed : integer  # 1 when the neuron spiked (its weights moved) since its last normalisation
has_image : integer (linked)
"""

#: how the depression half of STDP (``dw = -eta_pre * post_trace1`` at each input spike)
#: reaches the devices: as one pulse event per input spike ("per_spike", default), or
#: summed per synapse and applied at the neuron's next spike or at the slot's end
#: ("deferred": faster, see the module doc for what it changes)
DEPRESSION_MODES = ("per_spike", "deferred")

#: longest slot, in units of ``tau_post1``, for deferred depression: its rounding error is
#: about ``eps * exp(span) * (input spikes per slot) * eta_pre``, ~1e-5 of a weight at 30
#: (Diehl & Cook: 350 ms / 20 ms = 17.5; 25 with a simulated rest)
MAX_DEFERRED_SPAN = 30

#: per depression mode: input, excitatory-neuron and synapse variables, and the code
#: run at an input spike, at the slot start and at an excitatory spike
DEPRESSION_STATE = {
    "per_spike": {
        "input_equations": "",
        "input_reset": "",
        "input_slot_start": "",
        "neuron_equations": "dpost_trace1/dt = -post_trace1 / tau_post1 : 1\n",
        "neuron_spike": "post_trace1 = 1",
        "neuron_slot_start": "post_trace1 = 0",
        "synapse_equations": "",
    },
    "deferred": {
        "input_equations": (
            "pre_spike_sum : 1  # sum of exp(-(t_spike - slot_start) / tau_post1) over the "
            "slot's spikes\n"
            # the term a spike in this step adds to the sum (read by synapses, before the
            # reset adds it)
            f"spike_term = int({INPUT_THRESHOLD}) * exp(-(t - slot_start) / tau_post1) : 1\n"
        ),
        "input_reset": "\npre_spike_sum += exp(-(t - slot_start) / tau_post1)",
        "input_slot_start": "pre_spike_sum = 0\n",
        "neuron_equations": (
            "post_anchor : 1  # exp((t_spike - slot_start) / tau_post1) of the last spike, "
            "0 before the slot's first\n"
            "slot_start : second (linked)\n"
        ),
        "neuron_spike": "post_anchor = exp((t - slot_start) / tau_post1)",
        "neuron_slot_start": "post_anchor = 0",
        "synapse_equations": "depression_mark : 1  # pre_spike_sum_pre at the last settlement",
    },
}

#: deferred depression owed by a synapse since its neuron's last spike,
#: ``eta_pre * sum_s exp(-(s - t_post) / tau_post1)`` over the input's spikes ``s`` since then,
#: settled at the slot's end (after this step's resets) ...
SETTLE_AT_SLOT_END = (
    "_owed = pre_spike_sum_pre - depression_mark\n"
    "depression_mark = pre_spike_sum_pre\n"
)
#: ... or at the neuron's next spike, before the inputs' resets: an input spiking in this
#: step is owed with the trace before the neuron's spike, as when depressing per spike
SETTLE_AT_SPIKE = (
    "_owed = pre_spike_sum_pre + spike_term_pre - depression_mark\n"
    "depression_mark = depression_mark + _owed\n"
)
DEFERRED_DEPRESSION = "-eta_pre * post_anchor_post * _owed"

RESTING_STATE_NEURONS = """
v = v_rest
ge = 0
gi = 0
lastspike = -1e4 * second
not_refractory = True
"""


@dataclass(frozen=True)
class DiehlCookParameters:
    """Parameters of the network and its training protocol (Diehl & Cook 2015).

    Times are Brian2 quantities; ``eta_*`` and weights are dimensionless
    (weight 1 = ``g_max`` of the card).
    """

    n_neurons: int = 100
    dt: Quantity = field(default_factory=lambda: 0.5 * ms)
    presentation: Quantity = field(default_factory=lambda: 350 * ms)
    #: input-free time after each presentation (Diehl & Cook: 150 ms); see ``simulate_rest``
    rest: Quantity = field(default_factory=lambda: 150 * ms)
    #: simulate the rest (True), or apply its effect on theta exactly at the reset (False)
    simulate_rest: bool = False
    #: with ``simulate_rest``: no reset after the rest, the neurons' ``v``, ``ge``, ``gi``
    #: and spike times carry over into the next presentation, as in the published code
    #: (the state is still reset at each chunk start; see the module doc)
    carry_over: bool = False
    tau_pre: Quantity = field(default_factory=lambda: 20 * ms)
    tau_post1: Quantity = field(default_factory=lambda: 20 * ms)
    tau_post2: Quantity = field(default_factory=lambda: 40 * ms)
    eta_pre: float = 1e-4
    eta_post: float = 1e-2
    #: per-neuron sum of input weights after normalisation (None: no normalisation)
    weight_total: float | None = 78.0
    #: initial weights are uniform in [0, initial_weight_max]
    initial_weight_max: float = 0.3
    exc_to_inh: float = 10.4
    inh_to_exc: float = 17.0
    #: rate of a 255 pixel at intensity 1 (Diehl & Cook: pixel / 8 Hz)
    unit_rate: Quantity = field(default_factory=lambda: 31.875 * Hz)
    intensity_start: float = 2.0
    intensity_step: float = 1.0
    min_spikes: int = 5
    max_retries: int = 8
    #: apply the card's cycle-to-cycle variation to every pulse event
    c2c: bool = True
    #: continuous weight updates instead of pulses (reference; linear cards only)
    analog: bool = False
    #: state updater of the excitatory and inhibitory neurons (see
    #: :data:`neurocbram.neurons.DEFAULT_INTEGRATION`; ``"euler"`` as the published code)
    integration: str = DEFAULT_INTEGRATION
    #: when input spikes depress the devices (see :data:`DEPRESSION_MODES` and the module doc)
    depression: str = "per_spike"
    excitatory: ExcitatoryParameters = field(default_factory=ExcitatoryParameters)
    inhibitory: InhibitoryParameters = field(default_factory=InhibitoryParameters)

    def __post_init__(self) -> None:
        check_count(self.n_neurons, "n_neurons")
        for name in ("dt", "presentation", "tau_pre", "tau_post1", "tau_post2"):
            if not float(getattr(self, name)) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if float(self.rest) < 0:
            raise ValueError(f"rest must be >= 0 ms, got {self.rest!r}")
        if self.carry_over and not self.simulate_rest:
            raise ValueError("carry_over=True needs simulate_rest=True: without a simulated "
                             "rest the state at a slot boundary is the end of the presentation")
        if self.min_spikes < 0 or self.max_retries < 0:
            raise ValueError("min_spikes and max_retries must be >= 0")
        if self.weight_total is not None and not self.weight_total > 0:
            raise ValueError(f"weight_total must be > 0 or None, got {self.weight_total!r}")
        if not 0 <= self.initial_weight_max <= 1:
            raise ValueError("initial_weight_max must lie in [0, 1]")
        check_integration(self.integration)
        if self.depression not in DEPRESSION_MODES:
            raise ValueError(
                f"depression must be one of {', '.join(DEPRESSION_MODES)}, got {self.depression!r}"
            )
        span = float(self.slot_duration / self.tau_post1)
        if self.depression == "deferred" and span > MAX_DEFERRED_SPAN:
            raise ValueError(
                "deferred depression takes differences of sums of exp(-t/tau_post1) over a "
                f"slot, accurate while slot duration / tau_post1 <= {MAX_DEFERRED_SPAN} "
                f"(got {span:.1f}); use depression='per_spike' for longer slots"
            )

    @property
    def slot_duration(self) -> Quantity:
        """Simulated time of one slot: the presentation, plus the rest if it is simulated."""
        return self.presentation + (self.rest if self.simulate_rest else 0 * ms)

    @property
    def rest_theta_factor(self) -> float:
        """Factor by which ``theta - theta_relax`` shrinks over a rest that is not simulated."""
        if self.simulate_rest:
            return 1.0
        return float(np.exp(-float(self.rest / self.excitatory.tau_theta)))

    @property
    def max_intensity(self) -> float:
        """Intensity of the last allowed retry."""
        return self.intensity_start + self.max_retries * self.intensity_step

    def describe(self) -> dict[str, Any]:
        """JSON-friendly description (quantities as strings); used for build keys."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("excitatory", "inhibitory"):
                value = {k: repr(v) for k, v in asdict(value).items()}
            elif isinstance(value, Quantity):
                value = repr(value)
            out[f.name] = value
        return out


@dataclass
class TrainedState:
    """What training produces and evaluation consumes.

    Attributes
    ----------
    G : ndarray, shape (784, N)
        Device conductances (siemens), ``G[i, j]`` from pixel ``i`` to neuron ``j``.
    w : ndarray, shape (784, N)
        Weights the neurons see, ``(G - g_min)/(g_max - g_min)`` in [0, 1].
    theta_mV : ndarray, shape (N,)
        Adaptive threshold offsets (mV), added to ``v_threshold``.
    gain : ndarray, shape (N,)
        Per-neuron factor of the forward path: the excitatory conductance
        receives ``w[i, j] * gain[j]`` per input spike. Always 1 here
        (normalisation is done on the devices), kept for evaluators.
    card : str
        Name of the device card.
    images_seen : int
        Training images accepted so far (retries not counted).
    frozen : ndarray of bool, shape (784, N), optional
        Synapses frozen by pruning (soft-pruned, or hard-pruned and removed).
    removed : ndarray of bool, shape (784, N), optional
        Hard-pruned synapses (removed: ``w = 0``, never read).
    set_pulses, reset_pulses : ndarray of int, shape (784, N), optional
        Pulses each device received during training.
    """

    G: np.ndarray
    w: np.ndarray
    theta_mV: np.ndarray
    gain: np.ndarray
    card: str = ""
    images_seen: int = 0
    frozen: np.ndarray | None = None
    removed: np.ndarray | None = None
    set_pulses: np.ndarray | None = None
    reset_pulses: np.ndarray | None = None

    OPTIONAL = ("frozen", "removed", "set_pulses", "reset_pulses")

    @property
    def n_neurons(self) -> int:
        return int(self.w.shape[1])

    def save(self, path: str | Path) -> Path:
        """Write an ``.npz`` file (atomically)."""
        from neurocbram.checkpoint import atomic_savez

        return atomic_savez(
            path,
            G=self.G,
            w=self.w,
            theta_mV=self.theta_mV,
            gain=self.gain,
            card=np.array(self.card),
            images_seen=np.array(self.images_seen),
            **{name: getattr(self, name) for name in self.OPTIONAL if getattr(self, name) is not None},
        )

    @classmethod
    def load(cls, path: str | Path) -> TrainedState:
        """Read a file written by :meth:`save`."""
        with np.load(Path(path), allow_pickle=False) as data:
            return cls(
                G=data["G"],
                w=data["w"],
                theta_mV=data["theta_mV"],
                gain=data["gain"],
                card=str(data["card"]),
                images_seen=int(data["images_seen"]),
                **{name: data[name] for name in cls.OPTIONAL if name in data.files},
            )


class DiehlCookNetwork:
    """The Brian2 objects of the network, for one chunk of ``slots`` presentations.

    Build it after choosing the device (``set_device``); the objects are
    attributes (``inputs``, ``excitatory``, ``inhibitory``, ``control``,
    ``input_synapses``, ...) and ``network`` holds them all. One
    ``network.run(chunk_duration)`` presents up to ``slots`` images.

    Parameters
    ----------
    card : DeviceCard or str
        Device of the input synapses (a card or a bundled card name).
    params : DiehlCookParameters
        Network and protocol parameters.
    slots : int
        Presentation slots per chunk (rows of ``image_table``).
    ledger : bool
        Count spikes per neuron of the inputs and the inhibitory population
        (``input_spike_counter`` / ``inhibitory_spike_counter``, spike
        monitors without recording) for the energy ledger; the excitatory
        spikes are recorded anyway (``excitatory_spikes``).
    """

    def __init__(
        self,
        card: DeviceCard | str,
        params: DiehlCookParameters | None = None,
        slots: int = DEFAULT_SLOTS,
        ledger: bool = True,
    ) -> None:
        self.slots = check_count(slots, "slots")
        self.card = load_card(card)
        self.params = p = params or DiehlCookParameters()
        n = p.n_neurons
        slot_duration = p.slot_duration
        self.memristor = MemristiveSynapse(self.card, c2c=p.c2c, analog=p.analog)

        self.image_table = TimedArray(np.zeros((self.slots, N_INPUTS)), dt=1 * ms,
                                      name="image_table")

        control = NeuronGroup(1, CONTROL_EQUATIONS, name="control", dt=p.dt)
        control.run_regularly(
            CONTROL_TICK,
            dt=slot_duration,
            when="start",
            order=0,
            name="control_tick",
        )
        control.namespace.update(
            min_spikes=p.min_spikes,
            max_intensity=p.max_intensity,
            intensity_start=p.intensity_start,
            intensity_step=p.intensity_step,
        )

        depression = DEPRESSION_STATE[p.depression]
        inputs = NeuronGroup(
            N_INPUTS,
            INPUT_EQUATIONS + depression["input_equations"],
            threshold=INPUT_THRESHOLD,
            reset=INPUT_RESET + depression["input_reset"],
            method="exact",
            namespace={
                "image_table": self.image_table,
                "presentation": p.presentation,
                "tau_pre": p.tau_pre,
                "tau_post1": p.tau_post1,
                "input_dt": p.dt,
            },
            name="inputs",
            dt=p.dt,
        )
        zeros = np.zeros(N_INPUTS, dtype=int)
        for name in ("image", "intensity", "has_image"):
            setattr(inputs, name, linked_var(control, name, index=zeros))
        inputs.run_regularly(depression["input_slot_start"] + INPUT_SLOT_START,
                             dt=slot_duration, when="start", order=1, name="inputs_resting")

        exc_params = p.excitatory
        # "normalise": at a slot boundary, for the neurons whose weights moved
        events = {"normalise": "normalising == 1"}
        deferred = p.depression == "deferred"
        if deferred:
            # "slot_end": the slot's last step, for the neurons with depression owed
            events["slot_end"] = "t - slot_start > last_step_start and post_anchor > 0"
        excitatory = NeuronGroup(
            n,
            EXCITATORY_EQUATIONS + TRACE_EQUATIONS + depression["neuron_equations"],
            threshold=EXCITATORY_THRESHOLD,
            reset="v = v_reset\ntheta += theta_plus\npost_trace2 = 1\nweights_changed = 1\n"
                  + depression["neuron_spike"],
            refractory=REFRACTORY_CONDITION,
            method=p.integration,
            namespace={
                **exc_params.namespace(theta_decay=1.0),
                "tau_post1": p.tau_post1,
                "tau_post2": p.tau_post2,
                "last_step_start": slot_duration - 1.5 * p.dt,
            },
            events=events,
            name="excitatory",
            dt=p.dt,
        )
        excitatory.run_on_event("normalise", "normalising = 0")
        excitatory.v = exc_params.v_rest
        excitatory.weights_changed = 1
        zeros = np.zeros(n, dtype=int)
        excitatory.has_image = linked_var(control, "has_image", index=zeros)
        if deferred:
            excitatory.slot_start = linked_var(control, "slot_start", index=zeros)
            # detected after this step's spikes and resets: a first spike in the last
            # step, and this step's input spikes, are settled too
            excitatory.thresholder["slot_end"].when = "end"
        # the rest after the previous presentation: theta relaxes (exactly), the rest resets
        excitatory.namespace["rest_theta_factor"] = p.rest_theta_factor
        resting = "" if p.carry_over else RESTING_STATE_NEURONS
        excitatory.run_regularly(
            resting
            + "theta = theta_relax + (theta - theta_relax) * (1 + has_image * "
            "(rest_theta_factor - 1))\n"
            "post_trace2 = 0\nweight_sum = 0\nfrozen_weight_sum = 0\n"
            "normalising = has_image * weights_changed\n"
            "weights_changed = weights_changed * (1 - has_image)\n"
            + depression["neuron_slot_start"],
            dt=slot_duration, when="start", order=1, name="excitatory_resting",
        )

        inhibitory = inhibitory_group(n, p.inhibitory, name="inhibitory", method=p.integration,
                                      dt=p.dt)
        inhibitory.v = p.inhibitory.v_rest
        for group in (excitatory, inhibitory):
            vectorise_state_updater(group)  # C++ standalone: the neuron loops run in SIMD
            vectorise_thresholder(group)  # most steps have no spike
        for event in events:
            vectorise_thresholder(excitatory, event)  # once per slot
        if not p.carry_over:
            inhibitory.run_regularly(RESTING_STATE_NEURONS, dt=slot_duration, when="start",
                                     order=1, name="inhibitory_resting")

        mem = self.memristor
        on_pre = {"transmission": "ge_post += w"}
        potentiation = mem.pulse_code("eta_post * pre_trace_pre * post_trace2_post")
        on_post = {"post": potentiation}
        on_event = {"post": "spike"}
        if deferred:
            # the depression owed since the neuron's last spike, settled at its next
            # spike (a RESET event before the potentiation's SET event, one pass over
            # the neuron's synapses) and at the end of the slot
            depress = mem.pulse_code(DEFERRED_DEPRESSION, direction="reset")
            on_post.update(post=SETTLE_AT_SPIKE + depress + potentiation,
                           depression_at_slot_end=SETTLE_AT_SLOT_END + depress)
            on_event.update(depression_at_slot_end="slot_end")
        else:
            # a second presynaptic pathway: transmission reads w, then depression writes G
            # (in one block, Brian2 flags the writes to ``ge_post`` next to the random
            # numbers of the pulses as possibly order-dependent)
            on_pre["depression"] = mem.pulse_code("-eta_pre * post_trace1_post", direction="reset")
        if p.weight_total is not None:
            # postsynaptic pathways of the "normalise" event: only the synapses of the
            # neurons being normalised run, first summing, then scaling their weights;
            # frozen (pruned) weights keep their value, the others make up the total
            on_post["weight_sum"] = "weight_sum_post += w\nfrozen_weight_sum_post += w * int(frozen)"
            on_post["normalisation"] = mem.program_code(
                "int(not frozen) * w * (clip((weight_total - frozen_weight_sum_post) / "
                "clip(weight_sum_post - frozen_weight_sum_post, 1e-9, 1e9), 0, 1e9) - 1)"
            )
            on_event.update(weight_sum="normalise", normalisation="normalise")
        input_synapses = memristive_synapses(
            inputs,
            excitatory,
            mem,
            on_pre=on_pre,
            on_post=on_post,
            model=depression["synapse_equations"],
            on_event=on_event,
            connect=None,
            # tau_post1, input_dt, presentation: read by the inputs' ``spike_term``
            # (deferred depression), which Brian2 substitutes into the synaptic code
            namespace={"eta_pre": p.eta_pre, "eta_post": p.eta_post, "tau_post1": p.tau_post1,
                       "input_dt": p.dt, "presentation": p.presentation},
            name="input_synapses",
            dt=p.dt,
        )
        input_synapses.connect()
        if deferred:
            # after the "slot_end" detection
            input_synapses.depression_at_slot_end.when = "end"
            input_synapses.depression_at_slot_end.order = 1
        else:
            # after this step's transmission (order -1), before potentiation (order 1)
            input_synapses.depression.order = 0
            # neurons without a spike in this slot have post_trace1 = 0: their synapses
            # would request no pulse (no random number either), so they are skipped
            gate_pathway(input_synapses.depression, "post_trace1_post")
            # likewise the potentiation of inputs without a spike in this slot
            # (pre_trace = 0 from the slot's start): no pulse, no random number
            gate_pathway(input_synapses.post, "pre_trace_pre")
        for pathway in (*on_pre, *on_post):
            # C++ standalone: the full input matrix is visited without the spike queue
            direct_pathway(getattr(input_synapses, pathway))
        if p.weight_total is not None:
            # before this step's transmission (order -1): the new slot's spikes see
            # normalised weights
            input_synapses.weight_sum.order = -3
            input_synapses.normalisation.order = -2
            input_synapses.namespace["weight_total"] = float(p.weight_total)

        exc_inh = Synapses(excitatory, inhibitory, on_pre="ge_post += exc_to_inh",
                           namespace={"exc_to_inh": p.exc_to_inh}, name="exc_to_inh",
                           dt=p.dt)
        exc_inh.connect(j="i")
        inh_exc = Synapses(inhibitory, excitatory, on_pre="gi_post += inh_to_exc",
                           namespace={"inh_to_exc": p.inh_to_exc}, name="inh_to_exc",
                           dt=p.dt)
        inh_exc.connect(condition="i != j")
        counter = Synapses(excitatory, control, on_pre="count_post += 1",
                           name="spike_counter", dt=p.dt)
        counter.connect()

        self.excitatory_spikes = SpikeMonitor(excitatory, name="excitatory_spikes")
        self.ledger = bool(ledger)
        counters = []
        if self.ledger:
            counters = [
                SpikeMonitor(inputs, record=False, name="input_spike_counter"),
                SpikeMonitor(inhibitory, record=False, name="inhibitory_spike_counter"),
            ]
        self.input_spike_counter, self.inhibitory_spike_counter = counters or (None, None)
        self.control_monitor = StateMonitor(
            control, ["image", "intensity"], record=0, dt=slot_duration, when="start",
            order=5, name="control_monitor",
        )

        self.control = control
        self.inputs = inputs
        self.excitatory = excitatory
        self.inhibitory = inhibitory
        self.input_synapses = input_synapses
        self.exc_to_inh = exc_inh
        self.inh_to_exc = inh_exc
        self.spike_counter = counter
        self.network = Network(
            control, inputs, excitatory, inhibitory, input_synapses, exc_inh, inh_exc,
            counter, self.excitatory_spikes, self.control_monitor, *counters,
        )

    def reset_neurons(self) -> None:
        """Put both neuron groups in the resting state (runtime targets, at a chunk start).

        A standalone run starts from it anyway; with ``carry_over`` a runtime
        network would otherwise carry the last chunk's state into the next.
        """
        for group in (self.excitatory, self.inhibitory):
            for line in RESTING_STATE_NEURONS.strip().splitlines():
                name, value = (part.strip() for part in line.split("="))
                setattr(group, name, value)  # a string: evaluated in the group's namespace

    @property
    def chunk_duration(self) -> Quantity:
        """Simulated time of one chunk (``slots`` slots)."""
        return self.slots * self.params.slot_duration

    @property
    def n_synapses(self) -> int:
        return N_INPUTS * self.params.n_neurons

    def build_key(self) -> str:
        """Digest of everything that shapes the generated code (for build caching)."""
        return network_key(self.card, self.params, self.slots, self.ledger)


def _source_digest() -> str:
    """Digest of the modules that write the network's code (a change means a rebuild)."""
    import neurocbram.neurons
    import neurocbram.pathways
    import neurocbram.standalone_device
    import neurocbram.synapse_functions
    import neurocbram.synapses

    digest = hashlib.sha256()
    for module in (neurocbram.neurons, neurocbram.synapses, neurocbram.synapse_functions,
                   neurocbram.pathways, neurocbram.standalone_device):
        digest.update(Path(module.__file__).read_bytes())
    digest.update(Path(__file__).read_bytes())
    for template in TEMPLATES:
        digest.update(template.read_bytes())
    return digest.hexdigest()


def network_key(
    card: DeviceCard, params: DiehlCookParameters, slots: int, ledger: bool = True
) -> str:
    """Digest naming the standalone build of a network (same key = same generated code)."""
    import brian2

    description = {
        "network": "diehl_cook",
        "version": 2,
        "sources": _source_digest(),
        "brian2": brian2.__version__,
        "slots": int(slots),
        "ledger": bool(ledger),
        "params": params.describe(),
        "card": card.to_dict(),
        "tables": hashlib.sha256(b"".join(t.tobytes() for t in card.transfer_tables)).hexdigest(),
    }
    text = json.dumps(description, sort_keys=True, default=repr)
    return "diehl_cook-" + hashlib.sha256(text.encode()).hexdigest()[:16]


def _main() -> None:  # pragma: no cover - the CLI tests cover the same path
    """Train 50 neurons on 1000 images, label on 300, test on 500 (``neurocbram train`` defaults)."""
    from neurocbram.datasets import load_mnist
    from neurocbram.training import Trainer, evaluate_state

    (images, labels), (test_images, test_labels) = load_mnist("train"), load_mnist("test")
    params = DiehlCookParameters(n_neurons=50)
    trainer = Trainer(images[:1000], labels[:1000], 1000, card="cbram-shi2018", params=params,
                      seed=0, target="standalone")
    result = trainer.train()
    trainer.close()
    evaluation = evaluate_state(result.state, params, images[:300], labels[:300],
                                test_images[:500], test_labels[:500])
    print(f"{result.images} images at {result.images_per_second:.1f} img/s "
          f"(build {result.build_seconds:.1f} s); test accuracy "
          f"{100 * evaluation['accuracy']:.1f}% on 500 images")


if __name__ == "__main__":  # pragma: no cover
    _main()
