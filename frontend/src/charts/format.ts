/** Number formatting shared by axes, tooltips and notes. */

/**
 * Formats a measured value compactly: `0.5`, `12.3`, `1.2e-5`, `9e12`, and `NaN` / `Inf` / `-Inf`
 * for non-finite values, `—` for a missing one.
 */
export function formatNumber(value: number | null): string {
  if (value === null) return "—";
  if (Number.isNaN(value)) return "NaN";
  if (value === Number.POSITIVE_INFINITY) return "Inf";
  if (value === Number.NEGATIVE_INFINITY) return "-Inf";
  if (value === 0) return "0";
  const magnitude = Math.abs(value);
  if (magnitude >= 1e-3 && magnitude < 1e4) return String(Number(value.toPrecision(3)));
  // toExponential gives "1.20e-5" / "9.00e+12": drop trailing zeros and the "+".
  const [mantissa, exponent] = value.toExponential(2).split("e");
  const trimmedMantissa = mantissa.includes(".") ? mantissa.replace(/\.?0+$/, "") : mantissa;
  return `${trimmedMantissa}e${exponent.replace("+", "")}`;
}

/** Formats a power of ten given by its exponent, e.g. `-5` → `1e-5`, `0.5` → `3.16`. */
export function formatPowerOfTen(log10Value: number): string {
  return formatNumber(10 ** log10Value);
}
