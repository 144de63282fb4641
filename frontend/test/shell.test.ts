// @vitest-environment happy-dom
import { beforeEach, describe, expect, it } from "vitest";

import { ApiError } from "../src/decode";
import type { DiagnosticsApi, RunInfo, RunReport } from "../src/api";
import type { GradientsData } from "../src/panels/gradients/data";
import { fakeRoutesApi } from "./fake_api";
import { NO_DATA_MESSAGE, renderShell } from "../src/shell";

const HOSTILE = "<img src=x onerror=alert(1)>";

/** A stand-in for the routes: answers from tables, fails with the server's message otherwise. */
function fakeApi(runs: RunInfo[] | Error, reports: Record<string, RunReport> = {}): DiagnosticsApi & { calls: string[] } {
  const calls: string[] = [];
  const routes = {
    async gradients(run: string): Promise<GradientsData> {
      calls.push(`gradients ${run}`);
      throw new ApiError(`Gradients of ${run} cannot be read.`, 400);
    },
  };
  return fakeRoutesApi(routes, {
    calls,
    async runs() {
      if (runs instanceof Error) throw runs;
      return runs;
    },
    async report(run: string) {
      calls.push(`report ${run}`);
      if (reports[run]) return reports[run];
      throw new ApiError(`No report for ${run}`, 400);
    },
  });
}

function runInfo(run: string): RunInfo {
  return { run, last_step: 10, families: ["gradients"], error_count: 0, warning_count: 0 };
}

async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise((resolve) => setTimeout(resolve, 0));
}

beforeEach(() => {
  document.body.replaceChildren();
});

describe("shell", () => {
  it("explains what to do when there are no runs", async () => {
    await renderShell(document.body, fakeApi([]));
    expect(document.body.textContent).toContain(NO_DATA_MESSAGE);
    expect(document.querySelector('[data-testid="run-toggle"]')).toBeNull();
  });

  it("shows the server's message when the run list fails", async () => {
    await renderShell(document.body, fakeApi(new ApiError("Log dir is unreadable.", 500)));
    expect(document.body.textContent).toContain("Log dir is unreadable.");
  });

  it("selects the first run, keeps findings working when a panel's request fails", async () => {
    const reports = {
      a: {
        run: "a",
        steps: 10,
        layers: [],
        gradients: {},
        overview: [],
        findings: [
          { id: "nan", severity: "error" as const, step: 1, layer: "d", title: "NaN", detail: "", remedy: "", diagnostic: "gradients", caused_by: null },
        ],
        warnings: [],
      },
    };
    const api = fakeApi([runInfo("a"), runInfo(HOSTILE)], reports);
    await renderShell(document.body, api);
    await settle();

    const toggles = [...document.querySelectorAll<HTMLInputElement>('[data-testid="run-toggle"]')];
    expect(toggles.map((toggle) => toggle.checked)).toEqual([true, false]);
    expect(toggles[1].getAttribute("data-run")).toBe(HOSTILE);
    expect(document.querySelectorAll('[data-testid="finding"]')).toHaveLength(1);
    const panel = document.querySelector('[data-panel="gradients"]') as HTMLElement;
    expect(panel.textContent).toContain("a: Gradients of a cannot be read.");

    toggles[1].checked = true;
    toggles[1].dispatchEvent(new Event("change"));
    await settle();
    expect(api.calls).toContain(`report ${HOSTILE}`);
    expect(document.body.textContent).toContain(`${HOSTILE}: No report for ${HOSTILE}`);
    expect(document.querySelectorAll('[data-testid="finding"]')).toHaveLength(1);
    expect(document.querySelector("img")).toBeNull();
  });
});
