"""What the running ``fit`` call was given, beyond the ``params`` Keras hands its callbacks.

A Keras callback sees the model and ``params`` (epochs, steps, verbose), not the other callbacks
of the fit nor its arguments (``shuffle``, ``steps_per_epoch``) nor the data adapter Keras chose.
Three rules need them: timing the other callbacks, and the stateful-RNN checks (shuffling, a final
batch of another size, states carried into an epoch that restarts the data). ``read_fit_context``
finds them in the calling frames, read only: the ``CallbackList`` whose ``on_train_begin`` called
the callback, and the ``fit`` method of the model below it (Keras 3: ``Trainer.fit`` builds an
``EpochIterator`` whose ``data_adapter`` implements Keras' documented ``DataAdapter`` interface).

This is the one place tb_diag reads another frame. Every field is ``None`` (unknown) when the
frames do not have the expected shape (a custom training loop, a future Keras); the rules then
say nothing rather than guess.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

import keras

# How far up from the callback's on_train_begin to look for Keras' fit (the frames between are
# CallbackList.on_train_begin and, with Keras' traceback filtering, its wrappers).
MAX_FRAMES = 12


@dataclasses.dataclass(frozen=True)
class FitContext:
    """The running ``fit`` as far as it could be read (``None``: unknown).

    Attributes:
      callbacks: the fit's other callbacks, in the order Keras calls them (the progress bar and
        ``History`` included), or ``None`` if the callback list was not found.
      shuffle: ``fit``'s ``shuffle`` argument (``True``, ``False`` or ``"batch"``).
      steps_per_epoch: ``fit``'s ``steps_per_epoch`` argument.
      input_kind: the class name of Keras' data adapter (``"ArrayDataAdapter"``,
        ``"TFDatasetAdapter"``, ``"PyDatasetAdapter"``, ...).
      shuffles_input: whether ``shuffle`` reorders this input (arrays and ``PyDataset``; Keras
        ignores it for ``tf.data`` datasets and generators).
      batch_size: the adapter's batch size.
      partial_batch_size: the size of each epoch's smaller last batch, ``None`` if there is none
        (or it is unknown).
    """

    callbacks: tuple[Any, ...] | None = None
    shuffle: bool | str | None = None
    steps_per_epoch: int | None = None
    input_kind: str | None = None
    shuffles_input: bool | None = None
    batch_size: int | None = None
    partial_batch_size: int | None = None

    def facts(self) -> dict:
        """The JSON-able fields, for the environment card's ``fit`` (callbacks by class name)."""
        return {
            "callbacks": None if self.callbacks is None else [type(callback).__name__ for callback in self.callbacks],
            "shuffle": self.shuffle,
            "steps_per_epoch": self.steps_per_epoch,
            "input_kind": self.input_kind,
            "shuffles_input": self.shuffles_input,
            "batch_size": self.batch_size,
            "partial_batch_size": self.partial_batch_size,
        }


# Adapters whose batches ``shuffle`` reorders (Keras 3: array_data_adapter, py_dataset_adapter).
SHUFFLED_ADAPTERS = frozenset({"ArrayDataAdapter", "PyDatasetAdapter"})


def read_fit_context(callback: keras.callbacks.Callback) -> FitContext:
    """The ``FitContext`` of the ``fit`` calling ``callback.on_train_begin`` right now; a
    ``FitContext()`` of unknowns if it cannot be read. Never raises."""
    try:
        return _read(callback)
    except Exception:  # Reading is best effort; the rules that need it then stay silent.
        return FitContext()


def _read(callback: Any) -> FitContext:
    frame = inspect.currentframe()
    callbacks = None
    for _ in range(MAX_FRAMES):
        if frame is None:
            break
        owner = frame.f_locals.get("self")
        if callbacks is None and isinstance(owner, keras.callbacks.CallbackList) and any(c is callback for c in owner.callbacks):
            callbacks = tuple(c for c in owner.callbacks if c is not callback)
        elif owner is callback.model and frame.f_code.co_name == "fit":
            return _from_fit_frame(frame.f_locals, callbacks)
        frame = frame.f_back
    return FitContext(callbacks=callbacks)


def _from_fit_frame(local: dict, callbacks: tuple | None) -> FitContext:
    shuffle = local.get("shuffle")
    steps_per_epoch = local.get("steps_per_epoch")
    adapter = getattr(local.get("epoch_iterator"), "data_adapter", None)
    kind = type(adapter).__name__ if adapter is not None else None
    batch_size = partial = None
    if adapter is not None:
        batch_size = _optional_int(lambda: adapter.batch_size)
        partial = _optional_int(lambda: adapter.partial_batch_size if adapter.has_partial_batch else None)
    return FitContext(
        callbacks=callbacks,
        shuffle=shuffle if isinstance(shuffle, (bool, str)) else None,
        steps_per_epoch=steps_per_epoch if isinstance(steps_per_epoch, int) else None,
        input_kind=kind,
        shuffles_input=None if kind is None or shuffle is None else bool(shuffle) and kind in SHUFFLED_ADAPTERS,
        batch_size=batch_size,
        partial_batch_size=partial,
    )


def _optional_int(read: Any) -> int | None:
    try:
        value = read()
    except (NotImplementedError, AttributeError, TypeError):  # adapters that cannot know
        return None
    return int(value) if value else None
