import { describe, expect, it } from "vitest";

import { decodeEnvironment } from "../src/panels/environment/data";
import { differingFields, environmentDifferences, fieldOrder } from "../src/panels/environment/panel";

const card = (run: string, optimizer: string, extra: Array<{ field: string; value: string }> = []) =>
  decodeEnvironment({ run, fields: [{ field: "keras", value: '"3.15.1"' }, { field: "optimizer", value: optimizer }, ...extra], model_layers: [], not_reproducible: null, reproducibility_remedy: "", warnings: [] });

describe("environment comparison", () => {
  it("flags only the fields whose values differ", () => {
    expect([...differingFields([card("a", "Adam"), card("b", "SGD")])]).toEqual(["optimizer"]);
    expect(differingFields([card("a", "Adam"), card("b", "Adam")]).size).toBe(0);
  });

  it("counts a field one card lacks as differing", () => {
    expect([...differingFields([card("a", "Adam", [{ field: "seed", value: "1" }]), card("b", "Adam")])]).toEqual(["seed"]);
  });

  it("lists the differing fields in field order with each card's value (null where a card lacks it)", () => {
    const a = card("a", "Adam", [{ field: "seed", value: "1" }]);
    const b = card("b", "SGD", [{ field: "jit_compile", value: "true" }]);
    expect(fieldOrder([a, b])).toEqual(["keras", "optimizer", "seed", "jit_compile"]);
    expect(environmentDifferences([a, b])).toEqual({
      compared: 4,
      differences: [
        { field: "optimizer", values: ["Adam", "SGD"] },
        { field: "seed", values: ["1", null] },
        { field: "jit_compile", values: [null, "true"] },
      ],
    });
    expect(environmentDifferences([card("a", "Adam"), card("b", "Adam")])).toEqual({ compared: 2, differences: [] });
  });

  it("keeps values from the log as text", () => {
    expect(card("<b>x</b>", "<img src=x onerror=alert(1)>").fields[1].value).toBe("<img src=x onerror=alert(1)>");
  });
});
