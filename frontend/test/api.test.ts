import { afterEach, describe, expect, it, vi } from "vitest";

import { ApiError, DiagnosticsApi, decodeGradients, decodeNumber, decodeReport, decodeRuns } from "../src/api";

const gradientsBody = {
  run: "exploding/train",
  layers: ["NaN", "head"],
  steps: [1, 2, 3],
  grad_norm: [
    [0.5, "NaN", "Infinity"],
    [0.1, "-Infinity", null],
  ],
  weight_norm: [
    [1, 1, 1],
    [2, 2, 2],
  ],
  update_ratio: [
    [1e-3, 1e-3, 1e-3],
    [2e-3, 2e-3, 2e-3],
  ],
  global_norm: [0.51, "NaN", "Infinity"],
  downsampled: false,
  warnings: [],
};

describe("decoding non-finite values", () => {
  it("turns TensorBoard's NaN/Infinity strings back into numbers", () => {
    const data = decodeGradients(gradientsBody);
    expect(data.grad_norm[0][0]).toBe(0.5);
    expect(data.grad_norm[0][1]).toBeNaN();
    expect(data.grad_norm[0][2]).toBe(Number.POSITIVE_INFINITY);
    expect(data.grad_norm[1][1]).toBe(Number.NEGATIVE_INFINITY);
    expect(data.global_norm[1]).toBeNaN();
    expect(data.global_norm[2]).toBe(Number.POSITIVE_INFINITY);
  });

  it("keeps a missing value as null, not NaN", () => {
    expect(decodeGradients(gradientsBody).grad_norm[1][2]).toBeNull();
  });

  it("leaves strings that are names alone, even a layer called NaN", () => {
    expect(decodeGradients(gradientsBody).layers).toEqual(["NaN", "head"]);
  });

  it("rejects other strings where a number belongs", () => {
    expect(() => decodeNumber("nan", "x")).toThrow(ApiError);
    expect(() => decodeGradients({ ...gradientsBody, steps: [1, "2", 3] })).toThrow(/steps\[1\]/);
  });

  it("decodes report statistics and findings with null step and layer", () => {
    const report = decodeReport({
      run: "r",
      steps: 10,
      layers: ["dense"],
      gradients: { dense: { last: "NaN", min: 0.1, max: "Infinity" } },
      findings: [{ id: "f", severity: "warning", step: null, layer: null, title: "t", detail: "d", remedy: "r" }],
      warnings: ["w"],
    });
    expect(report.gradients.dense.last).toBeNaN();
    expect(report.gradients.dense.max).toBe(Number.POSITIVE_INFINITY);
    expect(report.findings[0]).toMatchObject({ step: null, layer: null, severity: "warning" });
    expect(report.warnings).toEqual(["w"]);
  });

  it("rejects an unknown severity", () => {
    const finding = { id: "f", severity: "fatal", step: 1, layer: "l", title: "t", detail: "d", remedy: "r" };
    expect(() => decodeReport({ run: "r", steps: 1, layers: [], findings: [finding] })).toThrow(/severity/);
  });

  it("decodes the run list", () => {
    const runs = decodeRuns({
      runs: [{ run: "a", last_step: 600, families: ["gradients"], error_count: 0, warning_count: 1 }],
    });
    expect(runs).toEqual([{ run: "a", last_step: 600, families: ["gradients"], error_count: 0, warning_count: 1 }]);
  });
});

describe("DiagnosticsApi", () => {
  afterEach(() => vi.unstubAllGlobals());

  it("resolves routes against the plugin base and encodes the run", async () => {
    const fetchMock = vi.fn(async () => new Response(JSON.stringify(gradientsBody), { status: 200 }));
    vi.stubGlobal("fetch", fetchMock);
    const api = new DiagnosticsApi(new URL("http://host/prefix/data/plugin/tb_diag/"));
    await api.gradients("a b/&c");
    const url = String((fetchMock.mock.calls[0] as unknown[])[0]);
    expect(url).toBe("http://host/prefix/data/plugin/tb_diag/gradients?run=a+b%2F%26c");
  });

  it("carries the server's error message", async () => {
    vi.stubGlobal(
      "fetch",
      vi.fn(async () => new Response(JSON.stringify({ error: "Unknown run 'x'." }), { status: 400 })),
    );
    const api = new DiagnosticsApi(new URL("http://host/data/plugin/tb_diag/"));
    const failure = api.report("x");
    await expect(failure).rejects.toThrow("Unknown run 'x'.");
    await expect(failure).rejects.toMatchObject({ status: 400 });
  });

  it("says what happened when the error body is not JSON", async () => {
    vi.stubGlobal("fetch", vi.fn(async () => new Response("oops", { status: 500, statusText: "Server Error" })));
    const api = new DiagnosticsApi(new URL("http://host/data/plugin/tb_diag/"));
    await expect(api.runs()).rejects.toThrow("HTTP 500 Server Error");
  });
});
