"""The gradients probe records the real step's per-layer norms, in every supported training setup."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from model_zoo import KerasTrainFunction, STYLES, nested, sequential
from tb_diag import DiagnosticsCallback
from tb_diag.plugin.diagnostics.gradients import gradient_series
from tb_diag.plugin.diagnostics.input import input_series
from tb_diag.plugin.run_data import load_logdir

REL_TOL = 1e-5


def read_gradients(log_dir):
    """The single run under log_dir, decoded (the same path the CLI and plugin use)."""
    runs = load_logdir(str(log_dir))
    assert [run.run for run in runs] == ["train"]
    return runs[0], gradient_series(runs[0])


def reference_step(model, x, y):
    """Per-layer gradient norms by tf.GradientTape on this batch and the current weights."""
    with tf.GradientTape() as tape:
        loss = keras.losses.MeanSquaredError()(y, model(x, training=True))
    grads = tape.gradient(loss, model.trainable_variables)
    return {v.path: float(tf.norm(g)) for v, g in zip(model.trainable_variables, grads)}


def layer_norm(per_variable: dict, layer_prefix: str) -> float:
    return float(np.sqrt(sum(n**2 for path, n in per_variable.items() if path.rsplit("/", 1)[0] == layer_prefix)))


@pytest.mark.parametrize("jit_compile", [False, True])
def test_norms_match_gradient_tape_reference_step_by_step(tmp_path, regression_data, jit_compile):
    """grad_norm, weight_norm and update_ratio equal a GradientTape reference on the same batch and weights."""
    x, y = regression_data
    keras.utils.set_random_seed(1)
    model = nested()
    model.compile(keras.optimizers.SGD(0.05), "mse", jit_compile=jit_compile)
    expected_grad, expected_weight, expected_ratio = [], [], []
    layers = ["encoder/dense_1", "encoder/dense_2", "head"]
    for step in range(3):
        batch = slice(32 * step, 32 * (step + 1))
        reference = reference_step(model, x[batch], y[batch])
        before = {v.path: v.numpy().copy() for v in model.trainable_variables}
        # One fit per step: also covers repeated fit calls continuing the step count.
        model.fit(x[batch], y[batch], batch_size=32, epochs=1, shuffle=False, verbose=0,
                  callbacks=[DiagnosticsCallback(tmp_path, sample_every_steps=1)])
        after = {v.path: v.numpy() for v in model.trainable_variables}
        expected_grad.append([layer_norm(reference, layer) for layer in layers])
        weight = [np.sqrt(sum(np.sum(after[p] ** 2) for p in after if p.rsplit("/", 1)[0] == layer)) for layer in layers]
        delta = [np.sqrt(sum(np.sum((after[p] - before[p]) ** 2) for p in after if p.rsplit("/", 1)[0] == layer)) for layer in layers]
        expected_weight.append(weight)
        expected_ratio.append(np.array(delta) / np.array(weight))

    run, series = read_gradients(tmp_path)
    assert series.layers == layers
    assert series.steps.tolist() == [1, 2, 3]
    np.testing.assert_allclose(series.grad_norm.T, expected_grad, rtol=REL_TOL)
    np.testing.assert_allclose(series.weight_norm.T, expected_weight, rtol=REL_TOL)
    np.testing.assert_allclose(series.update_ratio.T, expected_ratio, rtol=1e-4)
    np.testing.assert_allclose(series.global_norm, np.linalg.norm(expected_grad, axis=1), rtol=REL_TOL)


@pytest.mark.parametrize("style", sorted(STYLES))
@pytest.mark.parametrize(
    "options",
    [
        {"jit_compile": False},
        {"jit_compile": True},
        {"jit_compile": False, "steps_per_execution": 3},
        {"jit_compile": True, "steps_per_execution": 3},
        {"run_eagerly": True},
    ],
    ids=["graph", "xla", "graph-spe3", "xla-spe3", "eager"],
)
@pytest.mark.slow
def test_every_model_style_and_compile_option_records_every_step(tmp_path, regression_data, style, options):
    """Each model style and compile option yields one finite, positive norm per layer per step,
    and one timing row per step attributed to its epoch."""
    x, y = regression_data
    keras.utils.set_random_seed(2)
    model = STYLES[style]()
    model.compile(keras.optimizers.Adam(1e-3), "mse", **options)
    model.fit(x, y, batch_size=32, epochs=2, verbose=0, validation_data=(x[:64], y[:64]),
              callbacks=[DiagnosticsCallback(tmp_path, flush_every_steps=5)])
    run, series = read_gradients(tmp_path)
    assert series.steps.tolist() == list(range(1, 17))  # 2 epochs x 8 batches, none lost or repeated
    assert len(series.layers) >= 2
    assert np.all(np.isfinite(series.grad_norm)) and np.all(series.grad_norm > 0)
    # The first execution runs the light trace; the second (its steps) is sampled.
    spe = options.get("steps_per_execution", 1)
    assert np.all(series.weight_norm[series.sampled] > 0) and series.sampled[:, spe].all() and not series.sampled[:, :spe].any()
    timing = input_series(run)
    assert timing.steps.tolist() == list(range(1, 17))
    assert timing.epoch.tolist() == [0] * 8 + [1] * 8
    first_of_epoch = [0, 8]  # host time there would include validation: not recorded
    assert np.isnan(timing.host[first_of_epoch]).all() and np.isfinite(np.delete(timing.host, first_of_epoch)).all()
    assert (timing.wait >= 0).all() and (timing.compute > 0).all()
    assert run.warnings == []


def test_layer_paths_name_nested_shared_and_own_weights(regression_data):
    """Nested layers get their path, a shared layer one entry, and a model's own weight its name."""
    from tb_diag.core.layer_map import map_layers

    x, _ = regression_data
    for build, expected in [
        (nested, ("encoder/dense_1", "encoder/dense_2", "head")),
        (STYLES["functional_shared"], ("shared", "head")),
        (STYLES["subclassed"], ("subclassed", "hidden", "out")),
    ]:
        model = build()
        model(x[:2])
        assert map_layers(model).paths == expected


def test_second_fit_continues_steps_and_hooks_are_gone_between_fits(tmp_path, regression_data):
    """A second fit appends steps after the first; between fits the optimizer carries no hook."""
    x, y = regression_data
    model = sequential()
    model.compile("adam", "mse")
    callback = DiagnosticsCallback(tmp_path, flush_every_steps=3)
    keras_function = KerasTrainFunction()
    model.fit(x, y, batch_size=64, epochs=1, verbose=0, callbacks=[keras_function, callback])
    assert "apply" not in model.optimizer.__dict__ and model.train_function is keras_function.function
    model.fit(x, y, batch_size=64, epochs=1, verbose=0)  # without the callback: nothing recorded
    model.fit(x, y, batch_size=64, epochs=1, verbose=0, callbacks=[callback])
    _, series = read_gradients(tmp_path)
    assert series.steps.tolist() == [1, 2, 3, 4, 9, 10, 11, 12]


def test_mixed_precision_norms_are_unscaled(tmp_path, regression_data):
    """Under mixed_float16 the recorded norms are divided by the loss scale (not ~32768x too big)."""
    x, y = regression_data
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        keras.utils.set_random_seed(3)
        model = sequential()
        # A small initial scale: float16 gradients would overflow at the default 2**15 on step 1.
        optimizer = keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(0.01), initial_scale=2.0**6)
        model.compile(optimizer, "mse")
        reference = reference_step(model, x[:32], y[:32])
        model.fit(x[:32], y[:32], batch_size=32, epochs=1, verbose=0, callbacks=[DiagnosticsCallback(tmp_path)])
    finally:
        keras.mixed_precision.set_global_policy("float32")
    _, series = read_gradients(tmp_path)
    expected = [np.sqrt(sum(reference[v.path] ** 2 for v in layer.trainable_weights)) for layer in model.layers]
    assert min(expected) > 0
    np.testing.assert_allclose(series.grad_norm[:, 0], expected, rtol=2e-2)


def test_layer_norms_group_by_layer_and_keep_nan_and_overflow_visible():
    """Norms are per layer; NaN stays NaN; a norm past float32 squares (~2.6e19) reads as +Inf."""
    from tb_diag.probes.gradients import layer_norms

    norms = layer_norms([tf.constant([3.0, 4.0]), tf.constant([12.0]), tf.constant([1e10])], [0, 0, 2], 4).numpy()
    np.testing.assert_allclose(norms, [13.0, 0.0, 1e10, 0.0], rtol=1e-6)
    assert np.isnan(layer_norms([tf.constant([np.nan, 1.0])], [0], 1).numpy()[0])
    assert layer_norms([tf.fill([4], 1e20)], [0], 1).numpy()[0] == np.inf


# The first execution runs the light trace, the second the sampled one, then every `every`-th.
@pytest.mark.parametrize("steps_per_execution, sampled_steps", [(1, [2, 7, 12]), (2, [3, 4, 7, 8, 11, 12, 15, 16])])
def test_weights_and_update_ratio_are_sampled_and_gradients_recorded_every_step(
    tmp_path, regression_data, steps_per_execution, sampled_steps
):
    """Gradient norms every step; weight norm and update ratio on the sampled trace's steps only."""
    from tb_diag.schema import NOT_SAMPLED

    x, y = regression_data
    model = sequential()
    model.compile("adam", "mse", steps_per_execution=steps_per_execution)
    model.fit(x, y, batch_size=16, epochs=1, verbose=0, callbacks=[DiagnosticsCallback(tmp_path, sample_every_steps=5)])
    run, series = read_gradients(tmp_path)
    assert series.steps.tolist() == list(range(1, 17))
    assert np.all(series.grad_norm > 0)
    assert series.steps[series.sampled[0]].tolist() == sampled_steps
    assert np.all(series.weight_norm[series.sampled] > 0)
    assert np.all(series.weight_norm[~series.sampled] == NOT_SAMPLED)


def test_norms_are_recorded_before_the_optimizer_clips_them(tmp_path, regression_data):
    """With clipnorm=1e-3 the recorded norm is still the raw gradient's, as GradientTape sees it."""
    x, y = regression_data
    keras.utils.set_random_seed(4)
    model = sequential()
    model.compile(keras.optimizers.SGD(0.01, clipnorm=1e-3), "mse")
    reference = reference_step(model, x[:32], y[:32])
    model.fit(x[:32], y[:32], batch_size=32, epochs=1, verbose=0, callbacks=[DiagnosticsCallback(tmp_path)])
    _, series = read_gradients(tmp_path)
    expected = [np.sqrt(sum(reference[v.path] ** 2 for v in layer.trainable_weights)) for layer in model.layers]
    assert min(expected) > 1e-2  # far above the clip threshold
    np.testing.assert_allclose(series.grad_norm[:, 0], expected, rtol=REL_TOL)


@pytest.mark.parametrize(
    "rows, callback_options, compile_options",
    [
        (50, {}, {}),  # the NaN/Inf probe's guard runs the update in a branch: densified beside it
        (50, {"probes": ["gradients"]}, {}),  # no guard: densified after optimizer.apply
        (50, {"on_nan": "record"}, {}),  # the guard's other conditional
        (50, {}, {"run_eagerly": True}),
        (50, {}, {"jit_compile": True}),
        ((1 << 20) // 4 + 1, {}, {}),  # a large table: the sums of its unique rows
    ],
    ids=["small-guarded", "small-unguarded", "small-record", "small-eager", "small-xla", "large"],
)
def test_an_embedding_gradient_norm_is_that_of_its_dense_sum_in_every_update_path(tmp_path, rows, callback_options, compile_options):
    """Ids repeat in a batch: the recorded norm is of the summed (dense) gradient, as GradientTape's
    dense gradient gives it, wherever the update runs (beside the optimizer, in the NaN/Inf guard's
    branch, eagerly, under XLA) and for a table too large to densify."""
    rng = np.random.default_rng(3)
    ids = rng.integers(0, 8, size=(64, 6)).astype("int32")  # 8 of the rows, each many times a batch
    y = rng.normal(size=(64, 1)).astype("float32")
    keras.utils.set_random_seed(2)
    model = keras.Sequential([keras.Input((6,), dtype="int32"), keras.layers.Embedding(rows, 4, name="table"),
                              keras.layers.GlobalAveragePooling1D(), keras.layers.Dense(1, name="head")])
    model.compile(keras.optimizers.Adam(0.01), "mse", **compile_options)
    expected = []
    for step in range(2):
        batch = slice(32 * step, 32 * (step + 1))
        with tf.GradientTape() as tape:
            loss = keras.losses.MeanSquaredError()(y[batch], model(ids[batch], training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        per_variable = {v.path: float(tf.norm(tf.convert_to_tensor(g))) for v, g in zip(model.trainable_variables, grads)}
        expected.append([layer_norm(per_variable, f"{model.name}/table"), layer_norm(per_variable, f"{model.name}/head")])
        model.fit(ids[batch], y[batch], batch_size=32, epochs=1, shuffle=False, verbose=0,
                  callbacks=[DiagnosticsCallback(tmp_path, **callback_options)])

    _, series = read_gradients(tmp_path)
    assert series.layers == ["table", "head"]
    np.testing.assert_allclose(series.grad_norm.T, expected, rtol=REL_TOL)
