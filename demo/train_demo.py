"""Trains six small models with DiagnosticsCallback so the Diagnostics tab has something to say.

* ``healthy``: a ReLU MLP with Adam: no findings.
* ``exploding``: the same MLP with plain SGD at a learning rate too high for it: the gradient norm
  grows by 10^14 in a few steps, then goes NaN (an ``exploding_gradients`` error). It runs with
  ``on_nan="record"`` so the whole divergence is recorded, as it would be without tb_diag.
* ``nan``: log-transformed features, and one record holds a 0 among positive values: at step 41
  layer ``log_features`` returns -Inf. With the default ``on_nan="stop"``, training stops before
  that update, with the weights of step 40 (a ``nonfinite`` error).
* ``vanishing``: a deep stack of sigmoid layers: the first layers get gradients thousands of times
  smaller than the last (a ``vanishing_gradients`` warning).
* ``unscaled``: the MLP fed raw features 100x larger (say, centimetres instead of metres), with
  Adam at 1e-2: an ``unnormalized_inputs`` warning, and ReLU units that die (``dead_relu``).
* ``starved``: the healthy model fed by a ``keras.utils.PyDataset`` that spends 10 ms in Python on
  every batch (a slow augmentation) without workers: an ``input_bound`` warning.

Usage: ``python demo/train_demo.py --logdir logs/demo`` then ``tensorboard --logdir logs/demo``.
Each run also gets Keras' own TensorBoard callback in the same directory, as users would do.
"""

from __future__ import annotations

import argparse
import math
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np

from tb_diag import DiagnosticsCallback

FEATURES = 16


def make_data(examples: int = 2048, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A noiseless linear regression problem: x ~ N(0, 1), y = x @ w."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(examples, FEATURES)).astype("float32")
    return x, (x @ rng.normal(size=(FEATURES, 1))).astype("float32")


def relu_mlp() -> keras.Model:
    """Three ReLU hidden layers of 64 units."""
    return keras.Sequential(
        [keras.Input((FEATURES,))]
        + [keras.layers.Dense(64, activation="relu", name=f"hidden_{i}") for i in range(1, 4)]
        + [keras.layers.Dense(1, name="output")],
        name="mlp",
    )


def build_healthy() -> keras.Model:
    """The MLP with Adam at a sensible learning rate."""
    model = relu_mlp()
    model.compile(keras.optimizers.Adam(1e-3), "mse")
    return model


def build_exploding() -> keras.Model:
    """The MLP with SGD at a learning rate past its stability limit and no clipping."""
    model = relu_mlp()
    model.compile(keras.optimizers.SGD(0.1), "mse")
    return model


class LogFeatures(keras.layers.Layer):
    """log(x), the usual transform for positive, skewed features; -Inf at 0."""

    def call(self, x):
        return keras.ops.log(x)


def build_nan() -> keras.Model:
    """Log of the features, then the MLP (Adam)."""
    inputs = keras.Input((FEATURES,))
    model = keras.Model(inputs, relu_mlp()(LogFeatures(name="log_features")(inputs)), name="log_mlp")
    model.compile(keras.optimizers.Adam(1e-3), "mse")
    return model


def positive_with_one_zero(x: np.ndarray) -> np.ndarray:
    """Positive features (|x| + 0.1), except one 0 in a record step ``NAN_STEP`` reads (unshuffled)."""
    x = np.abs(x) + 0.1
    x[(NAN_STEP - 1) * BATCH_SIZE + 7, 3] = 0.0
    return x


def build_vanishing() -> keras.Model:
    """Eight sigmoid layers: each multiplies the backward signal by at most 0.25."""
    model = keras.Sequential(
        [keras.Input((FEATURES,))]
        + [keras.layers.Dense(32, activation="sigmoid", name=f"sigmoid_{i}") for i in range(1, 9)]
        + [keras.layers.Dense(1, name="output")],
        name="deep_sigmoid",
    )
    model.compile(keras.optimizers.SGD(0.05), "mse")
    return model


class SlowAugmentation(keras.utils.PyDataset):
    """Batches of (x, y) made in Python, each after ``delay_s`` of (simulated) augmentation work."""

    def __init__(self, x: np.ndarray, y: np.ndarray, batch_size: int, delay_s: float, **kwargs):
        super().__init__(**kwargs)
        self.x, self.y, self.batch_size, self.delay_s = x, y, batch_size, delay_s

    def __len__(self) -> int:
        return math.ceil(len(self.x) / self.batch_size)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        time.sleep(self.delay_s)
        batch = slice(index * self.batch_size, (index + 1) * self.batch_size)
        return self.x[batch], self.y[batch]


def build_unscaled() -> keras.Model:
    """The MLP with Adam at 1e-2 (fine for scaled inputs, too much for these)."""
    model = relu_mlp()
    model.compile(keras.optimizers.Adam(1e-2), "mse")
    return model


DEMOS = {
    "healthy": build_healthy,
    "exploding": build_exploding,
    "vanishing": build_vanishing,
    "unscaled": build_unscaled,
    "starved": build_healthy,
    "nan": build_nan,
}
# The training step whose batch holds the zero of the ``nan`` demo (1-based).
NAN_STEP = 41
# What each demo does at a NaN/Inf (default: "stop").
ON_NAN = {"exploding": "record"}
# Demos whose inputs are not what make_data gives: the factor their features are multiplied by.
INPUT_SCALE = {"unscaled": 100.0}
BATCH_SIZE = 32
VALIDATION_SPLIT = 0.1
# The demos are short (116 steps; 'exploding' diverges at step 27): sampled every 10 steps rather
# than the callback's default 20, so the learning-rate rule has its 3 samples before the NaN.
SAMPLE_EVERY_STEPS = 10


def train(name: str, logdir: str, epochs: int = 3, seed: int = 0) -> keras.callbacks.History:
    """Trains demo ``name`` into ``<logdir>/<name>`` with both TensorBoard and tb_diag callbacks."""
    # One process trains every demo: free the previous model's state first, as the memory
    # diagnostic recommends (without it, host memory grows with every fit).
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    x, y = make_data(seed=seed)
    x = x * INPUT_SCALE.get(name, 1.0)
    if name == "nan":
        x = positive_with_one_zero(x)
    run_dir = os.path.join(logdir, name)
    model = DEMOS[name]()
    callbacks = [keras.callbacks.TensorBoard(run_dir), DiagnosticsCallback(run_dir, sample_every_steps=SAMPLE_EVERY_STEPS, on_nan=ON_NAN.get(name, "stop"))]
    if name == "starved":
        # The split Keras' validation_split makes for the other demos: same training batches.
        split = int(len(x) * (1 - VALIDATION_SPLIT))
        data = SlowAugmentation(x[:split], y[:split], BATCH_SIZE, delay_s=0.01)
        return model.fit(data, epochs=epochs, validation_data=(x[split:], y[split:]), verbose=0, callbacks=callbacks)
    return model.fit(
        x, y, batch_size=BATCH_SIZE, epochs=epochs, validation_split=VALIDATION_SPLIT, verbose=0, callbacks=callbacks,
        shuffle=name != "nan",  # the nan demo's bad record is read at a known step
    )


def main() -> None:
    """Command line: trains every demo (or those named) into --logdir."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logdir", default="logs/demo", help="where to write the runs (default: logs/demo)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per model (default: 3)")
    parser.add_argument("demos", nargs="*", choices=[[], *DEMOS], default=[], help="which demos (default: all)")
    args = parser.parse_args()
    for name in args.demos or list(DEMOS):
        history = train(name, args.logdir, args.epochs)
        print(f"trained {name}: final loss {history.history['loss'][-1]:.4g} -> {os.path.join(args.logdir, name)}")


if __name__ == "__main__":
    main()
