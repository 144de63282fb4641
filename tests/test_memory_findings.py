"""Memory rules on controlled documents, and untrusted memory documents."""

from __future__ import annotations

import numpy as np
import pytest

from tb_diag.plugin.diagnostics import memory
from tb_diag.plugin.report import json_safe, run_report
from tb_diag.plugin.run_data import RunData

MiB = 2**20


def run_with(process_fits, traces=(), samples=None) -> RunData:
    samples = samples or [(10, {"fit_index": process_fits[-1]["fit_index"], "epoch": 0, "host_rss_bytes": 500 * MiB,
                                "live_models": 1, "process": {"pid": 1, "host": "h", "fits": process_fits}})]
    documents = {"memory": samples, "traces": [(10, {"fit_index": 1, "traces": list(traces), "unavailable": "no GPU is visible to TensorFlow"})]}
    return RunData("run", [], 10, {}, [], documents)


def fit(index, rss_mib, live):
    return {"fit_index": index, "host_rss_bytes": rss_mib * MiB, "live_models": live}


@pytest.mark.parametrize("fits, expected", [
    ([fit(1, 500, 1), fit(2, 540, 2), fit(3, 580, 3)], True),  # memory and live models grow together
    ([fit(1, 500, 1), fit(2, 540, 1), fit(3, 580, 1)], False),  # models are freed: allocator high-water mark
    ([fit(1, 500, 1), fit(2, 520, 2), fit(3, 540, 3)], False),  # 40 MiB in all: below the threshold
    ([fit(1, 900, 5), fit(2, 500, 1), fit(3, 540, 2), fit(4, 580, 3)], True),  # only the trailing growth counts
    ([fit(1, 500, 1), fit(2, 800, 2)], False),  # two fits are not a trend
])
def test_host_growth_needs_growing_memory_and_growing_live_models_over_three_fits(fits, expected):
    found = memory.host_memory_growth(memory.memory_series(run_with(fits)))
    assert bool(found) == expected


def test_retraces_count_distinct_signatures_across_the_run():
    traces = [{"step": s, "epoch": 0, "sampled": True, "signature": sig} for s, sig in [(1, "a"), (2, "a"), (9, "b"), (20, "c")]]
    run = run_with([fit(1, 500, 1)], traces)
    assert memory.retrace_count(run) == 2
    (finding,) = memory.retracing(run)
    assert "3 different input signatures" in finding.detail and finding.step == 9  # where the first new signature appeared


def test_untrusted_memory_documents_keep_only_well_typed_fields():
    samples = [
        (5, {"fit_index": "1", "host_rss_bytes": 1}),  # fit_index not an int: skipped
        (6, {"fit_index": 1, "host_rss_bytes": "<script>", "live_models": True, "process": {"fits": ["x", {"fit_index": 1, "host_rss_bytes": None}]}}),
    ]
    run = run_with([fit(1, 1, 1)], traces=[{"signature": 7}, {"signature": "<img src=x onerror=alert(1)>", "step": "x"}], samples=samples)
    series = memory.memory_series(run)
    assert series.steps.tolist() == [6] and np.isnan(series.rss[0]) and np.isnan(series.live_models[0])
    listed, unavailable = memory.traces(run)
    assert [entry["signature"] for entry in listed] == ["<img src=x onerror=alert(1)>"] and listed[0]["step"] is None
    report = json_safe(run_report(run))
    assert report["memory"]["host_rss_bytes"] == [None] and report["memory"]["gpu_unavailable"] == unavailable
