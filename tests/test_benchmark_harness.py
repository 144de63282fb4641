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

pytestmark = [pytest.mark.subprocess, pytest.mark.slow]


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


def test_the_lockstep_benchmark_pairs_every_configs_steps_with_plains(tmp_path):
    import json

    from benchmarks import lockstep

    out = tmp_path / "lockstep.json"
    assert lockstep.main(["--models", "lstm", "--small", "--steps", "14", "--warm-steps", "3", "--configs", "plain", "tb_diag",
                          "check_numerics", "--json", str(out)]) == 0
    together, tool = json.loads(out.read_text())["workers"]
    assert together["configs"] == ["plain", "tb_diag"] and tool["configs"] == ["plain", "check_numerics"]
    for worker in (together, tool):
        assert worker["status"] == "ok", worker
        assert {len(times) for times in worker["times"].values()} == {14}
        for figures in worker["summary"].values():
            assert figures["cycles"] == 14 - lockstep.SETTLE_CYCLES - 1 and figures["median_ratio"] > 0
    assert tool["summary"]["plain"]["median_ratio"] == 1.0


def test_the_lockstep_baton_runs_threads_one_step_each_in_turn_and_lets_a_finished_one_leave():
    import threading

    from benchmarks.lockstep import Baton

    baton, order = Baton(3), []

    def steps(index: int, count: int) -> None:
        for _ in range(count):
            baton.wait_for(index)
            order.append(index)
            baton.pass_on(index)
        baton.leave(index)

    threads = [threading.Thread(target=steps, args=(i, n)) for i, n in enumerate((3, 1, 3))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert order == [0, 1, 2, 0, 2, 0, 2]


def test_breakdown_configs_name_the_defaults_less_one_probe_or_a_combination(tmp_path):
    """The configs that break the defaults' cost down: ``tb_diag_without_<probe>`` (all probes but
    one) and ``tb_diag_<a>+<b>_only``; anything else is refused with the list of known configs."""
    import keras

    from benchmarks.real_models import config_callbacks, describe, known_config
    from tb_diag.probes import PROBES

    (without,) = config_callbacks("tb_diag_without_nonfinite", keras, str(tmp_path))
    assert without.probe_names == tuple(name for name in PROBES if name != "nonfinite")
    (pair,) = config_callbacks(known_config("tb_diag_gradients+nonfinite_only"), keras, str(tmp_path))
    assert pair.probe_names == ("gradients", "nonfinite")
    assert describe("tb_diag_gradients+nonfinite_only") == '`DiagnosticsCallback(tmpdir, probes=["gradients", "nonfinite"])`'
    assert "without the `nonfinite` probe" in describe("tb_diag_without_nonfinite")
    for bad in ("tb_diag_gradients+nope_only", "tb_diag_without_nope", "fast"):
        with pytest.raises(ValueError, match="unknown config"):
            known_config(bad)
