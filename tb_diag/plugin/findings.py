"""Findings: plain-language verdicts on a run, with what to change."""

from __future__ import annotations

import dataclasses
from typing import Literal

from tb_diag.vocabulary import SEVERITIES

Severity = Literal["info", "warning", "error"]
# Worst first, as tb_diag.vocabulary lists them.
SEVERITY_ORDER: dict[str, int] = {severity: rank for rank, severity in enumerate(SEVERITIES)}


@dataclasses.dataclass(frozen=True)
class Finding:
    """One thing wrong (or worth knowing) about a run.

    Attributes:
      id: stable rule name, e.g. ``"exploding_gradients"``.
      severity: ``"info"``, ``"warning"`` or ``"error"`` (``tb-diag check`` fails on errors).
      step: the training step it is about, if any.
      layer: the layer path it is about, if any.
      title: one line saying what is wrong.
      detail: the evidence, with numbers.
      remedy: what to change.
      caused_by: the ``id`` of the finding this one follows from (see ``tb_diag.plugin.causes``),
        or ``None`` for a root cause.
      diagnostic: the diagnostic that raised it (its family and panel), set by the report.
    """

    id: str
    severity: Severity
    step: int | None
    layer: str | None
    title: str
    detail: str
    remedy: str
    caused_by: str | None = None
    diagnostic: str | None = None

    def to_json(self) -> dict:
        """The finding as it appears in the JSON report and the HTTP API."""
        return dataclasses.asdict(self)


def sort_findings(findings: list[Finding]) -> list[Finding]:
    """Worst first (error, warning, info), then by step."""
    return sorted(findings, key=lambda f: (SEVERITY_ORDER[f.severity], f.step if f.step is not None else -1, f.id))
