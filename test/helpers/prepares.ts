/** PREPAREs the participant-kit unit tests send: one withdrawal of 5 from account `a`. */
import type { PrepareMessage } from "../../src/core/messages.ts";

export const T0 = 1_700_000_000_000;

/** `txId`'s PREPARE (started `startedAt`) to `participant`: withdraw 5 from `a`, deadline a minute after T0. */
export const withdrawal = (participant: string, txId: string, startedAt: number): PrepareMessage => ({
  type: "prepare",
  txId,
  participant,
  deadline: T0 + 60_000,
  startedAt,
  branches: [{ index: 0, action: "withdraw", input: { account: "a", amount: 5 } }],
});
