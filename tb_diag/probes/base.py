"""The interface every training-side probe implements."""

from __future__ import annotations

import abc
import dataclasses
from typing import Any, Callable, ClassVar

from tb_diag.core.fit_context import FitContext
from tb_diag.core.layer_map import LayerMap
from tb_diag.core.ring_buffer import StepCounter
from tb_diag.core.train_function import StepTimes
from tb_diag.core.update_companions import UpdateCompanions
from tb_diag.core.writer import SummaryWriter


@dataclasses.dataclass(frozen=True)
class ProbeSetup:
    """What a probe needs to know when training starts.

    Attributes:
      layers: the model's layers owning trainable variables and which variable belongs to which.
      capacity: rows each in-graph ring buffer must hold (covers the steps between two flushes).
      counter: the training-step counter (``read()`` on the host gives the last step run).
      epoch: the epoch the first recorded step belongs to.
      input_iterator: the iterator ``fit`` reads batches from (a ``tf.data`` iterator for every
        input Keras accepts on TensorFlow), or ``None`` if unknown.
      model: the model being trained.
      memory_profile: ``(every_steps, window_steps)`` of the opt-in profiler windows, or ``None``.
      warn: ``warn(cause, message)`` gives the user one ``DiagnosticsWarning`` per cause, for a
        probe that turns off a part of itself and carries on.
      on_nan: what to do at a step with non-finite values: ``"stop"``, ``"skip"`` or ``"record"``.
      rerun_forward: ``rerun_forward(x)`` calls the model on ``x`` (as the train step does) where it
        is called, and returns the leaf layer calls it made, without other probes seeing them
        (for a probe that looks at the forward pass again only when something went wrong).
      replicas: replicas of the strategy training the model. With more than one, only
        ``before_apply``/``after_apply`` run, on the recording replica with the gradients summed
        over all replicas; ``guard_apply`` does not (the update happens in a cross-replica merge
        and cannot be held back).
      fit: what this ``fit`` call was given beyond Keras' ``params`` (its other callbacks, its
        ``shuffle`` and ``steps_per_epoch``, the data adapter): see ``tb_diag.core.fit_context``.
    """

    layers: LayerMap
    capacity: int
    counter: StepCounter
    epoch: int = 0
    input_iterator: Any = None
    model: Any = None
    memory_profile: tuple[int, int] | None = None
    warn: Callable[[str, str], None] = lambda cause, message: None
    on_nan: str = "stop"
    rerun_forward: Callable[[Any], list] = lambda x: []
    replicas: int = 1
    fit: FitContext = FitContext()


@dataclasses.dataclass(frozen=True)
class ApplyStep:
    """One optimizer update inside the real training step, as the probes see it (graph tensors).

    Attributes:
      step: int64 scalar, the number of this training step.
      grads: gradients with a known owning layer (``None`` gradients removed), as the optimizer
        receives them: before clipping, still multiplied by ``loss_scale`` if there is one.
      variables: the variables of ``grads``, same order.
      layer_ids: index into ``ProbeSetup.layers.paths`` of each variable.
      loss_scale: float32 scalar the gradients are multiplied by (mixed precision), else ``None``.
      sampled: whether this trace of the train step also records the sampled quantities. The
        callback traces the step twice (sampled and not) and runs the sampled trace every
        ``sample_every_steps`` steps, so the other steps carry no gate at all.
      loss: the step's loss as ``model.compute_loss`` returned it (before loss scaling), or
        ``None`` when the train step computes its loss another way.
      optimizer: the optimizer whose ``apply`` this is.
      companions: tensors probes ask (in ``before_apply``) to have computed beside the
        optimizer's own ops, and read in ``after_apply``: see ``tb_diag.core.update_companions``.
    """

    step: Any
    grads: list[Any]
    variables: list[Any]
    layer_ids: list[int]
    loss_scale: Any | None
    sampled: bool
    loss: Any | None = None
    optimizer: Any = None
    companions: UpdateCompanions = dataclasses.field(default_factory=UpdateCompanions, compare=False, repr=False)


@dataclasses.dataclass(frozen=True)
class LayerCall:
    """One call of a leaf layer in the forward pass of the train step (graph tensors).

    Attributes:
      path: the layer's path, e.g. ``"encoder/dense_1"`` (a shared layer: the same path per call).
      layer: the layer object.
      inputs: the positional arguments of the call.
      outputs: what the call returned.
      sampled: whether this trace of the train step records the sampled quantities.
    """

    path: str
    layer: Any
    inputs: tuple
    outputs: Any
    sampled: bool


class Probe(abc.ABC):
    """Records one diagnostic from the training step into in-graph buffers and writes them out.

    Lifecycle: ``start`` (eager, once per traced train step: create buffers; later fits of the same
    model and settings reuse the traces and the probe), ``begin_fit`` (each fit). While the train
    step is traced (or run eagerly), in order: ``on_step_start`` (the batch), ``on_layer_call`` (each leaf layer
    call of the forward pass), ``before_apply`` / ``guard_apply`` / ``after_apply`` (around and of
    the optimizer update), ``step_signals`` (after the step, in its function), ``after_step`` (once
    the whole step has run, outside XLA). On the host: ``on_epoch_begin``, ``on_train_batch_begin``
    before and ``stop_reason`` / ``on_train_batch_end`` after each execution, ``on_epoch_end``,
    ``flush`` / ``flush_documents`` every few steps (read buffers, write one event per family),
    ``finish`` and ``end_fit`` when the fit ends.

    ``wants_layer_calls`` asks the callback to wrap every leaf layer's ``call`` for the ``fit``
    (needed for ``on_layer_call``; the wrappers add no ops by themselves, but only probes that need
    the forward pass ask for them).
    """

    wants_layer_calls: ClassVar[bool] = False
    # Whether the probe still works (with less detail) when the layers cannot be wrapped.
    layer_calls_optional: ClassVar[bool] = False
    # Under a strategy with several replicas (MirroredStrategy, MultiWorkerMirroredStrategy), what
    # the probe records: a short phrase for the docs and the warning ("the gradients summed over
    # replicas", ...), or None if it does not run there (the callback switches it off with a warning).
    # Only the first replica (the chief's first device) records; its buffers live on that replica.
    under_replicas: ClassVar[str | None] = None

    name: ClassVar[str]

    @abc.abstractmethod
    def start(self, setup: ProbeSetup) -> None:
        """Creates the probe's buffers for a ``fit`` call."""

    def begin_fit(self, setup: ProbeSetup) -> None:
        """On the host, before the first step of every ``fit`` (right after ``start`` for the fit
        that traced the step; alone for a later fit reusing those traces and these buffers):
        resets what the probe tracks per fit. ``setup`` carries this fit's epoch, iterator and
        ``warn``."""

    def on_step_start(self, data: Any, sampled: bool) -> None:
        """Runs at the start of the train step, with the batch it trains on (under several
        replicas: the first replica's share of the batch)."""

    def on_layer_call(self, call: LayerCall) -> None:
        """Runs after each leaf layer call of the train step's forward pass."""

    def before_apply(self, update: ApplyStep) -> Any:
        """Runs just before the optimizer update; returns state handed to ``after_apply``."""
        return None

    def after_apply(self, update: ApplyStep, state: Any) -> None:
        """Runs just after the optimizer update."""

    def guard_apply(self, update: ApplyStep, apply_update: Callable[[], None]) -> None:
        """Runs the optimizer update: a probe may decide, in the graph, whether and how it runs.

        Between ``before_apply`` and ``after_apply``. The default runs ``apply_update()``; a probe
        overriding it must call ``apply_update`` (in every branch that updates) and return ``None``.
        A probe that puts the update in a branch returns ``update.companions.here()`` from every
        branch and passes the conditional's outputs to ``update.companions.resolve`` (otherwise the
        companions are made again outside the branch: correct, without the shared work).
        """
        apply_update()

    def step_signals(self) -> dict[str, Any]:
        """In the train step, after it: scalar tensors the host needs after every execution
        (they travel with the step's outputs, which the host reads anyway)."""
        return {}

    def stop_reason(self, signals: dict[str, Any]) -> str | None:
        """On the host after each execution, with the values of ``step_signals`` (empty when the
        train step's outputs could not carry them): a sentence saying why training must stop, or
        ``None``."""
        return None

    def after_step(self, step: Any, times: StepTimes, data: Any) -> None:
        """Runs after each whole step, in the outer train function (never XLA-compiled).

        ``step`` is the int64 number of the step that just ran, ``data`` its batch (under several
        replicas: the first replica's share).
        """

    def needs_retrace(self) -> bool:
        """On the host after each execution: True once if the probe made new state (e.g. buffers
        sized by what the last trace saw) that the train step must be traced again to use."""
        return False

    def on_train_batch_end(self, steps: int) -> None:
        """On the host after each execution of ``steps`` training steps."""

    def finish(self) -> None:
        """On the host when ``fit`` ends, before the last ``flush``."""

    def on_epoch_begin(self, epoch: int) -> None:
        """On the host, before the first step of ``epoch`` (not called for the epoch ``start`` got)."""

    def on_train_batch_begin(self) -> None:
        """On the host before each execution, once every callback's ``on_epoch_begin`` (for the
        first execution of an epoch) has run."""

    def end_fit(self) -> None:
        """On the host when ``fit`` ends, also for a probe disabled during it: undoes what
        ``begin_fit`` installed on the user's objects (this fit's probes are later reused)."""

    def on_disabled(self) -> None:
        """On the host, once, right after a failure disabled this probe (its ops stay in the traced
        step until ``fit`` ends): puts back anything it left half done on the user's model."""

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        """On the host at the end of ``epoch``, with Keras' epoch logs (training and validation
        metrics), before that epoch's ``flush``."""

    @abc.abstractmethod
    def flush(self, writer: SummaryWriter, first_step: int, last_step: int) -> None:
        """Writes what was recorded for steps ``first_step..last_step``."""

    def flush_documents(self, writer: SummaryWriter) -> None:
        """Writes documents kept on the host at the steps they belong to; called at every flush,
        also one with no new step to write (an epoch that ended right after a periodic flush)."""
