"""The overhead benchmark's harness still runs (it measures nothing here: timings are not asserted).

Overhead is measured by `python benchmarks/overhead.py` (docs/benchmark.md), never by a timed test;
this only keeps the harness from rotting as the callback changes.
"""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.overhead import run_worker_subprocess  # noqa: E402


@pytest.mark.parametrize("config", ["plain", "tb_diag", "tb_diag_sample_every_step"])
def test_benchmark_worker_measures_each_tb_diag_config(config):
    result = run_worker_subprocess("mlp", config, steps=8, warmup=3)
    assert result["status"] == "ok", result
    assert result["median_s"] > 0


def test_the_benchmark_worker_runs_under_mirrored_strategy():
    result = run_worker_subprocess("mlp", "tb_diag", steps=8, warmup=3, strategy="mirrored")
    assert result["status"] == "ok" and result["strategy"] == "mirrored", result


def test_the_real_architecture_benchmark_measures_first_step_later_fit_and_steady_step():
    from benchmarks.real_models import run_model_worker_subprocess

    worker = run_model_worker_subprocess("lstm", ["plain", "tb_diag"], rounds=1, steps=4, small=True)
    for config in ("plain", "tb_diag"):
        result = worker["results"][config]
        assert result["status"] == "ok", result
        assert result["first_step_s"] > 0 and result["later_fit_s"] > 0 and result["round_median_s"][0] > 0


def test_the_synthetic_log_dir_reads_back_with_its_planted_spike_and_nan(tmp_path):
    """The scale benchmark's log dir is in the callback's format and has something to find."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))
    from synthetic_logdir import write_synthetic_run

    from tb_diag.plugin import report
    from tb_diag.plugin.run_data import load_logdir

    planted = write_synthetic_run(str(tmp_path / "synthetic" / "train"), layers=12, steps=2000)
    (run,) = load_logdir(str(tmp_path))
    assert run.run == "synthetic/train" and len(run.layers) == 12 and run.last_step == 2000 and run.warnings == []
    findings = {finding["id"]: finding for finding in report.run_report(run)["findings"]}
    # The NaN comes later than the spike but is the worse news: the finding points at it.
    assert findings["exploding_gradients"]["step"] == planted["nan_step"]
    assert "input_bound" in findings
