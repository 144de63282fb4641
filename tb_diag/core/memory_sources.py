"""Where memory readings come from: the process (host) and, per GPU, TensorFlow's allocator and NVML.

No GPU exists on the machines this project is developed and tested on. The GPU side is written
against the documented APIs (``tf.config.experimental.get_memory_info``, ``pynvml`` from
``nvidia-ml-py``) behind ``GpuSource``; tests drive the probe with ``FakeGpuSource``. Without a GPU
or without NVML, ``TensorFlowNvmlSource`` reports no devices and says why, once.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Protocol, Sequence

_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def host_rss_bytes() -> int | None:
    """This process's resident set size, from ``/proc/self/statm`` (``None`` where there is none)."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE_SIZE
    except (OSError, ValueError, IndexError):
        return None


@dataclasses.dataclass(frozen=True)
class GpuReading:
    """One GPU's memory at one moment, in bytes (``None`` where that source is unavailable).

    Attributes:
      device: TensorFlow's name for it, e.g. ``"GPU:0"``.
      name: the product name from NVML (e.g. ``"NVIDIA A100-SXM4-40GB"``), or ``""``.
      tf_in_use: bytes TensorFlow's allocator has handed out now (``get_memory_info()["current"]``).
      tf_peak: the allocator's peak of that since the last reset (``["peak"]``).
      device_total: the device's memory (NVML ``nvmlDeviceGetMemoryInfo().total``).
      device_used: used on the device by every process (NVML ``.used``).
      process_used: used by this process (NVML compute-process list, ``usedGpuMemory``): the CUDA
        context plus everything TensorFlow's allocator reserved; ``None`` in containers without
        PID visibility and under MIG, where NVML does not report per-process use.
    """

    device: str
    name: str
    tf_in_use: int | None
    tf_peak: int | None
    device_total: int | None
    device_used: int | None
    process_used: int | None


class GpuSource(Protocol):
    """Anything that reads the GPUs' memory now. ``unavailable`` says why there are no readings."""

    unavailable: str | None

    def read(self) -> Sequence[GpuReading]:
        """One reading per visible GPU (empty without GPUs)."""


class FakeGpuSource:
    """Replays recorded or made-up readings, one list per ``read()`` (the last one repeats)."""

    def __init__(self, readings: Sequence[Sequence[GpuReading]], unavailable: str | None = None):
        self._readings = list(readings)
        self._next = 0
        self.unavailable = unavailable

    def read(self) -> Sequence[GpuReading]:
        if not self._readings:
            return []
        reading = self._readings[min(self._next, len(self._readings) - 1)]
        self._next += 1
        if isinstance(reading, Exception):
            raise reading
        return reading


class TensorFlowNvmlSource:
    """Reads TensorFlow's allocator for every visible GPU, and NVML for the device and the process."""

    def __init__(self) -> None:
        import tensorflow as tf

        self._tf = tf
        self._devices = [f"GPU:{i}" for i, _ in enumerate(tf.config.list_physical_devices("GPU"))]
        self._nvml = None
        self.unavailable: str | None = None
        if not self._devices:
            self.unavailable = "no GPU is visible to TensorFlow"
            return
        try:
            import pynvml

            pynvml.nvmlInit()
            self._nvml = pynvml
        except Exception as error:  # NVML missing (no driver, container) is normal: TF figures only.
            self.unavailable = f"NVML is not available ({type(error).__name__}: {error}); device and process figures are missing"

    def read(self) -> Sequence[GpuReading]:
        readings = []
        for index, device in enumerate(self._devices):
            try:
                info = self._tf.config.experimental.get_memory_info(device)
                in_use, peak = int(info["current"]), int(info["peak"])
            except (ValueError, RuntimeError):  # e.g. TF_GPU_ALLOCATOR=cuda_malloc_async
                in_use = peak = None
            name, total, used, process = "", None, None, None
            if self._nvml is not None:
                name, total, used, process = self._nvml_reading(index)
            readings.append(GpuReading(device, name, in_use, peak, total, used, process))
        return readings

    def _nvml_reading(self, index: int) -> tuple[str, int | None, int | None, int | None]:
        nvml = self._nvml
        handle = nvml.nvmlDeviceGetHandleByIndex(index)
        name = nvml.nvmlDeviceGetName(handle)
        name = name.decode() if isinstance(name, bytes) else str(name)
        memory = nvml.nvmlDeviceGetMemoryInfo(handle)
        process = None
        try:
            for entry in nvml.nvmlDeviceGetComputeRunningProcesses(handle):
                if entry.pid == os.getpid() and entry.usedGpuMemory is not None:
                    process = int(entry.usedGpuMemory)
        except nvml.NVMLError:  # MIG, or no permission to list processes
            process = None
        return name, int(memory.total), int(memory.used), process
