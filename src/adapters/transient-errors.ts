/**
 * Which AWS errors mean "not now" rather than "no", and a retry for the one
 * kind the SDK leaves to us. The SDK's standard retry strategy already retries
 * throttling and 5xx responses with jittered backoff; what it cannot know is
 * that a TransactWriteItems cancelled only for a conflict or throttling
 * applied nothing and may be sent again.
 */
import { TransactionCanceledException } from "@aws-sdk/client-dynamodb";
import { jitteredBackoffMs } from "../core/backoff.ts";
import { TransientStoreError } from "../ports/errors.ts";
import { sleep } from "../timers.ts";

/**
 * Cancellation reasons that say "try again" (TransactionConflict: another
 * transaction held an item; the throttling codes: capacity). None of them
 * means a condition failed.
 */
const TRANSIENT_CANCELLATION_CODES: ReadonlySet<string> = new Set([
  "TransactionConflict",
  "ThrottlingError",
  "ProvisionedThroughputExceeded",
]);

/**
 * True when a TransactWriteItems was cancelled only for transient reasons: at
 * least one such reason and nothing else but "None" (so no failed condition,
 * no validation error). A cancelled transaction applied none of its items.
 */
export function isTransientCancellation(err: unknown): err is TransactionCanceledException {
  if (!(err instanceof TransactionCanceledException)) return false;
  const codes = (err.CancellationReasons ?? []).map((r) => r.Code ?? "None");
  return (
    codes.some((c) => TRANSIENT_CANCELLATION_CODES.has(c)) &&
    codes.every((c) => c === "None" || TRANSIENT_CANCELLATION_CODES.has(c))
  );
}

export interface CancellationRetryOptions {
  /** Tries in all, the first included. */
  readonly attempts?: number;
  readonly baseMs?: number;
  readonly capMs?: number;
  readonly random?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
}

/**
 * Runs `write` again while it fails with a transient cancellation, waiting a
 * full-jitter capped exponential backoff in between (a conflicting transaction
 * usually finishes within milliseconds). Only for writes whose conditions make
 * a repeat harmless. After the last attempt: TransientStoreError, with the
 * cancellation as its cause. Any other error passes through at once.
 */
export async function retryTransientCancellations<T>(
  write: () => Promise<T>,
  options: CancellationRetryOptions = {},
): Promise<T> {
  const attempts = options.attempts ?? 5;
  const baseMs = options.baseMs ?? 25;
  const capMs = options.capMs ?? 1_000;
  const random = options.random ?? Math.random;
  const wait = options.sleep ?? sleep;
  for (let attempt = 1; ; attempt++) {
    try {
      return await write();
    } catch (err) {
      if (!isTransientCancellation(err)) throw err;
      if (attempt >= attempts) throw new TransientStoreError(attempt, { cause: err });
      await wait(jitteredBackoffMs(baseMs, attempt - 1, capMs, random));
    }
  }
}

// Error names AWS uses for throttling and unavailability; the SDK's own list plus DynamoDB's and SQS's.
const UNAVAILABLE_NAMES: ReadonlySet<string> = new Set([
  "ThrottlingException",
  "Throttling",
  "ProvisionedThroughputExceededException",
  "RequestLimitExceeded",
  "RequestThrottled",
  "RequestThrottledException",
  "TooManyRequestsException",
  "InternalServerError",
  "InternalFailure",
  "InternalError",
  "ServiceUnavailable",
  "ServiceUnavailableException",
  "TimeoutError",
  "TransientStoreError",
]);
const NETWORK_CODES: ReadonlySet<string> = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EAI_AGAIN",
]);

/**
 * True for errors that say AWS cannot serve the request right now (throttled,
 * 5xx, unreachable), after the SDK has spent its retries: the caller should try
 * again later. False for errors a retry cannot fix (validation, conditions).
 */
export function isUnavailableError(err: unknown): boolean {
  if (typeof err !== "object" || err === null) return false;
  const e = err as {
    name?: unknown;
    code?: unknown;
    $retryable?: unknown;
    $metadata?: { httpStatusCode?: number };
  };
  if (typeof e.name === "string" && UNAVAILABLE_NAMES.has(e.name)) return true;
  if (typeof e.code === "string" && NETWORK_CODES.has(e.code)) return true;
  if (e.$metadata !== undefined && typeof e.$metadata === "object") {
    if (e.$retryable !== undefined) return true;
    const status = e.$metadata.httpStatusCode ?? 0;
    if (status >= 500 || status === 429) return true;
  }
  return false;
}
