import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bankState, expectAgreement } from "../helpers/invariants.ts";
import { eventually, type Stack, startStack } from "../helpers/stack.ts";

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack?.stop());

/** A small seeded generator, so a failure can be replayed. */
function random(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe("200 concurrent random transfers among 10 accounts on 3 servers", () => {
  it("conserve the total, never go negative, abort for no lock, and leave no lock or reservation", async () => {
    const seed = Number(process.env.CONCORD_TEST_SEED ?? 20261122);
    const rand = random(seed);
    const servers = ["bank-1", "bank-2", "bank-3"];
    const accounts = Array.from({ length: 10 }, (_, i) => ({
      server: servers[i % 3] as string,
      id: `acct-${i}`,
    }));
    for (const a of accounts) await stack.seed(a.server, a.id, 1_000);
    const before = await bankState(stack);
    expect(before.total).toBe(10_000);

    const pick = () => accounts[Math.floor(rand() * accounts.length)] as (typeof accounts)[number];
    const transfers = Array.from({ length: 200 }, () => {
      const from = pick();
      let to = pick();
      while (to === from) to = pick();
      // Some amounts exceed any balance on purpose: those must abort.
      const amount = 1 + Math.floor(rand() * (rand() < 0.1 ? 5_000 : 400));
      return [
        { server_id: from.server, account_id: from.id, operation: "withdraw", amount },
        { server_id: to.server, account_id: to.id, operation: "deposit", amount },
      ];
    });

    // All 200 at once: whatever mix commits, money is neither made nor lost.
    const outcomes = await Promise.all(
      transfers.map(async (ops) => {
        const res = await stack.request("POST", "/v1/transfers?wait=20000", ops);
        expect([201, 202]).toContain(res.status);
        return (await res.json()) as { status: string; reason?: string };
      }),
    );
    const count = (status: string) => outcomes.filter((o) => o.status === status).length;
    const why = new Map<string, number>();
    for (const o of outcomes) if (o.reason) why.set(o.reason, (why.get(o.reason) ?? 0) + 1);
    console.log(
      `seed ${seed}: ${count("committed")} committed, ${count("aborted")} aborted ${JSON.stringify(Object.fromEntries(why))}`,
    );
    // Under wait-die an older transfer may still be waiting its turn when the
    // client stops waiting: it is pending, and finishes below.
    expect(count("committed") + count("pending")).toBeGreaterThan(0);
    // Transfers only add and take: they reserve instead of locking, so none aborts for a
    // lock; the only refusals are amounts past what the account has available.
    const reasons = new Set(outcomes.filter((o) => o.status === "aborted").map((o) => o.reason));
    expect([...reasons].filter((r) => r !== "insufficient_funds")).toEqual([]);

    const finals = await eventually(
      async () => {
        const txs = await stack.scan("transactions");
        return txs.every((t) => t.state === "committed" || t.state === "aborted") ? txs : undefined;
      },
      90_000,
      "every transaction to finish",
    );
    expect(finals).toHaveLength(200);
    expect(finals.filter((t) => t.state === "committed").length).toBeGreaterThan(0);

    const after = await bankState(stack);
    expect(after).toEqual({ total: 10_000, negative: [], locked: [], held: [], prepared: [] });
    await expectAgreement(stack);
  }, 150_000);
});
