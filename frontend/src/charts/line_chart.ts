/** Line charts on a log y axis, with step on x: the shape of every "value over training" chart. */

import type { EChartsCoreOption } from "echarts/core";

import { formatNumber } from "./format";
import { CHART_TEXT_STYLE } from "./mount_chart";
import type { LineSeries } from "./series";
import { createTooltip } from "./tooltip";

interface AxisTooltipParam {
  seriesName?: string;
  value?: unknown;
  marker?: unknown;
}

/** How the lines are drawn. */
export interface LineChartStyle {
  /** Draw a symbol at every point, so isolated points (e.g. sparse samples between gaps) show. */
  showSymbols?: boolean;
  /** A step to mark with a vertical line (a finding's step the user asked to see). */
  markedStep?: number | null;
}

/** ECharts option for `series` drawn over step on a log10 y axis named `yName`. */
export function logLineChartOption(
  series: readonly LineSeries[],
  yName: string,
  style: LineChartStyle = {},
): EChartsCoreOption {
  return {
    textStyle: CHART_TEXT_STYLE,
    animation: false,
    grid: { left: 64, right: 24, top: series.length > 1 ? 48 : 24, bottom: 64 },
    legend: series.length > 1 ? { type: "scroll", top: 0, textStyle: CHART_TEXT_STYLE } : { show: false },
    tooltip: {
      trigger: "axis",
      renderMode: "html",
      confine: true,
      formatter: (params: unknown) => {
        const items = (Array.isArray(params) ? params : [params]) as AxisTooltipParam[];
        const step = Array.isArray(items[0]?.value) ? (items[0].value as unknown[])[0] : "";
        return createTooltip(
          `step ${String(step)}`,
          items.map((item) => {
            const point = Array.isArray(item.value) ? (item.value as Array<number | null>) : [];
            return [item.seriesName ?? "", formatNumber(point[1] ?? null)];
          }),
        );
      },
    },
    xAxis: { type: "value", name: "step", nameLocation: "middle", nameGap: 28, scale: true },
    yAxis: {
      type: "log",
      logBase: 10,
      name: yName,
      nameTextStyle: { align: "left" },
      axisLabel: { formatter: (value: number) => formatNumber(value) },
    },
    dataZoom: [
      { type: "inside", xAxisIndex: 0 },
      { type: "slider", xAxisIndex: 0, height: 16, bottom: 8 },
    ],
    series: series.map((line, i) => ({
      type: "line",
      name: line.name,
      data: line.points,
      showSymbol: style.showSymbols === true,
      // Null points are gaps; series of sampled metrics leave unsampled steps out instead.
      connectNulls: false,
      lineStyle: { width: 1.5 },
      emphasis: { focus: "series" },
      ...(i === 0 && style.markedStep != null ? { markLine: stepMarkLine(style.markedStep) } : {}),
    })),
  };
}

/** A dashed vertical line at `step`, labelled with the step; drawn once, on the first series. */
function stepMarkLine(step: number): Record<string, unknown> {
  return {
    silent: true,
    symbol: "none",
    animation: false,
    lineStyle: { type: "dashed", color: "#f57c00", width: 1.5 },
    label: { formatter: `step ${step}`, position: "end" },
    data: [{ xAxis: step }],
  };
}
