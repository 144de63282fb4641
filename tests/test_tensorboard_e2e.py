"""The real `tensorboard` program loads the plugin, lists the tab and serves its data."""

from __future__ import annotations

import json

import pytest

from tensorboard_server import get, running_tensorboard


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
        assert set(runs) == {"exploding/train", "healthy/train", "vanishing/train"}
        # Every step arrived: samples_per_plugin for tb_diag defaults to "keep all".
        assert runs["healthy/train"]["last_step"] == 116

        status, body, _ = get(f"{base}/data/plugin/tb_diag/gradients?run=healthy/train")
        gradients = json.loads(body)
        assert status == 200 and gradients["steps"] == list(range(1, 117))
        assert gradients["layers"] == ["hidden_1", "hidden_2", "hidden_3", "output"]

        status, body, _ = get(f"{base}/data/plugin/tb_diag/report?run=nope")
        assert status == 404 and "unknown run" in json.loads(body)["error"]

        # Keras' own TensorBoard callback wrote to the same run directory: its scalars still show.
        status, body, _ = get(f"{base}/data/plugin/scalars/tags")
        assert status == 200 and "healthy/train" in json.loads(body)
