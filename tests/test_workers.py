"""Process pools whose workers end with their parent (neurocbram.workers)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from neurocbram.workers import worker_pool

_STATE: dict = {}


def _square(x):
    return x * x


def _remember(value):
    _STATE["value"] = value


def _remembered(_):
    return _STATE.get("value")


def test_pool_runs_tasks_after_the_initializer():
    with worker_pool(2, "fork", initializer=_remember, initargs=(7,)) as pool:
        assert list(pool.map(_square, range(5))) == [0, 1, 4, 9, 16]
        assert set(pool.map(_remembered, range(4))) == {7}


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="start_method"):
        worker_pool(1, "forkserver")
    with pytest.raises(ValueError, match="jobs"):
        worker_pool(0)


PARENT = """
import os, sys, time
from neurocbram.workers import worker_pool

def hold(path):
    with open(path + ".tmp", "w") as f:
        f.write(str(os.getpid()))
    os.replace(path + ".tmp", path)
    time.sleep(120)

if __name__ == "__main__":
    with worker_pool(1, "spawn") as pool:
        pool.submit(hold, sys.argv[1])
        time.sleep(120)
"""


def _alive(pid: int) -> bool:
    """Is ``pid`` running (a zombie, dead but not yet reaped, counts as ended)?"""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux only")
def test_worker_ends_when_its_parent_is_killed(tmp_path):
    script, pid_file = tmp_path / "parent.py", tmp_path / "worker.pid"
    script.write_text(PARENT)
    parent = subprocess.Popen([sys.executable, str(script), str(pid_file)])
    worker = None
    try:
        deadline = time.time() + 60
        while not pid_file.exists():
            assert parent.poll() is None, "the parent script failed"
            assert time.time() < deadline, "the worker never started its task"
            time.sleep(0.05)
        worker = int(pid_file.read_text())
        assert _alive(worker)
        parent.kill()  # SIGKILL: the parent cannot clean up after itself
        parent.wait()
        deadline = time.time() + 10
        while _alive(worker) and time.time() < deadline:
            time.sleep(0.05)
        assert not _alive(worker), "the worker outlived its killed parent"
    finally:
        parent.kill()
        if worker is not None and _alive(worker):
            os.kill(worker, signal.SIGKILL)
