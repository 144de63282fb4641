/**
 * The panel registry: one entry per diagnostic. Adding a panel means writing
 * `panels/<name>.ts` and adding one line to `PANELS`.
 */

import type { DiagnosticsApi, RunInfo } from "../api";
import { activationsPanel } from "./activations";
import { environmentPanel } from "./environment";
import { gradientsPanel } from "./gradients";
import { inputPanel } from "./input";
import { memoryPanel } from "./memory";
import { nonfinitePanel } from "./nonfinite";

/** A selected run that recorded one of the panel's families (as listed by `GET runs`). */
export type RunSelection = RunInfo;

/** What a panel gets besides its runs: the routes, and a signal that ends its life. */
export interface PanelContext {
  api: DiagnosticsApi;
  /** Aborted when the selection changes; the panel stops fetching and disposes its charts. */
  signal: AbortSignal;
}

/** One diagnostic's view. */
export interface Panel {
  /** Stable id, also the panel section's `data-panel` attribute. */
  id: string;
  /** Heading shown above the panel. */
  title: string;
  /** The `families` entry of `GET runs` this panel shows; runs without it (or an `alsoFamilies` entry) are not passed. */
  family: string;
  /** Other families whose runs get the panel too (e.g. a loss scale without any NaN for the NaN panel). */
  alsoFamilies?: readonly string[];
  /** Fills `container` for `runs` (never empty). Errors are shown inside `container`. */
  render(container: HTMLElement, runs: RunSelection[], context: PanelContext): void | Promise<void>;
}

/** Every panel, in the order they appear on the page: the NaN panel first, it is the most urgent. */
export const PANELS: readonly Panel[] = [nonfinitePanel, gradientsPanel, activationsPanel, inputPanel, memoryPanel, environmentPanel];

/** The runs of `selected` that recorded `panel.family` or one of its `alsoFamilies`, in order. */
export function runsForPanel(panel: Panel, selected: readonly RunInfo[]): RunSelection[] {
  const families = [panel.family, ...(panel.alsoFamilies ?? [])];
  return selected.filter((run) => families.some((family) => run.families.includes(family)));
}
