import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BankStore } from "../../src/participants/bank/bank-store.ts";
import { bankParticipant, bankStoreOf } from "../helpers/bank-participant.ts";
import { duplicating } from "../helpers/buses.ts";
import { eventually, type Stack, startStack } from "../helpers/stack.ts";

const transfer = (from: [string, string], to: [string, string], amount: number) => [
  { server_id: from[0], account_id: from[1], operation: "withdraw", amount },
  { server_id: to[0], account_id: to[1], operation: "deposit", amount },
];

async function settled(stack: Stack, id: string) {
  return eventually(
    async () => {
      const view = (await (await stack.request("GET", `/v1/transactions/${id}`)).json()) as { phase: string };
      return view.phase === "committed" || view.phase === "aborted" ? view : undefined;
    },
    20_000,
    `transaction ${id} to finish`,
  );
}

describe("every message delivered twice", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ wrapBus: (bus) => duplicating(bus) });
  });
  afterAll(() => stack?.stop());

  it("commits and aborts exactly as a single delivery would", async () => {
    await stack.seed("bank-1", "d1", 1_000);
    await stack.seed("bank-2", "d2", 0);
    await stack.seed("bank-3", "d3", 5);
    // One after another, each settled: a transfer answered "aborted" may still hold
    // a lock until its ROLLBACK is applied, and the next would find it.
    const ok = await stack.transfer(transfer(["bank-1", "d1"], ["bank-2", "d2"], 400));
    await settled(stack, ok.id);
    const refused = await stack.transfer(transfer(["bank-3", "d3"], ["bank-1", "d1"], 6));
    await settled(stack, refused.id);
    const ok2 = await stack.transfer(transfer(["bank-1", "d1"], ["bank-3", "d3"], 100));
    await settled(stack, ok2.id);
    expect([ok.status, refused.status, ok2.status]).toEqual(["committed", "aborted", "committed"]);
    // Give the late duplicates time to arrive and be handled.
    await new Promise((r) => setTimeout(r, 1_000));
    expect((await stack.account("bank-1", "d1")).balance).toBe(500);
    expect((await stack.account("bank-2", "d2")).balance).toBe(400);
    expect((await stack.account("bank-3", "d3")).balance).toBe(105);
    const versions = await Promise.all([
      stack.account("bank-1", "d1"),
      stack.account("bank-2", "d2"),
      stack.account("bank-3", "d3"),
    ]);
    // Seeded at version 1; each committed change bumps it once, duplicates never.
    expect(versions.map((a) => a.version)).toEqual([3, 2, 2]);
    const bank = await stack.scan("bank");
    expect(bank.filter((i) => i.lockedBy !== undefined)).toEqual([]);
    expect(bank.filter((i) => i.state === "prepared")).toEqual([]);
  });
});

describe("a participant's barrier", () => {
  let stack: Stack;
  let store: BankStore;
  beforeAll(async () => {
    stack = await startStack({ roles: [] });
    store = bankStoreOf(stack);
  });
  afterAll(() => stack?.stop());

  const participant = () => bankParticipant(store);
  const prepare = (txId: string, amount: number) => ({
    type: "prepare" as const,
    txId,
    participant: "bank-1",
    deadline: Date.now() + 60_000,
    // Every delivery of one transaction's PREPARE carries the same start (from its record).
    startedAt: 1_000,
    branches: [{ index: 0, action: "withdraw", input: { account: "p1", amount } }],
  });

  it("makes a PREPARE that arrives after its ROLLBACK vote no and lock nothing", async () => {
    await stack.seed("bank-1", "p1", 100);
    const { bus, handle } = participant();
    await handle({ type: "rollback", txId: "late-1", participant: "bank-1" });
    await handle(prepare("late-1", 10));
    expect(bus.sent.map((s) => s.message)).toEqual([
      { type: "ack", txId: "late-1", participant: "bank-1", decision: "abort" },
      { type: "vote", txId: "late-1", participant: "bank-1", vote: "no", reason: "rolled_back" },
    ]);
    expect(await stack.account("bank-1", "p1")).toEqual({
      server: "bank-1",
      account: "p1",
      balance: 100,
      reserved: 0,
      pending: 0,
      version: 1,
    });
  });

  it("gives the same vote to a repeated PREPARE and applies a repeated COMMIT once", async () => {
    await stack.seed("bank-1", "p1", 100);
    const { bus, handle } = participant();
    await handle(prepare("dup-1", 30));
    await handle(prepare("dup-1", 30));
    expect(await stack.account("bank-1", "p1")).toMatchObject({ balance: 100, reserved: 30 });
    await handle({ type: "commit", txId: "dup-1", participant: "bank-1" });
    await handle({ type: "commit", txId: "dup-1", participant: "bank-1" });
    await handle(prepare("dup-1", 30));
    expect(bus.sent.map((s) => s.message.type)).toEqual(["vote", "vote", "ack", "ack", "vote"]);
    expect(
      bus.sent
        .filter((s) => s.message.type === "vote")
        .every((s) => "vote" in s.message && s.message.vote === "yes"),
    ).toBe(true);
    expect(await stack.account("bank-1", "p1")).toMatchObject({ balance: 70, reserved: 0, version: 3 });
    expect((await stack.account("bank-1", "p1")).lockedBy).toBeUndefined();
  });

  it("releases on a repeated ROLLBACK once and refuses a repeated PREPARE the same way", async () => {
    await stack.seed("bank-1", "p1", 100);
    const { bus, handle } = participant();
    await handle(prepare("rb-1", 500));
    await handle(prepare("rb-1", 5));
    await handle(prepare("rb-2", 5));
    await handle({ type: "rollback", txId: "rb-2", participant: "bank-1" });
    await handle({ type: "rollback", txId: "rb-2", participant: "bank-1" });
    const messages = bus.sent.map((s) => s.message);
    expect(messages).toEqual([
      {
        type: "vote",
        txId: "rb-1",
        participant: "bank-1",
        vote: "no",
        reason: "insufficient_funds",
        failedBranch: 0,
      },
      {
        type: "vote",
        txId: "rb-1",
        participant: "bank-1",
        vote: "no",
        reason: "insufficient_funds",
        failedBranch: 0,
      },
      { type: "vote", txId: "rb-2", participant: "bank-1", vote: "yes" },
      { type: "ack", txId: "rb-2", participant: "bank-1", decision: "abort" },
      { type: "ack", txId: "rb-2", participant: "bank-1", decision: "abort" },
    ]);
    expect(await stack.account("bank-1", "p1")).toMatchObject({ balance: 100 });
    expect((await stack.account("bank-1", "p1")).lockedBy).toBeUndefined();
  });

  it("does not take an earlier transaction's barrier under a reused id for its own vote", async () => {
    await stack.seed("bank-1", "p1", 100);
    const { bus, handle } = participant();
    const first = prepare("reused-1", 10);
    await handle(first);
    await handle({ type: "commit", txId: "reused-1", participant: "bank-1" });
    // The id comes back with a new transaction (its record expired), while the old barrier lingers.
    await handle({ ...prepare("reused-1", 10), startedAt: first.startedAt + 1 });
    expect(bus.sent.at(-1)?.message).toEqual({
      type: "vote",
      txId: "reused-1",
      participant: "bank-1",
      vote: "no",
      reason: "id_reused",
    });
    expect(await stack.account("bank-1", "p1")).toMatchObject({ balance: 90 });
    expect((await stack.account("bank-1", "p1")).lockedBy).toBeUndefined();
  });

  it("acks a ROLLBACK of a reused id's new transaction without touching the old committed barrier", async () => {
    await stack.seed("bank-1", "p1", 100);
    const { bus, handle } = participant();
    const first = prepare("reused-2", 10);
    await handle(first);
    await handle({ type: "commit", txId: "reused-2", participant: "bank-1", startedAt: first.startedAt });
    const again = { ...prepare("reused-2", 10), startedAt: first.startedAt + 1 };
    await handle(again);
    // The new transaction aborts on that no vote; its ROLLBACK names it and is no violation.
    await handle({ type: "rollback", txId: "reused-2", participant: "bank-1", startedAt: again.startedAt });
    expect(bus.sent.map((s) => s.message).slice(-2)).toEqual([
      { type: "vote", txId: "reused-2", participant: "bank-1", vote: "no", reason: "id_reused" },
      { type: "ack", txId: "reused-2", participant: "bank-1", decision: "abort" },
    ]);
    expect(await store.getBarrier("bank-1", "reused-2")).toMatchObject({
      state: "committed",
      txStartedAt: first.startedAt,
    });
    expect(await stack.account("bank-1", "p1")).toMatchObject({ balance: 90 });
  });

  it("never releases a new transaction's prepared barrier for an earlier one's ROLLBACK under the same id", async () => {
    await stack.seed("bank-1", "p1", 100);
    const { bus, handle } = participant();
    // The old barrier has expired; the id's new transaction prepared here.
    const current = { ...prepare("reused-3", 10), startedAt: 5_000 };
    await handle(current);
    await handle({ type: "rollback", txId: "reused-3", participant: "bank-1", startedAt: 1_000 });
    expect(bus.sent.at(-1)?.message).toEqual({
      type: "ack",
      txId: "reused-3",
      participant: "bank-1",
      decision: "abort",
    });
    expect(await store.getBarrier("bank-1", "reused-3")).toMatchObject({ state: "prepared" });
    expect((await stack.account("bank-1", "p1")).reserved).toBeGreaterThan(0);
    await handle({ type: "commit", txId: "reused-3", participant: "bank-1", startedAt: current.startedAt });
    expect(await stack.account("bank-1", "p1")).toMatchObject({ balance: 90 });
    // A COMMIT naming another incarnation never applies this one.
    await expect(
      handle({ type: "commit", txId: "reused-3", participant: "bank-1", startedAt: 1_000 }),
    ).rejects.toThrow(/another incarnation/);
  });

  it("refuses a COMMIT it never prepared instead of inventing money", async () => {
    const { handle } = participant();
    await expect(handle({ type: "commit", txId: "never-1", participant: "bank-1" })).rejects.toThrow(
      /never prepared/,
    );
  });
});
