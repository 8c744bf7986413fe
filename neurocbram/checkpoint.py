"""Atomic checkpoints: NumPy arrays plus a JSON header in one ``.npz`` file.

A checkpoint is written to a temporary file in the same folder and moved
into place with :func:`os.replace`, so a reader (or a resumed run) sees
either the previous complete checkpoint or the new complete one, never a
partial file, whenever the writer is killed.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["atomic_savez", "save_checkpoint", "load_checkpoint", "CheckpointError"]

_HEADER = "__header__"


class CheckpointError(ValueError):
    """A checkpoint file is missing, unreadable or does not fit the run."""


def atomic_savez(path: str | Path, **arrays: Any) -> Path:
    """``numpy.savez`` to ``path`` atomically (temporary file + ``os.replace``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            np.savez(stream, **arrays)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise
    return path


def save_checkpoint(path: str | Path, header: dict[str, Any], arrays: dict[str, np.ndarray]) -> Path:
    """Write ``arrays`` and a JSON-serialisable ``header`` atomically to ``path``."""
    if _HEADER in arrays:
        raise ValueError(f"array name {_HEADER!r} is reserved")
    return atomic_savez(path, **{_HEADER: np.array(json.dumps(header))}, **arrays)


def load_checkpoint(path: str | Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read ``(header, arrays)`` written by :func:`save_checkpoint`."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as data:
            header = json.loads(str(data[_HEADER]))
            arrays = {name: data[name] for name in data.files if name != _HEADER}
    except (OSError, ValueError, KeyError) as error:
        raise CheckpointError(f"checkpoint {path} is not readable: {error}") from None
    return header, arrays
