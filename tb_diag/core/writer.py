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

    def __init__(self, run_dir: str, part_bytes: int = schema.PART_BYTES):
        # Creating the writer creates the directory, so an unwritable log dir fails here, early.
        self._events = EventFileWriter(run_dir, filename_suffix=".tb_diag")
        self._tags_with_metadata: set[str] = set()
        # Block families move to their next tag part after ``part_bytes`` (see Family.part_tag).
        self._part_bytes = part_bytes
        self._parts: dict[str, tuple[int, int]] = {}  # family name -> (part, bytes written to it)

    def write_layers(self, step: int, layer_paths: list[str]) -> None:
        """Records the run's layer list, valid for the training steps after ``step``."""
        self._write(schema.LAYERS, step, schema.encode_layers(layer_paths))

    def write_document(self, family: schema.Family, step: int, document: dict) -> None:
        """Records a document family's JSON object, valid from the training step after ``step``."""
        self._write(family, step, schema.encode_document(document))

    def write_block(self, family: schema.Family, last_step: int, values: np.ndarray) -> None:
        """Records a block of values (see ``schema.encode_block``) for the steps ending at ``last_step``."""
        tensor = schema.encode_block(family, values)
        size = len(tensor.tensor_content)
        part, written = self._parts.get(family.name, (0, 0))
        if written and written + size > self._part_bytes:
            part, written = part + 1, 0
        self._parts[family.name] = (part, written + size)
        self._write(family, last_step, tensor, family.part_tag(part))

    def flush(self) -> None:
        """Pushes buffered events to disk."""
        self._events.flush()

    def close(self) -> None:
        """Flushes and closes the event file."""
        self._events.close()

    def _write(self, family: schema.Family, step: int, tensor: summary_pb2.TensorProto, tag: str | None = None) -> None:
        tag = tag or family.tag
        value = summary_pb2.Summary.Value(tag=tag, tensor=tensor)
        if tag not in self._tags_with_metadata:
            value.metadata.CopyFrom(schema.summary_metadata(family))
            self._tags_with_metadata.add(tag)
        event = event_pb2.Event(wall_time=time.time(), step=int(step), summary=summary_pb2.Summary(value=[value]))
        self._events.add_event(event)
