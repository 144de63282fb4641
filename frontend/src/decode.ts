/**
 * Checking the server's JSON field by field: the primitives every payload's decoder is written with.
 *
 * Responses are decoded field by field rather than by a blanket pass over the JSON: TensorBoard
 * encodes non-finite floats as the strings "NaN", "Infinity" and "-Infinity", but a run or layer
 * may just as well be *named* "NaN", so only fields that hold numbers are turned back into numbers.
 */



/** A recorded value; `null` where the server had nothing for that layer at that step. */
export type MaybeNumber = number | null;

/** A failed request; `message` is the server's own `error` text when it sent one. */
export class ApiError extends Error {
  readonly status: number;

  constructor(message: string, status: number) {
    super(message);
    this.name = "ApiError";
    this.status = status;
  }
}

const NON_FINITE: Record<string, number> = {
  NaN: Number.NaN,
  Infinity: Number.POSITIVE_INFINITY,
  "-Infinity": Number.NEGATIVE_INFINITY,
};

/** Turns a JSON number, or TensorBoard's string spelling of a non-finite float, into a number. */
export function decodeNumber(value: unknown, field: string): number {
  if (typeof value === "number") return value;
  if (typeof value === "string" && value in NON_FINITE) return NON_FINITE[value];
  throw new ApiError(`Unexpected response: ${field} is not a number (${JSON.stringify(value)}).`, 0);
}

/** Like `decodeNumber`, but keeps `null` (a missing value) as `null`. */
export function decodeMaybeNumber(value: unknown, field: string): MaybeNumber {
  return value === null ? null : decodeNumber(value, field);
}

export function decodeSeries(value: unknown, field: string): MaybeNumber[] {
  return asArray(value, field).map((item, j) => decodeMaybeNumber(item, `${field}[${j}]`));
}

export function decodeMatrix(value: unknown, field: string): MaybeNumber[][] {
  return asArray(value, field).map((row, i) => decodeSeries(row, `${field}[${i}]`));
}

export function asObject(value: unknown, field: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ApiError(`Unexpected response: ${field} is not an object.`, 0);
  }
  return value as Record<string, unknown>;
}

export function asArray(value: unknown, field: string): unknown[] {
  if (!Array.isArray(value)) throw new ApiError(`Unexpected response: ${field} is not a list.`, 0);
  return value;
}

export function asString(value: unknown, field: string): string {
  if (typeof value !== "string") throw new ApiError(`Unexpected response: ${field} is not text.`, 0);
  return value;
}

export function asStrings(value: unknown, field: string): string[] {
  return asArray(value, field).map((item, i) => asString(item, `${field}[${i}]`));
}

/** The run's reading warnings: every payload carries the list (empty when there are none). */
export function asWarnings(value: unknown, field: string): string[] {
  return asStrings(value, field);
}

export function asBooleans(value: unknown, field: string): boolean[] {
  return asArray(value, field).map((item, i) => {
    if (typeof item !== "boolean") throw new ApiError(`Unexpected response: ${field}[${i}] is not true/false.`, 0);
    return item;
  });
}

/** A count or size that may be missing: `null` for JSON null or an absent field, else a number. */
export const maybeInt = (value: unknown, field: string): number | null => (value == null ? null : decodeNumber(value, field));
