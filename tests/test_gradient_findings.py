"""The exploding/vanishing rules on controlled series, at and around their thresholds."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from tb_diag.plugin.diagnostics import gradients
from tb_diag.plugin.report import json_safe, run_report
from tb_diag.plugin.run_data import FamilyBlocks, RunData


def run_with(grad_norm: np.ndarray, layers=None, update_ratio=None) -> RunData:
    """A RunData whose gradients are grad_norm[steps, layers] (weights 1, update ratios 1e-3 unless
    given, sampled at every step)."""
    steps, width = grad_norm.shape
    ratios = np.full_like(grad_norm, 1e-3) if update_ratio is None else update_ratio
    values = np.stack([grad_norm, np.ones_like(grad_norm), ratios], axis=2)
    blocks = FamilyBlocks(np.arange(1, steps + 1), values, np.ones((steps, width), dtype=bool))
    layers = layers or [f"layer_{i}" for i in range(width)]
    return RunData("run", layers, steps, {"gradients": blocks}, [])


def steady(steps=100, width=3, value=1.0):
    return np.full((steps, width), value)


def test_steady_gradients_raise_nothing():
    assert gradients.find(run_with(steady())) == []


@pytest.mark.parametrize("growth, severity", [(50, None), (150, "warning"), (5000, "error")])
def test_growth_of_the_global_norm_sets_the_severity(growth, severity):
    norms = steady()
    norms[60:, 1] = growth * np.sqrt(3)  # layer_1 alone carries the growth from step 61
    found = gradients.exploding_gradients(gradients.gradient_series(run_with(norms)))
    if severity is None:
        assert found == []
        return
    (finding,) = found
    assert (finding.severity, finding.step, finding.layer) == (severity, 61, "layer_1")


def test_a_large_first_step_whose_gradients_then_shrink_is_not_an_explosion():
    # DenseNet121 on its first step: a global norm 300x the median of the next steps.
    norms = steady(steps=300, value=0.01)
    norms[0] = 30.0
    assert gradients.exploding_gradients(gradients.gradient_series(run_with(norms))) == []


def test_first_non_finite_gradient_is_an_error_at_its_step_and_first_layer():
    norms = steady()
    norms[40:, 2] = np.inf
    norms[41:, 0] = np.nan
    (finding,) = gradients.exploding_gradients(gradients.gradient_series(run_with(norms)))
    assert (finding.severity, finding.step, finding.layer) == ("error", 41, "layer_2")
    assert "+Inf (a gradient was infinite, or the norm overflowed float32" in finding.detail


def test_layers_1000x_weaker_whose_weights_barely_move_are_vanishing():
    # Plain SGD: updates scale with the gradients, so the weak layers' weights stop moving.
    norms = steady(width=4)
    norms[:, 0] = 1e-4  # 10^4 weaker: vanishing
    norms[:, 1] = 2e-3  # 500x weaker: not yet
    norms[:, 2] = 0.0  # exactly zero: disconnected from the loss
    ratios = 1e-3 * norms
    (finding,) = gradients.vanishing_gradients(gradients.gradient_series(run_with(norms, update_ratio=ratios)))
    assert finding.severity == "warning" and finding.layer == "layer_0"
    assert "'layer_0'" in finding.detail and "'layer_1'" not in finding.detail
    assert "exactly zero gradient: layer_2" in finding.detail


def test_small_gradients_that_still_move_the_weights_are_not_vanishing():
    # Adam on a Transformer: query/key gradients 10^4 below the output projection's, but Adam
    # rescales them into updates of the usual size (the false alarm of issue 15).
    norms = steady(width=3)
    norms[:, 0] = 1e-4
    norms[:, 1] = 2e-5
    assert gradients.vanishing_gradients(gradients.gradient_series(run_with(norms))) == []
    # Updates 50x smaller than the strongest layer's: below the usual, not stuck.
    ratios = np.full_like(norms, 2e-5)
    ratios[:, 2] = 1e-3
    assert gradients.vanishing_gradients(gradients.gradient_series(run_with(norms, update_ratio=ratios))) == []
    ratios[:, :2] = 0.5e-5  # 200x smaller: stuck
    (finding,) = gradients.vanishing_gradients(gradients.gradient_series(run_with(norms, update_ratio=ratios)))
    assert finding.layer == "layer_0" and "'layer_1'" in finding.detail


def test_normalisation_layers_are_neither_judged_nor_the_reference():
    # A ResNet50's BatchNormalization deep in the network: 10^4 below conv1, and its scale moves slowly.
    norms = steady(width=3)
    norms[:, 0] = 1e-4
    norms[:, 2] = 1e3  # a LayerNormalization with the largest gradients is not the reference either
    ratios = 1e-3 * norms
    series = gradients.gradient_series(run_with(norms, update_ratio=ratios))
    classes = {"layer_0": "BatchNormalization", "layer_1": "Conv2D", "layer_2": "LayerNormalization"}
    assert gradients.vanishing_gradients(series, classes) == []
    (finding,) = gradients.vanishing_gradients(series, {"layer_0": "Conv2D"})
    assert finding.layer == "layer_0"


def test_without_update_ratios_small_gradients_are_not_judged():
    norms = steady(width=2)
    norms[:, 0] = 1e-6
    series = gradients.gradient_series(run_with(norms, update_ratio=1e-3 * norms))
    series.sampled[:] = False
    assert gradients.vanishing_gradients(series) == []


def test_too_few_steps_are_not_judged():
    norms = steady(steps=5)
    norms[:, 0] = 1e-9
    norms[-1, 1] = 1e6
    assert gradients.find(run_with(norms)) == []


def test_summary_never_hides_a_nan():
    norms = steady()
    norms[50, 1] = np.nan
    summary = gradients.summarize(run_with(norms))
    assert np.isnan(summary["layer_1"]["max"]) and summary["layer_1"]["min"] == 1.0


norm_values = st.one_of(st.floats(0, 1e30), st.just(np.nan), st.just(np.inf), st.just(0.0))


@settings(max_examples=200, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 40), st.integers(1, 5)), elements=norm_values))
def test_rules_and_report_accept_any_recorded_values(norms):
    """Whatever was recorded (zeros, NaN, Inf, huge), the rules answer and the report is valid JSON."""
    import json

    run = run_with(norms)
    for finding in gradients.find(run):
        assert finding.severity in ("warning", "error") and finding.layer in run.layers
        assert 1 <= finding.step <= norms.shape[0]
    json.dumps(json_safe(run_report(run)), allow_nan=False)


def test_update_ratios_far_above_the_usual_mean_a_learning_rate_too_high():
    norms = steady(width=3)
    ratios = np.full_like(norms, 1e-3)
    ratios[:, 1] = 6e-2  # 6% of the layer's weights per step
    (finding,) = gradients.learning_rate_scale(gradients.gradient_series(run_with(norms, update_ratio=ratios)))
    assert (finding.id, finding.severity, finding.layer, finding.step) == ("learning_rate_too_high", "warning", "layer_1", 1)
    assert "'layer_1' 0.06" in finding.detail and "'layer_0'" not in finding.detail
    ratios[:, 1] = 2e-2  # below LR_TOO_HIGH: large, not too large
    assert gradients.learning_rate_scale(gradients.gradient_series(run_with(norms, update_ratio=ratios))) == []


def test_only_the_steps_before_the_first_nan_are_judged_for_the_learning_rate():
    norms = steady(width=2)
    ratios = np.full_like(norms, 1e-3)
    ratios[:50] = 5e-2
    norms[50:] = np.nan  # diverged at step 51: what came after is not evidence
    (finding,) = gradients.learning_rate_scale(gradients.gradient_series(run_with(norms, update_ratio=ratios)))
    assert finding.id == "learning_rate_too_high" and "before the first NaN/Inf" in finding.detail


def test_every_layer_barely_moving_while_gradients_stay_is_a_learning_rate_too_low():
    norms = steady(width=3)
    ratios = np.full_like(norms, 1e-8)
    (finding,) = gradients.learning_rate_scale(gradients.gradient_series(run_with(norms, update_ratio=ratios)))
    assert (finding.id, finding.layer, finding.step) == ("learning_rate_too_low", None, 51)
    ratios[:, 2] = 1e-3  # one layer learns: not the learning rate (vanishing_gradients judges the rest)
    assert gradients.learning_rate_scale(gradients.gradient_series(run_with(norms, update_ratio=ratios))) == []


def test_small_updates_of_a_converged_model_are_not_a_learning_rate_too_low():
    norms = steady(width=2)
    norms[20:] = 1e-4  # gradients fell 10^4: the model converged, updates shrink with them
    ratios = np.full_like(norms, 1e-8)
    assert gradients.learning_rate_scale(gradients.gradient_series(run_with(norms, update_ratio=ratios))) == []
