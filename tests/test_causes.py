"""Root cause first: findings that follow from an earlier one are marked as its consequences."""

from __future__ import annotations

from tb_diag.plugin import causes
from tb_diag.plugin.findings import Finding


def finding(id_, severity="error", step=None, title="t", layer=None) -> Finding:
    return Finding(id=id_, severity=severity, step=step, layer=layer, title=title, detail="d", remedy="r")


def by_id(findings):
    return {f.id: f for f in findings}


def test_a_nan_event_that_ends_a_gradient_explosion_is_its_consequence():
    found = causes.attribute([
        finding("nonfinite", step=27),
        finding("exploding_gradients", step=24, title="Gradients are exploding"),
    ])
    assert [(f.id, f.caused_by) for f in found] == [("exploding_gradients", None), ("nonfinite", "exploding_gradients")]


def test_everything_from_the_first_nonfinite_step_on_follows_from_the_root():
    found = by_id(causes.attribute([
        finding("exploding_gradients", step=24, title="Gradients are exploding"),
        finding("nonfinite", step=27),
        finding("dead_relu", severity="warning", step=30),
        finding("activation_explosion", severity="warning", step=27),
        finding("unnormalized_inputs", severity="warning", step=5),  # before: its own problem
        finding("host_memory_growth", severity="warning"),  # no step: not placed in time
    ]))
    assert found["dead_relu"].caused_by == "exploding_gradients"
    assert found["activation_explosion"].caused_by == "exploding_gradients"
    assert found["unnormalized_inputs"].caused_by is None and found["host_memory_growth"].caused_by is None


def test_without_an_explosion_the_nan_event_is_the_root():
    found = causes.attribute([finding("nonfinite", step=41), finding("saturated_activation", severity="warning", step=60)])
    assert [(f.id, f.caused_by) for f in found] == [("nonfinite", None), ("saturated_activation", "nonfinite")]


def test_a_non_finite_gradient_norm_is_the_root_when_no_nan_event_was_recorded():
    found = causes.attribute([
        finding("dead_relu", severity="warning", step=50),
        finding("exploding_gradients", step=40, title=causes.NONFINITE_GRADIENTS_TITLE),
    ])
    assert [(f.id, f.caused_by) for f in found] == [("exploding_gradients", None), ("dead_relu", "exploding_gradients")]


def test_an_explosion_after_the_nan_is_its_consequence_not_its_cause():
    found = by_id(causes.attribute([
        finding("nonfinite", step=10),
        finding("exploding_gradients", step=12, title="Gradients are exploding"),
    ]))
    assert found["nonfinite"].caused_by is None and found["exploding_gradients"].caused_by == "nonfinite"


def test_roots_come_worst_first_each_followed_by_its_consequences():
    found = causes.attribute([
        finding("input_bound", severity="warning", step=2),
        finding("dead_relu", severity="warning", step=50),
        finding("nonfinite", step=41),
    ])
    assert [f.id for f in found] == ["nonfinite", "dead_relu", "input_bound"]
    assert [f.id for f in causes.root_causes(found)] == ["nonfinite", "input_bound"]


def test_without_nan_nothing_is_a_consequence():
    found = causes.attribute([finding("exploding_gradients", step=24, title="Gradients are exploding"), finding("dead_relu", step=30)])
    assert all(f.caused_by is None for f in found)


def test_a_learning_rate_too_high_is_the_root_of_the_explosion_and_all_that_follows_and_takes_its_severity():
    found = causes.attribute([
        finding("exploding_gradients", step=24, title="Gradients are exploding"),
        finding("nonfinite", step=27),
        finding("dead_relu", step=112),
        finding("learning_rate_too_high", severity="warning", step=2),
        finding("unnormalized_inputs", severity="warning", step=1),  # before it: its own problem
    ])
    assert [(f.id, f.caused_by) for f in found] == [
        ("learning_rate_too_high", None),
        ("exploding_gradients", "learning_rate_too_high"),
        ("nonfinite", "learning_rate_too_high"),
        ("dead_relu", "learning_rate_too_high"),
        ("unnormalized_inputs", None),
    ]
    # The cause of an error is an error: `tb-diag check` still fails the run.
    assert found[0].severity == "error"


def test_an_activation_explosion_after_large_updates_follows_from_the_learning_rate():
    found = by_id(causes.attribute([finding("activation_explosion", severity="warning", step=60), finding("learning_rate_too_high", severity="warning", step=12)]))
    assert found["activation_explosion"].caused_by == "learning_rate_too_high"
    assert found["learning_rate_too_high"].severity == "warning"


def test_vanishing_gradients_follow_from_the_deep_sigmoid_stack_the_model_check_named():
    found = causes.attribute([
        finding("vanishing_gradients", severity="warning", step=59),
        finding("deep_saturating_stack", severity="warning"),
    ])
    assert [(f.id, f.caused_by) for f in found] == [("deep_saturating_stack", None), ("vanishing_gradients", "deep_saturating_stack")]
