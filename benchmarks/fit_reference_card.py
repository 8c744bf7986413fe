"""Regenerate the bundled table card ``rram-crosssim-lookup`` from the CrossSim ramps.

Reads ``set.csv`` / ``reset.csv`` (Sandia CrossSim lookup-table example,
BSD-3-Clause), fits the NeuroSim model (:mod:`neurocbram.devices.fitting`),
writes the card folder (card.json, the prepared curves set_curve.csv /
reset_curve.csv, the raw CSVs, LICENSE and README) and prints one JSON object
with the fit. Usage::

    python benchmarks/fit_reference_card.py [--data DIR] [--card-dir DIR] [--figure PNG]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from neurocbram.devices import CARDS_DIR, PulseEnergy, PulseShape
from neurocbram.devices.fitting import card_from_measurements, fit_measurements, read_ramps_csv

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "reference" / "crosssim-lookup-example"
NAME = "rram-crosssim-lookup"
CITATION = (
    "Sandia National Laboratories, CrossSim (github.com/sandialabs/cross-sim), "
    "examples/lookup_table_generation/lookup_table_example/{set,reset}.csv, BSD-3-Clause; "
    "S. Agarwal et al., 'Resistive memory device requirements for a neural algorithm "
    "accelerator', IJCNN 2016 (CrossSim lookup-table method)"
)
SANDIA_NOTICE = (
    "Copyright 2017 Sandia Corporation. Under the terms of Contract DE-AC04-94AL85000 with\n"
    "Sandia Corporation, the U.S. Government retains certain rights in this software."
)


def build(data_dir: Path, card_dir: Path, figure: Path | None = None) -> dict:
    """Fit the ramps in ``data_dir``, write the card into ``card_dir``; return the fit summary."""
    raw_set = read_ramps_csv(data_dir / "set.csv")
    raw_reset = read_ramps_csv(data_dir / "reset.csv")
    read_v = 0.1  # assumed read voltage for the read-energy estimate
    card = card_from_measurements(
        NAME, raw_set, raw_reset,
        technology="resistive memory (CrossSim lookup-table example)",
        citation=CITATION,
        description=(
            "Table card from 39 SET and 40 RESET ramps of one resistive memory device under "
            "identical pulses (CrossSim lookup-table example data; the device type is not named "
            "beside the files). The response follows the mean measured ramps."
        ),
        set_pulse=PulseShape(1.0, 100e-9),
        reset_pulse=PulseShape(-1.0, 100e-9),
        energy=PulseEnergy(set_pulse=1.0**2 * 2.1e-4 * 100e-9, reset_pulse=1.0**2 * 2.1e-4 * 100e-9,
                           read=read_v**2 * 2.1e-4 * 10e-9),
        provenance={
            "set_pulse": "assumed: pulse shape not given beside the data; 1 V, 100 ns placeholder",
            "reset_pulse": "assumed: pulse shape not given beside the data; -1 V, 100 ns placeholder",
            "energy": "assumed: estimate V^2 * G * width with G = 210 uS (mid-range), 1 V, 100 ns; "
                      "read 0.1 V for 10 ns",
            "citation": "published: CrossSim repository (BSD-3-Clause, notice in LICENSE-CrossSim.txt)",
        },
    )
    card_dir.mkdir(parents=True, exist_ok=True)
    card.save(card_dir)
    for name in ("set.csv", "reset.csv"):
        shutil.copyfile(data_dir / name, card_dir / name)
    fit = fit_measurements(card.measured_set, card.measured_reset)
    if figure is not None:
        from neurocbram.devices.plotting import plot_fit

        plot_fit(card.measured_set, card.measured_reset, fit, figure, title=NAME)
    return {
        "card": NAME, "g_min_S": card.g_min, "g_max_S": card.g_max, "levels": card.levels,
        "c2c_sigma": card.variability.c2c_sigma, "d2d_sigma": card.variability.d2d_sigma,
        "fit": fit.to_dict(), "preparation": {k: card.provenance[k] for k in ("measured_set", "measured_reset")},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with set.csv and reset.csv")
    parser.add_argument("--card-dir", type=Path, default=CARDS_DIR / NAME, help="card folder to (re)write")
    parser.add_argument("--figure", type=Path, default=None, help="write a data-vs-fit figure here")
    args = parser.parse_args(argv)
    print(json.dumps(build(args.data, args.card_dir, args.figure), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
