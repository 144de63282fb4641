import type { DiagnosticsApi } from "../src/api";
import { ApiError } from "../src/decode";

/** What a fake answers per route: the payload for `run`, already decoded (or a rejection). */
export type FakeRoutes = Record<string, (run: string) => Promise<unknown>>;

/**
 * A stand-in for the plugin's routes in tests: `payload(route, run)` answers from `routes` (a
 * route it lacks is a 404 with the server's kind of message), `others` supplies `runs`/`report`.
 */
export function fakeRoutesApi<Extra extends object = object>(routes: FakeRoutes, others: Extra = {} as Extra): DiagnosticsApi & Extra {
  return {
    ...others,
    async payload(route: string, run: string) {
      const answer = Object.prototype.hasOwnProperty.call(routes, route) ? routes[route] : undefined;
      if (answer === undefined) throw new ApiError(`run '${run}' has no ${route} data`, 404);
      return answer(run);
    },
  } as unknown as DiagnosticsApi & Extra;
}
