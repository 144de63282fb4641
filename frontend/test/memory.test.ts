import { describe, expect, it } from "vitest";

import { decodeMemory } from "../src/panels/memory/data";
import { bytesChartOption, formatBytes, seriesPerFit } from "../src/charts/memory";

const body = {
  run: "r",
  steps: [100, 200, 300, 400],
  host_rss_bytes: [2 ** 30, 1.1 * 2 ** 30, 1.2 * 2 ** 30, "NaN"],
  fits: [{ fit_index: 1, first_step: 1, rss_first_bytes: 2 ** 30, rss_last_bytes: 1.1 * 2 ** 30, live_models: 1 },
         { fit_index: 2, first_step: 201, rss_first_bytes: 1.2 * 2 ** 30, rss_last_bytes: null, live_models: 2 }],
  retraces: 1,
  traces: [{ fit_index: 1, step: 1, epoch: 0, sampled: true, signature: "(32, 8) float32" }],
  gpu: null,
  gpu_unavailable: "no GPU is visible to TensorFlow",
  process_fits: [{ fit_index: 1, host_rss_bytes: 2 ** 30, live_models: 1 }],
  fragmentation: [],
  profile_skipped: null,
  warnings: [],
};

describe("memory", () => {
  it("decodes a run without GPU and keeps the reason", () => {
    const data = decodeMemory(structuredClone(body));
    expect(data.gpu).toBeNull();
    expect(data.gpu_unavailable).toBe("no GPU is visible to TensorFlow");
    expect(data.host_rss_bytes[3]).toBeNaN();
    expect(data.fits[1].rss_last_bytes).toBeNull();
    expect(data.traces[0].signature).toBe("(32, 8) float32");
    expect(data.fragmentation).toEqual([]);
    expect(() => decodeMemory({ ...structuredClone(body), fragmentation: undefined })).toThrow(/must have required property 'fragmentation'/);
    const withWindow = decodeMemory({ ...structuredClone(body), fragmentation: [{ step: 15, allocator: "<b>cpu</b>", events: 40, fragmentation_median: 0.2,
      fragmentation_max: 0.5, bytes_in_use_max: 1024, peak_bytes_in_use: 2048 }], profile_skipped: null });
    expect(withWindow.fragmentation[0].allocator).toBe("<b>cpu</b>");
  });

  it("splits the host series into one line per fit", () => {
    const data = decodeMemory(structuredClone(body));
    const lines = seriesPerFit(data.steps, data.host_rss_bytes, data.fits);
    expect(lines.map((l) => l.name)).toEqual(["fit 1", "fit 2"]);
    expect(lines[0].points.map(([s]) => s)).toEqual([100, 200]);
    expect(lines[1].points.map(([s]) => s)).toEqual([300, 400]);
    const option = bytesChartOption(lines) as { series: Array<{ data: Array<[number, number | null]> }> };
    expect(option.series[0].data[0]).toEqual([100, 1024]);
  });

  it("draws retrace markers as vertical lines with canvas labels", () => {
    const option = bytesChartOption([{ name: "fit 1", points: [[1, 2 ** 20]] }], [{ step: 9, label: "retrace" }]) as {
      series: Array<{ markLine?: { data: Array<{ xAxis: number; label: { formatter: string } }> } }>;
    };
    expect(option.series[0].markLine?.data).toEqual([{ xAxis: 9, label: { formatter: "retrace" } }]);
  });

  it("formats bytes in MiB, GiB above 1024 MiB, and a dash when missing", () => {
    expect([formatBytes(512 * 2 ** 20), formatBytes(1.5 * 2 ** 30), formatBytes(null)]).toEqual(["512 MiB", "1.5 GiB", "—"]);
  });
});
