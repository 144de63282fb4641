// Opens the real TensorBoard in headless Chromium, selects the Diagnostics tab, waits until the
// gradients heatmap of RUN has drawn EXPECTED_ROWS rows, saves a screenshot and prints a JSON
// summary on stdout. Driven by tests/test_browser.py (which starts TensorBoard).
//
// Usage: node e2e/diagnostics_tab.mjs <base-url> <run> <expected-rows> <screenshot.png>
import { chromium } from "playwright-core";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [baseUrl, run, expectedRows, screenshot] = process.argv.slice(2);
const userDataDir = mkdtempSync(join(tmpdir(), "tb-diag-chromium-"));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  headless: true,
  viewport: { width: 1400, height: 1000 },
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"],
});
const result = { dialogs: [], consoleErrors: [] };
try {
  const page = context.pages()[0] ?? (await context.newPage());
  page.on("dialog", async (dialog) => { result.dialogs.push(dialog.message()); await dialog.dismiss(); });
  page.on("console", (message) => { if (message.type() === "error") result.consoleErrors.push(message.text()); });
  await page.goto(baseUrl, { waitUntil: "domcontentloaded" });
  await page.getByText("Diagnostics", { exact: true }).first().click({ timeout: 60_000 });
  const frame = page.frameLocator('iframe[src*="plugin_entry.html?name=tb_diag"]');
  const heatmap = frame.locator(`[data-testid="gradients-heatmap"][data-run="${run.replace(/"/g, '\\"')}"]`);
  await heatmap.waitFor({ state: "attached", timeout: 60_000 });
  await frame.locator(`[data-testid="gradients-heatmap"][data-rows="${expectedRows}"]`).first().waitFor({ timeout: 60_000 });
  result.rows = Number(await heatmap.getAttribute("data-rows"));
  result.findings = await frame.locator('[data-testid="finding"]').evaluateAll((items) =>
    items.map((item) => ({ id: item.getAttribute("data-finding-id"), text: item.textContent })));
  result.runToggles = await frame.locator('[data-testid="run-toggle"]').count();
  result.bodyText = await frame.locator("body").innerText();
  result.injectedImages = await frame.locator("img").count();
  await page.waitForTimeout(500); // let the charts' animation settle before the picture
  await page.screenshot({ path: screenshot, fullPage: true });
} finally {
  await context.close();
}
console.log(JSON.stringify(result));
