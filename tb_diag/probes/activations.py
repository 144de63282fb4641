"""Activations probe: statistics of every layer call's output (and of the inputs), on sampled steps."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import tensorflow as tf

from tb_diag import schema
from tb_diag.core.layer_calls import activation_kind
from tb_diag.core.ring_buffer import RingBuffer
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
        """``[calls, metrics]`` for the stashed outputs: ``call_statistics``, its reductions in ONE
        XLA-compiled call (inside an XLA-compiled step it is simply inlined)."""
        activations = [info["activation"] for _, info, _ in pending]
        samples = sample_calls([tensor for _, _, tensor in pending], activations, [info["kind"] == "input" for _, info, _ in pending])
        key = tuple(activations)
        function = self._statistics_functions.get(key)
        if function is None:
            function = tf.function(
                lambda *prepared: reduce_samples(activations, *prepared), jit_compile=True, autograph=False, reduce_retracing=True
            )
            self._statistics_functions[key] = function
        return function(*samples)

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
        # unsampled steps between them (19 in 20 by default) take no space in the log.
        for start, end in _runs(recorded):
            writer.write_block(schema.ACTIVATIONS, int(steps[end - 1]), block[start:end])


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """``[(start, end)]`` of each run of consecutive true values (``end`` exclusive)."""
    edges = np.diff(np.concatenate([[0], flags.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))


def call_statistics(tensors: list[Any], activations: list[str], per_feature: list[bool]) -> tf.Tensor:
    """The ``schema.ACTIVATIONS`` metrics of each tensor, float32 ``[tensors, metrics]`` (see
    ActivationsProbe), computed for all tensors together.

    The distribution metrics (mean, std, min, zeros, saturation, histogram) are estimated from a
    sample of at most ``SAMPLE_VALUES`` values per tensor (``_sample``): whole examples when they
    fit, else values spread over the first example. The samples are stacked into one padded
    ``[tensors, SAMPLE_VALUES]`` matrix and reduced along its rows: dense reductions, no scatter
    (segment sums over a concatenated vector were 0.6-1.3 s on a MobileNetV2 on CPU, more than its
    forward pass; XLA's CPU scatter is sequential).

    ``dead_fraction`` and the ``max`` of layers that can have dead units read the first examples of
    the batch, enough for ``DEAD_MIN_EXAMPLES`` examples and ``DEAD_MIN_ROWS`` positions
    (``_dead_examples``): a unit dead on those is dead on the batch unless it fires on rare inputs.
    """
    return reduce_samples(activations, *sample_calls(tensors, activations, per_feature))


def sample_calls(tensors: list[Any], activations: list[str], per_feature: list[bool]) -> tuple[Any, ...]:
    """The per-tensor part of ``call_statistics``: ``(samples [tensors, SAMPLE_VALUES], sizes,
    dead, whole_max, softmax, spread)``, the last four ``[tensors]`` (``NOT_SAMPLED`` where they do
    not apply). Cheap slices plus the dead-unit pass, which is faster outside XLA on CPU."""
    not_sampled = tf.constant(schema.NOT_SAMPLED, tf.float32)
    rows, sizes, dead, whole_max, softmax, spread = [], [], [], [], [], []
    for tensor, activation, is_input in zip(tensors, activations, per_feature):
        values = tf.cast(tf.stop_gradient(tensor), tf.float32)
        if values.shape.rank is None or values.shape.rank < 2:
            values = tf.reshape(values, [-1, 1])
        sample, size = _sample(values)
        rows.append(sample)
        sizes.append(size)
        units = tf.shape(values)[-1]
        whole = values[: _examples_fitting(values)]  # whole examples, at most SAMPLE_VALUES values (at least one)
        if activation in DEAD_CAPABLE:
            unit_max = tf.reduce_max(tf.reshape(values[: _dead_examples(values)], [-1, units]), axis=0)
            dead.append(1.0 - tf.reduce_mean(tf.cast(unit_max > 0.0, tf.float32)))
            whole_max.append(tf.reduce_max(unit_max))
        else:
            dead.append(not_sampled)
            whole_max.append(not_sampled)
        if activation == "softmax":
            top = tf.reduce_max(tf.reshape(whole, [-1, units]), axis=-1)
            softmax.append(tf.reduce_mean(tf.cast(top > 1.0 - SATURATION_MARGIN, tf.float32)))
        else:
            softmax.append(not_sampled)
        if is_input:
            stds = tf.math.reduce_std(tf.reshape(whole, [-1, units]), axis=0)
            spread.append(tf.math.divide_no_nan(tf.reduce_max(stds), tf.reduce_min(stds)))
        else:
            spread.append(not_sampled)
    return tf.stack(rows), tf.stack(sizes), tf.stack(dead), tf.stack(whole_max), tf.stack(softmax), tf.stack(spread)


def reduce_samples(activations: list[str], x: Any, sizes: Any, dead: Any, whole_max: Any, softmax: Any, spread: Any) -> tf.Tensor:
    """The reductions of ``call_statistics`` over the stacked samples of ``sample_calls``: dense
    row reductions, fused into a few loops under XLA."""
    mask = tf.sequence_mask(sizes, SAMPLE_VALUES)  # x is zero-padded past each row's size
    weight = tf.cast(mask, tf.float32)
    count = tf.maximum(tf.reduce_sum(weight, axis=1), 1.0)
    sum_of = lambda values: tf.reduce_sum(tf.where(mask, values, 0.0), axis=1)  # noqa: E731
    low = tf.reduce_min(tf.where(mask, x, np.inf), axis=1)
    dead_capable = tf.constant([activation in DEAD_CAPABLE for activation in activations])
    high = tf.where(dead_capable, whole_max, tf.reduce_max(tf.where(mask, x, -np.inf), axis=1))
    mean = sum_of(x) / count
    std = tf.sqrt(tf.maximum(sum_of(tf.square(x - mean[:, None])) / count, 0.0))
    zeros = sum_of(tf.cast(tf.equal(x, 0.0), tf.float32)) / count
    # Saturation of tanh-like (1) and sigmoid-like (2) outputs, value by value; softmax by rows.
    kinds = tf.constant([[1 if a in ("tanh", "hard_tanh") else 2 if a in ("sigmoid", "hard_sigmoid") else 0] for a in activations], tf.int32)
    near_bound = tf.where(
        tf.equal(kinds, 1),
        tf.cast(tf.abs(x) > 1.0 - SATURATION_MARGIN, tf.float32),
        tf.cast((x < SATURATION_MARGIN) | (x > 1.0 - SATURATION_MARGIN), tf.float32) * tf.cast(tf.equal(kinds, 2), tf.float32),
    )
    saturation = tf.where(kinds[:, 0] > 0, sum_of(near_bound) / count, softmax)
    bins = schema.HISTOGRAM_BINS
    # Bins span [min, max]; values outside (the dead pass's max) and NaN are clipped into the ends.
    scale = tf.math.divide_no_nan(tf.constant(float(bins)), high - low)
    index = tf.clip_by_value(tf.cast((x - low[:, None]) * scale[:, None], tf.int32), 0, bins - 1)
    histogram = tf.stack([sum_of(tf.cast(tf.equal(index, b), tf.float32)) for b in range(bins)], axis=1)
    head = tf.stack([mean, std, low, high, zeros, dead, saturation, spread], axis=1)
    return tf.concat([head, histogram / count[:, None]], axis=1)


# Values the distribution metrics are estimated from, per tensor.
SAMPLE_VALUES = 4096
# The dead-unit pass reads at least this many examples (the whole batch if smaller) and enough of
# them for this many positions per unit (a conv unit has one per pixel; a Dense unit one per example).
DEAD_MIN_EXAMPLES = 8
DEAD_MIN_ROWS = 1024


def _per_example(values: Any) -> int | None:
    """Values per example (all axes after the first), or ``None`` if a dimension is unknown."""
    per_example = 1
    for dim in values.shape[1:]:
        if dim is None:
            return None
        per_example *= dim
    return per_example


def _examples_fitting(values: Any) -> int:
    """How many whole examples fit in ``SAMPLE_VALUES`` values (at least one)."""
    return max(1, SAMPLE_VALUES // max(_per_example(values) or 1, 1))


def _dead_examples(values: Any) -> int:
    """Examples the dead-unit pass reads: ``DEAD_MIN_EXAMPLES``, or more for ``DEAD_MIN_ROWS`` positions."""
    per_example, units = _per_example(values), values.shape[-1]
    positions = per_example // units if per_example and units else 1
    return max(DEAD_MIN_EXAMPLES, -(-DEAD_MIN_ROWS // max(positions, 1)))


def _sample(values: Any) -> tuple[Any, Any]:
    """``(row, size)``: at most ``SAMPLE_VALUES`` values of ``values`` zero-padded to that length,
    and how many are real. Whole examples when one fits; else every ``stride``-th value of the
    first example, the stride made coprime with the last axis so that every unit (channel) is in
    the sample, at positions spread over the whole example."""
    per_example = _per_example(values)
    if per_example is not None and per_example > SAMPLE_VALUES:
        stride = -(-per_example // SAMPLE_VALUES)
        units = values.shape[-1] or 1
        while math.gcd(stride, units) > 1:
            stride += 1
        flat = tf.reshape(values[0], [-1])[::stride]
        size = -(-per_example // stride)
        return tf.pad(flat, [[0, SAMPLE_VALUES - size]]), tf.constant(size)
    flat = tf.reshape(values[: _examples_fitting(values)], [-1])[:SAMPLE_VALUES]
    if flat.shape[0] is not None:
        return tf.pad(flat, [[0, SAMPLE_VALUES - flat.shape[0]]]), tf.constant(flat.shape[0])
    size = tf.size(flat)
    return tf.pad(flat, [[0, SAMPLE_VALUES - size]]), size


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
