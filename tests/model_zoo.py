"""Small Keras models of every style the callback must support (imported by tests)."""

from __future__ import annotations

import keras


def sequential(inputs: int = 8) -> keras.Model:
    """Plain Sequential MLP."""
    return keras.Sequential(
        [keras.Input((inputs,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)], name="seq"
    )


def functional_shared(inputs: int = 8) -> keras.Model:
    """Functional model calling one Dense layer twice (shared weights)."""
    x = keras.Input((inputs,))
    shared = keras.layers.Dense(inputs, activation="tanh", name="shared")
    h = shared(shared(x))
    return keras.Model(x, keras.layers.Dense(1, name="head")(h), name="functional")


def nested(inputs: int = 8) -> keras.Model:
    """A Sequential 'encoder' inside a Functional model: layer paths look like encoder/dense_1."""
    encoder = keras.Sequential(
        [keras.layers.Dense(16, activation="relu", name="dense_1"), keras.layers.Dense(8, name="dense_2")],
        name="encoder",
    )
    x = keras.Input((inputs,))
    return keras.Model(x, keras.layers.Dense(1, name="head")(encoder(x)), name="outer")


@keras.saving.register_keras_serializable(package="tb_diag_tests")
class Subclassed(keras.Model):
    """A subclassed model with its own weight (``self.add_weight``) and two sublayers."""

    def __init__(self, **kwargs):
        kwargs.setdefault("name", "subclassed")
        super().__init__(**kwargs)
        self.hidden = keras.layers.Dense(16, activation="relu", name="hidden")
        self.out = keras.layers.Dense(1, name="out")

    def build(self, input_shape):
        self.offset = self.add_weight(shape=(1,), initializer="zeros", name="offset")
        super().build(input_shape)

    def call(self, x):
        return self.out(self.hidden(x)) + self.offset


class CustomTrainStep(keras.Model):
    """A user's own train_step that calls optimizer.apply_gradients itself."""

    def __init__(self):
        super().__init__(name="custom_step")
        self.hidden = keras.layers.Dense(16, activation="relu", name="hidden")
        self.out = keras.layers.Dense(1, name="out")

    def call(self, x):
        return self.out(self.hidden(x))

    def train_step(self, data):
        import tensorflow as tf

        x, y = data
        with tf.GradientTape() as tape:
            loss = keras.ops.mean(keras.ops.square(self(x, training=True) - y))
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        return {"loss": loss}


STYLES = {
    "sequential": sequential,
    "functional_shared": functional_shared,
    "nested": nested,
    "subclassed": Subclassed,
    "custom_train_step": CustomTrainStep,
}


class KerasTrainFunction(keras.callbacks.Callback):
    """Remembers the train function Keras made for a fit (list it before DiagnosticsCallback)."""

    def __init__(self):
        super().__init__()
        self.function = None

    def on_train_begin(self, logs=None):
        self.function = self.model.train_function


class CountsTraces(keras.Sequential):
    """A Sequential MLP whose Python ``train_step`` counts its runs: one per trace of the step."""

    def __init__(self, inputs: int = 8):
        super().__init__([keras.Input((inputs,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)], name="counts_traces")
        self.traces = 0

    def train_step(self, data):
        self.traces += 1
        return super().train_step(data)
