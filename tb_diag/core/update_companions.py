"""Tensors computed beside the optimizer's update, so that the graph optimiser can share its work.

Densifying a sparse gradient (an embedding table's ``tf.IndexedSlices``) for its norm costs about
as much as the rest of a small text model's update on CPU (0.6-0.9 ms for 4,096 rows of 64 values).
Keras' optimizers densify it anyway, and Grappler merges two identical ops, but only when both are
in the same graph: when the NaN/Inf probe puts the update in a branch of a ``tf.cond`` (to hold a
bad step's update back), a densify outside that branch is paid twice. So a probe that needs such a
tensor *asks* for it, and it is made wherever the update runs.

Who makes them: the callback, right after ``optimizer.apply`` (in whatever graph that is); a
probe whose ``guard_apply`` runs the update inside a branch returns ``here()`` from every branch
(the branch that runs the update gets the tensors made beside it; the others make their own) and
passes the conditional's outputs to ``resolve``. If nobody made them for the graph a probe reads
them from (for instance a guard that failed and let the update run plainly), they are made there
on first read: the same values, only without the sharing.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import tensorflow as tf


class UpdateCompanions:
    """The tensors probes asked to have computed beside one optimizer update (one per step trace)."""

    def __init__(self) -> None:
        self._makers: list[Callable[[], Any]] = []
        self._made: dict[Any, list[Any]] = {}  # graph -> the tensors for it

    def ask(self, make: Callable[[], Any]) -> int:
        """Registers ``make()`` (returns one tensor); returns the index to read it back with."""
        self._makers.append(make)
        return len(self._makers) - 1

    def here(self) -> list[Any]:
        """The tensors for the graph being traced into: made now (once per graph) if not yet."""
        graph = _graph()
        made = self._made.get(graph)
        if made is None or len(made) != len(self._makers):
            made = self._made[graph] = [make() for make in self._makers]
        return list(made)

    def resolve(self, tensors: Sequence[Any]) -> None:
        """Takes ``tensors`` (a conditional's outputs of ``here()``) as this graph's values."""
        if len(tensors) != len(self._makers):
            raise ValueError(f"expected {len(self._makers)} companion tensors, got {len(tensors)}")
        self._made[_graph()] = list(tensors)

    def value(self, index: int) -> Any:
        """The tensor ``ask`` returned ``index`` for, as seen from the graph being traced into."""
        return self.here()[index]


def _graph() -> Any:
    # Eagerly every call gets the global default graph: made once per update, as traced.
    return tf.compat.v1.get_default_graph()
