"""Builds log dirs that a careless or malicious teammate could share (used by the hardening tests)."""

from __future__ import annotations

import json
import os
import time

import numpy as np
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.util import tensor_util
from tensorboard.summary.writer.event_file_writer import EventFileWriter

from tb_diag import schema
from tb_diag.core.writer import SummaryWriter

HOSTILE_LAYER = "<img src=x onerror=alert('layer')>"
SCRIPT_LAYER = "<script>alert('script')</script>"
HOSTILE_RUN = "hostile<img src=x onerror=alert('run')>"


def gradients_block(steps: int, layers: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    block = rng.random((steps, layers, 3)).astype(np.float32) + 0.1
    block[:, :, 1:] = schema.NOT_SAMPLED
    return block


def input_block(steps: int) -> np.ndarray:
    """wait 1 ms, compute 3 ms, host 0.5 ms (not recorded at step 1), epoch 0."""
    block = np.tile(np.array([1e-3, 3e-3, 5e-4, 0.0], np.float32), (steps, 1))
    block[0, 2] = schema.NOT_SAMPLED
    return block


def activations_block(steps: int, calls: int) -> np.ndarray:
    """Every step sampled: mean 0.5, std 1, range -2..2, 10% zeros, no dead/saturation, flat histogram."""
    row = np.full(len(schema.ACTIVATIONS.metrics), 1.0 / schema.HISTOGRAM_BINS, np.float32)
    row[:8] = [0.5, 1.0, -2.0, 2.0, 0.1, schema.NOT_SAMPLED, schema.NOT_SAMPLED, schema.NOT_SAMPLED]
    return np.tile(row, (steps, calls, 1))


def write_valid_run(run_dir: str, layers: list[str], steps: int = 20, pipeline: dict | None = None,
                    calls: list | None = None) -> None:
    writer = SummaryWriter(run_dir)
    writer.write_layers(0, layers)
    names = ["input", *layers]
    writer.write_document(schema.ACTIVATION_CALLS, 0, {"layers": names, "calls": calls if calls is not None else [
        {"name": name, "layer": name, "activation": "linear", "kind": "input" if name == "input" else "layer"} for name in names]})
    writer.write_block(schema.ACTIVATIONS, steps, activations_block(steps, len(names)))
    writer.write_block(schema.GRADIENTS, steps, gradients_block(steps, len(layers)))
    writer.write_document(schema.INPUT_PIPELINE, 0, pipeline or {"stages": ["prefetch", "batch"], "source": "in_memory", "prefetch": True})
    writer.write_block(schema.INPUT, steps, input_block(steps))
    writer.close()


def write_raw(run_dir: str, tag: str, content: bytes, tensor: summary_pb2.TensorProto, step: int) -> None:
    """One event with arbitrary plugin content (e.g. a future schema version)."""
    events = EventFileWriter(run_dir, filename_suffix=".crafted")
    metadata = summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name=schema.PLUGIN_NAME, content=content),
        data_class=summary_pb2.DATA_CLASS_TENSOR,
    )
    value = summary_pb2.Summary.Value(tag=tag, tensor=tensor, metadata=metadata)
    events.add_event(event_pb2.Event(wall_time=time.time(), step=step, summary=summary_pb2.Summary(value=[value])))
    events.close()


def build(logdir: str) -> dict[str, str]:
    """Writes one run per kind of bad input; returns {kind: run name as TensorBoard shows it}."""
    runs = {}

    def run(kind: str, name: str | None = None) -> str:
        runs[kind] = f"{name or kind}/train"
        return os.path.join(logdir, name or kind, "train")

    write_valid_run(run("healthy"), ["dense", "dense_1"])
    write_valid_run(run("hostile_names", HOSTILE_RUN), [HOSTILE_LAYER, SCRIPT_LAYER, "normal"],
                    pipeline={"stages": [HOSTILE_LAYER, 7, None], "source": SCRIPT_LAYER, "python": "yes"})
    write_valid_run(run("mistyped_pipeline"), ["dense"], pipeline={"stages": "prefetch", "prefetch": [1]},
                    calls=[{"name": "input", "layer": 3, "activation": None}, "not a dict", {"name": ["dense"]}])
    bad_input = run("bad_input_blocks")
    write_valid_run(bad_input, ["dense"])
    write_raw(bad_input, schema.INPUT.tag, schema.summary_metadata(schema.INPUT).plugin_data.content,
              tensor_util.make_tensor_proto(np.zeros((5, 3), np.float32)), 25)  # 3 metrics where there are 4
    write_raw(bad_input, schema.INPUT_PIPELINE.tag, schema.summary_metadata(schema.INPUT_PIPELINE).plugin_data.content,
              tensor_util.make_tensor_proto(np.array(b"{not json", dtype=object)), 21)

    mistyped_nan = run("mistyped_nonfinite")
    write_valid_run(mistyped_nan, ["dense"])
    writer = SummaryWriter(mistyped_nan)
    writer.write_document(schema.NONFINITE, 5, {"step": "5", "phase": "forward"})  # step not an integer: skipped
    writer.write_document(schema.NONFINITE, 6, {
        "step": 6, "phase": "<b>forward</b>", "action": ["stopped"], "loss": "NaN",
        "calls": [{"name": HOSTILE_LAYER, "in": "finite", "out": {"nan": -3, "posinf": "1", "max_abs": [2]}}, 7],
        "layers": {"dense": {}}, "inputs": None,
    })
    writer.write_document(schema.NONFINITE_STEPS, 6, {"steps": [{"step": 6, "phase": 1}, "x", {"step": None}]})
    writer.write_block(schema.LOSS_SCALE, 6, np.full((6, 2), np.nan, np.float32))
    writer.close()
    write_raw(mistyped_nan, schema.LOSS_SCALE.tag, schema.summary_metadata(schema.LOSS_SCALE).plugin_data.content,
              tensor_util.make_tensor_proto(np.zeros((4, 5), np.float32)), 12)  # 5 metrics where there are 2

    future = run("future_schema")
    write_valid_run(future, ["dense"])
    content = json.dumps({"version": 99, "family": "gradients", "metrics": list(schema.GRADIENTS.metrics)}).encode()
    # Its own tag name so TensorBoard keeps this (first-event) metadata.
    write_raw(os.path.join(logdir, "future_only", "train"), schema.GRADIENTS.tag, content,
              schema.encode_block(schema.GRADIENTS, gradients_block(3, 1)), 3)
    runs["future_only"] = "future_only/train"

    wrong_shape = run("wrong_shape")
    writer = SummaryWriter(wrong_shape)
    writer.write_layers(0, ["a", "b"])
    writer.write_block(schema.GRADIENTS, 10, gradients_block(10, 2))
    writer.write_block(schema.GRADIENTS, 15, gradients_block(5, 7))  # 7 layers where the run has 2
    writer.close()

    wrong_dtype = run("wrong_dtype")
    writer = SummaryWriter(wrong_dtype)
    writer.write_layers(0, ["a"])
    writer.write_block(schema.GRADIENTS, 4, gradients_block(4, 1))
    writer.close()
    write_raw(wrong_dtype, schema.GRADIENTS.tag, schema.summary_metadata(schema.GRADIENTS).plugin_data.content,
              tensor_util.make_tensor_proto(np.zeros((4, 1, 3), np.int32)), 8)

    huge = run("huge_layer_list")
    write_raw(huge, schema.LAYERS.tag, schema.summary_metadata(schema.LAYERS).plugin_data.content,
              schema.encode_layers(["x" * (schema.MAX_JSON_BYTES + 10)]), 0)

    garbage = run("garbage_file")
    write_valid_run(garbage, ["dense"])
    with open(os.path.join(garbage, "events.out.tfevents.0.garbage"), "wb") as file:
        file.write(np.random.default_rng(1).bytes(4096))

    truncated = run("truncated_file")
    write_valid_run(truncated, ["dense"], steps=10)
    first_files = set(os.listdir(truncated))
    writer = SummaryWriter(truncated)
    writer.write_layers(10, ["dense"])
    writer.write_block(schema.GRADIENTS, 20, gradients_block(10, 1))
    writer.close()
    (second,) = set(os.listdir(truncated)) - first_files
    path = os.path.join(truncated, second)
    os.truncate(path, os.path.getsize(path) - 17)  # cut the last record in half
    return runs
