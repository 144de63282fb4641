"""Writes tb_diag summaries into a run directory with TensorBoard's own event writer (no TF ops)."""

from __future__ import annotations

import time

import numpy as np
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.summary.writer.event_file_writer import EventFileWriter

from tb_diag import schema


class SummaryWriter:
    """Appends one event per family per flush to an event file in ``run_dir``.

    Metadata is attached to the first event of each tag in the file only: TensorBoard keeps a tag's
    metadata from its first event, so repeating it would only cost bytes.
    """

    def __init__(self, run_dir: str):
        # Creating the writer creates the directory, so an unwritable log dir fails here, early.
        self._events = EventFileWriter(run_dir, filename_suffix=".tb_diag")
        self._tags_with_metadata: set[str] = set()

    def write_layers(self, step: int, layer_paths: list[str]) -> None:
        """Records the run's layer list, valid for the training steps after ``step``."""
        self._write(schema.LAYERS, step, schema.encode_layers(layer_paths))

    def write_document(self, family: schema.Family, step: int, document: dict) -> None:
        """Records a document family's JSON object, valid from the training step after ``step``."""
        self._write(family, step, schema.encode_document(document))

    def write_block(self, family: schema.Family, last_step: int, values: np.ndarray) -> None:
        """Records a block of values (see ``schema.encode_block``) for the steps ending at ``last_step``."""
        self._write(family, last_step, schema.encode_block(family, values))

    def flush(self) -> None:
        """Pushes buffered events to disk."""
        self._events.flush()

    def close(self) -> None:
        """Flushes and closes the event file."""
        self._events.close()

    def _write(self, family: schema.Family, step: int, tensor: summary_pb2.TensorProto) -> None:
        value = summary_pb2.Summary.Value(tag=family.tag, tensor=tensor)
        if family.tag not in self._tags_with_metadata:
            value.metadata.CopyFrom(schema.summary_metadata(family))
            self._tags_with_metadata.add(family.tag)
        event = event_pb2.Event(wall_time=time.time(), step=int(step), summary=summary_pb2.Summary(value=[value]))
        self._events.add_event(event)
