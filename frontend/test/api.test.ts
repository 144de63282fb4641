import { afterEach, describe, expect, it, vi } from "vitest";

import { ApiError } from "../src/decode";
import { DiagnosticsApi, decodeReport, decodeRuns } from "../src/api";
import { LayerStepMatrix } from "../src/layer_step_matrix";
import { decodeGradients, fetchGradients } from "../src/panels/gradients/data";
import { MATRIX_ENCODING } from "../src/generated/vocabulary";

describe("decoding non-finite values", () => {
  it("turns TensorBoard's NaN/Infinity strings back into numbers", () => {
    const data = decodeGradients(binaryBody({ global_norm: [0.51, "NaN", "Infinity", "-Infinity"], steps: [1, 2, 3, 4], ...fourSteps }));
    expect(data.global_norm[0]).toBe(0.51);
    expect(data.global_norm[1]).toBeNaN();
    expect(data.global_norm[2]).toBe(Number.POSITIVE_INFINITY);
    expect(data.global_norm[3]).toBe(Number.NEGATIVE_INFINITY);
  });

  it("keeps a missing value as null, not NaN", () => {
    expect(decodeGradients(binaryBody({ global_norm: [0.5, null, 1] })).global_norm).toEqual([0.5, null, 1]);
  });

  it("leaves strings that are names alone, even a layer called NaN", () => {
    expect(decodeGradients(binaryBody({ layers: ["NaN", "head"] })).layers).toEqual(["NaN", "head"]);
  });

  it("rejects other strings where a number belongs, naming the field and the value", () => {
    expect(() => decodeGradients(binaryBody({ global_norm: [0.5, "nan", 1] }))).toThrow(ApiError);
    expect(() => decodeGradients(binaryBody({ global_norm: [0.5, "nan", 1] }))).toThrow(/global_norm\[1\] is "nan", but must be number/);
    expect(() => decodeGradients(binaryBody({ steps: [10, "20", 30] }))).toThrow(/steps\[1\] is "20", but must be integer/);
  });

  it("tells a payload that is already checked from a new one: its NaN is no JSON number", () => {
    const body = binaryBody();
    decodeGradients(body);
    expect(() => decodeGradients(body)).toThrow(/global_norm\[1\]/);
  });

  it("decodes report statistics and findings with null step and layer", () => {
    const report = decodeReport({
      run: "r",
      steps: 10,
      layers: ["dense"],
      gradients: { dense: { last: "NaN", min: 0.1, max: "Infinity" } },
      overview: [],
      findings: [{ id: "f", severity: "warning", step: null, layer: null, title: "t", detail: "d", remedy: "r", diagnostic: "gradients", caused_by: null }],
      warnings: ["w"],
    });
    expect(report.gradients?.dense?.last).toBeNaN();
    expect(report.gradients?.dense?.max).toBe(Number.POSITIVE_INFINITY);
    expect(report.findings[0]).toMatchObject({ step: null, layer: null, severity: "warning" });
    expect(report.warnings).toEqual(["w"]);
  });

  it("reads a null gradients summary (a run recorded without the gradients probe)", () => {
    const report = decodeReport({ run: "r", steps: 3, layers: [], gradients: null, overview: [], findings: [], warnings: [] });
    expect(report.gradients).toBeNull();
  });

  it("keeps the report's other entries (each diagnostic's summary) as they came", () => {
    const report = decodeReport({ run: "r", steps: 3, layers: [], gradients: null, overview: [], findings: [], warnings: [], input: { verdict: "not" } });
    expect((report as Record<string, unknown>).input).toEqual({ verdict: "not" });
  });

  it("rejects an unknown severity, naming the allowed ones", () => {
    const finding = { id: "f", severity: "fatal", step: 1, layer: "l", title: "t", detail: "d", remedy: "r", diagnostic: "gradients", caused_by: null };
    expect(() => decodeReport({ run: "r", steps: 1, layers: [], gradients: null, overview: [], findings: [finding], warnings: [] })).toThrow(
      /findings\[0\]\.severity is "fatal", but must be equal to one of the allowed values \(\["error","warning","info"\]\)/,
    );
  });

  it("rejects a field the contract does not name: the tab and its server come together", () => {
    expect(() => decodeGradients(binaryBody({ extra: 1 }))).toThrow(/must NOT have additional properties \("extra"\)/);
  });

  it("decodes the run list", () => {
    const runs = decodeRuns({
      runs: [{ run: "a", last_step: 600, families: ["gradients"], error_count: 0, warning_count: 1 }],
    });
    expect(runs).toEqual([{ run: "a", last_step: 600, families: ["gradients"], error_count: 0, warning_count: 1 }]);
  });
});

/** Base64 of `values` as little-endian float32, the way the server encodes a matrix. */
function float32Base64(values: number[]): string {
  const view = new DataView(new ArrayBuffer(values.length * 4));
  values.forEach((value, i) => view.setFloat32(i * 4, value, true));
  return btoa(String.fromCharCode(...new Uint8Array(view.buffer)));
}

/** A binary `GET gradients` body of 2 layers × 3 steps. */
function binaryBody(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    run: "exploding/train",
    layers: ["dense", "head"],
    steps: [10, 20, 30],
    encoding: MATRIX_ENCODING,
    grad_norm: float32Base64([0.5, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 0, -1]),
    weight_norm: float32Base64([3, -1, -1, 1.5, -1, 2]),
    update_ratio: float32Base64([-1, -1, -1, -1, -1, -1]),
    global_norm: [0.5, "NaN", "Infinity"],
    downsampled: true,
    warnings: [],
    ...overrides,
  };
}

/** Matrices of 2 layers × 4 steps, for a `binaryBody` with four steps. */
const fourSteps = {
  grad_norm: float32Base64([1, 2, 3, 4, 5, 6, 7, 8]),
  weight_norm: float32Base64([1, 2, 3, 4, 5, 6, 7, 8]),
  update_ratio: float32Base64([1, 2, 3, 4, 5, 6, 7, 8]),
};

function rows(matrix: LayerStepMatrix): Array<Array<number | null>> {
  return Array.from({ length: matrix.layerCount }, (_, i) => Array.from({ length: matrix.stepCount }, (_, j) => matrix.at(i, j)));
}

describe("decoding the binary gradients format", () => {
  it("round-trips float32 values layer by layer, NaN and ±Inf included", () => {
    const values = [1e-7, 0.25, 3.5e12, 1, 2, 3, Number.NaN, Number.POSITIVE_INFINITY];
    const data = decodeGradients(
      binaryBody({ layers: ["a", "b"], steps: [1, 2, 3, 4], grad_norm: float32Base64(values), weight_norm: float32Base64(values), update_ratio: float32Base64(values) }),
    );
    expect(data.grad_norm.layerCount).toBe(2);
    expect(data.grad_norm.stepCount).toBe(4);
    expect(rows(data.grad_norm)).toEqual([
      [Math.fround(1e-7), 0.25, Math.fround(3.5e12), 1],
      [2, 3, Number.NaN, Number.POSITIVE_INFINITY],
    ]);
    expect(data.grad_norm.values).toBeInstanceOf(Float32Array);
  });

  it("keeps NaN and ±Inf, and -1 in grad_norm, as the numbers they are", () => {
    const data = decodeGradients(binaryBody());
    expect(data.grad_norm.at(0, 0)).toBe(0.5);
    expect(data.grad_norm.at(0, 1)).toBeNaN();
    expect(data.grad_norm.isMissing(1)).toBe(false);
    expect(data.grad_norm.at(0, 2)).toBe(Number.POSITIVE_INFINITY);
    expect(data.grad_norm.at(1, 0)).toBe(Number.NEGATIVE_INFINITY);
    expect(data.grad_norm.at(1, 1)).toBe(0);
    expect(data.grad_norm.at(1, 2)).toBe(-1);
    expect(data.global_norm[1]).toBeNaN();
    expect(data.downsampled).toBe(true);
  });

  it("reads -1 in the sampled metrics as 'not sampled', like null in JSON", () => {
    const data = decodeGradients(binaryBody());
    expect(rows(data.weight_norm)).toEqual([
      [3, null, null],
      [1.5, null, 2],
    ]);
    expect(data.weight_norm.isMissing(1)).toBe(true);
    expect(data.weight_norm.isMissing(0)).toBe(false);
    expect(data.weight_norm.hasValue()).toBe(true);
    expect(data.update_ratio.hasValue()).toBe(false);
  });

  it("rejects a matrix whose size is not layers × steps floats", () => {
    const short = (): Record<string, unknown> => binaryBody({ weight_norm: float32Base64([1, 2, 3, 4, 5]) });
    expect(() => decodeGradients(short())).toThrow(ApiError);
    expect(() => decodeGradients(short())).toThrow("weight_norm holds 20 bytes, but 2 layers × 3 steps of float32 take 24.");
    expect(() => decodeGradients(binaryBody({ steps: [10, 20] }))).toThrow(/grad_norm holds 24 bytes.*take 16/);
    expect(() => decodeGradients(binaryBody({ grad_norm: "" }))).toThrow(/grad_norm holds 0 bytes/);
  });

  it("rejects text that is not base64", () => {
    for (const text of ["@@@@", "AAAA=AAA", "AAAA\u0000AAA", "ÿÿÿÿ"]) {
      expect(() => decodeGradients(binaryBody({ update_ratio: text }))).toThrow("Unexpected response: update_ratio is not valid base64.");
    }
    expect(() => decodeGradients(binaryBody({ grad_norm: [[1, 2, 3]] }))).toThrow(/grad_norm is \[\[1,2,3\]\], but must be string/);
  });

  it("names an encoding it does not read, or a missing one", () => {
    expect(() => decodeGradients(binaryBody({ encoding: "float16-base64" }))).toThrow(
      /encoding is "float16-base64", but must be equal to constant \("float32-base64"\)/,
    );
    expect(() => decodeGradients(binaryBody({ encoding: undefined }))).toThrow(/must have required property 'encoding'/);
  });

  it("uses Uint8Array.fromBase64 where the browser has it, strictly", () => {
    const calls: string[] = [];
    const fromBase64 = (text: string, options: { lastChunkHandling: string }): Uint8Array => {
      calls.push(options.lastChunkHandling);
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) throw new SyntaxError("bad base64");
      return Uint8Array.from(atob(text), (char) => char.charCodeAt(0));
    };
    Object.defineProperty(Uint8Array, "fromBase64", { value: fromBase64, configurable: true });
    try {
      expect(decodeGradients(binaryBody()).weight_norm.at(1, 2)).toBe(2);
      expect(calls).toEqual(["strict", "strict", "strict"]);
      expect(() => decodeGradients(binaryBody({ grad_norm: "AAAA AAA" }))).toThrow("grad_norm is not valid base64");
    } finally {
      delete (Uint8Array as unknown as { fromBase64?: unknown }).fromBase64;
    }
  });
});

describe("DiagnosticsApi", () => {
  afterEach(() => vi.unstubAllGlobals());

  it("resolves routes against the plugin base and encodes the run", async () => {
    const fetchMock = vi.fn(async () => new Response(JSON.stringify(binaryBody()), { status: 200 }));
    vi.stubGlobal("fetch", fetchMock);
    const api = new DiagnosticsApi(new URL("http://host/prefix/data/plugin/tb_diag/"));
    await fetchGradients(api, "a b/&c");
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
