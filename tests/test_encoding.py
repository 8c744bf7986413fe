"""Rate encoding of images and event streams -> SpikeGeneratorGroup input."""

from __future__ import annotations

import numpy as np
import pytest
from brian2 import (
    Hz,
    Network,
    SpikeGeneratorGroup,
    SpikeMonitor,
    defaultclock,
    ms,
    prefs,
    second,
    us,
)

from neurocbram.encoding import DIEHL_COOK_MAX_RATE, events_to_spike_generator, image_rates

EVENT_DTYPE = np.dtype([("x", "<i8"), ("y", "<i8"), ("t", "<i8"), ("p", "<i8")])
FLOAT_T = np.dtype([("x", "<i8"), ("y", "<i8"), ("t", "<f8"), ("p", "<i8")])
FLOAT_XY = np.dtype([("x", "<f8"), ("y", "<f8"), ("t", "<i8"), ("p", "<i8")])


def make_events(rows: list[tuple[int, int, int, int]], dtype: np.dtype = EVENT_DTYPE) -> np.ndarray:
    return np.array(rows, dtype=dtype)


# --- image_rates ------------------------------------------------------------------------


def test_image_rates_pixel_over_four_hz():
    images = np.array([[0, 4, 128, 255]], dtype=np.uint8)
    rates = image_rates(images)
    assert rates.shape == images.shape
    assert rates.dim == Hz.dim
    np.testing.assert_allclose(np.asarray(rates / Hz), [[0.0, 1.0, 32.0, 63.75]])
    assert DIEHL_COOK_MAX_RATE == 63.75 * Hz


def test_image_rates_intensity_and_max_rate_scale_linearly():
    images = np.full((2, 28, 28), 255, dtype=np.uint8)
    np.testing.assert_allclose(np.asarray(image_rates(images, intensity=2.0) / Hz), 127.5)
    raised = image_rates(images, max_rate=(63.75 + 32) * Hz)
    np.testing.assert_allclose(np.asarray(raised / Hz), 95.75)
    assert image_rates(images).shape == (2, 28, 28)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"images": np.array([256.0])}, "0..255"),
        ({"images": np.array([-1])}, "0..255"),
        ({"images": np.array([np.nan])}, "0..255"),
        ({"images": np.array([1]), "max_rate": 63.75}, "units"),
        ({"images": np.array([1]), "max_rate": 63.75 * ms}, "units"),
        ({"images": np.array([1]), "intensity": -1.0}, "intensity"),
    ],
)
def test_image_rates_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        image_rates(**kwargs)


# --- events_to_spike_generator ----------------------------------------------------------


def test_index_is_y_times_width_plus_x():
    # width 4, height 3: (x=1, y=2) -> 9; (x=3, y=0) -> 3
    events = make_events([(1, 2, 100, 1), (3, 0, 50, 0)])
    indices, times, n = events_to_spike_generator(events, (4, 3, 2), dt=0.1 * ms)
    assert n == 12
    assert indices.tolist() == [3, 9]  # sorted by time
    np.testing.assert_allclose(np.asarray(times / us), [50, 100])
    assert times.dim == second.dim
    assert indices.dtype == np.int32


@pytest.mark.parametrize(
    "polarity, expected_indices, expected_n",
    [
        ("both", [0, 1, 1], 4),
        ("on", [0, 1], 4),
        ("off", [1], 4),
        ("separate", [0, 1 + 4, 1], 8),  # OFF events shifted by width * height
    ],
)
def test_polarity_modes(polarity, expected_indices, expected_n):
    # 2x2 sensor: ON at (0, 0), t=0; OFF at (1, 0), t=1 ms; ON at (1, 0), t=2 ms
    events = make_events([(0, 0, 0, 1), (1, 0, 1000, 0), (1, 0, 2000, 1)])
    indices, _, n = events_to_spike_generator(events, (2, 2), polarity=polarity)
    assert n == expected_n
    assert indices.tolist() == expected_indices


def test_off_polarity_minus_one_and_bool_fields():
    dtype = np.dtype([("x", "<u2"), ("y", "<u2"), ("p", "?"), ("t", "<f8")])
    events = np.array([(0, 1, False, 5.0), (1, 1, True, 7.0)], dtype=dtype)
    indices, _, n = events_to_spike_generator(events, (2, 2, 2), polarity="separate")
    assert (indices.tolist(), n) == ([2 + 4, 3], 8)
    minus = make_events([(0, 0, 0, -1)])
    assert events_to_spike_generator(minus, (2, 2), polarity="off")[0].tolist() == [0]
    assert events_to_spike_generator(minus, (2, 2), polarity="on")[0].tolist() == []


def test_duplicates_within_one_step_are_dropped_keeping_the_earliest():
    dt = 0.1 * ms  # 100 us
    events = make_events(
        [
            (0, 0, 10, 1),  # bin 0, kept
            (0, 0, 90, 1),  # bin 0, same neuron -> dropped
            (1, 0, 50, 1),  # bin 0, other neuron -> kept
            (0, 0, 100, 1),  # exactly at the next step -> bin 1, kept
            (0, 0, 199, 0),  # bin 1 again (OFF, but polarity "both") -> dropped
            (0, 0, 205, 1),  # bin 2, kept
        ]
    )
    indices, times, _ = events_to_spike_generator(events, (2, 1), dt=dt)
    assert list(zip(indices.tolist(), np.round(np.asarray(times / us)).tolist(), strict=True)) == [
        (0, 10),
        (1, 50),
        (0, 100),
        (0, 205),
    ]
    # with "separate", the OFF event at 199 us is on another neuron and survives
    indices, times, _ = events_to_spike_generator(events, (2, 1), polarity="separate", dt=dt)
    assert (2, 199) in zip(indices.tolist(), np.round(np.asarray(times / us)).tolist(), strict=True)


def test_time_unit_and_default_dt():
    events = make_events([(0, 0, 4, 1), (0, 0, 5, 1)])
    _, times, _ = events_to_spike_generator(events, (1, 1), time_unit=ms)
    np.testing.assert_allclose(np.asarray(times / ms), [4, 5])
    defaultclock.dt = 2 * ms  # both events now share one step
    assert len(events_to_spike_generator(events, (1, 1), time_unit=ms)[0]) == 1


def test_empty_event_stream():
    indices, times, n = events_to_spike_generator(make_events([]), (3, 2))
    assert (len(indices), len(times), n) == (0, 0, 6)


@pytest.mark.parametrize(
    "events, kwargs, match",
    [
        (np.zeros(3), {}, "structured"),
        (np.zeros(2, dtype=[("x", "i8"), ("y", "i8"), ("t", "i8")]), {}, r"\['p'\]"),
        (make_events([(0, 0, -5, 1)]), {}, "negative event time"),
        (make_events([(0, 0, np.nan, 1)], FLOAT_T), {}, "non-finite event time"),
        (make_events([(0.5, 0, 1, 1)], FLOAT_XY), {}, "field 'x' must be integer"),
        (make_events([(4, 0, 5, 1)]), {}, "outside sensor_size.*x=4"),
        (make_events([(0, 3, 5, 1)]), {}, "outside sensor_size.*y=3"),
        (make_events([(-1, 0, 5, 1)]), {}, "outside sensor_size"),
        (make_events([(0, 0, 5, 2)]), {}, "polarity values"),
        (make_events([(0, 0, 5, 1)]), {"polarity": "all"}, "polarity must be one of"),
        (make_events([(0, 0, 5, 1)]), {"time_unit": 1e-6}, "time_unit"),
        (make_events([(0, 0, 5, 1)]), {"dt": 0.1 * Hz}, "dt"),
    ],
)
def test_event_errors(events, kwargs, match):
    with pytest.raises(ValueError, match=match):
        events_to_spike_generator(events, (4, 3, 2), **kwargs)


def test_spike_generator_group_emits_exactly_the_expected_spikes():
    """Run the output through Brian2 (numpy target): every kept event is one spike."""
    prefs.codegen.target = "numpy"
    dt = 0.1 * ms
    rng = np.random.default_rng(3)
    width, height, count = 5, 4, 400
    events = np.zeros(count, dtype=EVENT_DTYPE)
    events["x"] = rng.integers(0, width, count)
    events["y"] = rng.integers(0, height, count)
    events["t"] = rng.integers(0, 20_000, count)  # 0..20 ms in us, many same-step repeats
    events["p"] = rng.integers(0, 2, count)
    indices, times, n = events_to_spike_generator(
        events, (width, height, 2), polarity="separate", dt=dt
    )
    assert 0 < len(indices) < count  # some duplicates were dropped
    group = SpikeGeneratorGroup(n, indices, times, dt=dt)
    monitor = SpikeMonitor(group)
    Network(group, monitor).run(21 * ms)

    steps = np.asarray((np.asarray(times / second) + 1e-3 * 1e-4) / 1e-4, dtype=np.int64)
    expected = sorted(zip(steps.tolist(), indices.tolist(), strict=True))
    seen_steps = np.round(np.asarray(monitor.t / dt)).astype(np.int64)
    seen = sorted(zip(seen_steps.tolist(), np.asarray(monitor.i).tolist(), strict=True))
    assert seen == expected
    # the raw stream (no deduplication) would be rejected by Brian2 itself
    raw_index = np.where(events["p"] == 1, 0, width * height) + events["y"] * width + events["x"]
    raw = SpikeGeneratorGroup(n, raw_index, events["t"] * us, dt=dt)
    with pytest.raises(Exception) as info:
        Network(raw).run(dt)
    chain, error = [], info.value
    while error is not None:
        chain.append(str(error))
        error = error.__cause__ or error.__context__
    assert any("more than once" in message for message in chain)


def test_matches_tonic_frames_for_an_nmnist_like_stream():
    """Per-pixel event counts agree with tonic's own ToFrame on tonic's NMNIST dtype."""
    tonic = pytest.importorskip("tonic")
    sensor_size = tonic.datasets.NMNIST.sensor_size  # (34, 34, 2)
    rng = np.random.default_rng(7)
    count = 2000
    events = tonic.io.make_structured_array(
        rng.integers(0, sensor_size[0], count),
        rng.integers(0, sensor_size[1], count),
        np.sort(rng.choice(300_000, count, replace=False)),  # distinct times, us
        rng.integers(0, 2, count),
        dtype=tonic.datasets.NMNIST.dtype,
    )
    indices, _, n = events_to_spike_generator(events, sensor_size, polarity="separate", dt=1 * us)
    assert len(indices) == count and n == 2 * 34 * 34
    # one frame of all events (event_count: time binning would drop the last event)
    frames = tonic.transforms.ToFrame(sensor_size=sensor_size, event_count=count)(events)
    assert frames.shape == (1, 2, 34, 34) and frames.sum() == count
    counts = np.bincount(indices, minlength=n)
    np.testing.assert_array_equal(counts[: 34 * 34], frames[0, 1].ravel())  # ON
    np.testing.assert_array_equal(counts[34 * 34 :], frames[0, 0].ravel())  # OFF
