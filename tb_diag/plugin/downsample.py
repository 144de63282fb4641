"""Server-side downsampling that never hides a spike or a NaN."""

from __future__ import annotations

import numpy as np


def keep_extremes(steps: np.ndarray, values: np.ndarray, max_points: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """Reduces ``values[..., S]`` to at most ``max_points`` columns by buckets of consecutive steps.

    Each bucket keeps its largest value, or its first non-finite value if it has one (NaN and Inf
    are the signal, never averaged away). A bucket is labelled with its last step. Rows are
    reduced a few at a time, so a long run's temporaries stay small (1000 layers x 100 000 steps
    is 400 MB of float32 per metric).

    Returns:
      ``(steps, values, downsampled)``.
    """
    count = steps.shape[0]
    if count <= max_points:
        return steps, values, False
    size = -(-count // max_points)
    buckets = -(-count // size)
    rows = values.reshape(-1, count)
    reduced = np.empty((rows.shape[0], buckets), dtype=values.dtype)
    chunk = max(1, _CHUNK_ELEMENTS // count)
    for first in range(0, rows.shape[0], chunk):
        reduced[first : first + chunk] = _bucket_extremes(rows[first : first + chunk], size, buckets)
    pad = buckets * size - count
    last_steps = np.concatenate([steps, np.full(pad, steps[-1])]).reshape(buckets, size)[:, -1]
    return last_steps, reduced.reshape(values.shape[:-1] + (buckets,)), True


# Elements of ``values`` reduced at once by ``keep_extremes`` (16 MB of float32 per temporary).
_CHUNK_ELEMENTS = 4_000_000


def _bucket_extremes(rows: np.ndarray, size: int, buckets: int) -> np.ndarray:
    """``keep_extremes`` for a ``[rows, S]`` array: ``[rows, buckets]``."""
    count = rows.shape[1]
    pad = buckets * size - count
    # Pad with -inf marked as padding so it never wins a bucket.
    vals = np.concatenate([rows, np.full((rows.shape[0], pad), -np.inf, dtype=rows.dtype)], axis=1)
    is_pad = np.zeros(buckets * size, dtype=bool)
    is_pad[count:] = True
    vals = vals.reshape(rows.shape[0], buckets, size)
    nonfinite = ~np.isfinite(vals) & ~is_pad.reshape(buckets, size)
    finite_max = np.where(np.isfinite(vals), vals, vals.dtype.type(-np.inf)).max(axis=-1)
    first_nonfinite = np.take_along_axis(vals, nonfinite.argmax(axis=-1)[..., None], axis=-1)[..., 0]
    return np.where(nonfinite.any(axis=-1), first_nonfinite, finite_max)


def slowest_per_bucket(values: np.ndarray, max_points: int) -> tuple[np.ndarray, bool]:
    """Indices that keep, from each bucket of consecutive points, the one with the largest value.

    For series whose parts must stay together (wait, compute and host time of one step): the
    chosen step is shown whole. NaN counts as the largest. Returns ``(indices, downsampled)``.
    """
    count = values.shape[0]
    if count <= max_points:
        return np.arange(count), False
    size = -(-count // max_points)
    ranked = np.where(np.isnan(values), np.inf, values)
    starts = np.arange(0, count, size)
    return np.array([start + int(np.argmax(ranked[start : start + size])) for start in starts]), True
