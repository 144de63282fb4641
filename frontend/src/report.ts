/**
 * Entry point of a report file (`tb-diag report logs --html report.html`): the same shell, Overview
 * and panels as the tab, drawn from the answers the file embeds (`<script type="application/json"
 * id="tb-diag-report-data">`) instead of TensorBoard's routes. Nothing is fetched.
 */

import { DiagnosticsApi, type RecordedAnswers } from "./api";
import { createElement, createNote } from "./dom";
import { renderShell } from "./shell";
import { installStyles } from "./styles";

/** The id of the element holding the recorded answers (JSON). */
export const REPORT_DATA_ID = "tb-diag-report-data";

/** Reads the embedded answers and draws the report into `document.body`. */
export async function renderReport(): Promise<void> {
  installStyles(document);
  const element = document.getElementById(REPORT_DATA_ID);
  let recorded: RecordedAnswers & { logdir?: unknown; written_at?: unknown };
  try {
    recorded = JSON.parse(element?.textContent ?? "") as RecordedAnswers & { logdir?: unknown; written_at?: unknown };
    if (typeof recorded !== "object" || recorded === null || typeof recorded.answers !== "object" || recorded.answers === null) {
      throw new Error("no answers");
    }
  } catch {
    document.body.replaceChildren(createNote("This report file has no readable data.", "error"));
    return;
  }
  await renderShell(document.body, DiagnosticsApi.fromRecorded(recorded));
  const source = typeof recorded.logdir === "string" ? recorded.logdir : "";
  const when = typeof recorded.written_at === "string" ? recorded.written_at : "";
  document.querySelector(".tbd-header")?.appendChild(
    createElement("span", {
      className: "tbd-subtitle",
      attrs: { "data-testid": "report-source" },
      text: `Report of ${source || "a log dir"}${when ? `, written ${when}` : ""}: a snapshot, without TensorBoard.`,
    }),
  );
}

void renderReport();
