import { describe, expect, it } from "vitest";

import { logLineChartOption } from "../src/charts/line_chart";
import type { LineSeries } from "../src/charts/series";

const line: LineSeries = { name: "dense", run: "a", layer: "dense", points: [[10, 1e-3], [50, null]] };

function seriesOptions(option: ReturnType<typeof logLineChartOption>): Array<Record<string, unknown>> {
  return (option as { series: Array<Record<string, unknown>> }).series;
}

describe("log line chart option", () => {
  it("hides symbols by default and keeps null points as gaps", () => {
    const [series] = seriesOptions(logLineChartOption([line], "grad norm"));
    expect(series).toMatchObject({ type: "line", name: "dense", showSymbol: false, connectNulls: false });
    expect(series.data).toEqual(line.points);
  });

  it("shows a symbol at every point when asked, so isolated samples are visible", () => {
    const [series] = seriesOptions(logLineChartOption([line], "update ratio", { showSymbols: true }));
    expect(series).toMatchObject({ showSymbol: true, connectNulls: false });
  });
});
