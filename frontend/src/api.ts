/**
 * The plugin's routes for the Diagnostics tab (docs/http_api.md): the run list and the report here,
 * every panel's own payload in `panels/<name>/data.ts` (its fetch), fetched through
 * `DiagnosticsApi.payload`. Every body is checked against its route's contract (`contract.ts`).
 */

import { checkedPayload } from "./contract";
import { ApiError } from "./decode";
import type { Finding, GradientStats, HealthStatus, OverviewLine, ReportPayload, RunInfo, Severity } from "./generated/payload_types";

export type { Finding, GradientStats, HealthStatus, OverviewLine, RunInfo, Severity };

/** `GET report?run=`: the run's entry of the public report document (schema: report.schema.json). */
export type RunReport = ReportPayload;

/** Checks the body of `GET runs` against its contract. */
export function decodeRuns(body: unknown): RunInfo[] {
  return checkedPayload("runs", body).runs;
}

/** Checks the body of `GET report?run=` against its contract. */
export function decodeReport(body: unknown): RunReport {
  return checkedPayload("report", body);
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
      // A copy: checking a payload turns its numbers in place (contract.ts), and a file's answer is read again and again.
      return structuredClone(answer.body);
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
