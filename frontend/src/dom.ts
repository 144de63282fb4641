/**
 * The one way this frontend builds DOM. Text goes in through `textContent` and attributes through
 * `setAttribute`, never through HTML parsing: run, layer and finding strings come from a shared log
 * dir and must show up literally (`<img src=x onerror=...>` stays text).
 */

/** What `createElement` may set on a new element. */
export interface ElementSpec {
  className?: string;
  text?: string;
  attrs?: Record<string, string>;
}

/** Creates `<tag>` with the given class, text and attributes, and appends `children` to it. */
export function createElement<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  spec: ElementSpec = {},
  children: Node[] = [],
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  if (spec.className) element.className = spec.className;
  if (spec.text !== undefined) element.textContent = spec.text;
  for (const [name, value] of Object.entries(spec.attrs ?? {})) element.setAttribute(name, value);
  for (const child of children) element.appendChild(child);
  return element;
}

/** A short explanatory or warning note, rendered as plain text. */
export function createNote(text: string, kind: "note" | "warning" | "error" = "note"): HTMLElement {
  return createElement("p", { className: `tbd-note tbd-note-${kind}`, text });
}

/** The message of anything thrown, for showing to a person. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
