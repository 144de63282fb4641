"""The activations probe records each layer call's output statistics from the real forward pass."""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from model_zoo import STYLES
from tb_diag import DiagnosticsCallback, DiagnosticsWarning, schema
from tb_diag.plugin.diagnostics import activations
from tb_diag.plugin.run_data import load_logdir

M = {name: i for i, name in enumerate(schema.ACTIVATIONS.metrics)}


def read_run(log_dir):
    (run,) = load_logdir(str(log_dir))
    return run


def reference_statistics(values: np.ndarray, activation: str) -> dict:
    """The metrics as numpy computes them from a layer output."""
    values = values.astype(np.float64)
    flat = values.reshape(-1)
    units = values.reshape(-1, values.shape[-1])
    stats = {
        "mean": flat.mean(), "std": flat.std(), "min": flat.min(), "max": flat.max(),
        "zero_fraction": np.mean(flat == 0),
        "dead_fraction": 1 - np.mean((units > 0).any(axis=0)) if activation == "relu" else schema.NOT_SAMPLED,
        "saturation": schema.NOT_SAMPLED,
    }
    if activation == "sigmoid":
        stats["saturation"] = np.mean((flat < 0.01) | (flat > 0.99))
    if activation == "softmax":
        stats["saturation"] = np.mean(units.max(axis=1) > 0.99)
    edges = np.linspace(flat.min(), flat.max(), schema.HISTOGRAM_BINS + 1)
    counts, _ = np.histogram(flat, bins=edges)
    stats["histogram"] = counts / flat.size
    return stats


@pytest.mark.parametrize("jit_compile", [False, True])
def test_statistics_equal_a_probe_model_on_the_same_batch(tmp_path, regression_data, jit_compile):
    """Every metric of every call equals numpy on the outputs of a probe model with the step's weights."""
    x, _ = regression_data
    batch = x[:64]
    keras.utils.set_random_seed(3)
    inputs = keras.Input((8,))
    h1 = keras.layers.Dense(32, activation="relu", name="relu")(inputs)
    h2 = keras.layers.Dense(16, activation="sigmoid", name="sigmoid")(h1)
    out = keras.layers.Dense(4, activation="softmax", name="softmax")(h2)
    model = keras.Model(inputs, out)
    model.compile(keras.optimizers.SGD(0.01), "categorical_crossentropy", jit_compile=jit_compile)
    probe = keras.Model(inputs, [h1, h2, out])
    expected_outputs = dict(zip(["relu", "sigmoid", "softmax"], [o.numpy() for o in probe(batch)]))  # weights of step 1
    labels = np.eye(4, dtype="float32")[np.arange(64) % 4]
    model.fit(batch, labels, batch_size=64, epochs=1, shuffle=False, verbose=0,
              callbacks=[DiagnosticsCallback(tmp_path, sample_every_steps=1)])

    series = activations.activation_series(read_run(tmp_path))
    assert series.calls == ["input", "relu", "sigmoid", "softmax"]
    assert [info["activation"] for info in series.info] == ["input", "relu", "sigmoid", "softmax"]
    assert series.steps.tolist() == [1]
    for name, outputs in [("input", batch), *expected_outputs.items()]:
        recorded = series.values[series.calls.index(name), 0]
        expected = reference_statistics(outputs, name)
        for metric in ("mean", "std", "min", "max", "zero_fraction", "dead_fraction", "saturation"):
            np.testing.assert_allclose(recorded[M[metric]], expected[metric], rtol=1e-4, atol=1e-6, err_msg=f"{name}.{metric}")
        np.testing.assert_allclose(recorded[M["hist_0"]:], expected["histogram"], atol=1.5 / outputs.size, err_msg=f"{name} histogram")


def test_a_planted_dead_layer_reports_dead_units_and_a_finding_and_a_healthy_one_does_not(tmp_path, regression_data):
    x, y = regression_data
    model = keras.Sequential([
        keras.Input((8,)),
        keras.layers.Dense(16, activation="relu", name="healthy", kernel_initializer="he_normal"),
        keras.layers.Dense(16, activation="relu", name="dead", bias_initializer=keras.initializers.Constant(-100.0)),
        keras.layers.Dense(1, name="out"),
    ])
    model.compile("adam", "mse")
    model.fit(x, y, batch_size=32, epochs=2, verbose=0, callbacks=[DiagnosticsCallback(tmp_path, sample_every_steps=2)])
    run = read_run(tmp_path)
    summary = activations.summarize(run)
    assert summary["dead"]["dead_fraction"] == pytest.approx(1.0)
    assert summary["healthy"]["dead_fraction"] < 0.5
    found = [f for f in activations.find(run) if f.id == "dead_relu"]
    assert [(f.layer, f.severity) for f in found] == [("dead", "error")]
    assert "he_normal" in found[0].remedy and "LeakyReLU" in found[0].remedy


def test_only_sampled_steps_are_recorded_and_shared_layers_once_per_call(tmp_path, regression_data):
    """Sampling every 3 steps with steps_per_execution=1, from the second step (the first runs the
    light trace); a shared layer shows up once per call."""
    x, y = regression_data
    model = STYLES["functional_shared"]()
    model.compile("adam", "mse")
    model.fit(x, y, batch_size=32, epochs=2, verbose=0, callbacks=[DiagnosticsCallback(tmp_path, sample_every_steps=3)])
    run = read_run(tmp_path)
    series = activations.activation_series(run)
    assert series.calls == ["input", "shared", "shared#2", "head"]
    assert series.steps.tolist() == [2, 5, 8, 11, 14]
    # The log holds the sampled steps only, not placeholder rows for the others.
    assert run.families["activations"].steps.tolist() == [2, 5, 8, 11, 14]
    # The second call of the shared layer sees the first call's output, so its statistics differ.
    assert not np.allclose(series.values[1, :, M["mean"]], series.values[2, :, M["mean"]])


@pytest.mark.parametrize("options", [{"jit_compile": True, "steps_per_execution": 3}, {"run_eagerly": True}], ids=["xla-spe3", "eager"])
@pytest.mark.parametrize("style", sorted(STYLES))
def test_every_model_style_gets_statistics_for_its_layers(tmp_path, regression_data, style, options):
    x, y = regression_data
    model = STYLES[style]()
    model.compile("adam", "mse", **options)
    model.fit(x, y, batch_size=32, epochs=2, verbose=0, callbacks=[DiagnosticsCallback(tmp_path, sample_every_steps=2)])
    series = activations.activation_series(read_run(tmp_path))
    assert series.calls[0] == "input" and len(series.calls) >= 3
    assert series.steps.size >= 4
    assert np.isfinite(series.values[:, -1, M["std"]]).all()
    for layer in model._flatten_layers(include_self=False):
        assert "call" not in layer.__dict__  # every wrapper removed after fit


def test_recurrent_layers_are_observed_whole(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 5, 3)).astype("float32"), rng.normal(size=(64, 1)).astype("float32")
    model = keras.Sequential([keras.Input((5, 3)), keras.layers.LSTM(8, name="lstm"), keras.layers.Dense(1, name="out")])
    model.compile("adam", "mse")
    model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0, callbacks=[DiagnosticsCallback(tmp_path, sample_every_steps=1)])
    assert activations.activation_series(read_run(tmp_path)).calls == ["input", "lstm", "out"]


def test_pixel_scale_inputs_and_saturated_sigmoids_are_found(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(256, 16)).astype("float32")
    y = rng.random((256, 1)).astype("float32")
    model = keras.Sequential([keras.Input((16,)), keras.layers.Dense(32, activation="sigmoid", name="sig"), keras.layers.Dense(1, name="out")])
    model.compile("sgd", "mse")
    model.fit(x, y, batch_size=32, epochs=2, verbose=0, callbacks=[DiagnosticsCallback(tmp_path)])
    found = {f.id: f for f in activations.find(read_run(tmp_path))}
    assert found["unnormalized_inputs"].layer == "input" and "Rescaling(1/255)" in found["unnormalized_inputs"].remedy
    assert found["saturated_activation"].layer == "sig"


def test_normalised_inputs_and_a_healthy_relu_net_raise_nothing(tmp_path, regression_data):
    x, y = regression_data
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(32, activation="relu", kernel_initializer="he_normal"), keras.layers.Dense(1)])
    model.compile("adam", "mse")
    model.fit(x, y, batch_size=32, epochs=3, verbose=0, callbacks=[DiagnosticsCallback(tmp_path)])
    assert activations.find(read_run(tmp_path)) == []


class UnwrappableDense(keras.layers.Dense):
    """A layer that refuses instance attributes named ``call`` (as some wrapper libraries do)."""

    def __setattr__(self, name, value):
        if name == "call":
            raise AttributeError("call is read-only on this layer")
        super().__setattr__(name, value)


def test_layers_that_cannot_be_wrapped_disable_only_the_activations_probe(tmp_path, regression_data):
    x, y = regression_data

    def build():
        keras.utils.set_random_seed(5)
        model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(8, name="plain"), UnwrappableDense(1, name="locked")])
        model.compile("adam", "mse")
        return model

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        observed = build()
        observed.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0, callbacks=[DiagnosticsCallback(tmp_path)])
    ours = sorted(str(w.message) for w in caught if issubclass(w.category, DiagnosticsWarning))
    assert len(ours) == 2
    assert "disabled the activations probe" in ours[0] and "cannot be wrapped" in ours[0]
    # The NaN/Inf probe keeps detecting, only without per-layer outputs.
    assert "the nonfinite probe cannot see layer outputs" in ours[1] and "records without them" in ours[1]
    plain = build()
    plain.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(observed.get_weights(), plain.get_weights()):
        np.testing.assert_array_equal(a, b)
    run = read_run(tmp_path)
    assert "activations" not in run.families and run.families["gradients"].steps.size == 8
    assert "call" not in observed.layers[0].__dict__  # the wrapper installed before the failure is gone


def test_large_outputs_are_sampled_across_the_example_and_dead_units_read_the_first_examples(tmp_path):
    """A conv output of 5408 values per example (more than SAMPLE_VALUES): mean/std from every 3rd
    value of the first example (a stride coprime with the 8 channels, so every channel is in it);
    dead units and max from the first DEAD_MIN_EXAMPLES examples of the batch."""
    from tb_diag.probes.activations import DEAD_MIN_EXAMPLES, SAMPLE_VALUES

    rng = np.random.default_rng(1)
    x = rng.normal(size=(16, 28, 28, 1)).astype("float32")
    y = rng.normal(size=(16, 1)).astype("float32")
    keras.utils.set_random_seed(2)
    inputs = keras.Input((28, 28, 1))
    conv = keras.layers.Conv2D(8, 3, activation="relu", name="conv")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(1, name="out")(keras.layers.Flatten()(conv)))
    model.compile(keras.optimizers.SGD(0.0), "mse")  # weights stay as they are: the reference holds
    expected = keras.Model(inputs, conv)(x).numpy()
    model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0, callbacks=[DiagnosticsCallback(tmp_path, sample_every_steps=1)])
    series = activations.activation_series(read_run(tmp_path))
    recorded = series.values[series.calls.index("conv"), 0]
    assert 26 * 26 * 8 > SAMPLE_VALUES and DEAD_MIN_EXAMPLES == 8
    first_examples = expected[:8].reshape(-1, 8)
    assert recorded[M["dead_fraction"]] == pytest.approx(1 - np.mean((first_examples > 0).any(axis=0)))
    assert recorded[M["max"]] == pytest.approx(expected[:8].max(), rel=1e-6)
    sample = expected[0].ravel()[::3]  # stride 2 shares a factor with the 8 channels: 3
    assert set(np.arange(sample.size) * 3 % 8) == set(range(8))  # every channel is sampled
    assert recorded[M["mean"]] == pytest.approx(sample.mean(), rel=1e-5)
    assert recorded[M["std"]] == pytest.approx(sample.std(), rel=1e-4)
    assert recorded[M["zero_fraction"]] == pytest.approx(np.mean(sample == 0))
    assert recorded[M["hist_0"]:].sum() == pytest.approx(1.0)


def test_statistics_of_tensors_of_very_different_sizes_are_the_same_under_xla():
    """All calls are reduced as one vector: under XLA too, whatever the sizes (a 150-layer model's
    outputs range from 10 to 73 728 values per example)."""
    from tb_diag.probes.activations import call_statistics

    rng = np.random.default_rng(0)
    tensors = [tf.constant(rng.normal(size=shape).astype("float32")) for shape in [(4, 3), (4, 50, 100), (4, 96, 96, 8), (4, 10)]]
    kinds = ["relu", "tanh", "sigmoid", "softmax"]
    eager = call_statistics(tensors, kinds, [False, False, False, True]).numpy()
    compiled = tf.function(lambda *ts: call_statistics(list(ts), kinds, [False, False, False, True]), jit_compile=True)(*tensors).numpy()
    np.testing.assert_allclose(compiled, eager, rtol=1e-4, atol=1e-6)
    flat = tensors[2].numpy()[0].ravel()[::19]  # 73 728 values per example: a stride of 18 made coprime with the 8 channels
    assert eager[2, M["mean"]] == pytest.approx(flat.mean(), rel=1e-4)
