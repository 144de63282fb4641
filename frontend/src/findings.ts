/** The findings list at the top of the tab: what went wrong, where, and what to try. */

import type { Finding, RunReport, Severity } from "./api";
import { createElement, createNote } from "./dom";

const SEVERITY_RANK: Record<Severity, number> = { error: 0, warning: 1, info: 2 };

/** A finding together with the run it was found in. */
export interface RunFinding extends Finding {
  run: string;
}

/** Findings of all reports, worst first; within a severity, in report order (which is by step). */
export function collectFindings(reports: readonly RunReport[]): RunFinding[] {
  return reports
    .flatMap((report) => report.findings.map((finding) => ({ ...finding, run: report.run })))
    .sort((a, b) => SEVERITY_RANK[a.severity] - SEVERITY_RANK[b.severity]);
}

/** "2 errors, 1 warning" — or "No findings". */
export function summarizeFindings(findings: readonly Finding[]): string {
  const parts: string[] = [];
  for (const severity of ["error", "warning", "info"] as const) {
    const count = findings.filter((finding) => finding.severity === severity).length;
    if (count > 0) parts.push(`${count} ${severity}${count === 1 ? "" : "s"}`);
  }
  return parts.length > 0 ? parts.join(", ") : "No findings";
}

/** One list item: severity badge, title, where (run · layer · step), detail and remedy. */
export function renderFinding(finding: RunFinding): HTMLElement {
  const where = [finding.run];
  if (finding.layer !== null) where.push(`layer ${finding.layer}`);
  if (finding.step !== null) where.push(`step ${finding.step}`);
  const item = createElement(
    "li",
    {
      className: `tbd-finding tbd-severity-${finding.severity}`,
      attrs: { "data-testid": "finding", "data-finding-id": finding.id, "data-severity": finding.severity },
    },
    [
      createElement("div", { className: "tbd-finding-head" }, [
        createElement("span", { className: "tbd-badge", text: finding.severity }),
        createElement("span", { className: "tbd-finding-title", text: finding.title }),
      ]),
      createElement("div", { className: "tbd-finding-where", text: where.join(" · ") }),
    ],
  );
  if (finding.detail) item.appendChild(createElement("p", { className: "tbd-finding-detail", text: finding.detail }));
  if (finding.remedy) {
    item.appendChild(
      createElement("p", { className: "tbd-finding-remedy" }, [
        createElement("strong", { text: "What to try: " }),
        document.createTextNode(finding.remedy),
      ]),
    );
  }
  return item;
}

/**
 * Replaces the content of `container` with the findings of `reports`, the reports' warnings as
 * notes, and `errors` (runs whose report could not be loaded) as error notes.
 */
export function renderFindings(
  container: HTMLElement,
  reports: readonly RunReport[],
  errors: ReadonlyArray<{ run: string; message: string }> = [],
): void {
  const findings = collectFindings(reports);
  container.replaceChildren(
    createElement("h2", { className: "tbd-section-title" }, [
      document.createTextNode("Findings"),
      createElement("span", { className: "tbd-section-summary", text: summarizeFindings(findings) }),
    ]),
  );
  for (const { run, message } of errors) container.appendChild(createNote(`${run}: ${message}`, "error"));
  for (const report of reports) {
    for (const warning of report.warnings) container.appendChild(createNote(`${report.run}: ${warning}`, "warning"));
  }
  if (findings.length === 0) {
    if (errors.length === 0) container.appendChild(createNote("Nothing looks wrong in the selected runs."));
    return;
  }
  container.appendChild(createElement("ul", { className: "tbd-findings" }, findings.map(renderFinding)));
}
