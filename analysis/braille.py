"""Nine names of computer scientists in 6-dot English Braille (Grade 1, letters only).

Cell dots are numbered as in the standard (dots 1-2-3 down the left column,
4-5-6 down the right); a cell is a length-6 vector ``[d1, d2, d3, d4, d5, d6]``.
The letter table below is the standard Grade 1 alphabet (written out here
from the standard: a-j use dots 1, 2, 4, 5; k-t add dot 3 to a-j; u, v, x,
y, z add dots 3 and 6 to a-e; w is j plus dot 6). Names are padded with blank
cells to a common length, so every pattern has ``6 * NAME_LENGTH`` dots.

Distortion (:func:`distort`): a fraction of the dots is flipped (chosen
without replacement), then Gaussian analog noise of std ``noise`` is added.
"""

from __future__ import annotations

import numpy as np

from neurocbram.devices.pulses import as_generator

from .crossbar import check_fraction

__all__ = ["BRAILLE_DOTS", "NAMES", "NAME_LENGTH", "cell", "encode", "patterns", "distort", "decode"]

#: letter -> raised dots (standard 6-dot English Braille, Grade 1)
BRAILLE_DOTS: dict[str, tuple[int, ...]] = {
    "A": (1,), "B": (1, 2), "C": (1, 4), "D": (1, 4, 5), "E": (1, 5),
    "F": (1, 2, 4), "G": (1, 2, 4, 5), "H": (1, 2, 5), "I": (2, 4), "J": (2, 4, 5),
    "K": (1, 3), "L": (1, 2, 3), "M": (1, 3, 4), "N": (1, 3, 4, 5), "O": (1, 3, 5),
    "P": (1, 2, 3, 4), "Q": (1, 2, 3, 4, 5), "R": (1, 2, 3, 5), "S": (2, 3, 4), "T": (2, 3, 4, 5),
    "U": (1, 3, 6), "V": (1, 2, 3, 6), "W": (2, 4, 5, 6), "X": (1, 3, 4, 6), "Y": (1, 3, 4, 5, 6),
    "Z": (1, 3, 5, 6),
}

#: Alan Turing, Grace Hopper, Donald Knuth, Ada Lovelace, Edsger Dijkstra,
#: Claude Shannon, Leslie Lamport, Barbara Liskov, Dennis Ritchie
NAMES: tuple[str, ...] = (
    "TURING", "HOPPER", "KNUTH", "LOVELACE", "DIJKSTRA", "SHANNON", "LAMPORT", "LISKOV", "RITCHIE",
)
#: cells per (padded) name
NAME_LENGTH = max(len(n) for n in NAMES)


def cell(letter: str) -> np.ndarray:
    """The 6 dots of one letter (or of a blank cell for ``" "``) as 0/1 floats."""
    dots = np.zeros(6)
    if letter == " ":
        return dots
    key = letter.upper()
    if key not in BRAILLE_DOTS:
        raise ValueError(f"letter must be A-Z or a space, got {letter!r}")
    dots[np.array(BRAILLE_DOTS[key]) - 1] = 1.0
    return dots


def encode(name: str, length: int = NAME_LENGTH) -> np.ndarray:
    """Dots of ``name`` padded with blank cells to ``length`` cells, shape ``(6 * length,)``."""
    if len(name) > length:
        raise ValueError(f"name {name!r} is longer than length={length} cells")
    return np.concatenate([cell(c) for c in name.ljust(length)])


def patterns(names: tuple[str, ...] = NAMES) -> np.ndarray:
    """Clean patterns, shape ``(len(names), 6 * NAME_LENGTH)``, values 0/1."""
    length = max(len(n) for n in names)
    return np.stack([encode(n, length) for n in names])


def distort(clean: np.ndarray, flip_fraction: float, noise: float = 0.0, seed=None) -> np.ndarray:
    """Copies of ``clean`` (rows of 0/1 dots) with ``round(flip_fraction * dots)`` dots
    flipped per row and Gaussian noise of std ``noise`` added."""
    flip_fraction = check_fraction("flip_fraction", flip_fraction)
    if not (np.isfinite(noise) and noise >= 0):
        raise ValueError(f"noise must be a std >= 0, got {noise!r}")
    rng = as_generator(seed)
    clean = np.atleast_2d(np.asarray(clean, dtype=float))
    n_rows, n_dots = clean.shape
    k = int(round(flip_fraction * n_dots))
    out = clean.copy()
    if k:
        idx = np.argsort(rng.random((n_rows, n_dots)), axis=1)[:, :k]
        rows = np.repeat(np.arange(n_rows), k)
        out[rows, idx.ravel()] = 1.0 - out[rows, idx.ravel()]
    if noise > 0:
        out = out + noise * rng.standard_normal(out.shape)
    return out


def decode(dots: np.ndarray) -> str:
    """The letters of a 0/1 pattern (threshold 0.5); unknown cells become ``?``, blanks spaces."""
    inverse = {tuple(cell(c).astype(int)): c for c in BRAILLE_DOTS}
    bits = (np.asarray(dots) > 0.5).astype(int).reshape(-1, 6)
    return "".join(" " if not b.any() else inverse.get(tuple(b), "?") for b in bits).rstrip()
