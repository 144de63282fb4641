/**
 * The Overview's comparison of two or more runs (a teammate's run next to yours, a sweep): which
 * findings each run has, with the rows where the runs differ highlighted, the environment fields
 * whose values differ ("works on my machine"), and the runs' global gradient norms overlaid by step.
 */

import { ApiError, type EnvironmentData, type GradientsData, type RunInfo, type RunReport, type Severity } from "./api";
import { logLineChartOption } from "./charts/line_chart";
import { mountChart } from "./charts/mount_chart";
import { buildGlobalNormSeries } from "./charts/series";
import { createElement, createNote, errorMessage } from "./dom";
import { SEVERITY_RANK } from "./findings";
import { openPanel } from "./focus";
import { environmentDifferences, environmentPanel } from "./panels/environment";
import { gradientsPanel } from "./panels/gradients";
import { runsForPanel, type PanelContext } from "./panels/registry";

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

/** Steps at which the global gradient norm was NaN or ±Inf (gaps on the chart's log axis). */
export function nonfiniteNormSteps(data: Pick<GradientsData, "steps" | "global_norm">): number[] {
  return data.steps.filter((_, j) => {
    const value = data.global_norm[j] ?? null;
    return value !== null && !Number.isFinite(value);
  });
}

/**
 * Appends the comparison block of `runs` (their reports in the same order) to `container`: the
 * findings matrix now, the gradient-norm overlay once the runs' gradients have loaded.
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
  // Its own element, placed before the overlay's heading: both fill in whenever their data arrives.
  const environment = createElement("div", { className: "tbd-comparison-environment", attrs: { "data-testid": "comparison-environment" } });
  block.appendChild(environment);
  renderEnvironmentDifferences(environment, runs, context).catch((error: unknown) => {
    if (!context.signal.aborted) environment.appendChild(createNote(errorMessage(error), "error"));
  });
  renderNormOverlay(block, runs, context).catch((error: unknown) => {
    if (!context.signal.aborted) block.appendChild(createNote(errorMessage(error), "error"));
  });
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

/**
 * The environment fields whose values differ between the runs that have an environment card, one
 * row per field with its value in each such run; runs without a card are named.
 */
async function renderEnvironmentDifferences(element: HTMLElement, runs: readonly RunInfo[], context: PanelContext): Promise<void> {
  element.appendChild(createElement("h3", { className: "tbd-overview-heading", text: "Environment differences" }));
  const withCard = runsForPanel(environmentPanel, runs);
  const loading = createNote("Loading environments…");
  if (withCard.length > 0) element.appendChild(loading);
  const results = await Promise.allSettled(withCard.map((run) => context.api.environment(run.run, context.signal)));
  if (context.signal.aborted) return;
  loading.remove();

  const cards: EnvironmentData[] = [];
  const cardRuns: RunInfo[] = [];
  const withoutCard: string[] = runs.filter((run) => !withCard.includes(run)).map((run) => run.run);
  results.forEach((result, i) => {
    if (result.status === "fulfilled") {
      cards.push(result.value);
      cardRuns.push(withCard[i]);
    } else if (result.reason instanceof ApiError && result.reason.status === 404) {
      withoutCard.push(withCard[i].run);
    } else {
      element.appendChild(createNote(`${withCard[i].run}: ${errorMessage(result.reason)}`, "error"));
    }
  });
  // In selection order, whichever way each run turned out to have no card.
  const missing = runs.filter((run) => withoutCard.includes(run.run));
  for (const run of missing) {
    element.appendChild(
      createElement("p", {
        className: "tbd-note tbd-note-note",
        text: `${run.run}: no environment card`,
        attrs: { "data-testid": "comparison-env-missing", "data-run": run.run },
      }),
    );
  }
  if (cards.length < 2) {
    element.appendChild(createNote(cards.length === 0 ? "No run has an environment card to compare." : "Only one run has an environment card: nothing to compare it with."));
    return;
  }

  const notReproducible = cards
    .map((card, i) => ({ run: cardRuns[i].run, why: card.not_reproducible, remedy: card.reproducibility_remedy }))
    .filter((entry): entry is { run: string; why: string; remedy: string } => entry.why !== null);
  if (notReproducible.length > 0) {
    element.appendChild(
      createElement("p", {
        className: "tbd-note tbd-note-warning",
        attrs: { "data-testid": "comparison-not-reproducible" },
        text:
          `${notReproducible.length} of the ${cards.length} runs cannot be reproduced exactly (` +
          notReproducible.map(({ run, why }) => `${run}: ${why}`).join("; ") +
          "): part of any difference between them can be chance. " +
          notReproducible[0].remedy,
      }),
    );
  }

  const { compared, differences } = environmentDifferences(cards);
  const link = createElement("button", {
    className: "tbd-link",
    text: "open Environment panel",
    attrs: { type: "button", "data-testid": "comparison-env-link", "data-target-panel": environmentPanel.id },
  });
  link.addEventListener("click", () => openPanel({ panel: environmentPanel.id, run: cardRuns[0].run, layer: null, step: null }));
  if (differences.length === 0) {
    const among = missing.length > 0 ? "every run that has a card" : "every run";
    element.appendChild(
      createElement("p", { className: "tbd-note tbd-note-note", attrs: { "data-testid": "comparison-env-same" } }, [
        document.createTextNode(`Same environment in ${among} (${compared} field${compared === 1 ? "" : "s"} compared). `),
        link,
      ]),
    );
    return;
  }
  element.appendChild(
    createElement("p", { className: "tbd-note tbd-note-note" }, [
      document.createTextNode(
        `${differences.length} of ${compared} environment field(s) differ between the runs${
          differences.some(({ values }) => values.includes(null)) ? "; — means the run's card lacks the field" : ""
        }. `,
      ),
      link,
    ]),
  );
  const rows = differences.map(({ field, values }) =>
    createElement("tr", { className: "tbd-row-flagged", attrs: { "data-testid": "comparison-env-row", "data-field": field } }, [
      createElement("th", { text: field }),
      ...values.map((value, column) =>
        createElement("td", {
          className: value === null ? "tbd-cell-value tbd-comparison-absent" : "tbd-cell-value",
          text: value ?? "—",
          attrs: { "data-testid": "comparison-env-cell", "data-run": cardRuns[column].run },
        }),
      ),
    ]),
  );
  element.appendChild(
    createElement("div", { className: "tbd-table-scroll" }, [
      createElement("table", { className: "tbd-table tbd-comparison-table", attrs: { "data-testid": "comparison-env-table" } }, [
        createElement("thead", {}, [
          createElement("tr", {}, [
            createElement("th", { text: "field" }),
            ...cardRuns.map((run) => createElement("th", { className: "tbd-comparison-run", text: run.run, attrs: { title: run.run } })),
          ]),
        ]),
        createElement("tbody", {}, rows),
      ]),
    ]),
  );
}

/** The global gradient norm of every run that recorded gradients, one line per run on a log axis. */
async function renderNormOverlay(block: HTMLElement, runs: readonly RunInfo[], context: PanelContext): Promise<void> {
  block.appendChild(createElement("h3", { className: "tbd-overview-heading", text: "Global gradient norm per run" }));
  const withGradients = runsForPanel(gradientsPanel, runs);
  for (const run of runs) {
    if (!withGradients.includes(run)) block.appendChild(createNote(`${run.run}: no gradient norms recorded.`));
  }
  if (withGradients.length === 0) return;
  const loading = createNote("Loading gradient norms…");
  block.appendChild(loading);
  const results = await Promise.allSettled(withGradients.map((run) => context.api.gradients(run.run, context.signal)));
  if (context.signal.aborted) return;
  loading.remove();
  const loaded: GradientsData[] = [];
  results.forEach((result, i) => {
    if (result.status === "fulfilled") loaded.push(result.value);
    else block.appendChild(createNote(`${withGradients[i].run}: ${errorMessage(result.reason)}`, "error"));
  });
  if (loaded.length === 0) return;

  const chartElement = createElement("div", {
    className: "tbd-chart tbd-chart-line",
    attrs: { "data-testid": "comparison-norm-chart", "data-runs": String(loaded.length) },
  });
  // Attached before the chart is created: ECharts sizes itself from the element.
  block.appendChild(chartElement);
  const chart = mountChart(chartElement, context.signal);
  // Test hook: set once the overlay is drawn.
  chart.on("finished", () => chartElement.setAttribute("data-drawn", "true"));
  chart.setOption(logLineChartOption(buildGlobalNormSeries(loaded), "global norm"));
  block.appendChild(createNote("Zero, NaN and Inf norms cannot sit on a log axis: they are gaps in the lines."));
  for (const data of loaded) {
    const bad = nonfiniteNormSteps(data);
    if (bad.length > 0) {
      block.appendChild(createNote(`${data.run}: the global norm was NaN/Inf first at step ${bad[0]} (${bad.length} point(s) in all).`, "warning"));
    }
  }
}
