"""The train function tb_diag runs in place of Keras': the same steps, with each step timed.

Keras (TF backend) reads each batch with ``iterator.get_next()`` inside its train function, in an
outer ``tf.function`` that is never XLA-compiled, and runs the step itself in an inner
``tf.function`` (XLA when ``jit_compile``). Neither ``on_train_batch_begin/end`` nor the step can
tell the wait for data from the compute. So this module builds the outer function itself, the way
``keras.src.backend.tensorflow.trainer.TensorFlowTrainer._make_function`` does, with three
``tf.timestamp`` ops per step around the fetch and the step: in the outer function, outside XLA.

Semantics kept from Keras 3: one execution runs up to ``steps_per_execution`` steps and stops early
when the data runs out; an exhausted iterator ends the epoch (``OutOfRangeError`` or
``StopIteration``, both handled by Keras' epoch iterator); the outputs of the last step are
returned; ``run_eagerly`` runs everything eagerly. Not kept: ``unrolled_steps_per_execution`` (a
tracing-speed option; the loop here is never unrolled).
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any, Callable, ContextManager

import tensorflow as tf
from keras.src.backend.tensorflow import trainer as keras_tf_trainer


@dataclasses.dataclass(frozen=True)
class StepTimes:
    """Wall-clock timestamps (float64 seconds since the epoch, graph tensors) of one step.

    Attributes:
      started: when the step asked the iterator for its batch.
      fetched: when the batch was there.
      finished: when the step, optimizer update included, had finished.
    """

    started: Any
    fetched: Any
    finished: Any


def make_timed_train_function(
    model: Any,
    on_step_end: Callable[[StepTimes, Any], None],
    step_context: Callable[[Any], ContextManager[None]] = lambda data: contextlib.nullcontext(),
    step_signals: Callable[[], dict[str, Any]] = dict,
) -> Callable[[Any], Any]:
    """Returns a train function for ``model`` that calls ``on_step_end`` inside every step.

    ``on_step_end(times, data)`` runs while the outer function is traced (or eagerly, per step,
    under ``run_eagerly``), after the step; it adds recording ops for that step's ``StepTimes``
    and its batch (outside XLA).
    ``step_context(data)`` is entered around ``model.train_step(data)``, inside the step's own
    (possibly XLA) function: what happens in it belongs to the step being traced.
    ``step_signals()`` is called after ``train_step`` in the same function; the scalars it returns
    are added to the step's outputs when those are a dict (the caller takes them out again).
    """
    steps_per_execution = int(model.steps_per_execution or 1)
    one_step = _one_step_function(model, step_context, step_signals)

    def timed_step(started: Any, data: Any) -> Any:
        with tf.control_dependencies(_tensors(data)):
            fetched = tf.timestamp()
        # Without this edge the executor may start the step before taking ``fetched``.
        with tf.control_dependencies([fetched]):
            outputs = one_step(data)
        with tf.control_dependencies(_tensors(outputs)):
            finished = tf.timestamp()
        on_step_end(StepTimes(started, fetched, finished), data)
        return outputs

    def execution(iterator: Any) -> Any:
        started = tf.timestamp()
        with tf.control_dependencies([started]):
            data = iterator.get_next()
        outputs = timed_step(started, data)
        if steps_per_execution == 1:
            return outputs
        return _remaining_steps(iterator, outputs, steps_per_execution, timed_step)

    if not model.run_eagerly:
        # Like Keras: Python control flow here is trace-time only, so no autograph conversion.
        execution = tf.function(tf.autograph.experimental.do_not_convert(execution), reduce_retracing=True)

    def train_function(iterator: Any) -> Any:
        if isinstance(iterator, (tf.data.Iterator, tf.distribute.DistributedIterator)):
            return execution(iterator)
        # Keras' fallback for a plain Python iterator of batches: step by step, untimed.
        outputs = None
        for _, data in zip(range(steps_per_execution), iterator):
            outputs = one_step(data)
        return outputs

    return train_function


def _one_step_function(
    model: Any, step_context: Callable[[Any], ContextManager[None]], step_signals: Callable[[], dict[str, Any]]
) -> Callable[[Any], Any]:
    """One training step on one batch, compiled as Keras compiles it (XLA when ``jit_compile``)."""

    @tf.autograph.experimental.do_not_convert
    def one_step(data: Any) -> Any:
        with step_context(data):
            outputs = model.distribute_strategy.run(model.train_step, args=(data,))
        # Keras' own reduction of the replicas' outputs (the mean of each metric's result; a
        # no-op with one replica).
        outputs = keras_tf_trainer.reduce_per_replica(outputs, model.distribute_strategy, reduction="auto")
        signals = step_signals()
        if signals and isinstance(outputs, dict):
            outputs = {**outputs, **signals}
        return outputs

    if not model.run_eagerly:
        one_step = tf.function(one_step, reduce_retracing=True, jit_compile=model.jit_compile)

    def without_optionals(data: Any) -> Any:
        # Keras feeds ``None`` where its adapters put an empty optional element (e.g. no weights).
        return one_step(tf.nest.map_structure(lambda item: None if isinstance(item, tf.experimental.Optional) else item, data))

    return without_optionals


def _remaining_steps(iterator: Any, outputs: Any, steps_per_execution: int, timed_step: Callable) -> Any:
    """Steps 2..k of an execution, in a ``tf.while_loop`` that stops when the data runs out."""

    def fetch() -> tuple[Any, Any]:
        started = tf.timestamp()
        with tf.control_dependencies([started]):
            return started, iterator.get_next_as_optional()

    if not tf.inside_function():
        # run_eagerly: a plain Python loop.
        for _ in range(steps_per_execution - 1):
            started, optional = fetch()
            if not optional.has_value():
                break
            outputs = timed_step(started, optional.get_value())
        return outputs

    def keep_going(count: Any, outputs: Any, exhausted: Any) -> Any:
        return tf.logical_and(count < steps_per_execution, tf.logical_not(exhausted))

    def next_step(count: Any, outputs: Any, exhausted: Any) -> Any:
        started, optional = fetch()
        has_value = optional.has_value()
        outputs = tf.cond(has_value, lambda: timed_step(started, optional.get_value()), lambda: outputs)
        return count + 1, outputs, tf.logical_not(has_value)

    _, outputs, _ = tf.while_loop(keep_going, next_step, (tf.constant(1), outputs, tf.constant(False)))
    return outputs


def _tensors(structure: Any) -> list[Any]:
    """The tensors in a nest of batch data or step outputs, for control dependencies."""
    return [item for item in tf.nest.flatten(structure, expand_composites=True) if isinstance(item, tf.Tensor)]
