// @vitest-environment happy-dom
import { beforeEach, describe, expect, it } from "vitest";

import type { RunReport } from "../src/api";
import { renderFindings } from "../src/findings";
import { renderLayerList } from "../src/panels/gradients";

const HOSTILE = "<img src=x onerror=alert(1)>";

function report(run: string, findings: RunReport["findings"], warnings: string[] = []): RunReport {
  return { run, steps: 10, layers: [], gradients: {}, findings, warnings };
}

beforeEach(() => {
  document.body.replaceChildren();
});

describe("findings list", () => {
  it("shows hostile run, layer and finding strings literally and creates no element from them", () => {
    const container = document.createElement("section");
    document.body.appendChild(container);
    renderFindings(
      container,
      [
        report(
          HOSTILE,
          [{ id: HOSTILE, severity: "error", step: 3, layer: HOSTILE, title: HOSTILE, detail: HOSTILE, remedy: HOSTILE }],
          [HOSTILE],
        ),
      ],
      [{ run: HOSTILE, message: HOSTILE }],
    );
    expect(document.querySelector("img")).toBeNull();
    const item = container.querySelector('[data-testid="finding"]') as HTMLElement;
    expect(item.getAttribute("data-finding-id")).toBe(HOSTILE);
    expect(item.querySelector(".tbd-finding-title")?.textContent).toBe(HOSTILE);
    expect(item.querySelector(".tbd-finding-where")?.textContent).toBe(`${HOSTILE} · layer ${HOSTILE} · step 3`);
    expect(item.querySelector(".tbd-finding-detail")?.textContent).toBe(HOSTILE);
    expect(item.querySelector(".tbd-finding-remedy")?.textContent).toBe(`What to try: ${HOSTILE}`);
    expect(container.textContent).toContain(`${HOSTILE}: ${HOSTILE}`);
  });

  it("lists findings of several runs worst first with badge, where and remedy", () => {
    const container = document.createElement("section");
    renderFindings(container, [
      report("a", [{ id: "slow", severity: "info", step: null, layer: null, title: "Info", detail: "", remedy: "" }]),
      report("b", [
        { id: "nan", severity: "error", step: 412, layer: "dense_1", title: "NaN", detail: "d", remedy: "r" },
        { id: "dead", severity: "warning", step: null, layer: "dense", title: "Dead", detail: "d", remedy: "r" },
      ]),
    ]);
    const items = [...container.querySelectorAll('[data-testid="finding"]')];
    expect(items.map((item) => item.getAttribute("data-finding-id"))).toEqual(["nan", "dead", "slow"]);
    expect(items[0].querySelector(".tbd-badge")?.textContent).toBe("error");
    expect(items[0].classList.contains("tbd-severity-error")).toBe(true);
    expect(items[2].querySelector(".tbd-finding-where")?.textContent).toBe("a");
    expect(container.querySelector(".tbd-section-summary")?.textContent).toBe("1 error, 1 warning, 1 info");
  });

  it("says so when there is nothing to report", () => {
    const container = document.createElement("section");
    renderFindings(container, [report("a", [])]);
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
