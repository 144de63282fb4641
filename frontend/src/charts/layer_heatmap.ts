/**
 * A layers × steps heatmap coloured on a log10 scale, with zero / NaN / Inf cells in their own
 * marked colours (see log_colour_scale.ts). One row per layer, first layer at the top.
 *
 * The cells are one image, painted into the plot by a custom series; ECharts still draws the axes,
 * the colour bar, the zoom slider and the tooltip. One ECharts item per cell is too slow at the
 * size a run reaches (1000 layers × 2000 steps: seconds to build and paint 2M items). The image is
 * rendered at the plot's own device-pixel size, each pixel showing the most telling cell under it
 * (heatmap_image.ts), rather than one pixel per cell scaled by the canvas: that is the simplest way
 * to keep it right at both ends — scaling down would drop or blur a lone NaN cell, scaling up a
 * few cells would blur them (ECharts cannot turn image smoothing off) — and the tooltip can name
 * exactly the cell whose colour the pointer is on.
 */

import type { CustomSeriesRenderItemAPI, CustomSeriesRenderItemParams, CustomSeriesRenderItemReturn } from "echarts";

import type { LayerStepMatrix } from "../layer_step_matrix";
import { formatNumber, formatPowerOfTen } from "./format";
import { cellAtPixel, colourKeys, rasterizeHeatmap, type HeatmapGeometry } from "./heatmap_image";
import { LOG_SCALE_COLOURS, createLogColourScale, type LogColourScale } from "./log_colour_scale";
import { CHART_TEXT_STYLE, type Chart } from "./mount_chart";
import { createTooltip } from "./tooltip";

/** What the heatmap shows: `values` of each layer (row) at each step (column). */
export interface LayerHeatmapData {
  layers: readonly string[];
  steps: readonly number[];
  values: LayerStepMatrix;
  /** What a value is, for the tooltip, e.g. "grad norm". */
  valueLabel: string;
}

/** A heatmap drawn in a chart. */
export interface LayerHeatmap {
  /**
   * Marks a layer's row and the column holding a step (what a finding link asked to see) and
   * redraws; null leaves that one unmarked. A layer or step the heatmap does not have is not marked.
   */
  mark(layer: string | null, step: number | null): void;
}

/** Colour of the marks, the one the line charts mark a step with. */
const MARK_COLOUR = "#f57c00";

/** Pixel height of one layer row: readable for a few layers, at least 4 pixels for many. */
function rowPixels(rowCount: number): number {
  return rowCount <= 24 ? 20 : Math.max(4, Math.floor(560 / rowCount));
}

/** Pixel height that shows `rowCount` layer rows readably without growing without bound. */
export function heatmapHeight(rowCount: number): number {
  return rowCount * rowPixels(rowCount) + 96;
}

/** Height a layer name needs (its 11 px font and some air). */
const LABEL_PIXELS = 14;

/** The plot rectangle of a cartesian custom series, in CSS pixels of the chart. */
interface PlotRect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/**
 * Draws `data` in `chart` and shows a cell's layer, step and value when the pointer is on it.
 * Pass one `scale` to several heatmaps to make their colours comparable; by default the scale is
 * fitted to this heatmap's values.
 */
export function drawLayerHeatmap(
  chart: Chart,
  data: LayerHeatmapData,
  scale: LogColourScale = createLogColourScale([data.values.values]),
): LayerHeatmap {
  const keys = colourKeys(data.values, scale);
  const canvas = document.createElement("canvas");
  // Where the image was last drawn: the plot in CSS pixels, the cells in image pixels.
  let drawn: { plot: PlotRect; ratio: number; geometry: HeatmapGeometry } | null = null;
  let drawnGeometry = "";
  let markedRow: number | null = null;
  let markedColumn: number | null = null;
  let hovered: number | null = null;

  function paint(geometry: HeatmapGeometry): void {
    // Redraws of the same size and zoom (a mark) reuse the image.
    const key = JSON.stringify(geometry);
    if (key === drawnGeometry) return;
    const pixels = rasterizeHeatmap(keys, data.layers.length, data.steps.length, geometry);
    canvas.width = geometry.width;
    canvas.height = geometry.height;
    canvas.getContext("2d")?.putImageData(new ImageData(pixels, geometry.width, geometry.height), 0, 0);
    drawnGeometry = key;
  }

  function renderItem(params: CustomSeriesRenderItemParams, api: CustomSeriesRenderItemAPI): CustomSeriesRenderItemReturn {
    const coordSys = params.coordSys as unknown as PlotRect;
    // Whole CSS pixels, so image pixels fall on device pixels.
    const plot = {
      x: Math.round(coordSys.x),
      y: Math.round(coordSys.y),
      width: Math.round(coordSys.x + coordSys.width) - Math.round(coordSys.x),
      height: Math.round(coordSys.y + coordSys.height) - Math.round(coordSys.y),
    };
    const ratio = api.getDevicePixelRatio();
    // Category axes: coord is the middle of a band, size the band.
    const [centreX, centreY] = api.coord([0, 0]);
    const [cellWidth, cellHeight] = api.size?.([1, 1]) as number[];
    const left = centreX - cellWidth / 2;
    const top = centreY - cellHeight / 2;
    const geometry = {
      width: Math.max(1, Math.round(plot.width * ratio)),
      height: Math.max(1, Math.round(plot.height * ratio)),
      left: (left - plot.x) * ratio,
      top: (top - plot.y) * ratio,
      cellWidth: cellWidth * ratio,
      cellHeight: cellHeight * ratio,
    };
    paint(geometry);
    drawn = { plot, ratio, geometry };
    const marks: NonNullable<CustomSeriesRenderItemReturn>[] = [];
    if (markedRow !== null) {
      const y = top + markedRow * cellHeight;
      if (y + cellHeight > plot.y && y < plot.y + plot.height) {
        marks.push({
          type: "rect",
          silent: true,
          z2: 1,
          shape: { x: plot.x, y, width: plot.width, height: cellHeight },
          style: { fill: "none", stroke: MARK_COLOUR, lineWidth: 1.5 },
        });
      }
    }
    if (markedColumn !== null) {
      const x = left + (markedColumn + 0.5) * cellWidth;
      if (x >= plot.x && x <= plot.x + plot.width) {
        marks.push({
          type: "line",
          silent: true,
          z2: 1,
          shape: { x1: x, y1: plot.y, x2: x, y2: plot.y + plot.height },
          style: { stroke: MARK_COLOUR, lineWidth: 1.5, lineDash: [4, 3] },
        });
      }
    }
    return {
      type: "group",
      // No hover state: it would lift the image over the marks and repaint it on every hover.
      emphasisDisabled: true,
      children: [
        { type: "image", style: { image: canvas, x: plot.x, y: plot.y, width: plot.width, height: plot.height } },
        ...marks,
      ],
    } as CustomSeriesRenderItemReturn;
  }

  /** The flat index of the cell shown at chart point (x, y), or null where no cell is shown. */
  function cellAt(x: number, y: number): number | null {
    if (drawn === null) return null;
    const { plot, ratio, geometry } = drawn;
    const column = Math.floor((x - plot.x) * ratio);
    const row = Math.floor((y - plot.y) * ratio);
    if (column < 0 || row < 0 || column >= geometry.width || row >= geometry.height) return null;
    const cell = cellAtPixel(keys, data.layers.length, data.steps.length, geometry, column, row);
    return cell < 0 ? null : cell;
  }

  const option = {
    textStyle: CHART_TEXT_STYLE,
    animation: false,
    grid: { left: 8, right: 96, top: 8, bottom: 56, outerBoundsMode: "same", outerBoundsContain: "axisLabel" },
    tooltip: {
      // The whole plot is one item, the image: the pointer handler below finds the cell.
      trigger: "item",
      renderMode: "html",
      confine: true,
      formatter: () => {
        // Empty content hides the tooltip: on a pixel that shows no cell.
        if (hovered === null) return "";
        const layer = Math.floor(hovered / data.steps.length);
        const step = hovered % data.steps.length;
        return createTooltip(data.layers[layer] ?? "", [
          ["step", String(data.steps[step] ?? "")],
          [data.valueLabel, formatNumber(data.values.at(layer, step))],
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
      axisLabel: {
        width: 220,
        overflow: "truncate",
        fontSize: 11,
        // Every n-th layer named where rows are thinner than a name (ECharts' own spacing let them overlap).
        interval: Math.ceil(LABEL_PIXELS / rowPixels(data.layers.length)) - 1,
      },
      splitArea: { show: false },
    },
    visualMap: {
      type: "continuous",
      // Only the colour bar: the image is coloured by heatmap_image.ts with the same colours.
      seriesIndex: [],
      hoverLink: false,
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
      // The series is one item, at step 0: filtering would drop it once step 0 is zoomed out of view.
      { type: "inside", xAxisIndex: 0, filterMode: "none" },
      { type: "slider", xAxisIndex: 0, height: 14, bottom: 4, filterMode: "none", showDataShadow: false },
    ],
    series: [
      {
        type: "custom",
        name: data.valueLabel,
        data: [[0, 0]],
        encode: { x: 0, y: 1 },
        renderItem,
      },
    ],
  };
  // Before the option: zrender calls handlers in the order they were added, so the cell under the
  // pointer is known when ECharts' own handler (added by the first setOption) asks for the tooltip.
  const zr = chart.getZr();
  zr.on("mousemove", (event) => {
    hovered = cellAt(event.offsetX, event.offsetY);
  });
  zr.on("globalout", () => {
    hovered = null;
  });
  chart.setOption(option);

  return {
    mark(layer, step) {
      const row = layer === null ? -1 : data.layers.indexOf(layer);
      markedRow = row < 0 ? null : row;
      // The column whose range of steps holds `step`: steps[j] is the last step of column j.
      const column = step === null ? -1 : data.steps.findIndex((last) => last >= step);
      markedColumn = column < 0 ? null : column;
      chart.setOption(option);
    },
  };
}
