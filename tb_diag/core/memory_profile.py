"""Short profiler capture windows, reduced to what TensorFlow's BFC allocators say about fragmentation.

While TensorFlow's profiler is on, every BFC allocator (the GPU allocator, and the CPU one when
``TF_CPU_ALLOCATOR_USE_BFC=true``) adds a ``MemoryAllocation`` / ``MemoryDeallocation`` TraceMe to
the host plane of the captured XSpace, with the allocator's state after the operation:
``bytes_allocated`` (in use), ``bytes_reserved``, ``bytes_available``, ``peak_bytes_in_use`` and
``fragmentation`` = 1 − largest free chunk / free pool bytes (the profiler's definition; the BFC
allocator computes it). This module starts and stops a window and summarises those events per
allocator; it never keeps the trace.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import shutil
import tempfile

import numpy as np

_MEMORY_EVENTS = {"MemoryAllocation", "MemoryDeallocation"}


@dataclasses.dataclass(frozen=True)
class AllocatorWindow:
    """One allocator's state over one capture window.

    Attributes:
      allocator: the allocator's name as TensorFlow reports it (e.g. ``"GPU_0_bfc"``, ``"cpu"``).
      events: allocation and deallocation events seen.
      fragmentation_median / fragmentation_max: over the events of the window (0..1).
      bytes_in_use_max: the largest ``bytes_allocated`` seen.
      peak_bytes_in_use: the allocator's own peak at the end of the window.
    """

    allocator: str
    events: int
    fragmentation_median: float
    fragmentation_max: float
    bytes_in_use_max: int
    peak_bytes_in_use: int

    def to_json(self) -> dict:
        """The window as stored in the log (plain JSON types)."""
        return dataclasses.asdict(self)


def summarize_xspace(serialized: bytes) -> list[AllocatorWindow]:
    """Reads a serialized ``XSpace`` and summarises the BFC memory events per allocator."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    space = xplane_pb2.XSpace()
    space.ParseFromString(serialized)
    by_allocator: dict[str, dict[str, list]] = {}
    for plane in space.planes:
        names = {key: value.name for key, value in plane.event_metadata.items()}
        stat_names = {key: value.name for key, value in plane.stat_metadata.items()}
        for line in plane.lines:
            for event in line.events:
                if names.get(event.metadata_id) not in _MEMORY_EVENTS:
                    continue
                stats = {}
                for stat in event.stats:
                    name = stat_names.get(stat.metadata_id, "")
                    kind = stat.WhichOneof("value")
                    # String stats are interned: ref_value names another stat metadata entry.
                    stats[name] = stat_names.get(stat.ref_value, "") if kind == "ref_value" else getattr(stat, kind) if kind else None
                allocator = str(stats.get("allocator_name") or "unknown")
                entry = by_allocator.setdefault(allocator, {"fragmentation": [], "allocated": [], "peak": []})
                for key, field in (("fragmentation", "fragmentation"), ("allocated", "bytes_allocated"), ("peak", "peak_bytes_in_use")):
                    if isinstance(stats.get(field), (int, float)):
                        entry[key].append(float(stats[field]))
    windows = []
    for allocator, entry in sorted(by_allocator.items()):
        fragmentation = np.array(entry["fragmentation"] or [np.nan])
        windows.append(
            AllocatorWindow(
                allocator=allocator,
                events=max(len(entry["fragmentation"]), len(entry["allocated"])),
                fragmentation_median=float(np.nanmedian(fragmentation)) if np.isfinite(fragmentation).any() else float("nan"),
                fragmentation_max=float(np.nanmax(fragmentation)) if np.isfinite(fragmentation).any() else float("nan"),
                bytes_in_use_max=int(max(entry["allocated"], default=0)),
                peak_bytes_in_use=int(entry["peak"][-1]) if entry["peak"] else 0,
            )
        )
    return windows


class CaptureWindow:
    """Runs TensorFlow's profiler for a window into a private temporary directory.

    ``start`` raises if a profiler is already running (e.g. Keras' TensorBoard ``profile_batch``);
    ``stop`` returns the summaries and deletes the capture.
    """

    def __init__(self) -> None:
        self._directory: str | None = None

    @property
    def running(self) -> bool:
        """Whether this window has started and not yet stopped."""
        return self._directory is not None

    def start(self) -> None:
        """Starts the profiler (host tracer level 2 records the allocator TraceMes)."""
        import tensorflow as tf

        directory = tempfile.mkdtemp(prefix="tb_diag_memory_profile_")
        options = tf.profiler.experimental.ProfilerOptions(host_tracer_level=2, python_tracer_level=0, device_tracer_level=1)
        try:
            tf.profiler.experimental.start(directory, options=options)
        except Exception:
            shutil.rmtree(directory, ignore_errors=True)
            raise
        self._directory = directory

    def stop(self) -> list[AllocatorWindow]:
        """Stops the profiler and summarises what it captured."""
        import tensorflow as tf

        directory, self._directory = self._directory, None
        try:
            tf.profiler.experimental.stop()
            windows: list[AllocatorWindow] = []
            for path in glob.glob(os.path.join(directory, "**", "*.xplane.pb"), recursive=True):
                with open(path, "rb") as file:
                    windows.extend(summarize_xspace(file.read()))
            return windows
        finally:
            shutil.rmtree(directory, ignore_errors=True)
