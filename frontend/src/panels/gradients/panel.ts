/**
 * The Gradients panel: where in the network and when gradients vanish, explode or turn non-finite.
 *
 * 1. a layers × steps heatmap of the gradient norm per run, on a log colour scale;
 * 2. a line chart of the layers picked in a layer list, runs overlaid;
 * 3. the update ratio ‖Δw‖/‖w‖ of the same layers, at the steps where it was sampled;
 * 4. the global gradient norm of every run.
 *
 * Several runs selected, the Overview's comparison gets their global norms overlaid (`compare`).
 *
 * A finding link of the Overview asks it to focus a layer and step: the layer is added to the
 * picked layers, the step marked on the gradient-norm chart, and both marked on the heatmaps.
 */

import { type GradientsData, fetchGradients } from "./data";
import type { RunInfo } from "../../api";
import { drawLayerHeatmap, heatmapHeight, type LayerHeatmap } from "../../charts/layer_heatmap";
import { logLineChartOption } from "../../charts/line_chart";
import { SPECIAL_CELLS, createLogColourScale } from "../../charts/log_colour_scale";
import { mountChart } from "../../charts/mount_chart";
import {
  buildGlobalNormSeries,
  buildLayerSeries,
  buildSampledLayerSeries,
  defaultLayerSelection,
  hasSampledValues,
  layerUnion,
} from "../../charts/series";
import { createElement, createNote } from "../../dom";
import { onFocusRequest } from "../../focus";
import { loadEachRun } from "../load_runs";
import type { Panel, PanelContext, RunSelection } from "../registry";

/** Registry entry of the Gradients panel. */
export const gradientsPanel: Panel = {
  id: "gradients",
  title: "Gradients",
  family: "gradients",
  render: renderGradientsPanel,
  compare: compareNorms,
};

async function renderGradientsPanel(container: HTMLElement, runs: RunSelection[], context: PanelContext): Promise<void> {
  const loaded = await loadEachRun(container, runs, context, "Loading gradients…", fetchGradients);
  if (loaded === null) return;
  for (const data of loaded) {
    for (const warning of data.warnings) container.appendChild(createNote(`${data.run}: ${warning}`, "warning"));
    if (data.downsampled) {
      container.appendChild(
        createNote(`${data.run}: ${data.steps.length} points shown; each is the largest value of its range of steps.`),
      );
    }
  }
  if (loaded.length === 0) return;

  renderHeatmaps(container, loaded, context.signal);
  // The line charts in a task of their own, so the page paints the heatmaps and answers input in
  // between: with 1000 layers × 2000 steps each half keeps the main thread busy for a while.
  await new Promise((resolve) => setTimeout(resolve, 0));
  if (context.signal.aborted) return;
  renderLayerCharts(container, loaded, context.signal);
  renderGlobalNormChart(container, loaded, context.signal);
}

function renderHeatmaps(container: HTMLElement, runs: GradientsData[], signal: AbortSignal): void {
  container.appendChild(createElement("h3", { text: "Gradient norm per layer and step" }));
  container.appendChild(createColourLegend());
  // One scale for all runs, so the same colour means the same norm in every heatmap.
  const scale = createLogColourScale(runs.map((data) => data.grad_norm.values));
  const heatmaps: LayerHeatmap[] = [];
  for (const data of runs) {
    const block = createElement("div", { className: "tbd-chart-block" }, [
      createElement("div", { className: "tbd-chart-title", text: data.run }),
    ]);
    container.appendChild(block);
    if (data.layers.length === 0 || data.steps.length === 0) {
      block.appendChild(createNote("No gradient norms recorded for this run yet."));
      continue;
    }
    const chartElement = createElement("div", { className: "tbd-chart" });
    chartElement.style.height = `${heatmapHeight(data.layers.length)}px`;
    block.appendChild(chartElement);
    const chart = mountChart(chartElement, signal);
    // Test hook: the browser test waits for these attributes, set once the heatmap is drawn.
    chart.on("finished", () => {
      chartElement.setAttribute("data-testid", "gradients-heatmap");
      chartElement.setAttribute("data-run", data.run);
      chartElement.setAttribute("data-rows", String(data.layers.length));
      chartElement.setAttribute("data-columns", String(data.steps.length));
    });
    heatmaps.push(
      drawLayerHeatmap(chart, { layers: data.layers, steps: data.steps, values: data.grad_norm, valueLabel: "grad norm" }, scale),
    );
  }
  onFocusRequest(gradientsPanel.id, signal, (request) => {
    for (const heatmap of heatmaps) heatmap.mark(request.layer, request.step);
  });
}

/** The legend of the heatmap colours that are not on the colour bar. */
function createColourLegend(): HTMLElement {
  const legend = createElement("p", { className: "tbd-note tbd-legend" }, [
    document.createTextNode("Colour = log10 of the gradient norm (colour bar on the right). Marked cells: "),
  ]);
  for (const { colour, label } of Object.values(SPECIAL_CELLS)) {
    const swatch = createElement("span", { className: "tbd-swatch" });
    swatch.style.backgroundColor = colour;
    legend.appendChild(createElement("span", { className: "tbd-legend-item" }, [swatch, document.createTextNode(label)]));
  }
  return legend;
}

/** The gradient-norm and update-ratio line charts, both showing the layers picked in one layer list. */
function renderLayerCharts(container: HTMLElement, runs: GradientsData[], signal: AbortSignal): void {
  container.appendChild(createElement("h3", { text: "Gradient norm of selected layers" }));
  const layers = layerUnion(runs);
  const selected = new Set(defaultLayerSelection(layers));
  const chartElement = createElement("div", { className: "tbd-chart tbd-chart-line" });
  const row = createElement("div", { className: "tbd-layer-chart" });
  container.appendChild(row);
  container.appendChild(
    createNote("Zero, NaN and Inf values cannot sit on a log axis: they are gaps here and marked cells in the heatmap."),
  );

  const drawUpdateRatio = renderUpdateRatioChart(container, runs, signal);

  const toggle = (layer: string): void => {
    if (selected.has(layer)) selected.delete(layer);
    else selected.add(layer);
    draw();
  };
  const picker = renderLayerList(layers, selected, toggle);
  row.appendChild(picker);
  row.appendChild(chartElement);

  const chart = mountChart(chartElement, signal);
  let markedStep: number | null = null;
  function draw(): void {
    const ordered = layers.filter((layer) => selected.has(layer));
    chart.setOption(logLineChartOption(buildLayerSeries(runs, ordered), "grad norm", { markedStep }), { replaceMerge: ["series"] });
    drawUpdateRatio(ordered);
  }
  draw();

  onFocusRequest(gradientsPanel.id, signal, (request) => {
    if (request.layer !== null && layers.includes(request.layer)) selected.add(request.layer);
    markedStep = request.step;
    picker.querySelectorAll('[data-testid="layer-toggle"]').forEach((button, i) => {
      button.setAttribute("aria-pressed", String(selected.has(layers[i])));
    });
    draw();
    row.scrollIntoView({ behavior: "smooth", block: "center" });
  });
}

/**
 * The update ratio of the selected layers. It is only sampled (every few steps), so points sit at
 * the sampled steps and the line joins them. Returns the function that redraws it for a selection.
 */
function renderUpdateRatioChart(
  container: HTMLElement,
  runs: GradientsData[],
  signal: AbortSignal,
): (selectedLayers: readonly string[]) => void {
  container.appendChild(createElement("h3", { text: "Update ratio ‖Δw‖/‖w‖ of selected layers (sampled steps)" }));
  const sampled = runs.filter((data) => hasSampledValues(data, "update_ratio"));
  for (const data of runs) {
    if (!sampled.includes(data)) container.appendChild(createNote(`${data.run}: no update ratio sampled for this run yet.`));
  }
  if (sampled.length === 0) return () => undefined;

  const chartElement = createElement("div", {
    className: "tbd-chart tbd-chart-line",
    attrs: { "data-testid": "update-ratio-chart" },
  });
  container.appendChild(chartElement);
  container.appendChild(
    createNote(
      "How much each update changes the layer's weights, relative to their size. Around 1e-3 per step is " +
        "typical; far above means the learning rate is too high for that layer, far below means it barely learns.",
    ),
  );
  const chart = mountChart(chartElement, signal);
  return (selectedLayers) => {
    // All runs, not just the sampled ones, so series names match the gradient-norm chart.
    const series = buildSampledLayerSeries(runs, selectedLayers, "update_ratio");
    chart.setOption(logLineChartOption(series, "update ratio", { showSymbols: true }), { replaceMerge: ["series"] });
  };
}

/**
 * The clickable list of layer names. Clicking a name calls `onToggle(layer)`, which updates
 * `selected`; the button then shows whether the layer is selected. A filter box narrows long lists.
 */
export function renderLayerList(
  layers: readonly string[],
  selected: ReadonlySet<string>,
  onToggle: (layer: string) => void,
): HTMLElement {
  const filter = createElement("input", {
    className: "tbd-layer-filter",
    attrs: { type: "search", placeholder: "Filter layers", "aria-label": "Filter layers" },
  });
  const list = createElement("ul", { className: "tbd-layer-list", attrs: { "data-testid": "layer-list" } });
  for (const layer of layers) {
    const button = createElement("button", {
      className: "tbd-layer-toggle",
      text: layer,
      attrs: { type: "button", title: layer, "aria-pressed": String(selected.has(layer)), "data-testid": "layer-toggle" },
    });
    button.addEventListener("click", () => {
      onToggle(layer);
      button.setAttribute("aria-pressed", String(selected.has(layer)));
    });
    list.appendChild(createElement("li", {}, [button]));
  }
  filter.addEventListener("input", () => {
    const needle = filter.value.toLowerCase();
    list.querySelectorAll("li").forEach((item, i) => {
      item.hidden = needle !== "" && !layers[i].toLowerCase().includes(needle);
    });
  });
  return createElement("div", { className: "tbd-layer-picker" }, [
    createElement("div", { className: "tbd-layer-picker-title", text: `Layers (${layers.length}) — click to show or hide` }),
    filter,
    list,
  ]);
}

function renderGlobalNormChart(container: HTMLElement, runs: GradientsData[], signal: AbortSignal): void {
  container.appendChild(createElement("h3", { text: "Global gradient norm" }));
  const chartElement = createElement("div", { className: "tbd-chart tbd-chart-line" });
  container.appendChild(chartElement);
  mountChart(chartElement, signal).setOption(logLineChartOption(buildGlobalNormSeries(runs), "global norm"));
}

/** Steps at which the global gradient norm was NaN or ±Inf (gaps on the chart's log axis). */
export function nonfiniteNormSteps(data: Pick<GradientsData, "steps" | "global_norm">): number[] {
  return data.steps.filter((_, j) => {
    const value = data.global_norm[j] ?? null;
    return value !== null && !Number.isFinite(value);
  });
}

/** The global gradient norm of every run that recorded gradients, one line per run on a log axis. */
async function compareNorms(
  block: HTMLElement,
  runs: readonly RunInfo[],
  withGradients: readonly RunSelection[],
  context: PanelContext,
): Promise<void> {
  block.appendChild(createElement("h3", { className: "tbd-overview-heading", text: "Global gradient norm per run" }));
  for (const run of runs) {
    if (!withGradients.includes(run)) block.appendChild(createNote(`${run.run}: no gradient norms recorded.`));
  }
  if (withGradients.length === 0) return;
  const loaded = await loadEachRun(block, [...withGradients], context, "Loading gradient norms…", fetchGradients);
  if (loaded === null || loaded.length === 0) return;

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
