/**
 * ECharts setup shared by every panel: the tree-shaken set of chart types and components the
 * bundle contains, and mounting a chart whose lifetime follows the panel's AbortSignal.
 */

import { BarChart, CustomChart, LineChart } from "echarts/charts";
import {
  DataZoomComponent,
  GridComponent,
  LegendComponent,
  MarkLineComponent,
  TooltipComponent,
  VisualMapComponent,
} from "echarts/components";
import * as echarts from "echarts/core";
import { CanvasRenderer } from "echarts/renderers";

echarts.use([
  BarChart,
  CustomChart,
  LineChart,
  GridComponent,
  TooltipComponent,
  VisualMapComponent,
  DataZoomComponent,
  LegendComponent,
  MarkLineComponent,
  CanvasRenderer,
]);

export type Chart = echarts.ECharts;

/** Font of chart text, matching the page. */
export const CHART_TEXT_STYLE = {
  fontFamily: "Roboto, 'Helvetica Neue', Arial, sans-serif",
  fontSize: 12,
  color: "#424242",
};

/**
 * Creates a chart in `container` that follows the window's size and is disposed when `signal`
 * aborts (the run selection changed or the tab re-rendered).
 */
export function mountChart(container: HTMLElement, signal: AbortSignal): Chart {
  const chart = echarts.init(container, undefined, { renderer: "canvas" });
  const resize = (): void => chart.resize();
  window.addEventListener("resize", resize);
  signal.addEventListener(
    "abort",
    () => {
      window.removeEventListener("resize", resize);
      chart.dispose();
    },
    { once: true },
  );
  return chart;
}
