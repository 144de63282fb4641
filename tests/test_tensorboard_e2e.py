"""The real `tensorboard` program loads the plugin, lists the tab and serves its data."""

from __future__ import annotations

import json

import pytest

from tensorboard_server import get, running_tensorboard

pytestmark = [pytest.mark.subprocess]


@pytest.mark.parametrize("loader_flags", [(), ("--load_fast=false",)], ids=["rust-data-server", "python-loader"])
def test_tensorboard_serves_the_tab_and_the_data(demo_logdir, loader_flags):
    with running_tensorboard(str(demo_logdir), *loader_flags, ready_run="vanishing/train") as base:
        status, body, _ = get(f"{base}/data/plugins_listing")
        entry = json.loads(body)["tb_diag"]
        assert status == 200 and entry["enabled"] and entry["tab_name"] == "Diagnostics"
        module_path = entry["loading_mechanism"]["module_path"]

        status, body, content_type = get(base + module_path)
        assert status == 200 and content_type.startswith("text/javascript") and b"render" in body

        status, body, _ = get(f"{base}/data/plugin/tb_diag/runs")
        runs = {r["run"]: r for r in json.loads(body)["runs"]}
        assert set(runs) == {"exploding/train", "healthy/train", "nan/train", "starved/train", "unscaled/train", "vanishing/train"}
        # Every step arrived: samples_per_plugin for tb_diag defaults to "keep all".
        assert runs["healthy/train"]["last_step"] == 116

        status, body, _ = get(f"{base}/data/plugin/tb_diag/gradients?run=healthy/train")
        gradients = json.loads(body)
        assert status == 200 and gradients["steps"] == list(range(1, 117))
        assert gradients["layers"] == ["hidden_1", "hidden_2", "hidden_3", "output"]

        status, body, _ = get(f"{base}/data/plugin/tb_diag/nonfinite?run=nan/train")
        event = json.loads(body)["event"]
        assert status == 200 and (event["step"], event["origin"]["layer"]) == (41, "log_features")

        status, body, _ = get(f"{base}/data/plugin/tb_diag/report?run=nope")
        assert status == 404 and "unknown run" in json.loads(body)["error"]

        # Keras' own TensorBoard callback wrote to the same run directory: its scalars still show.
        status, body, _ = get(f"{base}/data/plugin/scalars/tags")
        assert status == 200 and "healthy/train" in json.loads(body)


LIVE_TRAINING = """
import os, sys, time
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import keras, numpy as np
from tb_diag import DiagnosticsCallback

class Slow(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        time.sleep(0.1)

rng = np.random.default_rng(0)
x = rng.normal(size=(320, 8)).astype("float32"); y = rng.normal(size=(320, 1)).astype("float32")
model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(8), keras.layers.Dense(1)])
model.compile("adam", "mse")
model.fit(x, y, batch_size=8, epochs=3, verbose=0, callbacks=[DiagnosticsCallback(sys.argv[1], flush_every_steps=5), Slow()])
"""


def test_live_training_is_read_while_written_and_shows_new_data_on_reload(tmp_path):
    """TensorBoard reads event files while training appends to them: no error, steps only grow."""
    import subprocess
    import sys
    import time

    trainer = subprocess.Popen([sys.executable, "-c", LIVE_TRAINING, str(tmp_path / "live")])
    seen = []
    try:
        with running_tensorboard(str(tmp_path), "--reload_interval=1", ready_run="live/train") as base:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                finished = trainer.poll() is not None
                status, body, _ = get(f"{base}/data/plugin/tb_diag/gradients?run=live/train")
                assert status == 200, body[:300]
                steps = json.loads(body)["steps"]
                assert steps == list(range(1, len(steps) + 1))  # never a gap or a repeat
                seen.append(len(steps))
                if finished and seen[-1] == 120:
                    break
                time.sleep(0.5)
    finally:
        trainer.kill()
        trainer.wait()
    assert trainer.returncode == 0
    assert seen == sorted(seen) and seen[-1] == 120  # 3 epochs x 40 steps
    assert len(set(seen)) >= 3  # new data appeared while training ran
