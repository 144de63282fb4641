"""Input probe: how long each step waited for its batch, computed, and spent on the host between steps."""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from tb_diag import schema
from tb_diag.core.ring_buffer import RingBuffer
from tb_diag.core.train_function import StepTimes
from tb_diag.core.writer import SummaryWriter
from tb_diag.probes.base import Probe, ProbeSetup

# How a tf.data dataset class shows in the pipeline description (others: the class name).
_STAGE_NAMES = {
    "_PrefetchDataset": "prefetch",
    "_MapDataset": "map",
    "_ParallelMapDataset": "map(parallel)",
    "CacheDataset": "cache",
    "_CacheDataset": "cache",
    "_MemoryCacheDataset": "cache",
    "_BatchDataset": "batch",
    "_ParallelBatchDataset": "batch(parallel)",
    "_PaddedBatchDataset": "padded_batch",
    "_ShuffleDataset": "shuffle",
    "_RepeatDataset": "repeat",
    "_FlatMapDataset": "flat_map",
    "_InterleaveDataset": "interleave",
    "_ParallelInterleaveDataset": "interleave(parallel)",
    "_FilterDataset": "filter",
    "_ZipDataset": "zip",
    "_TakeDataset": "take",
    "_SkipDataset": "skip",
    "_TensorSliceDataset": "from_tensor_slices",
    "_TensorDataset": "from_tensors",
    "_RangeDataset": "range",
    "TFRecordDatasetV2": "TFRecordDataset",
    "_TFRecordDataset": "TFRecordDataset",
    "TextLineDatasetV2": "TextLineDataset",
    "_TextLineDataset": "TextLineDataset",
    "FixedLengthRecordDatasetV2": "FixedLengthRecordDataset",
}
# Stages that only set options: left out of the description.
_SILENT_STAGES = {"_OptionsDataset", "_ModelDataset", "_OptimizeDataset", "_MaxIntraOpParallelismDataset", "_PrivateThreadPoolDataset"}
_FILE_SOURCES = {"TFRecordDataset", "TextLineDataset", "FixedLengthRecordDataset"}
# Ops that call back into Python (from_generator, py_function, numpy_function) inside tf.data.
_PYTHON_OPS = {"GeneratorDataset", "PyFunc", "PyFuncStateless", "EagerPyFunc"}
_MAX_STAGES = 64


class InputProbe(Probe):
    """Records per step, from timestamps taken around the real fetch and step (outside XLA):

    * ``wait_s``: from asking the iterator for the batch until it was there;
    * ``compute_s``: the train step itself, optimizer update included;
    * ``host_s``: from the end of the previous step to the start of this one: Keras' loop and the
      callbacks between executions (about zero inside a multi-step execution); ``NOT_SAMPLED`` at
      the first step of each epoch, where it would include validation and epoch-end callbacks;
    * ``epoch``: the epoch the step belongs to.

    The step only stores its three raw timestamps (one float64 scatter); durations and epochs are
    worked out on the host when the buffer is written. Once per ``fit`` it also writes what the
    ``tf.data`` pipeline is made of, so the remedies can name the stage to change.
    """

    name = "input"
    under_replicas = "the whole step: the wait for the distributed batch and the step on all replicas"

    def start(self, setup: ProbeSetup) -> None:
        self._buffer = RingBuffer(self.name, (3,), setup.capacity, dtype=tf.float64)
        self._counter = setup.counter

    def begin_fit(self, setup: ProbeSetup) -> None:
        # (first step, epoch) of every epoch begun in this fit, in order.
        self._epoch_starts = [(setup.counter.read() + 1, setup.epoch)]
        # When the last written step finished, and its number (to know a block follows it).
        self._previous_finish: float | None = None
        self._previous_step = -1
        self._pipeline = describe_pipeline(setup.input_iterator)
        self._pipeline_written = False

    def after_step(self, step: Any, times: StepTimes, data: Any) -> None:
        self._buffer.record(step, tf.stack([times.started, times.fetched, times.finished]))

    def on_epoch_begin(self, epoch: int) -> None:
        self._epoch_starts.append((self._counter.read() + 1, epoch))

    def flush(self, writer: SummaryWriter, first_step: int, last_step: int) -> None:
        if not self._pipeline_written:
            writer.write_document(schema.INPUT_PIPELINE, first_step - 1, self._pipeline)
            self._pipeline_written = True
        started, fetched, finished = self._buffer.read_steps(first_step, last_step).T
        steps = np.arange(first_step, last_step + 1)
        follows = self._previous_finish is not None and self._previous_step == first_step - 1
        previous = np.concatenate([[self._previous_finish if follows else np.nan], finished[:-1]])
        host = started - previous
        epoch_firsts = np.array([step for step, _ in self._epoch_starts])
        host[np.isin(steps, epoch_firsts) | np.isnan(host)] = schema.NOT_SAMPLED
        epochs = np.array([epoch for _, epoch in self._epoch_starts])[np.searchsorted(epoch_firsts, steps, side="right") - 1]
        block = np.stack([fetched - started, finished - fetched, host, epochs], axis=1)
        writer.write_block(schema.INPUT, last_step, block)
        self._previous_finish, self._previous_step = float(finished[-1]), last_step


def describe_pipeline(iterator: Any) -> dict:
    """What the ``tf.data`` pipeline behind ``iterator`` is made of, outermost stage first.

    Returns ``{"stages": [...], "source": "python"|"in_memory"|"files"|"unknown", "python": bool,
    "prefetch": bool, "parallel_map": bool, "sequential_map": bool, "cache": bool}``. ``python``
    means a stage calls back into Python (``from_generator``, which Keras uses for generators and
    ``PyDataset``, or ``py_function``): such stages hold the GIL and run one at a time.
    """
    stages: list[str] = []
    python = False
    pending = [getattr(iterator, "_dataset", None)]
    while pending and len(stages) < _MAX_STAGES:
        dataset = pending.pop(0)
        if dataset is None:
            continue
        kind = type(dataset).__name__
        if kind not in _SILENT_STAGES:
            stages.append(_STAGE_NAMES.get(kind, kind.lstrip("_")))
        python = python or _calls_python(dataset)
        try:
            pending.extend(dataset._inputs())
        except Exception:  # A dataset class without _inputs: the description stops there.
            pass
    leaves = set(stages[-3:])
    if python:
        source = "python"
    elif leaves & _FILE_SOURCES:
        source = "files"
    elif leaves & {"from_tensor_slices", "from_tensors", "range"}:
        source = "in_memory"
    else:
        source = "unknown"
    return {
        "stages": stages,
        "source": source,
        "python": python,
        "prefetch": "prefetch" in stages,
        "parallel_map": "map(parallel)" in stages,
        "sequential_map": "map" in stages,
        "cache": "cache" in stages,
    }


def _calls_python(dataset: Any) -> bool:
    function = getattr(dataset, "_map_func", None) or getattr(dataset, "_predicate", None)
    graph = getattr(getattr(function, "function", None), "graph", None)
    if graph is None:
        return False
    return any(op.type in _PYTHON_OPS for op in graph.get_operations())
