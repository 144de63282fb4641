"""Trains one small model under a tf.distribute strategy with the callback, in a fresh process.

Logical CPU devices and TF_CONFIG must be set before TensorFlow starts, so the distribution tests
run this file as a subprocess:

    python distributed_training.py single|mirrored LOG_DIR RESULT_JSON
    python distributed_training.py multiworker LOG_DIR RESULT_JSON WORKER_INDEX PORT0 PORT1

It writes RESULT_JSON: the weights after fit (and after a save/load/refit without the callback),
the warnings tb_diag gave, the optimizer's iterations and the process id. With NAN_STEP=k in the
environment, the first example of global batch k is NaN (in the first replica's share).
"""

from __future__ import annotations

import json
import os
import sys
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
MODE, LOG_DIR, RESULT = sys.argv[1:4]
if MODE == "multiworker":
    index, ports = int(sys.argv[4]), sys.argv[5:7]
    os.environ["TF_CONFIG"] = json.dumps(
        {"cluster": {"worker": [f"localhost:{port}" for port in ports]}, "task": {"type": "worker", "index": index}}
    )

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

if MODE == "mirrored":
    tf.config.set_logical_device_configuration(
        tf.config.list_physical_devices("CPU")[0], [tf.config.LogicalDeviceConfiguration()] * 2
    )

import keras  # noqa: E402
from keras.src.backend.tensorflow import trainer as keras_tf_trainer  # noqa: E402

from tb_diag import DiagnosticsCallback  # noqa: E402

GLOBAL_BATCH = 16


def keras_multiworker_workarounds(model: keras.Model) -> None:
    """Two Keras 3.15 bugs make ``fit`` fail under MultiWorkerMirroredStrategy before tb_diag runs.

    ``_maybe_symbolic_build`` hands a nested PerReplica batch to ``strategy.reduce`` (which takes
    one value), and ``reduce_per_replica`` reduces the scalar metrics with ``axis=0``. Building
    in the first traced step (what Keras does without a strategy) and reducing scalars with
    ``axis=None`` let plain Keras train; tb_diag's train loop uses the same ``reduce_per_replica``.
    """
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None
    keras_reduce = keras_tf_trainer.reduce_per_replica

    def reduce_per_replica(values, strategy, reduction):
        if reduction == "auto" and isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
            return tf.nest.map_structure(lambda value: strategy.reduce("MEAN", value, axis=None), values)
        return keras_reduce(values, strategy, reduction)

    keras_tf_trainer.reduce_per_replica = reduce_per_replica


def build_model() -> keras.Model:
    keras.utils.set_random_seed(1)
    x = keras.Input((8,))
    h = keras.layers.Dense(16, activation="relu", name="hidden")(x)
    model = keras.Model(x, keras.layers.Dense(1, name="out")(h), name="mlp")
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    return model


def main() -> None:
    # The strategy first: MultiWorkerMirroredStrategy must be made before TensorFlow runs an op.
    if MODE == "single":
        strategy = tf.distribute.get_strategy()
    elif MODE == "mirrored":
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    else:
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 8)).astype("float32")
    y = (x @ rng.normal(size=(8, 1))).astype("float32")
    nan_step = int(os.environ.get("NAN_STEP", "0"))
    if nan_step:
        x[(nan_step - 1) * GLOBAL_BATCH] = np.nan
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(GLOBAL_BATCH)
    if MODE == "multiworker":
        options = tf.data.Options()
        # Every worker reads the whole dataset; the strategy splits each global batch.
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        dataset = dataset.with_options(options)
    with strategy.scope():
        model = build_model()
    if MODE == "multiworker":
        keras_multiworker_workarounds(model)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(dataset, epochs=2, verbose=0, callbacks=[DiagnosticsCallback(LOG_DIR, flush_every_steps=4)])
    after_fit = [w.tolist() for w in model.get_weights()]
    iterations = int(model.optimizer.iterations.numpy())
    path = os.path.join(os.path.dirname(RESULT), f"model_{MODE}_{os.getpid()}.keras")
    model.save(path)
    with strategy.scope():
        reloaded = keras.saving.load_model(path)
    if MODE == "multiworker":
        keras_multiworker_workarounds(reloaded)
    reloaded.fit(dataset, epochs=1, verbose=0)
    with open(RESULT, "w") as result:
        json.dump(
            {
                "pid": os.getpid(),
                "iterations": iterations,
                "weights": after_fit,
                "refit_finite": bool(all(np.isfinite(w).all() for w in reloaded.get_weights())),
                "warnings": [str(w.message) for w in caught if "tb_diag" in str(w.message)],
                "replicas": int(strategy.num_replicas_in_sync),
            },
            result,
        )


if __name__ == "__main__":
    main()
