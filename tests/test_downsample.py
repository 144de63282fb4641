"""Server-side downsampling keeps every spike and every NaN/Inf (never averages them away)."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from tb_diag.plugin.downsample import keep_extremes

values = st.one_of(st.floats(-1e30, 1e30), st.sampled_from([np.nan, np.inf, -np.inf, 0.0]))


@given(arrays(np.float64, st.tuples(st.integers(1, 3), st.integers(1, 300)), elements=values), st.integers(1, 50))
def test_each_bucket_keeps_its_first_non_finite_value_or_its_maximum(series, max_points):
    steps = np.arange(1, series.shape[1] + 1) * 10
    reduced_steps, reduced, downsampled = keep_extremes(steps, series, max_points)
    if not downsampled:
        assert reduced is series and series.shape[1] <= max_points
        return
    assert reduced.shape == (series.shape[0], reduced_steps.size) and reduced_steps.size <= max_points
    assert reduced_steps[-1] == steps[-1]  # the last step is always shown
    bounds = np.searchsorted(steps, reduced_steps, side="right")
    starts = np.concatenate([[0], bounds[:-1]])
    for row in range(series.shape[0]):
        for bucket, (start, end) in enumerate(zip(starts, bounds)):
            chunk = series[row, start:end]
            nonfinite = chunk[~np.isfinite(chunk)]
            expected = nonfinite[0] if nonfinite.size else chunk.max()
            np.testing.assert_array_equal(reduced[row, bucket], expected)


def test_a_single_nan_among_thousands_survives():
    series = np.ones((1, 10_000))
    series[0, 6_789] = np.nan
    series[0, 1_234] = 1e9
    _, reduced, downsampled = keep_extremes(np.arange(10_000), series, 100)
    assert downsampled and np.isnan(reduced).sum() == 1 and np.nanmax(reduced) == 1e9
