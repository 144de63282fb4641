/**
 * A layers × steps heatmap coloured on a log10 scale, with zero / NaN / Inf cells in their own
 * marked colours (see log_colour_scale.ts). One row per layer, first layer at the top.
 */

import type { EChartsCoreOption } from "echarts/core";

import { formatNumber, formatPowerOfTen } from "./format";
import {
  LOG_SCALE_COLOURS,
  SPECIAL_CELLS,
  classifyNorm,
  createLogColourScale,
  type LogColourScale,
} from "./log_colour_scale";
import { CHART_TEXT_STYLE } from "./mount_chart";
import { createTooltip } from "./tooltip";

/** What the heatmap shows: `values[layer][step]`. */
export interface LayerHeatmapData {
  layers: readonly string[];
  steps: readonly number[];
  values: ReadonlyArray<ReadonlyArray<number | null>>;
  /** What a value is, for the tooltip, e.g. "grad norm". */
  valueLabel: string;
}

/** Pixel height that shows `rowCount` layer rows readably without growing without bound. */
export function heatmapHeight(rowCount: number): number {
  const rowPixels = rowCount <= 24 ? 20 : Math.max(4, Math.floor(560 / rowCount));
  return rowCount * rowPixels + 96;
}

interface HeatmapItemParam {
  value?: unknown;
}

/**
 * ECharts option of the heatmap. Pass one `scale` to several heatmaps to make their colours
 * comparable; by default the scale is fitted to this heatmap's values.
 */
export function layerHeatmapOption(
  data: LayerHeatmapData,
  scale: LogColourScale = createLogColourScale(data.values),
): EChartsCoreOption {
  const finiteCells: Array<[number, number, number]> = [];
  const specialCells: Array<{ value: [number, number, number]; itemStyle: { color: string } }> = [];
  data.values.forEach((row, layerIndex) => {
    row.forEach((value, stepIndex) => {
      const kind = classifyNorm(value);
      if (kind === "missing") return;
      if (kind === "finite") {
        finiteCells.push([stepIndex, layerIndex, scale.log10(value) as number]);
      } else {
        specialCells.push({ value: [stepIndex, layerIndex, 0], itemStyle: { color: SPECIAL_CELLS[kind].colour } });
      }
    });
  });

  return {
    textStyle: CHART_TEXT_STYLE,
    animation: false,
    grid: { left: 8, right: 96, top: 8, bottom: 56, outerBoundsMode: "same", outerBoundsContain: "axisLabel" },
    tooltip: {
      trigger: "item",
      renderMode: "html",
      confine: true,
      formatter: (params: unknown) => {
        const cell = (params as HeatmapItemParam).value;
        const [stepIndex, layerIndex] = Array.isArray(cell) ? (cell as number[]) : [0, 0];
        const value = data.values[layerIndex]?.[stepIndex] ?? null;
        return createTooltip(data.layers[layerIndex] ?? "", [
          ["step", String(data.steps[stepIndex] ?? "")],
          [data.valueLabel, formatNumber(value)],
        ]);
      },
    },
    xAxis: {
      type: "category",
      data: data.steps.map(String),
      name: "step",
      nameLocation: "middle",
      nameGap: 26,
      splitArea: { show: false },
    },
    yAxis: {
      type: "category",
      data: [...data.layers],
      inverse: true,
      axisLabel: { width: 220, overflow: "truncate", fontSize: 11 },
      splitArea: { show: false },
    },
    visualMap: {
      type: "continuous",
      seriesIndex: 0,
      min: scale.minLog10,
      max: scale.maxLog10,
      calculable: false,
      orient: "vertical",
      right: 8,
      top: "middle",
      itemHeight: 120,
      itemWidth: 12,
      precision: 1,
      text: [formatPowerOfTen(scale.maxLog10), formatPowerOfTen(scale.minLog10)],
      textStyle: CHART_TEXT_STYLE,
      inRange: { color: LOG_SCALE_COLOURS },
    },
    dataZoom: [
      { type: "inside", xAxisIndex: 0 },
      { type: "slider", xAxisIndex: 0, height: 14, bottom: 4 },
    ],
    series: [
      { type: "heatmap", name: data.valueLabel, data: finiteCells, emphasis: { disabled: true } },
      { type: "heatmap", name: "zero or non-finite", data: specialCells, emphasis: { disabled: true } },
    ],
  };
}
