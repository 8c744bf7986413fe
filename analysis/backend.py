"""Where the rate-coded networks compute: NumPy on the CPU, or CuPy on an NVIDIA GPU.

The layers of :mod:`neurocbram.analysis.conv` and the optimisers of
:mod:`neurocbram.analysis.mlp` work on whichever array library holds their
inputs (:func:`array_module`), so a :class:`~neurocbram.analysis.conv.Sequential`
moved to ``"cuda"`` trains on the GPU with the same code. CuPy is optional and
imported only when a GPU array is asked for: CuPy 14 or later, ``pip install cupy-cuda12x`` (or
the wheel matching your CUDA). Masks, structure metrics and device-card mapping
stay NumPy; results come back to the CPU with :func:`to_numpy`.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

__all__ = ["DEVICES", "array_module", "check_device", "device_of", "to_device", "to_numpy"]

#: where a network can compute
DEVICES = ("cpu", "cuda")


def check_device(device: str) -> str:
    """``device`` if it is one of :data:`DEVICES`, else a ValueError naming the parameter."""
    if device not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, got {device!r}")
    return device


def _cupy() -> ModuleType:
    try:
        import cupy
    except ImportError as err:
        raise RuntimeError("device='cuda' needs CuPy (pip install cupy-cuda12x, or the wheel for "
                           f"your CUDA version); importing it failed: {err}") from err
    return cupy


def _is_cupy(a: Any) -> bool:
    return type(a).__module__.split(".", 1)[0] == "cupy"


def array_module(a: Any) -> ModuleType:
    """``cupy`` for a CuPy array, ``numpy`` for anything else."""
    return _cupy() if _is_cupy(a) else np


def device_of(a: Any) -> str:
    """``"cuda"`` for a CuPy array, ``"cpu"`` otherwise."""
    return "cuda" if _is_cupy(a) else "cpu"


def to_numpy(a: Any) -> np.ndarray:
    """``a`` as a NumPy array (copied from the GPU when it lives there)."""
    return _cupy().asnumpy(a) if _is_cupy(a) else np.asarray(a)


def to_device(a: Any, device: str) -> Any:
    """``a`` as an array of ``device`` (no copy when it is already there)."""
    if check_device(device) == "cpu":
        return to_numpy(a)
    return _cupy().asarray(a)
