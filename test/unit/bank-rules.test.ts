/**
 * The bank's rules, pure: its branches planned by the kit against accounts as
 * read, as a 2PC PREPARE or a saga step would plan them.
 */
import { describe, expect, it } from "vitest";
import type { LockMode } from "../../src/participant-kit/lock-mode.ts";
import { type BranchRequest, planGroup } from "../../src/participant-kit/planning.ts";
import type { Resource } from "../../src/participant-kit/resource-model.ts";
import { type AccountState, bankModel } from "../../src/participants/bank/bank-rules.ts";

const account = (id: string, balance: number, lockedBy?: string): Resource<AccountState> => ({
  id,
  version: 3,
  state: { balance },
  ...(lockedBy !== undefined ? { lockedBy } : {}),
});
const accounts = new Map(
  [
    account("a", 100),
    account("b", 0),
    account("locked", 50, "other"),
    account("big", Number.MAX_SAFE_INTEGER - 5),
  ].map((r) => [r.id, r]),
);
const yes = (...balances: [id: string, balance: number][]) => ({
  vote: "yes",
  planned: balances.map(([id, balance]) => ({ id, version: 3, next: { balance } })),
});
/** Under reservations (the default) a plan that only moves balances records the net move, not the new balance. */
const moves = (...deltas: [id: string, delta: number][]) => ({
  vote: "yes",
  planned: deltas.map(([id, delta]) => ({ id, version: 3, moves: { balance: delta } })),
});
const no = (reason: string, failedBranch = 0) => ({ vote: "no", reason, failedBranch });

describe("the bank's rules", () => {
  it.each<{ name: string; branches: BranchRequest[]; plan: unknown; mode?: LockMode }>([
    {
      name: "a covered withdrawal votes yes with its move",
      branches: [{ index: 0, action: "withdraw", input: { account: "a", amount: 40 } }],
      plan: moves(["a", -40]),
    },
    {
      name: "under exclusive locks a covered withdrawal votes yes with the new balance",
      branches: [{ index: 0, action: "withdraw", input: { account: "a", amount: 40 } }],
      plan: yes(["a", 60]),
      mode: "exclusive",
    },
    {
      name: "a transfer moves money between two accounts",
      branches: [{ index: 0, action: "transfer", input: { account: "a", to_account: "b", amount: 100 } }],
      plan: moves(["a", -100], ["b", 100]),
    },
    {
      name: "branches on one account net into one move",
      branches: [
        { index: 0, action: "deposit", input: { account: "a", amount: 10 } },
        { index: 1, action: "withdraw", input: { account: "a", amount: 105 } },
      ],
      plan: moves(["a", -95]),
    },
    {
      name: "an uncovered withdrawal refuses with insufficient_funds",
      branches: [{ index: 2, action: "withdraw", input: { account: "a", amount: 101 } }],
      plan: no("insufficient_funds", 2),
    },
    {
      name: "a withdrawal judged before a later deposit that would cover it",
      branches: [
        { index: 0, action: "withdraw", input: { account: "a", amount: 150 } },
        { index: 1, action: "deposit", input: { account: "a", amount: 100 } },
      ],
      plan: no("insufficient_funds"),
    },
    {
      name: "an unknown account refuses",
      branches: [{ index: 0, action: "deposit", input: { account: "zz", amount: 1 } }],
      plan: no("unknown_account"),
    },
    {
      name: "an account locked by another transaction refuses with lock_conflict, naming where to wait",
      branches: [{ index: 0, action: "deposit", input: { account: "locked", amount: 1 } }],
      plan: { ...no("lock_conflict"), holder: "other", lockedResource: "locked" },
    },
    {
      name: "a version pin that does not match refuses with version_conflict",
      branches: [{ index: 0, action: "withdraw", input: { account: "a", amount: 1, expectedVersion: 2 } }],
      plan: no("version_conflict"),
    },
    {
      name: "a matching version pin votes yes",
      branches: [{ index: 0, action: "withdraw", input: { account: "a", amount: 1, expectedVersion: 3 } }],
      plan: yes(["a", 99]),
    },
    {
      name: "a deposit past the largest safe integer refuses",
      branches: [{ index: 0, action: "deposit", input: { account: "big", amount: 10 } }],
      plan: no("balance_overflow"),
    },
    {
      name: "malformed input refuses with invalid_input",
      branches: [{ index: 0, action: "deposit", input: { account: "a", amount: -5 } }],
      plan: no("invalid_input"),
    },
    {
      name: "an unknown action refuses with invalid_input",
      branches: [{ index: 0, action: "steal", input: { account: "a", amount: 5 } }],
      plan: no("invalid_input"),
    },
  ])("$name", ({ branches, plan, mode }) => {
    expect(planGroup(bankModel, branches, accounts, "me", mode)).toEqual(plan);
  });

  it("treats a lock held by the same transaction as its own", () => {
    const mine = new Map([["a", account("a", 0, "me")]]);
    const plan = planGroup(
      bankModel,
      [{ index: 0, action: "deposit", input: { account: "a", amount: 1 } }],
      mine,
      "me",
    );
    expect(plan).toEqual(moves(["a", 1]));
  });
});
