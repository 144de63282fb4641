/**
 * Chart tooltips built as DOM with textContent. ECharts would otherwise put formatter strings into
 * the page as HTML, and series names here are run and layer names from the log dir.
 */

import { createElement } from "../dom";

/** A tooltip: a title line, then `label: value` rows. */
export function createTooltip(title: string, rows: Array<[string, string]>): HTMLElement {
  return createElement("div", { className: "tbd-tooltip" }, [
    createElement("div", { className: "tbd-tooltip-title", text: title }),
    ...rows.map(([label, value]) =>
      createElement("div", { className: "tbd-tooltip-row" }, [
        createElement("span", { className: "tbd-tooltip-label", text: label }),
        createElement("span", { className: "tbd-tooltip-value", text: value }),
      ]),
    ),
  ]);
}
