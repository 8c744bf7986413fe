"""Energy ledger: pricing arithmetic, baseline data, bad input."""

from __future__ import annotations

import pytest

from neurocbram.devices.card import DeviceCard
from neurocbram.energy import OperationCounts, load_digital_baseline, price


def _card() -> DeviceCard:
    return DeviceCard.from_dict(
        {
            "name": "energy-test",
            "citation": "test",
            "conductance": {"g_min": "1 uS", "g_max": "10 uS"},
            "levels": 10,
            "pulses": {"set": {"amplitude": "1 V", "width": "1 us"},
                       "reset": {"amplitude": "-1 V", "width": "1 us"}},
            "energy": {"set_pulse": "2 pJ", "reset_pulse": "3 pJ", "read": "0.5 fJ"},
            "response": {"model": "linear"},
        }
    )


def test_price_multiplies_counts_by_card_and_baseline_energies():
    counts = OperationCounts(images=2, set_pulses=10, reset_pulses=4, update_events=12,
                             synaptic_reads=1000, spikes={"excitatory": 7})
    baseline = load_digital_baseline("horowitz-45nm", memory="sram1m")
    report = price(counts, _card(), baseline)
    assert report.memristive["set_pulses"] == pytest.approx(10 * 2e-12)
    assert report.memristive["reset_pulses"] == pytest.approx(4 * 3e-12)
    assert report.memristive["reads"] == pytest.approx(1000 * 0.5e-15)
    # 1 MB SRAM 32-bit read 50 pJ, fp32 add 0.9 pJ, fp32 mult 3.7 pJ (Horowitz 2014)
    assert baseline.read_energy == pytest.approx(50.9e-12)
    assert baseline.update_energy == pytest.approx((50 + 3.7 + 0.9 + 50) * 1e-12)
    assert report.digital["updates"] == pytest.approx(12 * 104.6e-12)
    assert report.per_image()["memristive"] == pytest.approx(report.memristive_total / 2)
    assert report.to_dict()["digital_over_memristive"] == pytest.approx(
        report.digital_total / report.memristive_total
    )


def test_counts_add_and_reject_negative_values():
    total = OperationCounts(images=1, set_pulses=2, spikes={"e": 1}) + OperationCounts(
        images=2, reset_pulses=3, spikes={"e": 2, "i": 1}
    )
    assert (total.images, total.write_pulses, total.spikes) == (3, 5, {"e": 3, "i": 1})
    with pytest.raises(ValueError, match="set_pulses"):
        OperationCounts(set_pulses=-1)


def test_unknown_baseline_and_memory_are_named():
    with pytest.raises(ValueError, match="unknown digital baseline 'tpu'"):
        load_digital_baseline("tpu")
    with pytest.raises(ValueError, match="sram4g_read_word"):
        load_digital_baseline(memory="sram4g")
    with pytest.raises(ValueError, match="spike_energy"):
        price(OperationCounts(), _card(), spike_energy=-1.0)
