/** The Environment panel's data: `GET environment?run=`, its type and its decoder. */

import { asArray, asObject, asString, asWarnings } from "../../decode";
import type { DiagnosticsApi } from "../../api";

/** `GET environment?run=`: the run's environment card, field by field, as text. */
export interface EnvironmentData {
  run: string;
  fields: Array<{ field: string; value: string }>;
  model_layers: Array<{ path: string; class: string; output_shape: string; params: string }>;
  /** Why the run cannot be reproduced exactly (the server's words), or null if it can. */
  not_reproducible: string | null;
  /** What to change for runs that can be reproduced. */
  reproducibility_remedy: string;
  warnings: string[];
}

/** Decodes the body of `GET environment?run=`. */
export function decodeEnvironment(body: unknown): EnvironmentData {
  const data = asObject(body, "environment response");
  return {
    run: asString(data.run, "run"),
    fields: asArray(data.fields, "fields").map((item, i) => {
      const entry = asObject(item, `fields[${i}]`);
      return { field: asString(entry.field, `fields[${i}].field`), value: asString(entry.value, `fields[${i}].value`) };
    }),
    model_layers: asArray(data.model_layers ?? [], "model_layers").map((item, i) => {
      const entry = asObject(item, `model_layers[${i}]`);
      const text = (key: string): string => asString(entry[key], `model_layers[${i}].${key}`);
      return { path: text("path"), class: text("class"), output_shape: text("output_shape"), params: text("params") };
    }),
    not_reproducible: data.not_reproducible == null ? null : asString(data.not_reproducible, "not_reproducible"),
    reproducibility_remedy: data.reproducibility_remedy == null ? "" : asString(data.reproducibility_remedy, "reproducibility_remedy"),
    warnings: asWarnings(data.warnings, "warnings"),
  };
}

/** `GET environment?run=`: what one run was trained with. */
export function fetchEnvironment(api: DiagnosticsApi, run: string, signal?: AbortSignal): Promise<EnvironmentData> {
  return api.payload("environment", run, decodeEnvironment, signal);
}
