/** One finding as the Overview lists it: what went wrong, where, what to change, and a link to its panel. */

import type { Finding, Severity } from "./api";
import { createElement } from "./dom";

/** Severities worst first, as sort keys. */
export const SEVERITY_RANK: Readonly<Record<Severity, number>> = { error: 0, warning: 1, info: 2 };

/** `findings` worst first; within a severity in the given order (the server's, which is by step). */
export function worstFirst<T extends Pick<Finding, "severity">>(findings: readonly T[]): T[] {
  return [...findings].sort((a, b) => SEVERITY_RANK[a.severity] - SEVERITY_RANK[b.severity]);
}

/**
 * "2 errors, 1 warning" — or "No findings". Root causes are counted; findings that follow from
 * another (`caused_by`) are added as "(+N consequences)".
 */
export function summarizeFindings(findings: readonly Pick<Finding, "severity" | "caused_by">[]): string {
  const roots = findings.filter((finding) => finding.caused_by == null);
  const parts: string[] = [];
  for (const severity of ["error", "warning", "info"] as const) {
    const count = roots.filter((finding) => finding.severity === severity).length;
    if (count > 0) parts.push(`${count} ${severity}${count === 1 ? "" : "s"}`);
  }
  const consequences = findings.length - roots.length;
  if (parts.length === 0) return "No findings";
  return consequences > 0 ? `${parts.join(", ")} (+${consequences} consequence${consequences === 1 ? "" : "s"})` : parts.join(", ");
}

/** A root cause and the findings that follow from it. */
export interface FindingGroup<T> {
  cause: T;
  consequences: T[];
}

/**
 * Root causes worst first, each with its consequences in the server's order (by step). A
 * consequence whose cause is not in the list is shown as a root, so nothing is ever hidden.
 */
export function groupByCause<T extends Pick<Finding, "id" | "severity" | "caused_by">>(findings: readonly T[]): FindingGroup<T>[] {
  const rootIds = new Set(findings.filter((finding) => finding.caused_by == null).map((finding) => finding.id));
  const isRoot = (finding: T): boolean => finding.caused_by == null || !rootIds.has(finding.caused_by);
  return worstFirst(findings.filter(isRoot)).map((cause) => ({
    cause,
    consequences: cause.caused_by == null ? findings.filter((finding) => !isRoot(finding) && finding.caused_by === cause.id) : [],
  }));
}

/** Where a finding points: "gradients · layer 'dense_1' · step 26", starting with the diagnostic's label if known. */
export function findingWhere(finding: Pick<Finding, "layer" | "step">, label: string | null): string {
  const where = label === null ? [] : [label];
  if (finding.layer !== null) where.push(`layer '${finding.layer}'`);
  if (finding.step !== null) where.push(`step ${finding.step}`);
  return where.join(" · ");
}

/**
 * One list item: severity badge, title, where it points, detail and "What to change". With
 * `onOpen`, the "where" is a link that opens the finding's panel; without, it is plain text.
 * A consequence (`caused_by`) says so and leaves the remedy to its cause.
 */
export function renderFinding(finding: Finding, run: string, label: string | null, onOpen: (() => void) | null): HTMLElement {
  const attrs: Record<string, string> = {
    "data-testid": "finding",
    "data-overview-finding": "true",
    "data-finding-id": finding.id,
    "data-severity": finding.severity,
    "data-run": run,
  };
  if (finding.diagnostic !== null) attrs["data-diagnostic"] = finding.diagnostic;
  if (finding.caused_by !== null) attrs["data-caused-by"] = finding.caused_by;
  const where = findingWhere(finding, label);
  let whereElement: HTMLElement | null = null;
  if (onOpen === null) {
    if (where !== "") whereElement = createElement("div", { className: "tbd-finding-where", text: where });
  } else {
    const linkAttrs: Record<string, string> = { type: "button", "data-testid": "overview-finding-link", title: `Open the panel: ${where}` };
    if (finding.diagnostic !== null) linkAttrs["data-target-panel"] = finding.diagnostic;
    if (finding.layer !== null) linkAttrs["data-layer"] = finding.layer;
    if (finding.step !== null) linkAttrs["data-step"] = String(finding.step);
    const link = createElement("button", { className: "tbd-link", text: where || "open panel", attrs: linkAttrs });
    link.addEventListener("click", onOpen);
    whereElement = createElement("div", { className: "tbd-finding-where" }, [link]);
  }
  const item = createElement("li", { className: `tbd-finding tbd-severity-${finding.severity}`, attrs }, [
    createElement("div", { className: "tbd-finding-head" }, [
      createElement("span", { className: "tbd-badge", text: finding.severity }),
      ...(finding.caused_by === null ? [] : [createElement("span", { className: "tbd-badge tbd-badge-consequence", text: "consequence" })]),
      createElement("span", { className: "tbd-finding-title", text: finding.title }),
    ]),
  ]);
  if (whereElement !== null) item.appendChild(whereElement);
  if (finding.detail) item.appendChild(createElement("p", { className: "tbd-finding-detail", text: finding.detail }));
  if (finding.remedy && finding.caused_by === null) {
    item.appendChild(
      createElement("p", { className: "tbd-finding-remedy" }, [
        createElement("strong", { text: "What to change: " }),
        document.createTextNode(finding.remedy),
      ]),
    );
  }
  return item;
}

/** A root cause's item with its consequences listed inside it, under "Follows from this". */
export function renderFindingGroup(
  group: FindingGroup<Finding>,
  run: string,
  label: (finding: Finding) => string | null,
  onOpen: (finding: Finding) => (() => void) | null,
): HTMLElement {
  const item = renderFinding(group.cause, run, label(group.cause), onOpen(group.cause));
  if (group.consequences.length > 0) {
    item.appendChild(createElement("div", { className: "tbd-consequences-title", text: `Follows from this (${group.consequences.length}):` }));
    item.appendChild(
      createElement(
        "ul",
        { className: "tbd-findings tbd-consequences", attrs: { "data-testid": "consequences" } },
        group.consequences.map((finding) => renderFinding(finding, run, label(finding), onOpen(finding))),
      ),
    );
  }
  return item;
}
