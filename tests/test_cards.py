"""Bundled device cards: they load, validate, cite their numbers, plot, and the CLI shows them."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from neurocbram.devices import CARDS_DIR, DEFAULT_CARD, list_cards, load_card
from neurocbram.devices.plotting import plot_card

EXPECTED = {
    "cbram-shi2018", "ag-a-si-jo2010", "taox-hfox-wu2018", "pcmo-park2013", "alox-hfo2-woo2016",
    "epiram-choi2018", "rram-crosssim-lookup", "ideal-linear",
}
SOURCES = ("published", "assumed", "derived", "measured", "fitted", "prepared")


def test_list_cards_returns_all_bundled():
    assert EXPECTED <= set(list_cards())
    assert DEFAULT_CARD in list_cards()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_card_loads_and_validates(name):
    card = load_card(name)
    card.validate()
    assert card.name == name == card.source_dir.name
    assert card.citation and card.technology
    assert 0 < card.g_min < card.g_max
    grid, after_set, after_reset = card.transfer_tables
    assert np.all(np.clip(after_set, card.g_min, card.g_max) >= grid - 1e-18)
    assert np.all(np.clip(after_reset, card.g_min, card.g_max) <= grid + 1e-18)


@pytest.mark.parametrize("name", sorted(EXPECTED - {"ideal-linear"}))
def test_provenance_cites_every_number(name):
    card = load_card(name)
    for key in ("g_min", "g_max", "levels", "energy"):
        assert key in card.provenance, (name, key)
    for key, source in card.provenance.items():
        assert source.split(":")[0].split(" ")[0] in SOURCES, (name, key, source)


def test_neurosim_cards_match_design_table():
    rows = {  # levels, on/off, C2C (fraction of range) from DESIGN.md / NeuroSim
        "ag-a-si-jo2010": (97, 12.5, 0.035), "taox-hfox-wu2018": (128, 10, 0.037),
        "pcmo-park2013": (50, 6.84, 0.01), "alox-hfo2-woo2016": (40, 4.43, 0.05),
        "epiram-choi2018": (64, 50.2, 0.02),
    }
    for name, (levels, onoff, c2c) in rows.items():
        card = load_card(name)
        assert card.levels == levels and card.on_off_ratio == pytest.approx(onoff, rel=1e-4)
        assert card.variability.c2c_sigma == pytest.approx(c2c * levels, rel=1e-3)
    assert load_card("ag-a-si-jo2010").response.a_set == pytest.approx(0.499, rel=2e-3)
    assert load_card("ag-a-si-jo2010").response.a_reset == pytest.approx(0.2003, rel=2e-3)


def test_measured_card_keeps_its_data_and_licence():
    folder = CARDS_DIR / "rram-crosssim-lookup"
    for fname in ("set.csv", "reset.csv", "set_curve.csv", "reset_curve.csv", "README.md", "LICENSE-CrossSim.txt"):
        assert (folder / fname).exists(), fname
    assert "BSD" in (folder / "README.md").read_text()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_card_plots(name, tmp_path):
    path = plot_card(load_card(name), tmp_path / f"{name}.png")
    assert path.exists() and path.stat().st_size > 5000


def test_cli_list_and_show(tmp_path, capsys):
    from neurocbram.commands import devices

    parser = argparse.ArgumentParser()
    devices.add_arguments(parser)
    assert devices.run(parser.parse_args([])) == 0
    out = capsys.readouterr().out
    for name in EXPECTED:
        assert name in out
    assert devices.run(parser.parse_args(["show", "rram-crosssim-lookup", "--out", str(tmp_path)])) == 0
    out = capsys.readouterr().out
    assert "table" in out and "residual_rms" in out
    assert (tmp_path / "rram-crosssim-lookup_response.png").exists()
    with pytest.raises(ValueError):
        devices.run(parser.parse_args(["show"]))


def test_cli_main_dispatch(tmp_path, capsys, monkeypatch):
    """Through neurocbram.cli.main, as registered with COMMANDS['devices'] = 'devices'."""
    from neurocbram import cli

    monkeypatch.setattr(cli, "COMMANDS", {"devices": "devices"})
    assert cli.main(["devices"]) == 0
    assert "cbram-shi2018" in capsys.readouterr().out
    assert cli.main(["devices", "show", "cbram-shi2018", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "cbram-shi2018_response.png").exists()
    assert cli.main(["devices", "show", "no-such-card"]) == 2
    assert "unknown device card" in capsys.readouterr().err
