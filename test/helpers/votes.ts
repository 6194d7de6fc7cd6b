/**
 * A 2PC record of two participants, `p1` and `p2`, and the answers the
 * coordinator folds into it, for the core's unit tests of the writes that carry
 * a participant's own part (own-commit, own-vote).
 */
import { foldMessages } from "../../src/coordinator/coordinator.ts";
import type { CoordinatorMessage } from "../../src/core/messages.ts";
import type { TxRecord } from "../../src/core/transaction.ts";
import { begunTwoPc, TEST_POLICY } from "./policy.ts";

export const twoVoters = begunTwoPc({ id: "t", participants: ["p1", "p2"], action: "x", input: {} });

export const vote = (participant: string, v: "yes" | "no" = "yes"): CoordinatorMessage => ({
  type: "vote",
  txId: "t",
  participant,
  vote: v,
});

/** `messages` folded into `record` at `now`, as one coordinator step. */
export const apply = (record: TxRecord, messages: CoordinatorMessage[], now = 5) =>
  foldMessages(record, messages, now, TEST_POLICY);
