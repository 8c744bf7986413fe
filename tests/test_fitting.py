"""Fitting measured ramps to the NeuroSim model; NL labels; the CrossSim table card."""

from __future__ import annotations

import math

import numpy as np
import pytest

from neurocbram.devices import CARDS_DIR, CardError, DeviceCard, PulseEnergy, PulseShape, load_card
from neurocbram.devices.fitting import (
    a_from_nl,
    card_from_measurements,
    fit_measurements,
    model_ramp,
    nl_from_a,
    normalized_curve,
    prepare_curves,
    read_ramps_csv,
)

#: NL label <-> A/Pmax points quoted in DESIGN.md section 2 (NeuroSim table)
TABLE = [(2.4, 0.499), (4.88, 0.2003), (1.0, 1.2517), (0.5, 2.52)]


def synthetic(a_set, a_reset, g_min=1e-6, g_max=1e-5, p_max=100, ramps=20, noise=0.01, seed=0):
    rng = np.random.default_rng(seed)
    n = np.arange(p_max + 1)[:, None]
    span = g_max - g_min
    s = model_ramp(n, g_min, g_max, p_max, a_set, "set") + noise * span * rng.standard_normal((p_max + 1, ramps))
    r = model_ramp(n, g_min, g_max, p_max, a_reset, "reset") + noise * span * rng.standard_normal((p_max + 1, ramps))
    return s, r


@pytest.mark.parametrize("nl, a", TABLE)
def test_nl_mapping_reproduces_table(nl, a):
    assert a_from_nl(nl) == pytest.approx(a, rel=2e-3)
    assert nl_from_a(a) == pytest.approx(nl, rel=2e-3)
    assert a_from_nl(-nl) == pytest.approx(-a, rel=2e-3)


@pytest.mark.parametrize("a", [0.05, 0.3, 1.0, 7.0, 100.0, -0.7])
def test_nl_mapping_round_trip(a):
    assert a_from_nl(nl_from_a(a)) == pytest.approx(a, rel=1e-6)


def test_linear_limit():
    assert nl_from_a(math.inf) == 0.0 and a_from_nl(0.0) == math.inf
    x = np.linspace(0, 1, 11)
    np.testing.assert_allclose(normalized_curve(x, 1e9), x, atol=1e-8)
    with pytest.raises(ValueError):
        a_from_nl(11.0)


@pytest.mark.parametrize("a_set, a_reset", [(0.5, 0.2), (2.0, 0.8), (-0.6, 5.0)])
def test_fit_recovers_synthetic_parameters(a_set, a_reset):
    s, r = synthetic(a_set, a_reset)
    fit = fit_measurements(s, r)
    # compare curvatures 1/a (well conditioned, also for near-linear ramps)
    assert 1 / fit.a_set == pytest.approx(1 / a_set, abs=0.1 + 0.03 * abs(1 / a_set))
    assert 1 / fit.a_reset == pytest.approx(1 / a_reset, abs=0.1 + 0.03 * abs(1 / a_reset))
    assert fit.g_min == pytest.approx(1e-6, abs=0.01 * 9e-6)
    assert fit.g_max == pytest.approx(1e-5, abs=0.01 * 9e-6)
    assert fit.p_max == 100 and fit.on_off_ratio == pytest.approx(10, rel=0.05)
    assert fit.residual_rel == pytest.approx(0.01, rel=0.1)  # the injected noise
    assert fit.nl_set == pytest.approx(nl_from_a(a_set), abs=0.1)


def test_fit_statistics_of_noise_free_ramps():
    s, r = synthetic(1.0, 1.0, noise=0.0)
    fit = fit_measurements(s, r)
    assert fit.residual_rel < 1e-6 and fit.c2c_sigma < 1e-6 and fit.d2d_sigma < 1e-4
    assert fit.a_set == pytest.approx(1.0, rel=1e-4)
    assert fit.levels_effective < fit.levels_set  # nonlinear: coarsest step > mean step


def test_fit_measures_ramp_speed_spread():
    """Ramps that run at speeds s_j along one curve give d2d = std(ln s_j)."""
    rng = np.random.default_rng(3)
    speeds = np.exp(0.1 * rng.standard_normal(30))
    n = np.arange(200)[:, None]
    s = model_ramp(np.minimum(n * speeds, 199), 1e-6, 1e-5, 199, 0.7, "set")
    r = model_ramp(np.minimum(n * speeds, 199), 1e-6, 1e-5, 199, 0.7, "reset")
    s, r = s[:120], r[:120]
    fit = fit_measurements(s, r)
    assert fit.d2d_sigma == pytest.approx(np.std(np.log(speeds)), rel=0.1)


def test_prepare_curves_cuts_ragged_ramps_and_trims():
    s = np.array([[1, 1], [2, 2], [3, 3], [4, np.nan]], dtype=float)
    out, note = prepare_curves(s, "set")
    assert out.shape == (3, 2) and "shortest" in note
    bumpy = np.array([[1.0], [2.0], [3.0], [2.5], [4.0]])
    out, note = prepare_curves(bumpy, "set")
    assert out.shape == (3, 1) and "dropped" in note
    with pytest.raises(CardError, match="NaN inside"):
        prepare_curves(np.array([[1.0], [np.nan], [3.0]]), "set")
    with pytest.raises(CardError, match="empty data"):
        prepare_curves(np.zeros((0, 2)), "set")


def test_card_from_synthetic_measurements(tmp_path):
    s, r = synthetic(0.5, 0.5, noise=0.002)
    card = card_from_measurements("synthetic", s, r, technology="t", citation="c",
                                  set_pulse=PulseShape(1, 1e-7), reset_pulse=PulseShape(-1, 1e-7),
                                  energy=PulseEnergy(1e-12, 1e-12, 1e-15))
    assert card.response.model == "table" and card.fit["a_set"] == pytest.approx(0.5, rel=0.05)
    assert abs(card.levels - 100) <= 2
    card.save(tmp_path)
    again = DeviceCard.load(tmp_path)
    assert again == card


# ------------------------------------------------------------- CrossSim data
CROSSSIM = CARDS_DIR / "rram-crosssim-lookup"


@pytest.fixture(scope="module")
def crosssim_fit():
    return fit_measurements(read_ramps_csv(CROSSSIM / "set_curve.csv"), read_ramps_csv(CROSSSIM / "reset_curve.csv"))


def test_crosssim_fit_residuals_are_small(crosssim_fit):
    """Measured (2026-11): RMS 1.51 uS = 1.81 % of the range, max 5.7 uS; bounds leave ~40 % margin."""
    fit = crosssim_fit
    assert fit.residual_rel < 0.025
    assert fit.residual_max < 8e-6
    assert fit.residual_rms_set < 2.2e-6 and fit.residual_rms_reset < 2.2e-6


def test_crosssim_fit_shape_and_variation(crosssim_fit):
    fit = crosssim_fit
    assert fit.a_set < 0  # SET steps grow along the ramp (0.2 -> 0.77 uS)
    assert abs(fit.nl_reset) < 0.5  # RESET ramp nearly linear
    assert 160e-6 < fit.g_min < 168e-6 and 243e-6 < fit.g_max < 250e-6
    assert 0.05 < fit.c2c_sigma < 0.3 and 0.0 < fit.d2d_sigma < 0.06
    assert fit.n_ramps_set == 39 and fit.n_ramps_reset == 40


def test_crosssim_card_matches_its_data(crosssim_fit):
    card = load_card("rram-crosssim-lookup")
    assert card.response.model == "table"
    assert card.fit["a_set"] == pytest.approx(crosssim_fit.a_set, rel=1e-6)
    assert card.variability.c2c_sigma == pytest.approx(crosssim_fit.c2c_sigma, abs=1e-4)
    raw = read_ramps_csv(CROSSSIM / "set.csv")
    assert raw.shape == (192, 39) and card.measured_set.shape == (185, 39)
    np.testing.assert_array_equal(card.measured_set, raw[:185])
    assert (CROSSSIM / "LICENSE-CrossSim.txt").read_text().count("Sandia Corporation") >= 1
