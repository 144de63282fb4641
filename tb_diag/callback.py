"""DiagnosticsCallback: records training diagnostics from the real train step into event files."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import tempfile
import warnings
from typing import Any, Iterator, Sequence

import keras
import tensorflow as tf
from tensorflow.python.ops import resource_variable_ops

from tb_diag.core.fit_context import FitContext, read_fit_context
from tb_diag.core.hooks import InstanceMethodPatch, OptimizerApplyHook
from tb_diag.core.layer_calls import LayerCallHook
from tb_diag.core.layer_map import map_layers
from tb_diag.core import trace_cache
from tb_diag.core.ring_buffer import StepCounter
from tb_diag.core.train_function import StepTimes, make_timed_train_function
from tb_diag.core.writer import SummaryWriter
from tb_diag.probes import PROBES
from tb_diag.probes.base import ApplyStep, LayerCall, Probe, ProbeSetup
from tb_diag.probes.environment import strategy_name
from tb_diag.probes.nonfinite import ON_NAN_MODES

# Keras' TensorBoard callback writes training data under <log_dir>/train; so do we, so both
# callbacks given the same log_dir show up as one run in TensorBoard.
TRAIN_RUN_SUBDIR = "train"


# Sampled measurements every this many steps by default. At 10, the sampled steps (about +10% each
# on MobileNetV2 on CPU, where the activation statistics read every layer's output) moved the median
# step of a MobileNetV2 fit from 1.009x to 1.049x plain's; at 20 it is 1.012x (benchmarks/lockstep.py).
DEFAULT_SAMPLE_EVERY_STEPS = 20


class DiagnosticsWarning(UserWarning):
    """Emitted (once per cause) when tb_diag disables a probe instead of disturbing training."""


class DiagnosticsCallback(keras.callbacks.Callback):
    """Records per-layer training diagnostics for TensorBoard's "Diagnostics" tab.

    At the start of ``fit`` it wraps the optimizer's ``apply`` so probes add a few ops to the real,
    compiled training step (XLA included), and runs the steps through its own copy of Keras' train
    loop that timestamps each batch fetch and step (outside XLA). Values go to in-graph ring
    buffers that are read back and written every ``flush_every_steps`` steps, at each epoch end and
    when training ends. The step is traced twice: a light trace used on most steps (and on the
    first) and a sampled trace, with the costlier measurements, used every ``sample_every_steps``
    steps from the second (no per-step gate). The traces are kept with the model: a later ``fit``
    with the same settings (this callback or a new one) traces nothing again. At the end of
    ``fit`` every hook is removed and Keras' own train function is back: the model saves, loads
    and refits as if the callback had never been attached.

    Under ``MirroredStrategy`` or ``MultiWorkerMirroredStrategy`` the first replica of each worker
    records (gradient norms of the gradients summed over all replicas) and only the chief writes;
    a NaN/Inf is detected but its update cannot be held back. The "Under tf.distribute" table of
    docs/limits.md says what each diagnostic means there.

    Diagnostics never stop training on their own failure: if a probe fails, one
    ``DiagnosticsWarning`` names it and it is disabled for the rest of the ``fit``; training
    carries on. They stop it on purpose only when a step produces NaN/Inf and ``on_nan="stop"``.

    Args:
      log_dir: the same directory you would give ``keras.callbacks.TensorBoard``; data goes to
        ``<log_dir>/train``.
      flush_every_steps: how many training steps are buffered in the graph between two writes.
      sample_every_steps: how often the sampled measurements (weight norms, update ratios,
        activation statistics) are taken: the second step the model trains with tb_diag, then every
        this many, counted across fits (a later fit of the same model goes on with the schedule
        rather than sampling its own second step); 1 = every step. With
        ``steps_per_execution = k`` the sampled trace runs for whole executions, every
        ``max(1, sample_every_steps // k)`` executions, from the second. A fit shorter than this may
        therefore have no sampled step. Default 20 (docs/how_it_works.md, "Sampling": a denser
        default moved the median step); 10 or less for short runs.
      probes: names of the probes to run (default: all of ``tb_diag.probes.PROBES``).
      profile_memory_every_steps: opt-in: every this many steps, run TensorFlow's profiler for
        ``profile_memory_steps`` steps and keep only the BFC allocators' fragmentation figures
        (those steps run slower while profiled). ``None`` (default): never.
      profile_memory_steps: length of each profiler window, in steps.
      on_nan: what a step with a NaN or Inf (in the batch, a layer output, the loss, the gradients
        or the updated weights) does. ``"stop"`` (default): its update is not applied, so the
        model keeps the weights and optimizer state of the last good step, and ``fit`` stops
        after the current execution. ``"skip"``: its update is not applied; training goes on with
        the next batch. ``"record"``: only records where it started; the update is applied as
        without tb_diag. Either way the step is recorded (where the NaN/Inf started, the counts,
        what was done) and everything is written out before ``fit`` returns. By default (one
        device, no XLA or loss scaling, no weight of over 4M values) the update runs as without
        tb_diag and a bad step's copy of the weights is put back after the execution: a callback
        listed before this one sees the bad weights in ``on_train_batch_end``, and an update that
        makes weights non-finite from finite gradients is found at the next sampled step or the
        next step, with those weights not kept; elsewhere the optimizer's writes are held until
        screened (docs/diagnostics/nonfinite.md, "How a bad update is kept out").

    Example:

    ```python
    model.fit(x, y, epochs=5, callbacks=[DiagnosticsCallback("logs/run1")])
    # then: tensorboard --logdir logs   (or: tb-diag report logs)
    ```
    """

    def __init__(
        self,
        log_dir: str | os.PathLike,
        flush_every_steps: int = 100,
        sample_every_steps: int = DEFAULT_SAMPLE_EVERY_STEPS,
        probes: Sequence[str] | None = None,
        profile_memory_every_steps: int | None = None,
        profile_memory_steps: int = 5,
        on_nan: str = "stop",
    ):
        super().__init__()
        if not isinstance(log_dir, (str, os.PathLike)) or not os.fspath(log_dir):
            raise ValueError(f"log_dir must be a non-empty path, got {log_dir!r}")
        for name, value in (("flush_every_steps", flush_every_steps), ("sample_every_steps", sample_every_steps)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        for name, value in (("profile_memory_steps", profile_memory_steps),) + (
            (("profile_memory_every_steps", profile_memory_every_steps),) if profile_memory_every_steps is not None else ()
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if profile_memory_every_steps is not None and profile_memory_steps >= profile_memory_every_steps:
            raise ValueError(
                f"profile_memory_steps ({profile_memory_steps}) must be smaller than profile_memory_every_steps "
                f"({profile_memory_every_steps})"
            )
        if on_nan not in ON_NAN_MODES:
            raise ValueError(f"on_nan must be one of {', '.join(repr(m) for m in ON_NAN_MODES)}; got {on_nan!r}")
        if probes is None:
            probes = list(PROBES)
        if isinstance(probes, str) or not all(isinstance(name, str) for name in probes):
            raise ValueError(f"probes must be a list of probe names, got {probes!r}")
        unknown = [name for name in probes if name not in PROBES]
        if unknown:
            raise ValueError(f"probes has unknown names {unknown}; available: {sorted(PROBES)}")
        self.log_dir = os.fspath(log_dir)
        self.flush_every_steps = flush_every_steps
        self.sample_every_steps = sample_every_steps
        self.probe_names = tuple(probes)
        # The probes running in the current fit: probe_names less those the model or strategy rule out.
        self._fit_probe_names = self.probe_names
        self.memory_profile = (profile_memory_every_steps, profile_memory_steps) if profile_memory_every_steps else None
        self.on_nan = on_nan
        self._loss_patch: InstanceMethodPatch | None = None
        # Multi-replica strategies: the replica count, the patch on the optimizer's gradient
        # all-reduce, and the recording replica's update waiting for its summed gradients.
        self._replicas = 1
        self._reduce_patch: InstanceMethodPatch | None = None
        self._replica_update: _ReplicaUpdate | None = None
        # A worker other than the chief writes here (removed at the end of fit).
        self._scratch_dir: str | None = None
        self._step_loss: Any = None
        self._signals: dict[str, Any] = {}
        self._stoppers: list[Probe] = []
        self._last_step_counted = 0
        # While _rerun_forward runs: the graph it calls the model in, and the calls it collects.
        self._rerun_graph: Any = None
        self._rerun_calls: list[LayerCall] | None = None
        self._probes: list[Probe] = []
        self._hook: OptimizerApplyHook | None = None
        self._layer_hook: LayerCallHook | None = None
        self._batch_watchers: list[Probe] = []
        # The graph of the train step being traced (or _EAGER_STEP while a run_eagerly step runs).
        self._step_graph: Any = None
        self._writer: SummaryWriter | None = None
        self._counter: StepCounter | None = None
        self._layer_of_variable: dict[int, int] = {}
        self._last_written_step = 0
        self._capacity = 0
        self._steps_since_flush = 0
        self._steps_per_execution = 1
        self._run_dir = ""
        self._tracing_sampled = False
        self._epoch = 0
        self._input_iterator: Any = None
        self._fit_context = FitContext()
        self._executions_this_fit = 0
        self._warned: set[str] = set()
        # The hooked traces and started probes this fit uses (kept with the model for later fits),
        # whether they came from an earlier fit, whether a probe failed in this fit, and the train
        # function Keras made for this fit (put back at the end).
        self._traced: trace_cache.TracedSteps | None = None
        self._reused = False
        self._failed_this_fit = False
        self._keras_train_function: Any = None

    # Keras callback moments -------------------------------------------------------------------

    def on_train_begin(self, logs: dict | None = None) -> None:
        """Installs the hooks into the real train step and opens the writer."""
        with self._guard("setup"):
            self._start()

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        """Tells the probes a new epoch starts (the input probe attributes steps to epochs)."""
        self._epoch = epoch
        for probe in list(self._probes):
            with self._guard(probe.name):
                probe.on_epoch_begin(epoch)

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        """Lets the probes look at the host before each execution (e.g. RNN states at an epoch's start)."""
        for probe in self._probes_with("on_train_batch_begin"):
            with self._guard(probe.name):
                probe.on_train_batch_begin()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        """Writes the buffered steps once ``flush_every_steps`` have accumulated, and after the
        fit's first execution (so that a fit that fails later still leaves its card and first step)."""
        if not self._probes:
            return
        self._steps_since_flush += self._steps_per_execution
        self._executions_this_fit += 1
        signals, self._signals = self._signals, {}
        for probe in self._stoppers:
            with self._guard(probe.name):
                reason = probe.stop_reason(signals)
                if reason:
                    self._warn(f"{probe.name}_stop", f"{reason} (on_nan={self.on_nan!r})")
                    self.model.stop_training = True
        for probe in self._batch_watchers:
            with self._guard(probe.name):
                probe.on_train_batch_end(self._steps_per_execution)
        if self._steps_since_flush >= self.flush_every_steps or self._executions_this_fit == 1:
            self._flush()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        """Hands the epoch's logs to the probes, then writes what was buffered during the epoch, so
        the tab is current after every epoch."""
        for probe in self._probes_with("on_epoch_end"):
            with self._guard(probe.name):
                probe.on_epoch_end(epoch, dict(logs or {}))
        self._flush()

    def on_train_end(self, logs: dict | None = None) -> None:
        """Writes the rest, removes every hook and closes the writer."""
        if self._hook is not None and self._counter is None:
            # Keras skips the optimizer entirely for a model without trainable weights.
            self._warn("tb_diag", "no training step reached the optimizer (does the model have trainable weights?); nothing was recorded")
        for probe in self._probes_with("finish"):
            with self._guard(probe.name):
                probe.finish()
        self._flush()
        self._stop()

    # Start and stop -----------------------------------------------------------------------------

    def _start(self) -> None:
        model = self.model
        optimizer = getattr(model, "optimizer", None)
        if optimizer is None:
            self._warn("tb_diag", "the model has no optimizer; nothing to record")
            return
        self._fit_probe_names = self.probe_names
        self._fit_context = read_fit_context(self)
        self._executions_this_fit = 0
        strategy = model.distribute_strategy
        self._replicas = int(strategy.num_replicas_in_sync)
        if self._replicas > 1 and not self._prepare_replicas(strategy, optimizer):
            return
        self._run_dir = os.path.join(self.log_dir, TRAIN_RUN_SUBDIR)
        if not strategy.extended.should_save_summary:
            # A worker other than the chief records exactly as the chief does (same traces, so the
            # same collective ops), into a scratch directory removed at the end of fit.
            self._scratch_dir = tempfile.mkdtemp(prefix="tb_diag_worker_")
            self._run_dir = os.path.join(self._scratch_dir, TRAIN_RUN_SUBDIR)
        try:
            self._writer = SummaryWriter(self._run_dir)
        except tf.errors.UnimplementedError:
            self._warn("log_dir", unwritable_scheme_message(self.log_dir))
            return
        self._steps_per_execution = int(getattr(model, "steps_per_execution", 1) or 1)
        # Room for the steps between two flushes even when a flush comes late in an execution.
        self._capacity = 2 * self.flush_every_steps + self._steps_per_execution
        self._steps_since_flush = 0
        self._probes = []
        self._counter = None
        self._failed_this_fit = False
        key = trace_cache.graph_key(model, self._graph_options())
        self._hook = OptimizerApplyHook(optimizer, self._on_apply)
        self._hook.install()
        self._install_layer_hook()
        self._loss_patch = InstanceMethodPatch(model, "compute_loss", self._observe_loss).install()
        self._traced = trace_cache.find(model, key)
        self._reused = self._traced is not None
        if self._traced is None:
            self._traced = trace_cache.TracedSteps(key=key, owner=self)
            trace_cache.keep(model, self._traced)
        else:
            self._adopt(self._traced)
        self._traced.owner = self
        self._traced.reusable = False  # until this fit ends without a probe failing
        self._keras_train_function = model.train_function
        model.train_function = self._dispatching_train_function()

    def _graph_options(self) -> tuple:
        """The callback's settings that shape the hooked train step (part of the reuse key)."""
        return (self._fit_probe_names, self.sample_every_steps, self._capacity, self.on_nan, self.memory_profile, self._replicas)

    def _adopt(self, traced: trace_cache.TracedSteps) -> None:
        """Takes over the probes and counter an earlier fit traced with (their buffers live in the
        kept graphs). Steps go on after the last one counted, even if the model trained without
        tb_diag in between. The probes' per-fit state is set at the first execution."""
        self._counter = traced.counter
        self._layer_of_variable = traced.layers.layer_of_variable
        self._probes = list(traced.probes)
        with self._guard("setup"):
            iterations = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
            self._counter.advance_to(max(iterations, self._counter.read()))
            self._last_written_step = self._counter.read()
            self._writer.write_layers(self._last_written_step, list(traced.layers.paths))
            self._batch_watchers = self._probes_with("on_train_batch_end")
            self._stoppers = self._probes_with("stop_reason")

    def _prepare_replicas(self, strategy: Any, optimizer: Any) -> bool:
        """Under a strategy with several replicas: only probes that mean something there run.
        Returns whether any does.

        On each worker the first local replica runs the probes, into buffers local to that worker
        (no collective op is added: every worker traces the same steps, as the collectives they
        share require). Only the chief writes (``_start``). The gradients probe reads the gradients
        where the optimizer has just summed them over all replicas (no extra all-reduce).
        """
        where = f"under {strategy_name(strategy)} with {self._replicas} replicas"
        for name in self._fit_probe_names:
            if PROBES[name].under_replicas is None:
                self._warn(name, f"the {name} probe does not run {where} yet; the other probes record")
        self._fit_probe_names = tuple(name for name in self._fit_probe_names if PROBES[name].under_replicas is not None)
        reducing = getattr(optimizer, "inner_optimizer", optimizer)
        if "gradients" in self._fit_probe_names:
            if getattr(reducing, "gradient_accumulation_steps", None) or not hasattr(reducing, "_all_reduce_sum_gradients"):
                self._warn("gradients", f"the gradients probe cannot see the summed gradients {where} with this optimizer; the other probes record")
                self._fit_probe_names = tuple(name for name in self._fit_probe_names if name != "gradients")
            else:
                self._reduce_patch = InstanceMethodPatch(reducing, "_all_reduce_sum_gradients", self._observe_reduced).install()
        return bool(self._fit_probe_names)

    def _install_layer_hook(self) -> None:
        wanting = [name for name in self._fit_probe_names if PROBES[name].wants_layer_calls]
        if not wanting:
            return
        self._layer_hook = LayerCallHook(self.model, self._on_layer_call)
        try:
            self._layer_hook.install()
        except Exception as error:
            self._layer_hook.remove()
            self._layer_hook = None
            required = [name for name in wanting if not PROBES[name].layer_calls_optional]
            self._fit_probe_names = tuple(name for name in self._fit_probe_names if name not in required)
            cause = f"the model's layers cannot be wrapped ({type(error).__name__}: {error})"
            for name in wanting:
                if name in required:
                    self._warn(name, f"disabled the {name} probe: {cause}; training continues")
                else:
                    self._warn(name, f"the {name} probe cannot see layer outputs: {cause}; it records without them")

    def _dispatching_train_function(self) -> Any:
        """The timed traces of the train step (light and sampled) and the function choosing one.

        fit() built its train function before calling us; ours trace through the hooks, each on
        its first use, and are kept with the model for the next fit (``trace_cache``). Which trace
        a step belongs to is a Python choice per execution, so neither trace carries a tf.cond gate.
        """
        traced = self._traced
        if not traced.traces:
            traced.traces = self._fresh_traces()
        every = max(1, self.sample_every_steps // self._steps_per_execution)
        self._input_iterator = None

        def train_function(iterator: Any) -> Any:
            if self._input_iterator is None:
                self._input_iterator = iterator
                if self._reused:
                    self._begin_probes()
                elif self._counter is None and self._writer is not None and self.model.built and self.model.trainable_weights:
                    # Before anything is traced: a variable made while a tf.function traces for the
                    # first time makes TensorFlow trace it twice.
                    with self._guard("setup"):
                        self._build_optimizer()
                        self._start_probes()
            # The model's first execution is light (its first step waits for one trace only), the
            # second sampled, then every `every`-th, counted over all the fits these traces ran:
            # a loop of short fits samples as one long fit would, not once more per fit.
            executions = traced.executions
            self._tracing_sampled = every == 1 or (executions >= 1 and (executions - 1) % every == 0)
            traced.executions += 1
            outputs = traced.traces[self._tracing_sampled](iterator)
            if isinstance(outputs, dict) and any(key.startswith(SIGNAL_PREFIX) for key in outputs):
                self._signals = {key: value for key, value in outputs.items() if key.startswith(SIGNAL_PREFIX)}
                outputs = {key: value for key, value in outputs.items() if not key.startswith(SIGNAL_PREFIX)}
            # Probes discover what they record while the sampled step is traced.
            if self._tracing_sampled and any([self._retrace_needed(probe) for probe in list(self._probes)]):
                traced.traces = self._fresh_traces()
            return outputs

        return train_function

    def _fresh_traces(self) -> dict[bool, Any]:
        """New, untraced train functions: ``{sampled: function}``. What runs while they trace goes
        to the callback of the fit in progress (``TracedSteps.owner``), as they outlive this one."""
        traced = self._traced
        return {
            sampled: make_timed_train_function(
                self.model,
                lambda times, data: traced.owner._on_step_end(times, data),
                lambda data: traced.owner._step_context(data),
                lambda: traced.owner._step_signals(),
            )
            for sampled in (False, True)
        }

    def _retrace_needed(self, probe: Probe) -> bool:
        with self._guard(probe.name):
            return probe.needs_retrace()
        return False  # the probe failed and was disabled by the guard

    def _build_optimizer(self) -> None:
        """Builds the optimizer's slots now, as its first ``apply`` would (same variables, same
        values): made inside the first trace, they would make TensorFlow trace the step twice."""
        optimizer = self.model.optimizer
        if self._replicas == 1 and not optimizer.built:
            optimizer.build(self.model.trainable_variables)

    def _start_probes(self) -> None:
        """Maps layers and creates the probes' buffers, before the first step of this fit.

        Done at the first execution, before anything is traced, when the model is built; else in
        the first trace, because a subclassed model may only be built by its first forward pass
        (then this waits for the first update; ``init_scope`` creates the buffers eagerly, and
        TensorFlow traces that function once more).
        """
        with tf.init_scope(), _local_variables(self._replicas):
            layers = map_layers(self.model)
            if not layers.paths:
                self._disable_all("the model has no trainable weights; there are no gradients to record")
                return
            # Steps skipped for NaN (and loss-scale skips) do not advance the optimizer's iterations:
            # continue after the last step counted, so a second fit never reuses step numbers.
            start_step = max(int(keras.ops.convert_to_numpy(self.model.optimizer.iterations)), self._last_step_counted)
            self._layer_of_variable = layers.layer_of_variable
            self._counter = StepCounter(start_step)
            self._last_written_step = start_step
            self._writer.write_layers(start_step, list(layers.paths))
            setup = self._probe_setup(layers)
            for name in self._fit_probe_names:
                probe = PROBES[name]()
                with self._guard(probe.name):
                    probe.start(setup)
                    probe.begin_fit(setup)
                    self._probes.append(probe)
            self._batch_watchers = self._probes_with("on_train_batch_end")
            self._stoppers = self._probes_with("stop_reason")
            self._traced.probes = list(self._probes)
            self._traced.counter = self._counter
            self._traced.layers = layers

    def _probe_setup(self, layers: Any) -> ProbeSetup:
        return ProbeSetup(
            layers=layers,
            capacity=self._capacity,
            counter=self._counter,
            epoch=self._epoch,
            input_iterator=self._input_iterator,
            model=self.model,
            memory_profile=self.memory_profile,
            warn=self._warn,
            on_nan=self.on_nan,
            rerun_forward=self._rerun_forward,
            replicas=self._replicas,
            fit=self._fit_context,
        )

    def _begin_probes(self) -> None:
        """A fit reusing earlier traces: each probe resets its host-side state for this fit."""
        setup = self._probe_setup(self._traced.layers)
        for probe in list(self._probes):
            with self._guard(probe.name):
                probe.begin_fit(setup)

    def _stop(self) -> None:
        if self._counter is not None:
            with self._guard("setup"):
                self._last_step_counted = self._counter.read()
        for patch in (self._loss_patch, self._reduce_patch):
            if patch is not None:
                patch.remove()
        self._loss_patch = self._reduce_patch = None
        self._replica_update = None
        if self._layer_hook is not None:
            self._layer_hook.remove()
            self._layer_hook = None
        if self._hook is not None:
            self._hook.remove()
            self._hook = None
            # Keras' own train function again: a fit without tb_diag runs exactly as it would have.
            self.model.train_function = self._keras_train_function
        self._keras_train_function = None
        for probe in list(self._traced.probes) if self._traced is not None else []:
            with self._guard(probe.name):
                probe.end_fit()
        if self._traced is not None:
            # Lent to the next fit only if every probe ran to the end (a probe that failed while
            # the step was traced may have left a trace without its ops).
            self._traced.reusable = self._traced.counter is not None and not self._failed_this_fit
            self._traced.owner = None
            if not self._traced.reusable:
                trace_cache.forget(self.model)
            self._traced = None
        self._probes = []
        self._batch_watchers = []
        self._stoppers = []
        self._signals = {}
        self._input_iterator = None
        if self._writer is not None:
            with self._guard("writer"):
                self._writer.close()
        self._writer = None
        if self._scratch_dir is not None:
            shutil.rmtree(self._scratch_dir, ignore_errors=True)
            self._scratch_dir = None

    # Inside the train step ----------------------------------------------------------------------

    @contextlib.contextmanager
    def _step_context(self, data: Any) -> Iterator[None]:
        """Marks the graph of the train step being traced, so layer calls elsewhere are ignored."""
        self._step_graph = _current_graph()
        self._step_loss = None
        if self._counter is None and self._writer is not None and self.model.built and self.model.trainable_weights:
            # Start here rather than at the first update when possible: probes that see the forward
            # pass create their buffers in this first trace, the only one allowed to create variables.
            with self._guard("setup"):
                self._start_probes()
        try:
            for probe in self._probes_with("on_step_start"):
                with self._guard(probe.name):
                    probe.on_step_start(_first_replica(data, self.model.distribute_strategy), self._tracing_sampled)
            yield
        finally:
            self._step_graph = None

    def _in_step(self) -> bool:
        """Whether the code running now belongs to the train step being traced (or run eagerly)."""
        if self._step_graph is None:
            return False
        current = _current_graph()
        # Otherwise: Keras building into a scratch graph, a call inside a loop body of the step,
        # or a validation step.
        return current is self._step_graph

    def _observe_loss(self, compute_loss: Any, *args: Any, **kwargs: Any) -> Any:
        loss = compute_loss(*args, **kwargs)
        if self._in_step() and _recording_replica():
            self._step_loss = loss
        return loss

    def _step_signals(self) -> dict[str, Any]:
        signals: dict[str, Any] = {}
        for probe in self._probes_with("step_signals"):
            with self._guard(probe.name):
                signals.update({key: value for key, value in probe.step_signals().items() if key.startswith(SIGNAL_PREFIX)})
        return signals

    def _rerun_forward(self, x: Any) -> list[LayerCall]:
        """Calls the model on ``x`` here (e.g. inside a branch of the step) and returns its leaf
        layer calls; the probes' ``on_layer_call`` does not see them."""
        previous = (self._rerun_graph, self._rerun_calls)
        calls: list[LayerCall] = []
        self._rerun_graph = _current_graph()
        self._rerun_calls = calls
        try:
            if getattr(self.model, "_call_has_training_arg", True):
                self.model(x, training=True)
            else:
                self.model(x)
        finally:
            self._rerun_graph, self._rerun_calls = previous
        return calls

    def _on_layer_call(self, path: str, layer: Any, args: tuple, outputs: Any) -> None:
        if self._rerun_calls is not None:
            current = _current_graph()
            if current is self._rerun_graph:
                self._rerun_calls.append(LayerCall(path=path, layer=layer, inputs=args, outputs=outputs, sampled=False))
                return
        if not self._in_step() or not _recording_replica():
            return
        call = LayerCall(path=path, layer=layer, inputs=args, outputs=outputs, sampled=self._tracing_sampled)
        for probe in self._probes_with("on_layer_call"):
            with self._guard(probe.name):
                probe.on_layer_call(call)

    def _probes_with(self, hook: str) -> list[Probe]:
        """The running probes that override ``hook`` (the others need not be called)."""
        return [probe for probe in self._probes if getattr(type(probe), hook) is not getattr(Probe, hook)]

    def _on_apply(self, grads: list[Any], variables: list[Any], apply_update: Any) -> Any:
        if self._counter is None and self._writer is not None:
            with self._guard("setup"):
                self._start_probes()
        if not self._probes:
            return apply_update()
        if self._replicas > 1:
            return self._on_replica_apply(variables, apply_update)
        update = self._apply_step(grads, variables, _loss_scale(self.model.optimizer))
        states = self._before_apply(update)
        apply_update = _with_companions(apply_update, update)
        for probe in self._probes_with("guard_apply"):
            apply_update = self._guarded(probe, update, apply_update)
        apply_update()
        self._after_apply(update, states)
        return None

    def _apply_step(self, grads: Sequence[Any], variables: Sequence[Any], loss_scale: Any) -> ApplyStep:
        """Counts a step and describes its update (gradients of variables with a known layer)."""
        known = [
            (grad, variable, self._layer_of_variable[id(variable)])
            for grad, variable in zip(grads, variables)
            if grad is not None and id(variable) in self._layer_of_variable
        ]
        return ApplyStep(
            step=self._counter.advance(),
            grads=[grad for grad, _, _ in known],
            variables=[variable for _, variable, _ in known],
            layer_ids=[layer for _, _, layer in known],
            loss_scale=loss_scale,
            sampled=self._tracing_sampled,
            loss=self._step_loss if self._in_step() else None,
            optimizer=self.model.optimizer,
        )

    def _before_apply(self, update: ApplyStep) -> dict[str, Any]:
        states = {}
        for probe in list(self._probes):
            with self._guard(probe.name):
                states[probe.name] = probe.before_apply(update)
        return states

    def _after_apply(self, update: ApplyStep, states: dict[str, Any]) -> None:
        for probe in list(self._probes):
            if probe.name in states:
                with self._guard(probe.name):
                    probe.after_apply(update, states[probe.name])

    def _on_replica_apply(self, variables: Sequence[Any], apply_update: Any) -> None:
        """One replica's ``optimizer.apply`` under a multi-replica strategy.

        Every replica applies its update unchanged. The recording one (see ``_recording_replica``)
        also counts the step and runs the probes on the gradients summed over all replicas, which
        ``_observe_reduced`` takes from the optimizer's own all-reduce while ``apply_update`` runs.
        """
        if not _recording_replica():
            return apply_update()
        self._replica_update = _ReplicaUpdate(variables={_variable_key(v): v for v in variables})
        try:
            apply_update()
            observed = self._replica_update
        finally:
            self._replica_update = None
        if observed.update is not None:
            self._after_apply(observed.update, observed.states)
        return None

    def _observe_reduced(self, all_reduce: Any, grads_and_vars: Any) -> Any:
        """The optimizer's ``_all_reduce_sum_gradients``, watched: the recording replica's probes see its result."""
        reduced = all_reduce(grads_and_vars)
        pending = self._replica_update
        if pending is None or pending.update is not None or not _recording_replica():
            return reduced
        pairs = [(grad, pending.variables.get(_variable_key(variable))) for grad, variable in reduced]
        with self._guard("setup"):
            pending.update = self._apply_step([g for g, _ in pairs], [v for _, v in pairs], loss_scale=None)
            pending.states = self._before_apply(pending.update)
        return reduced

    def _guarded(self, probe: Probe, update: ApplyStep, apply_update: Any) -> Any:
        """``apply_update`` run through ``probe.guard_apply``; if the probe fails, the update still
        runs exactly once in the step (plainly, unless the probe had already put it there)."""

        def run() -> None:
            outer = _current_graph()
            placed: list[bool] = []

            def tracked() -> None:
                apply_update()
                here = _current_graph()
                placed.append(here is outer or here is _EAGER_STEP)

            with self._guard(probe.name):
                probe.guard_apply(update, tracked)
                return
            if not any(placed):
                apply_update()

        return run

    def _on_step_end(self, times: StepTimes, data: Any) -> None:
        if self._counter is None:
            return
        probes = self._probes_with("after_step")
        if not probes:
            return
        with tf.control_dependencies([times.finished]):
            step = self._counter.value()
        for probe in probes:
            with self._guard(probe.name):
                probe.after_step(step, times, _first_replica(data, self.model.distribute_strategy))

    # On the host ------------------------------------------------------------------------------------

    def _flush(self) -> None:
        if not self._probes or self._writer is None:
            return
        if not tf.io.gfile.isdir(self._run_dir):
            # Writing on would go to an unlinked file: lost without a word. (tf.io.gfile, as the
            # writer: the log dir may be on gs://, s3:// or ram://, where os.path sees nothing.)
            self._disable_all(f"the log dir {self._run_dir!r} vanished during training; diagnostics are off for this fit")
            return
        self._steps_since_flush = 0
        for probe in self._probes_with("flush_documents"):
            with self._guard(probe.name):
                probe.flush_documents(self._writer)
        last_step = self._counter.read()
        if last_step <= self._last_written_step:
            with self._guard("writer"):
                self._writer.flush()
            return
        first_step = max(self._last_written_step + 1, last_step - self._capacity + 1)
        if first_step > self._last_written_step + 1:
            self._warn("buffer", f"steps {self._last_written_step + 1}..{first_step - 1} were overwritten before they were written")
        for probe in list(self._probes):
            with self._guard(probe.name):
                probe.flush(self._writer, first_step, last_step)
        with self._guard("writer"):
            self._writer.flush()
        self._last_written_step = last_step

    @contextlib.contextmanager
    def _guard(self, component: str) -> Iterator[None]:
        """Turns a failure into one warning: a probe's disables that probe, anything else disables all."""
        try:
            yield
        except Exception as error:
            cause = f"{type(error).__name__}: {error}"
            self._failed_this_fit = True
            if component in PROBES:
                _tell_disabled([probe for probe in self._probes if probe.name == component])
                self._probes = [probe for probe in self._probes if probe.name != component]
                self._batch_watchers = [probe for probe in self._batch_watchers if probe.name != component]
                self._stoppers = [probe for probe in self._stoppers if probe.name != component]
                self._warn(component, f"disabled the {component} probe after {cause}; training continues")
            else:
                self._disable_all(f"the {component} failed ({cause}); all diagnostics are off for this fit, training continues")

    def _disable_all(self, reason: str) -> None:
        """Stops recording for the rest of this fit; the hooks stay until on_train_end removes them."""
        self._warn("tb_diag", reason)
        self._failed_this_fit = True
        _tell_disabled(self._probes)
        self._probes = []
        self._batch_watchers = []
        self._stoppers = []
        writer, self._writer = self._writer, None
        if writer is not None:
            try:
                writer.close()
            except Exception:  # Already failing; the warning above is the one the user needs.
                pass

    def _warn(self, cause: str, message: str) -> None:
        if cause in self._warned:
            return
        self._warned.add(cause)
        warnings.warn(f"tb_diag: {message}", DiagnosticsWarning, stacklevel=3)


def unwritable_scheme_message(log_dir: str) -> str:
    """What to do when TensorFlow has no filesystem for ``log_dir``'s URL scheme (``s3://`` in
    TensorFlow 2.21, which dropped it): the callback writes through ``tf.io.gfile``."""
    scheme = log_dir.split("://", 1)[0] if "://" in log_dir else "?"
    return (
        f"TensorFlow {tf.__version__} cannot write {scheme}:// paths (no filesystem is registered for "
        f"that scheme), so diagnostics are off for this fit; training continues. Write to a local "
        f"log dir and copy it to the bucket (e.g. `aws s3 sync <local log dir> {log_dir}`), or "
        f"install a TensorFlow filesystem plugin for {scheme}://. TensorBoard and tb-diag read "
        f"s3:// without TensorFlow: pip install 'tb_diag[s3]'."
    )


@dataclasses.dataclass
class _ReplicaUpdate:
    """The recording replica's update, between its ``optimizer.apply`` and the gradients' all-reduce."""

    variables: dict[int, Any]
    update: ApplyStep | None = None
    states: dict[str, Any] = dataclasses.field(default_factory=dict)


@contextlib.contextmanager
def _local_variables(replicas: int) -> Iterator[None]:
    """Under several replicas, the buffers made here are plain variables of this worker, whatever
    strategy scope is active: no synchronisation, no collective op to create or read them."""
    if replicas == 1:
        yield
        return

    def local(next_creator: Any, **kwargs: Any) -> Any:
        # Constructing the class directly skips the variable creators, the strategy's included.
        return resource_variable_ops.ResourceVariable(**kwargs)

    with tf.variable_creator_scope(local):
        yield


def _first_replica(data: Any, strategy: Any) -> Any:
    """The first local replica's share of a distributed batch (a plain batch as it is)."""
    return tf.nest.map_structure(
        lambda item: strategy.experimental_local_results(item)[0] if isinstance(item, tf.distribute.DistributedValues) else item,
        data,
    )


def _recording_replica() -> bool:
    """Whether the code traced now is for the replica that records: the first one of this worker
    (true outside any replica context)."""
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return True
    replica = tf.get_static_value(context.replica_id_in_sync_group)
    local_replicas = len(context.strategy.extended.worker_devices)
    return replica is not None and replica % local_replicas == 0


def _tell_disabled(probes: Sequence[Probe]) -> None:
    """Calls ``on_disabled`` of each probe; a failure there changes nothing more (the warning that
    disabled them is already given)."""
    for probe in probes:
        try:
            probe.on_disabled()
        except Exception:  # noqa: BLE001 - already disabled; training goes on
            pass


def _variable_key(variable: Any) -> int:
    """Identifies a Keras variable and the TensorFlow variable it wraps as the same variable."""
    return id(variable.value if isinstance(variable, keras.Variable) else variable)


def _with_companions(apply_update: Any, update: ApplyStep) -> Any:
    """``apply_update`` followed by the companions the probes asked for, made in the same graph as
    the optimizer's ops (so that Grappler merges what they share, e.g. a sparse gradient densified)."""

    def run() -> None:
        apply_update()
        update.companions.here()

    return run


def _current_graph() -> Any:
    """The graph being traced into, or ``_EAGER_STEP`` when running eagerly."""
    return _EAGER_STEP if tf.executing_eagerly() else tf.compat.v1.get_default_graph()


# Stands for "the train step running eagerly" where a traced step would have its graph.
_EAGER_STEP = object()
# Keys of the step outputs that carry probes' signals to the host (taken out before Keras sees them).
SIGNAL_PREFIX = "tb_diag/"


def _loss_scale(optimizer: Any) -> Any | None:
    """The dynamic loss scale the gradients carry under mixed precision, read before the update."""
    if not isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return None
    if not optimizer.built:
        return None
    return tf.convert_to_tensor(optimizer.dynamic_scale)
