"""The activation rules and the panel's distribution bands, on controlled statistics."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from payload_contracts import assert_matches_contract
from tb_diag import schema
from tb_diag.plugin.diagnostics import activations
from tb_diag.plugin.report import json_safe, run_report
from tb_diag.plugin.run_data import FamilyBlocks, RunData

M = {name: i for i, name in enumerate(schema.ACTIVATIONS.metrics)}
WIDTH = len(schema.ACTIVATIONS.metrics)


def row(mean=0.0, std=1.0, low=-2.0, high=2.0, zeros=0.0, dead=schema.NOT_SAMPLED, saturation=schema.NOT_SAMPLED, spread=schema.NOT_SAMPLED):
    values = np.zeros(WIDTH)
    values[:8] = [mean, std, low, high, zeros, dead, saturation, spread]
    values[M["hist_0"]:] = 1.0 / schema.HISTOGRAM_BINS
    return values


def run_with(calls: list[dict], rows: np.ndarray) -> RunData:
    """rows: [steps, calls, metrics] (every step sampled)."""
    steps = rows.shape[0]
    blocks = FamilyBlocks(np.arange(1, steps + 1), rows, np.ones(rows.shape[:2], dtype=bool), [c["name"] for c in calls])
    document = {"layers": [c["name"] for c in calls], "calls": calls}
    return RunData("run", [], steps, {"activations": blocks}, [], {"activation_calls": [(0, document)]})


def layer(name, activation="relu"):
    return {"name": name, "layer": name, "activation": activation, "kind": "layer"}


INPUT = {"name": "input", "layer": "input", "activation": "input", "kind": "input"}


@pytest.mark.parametrize("dead, expected", [(0.3, None), (0.6, "warning"), (0.995, "error")])
def test_dead_relu_severity_follows_the_recent_dead_share(dead, expected):
    rows = np.stack([np.stack([row(dead=0.0)]) for _ in range(12)] + [np.stack([row(dead=dead)]) for _ in range(4)])
    found = activations.dead_relu(activations.activation_series(run_with([layer("d")], rows)))
    assert [f.severity for f in found] == ([] if expected is None else [expected])


def test_dead_units_early_in_training_that_recover_are_not_reported():
    rows = np.stack([np.stack([row(dead=0.9)]) for _ in range(12)] + [np.stack([row(dead=0.1)]) for _ in range(4)])
    assert activations.dead_relu(activations.activation_series(run_with([layer("d")], rows))) == []


def test_saturation_is_judged_only_for_bounded_activations():
    rows = np.stack([np.stack([row(saturation=0.8), row()]) for _ in range(8)])
    found = activations.saturated_activation(activations.activation_series(run_with([layer("s", "sigmoid"), layer("r")], rows)))
    assert [f.layer for f in found] == ["s"]


def test_a_saturated_output_layer_is_a_confident_classifier_not_a_finding():
    # ResNet50 / DenseNet121 ending in softmax: after a few hundred steps most rows are > 0.99.
    rows = np.stack([np.stack([row(saturation=0.8), row(saturation=0.9)]) for _ in range(8)])
    series = activations.activation_series(run_with([layer("hidden", "tanh"), layer("predictions", "softmax")], rows))
    assert [f.layer for f in activations.saturated_activation(series)] == ["hidden"]


def test_activation_std_growing_100x_is_an_explosion():
    rows = np.stack([np.stack([row(std=1.0 * 2 ** (i / 2))]) for i in range(20)])  # ~1.0 -> ~860
    found = activations.activation_explosion(activations.activation_series(run_with([layer("grow", "linear")], rows)))
    assert [f.id for f in found] == ["activation_explosion"] and "x)" in found[0].detail


@pytest.mark.parametrize("kwargs, flagged", [
    ({"mean": 127.0, "std": 70.0, "low": 0.0, "high": 255.0}, True),
    ({"mean": 0.0, "std": 1.0, "spread": 500.0}, True),
    ({"mean": 0.1, "std": 0.9, "spread": 3.0}, False),
])
def test_inputs_far_from_unit_scale_are_not_normalised(kwargs, flagged):
    rows = np.stack([np.stack([row(**kwargs)]) for _ in range(4)])
    found = activations.unnormalized_inputs(activations.activation_series(run_with([INPUT], rows)))
    assert bool(found) == flagged


def test_report_has_the_latest_sample_per_call_and_null_where_a_metric_does_not_apply():
    rows = np.stack([np.stack([row(mean=float(i)), row(dead=0.25)]) for i in range(3)])
    entry = json_safe(run_report(run_with([layer("lin", "linear"), layer("r")], rows)))
    assert entry["activations"]["lin"] == {"mean": 2.0, "std": 1.0, "zero_fraction": 0.0, "dead_fraction": None, "saturation": None, "step": 3}
    assert entry["activations"]["r"]["dead_fraction"] == 0.25


def test_distribution_bands_are_quantiles_of_the_histogram():
    values = row(low=0.0, high=16.0)[None, :]  # uniform over 16 bins of width 1
    bands = activations.distribution_bands(values)
    np.testing.assert_allclose(bands[0], np.array(activations.BAND_QUANTILES) * 16.0)


def test_mistyped_call_documents_fall_back_to_safe_defaults():
    rows = np.stack([np.stack([row()]) for _ in range(2)])
    run = run_with([{"name": "x", "layer": 7, "activation": ["relu"], "kind": None}], rows)
    info = activations.activation_series(run).info
    assert info == [{"name": "x", "layer": "x", "activation": "other", "kind": "layer"}]


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 12), st.integers(1, 3), st.just(WIDTH)),
              elements=st.sampled_from([0.0, 1.0, -1.0, 0.5, 1e30, -1e30, np.nan, np.inf, -np.inf, schema.NOT_SAMPLED])))
def test_any_recorded_values_give_findings_a_report_and_a_payload(rows):
    calls = [layer(f"l{i}") for i in range(rows.shape[1] - 1)] + [INPUT]
    run = run_with(calls, rows)
    activations.find(run)
    json_safe(run_report(run))
    payload = activations.panel_payload(run, 10)
    if payload is not None:  # None: nothing recorded, the route answers 404
        assert_matches_contract("activations", payload)
