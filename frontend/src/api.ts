/**
 * Data fetching for the Diagnostics tab: one function per route of docs/http_api.md.
 *
 * Responses are decoded field by field rather than by a blanket pass over the JSON: TensorBoard
 * encodes non-finite floats as the strings "NaN", "Infinity" and "-Infinity", but a run or layer
 * may just as well be *named* "NaN", so only fields that hold numbers are turned back into numbers.
 */

import { MATRIX_ENCODING, NAN_ACTIONS, NAN_PHASES, NOT_SAMPLED, type NanAction, type NanPhase } from "./generated/vocabulary";

/** Severity of a finding, worst first. */
export type Severity = "error" | "warning" | "info";

/** One run as listed by `GET runs`. */
export interface RunInfo {
  run: string;
  last_step: number;
  /** Diagnostics recorded for this run, e.g. `["gradients"]`; panels are chosen by family. */
  families: string[];
  error_count: number;
  warning_count: number;
}

/** One finding of the report: something that went wrong, where, and what to try. */
export interface Finding {
  id: string;
  severity: Severity;
  step: number | null;
  layer: string | null;
  title: string;
  detail: string;
  remedy: string;
  /** The diagnostic that raised it, which is also its panel's id; null from servers that do not say. */
  diagnostic: string | null;
  /** The id of the root-cause finding this one follows from (e.g. a NaN that ends an explosion); null for a root cause. */
  caused_by: string | null;
}

/** Health of one diagnostic on a run: its worst finding's severity, or "ok" without findings. */
export type HealthStatus = Severity | "ok";

/** One line of a run's health summary (the report's `overview`), e.g. "gradients: largest norm 3.2 in 'dense'". */
export interface OverviewLine {
  /** The diagnostic the line is about, which is also its panel's id. */
  diagnostic: string;
  /** How the report names the diagnostic, e.g. "NaN/Inf". */
  label: string;
  status: HealthStatus;
  text: string;
  /** How many findings the diagnostic raised on the run. */
  findings: number;
}

/** Summary of one layer's gradient norm over the run. */
export interface GradientStats {
  last: number;
  min: number;
  max: number;
}

/** `GET report?run=`: the run's entry of the public report document. */
export interface RunReport {
  run: string;
  steps: number;
  layers: string[];
  gradients: Record<string, GradientStats>;
  /** The health summary, one line per diagnostic with something to say, worst first. */
  overview: OverviewLine[];
  /** Worst first. */
  findings: Finding[];
  warnings: string[];
}

/** A recorded value; `null` where the server had nothing for that layer at that step. */
export type MaybeNumber = number | null;

/**
 * One metric of `GET gradients`: a value per layer and step, layer-major in one flat typed array
 * (layer `i` at step `j` is `values[i * stepCount + j]`). Flat and typed because a run can have
 * 1000 layers × 2000 steps: arrays of arrays of numbers would take far longer to build and several
 * times the memory, and the heatmap reads every cell.
 */
export class LayerStepMatrix {
  readonly layerCount: number;
  readonly stepCount: number;
  /** The values; NaN where a cell is missing (`isMissing` tells a missing cell from a recorded NaN). */
  readonly values: Float32Array | Float64Array;
  /** 1 where nothing was recorded ("not sampled"); `null` when no cell is missing. */
  private readonly missing: Uint8Array | null;

  constructor(layerCount: number, stepCount: number, values: Float32Array | Float64Array, missing: Uint8Array | null = null) {
    const cells = layerCount * stepCount;
    if (values.length !== cells || (missing !== null && missing.length !== cells)) {
      throw new RangeError(`A ${layerCount} × ${stepCount} matrix needs ${cells} values, not ${values.length}.`);
    }
    this.layerCount = layerCount;
    this.stepCount = stepCount;
    this.values = values;
    this.missing = missing;
  }

  /** Whether the cell at flat `index` is missing. */
  isMissing(index: number): boolean {
    return this.missing !== null && this.missing[index] === 1;
  }

  /** The value of `layer` at `step` (indices); `null` where missing or outside the matrix. */
  at(layer: number, step: number): MaybeNumber {
    if (layer < 0 || layer >= this.layerCount || step < 0 || step >= this.stepCount) return null;
    const index = layer * this.stepCount + step;
    return this.isMissing(index) ? null : this.values[index];
  }

  /** Whether any cell holds a value (for a sampled metric: whether anything was sampled). */
  hasValue(): boolean {
    if (this.missing === null) return this.values.length > 0;
    return this.missing.includes(0);
  }
}

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

/** `GET environment?run=`: the run's environment card, field by field, as text. */
export interface EnvironmentData {
  run: string;
  fields: Array<{ field: string; value: string }>;
  model_layers: Array<{ path: string; class: string; output_shape: string; params: string }>;
  /** Why the run cannot be reproduced exactly (the server's words), or null if it can. */
  not_reproducible: string | null;
  /** What to change for runs that can be reproduced. */
  reproducibility_remedy: string;
  warnings: string[];
}

/** Where in a train step the first NaN/Inf appeared; "unknown" for anything the server did not name. */
export type NonfinitePhase = NanPhase | "unknown";

/** What tb_diag did about a bad step (the `on_nan` argument of the callback, applied). */
export type NonfiniteAction = NanAction | "unknown";

/** Non-finite counts of one tensor (or group of tensors) and its largest finite |value|. */
export interface NonfiniteCounts {
  nan: number;
  posinf: number;
  neginf: number;
  /** Null when no value was finite or none was recorded. */
  max_abs: MaybeNumber;
}

/** One float tensor of the batch (inputs, targets, sample weights) at the bad step. */
export interface NonfiniteInput extends NonfiniteCounts {
  name: string;
}

/** One layer call at the bad step, in call order: what went in and what came out. */
export interface NonfiniteCall {
  /** The call's name (a shared layer has one name per call). */
  name: string;
  /** Path of the layer that was called. */
  layer: string;
  in: NonfiniteCounts;
  out: NonfiniteCounts;
}

/** One layer owning weights at the bad step: its gradients and its weights. */
export interface NonfiniteLayer {
  layer: string;
  grad: NonfiniteCounts;
  weights: NonfiniteCounts;
}

/** Where the NaN/Inf started and where it spread, as the server derived it from the counts. */
export interface NonfiniteOrigin {
  phase: NonfinitePhase;
  /** The input name (input), the layer call (forward), the layer path (backward, update); null for the loss. */
  layer: string | null;
  /** What was non-finite downstream of the origin, in the direction the values flowed. */
  contaminated: string[];
  /** Layers whose gradients the origin made non-finite (input, forward and loss phases). */
  contaminated_gradients: string[];
  /** Backward phase: the non-finite derivative arose between these two layer calls. */
  between: [string, string] | null;
}

/** The first step with a NaN/Inf, in full. */
export interface NonfiniteEvent {
  step: number;
  epoch: number | null;
  phase: NonfinitePhase;
  /** The callback's `on_nan` argument ("stop", "skip" or "record"), as text. */
  on_nan: string;
  action: NonfiniteAction;
  /** Whether the model still holds the weights of the last good step. */
  weights_kept: boolean;
  /** The loss at that step; null when it was non-finite or not seen. */
  loss: MaybeNumber;
  /** False when the train step does not go through compute_loss, so tb_diag could not see the loss. */
  loss_seen: boolean;
  inputs: NonfiniteInput[];
  calls: NonfiniteCall[];
  layers: NonfiniteLayer[];
  origin: NonfiniteOrigin;
  /** One sentence: the counts that place the origin. */
  evidence: string;
  /** One sentence: what to change in the model, data or optimizer. */
  remedy: string;
}

/** One step that had a NaN/Inf and what was done about it. */
export interface BadStep {
  step: number;
  phase: NonfinitePhase;
  action: NonfiniteAction;
}

/** Mixed precision: the LossScaleOptimizer's scale per step and the steps that overflowed. */
export interface LossScaleData {
  steps: number[];
  scale: MaybeNumber[];
  /** Whether the step's gradients overflowed (the optimizer skipped its update and lowered the scale). */
  overflow: boolean[];
  /** Overflowed steps in the whole run (the series may be downsampled). */
  skips: number;
  last_scale: MaybeNumber;
  min_scale: MaybeNumber;
}

/** `GET nonfinite?run=`: the first NaN/Inf event with its origin, every bad step, and the loss scale. */
export interface NonfiniteData {
  run: string;
  event: NonfiniteEvent | null;
  /** Every bad step, oldest first, cut to the route's `max_points`. */
  bad_steps: BadStep[];
  /** Bad steps in the whole run (more than `bad_steps` lists when it was cut). */
  bad_step_count: number;
  loss_scale: LossScaleData | null;
  warnings: string[];
}

/** A failed request; `message` is the server's own `error` text when it sent one. */
export class ApiError extends Error {
  readonly status: number;

  constructor(message: string, status: number) {
    super(message);
    this.name = "ApiError";
    this.status = status;
  }
}

const NON_FINITE: Record<string, number> = {
  NaN: Number.NaN,
  Infinity: Number.POSITIVE_INFINITY,
  "-Infinity": Number.NEGATIVE_INFINITY,
};

/** Turns a JSON number, or TensorBoard's string spelling of a non-finite float, into a number. */
export function decodeNumber(value: unknown, field: string): number {
  if (typeof value === "number") return value;
  if (typeof value === "string" && value in NON_FINITE) return NON_FINITE[value];
  throw new ApiError(`Unexpected response: ${field} is not a number (${JSON.stringify(value)}).`, 0);
}

/** Like `decodeNumber`, but keeps `null` (a missing value) as `null`. */
export function decodeMaybeNumber(value: unknown, field: string): MaybeNumber {
  return value === null ? null : decodeNumber(value, field);
}

function decodeSeries(value: unknown, field: string): MaybeNumber[] {
  return asArray(value, field).map((item, j) => decodeMaybeNumber(item, `${field}[${j}]`));
}

function decodeMatrix(value: unknown, field: string): MaybeNumber[][] {
  return asArray(value, field).map((row, i) => decodeSeries(row, `${field}[${i}]`));
}

function asObject(value: unknown, field: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ApiError(`Unexpected response: ${field} is not an object.`, 0);
  }
  return value as Record<string, unknown>;
}

function asArray(value: unknown, field: string): unknown[] {
  if (!Array.isArray(value)) throw new ApiError(`Unexpected response: ${field} is not a list.`, 0);
  return value;
}

function asString(value: unknown, field: string): string {
  if (typeof value !== "string") throw new ApiError(`Unexpected response: ${field} is not text.`, 0);
  return value;
}

function asStrings(value: unknown, field: string): string[] {
  return asArray(value, field).map((item, i) => asString(item, `${field}[${i}]`));
}

/** The run's reading warnings: every payload carries the list (empty when there are none). */
function asWarnings(value: unknown, field: string): string[] {
  return asStrings(value, field);
}

function asSeverity(value: unknown, field: string): Severity {
  if (value === "error" || value === "warning" || value === "info") return value;
  throw new ApiError(`Unexpected response: ${field} is ${JSON.stringify(value)}, not error/warning/info.`, 0);
}

function asStatus(value: unknown, field: string): HealthStatus {
  if (value === "error" || value === "warning" || value === "info" || value === "ok") return value;
  throw new ApiError(`Unexpected response: ${field} is ${JSON.stringify(value)}, not error/warning/info/ok.`, 0);
}

/** Decodes the body of `GET runs`. */
export function decodeRuns(body: unknown): RunInfo[] {
  return asArray(asObject(body, "runs response").runs, "runs").map((item, i) => {
    const run = asObject(item, `runs[${i}]`);
    return {
      run: asString(run.run, `runs[${i}].run`),
      last_step: decodeNumber(run.last_step, `runs[${i}].last_step`),
      families: asStrings(run.families, `runs[${i}].families`),
      error_count: decodeNumber(run.error_count, `runs[${i}].error_count`),
      warning_count: decodeNumber(run.warning_count, `runs[${i}].warning_count`),
    };
  });
}

function decodeFinding(value: unknown, field: string): Finding {
  const finding = asObject(value, field);
  return {
    id: asString(finding.id, `${field}.id`),
    severity: asSeverity(finding.severity, `${field}.severity`),
    step: finding.step == null ? null : decodeNumber(finding.step, `${field}.step`),
    layer: finding.layer == null ? null : asString(finding.layer, `${field}.layer`),
    title: asString(finding.title, `${field}.title`),
    detail: asString(finding.detail, `${field}.detail`),
    remedy: asString(finding.remedy, `${field}.remedy`),
    diagnostic: finding.diagnostic == null ? null : asString(finding.diagnostic, `${field}.diagnostic`),
    caused_by: finding.caused_by == null ? null : asString(finding.caused_by, `${field}.caused_by`),
  };
}

function decodeOverviewLine(value: unknown, field: string): OverviewLine {
  const line = asObject(value, field);
  return {
    diagnostic: asString(line.diagnostic, `${field}.diagnostic`),
    label: asString(line.label, `${field}.label`),
    status: asStatus(line.status, `${field}.status`),
    text: asString(line.text, `${field}.text`),
    findings: decodeNumber(line.findings, `${field}.findings`),
  };
}

/** Decodes the body of `GET report?run=`. */
export function decodeReport(body: unknown): RunReport {
  const report = asObject(body, "report");
  const gradients: Record<string, GradientStats> = {};
  // null: the run recorded no gradients (a probe list without them).
  const rawGradients = report.gradients == null ? {} : asObject(report.gradients, "gradients");
  for (const [layer, value] of Object.entries(rawGradients)) {
    const stats = asObject(value, `gradients[${JSON.stringify(layer)}]`);
    gradients[layer] = {
      last: decodeNumber(stats.last, `gradients.${layer}.last`),
      min: decodeNumber(stats.min, `gradients.${layer}.min`),
      max: decodeNumber(stats.max, `gradients.${layer}.max`),
    };
  }
  return {
    run: asString(report.run, "run"),
    steps: decodeNumber(report.steps, "steps"),
    layers: asStrings(report.layers, "layers"),
    gradients,
    overview: asArray(report.overview, "overview").map((line, i) => decodeOverviewLine(line, `overview[${i}]`)),
    findings: asArray(report.findings, "findings").map((f, i) => decodeFinding(f, `findings[${i}]`)),
    warnings: asWarnings(report.warnings, "warnings"),
  };
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

/**
 * A matrix sent as base64 of little-endian float32, layer-major. The text is untrusted (a shared
 * log dir): it must be valid base64 of exactly `layers × steps` floats. In a sampled metric
 * (`sampled`) the value -1 means "not sampled" and becomes a missing cell.
 */
function decodeFloat32Matrix(value: unknown, field: string, layerCount: number, stepCount: number, sampled: boolean): LayerStepMatrix {
  const bytes = decodeBase64(asString(value, field), field);
  const cells = layerCount * stepCount;
  if (bytes.length !== cells * 4) {
    throw new ApiError(
      `Unexpected response: ${field} holds ${bytes.length} bytes, but ${layerCount} layers × ${stepCount} steps ` +
        `of float32 take ${cells * 4}.`,
      0,
    );
  }
  // Read through a DataView: it is little-endian on any machine, and the same pass finds the
  // unsampled cells. (About as fast as a Float32Array over the bytes plus that pass.)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const values = new Float32Array(cells);
  let missing: Uint8Array | null = null;
  for (let i = 0; i < cells; i++) {
    const number = view.getFloat32(i * 4, true);
    if (sampled && number === NOT_SAMPLED) {
      missing ??= new Uint8Array(cells);
      missing[i] = 1;
      values[i] = Number.NaN;
    } else {
      values[i] = number;
    }
  }
  return new LayerStepMatrix(layerCount, stepCount, values, missing);
}

/** `Uint8Array.fromBase64` (Chrome 140, Firefox 133, Safari 18.2), several times faster than `atob`. */
interface Base64Decoder {
  fromBase64?: (text: string, options: { lastChunkHandling: "strict" }) => Uint8Array;
}

/** The bytes of base64 `text`; an ApiError naming `field` when it is not valid base64. */
function decodeBase64(text: string, field: string): Uint8Array {
  try {
    const decoder = Uint8Array as unknown as Base64Decoder;
    if (decoder.fromBase64 !== undefined) return decoder.fromBase64(text, { lastChunkHandling: "strict" });
    const binary = atob(text);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes;
  } catch {
    throw new ApiError(`Unexpected response: ${field} is not valid base64.`, 0);
  }
}

function asBooleans(value: unknown, field: string): boolean[] {
  return asArray(value, field).map((item, i) => {
    if (typeof item !== "boolean") throw new ApiError(`Unexpected response: ${field}[${i}] is not true/false.`, 0);
    return item;
  });
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

const maybeInt = (value: unknown, field: string): number | null => (value == null ? null : decodeNumber(value, field));

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

/** Decodes the body of `GET environment?run=`. */
export function decodeEnvironment(body: unknown): EnvironmentData {
  const data = asObject(body, "environment response");
  return {
    run: asString(data.run, "run"),
    fields: asArray(data.fields, "fields").map((item, i) => {
      const entry = asObject(item, `fields[${i}]`);
      return { field: asString(entry.field, `fields[${i}].field`), value: asString(entry.value, `fields[${i}].value`) };
    }),
    model_layers: asArray(data.model_layers ?? [], "model_layers").map((item, i) => {
      const entry = asObject(item, `model_layers[${i}]`);
      const text = (key: string): string => asString(entry[key], `model_layers[${i}].${key}`);
      return { path: text("path"), class: text("class"), output_shape: text("output_shape"), params: text("params") };
    }),
    not_reproducible: data.not_reproducible == null ? null : asString(data.not_reproducible, "not_reproducible"),
    reproducibility_remedy: data.reproducibility_remedy == null ? "" : asString(data.reproducibility_remedy, "reproducibility_remedy"),
    warnings: asWarnings(data.warnings, "warnings"),
  };
}

/** A phase or action the server did not name (an odd log) shows as "unknown". */
function asPhase(value: unknown): NonfinitePhase {
  return NAN_PHASES.find((phase) => phase === value) ?? "unknown";
}

function asAction(value: unknown): NonfiniteAction {
  return NAN_ACTIONS.find((action) => action === value) ?? "unknown";
}

function decodeCounts(value: unknown, field: string): NonfiniteCounts {
  const counts = asObject(value, field);
  return {
    nan: decodeNumber(counts.nan, `${field}.nan`),
    posinf: decodeNumber(counts.posinf, `${field}.posinf`),
    neginf: decodeNumber(counts.neginf, `${field}.neginf`),
    max_abs: decodeMaybeNumber(counts.max_abs ?? null, `${field}.max_abs`),
  };
}

function decodeOrigin(value: unknown, field: string): NonfiniteOrigin {
  const origin = asObject(value, field);
  let between: [string, string] | null = null;
  if (origin.between != null) {
    const pair = asStrings(origin.between, `${field}.between`);
    if (pair.length !== 2) throw new ApiError(`Unexpected response: ${field}.between does not name two layers.`, 0);
    between = [pair[0], pair[1]];
  }
  return {
    phase: asPhase(origin.phase),
    layer: origin.layer == null ? null : asString(origin.layer, `${field}.layer`),
    contaminated: asStrings(origin.contaminated ?? [], `${field}.contaminated`),
    contaminated_gradients: asStrings(origin.contaminated_gradients ?? [], `${field}.contaminated_gradients`),
    between,
  };
}

function decodeNonfiniteEvent(value: unknown, field: string): NonfiniteEvent {
  const event = asObject(value, field);
  return {
    step: decodeNumber(event.step, `${field}.step`),
    epoch: maybeInt(event.epoch, `${field}.epoch`),
    phase: asPhase(event.phase),
    on_nan: asString(event.on_nan, `${field}.on_nan`),
    action: asAction(event.action),
    weights_kept: event.weights_kept === true,
    loss: decodeMaybeNumber(event.loss ?? null, `${field}.loss`),
    loss_seen: event.loss_seen !== false,
    inputs: asArray(event.inputs, `${field}.inputs`).map((item, i) => ({
      name: asString(asObject(item, `${field}.inputs[${i}]`).name, `${field}.inputs[${i}].name`),
      ...decodeCounts(item, `${field}.inputs[${i}]`),
    })),
    calls: asArray(event.calls, `${field}.calls`).map((item, i) => {
      const call = asObject(item, `${field}.calls[${i}]`);
      return {
        name: asString(call.name, `${field}.calls[${i}].name`),
        layer: asString(call.layer, `${field}.calls[${i}].layer`),
        in: decodeCounts(call.in, `${field}.calls[${i}].in`),
        out: decodeCounts(call.out, `${field}.calls[${i}].out`),
      };
    }),
    layers: asArray(event.layers, `${field}.layers`).map((item, i) => {
      const layer = asObject(item, `${field}.layers[${i}]`);
      return {
        layer: asString(layer.layer, `${field}.layers[${i}].layer`),
        grad: decodeCounts(layer.grad, `${field}.layers[${i}].grad`),
        weights: decodeCounts(layer.weights, `${field}.layers[${i}].weights`),
      };
    }),
    origin: decodeOrigin(event.origin, `${field}.origin`),
    evidence: asString(event.evidence, `${field}.evidence`),
    remedy: asString(event.remedy, `${field}.remedy`),
  };
}

function decodeLossScale(value: unknown, field: string): LossScaleData | null {
  if (value == null) return null;
  const scales = asObject(value, field);
  return {
    steps: asArray(scales.steps, `${field}.steps`).map((s, j) => decodeNumber(s, `${field}.steps[${j}]`)),
    scale: decodeSeries(scales.scale, `${field}.scale`),
    overflow: asBooleans(scales.overflow, `${field}.overflow`),
    skips: decodeNumber(scales.skips, `${field}.skips`),
    last_scale: decodeMaybeNumber(scales.last_scale ?? null, `${field}.last_scale`),
    min_scale: decodeMaybeNumber(scales.min_scale ?? null, `${field}.min_scale`),
  };
}

/** Decodes the body of `GET nonfinite?run=`. */
export function decodeNonfinite(body: unknown): NonfiniteData {
  const data = asObject(body, "nonfinite response");
  return {
    run: asString(data.run, "run"),
    event: data.event == null ? null : decodeNonfiniteEvent(data.event, "event"),
    bad_steps: asArray(data.bad_steps ?? [], "bad_steps").map((item, i) => {
      const entry = asObject(item, `bad_steps[${i}]`);
      return { step: decodeNumber(entry.step, `bad_steps[${i}].step`), phase: asPhase(entry.phase), action: asAction(entry.action) };
    }),
    bad_step_count: decodeNumber(data.bad_step_count ?? 0, "bad_step_count"),
    loss_scale: decodeLossScale(data.loss_scale, "loss_scale"),
    warnings: asWarnings(data.warnings, "warnings"),
  };
}

/**
 * Where the API's JSON comes from: `get(route, params)` answers one route's request (the body, or
 * an `ApiError` with the server's message).
 */
export type JsonSource = (route: string, params: Record<string, string>, signal?: AbortSignal) => Promise<unknown>;

/** One recorded answer of a route, as a report file embeds it (`tb-diag report --html`). */
export interface RecordedAnswer {
  status: number;
  body: unknown;
}

/**
 * A report file's answers: `answers[route][run]` (`""` for a route without a run), recorded from
 * the plugin's own routes when the file was written.
 */
export interface RecordedAnswers {
  answers: Record<string, Record<string, RecordedAnswer>>;
}

/** The plugin's routes: over HTTP against one base URL (`.../data/plugin/tb_diag/`), or the answers a report file recorded. */
export class DiagnosticsApi {
  private readonly get: JsonSource;

  /** @param source URL of the plugin's route directory (must end with a slash), or a `JsonSource`. */
  constructor(source: URL | JsonSource) {
    this.get = source instanceof URL ? httpSource(source) : source;
  }

  /** The API of a report file: every request is answered from `recorded`, nothing is fetched. */
  static fromRecorded(recorded: RecordedAnswers): DiagnosticsApi {
    return new DiagnosticsApi(async (route, params) => {
      const byRun = recorded.answers[route];
      const key = params.run ?? "";
      // Run names are untrusted: only the file's own entries count ("__proto__" is not one).
      const answer = byRun !== undefined && Object.prototype.hasOwnProperty.call(byRun, key) ? byRun[key] : undefined;
      if (answer === undefined) throw new ApiError(`This report file has no ${route} data for this run.`, 404);
      if (answer.status !== 200) throw new ApiError(serverMessage(answer.body, { status: answer.status, statusText: "" }), answer.status);
      return answer.body;
    });
  }

  /** `GET runs`: runs that have tb_diag data, sorted by name. */
  async runs(signal?: AbortSignal): Promise<RunInfo[]> {
    return decodeRuns(await this.getJson("runs", {}, signal));
  }

  /** `GET report?run=`: findings and per-layer summaries of one run. */
  async report(run: string, signal?: AbortSignal): Promise<RunReport> {
    return decodeReport(await this.getJson("report", { run }, signal));
  }

  /** `GET gradients?run=`: per-layer gradient norms of one run over its steps. */
  async gradients(run: string, signal?: AbortSignal): Promise<GradientsData> {
    return decodeGradients(await this.getJson("gradients", { run }, signal));
  }

  /** `GET input?run=`: how long each step of one run waited for data, computed, and spent on the host. */
  async input(run: string, signal?: AbortSignal): Promise<InputData> {
    return decodeInput(await this.getJson("input", { run }, signal));
  }

  /** `GET activations?run=`: statistics of every layer call of one run over its sampled steps. */
  async activations(run: string, signal?: AbortSignal): Promise<ActivationsData> {
    return decodeActivations(await this.getJson("activations", { run }, signal));
  }

  /** `GET memory?run=`: host memory across steps and fits, retraces and GPU figures of one run. */
  async memory(run: string, signal?: AbortSignal): Promise<MemoryData> {
    return decodeMemory(await this.getJson("memory", { run }, signal));
  }

  /** `GET environment?run=`: what one run was trained with. */
  async environment(run: string, signal?: AbortSignal): Promise<EnvironmentData> {
    return decodeEnvironment(await this.getJson("environment", { run }, signal));
  }

  /** `GET nonfinite?run=`: where one run's first NaN/Inf started, its bad steps and its loss scale. */
  async nonfinite(run: string, signal?: AbortSignal): Promise<NonfiniteData> {
    return decodeNonfinite(await this.getJson("nonfinite", { run }, signal));
  }

  private getJson(route: string, params: Record<string, string>, signal?: AbortSignal): Promise<unknown> {
    return this.get(route, params, signal);
  }
}

function httpSource(routesBase: URL): JsonSource {
  return async (route, params, signal) => {
    const url = new URL(route, routesBase);
    for (const [key, value] of Object.entries(params)) url.searchParams.set(key, value);
    let response: Response;
    try {
      response = await fetch(url, { signal, headers: { Accept: "application/json" } });
    } catch (error) {
      if (signal?.aborted) throw error;
      throw new ApiError(`Could not reach TensorBoard (${String(error)}).`, 0);
    }
    const body: unknown = await response.json().catch(() => undefined);
    if (!response.ok) throw new ApiError(serverMessage(body, response), response.status);
    if (body === undefined) throw new ApiError(`The ${route} route answered something that is not JSON.`, response.status);
    return body;
  };
}

function serverMessage(body: unknown, response: Pick<Response, "status" | "statusText">): string {
  if (typeof body === "object" && body !== null && typeof (body as { error?: unknown }).error === "string") {
    return (body as { error: string }).error;
  }
  return `Request failed: HTTP ${response.status} ${response.statusText}`.trim();
}
