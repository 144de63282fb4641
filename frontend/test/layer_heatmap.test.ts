// @vitest-environment happy-dom
import { beforeEach, describe, expect, it } from "vitest";

import { matrixFromRows } from "./matrix";
import { drawLayerHeatmap, type LayerHeatmap } from "../src/charts/layer_heatmap";
import type { Chart } from "../src/charts/mount_chart";

const HOSTILE = "<img src=x onerror=alert(1)>";

/** A rectangle, line or image of what the custom series drew. */
interface DrawnElement {
  type: string;
  shape?: Record<string, number>;
  style?: Record<string, unknown>;
}

type PointerEvent = { offsetX: number; offsetY: number };

/** The parts of the heatmap's option the tests look at. */
interface HeatmapOption {
  tooltip: { formatter: () => HTMLElement | string };
  xAxis: { data: string[] };
  yAxis: { data: string[]; inverse: boolean };
  series: Array<{ renderItem: (params: unknown, api: unknown) => { children: DrawnElement[] } }>;
}

/** ECharts cannot paint in happy-dom: a stand-in that records options and pointer handlers. */
function fakeChart(): { chart: Chart; options: HeatmapOption[]; pointer: Record<string, (event?: PointerEvent) => void> } {
  const options: HeatmapOption[] = [];
  const pointer: Record<string, (event?: PointerEvent) => void> = {};
  const chart = {
    setOption: (option: HeatmapOption) => options.push(option),
    getZr: () => ({ on: (name: string, handler: (event?: PointerEvent) => void) => (pointer[name] = handler) }),
  };
  return { chart: chart as unknown as Chart, options, pointer };
}

// The plot starts at (100, 20); cells are 10 × 8 CSS pixels, drawn at device pixel ratio 2.
const PLOT = { type: "cartesian2d", x: 100, y: 20, width: 30, height: 16 };

/** Calls the custom series' renderItem as ECharts would, for 2 layers × 3 steps not zoomed. */
function render(option: HeatmapOption): DrawnElement[] {
  const api = {
    getDevicePixelRatio: () => 2,
    coord: ([step, layer]: number[]) => [PLOT.x + (step + 0.5) * 10, PLOT.y + (layer + 0.5) * 8],
    size: () => [10, 8],
  };
  return option.series[0].renderItem({ coordSys: PLOT }, api).children;
}

describe("layer heatmap", () => {
  let drawn: ReturnType<typeof fakeChart>;
  let heatmap: LayerHeatmap;

  beforeEach(() => {
    drawn = fakeChart();
    const values = matrixFromRows([
      [0.5, Number.NaN, 2],
      [null, 0, Number.POSITIVE_INFINITY],
    ]);
    heatmap = drawLayerHeatmap(drawn.chart, { layers: ["dense", HOSTILE], steps: [10, 20, 30], values, valueLabel: "grad norm" });
  });

  /** The tooltip shown with the pointer at chart point (x, y): a DOM element, or "" for none. */
  function tooltipAt(x: number, y: number): HTMLElement | string {
    drawn.pointer.mousemove?.({ offsetX: x, offsetY: y });
    return drawn.options[0].tooltip.formatter();
  }

  it("paints one image over the whole plot, on category axes of steps and layers", () => {
    const [image, ...marks] = render(drawn.options[0]);
    expect(image.type).toBe("image");
    expect(image.style).toMatchObject({ x: 100, y: 20, width: 30, height: 16 });
    expect(marks).toEqual([]);
    expect(drawn.options[0].xAxis.data).toEqual(["10", "20", "30"]);
    expect(drawn.options[0].yAxis.data).toEqual(["dense", HOSTILE]);
    expect(drawn.options[0].yAxis.inverse).toBe(true);
  });

  it("names the layer, step and value under the pointer, as text", () => {
    render(drawn.options[0]);
    const tooltip = tooltipAt(125, 34) as HTMLElement;
    expect(tooltip.querySelector(".tbd-tooltip-title")?.textContent).toBe(HOSTILE);
    expect([...tooltip.querySelectorAll(".tbd-tooltip-row")].map((row) => row.textContent)).toEqual(["step30", "grad normInf"]);
    expect(tooltip.querySelector("img")).toBeNull();
    const nan = tooltipAt(111, 21) as HTMLElement;
    expect(nan.querySelector(".tbd-tooltip-title")?.textContent).toBe("dense");
    expect([...nan.querySelectorAll(".tbd-tooltip-value")].map((value) => value.textContent)).toEqual(["20", "NaN"]);
  });

  it("shows no tooltip on a missing cell, outside the plot or once the pointer left", () => {
    render(drawn.options[0]);
    expect(tooltipAt(101, 35)).toBe("");
    expect(tooltipAt(99, 21)).toBe("");
    expect(tooltipAt(131, 21)).toBe("");
    expect(tooltipAt(101, 21)).not.toBe("");
    drawn.pointer.globalout?.();
    expect(drawn.options[0].tooltip.formatter()).toBe("");
  });

  it("marks the layer's row and the column holding the step of a finding", () => {
    heatmap.mark(HOSTILE, 25);
    expect(drawn.options).toHaveLength(2);
    const [, row, column] = render(drawn.options[1]);
    expect(row).toMatchObject({ type: "rect", shape: { x: 100, y: 28, width: 30, height: 8 } });
    // Step 25 lies in the column of steps up to 30.
    expect(column).toMatchObject({ type: "line", shape: { x1: 125, x2: 125, y1: 20, y2: 36 } });
  });

  it("marks nothing for a layer or step it does not have", () => {
    heatmap.mark("unknown", 31);
    expect(render(drawn.options[1])).toHaveLength(1);
    heatmap.mark(null, 10);
    expect(render(drawn.options[2]).map((element) => element.type)).toEqual(["image", "line"]);
  });
});
