/** Saga transitions: stages forward, compensations backward, atomic stages as 2PC groups. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { messageFor } from "../../src/coordinator/dispatch.ts";
import type { AckInput } from "../../src/core/atomic-group.ts";
import { reasonOf } from "../../src/core/reasons.ts";
import {
  begin,
  decides,
  InvalidSagaError,
  onAck,
  onResult,
  onSweep,
  onVote,
  onWaiting,
  planStages,
  type ResultInput,
  requestAbort,
  requestRetry,
  type Step,
  stalled,
} from "../../src/core/saga.ts";
import type { Effect, Policy } from "../../src/core/step.ts";
import { type BranchSpec, isWaiting, type SagaRecord, type TxRecord } from "../../src/core/transaction.ts";
import { statusOf, toView } from "../../src/core/view.ts";
import { cycleHolds, holdsUndecidedLocksAt } from "../../src/core/wait-for-graph.ts";

const policy: Policy = {
  prepareRetryMs: 1_000,
  decisionRetryMs: 2_000,
  waitingRetryMs: 4_000,
  backoffCapMs: 16_000,
  stalledAfterAttempts: 3,
  maxEvents: 500,
};

const T0 = 1_000_000;
const TIMEOUT = 60_000;

/** A withdraw undone by a deposit, at `participant`. */
function branch(participant: string, stage?: number): BranchSpec {
  return {
    participant,
    action: "withdraw",
    input: { account: "a", amount: 5 },
    compensation: { action: "deposit", input: { account: "a", amount: 5 } },
    ...(stage !== undefined ? { stage } : {}),
  };
}

function started(branches: BranchSpec[], atomicStages: number[] = [], timeoutMs = TIMEOUT): Step {
  return begin({ id: "s1", requestHash: "h", timeoutMs, branches, atomicStages }, T0, policy);
}

type Move = (tx: SagaRecord) => Step;

const result =
  (b: number, outcome: ResultInput["outcome"], step: ResultInput["step"] = "action", reason?: string): Move =>
  (tx) =>
    onResult(
      tx,
      {
        participant: tx.branches[b]?.participant ?? "",
        branch: b,
        step,
        outcome,
        ...(reason !== undefined ? { reason: reasonOf(reason) } : {}),
      },
      T0 + 100,
      policy,
    );
const done = (b: number) => result(b, "done");
const failed = (b: number, reason = "insufficient_funds") => result(b, "failed", "action", reason);
const undone = (b: number) => result(b, "done", "compensation");
const vote =
  (participant: string, v: "yes" | "no", reason?: string): Move =>
  (tx) =>
    onVote(
      tx,
      { participant, vote: v, ...(reason !== undefined ? { reason: reasonOf(reason) } : {}) },
      T0 + 100,
      policy,
    );
const ack =
  (participant: string, decision: AckInput["decision"]): Move =>
  (tx) =>
    onAck(tx, { participant, decision }, T0 + 100, policy);
/** Sweeps at the record's due time. */
const sweep: Move = (tx) => onSweep(tx, tx.dueAt ?? 0, policy);

/** Applies the moves in order; returns the last step. */
function run(tx: SagaRecord, ...moves: Move[]): Step {
  let step: Step = { next: tx, effects: [], changed: false };
  for (const m of moves) step = m(step.next);
  return step;
}

const actions = (effects: readonly Effect[]) =>
  effects.filter((e) => e.kind === "action").map((e) => e.branch);
const compensations = (effects: readonly Effect[]) =>
  effects.filter((e) => e.kind === "compensate").map((e) => e.branch);
const types = (tx: SagaRecord) => tx.events.map((e) => e.type);

describe("planStages", () => {
  it("runs branches without a stage one after another, in list order", () => {
    const plan = planStages([branch("bank-1"), branch("bank-2"), branch("bank-3")], []);
    expect(plan).toEqual({
      ok: true,
      stages: [
        { stage: 0, branches: [0] },
        { stage: 1, branches: [1] },
        { stage: 2, branches: [2] },
      ],
    });
  });

  it("runs branches sharing a stage together, stages in ascending order whatever the list order", () => {
    const plan = planStages([branch("bank-1", 7), branch("bank-2", 2), branch("bank-3", 7)], [7]);
    expect(plan).toEqual({
      ok: true,
      stages: [
        { stage: 2, branches: [1] },
        {
          stage: 7,
          branches: [0, 2],
          atomic: {
            participants: [
              { name: "bank-1", branches: [0], attempts: 0 },
              { name: "bank-3", branches: [2], attempts: 0 },
            ],
          },
        },
      ],
    });
  });

  const { compensation: _c, ...noCompensation } = branch("bank-2");
  it.each([
    {
      name: "some branches with a stage, some without",
      branches: [branch("bank-1", 0), branch("bank-2")],
      atomic: [],
      issues: [["branches", 1, "stage"]],
    },
    {
      name: "a branch without a compensation",
      branches: [branch("bank-1"), noCompensation],
      atomic: [],
      issues: [["branches", 1, "compensation"]],
    },
    {
      name: "an atomic stage no branch is in",
      branches: [branch("bank-1"), branch("bank-2")],
      atomic: [5],
      issues: [["atomicStages", 0]],
    },
    {
      name: "an atomic stage listed twice",
      branches: [branch("bank-1"), branch("bank-2")],
      atomic: [1, 1],
      issues: [["atomicStages", 1]],
    },
    {
      name: "a participant in two atomic stages",
      branches: [branch("bank-1", 0), branch("bank-2", 1), branch("bank-1", 1)],
      atomic: [0, 1],
      issues: [["atomicStages", 1]],
    },
  ])("refuses $name", ({ branches, atomic, issues }) => {
    const plan = planStages(branches, atomic);
    expect(plan.ok).toBe(false);
    if (!plan.ok) expect(plan.issues.map((i) => i.path)).toEqual(issues);
  });

  it("lets a participant of an atomic stage run plain steps in other stages", () => {
    const plan = planStages([branch("bank-1", 0), branch("bank-1", 1), branch("bank-2", 1)], [1]);
    expect(plan.ok).toBe(true);
  });
});

describe("begin", () => {
  it("sends only the first stage's actions and is due for a re-send before the deadline", () => {
    const step = started([branch("bank-1"), branch("bank-2")]);
    expect(step.next).toMatchObject({ protocol: "saga", state: "running", current: 0, attempts: 0 });
    expect(step.effects).toEqual([{ kind: "action", participant: "bank-1", branch: 0 }]);
    expect(step.next.steps).toEqual([
      { status: "running", attempts: 0, dueAt: T0 + policy.prepareRetryMs },
      { status: "pending" },
    ]);
    expect(step.next.dueAt).toBe(T0 + policy.prepareRetryMs);
    expect(types(step.next)).toEqual(["created", "stage_started", "action_sent"]);
    expect(statusOf(step.next.state)).toBe("pending");
  });

  it("sends PREPARE to each participant of an atomic first stage", () => {
    const step = started([branch("bank-1", 0), branch("bank-2", 0), branch("bank-3", 1)], [0]);
    expect(step.effects).toEqual([
      { kind: "prepare", participant: "bank-1" },
      { kind: "prepare", participant: "bank-2" },
    ]);
    expect(types(step.next)).toEqual(["created", "stage_started", "prepare_sent"]);
  });

  it("throws on a request that breaks the saga rules (the API checks them first)", () => {
    expect(() => started([branch("bank-1", 0), branch("bank-2")])).toThrow(InvalidSagaError);
  });
});

describe("forward", () => {
  it("sequential: each done starts the next branch; the last one commits and completes", () => {
    const tx = started([branch("bank-1"), branch("bank-2"), branch("bank-3")]).next;
    const first = done(0)(tx);
    expect(actions(first.effects)).toEqual([1]);
    expect(first.next.steps[0]).toEqual({ status: "done", attempts: 0 });
    const second = done(1)(first.next);
    expect(actions(second.effects)).toEqual([2]);
    const last = done(2)(second.next);
    // Nothing more is sent for the saga: each participant may let its step barriers expire.
    expect(last.effects).toEqual(
      ["bank-1", "bank-2", "bank-3"].map((participant) => ({ kind: "finished", participant })),
    );
    expect(last.next).toMatchObject({ state: "committed", decidedAt: T0 + 100, completedAt: T0 + 100 });
    expect(last.next.dueAt).toBeUndefined();
    expect(statusOf(last.next.state)).toBe("committed");
    expect(types(last.next).slice(-3)).toEqual(["step_result", "decision", "completed"]);
  });

  it("parallel: a stage moves on only when every branch of it is done", () => {
    const tx = started([branch("bank-1", 1), branch("bank-2", 1), branch("bank-3", 2)]).next;
    expect(actions(started([branch("bank-1", 1), branch("bank-2", 1), branch("bank-3", 2)]).effects)).toEqual(
      [0, 1],
    );
    const one = done(1)(tx);
    expect(one.effects).toEqual([]);
    expect(one.next.current).toBe(0);
    const both = done(0)(one.next);
    expect(actions(both.effects)).toEqual([2]);
    expect(both.next.current).toBe(1);
    expect(both.next.events.at(-2)).toMatchObject({ type: "stage_started", stage: 2, branches: [2] });
  });

  it("re-sends a silent action with growing backoff, never past the deadline", () => {
    const tx = started([branch("bank-1"), branch("bank-2")], [], 5_000).next;
    const first = sweep(tx);
    expect(first.effects).toEqual([{ kind: "action", participant: "bank-1", branch: 0 }]);
    expect(first.next.steps[0]).toMatchObject({ status: "running", attempts: 1 });
    expect(first.next.dueAt).toBe(T0 + 1_000 + 2_000);
    expect(first.next.events.at(-1)).toMatchObject({ type: "action_resent", branches: [0], attempt: 1 });
    const second = sweep(first.next);
    expect(second.next.dueAt).toBe(T0 + TIMEOUT - TIMEOUT + 5_000);
    expect(second.next.attempts).toBe(2);
  });

  it("a retry result keeps the step out and records why; the same news again changes nothing", () => {
    const tx = started([branch("bank-1"), branch("bank-2")]).next;
    const retried = result(0, "retry", "action", "account_locked")(tx);
    expect(retried.changed).toBe(true);
    expect(retried.effects).toEqual([]);
    expect(retried.next.steps[0]).toMatchObject({ status: "running", reason: "account_locked" });
    expect(retried.next.dueAt).toBe(tx.dueAt);
    expect(result(0, "retry", "action", "account_locked")(retried.next).changed).toBe(false);
    // The sweeper sends it again at its due time.
    expect(sweep(retried.next).effects).toEqual([{ kind: "action", participant: "bank-1", branch: 0 }]);
  });
});

describe("failure compensates exactly the attempted branches, latest stage first", () => {
  // Stages: 0 = [b0], 1 = [b1, b2] in parallel, 2 = [b3].
  const shape = () =>
    started([branch("bank-1", 0), branch("bank-2", 1), branch("bank-3", 1), branch("bank-1", 2)]);

  /** Compensation waves: each wave's branches, answered done, until the saga is final. */
  function waves(first: Step): { waves: number[][]; tx: SagaRecord } {
    const out: number[][] = [];
    let step = first;
    while (compensations(step.effects).length > 0) {
      const wave = compensations(step.effects);
      out.push(wave);
      let next = step.next;
      let last: Step = { next, effects: [], changed: false };
      for (const b of wave) {
        last = undone(b)(next);
        next = last.next;
      }
      step = last;
    }
    return { waves: out, tx: step.next };
  }

  it.each([
    { stage: 0, reach: [] as Move[], fail: 0, expected: [[0]] },
    { stage: 1, reach: [done(0)], fail: 1, expected: [[1, 2], [0]] },
    { stage: 2, reach: [done(0), done(1), done(2)], fail: 3, expected: [[3], [1, 2], [0]] },
  ])("a failed action in stage $stage", ({ reach, fail, expected }) => {
    const before = run(shape().next, ...reach).next;
    const failing = failed(fail)(before);
    expect(failing.next).toMatchObject({
      state: "compensating",
      reason: "insufficient_funds",
      failedBranch: fail,
    });
    expect(statusOf(failing.next.state)).toBe("aborted");
    const { waves: seen, tx } = waves(failing);
    expect(seen).toEqual(expected);
    expect(tx.state).toBe("compensated");
    expect(tx.completedAt).toBe(T0 + 100);
    expect(tx.dueAt).toBeUndefined();
    // Branches of stages never started are never touched.
    const attempted = new Set(expected.flat());
    tx.steps.forEach((s, i) => {
      expect(s.status).toBe(attempted.has(i) ? "compensated" : "pending");
    });
  });

  it("undoes the failed branch too (its barrier makes that a no-op) and its running neighbour", () => {
    const tx = run(shape().next, done(0)).next;
    const step = failed(2)(tx);
    expect(step.effects).toEqual([
      { kind: "compensate", participant: "bank-2", branch: 1 },
      { kind: "compensate", participant: "bank-3", branch: 2 },
    ]);
    expect(step.next.events.slice(-3).map((e) => e.type)).toEqual([
      "step_result",
      "decision",
      "compensation_sent",
    ]);
  });

  it("an action failed for the deadline (not called, or called by an earlier copy) is compensated too", () => {
    const tx = run(shape().next, done(0)).next;
    const step = result(1, "failed", "action", "timeout")(tx);
    expect(step.next).toMatchObject({ state: "compensating", reason: "timeout", failedBranch: 1 });
    expect(compensations(step.effects)).toEqual([1, 2]);
  });

  it("shows a failed action as failed, with its reason, while and after its no-op compensation runs", () => {
    const compensating = run(
      started([branch("bank-1"), branch("bank-2")]).next,
      done(0),
      failed(1, "unknown_account"),
    ).next;
    expect(compensating.steps[1]).toMatchObject({ status: "compensating" });
    const during = toView(compensating).branches;
    expect(during[1]).toMatchObject({ state: "failed", reason: "unknown_account" });
    expect(during[0]).toMatchObject({ state: "done" });
    const end = run(compensating, undone(1), undone(0)).next;
    expect(end.state).toBe("compensated");
    const after = toView(end).branches;
    expect(after[1]).toMatchObject({ state: "failed", reason: "unknown_account" });
    // The action that succeeded was undone: that one reads as compensated.
    expect(after[0]).toMatchObject({ state: "compensated" });
  });

  it("waits for the whole latest stage before compensating the one before", () => {
    const tx = run(shape().next, done(0), failed(1)).next;
    const half = undone(2)(tx);
    expect(half.effects).toEqual([]);
    expect(half.next.steps[0]).toEqual({ status: "done", attempts: 0 });
    expect(compensations(undone(1)(half.next).effects)).toEqual([0]);
  });
});

describe("compensations are retried until they succeed", () => {
  const compensating = () => run(started([branch("bank-1"), branch("bank-2")]).next, done(0), failed(1)).next;

  it("a failed compensation is retried with backoff, counted, and flagged stalled after the policy's attempts", () => {
    let tx = compensating();
    tx = undone(1)(tx).next;
    expect(tx.steps[0]).toMatchObject({ status: "compensating", attempts: 0 });
    const N = 4;
    for (let attempt = 1; attempt <= N; attempt++) {
      const failure = result(0, "failed", "compensation", "bank_unavailable")(tx);
      // The first failure is news; repeats of the same news change nothing, and nothing ends.
      expect(failure.changed).toBe(attempt === 1);
      expect(failure.next.state).toBe("compensating");
      tx = failure.next;
      const at = tx.dueAt ?? 0;
      const resent = sweep(tx);
      expect(resent.effects).toEqual([{ kind: "compensate", participant: "bank-1", branch: 0 }]);
      expect(resent.next.steps[0]).toMatchObject({ status: "compensating", attempts: attempt });
      expect(resent.next.dueAt).toBe(
        at + Math.min(policy.backoffCapMs, policy.decisionRetryMs * 2 ** attempt),
      );
      tx = resent.next;
    }
    const stalledEvents = tx.events.filter((e) => e.type === "compensation_stalled");
    expect(stalledEvents).toEqual([
      expect.objectContaining({ branches: [0], attempt: policy.stalledAfterAttempts }),
    ]);
    expect(stalled(tx, policy)).toEqual({ compensations: [0], decisions: [] });
    expect(toView(tx).branches[0]).toMatchObject({
      state: "compensating",
      attempts: N,
      reason: "bank_unavailable",
    });
    const finished = undone(0)(tx).next;
    expect(finished.state).toBe("compensated");
    expect(toView(finished)).toMatchObject({ status: "aborted", phase: "compensated" });
    expect(toView(finished).branches[0]).toMatchObject({ state: "compensated", attempts: N });
  });

  it("a lost compensation (no answer at all) is sent again the same way", () => {
    const tx = undone(1)(compensating()).next;
    const resent = sweep(tx);
    expect(resent.effects).toEqual([{ kind: "compensate", participant: "bank-1", branch: 0 }]);
    expect(resent.next.events.at(-1)).toMatchObject({
      type: "compensation_resent",
      branches: [0],
      attempt: 1,
    });
  });
});

describe("duplicated and reordered results change nothing", () => {
  const tx = () => started([branch("bank-1"), branch("bank-2"), branch("bank-3")]).next;

  it.each([
    { name: "a duplicated done", moves: [done(0)], again: done(0) },
    { name: "a failed after done", moves: [done(0)], again: failed(0) },
    { name: "a done for a stage not started", moves: [], again: done(2) },
    { name: "a compensation result before any compensation", moves: [], again: undone(0) },
    { name: "a duplicated compensation done", moves: [done(0), failed(1), undone(1)], again: undone(1) },
    { name: "a duplicated failure", moves: [done(0), failed(1)], again: failed(1) },
    {
      name: "a result naming another participant",
      moves: [],
      again: (t: SagaRecord) =>
        onResult(t, { participant: "bank-9", branch: 0, step: "action", outcome: "done" }, T0, policy),
    },
    {
      name: "a result for a branch that does not exist",
      moves: [],
      again: (t: SagaRecord) =>
        onResult(t, { participant: "bank-1", branch: 7, step: "action", outcome: "done" }, T0, policy),
    },
  ])("$name", ({ moves, again }) => {
    const before = run(tx(), ...moves).next;
    const step = again(before);
    expect(step.changed).toBe(false);
    expect(step.effects).toEqual([]);
    expect(step.next).toBe(before);
  });

  it("any order and duplication of a parallel stage's results ends in the same place", () => {
    const shape = () => started([branch("bank-1", 0), branch("bank-2", 0), branch("bank-3", 0)]).next;
    fc.assert(
      fc.property(
        fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }),
        fc.array(fc.nat(5), { minLength: 1, maxLength: 20 }),
        (succeeds, order) => {
          const outcomes = succeeds.map((ok, b) => (ok ? done(b) : failed(b)));
          const pool = [...outcomes, undone(0), undone(1), undone(2)];
          let tx = shape();
          for (const i of [...order, 0, 1, 2]) tx = (pool[i] as Move)(tx).next;
          // Whatever happened, every compensation owed is answered at last, twice.
          for (const i of [3, 4, 5, 3, 4, 5]) tx = (pool[i] as Move)(tx).next;
          const allDone =
            succeeds.every(Boolean) || !order.concat([0, 1, 2]).some((i) => i < 3 && !succeeds[i]);
          expect(tx.state).toBe(allDone ? "committed" : "compensated");
          if (tx.state === "compensated")
            expect(tx.steps.every((s) => s.status === "compensated")).toBe(true);
          if (tx.state === "committed") expect(tx.steps.every((s) => s.status === "done")).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe("late results and the deadline", () => {
  it("a late done for an action whose compensation is out changes nothing; the branch is still undone", () => {
    const tx = started([branch("bank-1", 0), branch("bank-2", 0)]).next;
    const failing = failed(1)(tx);
    expect(compensations(failing.effects)).toEqual([0, 1]);
    const late = done(0)(failing.next);
    expect(late.changed).toBe(false);
    expect(late.next.steps[0]).toMatchObject({ status: "compensating" });
    const end = run(late.next, undone(0), undone(1)).next;
    expect(end.state).toBe("compensated");
  });

  it("a late done after an operator abort: the in-flight branch's compensation is already out", () => {
    const tx = run(started([branch("bank-1"), branch("bank-2")]).next, done(0)).next;
    const aborted = requestAbort(tx, "aborted_by_operator", T0 + 50, policy);
    if ("rejected" in aborted) throw new Error("rejected");
    expect(compensations(aborted.effects)).toEqual([1]);
    expect(done(1)(aborted.next).changed).toBe(false);
    expect(compensations(undone(1)(aborted.next).effects)).toEqual([0]);
  });

  it("the deadline while an action is in flight compensates it, and nothing of later stages", () => {
    const tx = run(
      started([branch("bank-1"), branch("bank-2"), branch("bank-3")], [], 5_000).next,
      done(0),
    ).next;
    const late = onSweep(tx, T0 + 5_000, policy);
    expect(late.next).toMatchObject({ state: "compensating", reason: "timeout", decidedAt: T0 + 5_000 });
    expect(late.effects).toEqual([{ kind: "compensate", participant: "bank-2", branch: 1 }]);
    const end = run(late.next, undone(1), undone(0)).next;
    expect(end.state).toBe("compensated");
    expect(end.steps[2]).toEqual({ status: "pending" });
  });

  it("is not due before its time, and never due once final", () => {
    const tx = started([branch("bank-1")]).next;
    expect(onSweep(tx, T0 + 10, policy).changed).toBe(false);
    const end = done(0)(tx).next;
    expect(end.dueAt).toBeUndefined();
    expect(onSweep(end, T0 + TIMEOUT * 2, policy).changed).toBe(false);
  });
});

describe("atomic stages", () => {
  // Stage 0: plain b0 at bank-1. Stage 1, atomic: b1 at bank-2, b2 at bank-3. Stage 2: plain b3 at bank-1.
  const shape = () =>
    started([branch("bank-1", 0), branch("bank-2", 1), branch("bank-3", 1), branch("bank-1", 2)], [1]).next;
  const prepared = () => run(shape(), done(0));

  it("PREPAREs the stage's participants, each with its own branches of the stage", () => {
    const step = prepared();
    expect(step.effects).toEqual([
      { kind: "prepare", participant: "bank-2" },
      { kind: "prepare", participant: "bank-3" },
    ]);
    expect(messageFor(step.next, { kind: "prepare", participant: "bank-3" })).toMatchObject({
      type: "prepare",
      branches: [{ index: 2, action: "withdraw", input: { account: "a", amount: 5 } }],
    });
  });

  it("all yes: the commit is sent and the next stage starts at once; the saga completes only once acked", () => {
    const first = vote("bank-2", "yes")(prepared().next);
    expect(first.effects).toEqual([]);
    expect(toView(first.next).branches[1]).toMatchObject({ state: "prepared", vote: "yes", atomic: true });
    const all = vote("bank-3", "yes")(first.next);
    expect(all.effects).toEqual([
      { kind: "decision", participant: "bank-2", decision: "commit" },
      { kind: "decision", participant: "bank-3", decision: "commit" },
      { kind: "action", participant: "bank-1", branch: 3 },
    ]);
    expect(decides(first.next, all.next)).toBe(true);
    expect(all.next.stages[1]?.atomic?.decision).toBe("commit");
    expect(toView(all.next).branches[1]?.state).toBe("committing");
    const forward = done(3)(all.next).next;
    expect(forward.state).toBe("committing");
    expect(statusOf(forward.state)).toBe("committed");
    expect(forward.dueAt).toBeDefined();
    // The commit is re-sent to whoever has not acknowledged it.
    const swept = onSweep(forward, forward.dueAt ?? 0, policy);
    expect(swept.effects).toEqual([
      { kind: "decision", participant: "bank-2", decision: "commit" },
      { kind: "decision", participant: "bank-3", decision: "commit" },
    ]);
    const end = run(forward, ack("bank-2", "commit"), ack("bank-3", "commit")).next;
    expect(end).toMatchObject({ state: "committed", completedAt: T0 + 100 });
    expect(end.dueAt).toBeUndefined();
    expect(toView(end).branches.map((b) => b.state)).toEqual(["done", "committed", "committed", "done"]);
  });

  it("a no: the group is rolled back (not compensated) and the earlier stages are compensated", () => {
    const tx = vote("bank-2", "yes")(prepared().next).next;
    const refused = vote("bank-3", "no", "insufficient_funds")(tx);
    expect(refused.next).toMatchObject({ state: "compensating", reason: "insufficient_funds" });
    expect(refused.effects).toEqual([
      { kind: "decision", participant: "bank-2", decision: "abort" },
      { kind: "compensate", participant: "bank-1", branch: 0 },
    ]);
    expect(toView(refused.next).branches.map((b) => b.state)).toEqual([
      "compensating",
      "aborting",
      "refused",
      "pending",
    ]);
    expect(toView(refused.next).branches[2]?.reason).toBe("insufficient_funds");
    // Compensated, but not final until the rollback is acknowledged.
    const undoneFirst = undone(0)(refused.next).next;
    expect(undoneFirst.state).toBe("compensating");
    const end = ack("bank-2", "abort")(undoneFirst).next;
    expect(end.state).toBe("compensated");
    expect(end.steps.slice(1, 3)).toEqual([{ status: "pending" }, { status: "pending" }]);
  });

  it("a late yes after the group's abort hears the rollback at once", () => {
    const refused = vote("bank-3", "no")(prepared().next).next;
    const late = vote("bank-2", "yes")(refused);
    expect(late.changed).toBe(false);
    expect(late.effects).toEqual([{ kind: "decision", participant: "bank-2", decision: "abort" }]);
  });

  it("committed, then a later stage fails: the atomic branches are compensated, flagged atomic", () => {
    const committed = run(
      prepared().next,
      vote("bank-2", "yes"),
      vote("bank-3", "yes"),
      ack("bank-2", "commit"),
    ).next;
    const failing = failed(3)(committed);
    expect(compensations(failing.effects)).toEqual([3]);
    // bank-2 applied its commit: its branch is undone; bank-3 has not acknowledged yet, so its
    // compensation waits (it must not overtake the COMMIT).
    const next = undone(3)(failing.next);
    expect(compensations(next.effects)).toEqual([1]);
    expect(messageFor(next.next, { kind: "compensate", participant: "bank-2", branch: 1 })).toEqual({
      type: "compensate",
      txId: "s1",
      participant: "bank-2",
      branch: 1,
      action: "deposit",
      input: { account: "a", amount: 5 },
      startedAt: T0,
      atomic: true,
    });
    const acked = ack("bank-3", "commit")(next.next);
    expect(compensations(acked.effects)).toEqual([2]);
    const atomicDone = run(acked.next, undone(1), undone(2));
    expect(compensations(atomicDone.effects)).toEqual([0]);
    const last = undone(0)(atomicDone.next);
    const end = last.next;
    expect(end.state).toBe("compensated");
    // Every compensation recorded gave its step barrier an expiry; the committed atomic
    // stage's 2PC barriers were kept for their compensations, and now may expire too.
    expect(last.effects).toEqual([
      { kind: "finished", participant: "bank-2" },
      { kind: "finished", participant: "bank-3" },
    ]);
    expect(messageFor(end, { kind: "finished", participant: "bank-2" })).toEqual({
      type: "finished",
      txId: "s1",
      participant: "bank-2",
      startedAt: T0,
      branches: [1],
    });
    // Branch 3's action failed: it applied nothing, so it reads as failed, not undone.
    expect(toView(end).branches.map((b) => b.state)).toEqual([
      "compensated",
      "compensated",
      "compensated",
      "failed",
    ]);
  });

  it("a compensated saga whose atomic stage rolled back owes no participant a finished message", () => {
    const tx = vote("bank-2", "yes")(prepared().next).next;
    const aborted = run(tx, vote("bank-3", "no"), ack("bank-2", "abort"), undone(0));
    expect(aborted.next.state).toBe("compensated");
    expect(aborted.effects.filter((e) => e.kind === "finished")).toEqual([]);
  });

  it("the deadline while the group prepares rolls back those that may hold locks", () => {
    const tx = vote("bank-2", "yes")(prepared().next).next;
    const late = onSweep(tx, tx.deadline, policy);
    expect(late.next).toMatchObject({ state: "compensating", reason: "timeout" });
    expect(late.effects).toEqual([
      { kind: "decision", participant: "bank-2", decision: "abort" },
      { kind: "decision", participant: "bank-3", decision: "abort" },
      { kind: "compensate", participant: "bank-1", branch: 0 },
    ]);
    expect(decides(tx, late.next)).toBe(true);
  });

  it("after the deadline's rollback, a late no does not excuse a participant that never voted: it hears the rollback until it acks", () => {
    // bank-3's PREPARE may have prepared it (an HTTP service whose answer was lost).
    const tx = vote("bank-2", "yes")(prepared().next).next;
    const aborted = onSweep(tx, tx.deadline, policy).next;
    const lateNo = vote("bank-3", "no", "timeout")(aborted);
    expect(lateNo.changed).toBe(false);
    const acked = run(lateNo.next, ack("bank-2", "abort"), undone(0)).next;
    expect(acked.state).toBe("compensating");
    const again = sweep(acked);
    expect(again.effects).toEqual([{ kind: "decision", participant: "bank-3", decision: "abort" }]);
    expect(run(again.next, ack("bank-3", "abort")).next.state).toBe("compensated");
  });

  it("ignores duplicated votes and acks, and acks for the other decision", () => {
    const yes = vote("bank-2", "yes")(prepared().next).next;
    expect(vote("bank-2", "yes")(yes).changed).toBe(false);
    const decided = vote("bank-3", "yes")(yes).next;
    expect(ack("bank-2", "abort")(decided).changed).toBe(false);
    const acked = ack("bank-2", "commit")(decided).next;
    expect(ack("bank-2", "commit")(acked).changed).toBe(false);
    expect(ack("bank-9", "commit")(acked).changed).toBe(false);
  });

  it("a vote before the stage started changes nothing", () => {
    expect(vote("bank-2", "yes")(shape()).changed).toBe(false);
  });
});

describe("operators", () => {
  const tx = () => run(started([branch("bank-1"), branch("bank-2")]).next, done(0)).next;

  it("abort while running starts the compensation, with the operator's reason", () => {
    const step = requestAbort(tx(), "aborted_by_operator", T0 + 50, policy);
    if ("rejected" in step) throw new Error("rejected");
    expect(step.next).toMatchObject({ state: "compensating", reason: "aborted_by_operator" });
    expect(types(step.next).slice(-3)).toEqual(["abort_requested", "decision", "compensation_sent"]);
  });

  it.each([
    { name: "compensating", moves: [failed(1)], state: "compensating" },
    { name: "compensated", moves: [failed(1), undone(1), undone(0)], state: "compensated" },
    { name: "committed", moves: [done(1)], state: "committed" },
  ])("abort is refused once $name", ({ moves, state }) => {
    const before = run(tx(), ...moves).next;
    expect(requestAbort(before, "aborted_by_operator", T0 + 50, policy)).toEqual({
      rejected: "already_decided",
      state,
    });
  });

  it("abort is refused while committing (every stage succeeded, acks outstanding)", () => {
    const committing = run(
      started([branch("bank-1", 0), branch("bank-2", 0)], [0]).next,
      vote("bank-1", "yes"),
      vote("bank-2", "yes"),
    ).next;
    expect(committing.state).toBe("committing");
    expect(requestAbort(committing, reasonOf("x"), T0, policy)).toEqual({
      rejected: "already_decided",
      state: "committing",
    });
  });

  it("retry sends every outstanding step now and starts the backoff over", () => {
    const compensating = run(
      started([branch("bank-1", 0), branch("bank-2", 0), branch("bank-3", 1)]).next,
      failed(0),
      sweep,
      sweep,
    ).next;
    expect(compensating.steps[1]).toMatchObject({ status: "compensating", attempts: 2 });
    const now = T0 + 30_000;
    const retried = requestRetry(compensating, now, policy);
    if ("rejected" in retried) throw new Error("rejected");
    expect(retried.effects).toEqual([
      { kind: "compensate", participant: "bank-1", branch: 0 },
      { kind: "compensate", participant: "bank-2", branch: 1 },
    ]);
    expect(retried.next.steps[0]).toEqual({
      status: "compensating",
      attempts: 0,
      dueAt: now + policy.decisionRetryMs,
      actionFailed: "insufficient_funds",
    });
    expect(retried.next.attempts).toBe(0);
    expect(retried.next.events.at(-1)).toMatchObject({ type: "retry_requested", branches: [0, 1] });
  });

  it("retry past the deadline does what the sweeper would: compensate", () => {
    const retried = requestRetry(tx(), T0 + TIMEOUT, policy);
    if ("rejected" in retried) throw new Error("rejected");
    expect(retried.next).toMatchObject({ state: "compensating", reason: "timeout" });
  });

  it("retry is refused once final", () => {
    const end = done(1)(tx()).next;
    expect(requestRetry(end, T0, policy)).toEqual({ rejected: "final", state: "committed" });
  });
});

describe("deadlocks: an atomic stage that waits for a lock", () => {
  const preparing = () => started([branch("bank-1", 0), branch("bank-2", 0)], [0]).next;

  it("records the wait-for edge and drops it on the vote", () => {
    const waiting = onWaiting(preparing(), { participant: "bank-2", holder: "t0" }, T0 + 10, policy).next;
    expect(waiting.waits).toEqual({ "bank-2": "t0" });
    expect(isWaiting(waiting)).toBe(true);
    expect(onWaiting(waiting, { participant: "bank-2", holder: "t0" }, T0 + 20, policy).changed).toBe(false);
    const voted = vote("bank-2", "yes")(waiting).next;
    expect(voted.waits).toBeUndefined();
  });

  // Its re-queued PREPARE may be lost (an SQS outage loses messages): without
  // another copy it never votes, and the others hold their locks until the deadline.
  it("keeps sending PREPARE to a waiter, every waiting interval, until the deadline", () => {
    const waiting = run(preparing(), vote("bank-1", "yes"), (t) =>
      onWaiting(t, { participant: "bank-2", holder: "t0" }, T0 + 200, policy),
    ).next;
    expect(waiting.dueAt).toBe(T0 + 200 + policy.waitingRetryMs);
    let tx = waiting;
    const sentAt: number[] = [];
    while (tx.state === "running") {
      const at = tx.dueAt ?? 0;
      const step = sweep(tx);
      if (step.next.state === "running") {
        expect(step.effects).toEqual([{ kind: "prepare", participant: "bank-2" }]);
        sentAt.push(at);
      }
      tx = step.next;
    }
    expect(tx).toMatchObject({ state: "compensating", reason: "timeout" });
    expect(sentAt.length).toBeGreaterThanOrEqual(5);
    for (const [i, at] of sentAt.entries()) {
      if (i > 0) expect(at - (sentAt[i - 1] ?? 0)).toBeGreaterThanOrEqual(policy.waitingRetryMs);
    }
    expect(tx.deadline - (sentAt.at(-1) ?? 0)).toBeLessThanOrEqual(policy.backoffCapMs);
  });

  it("an operator's retry sends PREPARE to a waiter too", () => {
    const waiting = run(preparing(), vote("bank-1", "yes"), (t) =>
      onWaiting(t, { participant: "bank-2", holder: "t0" }, T0 + 200, policy),
    ).next;
    const retried = requestRetry(waiting, T0 + 300, policy);
    if ("rejected" in retried) throw new Error("rejected");
    expect(retried.effects).toEqual([{ kind: "prepare", participant: "bank-2" }]);
  });

  it("a deadlock victim is aborted: the group rolls back, waits are cleared, earlier stages compensate", () => {
    const tx = run(
      started([branch("bank-3", 0), branch("bank-1", 1), branch("bank-2", 1)], [1]).next,
      done(0),
      vote("bank-1", "yes"),
      (t) => onWaiting(t, { participant: "bank-2", holder: "other" }, T0 + 10, policy),
    ).next;
    expect(isWaiting(tx)).toBe(true);
    const aborted = requestAbort(tx, "deadlock", T0 + 20, policy);
    if ("rejected" in aborted) throw new Error("rejected");
    expect(aborted.next).toMatchObject({ state: "compensating", reason: "deadlock" });
    expect(aborted.next.waits).toBeUndefined();
    expect(isWaiting(aborted.next)).toBe(false);
    expect(aborted.effects).toEqual([
      { kind: "decision", participant: "bank-1", decision: "abort" },
      { kind: "decision", participant: "bank-2", decision: "abort" },
      { kind: "compensate", participant: "bank-3", branch: 0 },
    ]);
    expect(decides(tx, aborted.next)).toBe(true);
  });

  it("ignores waits outside the open, undecided atomic stage", () => {
    const plain = started([branch("bank-1"), branch("bank-2")]).next;
    expect(onWaiting(plain, { participant: "bank-1", holder: "t0" }, T0, policy).changed).toBe(false);
  });
  it("holds undecided locks only in its open atomic stage: a wait on an earlier stage's participant is stale", () => {
    // Stage 0 atomic at bank-1 and bank-2; stage 1 atomic at bank-3, waiting for `other`.
    const second = run(
      started([branch("bank-1", 0), branch("bank-2", 0), branch("bank-3", 1)], [0, 1]).next,
      vote("bank-1", "yes"),
      vote("bank-2", "yes"),
      (t) => onWaiting(t, { participant: "bank-3", holder: "other" }, T0 + 10, policy),
    ).next;
    expect(second.current).toBe(1);
    expect(holdsUndecidedLocksAt(second, "bank-3")).toBe(true);
    // Stage 0 is decided: its locks at bank-1 go with the commit, whatever the saga waits for now.
    expect(holdsUndecidedLocksAt(second, "bank-1")).toBe(false);
    // `other`: a saga whose open atomic stage holds bank-3, waiting for s1 there.
    const other: TxRecord = {
      ...second,
      id: "other",
      stages: second.stages.slice(1),
      current: 0,
      waits: { "bank-3": "s1" },
    };
    // `other` reported its wait for s1 at bank-1 after s1's stage 0 committed there: no deadlock.
    expect(cycleHolds([second, other])).toBe(true);
    expect(cycleHolds([second, { ...other, waits: { "bank-1": "s1" } }])).toBe(false);
  });
});

describe("decides", () => {
  it("is false for a stage moving on, true for the saga's own outcome", () => {
    const tx = started([branch("bank-1"), branch("bank-2")]).next;
    const next = done(0)(tx).next;
    expect(decides(tx, next)).toBe(false);
    expect(decides(next, done(1)(next).next)).toBe(true);
    expect(decides(next, failed(1)(next).next)).toBe(true);
  });
});

describe("any run: the saga's invariants", () => {
  // Stage 0: b0 (bank-1) and b1 (bank-2) in parallel; stage 1 atomic: b2 (bank-3), b3 (bank-4);
  // stage 2: b4 (bank-1).
  const shape = () =>
    started(
      [
        branch("bank-1", 0),
        branch("bank-2", 0),
        branch("bank-3", 1),
        branch("bank-4", 1),
        branch("bank-1", 2),
      ],
      [1],
      20_000,
    );
  const final = (tx: SagaRecord) => tx.state === "committed" || tx.state === "compensated";
  const OUTCOMES = ["done", "failed", "retry"] as const;

  it("never compensates an unattempted branch, undoes later stages first, and always ends", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(50), fc.nat(11)), { maxLength: 60 }), (script) => {
        let now = T0;
        const first = shape();
        let tx = first.next;
        const sent: Effect[] = [...first.effects];
        const attempted = new Set<number>(actions(first.effects));
        const apply = (s: Step) => {
          for (const e of s.effects) {
            if (e.kind === "action") {
              expect(s.next.state).toBe("running");
              attempted.add(e.branch);
            }
            if (e.kind === "compensate") {
              const at = s.next.stages.findIndex((st) => st.branches.includes(e.branch));
              const group = s.next.stages[at]?.atomic;
              // Only what was attempted; an atomic branch only once its participant applied the commit.
              if (group) {
                expect(group.decision).toBe("commit");
                expect(group.participants.find((p) => p.branches.includes(e.branch))?.acked).toBe(true);
              } else expect(attempted.has(e.branch)).toBe(true);
              // Every later stage's branch is already undone or was never attempted.
              for (const later of s.next.stages.slice(at + 1)) {
                for (const b of later.branches) {
                  expect(["pending", "compensated"]).toContain(s.next.steps[b]?.status);
                }
              }
            }
          }
          expect(s.next.dueAt === undefined).toBe(final(s.next));
          sent.push(...s.effects);
          tx = s.next;
        };
        const reply = (e: Effect, pick: number): Step => {
          const outcome = OUTCOMES[pick % 3] ?? "done";
          switch (e.kind) {
            case "action":
            case "compensate": {
              const step = e.kind === "action" ? "action" : "compensation";
              return onResult(
                tx,
                { participant: e.participant, branch: e.branch, step, outcome },
                now,
                policy,
              );
            }
            case "prepare":
              return onVote(
                tx,
                { participant: e.participant, vote: pick % 4 === 0 ? "no" : "yes" },
                now,
                policy,
              );
            case "decision":
              return onAck(tx, { participant: e.participant, decision: e.decision }, now, policy);
            case "finished":
              // Nothing answers it.
              return { next: tx, effects: [], changed: false };
          }
        };
        // A random phase: answer any message ever sent (duplicated, reordered, any outcome), or sweep.
        for (const [i, pick] of script) {
          now += 250;
          const e = sent[i % sent.length];
          if (pick === 11 || !e) {
            now = Math.max(now, tx.dueAt ?? now);
            apply(onSweep(tx, now, policy));
          } else apply(reply(e, pick));
        }
        // Then the participants recover and answer every message with success.
        for (let round = 0; round < 50 && !final(tx); round++) {
          now = Math.max(now + 250, tx.dueAt ?? now);
          apply(onSweep(tx, now, policy));
          for (const e of sent.slice(-20)) apply(reply(e, 0));
        }
        expect(final(tx)).toBe(true);
        if (tx.state === "committed") expect(tx.steps.every((s) => s.status === "done")).toBe(true);
        else expect(tx.steps.every((s) => s.status === "pending" || s.status === "compensated")).toBe(true);
        for (const stage of tx.stages) {
          if (stage.atomic?.decision !== undefined) {
            expect(stage.atomic.participants.every((p) => p.acked)).toBe(true);
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe("size", () => {
  it("a saga of 100 large branches stays under DynamoDB's 400 KB item limit however long it runs", () => {
    // Larger than the API lets branches be (MAX_BRANCHES_BYTES), in one parallel stage.
    const pad = "p".repeat(2_300);
    const branches = Array.from({ length: 100 }, (_, i) => ({
      ...branch(`bank-${i % 3}`, 0),
      input: { account: `acct-${i}`, amount: 5, pad },
    }));
    expect(JSON.stringify(branches).length).toBeGreaterThan(230_000);
    expect(JSON.stringify(branches).length).toBeLessThan(256 * 1024);
    const bounded = { ...policy, maxEvents: 100 };
    let tx = begin(
      { id: "big", requestHash: "h", timeoutMs: TIMEOUT, branches, atomicStages: [] },
      T0,
      bounded,
    ).next;
    // Half the actions answer with a different transient failure each, then one fails for good.
    for (let b = 0; b < 50; b++) {
      tx = onResult(
        tx,
        {
          participant: `bank-${b % 3}`,
          branch: b,
          step: "action",
          outcome: "retry",
          reason: reasonOf(`r${b}`),
        },
        T0,
        bounded,
      ).next;
    }
    tx = onResult(
      tx,
      { participant: "bank-0", branch: 99, step: "action", outcome: "failed", reason: reasonOf("x") },
      T0,
      bounded,
    ).next;
    // Compensations go unanswered for a long time.
    for (let i = 0; i < 40; i++) tx = onSweep(tx, tx.dueAt ?? 0, bounded).next;
    expect(tx.state).toBe("compensating");
    expect(tx.events.length).toBeLessThanOrEqual(100);
    expect(Buffer.byteLength(JSON.stringify(tx))).toBeLessThan(400 * 1024);
  });
});
