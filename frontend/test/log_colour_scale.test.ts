import { describe, expect, it } from "vitest";

import { classifyNorm, createLogColourScale } from "../src/charts/log_colour_scale";

describe("log colour scale", () => {
  const scale = createLogColourScale([
    [1e-6, 1e-3, 0, Number.NaN],
    [1, 1e3, Number.POSITIVE_INFINITY, null],
  ]);

  it("spans log10 of the finite positive values only", () => {
    expect(scale.minLog10).toBeCloseTo(-6);
    expect(scale.maxLog10).toBeCloseTo(3);
  });

  it("is monotonic in the norm", () => {
    const norms = [1e-6, 1e-5, 3e-4, 1e-2, 0.5, 1, 20, 1e3];
    const positions = norms.map((norm) => scale.position(norm) as number);
    for (let i = 1; i < positions.length; i++) expect(positions[i]).toBeGreaterThan(positions[i - 1]);
    expect(positions[0]).toBe(0);
    expect(positions[positions.length - 1]).toBe(1);
  });

  it("is logarithmic: each decade is the same distance", () => {
    const decade = (scale.position(1e-2) as number) - (scale.position(1e-3) as number);
    expect((scale.position(1e2) as number) - (scale.position(10) as number)).toBeCloseTo(decade);
  });

  it("clamps values outside the fitted range", () => {
    expect(scale.position(1e-12)).toBe(0);
    expect(scale.position(1e12)).toBe(1);
  });

  it("gives no position to zero, NaN, Inf or missing values", () => {
    for (const value of [0, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, null, -1]) {
      expect(scale.position(value)).toBeNull();
      expect(scale.log10(value)).toBeNull();
    }
  });

  it("sorts values into the kinds of cells drawn", () => {
    expect(classifyNorm(0.3)).toBe("finite");
    expect(classifyNorm(0)).toBe("zero");
    expect(classifyNorm(Number.NaN)).toBe("nan");
    expect(classifyNorm(-2)).toBe("nan");
    expect(classifyNorm(Number.POSITIVE_INFINITY)).toBe("inf");
    expect(classifyNorm(Number.NEGATIVE_INFINITY)).toBe("inf");
    expect(classifyNorm(null)).toBe("missing");
  });

  it("still has a usable range when all values are equal or none are finite", () => {
    const flat = createLogColourScale([[10, 10]]);
    expect(flat.minLog10).toBeLessThan(1);
    expect(flat.maxLog10).toBeGreaterThan(1);
    expect(flat.position(10)).toBeCloseTo(0.5);
    const broken = createLogColourScale([[Number.NaN, 0]]);
    expect(broken.maxLog10).toBeGreaterThan(broken.minLog10);
  });
});
