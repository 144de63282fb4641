"""The model check at the start of fit: planted setups are named exactly (layer and setting),
and the standard architectures as Keras builds them raise nothing."""

from __future__ import annotations

import os
import sys

import keras
import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks.standard_models import MODELS, build, compile_model  # noqa: E402
from tb_diag import DiagnosticsCallback  # noqa: E402
from tb_diag.core.model_check import setup_facts  # noqa: E402
from tb_diag.plugin.diagnostics import model_check  # noqa: E402
from tb_diag.plugin.report import run_findings  # noqa: E402
from tb_diag.plugin.run_data import load_logdir  # noqa: E402


def check(model, **card) -> dict:
    """``{finding id: finding}`` of the model check for ``model`` (compiled) and card fields."""
    return {f.id: f for f in model_check.find({"setup": setup_facts(model), "mixed_precision": "float32", **card})}


def mlp(*hidden, output=None, name="mlp"):
    return keras.Sequential([keras.Input((16,)), *hidden, output or keras.layers.Dense(1, name="out")], name=name)


def test_a_relu_layer_with_a_fixed_scale_initializer_is_named_with_its_scale():
    model = mlp(
        keras.layers.Dense(64, activation="relu", name="wide", kernel_initializer=keras.initializers.RandomNormal(stddev=2.0)),
        keras.layers.Dense(64, activation="relu", name="he", kernel_initializer="he_normal"),
        # A standard deviation of 0.115 is within 3x of sqrt(2/64) = 0.177: fine.
        keras.layers.Dense(64, activation="relu", name="close", kernel_initializer=keras.initializers.RandomUniform(-0.2, 0.2)),
    )
    model.compile("adam", "mse")
    (finding,) = check(model).values()
    assert (finding.id, finding.layer, finding.severity) == ("unscaled_initializer", "wide", "warning")
    assert "RandomNormal with a standard deviation of 2" in finding.detail and "5.66x larger than the He scale sqrt(2/16)" in finding.detail
    assert "he_normal" in finding.remedy


def test_a_deep_sigmoid_stack_without_normalisation_is_named_from_first_to_last_layer():
    deep = [keras.layers.Dense(16, activation="sigmoid", name=f"s{i}") for i in range(5)]
    finding = check(compile_mse(mlp(*deep)))["deep_saturating_stack"]
    assert finding.layer == "s0" and "5 sigmoid layers in a row, from 's0' to 's4'" in finding.detail
    # Normalisation between them breaks the stack into runs of 2 and 3.
    broken = mlp(*deep[:2], keras.layers.BatchNormalization(), *[keras.layers.Dense(16, activation="tanh") for _ in range(3)])
    assert "deep_saturating_stack" not in check(compile_mse(broken))
    # An LSTM's gates are sigmoid by design.
    lstm = keras.Sequential([keras.Input((4, 16)), keras.layers.LSTM(8, return_sequences=True), keras.layers.LSTM(8), keras.layers.Dense(1)])
    assert check(compile_mse(lstm)) == {}


def compile_mse(model):
    model.compile("adam", "mse")
    return model


@pytest.mark.parametrize(
    "activation, loss, expected",
    [
        ("softmax", keras.losses.SparseCategoricalCrossentropy(from_logits=True), "applies softmax again"),
        (None, keras.losses.SparseCategoricalCrossentropy(from_logits=False), "is linear (it outputs logits)"),
        (None, "sparse_categorical_crossentropy", "is linear (it outputs logits)"),
        ("sigmoid", keras.losses.BinaryCrossentropy(from_logits=True), "applies sigmoid again"),
        ("softmax", "sparse_categorical_crossentropy", None),
        (None, keras.losses.SparseCategoricalCrossentropy(from_logits=True), None),
        (None, "mse", None),
    ],
)
def test_the_output_activation_and_the_losss_from_logits_must_agree(activation, loss, expected):
    model = mlp(keras.layers.Dense(8, activation="relu"), output=keras.layers.Dense(3, activation=activation, name="head"))
    model.compile("adam", loss)
    found = check(model)
    if expected is None:
        assert "output_loss_mismatch" not in found
        return
    finding = found["output_loss_mismatch"]
    assert finding.severity == "error" and finding.layer == "head" and expected in finding.detail


def test_losses_given_per_output_name_are_paired_with_their_own_output():
    inputs = keras.Input((4,))
    classes = keras.layers.Dense(3, activation="softmax", name="cls")(inputs)
    value = keras.layers.Dense(1, name="reg")(inputs)
    model = keras.Model(inputs, [classes, value])
    model.compile("adam", {"reg": "mse", "cls": keras.losses.SparseCategoricalCrossentropy(from_logits=True)})
    assert [(f.id, f.layer) for f in check(model).values()] == [("output_loss_mismatch", "cls")]
    # An output without its own loss: no pairing is guessed, nothing is judged.
    model.compile("adam", {"cls": keras.losses.SparseCategoricalCrossentropy(from_logits=True)})
    assert setup_facts(model)["losses"] == []


def test_the_model_check_imports_on_its_own():
    """core/ must not import probes/ (the probes import core): a fresh interpreter proves it."""
    import subprocess

    result = subprocess.run([sys.executable, "-c", "import tb_diag.core.model_check"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-1000:]


def test_under_mixed_float16_an_output_layer_computing_in_float16_is_named():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        risky = mlp(keras.layers.Dense(8, activation="relu"), output=keras.layers.Dense(3, activation="softmax", name="head"))
        safe = mlp(keras.layers.Dense(8, activation="relu"), output=keras.layers.Dense(3, activation="softmax", name="head", dtype="float32"))
        for model in (risky, safe):
            model.compile("adam", "sparse_categorical_crossentropy")
    finally:
        keras.mixed_precision.set_global_policy("float32")
    finding = check(risky, mixed_precision="mixed_float16")["float16_output"]
    assert finding.layer == "head" and "dtype='float32'" in finding.remedy
    assert check(safe, mixed_precision="mixed_float16") == {}


@pytest.mark.slow
def test_batchnorm_on_a_tiny_batch_per_replica_is_found_in_a_real_fit(tmp_path):
    x = np.random.default_rng(0).normal(size=(64, 16)).astype("float32")
    y = x[:, :1]
    model = mlp(keras.layers.Dense(8, activation="relu"), keras.layers.BatchNormalization(name="bn"))
    model.compile("adam", "mse")
    model.fit(x, y, batch_size=4, epochs=1, verbose=0, callbacks=[DiagnosticsCallback(tmp_path)])
    (run,) = load_logdir(str(tmp_path))
    found = {f.id: f for f in run_findings(run)}
    assert found["batchnorm_small_batch"].layer == "bn" and "4 example(s) per replica" in found["batchnorm_small_batch"].detail
    assert found["batchnorm_small_batch"].diagnostic == "environment"
    assert model_check.find({"setup": setup_facts(model), "batch_size": 32}) == []


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_the_standard_architectures_as_keras_builds_them_pass_the_check(name):
    keras.utils.set_random_seed(0)
    model, _ = build(name, keras, small=True)
    compile_model(model, keras)
    assert check(model, batch_size=32) == {}


@pytest.mark.parametrize(
    "setup",
    [None, [], {"relu_initializers": "x"}, {"relu_initializers": [{"std": "1", "fan_in": None}]},
     {"saturating_stacks": [{"length": 1e9, "first": None, "activations": 3}]}, {"outputs": [{}], "losses": [{}]},
     {"batch_normalization": [1, None]}],
)
def test_mistyped_facts_from_a_shared_log_are_skipped_not_a_crash(setup):
    for finding in model_check.find({"setup": setup, "batch_size": "2", "distribution": []}):
        assert finding.id == "deep_saturating_stack"  # the only one whose facts there were usable
