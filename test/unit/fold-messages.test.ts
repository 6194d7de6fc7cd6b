import { describe, expect, it } from "vitest";
import { foldMessages } from "../../src/coordinator/coordinator.ts";
import type { CoordinatorMessage } from "../../src/core/messages.ts";
import type { TxRecord } from "../../src/core/transaction.ts";
import { begin, type Policy } from "../../src/core/two-phase-commit.ts";

const policy: Policy = {
  prepareRetryMs: 1000,
  decisionRetryMs: 1000,
  waitingRetryMs: 4_000,
  backoffCapMs: 8000,
  stalledAfterAttempts: 3,
  maxEvents: 100,
};
const names = ["p1", "p2", "p3"];
const tx = begin(
  {
    id: "t",
    requestHash: "h",
    timeoutMs: 60_000,
    branches: names.map((participant) => ({ participant, action: "x", input: {} })),
  },
  0,
  policy,
).next;
const vote = (participant: string, v: "yes" | "no" = "yes"): CoordinatorMessage => ({
  type: "vote",
  txId: "t",
  participant,
  vote: v,
});

describe("foldMessages: one batch of a transaction's messages as one write", () => {
  it("decides once when the last vote is in the batch, with one decision per participant", () => {
    const step = foldMessages(tx, [vote("p1"), vote("p2"), vote("p2"), vote("p3")], 5, policy);
    expect(step.changed).toBe(true);
    expect(step.next.state).toBe("committing");
    expect(step.effects).toEqual(
      names.map((participant) => ({ kind: "decision", participant, decision: "commit" })),
    );
  });

  it("matches the same messages applied one write at a time", () => {
    const messages = [vote("p2"), vote("p1", "no"), vote("p3")];
    let one: TxRecord = tx;
    for (const m of messages) one = foldMessages(one, [m], 5, policy).next;
    const all = foldMessages(tx, messages, 5, policy).next;
    expect(all).toEqual(one);
  });

  it("changes nothing for a batch of duplicates", () => {
    const voted = foldMessages(tx, [vote("p1")], 5, policy).next;
    const again = foldMessages(voted, [vote("p1"), vote("p1")], 6, policy);
    expect(again.changed).toBe(false);
    expect(again.effects).toEqual([]);
  });
});
