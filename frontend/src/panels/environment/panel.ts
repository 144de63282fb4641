/**
 * The Environment panel: what each selected run was trained with, side by side, with the fields
 * that differ between runs highlighted ("works on my machine": versions, optimizer, batch size,
 * precision, seeds...).
 */

import { ApiError } from "../../decode";
import { type EnvironmentData, fetchEnvironment } from "./data";
import type { RunInfo } from "../../api";
import { createElement, createNote } from "../../dom";
import { openPanel } from "../../focus";
import { loadEachRun } from "../load_runs";
import type { Panel, PanelContext, RunSelection } from "../registry";

/** Registry entry of the Environment panel. */
export const environmentPanel: Panel = {
  id: "environment",
  title: "Environment",
  family: "environment",
  render: renderEnvironmentPanel,
  compare: compareEnvironments,
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
  const cards = await loadEachRun(container, runs, context, "Loading environments…", fetchEnvironment);
  if (cards === null || cards.length === 0) return;
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

/**
 * The environment fields whose values differ between the runs that have an environment card, one
 * row per field with its value in each such run; runs without a card are named.
 */
async function compareEnvironments(
  element: HTMLElement,
  runs: readonly RunInfo[],
  withCard: readonly RunSelection[],
  context: PanelContext,
): Promise<void> {
  element.appendChild(createElement("h3", { className: "tbd-overview-heading", text: "Environment differences" }));
  const withoutCard: string[] = runs.filter((run) => !withCard.includes(run)).map((run) => run.run);
  const isAbsent = (run: RunSelection, reason: unknown): boolean => {
    if (!(reason instanceof ApiError && reason.status === 404)) return false;
    withoutCard.push(run.run);
    return true;
  };
  const cards = await loadEachRun(element, [...withCard], context, "Loading environments…", fetchEnvironment, undefined, isAbsent);
  if (cards === null) return;
  // In selection order, whichever way each run turned out to have no card.
  const missing = runs.filter((run) => withoutCard.includes(run.run));
  for (const run of missing) {
    element.appendChild(
      createElement("p", {
        className: "tbd-note tbd-note-note",
        text: `${run.run}: no environment card`,
        attrs: { "data-testid": "comparison-env-missing", "data-run": run.run },
      }),
    );
  }
  if (cards.length < 2) {
    element.appendChild(createNote(cards.length === 0 ? "No run has an environment card to compare." : "Only one run has an environment card: nothing to compare it with."));
    return;
  }

  const notReproducible = cards
    .map((card) => ({ run: card.run, why: card.not_reproducible, remedy: card.reproducibility_remedy }))
    .filter((entry): entry is { run: string; why: string; remedy: string } => entry.why !== null);
  if (notReproducible.length > 0) {
    element.appendChild(
      createElement("p", {
        className: "tbd-note tbd-note-warning",
        attrs: { "data-testid": "comparison-not-reproducible" },
        text:
          `${notReproducible.length} of the ${cards.length} runs cannot be reproduced exactly (` +
          notReproducible.map(({ run, why }) => `${run}: ${why}`).join("; ") +
          "): part of any difference between them can be chance. " +
          notReproducible[0].remedy,
      }),
    );
  }

  const { compared, differences } = environmentDifferences(cards);
  const link = createElement("button", {
    className: "tbd-link",
    text: "open Environment panel",
    attrs: { type: "button", "data-testid": "comparison-env-link", "data-target-panel": environmentPanel.id },
  });
  link.addEventListener("click", () => openPanel({ panel: environmentPanel.id, run: cards[0].run, layer: null, step: null }));
  if (differences.length === 0) {
    const among = missing.length > 0 ? "every run that has a card" : "every run";
    element.appendChild(
      createElement("p", { className: "tbd-note tbd-note-note", attrs: { "data-testid": "comparison-env-same" } }, [
        document.createTextNode(`Same environment in ${among} (${compared} field${compared === 1 ? "" : "s"} compared). `),
        link,
      ]),
    );
    return;
  }
  element.appendChild(
    createElement("p", { className: "tbd-note tbd-note-note" }, [
      document.createTextNode(
        `${differences.length} of ${compared} environment field(s) differ between the runs${
          differences.some(({ values }) => values.includes(null)) ? "; — means the run's card lacks the field" : ""
        }. `,
      ),
      link,
    ]),
  );
  const rows = differences.map(({ field, values }) =>
    createElement("tr", { className: "tbd-row-flagged", attrs: { "data-testid": "comparison-env-row", "data-field": field } }, [
      createElement("th", { text: field }),
      ...values.map((value, column) =>
        createElement("td", {
          className: value === null ? "tbd-cell-value tbd-comparison-absent" : "tbd-cell-value",
          text: value ?? "—",
          attrs: { "data-testid": "comparison-env-cell", "data-run": cards[column].run },
        }),
      ),
    ]),
  );
  element.appendChild(
    createElement("div", { className: "tbd-table-scroll" }, [
      createElement("table", { className: "tbd-table tbd-comparison-table", attrs: { "data-testid": "comparison-env-table" } }, [
        createElement("thead", {}, [
          createElement("tr", {}, [
            createElement("th", { text: "field" }),
            ...cards.map((card) => createElement("th", { className: "tbd-comparison-run", text: card.run, attrs: { title: card.run } })),
          ]),
        ]),
        createElement("tbody", {}, rows),
      ]),
    ]),
  );
}
