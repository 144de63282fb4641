"""Headless Chromium renders the Diagnostics tab inside the real TensorBoard."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from tensorboard_server import running_tensorboard

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(REPO, "frontend", "e2e", "diagnostics_tab.mjs")
ARTIFACTS = os.path.join(REPO, "artifacts")
# The README's and docs' screenshots: drawn here from the demo on every run of this test, so they
# show what the code draws today (commit them after a run that changed them).
DOC_IMAGES = os.path.join(REPO, "docs", "images")

pytestmark = [pytest.mark.browser, pytest.mark.subprocess, pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium (make browser)")]


def open_tab(base_url: str, run: str, rows: int, screenshot: str, *also: str, wait_for: str | None = None) -> dict:
    """Runs the e2e script; ``also`` = (another run to tick, where to save the Input panel)."""
    env = dict(os.environ, **({"WAIT_FOR": wait_for} if wait_for else {}))
    completed = subprocess.run(
        ["node", SCRIPT, base_url, run, str(rows), screenshot, *also],
        cwd=os.path.join(REPO, "frontend"), capture_output=True, text=True, timeout=180, env=env,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


def test_tab_draws_one_heatmap_row_per_layer_and_shows_the_findings(demo_logdir, gpu_present):
    screenshot = os.path.join(DOC_IMAGES, "diagnostics_tab.png")
    input_screenshot = os.path.join(DOC_IMAGES, "input_panel.png")
    activations_screenshot = os.path.join(DOC_IMAGES, "activations_panel.png")  # memory_panel.png goes beside it
    with running_tensorboard(str(demo_logdir), ready_run="vanishing/train") as base:
        # The first run (alphabetically: exploding) is selected on load; its MLP has 4 layers.
        result = open_tab(base, "exploding/train", 4, screenshot, "starved/train", input_screenshot,
                          "unscaled/train", activations_screenshot)
    assert result["rows"] == 4
    assert result["runToggles"] == 6
    assert [row["call"] for row in result["activationRows"]][:5] == ["input", "hidden_1", "hidden_2", "hidden_3", "output"]
    assert "input" in result["panelRunFlaggedCalls"]  # unnormalized_inputs, highlighted
    assert os.path.getsize(activations_screenshot) > 10_000
    # Without a GPU (this machine) the Memory panel says why it has no GPU figures.
    assert ("No GPU figures: no GPU is visible to TensorFlow" in result["bodyText"]) != gpu_present
    # exploding (SGD) and starved (Adam; the same MLP) side by side: the difference is highlighted.
    assert result["environmentMismatches"] == ["optimizer"]
    # The Overview shows both runs, the environment mismatch and how their findings differ.
    assert result["overviewRuns"] == ["exploding/train", "starved/train"]
    assert result["comparisonEnvFields"] == ["optimizer"]
    differs = {row["id"]: row["differs"] for row in result["comparisonRows"]}
    assert differs["learning_rate_too_high"] == "true" and differs["input_bound"] == "true"
    assert os.path.getsize(os.path.join(DOC_IMAGES, "memory_panel.png")) > 10_000
    ids = [f["id"] for f in result["findings"]]
    assert ids[0] == "learning_rate_too_high" and "Lower the learning rate" in result["findings"][0]["text"]
    # Root cause first: the explosion, the NaN/Inf event and the dead layers are listed inside it.
    assert [c["id"] for c in result["consequences"][:2]] == ["exploding_gradients", "nonfinite"]
    assert {c["causedBy"] for c in result["consequences"]} == {"learning_rate_too_high"}
    # Compared runs without op determinism: the comparison says so once, not a note on every run.
    assert len(result["notReproducible"]) == 1 and "2 of the 2 runs cannot be reproduced exactly" in result["notReproducible"][0]
    # With the starved run ticked too, its input_bound warning is listed after the error.
    assert "input_bound" in ids and "workers=4" in result["bodyText"]
    assert {p["run"]: p["points"] for p in result["inputPoints"]} == {"exploding/train": 116, "starved/train": 116}
    verdicts = [v["verdict"] for v in result["inputVerdicts"]]
    assert verdicts[1] == "highly" and "Highly input-bound" in result["inputVerdicts"][1]["text"]
    assert result["dialogs"] == []
    assert os.path.getsize(screenshot) > 10_000 and os.path.getsize(input_screenshot) > 10_000


def test_hostile_run_and_layer_names_show_literally_and_nothing_executes(tmp_path):
    import hostile_logdir

    hostile_logdir.write_valid_run(str(tmp_path / hostile_logdir.HOSTILE_RUN / "train"),
                                   [hostile_logdir.HOSTILE_LAYER, hostile_logdir.SCRIPT_LAYER, "normal"],
                                   pipeline={"stages": [hostile_logdir.SCRIPT_LAYER, "batch"], "source": "in_memory"})
    run = f"{hostile_logdir.HOSTILE_RUN}/train"
    os.makedirs(ARTIFACTS, exist_ok=True)
    with running_tensorboard(str(tmp_path), ready_run=run) as base:
        result = open_tab(base, run, 3, os.path.join(ARTIFACTS, "hostile_names.png"))
    assert result["rows"] == 3
    assert result["dialogs"] == []  # no alert() ran
    assert result["injectedImages"] == 0  # no <img> element was created from data
    for text in (hostile_logdir.HOSTILE_RUN, hostile_logdir.HOSTILE_LAYER, hostile_logdir.SCRIPT_LAYER):
        assert text in result["bodyText"]


def test_gpu_figures_from_recorded_readings_are_drawn(tmp_path):
    """No GPU here: a run holding recorded GPU readings (as the memory probe writes them) is drawn."""
    import numpy as np

    import hostile_logdir
    from tb_diag import schema
    from tb_diag.core.writer import SummaryWriter

    run_dir = str(tmp_path / "gpu_run" / "train")
    hostile_logdir.write_valid_run(run_dir, ["dense"])
    writer = SummaryWriter(run_dir)
    gib = 2**30
    writer.write_document(schema.MEMORY, 20, {"fit_index": 1, "epoch": 0, "host_rss_bytes": 900 * 2**20, "live_models": 1,
                                              "process": {"fits": [{"fit_index": 1, "host_rss_bytes": 880 * 2**20, "live_models": 1}]}})
    writer.write_document(schema.GPU_DEVICES, 9, {"layers": ["GPU:0"], "devices": [{"device": "GPU:0", "name": "Recorded A100"}]})
    for step, in_use, peak in ((10, 20 * gib, 30 * gib), (20, 22 * gib, 38 * gib)):
        writer.write_block(schema.GPU_MEMORY, step, np.array([[[in_use, peak, 40 * gib, 39 * gib, peak + gib]]], dtype=np.float64))
    writer.close()
    os.makedirs(ARTIFACTS, exist_ok=True)
    with running_tensorboard(str(tmp_path), ready_run="gpu_run/train") as base:
        result = open_tab(base, "gpu_run/train", 1, os.path.join(ARTIFACTS, "gpu_run.png"), wait_for='[data-testid="memory-gpu-chart"]')
    assert "GPU:0: in use 22 GiB, peak 38 GiB of 40 GiB (headroom used 95%)" in result["bodyText"]
    assert "gpu_headroom" in [f["id"] for f in result["findings"]]


def open_nan_panel(base_url: str, run: str, screenshot: str) -> dict:
    completed = subprocess.run(
        ["node", os.path.join(REPO, "frontend", "e2e", "nan_panel.mjs"), base_url, run, screenshot],
        cwd=os.path.join(REPO, "frontend"), capture_output=True, text=True, timeout=180,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


def test_nan_panel_shows_where_and_when_it_started_the_path_and_the_remedy(demo_logdir):
    screenshot = os.path.join(DOC_IMAGES, "nan_panel.png")
    with running_tensorboard(str(demo_logdir), ready_run="nan/train") as base:
        result = open_nan_panel(base, "nan/train", screenshot)
    # The demo's zero reaches log() at step 41: the forward pass, layer log_features.
    assert result["phase"] == "forward" and result["step"] == "41"
    assert "log_features" in result["headline"] and result["action"] == "stopped"
    assert result["origin"] == ["log_features"]
    assert "log_features" in result["flaggedRows"]
    assert "epsilon" in result["remedy"]
    # The Overview leads with it: the NaN/Inf line first, as an error.
    first = result["overviewLines"][0]
    assert (first["diagnostic"], first["status"]) == ("nonfinite", "error") and "step 41" in first["text"]
    assert result["dialogs"] == []
    assert os.path.getsize(screenshot) > 10_000


def test_nan_panel_shows_hostile_names_literally(tmp_path):
    import hostile_logdir
    from tb_diag import schema
    from tb_diag.core.writer import SummaryWriter

    run_dir = str(tmp_path / "nan_run" / "train")
    hostile_logdir.write_valid_run(run_dir, [hostile_logdir.HOSTILE_LAYER, "head"])
    finite = {"nan": 0, "posinf": 0, "neginf": 0, "max_abs": 1.0}
    writer = SummaryWriter(run_dir)
    writer.write_document(schema.NONFINITE, 7, {
        "step": 7, "epoch": 0, "phase": "forward", "on_nan": "stop", "action": "stopped", "weights_kept": True,
        "loss": None, "loss_seen": True, "inputs": [{"name": "input", **finite}],
        "calls": [
            {"name": hostile_logdir.HOSTILE_LAYER, "layer": hostile_logdir.HOSTILE_LAYER, "in": finite,
             "out": {"nan": 3, "posinf": 0, "neginf": 0, "max_abs": 2.0}},
            {"name": hostile_logdir.SCRIPT_LAYER, "layer": hostile_logdir.SCRIPT_LAYER,
             "in": {"nan": 3, "posinf": 0, "neginf": 0, "max_abs": 2.0}, "out": {"nan": 3, "posinf": 0, "neginf": 0, "max_abs": 1.0}},
        ],
        "layers": [],
    })
    writer.close()
    with running_tensorboard(str(tmp_path), ready_run="nan_run/train") as base:
        result = open_nan_panel(base, "nan_run/train", os.path.join(ARTIFACTS, "nan_hostile.png"))
    # The path: the hostile origin, the call after it, then the loss (recorded as non-finite).
    assert result["origin"] == [hostile_logdir.HOSTILE_LAYER] and result["contaminated"] == [hostile_logdir.SCRIPT_LAYER, "loss"]
    assert hostile_logdir.HOSTILE_LAYER in result["bodyText"] and hostile_logdir.SCRIPT_LAYER in result["bodyText"]
    assert result["dialogs"] == [] and result["injectedImages"] == 0
