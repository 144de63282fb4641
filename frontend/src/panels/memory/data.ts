/** The Memory panel's data: `GET memory?run=`, checked against its contract. */

import type { DiagnosticsApi } from "../../api";
import { checkedPayload } from "../../contract";
import type { FragmentationWindow, GpuFigures, MemoryFit, MemoryPayload, TraceEntry } from "../../generated/payload_types";

export type { FragmentationWindow, GpuFigures, MemoryFit, TraceEntry };

/** `GET memory?run=`: host memory per flush and across fits, retraces, GPU figures (schema: memory.schema.json). */
export type MemoryData = MemoryPayload;

/** Checks the body of `GET memory?run=` against its contract. */
export function decodeMemory(body: unknown): MemoryData {
  return checkedPayload("memory", body);
}

/** `GET memory?run=`: host memory across steps and fits, retraces and GPU figures of one run. */
export function fetchMemory(api: DiagnosticsApi, run: string, signal?: AbortSignal): Promise<MemoryData> {
  return api.payload("memory", run, decodeMemory, signal);
}
