// @vitest-environment happy-dom
import { describe, expect, it } from "vitest";

import { ApiError } from "../src/decode";
import { loadEachRun } from "../src/panels/load_runs";
import type { PanelContext, RunSelection } from "../src/panels/registry";
import { fakeRoutesApi } from "./fake_api";

const runs = ["a", "<b>broken</b>", "c"].map((run) => ({ run, last_step: 1, families: ["x"], error_count: 0, warning_count: 0 })) as RunSelection[];

function context(signal = new AbortController().signal): PanelContext {
  return { api: fakeRoutesApi({}), signal };
}

const fetchRun = async (_api: unknown, run: string): Promise<string> => {
  if (run === "<b>broken</b>") throw new ApiError("bad body", 0);
  return `data of ${run}`;
};

describe("loadEachRun", () => {
  it("hands each loaded run to the panel and names each failed one, in selection order", async () => {
    const container = document.createElement("div");
    const seen: string[] = [];
    const loaded = await loadEachRun(container, runs, context(), "Loading…", fetchRun, (data) => {
      seen.push(data);
      container.appendChild(document.createElement("span")).textContent = data;
    });
    expect(loaded).toEqual(["data of a", "data of c"]);
    expect(seen).toEqual(loaded);
    expect([...container.childNodes].map((node) => node.textContent)).toEqual(["data of a", "<b>broken</b>: bad body", "data of c"]);
    expect(container.querySelector("b")).toBeNull(); // a run's name is text
  });

  it("leaves out the error note of a failure the panel handles (a run without this record)", async () => {
    const container = document.createElement("div");
    const handled: string[] = [];
    const loaded = await loadEachRun(container, runs, context(), "Loading…", fetchRun, undefined, (run, reason) => {
      handled.push(`${run.run}: ${(reason as ApiError).message}`);
      return true;
    });
    expect(loaded).toEqual(["data of a", "data of c"]);
    expect(handled).toEqual(["<b>broken</b>: bad body"]);
    expect(container.childNodes).toHaveLength(0);
  });

  it("adds nothing and returns null when the selection changed while fetching", async () => {
    const container = document.createElement("div");
    const controller = new AbortController();
    const pending = loadEachRun(container, runs, context(controller.signal), "Loading…", fetchRun);
    expect(container.textContent).toBe("Loading…");
    controller.abort();
    expect(await pending).toBeNull();
  });
});
