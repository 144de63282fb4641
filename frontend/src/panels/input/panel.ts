/**
 * The Input panel: is training starving for data? Per run:
 *
 * 1. the verdict (the profiler's rule: share of step time waiting for the next batch), with the
 *    step-time median and p95, and what the pipeline is made of;
 * 2. stacked bars of each step's time: waiting for data, computing, host;
 * 3. the step-time distribution;
 * 4. the verdict per epoch.
 */

import { type InputData, fetchInput } from "./data";
import { mountChart } from "../../charts/mount_chart";
import { formatMs, stepTimeAxisMax, stepTimeChartOption, stepTimeHistogramOption, verdictSentence } from "../../charts/step_time";
import { createElement, createNote } from "../../dom";
import { loadEachRun } from "../load_runs";
import type { Panel, PanelContext, RunSelection } from "../registry";

/** Registry entry of the Input panel. */
export const inputPanel: Panel = {
  id: "input",
  title: "Input pipeline",
  family: "input",
  render: renderInputPanel,
};

async function renderInputPanel(container: HTMLElement, runs: RunSelection[], context: PanelContext): Promise<void> {
  await loadEachRun(container, runs, context, "Loading step times…", fetchInput, (data) => renderRun(container, data, context.signal));
}

function renderRun(container: HTMLElement, data: InputData, signal: AbortSignal): void {
  const { summary } = data;
  const block = createElement("div", { className: "tbd-chart-block tbd-input-run" }, [
    createElement("div", { className: "tbd-chart-title", text: data.run }),
    createElement("p", {
      className: `tbd-verdict tbd-verdict-${summary.verdict ?? "none"}`,
      text: verdictSentence(summary.verdict, summary.wait_fraction, data.thresholds),
      attrs: { "data-testid": "input-verdict", "data-verdict": summary.verdict ?? "none" },
    }),
  ]);
  container.appendChild(block);
  for (const warning of data.warnings) block.appendChild(createNote(warning, "warning"));
  if (summary.step_p50_s !== null) {
    const excluded = summary.excluded_steps > 0 ? `; ${summary.excluded_steps} step(s) that traced or compiled left out` : "";
    block.appendChild(
      createNote(
        `Step time p50 ${formatMs(summary.step_p50_s)}, p95 ${formatMs(summary.step_p95_s)}; median wait ` +
          `${formatMs(summary.wait_p50_s)} (over ${summary.steps} steps${excluded}).`,
      ),
    );
  }
  if (summary.pipeline !== null) {
    const stages = summary.pipeline.stages.length > 0 ? summary.pipeline.stages.join(" ← ") : "unknown";
    const python = summary.pipeline.python ? " Batches pass through Python (generator, PyDataset or py_function)." : "";
    block.appendChild(createNote(`Pipeline, last stage first: ${stages}.${python}`));
  }
  if (data.steps.length === 0) return;
  if (data.downsampled) {
    block.appendChild(createNote(`${data.steps.length} bars shown; each is the slowest step of its range of steps.`));
  }

  block.appendChild(createElement("h3", { text: "Time per step" }));
  const stepChart = createElement("div", { className: "tbd-chart tbd-chart-line" });
  block.appendChild(stepChart);
  const chart = mountChart(stepChart, signal);
  // Test hook: the browser test waits for these attributes, set once the bars are drawn.
  chart.on("finished", () => {
    stepChart.setAttribute("data-testid", "input-step-chart");
    stepChart.setAttribute("data-run", data.run);
    stepChart.setAttribute("data-points", String(data.steps.length));
  });
  chart.setOption(stepTimeChartOption(data));
  if (stepTimeAxisMax(data) !== undefined) {
    block.appendChild(createNote("Faded bars: steps that traced or compiled, left out of the verdict; bars past the top are cut (hover for their times)."));
  }

  if (data.histogram.counts.length > 0) {
    block.appendChild(createElement("h3", { text: "Step-time distribution (steady steps)" }));
    const histogram = createElement("div", { className: "tbd-chart tbd-chart-short" });
    block.appendChild(histogram);
    mountChart(histogram, signal).setOption(stepTimeHistogramOption(data));
  }
  if (summary.epochs.length > 1) block.appendChild(renderEpochTable(data));
}

function renderEpochTable(data: InputData): HTMLElement {
  const header = ["epoch", "steps", "waiting", "verdict", "step p50", "step p95"];
  const rows = data.summary.epochs.map((epoch) =>
    [
      String(epoch.epoch),
      String(epoch.steps),
      epoch.wait_fraction === null ? "—" : `${(epoch.wait_fraction * 100).toFixed(1)}%`,
      epoch.verdict ?? "too few steps",
      formatMs(epoch.step_p50_s),
      formatMs(epoch.step_p95_s),
    ].map((text) => createElement("td", { text })),
  );
  return createElement("table", { className: "tbd-table", attrs: { "data-testid": "input-epochs" } }, [
    createElement("thead", {}, [createElement("tr", {}, header.map((text) => createElement("th", { text })))]),
    createElement("tbody", {}, rows.map((cells) => createElement("tr", {}, cells))),
  ]);
}
