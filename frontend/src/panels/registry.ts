/**
 * The panel registry: one entry per diagnostic. Adding a panel means writing
 * `panels/<name>.ts` and adding one line to `PANELS`; the Overview's comparison of several runs
 * asks each panel for its own section (`compare`), and names none.
 */

import type { DiagnosticsApi, RunInfo } from "../api";
import { activationsPanel } from "./activations/panel";
import { environmentPanel } from "./environment/panel";
import { gradientsPanel } from "./gradients/panel";
import { inputPanel } from "./input/panel";
import { memoryPanel } from "./memory/panel";
import { nonfinitePanel } from "./nonfinite/panel";

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
  /**
   * Optional: this diagnostic's section of the Overview's comparison of several runs, filled into
   * `element`. `runs` are all the compared runs (to name those without its data), `recorded` the
   * ones that recorded its families. A rejection is shown inside `element`.
   */
  compare?(element: HTMLElement, runs: readonly RunInfo[], recorded: readonly RunSelection[], context: PanelContext): Promise<void>;
}

/** Every panel, in the order they appear on the page: the NaN panel first, it is the most urgent. */
export const PANELS: readonly Panel[] = [nonfinitePanel, gradientsPanel, activationsPanel, inputPanel, memoryPanel, environmentPanel];

/** The runs of `selected` that recorded `panel.family` or one of its `alsoFamilies`, in order. */
export function runsForPanel(panel: Panel, selected: readonly RunInfo[]): RunSelection[] {
  const families = [panel.family, ...(panel.alsoFamilies ?? [])];
  return selected.filter((run) => families.some((family) => run.families.includes(family)));
}
