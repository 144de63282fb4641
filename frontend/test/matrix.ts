import { LayerStepMatrix } from "../src/layer_step_matrix";

/**
 * The matrix of `rows` (one per layer, all of the same length); `null` entries are missing.
 * Tests build matrices this way; the tab gets its matrices from the server's float32 encoding.
 */
export function matrixFromRows(rows: ReadonlyArray<ReadonlyArray<number | null>>): LayerStepMatrix {
  const stepCount = rows[0]?.length ?? 0;
  const values = new Float64Array(rows.length * stepCount);
  let missing: Uint8Array | null = null;
  rows.forEach((row, layer) => {
    if (row.length !== stepCount) throw new RangeError(`Row ${layer} has ${row.length} values, row 0 has ${stepCount}.`);
    row.forEach((value, step) => {
      const index = layer * stepCount + step;
      if (value === null) {
        missing ??= new Uint8Array(values.length);
        missing[index] = 1;
        values[index] = Number.NaN;
      } else {
        values[index] = value;
      }
    });
  });
  return new LayerStepMatrix(rows.length, stepCount, values, missing);
}
