// Times the gradients heatmap of one run in the real TensorBoard, headless Chromium. Per repeat, in
// a fresh browser context (empty cache), it opens the Diagnostics tab, makes sure RUN is the only
// run ticked, and waits until RUN's heatmap is drawn (its data-testid is set). Measured inside the
// tab's frame, so the polling of this script adds nothing:
//   load_to_drawn_ms      navigation start of the TensorBoard page -> heatmap drawn
//   response_to_drawn_ms  last byte of RUN's `gradients` response -> heatmap drawn
//   longest_task_ms       longest main-thread task of the tab's frame (how long the page froze)
// and prints one line: HEATMAP_RESULT {"load_to_drawn_ms": [...], "response_to_drawn_ms": [...],
// "rows": N, "columns": M, "response_bytes": B, ...}. response_bytes is the body as sent (gzip),
// response_decoded_bytes the body unzipped. Driven by benchmarks/scale.py (which starts TensorBoard).
//
// Usage: node e2e/heatmap_scale.mjs <base-url> <run> <repeats> [screenshot.png]
// (with a screenshot path, the last repeat also saves a picture of RUN's heatmap block)
import { chromium } from "playwright-core";

import { LAUNCH_OPTIONS, quoted } from "./browser.mjs";

const [baseUrl, run, repeatsText = "3", screenshot] = process.argv.slice(2);
const repeats = Number(repeatsText);
if (!baseUrl || !run || !Number.isInteger(repeats) || repeats < 1) {
  console.error("Usage: node e2e/heatmap_scale.mjs <base-url> <run> <repeats (a whole number >= 1)>");
  process.exit(2);
}
const TIMEOUT_MS = 120_000;

// Runs in every frame before its own scripts: notes when RUN's heatmap gets its data-testid and
// the longest task, both on the frame's performance clock. The attribute is caught in setAttribute
// itself: a MutationObserver would only hear of it once the whole task that drew the panel ended.
function watchHeatmap(runName) {
  window.__heatmapDrawnAt = null;
  window.__longestTaskMs = 0;
  const setAttribute = Element.prototype.setAttribute;
  Element.prototype.setAttribute = function (name, value) {
    setAttribute.call(this, name, value);
    if (window.__heatmapDrawnAt === null && (name === "data-testid" || name === "data-run") &&
        this.getAttribute("data-testid") === "gradients-heatmap" && this.getAttribute("data-run") === runName) {
      window.__heatmapDrawnAt = performance.now();
    }
  };
  try {
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) window.__longestTaskMs = Math.max(window.__longestTaskMs, entry.duration);
    }).observe({ type: "longtask", buffered: true });
  } catch {
    // No long-task timing in this browser: longest_task_ms stays 0.
  }
}

const browser = await chromium.launch(LAUNCH_OPTIONS);
const result = {
  load_to_drawn_ms: [],
  response_to_drawn_ms: [],
  longest_task_ms: [],
  rows: null,
  columns: null,
  response_bytes: null,
  response_decoded_bytes: null,
  console_errors: [],
};
try {
  for (let repeat = 0; repeat < repeats; repeat++) {
    // The tab's frame shows only what fits the viewport: a screenshot of a tall heatmap needs a tall one.
    const tall = screenshot && repeat === repeats - 1;
    const context = await browser.newContext({ viewport: { width: 1400, height: tall ? 4800 : 1000 } });
    await context.addInitScript(watchHeatmap, run);
    const page = await context.newPage();
    page.on("console", (message) => { if (message.type() === "error") result.console_errors.push(message.text()); });
    await page.goto(new URL("#tb_diag", baseUrl.endsWith("/") ? baseUrl : `${baseUrl}/`).href, { waitUntil: "domcontentloaded" });
    const frameElement = page.locator('iframe[src*="plugin_entry.html?name=tb_diag"]');
    // The URL names the tab; older TensorBoards ignore it, so click the tab when its frame does not show.
    if (!(await frameElement.waitFor({ state: "attached", timeout: 10_000 }).then(() => true, () => false))) {
      await page.getByText("Diagnostics", { exact: true }).first().click({ timeout: TIMEOUT_MS });
    }
    const frame = page.frameLocator('iframe[src*="plugin_entry.html?name=tb_diag"]');
    // The first run starts ticked: tick RUN, then untick every other run.
    const toggles = frame.locator('[data-testid="run-toggle"]');
    await toggles.first().waitFor({ state: "attached", timeout: TIMEOUT_MS });
    await frame.locator(`[data-testid="run-toggle"][data-run="${quoted(run)}"]`).check({ timeout: TIMEOUT_MS });
    for (const toggle of await toggles.all()) {
      if ((await toggle.getAttribute("data-run")) !== run && (await toggle.isChecked())) await toggle.uncheck();
    }
    const heatmap = frame.locator(`[data-testid="gradients-heatmap"][data-run="${quoted(run)}"]`);
    await heatmap.waitFor({ state: "attached", timeout: TIMEOUT_MS });
    const timing = await (await frameElement.elementHandle()).contentFrame().then((tab) =>
      tab.evaluate((runName) => {
        const route = `gradients?run=${encodeURIComponent(runName)}`;
        // The response the drawn heatmap came from: the last one to end before it was drawn.
        const responses = performance.getEntriesByType("resource")
          .filter((entry) => entry.name.includes(route) && entry.responseEnd <= window.__heatmapDrawnAt);
        const response = responses[responses.length - 1];
        return {
          drawnAt: window.__heatmapDrawnAt,
          drawnEpoch: performance.timeOrigin + window.__heatmapDrawnAt,
          responseEnd: response?.responseEnd ?? null,
          encodedBytes: response?.encodedBodySize ?? null,
          decodedBytes: response?.decodedBodySize ?? null,
          longestTask: window.__longestTaskMs,
        };
      }, run));
    const navigationStart = await page.evaluate(() => performance.timeOrigin);
    result.load_to_drawn_ms.push(Math.round(timing.drawnEpoch - navigationStart));
    result.response_to_drawn_ms.push(timing.responseEnd === null ? null : Math.round(timing.drawnAt - timing.responseEnd));
    result.longest_task_ms.push(Math.round(timing.longestTask));
    result.rows = Number(await heatmap.getAttribute("data-rows"));
    result.columns = Number(await heatmap.getAttribute("data-columns"));
    result.response_bytes = timing.encodedBytes;
    result.response_decoded_bytes = timing.decodedBytes;
    if (tall) {
      await heatmap.locator("xpath=..").screenshot({ path: screenshot });
    }
    await context.close();
  }
} finally {
  await browser.close();
}
console.log(`HEATMAP_RESULT ${JSON.stringify(result)}`);
