/**
 * The saga through the coordinator's use cases: begin, the coordinator, the
 * sweeper and operators' actions over the in-memory store, with a recording bus,
 * a fake clock and scripted participants answering what they are sent.
 */
import { describe, expect, it } from "vitest";
import { abortTransaction, retryTransaction } from "../../src/coordinator/admin.ts";
import { beginTransaction } from "../../src/coordinator/begin-transaction.ts";
import { createCoordinator } from "../../src/coordinator/coordinator.ts";
import { createSweeper } from "../../src/coordinator/sweeper.ts";
import type { CoordinatorMessage, ParticipantMessage } from "../../src/core/messages.ts";
import type { Policy } from "../../src/core/step.ts";
import type { BranchSpec, SagaRecord, TxRecord } from "../../src/core/transaction.ts";
import { toView } from "../../src/core/view.ts";
import type { CrashPoint } from "../../src/crash-points.ts";
import { createPrometheusMetrics } from "../../src/metrics/prometheus.ts";
import { RecordingLogger } from "../../testkit/logging.ts";
import { createMemoryTransactionStore } from "../../testkit/memory/memory-transaction-store.ts";
import { recording } from "../helpers/buses.ts";

const policy: Policy = {
  prepareRetryMs: 1_000,
  decisionRetryMs: 2_000,
  waitingRetryMs: 4_000,
  backoffCapMs: 8_000,
  stalledAfterAttempts: 3,
  maxEvents: 200,
};
const T0 = 1_700_000_000_000;

const money = (account: string) => ({ account, amount: 10 });
/** A withdraw at `participant`, undone by a deposit. */
const withdraw = (participant: string, account: string, stage?: number): BranchSpec => ({
  participant,
  action: "withdraw",
  input: money(account),
  compensation: { action: "deposit", input: money(account) },
  ...(stage !== undefined ? { stage } : {}),
});
/** A deposit at `participant`, undone by a withdraw. */
const deposit = (participant: string, account: string, stage?: number): BranchSpec => ({
  participant,
  action: "deposit",
  input: money(account),
  compensation: { action: "withdraw", input: money(account) },
  ...(stage !== undefined ? { stage } : {}),
});

type Delivered = { readonly to: string; readonly message: ParticipantMessage };
/** A participant's answer to one message; undefined = it stays silent (the message is lost). */
type Script = (d: Delivered) => CoordinatorMessage | undefined;

/** Every participant succeeds at everything, at once. */
const succeed: Script = ({ to, message: m }) => {
  const base = { txId: m.txId, participant: to };
  switch (m.type) {
    case "action":
      return { ...base, type: "result", branch: m.branch, step: "action", outcome: "done" };
    case "compensate":
      return { ...base, type: "result", branch: m.branch, step: "compensation", outcome: "done" };
    case "prepare":
      return { ...base, type: "vote", vote: "yes" };
    case "commit":
      return { ...base, type: "ack", decision: "commit" };
    case "rollback":
      return { ...base, type: "ack", decision: "abort" };
  }
};

function harness() {
  let now = T0;
  const store = createMemoryTransactionStore();
  const bus = recording();
  const warnings: { message: string; fields?: unknown }[] = [];
  const crashes: CrashPoint[] = [];
  const log = new RecordingLogger(({ level, message, fields }) => {
    if (level === "warn") warnings.push({ message, ...(fields !== undefined ? { fields } : {}) });
    if (level === "error") throw new Error(`unexpected error log: ${message} ${JSON.stringify(fields)}`);
  });
  const deps = {
    store,
    bus,
    clock: () => now,
    log,
    policy,
    pause: async () => {},
    metrics: createPrometheusMetrics(),
    crash: (point: CrashPoint) => {
      crashes.push(point);
    },
  };
  const coordinator = createCoordinator(deps);
  const sweeper = createSweeper(deps);
  let read = 0;
  const delivered: Delivered[] = [];

  /** Participant messages sent since the last call. */
  function take(): Delivered[] {
    const fresh = bus.sent.slice(read).flatMap((s) => (s.to === "coordinator" ? [] : [s as Delivered]));
    read = bus.sent.length;
    delivered.push(...fresh);
    return fresh;
  }

  /** Delivers every message to the participants and their answers to the coordinator, until quiet. */
  async function exchange(script: Script): Promise<Delivered[]> {
    const seen: Delivered[] = [];
    for (let batch = take(); batch.length > 0; batch = take()) {
      seen.push(...batch);
      for (const d of batch) {
        const reply = script(d);
        if (reply) await coordinator.handle(reply);
      }
    }
    return seen;
  }

  async function saga(id: string, branches: BranchSpec[], atomicStages?: number[], timeoutMs = 60_000) {
    const { tx } = await beginTransaction(deps, {
      id,
      protocol: "saga",
      timeoutMs,
      branches,
      ...(atomicStages ? { atomicStages } : {}),
    });
    return tx;
  }

  async function record(id: string): Promise<SagaRecord> {
    const tx = await store.get(id);
    if (tx?.protocol !== "saga") throw new Error(`no saga ${id}`);
    return tx;
  }

  /** Moves the clock to the transaction's due time and runs the sweeper. */
  async function sweepAtDue(id: string) {
    const tx = await store.get(id);
    now = Math.max(now, tx?.dueAt ?? now);
    return sweeper.sweep();
  }

  return {
    deps,
    store,
    coordinator,
    sweeper,
    warnings,
    crashes,
    exchange,
    saga,
    record,
    sweepAtDue,
    take,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

const summary = (ds: readonly Delivered[]) =>
  ds.map(({ to, message: m }) =>
    m.type === "action" || m.type === "compensate" ? `${m.type} ${to} #${m.branch}` : `${m.type} ${to}`,
  );

describe("a saga through the coordinator's use cases", () => {
  it("runs plain and atomic stages in order and commits once every commit is acknowledged", async () => {
    const h = harness();
    const tx = await h.saga(
      "happy",
      [
        withdraw("bank-1", "a", 0),
        deposit("bank-2", "b", 1),
        deposit("bank-3", "c", 1),
        deposit("bank-1", "d", 2),
      ],
      [1],
    );
    expect(tx).toMatchObject({ protocol: "saga", state: "running" });
    const seen = await h.exchange(succeed);
    expect(summary(seen)).toEqual([
      "action bank-1 #0",
      "prepare bank-2",
      "prepare bank-3",
      "commit bank-2",
      "commit bank-3",
      "action bank-1 #3",
      // Final: each participant may let the barriers it kept for the saga expire.
      "finished bank-1",
      "finished bank-2",
      "finished bank-3",
    ]);
    expect(seen.at(-3)?.message).toEqual({
      type: "finished",
      txId: "happy",
      participant: "bank-1",
      startedAt: T0,
      branches: [0, 3],
    });
    expect(seen[0]?.message).toEqual({
      type: "action",
      txId: "happy",
      participant: "bank-1",
      branch: 0,
      action: "withdraw",
      input: money("a"),
      deadline: T0 + 60_000,
      startedAt: T0,
    });
    expect(seen[1]?.message).toMatchObject({
      type: "prepare",
      branches: [{ index: 1, action: "deposit", input: money("b") }],
    });
    const done = await h.record("happy");
    expect(done).toMatchObject({ state: "committed", completedAt: T0 });
    expect(done.dueAt).toBeUndefined();
    const view = toView(done);
    expect(view).toMatchObject({ protocol: "saga", status: "committed", phase: "committed" });
    expect(view.branches.map((b) => [b.state, b.stage])).toEqual([
      ["done", 0],
      ["committed", 1],
      ["committed", 1],
      ["done", 2],
    ]);
  });

  it("a failure compensates in reverse stage order; a lost compensation is sent again by the sweeper", async () => {
    const h = harness();
    await h.saga("fails", [withdraw("bank-1", "a"), deposit("bank-2", "b"), withdraw("bank-3", "c")]);
    let lost = false;
    const script: Script = (d) => {
      const m = d.message;
      if (m.type === "action" && m.branch === 2) {
        return {
          type: "result",
          txId: m.txId,
          participant: d.to,
          branch: 2,
          step: "action",
          outcome: "failed",
          reason: "insufficient_funds",
        };
      }
      // The first compensation to bank-1 is lost on the way.
      if (m.type === "compensate" && m.branch === 0 && !lost) {
        lost = true;
        return undefined;
      }
      return succeed(d);
    };
    const seen = await h.exchange(script);
    expect(summary(seen)).toEqual([
      "action bank-1 #0",
      "action bank-2 #1",
      "action bank-3 #2",
      "compensate bank-3 #2",
      "compensate bank-2 #1",
      "compensate bank-1 #0",
    ]);
    expect(seen.at(-1)?.message).toEqual({
      type: "compensate",
      txId: "fails",
      participant: "bank-1",
      branch: 0,
      action: "deposit",
      input: money("a"),
      startedAt: T0,
    });
    const waiting = await h.record("fails");
    expect(waiting).toMatchObject({ state: "compensating", reason: "insufficient_funds", failedBranch: 2 });
    expect(toView(waiting)).toMatchObject({ status: "aborted", phase: "compensating" });

    const report = await h.sweepAtDue("fails");
    expect(report).toMatchObject({ examined: 1, advanced: 1, failed: 0 });
    expect(summary(await h.exchange(script))).toEqual(["compensate bank-1 #0"]);
    const end = await h.record("fails");
    expect(end.state).toBe("compensated");
    expect(end.dueAt).toBeUndefined();
    const view = toView(end);
    expect(view).toMatchObject({ status: "aborted", phase: "compensated", reason: "insufficient_funds" });
    expect(view.completedAt).toBeDefined();
    // The failed action applied nothing: it reads as failed, the two before it as undone.
    expect(view.branches.map((b) => b.state)).toEqual(["compensated", "compensated", "failed"]);
    expect(view.branches[0]?.attempts).toBe(1);
    expect(view.branches[2]?.reason).toBe("insufficient_funds");
    expect(view.events.map((e) => e.type)).toContain("compensation_resent");
  });

  it("a compensation that keeps failing is retried with backoff and raised as stalled, then finishes", async () => {
    const h = harness();
    await h.saga("stuck", [withdraw("bank-1", "a"), withdraw("bank-2", "b")]);
    let failures = 0;
    const N = 5;
    const script: Script = (d) => {
      const m = d.message;
      const base = { type: "result", txId: m.txId, participant: d.to } as const;
      if (m.type === "action" && m.branch === 1) {
        return { ...base, branch: 1, step: "action", outcome: "failed", reason: "unknown_account" };
      }
      if (m.type === "compensate" && m.branch === 0 && failures < N) {
        failures++;
        return { ...base, branch: 0, step: "compensation", outcome: "failed", reason: "account_locked" };
      }
      return succeed(d);
    };
    await h.exchange(script);
    const dueTimes: number[] = [];
    for (let i = 0; i < N; i++) {
      const before = await h.record("stuck");
      expect(before.state).toBe("compensating");
      dueTimes.push(before.dueAt ?? 0);
      await h.sweepAtDue("stuck");
      await h.exchange(script);
    }
    // The gaps between re-sends grow, up to the cap.
    const gaps = dueTimes.slice(1).map((t, i) => t - (dueTimes[i] ?? 0));
    expect(gaps).toEqual([4_000, 8_000, 8_000, 8_000]);
    const stalledWarnings = h.warnings.filter(
      (w) => (w.fields as { metric?: string }).metric === "CompensationStalled",
    );
    expect(stalledWarnings.length).toBeGreaterThan(0);
    expect(stalledWarnings[0]?.fields).toMatchObject({
      txId: "stuck",
      branches: [0],
      participants: ["bank-1"],
    });
    // The warnings are metrics too: the counter the CompensationStalled alarm reads.
    const text = await h.deps.metrics.scrape([]);
    expect(text).toContain(`concord_compensation_stalls_total ${stalledWarnings.length}\n`);
    expect(text).toContain(`concord_resends_total{protocol="saga",step="compensation"} ${N}\n`);
    const end = await h.record("stuck");
    expect(end.state).toBe("compensated");
    expect(end.events.filter((e) => e.type === "compensation_stalled")).toHaveLength(1);
    expect(toView(end).branches[0]).toMatchObject({ state: "compensated", attempts: N });
  });

  it("an operator's abort compensates what ran; a second abort and a retry once final are conflicts", async () => {
    const h = harness();
    await h.saga("ops", [withdraw("bank-1", "a"), deposit("bank-2", "b"), deposit("bank-3", "c")]);
    // bank-2 is down: its action is never answered.
    const down: Script = (d) => (d.to === "bank-2" ? undefined : succeed(d));
    await h.exchange(down);
    expect((await h.record("ops")).steps.map((s) => s.status)).toEqual(["done", "running", "pending"]);

    const aborted = await abortTransaction(h.deps, "ops");
    expect(aborted).toMatchObject({
      outcome: "done",
      tx: { state: "compensating", reason: "aborted_by_operator" },
    });
    expect(await abortTransaction(h.deps, "ops")).toMatchObject({
      outcome: "conflict",
      phase: "compensating",
    });
    // bank-2 still says nothing: an operator's retry sends its compensation again now.
    expect(summary(await h.exchange(down))).toEqual(["compensate bank-2 #1"]);
    const retried = await retryTransaction(h.deps, "ops");
    expect(retried.outcome).toBe("done");
    expect(summary(await h.exchange(succeed))).toEqual(["compensate bank-2 #1", "compensate bank-1 #0"]);
    expect((await h.record("ops")).state).toBe("compensated");
    expect(await retryTransaction(h.deps, "ops")).toMatchObject({
      outcome: "conflict",
      phase: "compensated",
    });
    expect(await abortTransaction(h.deps, "nope")).toEqual({ outcome: "not_found" });
  });

  it("the deadline compensates an action in flight", async () => {
    const h = harness();
    await h.saga("late", [withdraw("bank-1", "a"), deposit("bank-2", "b")], undefined, 5_000);
    await h.exchange((d) => (d.to === "bank-2" ? undefined : succeed(d)));
    h.advance(5_000);
    await h.sweeper.sweep();
    const tx = await h.record("late");
    expect(tx).toMatchObject({ state: "compensating", reason: "timeout" });
    expect(summary(await h.exchange(succeed))).toEqual(["compensate bank-2 #1", "compensate bank-1 #0"]);
    expect((await h.record("late")).state).toBe("compensated");
  });

  it("the report that closes a deadlock between a saga's atomic stage and a 2PC transaction breaks it", async () => {
    const h = harness();
    await beginTransaction(h.deps, {
      id: "older-2pc",
      protocol: "2pc",
      timeoutMs: 60_000,
      branches: [
        { participant: "bank-3", action: "deposit", input: money("x") },
        { participant: "bank-1", action: "deposit", input: money("y") },
      ],
    });
    h.advance(1);
    await h.saga(
      "younger-saga",
      [withdraw("bank-4", "z", 0), deposit("bank-1", "a", 1), deposit("bank-3", "b", 1)],
      [1],
    );
    await h.exchange((d) => (d.message.type === "action" ? succeed(d) : undefined));
    // Each waits for a lock the other holds.
    await h.coordinator.handle({
      type: "waiting",
      txId: "younger-saga",
      participant: "bank-1",
      holder: "older-2pc",
    });
    await h.coordinator.handle({
      type: "waiting",
      txId: "older-2pc",
      participant: "bank-3",
      holder: "younger-saga",
    });
    // Broken by the coordinator when the closing edge arrived: the sweep finds nothing left.
    const report = await h.sweeper.sweep();
    expect(report.deadlocks).toBe(0);
    const victim = await h.record("younger-saga");
    expect(victim).toMatchObject({ state: "compensating", reason: "deadlock" });
    expect(victim.waits).toBeUndefined();
    expect((await h.store.get("older-2pc"))?.state).toBe("preparing");
    expect(summary(await h.exchange(succeed))).toEqual([
      "rollback bank-1",
      "rollback bank-3",
      "compensate bank-4 #0",
    ]);
    expect((await h.record("younger-saga")).state).toBe("compensated");
    expect(h.warnings.map((w) => (w.fields as { metric?: string }).metric)).toContain("Deadlock");
  });

  it("the sweeper aborts nothing on a wait for a saga's decided atomic stage (a stale edge)", async () => {
    const h = harness();
    await beginTransaction(h.deps, {
      id: "older-2pc",
      protocol: "2pc",
      timeoutMs: 60_000,
      branches: [
        { participant: "bank-1", action: "deposit", input: money("x") },
        { participant: "bank-2", action: "deposit", input: money("y") },
      ],
    });
    h.advance(1);
    // Stage 0 atomic at bank-1 commits; stage 1 atomic at bank-2 then waits for the 2PC there.
    await h.saga("younger-saga", [deposit("bank-1", "a", 0), deposit("bank-2", "b", 1)], [0, 1]);
    // The 2PC's PREPAREs and the saga's second stage wait for locks: unanswered.
    const sagaFirstStage: Script = (d) =>
      d.message.txId === "younger-saga" && !(d.message.type === "prepare" && d.to === "bank-2")
        ? succeed(d)
        : undefined;
    await h.exchange(sagaFirstStage);
    expect((await h.record("younger-saga")).current).toBe(1);
    await h.coordinator.handle({
      type: "waiting",
      txId: "younger-saga",
      participant: "bank-2",
      holder: "older-2pc",
    });
    // The 2PC's report that it waited for the saga at bank-1 arrives after the saga's lock there went with its commit.
    await h.coordinator.handle({
      type: "waiting",
      txId: "older-2pc",
      participant: "bank-1",
      holder: "younger-saga",
    });
    // Both edges are recorded: the cycle is in the index, and only its staleness spares the saga.
    expect((await h.record("younger-saga")).waits).toEqual({ "bank-2": "older-2pc" });
    expect((await h.store.get("older-2pc"))?.waits).toEqual({ "bank-1": "younger-saga" });
    const report = await h.sweeper.sweep();
    expect(report.deadlocks).toBe(0);
    expect((await h.record("younger-saga")).state).toBe("running");
    expect((await h.store.get("older-2pc"))?.state).toBe("preparing");
  });

  it("crash points fire around the saga's decisions, not around a stage moving on", async () => {
    const h = harness();
    await h.saga("crash", [withdraw("bank-1", "a"), deposit("bank-2", "b")]);
    const fail: Script = (d) =>
      d.message.type === "action" && d.message.branch === 1
        ? { type: "result", txId: "crash", participant: d.to, branch: 1, step: "action", outcome: "failed" }
        : succeed(d);
    // Beginning a saga passes the API's point between its record and its first messages.
    expect(h.crashes).toEqual(["after-record-before-prepare"]);
    const [first] = h.take();
    const reply = first && fail(first);
    if (reply) await h.coordinator.handle(reply);
    expect(h.crashes).toHaveLength(1);
    const [second] = h.take();
    const failure = second && fail(second);
    if (failure) await h.coordinator.handle(failure);
    expect(h.crashes.slice(1)).toEqual(["after-votes-before-decision", "after-decision-before-send"]);
  });

  it("one batch of duplicated results is one write; results for unknown or 2PC transactions change nothing", async () => {
    const h = harness();
    await h.saga("dup", [withdraw("bank-1", "a"), deposit("bank-2", "b")]);
    h.take();
    const result: CoordinatorMessage = {
      type: "result",
      txId: "dup",
      participant: "bank-1",
      branch: 0,
      step: "action",
      outcome: "done",
    };
    const before = (await h.record("dup")).version;
    await h.coordinator.handleGroup([result, result, result]);
    expect((await h.record("dup")).version).toBe(before + 1);
    expect(summary(h.take())).toEqual(["action bank-2 #1"]);

    await h.coordinator.handle({ ...result, txId: "ghost" });
    expect(h.warnings.at(-1)).toMatchObject({ message: "step result for an unknown transaction" });

    await beginTransaction(h.deps, {
      id: "plain-2pc",
      protocol: "2pc",
      timeoutMs: 60_000,
      branches: [{ participant: "bank-1", action: "deposit", input: money("a") }],
    });
    h.take();
    const twoPc = (await h.store.get("plain-2pc")) as TxRecord;
    await h.coordinator.handle({ ...result, txId: "plain-2pc" });
    expect(await h.store.get("plain-2pc")).toBe(twoPc);
    expect(h.take()).toEqual([]);
  });

  it("a reused id with another saga body is refused; the same body is the same transaction", async () => {
    const h = harness();
    const branches = [withdraw("bank-1", "a", 0), deposit("bank-2", "b", 0)];
    await h.saga("same", branches, [0]);
    const again = await beginTransaction(h.deps, {
      id: "same",
      protocol: "saga",
      timeoutMs: 60_000,
      branches,
      atomicStages: [0],
    });
    expect(again.created).toBe(false);
    await expect(
      beginTransaction(h.deps, { id: "same", protocol: "saga", timeoutMs: 60_000, branches }),
    ).rejects.toMatchObject({ name: "IdempotencyConflictError" });
  });
});
