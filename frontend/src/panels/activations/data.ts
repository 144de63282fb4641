/** The Activations panel's data: `GET activations?run=`, its type and its decoder. */

import {
  type MaybeNumber,
  asArray,
  asObject,
  asString,
  asWarnings,
  decodeMatrix,
  decodeMaybeNumber,
  decodeNumber,
  decodeSeries,
} from "../../decode";
import type { DiagnosticsApi } from "../../api";

/** Latest sampled statistics of one layer call; `null` where a statistic does not apply. */
export interface ActivationStats {
  mean: MaybeNumber;
  std: MaybeNumber;
  zero_fraction: MaybeNumber;
  dead_fraction: MaybeNumber;
  saturation: MaybeNumber;
  step: number;
}

/** One layer call (or model input) of `GET activations`, with its series over the sampled steps. */
export interface ActivationCall {
  name: string;
  layer: string;
  activation: string;
  kind: "layer" | "input";
  latest: ActivationStats | null;
  recent_dead_fraction: MaybeNumber;
  recent_saturation: MaybeNumber;
  /** Id of the finding raised on this call, if any. */
  finding: string | null;
  mean: MaybeNumber[];
  std: MaybeNumber[];
  dead_fraction: MaybeNumber[];
  saturation: MaybeNumber[];
  /** Per shown step, the values at `band_quantiles` (null where not recorded). */
  bands: MaybeNumber[][];
}

/** `GET activations?run=`: every layer call's statistics over the sampled steps. */
export interface ActivationsData {
  run: string;
  steps: number[];
  band_quantiles: number[];
  calls: ActivationCall[];
  downsampled: boolean;
  warnings: string[];
}

function decodeActivationStats(value: unknown, field: string): ActivationStats | null {
  if (value === null || value === undefined) return null;
  const stats = asObject(value, field);
  const maybe = (key: string): MaybeNumber => decodeMaybeNumber(stats[key] ?? null, `${field}.${key}`);
  return {
    mean: maybe("mean"),
    std: maybe("std"),
    zero_fraction: maybe("zero_fraction"),
    dead_fraction: maybe("dead_fraction"),
    saturation: maybe("saturation"),
    step: decodeNumber(stats.step, `${field}.step`),
  };
}

/** Decodes the body of `GET activations?run=`. */
export function decodeActivations(body: unknown): ActivationsData {
  const data = asObject(body, "activations response");
  return {
    run: asString(data.run, "run"),
    steps: asArray(data.steps, "steps").map((s, j) => decodeNumber(s, `steps[${j}]`)),
    band_quantiles: asArray(data.band_quantiles, "band_quantiles").map((q, j) => decodeNumber(q, `band_quantiles[${j}]`)),
    calls: asArray(data.calls, "calls").map((item, i) => {
      const call = asObject(item, `calls[${i}]`);
      const field = `calls[${i}]`;
      return {
        name: asString(call.name, `${field}.name`),
        layer: asString(call.layer, `${field}.layer`),
        activation: asString(call.activation, `${field}.activation`),
        kind: call.kind === "input" ? "input" : "layer",
        latest: decodeActivationStats(call.latest, `${field}.latest`),
        recent_dead_fraction: decodeMaybeNumber(call.recent_dead_fraction ?? null, `${field}.recent_dead_fraction`),
        recent_saturation: decodeMaybeNumber(call.recent_saturation ?? null, `${field}.recent_saturation`),
        finding: call.finding == null ? null : asString(call.finding, `${field}.finding`),
        mean: decodeSeries(call.mean, `${field}.mean`),
        std: decodeSeries(call.std, `${field}.std`),
        dead_fraction: decodeSeries(call.dead_fraction, `${field}.dead_fraction`),
        saturation: decodeSeries(call.saturation, `${field}.saturation`),
        bands: decodeMatrix(call.bands, `${field}.bands`),
      };
    }),
    downsampled: data.downsampled === true,
    warnings: asWarnings(data.warnings, "warnings"),
  };
}

/** `GET activations?run=`: statistics of every layer call of one run over its sampled steps. */
export function fetchActivations(api: DiagnosticsApi, run: string, signal?: AbortSignal): Promise<ActivationsData> {
  return api.payload("activations", run, decodeActivations, signal);
}
