"""Memory probe: host RSS across steps and fits, train-step retracing, and GPU memory per device."""

from __future__ import annotations

import gc
import itertools
import os
import socket
import weakref
from typing import Any, Callable, ClassVar

import numpy as np
import tensorflow as tf

from tb_diag import schema
from tb_diag.core.memory_profile import CaptureWindow
from tb_diag.core.memory_sources import GpuSource, TensorFlowNvmlSource, host_rss_bytes
from tb_diag.core.writer import SummaryWriter
from tb_diag.probes.base import Probe, ProbeSetup

# Every fit in this process that ran the memory probe gets the next number: growth across fits of
# one long-lived process (a notebook, a service retraining models) is what the viewer compares.
_FIT_NUMBERS = itertools.count(1)
# Models trained with tb_diag in this process; a model that is still alive here was not freed.
_MODELS_SEEN: "weakref.WeakSet[Any]" = weakref.WeakSet()
# Memory at the start of every fit of this process that ran the probe, in order.
_PROCESS_FITS: list[dict] = []


class MemoryProbe(Probe):
    """Records, at every flush (every ``flush_every_steps`` steps and at each epoch's end), on the
    host only (no op in the train step):

    * this process's resident set size, the number of this ``fit`` in the process, how many models
      trained with tb_diag in this process are still alive, and the same at the start of every
      earlier fit of the process;
    * the input signatures (shapes, dtypes) the train step was traced with;
    * per visible GPU, from ``source_factory()``: TensorFlow's allocator in-use and peak bytes, and
      from NVML the device total, the device's used memory and this process's.
    """

    name = "memory"
    under_replicas = "the memory of every GPU of the chief's host"
    # What reads the GPUs; tests replace it with a FakeGpuSource.
    source_factory: ClassVar[Callable[[], GpuSource]] = TensorFlowNvmlSource

    def start(self, setup: ProbeSetup) -> None:
        # Input signatures the two traces have seen (kept with the traces, as they are).
        self._signatures: dict[bool, set] = {False: set(), True: set()}
        self._counter = setup.counter

    def begin_fit(self, setup: ProbeSetup) -> None:
        self._epoch = setup.epoch
        self._fit_index = next(_FIT_NUMBERS)
        if setup.model is not None:
            _MODELS_SEEN.add(setup.model)
        # Models that are only garbage in reference cycles should not count as alive. A collection
        # takes ~0.5 s in a process holding a large model, so it runs only when another model is
        # listed (refitting the same model, the common case, needs none).
        if any(model is not setup.model for model in list(_MODELS_SEEN)):
            gc.collect()
        rss = host_rss_bytes()
        _PROCESS_FITS.append({"fit_index": self._fit_index, "host_rss_bytes": rss, "live_models": len(_MODELS_SEEN)})
        self._traces: list[dict] = []  # traces made during this fit
        self._traces_written = -1
        self._warn = setup.warn
        self._profile_every, self._profile_steps = setup.memory_profile or (0, 0)
        self._capture = CaptureWindow()
        self._steps_seen = 0
        self._window_started_at = 0
        self._windows: list[dict] = []
        self._windows_written = 0
        self._profile_skipped: str | None = None
        self._devices: list[str] | None = None
        self._gpu: GpuSource | None = None
        self._gpu_unavailable: str | None = None
        try:
            self._gpu = type(self).source_factory()
            self._gpu_unavailable = self._gpu.unavailable
        except Exception as error:
            self._gpu_failed(error)

    def on_step_start(self, data: Any, sampled: bool) -> None:
        if tf.executing_eagerly():
            return  # run_eagerly: nothing is traced
        signature = _signature(data)
        if signature in self._signatures[sampled]:
            return
        self._signatures[sampled].add(signature)
        with tf.init_scope():  # read the counter eagerly: the step this new trace will first run
            step = self._counter.read() + 1
        self._traces.append({"step": step, "epoch": self._epoch, "sampled": sampled, "signature": signature})

    def on_epoch_begin(self, epoch: int) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, steps: int) -> None:
        if not self._profile_every:
            return
        self._steps_seen += steps
        if self._capture.running:
            if self._steps_seen - self._window_started_at >= self._profile_steps:
                self._end_window()
        elif self._steps_seen % self._profile_every < steps and self._profile_skipped is None:
            try:
                self._capture.start()
                self._window_started_at = self._steps_seen
            except Exception as error:  # another profiler is running (e.g. TensorBoard's profile_batch)
                self._profile_skipped = f"profiler windows skipped: {type(error).__name__}: {error}"
                self._warn("memory.profile", f"{self._profile_skipped}; training continues")

    def finish(self) -> None:
        if self._capture.running:
            self._end_window()

    def _end_window(self) -> None:
        step = self._counter.read()
        for window in self._capture.stop():
            self._windows.append({"step": step, **window.to_json()})

    def flush(self, writer: SummaryWriter, first_step: int, last_step: int) -> None:
        writer.write_document(
            schema.MEMORY,
            last_step,
            {
                "fit_index": self._fit_index,
                "epoch": self._epoch,
                "host_rss_bytes": host_rss_bytes(),
                "live_models": len(_MODELS_SEEN),
                "process": {"pid": os.getpid(), "host": socket.gethostname(), "fits": list(_PROCESS_FITS)},
            },
        )
        self._flush_gpu(writer, last_step)
        if len(self._windows) != self._windows_written or (self._profile_skipped and self._windows_written == 0):
            writer.write_document(schema.MEMORY_PROFILES, last_step, {"windows": self._windows, "skipped": self._profile_skipped})
            self._windows_written = len(self._windows) or -1
        if len(self._traces) != self._traces_written:
            writer.write_document(
                schema.TRACES, last_step, {"fit_index": self._fit_index, "traces": self._traces, "unavailable": self._gpu_unavailable}
            )
            self._traces_written = len(self._traces)

    def _gpu_failed(self, error: Exception) -> None:
        """GPU readings off for this fit (host figures go on), with one warning and a note in the log."""
        self._gpu = None
        self._gpu_unavailable = f"reading GPU memory failed ({type(error).__name__}: {error}); GPU figures are off for this fit"
        self._warn("memory.gpu", f"{self._gpu_unavailable}; training continues")
        self._traces_written = -1  # rewrite the document so the viewer says why

    def _flush_gpu(self, writer: SummaryWriter, last_step: int) -> None:
        if self._gpu is None:
            return
        try:
            readings = list(self._gpu.read())
        except Exception as error:  # NVML raising mid-training must not cost the host figures
            self._gpu_failed(error)
            return
        if not readings:
            return
        devices = [reading.device for reading in readings]
        if devices != self._devices:
            writer.write_document(
                schema.GPU_DEVICES, last_step - 1, {"layers": devices, "devices": [{"device": r.device, "name": r.name} for r in readings]}
            )
            self._devices = devices
        block = [[_bytes(r.tf_in_use), _bytes(r.tf_peak), _bytes(r.device_total), _bytes(r.device_used), _bytes(r.process_used)] for r in readings]
        writer.write_block(schema.GPU_MEMORY, last_step, np.array([block], dtype=np.float64))


def _bytes(value: int | None) -> float:
    return np.nan if value is None else float(value)


def _signature(data: Any) -> str:
    """``"(32, 28, 28, 1) float32, (32,) int64"``: the shapes and dtypes of a batch's tensors."""
    parts = []
    for item in tf.nest.flatten(data):
        if isinstance(item, tf.Tensor):
            parts.append(f"{tuple(item.shape.as_list()) if item.shape.rank is not None else '(?)'} {item.dtype.name}")
    return ", ".join(parts)
