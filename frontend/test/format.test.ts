import { describe, expect, it } from "vitest";

import { formatNumber, formatPowerOfTen } from "../src/charts/format";

describe("formatNumber", () => {
  it("writes tiny and huge values in short scientific notation", () => {
    expect(formatNumber(1.2e-5)).toBe("1.2e-5");
    expect(formatNumber(9e12)).toBe("9e12");
    expect(formatNumber(-3.456e-7)).toBe("-3.46e-7");
  });

  it("writes ordinary values plainly with three significant digits", () => {
    expect(formatNumber(0.5)).toBe("0.5");
    expect(formatNumber(12.345)).toBe("12.3");
    expect(formatNumber(0)).toBe("0");
  });

  it("names non-finite and missing values", () => {
    expect(formatNumber(Number.NaN)).toBe("NaN");
    expect(formatNumber(Number.POSITIVE_INFINITY)).toBe("Inf");
    expect(formatNumber(Number.NEGATIVE_INFINITY)).toBe("-Inf");
    expect(formatNumber(null)).toBe("—");
  });

  it("formats powers of ten from their exponent", () => {
    expect(formatPowerOfTen(-5)).toBe("1e-5");
    expect(formatPowerOfTen(2)).toBe("100");
  });
});
