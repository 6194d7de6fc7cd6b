/** Errors of the client: the API's `{"error":{code,message,details}}`, and what happens before an answer. */

/** The API's error codes (`error.code`), checked against the server's list at compile time. */
export const API_ERROR_CODES = [
  "invalid_json",
  "invalid_request",
  "unauthorized",
  "forbidden",
  "not_found",
  "idempotency_conflict",
  "account_locked",
  "resource_locked",
  "resource_reserved",
  "conflict",
  "payload_too_large",
  "unavailable",
  "internal",
] as const;
export type ApiErrorCode = (typeof API_ERROR_CODES)[number];

/**
 * Codes of failures with no API answer behind them: `unreachable` (the network
 * failed, every retry included), `timeout` (`waitFor` ran out of time),
 * `invalid_response` (the server answered something that is not the API).
 */
export type ClientErrorCode = "unreachable" | "timeout" | "invalid_response";

export type ConcordErrorCode = ApiErrorCode | ClientErrorCode;

export interface ConcordErrorInit {
  readonly code: ConcordErrorCode;
  readonly message: string;
  /** The HTTP status; 0 when there was no answer. */
  readonly status: number;
  readonly details?: unknown;
  /** The answer's `X-Request-Id`, to find its log lines. */
  readonly requestId?: string;
}

/** Every failure the client raises, besides the caller's own abort. Switch on `code`. */
export class ConcordError extends Error {
  override name = "ConcordError";
  readonly code: ConcordErrorCode;
  readonly status: number;
  readonly details?: unknown;
  readonly requestId?: string;

  constructor(init: ConcordErrorInit, options?: { cause?: unknown }) {
    super(init.message, options);
    this.code = init.code;
    this.status = init.status;
    if (init.details !== undefined) this.details = init.details;
    if (init.requestId !== undefined) this.requestId = init.requestId;
  }
}

/** Whether `err` is a ConcordError, with this code when one is given. */
export const isConcordError = (err: unknown, code?: ConcordErrorCode): err is ConcordError =>
  err instanceof ConcordError && (code === undefined || err.code === code);

const known = new Set<string>(API_ERROR_CODES);

/** The error an API answer stands for; a body that is not the API's error shape still gives one. */
export async function errorFromResponse(res: Response): Promise<ConcordError> {
  const requestId = res.headers.get("x-request-id") ?? undefined;
  const text = await res.text().catch(() => "");
  let error: { code?: unknown; message?: unknown; details?: unknown } | undefined;
  try {
    const parsed = JSON.parse(text) as { error?: typeof error };
    error = parsed?.error;
  } catch {
    // Not JSON: a proxy's page, say.
  }
  const code = typeof error?.code === "string" && known.has(error.code) ? error.code : undefined;
  const message =
    typeof error?.message === "string" ? error.message : `HTTP ${res.status}: ${text.slice(0, 200)}`;
  return new ConcordError({
    code: (code as ApiErrorCode | undefined) ?? fallbackCode(res.status),
    message,
    status: res.status,
    ...(error?.details !== undefined ? { details: error.details } : {}),
    ...(requestId !== undefined ? { requestId } : {}),
  });
}

/** A code for an answer without one of the API's (a gateway's 502, an unknown code from a newer server). */
function fallbackCode(status: number): ConcordErrorCode {
  if (status === 400) return "invalid_request";
  if (status === 401) return "unauthorized";
  if (status === 403) return "forbidden";
  if (status === 404) return "not_found";
  if (status === 409) return "conflict";
  if (status === 413) return "payload_too_large";
  if (status === 429 || status === 502 || status === 503 || status === 504) return "unavailable";
  if (status >= 500) return "internal";
  return "invalid_response";
}
