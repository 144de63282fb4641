/**
 * The frame of the Diagnostics tab: header, run selector, the Overview (the landing view) and the
 * panel area. Panels come from the registry; the shell only decides which runs each one gets.
 */

import type { DiagnosticsApi, RunInfo } from "./api";
import { createElement, createNote, errorMessage } from "./dom";
import { renderOverview, type LoadedRun, type RunError } from "./overview";
import { PANELS, runsForPanel } from "./panels/registry";

/** Shown when TensorBoard's log dir holds no tb_diag data. */
export const NO_DATA_MESSAGE =
  "No tb_diag data yet: add DiagnosticsCallback(log_dir) to model.fit(..., callbacks=[...]) " +
  "with the same log_dir TensorBoard reads, train for a few steps, then reload this tab.";

/** Builds the tab into `root` and loads the run list. Resolves once the first view is requested. */
export async function renderShell(root: HTMLElement, api: DiagnosticsApi): Promise<void> {
  const runSelector = createElement("nav", { className: "tbd-runs", attrs: { "aria-label": "Runs" } });
  const overviewArea = createElement("section", {
    className: "tbd-overview",
    attrs: { "data-testid": "overview", "aria-live": "polite" },
  });
  const panelArea = createElement("div", { className: "tbd-panels" });
  const main = createElement("main", { className: "tbd-main" }, [overviewArea, panelArea]);
  root.replaceChildren(
    createElement("header", { className: "tbd-header" }, [
      createElement("h1", { text: "Diagnostics" }),
      createElement("span", { className: "tbd-subtitle", text: "Training health per run: findings first, then the evidence." }),
    ]),
    createElement("div", { className: "tbd-body" }, [runSelector, main]),
  );

  let runs: RunInfo[];
  overviewArea.appendChild(createNote("Loading runs…"));
  try {
    runs = await api.runs();
  } catch (error) {
    overviewArea.replaceChildren(createNote(`Could not load the list of runs: ${errorMessage(error)}`, "error"));
    return;
  }
  if (runs.length === 0) {
    runSelector.remove();
    overviewArea.replaceChildren(createNote(NO_DATA_MESSAGE));
    return;
  }

  let current: AbortController | null = null;
  const showSelection = (selected: RunInfo[]): void => {
    current?.abort();
    current = new AbortController();
    void renderSelection(selected, { overviewArea, panelArea, api, signal: current.signal });
  };
  renderRunSelector(runSelector, runs, showSelection);
  showSelection(runs.slice(0, 1));
}

/**
 * The run selector: one checkbox per run, several may be checked; the first run starts checked.
 * Calls `onChange` with the checked runs, in list order, whenever a box changes.
 */
export function renderRunSelector(
  container: HTMLElement,
  runs: readonly RunInfo[],
  onChange: (selected: RunInfo[]) => void,
): void {
  const boxes: HTMLInputElement[] = [];
  const list = createElement("ul", { className: "tbd-run-list" });
  runs.forEach((run, i) => {
    const box = createElement("input", { attrs: { type: "checkbox", "data-testid": "run-toggle", "data-run": run.run } });
    box.checked = i === 0;
    box.addEventListener("change", () => onChange(runs.filter((_, j) => boxes[j].checked)));
    boxes.push(box);
    const counts = createElement("span", { className: "tbd-run-counts" });
    if (run.error_count > 0) counts.appendChild(createElement("span", { className: "tbd-count-error", text: `${run.error_count} err` }));
    if (run.warning_count > 0) counts.appendChild(createElement("span", { className: "tbd-count-warning", text: `${run.warning_count} warn` }));
    list.appendChild(
      createElement("li", {}, [
        createElement("label", { className: "tbd-run", attrs: { title: run.run } }, [
          box,
          createElement("span", { className: "tbd-run-name", text: run.run }),
          counts,
        ]),
      ]),
    );
  });
  container.replaceChildren(createElement("h2", { className: "tbd-runs-title", text: `Runs (${runs.length})` }), list);
}

interface SelectionView {
  overviewArea: HTMLElement;
  panelArea: HTMLElement;
  api: DiagnosticsApi;
  /** Aborted when the selection changes again. */
  signal: AbortSignal;
}

async function renderSelection(selected: RunInfo[], view: SelectionView): Promise<void> {
  const { overviewArea, panelArea, api, signal } = view;
  panelArea.replaceChildren();
  if (selected.length === 0) {
    overviewArea.replaceChildren(createNote("Select one or more runs on the left."));
    return;
  }
  renderPanels(panelArea, selected, api, signal);

  overviewArea.replaceChildren(createNote("Loading findings…"));
  const results = await Promise.allSettled(selected.map((run) => api.report(run.run, signal)));
  if (signal.aborted) return;
  const loaded: LoadedRun[] = [];
  const errors: RunError[] = [];
  results.forEach((result, i) => {
    if (result.status === "fulfilled") loaded.push({ info: selected[i], report: result.value });
    else errors.push({ run: selected[i].run, message: errorMessage(result.reason) });
  });
  renderOverview(overviewArea, loaded, errors, { api, signal });
}

/** One section per registered panel that at least one selected run has data for. */
function renderPanels(panelArea: HTMLElement, selected: RunInfo[], api: DiagnosticsApi, signal: AbortSignal): void {
  for (const panel of PANELS) {
    const runs = runsForPanel(panel, selected);
    if (runs.length === 0) continue;
    const body = createElement("div", { className: "tbd-panel-body" });
    panelArea.appendChild(
      createElement("section", { className: "tbd-panel", attrs: { "data-panel": panel.id } }, [
        createElement("h2", { className: "tbd-section-title", text: panel.title }),
        body,
      ]),
    );
    // A failing panel shows its error and leaves the rest of the tab working.
    Promise.resolve()
      .then(() => panel.render(body, runs, { api, signal }))
      .catch((error: unknown) => {
        if (!signal.aborted) body.appendChild(createNote(errorMessage(error), "error"));
      });
  }
  if (panelArea.childElementCount === 0) {
    panelArea.appendChild(createNote("The selected runs recorded no diagnostics this version of the tab can show."));
  }
}
