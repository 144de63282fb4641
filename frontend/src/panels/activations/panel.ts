/**
 * The Activations panel: what each layer call's output looks like on the sampled steps.
 *
 * Per run, a table of every layer call (a shared layer once per call) and model input: its
 * activation, latest mean / std, share of zeros, dead units (ReLU) and saturation (sigmoid, tanh,
 * softmax), with a sparkline of the std; rows with a finding are highlighted. Clicking a row shows
 * that call's output distribution over steps (quantile bands, like TensorBoard's distributions);
 * a finding link of the Overview naming a layer call of the run does the same.
 */

import { type ActivationCall, type ActivationsData, fetchActivations } from "./data";
import type { MaybeNumber } from "../../decode";
import { distributionChartOption, sparklinePoints } from "../../charts/distribution";
import { formatNumber } from "../../charts/format";
import { mountChart } from "../../charts/mount_chart";
import { createElement, createNote } from "../../dom";
import { onFocusRequest } from "../../focus";
import { loadEachRun } from "../load_runs";
import type { Panel, PanelContext, RunSelection } from "../registry";

/** Registry entry of the Activations panel. */
export const activationsPanel: Panel = {
  id: "activations",
  title: "Activations",
  family: "activations",
  render: renderActivationsPanel,
};

const SVG = "http://www.w3.org/2000/svg";
const SPARK_WIDTH = 96;
const SPARK_HEIGHT = 18;

async function renderActivationsPanel(container: HTMLElement, runs: RunSelection[], context: PanelContext): Promise<void> {
  await loadEachRun(container, runs, context, "Loading activation statistics…", fetchActivations, (data) =>
    renderRun(container, data, context.signal),
  );
}

/** The call a finding's `layer` names: the call of that name, else the first call of that layer. */
export function callForLayer(calls: readonly ActivationCall[], layer: string): ActivationCall | undefined {
  return calls.find((call) => call.name === layer) ?? calls.find((call) => call.layer === layer);
}

/** The call shown first: the first one with a finding, else the first layer call. */
export function defaultCall(calls: readonly ActivationCall[]): ActivationCall | undefined {
  return calls.find((call) => call.finding !== null) ?? calls.find((call) => call.kind === "layer") ?? calls[0];
}

function renderRun(container: HTMLElement, data: ActivationsData, signal: AbortSignal): void {
  const block = createElement("div", { className: "tbd-chart-block" }, [createElement("div", { className: "tbd-chart-title", text: data.run })]);
  container.appendChild(block);
  for (const warning of data.warnings) block.appendChild(createNote(warning, "warning"));
  if (data.calls.length === 0 || data.steps.length === 0) {
    block.appendChild(createNote("No activation statistics sampled for this run yet."));
    return;
  }
  block.appendChild(
    createNote(
      `Sampled steps only (${data.steps.length} shown${data.downsampled ? ", each the largest value of its range of steps" : ""}). ` +
        "Dead: share of units ≤ 0 for every example of the batch (ReLU layers). Saturated: share of outputs within 1% of the bounds (sigmoid, tanh, softmax).",
    ),
  );
  const rows: HTMLTableRowElement[] = [];
  let shown = "";
  const show = (call: ActivationCall, row: HTMLTableRowElement | undefined): void => {
    rows.forEach((r) => r.setAttribute("aria-selected", String(r === row)));
    chartTitle.textContent = `Output distribution of ${call.name} over steps`;
    shown = call.name;
    chart.setOption(distributionChartOption(data.steps, data.band_quantiles, call.bands), { notMerge: true });
  };
  const chartTitle = createElement("h3");
  const chartElement = createElement("div", { className: "tbd-chart tbd-chart-line" });
  block.appendChild(renderTable(data, rows, show));
  block.appendChild(chartTitle);
  // Attached before the chart is created: ECharts sizes itself from the element.
  block.appendChild(chartElement);
  const chart = mountChart(chartElement, signal);
  // Test hook: set once the distribution is drawn.
  chart.on("finished", () => {
    chartElement.setAttribute("data-testid", "activation-distribution");
    chartElement.setAttribute("data-call", shown);
  });
  const first = defaultCall(data.calls);
  if (first) show(first, rows[data.calls.indexOf(first)]);

  onFocusRequest(activationsPanel.id, signal, (request) => {
    if (request.run !== data.run || request.layer === null) return;
    const call = callForLayer(data.calls, request.layer);
    if (call === undefined) return;
    const row = rows[data.calls.indexOf(call)];
    show(call, row);
    row.scrollIntoView({ behavior: "smooth", block: "center" });
  });
}

function renderTable(
  data: ActivationsData,
  rows: HTMLTableRowElement[],
  onSelect: (call: ActivationCall, row: HTMLTableRowElement) => void,
): HTMLElement {
  const header = ["layer call", "activation", "mean", "std", "zeros", "dead", "saturated", "std over steps", "finding"];
  const body = createElement("tbody");
  for (const call of data.calls) {
    const latest = call.latest;
    const cells = [
      createElement("td", { className: "tbd-cell-name", text: call.name, attrs: { title: call.layer } }),
      createElement("td", { text: call.activation }),
      createElement("td", { text: formatNumber(latest?.mean ?? null) }),
      createElement("td", { text: formatNumber(latest?.std ?? null) }),
      createElement("td", { text: percent(latest?.zero_fraction ?? null) }),
      createElement("td", { text: percent(call.recent_dead_fraction) }),
      createElement("td", { text: percent(call.recent_saturation) }),
      createElement("td", {}, [sparkline(call.std)]),
      createElement("td", { text: call.finding ?? "" }),
    ];
    const row = createElement("tr", {
      className: call.finding ? "tbd-row-flagged" : "",
      attrs: { "data-testid": "activation-row", "data-call": call.name, tabindex: "0", "aria-selected": "false" },
    }, cells);
    row.addEventListener("click", () => onSelect(call, row));
    row.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") onSelect(call, row);
    });
    rows.push(row);
    body.appendChild(row);
  }
  return createElement("div", { className: "tbd-table-scroll" }, [
    createElement("table", { className: "tbd-table tbd-table-select", attrs: { "data-testid": "activations-table" } }, [
      createElement("thead", {}, [createElement("tr", {}, header.map((text) => createElement("th", { text })))]),
      body,
    ]),
  ]);
}

/** Formats a fraction as a percentage; "—" where it does not apply. */
export function percent(value: MaybeNumber): string {
  if (value === null) return "—";
  if (!Number.isFinite(value)) return formatNumber(value);
  return `${(value * 100).toFixed(value < 0.1 && value > 0 ? 1 : 0)}%`;
}

function sparkline(values: readonly MaybeNumber[]): SVGSVGElement {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("width", String(SPARK_WIDTH));
  svg.setAttribute("height", String(SPARK_HEIGHT));
  svg.setAttribute("viewBox", `0 0 ${SPARK_WIDTH} ${SPARK_HEIGHT}`);
  const line = document.createElementNS(SVG, "polyline");
  line.setAttribute("points", sparklinePoints(values, SPARK_WIDTH, SPARK_HEIGHT - 2));
  line.setAttribute("fill", "none");
  line.setAttribute("stroke", "#1976d2");
  line.setAttribute("stroke-width", "1.5");
  svg.appendChild(line);
  return svg;
}
