"""The training loop's own costs and traps, from real fits: callbacks that slow every step, eager
training, and stateful RNNs used wrongly (shuffled, never reset, a last batch of another size).
Each planted case is found, naming the callback or layer; the same fit done right is not."""

from __future__ import annotations

import time
import warnings

import keras
import numpy as np
import pytest

from tb_diag import DiagnosticsCallback, DiagnosticsWarning
from tb_diag.plugin.report import run_findings, run_report
from tb_diag.plugin.run_data import load_logdir


def alarms(run) -> list[str]:
    return [finding.id for finding in run_findings(run) if finding.severity != "info"]


class SlowLogger(keras.callbacks.Callback):
    """A user's logging callback that reads the loss back and sleeps 20 ms on every batch."""

    def on_train_batch_end(self, batch, logs=None):
        float(logs["loss"])
        time.sleep(0.02)


class QuickCounter(keras.callbacks.Callback):
    """A cheap per-batch callback: it must not be named."""

    def __init__(self):
        super().__init__()
        self.batches = 0

    def on_train_batch_begin(self, batch, logs=None):
        self.batches += 1


def small_model() -> keras.Model:
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)])
    model.compile("adam", "mse")
    return model


def test_a_callback_that_takes_most_of_each_step_is_named_with_its_share_and_a_cheap_one_is_not(tmp_path, regression_data):
    x, y = regression_data
    slow, quick = SlowLogger(), QuickCounter()
    small_model().fit(x, y, batch_size=32, epochs=2, verbose=0, callbacks=[quick, DiagnosticsCallback(tmp_path), slow])
    (run,) = load_logdir(str(tmp_path))
    (finding,) = [f for f in run_findings(run) if f.id == "slow_callback"]
    assert finding.severity == "warning" and "SlowLogger" in finding.title
    share = float(finding.title.split(" takes ")[1].split("%")[0]) / 100
    assert share > 0.5  # 20 ms of sleep against a step of about a millisecond
    assert "every N batches" in finding.remedy
    shares = {entry["name"]: entry["share"] for entry in run_report(run)["callbacks"]["callbacks"]}
    assert set(shares) == {"QuickCounter", "SlowLogger"} and shares["QuickCounter"] < 0.05
    # The hooks were timed on the callback objects for the fit only.
    assert "on_train_batch_end" not in vars(slow) and "on_train_batch_begin" not in vars(quick)
    assert quick.batches == 16


def test_keras_tensorboard_writing_every_batch_gets_its_own_remedy(tmp_path, regression_data):
    x, y = regression_data

    class SlowTensorBoard(keras.callbacks.TensorBoard):
        def on_train_batch_end(self, batch, logs=None):
            super().on_train_batch_end(batch, logs)
            time.sleep(0.01)

    slow = SlowTensorBoard(str(tmp_path / "tb"), update_freq=1)
    slow.__class__.__name__ = "TensorBoard"  # as Keras' own callback would be named in the log
    small_model().fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=[DiagnosticsCallback(tmp_path / "run"), slow])
    (run,) = load_logdir(str(tmp_path / "run"))
    (finding,) = [f for f in run_findings(run) if f.id == "slow_callback"]
    assert "update_freq='epoch'" in finding.remedy


def test_eager_training_says_how_much_slower_it_is_and_a_traced_fit_says_nothing(tmp_path, regression_data):
    x, y = regression_data
    model = keras.Sequential([keras.Input((8,))] + [keras.layers.Dense(32, activation="relu") for _ in range(6)] + [keras.layers.Dense(1)])
    model.compile("adam", "mse", run_eagerly=True)
    model.fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=[DiagnosticsCallback(tmp_path / "eager")])
    (run,) = load_logdir(str(tmp_path / "eager"))
    (finding,) = [f for f in run_findings(run) if f.id == "eager_training"]
    summary = run_report(run)["eager"]
    assert summary["slowdown"] >= 1.5 and summary["batch_size"] == 32
    assert f"{summary['slowdown']:.1f}× slower than traced" in finding.title and "run_eagerly=True" in finding.remedy

    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(32, activation="relu"), keras.layers.Dense(1)])
    model.compile("adam", "mse")
    model.fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=[DiagnosticsCallback(tmp_path / "traced")])
    (run,) = load_logdir(str(tmp_path / "traced"))
    assert "eager" not in run_report(run) or run_report(run)["eager"] is None
    assert "eager_training" not in alarms(run)


class NumpyInCall(keras.layers.Layer):
    """A layer that reads its input as NumPy: it cannot be traced, so the model must run eagerly."""

    def call(self, x):
        return x * float(np.mean(x.numpy()) > -1e9)

    def compute_output_shape(self, input_shape):
        return input_shape


def test_a_model_that_cannot_be_traced_is_told_why(tmp_path, regression_data):
    x, y = regression_data
    inputs = keras.Input((8,))
    model = keras.Model(inputs, keras.layers.Dense(1)(NumpyInCall()(keras.layers.Dense(8)(inputs))))
    model.compile("adam", "mse", run_eagerly=True)
    model.fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=[DiagnosticsCallback(tmp_path)])
    (run,) = load_logdir(str(tmp_path))
    (finding,) = [f for f in run_findings(run) if f.id == "eager_training"]
    assert "cannot be traced" in finding.title and "numpy" in finding.detail.lower()


def stateful_model(batch: int = 16) -> tuple[keras.Model, keras.layers.LSTM]:
    inputs = keras.Input(batch_shape=(batch, 10, 4))
    lstm = keras.layers.LSTM(8, stateful=True, name="carry")
    model = keras.Model(inputs, keras.layers.Dense(1)(lstm(inputs)))
    model.compile("adam", "mse")
    return model, lstm


@pytest.fixture
def sequences():
    rng = np.random.default_rng(0)
    return rng.normal(size=(64, 10, 4)).astype("float32"), rng.normal(size=(64, 1)).astype("float32")


def test_a_stateful_rnn_fitted_with_the_default_shuffle_and_never_reset_gets_both_warnings(tmp_path, sequences):
    x, y = sequences
    model, _ = stateful_model()
    model.fit(x, y, batch_size=16, epochs=3, verbose=0, callbacks=[DiagnosticsCallback(tmp_path)])
    (run,) = load_logdir(str(tmp_path))
    findings = {f.id: f for f in run_findings(run)}
    assert {"stateful_shuffled", "stateful_not_reset"} <= set(findings)
    assert findings["stateful_shuffled"].layer == "carry" and "shuffle=False" in findings["stateful_shuffled"].remedy
    assert "2 epoch(s) began with the states" in findings["stateful_not_reset"].detail
    assert "reset_state()" in findings["stateful_not_reset"].remedy


def test_a_stateful_rnn_fitted_in_order_and_reset_every_epoch_gets_no_finding(tmp_path, sequences):
    x, y = sequences
    model, lstm = stateful_model()
    reset = keras.callbacks.LambdaCallback(on_epoch_begin=lambda epoch, logs: lstm.reset_state())
    # The reset runs after tb_diag's own on_epoch_begin: the check waits for the first batch.
    model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0, callbacks=[DiagnosticsCallback(tmp_path), reset])
    (run,) = load_logdir(str(tmp_path))
    assert [f.id for f in run_findings(run) if f.id.startswith("stateful")] == []
    assert run_report(run)["stateful"]["layers"][0] == {"layer": "carry", "class": "LSTM", "batch_size": 16}


def test_a_stream_read_on_across_epochs_may_carry_its_states(tmp_path, sequences):
    x, y = sequences
    model, _ = stateful_model()
    import tensorflow as tf

    stream = tf.data.Dataset.from_tensor_slices((x, y)).repeat().batch(16, drop_remainder=True)
    model.fit(stream, steps_per_epoch=2, epochs=3, verbose=0, callbacks=[DiagnosticsCallback(tmp_path)])
    (run,) = load_logdir(str(tmp_path))
    assert [f.id for f in run_findings(run) if f.id.startswith("stateful")] == []


def test_a_last_batch_of_another_size_is_warned_before_keras_fails_on_it_and_is_in_the_log(tmp_path, sequences):
    x, y = sequences
    model, _ = stateful_model()
    with warnings.catch_warnings(record=True) as caught, pytest.raises(Exception, match="Incompatible shapes|batch size"):
        warnings.simplefilter("always")
        model.fit(x[:56], y[:56], batch_size=16, shuffle=False, verbose=0, callbacks=[DiagnosticsCallback(tmp_path)])
    messages = [str(w.message) for w in caught if issubclass(w.category, DiagnosticsWarning)]
    assert any("last batch of each epoch has 8 examples" in message for message in messages)
    (run,) = load_logdir(str(tmp_path))
    (finding,) = [f for f in run_findings(run) if f.id == "stateful_partial_batch"]
    assert finding.severity == "error" and "batches of 16" in finding.detail
