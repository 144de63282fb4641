/** The Memory panel's data: `GET memory?run=`, its type and its decoder. */

import {
  type MaybeNumber,
  asArray,
  asObject,
  asString,
  asWarnings,
  decodeMaybeNumber,
  decodeNumber,
  decodeSeries,
  maybeInt,
} from "../../decode";
import type { DiagnosticsApi } from "../../api";

/** One fit of the training process, as the Memory panel shows it. */
export interface MemoryFit {
  fit_index: number;
  first_step: number;
  rss_first_bytes: MaybeNumber;
  rss_last_bytes: MaybeNumber;
  live_models: number;
}

/** A trace of the train step with an input signature it had not seen in that fit. */
export interface TraceEntry {
  fit_index: number | null;
  step: number | null;
  epoch: number | null;
  sampled: boolean;
  signature: string;
}

/** One GPU's latest figures and its series (bytes; null where unavailable). */
export interface GpuFigures {
  device: string;
  step: number;
  tf_in_use: MaybeNumber;
  tf_peak: MaybeNumber;
  device_total: MaybeNumber;
  device_used: MaybeNumber;
  process_used: MaybeNumber;
  peak_bytes: MaybeNumber;
  reserved_bytes: MaybeNumber;
  slack: MaybeNumber;
  headroom: MaybeNumber;
  series: {
    steps: number[];
    tf_in_use: MaybeNumber[];
    tf_peak: MaybeNumber[];
    reserved: MaybeNumber[];
    process_used: MaybeNumber[];
    device_total: MaybeNumber[];
  };
}

/** One allocator over one opt-in profiler window (fractions 0..1, bytes). */
export interface FragmentationWindow {
  step: number;
  allocator: string;
  events: MaybeNumber;
  fragmentation_median: MaybeNumber;
  fragmentation_max: MaybeNumber;
  bytes_in_use_max: MaybeNumber;
  peak_bytes_in_use: MaybeNumber;
}

/** `GET memory?run=`: host memory per flush and across fits, retraces, GPU figures. */
export interface MemoryData {
  fragmentation: FragmentationWindow[];
  profile_skipped: string | null;
  run: string;
  steps: number[];
  host_rss_bytes: MaybeNumber[];
  fits: MemoryFit[];
  retraces: number;
  traces: TraceEntry[];
  gpu: GpuFigures[] | null;
  gpu_unavailable: string | null;
  warnings: string[];
}

/** Decodes the body of `GET memory?run=`. */
export function decodeMemory(body: unknown): MemoryData {
  const data = asObject(body, "memory response");
  const gpu = data.gpu == null ? null : asArray(data.gpu, "gpu").map((item, i) => {
    const device = asObject(item, `gpu[${i}]`);
    const field = `gpu[${i}]`;
    const series = asObject(device.series, `${field}.series`);
    const maybe = (key: string): MaybeNumber => decodeMaybeNumber(device[key] ?? null, `${field}.${key}`);
    return {
      device: asString(device.device, `${field}.device`),
      step: decodeNumber(device.step, `${field}.step`),
      tf_in_use: maybe("tf_in_use"),
      tf_peak: maybe("tf_peak"),
      device_total: maybe("device_total"),
      device_used: maybe("device_used"),
      process_used: maybe("process_used"),
      peak_bytes: maybe("peak_bytes"),
      reserved_bytes: maybe("reserved_bytes"),
      slack: maybe("slack"),
      headroom: maybe("headroom"),
      series: {
        steps: asArray(series.steps, `${field}.series.steps`).map((s, j) => decodeNumber(s, `${field}.series.steps[${j}]`)),
        tf_in_use: decodeSeries(series.tf_in_use, `${field}.series.tf_in_use`),
        tf_peak: decodeSeries(series.tf_peak, `${field}.series.tf_peak`),
        reserved: decodeSeries(series.reserved, `${field}.series.reserved`),
        process_used: decodeSeries(series.process_used, `${field}.series.process_used`),
        device_total: decodeSeries(series.device_total, `${field}.series.device_total`),
      },
    };
  });
  return {
    run: asString(data.run, "run"),
    steps: asArray(data.steps, "steps").map((s, j) => decodeNumber(s, `steps[${j}]`)),
    host_rss_bytes: decodeSeries(data.host_rss_bytes, "host_rss_bytes"),
    fits: asArray(data.fits, "fits").map((item, i) => {
      const fit = asObject(item, `fits[${i}]`);
      return {
        fit_index: decodeNumber(fit.fit_index, `fits[${i}].fit_index`),
        first_step: decodeNumber(fit.first_step, `fits[${i}].first_step`),
        rss_first_bytes: decodeMaybeNumber(fit.rss_first_bytes ?? null, `fits[${i}].rss_first_bytes`),
        rss_last_bytes: decodeMaybeNumber(fit.rss_last_bytes ?? null, `fits[${i}].rss_last_bytes`),
        live_models: decodeNumber(fit.live_models, `fits[${i}].live_models`),
      };
    }),
    retraces: decodeNumber(data.retraces, "retraces"),
    traces: asArray(data.traces, "traces").map((item, i) => {
      const entry = asObject(item, `traces[${i}]`);
      return {
        fit_index: maybeInt(entry.fit_index, `traces[${i}].fit_index`),
        step: maybeInt(entry.step, `traces[${i}].step`),
        epoch: maybeInt(entry.epoch, `traces[${i}].epoch`),
        sampled: entry.sampled === true,
        signature: asString(entry.signature, `traces[${i}].signature`),
      };
    }),
    gpu,
    gpu_unavailable: data.gpu_unavailable == null ? null : asString(data.gpu_unavailable, "gpu_unavailable"),
    fragmentation: asArray(data.fragmentation, "fragmentation").map((item, i) => {
      const w = asObject(item, `fragmentation[${i}]`);
      const maybe = (key: string): MaybeNumber => decodeMaybeNumber(w[key] ?? null, `fragmentation[${i}].${key}`);
      return {
        step: decodeNumber(w.step, `fragmentation[${i}].step`),
        allocator: asString(w.allocator, `fragmentation[${i}].allocator`),
        events: maybe("events"),
        fragmentation_median: maybe("fragmentation_median"),
        fragmentation_max: maybe("fragmentation_max"),
        bytes_in_use_max: maybe("bytes_in_use_max"),
        peak_bytes_in_use: maybe("peak_bytes_in_use"),
      };
    }),
    profile_skipped: data.profile_skipped == null ? null : asString(data.profile_skipped, "profile_skipped"),
    warnings: asWarnings(data.warnings, "warnings"),
  };
}

/** `GET memory?run=`: host memory across steps and fits, retraces and GPU figures of one run. */
export function fetchMemory(api: DiagnosticsApi, run: string, signal?: AbortSignal): Promise<MemoryData> {
  return api.payload("memory", run, decodeMemory, signal);
}
