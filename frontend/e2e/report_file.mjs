// Opens a report file written by `tb-diag report --html` from file:// in headless Chromium, with
// the network cut off, waits until RUN's gradients heatmap has EXPECTED_ROWS rows and its findings
// are listed, saves a screenshot and prints a JSON summary on stdout: what was drawn, every request
// the page made that was not the file itself, dialogs and console errors. Driven by
// tests/test_html_report.py.
//
// Usage: node e2e/report_file.mjs <report.html> <run> <expected-rows> <screenshot.png>
import { pathToFileURL } from "node:url";
import { openPage, quoted } from "./browser.mjs";

const [reportPath, run, expectedRows, screenshot] = process.argv.slice(2);
const result = { requests: [] };
const { context, page } = await openPage(result);
try {
  const fileUrl = pathToFileURL(reportPath).href;
  await context.route("**/*", (route) => {
    const url = route.request().url();
    if (url !== fileUrl) result.requests.push(url);
    return url === fileUrl ? route.continue() : route.abort();
  });
  await page.goto(fileUrl, { waitUntil: "load" });
  const heatmap = page.locator(`[data-testid="gradients-heatmap"][data-run="${quoted(run)}"]`);
  await heatmap.waitFor({ state: "attached", timeout: 60_000 });
  await page.locator(`[data-testid="gradients-heatmap"][data-rows="${expectedRows}"]`).first().waitFor({ timeout: 60_000 });
  result.rows = Number(await heatmap.getAttribute("data-rows"));
  await page.getByText("Loading findings…").waitFor({ state: "detached", timeout: 60_000 });
  result.findings = await page.locator('[data-testid="finding"]').evaluateAll((items) => items.map((item) => item.getAttribute("data-finding-id")));
  result.inputCharts = await page.locator('[data-testid="input-step-chart"]').count();
  result.source = await page.locator('[data-testid="report-source"]').innerText();
  result.bodyText = await page.locator("body").innerText();
  result.injectedImages = await page.locator("img").count();
  await page.waitForTimeout(500);
  await page.screenshot({ path: screenshot, fullPage: true });
} finally {
  await context.close();
}
console.log(JSON.stringify(result));
