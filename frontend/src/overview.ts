/**
 * The Overview, the tab's landing view. Per selected run a card: its name and steps, its health
 * summary (one line per diagnostic, worst first, each linking to its panel) and every finding with
 * what to change and a link that opens its panel on the finding's layer and step. With two or more
 * runs, the comparison block (`comparison.ts`) comes first.
 */

import type { Finding, OverviewLine, RunInfo, RunReport } from "./api";
import { renderComparison } from "./comparison";
import { createElement, createNote } from "./dom";
import { groupByCause, renderFindingGroup, summarizeFindings } from "./findings";
import { openPanel } from "./focus";
import { PANELS, runsForPanel, type Panel, type PanelContext } from "./panels/registry";

/** A selected run and its report. */
export interface LoadedRun {
  info: RunInfo;
  report: RunReport;
}

/** A selected run whose report could not be loaded, and why. */
export interface RunError {
  run: string;
  message: string;
}

/** The panel of `diagnostic`, if the tab shows it for `run` (it has the panel's family). */
export function panelFor(diagnostic: string | null, run: RunInfo): Panel | undefined {
  const panel = PANELS.find((candidate) => candidate.id === diagnostic);
  return panel !== undefined && runsForPanel(panel, [run]).length > 0 ? panel : undefined;
}

/**
 * Replaces the content of `container` with the Overview of `loaded` (in selection order), with
 * `errors` (runs whose report failed) as error notes.
 */
export function renderOverview(
  container: HTMLElement,
  loaded: readonly LoadedRun[],
  errors: readonly RunError[],
  context: PanelContext,
): void {
  container.replaceChildren(
    createElement("h2", { className: "tbd-section-title" }, [
      document.createTextNode("Overview"),
      createElement("span", {
        className: "tbd-section-summary",
        text: summarizeFindings(loaded.flatMap(({ report }) => report.findings)),
      }),
    ]),
  );
  for (const { run, message } of errors) container.appendChild(createNote(`${run}: ${message}`, "error"));
  if (loaded.length > 1) {
    renderComparison(
      container,
      loaded.map(({ info }) => info),
      loaded.map(({ report }) => report),
      context,
    );
  }
  if (loaded.length > 0) container.appendChild(createElement("div", { className: "tbd-overview-runs" }, loaded.map(renderRunCard)));
}

/** One run's card: name, steps, warnings, health lines and findings. */
function renderRunCard({ info, report }: LoadedRun): HTMLElement {
  const card = createElement("article", { className: "tbd-overview-run", attrs: { "data-testid": "overview-run", "data-run": info.run } }, [
    createElement("div", { className: "tbd-overview-run-head" }, [
      createElement("h3", { className: "tbd-overview-run-name", text: info.run, attrs: { title: info.run } }),
      createElement("span", { className: "tbd-overview-run-steps", text: `${report.steps} step${report.steps === 1 ? "" : "s"}` }),
    ]),
  ]);
  for (const warning of report.warnings) card.appendChild(createNote(warning, "warning"));

  if (report.overview.length === 0) {
    card.appendChild(createNote("No diagnostic has anything to say about this run yet."));
  } else {
    card.appendChild(
      createElement(
        "ul",
        { className: "tbd-health", attrs: { "aria-label": "Health summary" } },
        report.overview.map((line) => renderHealthLine(line, info)),
      ),
    );
  }

  card.appendChild(
    createElement("h4", { className: "tbd-overview-heading" }, [
      document.createTextNode("Findings"),
      createElement("span", { className: "tbd-section-summary", text: summarizeFindings(report.findings) }),
    ]),
  );
  if (report.findings.length === 0) {
    card.appendChild(createNote("Nothing looks wrong in this run."));
    return card;
  }
  const label = (finding: Finding): string | null =>
    report.overview.find((line) => line.diagnostic === finding.diagnostic)?.label || finding.diagnostic;
  card.appendChild(
    createElement(
      "ul",
      { className: "tbd-findings" },
      groupByCause(report.findings).map((group) =>
        renderFindingGroup(group, info.run, label, (finding) => {
          const panel = panelFor(finding.diagnostic, info);
          return panel === undefined
            ? null
            : (): void => {
                openPanel({ panel: panel.id, run: info.run, layer: finding.layer, step: finding.step });
              };
        }),
      ),
    ),
  );
  return card;
}

/** One health line: status badge (its name in text, not colour alone), label, text and "open panel". */
function renderHealthLine(line: OverviewLine, run: RunInfo): HTMLElement {
  const item = createElement(
    "li",
    {
      className: `tbd-health-line tbd-severity-${line.status}`,
      attrs: { "data-testid": "overview-line", "data-diagnostic": line.diagnostic, "data-status": line.status },
    },
    [
      createElement("span", { className: "tbd-badge", text: line.status }),
      createElement("span", { className: "tbd-health-label", text: line.label }),
      createElement("span", { className: "tbd-health-text", text: line.text }),
    ],
  );
  const panel = panelFor(line.diagnostic, run);
  if (panel !== undefined) {
    const link = createElement("button", {
      className: "tbd-link",
      text: "open panel",
      attrs: { type: "button", "data-testid": "overview-line-link", "data-target-panel": panel.id },
    });
    link.addEventListener("click", () => openPanel({ panel: panel.id, run: run.run, layer: null, step: null }));
    item.appendChild(link);
  }
  return item;
}
