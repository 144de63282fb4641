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

/** A selected run that recorded the panel's family (as listed by `GET runs`). */
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
  /** The `families` entry of `GET runs` this panel shows; runs without it are not passed. */
  family: string;
  /** Fills `container` for `runs` (never empty). Errors are shown inside `container`. */
  render(container: HTMLElement, runs: RunSelection[], context: PanelContext): void | Promise<void>;
}

/** Every panel, in the order they appear on the page. */
export const PANELS: readonly Panel[] = [gradientsPanel, activationsPanel, inputPanel, memoryPanel, environmentPanel];
