"""Every malformed card raises a CardError that names the offending field."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest

from neurocbram.devices import CardError, DeviceCard, load_card

GOOD = {
    "name": "test-card",
    "technology": "test",
    "citation": "none",
    "conductance": {"g_min": "1 uS", "g_max": "10 uS"},
    "levels": 32,
    "pulses": {"set": {"amplitude": "1 V", "width": "100 ns"}, "reset": {"amplitude": "-1 V", "width": "100 ns"}},
    "energy": {"set_pulse": "1 pJ", "reset_pulse": "1 pJ", "read": "1 fJ"},
    "response": {"model": "exponential", "a_set": 0.5, "a_reset": 0.5},
    "variability": {"c2c_sigma": 0.01},
}


def card_dict(**changes) -> dict:
    data = copy.deepcopy(GOOD)
    for key, value in changes.items():
        data[key] = value
    return data


def table_card(tmp_path: Path, set_rows: list[list[str]], reset_rows: list[list[str]] | None = None) -> Path:
    """Write a table card folder; rows are CSV rows under a header."""
    reset_rows = reset_rows if reset_rows is not None else [["10e-6"], ["5e-6"], ["1e-6"]]
    for fname, rows in (("set.csv", set_rows), ("reset.csv", reset_rows)):
        lines = ["cycle1" + "".join(f",cycle{k + 2}" for k in range(len(rows[0]) - 1)) if rows else "cycle1"]
        lines += [",".join(r) for r in rows]
        (tmp_path / fname).write_text("\n".join(lines) + "\n")
    data = card_dict(response={"model": "table", "set_curve": "set.csv", "reset_curve": "reset.csv"})
    (tmp_path / "card.json").write_text(json.dumps(data))
    return tmp_path


def test_good_card_is_accepted(tmp_path):
    assert DeviceCard.from_dict(GOOD).levels == 32
    card = DeviceCard.load(table_card(tmp_path, [["1e-6"], ["5e-6"], ["10e-6"]]))
    assert card.response.model == "table"


def test_missing_conductance():
    data = card_dict()
    del data["conductance"]
    with pytest.raises(CardError, match=r"conductance: missing"):
        DeviceCard.from_dict(data)


def test_missing_g_max():
    with pytest.raises(CardError, match=r"conductance\.g_max: missing"):
        DeviceCard.from_dict(card_dict(conductance={"g_min": "1 uS"}))


def test_negative_conductance():
    with pytest.raises(CardError, match=r"g_min: must be >= 0"):
        DeviceCard.from_dict(card_dict(conductance={"g_min": "-1 uS", "g_max": "10 uS"}))


def test_gmin_not_below_gmax():
    with pytest.raises(CardError, match=r"g_min: must be below g_max"):
        DeviceCard.from_dict(card_dict(conductance={"g_min": "10 uS", "g_max": "10 uS"}))


def test_non_monotonic_measured_curve(tmp_path):
    with pytest.raises(CardError, match=r"measured_set: the mean SET curve must increase"):
        DeviceCard.load(table_card(tmp_path, [["1e-6"], ["5e-6"], ["4e-6"], ["10e-6"]]))


def test_nan_in_measured_curve(tmp_path):
    with pytest.raises(CardError, match=r"measured_set: contains NaN"):
        DeviceCard.load(table_card(tmp_path, [["1e-6"], ["nan"], ["10e-6"]]))


def test_nan_in_model_parameter():
    with pytest.raises(CardError, match=r"response\.a_set"):
        DeviceCard.from_dict(card_dict(response={"model": "exponential", "a_set": float("nan"), "a_reset": 0.5}))


def test_empty_measured_data(tmp_path):
    with pytest.raises(CardError, match=r"empty data"):
        DeviceCard.load(table_card(tmp_path, []))


def test_empty_array_in_constructor():
    base = DeviceCard.from_dict(GOOD)
    from dataclasses import replace

    from neurocbram.devices import Response

    with pytest.raises(CardError, match=r"measured_set: .*empty data"):
        replace(base, response=Response(model="table", set_curve="s.csv", reset_curve="r.csv"),
                measured_set=np.zeros((0, 1)), measured_reset=np.array([[2e-6], [1e-6]]))


@pytest.mark.parametrize("field", ["stuck_on_rate", "stuck_off_rate"])
@pytest.mark.parametrize("value", [1.5, -0.1])
def test_rates_outside_unit_interval(field, value):
    with pytest.raises(CardError, match=rf"variability\.{field}"):
        DeviceCard.from_dict(card_dict(variability={field: value}))


def test_rates_sum_above_one():
    with pytest.raises(CardError, match=r"variability: stuck_on_rate \+ stuck_off_rate exceeds 1"):
        DeviceCard.from_dict(card_dict(variability={"stuck_on_rate": 0.6, "stuck_off_rate": 0.6}))


def test_unknown_model_name():
    with pytest.raises(CardError, match=r"response\.model: unknown model 'sigmoid'"):
        DeviceCard.from_dict(card_dict(response={"model": "sigmoid"}))


def test_unknown_units():
    with pytest.raises(CardError, match=r"conductance\.g_max: unknown unit 'uF'"):
        DeviceCard.from_dict(card_dict(conductance={"g_min": "1 uS", "g_max": "10 uF"}))


def test_wrong_dimension_units():
    with pytest.raises(CardError, match=r"pulses\.set\.width: unit 'uV' is a voltage"):
        DeviceCard.from_dict(card_dict(pulses={"set": {"amplitude": "1 V", "width": "1 uV"},
                                               "reset": {"amplitude": "-1 V", "width": "1 us"}}))


def test_unknown_variability_field():
    with pytest.raises(CardError, match=r"variability: unknown field"):
        DeviceCard.from_dict(card_dict(variability={"c2c": 0.1}))


def test_bad_json_file_path(tmp_path):
    missing = tmp_path / "nowhere" / "card.json"
    with pytest.raises(FileNotFoundError, match=r"card\.json does not exist"):
        DeviceCard.load(missing)
    with pytest.raises(FileNotFoundError):
        load_card(str(missing))


def test_unknown_bundled_name():
    with pytest.raises(CardError, match=r"unknown device card 'no-such-card'"):
        load_card("no-such-card")


def test_invalid_json(tmp_path):
    path = tmp_path / "card.json"
    path.write_text("{not json")
    with pytest.raises(CardError, match=r"not valid JSON"):
        DeviceCard.load(path)


def test_missing_curve_file(tmp_path):
    folder = table_card(tmp_path, [["1e-6"], ["5e-6"], ["10e-6"]])
    (folder / "set.csv").unlink()
    with pytest.raises(CardError, match=r"curve file .*set\.csv does not exist"):
        DeviceCard.load(folder)
