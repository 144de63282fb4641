"""Many tensors reduced as one: their values concatenated, with the index of the tensor of each value."""

from __future__ import annotations

from typing import Any, Sequence

import tensorflow as tf


def concat_with_segments(tensors: Sequence[Any]) -> tuple[tf.Tensor, tf.Tensor]:
    """``(values, segments)``: the tensors flattened and concatenated, and for every value the
    position of its tensor in ``tensors`` (int32), for ``tf.math.unsorted_segment_*`` reductions.

    A few ops in all, whatever the number of tensors, and valid under XLA: the segment of a value
    is found by searching the tensors' end offsets (``tf.repeat`` pads its output to
    ``len(tensors) * largest`` under XLA, which breaks the reductions).
    """
    flats = [tf.reshape(tensor, [-1]) for tensor in tensors]
    values = tf.concat(flats, 0) if len(flats) > 1 else flats[0]
    ends = tf.cumsum(tf.stack([tf.size(flat, out_type=tf.int32) for flat in flats]))
    segments = tf.searchsorted(ends, tf.range(tf.size(values, out_type=tf.int32)), side="right")
    return values, segments
