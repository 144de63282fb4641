"""Installs and removes wrappers around every leaf layer's ``call``, so probes see the forward pass."""

from __future__ import annotations

import functools
from typing import Any, Callable

import keras

from tb_diag.core.layer_map import direct_sublayers

# on_call(path, layer, args, outputs) -> None
CallObserver = Callable[[str, Any, tuple, Any], None]

_MISSING = object()
# Layers whose sublayers are called inside a loop (a separate graph): observed as a whole.
_OPAQUE_LAYERS = (keras.layers.RNN, keras.layers.Bidirectional, keras.layers.TimeDistributed)


def leaf_layers(model: Any) -> list[tuple[str, Any]]:
    """``(path, layer)`` of every layer without sublayers, depth-first in model order, each once.

    Paths are joined by ``/`` like ``map_layers``' (``"encoder/dense_1"``). Leaf layers are the ones
    that compute: a nested model's output is its last leaf's, so recording both would repeat it.
    Recurrent layers and layer wrappers count as leaves: their inner layers run inside a loop.
    Input layers are left out: they compute nothing.
    """
    found: list[tuple[str, Any]] = []
    seen: set[int] = set()

    def visit(layer: Any, path: str) -> None:
        children = [] if isinstance(layer, _OPAQUE_LAYERS) else direct_sublayers(layer)
        if not children and layer is not model:
            if id(layer) not in seen and not isinstance(layer, keras.layers.InputLayer):
                seen.add(id(layer))
                found.append((path, layer))
            return
        for child in children:
            visit(child, f"{path}/{child.name}" if path else child.name)

    visit(model, "")
    return found


def activation_kind(layer: Any) -> str:
    """The activation a layer applies to its output, by name (``"relu"``, ``"sigmoid"``, ``"linear"``...)."""
    if isinstance(layer, keras.layers.ReLU):
        return "relu"
    if isinstance(layer, keras.layers.Softmax):
        return "softmax"
    function = getattr(layer, "activation", None)
    if function is None:
        return "linear" if isinstance(layer, (keras.layers.Dense, keras.layers.Activation)) else "other"
    return getattr(function, "__name__", "") or "other"


class LayerCallHook:
    """Wraps ``call`` on every leaf layer instance so the train step's forward pass calls ``on_call``.

    ``Layer.__call__`` looks ``call`` up on the instance, so an instance attribute takes effect for
    Sequential, Functional (a shared layer: once per call), nested and subclassed models. Keras also
    calls layers while building (``compute_output_spec``, into scratch graphs): the observer must
    decide itself whether a call belongs to the step it records. ``remove`` restores exactly what
    was there.
    """

    def __init__(self, model: Any, on_call: CallObserver):
        self._model = model
        self._on_call = on_call
        self._previous: list[tuple[Any, Any]] = []

    def install(self) -> None:
        """Shadows each leaf layer's ``call`` with the observing wrapper (instance attribute)."""
        for path, layer in leaf_layers(self._model):
            self._previous.append((layer, layer.__dict__.get("call", _MISSING)))
            layer.call = self._wrap(path, layer, layer.call)

    def _wrap(self, path: str, layer: Any, original: Callable) -> Callable:
        @functools.wraps(original)
        def call(*args: Any, **kwargs: Any) -> Any:
            outputs = original(*args, **kwargs)
            self._on_call(path, layer, args, outputs)
            return outputs

        return call

    def remove(self) -> None:
        """Restores every wrapped layer's ``call`` as it was before ``install``."""
        for layer, previous in reversed(self._previous):
            if previous is _MISSING:
                layer.__dict__.pop("call", None)
            else:
                layer.call = previous
        self._previous = []
