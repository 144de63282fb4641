"""NaN/Inf origin probe: finds the first non-finite value of a step and keeps the last good weights.

Every step pays for one cheap screen: the sum of the gradients' values and the loss (one fused
pass over each gradient; large gradients share the gradients probe's pass: see ``_gradient_screen``).
A NaN or Inf anywhere in the batch or the forward pass that can change the update reaches one of
them. Only when the screen fails does the step (in the other branch of a ``tf.cond``) take exact
per-tensor counts over the batch and every gradient and tell the input, loss and backward phases
apart. How the bad update is kept out of the weights depends on the fit (``update_mode``):
"restored" (the default) lets the update run and puts back a copy the bad step took of the
weights and optimizer state (``WeightSnapshot``), after the execution; "held" (XLA, loss scaling)
holds the optimizer's writes back until the written values are known to be finite, so an update
that would make them non-finite never lands (except in weights of over ``HELD_WRITE_MAX_ELEMENTS``
values, whose writes land at once and are screened on sampled steps); "watched" (several
replicas) only checks after the fact.

Which layer of the forward pass went non-finite first is found on the host, after the execution,
and only for a bad step: the rare branch keeps that step's model input (under XLA, which cannot
change a variable's shape, the outer train function does), and the forward pass runs again on it,
eagerly, with the layer calls observed. Nothing of that is in the traced
step, so a healthy run never traces, compiles or runs it (on a 150-layer model, tracing a second
forward pass into the step cost about as much as tracing the step itself).
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf

from tb_diag import schema
from tb_diag.core.hooks import InstanceMethodPatch
from tb_diag.core.ring_buffer import RingBuffer
from tb_diag.core.segments import concat_with_segments
from tb_diag.core.update_companions import UpdateCompanions
from tb_diag.core.writer import SummaryWriter
from tb_diag.nonfinite_origin import describe_event
from tb_diag.probes.base import ApplyStep, LayerCall, Probe, ProbeSetup
from tb_diag.probes.gradients import half_squared_norm
from tb_diag.vocabulary import HELD_WRITE_MAX_ELEMENTS, NAN_PHASES, NAN_STATS

ON_NAN_MODES = ("stop", "skip", "record")
# _meta: step, phase code (NAN_PHASES index + 1), loss, whether the update was applied, whether the
# model's weights are still those of the last good step.
_META = ("step", "phase", "loss", "applied", "weights_kept")
# Rows of the in-graph detail buffer: the batch's float tensors.
MAX_INPUT_ROWS = 16
# Bad steps looked at in full on the host between two flushes (each costs one eager forward pass);
# later ones keep the phase the step itself could tell (input, loss, backward, update).
MAX_DIAGNOSED_PER_FLUSH = 8
SIGNAL_STOPPED = "tb_diag/nonfinite_stopped"
SIGNAL_BAD_STEPS = "tb_diag/nonfinite_bad_steps"


class NonfiniteProbe(Probe):
    """Detects non-finite values every step and records where they started.

    Phases, checked in this order on the first bad step: ``input`` (a float tensor of the batch:
    inputs, targets, sample weights), ``forward`` (the first layer call, in call order, whose output
    is non-finite), ``loss``, ``backward`` (gradients; under a ``LossScaleOptimizer`` these are its
    business: a loss-scale skip is recorded as such, not as an event), ``update`` (weights the update
    would make non-finite). What the step does then depends on ``on_nan``:

    * ``"stop"``: the update is not applied (or, in the "restored" mode, undone after the
      execution), the model keeps the weights of the last good step, and ``fit`` stops after the
      current execution (later steps of it change nothing).
    * ``"skip"``: the update is not applied and training continues with the next batch.
    * ``"record"``: only records; the update is applied as it would be without tb_diag.

    Host side, per flush: the first bad step since the last flush in full detail (a
    ``schema.NONFINITE`` document), the list of bad steps and what was done (``NONFINITE_STEPS``),
    and under mixed precision the loss scale and overflow skips of every step (``LOSS_SCALE``).
    """

    name = "nonfinite"
    under_replicas = (
        "detected on the summed gradients and on the first replica's share of the batch, loss and "
        "forward pass; the update cannot be held back (weights_kept false), and on_nan='stop' stops "
        "after the current execution"
    )
    wants_layer_calls = True
    # Without layer calls a forward-pass NaN is still caught (as the loss or the gradients).
    layer_calls_optional = True

    def start(self, setup: ProbeSetup) -> None:
        self._on_nan = setup.on_nan
        self._optimizer = setup.model.optimizer
        self._loss_scaled = isinstance(self._optimizer, keras.optimizers.LossScaleOptimizer)
        self._update_mode = update_mode(setup.replicas, setup.model, setup.on_nan)
        # "restored" mode: the copy a bad step makes of the weights and optimizer state (none under
        # "record", which changes nothing).
        self._snapshot: WeightSnapshot | None = None
        if self._update_mode == "watched" and setup.on_nan == "skip":
            setup.warn(
                f"{self.name}_skip",
                "on_nan='skip' cannot drop an update with several replicas: bad steps are recorded and training continues",
            )
        self._layer_paths = list(setup.layers.paths)
        self._batch: list[tuple[str, Any]] | None = None
        self._model = setup.model
        # Input rows in the order traces first saw them (the same in every trace).
        self._rows: list[dict] = []
        self._rows_index: dict[str, int] = {}
        self._retrace = False
        self._functions: dict[tuple, Any] = {}  # XLA-compiled statistics, per traced structure
        layer_count = len(self._layer_paths)
        with tf.init_scope():
            self._stopped = tf.Variable(False, trainable=False, name="tb_diag_nonfinite_stopped")
            self._captured = tf.Variable(False, trainable=False, name="tb_diag_nonfinite_captured")
            self._bad_count = tf.Variable(np.int64(0), trainable=False, name="tb_diag_nonfinite_count")
            self._meta = tf.Variable(tf.zeros([len(_META)], tf.float64), trainable=False, name="tb_diag_nonfinite_meta")
            self._layer_detail = tf.Variable(
                tf.zeros([layer_count, 2 * len(NAN_STATS)]), trainable=False, name="tb_diag_nonfinite_layers"
            )
            # Created now: tf.function allows new variables only in a first trace.
            self._row_capacity = MAX_INPUT_ROWS
            self._row_detail = tf.Variable(tf.zeros([self._row_capacity, len(NAN_STATS)]), trainable=False, name="tb_diag_nonfinite_rows")
            # (step, phase code, applied) written only by bad steps; rows of other steps are stale.
            self._bad_steps = RingBuffer("nonfinite_steps", (3,), setup.capacity, dtype=tf.float64)
            # (step, scale, overflow): steps traced before the probe could record have stale rows.
            self._loss_scale = (
                RingBuffer("loss_scale", (1 + len(schema.LOSS_SCALE.metrics),), setup.capacity, dtype=tf.float64)
                if self._loss_scaled
                else None
            )
            # The model input of the captured bad step, for the forward pass on the host.
            self._kept_input = KeptInput.for_iterator(setup.input_iterator) if setup.replicas == 1 else None
            if self._update_mode == "restored" and setup.on_nan != "record":
                # Now, in the first trace (tf.function creates variables in no other): the
                # optimizer's variables must exist, so it is built here as its apply would.
                self._build_optimizer()
                # Non-trainable ones too: BatchNorm's moving statistics as the bad step's forward
                # pass left them (as in the held mode), not as later steps of its execution would.
                self._snapshot = WeightSnapshot(
                    [*setup.model.trainable_variables, *self._optimizer.variables, *setup.model.non_trainable_variables]
                )
        # Outside XLA the rare branch keeps the model input itself; an XLA-compiled step cannot
        # change a variable's shape, so there the outer train loop keeps it (one check per step).
        self._keep_in_step = not setup.model.jit_compile
        self._x: list[Any] | None = None

    def begin_fit(self, setup: ProbeSetup) -> None:
        self._warn = setup.warn
        self._epoch = setup.epoch
        self._rerun_forward = setup.rerun_forward
        # Host side: the first diagnosed event since the last flush (written then), the phase
        # found for each diagnosed step, and how many were diagnosed since the last flush.
        self._event: dict | None = None
        self._diagnosed_phases: dict[int, str] = {}
        self._diagnosed_since_flush = 0
        self._reported_bad_steps = 0
        self._stop_reported = False
        self._steps_document_written = False
        for flag in (self._stopped, self._captured):
            flag.assign(False)
        self._bad_count.assign(0)
        if self._snapshot is not None:
            # A copy an earlier fit left would be stale.
            self._snapshot.discard()
            self._snapshot.enabled.assign(True)

    # While the step is traced ---------------------------------------------------------------------

    def on_step_start(self, data: Any, sampled: bool) -> None:
        self._batch = batch_tensors(data)
        self._x = _model_input(data) if self._kept_input is not None and self._keep_in_step else None

    def before_apply(self, update: ApplyStep) -> Any:
        """With several replicas only (``guard_apply`` otherwise): the screen and, on a bad step,
        the diagnosis, before the update that cannot be held back."""
        if self._update_mode != "watched":
            return None
        batch, self._batch = self._batch, None
        if batch is None:
            self._retrace = True
            return None
        healthy = _step_is_finite(update)
        tf.cond(healthy, lambda: tf.constant(0), lambda: self._diagnose(update, batch))
        return healthy

    def after_apply(self, update: ApplyStep, state: Any) -> None:
        """With several replicas: a clean step whose update made a weight non-finite (update phase)."""
        if state is not None:
            self._check_weights_after(update, only_if=state)

    def guard_apply(self, update: ApplyStep, apply_update: Any) -> None:
        batch, self._batch = self._batch, None
        if batch is None:
            # The model was built by this very step's forward pass, before the probe existed.
            self._retrace = True
            apply_update()
            return
        # Its variables must not be created inside a branch.
        self._build_optimizer()
        if self._update_mode == "restored":
            self._restorable_update(update, batch, apply_update)
            return
        # A NaN/Inf anywhere in the batch or the forward pass that can change this update reaches
        # the loss or a gradient (NaN * 0 is NaN): screening those two is enough to know *that*
        # the step went bad, and far cheaper than a pass over every layer output. *Where* is found
        # in the other branch, by running the forward pass again.
        # Under loss scaling the screen also tells the LossScaleOptimizer's overflows apart: a plain
        # sum, which overflows only where the optimizer's own finiteness check would fire.
        grad_screen = _screen_all(update.grads) if self._loss_scaled else _gradient_screen(update.grads)
        terms = [grad_screen] + ([_screen(update.loss)] if update.loss is not None else [])
        if self._loss_scaled:
            # Overflowing scaled gradients are the LossScaleOptimizer's business (it skips the
            # update and lowers the scale): recorded as such, an event only if the batch, the
            # forward pass or the loss holds a NaN/Inf too (checked in the other branch).
            scale = update.loss_scale if update.loss_scale is not None else tf.constant(1.0)
            overflow = tf.cast(tf.logical_not(tf.math.is_finite(grad_screen)), tf.float64)
            self._loss_scale.record(update.step, tf.stack([tf.cast(update.step, tf.float64), tf.cast(scale, tf.float64), overflow]))
        healthy = tf.logical_and(tf.math.is_finite(tf.add_n(terms)), tf.logical_not(self._stopped))
        # Two small conditionals instead of one holding everything: outside XLA a conditional is
        # lowered to Switch/Merge and every op of the branch not taken still costs a little, so the
        # rare branch is kept to one XLA call plus a few writes, and the update is not duplicated.
        phase = tf.cond(healthy, lambda: tf.constant(0), lambda: self._diagnose(update, batch))
        # Every branch hands out the companions (made beside the update where it runs).
        companions = update.companions
        if self._on_nan == "record":
            # As without tb_diag (a bad step's update may carry NaN into the weights); only a step
            # that was clean so far has its update checked.
            outputs = tf.cond(
                phase > 0,
                lambda: _ran(apply_update, companions),
                lambda: _ran(lambda: self._update(update, apply_update), companions),
            )
        else:
            # phase -1: an earlier step of this execution stopped training.
            outputs = tf.cond(
                tf.equal(phase, 0),
                lambda: _ran(lambda: self._update(update, apply_update), companions),
                lambda: _ran(lambda: None, companions),
            )
        companions.resolve(outputs[1:])

    def _build_optimizer(self) -> None:
        """Builds the optimizer (outside any function being traced) as its ``apply`` would, if not yet."""
        if not self._optimizer.built:
            with tf.init_scope():
                self._optimizer.build(self._model.trainable_variables)

    def _restorable_update(self, update: ApplyStep, batch: list, apply_update: Any) -> None:
        """The "restored" mode: the update runs as without tb_diag, after the same screen; a bad
        step first copies the weights and the optimizer's state (``WeightSnapshot``), which the
        host puts back after the execution (``stop_reason``), under ``"stop"`` and ``"skip"``.

        Nothing waits for the screen but the rare branch (and the writes to what it reads), and
        no write is held: on DenseNet121 holding the writes cost 1.04x plain's step, against 1.026x
        for the update run plainly after the screen (docs/benchmark.md). What it gives up: an update
        that makes the weights non-finite from finite gradients is found on a sampled step or by
        the next step, and those weights are not kept.
        """
        snapshot = self._snapshot

        def diagnose() -> Any:
            phase = self._diagnose(update, batch, weights_kept=snapshot is not None and snapshot.complete)
            if snapshot is not None:
                # Only the first bad step of an execution: the host restores after each execution.
                first = tf.logical_and(tf.logical_and(phase > 0, tf.logical_not(snapshot.pending)), snapshot.enabled)
                tf.cond(first, lambda: _ran(snapshot.keep), lambda: tf.constant(0))
            return phase

        phase = tf.cond(_step_is_finite(update), lambda: tf.constant(0), diagnose)
        apply_update()
        if update.sampled:
            # A clean step whose update made a weight non-finite (found on sampled steps only).
            self._check_weights_after(update, only_if=tf.equal(phase, 0))

    def _diagnose(self, update: ApplyStep, batch: list, weights_kept: bool | None = None) -> Any:
        """The rare branch: exact counts per tensor, the phase (0: a false alarm, -1: stopped
        earlier), and the record. Returns the phase code.

        The phase told here is input, loss or backward: whether the forward pass went non-finite
        first (and in which layer) is found on the host (``_diagnose_captured``), so this branch
        holds no second forward pass (capturing the step's own activations instead kept them alive
        and cost ~9% of a small CNN's step, every step).
        """
        self._add_rows(batch)
        x, self._x = self._x, None
        if x is not None and self._kept_input.matches(x):
            # Only for the first bad step the host has not looked at yet.
            tf.cond(self._captured, lambda: tf.constant(0), lambda: _ran(lambda: self._kept_input.keep(x, update.step)))
        rows, layers, phase = self._statistics(update, batch)
        if self._loss_scaled:
            # Gradients alone are a loss-scale overflow: the LossScaleOptimizer's business.
            phase = tf.where(tf.equal(phase, NAN_PHASES.index("backward") + 1), 0, phase)
        phase = tf.where(self._stopped, -1, phase)
        loss = _loss64(update)
        self._record(update.step, phase, loss, layers=layers, rows=rows, weights_kept=weights_kept)
        return phase

    def _statistics(self, update: ApplyStep, batch: list) -> tuple[Any, Any, Any]:
        """``(rows [row capacity, 4], layers [layers, 8], phase)`` in ONE XLA-compiled call: the
        batch's tensors, each layer's gradients and weights, and the phase they tell (input, loss
        or backward; 0 if every value is finite)."""
        index = [self._rows_index.get(name, -1) for name, _ in batch]
        key = ("pre", tuple(index), tuple(update.layer_ids), update.loss is not None)
        function = self._functions.get(key)
        if function is None:
            layer_ids = list(update.layer_ids)
            row_capacity, layer_count, with_loss = self._row_capacity, len(self._layer_paths), update.loss is not None

            def statistics(batch_tensors: list, grads: list, weights: list, loss: Any) -> Any:
                input_stats = [nonfinite_stats([t]) for t in batch_tensors]
                rows = tf.zeros([row_capacity, len(NAN_STATS)])
                kept = [(i, row) for i, row in zip(index, input_stats) if i >= 0]
                if kept:
                    rows = tf.tensor_scatter_nd_update(rows, [[i] for i, _ in kept], tf.stack([row for _, row in kept]))
                grad_stats = layer_stats(grads, layer_ids, layer_count)
                layers = tf.concat([grad_stats, layer_stats(weights, layer_ids, layer_count)], 1)
                checks = {
                    NAN_PHASES.index("input") + 1: _any_bad(input_stats),
                    NAN_PHASES.index("loss") + 1: tf.logical_not(tf.math.is_finite(loss)) if with_loss else tf.constant(False),
                    NAN_PHASES.index("backward") + 1: _bad(grad_stats),
                }
                phase = tf.constant(0)
                for code in sorted(checks, reverse=True):
                    phase = tf.where(checks[code], code, phase)
                return rows, layers, phase

            function = tf.function(statistics, jit_compile=True, autograph=False, reduce_retracing=True)
            self._functions[key] = function
        return function(
            [tensor for _, tensor in batch],
            [_values(g) for g in update.grads],
            [tf.convert_to_tensor(v) for v in update.variables],
            tf.cast(update.loss, tf.float32) if update.loss is not None else tf.constant(0.0),
        )

    def _update(self, update: ApplyStep, apply_update: Any) -> None:
        """Runs the update with the model weights' assignments held until their values are finite."""
        target = self._optimizer.inner_optimizer if self._loss_scaled else self._optimizer
        if getattr(target, "use_ema", False) or getattr(target, "gradient_accumulation_steps", None):
            # The update happens inside the optimizer's own branches or is read back by its EMA:
            # holding the writes back would change its result. Detect, but the weights cannot be kept.
            apply_update()
            self._check_weights_after(update)
            return
        layer_of = {id(_tf_variable(v)): layer for v, layer in zip(update.variables, update.layer_ids)}
        # (write, variable, value, layer) in the order the optimizer asked for them.
        pending: list[tuple[Any, Any, Any, int]] = []
        # Weights too large to screen every step (see HELD_WRITE_MAX_ELEMENTS): written at once.
        unheld: list[tuple[Any, int]] = []

        def held(original: Any, variable: Any, value: Any) -> Any:
            tf_var = _tf_variable(variable)
            if id(tf_var) not in layer_of or isinstance(value, tf.IndexedSlices):
                return original(variable, value)
            if _too_large_to_hold(tf_var):
                unheld.append((variable, layer_of[id(tf_var)]))
                return original(variable, value)
            pending.append((original, variable, value, layer_of[id(tf_var)]))
            return None

        def apply_gradients(original: Any, grads: Any, trainable_variables: Any) -> Any:
            result = original(grads, trainable_variables)
            self._commit_if_finite(update, list(pending), some_unheld=bool(unheld))
            pending.clear()
            return result

        patches = [InstanceMethodPatch(target, kind, held) for kind in ("assign", "assign_add", "assign_sub")]
        patches.append(InstanceMethodPatch(target, "_backend_apply_gradients", apply_gradients))
        for patch in patches:
            patch.install()
        try:
            apply_update()
        finally:
            for patch in reversed(patches):
                patch.remove()
        if unheld and update.sampled:
            # Their writes landed: screened on sampled steps only, detected (weights not kept).
            self._check_weights_after(update, variables=[v for v, _ in unheld], layer_ids=[layer for _, layer in unheld])

    def _commit_if_finite(self, update: ApplyStep, pending: list[tuple[Any, Any, Any, int]], some_unheld: bool = False) -> None:
        """Makes the held writes if every value written is finite; else records the update phase.

        The screen reads each written value (the delta of ``assign_add``/``assign_sub``): one
        reduction per variable, the writes themselves unchanged. A finite delta could only make a
        weight non-finite if that weight were already beyond ~1e38.
        """
        if not pending:
            return

        def commit() -> Any:
            for write, variable, value, _ in pending:
                write(variable, value)
            return tf.constant(0)

        def reject() -> Any:
            phase, layers = self._update_statistics(update, pending)
            phase = tf.where(self._stopped, -1, phase)
            loss = _loss64(update)
            # Writes too large to hold have landed already: the weights are not all kept.
            self._record(update.step, phase, loss, layers=layers, rows=None, weights_kept=False if some_unheld else None)
            return phase

        screen = _screen_all([value for _, _, value, _ in pending])
        if self._on_nan == "record":
            tf.cond(tf.math.is_finite(screen), lambda: tf.constant(0), reject)
            commit()
            return
        phase = tf.cond(tf.math.is_finite(screen), lambda: tf.constant(0), reject)
        tf.cond(tf.equal(phase, 0), commit, lambda: tf.constant(0))

    def _update_statistics(self, update: ApplyStep, pending: list[tuple[Any, Any, Any, int]]) -> tuple[Any, Any]:
        """``(phase, layers [layers, 8])`` for held writes: the update phase if a written value is
        non-finite (else 0: the screen's sum overflowed), with the weights they would give."""
        kinds = tuple(getattr(write, "__name__", "assign") for write, _, _, _ in pending)
        pending_layers = [layer for _, _, _, layer in pending]
        key = ("update", kinds, tuple(pending_layers), tuple(update.layer_ids))
        function = self._functions.get(key)
        if function is None:
            layer_ids, layer_count = list(update.layer_ids), len(self._layer_paths)

            def statistics(grads: list, currents: list, values: list) -> Any:
                new_weights = []
                for kind, current, value in zip(kinds, currents, values):
                    value = tf.cast(value, current.dtype)
                    new_weights.append(value if kind == "assign" else current + value if kind == "assign_add" else current - value)
                written = layer_stats(values, pending_layers, layer_count)
                after = layer_stats(new_weights, pending_layers, layer_count)
                phase = tf.where(tf.logical_or(_bad(written), _bad(after)), len(NAN_PHASES), 0)
                return phase, tf.concat([layer_stats(grads, layer_ids, layer_count), after], 1)

            function = tf.function(statistics, jit_compile=True, autograph=False, reduce_retracing=True)
            self._functions[key] = function
        return function(
            [_values(g) for g in update.grads],
            [tf.convert_to_tensor(_tf_variable(variable)) for _, variable, _, _ in pending],
            [value for _, _, value, _ in pending],
        )

    def _check_weights_after(
        self, update: ApplyStep, only_if: Any = True, variables: list[Any] | None = None, layer_ids: list[int] | None = None
    ) -> None:
        """Detection only, for updates that cannot be held back: weights after the update (when
        ``only_if``, e.g. the step was clean before its update); all of the update's variables,
        or ``variables`` of ``layer_ids``."""
        if variables is None:
            variables, layer_ids = list(update.variables), list(update.layer_ids)
        weights = [tf.convert_to_tensor(v) for v in variables]
        if not weights:
            return

        def record() -> Any:
            layer_count = len(self._layer_paths)
            after = layer_stats(weights, layer_ids, layer_count)
            phase = tf.where(self._stopped, -1, tf.where(_bad(after), len(NAN_PHASES), 0))
            loss = _loss64(update)
            layers = tf.concat([layer_stats([_values(g) for g in update.grads], update.layer_ids, layer_count), after], 1)
            self._record(update.step, phase, loss, layers=layers, rows=None, weights_kept=False)
            return phase

        clean = tf.math.is_finite(_screen_all(weights))
        tf.cond(tf.logical_or(clean, tf.logical_not(only_if)), lambda: tf.constant(0), record)

    def _record(self, step: Any, phase: Any, loss: Any, layers: Any, rows: Any, weights_kept: bool | None = None) -> None:
        """Records a bad step (``phase > 0``; otherwise nothing changes), in the detail if it is the
        first since the last flush; under ``"stop"`` marks training stopped. Writes, no branches."""
        bad = phase > 0
        # A restored update is undone on the host: not applied, as a held one.
        applied = self._on_nan == "record" or self._update_mode == "watched"
        kept = (not applied) if weights_kept is None else weights_kept
        self._bad_count.assign_add(tf.cast(bad, tf.int64))
        step64, phase64 = tf.cast(step, tf.float64), tf.cast(phase, tf.float64)
        # A row whose phase is 0 is not a bad step (the host reads rows with phase > 0 only).
        self._bad_steps.record(step, tf.stack([step64, tf.where(bad, phase64, 0.0), float(applied)]))
        first = tf.logical_and(bad, tf.logical_not(self._captured))
        self._meta.assign(tf.where(first, tf.stack([step64, phase64, loss, float(applied), float(kept)]), self._meta))
        self._layer_detail.assign(tf.where(first, layers, self._layer_detail))
        self._row_detail.assign(tf.where(first, rows if rows is not None else tf.zeros_like(self._row_detail), self._row_detail))
        self._captured.assign(tf.logical_or(self._captured, bad))
        if self._on_nan == "stop":
            self._stopped.assign(tf.logical_or(self._stopped, bad))

    def _add_rows(self, batch: list) -> None:
        """Gives every batch tensor this trace saw a row of the detail buffer (if there is room)."""
        for name, _ in batch:
            row = {"name": name, "layer": name, "kind": "input"}
            if row["name"] in self._rows_index:
                continue
            if len(self._rows) == self._row_capacity:
                self._warn(f"{self.name}_rows", f"more than {self._row_capacity} batch tensors: NaN/Inf counts are kept for the first {self._row_capacity}")
                return
            self._rows_index[row["name"]] = len(self._rows)
            self._rows.append(row)

    def step_signals(self) -> dict[str, Any]:
        return {SIGNAL_STOPPED: self._stopped.read_value(), SIGNAL_BAD_STEPS: self._bad_count.read_value()}

    def after_step(self, step: Any, times: Any, data: Any) -> None:
        """With an XLA-compiled step, in the outer loop after each step: keeps the model input of
        the step just captured as bad (one comparison per step; the copy only for that step)."""
        if self._kept_input is None or self._keep_in_step:
            return
        values = _model_input(data)
        if not self._kept_input.matches(values):
            return
        captured_now = tf.logical_and(self._captured, tf.equal(tf.cast(self._meta[0], tf.int64), step))
        tf.cond(captured_now, lambda: _ran(lambda: self._kept_input.keep(values, step)), lambda: tf.constant(0))

    # On the host --------------------------------------------------------------------------------------

    def on_disabled(self) -> None:
        """A failure disabled the probe: a bad step's copy is put back now, and no more are taken
        (the traced step keeps running until ``fit`` ends, with nobody to put one back)."""
        if self._snapshot is not None:
            with tf.init_scope():  # also when the failure came while a step was being traced
                self._snapshot.switch_off()

    def needs_retrace(self) -> bool:
        retrace, self._retrace = self._retrace, False
        return retrace

    def on_epoch_begin(self, epoch: int) -> None:
        self._epoch = epoch

    def stop_reason(self, signals: dict[str, Any]) -> str | None:
        if SIGNAL_BAD_STEPS in signals:
            bad_steps, stopped = int(signals[SIGNAL_BAD_STEPS]), bool(signals[SIGNAL_STOPPED])
        else:
            bad_steps, stopped = int(self._bad_count.numpy()), bool(self._stopped.numpy())
        if bad_steps == self._reported_bad_steps:
            return None
        first_report = self._reported_bad_steps == 0
        self._reported_bad_steps = bad_steps
        if self._snapshot is not None:
            # Before the forward pass runs again: it sees the bad step's own weights.
            self._snapshot.restore()
        diagnosed = self._diagnose_captured()
        if stopped and not self._stop_reported:
            self._stop_reported = True
            return f"stopped training: {self._describe_event()}"
        if diagnosed is not None and self._on_nan == "skip" and not diagnosed["weights_kept"] and not self._stop_reported:
            # Non-finite weights had already landed (an update from finite gradients, or a weight
            # too large to hold): every later step would be bad and skipped.
            self._stop_reported = True
            return f"stopped training: {describe_event(diagnosed)}; skipping bad steps cannot undo weights that are already non-finite"
        if first_report and self._on_nan != "stop":
            self._warn(self.name, f"{self._describe_event()}; training continues (on_nan={self._on_nan!r})")
        return None

    def _describe_event(self) -> str:
        return describe_event(self._event) if self._event is not None else "non-finite values appeared"

    def _diagnose_captured(self) -> dict | None:
        """Turns the bad step the graph captured into a ``schema.NONFINITE`` document, with the
        forward pass looked at again on the host; then frees the capture for the next bad step
        (up to ``MAX_DIAGNOSED_PER_FLUSH`` between two flushes). Returns the document (``None``:
        nothing was captured)."""
        if not bool(self._captured.numpy()):
            return None
        document = self._event_document()
        self._diagnosed_phases[document["step"]] = document["phase"]
        if self._event is None:
            self._event = document
        self._diagnosed_since_flush += 1
        if self._diagnosed_since_flush < MAX_DIAGNOSED_PER_FLUSH:
            self._captured.assign(False)
        return document

    def _event_document(self) -> dict:
        """The captured bad step as a ``schema.NONFINITE`` document."""
        meta = dict(zip(_META, self._meta.numpy().tolist()))
        step, phase_code = int(meta["step"]), int(meta["phase"])
        applied = bool(meta["applied"])
        action = "recorded" if applied else "stopped" if self._on_nan == "stop" else "skipped"
        layers = self._layer_detail.numpy()
        rows = self._row_detail.numpy() if phase_code < len(NAN_PHASES) else None
        width = len(NAN_STATS)
        document = {
            "step": step,
            "epoch": self._epoch,
            "phase": NAN_PHASES[phase_code - 1] if 1 <= phase_code <= len(NAN_PHASES) else "unknown",
            "on_nan": self._on_nan,
            "action": action,
            "weights_kept": bool(meta["weights_kept"]),
            "loss": _json_float(meta["loss"]),
            "loss_seen": bool(np.isfinite(meta["loss"])) or phase_code == 3,
            "layers": [
                {"layer": path, "grad": _stats_dict(layers[i, :width]), "weights": _stats_dict(layers[i, width:])}
                for i, path in enumerate(self._layer_paths)
            ],
            "inputs": [],
            "calls": [],
        }
        for row, values in zip(self._rows, rows if rows is not None else []):
            document["inputs"].append({"name": row["name"], **_stats_dict(values)})
        if document["phase"] in ("loss", "backward"):
            # Finite batch: did the forward pass go non-finite first?
            document["calls"] = self._forward_on_host(step)
            if any(_has_nonfinite(call["out"]) for call in document["calls"]):
                document["phase"] = "forward"
        if document["phase"] in ("forward", "loss", "backward") and any(_has_nonfinite(layer["weights"]) for layer in document["layers"]):
            # The step began with non-finite weights: an earlier update that was not held back wrote
            # them (a weight above HELD_WRITE_MAX_ELEMENTS, an EMA optimizer, on_nan="record").
            document["phase"] = "update"
            document["weights_kept"] = False
        return document

    def _forward_on_host(self, step: int) -> list[dict]:
        """Every leaf layer call's input and output counts, from the forward pass run again on
        the host on the bad step's model input ([] if that input was not kept).

        Weights are the bad step's when its update was held back and no later step has run
        (``on_nan="stop"``, or one step per execution); Dropout draws new masks. Variables the
        forward pass writes (BatchNorm's moving statistics, random seeds) are put back after it.
        """
        x = self._kept_input.value_for(step) if self._kept_input is not None else None
        if x is None:
            return []
        state = [(variable, variable.numpy()) for variable in self._model.non_trainable_variables]
        try:
            calls = _named_calls(self._rerun_forward(x))
        except Exception as error:  # the step's own phase stands; say why there is no more detail
            self._warn(f"{self.name}_forward", f"could not run the forward pass again to locate the NaN/Inf ({type(error).__name__}: {error})")
            return []
        finally:
            for variable, value in state:
                variable.assign(value)
        return [
            {"name": name, "layer": layer, "in": _stats_dict(nonfinite_stats(inputs).numpy()), "out": _stats_dict(nonfinite_stats(outputs).numpy())}
            for name, layer, inputs, outputs in calls
        ]

    def flush(self, writer: SummaryWriter, first_step: int, last_step: int) -> None:
        self._diagnose_captured()
        if self._event is not None:
            writer.write_document(schema.NONFINITE, self._event["step"], self._event)
            self._event = None
        self._captured.assign(False)
        self._diagnosed_since_flush = 0
        rows = self._bad_steps.read_steps(first_step, last_step)
        steps = np.arange(first_step, last_step + 1)
        bad = (rows[:, 0] == steps) & (rows[:, 1] > 0)
        if bad.any() or not self._steps_document_written:
            # Written at the first flush even when empty: the run shows the probe ran.
            self._steps_document_written = True
            listed = []
            for step, phase, applied in rows[bad].tolist():
                code = int(phase)
                told = NAN_PHASES[code - 1] if 1 <= code <= len(NAN_PHASES) else "unknown"
                listed.append({
                    "step": int(step),
                    "phase": self._diagnosed_phases.get(int(step), told),
                    "action": "recorded" if applied else "stopped" if self._on_nan == "stop" else "skipped",
                })
            writer.write_document(schema.NONFINITE_STEPS, last_step, {"on_nan": self._on_nan, "steps": listed})
        self._diagnosed_phases = {step: phase for step, phase in self._diagnosed_phases.items() if step > last_step}
        if self._loss_scale is not None:
            recorded = self._loss_scale.read_steps(first_step, last_step)
            block = recorded[:, 1:].copy()
            block[recorded[:, 0] != steps] = np.nan
            writer.write_block(schema.LOSS_SCALE, last_step, block)


class KeptInput:
    """Shapeless variables that keep one step's model input (``x``), written only for a bad step.

    Made from the iterator's element spec before anything is traced; a variable without a fixed
    shape costs no memory until a batch is kept. Written in the outer train function, never
    inside XLA (which cannot change a variable's shape).
    """

    def __init__(self, structure: Any, dtypes: list[tf.DType]):
        self._structure = structure
        self._dtypes = dtypes
        self._values = [tf.Variable(tf.zeros([0], dtype), shape=tf.TensorShape(None), trainable=False, name="tb_diag_kept_input") for dtype in dtypes]
        self._step = tf.Variable(np.int64(-1), trainable=False, name="tb_diag_kept_input_step")

    @classmethod
    def for_iterator(cls, iterator: Any) -> "KeptInput | None":
        """For the ``x`` part of what ``iterator`` yields; ``None`` when unknown or not numeric."""
        spec = getattr(iterator, "element_spec", None)
        if spec is None:
            return None
        x_spec = spec[0] if isinstance(spec, tuple) and spec else spec
        specs = tf.nest.flatten(x_spec)
        if not specs or not all(isinstance(s, tf.TensorSpec) and (s.dtype.is_floating or s.dtype.is_integer or s.dtype.is_bool) for s in specs):
            return None
        return cls(x_spec, [s.dtype for s in specs])

    def matches(self, values: list[Any]) -> bool:
        """Whether ``values`` (a flattened ``x``) are tensors of the kept dtypes."""
        return len(values) == len(self._dtypes) and all(isinstance(v, tf.Tensor) and v.dtype == d for v, d in zip(values, self._dtypes))

    def keep(self, values: list[Any], step: Any) -> None:
        """In the train function: keeps ``values`` as the input of ``step``."""
        for variable, value in zip(self._values, values):
            variable.assign(value)
        self._step.assign(step)

    def value_for(self, step: int) -> Any:
        """On the host: the kept ``x`` if it is the input of ``step``, else ``None``."""
        if int(self._step.numpy()) != step:
            return None
        return tf.nest.pack_sequence_as(self._structure, [tf.convert_to_tensor(v.numpy()) for v in self._values])


def update_mode(replicas: int, model: Any, on_nan: str) -> str:
    """How the probe keeps a bad step's update out of the weights.

    * ``"restored"`` (the default where it can be): the update runs as without tb_diag; a bad step
      copies the weights and optimizer state first, and the host puts them back after the execution.
    * ``"held"``: the optimizer's writes wait until their values are known to be finite. For an
      XLA-compiled step (which cannot write a variable of unknown shape, so cannot keep the copy),
      a ``LossScaleOptimizer`` (which skips overflowing updates in its own branch), ``"skip"``
      with several steps per execution (the later steps would train on the bad weights), and a
      model with a weight too large to copy (over ``HELD_WRITE_MAX_ELEMENTS`` values).
    * ``"watched"``: several replicas; the update happens in a cross-replica merge and is only
      checked after the fact.
    """
    if replicas > 1:
        return "watched"
    if model.jit_compile or isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer):
        return "held"
    if on_nan == "skip" and int(getattr(model, "steps_per_execution", 1) or 1) > 1:
        return "held"
    if any(_elements(_tf_variable(v)) == 0 or _too_large_to_hold(_tf_variable(v)) for v in model.trainable_variables):
        # A large embedding table (or a weight of unknown size) is not copied, so a bad step's
        # update would land in it: hold the update instead (it stays out of the bad step then).
        return "held"
    return "restored"


class WeightSnapshot:
    """A copy of variables taken in the train step only when a step goes bad, put back on the host.

    One shapeless variable per dtype holds the variables' values flattened end to end: it costs no
    memory until a copy is taken, and the copy is one concatenation in the rare branch. Variables
    of over ``HELD_WRITE_MAX_ELEMENTS`` values or of unknown size are left out (``complete`` is
    then false); ``update_mode`` keeps models with such a weight in the "held" mode, so only a
    large non-trainable variable can be left out here.
    """

    def __init__(self, variables: list[Any]):
        kept: dict[int, Any] = {}
        for variable in variables:
            kept.setdefault(id(_tf_variable(variable)), _tf_variable(variable))
        chosen = [v for v in kept.values() if _elements(v) > 0 and not _too_large_to_hold(v)]
        self.complete = len(chosen) == len(kept)
        self._groups: list[tuple[Any, list[Any]]] = []
        for dtype in dict.fromkeys(v.dtype for v in chosen):
            members = [v for v in chosen if v.dtype == dtype]
            buffer = tf.Variable(tf.zeros([0], dtype), shape=tf.TensorShape(None), trainable=False, name="tb_diag_weight_snapshot")
            self._groups.append((buffer, members))
        self.pending = tf.Variable(False, trainable=False, name="tb_diag_weight_snapshot_pending")
        # Switched off when the probe is disabled: no one would put a copy back.
        self.enabled = tf.Variable(True, trainable=False, name="tb_diag_weight_snapshot_enabled")

    def keep(self) -> None:
        """In the train step: copies every variable's current value."""
        for buffer, members in self._groups:
            buffer.assign(tf.concat([tf.reshape(tf.convert_to_tensor(v), [-1]) for v in members], 0))
        self.pending.assign(True)

    def restore(self) -> bool:
        """On the host: puts a pending copy back into the variables and frees it; whether there was one."""
        if not bool(self.pending.numpy()):
            return False
        for buffer, members in self._groups:
            flat, offset = buffer.numpy(), 0
            for variable in members:
                size = variable.shape.num_elements()
                variable.assign(flat[offset:offset + size].reshape(variable.shape))
                offset += size
        self.discard()
        return True

    def switch_off(self) -> None:
        """On the host: puts a pending copy back if it can, and takes no more."""
        self.enabled.assign(False)
        try:
            self.restore()
        finally:
            self.discard()

    def discard(self) -> None:
        """On the host: frees the copy without putting it back."""
        for buffer, _ in self._groups:
            buffer.assign(tf.zeros([0], buffer.dtype))
        self.pending.assign(False)


def _model_input(data: Any) -> list[Any]:
    """The batch's ``x``, flattened."""
    return tf.nest.flatten(data[0] if isinstance(data, (tuple, list)) and data else data)


def _named_calls(calls: list[LayerCall]) -> list[tuple[str, str, list[Any], list[Any]]]:
    """``(name, layer path, float inputs, float outputs)`` per call with a float output; a layer
    called again is named ``path#2``, ``path#3``..."""
    named: list[tuple[str, str, list[Any], list[Any]]] = []
    for call in calls:
        outputs = _float_tensors(call.outputs)
        if not outputs:
            continue
        calls_so_far = sum(1 for _, layer, _, _ in named if layer == call.path)
        name = call.path if calls_so_far == 0 else f"{call.path}#{calls_so_far + 1}"
        named.append((name, call.path, _float_tensors(call.inputs), outputs))
    return named


def batch_tensors(data: Any) -> list[tuple[str, Any]]:
    """The float tensors of a batch, named ``input``/``input:<key>``/``input_<i>`` (x), ``target...``
    (y) and ``sample_weight...``."""
    parts = list(data) if isinstance(data, (tuple, list)) else [data]
    named: list[tuple[str, Any]] = []
    for prefix, part in zip(("input", "target", "sample_weight"), parts):
        if isinstance(part, dict):
            named += [(f"{prefix}:{key}", value) for key, value in part.items()]
        elif isinstance(part, (tuple, list)):
            named += [(f"{prefix}_{i}", value) for i, value in enumerate(part)]
        else:
            named.append((prefix, part))
    return [(name, value) for name, value in named if isinstance(value, tf.Tensor) and value.dtype.is_floating]


def nonfinite_stats(tensors: list[Any]) -> tf.Tensor:
    """float32 ``[4]`` (see NAN_STATS) of the tensors together; 0s for no tensors."""
    rows = []
    for tensor in tensors:
        values = tensor.values if isinstance(tensor, tf.IndexedSlices) else tensor
        values = tf.reshape(tf.stop_gradient(values), [-1])
        count = lambda mask: tf.reduce_sum(tf.cast(mask, tf.float32))  # noqa: E731
        infinite = tf.math.is_inf(values)
        finite_abs = tf.where(tf.math.is_finite(values), tf.abs(values), tf.zeros_like(values))
        rows.append(tf.stack([
            count(tf.math.is_nan(values)),
            count(infinite & (values > 0)),
            count(infinite & (values < 0)),
            tf.cast(tf.reduce_max(tf.concat([finite_abs, tf.zeros([1], values.dtype)], 0)), tf.float32),
        ]))
    if not rows:
        return tf.zeros([len(NAN_STATS)])
    stacked = tf.stack(rows)
    return tf.concat([tf.reduce_sum(stacked[:, :3], 0), tf.reduce_max(stacked[:, 3:], 0)], 0)


def layer_stats(tensors: list[Any], layer_ids: list[int], layer_count: int) -> Any:
    """``[layer_count, 4]``: the NAN_STATS of each layer's tensors together (0s for a layer with none).

    The tensors of one dtype are flattened into one vector and counted with segment sums: a few
    ops per tensor instead of a dozen (tracing ~15 ops for each of a 150-layer model's 300+
    gradients and weights took longer than tracing its forward pass).
    """
    if not tensors:
        return tf.zeros([layer_count, len(NAN_STATS)])
    groups: dict[Any, tuple[list[Any], list[int]]] = {}
    for tensor, layer in zip(tensors, layer_ids):
        values = tf.stop_gradient(_values(tensor))
        flats, ids = groups.setdefault(values.dtype, ([], []))
        flats.append(values)
        ids.append(layer)
    parts = []
    for flats, ids in groups.values():
        values, positions = concat_with_segments(flats)
        segments = tf.gather(tf.constant(ids, tf.int32), positions)
        count = lambda mask: tf.math.unsorted_segment_sum(tf.cast(mask, tf.float32), segments, layer_count)  # noqa: E731
        infinite = tf.math.is_inf(values)
        finite_abs = tf.where(tf.math.is_finite(values), tf.abs(values), tf.zeros_like(values))
        largest = tf.maximum(tf.cast(tf.math.unsorted_segment_max(finite_abs, segments, layer_count), tf.float32), 0.0)
        parts.append(tf.stack([count(tf.math.is_nan(values)), count(infinite & (values > 0)), count(infinite & (values < 0)), largest], 1))
    if len(parts) == 1:
        return parts[0]
    stacked = tf.stack(parts)
    return tf.concat([tf.reduce_sum(stacked[:, :, :3], 0), tf.reduce_max(stacked[:, :, 3:], 0)], 1)


def _too_large_to_hold(variable: Any) -> bool:
    """Whether the variable's writes land at once (see ``vocabulary.HELD_WRITE_MAX_ELEMENTS``)."""
    return _elements(variable) > HELD_WRITE_MAX_ELEMENTS


def _ran(function: Any, companions: UpdateCompanions | None = None) -> Any:
    """Calls ``function`` (a branch with side effects only) and returns the dummy branch output,
    followed by the update's companions as this branch made them (when given)."""
    function()
    if companions is None:
        return tf.constant(0)
    return [tf.constant(0), *companions.here()]


def _values(tensor: Any) -> Any:
    return tensor.values if isinstance(tensor, tf.IndexedSlices) else tensor


def _any_bad(stats: list[Any]) -> Any:
    return tf.reduce_any(tf.stack([_bad(s) for s in stats])) if stats else tf.constant(False)


def _bad(stats: Any) -> Any:
    """Whether NAN_STATS rows (``[4]`` or ``[n, 4]``) count any NaN or Inf."""
    return tf.reduce_any(stats[..., :3] > 0)


def _screen(tensor: Any) -> Any:
    """The sum of a tensor's values as float32: non-finite if any value is (or if the sum overflows)."""
    values = tensor.values if isinstance(tensor, tf.IndexedSlices) else tensor
    if values.dtype.size < 4:
        # A float16 sum overflows at 65504: sum 16-bit values in float32.
        values = tf.cast(values, tf.float32)
    return tf.cast(tf.reduce_sum(values), tf.float32)


def _step_is_finite(update: ApplyStep) -> Any:
    """Whether the step's gradients and loss passed the screen (bool scalar; loss scaling aside)."""
    terms = [_gradient_screen(update.grads)] + ([_screen(update.loss)] if update.loss is not None else [])
    return tf.math.is_finite(tf.add_n(terms))


def _screen_all(tensors: list[Any]) -> Any:
    """The tensors' summed values (float32): non-finite if any value is (or if the sum overflows).

    Small gradients are screened this way (see ``_gradient_screen``), as are the held writes and
    the weights after an unheld update.
    """
    if not tensors:
        return tf.constant(0.0)
    return tf.add_n([_screen(t) for t in tensors])


# A dense gradient of more than this many values is screened by half its sum of squares: the very
# op the gradients probe takes for its norm, so the graph optimiser makes them one pass over it.
# A second pass over ResNet50's 23.6M gradient values cost ~2% of its step on CPU (lockstep A/B,
# 1.056x -> 1.035x); smaller tensors keep the plain sum (sharing every tensor's op between the
# screen, which decides the update's branch, and the norms, read after it, cost an LSTM text model
# 5-14%; all its dense gradients are below this).
SHARED_SCREEN_MIN_ELEMENTS = 1 << 18


def _gradient_screen(grads: list[Any]) -> Any:
    """The gradients' screen: non-finite if any value is (or if a sum overflows, a false alarm the
    rare branch tells apart). See ``SHARED_SCREEN_MIN_ELEMENTS`` for which tensors share the norms' op."""
    small, shared = [], []
    for grad in grads:
        if not isinstance(grad, tf.IndexedSlices) and _elements(grad) > SHARED_SCREEN_MIN_ELEMENTS:
            shared.append(half_squared_norm(grad))
        else:
            small.append(grad)
    return tf.add_n([_screen_all(small), *shared])


def _elements(tensor: Any) -> int:
    """How many values ``tensor`` (or a variable) holds; 0 when its shape is not fully known."""
    elements = tensor.shape.num_elements()
    return elements if elements is not None else 0


def _float_tensors(structure: Any) -> list[Any]:
    return [item for item in tf.nest.flatten(structure) if isinstance(item, tf.Tensor) and item.dtype.is_floating]


def _tf_variable(variable: Any) -> Any:
    return variable.value if isinstance(variable, keras.Variable) else variable


def _has_nonfinite(stats: dict) -> bool:
    return stats["nan"] + stats["posinf"] + stats["neginf"] > 0


def _stats_dict(values: Any) -> dict:
    nan, posinf, neginf, max_abs = (float(v) for v in values)
    return {"nan": int(nan), "posinf": int(posinf), "neginf": int(neginf), "max_abs": _json_float(max_abs)}


def _json_float(value: float) -> float | None:
    value = float(value)
    return value if np.isfinite(value) else None


def _loss64(update: ApplyStep) -> tf.Tensor:
    """The step's loss as float64 for the records, NaN when the step's loss was not seen."""
    return tf.cast(update.loss, tf.float64) if update.loss is not None else tf.constant(np.nan, tf.float64)
