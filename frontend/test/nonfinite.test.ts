// @vitest-environment happy-dom
import { beforeEach, describe, expect, it } from "vitest";

import { ApiError } from "../src/decode";
import { decodeNonfinite, type NonfiniteData } from "../src/panels/nonfinite/data";
import type { RunInfo } from "../src/api";
import { formatScale, lossScaleChartOption, lossScaleSeries } from "../src/charts/loss_scale";
import {
  actionSentence,
  collapseRuns,
  countsText,
  headline,
  nonfinitePanel,
  renderNonfiniteRun,
  type PathChip,
} from "../src/panels/nonfinite/panel";
import { PANELS, runsForPanel } from "../src/panels/registry";
import { fakeRoutesApi } from "./fake_api";

const HOSTILE = "<img src=x onerror=alert(1)>";
const FINITE = { nan: 0, posinf: 0, neginf: 0, max_abs: 1.9 };
const ZERO = { nan: 0, posinf: 0, neginf: 0, max_abs: null };

/** A forward-phase event as the route sends it: 'log' turns finite inputs into NaN. */
function forwardEvent(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    step: 6,
    epoch: 0,
    phase: "forward",
    on_nan: "stop",
    action: "stopped",
    weights_kept: true,
    loss: null,
    loss_seen: true,
    inputs: [{ name: "input", ...FINITE }],
    calls: [
      { name: "d1", layer: "d1", in: FINITE, out: FINITE },
      { name: "log", layer: "log", in: { ...FINITE, max_abs: 3.2 }, out: { nan: 1, posinf: 0, neginf: 2, max_abs: 0.7 } },
      { name: "d2", layer: "d2", in: { nan: 1, posinf: 0, neginf: 2, max_abs: 0.7 }, out: { nan: 4, posinf: 0, neginf: 0, max_abs: null } },
      { name: "head", layer: "head", in: { nan: 4, posinf: 0, neginf: 0, max_abs: null }, out: { nan: 1, posinf: 0, neginf: 0, max_abs: null } },
    ],
    layers: [
      { layer: "d1", grad: { nan: 8, posinf: 0, neginf: 0, max_abs: null }, weights: FINITE },
      { layer: "d2", grad: { nan: 8, posinf: 0, neginf: 0, max_abs: null }, weights: FINITE },
      { layer: "head", grad: FINITE, weights: FINITE },
    ],
    origin: { phase: "forward", layer: "log", contaminated: ["d2", "head"], contaminated_gradients: ["d1", "d2"], between: null },
    evidence: "Layer 'log' received finite inputs (largest |value| 3.2) and returned 1 NaN, 2 -Inf.",
    remedy: "This layer turned finite inputs into NaN/Inf. Add an epsilon.",
    ...overrides,
  };
}

/** The backward phase: forward and loss finite, the gradients of d2 went NaN first. */
function backwardEvent(): Record<string, unknown> {
  return forwardEvent({
    phase: "backward",
    loss: 0.5,
    calls: [
      { name: "d1", layer: "d1", in: FINITE, out: FINITE },
      { name: "d2", layer: "d2", in: FINITE, out: FINITE },
      { name: "norm", layer: "norm", in: FINITE, out: FINITE },
    ],
    layers: [
      { layer: "d1", grad: { nan: 8, posinf: 0, neginf: 0, max_abs: null }, weights: FINITE },
      { layer: "d2", grad: { nan: 3, posinf: 1, neginf: 0, max_abs: 2 }, weights: FINITE },
    ],
    origin: { phase: "backward", layer: "d2", contaminated: ["d1"], contaminated_gradients: [], between: ["d2", "norm"] },
    evidence: "The gradients of 'd2' held 3 NaN, 1 +Inf. The non-finite derivative arose between 'd2' and 'norm'.",
    remedy: "Add an epsilon inside sqrt.",
  });
}

function body(event: Record<string, unknown> | null, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { run: "mlp/train", event, bad_steps: [{ step: 6, phase: "forward", action: "stopped" }], bad_step_count: 1, loss_scale: null, warnings: [], ...extra };
}

const lossScale = { steps: [1, 2, 3, 4], scale: [32768, 16384, "NaN", 8192], overflow: [false, true, true, false], skips: 2, last_scale: 8192, min_scale: 8192 };

function chips(root: ParentNode, path: string, state?: string): string[] {
  const selector = `[data-testid="nonfinite-path"][data-path="${path}"] [data-testid="nonfinite-chip"]${state ? `[data-state="${state}"]` : ""}`;
  return [...root.querySelectorAll(selector)].map((chip) => chip.getAttribute("data-name") ?? "");
}

function text(root: ParentNode, testId: string): string | null | undefined {
  return root.querySelector(`[data-testid="${testId}"]`)?.textContent;
}

beforeEach(() => {
  document.body.replaceChildren();
});

describe("decodeNonfinite", () => {
  it("turns TensorBoard's NaN/Infinity strings into numbers, keeps names and the server's unknown phase", () => {
    const data = decodeNonfinite(
      body(forwardEvent({ loss: "NaN", inputs: [{ name: "NaN", nan: 0, posinf: 0, neginf: 0, max_abs: "Infinity" }] }), {
        loss_scale: structuredClone(lossScale),
        bad_steps: [{ step: 6, phase: "unknown", action: "unknown" }],
      }),
    );
    expect(data.event?.loss).toBeNaN();
    expect(data.event?.inputs[0]).toMatchObject({ name: "NaN", max_abs: Number.POSITIVE_INFINITY });
    expect(data.loss_scale?.scale[2]).toBeNaN();
    expect(data.loss_scale?.overflow).toEqual([false, true, true, false]);
    expect(data.bad_steps[0]).toEqual({ step: 6, phase: "unknown", action: "unknown" });
    expect(data.event?.origin.between).toBeNull();
  });

  it("names the field of a malformed value", () => {
    const broken = forwardEvent({ calls: [{ name: "d1", layer: "d1", in: FINITE, out: { ...FINITE, nan: "many" } }] });
    expect(() => decodeNonfinite(body(broken))).toThrow(ApiError);
    expect(() => decodeNonfinite(body(broken))).toThrow(/event.calls\[0\].out.nan is "many", but must be integer/);
  });

  it("rejects a phase the server would have sent as unknown", () => {
    expect(() => decodeNonfinite(body(forwardEvent(), { bad_steps: [{ step: 6, phase: "sideways", action: "stopped" }] }))).toThrow(
      /bad_steps\[0\]\.phase is "sideways", but must be equal to one of the allowed values/,
    );
  });
});

describe("headline and action", () => {
  const event = (overrides: Record<string, unknown> = {}) => decodeNonfinite(body(forwardEvent(overrides))).event!;

  it("says when, in which phase and where it started, counting epochs from 1 like Keras", () => {
    expect(headline(event())).toBe("Step 6 (epoch 1) — forward pass: layer 'log' produced NaN/Inf from finite inputs");
    expect(headline(event({ epoch: null }))).toBe("Step 6 — forward pass: layer 'log' produced NaN/Inf from finite inputs");
    expect(headline(event({ phase: "loss", origin: { phase: "loss", layer: null, contaminated: [], contaminated_gradients: [], between: null } }))).toBe(
      "Step 6 (epoch 1) — loss: the loss was NaN/Inf although every layer output was finite",
    );
  });

  it("stop: the weights are those of the step before, or could not be kept", () => {
    expect(actionSentence(event(), [], 1)).toBe("tb_diag stopped training before this step's update: the weights are those of step 5.");
    expect(actionSentence(event({ weights_kept: false }), [], 1)).toMatch(/^tb_diag stopped training, but the weights could not be kept/);
  });

  it("skip: counts the skipped steps, 'at least' when the list was cut", () => {
    const steps = [6, 9, 12].map((step) => ({ step, phase: "forward" as const, action: "skipped" as const }));
    const skipped = event({ on_nan: "skip", action: "skipped" });
    expect(actionSentence(skipped, steps, 3)).toBe("tb_diag skipped this step's update and training went on; 3 step(s) skipped in all.");
    expect(actionSentence(skipped, steps, 40)).toContain("at least 3 step(s) skipped in all");
  });

  it("record: the update was applied", () => {
    expect(actionSentence(event({ on_nan: "record", action: "recorded", weights_kept: false }), [], 1)).toBe(
      "tb_diag only recorded it (on_nan='record'): the update was applied, so the weights may hold NaN/Inf from here on.",
    );
  });

  it("writes counts in words", () => {
    expect(countsText({ nan: 1, posinf: 0, neginf: 2, max_abs: 0.7 })).toBe("1 NaN, 2 −Inf (largest finite |value| 0.7)");
    expect(countsText(ZERO)).toBe("finite");
  });
});

describe("run block", () => {
  it("shows headline, action, evidence and remedy with test hooks", () => {
    const { block, lossScaleChart } = renderNonfiniteRun(decodeNonfinite(body(forwardEvent())));
    expect(block.getAttribute("data-run")).toBe("mlp/train");
    const head = block.querySelector('[data-testid="nonfinite-headline"]')!;
    expect(head.getAttribute("data-phase")).toBe("forward");
    expect(head.getAttribute("data-step")).toBe("6");
    expect(block.querySelector('[data-testid="nonfinite-action"]')?.getAttribute("data-action")).toBe("stopped");
    expect(text(block, "nonfinite-evidence")).toContain("Layer 'log' received finite inputs");
    expect(text(block, "nonfinite-remedy")).toBe("What to changeThis layer turned finite inputs into NaN/Inf. Add an epsilon.");
    expect(text(block, "nonfinite-remedy-text")).toBe("This layer turned finite inputs into NaN/Inf. Add an epsilon.");
    expect(block.querySelector('[data-testid="nonfinite-bad-steps"]')).toBeNull();
    expect(lossScaleChart).toBeNull();
  });

  it("marks the origin chip and the contaminated chips in call order", () => {
    const { block } = renderNonfiniteRun(decodeNonfinite(body(forwardEvent())));
    expect(chips(block, "values")).toEqual(["input", "d1", "log", "d2", "head", "loss"]);
    expect(chips(block, "values", "origin")).toEqual(["log"]);
    expect(chips(block, "values", "contaminated")).toEqual(["d2", "head", "loss"]);
    const origin = block.querySelector('[data-testid="nonfinite-chip"][data-state="origin"]')!;
    expect(origin.classList.contains("tbd-chip-origin")).toBe(true);
    expect(origin.querySelector(".tbd-chip-tag")?.textContent).toBe("origin");
    expect(origin.getAttribute("title")).toContain("out: 1 NaN, 2 −Inf");
    // The gradients it made non-finite, from the loss backwards.
    expect(chips(block, "gradients")).toEqual(["head", "d2", "d1"]);
    expect(chips(block, "gradients", "contaminated")).toEqual(["d2", "d1"]);
    // Counts table: every row, non-finite ones highlighted, the origin marked once.
    const rows = [...block.querySelectorAll('[data-testid="nonfinite-row"]')];
    expect(rows.map((row) => [row.getAttribute("data-name"), row.getAttribute("data-state")])).toEqual([
      ["input", "finite"],
      ["d1", "finite"],
      ["log", "origin"],
      ["d2", "nonfinite"],
      ["head", "nonfinite"],
    ]);
    expect(rows[3].classList.contains("tbd-row-flagged")).toBe(true);
  });

  it("backward: gradient chips from the loss backwards, origin, contaminated and 'between'", () => {
    const { block } = renderNonfiniteRun(decodeNonfinite(body(backwardEvent())));
    expect(text(block, "nonfinite-headline")).toBe(
      "Step 6 (epoch 1) — backward pass: the gradients of 'd2' went NaN/Inf first, with a finite forward pass and loss",
    );
    expect(block.querySelector('[data-path="values"]')).toBeNull();
    expect(chips(block, "gradients")).toEqual(["loss", "d2", "d1"]);
    expect(chips(block, "gradients", "origin")).toEqual(["d2"]);
    expect(chips(block, "gradients", "contaminated")).toEqual(["d1"]);
    expect(text(block, "nonfinite-between")).toBe("The non-finite derivative arose between 'd2' and 'norm'.");
    const rows = [...block.querySelectorAll('[data-testid="nonfinite-row"]')];
    expect(rows.map((row) => [row.getAttribute("data-kind"), row.getAttribute("data-name"), row.getAttribute("data-state")])).toEqual([
      ["layer", "d1", "nonfinite"],
      ["layer", "d2", "origin"],
    ]);
  });

  it("no event but a loss scale: says no NaN/Inf was recorded and leaves room for the chart", () => {
    const { block, lossScaleChart } = renderNonfiniteRun(decodeNonfinite(body(null, { bad_steps: [], bad_step_count: 0, loss_scale: structuredClone(lossScale) })));
    const head = block.querySelector('[data-testid="nonfinite-headline"]')!;
    expect(head.textContent).toBe("No NaN/Inf was recorded in this run.");
    expect(head.getAttribute("data-phase")).toBe("none");
    expect(block.querySelector('[data-testid="nonfinite-path"]')).toBeNull();
    expect(text(block, "nonfinite-loss-scale-summary")).toBe(
      "2 step(s) overflowed: the optimizer skipped their update and lowered the scale. Last scale 8192, lowest 8192.",
    );
    expect(lossScaleChart?.getAttribute("data-testid")).toBe("nonfinite-loss-scale-chart");
    expect(lossScaleChart?.getAttribute("data-points")).toBe("4");
    expect(lossScaleChart?.getAttribute("data-overflows")).toBe("2");
    expect(lossScaleChart?.parentElement).toBe(block);
  });

  it("lists bad steps when there were several, capped with 'and N more'", () => {
    const steps = Array.from({ length: 12 }, (_, i) => ({ step: 6 + i, phase: "forward", action: "skipped" }));
    const { block } = renderNonfiniteRun(
      decodeNonfinite(body(forwardEvent({ on_nan: "skip", action: "skipped" }), { bad_steps: steps, bad_step_count: 30 })),
    );
    const rows = [...block.querySelectorAll('[data-testid="nonfinite-bad-steps"] tbody tr')];
    expect(rows).toHaveLength(10);
    expect(rows[0].textContent).toBe("6forward passupdate skipped");
    expect(text(block, "nonfinite-bad-steps-more")).toBe("and 20 more");
    expect(text(block, "nonfinite-action")).toContain("at least 12 step(s) skipped in all");
  });

  it("shows hostile run, input, layer, on_nan, evidence and remedy strings literally", () => {
    const hostile = forwardEvent({
      on_nan: HOSTILE,
      action: "unknown",
      inputs: [{ name: HOSTILE, ...FINITE }],
      calls: [{ name: HOSTILE, layer: HOSTILE, in: FINITE, out: { nan: 1, posinf: 0, neginf: 0, max_abs: null } }],
      layers: [{ layer: HOSTILE, grad: FINITE, weights: FINITE }],
      origin: { phase: "forward", layer: HOSTILE, contaminated: [HOSTILE], contaminated_gradients: [HOSTILE], between: [HOSTILE, HOSTILE] },
      evidence: HOSTILE,
      remedy: HOSTILE,
    });
    const { block } = renderNonfiniteRun(decodeNonfinite({ ...body(hostile), run: HOSTILE, warnings: [HOSTILE] }));
    document.body.appendChild(block);
    expect(document.querySelector("img")).toBeNull();
    expect(block.getAttribute("data-run")).toBe(HOSTILE);
    expect(block.querySelector(".tbd-chart-title")?.textContent).toBe(HOSTILE);
    expect(text(block, "nonfinite-headline")).toBe(`Step 6 (epoch 1) — forward pass: layer '${HOSTILE}' produced NaN/Inf from finite inputs`);
    expect(text(block, "nonfinite-action")).toContain(`on_nan='${HOSTILE}'`);
    expect(text(block, "nonfinite-evidence")).toBe(HOSTILE);
    expect(text(block, "nonfinite-remedy-text")).toBe(HOSTILE);
    expect(chips(block, "values", "origin")).toEqual([HOSTILE]);
    expect(block.querySelector('[data-testid="nonfinite-chip"][data-state="origin"] .tbd-chip-name')?.textContent).toBe(HOSTILE);
    expect(block.textContent).toContain(HOSTILE);
  });
});

describe("contamination path helpers", () => {
  it("collapses long runs of chips in one state but never the origin or short runs", () => {
    const chip = (name: string, state: PathChip["state"] = "finite"): PathChip => ({ kind: "call", name, state, detail: "" });
    const path = [
      ...Array.from({ length: 10 }, (_, i) => chip(`c${i}`)),
      chip("bad", "origin"),
      ...Array.from({ length: 6 }, (_, i) => chip(`n${i}`, "contaminated")),
      ...Array.from({ length: 7 }, (_, i) => chip(`m${i}`)),
      chip("x", "contaminated"),
      chip("a"),
      chip("b"),
    ];
    const items = collapseRuns(path);
    expect(items.map((item) => (item.kind === "gap" ? `…${item.count} ${item.state}` : item.name))).toEqual([
      "c0", "c1", "…6 finite", "c8", "c9", "bad", "n0", "n1", "n2", "n3", "n4", "n5", "m0", "m1", "…3 finite", "m5", "m6", "x", "a", "b",
    ]);
    expect(collapseRuns(path.slice(0, 5))).toEqual(path.slice(0, 5));
  });
});

describe("loss-scale chart", () => {
  it("draws the scale on a log axis with the overflowed steps as marks on the line", () => {
    const data = decodeNonfinite(body(null, { loss_scale: structuredClone(lossScale) })).loss_scale!;
    const [scale, overflow] = lossScaleSeries("r", data);
    expect(scale.points).toEqual([[1, 32768], [2, 16384], [3, null], [4, 8192]]);
    expect(overflow.points).toEqual([[1, null], [2, 16384], [3, null], [4, null]]);
    const option = lossScaleChartOption("r", data) as {
      yAxis: { type: string };
      series: Array<Record<string, unknown>>;
      tooltip: { formatter: (params: unknown) => HTMLElement };
    };
    expect(option.yAxis.type).toBe("log");
    expect(option.series[1]).toMatchObject({ showSymbol: true, symbol: "triangle", connectNulls: false });
    const tooltip = option.tooltip.formatter([{ seriesIndex: 0, dataIndex: 1 }]);
    expect(tooltip.textContent).toBe("step 2loss scale16384overflowyes: update skipped, scale lowered");
    expect([formatScale(32768), formatScale(0.5), formatScale(2 ** -12), formatScale(Number.NaN), formatScale(null)]).toEqual(["32768", "0.5", "2.44e-4", "NaN", "—"]);
  });
});

describe("panel", () => {
  const run = (name: string, families: string[]): RunInfo => ({ run: name, last_step: 10, families, error_count: 0, warning_count: 0 });

  it("comes first and also takes runs that only recorded a loss scale", () => {
    expect(PANELS[0]).toBe(nonfinitePanel);
    const selected = [run("a", ["gradients"]), run("b", ["loss_scale"]), run("c", ["nonfinite", "gradients"])];
    expect(runsForPanel(nonfinitePanel, selected).map((r) => r.run)).toEqual(["b", "c"]);
    expect(runsForPanel(PANELS[1], selected).map((r) => r.run)).toEqual(["a", "c"]);
  });

  it("renders one block per run and the server's message for a run that failed", async () => {
    const responses: Record<string, NonfiniteData> = { a: decodeNonfinite({ ...body(forwardEvent()), run: "a" }) };
    const api = fakeRoutesApi({
      async nonfinite(name: string) {
        if (responses[name]) return responses[name];
        throw new ApiError(`run '${name}' has no nonfinite data`, 404);
      },
    });
    const container = document.createElement("div");
    await nonfinitePanel.render(container, [run("a", ["nonfinite"]), run("b", ["nonfinite"])], { api, signal: new AbortController().signal });
    expect([...container.querySelectorAll('[data-testid="nonfinite-run"]')].map((b) => b.getAttribute("data-run"))).toEqual(["a"]);
    expect(container.textContent).toContain("b: run 'b' has no nonfinite data");
    expect(container.textContent).not.toContain("Loading");
  });
});
