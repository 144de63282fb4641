"""The memory probe: host memory across fits, retracing, and GPU figures from a fake source."""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from payload_contracts import assert_matches_contract
from tb_diag import DiagnosticsCallback, DiagnosticsWarning
from tb_diag.core.memory_sources import FakeGpuSource, GpuReading, TensorFlowNvmlSource, host_rss_bytes
from tb_diag.plugin.diagnostics import memory
from tb_diag.plugin.report import json_safe, run_report
from tb_diag.plugin.run_data import load_logdir
from tb_diag.probes.memory import MemoryProbe

MiB = 2**20
GiB = 2**30


def read_run(log_dir):
    (run,) = load_logdir(str(log_dir))
    return run


def small_fit(log_dir, data, epochs=2, **callback_args):
    x, y = data
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)])
    model.compile("adam", "mse")
    model.fit(x, y, batch_size=32, epochs=epochs, verbose=0, callbacks=[DiagnosticsCallback(log_dir, **callback_args)])
    return model


def reading(in_use, peak, process, total=16 * GiB, used=None, device="GPU:0"):
    return GpuReading(device, "Fake GPU 16GB", in_use, peak, total, used if used is not None else process, process)


def test_host_figures_are_recorded_at_every_flush_and_without_a_gpu_the_reason_is_given(tmp_path, regression_data, gpu_present):
    """No error, no warning; host RSS per flush; without a GPU (this machine) the panel says why."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        small_fit(tmp_path, regression_data, flush_every_steps=4)
    assert not [w for w in caught if issubclass(w.category, DiagnosticsWarning)]
    run = read_run(tmp_path)
    summary = memory.summarize(run)
    if gpu_present:
        assert summary["gpu"] and summary["gpu_unavailable"] is None
    else:
        assert summary["gpu"] is None and summary["gpu_unavailable"] == "no GPU is visible to TensorFlow"
    # At every flush: after the first step, every 4 steps, and at each epoch's end (every 8 steps).
    assert summary["steps"] == [1, 5, 8, 12, 16] and all(v > 50 * MiB for v in summary["host_rss_bytes"])
    assert abs(summary["host_rss_bytes"][-1] - host_rss_bytes()) < 500 * MiB


def test_fake_gpu_readings_drive_every_formula_and_the_headroom_finding(tmp_path, regression_data, monkeypatch):
    """reserved = process - context baseline; slack = 1 - in_use / reserved; headroom = peak / total."""
    context = 300 * MiB
    readings = [
        [reading(1 * GiB, 1 * GiB, context + 2 * GiB)],
        [reading(4 * GiB, 13 * GiB, context + 14 * GiB)],
        [reading(6 * GiB, 15 * GiB, context + 16 * GiB)],
    ]
    monkeypatch.setattr(MemoryProbe, "source_factory", lambda: FakeGpuSource(readings))
    small_fit(tmp_path, regression_data, epochs=1, flush_every_steps=3)
    run = read_run(tmp_path)
    (gpu,) = memory.gpu_figures(run)
    # The least this process held beyond TF's in-use bytes: the context plus the first reading's slack.
    baseline = context + 1 * GiB
    assert gpu["reserved_bytes"] == pytest.approx(context + 16 * GiB - baseline, rel=1e-6)
    assert gpu["slack"] == pytest.approx(1 - 6 * GiB / gpu["reserved_bytes"], rel=1e-6)
    assert gpu["headroom"] == pytest.approx(15 / 16)
    assert gpu["series"]["steps"] == [1, 4, 7, 8]  # flushes: after step 1, every 3 steps, at the epoch's end
    assert gpu["series"]["reserved"] == pytest.approx([1 * GiB, 13 * GiB, 15 * GiB, 15 * GiB])
    (finding,) = [f for f in memory.find(run) if f.id == "gpu_headroom"]
    assert "94%" in finding.detail and "mixed_float16" in finding.remedy
    report = json_safe(run_report(run))
    assert report["memory"]["gpu"][0]["device"] == "GPU:0" and report["memory"]["retraces"] == 0
    assert_matches_contract("memory", memory.panel_payload(run, 2000))  # the GPU figures as the panel gets them


def test_nvml_raising_turns_off_gpu_figures_with_one_warning_and_keeps_host_figures(tmp_path, regression_data, monkeypatch):
    readings = [[reading(GiB, GiB, 2 * GiB)], RuntimeError("NVML_ERROR_GPU_IS_LOST")]
    monkeypatch.setattr(MemoryProbe, "source_factory", lambda: FakeGpuSource(readings))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        small_fit(tmp_path, regression_data, flush_every_steps=4)
    ours = [str(w.message) for w in caught if issubclass(w.category, DiagnosticsWarning)]
    assert len(ours) == 1 and "NVML_ERROR_GPU_IS_LOST" in ours[0] and "training continues" in ours[0]
    run = read_run(tmp_path)
    assert memory.summarize(run)["steps"] == [1, 5, 8, 12, 16]  # host figures at every flush
    assert memory.gpu_figures(run)[0]["series"]["steps"] == [1]  # GPU figures until NVML failed
    assert "NVML_ERROR_GPU_IS_LOST" in memory.traces(run)[1]  # and the log says why they stop


def test_the_real_source_degrades_quietly_without_gpu(gpu_present):
    if gpu_present:
        pytest.skip("a GPU is visible: the no-GPU path cannot be taken here")
    source = TensorFlowNvmlSource()
    assert source.read() == [] and source.unavailable == "no GPU is visible to TensorFlow"


GROWING_PROCESS = """
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np, keras
from tb_diag import DiagnosticsCallback
rng = np.random.default_rng(0)
x = rng.normal(size=(256, 1000)).astype("float32")
y = rng.normal(size=(256, 1)).astype("float32")
kept = []  # what a notebook does by accident: every model stays reachable
for _ in range(4):
    model = keras.Sequential([keras.Input((1000,)), keras.layers.Dense(2000), keras.layers.Dense(1)])
    model.compile("adam", "mse")
    model.fit(x, y, batch_size=64, epochs=1, verbose=0, callbacks=[DiagnosticsCallback(sys.argv[1])])
    kept.append(model)
"""


@pytest.mark.slow
def test_fitting_fresh_models_in_one_process_without_clear_session_shows_host_growth(tmp_path):
    """One fresh process fits four freshly built 24 MB models that stay referenced: RSS and live
    models grow with every fit, and the finding says so."""
    import subprocess
    import sys

    completed = subprocess.run([sys.executable, "-c", GROWING_PROCESS, str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-2000:]
    run = read_run(tmp_path)
    series = memory.memory_series(run)
    assert [f["fit_index"] for f in series.process_fits] == [1, 2, 3, 4]
    rss = [f["host_rss_bytes"] for f in series.process_fits]
    assert all(later > earlier for earlier, later in zip(rss, rss[1:])) and rss[-1] - rss[0] > 50 * MiB
    assert [f["live_models"] for f in series.process_fits] == [1, 2, 3, 4]
    (finding,) = [f for f in memory.find(run) if f.id == "host_memory_growth"]
    assert "clear_session" in finding.remedy and "per fit" in finding.detail and "from 1 to 4" in finding.detail


@pytest.mark.slow
def test_changing_input_shapes_show_retraces_with_their_signatures(tmp_path):
    """Fits on sequences of a new length each time (a curriculum, a notebook): the step is traced
    for the first length, traced once more with the length relaxed (TensorFlow's reduce_retracing,
    as in Keras' own train function), and the later lengths run that trace: both are listed, and
    one retrace is no retracing problem."""
    rng = np.random.default_rng(0)
    model = keras.Sequential([keras.Input((None, 3)), keras.layers.Dense(4), keras.layers.GlobalAveragePooling1D(), keras.layers.Dense(1)])
    model.compile("adam", "mse")
    for length in (4, 6, 9, 13):
        x, y = rng.normal(size=(64, length, 3)).astype("float32"), rng.normal(size=(64, 1)).astype("float32")
        model.fit(x, y, batch_size=16, epochs=1, verbose=0, callbacks=[DiagnosticsCallback(tmp_path)])
    run = read_run(tmp_path)
    assert memory.retrace_count(run) == 1
    listed, _ = memory.traces(run)
    lengths = {entry["signature"].split(" float32")[0].split(", ")[1] for entry in listed}
    assert lengths == {"4", "None"}
    assert not [f for f in memory.find(run) if f.id == "retracing"]


@pytest.mark.slow
def test_fixed_shapes_give_no_retrace_finding(tmp_path, regression_data):
    small_fit(tmp_path, regression_data)
    run = read_run(tmp_path)
    assert memory.retrace_count(run) == 0
    assert [f.id for f in memory.find(run)] == []


PROFILED_PROCESS = """
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np, keras
from tb_diag import DiagnosticsCallback
rng = np.random.default_rng(0)
x, y = rng.normal(size=(512, 64)).astype("float32"), rng.normal(size=(512, 1)).astype("float32")
model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(256, activation="relu"), keras.layers.Dense(1)])
model.compile("adam", "mse")
model.fit(x, y, batch_size=32, epochs=2, verbose=0,
          callbacks=[DiagnosticsCallback(sys.argv[1], profile_memory_every_steps=12, profile_memory_steps=3)])
"""


@pytest.mark.slow
def test_profiler_windows_read_the_bfc_allocators_fragmentation(tmp_path):
    """A real BFC allocator (TensorFlow's CPU one, TF_CPU_ALLOCATOR_USE_BFC=true) under opt-in profiler
    windows: each window is summarised per allocator from the profiler's own memory events."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, TF_CPU_ALLOCATOR_USE_BFC="true")
    completed = subprocess.run([sys.executable, "-c", PROFILED_PROCESS, str(tmp_path)], capture_output=True, text=True, timeout=300, env=env)
    assert completed.returncode == 0, completed.stderr[-2000:]
    windows, skipped = memory.profile_windows(read_run(tmp_path))
    assert skipped is None
    assert sorted({w["step"] for w in windows}) == [15, 27]  # 32 steps; 3-step windows from steps 12 and 24
    for window in windows:
        assert window["events"] > 10 and 0.0 <= window["fragmentation_median"] <= window["fragmentation_max"] <= 1.0
        assert window["bytes_in_use_max"] > 0 and window["peak_bytes_in_use"] >= window["bytes_in_use_max"]


def test_fragmentation_finding_from_window_summaries(tmp_path, regression_data):
    from tb_diag import schema
    from tb_diag.core.writer import SummaryWriter

    writer = SummaryWriter(str(tmp_path))
    writer.write_layers(0, ["dense"])
    writer.write_document(schema.MEMORY, 10, {"fit_index": 1, "epoch": 0, "host_rss_bytes": 1, "live_models": 1})
    window = {"allocator": "GPU_0_bfc", "events": 400, "fragmentation_median": 0.62, "fragmentation_max": 0.8,
              "bytes_in_use_max": 10 * GiB, "peak_bytes_in_use": 12 * GiB}
    writer.write_document(schema.MEMORY_PROFILES, 10, {"windows": [{"step": 5, **window}, {"step": 9, **window, "fragmentation_median": 0.1}], "skipped": None})
    writer.close()
    (finding,) = [f for f in memory.find(read_run(tmp_path)) if f.id == "gpu_fragmentation"]
    assert finding.step == 5 and "62%" in finding.detail and "cuda_malloc_async" in finding.remedy


@pytest.mark.slow
def test_a_profiler_already_running_skips_the_windows_with_one_warning(tmp_path, regression_data):
    other = tmp_path / "someone_elses_profile"
    tf.profiler.experimental.start(str(other))
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            small_fit(tmp_path / "logs", regression_data, profile_memory_every_steps=4, profile_memory_steps=2)
    finally:
        tf.profiler.experimental.stop()
    ours = [str(w.message) for w in caught if issubclass(w.category, DiagnosticsWarning)]
    assert len(ours) == 1 and "profiler windows skipped" in ours[0]
    windows, skipped = memory.profile_windows(read_run(tmp_path / "logs"))
    assert windows == [] and "profiler windows skipped" in skipped
