"""Viewer-side diagnostics, one module per diagnostic. ``DIAGNOSTICS`` is the registry.

Each entry knows how to summarise a run for the JSON report and which findings its rules raise.
Adding a diagnostic = its module + one line here.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

from tb_diag.plugin.diagnostics import activations, environment, gradients, input, memory, nonfinite
from tb_diag.plugin.findings import Finding
from tb_diag.plugin.run_data import RunData


@dataclasses.dataclass(frozen=True)
class Diagnostic:
    """A diagnostic's viewer-side entry points.

    Attributes:
      name: the family name; also its key in the JSON report and its panel's route.
      summarize: the run's summary for the report, or ``None`` if nothing was recorded.
      find: the findings its rules raise on the run.
      panel: the panel's data for ``(run, max_points)``, or ``None`` if nothing was recorded.
    """

    name: str
    summarize: Callable[[RunData], dict | None]
    find: Callable[[RunData], list[Finding]]
    panel: Callable[[RunData, int], dict | None]


DIAGNOSTICS: list[Diagnostic] = [
    Diagnostic(nonfinite.FAMILY.name, nonfinite.summarize, nonfinite.find, nonfinite.panel_payload),
    Diagnostic(gradients.FAMILY.name, gradients.summarize, gradients.find, gradients.panel_payload),
    Diagnostic(input.FAMILY.name, input.summarize, input.find, input.panel_payload),
    Diagnostic(activations.FAMILY.name, activations.summarize, activations.find, activations.panel_payload),
    Diagnostic(memory.FAMILY.name, memory.summarize, memory.find, memory.panel_payload),
    Diagnostic(environment.FAMILY.name, environment.summarize, environment.find, environment.panel_payload),
]
