/**
 * One-phase commit: a transaction whose branches are all at one participant of
 * the participant kit commits in one write there, with no PREPARE/decision round;
 * and the participant's side of it against DynamoDB Local, message by message
 * (a ROLLBACK before the one-phase PREPARE, the ROLLBACK that resolves a deadline).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CallCounter } from "../../src/adapters/call-counter.ts";
import type { PrepareMessage } from "../../src/core/messages.ts";
import type { BankStore } from "../../src/participants/bank/bank-store.ts";
import { bankParticipant, bankStoreOf } from "../helpers/bank-participant.ts";
import { type Stack, startStack } from "../helpers/stack.ts";

const sameServer = (from: string, to: string, amount: number) => [
  { server_id: "bank-1", account_id: from, operation: "transfer", amount, to_account_id: to },
];

describe("a transaction at one participant", () => {
  let stack: Stack;
  const counter = new CallCounter();
  beforeAll(async () => {
    stack = await startStack({ counter });
  });
  afterAll(() => stack?.stop());

  const barrierOf = async (txId: string) =>
    (await stack.scan("bank")).filter((i) => i.kind === "barrier" && i.txId === txId);

  it("a same-server transfer commits in one write: no PREPARE/decision round, no lock, no hold", async () => {
    await stack.seed("bank-1", "o1", 500);
    await stack.seed("bank-1", "o2", 10);
    counter.reset();
    const view = await stack.transfer(sameServer("o1", "o2", 120));
    // One write at the participant: no prepare, then commit.
    expect(counter.snapshot()["dynamodb:TransactWriteItems"]).toBe(1);
    expect(view).toMatchObject({ status: "committed", phase: "committed" });
    // Decided and completed by the participant's one report.
    expect(view.decidedAt).toBeDefined();
    expect(view.completedAt).toBe(view.decidedAt);
    expect(view.events.map((e) => e.type)).toEqual([
      "created",
      "prepare_sent",
      "ack",
      "decision",
      "completed",
    ]);
    expect(view.branches).toEqual([
      { participant: "bank-1", action: "transfer", state: "committed", vote: "yes" },
    ]);
    expect(await stack.account("bank-1", "o1")).toMatchObject({ balance: 380, reserved: 0, version: 2 });
    expect(await stack.account("bank-1", "o2")).toMatchObject({ balance: 130, pending: 0, version: 2 });
    const barriers = await barrierOf(view.id);
    expect(barriers).toHaveLength(1);
    expect(barriers[0]).toMatchObject({ state: "committed", onePhase: true });
    // Final when written: not in the index of barriers that may be in doubt.
    expect(barriers[0]?.preparedShard).toBeUndefined();
  });

  it("insufficient funds is refused with the reason, nothing written but the refused barrier", async () => {
    await stack.seed("bank-1", "o3", 50);
    await stack.seed("bank-1", "o4", 0);
    const view = await stack.transfer(sameServer("o3", "o4", 51));
    expect(view).toMatchObject({ status: "aborted", phase: "aborted", reason: "insufficient_funds" });
    expect(view.branches[0]).toMatchObject({ vote: "no", reason: "insufficient_funds", state: "refused" });
    expect(view.events.map((e) => e.type)).not.toContain("decision_sent");
    expect(await stack.account("bank-1", "o3")).toMatchObject({ balance: 50, reserved: 0, version: 1 });
    expect(await stack.account("bank-1", "o4")).toMatchObject({ balance: 0, pending: 0, version: 1 });
    expect((await barrierOf(view.id))[0]).toMatchObject({ state: "refused" });
  });

  it("branches over two servers keep two phases", async () => {
    await stack.seed("bank-1", "o5", 100);
    await stack.seed("bank-2", "o6", 0);
    const view = await stack.transfer([
      { server_id: "bank-1", account_id: "o5", operation: "withdraw", amount: 10 },
      { server_id: "bank-2", account_id: "o6", operation: "deposit", amount: 10 },
    ]);
    expect(view.status).toBe("committed");
    const settled = await stack.settle(view.id);
    expect(settled.events.map((e) => e.type)).toContain("decision_sent");
  });
});

describe("a one-phase participant, message by message", () => {
  let stack: Stack;
  let store: BankStore;
  beforeAll(async () => {
    stack = await startStack({ roles: [] });
    store = bankStoreOf(stack);
  });
  afterAll(() => stack?.stop());

  const participant = () => bankParticipant(store);
  const STARTED = 1_000;
  const prepare = (txId: string, amount: number): PrepareMessage => ({
    type: "prepare",
    txId,
    participant: "bank-1",
    deadline: Date.now() + 60_000,
    startedAt: STARTED,
    onePhase: true,
    branches: [{ index: 0, action: "transfer", input: { account: "m1", to_account: "m2", amount } }],
  });
  const rollback = (txId: string) =>
    ({ type: "rollback", txId, participant: "bank-1", startedAt: STARTED }) as const;
  const balances = async () =>
    [(await stack.account("bank-1", "m1")).balance, (await stack.account("bank-1", "m2")).balance] as const;

  it("a ROLLBACK before the one-phase PREPARE: the PREPARE refuses and applies nothing", async () => {
    await stack.seed("bank-1", "m1", 100);
    await stack.seed("bank-1", "m2", 0);
    const { bus, handle } = participant();
    await handle(rollback("op-late"));
    await handle(prepare("op-late", 10));
    await handle(prepare("op-late", 10));
    expect(bus.sent.map((s) => s.message)).toEqual([
      { type: "ack", txId: "op-late", participant: "bank-1", decision: "abort" },
      { type: "vote", txId: "op-late", participant: "bank-1", vote: "no", reason: "rolled_back" },
      { type: "vote", txId: "op-late", participant: "bank-1", vote: "no", reason: "rolled_back" },
    ]);
    expect(await balances()).toEqual([100, 0]);
  });

  it("a one-phase PREPARE delivered again reports the same commit and applies once", async () => {
    await stack.seed("bank-1", "m1", 100);
    await stack.seed("bank-1", "m2", 0);
    const { bus, handle } = participant();
    await handle(prepare("op-dup", 30));
    await handle(prepare("op-dup", 30));
    const commit = { type: "ack", txId: "op-dup", participant: "bank-1", decision: "commit" };
    expect(bus.sent.map((s) => s.message)).toEqual([commit, commit]);
    expect(await balances()).toEqual([70, 30]);
  });

  it("the ROLLBACK that resolves a deadline is answered with the commit made before it, and applies nothing", async () => {
    await stack.seed("bank-1", "m1", 100);
    await stack.seed("bank-1", "m2", 0);
    const { bus, handle } = participant();
    await handle(prepare("op-race", 40));
    await handle(rollback("op-race"));
    await handle(rollback("op-race"));
    const commit = { type: "ack", txId: "op-race", participant: "bank-1", decision: "commit" };
    expect(bus.sent.map((s) => s.message)).toEqual([commit, commit, commit]);
    expect(await balances()).toEqual([60, 40]);
    expect(await store.getBarrier("bank-1", "op-race")).toMatchObject({ state: "committed", onePhase: true });
  });

  it("a reused id: the one-phase PREPARE and the ROLLBACK that asks both answer id_reused, and touch the old barrier not", async () => {
    await stack.seed("bank-1", "m1", 100);
    await stack.seed("bank-1", "m2", 0);
    const { bus, handle } = participant();
    // The earlier transaction under this id committed here, in one phase.
    await handle({ ...prepare("op-reused", 10), startedAt: 500 });
    bus.sent.length = 0;
    await handle(prepare("op-reused", 20));
    await handle({ ...rollback("op-reused"), onePhase: true });
    const reused = {
      type: "vote",
      txId: "op-reused",
      participant: "bank-1",
      vote: "no",
      reason: "id_reused",
    };
    expect(bus.sent.map((s) => s.message)).toEqual([reused, reused]);
    expect(await balances()).toEqual([90, 10]);
    expect(await store.getBarrier("bank-1", "op-reused")).toMatchObject({
      state: "committed",
      txStartedAt: 500,
    });
  });

  it("a ROLLBACK that meets a two-phase commit is still a protocol violation", async () => {
    await stack.seed("bank-1", "m1", 100);
    await stack.seed("bank-1", "m2", 0);
    const { handle } = participant();
    const { onePhase: _one, ...twoPhase } = prepare("tp-commit", 5);
    await handle(twoPhase);
    await handle({ type: "commit", txId: "tp-commit", participant: "bank-1", startedAt: STARTED });
    await expect(handle(rollback("tp-commit"))).rejects.toThrow(/committed it/);
  });
});
