/** Operators' transitions: abort while undecided, retry while unfinished. */
import { describe, expect, it } from "vitest";
import { reasonOf } from "../../src/core/reasons.ts";
import type { TwoPcRecord } from "../../src/core/transaction.ts";
import {
  begin,
  onAck,
  onSweep,
  onVote,
  type Policy,
  type RetryRequest,
  requestAbort,
  requestRetry,
  type Step,
} from "../../src/core/two-phase-commit.ts";

const policy: Policy = {
  prepareRetryMs: 1_000,
  decisionRetryMs: 2_000,
  waitingRetryMs: 4_000,
  backoffCapMs: 16_000,
  stalledAfterAttempts: 50,
  maxEvents: 100,
};

const T0 = 1_000_000;
const TIMEOUT = 60_000;

function started(participants = ["bank-1", "bank-2", "bank-3"]): TwoPcRecord {
  return begin(
    {
      id: "t1",
      requestHash: "h",
      timeoutMs: TIMEOUT,
      branches: participants.map((participant) => ({ participant, action: "deposit", input: {} })),
    },
    T0,
    policy,
  ).next;
}

const vote = (participant: string, v: "yes" | "no") => (tx: TwoPcRecord) =>
  onVote(
    tx,
    { participant, vote: v, ...(v === "no" ? { reason: reasonOf("insufficient_funds") } : {}) },
    T0,
    policy,
  ).next;
const ack = (participant: string, decision: "commit" | "abort") => (tx: TwoPcRecord) =>
  onAck(tx, { participant, decision }, T0, policy).next;
/** Sweeps `times` times, each at the record's due time. */
const swept = (times: number) => (tx: TwoPcRecord) => {
  let t = tx;
  for (let i = 0; i < times; i++) t = onSweep(t, t.dueAt ?? 0, policy).next;
  return t;
};
const run = (tx: TwoPcRecord, ...steps: ((tx: TwoPcRecord) => TwoPcRecord)[]) =>
  steps.reduce((t, s) => s(t), tx);

function accepted(request: RetryRequest): Step {
  if ("rejected" in request) throw new Error(`rejected: ${request.rejected} in ${request.state}`);
  return request;
}

describe("requestRetry", () => {
  const now = T0 + 30_000;

  it.each([
    {
      name: "preparing: PREPARE again to the participants that have not voted",
      tx: () => run(started(), vote("bank-2", "yes"), swept(4)),
      state: "preparing",
      effects: [
        { kind: "prepare", participant: "bank-1" },
        { kind: "prepare", participant: "bank-3" },
      ],
      dueAt: now + policy.prepareRetryMs,
      event: { type: "retry_requested", participants: ["bank-1", "bank-3"] },
    },
    {
      name: "committing: COMMIT again to the participants that have not acknowledged",
      tx: () =>
        run(
          started(),
          vote("bank-1", "yes"),
          vote("bank-2", "yes"),
          vote("bank-3", "yes"),
          ack("bank-2", "commit"),
          swept(5),
        ),
      state: "committing",
      effects: [
        { kind: "decision", participant: "bank-1", decision: "commit" },
        { kind: "decision", participant: "bank-3", decision: "commit" },
      ],
      dueAt: now + policy.decisionRetryMs,
      event: { type: "retry_requested", decision: "commit", participants: ["bank-1", "bank-3"] },
    },
    {
      name: "aborting: ROLLBACK again, never to a participant that voted no (it holds nothing)",
      tx: () => run(started(), vote("bank-1", "yes"), vote("bank-2", "no"), swept(3)),
      state: "aborting",
      effects: [
        { kind: "decision", participant: "bank-1", decision: "abort" },
        { kind: "decision", participant: "bank-3", decision: "abort" },
      ],
      dueAt: now + policy.decisionRetryMs,
      event: { type: "retry_requested", decision: "abort", participants: ["bank-1", "bank-3"] },
    },
  ])("$name, resets attempts and the backoff", ({ tx, state, effects, dueAt, event }) => {
    const before = tx();
    expect(before.attempts).toBeGreaterThan(0);
    expect(before.state).toBe(state);
    const step = accepted(requestRetry(before, now, policy));
    expect(step.changed).toBe(true);
    expect(step.effects).toEqual(effects);
    expect(step.next).toMatchObject({ state, attempts: 0, dueAt });
    expect(step.next.events.at(-1)).toEqual({ at: now, ...event });
    // The phase, votes and acknowledgements are untouched.
    expect(step.next.participants).toEqual(before.participants);
    expect(step.next.decidedAt).toBe(before.decidedAt);
  });

  it("starts the backoff over: the next sweep is one base interval away, then doubles again", () => {
    const before = run(started(["bank-1"]), vote("bank-1", "yes"), swept(6));
    const retried = accepted(requestRetry(before, now, policy)).next;
    expect(onSweep(retried, now + policy.decisionRetryMs - 1, policy).changed).toBe(false);
    const first = onSweep(retried, now + policy.decisionRetryMs, policy).next;
    expect(first.attempts).toBe(1);
    expect(first.dueAt).toBe(now + policy.decisionRetryMs + 2 * policy.decisionRetryMs);
  });

  it("while preparing, the next due time never passes the deadline", () => {
    const late = T0 + TIMEOUT - 10;
    const step = accepted(requestRetry(started(), late, policy));
    expect(step.next.dueAt).toBe(T0 + TIMEOUT);
    expect(step.effects).toHaveLength(3);
  });

  it("past the deadline it does what the sweeper would: abort with reason timeout", () => {
    const tx = run(started(), vote("bank-1", "yes"));
    const step = accepted(requestRetry(tx, T0 + TIMEOUT, policy));
    expect(step.next).toMatchObject({ state: "aborting", reason: "timeout", attempts: 0 });
    expect(step.effects).toEqual(
      ["bank-1", "bank-2", "bank-3"].map((participant) => ({
        kind: "decision",
        participant,
        decision: "abort",
      })),
    );
    expect(step.next.events.slice(-3).map((e) => e.type)).toEqual([
      "retry_requested",
      "decision",
      "decision_sent",
    ]);
  });

  it.each([
    ["committed", ["yes", "yes"], "commit"],
    ["aborted", ["yes", "no"], "abort"],
  ] as const)("a %s transaction is final: rejected, nothing to send", (state, votes, decision) => {
    const tx = run(
      started(["bank-1", "bank-2"]),
      vote("bank-1", votes[0]),
      vote("bank-2", votes[1]),
      ack("bank-1", decision),
      ack("bank-2", decision),
    );
    expect(tx.state).toBe(state);
    expect(requestRetry(tx, now, policy)).toEqual({ rejected: "final", state });
  });
});

describe("requestAbort", () => {
  it("records who asked before the decision, and tells every participant that may hold locks", () => {
    const tx = run(started(), vote("bank-1", "yes"), vote("bank-3", "yes"));
    const step = requestAbort(tx, "aborted_by_operator", T0 + 5, policy);
    if ("rejected" in step) throw new Error("rejected");
    expect(step.next).toMatchObject({ state: "aborting", reason: "aborted_by_operator", attempts: 0 });
    expect(step.next.events.slice(-3)).toEqual([
      { at: T0 + 5, type: "abort_requested", reason: "aborted_by_operator" },
      { at: T0 + 5, type: "decision", decision: "abort", reason: "aborted_by_operator" },
      {
        at: T0 + 5,
        type: "decision_sent",
        decision: "abort",
        participants: ["bank-1", "bank-2", "bank-3"],
      },
    ]);
    // bank-2 never voted: its ROLLBACK leaves a barrier so a late PREPARE votes no.
    expect(step.effects.map((e) => e.participant)).toEqual(["bank-1", "bank-2", "bank-3"]);
  });

  it.each([
    ["committing", [vote("bank-1", "yes"), vote("bank-2", "yes"), vote("bank-3", "yes")]],
    ["aborting", [vote("bank-1", "no")]],
  ] as const)("refuses once %s, and changes nothing", (state, steps) => {
    const tx = run(started(), ...steps);
    expect(requestAbort(tx, "aborted_by_operator", T0, policy)).toEqual({
      rejected: "already_decided",
      state,
    });
  });
});
