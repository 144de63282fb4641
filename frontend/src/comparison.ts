/**
 * The Overview's comparison of two or more runs (a teammate's run next to yours, a sweep): which
 * findings each run has, with the rows where the runs differ highlighted, then what each panel
 * compares itself (`Panel.compare`: the environment fields whose values differ, "works on my
 * machine"; the runs' global gradient norms overlaid by step).
 */

import type { RunInfo, RunReport, Severity } from "./api";
import { createElement, createNote, errorMessage } from "./dom";
import { SEVERITY_RANK } from "./findings";
import { PANELS, runsForPanel, type PanelContext } from "./panels/registry";

/** One row of the findings matrix: a finding id and how each run has it. */
export interface ComparisonRow {
  id: string;
  /** The finding's title in the first run that has it. */
  title: string;
  /** Per run (in report order), its worst severity of this finding; null where the run does not have it. */
  cells: Array<Severity | null>;
  /** The worst severity over all runs. */
  worst: Severity;
  /** Whether the runs disagree: a severity differs, or some run does not have the finding. */
  differs: boolean;
}

function worse(a: Severity, b: Severity): Severity {
  return SEVERITY_RANK[b] < SEVERITY_RANK[a] ? b : a;
}

/** One row per finding id of any report, worst first; within a severity, in order of first appearance. */
export function comparisonRows(reports: ReadonlyArray<Pick<RunReport, "findings">>): ComparisonRow[] {
  const rows = new Map<string, ComparisonRow>();
  reports.forEach((report, column) => {
    for (const finding of report.findings) {
      let row = rows.get(finding.id);
      if (row === undefined) {
        row = { id: finding.id, title: finding.title, cells: reports.map(() => null), worst: finding.severity, differs: false };
        rows.set(finding.id, row);
      }
      const cell = row.cells[column];
      row.cells[column] = cell === null ? finding.severity : worse(cell, finding.severity);
      row.worst = worse(row.worst, finding.severity);
    }
  });
  const ordered = [...rows.values()].sort((a, b) => SEVERITY_RANK[a.worst] - SEVERITY_RANK[b.worst]);
  for (const row of ordered) row.differs = new Set(row.cells).size > 1;
  return ordered;
}

/**
 * Appends the comparison block of `runs` (their reports in the same order) to `container`: the
 * findings matrix now, then the section of every panel that has a `compare` (the environment's
 * differences, the gradient-norm overlay), each once its data has loaded.
 */
export function renderComparison(
  container: HTMLElement,
  runs: readonly RunInfo[],
  reports: readonly RunReport[],
  context: PanelContext,
): void {
  const block = createElement("div", { className: "tbd-comparison", attrs: { "data-testid": "comparison" } }, [
    createElement("h3", { className: "tbd-overview-heading", text: `Comparison of ${runs.length} runs` }),
    renderMatrix(runs, reports),
  ]);
  container.appendChild(block);
  // Then each panel's own comparison, in its element: each fills in whenever its data arrives.
  for (const panel of PANELS) {
    const compare = panel.compare;
    if (compare === undefined) continue;
    const element = createElement("div", { className: "tbd-comparison-section", attrs: { "data-testid": `comparison-${panel.id}` } });
    block.appendChild(element);
    compare(element, runs, runsForPanel(panel, runs), context).catch((error: unknown) => {
      if (!context.signal.aborted) element.appendChild(createNote(errorMessage(error), "error"));
    });
  }
}

function renderMatrix(runs: readonly RunInfo[], reports: readonly RunReport[]): HTMLElement {
  const rows = comparisonRows(reports);
  if (rows.length === 0) return createNote("None of the selected runs has a finding.");
  const differing = rows.filter((row) => row.differs).length;
  const body = createElement(
    "tbody",
    {},
    rows.map((row) =>
      createElement(
        "tr",
        {
          className: row.differs ? "tbd-row-flagged" : "",
          attrs: { "data-testid": "comparison-row", "data-finding-id": row.id, "data-differs": String(row.differs) },
        },
        [
          createElement("th", { className: "tbd-comparison-finding", attrs: { title: row.id } }, [
            createElement("span", { text: row.title }),
            createElement("span", { className: "tbd-comparison-id", text: row.id }),
          ]),
          ...row.cells.map((severity, column) =>
            createElement(
              "td",
              {
                className: severity === null ? "tbd-comparison-absent" : `tbd-severity-${severity}`,
                attrs: { "data-testid": "comparison-cell", "data-run": runs[column].run, "data-severity": severity ?? "none" },
              },
              [severity === null ? document.createTextNode("—") : createElement("span", { className: "tbd-badge", text: severity })],
            ),
          ),
        ],
      ),
    ),
  );
  return createElement("div", {}, [
    createNote(
      differing > 0
        ? `${differing} of ${rows.length} finding(s) differ between the runs (highlighted); — means the run does not have it.`
        : "Every run has the same findings.",
    ),
    createElement("div", { className: "tbd-table-scroll" }, [
      createElement("table", { className: "tbd-table tbd-comparison-table", attrs: { "data-testid": "comparison-matrix" } }, [
        createElement("thead", {}, [
          createElement("tr", {}, [
            createElement("th", { text: "finding" }),
            ...runs.map((run) => createElement("th", { className: "tbd-comparison-run", text: run.run, attrs: { title: run.run } })),
          ]),
        ]),
        body,
      ]),
    ]),
  ]);
}
