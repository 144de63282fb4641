/** The Input panel's data: `GET input?run=`, checked against its contract. */

import type { DiagnosticsApi } from "../../api";
import { checkedPayload } from "../../contract";
import type { InputEpoch, InputPayload, InputPipeline, InputSummary } from "../../generated/payload_types";

export type { InputEpoch, InputPipeline, InputSummary };

/** How much of step time went to waiting for input: the profiler's three levels (null: too few steps). */
export type InputVerdict = InputSummary["verdict"];

/** `GET input?run=`: per-step wait/compute/host seconds, a step-time histogram and the verdicts (schema: input.schema.json). */
export type InputData = InputPayload;

/** Checks the body of `GET input?run=` against its contract. */
export function decodeInput(body: unknown): InputData {
  return checkedPayload("input", body);
}

/** `GET input?run=`: how long each step of one run waited for data, computed, and spent on the host. */
export function fetchInput(api: DiagnosticsApi, run: string, signal?: AbortSignal): Promise<InputData> {
  return api.payload("input", run, decodeInput, signal);
}
