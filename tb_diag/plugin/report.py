"""The report document: the public JSON of ``tb-diag report --json`` and the ``report`` route."""

from __future__ import annotations

import math
from typing import Any

from tb_diag.plugin.diagnostics import DIAGNOSTICS
from tb_diag.plugin.findings import Finding, sort_findings
from tb_diag.plugin.run_data import RunData

REPORT_SCHEMA = 1


def run_findings(run: RunData) -> list[Finding]:
    """Every diagnostic's findings for ``run``, worst first."""
    return sort_findings([finding for diagnostic in DIAGNOSTICS for finding in diagnostic.find(run)])


def run_report(run: RunData) -> dict[str, Any]:
    """One run's entry of the report: its steps, layers, per-diagnostic summaries and findings."""
    entry: dict[str, Any] = {"run": run.run, "steps": run.last_step, "layers": list(run.layers)}
    for diagnostic in DIAGNOSTICS:
        entry[diagnostic.name] = diagnostic.summarize(run)
    entry["findings"] = [finding.to_json() for finding in run_findings(run)]
    entry["warnings"] = list(run.warnings)
    return entry


def report_document(runs: list[RunData]) -> dict[str, Any]:
    """The whole report: ``{"schema": 1, "runs": [...], "environment_mismatches": {field: {run: value}}}``."""
    from tb_diag.plugin.diagnostics import environment

    return {
        "schema": REPORT_SCHEMA,
        "runs": [run_report(run) for run in runs],
        "environment_mismatches": environment.mismatches({run.run: environment.card(run) for run in runs}),
    }


def json_safe(value: Any) -> Any:
    """Replaces non-finite floats by the strings TensorBoard's JSON uses ("NaN", "Infinity", "-Infinity")."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    return value
