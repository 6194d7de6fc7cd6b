/**
 * The bank's rules, pure: its branches planned by the kit against accounts as
 * read, as a 2PC PREPARE or a saga step would plan them.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fits } from "../../src/participant-kit/escrow.ts";
import type { LockMode } from "../../src/participant-kit/lock-mode.ts";
import { type BranchRequest, declaredPlan, planGroup } from "../../src/participant-kit/planning.ts";
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

describe("the bank's declared moves keep their contract (what the blind prepare relies on)", () => {
  const MAX = Number.MAX_SAFE_INTEGER;
  const ids = ["a", "b", "c"] as const;
  /** Amounts small and huge: every edge of what is available and of a safe integer. */
  const amount = fc.oneof(fc.integer({ min: 1, max: 200 }), fc.integer({ min: MAX - 200, max: MAX }));
  const balance = fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: MAX - 300, max: MAX }));
  /** An account as a PREPARE would read it: absent, or with holds that any order of commits keeps in range. */
  const stored = (id: string) =>
    fc.option(
      fc
        .record({
          balance,
          reservedShare: fc.double({ min: 0, max: 1, noNaN: true }),
          pendingShare: fc.double({ min: 0, max: 1, noNaN: true }),
          locked: fc.boolean(),
        })
        .map(({ balance, reservedShare, pendingShare, locked }): Resource<AccountState> => {
          const reserved = Math.floor(balance * reservedShare);
          const pending = Math.floor((MAX - balance) * pendingShare);
          return {
            id,
            version: 5,
            state: { balance },
            ...(reserved > 0 || pending > 0 ? { holds: { balance: { reserved, pending } } } : {}),
            ...(locked ? { lockedBy: "other" } : {}),
          };
        }),
      { nil: undefined, freq: 4 },
    );
  const read = fc
    .tuple(...ids.map(stored))
    .map((list) => new Map(list.flatMap((r) => (r ? [[r.id, r] as const] : []))));
  const branch = fc.oneof(
    fc.record({
      action: fc.constantFrom("deposit", "withdraw"),
      input: fc.record({ account: fc.constantFrom(...ids), amount }),
    }),
    fc
      .record({ account: fc.constantFrom(...ids), to_account: fc.constantFrom(...ids), amount })
      .filter((t) => t.account !== t.to_account)
      .map((input) => ({ action: "transfer", input })),
  );
  const branches = fc
    .array(branch, { minLength: 1, maxLength: 3 })
    .map((list): BranchRequest[] => list.map((b, index) => ({ index, ...b })));

  it("planned by reading, a declared group votes yes exactly when its moves fit unlocked accounts, and plans them", () => {
    fc.assert(
      fc.property(read, branches, (accounts, group) => {
        const declared = declaredPlan(bankModel, group);
        // Mixed debits and credits on one account, or sums past a safe integer, are read instead.
        fc.pre(declared !== undefined);
        const plan = planGroup(bankModel, group, accounts, "me");
        // The store's conditions on the blind write: each account there, unlocked, its moves fitting.
        const writable = (declared ?? []).every(({ id, moves }) => {
          const r = accounts.get(id);
          return r?.state !== undefined && r.lockedBy === undefined && fits(r.state, r.holds, moves ?? {});
        });
        expect(plan.vote === "yes").toBe(writable);
        if (plan.vote === "yes") {
          const movesOf = (list: readonly { id: string; moves?: unknown }[]) =>
            list.map(({ id, moves }) => ({ id, moves })).sort((x, y) => (x.id < y.id ? -1 : 1));
          expect(movesOf(plan.planned)).toEqual(movesOf(declared ?? []));
        }
      }),
      { numRuns: 2_000 },
    );
  });

  it("a single branch is always declared (unless it pins a version), and the same holds", () => {
    fc.assert(
      fc.property(read, branch, fc.boolean(), (accounts, b, pin) => {
        const group = [
          { index: 0, action: b.action, input: pin ? { ...b.input, expectedVersion: 5 } : b.input },
        ];
        const declared = declaredPlan(bankModel, group);
        expect(declared === undefined).toBe(pin);
        if (declared === undefined) return;
        const plan = planGroup(bankModel, group, accounts, "me");
        const writable = declared.every(({ id, moves }) => {
          const r = accounts.get(id);
          return r?.state !== undefined && r.lockedBy === undefined && fits(r.state, r.holds, moves ?? {});
        });
        expect(plan.vote === "yes").toBe(writable);
        if (plan.vote === "yes")
          expect(plan.planned.map((p) => p.moves)).toEqual(declared.map((p) => p.moves));
      }),
      { numRuns: 2_000 },
    );
  });
});
