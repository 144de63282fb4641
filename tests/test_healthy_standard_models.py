"""No false alarms on healthy standard models: the healthy suite's CI part (small variants).

A rule that fires on a healthy Transformer or MobileNetV2 trains users to ignore the tool. Each
model here (``benchmarks/standard_models.py``, small variants) trains on data with a learnable
signal with default settings, with nothing wrong, and must come out without any finding. The
full-size suite, with ResNet50, EfficientNetB0 and DenseNet121 too, is
``python benchmarks/healthy_suite.py``; its results are in docs/rules.md.

The planted faults that each rule must still catch are the demo's sick runs (test_cli,
test_plugin_routes) and each rule's own tests.
"""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks.healthy_suite import findings, train_healthy  # noqa: E402
from tb_diag.plugin.diagnostics.gradients import gradient_series  # noqa: E402

pytestmark = [pytest.mark.slow]

# ResNet50, EfficientNetB0 and DenseNet121 stay deep when small (tens of seconds of tracing each on
# 2 cores): they run in the full suite, not in CI.
CI_MODELS = ("transformer", "lstm", "gru", "embedding", "mobilenetv2")
STEPS = 125  # 5 epochs of 25 steps
# Denser than the callback's default (20): 12 sampled steps in 125, so that every rule judges
# (fewer samples than a rule needs would make "no finding" pass without it looking).
SAMPLE_EVERY_STEPS = 10


# The epochs over several fits, as a notebook loop trains: the same training then also shows that a
# standard architecture is traced in its first fit only (tests/test_trace_reuse.py has the rest).
FITS = 3


@pytest.mark.parametrize("model", CI_MODELS)
def test_a_healthy_standard_model_gets_no_finding_and_is_traced_once_for_every_later_fit(tmp_path, model):
    traces = []
    run = train_healthy(model, str(tmp_path), steps=STEPS, small=True, sample_every_steps=SAMPLE_EVERY_STEPS, fits=FITS, traces=traces)
    assert run.last_step == STEPS
    assert run_gradient_steps(run) == list(range(1, STEPS + 1))  # every step of every fit recorded
    assert [(f["severity"], f["id"], f["layer"], f["detail"]) for f in findings(run)] == []
    # Traced in the first fit (the light and the sampled step), not again in the later ones.
    assert len(traces) == FITS and traces[0] >= 2 and set(traces) == {traces[0]}


def run_gradient_steps(run) -> list[int]:
    return gradient_series(run).steps.tolist()


def test_a_full_size_transformer_fitted_briefly_on_random_labels_gets_no_finding(tmp_path):
    """Issue 15's setting: near-uniform attention keeps query/key gradients ~1e-4 of the largest
    layer's. The gradient-only rule called that vanishing; Adam's updates show the weights move."""
    run = train_healthy("transformer", str(tmp_path), steps=75, signal=False)
    assert [(f["severity"], f["id"], f["layer"], f["detail"]) for f in findings(run)] == []
