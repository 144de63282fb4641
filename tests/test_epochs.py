"""Epoch logs and the overfitting rule: a planted overfit is found, a model that generalises is not."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tb_diag import DiagnosticsCallback
from tb_diag.plugin.diagnostics import epochs
from tb_diag.plugin.report import run_findings, run_report
from tb_diag.plugin.run_data import RunData, load_logdir


def run_with(losses, val_losses) -> RunData:
    documents = [(10 * (i + 1), {"epoch": i, "logs": {"loss": l, "val_loss": v}}) for i, (l, v) in enumerate(zip(losses, val_losses))]
    return RunData("run", [], 10 * len(losses), {}, [], {"epochs": documents})


def test_validation_loss_rising_for_epochs_while_training_loss_falls_is_overfitting():
    run = run_with([1.0, 0.8, 0.6, 0.5, 0.4, 0.3], [1.0, 0.9, 0.85, 0.9, 0.95, 1.0])
    (finding,) = epochs.find(run)
    assert (finding.id, finding.severity, finding.step) == ("overfitting", "warning", 40)
    assert "lowest (0.85) at the epoch ending at step 30" in finding.detail and "EarlyStopping" in finding.remedy


@pytest.mark.parametrize(
    "losses, val_losses",
    [
        ([1.0, 0.8, 0.6, 0.5, 0.4, 0.3], [1.0, 0.9, 0.8, 0.7, 0.6, 0.5]),  # both falling
        ([1.0, 0.8, 0.6, 0.5, 0.4, 0.3], [1.0, 0.9, 0.85, 0.86, 0.87, 0.88]),  # +3.5%: noise
        ([1.0, 0.8, 0.6, 0.5, 0.4, 0.3], [1.0, 0.9, 0.8, 0.7, 0.9, 1.0]),  # 2 epochs since the best
        ([1.0, 0.8, 0.6, 0.7, 0.8, 0.9], [1.0, 0.9, 0.85, 0.9, 0.95, 1.0]),  # training loss rises too
    ],
)
def test_no_overfitting_without_all_three_signs(losses, val_losses):
    assert epochs.find(run_with(losses, val_losses)) == []


@pytest.mark.slow
def test_a_planted_overfit_is_found_in_real_training_and_a_generalising_model_is_not(tmp_path):
    rng = np.random.default_rng(0)
    # 64 examples with random labels and a wide MLP: it memorises them, validation gets worse.
    x, y = rng.normal(size=(64, 16)).astype("float32"), rng.integers(0, 2, size=(64, 1)).astype("float32")
    x_val, y_val = rng.normal(size=(64, 16)).astype("float32"), rng.integers(0, 2, size=(64, 1)).astype("float32")
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((16,)), keras.layers.Dense(256, activation="relu"), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(keras.optimizers.Adam(1e-2), "binary_crossentropy")
    model.fit(x, y, validation_data=(x_val, y_val), batch_size=16, epochs=20, verbose=0, callbacks=[DiagnosticsCallback(tmp_path / "overfit")])
    (run,) = load_logdir(str(tmp_path / "overfit"))
    # (Its 4 tiny steps per epoch may also be an input_bound info: a short step, not a problem.)
    assert [f.id for f in run_findings(run) if f.severity != "info"] == ["overfitting"]
    report = run_report(run)
    assert len(report["epochs"]["epochs"]) == 20 and report["epochs"]["epochs"][-1]["step"] == 80

    # The same model on a learnable target, validated on the same distribution: no finding.
    w = rng.normal(size=(16, 1))
    y, y_val = (x @ w > 0).astype("float32"), (x_val @ w > 0).astype("float32")
    x_more = rng.normal(size=(1024, 16)).astype("float32")
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((16,)), keras.layers.Dense(32, activation="relu"), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(keras.optimizers.Adam(1e-3), "binary_crossentropy")
    model.fit(x_more, (x_more @ w > 0).astype("float32"), validation_data=(x_val, y_val), batch_size=64, epochs=8, verbose=0,
              callbacks=[DiagnosticsCallback(tmp_path / "fine")])
    (run,) = load_logdir(str(tmp_path / "fine"))
    assert [f.id for f in run_findings(run) if f.severity != "info"] == []


@pytest.mark.slow
def test_every_epoch_is_written_at_its_last_step_even_right_after_a_periodic_flush(tmp_path, regression_data):
    x, y = regression_data  # 256 examples: 8 steps per epoch at batch 32, flushed every 8 steps too
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    for _ in range(2):  # two fits: their epochs line up by step
        model.fit(x, y, batch_size=32, epochs=2, validation_split=0.25, verbose=0, callbacks=[DiagnosticsCallback(tmp_path, flush_every_steps=6)])
    (run,) = load_logdir(str(tmp_path))
    logs = epochs.epoch_logs(run)
    assert [(log.step, log.epoch) for log in logs] == [(6, 0), (12, 1), (18, 0), (24, 1)]
    assert all(log.loss is not None and log.val_loss is not None for log in logs)
