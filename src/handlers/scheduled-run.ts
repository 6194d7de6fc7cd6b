import type { Logger } from "@aws-lambda-powertools/logger";

export interface ScheduledRunOptions {
  /** Between the starts of two passes. */
  readonly tickMs: number;
  /** No pass starts this long after the first; 0: one pass. */
  readonly runMs: number;
  readonly clock: () => number;
  readonly sleep: (ms: number) => Promise<void>;
  /** What the invocation has left before its timeout (Lambda's context), when known. */
  readonly remainingMs?: () => number;
  /** Time kept free before the timeout for a pass to finish. */
  readonly marginMs: number;
  readonly log: Logger;
}

/**
 * One invocation of a scheduled function: `pass` at once, then again every tick
 * until the run is over. A schedule fires once a minute on AWS; passing through
 * the minute is what makes a timer fire about a tick after its due time instead
 * of up to a minute late. Overlapping invocations are safe: every pass claims
 * what it moves with a conditional write.
 *
 * A failed pass is logged and the next one tries again; only when every pass
 * failed does the invocation fail, so a broken deployment still shows as errors.
 * Resolves with the number of passes.
 */
export async function runScheduled(
  pass: () => Promise<unknown>,
  options: ScheduledRunOptions,
): Promise<number> {
  const { tickMs, clock, sleep, remainingMs, marginMs, log } = options;
  const end = clock() + options.runMs;
  let passes = 0;
  let failures = 0;
  let lastError: unknown;
  for (;;) {
    const began = clock();
    try {
      await pass();
    } catch (err) {
      failures++;
      lastError = err;
      log.error("scheduled pass failed; the next one tries again", { error: String(err) });
    }
    passes++;
    const next = began + tickMs;
    const wait = Math.max(0, next - clock());
    // No pass starts after the run, nor one the function's timeout could cut short.
    const cutShort = remainingMs !== undefined && remainingMs() - wait < marginMs;
    if (next >= end || cutShort) break;
    await sleep(wait);
  }
  if (failures === passes) throw lastError;
  return passes;
}
