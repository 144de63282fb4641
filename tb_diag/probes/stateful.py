"""Stateful probe: whether stateful RNN layers start each epoch with the states of the last one."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from tb_diag import schema
from tb_diag.core.layer_calls import leaf_layers
from tb_diag.core.model_check import state_batch_size, stateful_rnn_layers
from tb_diag.core.writer import SummaryWriter
from tb_diag.probes.base import Probe, ProbeSetup


class StatefulProbe(Probe):
    """Only for models with ``stateful=True`` RNN layers: before the first batch of every epoch
    after a fit's first, once all callbacks' ``on_epoch_begin`` ran, reads their state variables
    and writes one document per such epoch: ``epoch`` and ``carried`` (the paths of the layers whose
    states are not zero, i.e. were not reset since the last epoch).

    Keras never resets RNN states between epochs by itself; an epoch that restarts the data then
    begins its first sequences with the last sequences' state. The setup facts (which layers are
    stateful, ``shuffle``, the last batch's size) are in the environment card's ``setup``; the
    viewer judges both (``tb_diag/plugin/diagnostics/stateful.py``). Also warns at the start of
    ``fit`` when its last batch has another size: Keras then fails with a shape error.
    """

    name = "stateful"
    under_replicas = "the chief's replica of the RNN states"

    def start(self, setup: ProbeSetup) -> None:
        self._counter = setup.counter
        self._layers = stateful_rnn_layers(leaf_layers(setup.model))
        self._pending: list[tuple[int, dict]] = []

    def begin_fit(self, setup: ProbeSetup) -> None:
        self._pending = []
        self._check_next_batch = False
        self._epoch = setup.epoch
        partial = setup.fit.partial_batch_size
        if self._layers and partial:
            path, layer = self._layers[0]
            setup.warn(
                "stateful_partial_batch",
                f"stateful layer {path!r} keeps states for batches of {state_batch_size(layer)}, but the last batch of "
                f"each epoch has {partial} examples: Keras will fail with a shape error there. Give fit a number of "
                f"examples that is a multiple of the batch size (or a dataset batched with drop_remainder=True).",
            )

    def on_epoch_begin(self, epoch: int) -> None:
        self._epoch = epoch
        self._check_next_batch = bool(self._layers)

    def on_train_batch_begin(self) -> None:
        if not self._check_next_batch:
            return
        self._check_next_batch = False
        carried = [path for path, layer in self._layers if any(np.any(np.asarray(state) != 0) for state in _states(layer))]
        self._pending.append((self._counter.read(), {"epoch": self._epoch, "carried": carried}))

    def flush(self, writer: SummaryWriter, first_step: int, last_step: int) -> None:
        """Nothing per step: the epoch checks go out in ``flush_documents``."""

    def flush_documents(self, writer: SummaryWriter) -> None:
        for step, document in self._pending:
            writer.write_document(schema.STATEFUL, step, document)
        self._pending = []


def _states(layer: Any) -> list[Any]:
    """The layer's state values (none before its states exist)."""
    if layer.states is None:
        return []
    return [state.numpy() if hasattr(state, "numpy") else state for state in keras.tree.flatten(layer.states)]
