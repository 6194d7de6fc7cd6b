/**
 * When a request is sent again. Every request the client sends may be repeated
 * safely: reads, and writes that the server deduplicates (a begin or transfer by
 * its Idempotency-Key, a registration by its name, an abort by the decision it
 * finds). So what is retried is decided by the answer alone.
 */

export interface RetryOptions {
  /** Sends of one request in all, the first included (default 5). */
  readonly maxAttempts?: number;
  /** The first pause's upper bound; it doubles per attempt (default 200 ms). */
  readonly baseDelayMs?: number;
  /** No pause of the client's own is longer (default 5 s); a longer Retry-After is waited, within `maxElapsedMs`. */
  readonly maxDelayMs?: number;
  /**
   * No retry starts later than this after the first send (default 30 s): a
   * caller waits a bounded time, however the server answers.
   */
  readonly maxElapsedMs?: number;
}

export interface RetryPolicy {
  readonly maxAttempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  readonly maxElapsedMs: number;
}

const NO_RETRY: RetryPolicy = { maxAttempts: 1, baseDelayMs: 0, maxDelayMs: 0, maxElapsedMs: 0 };

export function retryPolicy(options: RetryOptions | false | undefined): RetryPolicy {
  if (options === false) return NO_RETRY;
  return {
    maxAttempts: Math.max(1, options?.maxAttempts ?? 5),
    baseDelayMs: options?.baseDelayMs ?? 200,
    maxDelayMs: options?.maxDelayMs ?? 5_000,
    maxElapsedMs: options?.maxElapsedMs ?? 30_000,
  };
}

/** Answers worth sending again: the server was busy or failed, not the request. */
export const retryableStatus = (status: number): boolean =>
  status === 429 || status === 500 || status === 502 || status === 503 || status === 504;

/** Retry-After in milliseconds: delay-seconds or an HTTP date; undefined when absent or unreadable. */
export function retryAfterMs(header: string | null, now: number): number | undefined {
  if (header === null) return undefined;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * The pause before attempt `attempt + 1` ("full jitter": anywhere up to the
 * doubled bound, so clients that failed together do not come back together),
 * and never shorter than what the server asked for (the caller checks that
 * this still fits its time bound).
 */
export function pauseMs(
  policy: RetryPolicy,
  attempt: number,
  random: number,
  retryAfter: number | undefined,
): number {
  const bound = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  const jittered = Math.floor(random * bound);
  return Math.max(jittered, retryAfter ?? 0);
}
