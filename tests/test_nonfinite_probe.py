"""The NaN/Inf origin probe: one planted fault per phase, found at its layer and step, and what
on_nan does with the update (real Keras training on CPU)."""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from model_zoo import STYLES
from tb_diag import DiagnosticsCallback, DiagnosticsWarning
from tb_diag.plugin.diagnostics import nonfinite
from tb_diag.plugin.report import report_document
from tb_diag.plugin.run_data import load_logdir

BATCH = 16
STEPS = 8
BAD_STEP = 4  # 1-based training step whose batch carries the fault


@keras.saving.register_keras_serializable(package="tb_diag_tests")
class Log(keras.layers.Layer):
    """log(x): NaN for a negative input, -Inf for 0 (a classic forward-pass origin)."""

    def call(self, x):
        return keras.ops.log(x)


@keras.saving.register_keras_serializable(package="tb_diag_tests")
class SqrtOfSquare(keras.layers.Layer):
    """sqrt(x**2) = |x|: finite forward, but its derivative is 0 * Inf = NaN where x == 0."""

    def call(self, x):
        return keras.ops.sqrt(keras.ops.square(x))


def features(seed: int = 0, low: float = 0.5, high: float = 2.0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(low, high, (BATCH * STEPS, 4)).astype("float32")


def rows_of_step(step: int) -> slice:
    return slice((step - 1) * BATCH, step * BATCH)


class WeightsPerStep(keras.callbacks.Callback):
    """The model's weights after every execution, keyed by optimizer.iterations (``after``) and by
    the 1-based number of the batch that ended it (``after_batch``)."""

    def __init__(self):
        super().__init__()
        self.after: dict[int, list[np.ndarray]] = {}
        self.after_batch: dict[int, list[np.ndarray]] = {}

    def on_train_begin(self, logs=None):
        self.after[int(self.model.optimizer.iterations.numpy())] = [w.copy() for w in self.model.get_weights()]

    def on_train_batch_end(self, batch, logs=None):
        weights = [w.copy() for w in self.model.get_weights()]
        self.after[int(self.model.optimizer.iterations.numpy())] = weights
        self.after_batch[batch + 1] = weights


def fit(model, x, y, log_dir, on_nan="stop", **fit_options):
    """Fits with the callback; returns (the callback's warnings, the weights recorder, History)."""
    recorder = WeightsPerStep()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(
            x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0,
            callbacks=[DiagnosticsCallback(log_dir, on_nan=on_nan), recorder], **fit_options,
        )
    ours = [str(w.message) for w in caught if issubclass(w.category, DiagnosticsWarning)]
    return ours, recorder, history


def read_summary(log_dir) -> tuple[dict | None, list[dict]]:
    document = report_document(load_logdir(str(log_dir)))
    (run,) = document["runs"]
    return run["nonfinite"], run["findings"]


def assert_weights_are_those_before(model, recorder, bad_step):
    before = recorder.after[bad_step - 1]
    for now, then in zip(model.get_weights(), before, strict=True):
        np.testing.assert_array_equal(now, then)


MODES = {
    "graph": {},
    "xla": {"jit_compile": True},
    "spe3": {"steps_per_execution": 3},
    "xla-spe3": {"jit_compile": True, "steps_per_execution": 3},
    "eager": {"run_eagerly": True},
}


def log_model(**compile_options) -> keras.Model:
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(8, activation="relu", name="dense_a")(Log(name="log")(inputs))
    model = keras.Model(inputs, keras.layers.Dense(1, name="head")(hidden))
    model.compile(keras.optimizers.SGD(0.01), "mse", **compile_options)
    return model


@pytest.mark.slow
@pytest.mark.parametrize("mode", sorted(MODES))
def test_forward_origin_is_the_first_layer_with_finite_inputs_and_non_finite_output(tmp_path, mode):
    x = features()
    x[rows_of_step(BAD_STEP).start + 3, 1] = -1.0  # log(-1) = NaN in one value of step 4's batch
    model = log_model(**MODES[mode])
    ours, recorder, _ = fit(model, x, np.ones((len(x), 1), "float32"), tmp_path)

    summary, findings = read_summary(tmp_path)
    assert summary["phase"] == "forward" and summary["layer"] == "log" and summary["step"] == BAD_STEP
    assert summary["epoch"] == 0 and summary["action"] == "stopped" and summary["weights_kept"]
    assert "1 NaN" in summary["detail"]
    # stop: the bad update never landed, and fit stopped at the end of that execution.
    assert int(model.optimizer.iterations.numpy()) == BAD_STEP - 1
    assert_weights_are_those_before(model, recorder, BAD_STEP)
    assert len(ours) == 1 and "stopped training" in ours[0] and "layer 'log'" in ours[0]
    first = findings[0]
    assert first["id"] == "nonfinite" and first["severity"] == "error" and first["layer"] == "log"
    assert "epsilon" in first["remedy"]


@pytest.mark.slow
@pytest.mark.parametrize("style", sorted(STYLES))
@pytest.mark.parametrize("mode", ["graph", "xla-spe3", "eager"])
def test_a_nan_in_the_batch_is_an_input_event_for_every_model_style(tmp_path, regression_data, style, mode):
    x, y = regression_data
    x = x.copy()
    x[(BAD_STEP - 1) * 32 + 5, 2] = np.nan
    keras.utils.set_random_seed(3)
    model = STYLES[style]()
    model.compile(keras.optimizers.Adam(1e-2), "mse", **MODES[mode])
    recorder = WeightsPerStep()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0, callbacks=[DiagnosticsCallback(tmp_path), recorder])

    summary, findings = read_summary(tmp_path)
    assert summary["phase"] == "input" and summary["layer"] == "input" and summary["step"] == BAD_STEP
    assert "1 NaN" in summary["detail"]
    assert_weights_are_those_before(model, recorder, BAD_STEP)
    assert any(f["id"] == "nonfinite" and "Clean the data" in f["remedy"] for f in findings)


def test_loss_origin_when_every_output_is_finite(tmp_path):
    def loss_with_sqrt_of_target(y_true, y_pred):
        # sqrt of a negative target: NaN in the loss only.
        return keras.ops.mean(keras.ops.square(y_true - y_pred)) + keras.ops.mean(keras.ops.sqrt(y_true))

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu", name="d1"), keras.layers.Dense(1, name="d2")])
    model.compile(keras.optimizers.SGD(0.01), loss_with_sqrt_of_target)
    y = np.ones((BATCH * STEPS, 1), "float32")
    y[rows_of_step(BAD_STEP).start] = -1.0
    _, recorder, _ = fit(model, features(), y, tmp_path)

    summary, findings = read_summary(tmp_path)
    assert summary["phase"] == "loss" and summary["layer"] is None and summary["step"] == BAD_STEP
    assert_weights_are_those_before(model, recorder, BAD_STEP)
    assert "from_logits" in findings[0]["remedy"]


def test_backward_origin_is_the_last_layer_whose_gradients_went_non_finite(tmp_path):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    a = keras.layers.Dense(6, use_bias=False, name="dense_a")(inputs)
    b = keras.layers.Dense(6, name="dense_b")(SqrtOfSquare(name="abs_via_sqrt")(a))
    model = keras.Model(inputs, keras.layers.Dense(1, name="head")(b))
    model.compile(keras.optimizers.SGD(0.01), "mse")
    x = features()
    x[rows_of_step(BAD_STEP)] = 0.0  # dense_a outputs exactly 0: sqrt'(0) = Inf, times 0 = NaN
    _, recorder, _ = fit(model, x, np.ones((len(x), 1), "float32"), tmp_path)

    summary, findings = read_summary(tmp_path)
    assert summary["phase"] == "backward" and summary["layer"] == "dense_a" and summary["step"] == BAD_STEP
    assert "between 'dense_a' and 'abs_via_sqrt'" in summary["detail"]
    assert_weights_are_those_before(model, recorder, BAD_STEP)
    assert "infinite slope" in findings[0]["remedy"]


class SpikeAt(keras.optimizers.schedules.LearningRateSchedule):
    """0.01, except a learning rate of 3e38 at one iteration (a broken schedule)."""

    def __init__(self, iteration: int):
        self.iteration = iteration

    def __call__(self, step):
        return tf.where(tf.equal(step, self.iteration), tf.constant(3e38), tf.constant(0.01))

    def get_config(self):
        return {"iteration": self.iteration}


def spiking_model(**compile_options) -> keras.Model:
    """An MLP whose learning rate spikes to 3e38 at step BAD_STEP: finite gradients, Inf weights."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu", name="d1"), keras.layers.Dense(1, name="d2")])
    model.compile(keras.optimizers.SGD(SpikeAt(BAD_STEP - 1)), "mse", **compile_options)
    return model


def test_held_updates_keep_the_weights_when_finite_gradients_would_make_them_non_finite(tmp_path):
    """Under XLA the writes are held until known finite: the update phase is found at its own step
    and the bad writes never land."""
    model = spiking_model(jit_compile=True)
    _, recorder, _ = fit(model, features(), np.full((BATCH * STEPS, 1), 10.0, "float32"), tmp_path)

    summary, findings = read_summary(tmp_path)
    assert summary["phase"] == "update" and summary["layer"] == "d1" and summary["step"] == BAD_STEP
    assert summary["weights_kept"] and summary["action"] == "stopped"
    assert_weights_are_those_before(model, recorder, BAD_STEP)
    assert all(np.isfinite(w).all() for w in model.get_weights())
    assert "learning rate" in findings[0]["remedy"]


@pytest.mark.parametrize("sample_every", [1, 10])
@pytest.mark.parametrize("unscreened", ["restored", "too_large_to_hold"])
def test_an_update_that_lands_unscreened_is_found_later_as_the_update_phase(tmp_path, monkeypatch, unscreened, sample_every):
    """Two ways an update whose gradients are finite lands without its written values screened, so
    that weights it makes non-finite stay: the default ("restored") mode, and (held mode, XLA) a
    weight above HELD_WRITE_MAX_ELEMENTS (a large embedding table), whose writes are not held. It
    is found at the next sampled step (sample_every=1: the update's own step) or (sample_every=10:
    steps 2, 12...) by the next step, whose forward pass reads the bad weights: either way as the
    update phase at d1, saying the weights were not kept."""
    from tb_diag.probes import nonfinite as nonfinite_probe

    if unscreened == "too_large_to_hold":
        monkeypatch.setattr(nonfinite_probe, "HELD_WRITE_MAX_ELEMENTS", 0)
    model = spiking_model(**({"jit_compile": True} if unscreened == "too_large_to_hold" else {}))
    callback = DiagnosticsCallback(tmp_path, sample_every_steps=sample_every)
    model.fit(features(), np.full((BATCH * STEPS, 1), 10.0, "float32"), batch_size=BATCH, shuffle=False, verbose=0, callbacks=[callback])

    summary, findings = read_summary(tmp_path)
    assert summary["phase"] == "update" and summary["layer"] == "d1"
    assert summary["step"] == (BAD_STEP if sample_every == 1 else BAD_STEP + 1)
    assert summary["weights_kept"] is False and summary["action"] == "stopped"
    assert not np.isfinite(model.get_layer("d1").get_weights()[0]).all(), "the bad write landed"
    assert "learning rate" in findings[0]["remedy"]
    if unscreened == "too_large_to_hold":
        assert "over 4M values" in findings[0]["detail"]


def test_when_held_and_unheld_weights_go_bad_in_one_update_the_held_ones_are_dropped_and_it_says_not_kept(tmp_path, monkeypatch):
    """Held mode (XLA): d1's kernel (32 values) is over the bound of 8 and lands at once; d1's bias and d2's
    weights are held, found non-finite and not written: the step's own update phase is recorded,
    and since one write had landed, the event does not claim the weights were kept."""
    from tb_diag.probes import nonfinite as nonfinite_probe

    monkeypatch.setattr(nonfinite_probe, "HELD_WRITE_MAX_ELEMENTS", 8)
    model = spiking_model(jit_compile=True)
    _, recorder, _ = fit(model, features(), np.full((BATCH * STEPS, 1), 10.0, "float32"), tmp_path)

    summary, _ = read_summary(tmp_path)
    assert summary["phase"] == "update" and summary["step"] == BAD_STEP
    assert summary["weights_kept"] is False and summary["action"] == "stopped"
    before = recorder.after_batch[BAD_STEP - 1]
    for held in (1, 2, 3):  # d1's bias, d2's kernel and bias: as after the step before
        np.testing.assert_array_equal(model.get_weights()[held], before[held])


@pytest.mark.parametrize("mode", ["xla", "graph"])
def test_with_ema_the_update_phase_is_detected_after_the_fact_and_says_weights_were_not_kept(tmp_path, mode):
    """With use_ema the optimizer's writes cannot be held back (held mode, XLA): the weights after
    the update are screened instead. The default mode screens them on sampled steps (every step
    here). Either way the event says the bad weights landed (weights_kept false)."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu", name="d1"), keras.layers.Dense(1, name="d2")])
    model.compile(keras.optimizers.SGD(SpikeAt(BAD_STEP - 1), use_ema=True), "mse", **MODES[mode])
    callback = DiagnosticsCallback(tmp_path, sample_every_steps=1)
    model.fit(features(), np.full((BATCH * STEPS, 1), 10.0, "float32"), batch_size=BATCH, shuffle=False, verbose=0, callbacks=[callback])

    summary, findings = read_summary(tmp_path)
    assert summary["phase"] == "update" and summary["step"] == BAD_STEP and summary["layer"] == "d1"
    assert summary["weights_kept"] is False
    assert findings[0]["id"] == "nonfinite" and "learning rate" in findings[0]["remedy"]


def test_skip_drops_each_bad_update_counts_them_and_keeps_training(tmp_path):
    x = features()
    for step in (BAD_STEP, BAD_STEP + 2):
        x[rows_of_step(step).start, 0] = -1.0
    model = log_model()
    ours, recorder, _ = fit(model, x, np.ones((len(x), 1), "float32"), tmp_path, on_nan="skip")

    assert int(model.optimizer.iterations.numpy()) == STEPS - 2
    assert all(np.isfinite(w).all() for w in model.get_weights())
    # A skipped step leaves the weights exactly as the step before left them.
    for now, then in zip(recorder.after_batch[BAD_STEP], recorder.after_batch[BAD_STEP - 1]):
        np.testing.assert_array_equal(now, then)
    summary, findings = read_summary(tmp_path)
    assert summary["step"] == BAD_STEP and summary["bad_steps"] == 2 and summary["skipped_steps"] == 2
    steps = nonfinite.bad_steps(load_logdir(str(tmp_path))[0])
    assert [(s["step"], s["phase"], s["action"]) for s in steps] == [(BAD_STEP, "forward", "skipped"), (BAD_STEP + 2, "forward", "skipped")]
    assert "2 step(s) skipped" in findings[0]["detail"]
    assert len(ours) == 1 and "training continues (on_nan='skip')" in ours[0]


@pytest.mark.parametrize("mode", ["graph", "xla", "spe3", "eager"])
def test_skip_leaves_weights_and_optimizer_state_as_training_without_the_bad_batches(tmp_path, mode):
    """Whether the update is held (XLA, several steps per execution) or run and then restored from
    the bad step's copy (the default elsewhere), a skipped step leaves no trace: the weights and
    every optimizer variable (Adam's moments, its iteration count) are bit-identical to plain Keras
    trained on the same data without the bad batches."""
    bad_steps = (BAD_STEP, BAD_STEP + 2)
    x, y = features(), np.ones((BATCH * STEPS, 1), "float32")
    for step in bad_steps:
        x[rows_of_step(step).start, 0] = -1.0
    good = np.concatenate([np.arange(BATCH * STEPS)[rows_of_step(s)] for s in range(1, STEPS + 1) if s not in bad_steps])

    def adam_model():
        model = log_model(**MODES[mode])
        model.compile(keras.optimizers.Adam(1e-2), "mse", **MODES[mode])
        return model

    plain = adam_model()
    plain.fit(x[good], y[good], batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    observed = adam_model()
    fit(observed, x, y, tmp_path, on_nan="skip")

    for a, b in zip(plain.get_weights(), observed.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert len(plain.optimizer.variables) == len(observed.optimizer.variables) > 2
    for a, b in zip(plain.optimizer.variables, observed.optimizer.variables, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)


def test_the_update_mode_is_restored_where_a_copy_can_be_kept_and_held_elsewhere():
    from tb_diag.probes.nonfinite import update_mode

    model = log_model()
    assert update_mode(1, model, "stop") == update_mode(1, model, "record") == update_mode(1, model, "skip") == "restored"
    assert update_mode(2, model, "stop") == "watched"
    assert update_mode(1, log_model(jit_compile=True), "stop") == "held"
    several = log_model(steps_per_execution=3)
    assert update_mode(1, several, "stop") == "restored" and update_mode(1, several, "skip") == "held"
    model.compile(keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(0.01)), "mse")
    assert update_mode(1, model, "stop") == "held"


def test_a_model_with_a_weight_too_large_to_copy_holds_its_updates_instead(tmp_path, monkeypatch):
    """The copy leaves out variables over HELD_WRITE_MAX_ELEMENTS (here dense_a's 32-value kernel),
    so such a model is trained in the held mode: a bad step changes no weight, that one included."""
    from tb_diag.probes import nonfinite as nonfinite_probe

    monkeypatch.setattr(nonfinite_probe, "HELD_WRITE_MAX_ELEMENTS", 8)
    assert nonfinite_probe.update_mode(1, log_model(), "stop") == "held"
    x = features()
    x[rows_of_step(BAD_STEP).start, 0] = -1.0
    model = log_model()
    _, recorder, _ = fit(model, x, np.ones((len(x), 1), "float32"), tmp_path)

    summary, _ = read_summary(tmp_path)
    assert summary["phase"] == "forward" and summary["step"] == BAD_STEP and summary["weights_kept"]
    assert_weights_are_those_before(model, recorder, BAD_STEP)


def test_a_restored_stop_puts_back_the_moving_statistics_later_steps_of_its_execution_spoiled(tmp_path):
    """steps_per_execution=3: the bad step's update lands and steps 5 and 6 run on its NaN weights,
    writing NaN into BatchNorm's moving statistics; the copy, taken after the bad step's own
    (finite) forward pass, puts those back too, so the model ends finite and as after step 3."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    a = keras.layers.Dense(6, use_bias=False, name="dense_a")(inputs)
    b = keras.layers.Dense(6, name="dense_b")(SqrtOfSquare(name="abs_via_sqrt")(a))
    normed = keras.layers.BatchNormalization(name="bn")(b)
    model = keras.Model(inputs, keras.layers.Dense(1, name="head")(normed))
    model.compile(keras.optimizers.SGD(0.01), "mse", steps_per_execution=3)
    x = features()
    x[rows_of_step(BAD_STEP)] = 0.0  # a backward-phase NaN: the forward pass of step 4 is finite
    _, recorder, _ = fit(model, x, np.ones((len(x), 1), "float32"), tmp_path)

    summary, _ = read_summary(tmp_path)
    assert summary["phase"] == "backward" and summary["step"] == BAD_STEP and summary["weights_kept"]
    assert all(np.isfinite(w).all() for w in model.get_weights()), "BatchNorm's statistics were put back"
    assert int(model.optimizer.iterations.numpy()) == BAD_STEP - 1
    trainable = {id(variable) for variable in model.trainable_variables}
    for variable, then in zip(model.weights, recorder.after[BAD_STEP - 1], strict=True):
        if id(variable) in trainable:
            np.testing.assert_array_equal(variable.numpy(), then, err_msg=variable.path)


def test_skip_stops_when_the_weights_are_already_non_finite(tmp_path):
    """The default mode lets an update with finite gradients land unscreened (a learning-rate
    spike): every later step would be bad and skipped for nothing. The next step finds the weights
    non-finite, and skip stops there, saying why."""
    model = spiking_model()
    ours, _, _ = fit(model, features(), np.full((BATCH * STEPS, 1), 10.0, "float32"), tmp_path, on_nan="skip")

    summary, _ = read_summary(tmp_path)
    assert summary["phase"] == "update" and summary["step"] == BAD_STEP + 1 and summary["weights_kept"] is False
    assert any("skipping bad steps cannot undo weights that are already non-finite" in w for w in ours), ours
    assert int(model.optimizer.iterations.numpy()) == BAD_STEP  # stopped after step BAD_STEP + 1


def test_a_nan_probe_disabled_after_a_bad_step_puts_its_copy_back_and_takes_no_more(tmp_path, monkeypatch):
    """A failure on the host right after a bad step disables the probe; the copy that step took is
    put back at once (so the NaN it let through goes no further) and no later step takes one."""
    from tb_diag.probes.nonfinite import NonfiniteProbe

    original = NonfiniteProbe.stop_reason

    def broken(self, signals):
        if bool(self._snapshot.pending.numpy()):  # only once the bad step has taken its copy
            raise RuntimeError("stop_reason exploded")
        return original(self, signals)

    monkeypatch.setattr(NonfiniteProbe, "stop_reason", broken)
    x = features()
    x[rows_of_step(BAD_STEP).start, 0] = -1.0
    model = log_model()
    ours, _, _ = fit(model, x, np.ones((len(x), 1), "float32"), tmp_path)

    assert len(ours) == 1 and "disabled the nonfinite probe after RuntimeError: stop_reason exploded" in ours[0]
    assert all(np.isfinite(w).all() for w in model.get_weights()), "the bad step's update was put back"
    assert int(model.optimizer.iterations.numpy()) == STEPS - 1


def test_record_changes_nothing_about_training(tmp_path):
    x = features()
    x[rows_of_step(BAD_STEP).start, 0] = -1.0
    y = np.ones((len(x), 1), "float32")
    plain = log_model()
    plain.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    observed = log_model()
    fit(observed, x, y, tmp_path, on_nan="record")

    for a, b in zip(plain.get_weights(), observed.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)  # NaN where plain training has NaN
    summary, _ = read_summary(tmp_path)
    assert summary["step"] == BAD_STEP and summary["action"] == "recorded" and not summary["weights_kept"]


def test_a_healthy_run_reports_no_event(tmp_path):
    model = log_model()
    ours, _, _ = fit(model, features(), np.ones((BATCH * STEPS, 1), "float32"), tmp_path)
    summary, findings = read_summary(tmp_path)
    assert summary is None and not [f for f in findings if f["id"] == "nonfinite"] and not ours
    assert int(model.optimizer.iterations.numpy()) == STEPS


def test_after_a_stop_the_model_saves_loads_and_refits(tmp_path):
    x = features()
    x[rows_of_step(BAD_STEP).start, 0] = -1.0
    y = np.ones((len(x), 1), "float32")
    model = log_model()
    fit(model, x, y, tmp_path / "logs")
    path = str(tmp_path / "model.keras")
    model.save(path)
    restored = keras.models.load_model(path)
    for a, b in zip(model.get_weights(), restored.get_weights()):
        np.testing.assert_array_equal(a, b)
    clean = features(seed=1)
    restored.fit(clean, y, batch_size=BATCH, epochs=1, verbose=0)
    assert all(np.isfinite(w).all() for w in restored.get_weights())


@pytest.fixture
def mixed_precision():
    keras.mixed_precision.set_dtype_policy("mixed_float16")
    yield
    keras.mixed_precision.set_dtype_policy("float32")


@pytest.mark.slow
def test_loss_scale_overflows_are_recorded_not_reported_as_nan(tmp_path, mixed_precision):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1, dtype="float32")])
    # A scale of 2**40 overflows float16 gradients: the optimizer halves it and skips the update.
    optimizer = keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(0.01), initial_scale=2.0**40)
    model.compile(optimizer, "mse")
    ours, _, _ = fit(model, features(), np.ones((BATCH * STEPS, 1), "float32"), tmp_path)

    summary, findings = read_summary(tmp_path)
    assert summary is None and not ours and not [f for f in findings if f["id"] == "nonfinite"]
    scales = nonfinite.loss_scale(load_logdir(str(tmp_path))[0])
    assert scales["steps"] == list(range(1, STEPS + 1))
    assert scales["overflow"][0] and scales["scale"][0] == 2.0**40
    skipped = [i for i, overflow in enumerate(scales["overflow"]) if overflow]
    # Each overflow halves the scale for the next step.
    for i in skipped:
        if i + 1 < STEPS:
            assert scales["scale"][i + 1] == scales["scale"][i] / 2
    assert scales["skips"] == len(skipped) >= 1


@pytest.mark.slow
def test_a_forward_nan_under_mixed_precision_is_still_an_event(tmp_path, mixed_precision):
    x = features()
    x[rows_of_step(BAD_STEP).start, 0] = -1.0
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(8, activation="relu", name="dense_a")(Log(name="log")(inputs))
    model = keras.Model(inputs, keras.layers.Dense(1, name="head", dtype="float32")(hidden))
    model.compile(keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(0.01)), "mse")
    _, recorder, _ = fit(model, x, np.ones((len(x), 1), "float32"), tmp_path)

    summary, _ = read_summary(tmp_path)
    assert summary["phase"] == "forward" and summary["layer"] == "log" and summary["step"] == BAD_STEP
    assert_weights_are_those_before(model, recorder, BAD_STEP)


def test_on_nan_must_be_one_of_the_modes():
    with pytest.raises(ValueError, match="on_nan must be one of 'stop', 'skip', 'record'; got 'halt'"):
        DiagnosticsCallback("logs", on_nan="halt")


def test_a_failing_nan_probe_is_disabled_and_training_is_unchanged(tmp_path, monkeypatch):
    from tb_diag.probes.nonfinite import NonfiniteProbe

    def broken(*args, **kwargs):
        raise RuntimeError("statistics exploded")

    monkeypatch.setattr(NonfiniteProbe, "_statistics", broken)
    x, y = features(), np.ones((BATCH * STEPS, 1), "float32")
    plain = log_model()
    plain.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    observed = log_model()
    ours, _, _ = fit(observed, x, y, tmp_path)
    assert len(ours) == 1 and "disabled the nonfinite probe after RuntimeError: statistics exploded" in ours[0]
    for a, b in zip(plain.get_weights(), observed.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert int(observed.optimizer.iterations.numpy()) == STEPS
    run = load_logdir(str(tmp_path))[0]
    assert run.families["gradients"].steps.size == STEPS  # the other probes kept recording


def test_layer_counts_are_the_same_under_xla_for_tensors_of_very_different_sizes():
    from tb_diag.probes.nonfinite import layer_stats

    tensors = [tf.constant([1.0, np.nan, np.inf]), tf.fill([96, 96, 8], -2.0), tf.constant([[-np.inf, 3.0]]), tf.constant([0.5], tf.float64)]
    layers = [0, 1, 0, 2]
    eager = layer_stats(tensors, layers, 3).numpy()
    compiled = tf.function(lambda *ts: layer_stats(list(ts), layers, 3), jit_compile=True)(*tensors).numpy()
    np.testing.assert_array_equal(compiled, eager)
    np.testing.assert_array_equal(eager, [[1, 1, 1, 3.0], [0, 0, 0, 2.0], [0, 0, 0, 0.5]])


def test_the_gradient_screen_sees_a_single_nan_or_inf_in_small_large_and_sparse_gradients():
    """Large dense gradients are screened by the norms' own op (half the sum of squares), small and
    sparse ones by a plain sum: one NaN or Inf in any of them must still fail the screen."""
    from tb_diag.probes.nonfinite import SHARED_SCREEN_MIN_ELEMENTS, _gradient_screen

    large = np.ones(SHARED_SCREEN_MIN_ELEMENTS + 1, np.float32)
    small = np.ones(10, np.float32)
    sparse = tf.IndexedSlices(tf.ones([3, 4]), tf.constant([0, 2, 2]), tf.constant([5, 4]))
    assert np.isfinite(_gradient_screen([tf.constant(large), tf.constant(small), sparse]).numpy())
    for bad in (np.nan, np.inf, -np.inf):
        for which in ("large", "small"):
            values = {"large": large.copy(), "small": small.copy()}
            values[which][7] = bad
            screen = _gradient_screen([tf.constant(values["large"]), tf.constant(values["small"]), sparse])
            assert not np.isfinite(screen.numpy()), (which, bad)
    bad_sparse = tf.IndexedSlices(tf.constant([[1.0, np.nan]]), tf.constant([1]), tf.constant([5, 2]))
    assert not np.isfinite(_gradient_screen([tf.constant(large), bad_sparse]).numpy())
