"""The learning-rate scale findings on real training: planted too-high and too-low rates, and the
same model at a sensible rate with neither."""

from __future__ import annotations

import keras
import pytest

from tb_diag import DiagnosticsCallback
from tb_diag.plugin.report import run_findings
from tb_diag.plugin.run_data import load_logdir


def train(log_dir, data, optimizer):
    keras.utils.set_random_seed(4)
    model = keras.Sequential([
        keras.Input((8,)),
        keras.layers.Dense(32, activation="relu", name="hidden"),
        keras.layers.Dense(1, name="out"),
    ])
    model.compile(optimizer, "mse")
    # 8 epochs of 8 steps, a sample every 2 steps: 32 update ratios per layer.
    model.fit(*data, batch_size=32, epochs=8, shuffle=False, verbose=0,
              callbacks=[DiagnosticsCallback(log_dir, sample_every_steps=2, on_nan="record")])
    (run,) = load_logdir(str(log_dir))
    return {finding.id: finding for finding in run_findings(run)}


@pytest.mark.parametrize(
    "optimizer, expected",
    [
        (lambda: keras.optimizers.SGD(1e-7), {"learning_rate_too_low"}),
        (lambda: keras.optimizers.Adam(0.5), {"learning_rate_too_high"}),
        (lambda: keras.optimizers.Adam(1e-3), set()),
    ],
    ids=["sgd_1e-7", "adam_0.5", "adam_1e-3"],
)
@pytest.mark.slow
def test_the_learning_rate_scale_is_read_from_the_update_ratios(tmp_path, regression_data, optimizer, expected):
    found = train(tmp_path, regression_data, optimizer())
    assert {"learning_rate_too_low", "learning_rate_too_high"} & set(found) == expected
    for id_ in expected:
        assert found[id_].caused_by is None and "learning rate" in found[id_].remedy
