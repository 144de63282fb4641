/** The Gradients panel's data: `GET gradients?run=`, checked against its contract, matrices decoded. */

import type { DiagnosticsApi } from "../../api";
import { checkedPayload } from "../../contract";
import type { GradientsPayload } from "../../generated/payload_types";
import { LayerStepMatrix, decodeFloat32Matrix } from "../../layer_step_matrix";

/** The payload's three metrics, each a `layers × steps` matrix. */
type Metric = "grad_norm" | "weight_norm" | "update_ratio";

/**
 * `GET gradients?run=` (schema: gradients.schema.json) with its base64 float32 matrices decoded:
 * per-layer norms over the steps, one `layers × steps` matrix per metric.
 */
export interface GradientsData extends Omit<GradientsPayload, Metric | "encoding"> {
  /** NaN where the layer did not exist at that step, as well as where its norm was NaN. */
  grad_norm: LayerStepMatrix;
  /** Sampled metrics: missing at steps where they were not sampled. */
  weight_norm: LayerStepMatrix;
  update_ratio: LayerStepMatrix;
}

/** Checks the body of `GET gradients?run=` against its contract and decodes its matrices. */
export function decodeGradients(body: unknown): GradientsData {
  const { encoding: _encoding, ...data } = checkedPayload("gradients", body);
  const matrix = (field: Metric, sampled: boolean): LayerStepMatrix =>
    decodeFloat32Matrix(data[field], field, data.layers.length, data.steps.length, sampled);
  return { ...data, grad_norm: matrix("grad_norm", false), weight_norm: matrix("weight_norm", true), update_ratio: matrix("update_ratio", true) };
}

/** `GET gradients?run=`: per-layer gradient norms of one run over its steps. */
export function fetchGradients(api: DiagnosticsApi, run: string, signal?: AbortSignal): Promise<GradientsData> {
  return api.payload("gradients", run, decodeGradients, signal);
}
