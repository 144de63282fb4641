"""Shared log dirs are untrusted: bad files never cause a 500 or hide the rest of the data."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from tensorboard.backend import application
from tensorboard.plugins import base_plugin
from werkzeug.test import Client

import hostile_logdir
from payload_contracts import assert_matches_contract
from tb_diag.plugin.loader import DiagnosticsLoader
from tb_diag.plugin.run_data import open_logdir

PREFIX = "/data/plugin/tb_diag"


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("hostile")
    runs = hostile_logdir.build(str(logdir))
    provider = open_logdir(str(logdir))
    context = base_plugin.TBContext(logdir=str(logdir), data_provider=provider)
    app = application.TensorBoardWSGI([DiagnosticsLoader().load(context)], data_provider=provider)
    return Client(app), runs


def get(client, route, run=None):
    url = f"{PREFIX}/{route}" + (f"?run={quote(run)}" if run is not None else "")
    response = client.get(url)
    assert response.status_code < 500, (url, response.get_data(as_text=True)[:500])
    body = response.get_data(as_text=True)
    assert "Traceback" not in body
    return response.status_code, json.loads(body)


def test_every_route_answers_every_run_without_a_server_error(hostile):
    client, runs = hostile
    status, listing = get(client, "runs")
    assert status == 200
    listed = {entry["run"] for entry in listing["runs"]}
    assert runs["healthy"] in listed and runs["hostile_names"] in listed
    for run in listed:
        for route in ("report", "gradients", "input", "activations", "memory", "environment", "nonfinite"):
            status, body = get(client, route, run)
            assert status == 200 or "error" in body
            if status == 200:
                # What a hostile log holds is reduced to the payload's contract, never passed through.
                assert_matches_contract(route, body)


def test_the_healthy_run_is_unaffected_by_its_neighbours(hostile):
    client, runs = hostile
    status, body = get(client, "gradients", runs["healthy"])
    assert status == 200 and body["steps"] == list(range(1, 21)) and body["warnings"] == []


def test_hostile_or_mistyped_pipeline_descriptions_are_reduced_to_well_typed_fields(hostile):
    client, runs = hostile
    _, report = get(client, "report", runs["hostile_names"])
    assert report["input"]["pipeline"]["stages"] == [hostile_logdir.HOSTILE_LAYER]  # text kept as data
    assert report["input"]["pipeline"]["source"] == "unknown" and report["input"]["pipeline"]["python"] is False
    _, report = get(client, "report", runs["mistyped_pipeline"])
    assert report["input"]["pipeline"]["stages"] == [] and report["input"]["pipeline"]["prefetch"] is False


def test_hostile_and_mistyped_layer_call_documents_are_served_as_plain_data(hostile):
    client, runs = hostile
    status, body = get(client, "activations", runs["hostile_names"])
    assert status == 200
    assert [call["name"] for call in body["calls"]] == ["input", hostile_logdir.HOSTILE_LAYER, hostile_logdir.SCRIPT_LAYER, "normal"]
    status, body = get(client, "activations", runs["mistyped_pipeline"])
    assert status == 200
    assert [(c["name"], c["layer"], c["activation"], c["kind"]) for c in body["calls"]] == [
        ("input", "input", "other", "layer"), ("dense", "dense", "other", "layer")]


def test_bad_input_blocks_and_documents_are_skipped_with_a_reason(hostile):
    client, runs = hostile
    status, body = get(client, "input", runs["bad_input_blocks"])
    assert status == 200 and body["steps"] == list(range(1, 21))
    assert any("input block at step 25" in w for w in body["warnings"])
    assert any("input_pipeline document at step 21" in w for w in body["warnings"])


def test_hostile_names_come_back_verbatim_as_data(hostile):
    client, runs = hostile
    status, body = get(client, "gradients", runs["hostile_names"])
    assert status == 200
    assert body["run"] == runs["hostile_names"]
    assert body["layers"] == [hostile_logdir.HOSTILE_LAYER, hostile_logdir.SCRIPT_LAYER, "normal"]


def test_a_future_schema_version_is_skipped_with_a_reason(hostile):
    client, runs = hostile
    status, report = get(client, "report", runs["future_only"])
    assert status == 200
    assert any("schema version 99" in warning and "upgrade tb-diag" in warning for warning in report["warnings"])
    status, body = get(client, "gradients", runs["future_only"])
    assert status == 404 and "has no gradients data" in body["error"]


def test_a_block_of_the_wrong_shape_is_skipped_and_the_rest_kept(hostile):
    client, runs = hostile
    status, body = get(client, "gradients", runs["wrong_shape"])
    assert status == 200 and body["steps"] == list(range(1, 11))
    assert any("skipped a gradients block at step 15" in warning for warning in body["warnings"])


def test_a_block_of_the_wrong_dtype_is_skipped_and_the_rest_kept(hostile):
    client, runs = hostile
    status, body = get(client, "gradients", runs["wrong_dtype"])
    assert status == 200 and body["steps"] == [1, 2, 3, 4]
    assert any("skipped a gradients block at step 8" in w and "int32" in w for w in body["warnings"])


def test_an_enormous_layer_list_is_refused_not_loaded(hostile):
    client, runs = hostile
    status, report = get(client, "report", runs["huge_layer_list"])
    assert status == 200 and report["layers"] == []
    assert any("more than any tb_diag writes" in warning for warning in report["warnings"])


# truncated_file: the second file's last record (steps 11..20) is cut in half and dropped.
@pytest.mark.parametrize("kind, steps", [("garbage_file", list(range(1, 21))), ("truncated_file", list(range(1, 11)))])
def test_garbage_and_truncated_event_files_leave_the_readable_data(hostile, kind, steps):
    client, runs = hostile
    status, body = get(client, "gradients", runs[kind])
    assert status == 200 and body["steps"] == steps


@pytest.mark.subprocess
@pytest.mark.parametrize("loader_flags", [(), ("--load_fast=false",)], ids=["rust-data-server", "python-loader"])
def test_real_tensorboard_serves_every_hostile_run_without_a_server_error(tmp_path, loader_flags):
    from tensorboard_server import get as http_get
    from tensorboard_server import running_tensorboard

    runs = hostile_logdir.build(str(tmp_path))
    with running_tensorboard(str(tmp_path), *loader_flags, ready_run=runs["healthy"]) as base:
        status, body, _ = http_get(f"{base}{PREFIX}/runs")
        assert status == 200
        listed = [entry["run"] for entry in json.loads(body)["runs"]]
        assert runs["hostile_names"] in listed
        for run in listed:
            for route in ("report", "gradients", "input", "activations", "memory", "environment", "nonfinite"):
                status, body, _ = http_get(f"{base}{PREFIX}/{route}?run={quote(run)}")
                assert status < 500 and b"Traceback" not in body, (route, run, body[:300])


def test_mistyped_nan_documents_are_cleaned_and_bad_loss_scale_blocks_skipped(hostile):
    client, runs = hostile
    status, data = get(client, "nonfinite", runs["mistyped_nonfinite"])
    assert status == 200
    event = data["event"]
    assert event["step"] == 6 and event["phase"] == "unknown" and event["action"] == "unknown" and event["loss"] is None
    assert event["calls"][0]["name"] == hostile_logdir.HOSTILE_LAYER and event["calls"][0]["out"]["nan"] == 0
    assert event["layers"] == [] and event["inputs"] == []
    assert data["bad_steps"] == [{"step": 6, "phase": "unknown", "action": "unknown"}]
    assert data["loss_scale"] is None  # every row unrecorded, the 5-metric block skipped
    assert any("loss_scale" in warning for warning in data["warnings"])
