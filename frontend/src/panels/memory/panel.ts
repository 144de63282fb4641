/**
 * The Memory panel: host memory across steps and across the fits of one process, retraces of the
 * train step and their input signatures, and per-GPU memory (or why there is none).
 */

import { type GpuFigures, type MemoryData, fetchMemory } from "./data";
import { bytesChartOption, formatBytes, seriesPerFit, type StepMarker } from "../../charts/memory";
import { mountChart } from "../../charts/mount_chart";
import { createElement, createNote } from "../../dom";
import { loadEachRun } from "../load_runs";
import type { Panel, PanelContext, RunSelection } from "../registry";

/** Registry entry of the Memory panel. */
export const memoryPanel: Panel = {
  id: "memory",
  title: "Memory and retracing",
  family: "memory",
  render: renderMemoryPanel,
};

async function renderMemoryPanel(container: HTMLElement, runs: RunSelection[], context: PanelContext): Promise<void> {
  await loadEachRun(container, runs, context, "Loading memory figures…", fetchMemory, (data) => renderRun(container, data, context.signal));
}

function table(header: string[], rows: string[][], testId: string): HTMLElement {
  return createElement("table", { className: "tbd-table", attrs: { "data-testid": testId } }, [
    createElement("thead", {}, [createElement("tr", {}, header.map((text) => createElement("th", { text })))]),
    createElement("tbody", {}, rows.map((cells) => createElement("tr", {}, cells.map((text) => createElement("td", { text }))))),
  ]);
}

function chart(block: HTMLElement, signal: AbortSignal, option: ReturnType<typeof bytesChartOption>, testId: string): void {
  const element = createElement("div", { className: "tbd-chart tbd-chart-short" });
  block.appendChild(element);
  const instance = mountChart(element, signal);
  instance.on("finished", () => element.setAttribute("data-testid", testId));
  instance.setOption(option);
}

function renderRun(container: HTMLElement, data: MemoryData, signal: AbortSignal): void {
  const block = createElement("div", { className: "tbd-chart-block" }, [createElement("div", { className: "tbd-chart-title", text: data.run })]);
  container.appendChild(block);
  for (const warning of data.warnings) block.appendChild(createNote(warning, "warning"));

  block.appendChild(createElement("h3", { text: "Host memory (resident set) per flush, one line per fit of the process" }));
  // Retrace markers: where the train step met an input signature not seen before in the run.
  const markers: StepMarker[] = [];
  const seen = new Set<string>();
  for (const trace of data.traces) {
    if (seen.has(trace.signature)) continue;
    if (seen.size > 0 && trace.step !== null) markers.push({ step: trace.step, label: "retrace" });
    seen.add(trace.signature);
  }
  chart(block, signal, bytesChartOption(seriesPerFit(data.steps, data.host_rss_bytes, data.fits), markers), "memory-host-chart");
  block.appendChild(
    table(
      ["fit of the process", "first flush at step", "RSS then", "RSS at last flush", "models still alive"],
      data.fits.map((fit) => [String(fit.fit_index), String(fit.first_step), formatBytes(fit.rss_first_bytes), formatBytes(fit.rss_last_bytes), String(fit.live_models)]),
      "memory-fits",
    ),
  );

  block.appendChild(createElement("h3", { text: `Retraces: ${data.retraces}` }));
  block.appendChild(
    createNote(
      "Input signatures (shapes, dtypes) the train step was traced with. Retraces: distinct signatures in this run beyond the first " +
        "(each fit traces tb_diag's light and sampled step once; that is not counted).",
    ),
  );
  if (data.traces.length > 0) {
    block.appendChild(
      table(
        ["fit", "step", "epoch", "trace", "input signature"],
        data.traces.map((t) => [String(t.fit_index ?? "—"), String(t.step ?? "—"), String(t.epoch ?? "—"), t.sampled ? "sampled" : "light", t.signature]),
        "memory-traces",
      ),
    );
  }

  block.appendChild(createElement("h3", { text: "Allocator fragmentation (opt-in profiler windows)" }));
  if (data.fragmentation.length > 0) {
    const percent = (v: number | null): string => (v === null ? "—" : `${(v * 100).toFixed(0)}%`);
    block.appendChild(
      table(
        ["window ending at step", "allocator", "events", "fragmentation (median)", "max", "in use (max)", "peak"],
        data.fragmentation.map((w) => [String(w.step), w.allocator, String(w.events ?? "—"), percent(w.fragmentation_median), percent(w.fragmentation_max), formatBytes(w.bytes_in_use_max), formatBytes(w.peak_bytes_in_use)]),
        "memory-fragmentation",
      ),
    );
  } else {
    block.appendChild(
      createNote(data.profile_skipped ?? "No profiler windows in this run: pass profile_memory_every_steps=N to DiagnosticsCallback to measure BFC fragmentation."),
    );
  }

  block.appendChild(createElement("h3", { text: "GPU memory" }));
  if (data.gpu === null || data.gpu.length === 0) {
    block.appendChild(
      createNote(`No GPU figures: ${data.gpu_unavailable ?? "none were recorded"}. Host figures and retraces above are complete.`),
    );
    return;
  }
  for (const device of data.gpu) renderGpu(block, device, signal);
}

function renderGpu(block: HTMLElement, device: GpuFigures, signal: AbortSignal): void {
  const percent = (v: number | null): string => (v === null ? "—" : `${(v * 100).toFixed(0)}%`);
  block.appendChild(
    createNote(
      `${device.device}: in use ${formatBytes(device.tf_in_use)}, peak ${formatBytes(device.peak_bytes)} of ${formatBytes(device.device_total)} ` +
        `(headroom used ${percent(device.headroom)}); process ${formatBytes(device.process_used)}, reserved ≈ ${formatBytes(device.reserved_bytes)}, ` +
        `allocator slack ${percent(device.slack)}.`,
    ),
  );
  const steps = device.series.steps;
  const line = (name: string, values: Array<number | null>) => ({ name, points: steps.map((s, j): [number, number | null] => [s, values[j] ?? null]) });
  chart(
    block,
    signal,
    bytesChartOption([
      line("in use (TF)", device.series.tf_in_use),
      line("peak (TF)", device.series.tf_peak),
      line("reserved ≈", device.series.reserved),
      line("process (NVML)", device.series.process_used),
      line("device total", device.series.device_total),
    ]),
    "memory-gpu-chart",
  );
}
