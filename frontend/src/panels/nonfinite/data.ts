/** The NaN/Inf panel's data: `GET nonfinite?run=`, its type and its decoder. */

import { NAN_ACTIONS, NAN_PHASES, type NanAction, type NanPhase } from "../../generated/vocabulary";
import {
  ApiError,
  type MaybeNumber,
  asArray,
  asBooleans,
  asObject,
  asString,
  asStrings,
  asWarnings,
  decodeMaybeNumber,
  decodeNumber,
  decodeSeries,
  maybeInt,
} from "../../decode";
import type { DiagnosticsApi } from "../../api";

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

/** `GET nonfinite?run=`: where one run's first NaN/Inf started, its bad steps and its loss scale. */
export function fetchNonfinite(api: DiagnosticsApi, run: string, signal?: AbortSignal): Promise<NonfiniteData> {
  return api.payload("nonfinite", run, decodeNonfinite, signal);
}
