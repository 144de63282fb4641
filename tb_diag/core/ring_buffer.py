"""In-graph ring buffers: the training step writes one row per step, the host reads them in blocks."""

from __future__ import annotations

import numpy as np
import tensorflow as tf


class StepCounter:
    """A global training-step counter that lives in the graph and survives across ``fit`` calls.

    Steps are numbered from 1 like ``optimizer.iterations`` after the update, so they line up with
    the batch-level steps of Keras' ``TensorBoard`` callback.
    """

    def __init__(self, start: int):
        self._variable = tf.Variable(np.int64(start), trainable=False, name="tb_diag_step")

    def advance(self) -> tf.Tensor:
        """In the train step: counts one step and returns its number."""
        return self._variable.assign_add(1)

    def advance_to(self, step: int) -> None:
        """On the host: continues counting after ``step`` (never goes back)."""
        self._variable.assign(max(int(step), self.read()))

    def value(self) -> tf.Tensor:
        """In the train step: the number of the last step counted so far."""
        return self._variable.read_value()

    def read(self) -> int:
        """On the host: the number of the last completed step."""
        return int(self._variable.numpy())


class RingBuffer:
    """``capacity`` rows of ``row_shape`` values (float32 unless ``dtype``), row ``step % capacity`` per step."""

    def __init__(self, name: str, row_shape: tuple[int, ...], capacity: int, dtype: tf.DType = tf.float32):
        self.capacity = capacity
        self._dtype = dtype
        self._variable = tf.Variable(tf.zeros((capacity, *row_shape), dtype), trainable=False, name=f"tb_diag_{name}")

    def record(self, step: tf.Tensor, row: tf.Tensor) -> None:
        """In the train step: stores ``row`` for ``step`` (one scatter, XLA-compatible)."""
        index = tf.math.floormod(step, self.capacity)[None]
        self._variable.scatter_update(tf.IndexedSlices(tf.cast(row, self._dtype)[None], index))

    def read_steps(self, first_step: int, last_step: int) -> np.ndarray:
        """On the host: rows for steps ``first_step..last_step`` (at most ``capacity`` of them)."""
        rows = np.arange(first_step, last_step + 1) % self.capacity
        return self._variable.numpy()[rows]
