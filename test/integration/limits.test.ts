/**
 * Optimistic versions, and the size limits: 100 participants in one
 * transaction, one bad branch among 100, a per-transaction timeout, and the
 * record of the largest transaction the API accepts within DynamoDB's item limit.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { physicalName } from "../../infra/topology.ts";
import { createAwsClients, destroyAwsClients } from "../../src/adapters/aws-clients.ts";
import { CallCounter } from "../../src/adapters/call-counter.ts";
import { createDynamoDbTransactionStore } from "../../src/adapters/dynamodb-transaction-store.ts";
import { loadConfig } from "../../src/config.ts";
import { advance, type CoordinatorDeps } from "../../src/coordinator/advance.ts";
import { type BeginRequest, beginTransaction } from "../../src/coordinator/begin-transaction.ts";
import { type Coordinator, createCoordinator } from "../../src/coordinator/coordinator.ts";
import type { CoordinatorMessage } from "../../src/core/messages.ts";
import { branchesBytes, MAX_BRANCHES_BYTES } from "../../src/core/record-size.ts";
import type { Policy } from "../../src/core/step.ts";
import type { BranchSpec, TxRecord } from "../../src/core/transaction.ts";
import { onSweep } from "../../src/core/transitions.ts";
import type { TransactionView } from "../../src/core/view.ts";
import { provision } from "../../src/local/provision.ts";
import type { TransactionStore } from "../../src/ports/transaction-store.ts";
import { policyOf } from "../../src/wiring.ts";
import { silentLogger } from "../../testkit/logging.ts";
import { recording } from "../helpers/buses.ts";
import { bankState } from "../helpers/invariants.ts";
import { type Stack, startStack, testEnv } from "../helpers/stack.ts";

const SERVERS = Array.from({ length: 100 }, (_, i) => `bank-${i + 1}`);
const counter = new CallCounter();
let stack: Stack;
beforeAll(async () => {
  stack = await startStack({
    bankServers: SERVERS,
    pollersPerQueue: 1,
    counter,
    // Re-sends only when a message is really lost: on a loaded machine a 100-participant
    // round can outlast the tests' usual 1 s, and its re-sends would blur the calls counted below.
    env: { CONCORD_PREPARE_RETRY_MS: "20000", CONCORD_DECISION_RETRY_MS: "20000" },
  });
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
    expect(after).toMatchObject({ total: before.total, locked: [], held: [], prepared: [] });
    expect((await stack.account("bank-100", "acct")).balance).toBe(103);
  }, 90_000);

  it("a 2PC's decision costs the same calls per participant at 100 participants as at 10, and its time is printed", async () => {
    // The calls a transaction's work makes; receives, the sweeper's queries and the
    // test's own polling reads depend on time, not on the transaction, and are left out.
    const WORK = [
      "dynamodb:BatchGetItem",
      "dynamodb:PutItem",
      "dynamodb:TransactWriteItems",
      "dynamodb:UpdateItem",
      "sqs:SendMessage",
      "sqs:SendMessageBatch",
    ];
    const work = () => WORK.reduce((sum, key) => sum + (counter.counts.get(key) ?? 0), 0);
    const run = async (n: number) => {
      const start = performance.now();
      const before = work();
      const res = await stack.request("POST", "/v1/transactions?wait=30000", {
        protocol: "2pc",
        branches: spread(() => 1).slice(0, n),
      });
      const decidedMs = performance.now() - start;
      const view = (await res.json()) as TransactionView;
      expect(view).toMatchObject({ status: "committed" });
      await stack.settle(view.id, 60_000);
      return { decidedMs, calls: work() - before };
    };
    await run(100); // warm-up: every participant's queue and client in use
    const ten = await run(10);
    const hundred = await run(100);
    console.log(
      `100-participant 2PC: decision after ${hundred.decidedMs.toFixed(0)} ms (after one warm-up run); ` +
        `calls per participant ${(hundred.calls / 100).toFixed(2)} at 100, ${(ten.calls / 10).toFixed(2)} at 10`,
    );
    expect(hundred.calls / 100).toBeLessThanOrEqual((ten.calls / 10) * 1.25);
  }, 120_000);

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
    expect(after.map((a) => [a.balance, a.reserved, a.pending, a.version, a.lockedBy])).toEqual(
      before.map((a) => [a.balance, 0, 0, a.version, undefined]),
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

/**
 * The largest record the API lets in: 100 branches at 100 participants whose
 * names are as long as a message allows (64), inputs filling the branches'
 * budget, then every kind of bookkeeping at its worst (waits with the longest
 * holder ids, 200-character reasons of 3-byte characters, hundreds of re-sends
 * naming every participant), driven through the coordinator's use cases and
 * the sweeper onto DynamoDB Local, which enforces the real 400 KB item limit.
 */
describe("the record stays within DynamoDB's item limit", () => {
  const name = (i: number) => `p${String(i).padStart(3, "0")}-`.padEnd(64, "x");
  const NAMES = Array.from({ length: 100 }, (_, i) => name(i));
  const REASON = "€".repeat(200);
  const holder = (i: number) => `h${i}-`.padEnd(128, "y");

  /** 100 branches whose size is within 100 bytes of the budget. */
  function fullBranches(saga: boolean): BranchSpec[] {
    const make = (fill: number): BranchSpec[] =>
      NAMES.map((participant) => ({
        participant,
        action: "a".repeat(64),
        input: { data: "d".repeat(fill) },
        ...(saga ? { stage: 0, compensation: { action: "c".repeat(64), input: { data: "" } } } : {}),
      }));
    const fill = Math.floor((MAX_BRANCHES_BYTES - branchesBytes(make(0))) / 100);
    const branches = make(fill);
    expect(branchesBytes(branches)).toBeLessThanOrEqual(MAX_BRANCHES_BYTES);
    expect(branchesBytes(branches)).toBeGreaterThan(MAX_BRANCHES_BYTES - 100);
    return branches;
  }

  let store: TransactionStore;
  let now = 1_000_000;
  let coordinator: Coordinator;
  let deps: CoordinatorDeps & { readonly policy: Policy };
  let begin: (request: BeginRequest) => Promise<string>;
  const destroy: (() => void)[] = [];
  beforeAll(async () => {
    const config = loadConfig(
      testEnv(`r${randomUUID().slice(0, 12)}`, { CONCORD_COMMERCE_PARTICIPANTS: "none" }),
    );
    const clients = createAwsClients(config);
    destroy.push(() => destroyAwsClients(clients));
    await provision(config.topology, clients);
    store = createDynamoDbTransactionStore({
      doc: clients.doc,
      tableName: physicalName(config.topology, config.topology.tables.transactions.name),
      shards: config.topology.dueShards,
      retentionSeconds: 3_600,
    });
    // Nothing leaves: the participants here are names only, and nothing answers but the test.
    deps = { store, bus: recording(), clock: () => now, log: silentLogger(), policy: policyOf(config) };
    coordinator = createCoordinator(deps);
    begin = async (request) => (await beginTransaction(deps, request)).tx.id;
  }, 60_000);
  afterAll(() => {
    for (const d of destroy) d();
  });

  const read = async (id: string): Promise<TxRecord> => {
    const tx = await store.get(id);
    if (!tx) throw new Error(`no transaction ${id}`);
    return tx;
  };

  /** Moves the clock to the transaction's due time and sweeps; every sweep must save. */
  async function sweepDue(id: string): Promise<void> {
    const tx = await read(id);
    if (tx.dueAt === undefined) throw new Error(`transaction ${id} is not due (${tx.state})`);
    now = Math.max(now, tx.dueAt);
    // What the sweeper does with this one transaction (its sweep takes every due one in the table).
    const swept = await advance(deps, id, (t, at) => onSweep(t, at, deps.policy));
    expect(swept?.version).toBe(tx.version + 1);
  }

  async function send(messages: CoordinatorMessage[]): Promise<void> {
    // One group, as one SQS batch for one transaction: one write.
    await coordinator.handleGroup(messages);
  }

  it("a 2PC of 100 participants at the branches' budget saves through hundreds of decision re-sends and acks", async () => {
    const txId = await begin({ protocol: "2pc", timeoutMs: 86_400_000, branches: fullBranches(false) });
    for (let i = 0; i < 20; i++) await sweepDue(txId);
    await send(NAMES.map((participant, i) => ({ type: "waiting", txId, participant, holder: holder(i) })));
    await send(NAMES.map((participant) => ({ type: "vote", txId, participant, vote: "yes" })));
    expect(await read(txId)).toMatchObject({ state: "committing" });
    for (let round = 0; round < 200; round++) {
      await sweepDue(txId);
      if (round % 4 === 3) {
        await send([{ type: "ack", txId, participant: name(Math.floor(round / 4)), decision: "commit" }]);
      }
    }
    await send(NAMES.map((participant) => ({ type: "ack", txId, participant, decision: "commit" })));
    const done = await read(txId);
    expect(done).toMatchObject({ state: "committed" });
    expect(done.eventsDropped).toBeGreaterThan(0);
    expect(done.events[0]).toMatchObject({ type: "created" });
    expect(done.events.at(-1)).toMatchObject({ type: "completed" });
  }, 120_000);

  it("a saga of an atomic stage and a parallel stage at the budget saves through long reasons and hundreds of re-sends", async () => {
    // Stage 0: 70 participants as one 2PC group; stage 1: 30 plain steps in parallel.
    const branches = fullBranches(true).map((b, i) => ({ ...b, stage: i < 70 ? 0 : 1 }));
    const txId = await begin({ protocol: "saga", timeoutMs: 86_400_000, branches, atomicStages: [0] });
    const atomic = NAMES.slice(0, 70);
    for (let i = 0; i < 20; i++) await sweepDue(txId);
    await send(atomic.map((participant, i) => ({ type: "waiting", txId, participant, holder: holder(i) })));
    await send(atomic.map((participant) => ({ type: "vote", txId, participant, vote: "yes" })));
    for (let round = 0; round < 120; round++) await sweepDue(txId);
    await send(atomic.map((participant) => ({ type: "ack", txId, participant, decision: "commit" })));
    expect(await read(txId)).toMatchObject({ state: "running", current: 1 });
    const results = (step: "action" | "compensation", outcome: "done" | "failed" | "retry", tag: string) =>
      NAMES.map(
        (participant, branch): CoordinatorMessage => ({
          type: "result",
          txId,
          participant,
          branch,
          step,
          outcome,
          // 200 characters of 3 bytes each: the longest reason a result may carry.
          reason: `${tag}${REASON}`.slice(0, 200),
        }),
      );
    for (let round = 0; round < 30; round++) {
      await send(results("action", "retry", String(round)).slice(70));
      await sweepDue(txId);
    }
    await send(results("action", "failed", "f").slice(70, 71));
    expect(await read(txId)).toMatchObject({ state: "compensating" });
    for (let round = 0; round < 120; round++) {
      await send(results("compensation", "retry", String(round)));
      await sweepDue(txId);
    }
    // Latest stage first: the plain steps' compensations, then the atomic stage's.
    await send(results("compensation", "done", "c").slice(70));
    await send(results("compensation", "done", "c").slice(0, 70));
    const done = await read(txId);
    expect(done).toMatchObject({ state: "compensated" });
    expect(done.eventsDropped).toBeGreaterThan(0);
  }, 180_000);
});
