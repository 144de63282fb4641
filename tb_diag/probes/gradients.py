"""Gradients probe: per-layer gradient norms every step; weight norms and update ratios sampled."""

from __future__ import annotations

import math
from typing import Any, Sequence

import tensorflow as tf

from tb_diag import schema
from tb_diag.core.ring_buffer import RingBuffer
from tb_diag.core.writer import SummaryWriter
from tb_diag.probes.base import ApplyStep, Probe, ProbeSetup


class GradientsProbe(Probe):
    """Records per layer, from the real optimizer update:

    * ``grad_norm`` (every step): L2 norm of the layer's gradients as the optimizer receives them,
      before clipping, divided by the loss scale under ``mixed_float16``.
    * ``weight_norm`` (sampled steps): L2 norm of the layer's trainable weights after the update.
    * ``update_ratio`` (sampled steps): ``||w_after - w_before|| / ||w_after||`` (0 when the weights
      are all zero). Exact for any optimizer, but it needs a copy of the weights during the update,
      which is why it is sampled rather than taken every step.

    Unsampled steps hold ``schema.NOT_SAMPLED`` in the sampled columns. The global gradient norm is
    ``sqrt(sum(grad_norm**2))`` and is derived by the reader.
    """

    name = "gradients"
    under_replicas = "the gradients summed over all replicas, as the optimizer applies them (after any per-replica clipping)"

    def start(self, setup: ProbeSetup) -> None:
        self._layer_count = len(setup.layers.paths)
        self._buffer = RingBuffer(self.name, (self._layer_count, len(schema.GRADIENTS.metrics)), setup.capacity)

    def before_apply(self, update: ApplyStep) -> Any:
        # Dense gradients' sums of squares are taken here, as each gradient is ready (they overlap
        # the backward pass). A small table's sparse gradient is densified for its norm beside the
        # update instead (see tb_diag.core.update_companions), where the optimizer densifies it too
        # and the graph optimiser makes the two one op; apart, that densify cost an LSTM text
        # model ~4% of its step on CPU.
        halves: list[Any] = []
        for grad, variable in zip(update.grads, update.variables):
            if isinstance(grad, tf.IndexedSlices) and _small_table(variable):
                halves.append(update.companions.ask(lambda grad=grad: half_squared_norm(tf.convert_to_tensor(grad))))
            else:
                halves.append(half_squared_norm(_unique_rows(grad) if isinstance(grad, tf.IndexedSlices) else grad))
        # Auto control dependencies order these reads before the optimizer's writes.
        weights_before = [tf.convert_to_tensor(v) for v in update.variables] if update.sampled else None
        return halves, weights_before

    def after_apply(self, update: ApplyStep, state: Any) -> None:
        halves, weights_before = state
        # An int stands for a companion (asked in before_apply), a tensor for a sum taken there.
        halves = [update.companions.value(h) if isinstance(h, int) else h for h in halves]
        grad_norm = norms_from_half_squares(halves, update.layer_ids, self._layer_count)
        if update.loss_scale is not None:
            grad_norm = grad_norm / update.loss_scale
        if weights_before is None:
            not_sampled = tf.fill([self._layer_count], schema.NOT_SAMPLED)
            self._buffer.record(update.step, tf.stack([grad_norm, not_sampled, not_sampled], axis=1))
            return
        weights_after = [tf.convert_to_tensor(v) for v in update.variables]
        weight_norm = layer_norms(weights_after, update.layer_ids, self._layer_count)
        deltas = [after - before for after, before in zip(weights_after, weights_before)]
        update_ratio = tf.math.divide_no_nan(layer_norms(deltas, update.layer_ids, self._layer_count), weight_norm)
        self._buffer.record(update.step, tf.stack([grad_norm, weight_norm, update_ratio], axis=1))

    def flush(self, writer: SummaryWriter, first_step: int, last_step: int) -> None:
        writer.write_block(schema.GRADIENTS, last_step, self._buffer.read_steps(first_step, last_step))


def layer_norms(tensors: Sequence[Any], layer_ids: Sequence[int], layer_count: int) -> tf.Tensor:
    """L2 norm of the tensors grouped by layer: float32 ``[layer_count]``, 0 for layers with none."""
    return norms_from_half_squares([half_squared_norm(t) for t in tensors], layer_ids, layer_count)


def half_squared_norm(tensor: Any) -> tf.Tensor:
    """Half a tensor's sum of squares as a float32 scalar: ONE op (``l2_loss``) per tensor.

    The factor 2 is applied once per layer in ``norms_from_half_squares``, not once per tensor: on
    a model of ~600 weight tensors (DenseNet121) every per-tensor op is ~600 executor nodes a step.
    A norm above ~2.6e19 overflows the float32 sum and reads as +Inf; an overflow fallback (a
    ``tf.cond``) measured 3-4% of a small model's step outside XLA, and a gradient norm that large
    means training has diverged anyway.
    """
    return tf.nn.l2_loss(tf.cast(tensor, tf.float32))


def norms_from_half_squares(halves: Sequence[Any], layer_ids: Sequence[int], layer_count: int) -> tf.Tensor:
    """Per-layer L2 norms (float32 ``[layer_count]``) from per-tensor ``half_squared_norm``s."""
    if not halves:
        return tf.zeros([layer_count], tf.float32)
    summed = tf.math.unsorted_segment_sum(tf.stack(list(halves)), tf.constant(list(layer_ids), tf.int32), layer_count)
    return tf.sqrt(summed) * math.sqrt(2.0)


# A sparse gradient of a variable up to this many elements is densified for its norm, beside the
# optimizer's update, which densifies it the same way (one op for both: free); above it (a large
# vocabulary), only the rows the batch touched are summed (``tf.unique``), never a densified table.
DENSE_SPARSE_NORM_ELEMENTS = 1 << 20


def _small_table(variable: Any) -> bool:
    elements = variable.shape.num_elements()
    return elements is not None and elements <= DENSE_SPARSE_NORM_ELEMENTS


def _unique_rows(gradient: tf.IndexedSlices) -> tf.Tensor:
    """A large table's sparse gradient as the sums of its unique rows: a tensor with its norm."""
    unique_rows, positions = tf.unique(gradient.indices)
    return tf.math.unsorted_segment_sum(gradient.values, positions, tf.shape(unique_rows)[0])
