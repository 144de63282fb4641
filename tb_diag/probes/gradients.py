"""Gradients probe: per-layer gradient norm, weight norm and update ratio, every training step."""

from __future__ import annotations

from typing import Any, Sequence

import tensorflow as tf

from tb_diag import schema
from tb_diag.core.ring_buffer import RingBuffer
from tb_diag.core.writer import SummaryWriter
from tb_diag.probes.base import ApplyStep, Probe, ProbeSetup


class GradientsProbe(Probe):
    """Records, for every layer and every step, from the real optimizer update.

    * ``grad_norm``: L2 norm of the layer's gradients as the optimizer receives them: before
      clipping, divided by the loss scale under ``mixed_float16``.
    * ``weight_norm``: L2 norm of the layer's trainable weights after the update.
    * ``update_ratio``: ``||w_after - w_before|| / ||w_after||`` (0 when the weights are all zero).

    The global gradient norm is ``sqrt(sum(grad_norm**2))`` and is derived by the reader.
    """

    name = "gradients"

    def start(self, setup: ProbeSetup) -> None:
        self._layer_count = len(setup.layers.paths)
        self._buffer = RingBuffer(self.name, (self._layer_count, len(schema.GRADIENTS.metrics)), setup.capacity)

    def before_apply(self, update: ApplyStep) -> Any:
        grad_norm = layer_norms([_dense(g) for g in update.grads], update.layer_ids, self._layer_count)
        if update.loss_scale is not None:
            grad_norm = grad_norm / update.loss_scale
        # Auto control dependencies order these reads before the optimizer's writes.
        weights_before = [tf.convert_to_tensor(v) for v in update.variables]
        return grad_norm, weights_before

    def after_apply(self, update: ApplyStep, state: Any) -> None:
        grad_norm, weights_before = state
        weights_after = [tf.convert_to_tensor(v) for v in update.variables]
        weight_norm = layer_norms(weights_after, update.layer_ids, self._layer_count)
        deltas = [after - before for after, before in zip(weights_after, weights_before)]
        update_norm = layer_norms(deltas, update.layer_ids, self._layer_count)
        update_ratio = tf.math.divide_no_nan(update_norm, weight_norm)
        self._buffer.record(update.step, tf.stack([grad_norm, weight_norm, update_ratio], axis=1))

    def flush(self, writer: SummaryWriter, first_step: int, last_step: int) -> None:
        writer.write_block(schema.GRADIENTS, last_step, self._buffer.read_steps(first_step, last_step))


def layer_norms(tensors: Sequence[Any], layer_ids: Sequence[int], layer_count: int) -> tf.Tensor:
    """L2 norm of the tensors grouped by layer: float32 ``[layer_count]``, 0 for layers with none.

    One fused reduction per tensor in float32. If a sum of squares overflowed float32 (norms above
    ~1.8e19, exactly the exploding-gradient case) the norms are recomputed in float64 once, so a
    large but finite norm is reported as such rather than as ``inf``.
    """
    if not tensors:
        return tf.zeros([layer_count], tf.float32)
    segment_ids = tf.constant(list(layer_ids), tf.int32)
    squares = 2.0 * tf.stack([tf.nn.l2_loss(tf.cast(t, tf.float32)) for t in tensors])
    layer_squares = tf.math.unsorted_segment_sum(squares, segment_ids, layer_count)

    def in_float64() -> tf.Tensor:
        squares64 = tf.stack([tf.reduce_sum(tf.square(tf.cast(t, tf.float64))) for t in tensors])
        return tf.cast(tf.sqrt(tf.math.unsorted_segment_sum(squares64, segment_ids, layer_count)), tf.float32)

    return tf.cond(tf.reduce_any(tf.math.is_inf(layer_squares)), in_float64, lambda: tf.sqrt(layer_squares))


def _dense(gradient: Any) -> Any:
    """Sparse gradients (embeddings) become the values of their unique rows: same norm, no densify."""
    if isinstance(gradient, tf.IndexedSlices):
        unique_rows, positions = tf.unique(gradient.indices)
        return tf.math.unsorted_segment_sum(gradient.values, positions, tf.shape(unique_rows)[0])
    return gradient
