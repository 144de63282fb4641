"""Maps each trainable variable to the layer that owns it, named by its path in the model."""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass(frozen=True)
class LayerMap:
    """The model's layers that own trainable variables, in model order.

    Attributes:
      paths: layer paths such as ``"encoder/dense_1"`` (nested models joined by ``/``).
      layer_of_variable: ``id(variable) -> index into paths`` for every trainable variable.
    """

    paths: tuple[str, ...]
    layer_of_variable: dict[int, int]


def map_layers(model: Any) -> LayerMap:
    """Walks ``model`` depth-first and gives each trainable variable to the innermost layer owning it.

    A shared layer appears once: its variables and gradients are shared by all its calls. Variables
    that a model creates itself (``self.add_weight`` in a subclassed model) belong to the model's
    own name.
    """
    paths: list[str] = []
    layer_of_variable: dict[int, int] = {}

    def visit(layer: Any, path: str) -> None:
        children = direct_sublayers(layer)
        owned_by_children = {id(v) for child in children for v in child.trainable_weights}
        own = [v for v in layer.trainable_weights if id(v) not in owned_by_children and id(v) not in layer_of_variable]
        if own:
            paths.append(path)
            for variable in own:
                layer_of_variable[id(variable)] = len(paths) - 1
        for child in children:
            visit(child, f"{path}/{child.name}" if path else child.name)

    visit(model, "")
    # The model's own variables were recorded under the empty path: name them after the model.
    paths = [path or model.name for path in paths]
    return LayerMap(tuple(paths), layer_of_variable)


def direct_sublayers(layer: Any) -> list[Any]:
    """The layers directly inside ``layer`` (not recursive), in model order."""
    # Keras 3 has no public accessor for a plain Layer's direct children; `_flatten_layers` is the
    # one Keras itself uses for `Model.layers`.
    flatten = getattr(layer, "_flatten_layers", None)
    if flatten is None:
        return list(getattr(layer, "layers", []))
    return list(flatten(include_self=False, recursive=False))
