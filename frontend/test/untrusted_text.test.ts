// @vitest-environment happy-dom
import { beforeEach, describe, expect, it } from "vitest";

import type { DiagnosticsApi, Finding, RunInfo, RunReport } from "../src/api";
import { renderOverview } from "../src/overview";
import { renderLayerList } from "../src/panels/gradients/panel";

const HOSTILE = "<img src=x onerror=alert(1)>";

function report(run: string, findings: Finding[], warnings: string[] = []): RunReport {
  return { run, steps: 10, layers: [], gradients: {}, overview: [], findings, warnings };
}

function finding(id: string, severity: Finding["severity"], overrides: Partial<Finding> = {}): Finding {
  return { id, severity, step: null, layer: null, title: id, detail: "", remedy: "", diagnostic: "gradients", caused_by: null, ...overrides };
}

function info(run: string): RunInfo {
  return { run, last_step: 10, families: ["gradients"], error_count: 0, warning_count: 0 };
}

/** The Overview of single runs (no comparison, so no route is called). */
function renderReports(container: HTMLElement, reports: RunReport[], errors: Array<{ run: string; message: string }> = []): void {
  const context = { api: {} as DiagnosticsApi, signal: new AbortController().signal };
  renderOverview(container, reports.map((r) => ({ info: info(r.run), report: r })), errors, context);
}

beforeEach(() => {
  document.body.replaceChildren();
});

describe("findings of the Overview", () => {
  it("shows hostile run, layer and finding strings literally and creates no element from them", () => {
    const container = document.createElement("section");
    document.body.appendChild(container);
    renderReports(
      container,
      [
        report(
          HOSTILE,
          [
            finding(HOSTILE, "error", { step: 3, layer: HOSTILE, title: HOSTILE, detail: HOSTILE, remedy: HOSTILE, diagnostic: HOSTILE }),
            finding("consequence", "warning", { step: 4, title: HOSTILE, caused_by: HOSTILE, diagnostic: HOSTILE }),
          ],
          [HOSTILE],
        ),
      ],
      [{ run: HOSTILE, message: HOSTILE }],
    );
    expect(document.querySelector("img")).toBeNull();
    const item = container.querySelector('[data-testid="finding"]') as HTMLElement;
    expect(item.getAttribute("data-finding-id")).toBe(HOSTILE);
    expect(item.getAttribute("data-run")).toBe(HOSTILE);
    expect(item.getAttribute("data-diagnostic")).toBe(HOSTILE);
    expect(item.querySelector(".tbd-finding-title")?.textContent).toBe(HOSTILE);
    // An unknown diagnostic has no panel: where it points is text, not a link.
    expect(item.querySelector('[data-testid="overview-finding-link"]')).toBeNull();
    expect(item.querySelector(".tbd-finding-where")?.textContent).toBe(`${HOSTILE} · layer '${HOSTILE}' · step 3`);
    expect(item.querySelector(".tbd-finding-detail")?.textContent).toBe(HOSTILE);
    expect(item.querySelector(".tbd-finding-remedy")?.textContent).toBe(`What to change: ${HOSTILE}`);
    expect(container.textContent).toContain(`${HOSTILE}: ${HOSTILE}`);
    // A consequence is nested under its cause by id, carried as an attribute, never as markup.
    const nested = item.querySelector('[data-testid="consequences"] [data-testid="finding"]') as HTMLElement;
    expect(nested.getAttribute("data-caused-by")).toBe(HOSTILE);
    expect(nested.querySelector(".tbd-finding-title")?.textContent).toBe(HOSTILE);
  });

  it("lists each run's findings worst first with badge, where and remedy", () => {
    const container = document.createElement("section");
    renderReports(container, [
      report("a", [finding("slow", "info")]),
      report("b", [finding("dead", "warning", { layer: "dense" }), finding("nan", "error", { step: 412, layer: "dense_1" })]),
    ]);
    const items = [...container.querySelectorAll('[data-testid="finding"]')];
    expect(items.map((item) => item.getAttribute("data-finding-id"))).toEqual(["slow", "nan", "dead"]);
    expect(items[1].querySelector(".tbd-badge")?.textContent).toBe("error");
    expect(items[1].classList.contains("tbd-severity-error")).toBe(true);
    expect(items[1].querySelector(".tbd-finding-where")?.textContent).toBe("gradients · layer 'dense_1' · step 412");
    expect(container.querySelector(".tbd-section-summary")?.textContent).toBe("1 error, 1 warning, 1 info");
  });

  it("says so when there is nothing to report", () => {
    const container = document.createElement("section");
    renderReports(container, [report("a", [])]);
    expect(container.querySelectorAll('[data-testid="finding"]')).toHaveLength(0);
    expect(container.textContent).toContain("Nothing looks wrong");
  });
});

describe("layer list", () => {
  it("shows hostile layer names literally and toggles on click", () => {
    const selected = new Set<string>(["dense"]);
    const list = renderLayerList(["dense", HOSTILE], selected, (layer) => {
      if (selected.has(layer)) selected.delete(layer);
      else selected.add(layer);
    });
    document.body.appendChild(list);
    expect(document.querySelector("img")).toBeNull();
    const buttons = [...list.querySelectorAll<HTMLButtonElement>('[data-testid="layer-toggle"]')];
    expect(buttons.map((button) => button.textContent)).toEqual(["dense", HOSTILE]);
    expect(buttons.map((button) => button.getAttribute("aria-pressed"))).toEqual(["true", "false"]);

    buttons[1].click();
    expect(selected.has(HOSTILE)).toBe(true);
    expect(buttons[1].getAttribute("aria-pressed")).toBe("true");
    buttons[0].click();
    expect(selected.has("dense")).toBe(false);
    expect(buttons[0].getAttribute("aria-pressed")).toBe("false");
  });

  it("filters long lists by name", () => {
    const list = renderLayerList(["encoder/dense", "decoder/dense", "head"], new Set(), () => undefined);
    const filter = list.querySelector("input") as HTMLInputElement;
    filter.value = "coder";
    filter.dispatchEvent(new Event("input"));
    const visible = [...list.querySelectorAll("li")].filter((item) => !item.hidden).map((item) => item.textContent);
    expect(visible).toEqual(["encoder/dense", "decoder/dense"]);
  });
});
