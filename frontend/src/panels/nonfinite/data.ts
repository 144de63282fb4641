/** The NaN/Inf panel's data: `GET nonfinite?run=`, checked against its contract. */

import type { DiagnosticsApi } from "../../api";
import { checkedPayload } from "../../contract";
import type { NonfinitePayload } from "../../generated/payload_types";

export type {
  BadStep,
  LossScaleData,
  NonfiniteAction,
  NonfiniteCall,
  NonfiniteCounts,
  NonfiniteEvent,
  NonfiniteInput,
  NonfiniteLayer,
  NonfiniteOrigin,
  NonfinitePhase,
} from "../../generated/payload_types";

/** `GET nonfinite?run=`: the first NaN/Inf event with its origin, every bad step, and the loss scale (schema: nonfinite.schema.json). */
export type NonfiniteData = NonfinitePayload;

/** Checks the body of `GET nonfinite?run=` against its contract. */
export function decodeNonfinite(body: unknown): NonfiniteData {
  return checkedPayload("nonfinite", body);
}

/** `GET nonfinite?run=`: where one run's first NaN/Inf started, its bad steps and its loss scale. */
export function fetchNonfinite(api: DiagnosticsApi, run: string, signal?: AbortSignal): Promise<NonfiniteData> {
  return api.payload("nonfinite", run, decodeNonfinite, signal);
}
