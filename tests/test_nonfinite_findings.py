"""The NaN/Inf origin, viewer side: locating the origin per phase from recorded counts, untrusted
event documents, the findings and their remedies, and the loss-scale rule (no TensorFlow)."""

from __future__ import annotations

import json

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from payload_contracts import assert_matches_contract
from tb_diag import schema
from tb_diag.plugin.diagnostics import nonfinite
from tb_diag.plugin.run_data import FamilyBlocks, RunData
from tb_diag.vocabulary import NAN_PHASES

FINITE = {"nan": 0, "posinf": 0, "neginf": 0, "max_abs": 1.5}


def bad(nan=0, posinf=0, neginf=0):
    return {"nan": nan, "posinf": posinf, "neginf": neginf, "max_abs": 2.0}


def event(phase, calls=(), layers=(), inputs=(("input", FINITE),), **extra):
    return {
        "step": 12, "epoch": 1, "phase": phase, "on_nan": "stop", "action": "stopped", "weights_kept": True,
        "loss": None, "loss_seen": True,
        "inputs": [{"name": name, **stats} for name, stats in inputs],
        "calls": [{"name": name, "layer": name.split("#")[0], "in": i, "out": o} for name, i, o in calls],
        "layers": [{"layer": name, "grad": g, "weights": w} for name, g, w in layers],
        **extra,
    }


def run_with(*documents, steps_documents=(), loss_scale=None):
    documents_by_family = {schema.NONFINITE.name: [(d.get("step", 0) if isinstance(d, dict) else 0, d) for d in documents]}
    documents_by_family[schema.NONFINITE_STEPS.name] = [(0, d) for d in steps_documents]
    families = {}
    if loss_scale is not None:
        values = np.array(loss_scale, dtype=np.float64)
        steps = np.arange(1, len(values) + 1)
        families[schema.LOSS_SCALE.name] = FamilyBlocks(steps=steps, values=values, present=np.ones(len(values), bool))
    return RunData(run="r", layers=[], last_step=len(loss_scale or []), families=families, warnings=[], documents=documents_by_family)


def test_forward_origin_is_the_first_call_with_finite_inputs_and_a_non_finite_output():
    e = nonfinite.clean_event(event("forward", calls=[
        ("dense", FINITE, FINITE),
        ("log", FINITE, bad(neginf=3)),
        ("dense_2", bad(neginf=3), bad(nan=5)),
        ("head", bad(nan=5), FINITE),  # a ReLU-fused kernel can turn NaN into 0
    ], layers=[("dense_2", bad(nan=4), FINITE), ("head", FINITE, FINITE)]))
    where = nonfinite.locate(e)
    assert where["layer"] == "log" and where["contaminated"] == ["dense_2"] and where["contaminated_gradients"] == ["dense_2"]


def test_a_shared_layer_is_located_by_its_call():
    e = nonfinite.clean_event(event("forward", calls=[("shared", FINITE, FINITE), ("shared#2", FINITE, bad(posinf=1))]))
    assert nonfinite.locate(e)["layer"] == "shared#2"


def test_input_origin_names_the_batch_tensor():
    e = nonfinite.clean_event(event("input", inputs=[("input", FINITE), ("target", bad(nan=2))]))
    assert nonfinite.locate(e)["layer"] == "target"
    (finding,) = nonfinite.find(run_with(event("input", inputs=[("input", FINITE), ("target", bad(nan=2))])))
    assert finding.layer is None and "'target' held 2 NaN" in finding.detail and "Clean the data" in finding.remedy


def test_backward_origin_is_the_bad_layer_nearest_the_loss_and_names_what_follows_it():
    calls = [("a", FINITE, FINITE), ("sqrt", FINITE, FINITE), ("b", FINITE, FINITE), ("head", FINITE, FINITE)]
    layers = [("a", bad(nan=6), FINITE), ("b", FINITE, FINITE), ("head", FINITE, FINITE)]
    where = nonfinite.locate(nonfinite.clean_event(event("backward", calls=calls, layers=layers)))
    assert where["layer"] == "a" and where["between"] == ["a", "sqrt"]


def test_update_origin_is_the_first_layer_with_non_finite_new_weights():
    layers = [("a", FINITE, FINITE), ("b", FINITE, bad(posinf=2)), ("c", FINITE, bad(nan=1))]
    where = nonfinite.locate(nonfinite.clean_event(event("update", layers=layers)))
    assert where["layer"] == "b" and where["contaminated"] == ["c"]


def test_each_phase_gets_its_own_remedy_and_the_action_taken():
    remedies = {}
    for phase in NAN_PHASES:
        calls = [("log", FINITE, bad(nan=1))] if phase == "forward" else []
        layers = [("d", bad(nan=1) if phase == "backward" else FINITE, bad(nan=1) if phase == "update" else FINITE)]
        (finding,) = nonfinite.find(run_with(event(phase, calls=calls, layers=layers)))
        assert finding.id == "nonfinite" and finding.severity == "error" and finding.step == 12
        assert "weights after step 11" in finding.detail
        remedies[phase] = finding.remedy
    assert len(set(remedies.values())) == len(NAN_PHASES)
    assert "clipnorm" in remedies["update"] and "epsilon" in remedies["forward"] and "from_logits" in remedies["loss"]


def test_the_earliest_event_is_the_origin_and_skips_are_counted():
    later = {**event("forward", calls=[("x", FINITE, bad(nan=1))]), "step": 30, "action": "skipped"}
    first = {**event("loss"), "action": "skipped"}
    steps = {"on_nan": "skip", "steps": [{"step": 12, "phase": "loss", "action": "skipped"}, {"step": 30, "phase": "forward", "action": "skipped"}]}
    summary = nonfinite.summarize(run_with(later, first, steps_documents=[steps]))
    assert summary["step"] == 12 and summary["phase"] == "loss" and summary["skipped_steps"] == 2 and summary["bad_steps"] == 2


def test_a_run_without_events_summarizes_to_none():
    assert nonfinite.summarize(run_with()) is None and nonfinite.find(run_with()) == []


HOSTILE_NAME = '<img src=x onerror="alert(1)">'


def test_hostile_and_mistyped_documents_are_cleaned_not_trusted():
    assert nonfinite.clean_event("not a dict") is None
    assert nonfinite.clean_event({"step": "12"}) is None
    assert nonfinite.clean_event({"step": True}) is None
    e = nonfinite.clean_event({
        "step": 3, "phase": "rm -rf", "action": 7, "loss": "NaN", "epoch": 1.5,
        "calls": [{"name": HOSTILE_NAME, "in": {"nan": -4, "max_abs": "big"}, "out": {"nan": 2**70}}, "junk", None],
        "layers": {"not": "a list"},
        "inputs": [{"name": ["nested"]}],
    })
    assert e["phase"] == "unknown" and e["action"] == "unknown" and e["loss"] is None and e["epoch"] is None
    assert e["calls"][0]["name"] == HOSTILE_NAME and e["calls"][0]["in"] == {"nan": 0, "posinf": 0, "neginf": 0, "max_abs": None}
    assert e["layers"] == [] and e["inputs"][0]["name"] == "['nested']"
    findings = nonfinite.find(run_with({"step": 3, "phase": "forward", "calls": [{"name": HOSTILE_NAME, "out": {"nan": 1}}]}))
    assert findings[0].layer == HOSTILE_NAME  # shown as text by every surface


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["step", "phase", "calls", "layers", "inputs", "action", "loss", "epoch"]), json_values))
def test_any_json_document_summarizes_or_is_skipped_without_raising(document):
    run = run_with(document)
    summary = nonfinite.summarize(run)
    nonfinite.find(run)
    payload = nonfinite.panel_payload(run, 100)
    if summary is not None:
        json.dumps(summary)
        json.dumps(payload, allow_nan=True)
    if payload is not None:
        assert_matches_contract("nonfinite", payload)  # whatever the log held


def test_loss_scale_collapse_is_an_error_but_occasional_overflow_is_normal():
    healthy = [[2.0**15 / (2 if i % 40 == 0 else 1), float(i % 40 == 0)] for i in range(200)]
    assert nonfinite.find(run_with(loss_scale=healthy)) == []
    collapsing = [[2.0**15 / 2**i, 1.0] for i in range(60)]
    (finding,) = nonfinite.find(run_with(loss_scale=collapsing))
    assert finding.id == "loss_scale_collapse" and finding.severity == "error" and "float32" in finding.remedy
    summary = nonfinite.loss_scale(run_with(loss_scale=collapsing))
    assert summary["skips"] == 60 and summary["min_scale"] == collapsing[-1][0]
    # The panel keeps the lowest scale of each bucket when it downsamples.
    payload = nonfinite.panel_payload(run_with(loss_scale=collapsing), 10)
    assert payload["event"] is None and len(payload["loss_scale"]["steps"]) == 10
    assert payload["loss_scale"]["scale"][-1] == collapsing[-1][0]
    assert_matches_contract("nonfinite", payload)


def test_steps_the_probe_could_not_record_are_left_out_of_the_loss_scale():
    scales = nonfinite.loss_scale(run_with(loss_scale=[[np.nan, np.nan], [1024.0, 0.0], [1024.0, 1.0]]))
    assert scales["steps"] == [2, 3] and scales["overflow"] == [False, True]
