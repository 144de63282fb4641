"""Log dirs that are not local directories: everything goes through the filesystem layer the
writer and TensorBoard use (``tf.io.gfile``), so ``gs://``, ``s3://`` and TensorFlow's in-memory
``ram://`` behave like a local path. ``ram://`` runs here, in-process, end to end."""

from __future__ import annotations

import warnings

import keras

from tb_diag import DiagnosticsCallback, DiagnosticsWarning
from tb_diag.cli import main
from tb_diag.plugin.run_data import load_logdir


def test_a_ram_log_dir_keeps_diagnostics_on_and_reads_back_like_a_local_one(regression_data, capsys):
    x, y = regression_data
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.01), "mse")
    with warnings.catch_warnings():
        warnings.simplefilter("error", DiagnosticsWarning)  # "the log dir vanished" must not happen
        model.fit(x, y, batch_size=32, epochs=3, verbose=0, callbacks=[DiagnosticsCallback("ram://tb_diag_test/run1", flush_every_steps=5)])
    (run,) = load_logdir("ram://tb_diag_test")
    assert run.run == "run1/train" and run.last_step == 24
    assert main(["report", "ram://tb_diag_test"]) == 0
    assert "run1/train" in capsys.readouterr().out
    assert main(["report", "ram://tb_diag_test_missing"]) == 2
    assert "not a readable directory" in capsys.readouterr().err


def test_a_scheme_tensorflow_cannot_write_turns_diagnostics_off_with_what_to_do_and_training_goes_on(regression_data):
    x, y = regression_data
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.01), "mse")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DiagnosticsWarning)
        history = model.fit(x, y, batch_size=32, epochs=2, verbose=0, callbacks=[DiagnosticsCallback("s3://team-logs/run1")])
    assert len(history.history["loss"]) == 2
    (message,) = [str(w.message) for w in caught if issubclass(w.category, DiagnosticsWarning)]
    # TensorFlow 2.21 dropped s3://: the warning names it and says what works instead.
    assert "cannot write s3:// paths" in message and "aws s3 sync" in message and "tb_diag[s3]" in message
