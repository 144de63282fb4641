import { describe, expect, it } from "vitest";

import type { GradientsData } from "../src/panels/gradients/data";
import {
  buildGlobalNormSeries,
  buildLayerSeries,
  buildSampledLayerSeries,
  defaultLayerSelection,
  hasSampledValues,
  layerUnion,
} from "../src/charts/series";
import { matrixFromRows } from "./matrix";

function gradients(run: string, layers: string[], gradNorm: Array<Array<number | null>>): GradientsData {
  const steps = gradNorm[0].map((_, j) => (j + 1) * 10);
  return {
    run,
    layers,
    steps,
    grad_norm: matrixFromRows(gradNorm),
    weight_norm: matrixFromRows(gradNorm),
    update_ratio: matrixFromRows(gradNorm),
    global_norm: steps.map((_, j) => (j === 1 ? Number.NaN : 0.5)),
    downsampled: false,
    warnings: [],
  };
}

const runA = gradients("a", ["dense", "head"], [
  [0.1, 0.2, 0.3],
  [1, 2, 3],
]);
const runB = gradients("b", ["head", "extra"], [
  [5, 0, Number.POSITIVE_INFINITY],
  [7, 7, 7],
]);

describe("line chart series", () => {
  it("names series by layer alone for a single run", () => {
    const series = buildLayerSeries([runA], ["head"]);
    expect(series.map((s) => s.name)).toEqual(["head"]);
    expect(series[0].points).toEqual([
      [10, 1],
      [20, 2],
      [30, 3],
    ]);
  });

  it("overlays runs as 'run · layer', skipping layers a run does not have", () => {
    const series = buildLayerSeries([runA, runB], ["dense", "head"]);
    expect(series.map((s) => s.name)).toEqual(["a · dense", "a · head", "b · head"]);
    expect(series.map((s) => [s.run, s.layer])).toEqual([
      ["a", "dense"],
      ["a", "head"],
      ["b", "head"],
    ]);
  });

  it("turns values a log axis cannot place into gaps", () => {
    const [head] = buildLayerSeries([runB], ["head"]);
    expect(head.points).toEqual([
      [10, 5],
      [20, null],
      [30, null],
    ]);
    const [globalNorm] = buildGlobalNormSeries([runB]);
    expect(globalNorm.points[1]).toEqual([20, null]);
    expect(globalNorm.name).toBe("b");
  });

  it("builds one global-norm series per run", () => {
    expect(buildGlobalNormSeries([runA, runB]).map((s) => s.name)).toEqual(["a", "b"]);
  });
});

describe("sampled update-ratio series", () => {
  // Sampled every other step; the NaN was really recorded at step 50.
  const sampled: GradientsData = {
    ...gradients("s", ["dense", "head"], [
      [1, 1, 1, 1, 1, 1],
      [2, 2, 2, 2, 2, 2],
    ]),
    update_ratio: matrixFromRows([
      [1e-3, null, 2e-3, null, Number.NaN, null],
      [null, null, null, null, null, null],
    ]),
  };
  const unsampled: GradientsData = {
    ...gradients("u", ["dense"], [[1, 1]]),
    update_ratio: matrixFromRows([[null, null]]),
  };

  it("leaves unsampled steps out and keeps NaN, zero and Inf as gaps", () => {
    const zeroInf: GradientsData = { ...sampled, update_ratio: matrixFromRows([[0, null, Number.POSITIVE_INFINITY, 4e-3, null, null], [null, null, null, null, null, null]]) };
    const [dense] = buildSampledLayerSeries([sampled], ["dense"], "update_ratio");
    expect(dense.name).toBe("dense");
    expect(dense.points).toEqual([
      [10, 1e-3],
      [30, 2e-3],
      [50, null],
    ]);
    expect(buildSampledLayerSeries([zeroInf], ["dense"], "update_ratio")[0].points).toEqual([
      [10, null],
      [30, null],
      [40, 4e-3],
    ]);
  });

  it("drops series without a single sample but names the rest as 'run · layer'", () => {
    const series = buildSampledLayerSeries([sampled, unsampled], ["dense", "head"], "update_ratio");
    expect(series.map((s) => s.name)).toEqual(["s · dense"]);
  });

  it("follows the selection order and skips layers a run does not have", () => {
    const both: GradientsData = { ...sampled, update_ratio: matrixFromRows([[1e-3], [2e-3]]), steps: [10] };
    expect(buildSampledLayerSeries([both], ["head", "missing", "dense"], "update_ratio").map((s) => s.layer)).toEqual([
      "head",
      "dense",
    ]);
  });

  it("tells runs with samples from runs without", () => {
    expect(hasSampledValues(sampled, "update_ratio")).toBe(true);
    expect(hasSampledValues(unsampled, "update_ratio")).toBe(false);
    expect(hasSampledValues({ ...unsampled, update_ratio: matrixFromRows([[Number.NaN, null]]) }, "update_ratio")).toBe(true);
    const empty = matrixFromRows([]);
    expect(hasSampledValues({ weight_norm: empty, update_ratio: empty }, "update_ratio")).toBe(false);
  });
});

describe("layer selection", () => {
  it("lists every layer of the runs once, in first-seen order", () => {
    expect(layerUnion([runA, runB])).toEqual(["dense", "head", "extra"]);
  });

  it("starts with the first, middle and last layers", () => {
    expect(defaultLayerSelection(["l0", "l1", "l2", "l3", "l4"])).toEqual(["l0", "l2", "l4"]);
    expect(defaultLayerSelection(["l0", "l1"])).toEqual(["l0", "l1"]);
    expect(defaultLayerSelection(["only"])).toEqual(["only"]);
    expect(defaultLayerSelection([])).toEqual([]);
  });
});
