"""Viewer-side diagnostics, one module per diagnostic. ``DIAGNOSTICS`` is the registry.

Each entry knows how to summarise a run for the JSON report and which findings its rules raise.
Adding a diagnostic = its module + one line here.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

from tb_diag.plugin.diagnostics import (
    activations, callbacks, eager, environment, epochs, gradients, input, memory, nonfinite, stateful,
)
from tb_diag.plugin.findings import Finding
from tb_diag.plugin.run_data import RunData


@dataclasses.dataclass(frozen=True)
class Diagnostic:
    """A diagnostic's viewer-side entry points.

    Attributes:
      name: the family name; also its key in the JSON report and its panel's route.
      label: how the report and the Overview name it.
      summarize: the run's summary for the report, or ``None`` if nothing was recorded.
      find: the findings its rules raise on the run.
      panel: the panel's data for ``(run, max_points)``, or ``None`` if nothing was recorded.
      headline: one line about the run, given its summary (``None``: nothing to say).
      prepare: whether the background warmer prepares its panel's default view as soon as the run
        changes (a view heavy enough that the first request would wait for it).
      compare: for a diagnostic that compares runs, the keys it adds to the report document given
        every reported run (the report names no diagnostic itself).
    """

    name: str
    label: str
    summarize: Callable[[RunData], dict | None]
    find: Callable[[RunData], list[Finding]]
    panel: Callable[[RunData, int], dict | None]
    headline: Callable[[RunData, dict | None], str | None]
    prepare: bool = False
    compare: Callable[[list[RunData]], dict] | None = None


# In this order in the report, the CLI and the Overview.
DIAGNOSTICS: list[Diagnostic] = [
    Diagnostic(nonfinite.FAMILY.name, "NaN/Inf", nonfinite.summarize, nonfinite.find, nonfinite.panel_payload, nonfinite.headline),
    Diagnostic(gradients.FAMILY.name, "gradients", gradients.summarize, gradients.find, gradients.panel_payload, gradients.headline,
               prepare=True),
    Diagnostic(input.FAMILY.name, "input", input.summarize, input.find, input.panel_payload, input.headline),
    Diagnostic(activations.FAMILY.name, "activations", activations.summarize, activations.find, activations.panel_payload, activations.headline),
    Diagnostic(memory.FAMILY.name, "memory", memory.summarize, memory.find, memory.panel_payload, memory.headline),
    Diagnostic(epochs.FAMILY.name, "epochs", epochs.summarize, epochs.find, epochs.panel_payload, epochs.headline),
    Diagnostic(callbacks.FAMILY.name, "callbacks", callbacks.summarize, callbacks.find, callbacks.panel_payload, callbacks.headline),
    Diagnostic(eager.FAMILY.name, "eager", eager.summarize, eager.find, eager.panel_payload, eager.headline),
    Diagnostic(stateful.FAMILY.name, "stateful RNN", stateful.summarize, stateful.find, stateful.panel_payload, stateful.headline),
    Diagnostic(environment.FAMILY.name, "environment", environment.summarize, environment.find, environment.panel_payload, environment.headline,
               compare=environment.compare_runs),
]
