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
