/**
 * The plugin's routes for the Diagnostics tab (docs/http_api.md): the run list and the report here,
 * every panel's own payload in `panels/<name>/data.ts` (its type, its decoder and its fetch),
 * fetched through `DiagnosticsApi.payload`.
 */

import { ApiError, asArray, asObject, asString, asStrings, asWarnings, decodeNumber } from "./decode";

/** Severity of a finding, worst first. */
export type Severity = "error" | "warning" | "info";

/** One run as listed by `GET runs`. */
export interface RunInfo {
  run: string;
  last_step: number;
  /** Diagnostics recorded for this run, e.g. `["gradients"]`; panels are chosen by family. */
  families: string[];
  error_count: number;
  warning_count: number;
}

/** One finding of the report: something that went wrong, where, and what to try. */
export interface Finding {
  id: string;
  severity: Severity;
  step: number | null;
  layer: string | null;
  title: string;
  detail: string;
  remedy: string;
  /** The diagnostic that raised it, which is also its panel's id; null from servers that do not say. */
  diagnostic: string | null;
  /** The id of the root-cause finding this one follows from (e.g. a NaN that ends an explosion); null for a root cause. */
  caused_by: string | null;
}

/** Health of one diagnostic on a run: its worst finding's severity, or "ok" without findings. */
export type HealthStatus = Severity | "ok";

/** One line of a run's health summary (the report's `overview`), e.g. "gradients: largest norm 3.2 in 'dense'". */
export interface OverviewLine {
  /** The diagnostic the line is about, which is also its panel's id. */
  diagnostic: string;
  /** How the report names the diagnostic, e.g. "NaN/Inf". */
  label: string;
  status: HealthStatus;
  text: string;
  /** How many findings the diagnostic raised on the run. */
  findings: number;
}

/** Summary of one layer's gradient norm over the run. */
export interface GradientStats {
  last: number;
  min: number;
  max: number;
}

/** `GET report?run=`: the run's entry of the public report document. */
export interface RunReport {
  run: string;
  steps: number;
  layers: string[];
  gradients: Record<string, GradientStats>;
  /** The health summary, one line per diagnostic with something to say, worst first. */
  overview: OverviewLine[];
  /** Worst first. */
  findings: Finding[];
  warnings: string[];
}

function asSeverity(value: unknown, field: string): Severity {
  if (value === "error" || value === "warning" || value === "info") return value;
  throw new ApiError(`Unexpected response: ${field} is ${JSON.stringify(value)}, not error/warning/info.`, 0);
}

function asStatus(value: unknown, field: string): HealthStatus {
  if (value === "error" || value === "warning" || value === "info" || value === "ok") return value;
  throw new ApiError(`Unexpected response: ${field} is ${JSON.stringify(value)}, not error/warning/info/ok.`, 0);
}

/** Decodes the body of `GET runs`. */
export function decodeRuns(body: unknown): RunInfo[] {
  return asArray(asObject(body, "runs response").runs, "runs").map((item, i) => {
    const run = asObject(item, `runs[${i}]`);
    return {
      run: asString(run.run, `runs[${i}].run`),
      last_step: decodeNumber(run.last_step, `runs[${i}].last_step`),
      families: asStrings(run.families, `runs[${i}].families`),
      error_count: decodeNumber(run.error_count, `runs[${i}].error_count`),
      warning_count: decodeNumber(run.warning_count, `runs[${i}].warning_count`),
    };
  });
}

function decodeFinding(value: unknown, field: string): Finding {
  const finding = asObject(value, field);
  return {
    id: asString(finding.id, `${field}.id`),
    severity: asSeverity(finding.severity, `${field}.severity`),
    step: finding.step == null ? null : decodeNumber(finding.step, `${field}.step`),
    layer: finding.layer == null ? null : asString(finding.layer, `${field}.layer`),
    title: asString(finding.title, `${field}.title`),
    detail: asString(finding.detail, `${field}.detail`),
    remedy: asString(finding.remedy, `${field}.remedy`),
    diagnostic: finding.diagnostic == null ? null : asString(finding.diagnostic, `${field}.diagnostic`),
    caused_by: finding.caused_by == null ? null : asString(finding.caused_by, `${field}.caused_by`),
  };
}

function decodeOverviewLine(value: unknown, field: string): OverviewLine {
  const line = asObject(value, field);
  return {
    diagnostic: asString(line.diagnostic, `${field}.diagnostic`),
    label: asString(line.label, `${field}.label`),
    status: asStatus(line.status, `${field}.status`),
    text: asString(line.text, `${field}.text`),
    findings: decodeNumber(line.findings, `${field}.findings`),
  };
}

/** Decodes the body of `GET report?run=`. */
export function decodeReport(body: unknown): RunReport {
  const report = asObject(body, "report");
  const gradients: Record<string, GradientStats> = {};
  // null: the run recorded no gradients (a probe list without them).
  const rawGradients = report.gradients == null ? {} : asObject(report.gradients, "gradients");
  for (const [layer, value] of Object.entries(rawGradients)) {
    const stats = asObject(value, `gradients[${JSON.stringify(layer)}]`);
    gradients[layer] = {
      last: decodeNumber(stats.last, `gradients.${layer}.last`),
      min: decodeNumber(stats.min, `gradients.${layer}.min`),
      max: decodeNumber(stats.max, `gradients.${layer}.max`),
    };
  }
  return {
    run: asString(report.run, "run"),
    steps: decodeNumber(report.steps, "steps"),
    layers: asStrings(report.layers, "layers"),
    gradients,
    overview: asArray(report.overview, "overview").map((line, i) => decodeOverviewLine(line, `overview[${i}]`)),
    findings: asArray(report.findings, "findings").map((f, i) => decodeFinding(f, `findings[${i}]`)),
    warnings: asWarnings(report.warnings, "warnings"),
  };
}

/**
 * Where the API's JSON comes from: `get(route, params)` answers one route's request (the body, or
 * an `ApiError` with the server's message).
 */
export type JsonSource = (route: string, params: Record<string, string>, signal?: AbortSignal) => Promise<unknown>;

/** One recorded answer of a route, as a report file embeds it (`tb-diag report --html`). */
export interface RecordedAnswer {
  status: number;
  body: unknown;
}

/**
 * A report file's answers: `answers[route][run]` (`""` for a route without a run), recorded from
 * the plugin's own routes when the file was written.
 */
export interface RecordedAnswers {
  answers: Record<string, Record<string, RecordedAnswer>>;
}

/** The plugin's routes: over HTTP against one base URL (`.../data/plugin/tb_diag/`), or the answers a report file recorded. */
export class DiagnosticsApi {
  private readonly get: JsonSource;

  /** @param source URL of the plugin's route directory (must end with a slash), or a `JsonSource`. */
  constructor(source: URL | JsonSource) {
    this.get = source instanceof URL ? httpSource(source) : source;
  }

  /** The API of a report file: every request is answered from `recorded`, nothing is fetched. */
  static fromRecorded(recorded: RecordedAnswers): DiagnosticsApi {
    return new DiagnosticsApi(async (route, params) => {
      const byRun = recorded.answers[route];
      const key = params.run ?? "";
      // Run names are untrusted: only the file's own entries count ("__proto__" is not one).
      const answer = byRun !== undefined && Object.prototype.hasOwnProperty.call(byRun, key) ? byRun[key] : undefined;
      if (answer === undefined) throw new ApiError(`This report file has no ${route} data for this run.`, 404);
      if (answer.status !== 200) throw new ApiError(serverMessage(answer.body, { status: answer.status, statusText: "" }), answer.status);
      return answer.body;
    });
  }

  /** `GET runs`: runs that have tb_diag data, sorted by name. */
  async runs(signal?: AbortSignal): Promise<RunInfo[]> {
    return decodeRuns(await this.getJson("runs", {}, signal));
  }

  /** `GET report?run=`: findings and per-layer summaries of one run. */
  async report(run: string, signal?: AbortSignal): Promise<RunReport> {
    return decodeReport(await this.getJson("report", { run }, signal));
  }

  /**
   * `GET <route>?run=`: one panel's payload for one run, checked by its `decode` (each panel's
   * `data.ts` says which route and decoder).
   */
  async payload<T>(route: string, run: string, decode: (body: unknown) => T, signal?: AbortSignal): Promise<T> {
    return decode(await this.getJson(route, { run }, signal));
  }

  private getJson(route: string, params: Record<string, string>, signal?: AbortSignal): Promise<unknown> {
    return this.get(route, params, signal);
  }
}

function httpSource(routesBase: URL): JsonSource {
  return async (route, params, signal) => {
    const url = new URL(route, routesBase);
    for (const [key, value] of Object.entries(params)) url.searchParams.set(key, value);
    let response: Response;
    try {
      response = await fetch(url, { signal, headers: { Accept: "application/json" } });
    } catch (error) {
      if (signal?.aborted) throw error;
      throw new ApiError(`Could not reach TensorBoard (${String(error)}).`, 0);
    }
    const body: unknown = await response.json().catch(() => undefined);
    if (!response.ok) throw new ApiError(serverMessage(body, response), response.status);
    if (body === undefined) throw new ApiError(`The ${route} route answered something that is not JSON.`, response.status);
    return body;
  };
}

function serverMessage(body: unknown, response: Pick<Response, "status" | "statusText">): string {
  if (typeof body === "object" && body !== null && typeof (body as { error?: unknown }).error === "string") {
    return (body as { error: string }).error;
  }
  return `Request failed: HTTP ${response.status} ${response.statusText}`.trim();
}
