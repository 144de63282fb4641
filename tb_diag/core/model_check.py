"""The model check at the start of ``fit``: facts about the model and its ``compile`` that decide
whether it can train well, read before any step (host side, once per fit, into the environment
card's ``setup``).

Only facts are recorded here; the viewer judges them (``tb_diag/plugin/diagnostics/model_check.py``
holds the thresholds), so a teammate's newer tb_diag re-judges an old log. Every fact names the
layer (its path, as the other diagnostics name it) and the setting.
"""

from __future__ import annotations

import math
from typing import Any

import keras

from tb_diag.core.layer_calls import activation_kind, leaf_layers

RELU_FAMILY = frozenset({"relu", "relu6", "leaky_relu", "elu", "selu", "gelu", "silu", "swish"})
SATURATING = frozenset({"sigmoid", "tanh", "hard_sigmoid", "hard_tanh"})
# Initialisers whose scale does not follow the layer's fan-in (He / Glorot / LeCun do).
FIXED_SCALE_INITIALIZERS = frozenset({"RandomNormal", "TruncatedNormal", "RandomUniform"})
NORMALIZATION = (
    keras.layers.BatchNormalization, keras.layers.LayerNormalization, keras.layers.GroupNormalization,
    keras.layers.UnitNormalization,
)


def setup_facts(model: Any, layers: list[tuple[str, Any]] | None = None) -> dict:
    """``{"relu_initializers", "saturating_stacks", "outputs", "losses", "batch_normalization",
    "stateful_layers"}``
    for ``model`` (built and compiled); see each helper for the entries. ``layers``: its
    ``leaf_layers``, if the caller has them already."""
    layers = leaf_layers(model) if layers is None else layers
    path_of = {id(layer): path for path, layer in layers}
    return {
        "relu_initializers": [entry for path, layer in layers if (entry := _relu_initializer(path, layer))],
        "saturating_stacks": _saturating_stacks(layers),
        "outputs": _outputs(model, path_of),
        "losses": _losses(model),
        "batch_normalization": [path for path, layer in layers if isinstance(layer, keras.layers.BatchNormalization)],
        "stateful_layers": [
            {"layer": path, "class": type(layer).__name__, "batch_size": state_batch_size(layer)}
            for path, layer in stateful_rnn_layers(layers)
        ],
    }


def stateful_rnn_layers(layers: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """The ``(path, layer)`` of ``layers`` (``leaf_layers``) that are RNN layers with ``stateful=True``."""
    return [(path, layer) for path, layer in layers if isinstance(layer, keras.layers.RNN) and layer.stateful]


def state_batch_size(layer: Any) -> int | None:
    """The batch size a stateful RNN layer keeps states for (``None`` before they exist)."""
    states = getattr(layer, "states", None)
    first = keras.tree.flatten(states)[0] if states else None
    return int(first.shape[0]) if first is not None and first.shape and first.shape[0] is not None else None


def _relu_initializer(path: str, layer: Any) -> dict | None:
    """``{"layer", "activation", "initializer", "std", "fan_in"}`` for a ReLU-family layer whose
    kernel starts from a fixed-scale initialiser; ``std`` is the distribution's standard deviation."""
    initializer = getattr(layer, "kernel_initializer", None)
    kernel = getattr(layer, "kernel", None)
    activation = activation_kind(layer)
    if activation not in RELU_FAMILY or initializer is None or kernel is None or isinstance(layer, keras.layers.RNN):
        return None
    name = type(initializer).__name__
    if name not in FIXED_SCALE_INITIALIZERS:
        return None
    config = initializer.get_config()
    if name == "RandomUniform":
        std = (float(config["maxval"]) - float(config["minval"])) / math.sqrt(12.0)
    else:
        # A normal truncated at 2 standard deviations keeps 88% of its spread.
        std = float(config["stddev"]) * (0.8796 if name == "TruncatedNormal" else 1.0)
    shape = tuple(int(d) for d in kernel.shape)
    fan_in = math.prod(shape[:-1]) if len(shape) > 1 else shape[0]
    return {"layer": path, "activation": activation, "initializer": name, "config": {k: config[k] for k in config if k != "seed"}, "std": std, "fan_in": fan_in}


def _saturating_stacks(layers: list[tuple[str, Any]]) -> list[dict]:
    """Runs of >= 2 consecutive sigmoid/tanh layers (in model order) with no normalisation layer
    and no other computing layer between: ``{"first", "last", "length", "activations"}``.
    Layers without weights that do not change the scale (Dropout, Flatten, Reshape) do not break
    a run; recurrent layers are not counted (their gates are sigmoid by design)."""
    stacks, current = [], []

    def close() -> None:
        if len(current) >= 2:
            stacks.append({
                "first": current[0][0], "last": current[-1][0], "length": len(current),
                "activations": sorted({activation for _, activation in current}),
            })
        current.clear()

    for path, layer in layers:
        activation = activation_kind(layer)
        if activation in SATURATING and not isinstance(layer, keras.layers.RNN):
            current.append((path, activation))
        elif isinstance(layer, NORMALIZATION) or layer.weights or activation not in ("other", "linear"):
            close()
    close()
    return stacks


def _outputs(model: Any, path_of: dict[int, str]) -> list[dict]:
    """``{"layer", "activation", "compute_dtype"}`` of the layer producing each model output."""
    outputs = []
    for tensor in getattr(model, "outputs", None) or []:
        history = getattr(tensor, "_keras_history", None)
        layer = getattr(history, "operation", None) if history is not None else None
        if layer is None:
            continue
        # A nested model's output comes from its last leaf layer.
        while isinstance(layer, keras.Model) and layer.layers:
            layer = layer.layers[-1]
        outputs.append({
            "layer": path_of.get(id(layer), layer.name),
            "activation": activation_kind(layer),
            "compute_dtype": str(getattr(layer, "compute_dtype", "") or ""),
        })
    return outputs


def _losses(model: Any) -> list[dict]:
    """``{"class", "from_logits"}`` per compiled loss, in output order (``from_logits`` is
    ``None`` when the loss has no such setting)."""
    loss = getattr(model, "loss", None)
    if isinstance(loss, dict):
        # Keyed by output name: paired in output order only when every output has its loss, so
        # that the viewer never judges an output against another output's loss.
        histories = [getattr(tensor, "_keras_history", None) for tensor in getattr(model, "outputs", None) or []]
        names = [getattr(getattr(history, "operation", None), "name", None) for history in histories]
        if not names or any(name not in loss for name in names):
            return []
        losses = [loss[name] for name in names]
    elif isinstance(loss, (list, tuple)):
        losses = list(loss)
    else:
        losses = [loss] if loss is not None else []
    described = []
    for entry in losses:
        if entry is None:
            continue
        if isinstance(entry, str) or not hasattr(entry, "get_config"):  # a name or a plain function
            name = entry if isinstance(entry, str) else getattr(entry, "__name__", "function")
            # Keras' crossentropy names and functions default to from_logits=False.
            described.append({"class": name, "from_logits": False if "crossentropy" in name else None})
            continue
        from_logits = getattr(entry, "from_logits", None)
        described.append({"class": type(entry).__name__, "from_logits": None if from_logits is None else bool(from_logits)})
    return described
