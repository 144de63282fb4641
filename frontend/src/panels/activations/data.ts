/** The Activations panel's data: `GET activations?run=`, checked against its contract. */

import type { DiagnosticsApi } from "../../api";
import { checkedPayload } from "../../contract";
import type { ActivationCall, ActivationStats, ActivationsPayload } from "../../generated/payload_types";

export type { ActivationCall, ActivationStats };

/** `GET activations?run=`: every layer call's statistics over the sampled steps (schema: activations.schema.json). */
export type ActivationsData = ActivationsPayload;

/** Checks the body of `GET activations?run=` against its contract. */
export function decodeActivations(body: unknown): ActivationsData {
  return checkedPayload("activations", body);
}

/** `GET activations?run=`: statistics of every layer call of one run over its sampled steps. */
export function fetchActivations(api: DiagnosticsApi, run: string, signal?: AbortSignal): Promise<ActivationsData> {
  return api.payload("activations", run, decodeActivations, signal);
}
