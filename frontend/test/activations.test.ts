import { describe, expect, it } from "vitest";

import { decodeActivations } from "../src/panels/activations/data";
import { distributionBands, distributionChartOption, sparklinePoints } from "../src/charts/distribution";
import { defaultCall, percent } from "../src/panels/activations/panel";

const quantiles = [0, 0.0668, 0.1587, 0.3085, 0.5, 0.6915, 0.8413, 0.9332, 1];

function call(name: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name, layer: name, activation: "relu", kind: "layer",
    latest: { mean: 0.5, std: 1, zero_fraction: 0.5, dead_fraction: null, saturation: null, step: 3 },
    recent_dead_fraction: 0.25, recent_saturation: null, finding: null,
    mean: [0.5, "NaN"], std: [1, 2], dead_fraction: [0.25, null], saturation: [null, null],
    bands: [[0, 1, 2, 3, 4, 5, 6, 7, 8], [null, null, null, null, null, null, null, null, null]],
    ...overrides,
  };
}

const body = { run: "<img src=x>", steps: [1, 11], band_quantiles: quantiles, calls: [call("input", { kind: "input" }), call("dense"), call("dense_1", { finding: "dead_relu" })], downsampled: false, warnings: [] };

describe("decodeActivations", () => {
  it("keeps names as text, NaN as a number and missing statistics as null", () => {
    const data = decodeActivations(structuredClone(body));
    expect(data.run).toBe("<img src=x>");
    expect(data.calls[0].kind).toBe("input");
    expect(data.calls[1].mean[1]).toBeNaN();
    expect(data.calls[1].latest?.dead_fraction).toBeNull();
    expect(data.calls[2].finding).toBe("dead_relu");
  });

  it("names the field of a malformed value", () => {
    expect(() => decodeActivations({ ...body, calls: [call("x", { std: ["big"] })] })).toThrow(/calls\[0\].std\[0\]/);
  });
});

describe("distribution bands", () => {
  it("pairs symmetric quantiles outermost first and keeps the middle as the median", () => {
    const { bands, median } = distributionBands([1, 11], quantiles, decodeActivations(structuredClone(body)).calls[1].bands);
    expect(bands.map((b) => b.name)).toEqual(["min–max", "7%–93%", "16%–84%", "31%–69%"]);
    expect(bands[0].points[0]).toEqual([1, 0, 8]);
    expect(bands[3].points[0]).toEqual([1, 3, 5]);
    expect(median).toEqual([[1, 4], [11, null]]);
  });

  it("stacks each band as lower + (upper - lower) so the area fills between the quantiles", () => {
    const option = distributionChartOption([1, 11], quantiles, decodeActivations(structuredClone(body)).calls[1].bands) as {
      series: Array<{ stack?: string; stackStrategy?: string; data: unknown[] }>;
    };
    expect(option.series[0].stack).toBe(option.series[1].stack);
    // Negative lower bounds must stack too (ECharts' default stacks by sign).
    expect(option.series[0].stackStrategy).toBe("all");
    expect(option.series[1].data[0]).toEqual([1, 8]);
    expect(option.series[1].data[1]).toEqual([11, null]);
  });
});

describe("activations table helpers", () => {
  it("draws a sparkline scaled to its box, skipping missing points", () => {
    expect(sparklinePoints([1, null, 3], 10, 10)).toBe("0.0,10.0 10.0,0.0");
    expect(sparklinePoints([null], 10, 10)).toBe("");
  });

  it("formats fractions, with a dash where they do not apply", () => {
    expect([percent(0.5), percent(0.012), percent(null), percent(0)]).toEqual(["50%", "1.2%", "—", "0%"]);
  });

  it("shows the first flagged call first, else the first layer (not the input)", () => {
    const calls = decodeActivations(structuredClone(body)).calls;
    expect(defaultCall(calls)?.name).toBe("dense_1");
    expect(defaultCall(calls.slice(0, 2))?.name).toBe("dense");
  });
});
