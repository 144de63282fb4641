/**
 * The NaN panel ("NaN / Inf origin"): where and when the first NaN/Inf of a run started, and what
 * to change. Per run:
 *
 * 1. a headline (step, epoch, phase, origin) and what tb_diag did about the step;
 * 2. the contamination path: batch tensors and layer calls in call order (or, for the backward
 *    pass, the layers' gradients from the loss backwards) as chips, the origin and what it
 *    contaminated marked;
 * 3. the server's evidence sentence and remedy ("What to change");
 * 4. the NaN / +Inf / −Inf counts behind it, non-finite rows highlighted;
 * 5. every bad step, when there was more than one;
 * 6. under mixed precision, the loss scale over steps with the overflowed steps marked.
 *
 * The helpers that decide what to say and mark are pure and exported for tests; `renderNonfiniteRun`
 * builds the DOM without charts, and the panel mounts the loss-scale chart into it.
 */

import {
  type BadStep,
  type NonfiniteAction,
  type NonfiniteCounts,
  type NonfiniteData,
  type NonfiniteEvent,
  type NonfinitePhase,
  fetchNonfinite,
} from "./data";
import { formatNumber } from "../../charts/format";
import { formatScale, lossScaleChartOption } from "../../charts/loss_scale";
import { mountChart } from "../../charts/mount_chart";
import { UNHELD_UPDATE_CAUSES } from "../../generated/vocabulary";
import { createElement, createNote } from "../../dom";
import { loadEachRun } from "../load_runs";
import type { Panel, PanelContext, RunSelection } from "../registry";

/** Registry entry of the NaN panel; runs with only a loss scale (mixed precision, no NaN) get it too. */
export const nonfinitePanel: Panel = {
  id: "nonfinite",
  title: "NaN / Inf origin",
  family: "nonfinite",
  alsoFamilies: ["loss_scale"],
  render: renderNonfinitePanel,
};

/** The phases in the user's words. */
export const PHASE_LABELS: Readonly<Record<NonfinitePhase, string>> = {
  input: "input batch",
  forward: "forward pass",
  loss: "loss",
  backward: "backward pass",
  update: "optimizer update",
  unknown: "unknown phase",
};

const ACTION_LABELS: Readonly<Record<NonfiniteAction, string>> = {
  stopped: "stopped",
  skipped: "update skipped",
  recorded: "recorded only",
  unknown: "unknown",
};

/** Bad steps listed before "and N more". */
export const BAD_STEPS_SHOWN = 10;

/** Whether a tensor held any NaN or ±Inf. */
export function isNonfinite(counts: NonfiniteCounts): boolean {
  return counts.nan > 0 || counts.posinf > 0 || counts.neginf > 0;
}

/** "1 NaN, 2 +Inf (largest finite |value| 3.5)", or "finite (largest |value| 3.5)". */
export function countsText(counts: NonfiniteCounts): string {
  const parts = (
    [
      [counts.nan, "NaN"],
      [counts.posinf, "+Inf"],
      [counts.neginf, "−Inf"],
    ] as const
  )
    .filter(([count]) => count > 0)
    .map(([count, label]) => `${count} ${label}`);
  if (parts.length === 0) return counts.max_abs === null ? "finite" : `finite (largest |value| ${formatNumber(counts.max_abs)})`;
  const largest = counts.max_abs === null ? "" : ` (largest finite |value| ${formatNumber(counts.max_abs)})`;
  return parts.join(", ") + largest;
}

/** "Step 6 (epoch 1)": Keras' progress bar counts epochs from 1, the callback from 0. */
function stepText(event: NonfiniteEvent): string {
  return event.epoch === null ? `Step ${event.step}` : `Step ${event.step} (epoch ${event.epoch + 1})`;
}

/** One line: when, in which phase, and where the first NaN/Inf appeared. */
export function headline(event: NonfiniteEvent): string {
  const where = event.origin.layer;
  let what: string;
  switch (event.phase) {
    case "input":
      what = where === null ? "a batch tensor held NaN/Inf" : `batch tensor '${where}' held NaN/Inf`;
      break;
    case "forward": {
      const call = event.calls.find((c) => c.name === where);
      if (where === null) what = "a layer output held NaN/Inf";
      else if (call !== undefined && isNonfinite(call.in)) what = `layer '${where}' is the first whose output held NaN/Inf`;
      else what = `layer '${where}' produced NaN/Inf from finite inputs`;
      break;
    }
    case "loss":
      what = "the loss was NaN/Inf although every layer output was finite";
      break;
    case "backward":
      what =
        where === null
          ? "a gradient went NaN/Inf although the forward pass and the loss were finite"
          : `the gradients of '${where}' went NaN/Inf first, with a finite forward pass and loss`;
      break;
    case "update":
      what = where === null ? "the update made weights NaN/Inf" : `the update made the weights of '${where}' NaN/Inf from finite gradients`;
      break;
    default:
      what = "NaN/Inf appeared (where was not recorded)";
  }
  return `${stepText(event)} — ${PHASE_LABELS[event.phase]}: ${what}`;
}

/**
 * What tb_diag did about the step, as the `on_nan` argument decided. `badSteps` (possibly cut
 * short of `badStepCount`) gives the number of skipped steps.
 */
export function actionSentence(event: NonfiniteEvent, badSteps: readonly BadStep[], badStepCount: number): string {
  const lost =
    `the weights could not be kept: the update could not be held back (${UNHELD_UPDATE_CAUSES}), so they may hold NaN/Inf.`;
  switch (event.action) {
    case "stopped": {
      if (!event.weights_kept) return `tb_diag stopped training, but ${lost}`;
      const kept = event.step > 1 ? `those of step ${event.step - 1}` : "the initial ones";
      return `tb_diag stopped training before this step's update: the weights are ${kept}.`;
    }
    case "skipped": {
      const skipped = Math.max(1, badSteps.filter((entry) => entry.action === "skipped").length);
      const count = badSteps.length < badStepCount ? `at least ${skipped}` : String(skipped);
      const sentence = `tb_diag skipped this step's update and training went on; ${count} step(s) skipped in all.`;
      return event.weights_kept ? sentence : `${sentence} But ${lost}`;
    }
    case "recorded":
      return event.on_nan === "record"
        ? "tb_diag only recorded it (on_nan='record'): the update was applied, so the weights may hold NaN/Inf from here on."
        : `The update was applied although on_nan='${event.on_nan}': ${lost}`;
    default:
      return `What tb_diag did about this step was not recorded (on_nan='${event.on_nan}').`;
  }
}

/** How a chip of the contamination path is marked. */
export type ChipState = "finite" | "origin" | "contaminated";

/** One tensor on the contamination path. */
export interface PathChip {
  kind: "input" | "call" | "layer" | "loss";
  name: string;
  state: ChipState;
  /** Hover text: the counts behind the state. */
  detail: string;
}

/** A run of chips in the same state left out of a long path. */
export interface PathGap {
  kind: "gap";
  state: Exclude<ChipState, "origin">;
  count: number;
}

/** One chain of chips, in the direction the values (or gradients) flowed. */
export interface ContaminationPath {
  /** `values`: batch tensors and layer outputs; `gradients`: from the loss backwards; `weights`: after the update. */
  id: "values" | "gradients" | "weights";
  caption: string;
  chips: PathChip[];
}

/** Marks the first chip named `origin` as the origin, and every chip named in `contaminated`. */
function markChips(chips: Array<Omit<PathChip, "state">>, origin: string | null, contaminated: readonly string[]): PathChip[] {
  const spread = new Set(contaminated);
  let originFound = false;
  return chips.map((chip) => {
    if (!originFound && origin !== null && chip.name === origin) {
      originFound = true;
      return { ...chip, state: "origin" };
    }
    return { ...chip, state: spread.has(chip.name) ? "contaminated" : "finite" };
  });
}

function lossChip(event: NonfiniteEvent, state: ChipState): PathChip {
  return { kind: "loss", name: "loss", state, detail: event.loss === null ? "NaN/Inf" : `loss ${formatNumber(event.loss)}` };
}

/**
 * The chains of the panel's path view. Input, forward and loss phases: batch tensors, then layer
 * calls in call order, then the loss, plus the gradients the origin made non-finite; backward: the
 * layers' gradients from the loss backwards; update: the layers' new weights.
 */
export function contaminationPaths(event: NonfiniteEvent): ContaminationPath[] {
  const { origin } = event;
  const gradientChips = [...event.layers].reverse().map((entry) => ({
    kind: "layer" as const,
    name: entry.layer,
    detail: `gradients: ${countsText(entry.grad)}`,
  }));
  if (event.phase === "backward") {
    const chips = markChips(gradientChips, origin.layer, origin.contaminated);
    return [
      {
        id: "gradients",
        caption: "Gradients of the layers owning weights, from the loss backwards:",
        chips: event.loss_seen ? [lossChip(event, "finite"), ...chips] : chips,
      },
    ];
  }
  if (event.phase === "update") {
    const chips = event.layers.map((entry) => ({
      kind: "layer" as const,
      name: entry.layer,
      detail: `gradients: ${countsText(entry.grad)} · weights: ${countsText(entry.weights)}`,
    }));
    return [{ id: "weights", caption: "Weights of the layers after the update, in model order:", chips: markChips(chips, origin.layer, origin.contaminated) }];
  }
  const valueChips: Array<Omit<PathChip, "state">> = [
    ...event.inputs.map((input) => ({ kind: "input" as const, name: input.name, detail: `batch tensor: ${countsText(input)}` })),
    ...event.calls.map((call) => ({
      kind: "call" as const,
      name: call.name,
      detail: `${call.layer === call.name ? "" : `layer ${call.layer} · `}in: ${countsText(call.in)} · out: ${countsText(call.out)}`,
    })),
  ];
  const isOriginPhase = event.phase === "input" || event.phase === "forward";
  const chips = markChips(valueChips, isOriginPhase ? origin.layer : null, origin.contaminated);
  if (event.loss_seen) {
    const lossState: ChipState = event.phase === "loss" ? "origin" : event.loss === null ? "contaminated" : "finite";
    chips.push(lossChip(event, lossState));
  }
  const paths: ContaminationPath[] = [
    { id: "values", caption: "Batch tensors, then layer calls in call order, then the loss:", chips },
  ];
  if (origin.contaminated_gradients.length > 0) {
    paths.push({
      id: "gradients",
      caption: "Gradients it made non-finite, from the loss backwards:",
      chips: markChips(gradientChips, null, origin.contaminated_gradients),
    });
  }
  return paths;
}

/**
 * Shortens long runs of chips in the same state (deep models have hundreds of calls) to their first
 * and last `keep` chips around a gap, so the origin and the borders between states stay in view.
 */
export function collapseRuns(chips: readonly PathChip[], keep = 2): Array<PathChip | PathGap> {
  const items: Array<PathChip | PathGap> = [];
  let run: PathChip[] = [];
  const flush = (): void => {
    const state = run[0]?.state;
    if (state !== undefined && state !== "origin" && run.length > 2 * keep + 2) {
      items.push(...run.slice(0, keep), { kind: "gap", state, count: run.length - 2 * keep }, ...run.slice(-keep));
    } else {
      items.push(...run);
    }
    run = [];
  };
  for (const chip of chips) {
    if (chip.state === "origin" || chip.state !== run[0]?.state) flush();
    run.push(chip);
  }
  flush();
  return items;
}

/** One row of the counts table: a batch tensor, a layer call (in / out) or a layer (gradients / weights). */
export interface StatsRow {
  kind: "input" | "call" | "layer";
  name: string;
  /** Hover text of the name cell (the layer path of a call). */
  title: string;
  left: NonfiniteCounts | null;
  right: NonfiniteCounts;
  origin: boolean;
}

/** The counts table of an event: column groups and rows, in the order the panel shows them. */
export interface StatsTable {
  groups: [string, string];
  rows: StatsRow[];
}

/**
 * Backward and update phases: one row per layer owning weights (gradients, weights). Otherwise:
 * the batch tensors, then the layer calls in call order (in, out).
 */
export function statsTable(event: NonfiniteEvent): StatsTable {
  const origin = event.origin.layer;
  let originFound = false;
  const isOrigin = (name: string, phases: readonly NonfinitePhase[]): boolean => {
    if (originFound || name !== origin || !phases.includes(event.phase)) return false;
    originFound = true;
    return true;
  };
  if (event.phase === "backward" || event.phase === "update") {
    return {
      groups: ["gradients", event.phase === "update" ? "weights after the update" : "weights"],
      rows: event.layers.map((entry) => ({
        kind: "layer",
        name: entry.layer,
        title: entry.layer,
        left: entry.grad,
        right: entry.weights,
        origin: isOrigin(entry.layer, ["backward", "update"]),
      })),
    };
  }
  return {
    groups: ["in", "out"],
    rows: [
      ...event.inputs.map((input): StatsRow => ({
        kind: "input",
        name: input.name,
        title: "batch tensor",
        left: null,
        right: input,
        origin: isOrigin(input.name, ["input"]),
      })),
      ...event.calls.map((call): StatsRow => ({
        kind: "call",
        name: call.name,
        title: `layer ${call.layer}`,
        left: call.in,
        right: call.out,
        origin: isOrigin(call.name, ["forward"]),
      })),
    ],
  };
}

async function renderNonfinitePanel(container: HTMLElement, runs: RunSelection[], context: PanelContext): Promise<void> {
  await loadEachRun(container, runs, context, "Loading NaN/Inf records…", fetchNonfinite, (data) => {
    const view = renderNonfiniteRun(data);
    // Attached before the chart is created: ECharts sizes itself from the element.
    container.appendChild(view.block);
    if (view.lossScaleChart !== null && data.loss_scale !== null) {
      const element = view.lossScaleChart;
      const chart = mountChart(element, context.signal);
      // Test hook: the browser test waits for this attribute, set once the line is drawn.
      chart.on("finished", () => element.setAttribute("data-drawn", "true"));
      chart.setOption(lossScaleChartOption(data.run, data.loss_scale));
    }
  });
}

/** A run's block, and the empty element its loss-scale chart goes into (null without a loss scale). */
export interface NonfiniteRunView {
  block: HTMLElement;
  lossScaleChart: HTMLElement | null;
}

/** Builds one run's block (every text through textContent); charts are mounted by the caller. */
export function renderNonfiniteRun(data: NonfiniteData): NonfiniteRunView {
  const block = createElement("div", {
    className: "tbd-chart-block tbd-nonfinite-run",
    attrs: { "data-testid": "nonfinite-run", "data-run": data.run },
  }, [createElement("div", { className: "tbd-chart-title", text: data.run })]);
  for (const warning of data.warnings) block.appendChild(createNote(warning, "warning"));

  const event = data.event;
  if (event === null) {
    const text =
      data.bad_step_count > 0
        ? `${data.bad_step_count} step(s) had NaN/Inf, but the details of the first were not recorded.`
        : "No NaN/Inf was recorded in this run.";
    block.appendChild(
      createElement("p", {
        className: "tbd-nonfinite-headline",
        text,
        attrs: { "data-testid": "nonfinite-headline", "data-phase": data.bad_step_count > 0 ? "unrecorded" : "none" },
      }),
    );
  } else {
    renderEvent(block, event, data);
  }
  if (data.bad_step_count > 1 || (event === null && data.bad_steps.length > 0)) renderBadSteps(block, data);

  let lossScaleChart: HTMLElement | null = null;
  const scales = data.loss_scale;
  if (scales !== null) {
    block.appendChild(createElement("h3", { text: "Loss scale (mixed precision)" }));
    const overflowed =
      scales.skips > 0
        ? `${scales.skips} step(s) overflowed: the optimizer skipped their update and lowered the scale.`
        : "No step overflowed.";
    block.appendChild(
      createElement("p", {
        className: "tbd-note",
        text: `${overflowed} Last scale ${formatScale(scales.last_scale)}, lowest ${formatScale(scales.min_scale)}.`,
        attrs: { "data-testid": "nonfinite-loss-scale-summary" },
      }),
    );
    if (scales.steps.length > 0) {
      lossScaleChart = createElement("div", {
        className: "tbd-chart tbd-chart-short tbd-loss-scale-chart",
        attrs: {
          "data-testid": "nonfinite-loss-scale-chart",
          "data-run": data.run,
          "data-points": String(scales.steps.length),
          "data-overflows": String(scales.overflow.filter(Boolean).length),
        },
      });
      block.appendChild(lossScaleChart);
    }
  }
  return { block, lossScaleChart };
}

function renderEvent(block: HTMLElement, event: NonfiniteEvent, data: NonfiniteData): void {
  block.appendChild(
    createElement("p", {
      className: "tbd-nonfinite-headline",
      text: headline(event),
      attrs: { "data-testid": "nonfinite-headline", "data-phase": event.phase, "data-step": String(event.step) },
    }),
  );
  block.appendChild(
    createElement("p", {
      className: "tbd-nonfinite-action",
      text: actionSentence(event, data.bad_steps, data.bad_step_count),
      attrs: { "data-testid": "nonfinite-action", "data-action": event.action, "data-weights-kept": String(event.weights_kept) },
    }),
  );

  block.appendChild(createElement("h3", { text: "Where it started and where it spread" }));
  for (const path of contaminationPaths(event)) block.appendChild(renderPath(path));
  if (event.origin.between !== null) {
    const [before, after] = event.origin.between;
    block.appendChild(
      createElement("p", {
        className: "tbd-note",
        text: `The non-finite derivative arose between '${before}' and '${after}'.`,
        attrs: { "data-testid": "nonfinite-between" },
      }),
    );
  }

  block.appendChild(createElement("p", { className: "tbd-nonfinite-evidence", text: event.evidence, attrs: { "data-testid": "nonfinite-evidence" } }));
  if (event.remedy) {
    block.appendChild(
      createElement("div", { className: "tbd-nonfinite-remedy", attrs: { "data-testid": "nonfinite-remedy" } }, [
        createElement("div", { className: "tbd-nonfinite-remedy-title", text: "What to change" }),
        createElement("p", { className: "tbd-nonfinite-remedy-text", text: event.remedy, attrs: { "data-testid": "nonfinite-remedy-text" } }),
      ]),
    );
  }

  const table = statsTable(event);
  if (table.rows.length > 0) {
    block.appendChild(createElement("h3", { text: `NaN / Inf counts at step ${event.step}` }));
    block.appendChild(renderStatsTable(table));
  }
}

function renderPath(path: ContaminationPath): HTMLElement {
  const list = createElement("ol", { className: "tbd-chips" });
  for (const item of collapseRuns(path.chips)) {
    if (item.kind === "gap") {
      list.appendChild(
        createElement("li", {
          className: `tbd-chip tbd-chip-gap tbd-chip-gap-${item.state}`,
          attrs: { "data-testid": "nonfinite-chip-gap", "data-state": item.state, "data-count": String(item.count) },
        }, [createElement("span", { className: "tbd-chip-box", text: `… ${item.count} ${item.state === "finite" ? "finite" : "more NaN/Inf"} …` })]),
      );
      continue;
    }
    const box = createElement("span", { className: "tbd-chip-box" }, [createElement("span", { className: "tbd-chip-name", text: item.name })]);
    if (item.state !== "finite") {
      box.appendChild(createElement("span", { className: "tbd-chip-tag", text: item.state === "origin" ? "origin" : "NaN/Inf" }));
    }
    list.appendChild(
      createElement("li", {
        className: `tbd-chip tbd-chip-${item.state} tbd-chip-kind-${item.kind}`,
        attrs: { "data-testid": "nonfinite-chip", "data-state": item.state, "data-kind": item.kind, "data-name": item.name, title: `${item.name}: ${item.detail}` },
      }, [box]),
    );
  }
  return createElement("div", { className: "tbd-nonfinite-path", attrs: { "data-testid": "nonfinite-path", "data-path": path.id } }, [
    createElement("div", { className: "tbd-note", text: path.caption }),
    list,
  ]);
}

const COUNT_COLUMNS = ["NaN", "+Inf", "−Inf", "largest finite |value|"];

function countCells(counts: NonfiniteCounts | null): HTMLElement[] {
  if (counts === null) return COUNT_COLUMNS.map(() => createElement("td", { text: "—" }));
  return [
    ...[counts.nan, counts.posinf, counts.neginf].map((count) => createElement("td", { className: count > 0 ? "tbd-cell-bad" : "", text: String(count) })),
    createElement("td", { text: formatNumber(counts.max_abs) }),
  ];
}

function renderStatsTable(table: StatsTable): HTMLElement {
  const [left, right] = table.groups;
  const body = createElement("tbody");
  for (const row of table.rows) {
    const nonfinite = isNonfinite(row.right) || (row.left !== null && isNonfinite(row.left));
    const state = row.origin ? "origin" : nonfinite ? "nonfinite" : "finite";
    body.appendChild(
      createElement(
        "tr",
        {
          className: [nonfinite ? "tbd-row-flagged" : "", row.origin ? "tbd-row-origin" : ""].filter(Boolean).join(" "),
          attrs: { "data-testid": "nonfinite-row", "data-kind": row.kind, "data-name": row.name, "data-state": state },
        },
        [
          createElement("td", { className: "tbd-cell-name", text: row.name, attrs: { title: row.title } }),
          ...countCells(row.left),
          ...countCells(row.right),
        ],
      ),
    );
  }
  const groupHeader = (text: string): HTMLElement => createElement("th", { className: "tbd-th-group", text, attrs: { colspan: String(COUNT_COLUMNS.length) } });
  return createElement("div", { className: "tbd-table-scroll" }, [
    createElement("table", { className: "tbd-table", attrs: { "data-testid": "nonfinite-stats" } }, [
      createElement("thead", {}, [
        createElement("tr", {}, [createElement("th"), groupHeader(left), groupHeader(right)]),
        createElement("tr", {}, [
          createElement("th", { text: table.rows[0]?.kind === "layer" ? "layer" : "batch tensor / layer call" }),
          ...[...COUNT_COLUMNS, ...COUNT_COLUMNS].map((text) => createElement("th", { text })),
        ]),
      ]),
      body,
    ]),
  ]);
}

function renderBadSteps(block: HTMLElement, data: NonfiniteData): void {
  block.appendChild(createElement("h3", { text: `Steps with NaN/Inf (${data.bad_step_count})` }));
  const shown = data.bad_steps.slice(0, BAD_STEPS_SHOWN);
  block.appendChild(
    createElement("table", { className: "tbd-table", attrs: { "data-testid": "nonfinite-bad-steps" } }, [
      createElement("thead", {}, [createElement("tr", {}, ["step", "phase", "what tb_diag did"].map((text) => createElement("th", { text })))]),
      createElement(
        "tbody",
        {},
        shown.map((entry) =>
          createElement("tr", { attrs: { "data-step": String(entry.step) } }, [
            createElement("td", { text: String(entry.step) }),
            createElement("td", { text: PHASE_LABELS[entry.phase] }),
            createElement("td", { text: ACTION_LABELS[entry.action] }),
          ]),
        ),
      ),
    ]),
  );
  const more = Math.max(0, data.bad_step_count - shown.length);
  if (more > 0) {
    block.appendChild(createElement("p", { className: "tbd-note", text: `and ${more} more`, attrs: { "data-testid": "nonfinite-bad-steps-more" } }));
  }
}
