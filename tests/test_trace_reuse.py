"""A later fit of the same model reuses tb_diag's traced steps (counted, not timed), and still trains
bit-identically to plain Keras and records every step.

On standard architectures (MobileNetV2, a Transformer encoder, LSTM, GRU, a sparse-gradient
embedding model) the same is checked by the healthy suite's test, which trains each over several
fits (tests/test_healthy_standard_models.py): one training serves both checks."""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest

from model_zoo import CountsTraces, KerasTrainFunction
from tb_diag import DiagnosticsCallback
from tb_diag.plugin.diagnostics.gradients import gradient_series
from tb_diag.plugin.run_data import load_logdir
from tb_diag.probes.gradients import GradientsProbe


def fit(model, data, callbacks=(), epochs=1):
    model.fit(*data, batch_size=32, epochs=epochs, shuffle=False, verbose=0, callbacks=list(callbacks))


def counting_model(seed=3, **compile_options):
    keras.utils.set_random_seed(seed)
    model = CountsTraces()
    model.compile(keras.optimizers.Adam(1e-2), "mse", **compile_options)
    return model


def recorded_steps(log_dir) -> list[int]:
    (run,) = load_logdir(str(log_dir))
    return gradient_series(run).steps.tolist()


def test_a_later_fit_with_the_same_settings_traces_nothing_new(tmp_path, regression_data):
    model = counting_model()
    fit(model, regression_data, [DiagnosticsCallback(tmp_path)])
    first = model.traces
    assert first == 2  # the light and the sampled step, each once
    fit(model, regression_data, [DiagnosticsCallback(tmp_path)])  # a new callback, same settings
    callback = DiagnosticsCallback(tmp_path)
    fit(model, regression_data, [callback])
    fit(model, regression_data, [callback])  # the same callback again
    assert model.traces == first
    assert recorded_steps(tmp_path) == list(range(1, 4 * 8 + 1))


def sampled_steps(log_dir) -> list[int]:
    (run,) = load_logdir(str(log_dir))
    series = gradient_series(run)
    return series.steps[series.sampled.any(axis=0)].tolist()


def test_refits_go_on_with_the_sampling_schedule_instead_of_sampling_each_fit_again(tmp_path, regression_data):
    # 8 steps per fit, a sample every 5 steps from the model's second step: 2, 7, 12, ... over all
    # fits, as one long fit would sample (a refit that restarted the schedule would add 10, 18, 26).
    model = counting_model()
    for _ in range(4):
        fit(model, regression_data, [DiagnosticsCallback(tmp_path, sample_every_steps=5)])
    assert sampled_steps(tmp_path) == [2, 7, 12, 17, 22, 27, 32]
    assert model.traces == 2


def test_without_probes_a_later_fit_traces_nothing_new_either(tmp_path, regression_data):
    model = counting_model()
    for _ in range(2):
        fit(model, regression_data, [DiagnosticsCallback(tmp_path, probes=[])])
    assert model.traces == 2


@pytest.mark.slow
def test_other_settings_or_a_new_compile_trace_again(tmp_path, regression_data):
    model = counting_model()
    fit(model, regression_data, [DiagnosticsCallback(tmp_path)])
    fit(model, regression_data, [DiagnosticsCallback(tmp_path, sample_every_steps=5)])
    assert model.traces == 4
    model.compile(keras.optimizers.Adam(1e-2), "mse")
    fit(model, regression_data, [DiagnosticsCallback(tmp_path, sample_every_steps=5)])
    assert model.traces == 6
    fit(model, regression_data, [DiagnosticsCallback(tmp_path, probes=["gradients"], sample_every_steps=5)])
    assert model.traces == 8


def test_between_fits_keras_runs_its_own_train_function_once_traced(tmp_path, regression_data):
    model = counting_model()
    keras_function = KerasTrainFunction()
    fit(model, regression_data, [keras_function, DiagnosticsCallback(tmp_path)])
    assert model.train_function is keras_function.function and "apply" not in model.optimizer.__dict__
    traced = model.traces
    fit(model, regression_data)
    fit(model, regression_data)
    assert model.traces == traced + 1  # Keras traced its own step once, as without tb_diag


def test_refits_train_bit_identically_to_plain_keras(tmp_path, regression_data):
    plain, observed = counting_model(), counting_model()
    for round_ in range(3):
        fit(plain, regression_data)
        fit(observed, regression_data, [DiagnosticsCallback(tmp_path / "logs")] if round_ != 1 else [])
        for a, b in zip(plain.get_weights(), observed.get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)
    for a, b in zip(plain.optimizer.variables, observed.optimizer.variables, strict=True):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    # The fit without tb_diag (steps 9..16) is not recorded; the next one continues after it.
    assert recorded_steps(tmp_path / "logs") == list(range(1, 9)) + list(range(17, 25))


@pytest.mark.slow
def test_a_fit_whose_probe_failed_is_not_reused(tmp_path, regression_data, monkeypatch):
    model = counting_model()
    original = GradientsProbe.before_apply
    monkeypatch.setattr(GradientsProbe, "before_apply", lambda self, update: 1 / 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit(model, regression_data, [DiagnosticsCallback(tmp_path)])
    monkeypatch.setattr(GradientsProbe, "before_apply", original)
    traced = model.traces
    fit(model, regression_data, [DiagnosticsCallback(tmp_path / "again")])
    assert model.traces == traced + 2
    assert recorded_steps(tmp_path / "again") == list(range(9, 17))
