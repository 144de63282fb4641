/** The Gradients panel's data: `GET gradients?run=`, its type and its decoder. */

import { MATRIX_ENCODING } from "../../generated/vocabulary";
import {
  ApiError,
  type MaybeNumber,
  asArray,
  asObject,
  asString,
  asStrings,
  asWarnings,
  decodeNumber,
  decodeSeries,
} from "../../decode";
import { LayerStepMatrix, decodeFloat32Matrix } from "../../layer_step_matrix";
import type { DiagnosticsApi } from "../../api";

/** `GET gradients?run=`: per-layer norms over the steps, one `layers × steps` matrix per metric. */
export interface GradientsData {
  run: string;
  layers: string[];
  steps: number[];
  /** NaN where the layer did not exist at that step, as well as where its norm was NaN. */
  grad_norm: LayerStepMatrix;
  /** Sampled metrics: missing at steps where they were not sampled. */
  weight_norm: LayerStepMatrix;
  update_ratio: LayerStepMatrix;
  global_norm: MaybeNumber[];
  downsampled: boolean;
  warnings: string[];
}

/**
 * Decodes the body of `GET gradients?run=`. The matrices come as base64 float32
 * (`"encoding": MATRIX_ENCODING`), the only encoding its server sends (the bundle ships with it).
 */
export function decodeGradients(body: unknown): GradientsData {
  const data = asObject(body, "gradients response");
  const layers = asStrings(data.layers, "layers");
  const steps = asArray(data.steps, "steps").map((s, j) => decodeNumber(s, `steps[${j}]`));
  if (data.encoding !== MATRIX_ENCODING) {
    throw new ApiError(
      `Unexpected response: the gradients come in encoding ${String(JSON.stringify(data.encoding))}, but this page reads only ` +
        `"${MATRIX_ENCODING}". Reload the page, or install the same tb_diag version as the server.`,
      0,
    );
  }
  const matrix = (field: "grad_norm" | "weight_norm" | "update_ratio", sampled: boolean): LayerStepMatrix =>
    decodeFloat32Matrix(data[field], field, layers.length, steps.length, sampled);
  return {
    run: asString(data.run, "run"),
    layers,
    steps,
    grad_norm: matrix("grad_norm", false),
    weight_norm: matrix("weight_norm", true),
    update_ratio: matrix("update_ratio", true),
    global_norm: decodeSeries(data.global_norm, "global_norm"),
    downsampled: data.downsampled === true,
    warnings: asWarnings(data.warnings, "warnings"),
  };
}

/** `GET gradients?run=`: per-layer gradient norms of one run over its steps. */
export function fetchGradients(api: DiagnosticsApi, run: string, signal?: AbortSignal): Promise<GradientsData> {
  return api.payload("gradients", run, decodeGradients, signal);
}
