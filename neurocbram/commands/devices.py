"""``neurocbram devices``: list the bundled device cards, or show one and plot its response."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "list device cards, or show one card and write its pulse-response figure"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``[show NAME [--out DIR]]`` to the ``devices`` sub-parser."""
    parser.add_argument("action", nargs="?", choices=("list", "show"), default="list",
                        help="'list' (default) or 'show NAME'")
    parser.add_argument("name", nargs="?", help="bundled card name, or a card.json path / folder (for 'show')")
    parser.add_argument("--out", type=Path, default=Path("."),
                        help="folder for the figure <name>_response.png (default: current folder)")


def _row(card) -> list[str]:
    from neurocbram.devices.units import format_quantity

    onoff = "inf" if card.on_off_ratio == float("inf") else f"{card.on_off_ratio:.3g}"
    return [card.name, card.technology, str(card.levels),
            f"{format_quantity(card.g_min, 'S')} - {format_quantity(card.g_max, 'S')}", onoff,
            card.response.model]


def _list() -> int:
    from neurocbram.devices import DEFAULT_CARD, list_cards, load_card

    header = ["name", "technology", "levels", "Gmin - Gmax", "on/off", "model"]
    rows = [header] + [_row(load_card(name)) for name in list_cards()]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    for k, row in enumerate(rows):
        line = "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()
        print(line + ("   (default)" if k and row[0] == DEFAULT_CARD else ""))
    return 0


def _show(name: str, out: Path) -> int:
    from neurocbram.devices import load_card
    from neurocbram.devices.plotting import plot_card
    from neurocbram.devices.units import format_quantity as fq

    card = load_card(name)
    print(f"{card.name}: {card.technology}")
    print(f"  citation     {card.citation}")
    if card.description:
        print(f"  description  {card.description}")
    print(f"  conductance  {fq(card.g_min, 'S')} - {fq(card.g_max, 'S')} (on/off {card.on_off_ratio:.3g}), "
          f"levels {card.levels}")
    print(f"  SET pulse    {fq(card.set_pulse.amplitude, 'V')}, {fq(card.set_pulse.width, 's')}; "
          f"RESET pulse {fq(card.reset_pulse.amplitude, 'V')}, {fq(card.reset_pulse.width, 's')}")
    print(f"  energy       SET {fq(card.energy.set_pulse, 'J')}, RESET {fq(card.energy.reset_pulse, 'J')}, "
          f"read {fq(card.energy.read, 'J')}")
    r = card.response
    extra = (f", A/Pmax SET {r.a_set:g}, RESET {r.a_reset:g}" if r.model == "exponential"
             else f", curves {r.set_curve} / {r.reset_curve}" if r.model == "table" else "")
    print(f"  response     {r.model}{extra}")
    v = card.variability
    print(f"  variability  c2c {v.c2c_sigma:g}, d2d {v.d2d_sigma:g}, stuck on/off {v.stuck_on_rate:g}/"
          f"{v.stuck_off_rate:g}, write {v.write_sigma:g}")
    if card.fit:
        keys = ("a_set", "a_reset", "nl_set", "nl_reset", "residual_rms", "residual_rel")
        print("  fit          " + ", ".join(f"{k} {card.fit[k]:.4g}" for k in keys if k in card.fit))
    for key, source in card.provenance.items():
        print(f"  [{key}] {source}")
    path = plot_card(card, Path(out) / f"{card.name}_response.png")
    print(f"figure: {path}")
    return 0


def run(args: argparse.Namespace) -> int:
    """List the cards, or show one (``args.action``, ``args.name``, ``args.out``)."""
    if args.action == "show":
        if not args.name:
            raise ValueError("devices show: give a card name (see 'neurocbram devices')")
        return _show(args.name, args.out)
    if args.name:
        raise ValueError(f"unexpected argument {args.name!r}; did you mean 'devices show {args.name}'?")
    return _list()
