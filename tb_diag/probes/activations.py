"""Activations probe: statistics of every layer call's output (and of the inputs), on sampled steps."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf

from tb_diag import schema
from tb_diag.core.ring_buffer import RingBuffer
from tb_diag.core.segments import concat_with_segments
from tb_diag.core.writer import SummaryWriter
from tb_diag.probes.base import ApplyStep, LayerCall, Probe, ProbeSetup

# Activation functions by the part of their range that matters for a finding.
DEAD_CAPABLE = {"relu", "relu6"}  # exactly 0 for every negative input: a unit can die
BOUNDED = {"sigmoid", "hard_sigmoid", "tanh", "softmax", "hard_tanh"}
# An output this close to a bound of a bounded activation is saturated (its gradient ~ 0).
SATURATION_MARGIN = 0.01


class ActivationsProbe(Probe):
    """Records, on sampled steps, for each leaf layer call of the real forward pass (a shared layer
    once per call) and for each float model input:

    * ``mean``, ``std``, ``min``, ``max`` and ``zero_fraction`` of the output;
    * ``dead_fraction``: the share of units (last axis; channels of a conv) that are <= 0 for every
      example and position of the batch. Units of a ReLU layer that are dead get no gradient;
    * ``saturation`` (sigmoid, tanh, softmax outputs; else ``NOT_SAMPLED``): the share of values
      within 1% of a bound (softmax: rows whose top probability is above 0.99);
    * ``feature_spread`` (inputs only; else ``NOT_SAMPLED``): largest over smallest per-feature std
      (last axis), e.g. one feature in metres, another in millimetres;
    * ``hist_0..hist_15``: the share of values in 16 equal bins between ``min`` and ``max``.

    Statistics are taken on the sampled trace of the step only (the light trace has no op of this
    probe), so unsampled steps cost nothing; their rows are ``NOT_SAMPLED``.
    """

    name = "activations"
    under_replicas = "the first replica's share of the batch (each replica sees its own examples)"
    wants_layer_calls = True

    def start(self, setup: ProbeSetup) -> None:
        self._capacity = setup.capacity
        self._calls: list[dict] | None = None  # fixed by the first sampled trace
        self._buffer: RingBuffer | None = None
        self._steps: RingBuffer | None = None
        self._pending: list[tuple[str, dict, Any]] = []
        self._discovered: list[dict] | None = None  # calls seen in a trace that could not create buffers
        self._named_in_light_trace: list[dict] | None = None
        self._statistics_functions: dict[tuple, Any] = {}

    def begin_fit(self, setup: ProbeSetup) -> None:
        self._document_written = False

    def on_step_start(self, data: Any, sampled: bool) -> None:
        self._pending = []
        if not sampled and self._calls is not None:
            return
        for name, tensor in _model_inputs(data):
            self._pending.append((name, {"name": name, "layer": name, "activation": "input", "kind": "input"}, tensor))

    def on_layer_call(self, call: LayerCall) -> None:
        if not call.sampled and self._calls is not None:
            return
        output = _first_float_tensor(call.outputs)
        if output is None:
            return
        calls_so_far = sum(1 for _, info, _ in self._pending if info["layer"] == call.path)
        name = call.path if calls_so_far == 0 else f"{call.path}#{calls_so_far + 1}"
        activation = activation_kind(call.layer)
        info = {"name": name, "layer": call.path, "activation": activation, "kind": "layer"}
        self._pending.append((name, info, output))

    def after_apply(self, update: ApplyStep, state: Any) -> None:
        pending, self._pending = self._pending, []
        if not pending:
            return
        if not update.sampled:
            # The light trace (traced first) adds no op: it only names the calls, so the buffers
            # can be made on the host before the sampled step is traced (a variable made while a
            # tf.function traces for the first time makes it trace twice).
            if self._calls is None:
                self._named_in_light_trace = [info for _, info, _ in pending]
            return
        if self._calls is None:
            try:
                self._create_buffers([info for _, info, _ in pending])
            except ValueError:
                # tf.function allows new variables only in a function's first trace; this is a later
                # one (the model was built by its first forward pass, before this probe existed).
                # The callback asks needs_retrace() after the step and traces again.
                self._discovered = [info for _, info, _ in pending]
                return
        rows = dict(zip([name for name, _, _ in pending], tf.unstack(self._statistics(pending))))
        not_sampled = tf.fill([len(schema.ACTIVATIONS.metrics)], schema.NOT_SAMPLED)
        # A call missing from this trace (another code path) keeps a NOT_SAMPLED row.
        block = tf.stack([rows.get(info["name"], not_sampled) for info in self._calls])
        self._buffer.record(update.step, block)
        self._steps.record(update.step, tf.cast(update.step, tf.float64))

    def _statistics(self, pending: list[tuple[str, dict, Any]]) -> tf.Tensor:
        """``[calls, metrics]`` for the stashed outputs, in ONE XLA-compiled call (inside an
        XLA-compiled step it is simply inlined)."""
        kinds = tuple((info["activation"], info["kind"] == "input") for _, info, _ in pending)
        function = self._statistics_functions.get(kinds)
        if function is None:

            def all_statistics(*tensors: Any) -> tf.Tensor:
                return call_statistics(list(tensors), [activation for activation, _ in kinds], [is_input for _, is_input in kinds])

            function = tf.function(all_statistics, jit_compile=True, autograph=False, reduce_retracing=True)
            self._statistics_functions[kinds] = function
        return function(*[tensor for _, _, tensor in pending])

    def on_train_batch_end(self, steps: int) -> None:
        if self._calls is None and self._named_in_light_trace is not None:
            self._create_buffers(self._named_in_light_trace)
        self._named_in_light_trace = None

    def needs_retrace(self) -> bool:
        if self._discovered is None:
            return False
        self._create_buffers(self._discovered)
        self._discovered = None
        return True

    def _create_buffers(self, calls: list[dict]) -> None:
        with tf.init_scope():
            self._calls = calls
            self._buffer = RingBuffer(self.name, (len(calls), len(schema.ACTIVATIONS.metrics)), self._capacity)
            self._steps = RingBuffer(f"{self.name}_steps", (), self._capacity, dtype=tf.float64)

    def flush(self, writer: SummaryWriter, first_step: int, last_step: int) -> None:
        if self._calls is None:
            return
        if not self._document_written:
            writer.write_document(
                schema.ACTIVATION_CALLS, first_step - 1, {"layers": [c["name"] for c in self._calls], "calls": self._calls}
            )
            self._document_written = True
        block = self._buffer.read_steps(first_step, last_step)
        steps = np.arange(first_step, last_step + 1)
        recorded = self._steps.read_steps(first_step, last_step) == steps
        # Only the sampled steps are written, each run of consecutive ones as one block: the
        # unsampled steps between them (9 in 10 by default) take no space in the log.
        for start, end in _runs(recorded):
            writer.write_block(schema.ACTIVATIONS, int(steps[end - 1]), block[start:end])


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """``[(start, end)]`` of each run of consecutive true values (``end`` exclusive)."""
    edges = np.diff(np.concatenate([[0], flags.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))


def call_statistics(tensors: list[Any], activations: list[str], per_feature: list[bool]) -> tf.Tensor:
    """The ``schema.ACTIVATIONS`` metrics of each tensor, float32 ``[tensors, metrics]`` (see
    ActivationsProbe), computed for all tensors together.

    ``dead_fraction`` reads the whole batch (one pass: each unit's max), and so does ``max`` for
    layers that can have dead units. Everything else is estimated from the first whole examples of
    the batch up to ``SAMPLE_VALUES`` values: every full pass over a conv layer's output costs ~3% of
    a small CNN's step on CPU, for the same picture of the distribution.

    The samples of all tensors are concatenated into one vector and reduced with segment sums:
    a few ops per tensor instead of ~40 (on a 150-layer model, tracing and compiling those took
    longer than tracing the model's own step).
    """
    not_sampled = tf.constant(schema.NOT_SAMPLED, tf.float32)
    count_of = len(tensors)
    samples, dead, whole_max, softmax, spread = [], [], [], [], []
    for tensor, activation, is_input in zip(tensors, activations, per_feature):
        values = tf.cast(tf.stop_gradient(tensor), tf.float32)
        if values.shape.rank is None or values.shape.rank < 2:
            values = tf.reshape(values, [-1, 1])
        sample = values[: _examples_in_sample(values)]
        sample_units = tf.reshape(sample, [-1, tf.shape(values)[-1]])
        flat = tf.reshape(sample, [-1])
        samples.append(flat)
        if activation in DEAD_CAPABLE:
            unit_max = tf.reduce_max(tf.reshape(values, [-1, tf.shape(values)[-1]]), axis=0)
            dead.append(1.0 - tf.reduce_mean(tf.cast(unit_max > 0.0, tf.float32)))
            whole_max.append(tf.reduce_max(unit_max))
        else:
            dead.append(not_sampled)
            whole_max.append(not_sampled)
        if activation == "softmax":
            softmax.append(tf.reduce_mean(tf.cast(tf.reduce_max(sample_units, axis=-1) > 1.0 - SATURATION_MARGIN, tf.float32)))
        else:
            softmax.append(not_sampled)
        if is_input:
            stds = tf.math.reduce_std(sample_units, axis=0)
            spread.append(tf.math.divide_no_nan(tf.reduce_max(stds), tf.reduce_min(stds)))
        else:
            spread.append(not_sampled)
    flat, segments = concat_with_segments(samples)
    count = tf.maximum(tf.math.unsorted_segment_sum(tf.ones_like(flat), segments, count_of), 1.0)
    sum_of = lambda values: tf.math.unsorted_segment_sum(values, segments, count_of)  # noqa: E731
    low = tf.math.unsorted_segment_min(flat, segments, count_of)
    dead_capable = tf.constant([activation in DEAD_CAPABLE for activation in activations])
    high = tf.where(dead_capable, tf.stack(whole_max), tf.math.unsorted_segment_max(flat, segments, count_of))
    mean = sum_of(flat) / count
    std = tf.sqrt(tf.maximum(sum_of(tf.square(flat - tf.gather(mean, segments))) / count, 0.0))
    zeros = sum_of(tf.cast(tf.equal(flat, 0.0), tf.float32)) / count
    # Saturation of tanh-like (1) and sigmoid-like (2) outputs, value by value; softmax by rows.
    kinds = [1 if a in ("tanh", "hard_tanh") else 2 if a in ("sigmoid", "hard_sigmoid") else 0 for a in activations]
    kind = tf.gather(tf.constant(kinds, tf.int32), segments)
    near_bound = tf.where(
        tf.equal(kind, 1),
        tf.cast(tf.abs(flat) > 1.0 - SATURATION_MARGIN, tf.float32),
        tf.cast((flat < SATURATION_MARGIN) | (flat > 1.0 - SATURATION_MARGIN), tf.float32) * tf.cast(tf.equal(kind, 2), tf.float32),
    )
    saturation = tf.where(tf.constant([k > 0 for k in kinds]), sum_of(near_bound) / count, tf.stack(softmax))
    bins = schema.HISTOGRAM_BINS
    # Bins span [min, max]; values outside (the whole-batch max) and NaN are clipped into the ends.
    scale = tf.math.divide_no_nan(tf.constant(float(bins)), high - low)
    position = (flat - tf.gather(low, segments)) * tf.gather(scale, segments)
    index = tf.clip_by_value(tf.cast(position, tf.int32), 0, bins - 1)
    histogram = tf.reshape(tf.math.unsorted_segment_sum(tf.ones_like(flat), segments * bins + index, count_of * bins), [count_of, bins])
    head = tf.stack([mean, std, low, high, zeros, tf.stack(dead), saturation, tf.stack(spread)], axis=1)
    return tf.concat([head, histogram / count[:, None]], axis=1)


# Values the distribution metrics are estimated from (whole examples; at least one example).
SAMPLE_VALUES = 8192


def _examples_in_sample(values: Any) -> int:
    per_example = 1
    for dim in values.shape[1:]:
        per_example *= dim if dim is not None else 1
    return max(1, SAMPLE_VALUES // max(per_example, 1))


def activation_kind(layer: Any) -> str:
    """The activation a layer applies to its output, by name (``"relu"``, ``"sigmoid"``, ``"linear"``...)."""
    if isinstance(layer, keras.layers.ReLU):
        return "relu"
    if isinstance(layer, keras.layers.Softmax):
        return "softmax"
    function = getattr(layer, "activation", None)
    if function is None:
        return "linear" if isinstance(layer, (keras.layers.Dense, keras.layers.Activation)) else "other"
    return getattr(function, "__name__", "") or "other"


def _first_float_tensor(structure: Any) -> Any:
    for item in tf.nest.flatten(structure):
        if isinstance(item, tf.Tensor) and item.dtype.is_floating:
            return item
    return None


def _model_inputs(data: Any) -> list[tuple[str, Any]]:
    """The float tensors of the batch's ``x``, named ``input`` / ``input:<key>`` / ``input_<i>``."""
    x = data[0] if isinstance(data, (tuple, list)) and data else data
    if isinstance(x, dict):
        named = [(f"input:{key}", value) for key, value in x.items()]
    elif isinstance(x, (tuple, list)):
        named = [(f"input_{i}", value) for i, value in enumerate(x)]
    else:
        named = [("input", x)]
    return [(name, value) for name, value in named if isinstance(value, tf.Tensor) and value.dtype.is_floating]
