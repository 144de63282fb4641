"""Epochs probe: Keras' epoch logs (training and validation loss and metrics), one document per epoch."""

from __future__ import annotations

import math

from tb_diag import schema
from tb_diag.core.writer import SummaryWriter
from tb_diag.probes.base import Probe, ProbeSetup


class EpochsProbe(Probe):
    """Writes, for every epoch, the numbers Keras reports at its end (``loss``, ``val_loss``, the
    metrics), at the epoch's last step. Nothing runs in the train step. The overfitting rule reads
    them (``tb_diag/plugin/diagnostics/epochs.py``)."""

    name = "epochs"
    under_replicas = "Keras' epoch logs, already aggregated over replicas"

    def start(self, setup: ProbeSetup) -> None:
        self._counter = setup.counter
        self._pending: list[tuple[int, dict]] = []

    def begin_fit(self, setup: ProbeSetup) -> None:
        self._pending = []

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        numbers = {}
        for key, value in logs.items():
            try:
                number = float(value)
            except (TypeError, ValueError):
                continue
            if math.isfinite(number):
                numbers[str(key)] = number
        self._pending.append((self._counter.read(), {"epoch": int(epoch), "logs": numbers}))

    def flush(self, writer: SummaryWriter, first_step: int, last_step: int) -> None:
        """Nothing per step: the epoch documents go out in ``flush_documents``."""

    def flush_documents(self, writer: SummaryWriter) -> None:
        for step, document in self._pending:
            writer.write_document(schema.EPOCHS, step, document)
        self._pending = []
