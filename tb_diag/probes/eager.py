"""Eager probe: under ``run_eagerly=True``, how much slower the model runs than it would traced."""

from __future__ import annotations

import re
import statistics
import time
from typing import Any

import keras
import tensorflow as tf

from tb_diag import schema
from tb_diag.core.writer import SummaryWriter
from tb_diag.probes.base import Probe, ProbeSetup

# Measured after this many executions of the fit (the first ones warm caches up), on that batch.
MEASURE_AFTER_EXECUTIONS = 3
# Timed calls per mode; the median is kept.
REPEATS = 3
# An error that stops the model from tracing is kept to this many characters.
MAX_ERROR_CHARS = 300
ANSI_CODE = re.compile(r"\x1b\[[0-9;]*m")
KERAS_CALL_ERROR = "Exception encountered when calling"


class EagerProbe(Probe):
    """Only when the model trains with ``run_eagerly=True``: once per model, after a few steps,
    times its forward pass (``training=False``) on the current batch eagerly and as a traced
    ``tf.function``, and writes one document: ``eager_s``, ``traced_s`` (medians of ``REPEATS``
    calls; ``traced_s`` is ``null`` with ``trace_error`` when the model cannot be traced),
    ``trace_s`` (the one-off tracing time) and ``batch_size``.

    The forward pass, not the whole step, is timed: it changes no weight (the model's
    non-trainable variables, e.g. stateful RNN states, are put back afterwards). It is an
    estimate of the step's slowdown; the backward pass pays Python per op in the same way.
    Nothing is added to the step itself.
    """

    name = "eager"
    under_replicas = "the chief's forward pass, on its replica's share of the batch"

    def start(self, setup: ProbeSetup) -> None:
        self._model = setup.model
        self._counter = setup.counter
        self._measured = False
        self._document: dict | None = None

    def begin_fit(self, setup: ProbeSetup) -> None:
        self._eager = bool(getattr(setup.model, "run_eagerly", False))
        self._executions = 0
        self._batch: Any = None

    def after_step(self, step: Any, times: Any, data: Any) -> None:
        if self._eager and not self._measured and tf.executing_eagerly():
            self._batch = data

    def on_train_batch_end(self, steps: int) -> None:
        if not self._eager or self._measured:
            return
        self._executions += 1
        if self._executions < MEASURE_AFTER_EXECUTIONS or self._batch is None:
            return
        x, _, _ = keras.utils.unpack_x_y_sample_weight(self._batch)
        self._batch = None
        self._measured = True
        self._document = measure_forward(self._model, x)

    def flush(self, writer: SummaryWriter, first_step: int, last_step: int) -> None:
        """Nothing per step: the measurement goes out in ``flush_documents``."""

    def flush_documents(self, writer: SummaryWriter) -> None:
        if self._document is not None:
            writer.write_document(schema.EAGER, self._counter.read(), self._document)
            self._document = None


def measure_forward(model: Any, x: Any) -> dict:
    """Times ``model(x, training=False)`` eagerly and traced; the model's variables are as before."""
    saved = [variable.numpy() for variable in model.non_trainable_variables]
    try:
        eager_s = _median_seconds(lambda: model(x, training=False))
        def forward(inputs: Any) -> Any:
            return model(inputs, training=False)

        traced = tf.function(forward)
        started = time.perf_counter()
        try:
            _block(traced(x))
        except Exception as error:  # The reason the model may have to run eagerly.
            return {"eager_s": eager_s, "traced_s": None, "trace_s": None, "trace_error": trace_error(error), "batch_size": _batch_size(x)}
        trace_s = time.perf_counter() - started
        return {"eager_s": eager_s, "traced_s": _median_seconds(lambda: traced(x)), "trace_s": trace_s, "trace_error": None, "batch_size": _batch_size(x)}
    finally:
        for variable, value in zip(model.non_trainable_variables, saved):
            variable.assign(value)


def trace_error(error: Exception) -> str:
    """The part of a tracing error that says what failed. TensorFlow puts the user-code traceback
    first and the error last; Keras' layers write "Exception encountered when calling
    <Layer>.call()." then the error (in terminal bold) then the arguments."""
    lines = [line.strip() for line in ANSI_CODE.sub("", str(error)).splitlines() if line.strip()]
    name = type(error).__name__
    for index, line in enumerate(lines[:-1]):
        if KERAS_CALL_ERROR in line:
            where = line.split(KERAS_CALL_ERROR, 1)[1].strip().rstrip(".")
            return f"{name} in {where}: {lines[index + 1]}"[:MAX_ERROR_CHARS]
    last = lines[-1] if lines else ""
    return (last if last.startswith(name) else f"{name}: {last}")[:MAX_ERROR_CHARS]


def _median_seconds(call: Any) -> float:
    seconds = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        _block(call())
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def _block(outputs: Any) -> None:
    """Waits for ``outputs`` to be computed (a GPU runs ops asynchronously)."""
    for tensor in tf.nest.flatten(outputs):
        if hasattr(tensor, "numpy"):
            tensor.numpy()


def _batch_size(x: Any) -> int | None:
    first = next(iter(tf.nest.flatten(x)), None)
    shape = getattr(first, "shape", None)
    return int(shape[0]) if shape is not None and len(shape) and shape[0] is not None else None
