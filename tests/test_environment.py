"""The environment card: what a run was trained with, the mismatch between runs, and whether compared runs can be reproduced."""

from __future__ import annotations

import io
import json
import shutil
import subprocess

import keras
import pytest
from tensorflow.python.eager import context

from tb_diag import DiagnosticsCallback
from tb_diag.cli import print_report
from tb_diag.plugin.diagnostics import environment
from tb_diag.plugin.report import report_document
from tb_diag.plugin.run_data import load_logdir


@pytest.fixture
def no_global_seed():
    """Tests in this process set seeds; this one needs TensorFlow's global seed unset, then restored."""
    before = context.global_seed()
    context.set_global_seed(None)
    yield
    context.set_global_seed(before)


def fit(log_dir, data, optimizer="adam", batch_size=32, **compile_args):
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu", name="hidden"), keras.layers.Dense(1, name="out")], name="small")
    model.compile(optimizer, "mse", **compile_args)
    model.fit(*data, batch_size=batch_size, epochs=1, verbose=0, callbacks=[DiagnosticsCallback(log_dir)])
    return model


@pytest.mark.slow
def test_the_card_says_what_the_run_was_trained_with(tmp_path, regression_data, gpu_present):
    keras.utils.set_random_seed(7)
    model = fit(tmp_path, regression_data, optimizer=keras.optimizers.SGD(0.05), batch_size=64, jit_compile=True, steps_per_execution=2)
    (run,) = load_logdir(str(tmp_path))
    card = environment.card(run)
    assert card["keras"] == keras.__version__ and card["tensorflow"] and card["python"]
    assert card["optimizer"]["class"] == "SGD" and card["optimizer"]["config"]["learning_rate"] == pytest.approx(0.05)
    assert card["batch_size"] == 64 and card["jit_compile"] is True and card["steps_per_execution"] == 2
    assert card["distribution"]["replicas"] == 1 and card["mixed_precision"] == "float32"
    assert card["seed"] == 7 and card["op_determinism"] is False
    assert card["cuda"]["cuda_build"]  # this TF is a CUDA build, with or without a GPU
    assert (card["gpus"] != []) == gpu_present
    assert card["model"]["params"] == model.count_params() and [l["path"] for l in card["model"]["layers"]] == ["hidden", "out"]
    # Reproducibility is not a finding on every run: it is said when runs are compared.
    assert environment.find(run) == []
    assert environment.not_reproducible(card) == "op determinism is off"  # the seed was set


@pytest.mark.slow
def test_compared_runs_that_cannot_be_reproduced_say_why_and_how_to_fix_it(tmp_path, regression_data, no_global_seed):
    fit(tmp_path / "a", regression_data)
    keras.utils.set_random_seed(3)
    fit(tmp_path / "b", regression_data)
    runs = load_logdir(str(tmp_path))
    document = report_document(runs)
    assert document["not_reproducible"] == {
        "a/train": "no global random seed was set and op determinism is off",
        "b/train": "op determinism is off",
    }
    assert report_document(runs[:1])["not_reproducible"] == {}  # one run: nothing to confuse it with
    out = io.StringIO()
    print_report(document, out)
    assert "2 of the runs cannot be reproduced exactly" in out.getvalue() and "set_random_seed" in out.getvalue()


@pytest.mark.slow
def test_two_runs_with_different_setups_show_their_mismatches(tmp_path, regression_data):
    keras.utils.set_random_seed(1)
    fit(tmp_path / "mine", regression_data, optimizer="adam", batch_size=32)
    fit(tmp_path / "teammate", regression_data, optimizer="sgd", batch_size=16)
    document = report_document(load_logdir(str(tmp_path)))
    differing = document["environment_mismatches"]
    assert {"optimizer", "batch_size"} <= set(differing) and "keras" not in differing
    assert json.loads(differing["batch_size"]["mine/train"]) == 32 and json.loads(differing["batch_size"]["teammate/train"]) == 16
    tb_diag = shutil.which("tb-diag")
    printed = subprocess.run([tb_diag, "report", str(tmp_path)], capture_output=True, text=True, timeout=120).stdout
    assert "environments differ between runs:" in printed and "batch_size: mine/train: 32; teammate/train: 16" in printed
