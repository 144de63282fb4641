import { describe, expect, it } from "vitest";

import { PANELS } from "../src/panels/registry";

describe("panel registry", () => {
  it("has panels with unique ids, a title, a family and a render function", () => {
    expect(PANELS.length).toBeGreaterThan(0);
    expect(new Set(PANELS.map((panel) => panel.id)).size).toBe(PANELS.length);
    for (const panel of PANELS) {
      expect(panel.id).toMatch(/^[a-z_]+$/);
      expect(panel.title.length).toBeGreaterThan(0);
      expect(panel.family.length).toBeGreaterThan(0);
      expect(typeof panel.render).toBe("function");
    }
  });

  it("registers the Gradients panel for the gradients family", () => {
    expect(PANELS.find((panel) => panel.id === "gradients")).toMatchObject({ title: "Gradients", family: "gradients" });
  });
});
