"""The input-bound verdict, its exclusions and its remedies, on controlled step timings."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from payload_contracts import assert_matches_contract
from tb_diag import schema
from tb_diag.plugin.diagnostics import input as input_diagnostic
from tb_diag.plugin.report import json_safe, run_report
from tb_diag.plugin.run_data import FamilyBlocks, RunData

PYTHON_PIPELINE = {"stages": ["flat_map", "from_tensors"], "source": "python", "python": True, "prefetch": False,
                   "parallel_map": False, "sequential_map": False, "cache": False}
SEQUENTIAL_MAP = {"stages": ["batch", "map", "TFRecordDataset"], "source": "files", "python": False, "prefetch": False,
                  "parallel_map": False, "sequential_map": True, "cache": False}


def run_with(wait, compute, host=None, epoch=None, pipeline=None) -> RunData:
    """A RunData with the given per-step seconds (host: NOT_SAMPLED at each epoch's first step by default)."""
    wait, compute = np.asarray(wait, float), np.asarray(compute, float)
    steps = wait.size
    epoch = np.zeros(steps) if epoch is None else np.asarray(epoch, float)
    if host is None:
        host = np.full(steps, 1e-4)
        host[np.r_[True, epoch[1:] != epoch[:-1]]] = schema.NOT_SAMPLED
    values = np.stack([wait, compute, np.asarray(host, float), epoch], axis=1)
    blocks = FamilyBlocks(np.arange(1, steps + 1), values, np.ones(steps, dtype=bool))
    documents = {"input_pipeline": [(0, pipeline)]} if pipeline else {}
    return RunData("run", ["dense"], steps, {"input": blocks}, [], documents)


@pytest.mark.parametrize(
    "share, verdict",
    [(0.0, "not"), (0.049, "not"), (0.051, "moderately"), (0.199, "moderately"), (0.201, "highly"), (0.9, "highly")],
)
def test_verdict_follows_the_profiler_thresholds(share, verdict):
    """>= 20% of step time waiting is highly input-bound, >= 5% moderately, below that not."""
    step = 0.01
    run = run_with(np.full(50, share * step), np.full(50, (1 - share) * step - 1e-4))
    summary = input_diagnostic.summarize(run)
    assert summary["verdict"] == verdict
    assert summary["wait_fraction"] == pytest.approx(share, abs=2e-3)
    findings = input_diagnostic.find(run)
    expected = {"not": [], "moderately": ["info"], "highly": ["warning"]}[verdict]
    assert [f.severity for f in findings] == expected


def test_compile_and_trace_outliers_are_left_out_of_the_verdict():
    """A 2 s XLA compile in the first step's compute does not dilute a starving pipeline's share."""
    compute = np.full(40, 0.001)
    compute[0] = 2.0
    summary = input_diagnostic.summarize(run_with(np.full(40, 0.004), compute))
    assert summary["excluded_steps"] == 1 and summary["steps"] == 39
    assert summary["verdict"] == "highly"


def test_stalls_in_the_wait_itself_are_counted():
    """A pipeline that stalls 1 s every tenth step is input-bound even though its median wait is ~0."""
    wait = np.zeros(100)
    wait[::10] = 1.0
    summary = input_diagnostic.summarize(run_with(wait, np.full(100, 0.05)))
    assert summary["wait_p50_s"] == 0 and summary["verdict"] == "highly"


def test_each_epoch_gets_its_own_verdict():
    epoch = np.repeat([0, 1], 20)
    wait = np.where(epoch == 1, 0.02, 0.0)
    summary = input_diagnostic.summarize(run_with(wait, np.full(40, 0.01), epoch=epoch))
    assert [(e["epoch"], e["verdict"]) for e in summary["epochs"]] == [(0, "not"), (1, "highly")]
    assert "worst epoch was 1" in input_diagnostic.find(run_with(wait, np.full(40, 0.01), epoch=epoch))[0].detail


def test_too_few_steps_give_no_verdict():
    run = run_with(np.full(4, 0.1), np.full(4, 0.01))
    assert input_diagnostic.summarize(run)["verdict"] is None and input_diagnostic.find(run) == []


@pytest.mark.parametrize(
    "pipeline, expected, unexpected",
    [
        (PYTHON_PIPELINE, ["workers=4", "prefetch(tf.data.AUTOTUNE)", ".cache()"], ["num_parallel_calls=tf.data.AUTOTUNE)."]),
        (SEQUENTIAL_MAP, ["map(fn, num_parallel_calls=tf.data.AUTOTUNE)", "prefetch(tf.data.AUTOTUNE)", ".cache()"], ["workers"]),
        ({**SEQUENTIAL_MAP, "parallel_map": True, "sequential_map": False, "prefetch": True, "cache": True},
         ["larger batch size"], ["workers", "prefetch(", ".cache()"]),
        (None, ["num_parallel_calls", "prefetch", "larger batch size"], ["workers"]),
    ],
    ids=["python", "sequential-map-from-files", "already-tuned", "unknown-pipeline"],
)
def test_remedies_are_chosen_by_what_the_pipeline_is(pipeline, expected, unexpected):
    (finding,) = input_diagnostic.find(run_with(np.full(30, 0.01), np.full(30, 0.01), pipeline=pipeline))
    for text in expected:
        assert text in finding.remedy
    for text in unexpected:
        assert text not in finding.remedy


def test_short_waits_on_tiny_steps_get_the_amortise_remedy_as_an_info():
    """0.2 ms waits on 0.7 ms steps (28%): not a slow pipeline, a step too small; advice says so."""
    (finding,) = input_diagnostic.find(run_with(np.full(30, 2e-4), np.full(30, 4e-4), pipeline=PYTHON_PIPELINE))
    assert finding.severity == "info"
    assert "steps_per_execution" in finding.remedy and "workers" not in finding.remedy


def test_a_moderate_share_of_short_waits_is_no_finding():
    """The demo's healthy run: 0.1 ms waits, 8% of a 1.2 ms step. The headline keeps the figure."""
    run = run_with(np.full(30, 1e-4), np.full(30, 1.1e-3))
    assert input_diagnostic.summarize(run)["verdict"] == "moderately"
    assert input_diagnostic.find(run) == []


def test_report_entry_has_the_documented_input_keys():
    entry = json_safe(run_report(run_with(np.full(30, 0.01), np.full(30, 0.01), pipeline=SEQUENTIAL_MAP)))
    assert {"wait_fraction", "verdict", "step_p50_s", "step_p95_s", "epochs", "pipeline"} <= set(entry["input"])
    assert entry["input"]["pipeline"] == SEQUENTIAL_MAP


def test_panel_keeps_the_slowest_step_of_each_bucket_whole():
    wait = np.full(1000, 0.001)
    wait[537] = 5.0
    payload = input_diagnostic.panel_payload(run_with(wait, np.full(1000, 0.002)), 50)
    assert payload["downsampled"] and len(payload["steps"]) <= 50
    index = payload["steps"].index(538)
    assert payload["wait_s"][index] == 5.0 and payload["compute_s"][index] == 0.002
    assert sum(payload["histogram"]["counts"]) == 1000
    full = input_diagnostic.panel_payload(run_with(wait, np.full(1000, 0.002)), 2000)
    assert not full["downsampled"] and full["host_s"][0] is None  # the first step has no previous one


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.floats(-1, 10), st.floats(-1, 10), st.floats(-2, 10), st.integers(0, 3)), min_size=1, max_size=60)
)
def test_any_timings_give_a_consistent_summary(rows):
    """Whatever is stored (even negative clock jumps), the fraction is in [0, 1] and matches the verdict."""
    wait, compute, host, epoch = (np.array(column, float) for column in zip(*rows))
    run = run_with(wait, compute, host=host, epoch=np.sort(epoch))
    summary = input_diagnostic.summarize(run)
    if summary["verdict"] is not None:
        assert 0.0 <= summary["wait_fraction"] <= 1.0
        assert summary["verdict"] == input_diagnostic.verdict(summary["wait_fraction"])
    input_diagnostic.find(run)
    payload = input_diagnostic.panel_payload(run, 10)
    if payload is not None:  # None: nothing recorded, the route answers 404
        assert_matches_contract("input", payload)
