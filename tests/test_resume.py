"""A training run killed at any point resumes from its last checkpoint and ends
with exactly the weights of an uninterrupted run with the same seed."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from neurocbram.checkpoint import CheckpointError, load_checkpoint, save_checkpoint

pytestmark = [pytest.mark.standalone, pytest.mark.network]

# small network shared with tests/test_network.py (one cached build)
TRAIN_SCRIPT = """
import sys
from neurocbram.datasets import load_mnist
from neurocbram.networks.diehl_cook import DiehlCookParameters
from neurocbram.training import Trainer

checkpoint, resume, n_images = sys.argv[1], sys.argv[2] == "resume", int(sys.argv[3])
images, labels = load_mnist("train", progress=False)
trainer = Trainer(images[:n_images], labels[:n_images], n_images, card="cbram-shi2018",
                  params=DiehlCookParameters(n_neurons=20), seed=11, target="standalone",
                  slots=50, checkpoint=checkpoint, checkpoint_every=50)
result = trainer.train(resume=resume)
trainer.close()
result.state.save(checkpoint + ".final.npz")
print("done", result.images)
"""

N_IMAGES = 160


def _command(checkpoint: Path, mode: str) -> list[str]:
    return [sys.executable, "-c", TRAIN_SCRIPT, str(checkpoint), mode, str(N_IMAGES)]


def _environment(mnist_dir: Path) -> dict[str, str]:
    return {**os.environ, "NEUROCBRAM_MNIST": str(mnist_dir)}


def test_checkpoint_is_atomic(tmp_path: Path) -> None:
    path = tmp_path / "state.npz"
    save_checkpoint(path, {"position": 3}, {"G": np.arange(4.0)})
    header, arrays = load_checkpoint(path)
    assert header["position"] == 3 and np.array_equal(arrays["G"], np.arange(4.0))
    assert [p.name for p in tmp_path.iterdir()] == ["state.npz"]  # no temporary left
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "missing.npz")


def test_killed_run_resumes_to_the_same_weights(tmp_path: Path, mnist_dir: Path) -> None:
    env = _environment(mnist_dir)
    killed = tmp_path / "killed" / "checkpoint.npz"
    killed.parent.mkdir()
    process = subprocess.Popen(_command(killed, "fresh"), env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while not killed.exists():
        assert process.poll() is None, "training ended before writing a checkpoint"
        assert time.monotonic() < deadline, "no checkpoint within 10 minutes"
        time.sleep(0.05)
    process.kill()
    process.wait()
    header, _ = load_checkpoint(killed)
    assert 0 < header["position"] < N_IMAGES, "the run was not interrupted mid-way"

    subprocess.run(_command(killed, "resume"), env=env, check=True, capture_output=True)
    reference = tmp_path / "reference" / "checkpoint.npz"
    reference.parent.mkdir()
    subprocess.run(_command(reference, "fresh"), env=env, check=True, capture_output=True)

    final = [np.load(str(path) + ".final.npz") for path in (killed, reference)]
    with final[0] as resumed, final[1] as full:
        assert int(resumed["images_seen"]) == int(full["images_seen"]) == N_IMAGES
        np.testing.assert_array_equal(resumed["G"], full["G"])
        np.testing.assert_array_equal(resumed["theta_mV"], full["theta_mV"])
