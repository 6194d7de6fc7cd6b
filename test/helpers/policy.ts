/**
 * The protocol policy the core's unit tests run with: short, round intervals
 * (1 s re-sends, 4 s waiting, 8 s cap) so expected due times read plainly.
 */
import type { Policy } from "../../src/core/step.ts";
import type { TwoPcRecord } from "../../src/core/transaction.ts";
import { begin } from "../../src/core/two-phase-commit.ts";

export const TEST_POLICY: Policy = {
  prepareRetryMs: 1_000,
  decisionRetryMs: 1_000,
  waitingRetryMs: 4_000,
  backoffCapMs: 8_000,
  stalledAfterAttempts: 3,
  maxEvents: 40,
};

/**
 * A 2PC record just begun under TEST_POLICY: one branch per participant, each
 * `action` on account `a` for 1.
 */
export function begunTwoPc(
  options: {
    readonly id?: string;
    readonly participants?: readonly string[];
    readonly action?: string;
    readonly input?: unknown;
    readonly timeoutMs?: number;
    readonly at?: number;
  } = {},
): TwoPcRecord {
  const {
    id = "t1",
    participants = ["bank-1", "bank-2"],
    action = "withdraw",
    timeoutMs = 60_000,
    at = 0,
  } = options;
  const input = "input" in options ? options.input : { account: "a", amount: 1 };
  return begin(
    {
      id,
      requestHash: "h",
      timeoutMs,
      branches: participants.map((participant) => ({ participant, action, input })),
    },
    at,
    TEST_POLICY,
  ).next;
}
