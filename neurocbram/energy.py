"""Energy ledger: operation counts from a simulation priced in joules.

The memristive side prices every SET and RESET pulse and every synaptic read
with the device card's per-operation energies (:class:`DeviceCard.energy`).
The digital baseline performs the *same* work on a conventional processor:
each synaptic read fetches a 32-bit weight from memory and accumulates it (one
add); each weight update reads the weight, computes the change (one multiply,
one add) and writes it back. Its per-operation energies come from
``neurocbram/data/digital_baselines.json``, where every figure carries its
source (Horowitz, ISSCC 2014, 45 nm) and whether it is published or assumed.

A weight update of the memristive network may take several pulses (or none,
when stochastic rounding draws zero); the digital baseline pays one
read-modify-write per *update request* of the learning rule on a synapse
that is not frozen (the training driver counts them exactly from the
compiled network's spike counters: one per input spike per target, one per
excitatory spike per input, one per synapse per normalisation), so both
sides run the same learning rule.

Neuron (spike) energy is not priced by default: cards describe synapses, not
neuron circuits. Pass ``spike_energy`` to include it (and say where it came
from).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from .devices.card import DeviceCard
from .devices.units import parse_quantity

__all__ = [
    "OperationCounts",
    "DigitalBaseline",
    "EnergyReport",
    "load_digital_baseline",
    "price",
]


@dataclass
class OperationCounts:
    """Counts of every priced operation over some number of images.

    ``set_pulses`` / ``reset_pulses``: pulses applied to devices.
    ``update_events``: update requests of the learning rule on synapses that
    are not frozen (what a digital implementation computes and writes).
    ``skipped_frozen``: pulses the rule asked for on frozen (pruned) synapses,
    not issued.
    ``synaptic_reads``: one per presynaptic spike per target synapse.
    ``spikes``: spikes per population name.
    """

    images: int = 0
    set_pulses: int = 0
    reset_pulses: int = 0
    update_events: int = 0
    skipped_frozen: int = 0
    synaptic_reads: int = 0
    spikes: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            values = value.values() if isinstance(value, dict) else [value]
            if any(int(v) != v or v < 0 for v in values):
                raise ValueError(f"OperationCounts.{name} must be a non-negative integer, got {value!r}")

    def __add__(self, other: OperationCounts) -> OperationCounts:
        spikes = dict(self.spikes)
        for name, count in other.spikes.items():
            spikes[name] = spikes.get(name, 0) + count
        return OperationCounts(
            images=self.images + other.images,
            set_pulses=self.set_pulses + other.set_pulses,
            reset_pulses=self.reset_pulses + other.reset_pulses,
            update_events=self.update_events + other.update_events,
            skipped_frozen=self.skipped_frozen + other.skipped_frozen,
            synaptic_reads=self.synaptic_reads + other.synaptic_reads,
            spikes=spikes,
        )

    @property
    def write_pulses(self) -> int:
        """SET + RESET pulses."""
        return self.set_pulses + self.reset_pulses


@dataclass(frozen=True)
class DigitalBaseline:
    """Per-operation energies (J) of the digital baseline and where they come from."""

    name: str
    citation: str
    memory_read: float
    memory_write: float
    add: float
    multiply: float
    sources: dict[str, str]

    @property
    def read_energy(self) -> float:
        """One synaptic read: fetch the weight and accumulate it (J)."""
        return self.memory_read + self.add

    @property
    def update_energy(self) -> float:
        """One weight update: read, multiply-add, write back (J)."""
        return self.memory_read + self.multiply + self.add + self.memory_write


@cache
def _baselines() -> dict[str, Any]:
    text = resources.files("neurocbram").joinpath("data/digital_baselines.json").read_text()
    return json.loads(text)["baselines"]


def load_digital_baseline(
    name: str = "horowitz-45nm", memory: str = "sram1m", arithmetic: str = "fp32"
) -> DigitalBaseline:
    """The digital baseline ``name`` with weights in ``memory`` (sram8k, sram1m, dram).

    A 400-neuron Diehl & Cook network holds 313,600 32-bit weights (1.25 MB),
    hence the 1 MB SRAM default.
    """
    baselines = _baselines()
    if name not in baselines:
        raise ValueError(f"unknown digital baseline {name!r} (known: {', '.join(baselines)})")
    entry = baselines[name]
    ops = entry["operations"]
    wanted = {
        "memory_read": f"{memory}_read_word",
        "memory_write": f"{memory}_write_word",
        "add": f"{arithmetic}_add",
        "multiply": f"{arithmetic}_mult",
    }
    missing = [op for op in wanted.values() if op not in ops]
    if missing:
        raise ValueError(
            f"digital baseline {name!r} has no {', '.join(missing)} "
            f"(memory must be one of sram8k, sram1m, dram; arithmetic fp32 or int8)"
        )
    energies = {
        key: parse_quantity(ops[op]["energy"], "energy", f"{name}.{op}") for key, op in wanted.items()
    }
    sources = {op: ops[op]["source"] for op in wanted.values()}
    return DigitalBaseline(name=name, citation=entry["citation"], sources=sources, **energies)


@dataclass(frozen=True)
class EnergyReport:
    """Energy (J) of the memristive network and of the digital baseline, by component."""

    images: int
    memristive: dict[str, float]
    digital: dict[str, float]
    counts: OperationCounts

    @property
    def memristive_total(self) -> float:
        return sum(self.memristive.values())

    @property
    def digital_total(self) -> float:
        return sum(self.digital.values())

    def per_image(self) -> dict[str, float]:
        """Total joules per image for both implementations."""
        n = max(self.images, 1)
        return {"memristive": self.memristive_total / n, "digital": self.digital_total / n}

    def to_dict(self) -> dict[str, Any]:
        return {
            "images": self.images,
            "memristive_J": self.memristive,
            "digital_J": self.digital,
            "per_image_J": self.per_image(),
            "digital_over_memristive": (
                self.digital_total / self.memristive_total if self.memristive_total > 0 else None
            ),
            "counts": asdict(self.counts),
        }


def price(
    counts: OperationCounts,
    card: DeviceCard,
    baseline: DigitalBaseline | None = None,
    spike_energy: float = 0.0,
) -> EnergyReport:
    """Price ``counts`` with the card's pulse/read energies and a digital baseline.

    ``spike_energy`` (J per spike, default 0: not priced) is added to both sides.
    """
    if spike_energy < 0:
        raise ValueError(f"spike_energy must be >= 0 J, got {spike_energy}")
    baseline = baseline or load_digital_baseline()
    spikes = sum(counts.spikes.values())
    memristive = {
        "set_pulses": counts.set_pulses * card.energy.set_pulse,
        "reset_pulses": counts.reset_pulses * card.energy.reset_pulse,
        "reads": counts.synaptic_reads * card.energy.read,
        "spikes": spikes * spike_energy,
    }
    digital = {
        "updates": counts.update_events * baseline.update_energy,
        "reads": counts.synaptic_reads * baseline.read_energy,
        "spikes": spikes * spike_energy,
    }
    return EnergyReport(counts.images, memristive, digital, counts)
