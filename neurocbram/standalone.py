"""Build once, run many: reusable ``cpp_standalone`` programs.

Brian2 (2.6+) can re-run a compiled standalone program with new initial
values through ``device.run(run_args={group.var: values, timed_array: table})``
without recompiling. This module adds what a training loop needs on top:

**The device.** Programs are built on
:class:`neurocbram.standalone_device.LeanStandaloneDevice` (Brian2's
``cpp_standalone`` with a leaner per-step scheduler; the same results).

**A persistent build folder.** Programs are built into
``<cache>/<key>`` (``cache`` = ``$NEUROCBRAM_BUILD_CACHE`` or
``~/.cache/neurocbram/builds``; ``key`` a digest of everything that shapes the
generated code). Brian2 2.9.0 has no API to attach a fresh Python process
to an existing build, but its code writer leaves files whose content did not
change untouched, so ``make`` finds every object file up to date: a second
process re-creates the Python objects, regenerates the code (a few seconds)
and links nothing new -- the compilation is not repeated. The build step is
serialised with a file lock, so concurrent processes can share a folder.

**One run folder per process.** Brian2 writes the ``run_args`` arrays into
``static_arrays/`` under names made from their content, and deletes them
after the run; two processes passing equal arrays (the same seed's devices,
say) would delete each other's inputs. So each process runs the shared
binary from its own folder ``<build>/run_<pid>``, whose ``static_arrays/``
links to the build's arrays and receives this process's ``run_args``; its
results go to ``run_<pid>/results``. The folder holds a copy of the binary,
so that another process building the same key (``make`` may relink it)
never replaces a program that is running. Folders of dead processes are removed
at the next build.

**Per-run random seeds.** ``brian2.seed(value)`` in standalone mode fixes the
seed in the generated ``main.cpp``, i.e. at build time. :func:`seed_from_variable`
instead inserts C++ code, right after the ``run_args`` are applied, that
seeds the program's random generators from an integer variable, which every
run sets through ``run_args``. The generators' state is not saved between
runs; a run is reproducible from its seed, and a sequence of runs from its
sequence of seeds.
"""

from __future__ import annotations

import gc
import os
import shutil
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from brian2 import device, get_device, prefs, set_device
from brian2.utils.filelock import FileLock

from neurocbram.standalone_device import DEVICE_NAME

__all__ = ["build_cache_dir", "seed_from_variable", "StandaloneProgram"]

#: environment variable overriding the build cache folder
ENV_BUILD_CACHE = "NEUROCBRAM_BUILD_CACHE"


def build_cache_dir() -> Path:
    """Folder holding the cached standalone builds."""
    folder = os.environ.get(ENV_BUILD_CACHE)
    if folder:
        return Path(folder).expanduser()
    return Path.home() / ".cache" / "neurocbram" / "builds"


def seed_from_variable(group, name: str) -> None:
    """Seed the standalone random generators from ``group.<name>`` at the start of a run.

    Call after ``device.apply_run_args()`` and before ``run()``; pass the seed
    as ``run_args={group.<name>: seed}`` (an integer ``>= 0``).
    """
    variable = group.variables[name]
    array = device.get_array_name(variable)
    threads = prefs.devices.cpp_standalone.openmp_threads or 1
    device.insert_code(
        "main",
        f"for (int _i = 0; _i < {threads}; _i++)\n"
        f"    brian::_random_generators[_i].seed((unsigned long) brian::{array}[0] + _i);",
    )


def _remove_stale_results(directory: Path) -> None:
    """Delete the run folders of processes that no longer exist (e.g. killed runs)."""
    for folder in [*directory.glob("results_*"), *directory.glob("run_*")]:
        try:
            pid = int(folder.name.split("_", 1)[1])
            os.kill(pid, 0)
        except ValueError:
            continue
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except PermissionError:  # alive, owned by someone else
            continue


class StandaloneProgram:
    """A ``cpp_standalone`` program built once (per key) and run many times.

    Parameters
    ----------
    key : str
        Digest naming the build folder (same key = same generated code).
    define : callable
        Creates the Brian2 objects and calls ``run`` once, with the standalone
        device active (``build_on_run=False``); returns whatever the caller
        needs (e.g. the network object). :meth:`build` calls it once.
    cache : Path, optional
        Cache folder (default :func:`build_cache_dir`).
    make_jobs : int
        Parallel compiler jobs.
    """

    def __init__(
        self,
        key: str,
        define: Callable[[], Any],
        cache: Path | None = None,
        make_jobs: int = 2,
    ) -> None:
        self.key = key
        self.define = define
        self.directory = Path(cache or build_cache_dir()) / key
        self.make_jobs = int(make_jobs)
        self.objects: Any = None
        self.run_folder = self.directory / f"run_{os.getpid()}"
        self.results = "results"
        #: seconds spent in code generation + compilation by :meth:`build`
        self.build_time = 0.0
        #: True when the build found a complete earlier build of the same key
        self.reused = False

    def build(self) -> Any:
        """Generate the code and compile it (nothing is recompiled if cached)."""
        start = time.perf_counter()
        # objects of an earlier network still alive would make Brian2 suffix the
        # names of the new code objects ("_1"), i.e. new files and a recompilation
        gc.collect()
        self.directory.mkdir(parents=True, exist_ok=True)
        set_device(DEVICE_NAME, build_on_run=False, directory=str(self.directory))
        prefs.devices.cpp_standalone.extra_make_args_unix = [f"-j{self.make_jobs}"]
        marker = self.directory / "neurocbram_build_complete"
        with FileLock(str(self.directory / "build.lock")):
            _remove_stale_results(self.directory)
            self.reused = marker.exists() and (self.directory / "main").exists()
            self.objects = self.define()
            device.build(
                directory=str(self.directory),
                compile=True,
                run=False,
                with_output=False,
            )
            marker.write_text(self.key + "\n")
            self._make_run_folder()
        self.build_time = time.perf_counter() - start
        return self.objects

    def _make_run_folder(self) -> None:
        """This process's run folder: links to the build's static arrays."""
        shutil.rmtree(self.run_folder, ignore_errors=True)
        arrays = self.run_folder / "static_arrays"
        arrays.mkdir(parents=True)
        for source in (self.directory / "static_arrays").iterdir():
            if source.suffix != ".lock" and not source.name.startswith("init_"):
                (arrays / source.name).symlink_to(source)
        # a copy of the binary: another process's build may relink the shared one
        shutil.copy2(self.directory / "main", self.run_folder / "main")

    def run(self, run_args: Mapping[Any, Any]) -> float:
        """Run the compiled program once with ``run_args``; returns the wall time (s)."""
        if self.objects is None:
            raise RuntimeError("call build() before run()")
        start = time.perf_counter()
        standalone = get_device()  # the device itself (the ``device`` proxy only reads)
        build_folder = standalone.project_dir
        command = prefs.devices.cpp_standalone.run_cmd_unix
        # run the shared binary in this process's folder (see the module doc)
        standalone.project_dir = str(self.run_folder)
        prefs.devices.cpp_standalone.run_cmd_unix = str(self.run_folder / "main")
        try:
            device.run(
                directory=str(self.run_folder),
                results_directory=self.results,
                with_output=False,
                run_args=dict(run_args),
            )
        finally:
            # the run_args arrays are written into run_<pid>/static_arrays/ for each run
            device.delete(code=False, data=False, run_args=True, directory=False, force=True)
            standalone.project_dir = build_folder
            prefs.devices.cpp_standalone.run_cmd_unix = command
        # the program reports unreadable inputs on stdout and goes on: do not
        output = self.run_folder / self.results / "stdout.txt"
        if output.exists():
            problems = [line for line in output.read_text(errors="replace").splitlines()
                        if line.startswith("Error")]
            if problems:
                raise RuntimeError(
                    f"the standalone program in {self.run_folder} could not read its inputs: "
                    + "; ".join(problems[:3])
                )
        return time.perf_counter() - start

    def close(self) -> None:
        """Remove this process's results folder and reset the Brian2 device."""
        shutil.rmtree(self.run_folder, ignore_errors=True)
        try:
            device.reinit()
            device.activate()
        except Exception:  # pragma: no cover - best effort
            pass
        set_device("runtime")
        self.objects = None
        gc.collect()
