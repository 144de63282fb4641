/**
 * The payload contracts, read on the tab's side: every route's JSON body is checked against the
 * same JSON Schema the server's payloads are tested against (`tb_diag/plugin/schemas/`), then the
 * numbers TensorBoard sent as text are turned back into numbers. The types, the validators (Ajv,
 * compiled ahead of time) and the number locations are generated from those schemas by
 * `scripts/contracts.mjs` into `generated/`; nothing here names a payload's fields.
 */

import { ApiError } from "./decode";
import { CONTRACTS } from "./generated/payload_contracts";
import type { Payloads, Route } from "./generated/payload_types";
import type { PayloadValidator, ValidationError } from "./generated/payload_validators.js";

/**
 * Where a payload holds numbers that may have come as text: `"number"` is such a field;
 * `nullable` the same, or null; `properties`, `items`, `values` (an object used as a map) and
 * `prefixItems` lead to them. Branches without such a field are left out.
 */
export type RevivePlan =
  | "number"
  | { nullable: RevivePlan }
  | { properties: Record<string, RevivePlan> }
  | { items: RevivePlan }
  | { values: RevivePlan }
  | { prefixItems: Array<RevivePlan | null> };

/** One route's contract, as generated. */
export interface PayloadContract {
  validate: PayloadValidator;
  revive: RevivePlan | null;
}

const NON_FINITE: Record<string, number> = {
  NaN: Number.NaN,
  Infinity: Number.POSITIVE_INFINITY,
  "-Infinity": Number.NEGATIVE_INFINITY,
};

/**
 * `body` as `route`'s payload: checked against its schema (an `ApiError` saying where it is not),
 * with the non-finite floats TensorBoard spelled as strings turned back into numbers. Only fields
 * the schema defines as numbers are turned: a run or layer *named* "NaN" stays text.
 *
 * The numbers are turned in place (a long run's payload is large): `body` is used up, and a
 * second check of the same object fails, as NaN is not a JSON number. Hand each check a body of
 * its own (`DiagnosticsApi.fromRecorded` copies its recorded answers).
 */
export function checkedPayload<R extends Route>(route: R, body: unknown): Payloads[R] {
  const contract = CONTRACTS[route];
  if (!contract.validate(body)) {
    throw new ApiError(
      `Unexpected response from the ${route} route: ${describeErrors(contract.validate.errors)}. Reload the page, ` +
        "or install the same tb_diag version as the server.",
      0,
    );
  }
  return (contract.revive === null ? body : revive(body, contract.revive)) as Payloads[R];
}

function describeErrors(errors: ValidationError[] | null | undefined): string {
  const error = errors?.[0];
  if (error === undefined) return "it does not match its schema";
  const where = error.instancePath === "" ? "the body" : fieldPath(error.instancePath);
  const value = error.instancePath === "" || error.data === undefined ? "" : ` is ${preview(error.data)}, but`;
  const { additionalProperty, allowedValue, allowedValues } = error.params;
  const named = additionalProperty ?? allowedValue ?? allowedValues;
  const extra = named === undefined ? "" : ` (${preview(named)})`;
  return `${where}${value} ${error.message ?? "does not match its schema"}${extra}`;
}

/** `/calls/0/std/1` as `calls[0].std[1]`. */
function fieldPath(pointer: string): string {
  return pointer
    .slice(1)
    .split("/")
    .map((part) => part.replace(/~1/g, "/").replace(/~0/g, "~"))
    .map((part, i) => (/^\d+$/.test(part) ? `[${part}]` : i === 0 ? part : `.${part}`))
    .join("");
}

/** A short view of an unexpected value (untrusted text: shown as text only). */
function preview(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** `value` with the numbers `plan` points at turned into numbers (a validated body: every shape is known). */
function revive(value: unknown, plan: RevivePlan): unknown {
  if (plan === "number") return typeof value === "string" ? NON_FINITE[value] : value;
  if (value === null) return null;
  if ("nullable" in plan) return revive(value, plan.nullable);
  if ("items" in plan) {
    const items = value as unknown[];
    for (let i = 0; i < items.length; i++) items[i] = revive(items[i], plan.items);
    return items;
  }
  if ("prefixItems" in plan) {
    const items = value as unknown[];
    plan.prefixItems.forEach((itemPlan, i) => {
      if (itemPlan !== null && i < items.length) items[i] = revive(items[i], itemPlan);
    });
    return items;
  }
  const object = value as Record<string, unknown>;
  if ("values" in plan) {
    for (const key of Object.keys(object)) setIfChanged(object, key, revive(object[key], plan.values));
    return object;
  }
  for (const [key, fieldPlan] of Object.entries(plan.properties)) {
    if (Object.prototype.hasOwnProperty.call(object, key)) setIfChanged(object, key, revive(object[key], fieldPlan));
  }
  return object;
}

/** Writes only a field whose value changed (an object is revived in place), as an own property. */
function setIfChanged(object: Record<string, unknown>, key: string, value: unknown): void {
  if (object[key] !== value) Object.defineProperty(object, key, { value, writable: true, enumerable: true, configurable: true });
}
