"""Process pools whose workers end with the process that started them.

A :class:`~concurrent.futures.ProcessPoolExecutor` worker outlives its parent
when the parent is killed (``kill``, a batch scheduler's SIGTERM at the end of
a job's time): it goes on with the task it holds -- for a pruning sweep, up to
an hour of training on a core nobody will read the result of, writing into the
run folders that a restarted sweep uses too. On Linux the workers of
:func:`worker_pool` ask the kernel to send them SIGTERM when their parent dies
(``prctl(PR_SET_PDEATHSIG)``); elsewhere they are plain workers. Ctrl-C needs
none of this: the terminal interrupts the whole process group.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from neurocbram.checks import check_count

__all__ = ["START_METHODS", "end_with_parent", "worker_pool"]

#: start methods whose workers are children of the process that makes the pool
START_METHODS = ("fork", "spawn")

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def end_with_parent(parent_pid: int) -> bool:
    """Have this process receive SIGTERM when its parent ``parent_pid`` dies (Linux).

    Returns whether the request was made. If the parent is already gone, the
    process exits at once.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) != 0:
            return False
    except (OSError, AttributeError):  # pragma: no cover - no prctl in this libc
        return False
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        os._exit(1)
    return True


def _start_worker(parent_pid: int, initializer: Callable[..., Any] | None, initargs: tuple) -> None:
    end_with_parent(parent_pid)
    if initializer is not None:
        initializer(*initargs)


def worker_pool(jobs: int, start_method: str = "spawn", initializer: Callable[..., Any] | None = None,
                initargs: tuple = ()) -> ProcessPoolExecutor:
    """A process pool of ``jobs`` workers that end when this process dies.

    ``start_method``: ``"fork"`` or ``"spawn"`` (see :mod:`multiprocessing`);
    ``initializer(*initargs)`` runs in each worker as for ``ProcessPoolExecutor``.
    """
    if start_method not in START_METHODS:
        raise ValueError(f"start_method must be one of {START_METHODS}, got {start_method!r}")
    jobs = check_count(jobs, "jobs")
    return ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context(start_method),
                               initializer=_start_worker, initargs=(os.getpid(), initializer, initargs))
