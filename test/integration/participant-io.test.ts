/**
 * The DynamoDB calls of a bank participant's 2PC, message by message on
 * DynamoDB Local: a PREPARE whose branches declare their moves is one
 * TransactWriteItems and no read; its COMMIT in the same process is one more
 * and no read; every refusal of the blind write falls back to the read and
 * answers as the read alone would.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CallCounter } from "../../src/adapters/call-counter.ts";
import type { PrepareMessage } from "../../src/core/messages.ts";
import type { BankStore } from "../../src/participants/bank/bank-store.ts";
import { bankParticipant, bankStoreOf } from "../helpers/bank-participant.ts";
import { type Stack, startStack } from "../helpers/stack.ts";

describe("a bank participant's calls per transaction", () => {
  let stack: Stack;
  let store: BankStore;
  const counter = new CallCounter();
  beforeAll(async () => {
    stack = await startStack({ roles: [], counter });
    store = bankStoreOf(stack);
  });
  afterAll(() => stack?.stop());

  const STARTED = 1_000;
  const prepare = (txId: string, account: string, amount: number): PrepareMessage => ({
    type: "prepare",
    txId,
    participant: "bank-1",
    deadline: Date.now() + 60_000,
    startedAt: STARTED,
    branches: [{ index: 0, action: "withdraw", input: { account, amount } }],
  });
  const commit = (txId: string) =>
    ({ type: "commit", txId, participant: "bank-1", startedAt: STARTED }) as const;
  const calls = () => counter.snapshot();

  it("prepares with one write and no read, and commits in the same process with one more", async () => {
    await stack.seed("bank-1", "io1", 100);
    const { bus, handle } = bankParticipant(store);
    counter.reset();
    await handle(prepare("io-1", "io1", 30));
    await handle(commit("io-1"));
    expect(calls()).toEqual({ "dynamodb:TransactWriteItems": 2 });
    expect(bus.sent.map((s) => s.message)).toEqual([
      { type: "vote", txId: "io-1", participant: "bank-1", vote: "yes" },
      { type: "ack", txId: "io-1", participant: "bank-1", decision: "commit" },
    ]);
    expect(await stack.account("bank-1", "io1")).toMatchObject({ balance: 70, reserved: 0, version: 2 });
  });

  it("a process that did not prepare it reads the barrier once, then commits", async () => {
    await stack.seed("bank-1", "io2", 100);
    await bankParticipant(store).handle(prepare("io-2", "io2", 30));
    const fresh = bankParticipant(store);
    counter.reset();
    await fresh.handle(commit("io-2"));
    expect(calls()).toEqual({ "dynamodb:GetItem": 1, "dynamodb:TransactWriteItems": 1 });
    expect(fresh.bus.sent.map((s) => s.message)).toEqual([
      { type: "ack", txId: "io-2", participant: "bank-1", decision: "commit" },
    ]);
    expect(await stack.account("bank-1", "io2")).toMatchObject({ balance: 70, reserved: 0, version: 2 });
  });

  it("a repeated PREPARE: the blind write is refused on the barrier, the read answers the same yes", async () => {
    await stack.seed("bank-1", "io3", 100);
    const { bus, handle } = bankParticipant(store);
    await handle(prepare("io-3", "io3", 30));
    counter.reset();
    await handle(prepare("io-3", "io3", 30));
    expect(calls()).toEqual({ "dynamodb:BatchGetItem": 1, "dynamodb:TransactWriteItems": 1 });
    expect(bus.sent.map((s) => s.message)).toEqual([
      { type: "vote", txId: "io-3", participant: "bank-1", vote: "yes" },
      { type: "vote", txId: "io-3", participant: "bank-1", vote: "yes" },
    ]);
    expect(await stack.account("bank-1", "io3")).toMatchObject({ balance: 100, reserved: 30 });
  });

  it("insufficient funds, or an unknown account: refused by the write's condition, the read words the no", async () => {
    await stack.seed("bank-1", "io4", 100);
    const { bus, handle } = bankParticipant(store);
    counter.reset();
    await handle(prepare("io-4", "io4", 101));
    await handle(prepare("io-5", "nobody", 1));
    expect(calls()).toEqual({
      "dynamodb:BatchGetItem": 2,
      "dynamodb:PutItem": 2,
      "dynamodb:TransactWriteItems": 2,
    });
    expect(bus.sent.map((s) => s.message)).toEqual([
      {
        type: "vote",
        txId: "io-4",
        participant: "bank-1",
        vote: "no",
        reason: "insufficient_funds",
        failedBranch: 0,
      },
      {
        type: "vote",
        txId: "io-5",
        participant: "bank-1",
        vote: "no",
        reason: "unknown_account",
        failedBranch: 0,
      },
    ]);
    expect(await stack.account("bank-1", "io4")).toMatchObject({ balance: 100, reserved: 0, version: 1 });
  });
});
