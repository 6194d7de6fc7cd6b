/**
 * Optimistic versions, and the size limits: 100 participants in one
 * transaction, one bad branch among 100, a per-transaction timeout.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TransactionView } from "../../src/core/view.ts";
import { bankState } from "../helpers/invariants.ts";
import { type Stack, startStack } from "../helpers/stack.ts";

const SERVERS = Array.from({ length: 100 }, (_, i) => `bank-${i + 1}`);
let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ bankServers: SERVERS, pollersPerQueue: 1 });
  for (let i = 0; i < SERVERS.length; i += 20) {
    await Promise.all(SERVERS.slice(i, i + 20).map((s) => stack.seed(s, "acct", 100)));
  }
}, 120_000);
afterAll(() => stack?.stop());

describe("optimistic versions", () => {
  it("a matching expectedVersion commits and bumps the version; a stale one aborts with version_conflict", async () => {
    const before = await stack.account("bank-1", "acct");
    const tx = (version: number) => ({
      protocol: "2pc",
      branches: [
        {
          participant: "bank-1",
          action: "withdraw",
          input: { account: "acct", amount: 5, expectedVersion: version },
        },
        { participant: "bank-2", action: "deposit", input: { account: "acct", amount: 5 } },
      ],
    });
    const ok = (await (
      await stack.request("POST", "/v1/transactions?wait=10000", tx(before.version))
    ).json()) as TransactionView;
    expect(ok).toMatchObject({ status: "committed" });
    await stack.settle(ok.id);
    expect(await stack.account("bank-1", "acct")).toMatchObject({ balance: 95, version: before.version + 1 });
    const stale = (await (
      await stack.request("POST", "/v1/transactions?wait=10000", tx(before.version))
    ).json()) as TransactionView;
    expect(stale).toMatchObject({ status: "aborted", reason: "version_conflict" });
    expect(stale.branches[0]).toMatchObject({ vote: "no", reason: "version_conflict" });
    await stack.settle(stale.id);
    expect(await stack.account("bank-1", "acct")).toMatchObject({ balance: 95, version: before.version + 1 });
  });
});

describe("100 participants in one transaction", () => {
  const spread = (amount: (i: number) => number) =>
    SERVERS.map((s, i) => ({
      participant: s,
      action: i % 2 === 0 ? "withdraw" : "deposit",
      input: { account: "acct", amount: amount(i) },
    }));

  it("a 100-branch transaction across 100 accounts on 100 servers commits", async () => {
    const before = await bankState(stack);
    const res = await stack.request("POST", "/v1/transactions?wait=30000", {
      protocol: "2pc",
      branches: spread(() => 3),
    });
    const view = (await res.json()) as TransactionView;
    expect(view).toMatchObject({ status: "committed" });
    expect(view.branches).toHaveLength(100);
    await stack.settle(view.id, 60_000);
    const after = await bankState(stack);
    expect(after).toMatchObject({ total: before.total, locked: [], prepared: [] });
    expect((await stack.account("bank-100", "acct")).balance).toBe(103);
  }, 90_000);

  it("one bad branch among 100 aborts all of them and applies nothing", async () => {
    const before = await Promise.all(SERVERS.map((s) => stack.account(s, "acct")));
    const res = await stack.request("POST", "/v1/transactions?wait=30000", {
      protocol: "2pc",
      branches: spread((i) => (i === 58 ? 1_000_000 : 1)),
    });
    const view = (await res.json()) as TransactionView;
    expect(view).toMatchObject({ status: "aborted", reason: "insufficient_funds" });
    expect(view.branches[58]).toMatchObject({ vote: "no", reason: "insufficient_funds" });
    await stack.settle(view.id, 60_000);
    const after = await Promise.all(SERVERS.map((s) => stack.account(s, "acct")));
    expect(after.map((a) => [a.balance, a.version, a.lockedBy])).toEqual(
      before.map((a) => [a.balance, a.version, undefined]),
    );
  }, 90_000);

  it("honours a per-transaction timeout", async () => {
    // 1 ms cannot be met: the PREPAREs arrive after the deadline and every participant refuses.
    const res = await stack.request("POST", "/v1/transactions?wait=15000", {
      protocol: "2pc",
      timeoutMs: 1,
      branches: spread(() => 1).slice(0, 2),
    });
    const view = (await res.json()) as TransactionView;
    expect(view).toMatchObject({ status: "aborted", reason: "timeout" });
  }, 30_000);
});
