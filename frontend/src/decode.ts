/** What every payload's reading shares: the error a failed request or an unexpected body raises. */

/** A recorded value; `null` where the server had nothing for that layer at that step. */
export type MaybeNumber = number | null;

/** A failed request; `message` is the server's own `error` text when it sent one. */
export class ApiError extends Error {
  readonly status: number;

  constructor(message: string, status: number) {
    super(message);
    this.name = "ApiError";
    this.status = status;
  }
}
