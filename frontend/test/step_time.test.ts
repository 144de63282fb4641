import { describe, expect, it } from "vitest";

import { decodeInput, type InputData } from "../src/panels/input/data";
import {
  formatMs,
  niceCeiling,
  stepTimeAxisMax,
  stepTimeChartOption,
  stepTimeHistogramOption,
  stepTimeSeries,
  verdictSentence,
} from "../src/charts/step_time";

const judgement = { wait_fraction: 0.5, verdict: "highly", step_p50_s: 0.02, step_p95_s: 0.03, wait_p50_s: 0.01, steps: 3 };

function body(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    run: "<b>run</b>",
    steps: [1, 2, 3],
    wait_s: [0.01, 0.01, 0.02],
    compute_s: [0.5, 0.01, 0.01],
    host_s: [null, 0.001, 0.001],
    steady: [false, true, true],
    downsampled: false,
    histogram: { edges_s: [0.01, 0.02, 0.03], counts: [1, 1] },
    summary: {
      ...judgement,
      excluded_steps: 1,
      epochs: [{ ...judgement, epoch: 0 }],
      pipeline: {
        stages: ["<img src=x>", "batch"],
        source: "python",
        python: true,
        prefetch: false,
        parallel_map: false,
        sequential_map: false,
        cache: false,
      },
    },
    thresholds: { moderately: 0.05, highly: 0.2 },
    warnings: [],
    ...overrides,
  };
}

describe("decodeInput", () => {
  it("keeps a missing host time as null and strings from the log dir as text", () => {
    const data = decodeInput(body());
    expect(data.host_s).toEqual([null, 0.001, 0.001]);
    expect(data.run).toBe("<b>run</b>");
    expect(data.summary.pipeline?.stages[0]).toBe("<img src=x>");
    expect(data.summary.pipeline?.cache).toBe(false);
    expect(data.summary.epochs[0]).toMatchObject({ epoch: 0, verdict: "highly" });
  });

  it("accepts a run with too few steps for a verdict", () => {
    const summary = { wait_fraction: null, verdict: null, step_p50_s: null, step_p95_s: null, wait_p50_s: null, steps: 2, excluded_steps: 0, epochs: [], pipeline: null };
    expect(decodeInput(body({ summary })).summary.verdict).toBeNull();
  });

  it("rejects an unknown verdict and non-boolean steady flags with the field named", () => {
    expect(() => decodeInput(body({ summary: { ...(body().summary as object), verdict: "very" } }))).toThrow(/summary.verdict/);
    expect(() => decodeInput(body({ steady: [1, 0, 1] }))).toThrow(/steady\[0\]/);
  });
});

describe("step time charts", () => {
  const data: InputData = decodeInput(body());

  it("stacks wait, compute and host in ms, a missing host time as 0", () => {
    const series = stepTimeSeries(data);
    expect(series.map((part) => part.name)).toEqual(["waiting for data", "computing", "host (Keras loop, callbacks)"]);
    expect(series[0].values).toEqual([10, 10, 20]);
    expect(series[2].values[0]).toBe(0);
    const option = stepTimeChartOption(data) as { series: Array<{ stack: string; data: unknown[] }> };
    expect(option.series.every((s) => s.stack === "step")).toBe(true);
    // The step that compiled is drawn faded, the others as plain values.
    expect(option.series[1].data[0]).toMatchObject({ value: 500, itemStyle: { opacity: 0.35 } });
    expect(option.series[1].data[1]).toBe(10);
  });

  it("cuts the axis above the slowest steady step when a compile step would flatten the rest", () => {
    // Steady totals are 21 ms and 31 ms; the compiling first step takes 510 ms.
    expect(stepTimeAxisMax(data)).toBe(40);
    expect([niceCeiling(32), niceCeiling(0.0031), niceCeiling(8), niceCeiling(81)]).toEqual([40, 0.004, 8, 100]);
    expect(stepTimeAxisMax(decodeInput(body({ steady: [true, true, true] })))).toBeUndefined();
  });

  it("labels histogram bins by their upper edge in ms", () => {
    const option = stepTimeHistogramOption(data) as { xAxis: { data: string[] }; series: Array<{ data: number[] }> };
    expect(option.xAxis.data).toEqual(["20", "30"]);
    expect(option.series[0].data).toEqual([1, 1]);
  });

  it("states the verdict with the share and the rule", () => {
    expect(verdictSentence("highly", 0.91, data.thresholds)).toBe(
      "Highly input-bound: 91% of step time was spent waiting for data (≥ 20% is highly, ≥ 5% moderately input-bound).",
    );
    expect(verdictSentence("not", 0.012, data.thresholds)).toMatch(/^Not input-bound: 1.2% of step time/);
    expect(verdictSentence(null, null, data.thresholds)).toBe("Too few steps recorded for a verdict yet.");
    expect(formatMs(0.000476)).toBe("0.476 ms");
    expect(formatMs(null)).toBe("—");
  });
});
