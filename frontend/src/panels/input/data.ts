/** The Input panel's data: `GET input?run=`, its type and its decoder. */

import {
  ApiError,
  type MaybeNumber,
  asArray,
  asBooleans,
  asObject,
  asString,
  asStrings,
  asWarnings,
  decodeNumber,
  decodeSeries,
} from "../../decode";
import type { DiagnosticsApi } from "../../api";

/** How much of step time went to waiting for input: the profiler's three levels. */
export type InputVerdict = "not" | "moderately" | "highly";

/** Verdict and step-time percentiles over a set of steps; all null when there were too few steps. */
export interface InputJudgement {
  wait_fraction: number | null;
  verdict: InputVerdict | null;
  step_p50_s: number | null;
  step_p95_s: number | null;
  wait_p50_s: number | null;
  /** Steps judged (steady steps only). */
  steps: number;
}

/** What the tf.data pipeline was made of, last stage first (strings from the log dir). */
export interface InputPipeline {
  stages: string[];
  source: string;
  python: boolean;
  prefetch: boolean;
  parallel_map: boolean;
  sequential_map: boolean;
  cache: boolean;
}

/** The run's input summary, as in the report. */
export interface InputSummary extends InputJudgement {
  excluded_steps: number;
  epochs: Array<InputJudgement & { epoch: number }>;
  pipeline: InputPipeline | null;
}

/** `GET input?run=`: per-step wait/compute/host seconds, a step-time histogram and the verdicts. */
export interface InputData {
  run: string;
  steps: number[];
  wait_s: number[];
  compute_s: number[];
  /** Null at the first step of an epoch (the host time there includes epoch-end work). */
  host_s: MaybeNumber[];
  /** Whether the step counts for the verdict (not one that traced or compiled). */
  steady: boolean[];
  downsampled: boolean;
  histogram: { edges_s: number[]; counts: number[] };
  summary: InputSummary;
  thresholds: { moderately: number; highly: number };
  warnings: string[];
}

function asVerdict(value: unknown, field: string): InputVerdict | null {
  if (value === null || value === "not" || value === "moderately" || value === "highly") return value;
  throw new ApiError(`Unexpected response: ${field} is ${JSON.stringify(value)}, not not/moderately/highly.`, 0);
}

function decodeJudgement(value: unknown, field: string): InputJudgement {
  const judged = asObject(value, field);
  const maybe = (key: string): MaybeNumber => (judged[key] == null ? null : decodeNumber(judged[key], `${field}.${key}`));
  return {
    wait_fraction: maybe("wait_fraction"),
    verdict: asVerdict(judged.verdict ?? null, `${field}.verdict`),
    step_p50_s: maybe("step_p50_s"),
    step_p95_s: maybe("step_p95_s"),
    wait_p50_s: maybe("wait_p50_s"),
    steps: decodeNumber(judged.steps, `${field}.steps`),
  };
}

function decodePipeline(value: unknown, field: string): InputPipeline | null {
  if (value === null || value === undefined) return null;
  const pipeline = asObject(value, field);
  const flag = (key: string): boolean => pipeline[key] === true;
  return {
    stages: asStrings(pipeline.stages, `${field}.stages`),
    source: asString(pipeline.source, `${field}.source`),
    python: flag("python"),
    prefetch: flag("prefetch"),
    parallel_map: flag("parallel_map"),
    sequential_map: flag("sequential_map"),
    cache: flag("cache"),
  };
}

/** Decodes the body of `GET input?run=`. */
export function decodeInput(body: unknown): InputData {
  const data = asObject(body, "input response");
  const summary = asObject(data.summary, "summary");
  const histogram = asObject(data.histogram, "histogram");
  const thresholds = asObject(data.thresholds, "thresholds");
  const numbers = (value: unknown, field: string): number[] => asArray(value, field).map((v, j) => decodeNumber(v, `${field}[${j}]`));
  return {
    run: asString(data.run, "run"),
    steps: numbers(data.steps, "steps"),
    wait_s: numbers(data.wait_s, "wait_s"),
    compute_s: numbers(data.compute_s, "compute_s"),
    host_s: decodeSeries(data.host_s, "host_s"),
    steady: asBooleans(data.steady, "steady"),
    downsampled: data.downsampled === true,
    histogram: { edges_s: numbers(histogram.edges_s, "histogram.edges_s"), counts: numbers(histogram.counts, "histogram.counts") },
    summary: {
      ...decodeJudgement(summary, "summary"),
      excluded_steps: decodeNumber(summary.excluded_steps, "summary.excluded_steps"),
      epochs: asArray(summary.epochs, "summary.epochs").map((item, i) => ({
        ...decodeJudgement(item, `summary.epochs[${i}]`),
        epoch: decodeNumber(asObject(item, `summary.epochs[${i}]`).epoch, `summary.epochs[${i}].epoch`),
      })),
      pipeline: decodePipeline(summary.pipeline, "summary.pipeline"),
    },
    thresholds: {
      moderately: decodeNumber(thresholds.moderately, "thresholds.moderately"),
      highly: decodeNumber(thresholds.highly, "thresholds.highly"),
    },
    warnings: asWarnings(data.warnings, "warnings"),
  };
}

/** `GET input?run=`: how long each step of one run waited for data, computed, and spent on the host. */
export function fetchInput(api: DiagnosticsApi, run: string, signal?: AbortSignal): Promise<InputData> {
  return api.payload("input", run, decodeInput, signal);
}
