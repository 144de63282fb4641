/** What every panel does first: fetch its payload for each selected run, saying which failed. */

import type { DiagnosticsApi } from "../api";
import { createNote, errorMessage } from "../dom";
import type { PanelContext, RunSelection } from "./registry";

/** A panel's fetch (its `data.ts`): one run's checked payload. */
export type RunFetch<T> = (api: DiagnosticsApi, run: string, signal?: AbortSignal) => Promise<T>;

/**
 * Shows `loadingText` while every run's payload is fetched at once, then, in selection order, an
 * error note naming each run that failed and `onLoaded` for each that did not. A panel for which a
 * failure can be an answer (a run without this record) handles it in `onRejected`, which returns
 * `true` when it did (no error note then). Returns the loaded payloads in order, or `null` when the
 * selection changed meanwhile (nothing was added then).
 */
export async function loadEachRun<T>(
  container: HTMLElement,
  runs: RunSelection[],
  context: PanelContext,
  loadingText: string,
  fetch: RunFetch<T>,
  onLoaded: (data: T) => void = () => undefined,
  onRejected: (run: RunSelection, reason: unknown) => boolean = () => false,
): Promise<T[] | null> {
  const loading = createNote(loadingText);
  container.appendChild(loading);
  const results = await Promise.allSettled(runs.map((run) => fetch(context.api, run.run, context.signal)));
  if (context.signal.aborted) return null;
  loading.remove();
  const loaded: T[] = [];
  results.forEach((result, i) => {
    if (result.status === "rejected") {
      if (onRejected(runs[i], result.reason)) return;
      container.appendChild(createNote(`${runs[i].run}: ${errorMessage(result.reason)}`, "error"));
      return;
    }
    onLoaded(result.value);
    loaded.push(result.value);
  });
  return loaded;
}
