"""The report document: the public JSON of ``tb-diag report --json`` and the ``report`` route."""

from __future__ import annotations

import copy
import math
from typing import Any

from tb_diag.plugin.diagnostics import DIAGNOSTICS
from tb_diag.plugin.findings import Finding, sort_findings
from tb_diag.plugin.run_data import RunData, derived

REPORT_SCHEMA = 1


def run_findings(run: RunData) -> list[Finding]:
    """Every diagnostic's findings for ``run``, worst first (computed once per decoded run)."""
    return derived(run, "findings", lambda: sort_findings([finding for diagnostic in DIAGNOSTICS for finding in _found(run, diagnostic)]))


def _found(run: RunData, diagnostic: Any) -> list[Finding]:
    return derived(run, f"findings:{diagnostic.name}", lambda: diagnostic.find(run))


def run_report(run: RunData) -> dict[str, Any]:
    """One run's entry of the report: its steps, layers, per-diagnostic summaries, the health
    summary (``overview``) and the findings (each naming its ``diagnostic``), worst first.
    Computed once per decoded run; callers get their own copy."""
    return copy.deepcopy(derived(run, "report", lambda: _run_report(run)))


def _run_report(run: RunData) -> dict[str, Any]:
    entry: dict[str, Any] = {"run": run.run, "steps": run.last_step, "layers": list(run.layers)}
    findings: list[tuple[Finding, str]] = []
    overview = []
    for diagnostic in DIAGNOSTICS:
        summary = diagnostic.summarize(run)
        entry[diagnostic.name] = summary
        found = _found(run, diagnostic)
        findings += [(finding, diagnostic.name) for finding in found]
        text = diagnostic.headline(run, summary)
        if text is None and not found:
            continue
        worst = sort_findings(found)[0].severity if found else "ok"
        overview.append({"diagnostic": diagnostic.name, "label": diagnostic.label, "status": worst, "text": text or "", "findings": len(found)})
    entry["overview"] = sorted(overview, key=lambda line: STATUS_ORDER[line["status"]])
    order = {id(finding): index for index, finding in enumerate(sort_findings([finding for finding, _ in findings]))}
    entry["findings"] = [
        {**finding.to_json(), "diagnostic": name} for finding, name in sorted(findings, key=lambda item: order[id(item[0])])
    ]
    entry["warnings"] = list(run.warnings)
    return entry


# Health lines, worst first; "ok" (no finding) last.
STATUS_ORDER = {"error": 0, "warning": 1, "info": 2, "ok": 3}


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
