/**
 * A stand-in for an external service that is slow and sometimes down (the
 * payment provider): each call waits `latencyMs`, then fails with probability
 * `failureRate` as a transient failure (RetryLaterError). Nothing is written
 * when it fails: a saga step answers `retry`, a PREPARE returns to its queue.
 */

import { RetryLaterError } from "../../participant-kit/errors.ts";
import type { ExternalService } from "../../participant-kit/kit-deps.ts";
import { sleep as realSleep } from "../../timers.ts";

export interface UnreliableServiceOptions {
  /** Probability in [0, 1] that a call fails. */
  readonly failureRate: number;
  readonly latencyMs: number;
  /** The reason a failed call gives (a saga `retry` result carries it). */
  readonly reason: string;
  readonly random?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
}

/** Undefined when it would never fail nor wait: then the participant calls nothing. */
export function unreliableService(options: UnreliableServiceOptions): ExternalService | undefined {
  const { failureRate, latencyMs, reason } = options;
  if (failureRate <= 0 && latencyMs <= 0) return undefined;
  const random = options.random ?? Math.random;
  const sleep = options.sleep ?? realSleep;
  return async () => {
    if (latencyMs > 0) await sleep(latencyMs);
    if (random() < failureRate) throw new RetryLaterError(reason);
  };
}
