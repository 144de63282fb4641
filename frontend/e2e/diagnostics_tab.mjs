// Opens the real TensorBoard in headless Chromium, selects the Diagnostics tab, waits until the
// gradients heatmap of RUN has drawn EXPECTED_ROWS rows and its input step chart is drawn, saves a
// screenshot and prints a JSON summary on stdout. With ALSO_RUN, that run is ticked too and, once
// its input chart is drawn, the Input panel is saved to INPUT_SCREENSHOT. Driven by
// tests/test_browser.py (which starts TensorBoard).
//
// With PANEL_RUN, the tab is also opened on its own page with only that run ticked, and its
// Activations panel saved to ACTIVATIONS_SCREENSHOT.
//
// Usage: node e2e/diagnostics_tab.mjs <base-url> <run> <expected-rows> <screenshot.png>
//          [also-run input-screenshot.png [panel-run activations-screenshot.png]]
import { openPage, quoted } from "./browser.mjs";

const [baseUrl, run, expectedRows, screenshot, alsoRun, inputScreenshot, panelRun, activationsScreenshot] = process.argv.slice(2);
const result = {};
const { context, page } = await openPage(result);
try {
  await page.goto(baseUrl, { waitUntil: "domcontentloaded" });
  await page.getByText("Diagnostics", { exact: true }).first().click({ timeout: 60_000 });
  const frame = page.frameLocator('iframe[src*="plugin_entry.html?name=tb_diag"]');
  const heatmap = frame.locator(`[data-testid="gradients-heatmap"][data-run="${quoted(run)}"]`);
  await heatmap.waitFor({ state: "attached", timeout: 60_000 });
  await frame.locator(`[data-testid="gradients-heatmap"][data-rows="${expectedRows}"]`).first().waitFor({ timeout: 60_000 });
  result.rows = Number(await heatmap.getAttribute("data-rows"));
  await frame.locator(`[data-testid="input-step-chart"][data-run="${quoted(run)}"]`).waitFor({ state: "attached", timeout: 60_000 });
  await frame.locator('[data-testid="activation-distribution"]').first().waitFor({ state: "attached", timeout: 60_000 });
  result.activationRows = await frame.locator('[data-testid="activation-row"]').evaluateAll((rows) =>
    rows.map((row) => ({ call: row.getAttribute("data-call"), flagged: row.classList.contains("tbd-row-flagged") })));
  await page.waitForTimeout(500); // let the charts' animation settle before the picture
  await page.screenshot({ path: screenshot, fullPage: true });
  if (alsoRun) {
    await frame.locator(`[data-testid="run-toggle"][data-run="${quoted(alsoRun)}"]`).check();
    await frame.locator(`[data-testid="input-step-chart"][data-run="${quoted(alsoRun)}"]`).waitFor({ state: "attached", timeout: 60_000 });
    await frame.locator('[data-testid="memory-host-chart"]').first().waitFor({ state: "attached", timeout: 60_000 });
    await frame.locator('[data-testid="environment-table"]').waitFor({ state: "attached", timeout: 60_000 });
    // The panel picture comes from the tab's page opened on its own (no TensorBoard chrome on top).
    const tab = await context.newPage();
    await tab.goto(new URL("data/plugin_entry.html?name=tb_diag", baseUrl.endsWith("/") ? baseUrl : `${baseUrl}/`).href);
    await tab.locator(`[data-testid="run-toggle"][data-run="${quoted(run)}"]`).uncheck();
    await tab.locator(`[data-testid="run-toggle"][data-run="${quoted(alsoRun)}"]`).check();
    await tab.locator(`[data-testid="input-step-chart"][data-run="${quoted(alsoRun)}"]`).waitFor({ state: "attached", timeout: 60_000 });
    await tab.waitForTimeout(500);
    await tab.locator('[data-panel="input"]').screenshot({ path: inputScreenshot });
    if (panelRun) {
      await tab.locator(`[data-testid="run-toggle"][data-run="${quoted(alsoRun)}"]`).uncheck();
      await tab.locator(`[data-testid="run-toggle"][data-run="${quoted(panelRun)}"]`).check();
      await tab.locator(`[data-testid="activation-distribution"]`).waitFor({ state: "attached", timeout: 60_000 });
      await tab.waitForTimeout(500);
      result.panelRunFlaggedCalls = await tab.locator('[data-testid="activation-row"].tbd-row-flagged').evaluateAll((rows) =>
        rows.map((row) => row.getAttribute("data-call")));
      await tab.locator('[data-panel="activations"]').screenshot({ path: activationsScreenshot });
      await tab.locator('[data-testid="memory-host-chart"]').waitFor({ state: "attached", timeout: 60_000 });
      await tab.locator('[data-panel="memory"]').screenshot({ path: activationsScreenshot.replace("activations_panel", "memory_panel") });
    }
    await tab.close();
  }
  // WAIT_FOR (a CSS selector, from the environment): something else the caller needs drawn first.
  if (process.env.WAIT_FOR) await frame.locator(process.env.WAIT_FOR).first().waitFor({ state: "attached", timeout: 60_000 });
  // After ALSO_RUN was ticked: findings and text of both runs.
  await frame.getByText("Loading findings…").waitFor({ state: "detached", timeout: 60_000 });
  result.findings = await frame.locator('[data-testid="finding"]').evaluateAll((items) =>
    items.map((item) => ({ id: item.getAttribute("data-finding-id"), text: item.textContent })));
  result.consequences = await frame.locator('[data-testid="consequences"] > [data-testid="finding"]').evaluateAll((items) =>
    items.map((item) => ({ id: item.getAttribute("data-finding-id"), causedBy: item.getAttribute("data-caused-by") })));
  result.runToggles = await frame.locator('[data-testid="run-toggle"]').count();
  result.bodyText = await frame.locator("body").innerText();
  result.injectedImages = await frame.locator("img").count();
  result.environmentMismatches = await frame.locator('[data-testid="environment-mismatch"]').evaluateAll((rows) =>
    rows.map((row) => row.getAttribute("data-field")));
  if (alsoRun) {
    // Two runs ticked: the Overview's comparison shows the environment mismatch and the findings matrix.
    await frame.locator('[data-testid="comparison-env-row"]').first().waitFor({ state: "attached", timeout: 60_000 });
    result.comparisonEnvFields = await frame.locator('[data-testid="comparison-env-row"]').evaluateAll((rows) =>
      rows.map((row) => row.getAttribute("data-field")));
    result.comparisonRows = await frame.locator('[data-testid="comparison-row"]').evaluateAll((rows) =>
      rows.map((row) => ({ id: row.getAttribute("data-finding-id"), differs: row.getAttribute("data-differs") })));
    result.notReproducible = await frame.locator('[data-testid="comparison-not-reproducible"]').allInnerTexts();
    result.overviewRuns = await frame.locator('[data-testid="overview-run"]').evaluateAll((cards) =>
      cards.map((card) => card.getAttribute("data-run")));
  }
  result.inputVerdicts = await frame.locator('[data-testid="input-verdict"]').evaluateAll((items) =>
    items.map((item) => ({ verdict: item.getAttribute("data-verdict"), text: item.textContent })));
  result.inputPoints = await frame.locator('[data-testid="input-step-chart"]').evaluateAll((items) =>
    items.map((item) => ({ run: item.getAttribute("data-run"), points: Number(item.getAttribute("data-points")) })));
} finally {
  await context.close();
}
console.log(JSON.stringify(result));
