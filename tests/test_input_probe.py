"""The input probe measures, inside the real fit, how long each step waited for its batch."""

from __future__ import annotations

import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from tb_diag import DiagnosticsCallback
from tb_diag.plugin.diagnostics.input import find, input_series, summarize
from tb_diag.plugin.run_data import load_logdir
from tb_diag.probes.input import describe_pipeline

PLANTED_DELAY_S = 0.03
BATCHES = 24


def read_run(log_dir):
    runs = load_logdir(str(log_dir))
    assert [run.run for run in runs] == ["train"]
    return runs[0]


def mlp(width: int = 16) -> keras.Model:
    return keras.Sequential([keras.Input((8,)), keras.layers.Dense(width, activation="relu"), keras.layers.Dense(1)])


def sleepy(x, y):
    """A tf.data map stage that spends PLANTED_DELAY_S in Python per batch."""

    def slow(batch):
        time.sleep(PLANTED_DELAY_S)
        return batch

    out = tf.py_function(slow, [x], tf.float32)
    out.set_shape(x.shape)
    return out, y


class SlowBatches(keras.utils.PyDataset):
    """A PyDataset that sleeps PLANTED_DELAY_S before each batch, without workers."""

    def __init__(self, x, y, **kwargs):
        super().__init__(**kwargs)
        self.x, self.y = x, y

    def __len__(self):
        return BATCHES

    def __getitem__(self, index):
        time.sleep(PLANTED_DELAY_S)
        return self.x[index * 16 : (index + 1) * 16], self.y[index * 16 : (index + 1) * 16]


def slow_generator(x, y):
    for index in range(BATCHES):
        time.sleep(PLANTED_DELAY_S)
        yield x[index * 16 : (index + 1) * 16], y[index * 16 : (index + 1) * 16]


def slow_inputs(x, y):
    """Every kind of input fit accepts, each with the planted delay per batch: name -> (fit args, fit kwargs)."""
    unknown_cardinality = tf.data.Dataset.from_tensor_slices((x, y)).batch(16).take(BATCHES).map(sleepy).filter(lambda a, b: True)
    return {
        "tf.data, unknown cardinality": lambda: ((unknown_cardinality,), {}),
        "python generator": lambda: ((slow_generator(x, y),), {"steps_per_epoch": BATCHES}),
        "PyDataset": lambda: ((SlowBatches(x, y),), {}),
    }


@pytest.mark.parametrize("options", [{}, {"jit_compile": True}, {"steps_per_execution": 3}, {"jit_compile": True, "steps_per_execution": 3}],
                         ids=["graph", "xla", "spe3", "xla-spe3"])
@pytest.mark.slow
@pytest.mark.parametrize("kind", ["tf.data, unknown cardinality", "python generator", "PyDataset"])
def test_planted_delay_is_measured_as_wait_and_judged_highly_input_bound(tmp_path, kind, options):
    """A fixed sleep per batch shows up as the per-step wait (within 20%), for every input kind and compile option."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(BATCHES * 16, 8)).astype("float32"), rng.normal(size=(BATCHES * 16, 1)).astype("float32")
    model = mlp()
    model.compile("adam", "mse", **options)
    args, kwargs = slow_inputs(x, y)[kind]()
    model.fit(*args, epochs=1, verbose=0, callbacks=[DiagnosticsCallback(tmp_path)], **kwargs)
    run = read_run(tmp_path)
    series = input_series(run)
    assert series.steps.tolist() == list(range(1, BATCHES + 1))
    # tf.data may prefetch while the step runs, so a wait is the delay minus the overlap; while the
    # first steps trace and compile (up to ~0.3 s each under XLA) the prefetch buffer fills up, so
    # the steady state is the second half.
    steady = series.wait[BATCHES // 2 :]
    assert PLANTED_DELAY_S * 0.8 <= np.median(steady) <= PLANTED_DELAY_S * 1.2, series.wait
    summary = summarize(run)
    assert summary["verdict"] == "highly" and summary["wait_fraction"] > 0.5
    assert summary["pipeline"]["python"] is True
    (finding,) = find(run)
    assert finding.id == "input_bound" and finding.severity == "warning"
    assert "workers" in finding.remedy


@pytest.mark.slow
def test_prefetched_in_memory_pipeline_is_not_input_bound(tmp_path):
    """A cached, prefetched in-memory dataset feeding a model with real work per step: verdict "not".

    Steps of tens of milliseconds, so the fixed cost of handing over a ready batch (~0.1 ms) stays
    far below the 5% threshold even when the machine is busy.
    """
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4096, 256)).astype("float32")
    y = rng.normal(size=(4096, 1)).astype("float32")
    model = keras.Sequential([keras.Input((256,))] + [keras.layers.Dense(1024, activation="relu") for _ in range(3)] + [keras.layers.Dense(1)])
    model.compile("adam", "mse")
    data = tf.data.Dataset.from_tensor_slices((x, y)).cache().batch(512).prefetch(tf.data.AUTOTUNE)
    model.fit(data, epochs=3, verbose=0, callbacks=[DiagnosticsCallback(tmp_path)])
    run = read_run(tmp_path)
    summary = summarize(run)
    assert summary["verdict"] == "not", summary
    assert summary["step_p50_s"] > 0.01  # the premise: steps with real work
    assert summary["pipeline"]["prefetch"] and summary["pipeline"]["cache"] and summary["pipeline"]["source"] == "in_memory"
    assert find(run) == []


def test_numpy_arrays_and_epochs_are_attributed(tmp_path, regression_data):
    """NumPy input: every step once, its epoch recorded, p50 <= p95, and a per-epoch verdict."""
    x, y = regression_data
    model = mlp()
    model.compile("adam", "mse")
    model.fit(x, y, batch_size=32, epochs=3, verbose=0, callbacks=[DiagnosticsCallback(tmp_path)])
    run = read_run(tmp_path)
    series = input_series(run)
    assert series.steps.tolist() == list(range(1, 25))
    assert series.epoch.tolist() == [0] * 8 + [1] * 8 + [2] * 8
    summary = summarize(run)
    assert [e["epoch"] for e in summary["epochs"]] == [0, 1, 2]
    assert 0 < summary["step_p50_s"] <= summary["step_p95_s"]
    assert summary["pipeline"]["source"] == "in_memory" and not summary["pipeline"]["python"]


@pytest.mark.slow
def test_slow_epoch_is_visible_per_epoch(tmp_path, regression_data):
    """A pipeline slow only in its second epoch: the run is judged on both, each epoch on its own."""
    x, y = regression_data
    epoch = tf.Variable(0)

    def slow_after_first_epoch(a, b):
        def maybe_sleep(batch, current):
            if int(current) == 1:
                time.sleep(PLANTED_DELAY_S)
            return batch

        out = tf.py_function(maybe_sleep, [a, epoch], tf.float32)
        out.set_shape(a.shape)
        return out, b

    class EpochCounter(keras.callbacks.Callback):
        def on_epoch_begin(self, index, logs=None):
            epoch.assign(index)

    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(16).map(slow_after_first_epoch)
    model = mlp()
    model.compile("adam", "mse", steps_per_execution=2)
    model.fit(data, epochs=2, verbose=0, callbacks=[EpochCounter(), DiagnosticsCallback(tmp_path)])
    epochs = {e["epoch"]: e for e in summarize(read_run(tmp_path))["epochs"]}
    assert epochs[0]["wait_p50_s"] < 0.2 * PLANTED_DELAY_S
    assert PLANTED_DELAY_S * 0.8 <= epochs[1]["wait_p50_s"] <= PLANTED_DELAY_S * 1.2
    assert epochs[1]["verdict"] == "highly"


@pytest.mark.parametrize(
    "build, expected",
    [
        (lambda ds: ds.batch(8).prefetch(2), {"prefetch": True, "source": "in_memory", "python": False}),
        (lambda ds: ds.map(lambda a: a * 2).batch(8), {"sequential_map": True, "parallel_map": False, "prefetch": False}),
        (lambda ds: ds.map(lambda a: a * 2, num_parallel_calls=tf.data.AUTOTUNE).cache().batch(8), {"parallel_map": True, "cache": True}),
        (lambda ds: ds.map(lambda a: tf.py_function(lambda v: v, [a], tf.float32)), {"python": True, "source": "python"}),
    ],
    ids=["prefetch", "sequential-map", "parallel-map-cache", "py_function"],
)
def test_pipeline_description_names_the_stages_remedies_depend_on(build, expected):
    """What the remedies are chosen from: prefetch, map parallelism, cache, Python stages, source."""
    dataset = build(tf.data.Dataset.from_tensor_slices(np.zeros((32, 3), np.float32)))
    described = describe_pipeline(iter(dataset))
    assert {key: described[key] for key in expected} == expected
    assert describe_pipeline(None) == {**describe_pipeline(None), "stages": [], "source": "unknown"}
