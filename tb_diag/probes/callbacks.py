"""Callbacks probe: how much of each step the fit's other callbacks take in their batch hooks."""

from __future__ import annotations

import statistics
import time
from typing import Any

import keras

from tb_diag import schema
from tb_diag.core.hooks import InstanceMethodPatch
from tb_diag.core.writer import SummaryWriter
from tb_diag.probes.base import Probe, ProbeSetup

# Keras calls these around every execution; a callback that overrides none of them costs nothing per step.
BATCH_HOOKS = ("on_train_batch_begin", "on_train_batch_end")
OVERRIDABLE = BATCH_HOOKS + ("on_batch_begin", "on_batch_end")


class CallbacksProbe(Probe):
    """Times, on the host, the train-batch hooks of every other callback of the ``fit`` (the
    progress bar and a user's own callbacks included) and the whole loop from one execution to the
    next, and writes them at each flush window's end (one document: ``executions``, the median
    interval between two executions ``loop_median_s``, and ``callbacks``: ``[{"name", "position",
    "seconds" (total), "median_s", "slowest_s"}]``). Medians keep one-off costs (a retrace, a flush)
    out of the loop's typical interval; the total keeps a callback's periodic heavy work in its cost.

    The hooks are wrapped on the callback objects for the ``fit`` (a ``perf_counter`` pair per
    call, ~1 µs) and unwrapped at its end. Intervals that span an epoch's end (validation,
    epoch-end callbacks) or include the fit's first execution (tracing) are left out. Needs the
    fit's callback list (``tb_diag.core.fit_context``); without it the probe records nothing.
    """

    name = "callbacks"
    under_replicas = "the chief's callbacks"

    def start(self, setup: ProbeSetup) -> None:
        self._counter = setup.counter
        self._patches: list[InstanceMethodPatch] = []

    def begin_fit(self, setup: ProbeSetup) -> None:
        self.end_fit()
        # (position in the fit's callback list, callback) of those with per-batch hooks.
        timed_at = [(position, callback) for position, callback in enumerate(setup.fit.callbacks or ()) if _has_batch_hooks(callback)]
        timed = [callback for _, callback in timed_at]
        self._names = [type(callback).__name__ for callback in timed]
        self._positions = [position for position, _ in timed_at]
        # Seconds per timed callback since our last on_train_batch_end, then per interval of the window.
        self._pending = [0.0] * len(timed)
        self._window: list[list[float]] = [[] for _ in timed]
        self._intervals: list[float] = []
        self._last_end: float | None = None
        for index, callback in enumerate(timed):
            for hook in BATCH_HOOKS:
                self._patches.append(InstanceMethodPatch(callback, hook, self._timer(index)).install())

    def _timer(self, index: int) -> Any:
        def timed(original: Any, *args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self._pending[index] += time.perf_counter() - started

        return timed

    def on_epoch_begin(self, epoch: int) -> None:
        self._last_end = None

    def on_train_batch_end(self, steps: int) -> None:
        now = time.perf_counter()
        if self._last_end is not None:
            self._intervals.append(now - self._last_end)
            for index, seconds in enumerate(self._pending):
                self._window[index].append(seconds)
        self._pending = [0.0] * len(self._pending)
        self._last_end = now

    def flush(self, writer: SummaryWriter, first_step: int, last_step: int) -> None:
        """Nothing per step: the window's totals go out in ``flush_documents``."""

    def flush_documents(self, writer: SummaryWriter) -> None:
        if not self._names or not self._intervals:
            return
        writer.write_document(schema.CALLBACKS, self._counter.read(), {
            "executions": len(self._intervals),
            "loop_median_s": statistics.median(self._intervals),
            "callbacks": [
                {"name": name, "position": position, "seconds": sum(times), "median_s": statistics.median(times), "slowest_s": max(times)}
                for name, position, times in zip(self._names, self._positions, self._window)
            ],
        })
        self._window = [[] for _ in self._names]
        self._intervals = []

    def end_fit(self) -> None:
        for patch in self._patches:
            patch.remove()
        self._patches = []


def _has_batch_hooks(callback: Any) -> bool:
    """Whether ``callback``'s class overrides a hook Keras calls around every training batch."""
    return any(getattr(type(callback), hook, None) is not getattr(keras.callbacks.Callback, hook) for hook in OVERRIDABLE)
