"""The report document: the public JSON of ``tb-diag report --json`` and the ``report`` route."""

from __future__ import annotations

import copy
import dataclasses
import math
from typing import Any

from tb_diag.plugin import causes
from tb_diag.plugin.diagnostics import DIAGNOSTICS
from tb_diag.plugin.findings import Finding, sort_findings
from tb_diag.plugin.run_data import RunData, derived
from tb_diag.vocabulary import HEALTHY_STATUS, SEVERITIES

REPORT_SCHEMA = 1


def run_findings(run: RunData) -> list[Finding]:
    """Every diagnostic's findings for ``run``, consequences marked (``causes.attribute``): each root
    cause, worst first, followed by what follows from it (computed once per decoded run)."""
    return derived(
        run, "findings",
        lambda: causes.attribute([
            dataclasses.replace(finding, diagnostic=diagnostic.name) for diagnostic in DIAGNOSTICS for finding in _found(run, diagnostic)
        ]),
    )


def _found(run: RunData, diagnostic: Any) -> list[Finding]:
    return derived(run, f"findings:{diagnostic.name}", lambda: diagnostic.find(run))


def run_report(run: RunData) -> dict[str, Any]:
    """One run's entry of the report: its steps, layers, per-diagnostic summaries, the health
    summary (``overview``) and the findings (each naming its ``diagnostic``), worst first.
    Computed once per decoded run; callers get their own copy."""
    return copy.deepcopy(derived(run, "report", lambda: _run_report(run)))


def _run_report(run: RunData) -> dict[str, Any]:
    entry: dict[str, Any] = {"run": run.run, "steps": run.last_step, "layers": list(run.layers)}
    attributed = run_findings(run)
    overview = []
    for diagnostic in DIAGNOSTICS:
        summary = diagnostic.summarize(run)
        entry[diagnostic.name] = summary
        found = [finding for finding in attributed if finding.diagnostic == diagnostic.name]
        text = diagnostic.headline(run, summary)
        if text is None and not found:
            continue
        worst = sort_findings(found)[0].severity if found else HEALTHY_STATUS
        overview.append({
            "diagnostic": diagnostic.name, "label": diagnostic.label, "status": worst, "text": text or "",
            "findings": len(found), "root_causes": len(causes.root_causes(found)),
        })
    # Worst first; at the same status a line with a root cause before one with consequences only.
    entry["overview"] = sorted(overview, key=lambda line: (STATUS_ORDER[line["status"]], line["root_causes"] == 0))
    entry["findings"] = [finding.to_json() for finding in attributed]
    entry["warnings"] = list(run.warnings)
    return entry


# Health lines, worst first; "ok" (no finding) last.
STATUS_ORDER = {status: rank for rank, status in enumerate((*SEVERITIES, HEALTHY_STATUS))}


def report_document(runs: list[RunData]) -> dict[str, Any]:
    """The whole report: ``{"schema": 1, "runs": [...]}`` plus the keys each diagnostic that compares
    runs adds (``Diagnostic.compare``: the environment's ``environment_mismatches`` and
    ``not_reproducible``)."""
    document: dict[str, Any] = {"schema": REPORT_SCHEMA, "runs": [run_report(run) for run in runs]}
    for diagnostic in DIAGNOSTICS:
        if diagnostic.compare is not None:
            document.update(diagnostic.compare(runs))
    return document


def json_safe(value: Any) -> Any:
    """Replaces non-finite floats by the strings TensorBoard's JSON uses ("NaN", "Infinity", "-Infinity")."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    return value
