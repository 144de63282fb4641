/** The layers × steps matrices of `GET gradients`, and their base64 float32 wire format. */

import { NOT_SAMPLED } from "./generated/vocabulary";
import { ApiError, type MaybeNumber } from "./decode";

/**
 * One metric of `GET gradients`: a value per layer and step, layer-major in one flat typed array
 * (layer `i` at step `j` is `values[i * stepCount + j]`). Flat and typed because a run can have
 * 1000 layers × 2000 steps: arrays of arrays of numbers would take far longer to build and several
 * times the memory, and the heatmap reads every cell.
 */
export class LayerStepMatrix {
  readonly layerCount: number;
  readonly stepCount: number;
  /** The values; NaN where a cell is missing (`isMissing` tells a missing cell from a recorded NaN). */
  readonly values: Float32Array | Float64Array;
  /** 1 where nothing was recorded ("not sampled"); `null` when no cell is missing. */
  private readonly missing: Uint8Array | null;

  constructor(layerCount: number, stepCount: number, values: Float32Array | Float64Array, missing: Uint8Array | null = null) {
    const cells = layerCount * stepCount;
    if (values.length !== cells || (missing !== null && missing.length !== cells)) {
      throw new RangeError(`A ${layerCount} × ${stepCount} matrix needs ${cells} values, not ${values.length}.`);
    }
    this.layerCount = layerCount;
    this.stepCount = stepCount;
    this.values = values;
    this.missing = missing;
  }

  /** Whether the cell at flat `index` is missing. */
  isMissing(index: number): boolean {
    return this.missing !== null && this.missing[index] === 1;
  }

  /** The value of `layer` at `step` (indices); `null` where missing or outside the matrix. */
  at(layer: number, step: number): MaybeNumber {
    if (layer < 0 || layer >= this.layerCount || step < 0 || step >= this.stepCount) return null;
    const index = layer * this.stepCount + step;
    return this.isMissing(index) ? null : this.values[index];
  }

  /** Whether any cell holds a value (for a sampled metric: whether anything was sampled). */
  hasValue(): boolean {
    if (this.missing === null) return this.values.length > 0;
    return this.missing.includes(0);
  }
}

/**
 * A matrix sent as base64 of little-endian float32, layer-major. The text is untrusted (a shared
 * log dir): it must be valid base64 of exactly `layers × steps` floats. In a sampled metric
 * (`sampled`) the value -1 means "not sampled" and becomes a missing cell.
 */
export function decodeFloat32Matrix(value: string, field: string, layerCount: number, stepCount: number, sampled: boolean): LayerStepMatrix {
  const bytes = decodeBase64(value, field);
  const cells = layerCount * stepCount;
  if (bytes.length !== cells * 4) {
    throw new ApiError(
      `Unexpected response: ${field} holds ${bytes.length} bytes, but ${layerCount} layers × ${stepCount} steps ` +
        `of float32 take ${cells * 4}.`,
      0,
    );
  }
  // Read through a DataView: it is little-endian on any machine, and the same pass finds the
  // unsampled cells. (About as fast as a Float32Array over the bytes plus that pass.)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const values = new Float32Array(cells);
  let missing: Uint8Array | null = null;
  for (let i = 0; i < cells; i++) {
    const number = view.getFloat32(i * 4, true);
    if (sampled && number === NOT_SAMPLED) {
      missing ??= new Uint8Array(cells);
      missing[i] = 1;
      values[i] = Number.NaN;
    } else {
      values[i] = number;
    }
  }
  return new LayerStepMatrix(layerCount, stepCount, values, missing);
}

/** `Uint8Array.fromBase64` (Chrome 140, Firefox 133, Safari 18.2), several times faster than `atob`. */
interface Base64Decoder {
  fromBase64?: (text: string, options: { lastChunkHandling: "strict" }) => Uint8Array;
}

/** The bytes of base64 `text`; an ApiError naming `field` when it is not valid base64. */
function decodeBase64(text: string, field: string): Uint8Array {
  try {
    const decoder = Uint8Array as unknown as Base64Decoder;
    if (decoder.fromBase64 !== undefined) return decoder.fromBase64(text, { lastChunkHandling: "strict" });
    const binary = atob(text);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes;
  } catch {
    throw new ApiError(`Unexpected response: ${field} is not valid base64.`, 0);
  }
}
