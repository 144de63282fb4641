/**
 * The Environment panel: what each selected run was trained with, side by side, with the fields
 * that differ between runs highlighted ("works on my machine": versions, optimizer, batch size,
 * precision, seeds...).
 */

import type { EnvironmentData } from "../api";
import { createElement, createNote, errorMessage } from "../dom";
import type { Panel, PanelContext, RunSelection } from "./registry";

/** Registry entry of the Environment panel. */
export const environmentPanel: Panel = {
  id: "environment",
  title: "Environment",
  family: "environment",
  render: renderEnvironmentPanel,
};

/** Field names whose values differ between the given cards (fields missing from a card count as differing). */
export function differingFields(cards: readonly EnvironmentData[]): Set<string> {
  const values = new Map<string, Set<string>>();
  for (const card of cards) {
    for (const { field, value } of card.fields) {
      if (!values.has(field)) values.set(field, new Set());
      values.get(field)?.add(value);
    }
  }
  const differing = new Set<string>();
  for (const [field, seen] of values) {
    const everyCardHasIt = cards.every((card) => card.fields.some((entry) => entry.field === field));
    if (seen.size > 1 || !everyCardHasIt) differing.add(field);
  }
  return differing;
}

/** Every field of `cards`, in the order shown: the first card's order, then fields only later cards have. */
export function fieldOrder(cards: readonly EnvironmentData[]): string[] {
  const fields: string[] = [];
  for (const card of cards) for (const { field } of card.fields) if (!fields.includes(field)) fields.push(field);
  return fields;
}

/** A field whose values differ between cards: its value in each card, in card order (null where a card lacks it). */
export interface EnvironmentDifference {
  field: string;
  values: Array<string | null>;
}

/** How `cards` compare: how many fields were compared, and the ones that differ, in `fieldOrder`. */
export function environmentDifferences(cards: readonly EnvironmentData[]): { compared: number; differences: EnvironmentDifference[] } {
  const fields = fieldOrder(cards);
  const differing = differingFields(cards);
  return {
    compared: fields.length,
    differences: fields
      .filter((field) => differing.has(field))
      .map((field) => ({ field, values: cards.map((card) => card.fields.find((entry) => entry.field === field)?.value ?? null) })),
  };
}

async function renderEnvironmentPanel(container: HTMLElement, runs: RunSelection[], context: PanelContext): Promise<void> {
  const loading = createNote("Loading environments…");
  container.appendChild(loading);
  const results = await Promise.allSettled(runs.map((run) => context.api.environment(run.run, context.signal)));
  if (context.signal.aborted) return;
  loading.remove();
  const cards: EnvironmentData[] = [];
  results.forEach((result, i) => {
    if (result.status === "fulfilled") cards.push(result.value);
    else container.appendChild(createNote(`${runs[i].run}: ${errorMessage(result.reason)}`, "error"));
  });
  if (cards.length === 0) return;
  const differing = cards.length > 1 ? differingFields(cards) : new Set<string>();
  if (cards.length > 1) {
    container.appendChild(
      createNote(differing.size > 0 ? `${differing.size} field(s) differ between the selected runs (highlighted).` : "The selected runs were trained with the same environment."),
    );
  }
  const rows = fieldOrder(cards).map((field) =>
    createElement(
      "tr",
      { className: differing.has(field) ? "tbd-row-flagged" : "", attrs: differing.has(field) ? { "data-testid": "environment-mismatch", "data-field": field } : {} },
      [
        createElement("th", { text: field }),
        ...cards.map((card) => createElement("td", { className: "tbd-cell-value", text: card.fields.find((entry) => entry.field === field)?.value ?? "—" })),
      ],
    ),
  );
  container.appendChild(
    createElement("div", { className: "tbd-table-scroll" }, [
      createElement("table", { className: "tbd-table", attrs: { "data-testid": "environment-table" } }, [
        createElement("thead", {}, [createElement("tr", {}, [createElement("th", { text: "field" }), ...cards.map((card) => createElement("th", { text: card.run }))])]),
        createElement("tbody", {}, rows),
      ]),
    ]),
  );
}
