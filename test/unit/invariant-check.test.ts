/** The stored-state checker: what it concludes from records, barriers, step barriers and balances. */
import { describe, expect, it } from "vitest";
import { begin, onResult } from "../../src/core/saga.ts";
import type { BranchSpec, SagaRecord } from "../../src/core/transaction.ts";
import { checkInvariants } from "../../testkit/invariants/check.ts";
import type { Snapshot, StepView } from "../../testkit/invariants/snapshot.ts";
import { TEST_POLICY as policy } from "../helpers/policy.ts";

const T0 = 1_000_000;

const move = (participant: string, action: "withdraw" | "deposit", stage: number): BranchSpec => ({
  participant,
  action,
  input: { account: "a", amount: 5 },
  compensation: {
    action: action === "withdraw" ? "deposit" : "withdraw",
    input: { account: "a", amount: 5 },
  },
  stage,
});

/** A committed transfer saga: withdraw 5 from bank-1/a, then deposit 5 to bank-2/a. */
function committedTransfer(): SagaRecord {
  let tx = begin(
    {
      id: "s1",
      requestHash: "h",
      timeoutMs: 60_000,
      branches: [move("bank-1", "withdraw", 0), move("bank-2", "deposit", 1)],
      atomicStages: [],
    },
    T0,
    policy,
  ).next as SagaRecord;
  for (const [branch, participant] of [
    [0, "bank-1"],
    [1, "bank-2"],
  ] as const) {
    tx = onResult(
      tx,
      { participant, branch, step: "action", outcome: "done" },
      T0 + 10 * (branch + 1),
      policy,
    ).next as SagaRecord;
  }
  expect(tx.state).toBe("committed");
  return tx;
}

const step = (participant: string, branch: number): StepView => ({
  participant,
  txId: "s1",
  txStartedAt: T0,
  branch,
  state: "done",
});

function snapshot(tx: SagaRecord, steps: StepView[], extra: Partial<Snapshot> = {}): Snapshot {
  return {
    records: [tx],
    accounts: [
      { participant: "bank-1", id: "a", balance: 95 },
      { participant: "bank-2", id: "a", balance: 105 },
    ],
    barriers: [],
    steps,
    initial: new Map([
      ["bank-1/a", 100],
      ["bank-2/a", 100],
    ]),
    ...extra,
  };
}

describe("a committed saga's step barriers", () => {
  it("holds when every branch at a checked participant left its done barrier", () => {
    expect(checkInvariants(snapshot(committedTransfer(), [step("bank-1", 0), step("bank-2", 1)]))).toEqual(
      [],
    );
  });

  it("names a branch reported done whose participant holds no step barrier for it", () => {
    const found = checkInvariants(snapshot(committedTransfer(), [step("bank-1", 0)]));
    expect(found).toEqual([
      {
        invariant: "saga-committed",
        detail: "saga s1 committed, but bank-2 holds no step barrier for branch 1",
      },
    ]);
  });

  it("says nothing of a barrier its TTL may have taken, nor of a participant whose items are not in the snapshot", () => {
    const tx = committedTransfer();
    const expired = snapshot(tx, [step("bank-1", 0)], {
      expiry: { retentionMs: 1_000, now: (tx.completedAt ?? T0) + 1_000 },
    });
    expect(checkInvariants(expired)).toEqual([]);
    // Balances unchecked here: only the step barriers are in question.
    const { initial: _balances, ...bank1Only } = snapshot(tx, [step("bank-1", 0)], {
      accounts: [{ participant: "bank-1", id: "a", balance: 95 }],
    });
    expect(checkInvariants(bank1Only)).toEqual([]);
  });
});
