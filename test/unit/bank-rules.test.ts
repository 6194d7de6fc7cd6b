import { describe, expect, it } from "vitest";
import { type Account, planPrepare } from "../../src/participants/bank/bank-rules.ts";

const accounts = (...list: Account[]) => new Map(list.map((a) => [a.account, a]));
const acct = (account: string, balance: number, extra: Partial<Account> = {}): Account => ({
  account,
  balance,
  version: 3,
  ...extra,
});

describe("planPrepare", () => {
  it.each([
    {
      name: "a covered withdrawal votes yes with its delta",
      branches: [{ index: 0, action: "withdraw", input: { account: "a", amount: 40 } }],
      plan: { vote: "yes", effects: [{ account: "a", delta: -40, version: 3 }] },
    },
    {
      name: "a transfer moves money between two accounts",
      branches: [{ index: 0, action: "transfer", input: { account: "a", to_account: "b", amount: 100 } }],
      plan: {
        vote: "yes",
        effects: [
          { account: "a", delta: -100, version: 3 },
          { account: "b", delta: 100, version: 3 },
        ],
      },
    },
    {
      name: "branches on one account net into one effect",
      branches: [
        { index: 0, action: "deposit", input: { account: "a", amount: 10 } },
        { index: 1, action: "withdraw", input: { account: "a", amount: 105 } },
      ],
      plan: { vote: "yes", effects: [{ account: "a", delta: -95, version: 3 }] },
    },
    {
      name: "an uncovered withdrawal refuses with insufficient_funds",
      branches: [{ index: 2, action: "withdraw", input: { account: "a", amount: 101 } }],
      plan: { vote: "no", reason: "insufficient_funds", failedBranch: 2 },
    },
    {
      name: "a withdrawal judged before a later deposit that would cover it",
      branches: [
        { index: 0, action: "withdraw", input: { account: "a", amount: 150 } },
        { index: 1, action: "deposit", input: { account: "a", amount: 100 } },
      ],
      plan: { vote: "no", reason: "insufficient_funds", failedBranch: 0 },
    },
    {
      name: "an unknown account refuses",
      branches: [{ index: 0, action: "deposit", input: { account: "zz", amount: 1 } }],
      plan: { vote: "no", reason: "unknown_account", failedBranch: 0 },
    },
    {
      name: "an account locked by another transaction refuses with lock_conflict",
      branches: [{ index: 0, action: "deposit", input: { account: "locked", amount: 1 } }],
      plan: { vote: "no", reason: "lock_conflict", failedBranch: 0, holder: "other" },
    },
    {
      name: "a version pin that does not match refuses with version_conflict",
      branches: [{ index: 0, action: "withdraw", input: { account: "a", amount: 1, expectedVersion: 2 } }],
      plan: { vote: "no", reason: "version_conflict", failedBranch: 0 },
    },
    {
      name: "a matching version pin votes yes",
      branches: [{ index: 0, action: "withdraw", input: { account: "a", amount: 1, expectedVersion: 3 } }],
      plan: { vote: "yes", effects: [{ account: "a", delta: -1, version: 3 }] },
    },
    {
      name: "a deposit past the largest safe integer refuses",
      branches: [{ index: 0, action: "deposit", input: { account: "big", amount: 10 } }],
      plan: { vote: "no", reason: "balance_overflow", failedBranch: 0 },
    },
    {
      name: "malformed input refuses with invalid_input",
      branches: [{ index: 0, action: "deposit", input: { account: "a", amount: -5 } }],
      plan: { vote: "no", reason: "invalid_input", failedBranch: 0 },
    },
    {
      name: "an unknown action refuses with invalid_input",
      branches: [{ index: 0, action: "steal", input: { account: "a", amount: 5 } }],
      plan: { vote: "no", reason: "invalid_input", failedBranch: 0 },
    },
  ])("$name", ({ branches, plan }) => {
    const state = accounts(
      acct("a", 100),
      acct("b", 0),
      acct("locked", 50, { lockedBy: "other" }),
      acct("big", Number.MAX_SAFE_INTEGER - 5),
    );
    expect(planPrepare(branches, state, "me")).toEqual(plan);
  });

  it("treats a lock held by the same transaction as its own", () => {
    const plan = planPrepare(
      [{ index: 0, action: "deposit", input: { account: "a", amount: 1 } }],
      accounts(acct("a", 0, { lockedBy: "me" })),
      "me",
    );
    expect(plan.vote).toBe("yes");
  });
});
