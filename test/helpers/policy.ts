/**
 * The protocol policy the core's unit tests run with: short, round intervals
 * (1 s re-sends, 4 s waiting, 8 s cap) so expected due times read plainly.
 */
import type { Policy } from "../../src/core/step.ts";

export const TEST_POLICY: Policy = {
  prepareRetryMs: 1_000,
  decisionRetryMs: 1_000,
  waitingRetryMs: 4_000,
  backoffCapMs: 8_000,
  stalledAfterAttempts: 3,
  maxEvents: 40,
};
