/**
 * The tab's stylesheet. It lives in the bundle (TensorBoard serves one ES module) and is added as
 * a <style> element built with textContent; TensorBoard's CSP allows inline styles.
 */

const STYLESHEET = `
:root {
  --tbd-text: #212121; --tbd-muted: #616161; --tbd-border: #e0e0e0; --tbd-background: #f5f5f5;
  --tbd-card: #ffffff; --tbd-accent: #f57c00;
  --tbd-error: #d32f2f; --tbd-error-bg: #fdecea; --tbd-warning: #b26a00; --tbd-warning-bg: #fff4e5;
  --tbd-info: #1976d2; --tbd-info-bg: #e8f1fb; --tbd-ok: #2e7d32;
}
html, body { margin: 0; padding: 0; }
body {
  font-family: Roboto, "Helvetica Neue", Arial, sans-serif; font-size: 13px; line-height: 1.45;
  color: var(--tbd-text); background: var(--tbd-background);
}
.tbd-header {
  display: flex; align-items: baseline; gap: 12px; padding: 10px 16px;
  background: var(--tbd-card); border-bottom: 1px solid var(--tbd-border);
}
.tbd-header h1 { margin: 0; font-size: 16px; font-weight: 500; }
.tbd-subtitle { color: var(--tbd-muted); }
.tbd-body { display: flex; align-items: flex-start; }
.tbd-runs {
  flex: 0 0 240px; box-sizing: border-box; max-width: 240px; padding: 12px 12px 16px 16px;
  position: sticky; top: 0; max-height: 100vh; overflow: auto;
}
.tbd-runs-title, .tbd-section-title { margin: 0 0 8px; font-size: 14px; font-weight: 500; }
.tbd-run-list { list-style: none; margin: 0; padding: 0; }
.tbd-run { display: flex; align-items: center; gap: 6px; padding: 3px 0; cursor: pointer; }
.tbd-run input { margin: 0; accent-color: var(--tbd-accent); }
.tbd-run-name { flex: 1; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.tbd-run-counts { display: flex; gap: 4px; font-size: 11px; }
.tbd-count-error { color: var(--tbd-error); }
.tbd-count-warning { color: var(--tbd-warning); }
.tbd-main { flex: 1; min-width: 0; padding: 12px 16px 24px; }
.tbd-runs + .tbd-main { padding-left: 4px; }
.tbd-overview, .tbd-panel {
  background: var(--tbd-card); border: 1px solid var(--tbd-border); border-radius: 4px;
  padding: 12px 16px; margin-bottom: 12px;
}
.tbd-section-summary { margin-left: 10px; font-weight: 400; color: var(--tbd-muted); font-size: 13px; }
.tbd-findings { list-style: none; margin: 0; padding: 0; }
.tbd-consequences { margin: 6px 0 0 12px; padding-left: 10px; border-left: 2px solid var(--tbd-border, #ddd); }
.tbd-consequences-title { margin-top: 8px; font-size: 12px; opacity: 0.8; }
.tbd-badge-consequence { background: transparent; border: 1px solid currentColor; }
.tbd-finding { border-left: 3px solid var(--tbd-info); padding: 6px 10px; margin: 6px 0; background: var(--tbd-info-bg); }
.tbd-finding.tbd-severity-error { border-color: var(--tbd-error); background: var(--tbd-error-bg); }
.tbd-finding.tbd-severity-warning { border-color: var(--tbd-warning); background: var(--tbd-warning-bg); }
.tbd-finding-head { display: flex; align-items: baseline; gap: 8px; }
.tbd-badge {
  font-size: 11px; font-weight: 500; text-transform: uppercase; letter-spacing: 0.03em;
  padding: 1px 6px; border-radius: 3px; color: #fff; background: var(--tbd-info);
}
.tbd-severity-error .tbd-badge { background: var(--tbd-error); }
.tbd-severity-warning .tbd-badge { background: var(--tbd-warning); }
.tbd-severity-ok .tbd-badge { background: var(--tbd-ok); }
.tbd-link {
  font: inherit; color: var(--tbd-info); background: none; border: 0; padding: 0; cursor: pointer;
  text-decoration: underline; text-align: left; overflow-wrap: anywhere;
}
.tbd-overview-heading { font-size: 13px; font-weight: 500; margin: 12px 0 4px; }
.tbd-overview-runs { display: grid; grid-template-columns: repeat(auto-fit, minmax(360px, 1fr)); gap: 12px; margin-top: 8px; }
.tbd-overview-run { min-width: 0; border: 1px solid var(--tbd-border); border-radius: 4px; padding: 8px 12px; }
.tbd-overview-run-head { display: flex; align-items: baseline; gap: 8px; }
.tbd-overview-run-name { margin: 0; font-size: 14px; font-weight: 500; overflow-wrap: anywhere; }
.tbd-overview-run-steps { color: var(--tbd-muted); white-space: nowrap; }
.tbd-health { list-style: none; margin: 6px 0 0; padding: 0; }
.tbd-health-line { display: flex; align-items: baseline; gap: 8px; padding: 2px 0; }
.tbd-health .tbd-badge { flex: 0 0 64px; box-sizing: border-box; text-align: center; }
.tbd-health-label { flex: 0 0 auto; font-weight: 500; }
.tbd-health-text { flex: 1; min-width: 0; overflow-wrap: anywhere; }
.tbd-health-line .tbd-link { flex: 0 0 auto; font-size: 12px; }
.tbd-comparison { margin-top: 4px; }
.tbd-table th.tbd-comparison-finding { color: var(--tbd-text); font-weight: 400; max-width: 360px; overflow-wrap: anywhere; }
.tbd-comparison-id { display: block; color: var(--tbd-muted); font-size: 11px; }
.tbd-comparison-run { max-width: 200px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.tbd-comparison-absent { color: var(--tbd-muted); }
.tbd-finding-title { font-weight: 500; font-size: 14px; overflow-wrap: anywhere; }
.tbd-finding-where { color: var(--tbd-muted); font-size: 12px; margin-top: 2px; overflow-wrap: anywhere; }
.tbd-finding-detail, .tbd-finding-remedy { margin: 4px 0 0; overflow-wrap: anywhere; white-space: pre-wrap; }
.tbd-finding-remedy strong { font-weight: 500; }
.tbd-panel h3 { font-size: 13px; font-weight: 500; margin: 16px 0 4px; }
.tbd-note { margin: 4px 0; color: var(--tbd-muted); overflow-wrap: anywhere; }
.tbd-note-warning { color: var(--tbd-warning); }
.tbd-note-error { color: var(--tbd-error); }
.tbd-legend { display: flex; flex-wrap: wrap; align-items: center; gap: 4px 12px; }
.tbd-legend-item { display: inline-flex; align-items: center; gap: 4px; }
.tbd-swatch { display: inline-block; width: 12px; height: 12px; border: 1px solid rgba(0, 0, 0, 0.2); }
.tbd-chart-block { margin-top: 8px; }
.tbd-chart-title { font-weight: 500; overflow-wrap: anywhere; }
.tbd-chart { width: 100%; min-width: 0; }
.tbd-chart-line { height: 300px; }
.tbd-chart-short { height: 200px; }
.tbd-verdict { margin: 4px 0; font-weight: 500; font-size: 14px; }
.tbd-verdict-highly { color: var(--tbd-error); }
.tbd-verdict-moderately { color: var(--tbd-warning); }
.tbd-verdict-not { color: #2e7d32; }
.tbd-table { border-collapse: collapse; margin-top: 12px; font-variant-numeric: tabular-nums; }
.tbd-table th, .tbd-table td { border-bottom: 1px solid var(--tbd-border); padding: 3px 12px 3px 0; text-align: left; }
.tbd-table th { font-weight: 500; color: var(--tbd-muted); }
.tbd-table-scroll { max-height: 360px; overflow: auto; }
.tbd-table-select tbody tr { cursor: pointer; }
.tbd-table-select tbody tr:hover { background: var(--tbd-background); }
.tbd-table-select tbody tr[aria-selected="true"] { box-shadow: inset 3px 0 0 var(--tbd-accent); }
.tbd-row-flagged { background: var(--tbd-warning-bg); }
.tbd-cell-value { max-width: 420px; overflow-wrap: anywhere; font-family: monospace; font-size: 12px; }
.tbd-cell-name { max-width: 320px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.tbd-layer-chart { display: flex; gap: 12px; align-items: stretch; }
.tbd-layer-chart .tbd-chart { flex: 1; }
.tbd-layer-picker { flex: 0 0 220px; display: flex; flex-direction: column; max-height: 300px; }
.tbd-layer-picker-title { color: var(--tbd-muted); font-size: 12px; margin-bottom: 4px; }
.tbd-layer-filter {
  font: inherit; padding: 3px 6px; margin-bottom: 4px; border: 1px solid var(--tbd-border); border-radius: 3px;
}
.tbd-layer-list { list-style: none; margin: 0; padding: 0; overflow: auto; flex: 1; }
.tbd-layer-toggle {
  display: block; width: 100%; text-align: left; font: inherit; color: var(--tbd-muted); background: none;
  border: 0; border-left: 3px solid transparent; padding: 2px 6px; cursor: pointer;
  overflow: hidden; text-overflow: ellipsis; white-space: nowrap;
}
.tbd-layer-toggle:hover { background: var(--tbd-background); }
.tbd-layer-toggle[aria-pressed="true"] { color: var(--tbd-text); font-weight: 500; border-left-color: var(--tbd-accent); }
.tbd-nonfinite-headline { margin: 4px 0; font-weight: 500; font-size: 14px; color: var(--tbd-error); overflow-wrap: anywhere; }
.tbd-nonfinite-headline[data-phase="none"] { color: #2e7d32; }
.tbd-nonfinite-action, .tbd-nonfinite-evidence { margin: 4px 0; overflow-wrap: anywhere; }
.tbd-nonfinite-remedy {
  margin: 8px 0; padding: 6px 10px; border-left: 3px solid var(--tbd-info); background: var(--tbd-info-bg);
}
.tbd-nonfinite-remedy-title { font-weight: 500; }
.tbd-nonfinite-remedy-text { margin: 2px 0 0; overflow-wrap: anywhere; white-space: pre-wrap; }
.tbd-chips { list-style: none; margin: 2px 0 8px; padding: 0; display: flex; flex-wrap: wrap; align-items: center; row-gap: 6px; }
.tbd-chip { display: inline-flex; align-items: center; }
.tbd-chip + .tbd-chip::before { content: "→"; color: var(--tbd-muted); margin: 0 4px; }
.tbd-chip-box {
  display: inline-flex; align-items: baseline; gap: 6px; max-width: 260px; padding: 1px 8px;
  border: 1px solid var(--tbd-border); border-radius: 12px; background: var(--tbd-card);
}
.tbd-chip-kind-input .tbd-chip-box, .tbd-chip-kind-loss .tbd-chip-box { border-style: dashed; }
.tbd-chip-name { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.tbd-chip-tag { font-size: 10px; font-weight: 500; text-transform: uppercase; letter-spacing: 0.03em; }
.tbd-chip-origin .tbd-chip-box { border: 2px solid var(--tbd-error); background: var(--tbd-error-bg); }
.tbd-chip-origin .tbd-chip-tag { color: var(--tbd-error); }
.tbd-chip-contaminated .tbd-chip-box { border-color: var(--tbd-accent); background: var(--tbd-warning-bg); }
.tbd-chip-contaminated .tbd-chip-tag { color: var(--tbd-warning); }
.tbd-chip-gap .tbd-chip-box { border-color: transparent; background: none; color: var(--tbd-muted); }
.tbd-chip-gap-contaminated .tbd-chip-box { color: var(--tbd-warning); }
.tbd-table .tbd-th-group { text-align: center; border-bottom: 1px solid var(--tbd-border); }
.tbd-row-origin { box-shadow: inset 3px 0 0 var(--tbd-error); }
.tbd-cell-bad { color: var(--tbd-error); font-weight: 500; }
.tbd-tooltip-title { font-weight: 500; margin-bottom: 2px; max-width: 360px; overflow-wrap: anywhere; }
.tbd-tooltip-row { display: flex; justify-content: space-between; gap: 12px; }
.tbd-tooltip-label { max-width: 300px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.tbd-tooltip-value { font-variant-numeric: tabular-nums; }
`;

/** Adds the stylesheet to `doc` once. */
export function installStyles(doc: Document): void {
  if (doc.querySelector("style[data-tbd-styles]")) return;
  const style = doc.createElement("style");
  style.setAttribute("data-tbd-styles", "");
  style.textContent = STYLESHEET;
  doc.head.appendChild(style);
}
