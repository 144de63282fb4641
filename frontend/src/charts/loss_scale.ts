/**
 * The loss-scale chart of the NaN panel (mixed precision): the LossScaleOptimizer's scale over
 * steps on a log axis, with the steps whose gradients overflowed marked. Option builder only,
 * testable without a browser.
 */

import type { EChartsCoreOption } from "echarts/core";

import type { LossScaleData } from "../panels/nonfinite/data";
import { formatNumber } from "./format";
import { logLineChartOption } from "./line_chart";
import { valueOnLogAxis, type LineSeries } from "./series";
import { createTooltip } from "./tooltip";

const SCALE_COLOUR = "#1976d2";
const OVERFLOW_COLOUR = "#d32f2f";

/**
 * Two series of equal length: the scale, and the scale again at overflowed steps only (null
 * elsewhere), so the overflow marks sit on the line and share its data index in the tooltip.
 */
export function lossScaleSeries(run: string, data: LossScaleData): LineSeries[] {
  const scale = data.steps.map((step, i): [number, number | null] => [step, valueOnLogAxis(data.scale[i] ?? null)]);
  return [
    { name: "loss scale", run, layer: null, points: scale },
    { name: "overflow: update skipped", run, layer: null, points: scale.map(([step, value], i) => [step, data.overflow[i] ? value : null]) },
  ];
}

/** A loss scale as written: whole scales (powers of two) exactly, e.g. `8192`, others compactly. */
export function formatScale(value: number | null): string {
  return value !== null && Number.isInteger(value) && Math.abs(value) < 1e15 ? String(value) : formatNumber(value);
}

interface AxisTooltipParam {
  seriesIndex?: number;
  dataIndex?: number;
}

/** ECharts option: the scale as a line, overflowed steps as red triangles on it. */
export function lossScaleChartOption(run: string, data: LossScaleData): EChartsCoreOption {
  const base = logLineChartOption(lossScaleSeries(run, data), "loss scale") as EChartsCoreOption & {
    tooltip: Record<string, unknown>;
    series: Array<Record<string, unknown>>;
  };
  const [scale, overflow] = base.series;
  return {
    ...base,
    tooltip: {
      ...base.tooltip,
      formatter: (params: unknown) => {
        const items = (Array.isArray(params) ? params : [params]) as AxisTooltipParam[];
        const index = (items.find((item) => item.seriesIndex === 0) ?? items[0])?.dataIndex ?? 0;
        return createTooltip(`step ${data.steps[index] ?? ""}`, [
          ["loss scale", formatScale(data.scale[index] ?? null)],
          ["overflow", data.overflow[index] ? "yes: update skipped, scale lowered" : "no"],
        ]);
      },
    },
    series: [
      { ...scale, lineStyle: { width: 1.5, color: SCALE_COLOUR }, itemStyle: { color: SCALE_COLOUR } },
      {
        ...overflow,
        showSymbol: true,
        symbol: "triangle",
        symbolSize: 8,
        legendIcon: "triangle",
        lineStyle: { width: 0 },
        itemStyle: { color: OVERFLOW_COLOUR },
        emphasis: { disabled: true },
      },
    ],
  };
}
