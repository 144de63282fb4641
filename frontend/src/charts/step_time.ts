/**
 * Step-time charts of the Input panel: per-step stacked bars (waiting / computing / host) and a
 * step-time histogram. Option builders only, so they can be tested without a browser.
 */

import type { EChartsCoreOption } from "echarts/core";

import type { InputData, InputVerdict } from "../panels/input/data";
import { formatNumber } from "./format";
import { CHART_TEXT_STYLE } from "./mount_chart";
import { createTooltip } from "./tooltip";

/** The three parts of a step, bottom to top of each bar, and their colours. */
export const STEP_PARTS = [
  { key: "wait_s", name: "waiting for data", colour: "#e65100" },
  { key: "compute_s", name: "computing", colour: "#1976d2" },
  { key: "host_s", name: "host (Keras loop, callbacks)", colour: "#9e9e9e" },
] as const;

/** Milliseconds with three significant digits, e.g. `0.476 ms`, `12.3 ms`. */
export function formatMs(seconds: number | null): string {
  return seconds === null ? "—" : `${formatNumber(seconds * 1000)} ms`;
}

/** Bar heights in ms per part; a missing host time (first step of an epoch) stacks as 0. */
export function stepTimeSeries(data: InputData): Array<{ name: string; colour: string; values: number[] }> {
  return STEP_PARTS.map((part) => ({
    name: part.name,
    colour: part.colour,
    values: (data[part.key] as Array<number | null>).map((seconds) => (seconds ?? 0) * 1000),
  }));
}

interface AxisTooltipParam {
  dataIndex?: number;
}

/**
 * The y-axis top in ms: room for the slowest steady step, so the one step that traced or compiled
 * (often 100x longer) does not flatten all others; its bar is cut at the top. Undefined = automatic.
 */
export function stepTimeAxisMax(data: InputData): number | undefined {
  const totals = stepTimeSeries(data).reduce<number[]>((sums, part) => sums.map((sum, i) => sum + part.values[i]), data.steps.map(() => 0));
  const steady = totals.filter((_, i) => data.steady[i]);
  if (steady.length === 0) return undefined;
  const top = Math.max(...steady);
  return Math.max(...totals) > 1.25 * top ? niceCeiling(1.25 * top) : undefined;
}

/** The smallest of 1, 1.5, 2, 2.5, 3, 4, 5, 6, 8 × a power of ten that is >= `value` (> 0). */
export function niceCeiling(value: number): number {
  const power = 10 ** Math.floor(Math.log10(value));
  const step = [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10].find((m) => m * power >= value * (1 - 1e-12)) ?? 10;
  return Number((step * power).toPrecision(3));
}

/** Stacked bars of each step's time in ms over step; steps left out of the verdict are faded. */
export function stepTimeChartOption(data: InputData): EChartsCoreOption {
  const series = stepTimeSeries(data);
  const axisMax = stepTimeAxisMax(data);
  return {
    textStyle: CHART_TEXT_STYLE,
    animation: false,
    grid: { left: 64, right: 24, top: 40, bottom: 64 },
    legend: { top: 0, textStyle: CHART_TEXT_STYLE },
    tooltip: {
      trigger: "axis",
      renderMode: "html",
      confine: true,
      axisPointer: { type: "shadow" },
      formatter: (params: unknown) => {
        const items = (Array.isArray(params) ? params : [params]) as AxisTooltipParam[];
        const index = items[0]?.dataIndex ?? 0;
        const rows: Array<[string, string]> = STEP_PARTS.map((part) => [part.name, formatMs(data[part.key][index] ?? null)]);
        if (!data.steady[index]) rows.push(["verdict", "left out: this step traced or compiled"]);
        return createTooltip(`step ${data.steps[index]}`, rows);
      },
    },
    xAxis: { type: "category", name: "step", nameLocation: "middle", nameGap: 28, data: data.steps.map(String) },
    yAxis: { type: "value", name: "ms", max: axisMax, axisLabel: { formatter: (value: number) => formatNumber(value) } },
    dataZoom: [
      { type: "inside", xAxisIndex: 0 },
      { type: "slider", xAxisIndex: 0, height: 16, bottom: 8 },
    ],
    series: series.map((part) => ({
      type: "bar",
      name: part.name,
      stack: "step",
      barCategoryGap: "10%",
      itemStyle: { color: part.colour },
      data: part.values.map((value, i) => (data.steady[i] ? value : { value, itemStyle: { opacity: 0.35 } })),
    })),
  };
}

/** Histogram bars of step time (steady steps), labelled by each bin's upper edge in ms. */
export function stepTimeHistogramOption(data: InputData): EChartsCoreOption {
  const { edges_s: edges, counts } = data.histogram;
  const labels = counts.map((_, i) => formatNumber(edges[i + 1] * 1000));
  return {
    textStyle: CHART_TEXT_STYLE,
    animation: false,
    grid: { left: 64, right: 24, top: 16, bottom: 48 },
    tooltip: {
      trigger: "axis",
      renderMode: "html",
      confine: true,
      formatter: (params: unknown) => {
        const items = (Array.isArray(params) ? params : [params]) as AxisTooltipParam[];
        const i = items[0]?.dataIndex ?? 0;
        const last = i === counts.length - 1 ? " or more" : "";
        return createTooltip(`${formatMs(edges[i])} – ${formatMs(edges[i + 1])}${last}`, [["steps", String(counts[i])]]);
      },
    },
    xAxis: { type: "category", name: "step time (ms)", nameLocation: "middle", nameGap: 28, data: labels },
    yAxis: { type: "value", name: "steps", minInterval: 1 },
    series: [{ type: "bar", name: "steps", data: counts, barCategoryGap: "5%", itemStyle: { color: "#5c6bc0" } }],
  };
}

/** One sentence stating the verdict with its numbers and the rule it applies. */
export function verdictSentence(
  verdict: InputVerdict | null,
  waitFraction: number | null,
  thresholds: InputData["thresholds"],
): string {
  const rule = `(≥ ${Math.round(thresholds.highly * 100)}% is highly, ≥ ${Math.round(thresholds.moderately * 100)}% moderately input-bound)`;
  if (verdict === null || waitFraction === null) return "Too few steps recorded for a verdict yet.";
  const share = `${(waitFraction * 100).toFixed(waitFraction < 0.1 ? 1 : 0)}% of step time was spent waiting for data`;
  const label = { not: "Not input-bound", moderately: "Moderately input-bound", highly: "Highly input-bound" }[verdict];
  return `${label}: ${share} ${rule}.`;
}
