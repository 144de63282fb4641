/**
 * The colour scale of the gradient heatmap. Gradient norms span many orders of magnitude (1e-9 for
 * a dead layer, 1e12 for an exploding one), so colour follows log10 of the norm. Values a log scale
 * cannot place — exactly zero, NaN, ±Inf — get their own marked colours instead of being clipped
 * into the gradient, because they are the cells a person is looking for.
 */

/** What a heatmap cell shows. */
export type CellKind = "finite" | "zero" | "nan" | "inf" | "missing";

/** Colours of the cells the log scale cannot place, with the words the legend uses for them. */
export const SPECIAL_CELLS: Readonly<Record<Exclude<CellKind, "finite" | "missing">, { colour: string; label: string }>> = {
  zero: { colour: "#c8c8c8", label: "exactly 0" },
  nan: { colour: "#ff00d4", label: "NaN" },
  inf: { colour: "#d50000", label: "±Inf" },
};

/** Colours of the log scale from the smallest to the largest norm (viridis). */
export const LOG_SCALE_COLOURS = ["#440154", "#3b528b", "#21918c", "#5ec962", "#fde725"];

/**
 * Sorts a norm into the kind of cell it is drawn as. A negative norm cannot come from a real
 * norm; it is drawn like NaN so it is not hidden.
 */
export function classifyNorm(value: number | null): CellKind {
  if (value === null) return "missing";
  if (Number.isNaN(value)) return "nan";
  if (!Number.isFinite(value)) return "inf";
  if (value < 0) return "nan";
  if (value === 0) return "zero";
  return "finite";
}

/** A log10 colour scale fitted to the finite, positive values of a matrix. */
export interface LogColourScale {
  /** log10 of the smallest and largest finite positive value (padded when they are equal). */
  readonly minLog10: number;
  readonly maxLog10: number;
  /** log10 of a finite positive value; `null` for the special kinds. */
  log10(value: number | null): number | null;
  /** Position 0..1 of a value on the scale (clamped); `null` for the special kinds. */
  position(value: number | null): number | null;
}

/**
 * Fits a log10 scale to every finite positive value in `lists` (e.g. the `grad_norm` values of
 * several runs, which may be millions of cells).
 */
export function createLogColourScale(lists: ReadonlyArray<ArrayLike<number | null>>): LogColourScale {
  let smallest = Number.POSITIVE_INFINITY;
  let largest = 0;
  for (const list of lists) {
    for (let i = 0; i < list.length; i++) {
      const value = list[i];
      // classifyNorm(value) === "finite", inlined: this loop runs over every cell.
      if (value === null || !(value > 0 && value < Number.POSITIVE_INFINITY)) continue;
      if (value < smallest) smallest = value;
      if (value > largest) largest = value;
    }
  }
  // log10 is monotonic: the extremes of the exponents are the exponents of the extremes.
  let min = Math.log10(smallest);
  let max = Math.log10(largest);
  if (min > max) {
    // Nothing finite to fit: any range will do, nothing is drawn on it.
    min = 0;
    max = 1;
  } else if (min === max) {
    min -= 0.5;
    max += 0.5;
  }
  const log10 = (value: number | null): number | null =>
    classifyNorm(value) === "finite" ? Math.log10(value as number) : null;
  return {
    minLog10: min,
    maxLog10: max,
    log10,
    position(value) {
      const exponent = log10(value);
      if (exponent === null) return null;
      return Math.min(1, Math.max(0, (exponent - min) / (max - min)));
    },
  };
}
