"""Decoding a run's event files: float32 blocks, later writes winning, live reloads and moved log dirs."""

from __future__ import annotations

import pytest

import json
import os
import shutil
import time

import numpy as np

from tb_diag import schema
from tb_diag.core.writer import SummaryWriter
from tb_diag.plugin import report
from tb_diag.plugin.diagnostics.gradients import gradient_series
from tb_diag.plugin.run_data import load_logdir
from tensorboard_server import get, running_tensorboard


def block(first, last, layers, value):
    """A gradients block for steps first..last: grad norm ``value + step/1000``, not sampled."""
    steps = np.arange(first, last + 1, dtype=np.float32)
    grad = value + steps[:, None] / 1000 + np.zeros((1, layers), np.float32)
    sampled = np.full_like(grad, schema.NOT_SAMPLED)
    return np.stack([grad, sampled, sampled], axis=2)


def test_a_later_write_of_a_step_replaces_the_whole_row_and_values_stay_float32(tmp_path):
    """A refit from an earlier checkpoint writes steps 3..6 again with another layer list: those
    rows come from the second write only (layer 'b' absent there), the first write's 1..2 stay."""
    writer = SummaryWriter(str(tmp_path / "run"))
    writer.write_layers(0, ["a", "b"])
    writer.write_block(schema.GRADIENTS, 4, block(1, 4, 2, 1.0))
    writer.write_layers(2, ["a", "c"])
    writer.write_block(schema.GRADIENTS, 6, block(3, 6, 2, 5.0))
    writer.close()

    (run,) = load_logdir(str(tmp_path))
    gradients = run.families["gradients"]
    assert run.layers == ["a", "b", "c"]
    assert gradients.values.dtype == np.float32
    np.testing.assert_array_equal(gradients.steps, [1, 2, 3, 4, 5, 6])
    np.testing.assert_array_equal(gradients.present, [[1, 1, 0], [1, 1, 0]] + [[1, 0, 1]] * 4)
    np.testing.assert_allclose(gradients.values[:, 0, 0], [1.001, 1.002, 5.003, 5.004, 5.005, 5.006], rtol=1e-6)
    assert np.isnan(gradients.values[2:, 1, 0]).all() and np.isnan(gradients.values[:2, 2, 0]).all()


def test_derived_values_are_computed_once_per_decoded_run(tmp_path):
    writer = SummaryWriter(str(tmp_path / "run"))
    writer.write_layers(0, ["a"])
    writer.write_block(schema.GRADIENTS, 4, block(1, 4, 1, 1.0))
    writer.close()
    (run,) = load_logdir(str(tmp_path))
    assert gradient_series(run) is gradient_series(run)
    first = report.run_report(run)
    first["findings"].append("changed by a caller")
    assert report.run_report(run)["findings"] != first["findings"]  # each caller gets its own copy


@pytest.mark.slow
@pytest.mark.subprocess
def test_live_training_shows_new_steps_when_tensorboard_reloads(tmp_path):
    """Blocks written while the real tensorboard runs appear in the report after its next reload."""
    run_dir = tmp_path / "live" / "train"
    writer = SummaryWriter(str(run_dir))
    writer.write_layers(0, ["a", "b"])
    writer.write_block(schema.GRADIENTS, 4, block(1, 4, 2, 1.0))
    writer.flush()
    with running_tensorboard(str(tmp_path), "--reload_interval", "1", ready_run="live/train") as base:
        url = f"{base}/data/plugin/tb_diag/report?run=live/train"
        assert json.loads(get(url)[1])["steps"] == 4
        writer.write_block(schema.GRADIENTS, 8, block(5, 8, 2, 1.0))
        writer.flush()
        deadline = time.monotonic() + 60
        while json.loads(get(url)[1])["steps"] != 8:
            assert time.monotonic() < deadline, "the new steps never showed up"
            time.sleep(0.5)
        assert json.loads(get(f"{base}/data/plugin/tb_diag/runs")[1])["runs"][0]["last_step"] == 8
    writer.close()


def test_a_log_dir_copied_elsewhere_reads_the_same_and_names_no_path(demo_logdir, tmp_path):
    """Teammates open a copy: the report is identical and mentions neither the old nor the new path."""
    copied = tmp_path / "somewhere" / "else"
    shutil.copytree(demo_logdir, copied)
    original = report.report_document(load_logdir(str(demo_logdir)))
    moved = report.report_document(load_logdir(str(copied)))
    assert json.dumps(report.json_safe(moved), sort_keys=True) == json.dumps(report.json_safe(original), sort_keys=True)
    text = json.dumps(report.json_safe(moved))
    assert str(demo_logdir) not in text and str(copied) not in text and os.sep + "tmp" + os.sep not in text


def test_the_warmer_prepares_report_and_gradients_view_before_any_request(tmp_path):
    """What the tab's first view asks for is computed in the background, into the run cache."""
    from tb_diag.plugin.run_data import RunCache, open_logdir
    from tb_diag.plugin.warmer import CacheWarmer
    from tensorboard import context as context_lib

    writer = SummaryWriter(str(tmp_path / "run"))
    writer.write_layers(0, ["a", "b"])
    writer.write_block(schema.GRADIENTS, 4, block(1, 4, 2, 1.0))
    writer.close()
    provider = open_logdir(str(tmp_path))
    runs = RunCache(provider)
    assert CacheWarmer(provider, runs, max_points=2000).warm_once() == ["run"]
    cached = runs.get(context_lib.RequestContext(), "", "run")
    assert {"report", "findings", "panel:2000"} <= set(cached.cache)


def test_the_warmer_prepares_the_views_the_registry_marks_and_no_others(tmp_path, monkeypatch):
    """The warmer names no diagnostic: it prepares the panels whose registry entry says ``prepare``."""
    import dataclasses

    from tb_diag.plugin import warmer
    from tb_diag.plugin.diagnostics import DIAGNOSTICS
    from tb_diag.plugin.run_data import RunCache, open_logdir

    writer = SummaryWriter(str(tmp_path / "run"))
    writer.write_layers(0, ["a"])
    writer.write_block(schema.GRADIENTS, 2, block(1, 2, 1, 1.0))
    writer.close()
    asked: list[tuple[str, int]] = []

    def recording(name):
        return lambda run, max_points: asked.append((name, max_points))

    registry = [
        dataclasses.replace(DIAGNOSTICS[0], name="heavy", panel=recording("heavy"), prepare=True),
        dataclasses.replace(DIAGNOSTICS[0], name="light", panel=recording("light"), prepare=False),
    ]
    monkeypatch.setattr(warmer, "DIAGNOSTICS", registry)
    provider = open_logdir(str(tmp_path))
    assert warmer.CacheWarmer(provider, RunCache(provider), max_points=500).warm_once() == ["run"]
    assert asked == [("heavy", 500)]
    assert [d.name for d in DIAGNOSTICS if d.prepare] == ["gradients"]


def test_long_runs_spread_blocks_over_tag_parts_and_read_back_in_write_order(tmp_path):
    """With a small part size every few blocks start a new tag; a second fit (its own writer,
    starting again at part 0) rewriting steps 5..8 still wins over the first fit's blocks."""
    run_dir = str(tmp_path / "run")
    first_fit = SummaryWriter(run_dir, part_bytes=100)
    first_fit.write_layers(0, ["a", "b"])
    for last in range(4, 21, 4):
        first_fit.write_block(schema.GRADIENTS, last, block(last - 3, last, 2, 1.0))
    first_fit.close()
    time.sleep(0.01)
    second_fit = SummaryWriter(run_dir, part_bytes=100)
    second_fit.write_block(schema.GRADIENTS, 8, block(5, 8, 2, 7.0))
    second_fit.close()

    from tb_diag.plugin.run_data import open_logdir

    tags = open_logdir(str(tmp_path)).list_tensors(
        __import__("tensorboard").context.RequestContext(), experiment_id="", plugin_name=schema.PLUGIN_NAME
    )["run"]
    assert {schema.GRADIENTS.tag, schema.GRADIENTS.part_tag(4)} <= set(tags)
    (run,) = load_logdir(str(tmp_path))
    gradients = run.families["gradients"]
    np.testing.assert_array_equal(gradients.steps, np.arange(1, 21))
    expected = [1.0 + step / 1000 for step in range(1, 21)]
    expected[4:8] = [7.0 + step / 1000 for step in range(5, 9)]
    np.testing.assert_allclose(gradients.values[:, 0, 0], expected, rtol=1e-6)
    assert run.warnings == []


@pytest.mark.slow
@pytest.mark.subprocess
def test_a_run_bigger_than_the_data_servers_message_limit_is_served(tmp_path):
    """TensorBoard's data server answers one tag in one gRPC message of at most 256 MB: a 290 MB
    gradients family (1000 layers x 24 000 steps) must still reach the report and the gradients view."""
    layers, flush, blocks = 1000, 100, 240
    writer = SummaryWriter(str(tmp_path / "big" / "train"))
    writer.write_layers(0, [f"layer_{i:04d}" for i in range(layers)])
    values = block(1, flush, layers, 0.5)
    for index in range(blocks):
        writer.write_block(schema.GRADIENTS, (index + 1) * flush, values)
    writer.close()
    with running_tensorboard(str(tmp_path), ready_run="big/train", timeout=300) as base:
        status, body, _ = get(f"{base}/data/plugin/tb_diag/report?run=big/train", timeout=300)
        assert status == 200, body[:500]
        assert json.loads(body)["steps"] == blocks * flush
        status, body, _ = get(f"{base}/data/plugin/tb_diag/gradients?run=big/train&max_points=100", timeout=300)
        assert status == 200 and json.loads(body)["steps"][-1] == blocks * flush
