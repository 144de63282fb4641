/**
 * Opening a panel from the Overview: scroll to the panel's section and ask it to show one layer or
 * step. The request travels as a `tbd-focus` CustomEvent on the document, so the Overview needs no
 * handle on the panels; a panel that can focus listens for its own id, the others are only scrolled to.
 */

/** Name of the DOM event that carries a `FocusRequest`. */
export const FOCUS_EVENT = "tbd-focus";

/** What a finding link asks its panel to show. */
export interface FocusRequest {
  /** The panel's id (its section's `data-panel`). */
  panel: string;
  run: string;
  layer: string | null;
  step: number | null;
}

/** Dispatches `request` on `doc` for the panel it names. */
export function requestFocus(request: FocusRequest, doc: Document = document): void {
  doc.dispatchEvent(new CustomEvent<FocusRequest>(FOCUS_EVENT, { detail: request }));
}

/** Calls `handler` with every focus request for `panel` until `signal` aborts (the panel is gone). */
export function onFocusRequest(
  panel: string,
  signal: AbortSignal,
  handler: (request: FocusRequest) => void,
  doc: Document = document,
): void {
  const listener = (event: Event): void => {
    const request = (event as CustomEvent<FocusRequest>).detail;
    if (request?.panel === panel) handler(request);
  };
  doc.addEventListener(FOCUS_EVENT, listener);
  signal.addEventListener("abort", () => doc.removeEventListener(FOCUS_EVENT, listener), { once: true });
}

/** The section of `panel` on the page, if it is shown. Compares attributes: ids never become selectors. */
export function findPanelSection(panel: string, doc: Document = document): HTMLElement | null {
  return [...doc.querySelectorAll<HTMLElement>("section[data-panel]")].find((section) => section.dataset.panel === panel) ?? null;
}

/**
 * Scrolls to the request's panel and, when it names a layer or step, asks the panel to show it.
 * Returns false when the panel is not on the page.
 */
export function openPanel(request: FocusRequest, doc: Document = document): boolean {
  const section = findPanelSection(request.panel, doc);
  if (section === null) return false;
  section.scrollIntoView({ behavior: "smooth", block: "start" });
  if (request.layer !== null || request.step !== null) requestFocus(request, doc);
  return true;
}
