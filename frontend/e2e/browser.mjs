// What every browser script shares: the system Chromium (Debian's package, driven by
// playwright-core), its flags, a persistent context with one page whose dialogs and console errors
// are collected, and quoting for attribute selectors built from untrusted run names.
import { chromium } from "playwright-core";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Launch options for headless Chromium (`CHROMIUM` overrides the executable). */
export const LAUNCH_OPTIONS = {
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"],
};

/** `text` escaped for a double-quoted CSS attribute value. */
export const quoted = (text) => text.replace(/\\/g, "\\\\").replace(/"/g, '\\"');

/**
 * A fresh Chromium profile with one page. Every dialog the page opens is dismissed and recorded in
 * `result.dialogs` (a script in a layer name would open one), every console error in
 * `result.consoleErrors`. Close with `context.close()`.
 */
export async function openPage(result, viewport = { width: 1400, height: 1000 }) {
  const userDataDir = mkdtempSync(join(tmpdir(), "tb-diag-chromium-"));
  const context = await chromium.launchPersistentContext(userDataDir, { ...LAUNCH_OPTIONS, viewport });
  result.dialogs ??= [];
  result.consoleErrors ??= [];
  const page = context.pages()[0] ?? (await context.newPage());
  page.on("dialog", async (dialog) => { result.dialogs.push(dialog.message()); await dialog.dismiss(); });
  page.on("console", (message) => { if (message.type() === "error") result.consoleErrors.push(message.text()); });
  return { context, page };
}
