"""The plugin's HTTP routes, driven through TensorBoard's own WSGI app and a werkzeug client."""

from __future__ import annotations

import json
import math
import time
from urllib.parse import quote

import numpy as np
import pytest
from tensorboard.backend import application
from tensorboard.plugins import base_plugin
from werkzeug.test import Client

from payload_contracts import assert_matches_contract, routes, schemas
from tb_diag.plugin.diagnostics import DIAGNOSTICS
from tb_diag.plugin.loader import DiagnosticsLoader
from tb_diag.plugin.diagnostics.gradients import decode_float32_base64
from tb_diag.plugin.run_data import load_logdir, open_logdir

PREFIX = "/data/plugin/tb_diag"


@pytest.fixture(scope="module")
def client(demo_logdir):
    provider = open_logdir(str(demo_logdir))
    context = base_plugin.TBContext(logdir=str(demo_logdir), data_provider=provider)
    app = application.TensorBoardWSGI([DiagnosticsLoader().load(context)], data_provider=provider)
    return Client(app)


def get_json(client, url, status=200):
    response = client.get(url)
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.headers["Content-Type"].startswith("application/json")
    return json.loads(response.get_data(as_text=True))


def test_runs_lists_every_demo_run_with_finding_counts(client):
    runs = get_json(client, f"{PREFIX}/runs")["runs"]
    assert [r["run"] for r in runs] == ["exploding/train", "healthy/train", "nan/train", "starved/train", "unscaled/train", "vanishing/train"]
    by_name = {r["run"]: r for r in runs}
    # Exploding gradients, then (once the weights are NaN) ReLU layers that output only zeros: those
    # follow from the explosion, so the run counts one error, its root cause.
    assert by_name["exploding/train"]["error_count"] == 1 and by_name["exploding/train"]["warning_count"] == 0
    assert by_name["healthy/train"]["error_count"] == 0 and by_name["healthy/train"]["warning_count"] == 0
    # Two root causes: 8 sigmoid layers without normalisation (the model check; the vanishing
    # gradients follow from it), and SGD moving the output layer by 13% per step.
    assert by_name["vanishing/train"]["warning_count"] == 2
    assert by_name["starved/train"]["warning_count"] == 1 and by_name["starved/train"]["error_count"] == 0
    common = ["activations", "environment", "gradients", "input", "memory"]
    assert all(by_name[name]["families"] == common and by_name[name]["last_step"] == 116 for name in ("healthy/train", "starved/train", "unscaled/train", "vanishing/train"))
    # exploding records its NaN steps (on_nan="record"); nan stops before step 41's update.
    assert by_name["exploding/train"]["families"] == sorted(common + ["nonfinite"]) and by_name["exploding/train"]["last_step"] == 116
    assert by_name["nan/train"]["families"] == sorted(common + ["nonfinite"]) and by_name["nan/train"]["last_step"] == 41
    assert by_name["nan/train"]["error_count"] == 1


def test_every_payload_schema_is_a_valid_json_schema_with_its_own_id():
    from jsonschema import Draft202012Validator

    for name, schema in schemas().items():
        Draft202012Validator.check_schema(schema)
        assert schema["$id"].endswith(f"/{name}.schema.json")


@pytest.mark.parametrize("max_points", [None, 10])
def test_every_route_answers_every_demo_run_as_its_contract_says(client, max_points):
    """The server's side of the payload contracts: each answer matches its route's schema (the tab
    checks the same schema in the browser), and every route with a panel has one."""
    listing = get_json(client, f"{PREFIX}/runs")
    assert_matches_contract("runs", listing)
    answered = set()
    for run in [entry["run"] for entry in listing["runs"]]:
        for route in ["report", *(diagnostic.name for diagnostic in DIAGNOSTICS)]:
            url = f"{PREFIX}/{route}?run={quote(run)}" + (f"&max_points={max_points}" if max_points else "")
            response = client.get(url)
            if response.status_code == 404:  # nothing recorded for that panel, or a diagnostic without one
                continue
            assert response.status_code == 200, (url, response.get_data(as_text=True)[:300])
            assert route in schemas(), f"the {route} route answers a payload without a contract (tb_diag/plugin/schemas)"
            assert_matches_contract(route, json.loads(response.get_data(as_text=True)))
            answered.add(route)
    # The demo's runs exercise every contract there is.
    assert answered | {"runs"} == set(routes())


def test_a_payload_that_breaks_its_contract_is_told_apart(client):
    """The check above can fail: a wrong type, a missing field and an unknown field are each caught."""
    from payload_contracts import as_sent, contract_errors

    data = as_sent(get_json(client, f"{PREFIX}/input?run=starved/train"))
    assert contract_errors("input", data) == []
    assert contract_errors("input", {**data, "steps": ["1"]}) == ["steps.0: '1' is not of type 'integer'"]
    assert any("'warnings' is a required property" in e for e in contract_errors("input", {k: v for k, v in data.items() if k != "warnings"}))
    assert any("Additional properties" in e for e in contract_errors("input", {**data, "extra": 1}))
    # A NaN is sent as TensorBoard's string, and only a field defined as a number takes it.
    assert contract_errors("input", {**data, "wait_s": ["NaN", "Infinity"]}) == []
    assert contract_errors("input", {**data, "run": float("nan")}) != []


def test_report_holds_findings_with_remedies(client):
    report = get_json(client, f"{PREFIX}/report?run=exploding/train")
    assert report["run"] == "exploding/train" and report["steps"] == 116
    assert report["layers"] == ["hidden_1", "hidden_2", "hidden_3", "output"]
    finding = report["findings"][0]  # the root cause first: SGD's steps are too large from step 2
    assert finding["id"] == "learning_rate_too_high" and finding["severity"] == "error" and finding["step"] == 2
    # Then, as its consequences: the explosion, where the first NaN/Inf came from (recorded: the
    # demo runs with on_nan="record"), and the ReLU layers left dead by NaN weights.
    assert [other["id"] for other in report["findings"][1:3]] == ["exploding_gradients", "nonfinite"]
    assert {other["caused_by"] for other in report["findings"][1:]} == {"learning_rate_too_high"}
    assert {other["id"] for other in report["findings"][3:]} <= {"dead_relu"}
    assert "learning rate" in finding["remedy"] and "clipnorm" in report["findings"][1]["remedy"]
    assert set(report["gradients"]) == set(report["layers"])


def matrix(data, name):
    """One of the gradients payload's ``[layers, steps]`` matrices, decoded from base64 float32."""
    assert data["encoding"] == "float32-base64"
    return decode_float32_base64(data[name], len(data["layers"]), len(data["steps"]))


def test_gradients_payload_is_layer_major_float32_and_keeps_nan(client, demo_logdir):
    data = get_json(client, f"{PREFIX}/gradients?run=exploding/train")
    assert data["steps"] == list(range(1, 117)) and not data["downsampled"]
    grad_norm = matrix(data, "grad_norm")
    assert grad_norm.shape == (4, 116) and np.isnan(grad_norm[0]).any()
    # The values are the recorded float32 norms, bit for bit.
    (run,) = [run for run in load_logdir(str(demo_logdir)) if run.run == "exploding/train"]
    np.testing.assert_array_equal(grad_norm, run.families["gradients"].values[:, :, 0].T)
    weight_norm = matrix(data, "weight_norm")
    assert (weight_norm == -1).any() and (weight_norm > 0).any()  # -1 = not sampled
    first_good = data["global_norm"][0]
    assert isinstance(first_good, float) and math.isfinite(first_good)


def test_gradients_downsampling_keeps_the_nan_and_the_peak(client):
    full = get_json(client, f"{PREFIX}/gradients?run=exploding/train")
    small = get_json(client, f"{PREFIX}/gradients?run=exploding/train&max_points=10")
    assert small["downsampled"] and len(small["steps"]) <= 10 and small["steps"][-1] == 116
    assert np.isnan(matrix(small, "grad_norm")[0]).any()
    finite_peak = max(v for v in full["global_norm"] if isinstance(v, float))
    assert finite_peak in small["global_norm"] or any(isinstance(v, str) for v in small["global_norm"])


def test_activations_payload_lists_every_call_with_series_bands_and_its_finding(client):
    data = get_json(client, f"{PREFIX}/activations?run=unscaled/train")
    calls = {call["name"]: call for call in data["calls"]}
    assert list(calls) == ["input", "hidden_1", "hidden_2", "hidden_3", "output"]
    assert data["steps"][0] == 2 and len(data["steps"]) == 12  # sampled every 10th step of 116 (the demo's), from the 2nd
    assert calls["input"]["finding"] == "unnormalized_inputs" and calls["input"]["kind"] == "input"
    assert any(call["finding"] == "dead_relu" for call in data["calls"])
    for call in data["calls"]:
        assert len(call["std"]) == len(call["bands"]) == 12 and len(call["bands"][0]) == len(data["band_quantiles"])
    assert calls["output"]["latest"]["dead_fraction"] is None  # linear: does not apply


def test_memory_payload_has_host_figures_retraces_and_says_why_there_is_no_gpu(client, gpu_present):
    data = get_json(client, f"{PREFIX}/memory?run=healthy/train")
    if gpu_present:
        assert data["gpu"] and data["gpu_unavailable"] is None
    else:
        assert data["gpu"] is None and data["gpu_unavailable"] == "no GPU is visible to TensorFlow"
    assert len(data["steps"]) == len(data["host_rss_bytes"]) >= 2 and all(v > 0 for v in data["host_rss_bytes"])
    assert data["retraces"] == 0 and data["traces"] and data["process_fits"]


def test_input_payload_has_every_step_a_histogram_and_the_verdict(client):
    data = get_json(client, f"{PREFIX}/input?run=starved/train")
    assert data["steps"] == list(range(1, 117)) and not data["downsampled"]
    assert len(data["wait_s"]) == len(data["compute_s"]) == len(data["host_s"]) == 116
    assert data["host_s"][0] is None and data["host_s"][58] is None  # first step of each epoch
    assert sum(data["histogram"]["counts"]) == sum(data["steady"])
    assert data["summary"]["verdict"] == "highly" and data["thresholds"] == {"moderately": 0.05, "highly": 0.2}
    small = get_json(client, f"{PREFIX}/input?run=starved/train&max_points=10")
    assert small["downsampled"] and len(small["steps"]) <= 10


@pytest.mark.parametrize(
    "url, status, message",
    [
        ("/report", 400, "missing query parameter 'run'"),
        ("/report?run=nope", 404, "unknown run 'nope'"),
        ("/gradients?run=<script>alert(1)</script>", 404, "unknown run"),
        ("/gradients?run=healthy/train&max_points=abc", 400, "must be an integer"),
        ("/gradients?run=healthy/train&max_points=1", 400, "between 10 and 100000"),
        ("/input?run=healthy/train&max_points=-5", 400, "between 10 and 100000"),
        ("/input?run=nope", 404, "unknown run 'nope'"),
        ("/static/../plugin.py", 404, "no such file"),
        ("/static/%2e%2e/plugin.py", 404, "no such file"),
        ("/static/..%2f..%2fschema.py", 404, "no such file"),
    ],
)
def test_bad_requests_get_a_4xx_with_a_clear_message(client, url, status, message):
    body = get_json(client, PREFIX + url, status)
    assert message in body["error"]


def test_static_directory_itself_is_not_listed(client):
    assert client.get(f"{PREFIX}/static/").status_code == 404


def test_static_route_serves_the_es_module_with_a_javascript_type(client):
    response = client.get(f"{PREFIX}/static/index.js")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/javascript")
    assert b"render" in response.get_data()


def test_plugin_is_listed_with_its_es_module(client):
    listing = get_json(client, "/data/plugins_listing")
    entry = listing["tb_diag"]
    assert entry["tab_name"] == "Diagnostics" and entry["enabled"] is True
    assert entry["loading_mechanism"] == {"type": "IFRAME", "module_path": f"{PREFIX}/static/index.js"}


def test_loader_keeps_all_tb_diag_events_and_polls_every_file():
    import argparse

    flags = argparse.Namespace(samples_per_plugin={"scalars": 5}, reload_multifile=None)
    DiagnosticsLoader().fix_flags(flags)
    assert flags.samples_per_plugin == {"scalars": 5, "tb_diag": 0} and flags.reload_multifile is True
    user_choice = argparse.Namespace(samples_per_plugin={"tb_diag": 50}, reload_multifile=False)
    DiagnosticsLoader().fix_flags(user_choice)
    assert user_choice.samples_per_plugin == {"tb_diag": 50} and user_choice.reload_multifile is False


def test_a_run_is_decoded_once_per_view_and_again_only_when_new_data_arrives(tmp_path):
    """runs, report and gradients share one decode of a run; new steps invalidate it."""
    from tensorboard.backend.event_processing import data_provider, event_accumulator, plugin_event_multiplexer

    import hostile_logdir
    from tb_diag import schema
    from tb_diag.core.writer import SummaryWriter

    run_dir = tmp_path / "run" / "train"
    hostile_logdir.write_valid_run(str(run_dir), ["dense"], steps=20)
    multiplexer = plugin_event_multiplexer.EventMultiplexer(
        size_guidance={event_accumulator.TENSORS: 0}, tensor_size_guidance={"tb_diag": 0}
    )
    multiplexer.AddRunsFromDirectory(str(tmp_path))
    multiplexer.Reload()
    provider = data_provider.MultiplexerDataProvider(multiplexer, str(tmp_path))
    reads = []
    real_read = provider.read_tensors
    provider.read_tensors = lambda *args, **kwargs: reads.append(kwargs["run_tag_filter"].runs) or real_read(*args, **kwargs)
    context = base_plugin.TBContext(logdir=str(tmp_path), data_provider=provider)
    client = Client(application.TensorBoardWSGI([DiagnosticsLoader().load(context)], data_provider=provider))

    get_json(client, f"{PREFIX}/runs")
    tags_per_decode = len(reads)  # one read per tag of the run
    assert tags_per_decode >= 2
    get_json(client, f"{PREFIX}/report?run=run/train")
    assert get_json(client, f"{PREFIX}/gradients?run=run/train")["steps"] == list(range(1, 21))
    assert len(reads) == tags_per_decode

    # A new writer names its file after the current second; wait for the next one so that file
    # also sorts after the first (TensorBoard's single-file loader reads files in name order).
    time.sleep(1.05 - time.time() % 1)
    writer = SummaryWriter(str(run_dir))
    writer.write_layers(20, ["dense"])
    writer.write_block(schema.GRADIENTS, 30, hostile_logdir.gradients_block(10, 1))
    writer.close()
    multiplexer.Reload()
    assert get_json(client, f"{PREFIX}/gradients?run=run/train")["steps"] == list(range(1, 31))
    assert len(reads) == 2 * tags_per_decode


def test_nonfinite_route_gives_the_origin_the_path_and_the_remedy(client):
    data = get_json(client, f"{PREFIX}/nonfinite?run=nan/train")
    event = data["event"]
    assert event["step"] == 41 and event["phase"] == "forward" and event["origin"]["layer"] == "log_features"
    assert event["action"] == "stopped" and event["weights_kept"] is True
    assert [call["name"] for call in event["calls"]][0] == "log_features"
    assert event["calls"][0]["out"]["neginf"] == 1 and "epsilon" in event["remedy"]
    assert data["bad_steps"] == [{"step": 41, "phase": "forward", "action": "stopped"}]
    assert data["loss_scale"] is None
    get_json(client, f"{PREFIX}/nonfinite?run=healthy/train", status=404)


def test_a_failure_on_the_server_side_is_a_503_with_a_message_and_no_traceback(tmp_path):
    """If the data provider itself fails (e.g. TensorBoard's data server refuses a read), the client
    gets a JSON message, never a 500 or a traceback."""
    import hostile_logdir

    hostile_logdir.write_valid_run(str(tmp_path / "run" / "train"), ["dense"], steps=20)
    provider = open_logdir(str(tmp_path))

    def refuse(*args, **kwargs):
        raise RuntimeError("internal detail that must not reach the client")

    provider.read_tensors = refuse
    context = base_plugin.TBContext(logdir=str(tmp_path), data_provider=provider)
    client = Client(application.TensorBoardWSGI([DiagnosticsLoader().load(context)], data_provider=provider))
    response = client.get(f"{PREFIX}/report?run=run/train")
    body = response.get_data(as_text=True)
    assert response.status_code == 503
    assert "RuntimeError" in json.loads(body)["error"] and "internal detail" not in body and "Traceback" not in body


def test_the_environment_payload_says_why_a_run_cannot_be_reproduced_in_the_servers_words(client):
    environment = get_json(client, f"{PREFIX}/environment?run=starved/train")
    # The comparison note in the Overview shows this text; it is not worked out again in TypeScript.
    assert environment["not_reproducible"] == "op determinism is off"
    assert "set_random_seed" in environment["reproducibility_remedy"]
