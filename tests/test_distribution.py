"""tf.distribute: the same per-layer gradient norms as one device, written by exactly one writer.

Each run is a fresh process (``distributed_training.py``): logical CPU devices and ``TF_CONFIG``
must be set before TensorFlow starts. The MultiWorkerMirroredStrategy test runs two real workers
talking gRPC over loopback.
"""

from __future__ import annotations

import glob
import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from tb_diag.plugin.run_data import load_logdir

pytestmark = [pytest.mark.distributed]

SCRIPT = os.path.join(os.path.dirname(__file__), "distributed_training.py")
TIMEOUT_S = 240


def train(mode, workdir, *extra, env=None):
    """Starts ``distributed_training.py`` in ``mode``; returns the process and its result path."""
    os.makedirs(workdir, exist_ok=True)
    result = os.path.join(workdir, f"result_{mode}_{'_'.join(map(str, extra)) or 'only'}.json")
    process = subprocess.Popen(
        [sys.executable, SCRIPT, mode, os.path.join(workdir, "logs"), result, *map(str, extra)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
    )
    return process, result


def finish(process, result):
    output, _ = process.communicate(timeout=TIMEOUT_S)
    assert process.returncode == 0, output[-4000:]
    with open(result) as handle:
        return json.load(handle)


def event_files(workdir):
    return sorted(glob.glob(os.path.join(workdir, "logs", "**", "*tfevents*"), recursive=True))


def recorded(workdir):
    (run,) = load_logdir(os.path.join(workdir, "logs"))
    return run


@pytest.fixture(scope="module")
def single_device(tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("single"))
    return workdir, finish(*train("single", workdir))


def assert_same_gradients(run, reference):
    gradients, expected = run.families["gradients"], reference.families["gradients"]
    np.testing.assert_array_equal(gradients.steps, expected.steps)
    assert run.layers == reference.layers
    # grad_norm every step; weight_norm and update_ratio on sampled steps (NOT_SAMPLED elsewhere).
    np.testing.assert_allclose(gradients.values, expected.values, rtol=1e-5, atol=1e-7)


def test_mirrored_strategy_records_the_single_device_gradient_norms(tmp_path, single_device):
    """Two replicas (2 logical CPUs) on the same global batches: the per-layer gradient norms are
    those of the summed gradients, equal to one device's; one events file; training unchanged."""
    single_dir, single = single_device
    workdir = str(tmp_path)
    mirrored = finish(*train("mirrored", workdir))

    assert mirrored["replicas"] == 2
    for got, expected in zip(mirrored["weights"], single["weights"]):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert mirrored["refit_finite"]
    assert len(event_files(workdir)) == 1, event_files(workdir)

    run, reference = recorded(workdir), recorded(single_dir)
    assert_same_gradients(run, reference)
    assert run.warnings == []
    environment = run.documents["environment"][-1][1]
    assert environment["distribution"] == {"strategy": "MirroredStrategy", "replicas": 2}
    assert environment["batch_size"] == 16
    # The step timing covers every step; activations are the first replica's share of the batch.
    np.testing.assert_array_equal(run.families["input"].steps, reference.families["input"].steps)
    assert run.families["activations"].rows == reference.families["activations"].rows
    assert np.isfinite(run.families["activations"].values[:, 1:, 0]).all()
    assert mirrored["warnings"] == []
    assert run.documents["nonfinite_steps"]  # the NaN/Inf probe ran (and found nothing)


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_multiworker_strategy_writes_from_the_chief_only(tmp_path, single_device):
    """Two workers on loopback (TF_CONFIG), one log dir: only the chief's events file exists, it
    holds the single-device gradient norms, and the other worker's scratch directory is gone."""
    single_dir, _ = single_device
    workdir = str(tmp_path / "shared")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    ports = free_ports(2)
    workers = [train("multiworker", workdir, index, *ports, env={"TMPDIR": str(scratch)}) for index in (0, 1)]
    chief, other = [finish(*worker) for worker in workers]

    for got, expected in zip(chief["weights"], other["weights"]):
        np.testing.assert_array_equal(got, expected)
    files = event_files(workdir)
    assert len(files) == 1, files
    assert f".{chief['pid']}." in os.path.basename(files[0])
    assert_same_gradients(recorded(workdir), recorded(single_dir))
    assert recorded(workdir).documents["environment"][-1][1]["distribution"] == {
        "strategy": "MultiWorkerMirroredStrategy",
        "replicas": 2,
    }
    assert not [name for name in os.listdir(scratch) if name.startswith("tb_diag_worker_")]
    assert chief["refit_finite"] and other["refit_finite"]


def test_mirrored_strategy_finds_a_nan_in_the_first_replicas_batch_and_stops(tmp_path):
    """A NaN in the first replica's share of global batch 3: the event names the input at step 3,
    says the update was applied (it cannot be held back across replicas) and fit stops there."""
    workdir = str(tmp_path)
    result = finish(*train("mirrored", workdir, env={"NAN_STEP": "3"}))
    assert result["iterations"] == 3  # stopped after the bad step (one step per execution)
    assert any("stopped training: non-finite values at step 3 in the input batch" in w for w in result["warnings"]), result["warnings"]

    from tb_diag.plugin.diagnostics import nonfinite

    summary = nonfinite.summarize(recorded(workdir))
    assert summary["step"] == 3 and summary["phase"] == "input" and summary["layer"] == "input"
    assert summary["action"] == "recorded" and summary["weights_kept"] is False
