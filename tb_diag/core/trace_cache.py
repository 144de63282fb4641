"""Keeps a model's traced, hooked train steps between ``fit`` calls, so a later fit does not trace again.

Tracing a 150-layer model's train step takes tens of seconds on CPU; Keras itself traces once per
model and reuses the trace on every later ``fit``. tb_diag does the same: the traced functions,
the probes whose buffers those graphs captured, and the step counter are kept with the model in
a ``TracedSteps`` and lent to whichever ``DiagnosticsCallback`` runs the next ``fit``, provided
nothing that shapes the graph has changed (``graph_key``).

Keeping them costs the model nothing visible: the entry sits in the model's ``__dict__`` under a
name Keras does not track (``object.__setattr__`` skips Keras' and TensorFlow's attribute
tracking), so it is not a weight, not in ``get_config``, not saved and not restored. Between fits
no hook is installed and ``model.train_function`` is Keras' own: a ``fit`` without tb_diag trains
exactly as it would have. The traced graphs call no Python when they run; Python only runs when
TensorFlow traces again (a new input signature), and then it goes through ``TracedSteps.owner``,
the callback of the fit in progress.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Hashable

_ATTRIBUTE = "_tb_diag_traced_steps"


@dataclasses.dataclass
class TracedSteps:
    """What one model's hooked train steps are made of, reusable by the next ``fit``.

    Attributes:
      key: ``graph_key`` of the fit that traced them.
      owner: the callback running the current fit (trace-time Python goes to it).
      traces: ``{sampled: train function}``, traced on first use.
      probes: the started probes (their in-graph buffers are captured by ``traces``).
      counter: the in-graph step counter.
      layers: the ``LayerMap`` the probes were started with.
      reusable: set at the end of a fit whose probes all ran without failing; only then is the
        entry lent again (a probe that failed mid-trace may have left a trace without its ops).
      executions: train-function executions run with these traces, over all fits: the sampling
        schedule goes on across fits instead of restarting (a refit pays no extra sampled step).
    """

    key: Hashable
    owner: Any
    traces: dict[bool, Any] = dataclasses.field(default_factory=dict)
    probes: list[Any] = dataclasses.field(default_factory=list)
    counter: Any = None
    layers: Any = None
    reusable: bool = False
    executions: int = 0


def graph_key(model: Any, options: Hashable) -> tuple:
    """Everything that decides what the hooked train step's graph contains.

    ``options`` is the callback's own part (probes, sampling, buffer size, ``on_nan``...). The
    model's part: the optimizer and the compiled loss and metrics (``compile`` makes new ones),
    the trainable variables, ``jit_compile``, ``run_eagerly``, ``steps_per_execution``, the
    strategy, and the train step and loss methods (a subclass or instance override). The input
    signature is not part of it: a new one makes TensorFlow trace again, through the hooks.
    """
    return (
        options,
        id(getattr(model, "optimizer", None)),
        id(getattr(model, "_compile_loss", None)),
        id(getattr(model, "_compile_metrics", None)),
        tuple(id(variable) for variable in model.trainable_variables),
        bool(model.jit_compile),
        bool(model.run_eagerly),
        int(getattr(model, "steps_per_execution", 1) or 1),
        id(model.distribute_strategy),
        _function_identity(model, "train_step"),
        _function_identity(model, "compute_loss"),
    )


def _function_identity(model: Any, name: str) -> tuple:
    """The function behind ``model.<name>`` (class or instance), ignoring tb_diag's own patches."""
    own = model.__dict__.get(name)
    return (id(type(model).__dict__.get(name) or getattr(type(model), name, None)), id(own) if own is not None else None)


def find(model: Any, key: Hashable) -> TracedSteps | None:
    """The model's kept steps if they were traced under ``key`` and may be reused, else ``None``."""
    entry = model.__dict__.get(_ATTRIBUTE)
    if entry is None or not entry.reusable or entry.key != key:
        return None
    return entry


def keep(model: Any, entry: TracedSteps) -> None:
    """Stores ``entry`` with the model (replacing any earlier one), outside Keras' tracking."""
    object.__setattr__(model, _ATTRIBUTE, entry)


def forget(model: Any) -> None:
    """Drops the model's kept steps: the next fit traces afresh."""
    model.__dict__.pop(_ATTRIBUTE, None)
