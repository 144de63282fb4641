// @vitest-environment happy-dom
import { beforeEach, describe, expect, it, vi } from "vitest";

import { ApiError } from "../src/decode";
import { decodeEnvironment, type EnvironmentData } from "../src/panels/environment/data";
import { decodeReport, type DiagnosticsApi, type Finding, type RunInfo, type RunReport } from "../src/api";
import type { ActivationsData } from "../src/panels/activations/data";
import type { GradientsData } from "../src/panels/gradients/data";
import { comparisonRows } from "../src/comparison";
import { findingWhere } from "../src/findings";
import { FOCUS_EVENT, requestFocus, type FocusRequest } from "../src/focus";
import { renderOverview, type LoadedRun } from "../src/overview";
import { activationsPanel, callForLayer } from "../src/panels/activations/panel";
import { gradientsPanel, nonfiniteNormSteps } from "../src/panels/gradients/panel";
import { PANELS } from "../src/panels/registry";
import { fakeRoutesApi, type FakeRoutes } from "./fake_api";
import { matrixFromRows } from "./matrix";

/** ECharts cannot paint in happy-dom: charts are stand-ins that record their options. */
interface FakeChart {
  element: HTMLElement;
  options: Array<Record<string, unknown>>;
  finish(): void;
}
const charts: FakeChart[] = [];
vi.mock("../src/charts/mount_chart", async (importOriginal) => ({
  ...(await importOriginal<typeof import("../src/charts/mount_chart")>()),
  mountChart: (element: HTMLElement) => {
    const handlers: Array<() => void> = [];
    const chart: FakeChart = { element, options: [], finish: () => handlers.forEach((handler) => handler()) };
    charts.push(chart);
    return {
      setOption: (option: Record<string, unknown>) => chart.options.push(option),
      on: (_event: string, handler: () => void) => handlers.push(handler),
      // The heatmap follows the pointer to find the cell for its tooltip.
      getZr: () => ({ on: () => undefined }),
    };
  },
}));

const HOSTILE = "<img src=x onerror=alert(1)>";

function finding(id: string, severity: Finding["severity"], overrides: Partial<Finding> = {}): Finding {
  return { id, severity, step: null, layer: null, title: `title ${id}`, detail: "", remedy: "", diagnostic: "gradients", caused_by: null, ...overrides };
}

function info(run: string, families: string[] = ["gradients", "activations", "nonfinite"]): RunInfo {
  return { run, last_step: 50, families, error_count: 0, warning_count: 0 };
}

function report(run: string, findings: Finding[], overview: RunReport["overview"] = []): RunReport {
  return { run, steps: 50, layers: [], gradients: {}, overview, findings, warnings: [] };
}

function gradients(run: string, globalNorm: Array<number | null>): GradientsData {
  return {
    run,
    layers: ["dense", "dense_1", "dense_2", "head"],
    steps: globalNorm.map((_, j) => j + 1),
    grad_norm: matrixFromRows(Array.from({ length: 4 }, () => globalNorm.map(() => 1))),
    weight_norm: matrixFromRows([]),
    update_ratio: matrixFromRows([]),
    global_norm: globalNorm,
    downsampled: false,
    warnings: [],
  };
}

function fakeApi(
  runs: Record<string, GradientsData> = {},
  activations: Record<string, ActivationsData> = {},
  environments: Record<string, EnvironmentData> = {},
): DiagnosticsApi {
  return fakeRoutesApi(fakeRoutes(runs, activations, environments));
}

function fakeRoutes(
  runs: Record<string, GradientsData> = {},
  activations: Record<string, ActivationsData> = {},
  environments: Record<string, EnvironmentData> = {},
): FakeRoutes {
  return {
    async environment(run: string) {
      if (environments[run]) return environments[run];
      throw new ApiError(`run '${run}' has no environment data`, 404);
    },
    async gradients(run: string) {
      if (runs[run]) return runs[run];
      throw new ApiError(`No gradients for ${run}`, 400);
    },
    async activations(run: string) {
      return activations[run];
    },
  };
}

async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise((resolve) => setTimeout(resolve, 0));
}

/** Renders the Overview of `loaded` into a fresh section of the page. */
function overview(loaded: LoadedRun[], api: DiagnosticsApi = fakeApi()): HTMLElement {
  const container = document.createElement("section");
  document.body.appendChild(container);
  renderOverview(container, loaded, [], { api, signal: new AbortController().signal });
  return container;
}

function panelSection(id: string): HTMLElement {
  const section = document.createElement("section");
  section.setAttribute("data-panel", id);
  document.body.appendChild(section);
  return section;
}

beforeEach(() => {
  document.body.replaceChildren();
  charts.length = 0;
});

describe("report decoding", () => {
  it("decodes the health summary and each finding's diagnostic and cause (null for a root cause)", () => {
    const body = {
      run: "r",
      steps: 10,
      layers: [],
      gradients: null,
      overview: [{ diagnostic: "gradients", label: "gradients", status: "ok", text: "largest norm 3.2", findings: 0, root_causes: 0 }],
      findings: [{ id: "f", severity: "info", step: null, layer: null, title: "t", detail: "d", remedy: "r", diagnostic: "input", caused_by: null }],
      warnings: [],
    };
    const decoded = decodeReport(body);
    expect(decoded.overview).toEqual(body.overview);
    expect(decoded.findings[0].diagnostic).toBe("input");
    expect(decoded.findings[0].caused_by).toBeNull();
    expect(() => decodeReport({ ...body, findings: [{ ...body.findings[0], diagnostic: null }] })).toThrow(/findings\[0\]\.diagnostic is null/);
    expect(() => decodeReport({ ...body, overview: undefined })).toThrow(/must have required property 'overview'/);
    expect(() => decodeReport({ ...body, warnings: "none" })).toThrow(/warnings is "none", but must be array/);
    expect(decodeReport({ ...body, findings: [{ ...body.findings[0], caused_by: "exploding_gradients" }] }).findings[0].caused_by).toBe(
      "exploding_gradients",
    );
    expect(() => decodeReport({ ...body, findings: [{ ...body.findings[0], caused_by: 3 }] })).toThrow(/findings\[0\]\.caused_by/);
    expect(() => decodeReport({ ...body, overview: [{ ...body.overview[0], status: "fine" }] })).toThrow(/overview\[0\]\.status/);
  });
});

describe("run card", () => {
  it("shows the run, its steps and one health line per overview line, in order, with a named status badge", () => {
    const lines: RunReport["overview"] = [
      { diagnostic: "nonfinite", label: "NaN/Inf", status: "error", text: "first at step 41", findings: 1, root_causes: 1 },
      { diagnostic: "input", label: "input", status: "warning", text: "waits 40% of the step", findings: 1, root_causes: 1 },
      { diagnostic: "gradients", label: "gradients", status: "ok", text: "largest norm 3.2 in 'dense'", findings: 0, root_causes: 0 },
    ];
    const container = overview([{ info: info("a", ["gradients", "nonfinite"]), report: report("a", [], lines) }]);
    const card = container.querySelector('[data-testid="overview-run"][data-run="a"]') as HTMLElement;
    expect(card.querySelector(".tbd-overview-run-name")?.textContent).toBe("a");
    expect(card.textContent).toContain("50 steps");
    const rows = [...card.querySelectorAll('[data-testid="overview-line"]')];
    expect(rows.map((row) => [row.getAttribute("data-diagnostic"), row.getAttribute("data-status")])).toEqual([
      ["nonfinite", "error"],
      ["input", "warning"],
      ["gradients", "ok"],
    ]);
    expect(rows.map((row) => row.querySelector(".tbd-badge")?.textContent)).toEqual(["error", "warning", "ok"]);
    expect(rows[0].classList.contains("tbd-severity-error")).toBe(true);
    expect(rows[2].querySelector(".tbd-health-text")?.textContent).toBe("largest norm 3.2 in 'dense'");
    // The run recorded no input data, so the Input panel is not on the page: no link to it.
    expect(rows.map((row) => row.querySelector('[data-testid="overview-line-link"]')?.textContent ?? null)).toEqual([
      "open panel",
      null,
      "open panel",
    ]);
  });

  it("scrolls to the panel from a health line", () => {
    const section = panelSection("gradients");
    const scrolled = vi.fn();
    section.scrollIntoView = scrolled;
    const lines: RunReport["overview"] = [{ diagnostic: "gradients", label: "gradients", status: "ok", text: "", findings: 0, root_causes: 0 }];
    const container = overview([{ info: info("a"), report: report("a", [], lines) }]);
    (container.querySelector('[data-testid="overview-line-link"]') as HTMLButtonElement).click();
    expect(scrolled).toHaveBeenCalledTimes(1);
  });

  it("links each finding to its panel with layer and step, and asks the panel to focus them", () => {
    const section = panelSection("gradients");
    const scrolled = vi.fn();
    section.scrollIntoView = scrolled;
    const requests: FocusRequest[] = [];
    document.addEventListener(FOCUS_EVENT, (event) => requests.push((event as CustomEvent<FocusRequest>).detail));
    const container = overview([
      {
        info: info("a"),
        report: report("a", [
          finding("vanishing", "warning", { layer: "dense", step: 26 }),
          finding("exploding", "error", { layer: "mlp/hidden_1", step: 412, remedy: "clipnorm=1.0" }),
        ]),
      },
    ]);
    const items = [...container.querySelectorAll('[data-testid="finding"][data-overview-finding]')];
    expect(items.map((item) => item.getAttribute("data-finding-id"))).toEqual(["exploding", "vanishing"]);
    expect(items[0].getAttribute("data-diagnostic")).toBe("gradients");
    expect(items[0].textContent).toContain("What to change: clipnorm=1.0");
    const link = items[0].querySelector('[data-testid="overview-finding-link"]') as HTMLButtonElement;
    expect(link.textContent).toBe("gradients · layer 'mlp/hidden_1' · step 412");
    expect([link.getAttribute("data-target-panel"), link.getAttribute("data-layer"), link.getAttribute("data-step")]).toEqual([
      "gradients",
      "mlp/hidden_1",
      "412",
    ]);
    link.click();
    expect(scrolled).toHaveBeenCalledTimes(1);
    expect(requests).toEqual([{ panel: "gradients", run: "a", layer: "mlp/hidden_1", step: 412 }]);
  });

  it("leads with the root cause and lists its consequences inside it, without their own remedy", () => {
    const container = overview([
      {
        info: info("a"),
        report: report("a", [
          finding("exploding_gradients", "error", { step: 24, remedy: "clip" }),
          finding("nonfinite", "error", { step: 27, diagnostic: "nonfinite", caused_by: "exploding_gradients", remedy: "also clip" }),
          finding("dead_relu", "warning", { step: 30, diagnostic: "activations", caused_by: "exploding_gradients" }),
          finding("input_bound", "warning", { step: 2, diagnostic: "input" }),
        ]),
      },
    ]);
    const top = [...container.querySelectorAll(".tbd-findings:not(.tbd-consequences) > [data-testid='finding']")];
    expect(top.map((item) => item.getAttribute("data-finding-id"))).toEqual(["exploding_gradients", "input_bound"]);
    const nested = [...top[0].querySelectorAll('[data-testid="consequences"] > [data-testid="finding"]')];
    expect(nested.map((item) => [item.getAttribute("data-finding-id"), item.getAttribute("data-caused-by")])).toEqual([
      ["nonfinite", "exploding_gradients"],
      ["dead_relu", "exploding_gradients"],
    ]);
    expect(nested[0].textContent).toContain("consequence");
    expect(nested[0].textContent).not.toContain("What to change");
    expect(top[0].textContent).toContain("Follows from this (2):");
    // Counted as root causes: one error and one warning, plus two consequences.
    expect(container.querySelector(".tbd-overview-run .tbd-overview-heading .tbd-section-summary")?.textContent).toBe(
      "1 error, 1 warning (+2 consequences)",
    );
  });

  it("names a finding's diagnostic by its overview label", () => {
    expect(findingWhere({ layer: null, step: 41 }, "NaN/Inf")).toBe("NaN/Inf · step 41");
    const lines: RunReport["overview"] = [{ diagnostic: "nonfinite", label: "NaN/Inf", status: "error", text: "", findings: 1, root_causes: 1 }];
    const container = overview([{ info: info("a"), report: report("a", [finding("nan", "error", { diagnostic: "nonfinite", step: 41 })], lines) }]);
    expect(container.querySelector('[data-testid="overview-finding-link"]')?.textContent).toBe("NaN/Inf · step 41");
  });
});

describe("comparison", () => {
  it("has one row per finding id, worst first, '—' where a run lacks it, and marks the rows that differ", () => {
    const rows = comparisonRows([
      report("a", [finding("slow", "info"), finding("dead", "warning"), finding("dead", "error")]),
      report("b", [finding("slow", "info"), finding("nan", "error")]),
    ]);
    expect(rows.map((row) => [row.id, row.cells, row.differs])).toEqual([
      ["dead", ["error", null], true],
      ["nan", [null, "error"], true],
      ["slow", ["info", "info"], false],
    ]);

    const container = overview(
      [
        { info: info("a"), report: report("a", [finding("slow", "info"), finding("dead", "warning")]) },
        { info: info("b"), report: report("b", [finding("slow", "info")]) },
      ],
      fakeApi({ a: gradients("a", [1, 2]), b: gradients("b", [1, 2]) }),
    );
    const block = container.querySelector('[data-testid="comparison"]') as HTMLElement;
    const rendered = [...block.querySelectorAll('[data-testid="comparison-row"]')];
    expect(rendered.map((row) => [row.getAttribute("data-finding-id"), row.getAttribute("data-differs")])).toEqual([
      ["dead", "true"],
      ["slow", "false"],
    ]);
    expect(rendered[0].classList.contains("tbd-row-flagged")).toBe(true);
    const cells = [...rendered[0].querySelectorAll('[data-testid="comparison-cell"]')];
    expect(cells.map((cell) => [cell.getAttribute("data-run"), cell.getAttribute("data-severity"), cell.textContent])).toEqual([
      ["a", "warning", "warning"],
      ["b", "none", "—"],
    ]);
  });

  it("overlays the global gradient norm of every run, gaps where it is NaN/Inf", async () => {
    const container = overview(
      [
        { info: info("a"), report: report("a", []) },
        { info: info("b"), report: report("b", []) },
        { info: info("c", ["input"]), report: report("c", []) },
      ],
      fakeApi({ a: gradients("a", [1, 2, 3]), b: gradients("b", [1, Number.NaN, Number.POSITIVE_INFINITY]) }),
    );
    await settle();
    const chart = container.querySelector('[data-testid="comparison-norm-chart"]') as HTMLElement;
    expect(chart.getAttribute("data-runs")).toBe("2");
    expect(chart.hasAttribute("data-drawn")).toBe(false);
    charts[0].finish();
    expect(chart.getAttribute("data-drawn")).toBe("true");
    const series = (charts[0].options[0] as { series: Array<{ name: string; data: unknown[] }> }).series;
    expect(series.map((line) => line.name)).toEqual(["a", "b"]);
    expect(series[1].data).toEqual([[1, 1], [2, null], [3, null]]);
    expect(container.textContent).toContain("c: no gradient norms recorded.");
    expect(container.textContent).toContain("b: the global norm was NaN/Inf first at step 2 (2 point(s) in all).");
    expect(nonfiniteNormSteps(gradients("a", [1, null, Number.NEGATIVE_INFINITY]))).toEqual([3]);
  });

  it("gives every panel that compares runs its own section, in registry order, and names no diagnostic itself", async () => {
    const container = overview(
      [
        { info: info("a"), report: report("a", []) },
        { info: info("b"), report: report("b", []) },
      ],
      fakeApi({ a: gradients("a", [1]), b: gradients("b", [2]) }),
    );
    await settle();
    const sections = [...container.querySelectorAll<HTMLElement>(".tbd-comparison-section")].map((element) => element.dataset.testid);
    expect(sections).toEqual(PANELS.filter((panel) => panel.compare !== undefined).map((panel) => `comparison-${panel.id}`));
    expect(sections).toEqual(["comparison-gradients", "comparison-environment"]);
  });

  it("is not shown for a single run", async () => {
    const container = overview([{ info: info("a"), report: report("a", [finding("slow", "info")]) }], fakeApi({ a: gradients("a", [1]) }));
    await settle();
    expect(container.querySelector('[data-testid="comparison"]')).toBeNull();
    expect(charts).toHaveLength(0);
    expect(container.querySelectorAll('[data-testid="overview-run"]')).toHaveLength(1);
  });
});

/** An environment card: `keras` and `optimizer` fields plus `extra`, decoded as the API client does. */
function envCard(
  run: string,
  optimizer: string,
  extra: Array<{ field: string; value: string }> = [],
  notReproducible: string | null = null,
): EnvironmentData {
  return decodeEnvironment({
    run,
    fields: [{ field: "keras", value: '"3.15.1"' }, { field: "optimizer", value: optimizer }, ...extra],
    model_layers: [],
    not_reproducible: notReproducible,
    reproducibility_remedy: "call keras.utils.set_random_seed(seed)",
    warnings: [],
  });
}

const ENV_FAMILIES = ["gradients", "environment"];

describe("comparison: environment differences", () => {
  const envRow = (block: Element, field: string): HTMLElement | undefined =>
    [...block.querySelectorAll<HTMLElement>('[data-testid="comparison-env-row"]')].find((row) => row.dataset.field === field);
  const envCells = (row: Element): string[][] =>
    [...row.querySelectorAll('[data-testid="comparison-env-cell"]')].map((cell) => [cell.getAttribute("data-run") ?? "", cell.textContent ?? ""]);

  it("lists the fields that differ with each run's value, and opens the Environment panel", async () => {
    const section = panelSection("environment");
    const scrolled = vi.fn();
    section.scrollIntoView = scrolled;
    const container = overview(
      [
        { info: info("a", ENV_FAMILIES), report: report("a", []) },
        { info: info("b", ENV_FAMILIES), report: report("b", []) },
      ],
      fakeApi({}, {}, { a: envCard("a", "SGD", [{ field: "seed", value: "1" }]), b: envCard("b", "Adam") }),
    );
    const block = container.querySelector('[data-testid="comparison-environment"]') as HTMLElement;
    expect(block.textContent).toContain("Loading environments…");
    await settle();
    expect(block.textContent).not.toContain("Loading");
    const rows = [...block.querySelectorAll('[data-testid="comparison-env-row"]')];
    expect(rows.map((row) => row.getAttribute("data-field"))).toEqual(["optimizer", "seed"]);
    expect(envRow(block, "keras")).toBeUndefined();
    expect(envCells(rows[0])).toEqual([["a", "SGD"], ["b", "Adam"]]);
    expect(envCells(rows[1])).toEqual([["a", "1"], ["b", "—"]]);
    expect(block.textContent).toContain("2 of 3 environment field(s) differ between the runs");
    expect(block.querySelector('[data-testid="comparison-env-same"]')).toBeNull();
    // In the registry's order (after the gradient-norm overlay), whichever loads first.
    const headings = [...container.querySelectorAll('[data-testid="comparison"] h3')].map((h) => h.textContent);
    expect(headings.indexOf("Environment differences")).toBeGreaterThan(headings.indexOf("Global gradient norm per run"));
    const link = block.querySelector('[data-testid="comparison-env-link"]') as HTMLButtonElement;
    expect(link.textContent).toBe("open Environment panel");
    link.click();
    expect(scrolled).toHaveBeenCalledTimes(1);
  });

  it("says so when every card matches", async () => {
    const container = overview(
      [
        { info: info("a", ENV_FAMILIES), report: report("a", []) },
        { info: info("b", ENV_FAMILIES), report: report("b", []) },
        { info: info("c", ENV_FAMILIES), report: report("c", []) },
      ],
      fakeApi({}, {}, { a: envCard("a", "Adam"), b: envCard("b", "Adam"), c: envCard("c", "Adam") }),
    );
    await settle();
    const block = container.querySelector('[data-testid="comparison-environment"]') as HTMLElement;
    expect(block.querySelectorAll('[data-testid="comparison-env-row"]')).toHaveLength(0);
    expect(block.querySelector('[data-testid="comparison-env-same"]')?.textContent).toContain(
      "Same environment in every run (2 fields compared).",
    );
    expect(block.querySelector('[data-testid="comparison-env-missing"]')).toBeNull();
  });

  it("says which compared runs cannot be reproduced exactly, and why", async () => {
    const container = overview(
      [
        { info: info("a", ENV_FAMILIES), report: report("a", []) },
        { info: info("b", ENV_FAMILIES), report: report("b", []) },
      ],
      fakeApi({}, {}, {
        a: envCard("a", "Adam", [{ field: "seed", value: "1" }, { field: "op_determinism", value: "true" }]),
        b: envCard("b", "Adam", [{ field: "seed", value: "null" }, { field: "op_determinism", value: "false" }], "no global random seed was set and op determinism is off"),
      }),
    );
    await settle();
    const note = container.querySelector('[data-testid="comparison-not-reproducible"]') as HTMLElement;
    expect(note.textContent).toContain("1 of the 2 runs cannot be reproduced exactly (b: no global random seed was set and op determinism is off)");
    expect(note.textContent).toContain("set_random_seed");
  });

  it("names the runs without a card and compares the others", async () => {
    const container = overview(
      [
        { info: info("a", ENV_FAMILIES), report: report("a", []) },
        // Lists the family but the route answers 404.
        { info: info("b", ENV_FAMILIES), report: report("b", []) },
        // Recorded no environment at all: not even asked for.
        { info: info("c", ["gradients"]), report: report("c", []) },
        { info: info("d", ENV_FAMILIES), report: report("d", []) },
      ],
      fakeApi({}, {}, { a: envCard("a", "SGD"), d: envCard("d", "Adam") }),
    );
    await settle();
    const block = container.querySelector('[data-testid="comparison-environment"]') as HTMLElement;
    const missing = [...block.querySelectorAll('[data-testid="comparison-env-missing"]')];
    expect(missing.map((note) => [note.getAttribute("data-run"), note.textContent])).toEqual([
      ["b", "b: no environment card"],
      ["c", "c: no environment card"],
    ]);
    expect(block.querySelector(".tbd-note-error")).toBeNull();
    const row = envRow(block, "optimizer") as HTMLElement;
    expect(envCells(row)).toEqual([["a", "SGD"], ["d", "Adam"]]);
    expect([...block.querySelectorAll("thead th")].map((th) => th.textContent)).toEqual(["field", "a", "d"]);
  });

  it("has nothing to compare with fewer than two cards, and shows other errors", async () => {
    const routes = fakeRoutes({}, {}, { a: envCard("a", "SGD") });
    const failing = fakeRoutesApi({ ...routes, environment: async (run: string) => {
      if (run === "b") throw new ApiError("boom", 500);
      return routes.environment(run);
    } });
    const container = overview(
      [
        { info: info("a", ENV_FAMILIES), report: report("a", []) },
        { info: info("b", ENV_FAMILIES), report: report("b", []) },
      ],
      failing,
    );
    await settle();
    const block = container.querySelector('[data-testid="comparison-environment"]') as HTMLElement;
    expect(block.querySelector(".tbd-note-error")?.textContent).toBe("b: boom");
    expect(block.textContent).toContain("Only one run has an environment card");
    expect(block.querySelector('[data-testid="comparison-env-link"]')).toBeNull();
  });

  it("stops when the selection changes before the cards arrive", async () => {
    const controller = new AbortController();
    const container = document.createElement("section");
    document.body.appendChild(container);
    renderOverview(
      container,
      [
        { info: info("a", ENV_FAMILIES), report: report("a", []) },
        { info: info("b", ENV_FAMILIES), report: report("b", []) },
      ],
      [],
      { api: fakeApi({}, {}, { a: envCard("a", "SGD"), b: envCard("b", "Adam") }), signal: controller.signal },
    );
    controller.abort();
    await settle();
    const block = container.querySelector('[data-testid="comparison-environment"]') as HTMLElement;
    expect(block.querySelector('[data-testid="comparison-env-row"]')).toBeNull();
    expect(block.textContent).toContain("Loading environments…");
  });

  it("keeps hostile fields, values and run names literal", async () => {
    const container = overview(
      [
        { info: info(HOSTILE, ENV_FAMILIES), report: report(HOSTILE, []) },
        { info: info("b", ENV_FAMILIES), report: report("b", []) },
      ],
      fakeApi({}, {}, { [HOSTILE]: envCard(HOSTILE, HOSTILE, [{ field: HOSTILE, value: HOSTILE }]), b: envCard("b", "Adam") }),
    );
    await settle();
    expect(document.querySelector("img")).toBeNull();
    const block = container.querySelector('[data-testid="comparison-environment"]') as HTMLElement;
    const optimizer = envRow(block, "optimizer") as HTMLElement;
    expect(envCells(optimizer)).toEqual([[HOSTILE, HOSTILE], ["b", "Adam"]]);
    const hostileRow = envRow(block, HOSTILE) as HTMLElement;
    expect(hostileRow.querySelector("th")?.textContent).toBe(HOSTILE);
    expect(envCells(hostileRow)).toEqual([[HOSTILE, HOSTILE], ["b", "—"]]);
    expect(block.querySelector("thead .tbd-comparison-run")?.textContent).toBe(HOSTILE);
  });
});

describe("hostile names", () => {
  it("stay literal text in cards, findings, links, matrix and chart series", async () => {
    panelSection("gradients").scrollIntoView = () => undefined;
    const hostileFinding = finding(HOSTILE, "error", { title: HOSTILE, detail: HOSTILE, remedy: HOSTILE, layer: HOSTILE, step: 3 });
    const lines: RunReport["overview"] = [{ diagnostic: "gradients", label: HOSTILE, status: "error", text: HOSTILE, findings: 1, root_causes: 1 }];
    const container = overview(
      [
        { info: info(HOSTILE), report: report(HOSTILE, [hostileFinding], lines) },
        { info: info("b"), report: report("b", []) },
      ],
      fakeApi({ [HOSTILE]: gradients(HOSTILE, [1]), b: gradients("b", [1]) }),
    );
    await settle();
    expect(document.querySelector("img")).toBeNull();
    const card = [...container.querySelectorAll('[data-testid="overview-run"]')][0];
    expect(card.getAttribute("data-run")).toBe(HOSTILE);
    expect(card.querySelector(".tbd-overview-run-name")?.textContent).toBe(HOSTILE);
    expect(card.querySelector(".tbd-health-label")?.textContent).toBe(HOSTILE);
    expect(card.querySelector(".tbd-health-text")?.textContent).toBe(HOSTILE);
    const link = card.querySelector('[data-testid="overview-finding-link"]') as HTMLElement;
    expect(link.textContent).toBe(`${HOSTILE} · layer '${HOSTILE}' · step 3`);
    expect(link.getAttribute("data-layer")).toBe(HOSTILE);
    expect(card.querySelector(".tbd-finding-remedy")?.textContent).toBe(`What to change: ${HOSTILE}`);
    const row = container.querySelector('[data-testid="comparison-row"]') as HTMLElement;
    expect(row.getAttribute("data-finding-id")).toBe(HOSTILE);
    expect(row.querySelector("th")?.textContent).toBe(`${HOSTILE}${HOSTILE}`);
    expect(container.querySelector(".tbd-comparison-run")?.textContent).toBe(HOSTILE);
    expect(row.querySelector('[data-testid="comparison-cell"]')?.getAttribute("data-run")).toBe(HOSTILE);
    const series = (charts[0].options[0] as { series: Array<{ name: string }> }).series;
    expect(series[0].name).toBe(HOSTILE);
    // The tooltip is DOM built with textContent.
    const tooltip = (charts[0].options[0] as { tooltip: { formatter: (params: unknown) => HTMLElement } }).tooltip.formatter([
      { seriesName: HOSTILE, value: [1, 1] },
    ]);
    expect(tooltip.querySelector(".tbd-tooltip-label")?.textContent).toBe(HOSTILE);
    expect(tooltip.querySelector("img")).toBeNull();
  });
});

describe("panels focused by a finding link", () => {
  it("Gradients: picks the layer in the layer list and marks the step on the line chart and heatmap", async () => {
    const container = document.createElement("div");
    document.body.appendChild(container);
    const data = { ...gradients("a", [1, 2, 3, 4]), layers: ["l0", "l1", "l2", "l3", "l4"] };
    data.grad_norm = matrixFromRows(data.layers.map(() => [1, 2, 3, 4]));
    await gradientsPanel.render(container, [info("a")], { api: fakeApi({ a: data }), signal: new AbortController().signal });
    const pressed = (): string[] =>
      [...container.querySelectorAll('[data-testid="layer-toggle"][aria-pressed="true"]')].map((button) => button.textContent ?? "");
    expect(pressed()).toEqual(["l0", "l2", "l4"]);
    const layerChart = charts[1];

    requestFocus({ panel: "gradients", run: "a", layer: "l1", step: 3 });
    expect(pressed()).toEqual(["l0", "l1", "l2", "l4"]);
    const option = layerChart.options[layerChart.options.length - 1] as { series: Array<{ name: string; markLine?: { data: unknown[] } }> };
    expect(option.series.map((line) => line.name)).toEqual(["l0", "l1", "l2", "l4"]);
    expect(option.series[0].markLine?.data).toEqual([{ xAxis: 3 }]);
    // The heatmap is drawn again, with the row and the step marked.
    expect(charts[0].options).toHaveLength(2);

    // Requests for other panels are not its business.
    requestFocus({ panel: "activations", run: "a", layer: "l3", step: null });
    expect(pressed()).toEqual(["l0", "l1", "l2", "l4"]);
  });

  it("Activations: shows the named call of the run", async () => {
    const container = document.createElement("div");
    document.body.appendChild(container);
    const call = (name: string, layer: string) => ({
      name, layer, activation: "relu", kind: "layer" as const, latest: null, recent_dead_fraction: null, recent_saturation: null,
      finding: null, mean: [1], std: [1], dead_fraction: [0], saturation: [null], bands: [[0, 1, 2]],
    });
    const data: ActivationsData = {
      run: "a", steps: [1], band_quantiles: [0, 0.5, 1], calls: [call("dense", "dense"), call("shared", "shared"), call("shared_1", "shared")],
      downsampled: false, warnings: [],
    };
    const signal = new AbortController();
    await activationsPanel.render(container, [info("a")], { api: fakeApi({}, { a: data }), signal: signal.signal });
    const selected = (): string[] =>
      [...container.querySelectorAll('[data-testid="activation-row"][aria-selected="true"]')].map((row) => row.getAttribute("data-call") ?? "");
    expect(selected()).toEqual(["dense"]);
    requestFocus({ panel: "activations", run: "other", layer: "shared_1", step: null });
    expect(selected()).toEqual(["dense"]);
    requestFocus({ panel: "activations", run: "a", layer: "shared_1", step: 1 });
    expect(selected()).toEqual(["shared_1"]);
    expect(callForLayer(data.calls, "shared")?.name).toBe("shared");
    // Once the selection changes, the panel no longer listens.
    signal.abort();
    requestFocus({ panel: "activations", run: "a", layer: "dense", step: null });
    expect(selected()).toEqual(["shared_1"]);
  });
});
