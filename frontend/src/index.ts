/**
 * Entry point of the Diagnostics tab. TensorBoard's plugin iframe imports this module and calls
 * `render()`.
 */

import { DiagnosticsApi } from "./api";
import { renderShell } from "./shell";
import { installStyles } from "./styles";

/**
 * Builds the tab into `document.body`. The module is served from `<plugin>/static/index.js`, so
 * the plugin's routes are one directory up from it.
 */
export async function render(): Promise<void> {
  installStyles(document);
  await renderShell(document.body, new DiagnosticsApi(new URL("../", import.meta.url)));
}
