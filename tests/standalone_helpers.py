"""Helpers for tests that build C++ standalone programs (imported by the test modules)."""

from __future__ import annotations

from contextlib import contextmanager

from brian2 import device, prefs, set_device


@contextmanager
def standalone(device_name: str, folder):
    """``device_name`` in ``folder`` inside the block, which gets ``build()`` (compile and run the
    program; its output goes to ``results/stdout.txt``); read the results before leaving the
    block, which resets the device."""
    prefs.devices.cpp_standalone.extra_make_args_unix = ["-j2"]
    set_device(device_name, directory=str(folder), build_on_run=False)
    try:
        yield lambda: device.build(directory=str(folder), compile=True, run=True, with_output=False)
    finally:
        device.reinit()
        set_device("runtime")
