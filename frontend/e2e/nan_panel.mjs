// Opens the Diagnostics tab's page (served by the real TensorBoard) in headless Chromium with only
// RUN ticked, waits until the NaN panel has drawn RUN's event, saves the panel to SCREENSHOT and
// prints a JSON summary on stdout. Driven by tests/test_browser.py (which starts TensorBoard).
//
// Usage: node e2e/nan_panel.mjs <base-url> <run> <screenshot.png>
import { openPage, quoted } from "./browser.mjs";

const [baseUrl, run, screenshot] = process.argv.slice(2);
const result = {};
const { context, page } = await openPage(result);
try {
  await page.goto(new URL("data/plugin_entry.html?name=tb_diag", baseUrl.endsWith("/") ? baseUrl : `${baseUrl}/`).href);
  const target = page.locator(`[data-testid="run-toggle"][data-run="${quoted(run)}"]`);
  await target.waitFor({ state: "attached", timeout: 60_000 });
  for (const toggle of await page.locator('[data-testid="run-toggle"]:checked').all()) await toggle.uncheck();
  await target.check();
  const block = page.locator(`[data-testid="nonfinite-run"][data-run="${quoted(run)}"]`);
  const headline = block.locator('[data-testid="nonfinite-headline"]');
  await headline.waitFor({ state: "attached", timeout: 60_000 });
  result.headline = await headline.textContent();
  result.phase = await headline.getAttribute("data-phase");
  result.step = await headline.getAttribute("data-step");
  result.action = await block.locator('[data-testid="nonfinite-action"]').getAttribute("data-action");
  result.origin = await block.locator('[data-testid="nonfinite-chip"][data-state="origin"]').evaluateAll((chips) =>
    chips.map((chip) => chip.getAttribute("data-name")));
  result.contaminated = await block.locator('[data-testid="nonfinite-chip"][data-state="contaminated"]').evaluateAll((chips) =>
    chips.map((chip) => chip.getAttribute("data-name")));
  result.remedy = await block.locator('[data-testid="nonfinite-remedy-text"]').textContent();
  result.flaggedRows = await block.locator('[data-testid="nonfinite-row"].tbd-row-flagged').evaluateAll((rows) =>
    rows.map((row) => row.getAttribute("data-name")));
  // The Overview (landing view) for the same run: its health lines, worst first.
  const card = page.locator(`[data-testid="overview-run"][data-run="${quoted(run)}"]`);
  await card.locator('[data-testid="overview-line"]').first().waitFor({ state: "attached", timeout: 60_000 });
  result.overviewLines = await card.locator('[data-testid="overview-line"]').evaluateAll((lines) =>
    lines.map((line) => ({ diagnostic: line.getAttribute("data-diagnostic"), status: line.getAttribute("data-status"), text: line.textContent })));
  await page.waitForTimeout(300);
  await page.locator('[data-panel="nonfinite"]').screenshot({ path: screenshot });
  result.bodyText = await page.locator("body").innerText();
  result.injectedImages = await page.locator("img").count();
} finally {
  await context.close();
}
console.log(JSON.stringify(result));
