/** The Environment panel's data: `GET environment?run=`, checked against its contract. */

import type { DiagnosticsApi } from "../../api";
import { checkedPayload } from "../../contract";
import type { EnvironmentPayload } from "../../generated/payload_types";

/** `GET environment?run=`: the run's environment card, field by field, as text (schema: environment.schema.json). */
export type EnvironmentData = EnvironmentPayload;

/** Checks the body of `GET environment?run=` against its contract. */
export function decodeEnvironment(body: unknown): EnvironmentData {
  return checkedPayload("environment", body);
}

/** `GET environment?run=`: what one run was trained with. */
export function fetchEnvironment(api: DiagnosticsApi, run: string, signal?: AbortSignal): Promise<EnvironmentData> {
  return api.payload("environment", run, decodeEnvironment, signal);
}
