/**
 * The distribution of one layer call's output over steps, drawn like TensorBoard's Distributions
 * dashboard: nested bands between symmetric quantiles (min–max, 7–93%, 16–84%, 31–69%) and the
 * median as a line. Option builder only, testable without a browser.
 */

import type { EChartsCoreOption } from "echarts/core";

import type { MaybeNumber } from "../decode";
import { formatNumber } from "./format";
import { CHART_TEXT_STYLE } from "./mount_chart";
import { createTooltip } from "./tooltip";

/** One band: the series name and `[step, lower, upper]` per step (null = gap). */
export interface Band {
  name: string;
  points: Array<[number, MaybeNumber, MaybeNumber]>;
}

const BAND_COLOURS = ["#ffe0b2", "#ffcc80", "#ffb74d", "#ffa726"];

/**
 * Pairs quantile `i` with quantile `n-1-i` (outermost first) into bands, and the middle quantile
 * into the median line. `bands[s]` holds the values at `quantiles` for `steps[s]`.
 */
export function distributionBands(
  steps: readonly number[],
  quantiles: readonly number[],
  bands: readonly MaybeNumber[][],
): { bands: Band[]; median: Array<[number, MaybeNumber]> } {
  const n = quantiles.length;
  const percent = (q: number): string => `${Math.round(q * 100)}%`;
  const pairs: Band[] = [];
  for (let i = 0; i < Math.floor(n / 2); i++) {
    const name = i === 0 ? "min–max" : `${percent(quantiles[i])}–${percent(quantiles[n - 1 - i])}`;
    pairs.push({ name, points: steps.map((step, s) => [step, bands[s]?.[i] ?? null, bands[s]?.[n - 1 - i] ?? null]) });
  }
  const middle = Math.floor(n / 2);
  return { bands: pairs, median: steps.map((step, s) => [step, bands[s]?.[middle] ?? null]) };
}

/**
 * ECharts option: each band is an invisible lower line plus a stacked (upper − lower) area, so the
 * area fills exactly between the two quantiles.
 */
export function distributionChartOption(
  steps: readonly number[],
  quantiles: readonly number[],
  values: readonly MaybeNumber[][],
): EChartsCoreOption {
  const { bands, median } = distributionBands(steps, quantiles, values);
  const series: unknown[] = [];
  bands.forEach((band, i) => {
    const stack = `band${i}`;
    // stackStrategy "all": a negative lower bound still stacks (the default stacks by sign).
    series.push({
      type: "line",
      name: `${band.name} (lower)`,
      stack,
      stackStrategy: "all",
      data: band.points.map(([step, lower]) => [step, lower]),
      lineStyle: { opacity: 0 },
      showSymbol: false,
      silent: true,
      tooltip: { show: false },
    });
    series.push({
      type: "line",
      name: band.name,
      stack,
      stackStrategy: "all",
      data: band.points.map(([step, lower, upper]) => [step, lower === null || upper === null ? null : upper - lower]),
      lineStyle: { opacity: 0 },
      areaStyle: { color: BAND_COLOURS[Math.min(i, BAND_COLOURS.length - 1)], opacity: 1 },
      showSymbol: false,
    });
  });
  series.push({ type: "line", name: "median", data: median, showSymbol: false, lineStyle: { color: "#e65100", width: 1.5 } });
  return {
    textStyle: CHART_TEXT_STYLE,
    animation: false,
    grid: { left: 64, right: 24, top: 16, bottom: 64 },
    tooltip: {
      trigger: "axis",
      renderMode: "html",
      confine: true,
      formatter: (params: unknown) => {
        const first = (Array.isArray(params) ? params[0] : params) as { dataIndex?: number } | undefined;
        const index = first?.dataIndex ?? 0;
        const row = values[index] ?? [];
        return createTooltip(
          `step ${steps[index]}`,
          quantiles.map((q, i) => [q === 0 ? "min" : q === 1 ? "max" : `${(q * 100).toFixed(1)}%`, formatNumber(row[i] ?? null)]),
        );
      },
    },
    xAxis: { type: "value", name: "step", nameLocation: "middle", nameGap: 28, scale: true },
    yAxis: { type: "value", scale: true, axisLabel: { formatter: (value: number) => formatNumber(value) } },
    dataZoom: [
      { type: "inside", xAxisIndex: 0 },
      { type: "slider", xAxisIndex: 0, height: 16, bottom: 8 },
    ],
    series,
  };
}

/** The `points` attribute of an SVG polyline drawing `values` in a `width` × `height` box. */
export function sparklinePoints(values: readonly MaybeNumber[], width: number, height: number): string {
  const finite = values.filter((v): v is number => v !== null && Number.isFinite(v));
  if (finite.length === 0) return "";
  const low = Math.min(...finite);
  const high = Math.max(...finite);
  const span = high - low || 1;
  const step = values.length > 1 ? width / (values.length - 1) : 0;
  return values
    .map((v, i) => (v === null || !Number.isFinite(v) ? null : `${(i * step).toFixed(1)},${(height - ((v - low) / span) * height).toFixed(1)}`))
    .filter((p): p is string => p !== null)
    .join(" ");
}
