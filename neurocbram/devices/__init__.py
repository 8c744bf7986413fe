"""Device cards: data model, bundled cards, fitting and variability.

>>> from neurocbram.devices import load_card
>>> card = load_card("cbram-shi2018")        # doctest: +SKIP
>>> card.g_after_set(card.g_min)             # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

from .card import (
    TRANSFER_TABLE_POINTS,
    CardError,
    DeviceCard,
    PulseEnergy,
    PulseShape,
    Response,
    Variability,
)

__all__ = [
    "CARDS_DIR",
    "DEFAULT_CARD",
    "TRANSFER_TABLE_POINTS",
    "CardError",
    "DeviceCard",
    "PulseEnergy",
    "PulseShape",
    "Response",
    "Variability",
    "list_cards",
    "load_card",
]

#: folder of the bundled cards, one sub-folder (holding card.json) per card
CARDS_DIR = Path(__file__).parent / "cards"

#: the default card: subquantum CBRAM of Shi et al., Nat. Commun. 9:5312 (2018)
DEFAULT_CARD = "cbram-shi2018"


def list_cards() -> list[str]:
    """Names of the bundled cards."""
    return sorted(p.name for p in CARDS_DIR.iterdir() if (p / "card.json").exists())


def load_card(name_or_path: str | Path | DeviceCard = DEFAULT_CARD) -> DeviceCard:
    """A bundled card by name, or a card from a ``card.json`` path or folder."""
    if isinstance(name_or_path, DeviceCard):
        return name_or_path
    candidate = Path(name_or_path)
    if candidate.suffix == ".json" or candidate.is_dir():
        return DeviceCard.load(candidate)
    bundled = CARDS_DIR / str(name_or_path)
    if (bundled / "card.json").exists():
        return DeviceCard.load(bundled)
    raise CardError(
        f"unknown device card {str(name_or_path)!r}: not a bundled card "
        f"({', '.join(list_cards()) or 'none bundled'}) nor a card.json file or folder"
    )
