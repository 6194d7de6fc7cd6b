import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { AckInput, VoteInput } from "../../src/core/atomic-group.ts";
import { reasonOf } from "../../src/core/reasons.ts";
import type { TwoPcRecord } from "../../src/core/transaction.ts";
import {
  begin,
  onAck,
  onSweep,
  onVote,
  onWaiting,
  requestAbort,
  requestRetry,
  type Step,
} from "../../src/core/two-phase-commit.ts";
import { begunTwoPc, TEST_POLICY } from "../helpers/policy.ts";

const policy = TEST_POLICY;

const T0 = 1_000_000;

const started = (participants = ["bank-1", "bank-2"], timeoutMs = 60_000): TwoPcRecord =>
  begunTwoPc({ participants, timeoutMs, action: "deposit", at: T0 });

const yes = (participant: string): VoteInput => ({ participant, vote: "yes" });
const no = (participant: string, reason = "insufficient_funds"): VoteInput => ({
  participant,
  vote: "no",
  reason: reasonOf(reason),
});

function run(tx: TwoPcRecord, ...events: ((tx: TwoPcRecord) => Step)[]): TwoPcRecord {
  return events.reduce((t, e) => e(t).next, tx);
}

describe("begin", () => {
  it("groups branches by participant and sends one PREPARE to each", () => {
    const step = begin(
      {
        id: "t1",
        requestHash: "h",
        timeoutMs: 5_000,
        branches: [
          { participant: "bank-1", action: "withdraw", input: {} },
          { participant: "bank-2", action: "deposit", input: {} },
          { participant: "bank-1", action: "deposit", input: {} },
        ],
      },
      T0,
      policy,
    );
    expect(step.next.state).toBe("preparing");
    expect(step.next.participants).toEqual([
      { name: "bank-1", branches: [0, 2] },
      { name: "bank-2", branches: [1] },
    ]);
    expect(step.effects).toEqual([
      { kind: "prepare", participant: "bank-1" },
      { kind: "prepare", participant: "bank-2" },
    ]);
    expect(step.next.deadline).toBe(T0 + 5_000);
    expect(step.next.dueAt).toBe(T0 + policy.prepareRetryMs);
    expect(step.next.events.map((e) => e.type)).toEqual(["created", "prepare_sent"]);
  });

  it("is never due after its deadline", () => {
    expect(started(["bank-1"], 300).dueAt).toBe(T0 + 300);
  });
});

describe("onVote", () => {
  it.each([
    {
      name: "first yes of two waits for the other",
      votes: [yes("bank-1")],
      state: "preparing",
      effects: [],
    },
    {
      name: "all yes commits and tells everyone",
      votes: [yes("bank-1"), yes("bank-2")],
      state: "committing",
      effects: [
        { kind: "decision", participant: "bank-1", decision: "commit" },
        { kind: "decision", participant: "bank-2", decision: "commit" },
      ],
    },
    {
      name: "a no aborts and rolls back only those who may hold locks",
      votes: [yes("bank-1"), no("bank-2")],
      state: "aborting",
      effects: [{ kind: "decision", participant: "bank-1", decision: "abort" }],
    },
    {
      name: "a no before any yes rolls back the silent participant too",
      votes: [no("bank-1")],
      state: "aborting",
      effects: [{ kind: "decision", participant: "bank-2", decision: "abort" }],
    },
  ])("$name", ({ votes, state, effects }) => {
    let tx = started();
    let last: Step | undefined;
    for (const v of votes) {
      last = onVote(tx, v, T0 + 10, policy);
      tx = last.next;
    }
    expect(tx.state).toBe(state);
    expect(last?.effects).toEqual(effects);
  });

  it("aborts at once when every participant voted no: nothing to roll back", () => {
    const tx = run(started(["bank-1"]), (t) => onVote(t, no("bank-1"), T0 + 5, policy));
    expect(tx.state).toBe("aborted");
    expect(tx.reason).toBe("insufficient_funds");
    expect(tx.dueAt).toBeUndefined();
    expect(tx.completedAt).toBe(T0 + 5);
  });

  it("records the reason and the blamed branch", () => {
    const step = onVote(
      started(),
      { participant: "bank-2", vote: "no", reason: reasonOf("unknown_account"), failedBranch: 1 },
      T0,
      policy,
    );
    expect(step.next.reason).toBe("unknown_account");
    expect(step.next.participants[1]).toMatchObject({
      vote: "no",
      reason: "unknown_account",
      failedBranch: 1,
    });
  });

  it("ignores a duplicate vote", () => {
    const once = onVote(started(), yes("bank-1"), T0, policy).next;
    const twice = onVote(once, yes("bank-1"), T0 + 1, policy);
    expect(twice.changed).toBe(false);
    expect(twice.effects).toEqual([]);
  });

  it("ignores a vote from a stranger", () => {
    const step = onVote(started(), yes("bank-9"), T0, policy);
    expect(step.changed).toBe(false);
  });

  it("answers a yes that arrives after the decision by re-sending the decision to that participant", () => {
    const decided = run(
      started(),
      (t) => onVote(t, yes("bank-1"), T0, policy),
      (t) => onVote(t, yes("bank-2"), T0, policy),
    );
    const late = onVote(decided, yes("bank-1"), T0 + 50, policy);
    expect(late.changed).toBe(false);
    expect(late.effects).toEqual([{ kind: "decision", participant: "bank-1", decision: "commit" }]);
  });

  it("answers a late yes after a timeout abort with a rollback", () => {
    const aborted = onSweep(started(["bank-1"], 100), T0 + 100, policy).next;
    expect(aborted.state).toBe("aborting");
    const late = onVote(aborted, yes("bank-1"), T0 + 150, policy);
    expect(late.effects).toEqual([{ kind: "decision", participant: "bank-1", decision: "abort" }]);
  });
});

describe("the first re-send of a decision", () => {
  // Begun at T0, the record is due at T0 + 1000 (the PREPARE's re-send).
  const decidedAt = (at: number): TwoPcRecord =>
    run(
      started(),
      (t) => onVote(t, yes("bank-1"), at, policy),
      (t) => onVote(t, yes("bank-2"), at, policy),
    );

  it("keeps the time the record was due when that is in the second half of the interval: its index entry stays", () => {
    expect(decidedAt(T0 + 10).dueAt).toBe(T0 + 1_000);
    expect(decidedAt(T0 + 500).dueAt).toBe(T0 + 1_000);
  });

  it("is the whole interval after a later decision, or an abort after a restart's shorter wait", () => {
    expect(decidedAt(T0 + 501).dueAt).toBe(T0 + 1_501);
    const aborted = onVote(started(), no("bank-1"), T0 + 700, policy).next;
    expect(aborted.dueAt).toBe(T0 + 1_700);
  });

  it("never comes sooner than half the interval, nor later than all of it, whatever the record was due at", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 3_000 }),
        fc.integer({ min: 0, max: 60_000 }),
        (voteAfter, timeoutMs) => {
          const tx = run(
            started(["bank-1", "bank-2"], Math.max(timeoutMs, voteAfter + 1)),
            (t) => onVote(t, yes("bank-1"), T0 + voteAfter, policy),
            (t) => onVote(t, yes("bank-2"), T0 + voteAfter, policy),
          );
          const wait = (tx.dueAt ?? 0) - (T0 + voteAfter);
          expect(wait).toBeGreaterThanOrEqual(policy.decisionRetryMs / 2);
          expect(wait).toBeLessThanOrEqual(policy.decisionRetryMs);
        },
      ),
    );
  });
});

describe("onAck", () => {
  const committing = () =>
    run(
      started(),
      (t) => onVote(t, yes("bank-1"), T0, policy),
      (t) => onVote(t, yes("bank-2"), T0, policy),
    );
  const ack = (participant: string, decision: AckInput["decision"] = "commit"): AckInput => ({
    participant,
    decision,
  });

  it("completes when every participant acknowledged", () => {
    const one = onAck(committing(), ack("bank-1"), T0 + 20, policy).next;
    expect(one.state).toBe("committing");
    const both = onAck(one, ack("bank-2"), T0 + 30, policy).next;
    expect(both.state).toBe("committed");
    expect(both.completedAt).toBe(T0 + 30);
    expect(both.dueAt).toBeUndefined();
  });

  it.each([
    [
      "a duplicate ack",
      (tx: TwoPcRecord) => onAck(onAck(tx, ack("bank-1"), T0, policy).next, ack("bank-1"), T0, policy),
    ],
    ["an ack for the other decision", (tx: TwoPcRecord) => onAck(tx, ack("bank-1", "abort"), T0, policy)],
    ["an ack from a stranger", (tx: TwoPcRecord) => onAck(tx, ack("bank-7"), T0, policy)],
  ])("ignores %s", (_name, apply) => {
    expect(apply(committing()).changed).toBe(false);
  });

  it("ignores acks while still preparing", () => {
    expect(onAck(started(), ack("bank-1"), T0, policy).changed).toBe(false);
  });
});

describe("onSweep", () => {
  it("does nothing before the due time", () => {
    expect(onSweep(started(), T0 + 10, policy).changed).toBe(false);
  });

  it("re-sends PREPARE to the silent participants with growing backoff", () => {
    const voted = onVote(started(), yes("bank-1"), T0, policy).next;
    const first = onSweep(voted, T0 + 1_000, policy);
    expect(first.effects).toEqual([{ kind: "prepare", participant: "bank-2" }]);
    expect(first.next.attempts).toBe(1);
    expect(first.next.dueAt).toBe(T0 + 1_000 + 2_000);
    const second = onSweep(first.next, T0 + 3_000, policy);
    expect(second.next.dueAt).toBe(T0 + 3_000 + 4_000);
  });

  it("aborts at the deadline with reason timeout", () => {
    const step = onSweep(started(["bank-1", "bank-2"], 500), T0 + 500, policy);
    expect(step.next.state).toBe("aborting");
    expect(step.next.reason).toBe("timeout");
    expect(step.effects.map((e) => e.kind)).toEqual(["decision", "decision"]);
  });

  it("sends the timeout abort to a participant that never voted, until it acknowledges: its PREPARE may have prepared it", () => {
    // An HTTP service whose yes was lost is silent here, yet holds locks; a late no (a stale
    // copy's) must not excuse it from the ROLLBACK once the abort is decided.
    const voted = onVote(started(["bank-1", "svc"], 500), yes("bank-1"), T0 + 100, policy).next;
    const aborted = onSweep(voted, T0 + 500, policy);
    expect(aborted.effects).toEqual([
      { kind: "decision", participant: "bank-1", decision: "abort" },
      { kind: "decision", participant: "svc", decision: "abort" },
    ]);
    const lateNo = onVote(aborted.next, no("svc", "timeout"), T0 + 600, policy);
    expect(lateNo.changed).toBe(false);
    const acked = onAck(lateNo.next, { participant: "bank-1", decision: "abort" }, T0 + 700, policy).next;
    const again = onSweep(acked, acked.dueAt ?? 0, policy);
    expect(again.effects).toEqual([{ kind: "decision", participant: "svc", decision: "abort" }]);
    expect(again.next.state).toBe("aborting");
    const done = onAck(again.next, { participant: "svc", decision: "abort" }, T0 + 5_000, policy).next;
    expect(done.state).toBe("aborted");
  });

  it("re-sends the decision to those who have not acknowledged, capped, and flags a stall", () => {
    let tx = run(
      started(),
      (t) => onVote(t, yes("bank-1"), T0, policy),
      (t) => onVote(t, yes("bank-2"), T0, policy),
      (t) => onAck(t, { participant: "bank-1", decision: "commit" }, T0, policy),
    );
    const gaps: number[] = [];
    for (let i = 0; i < 6; i++) {
      const now = tx.dueAt ?? 0;
      const step = onSweep(tx, now, policy);
      expect(step.effects).toEqual([{ kind: "decision", participant: "bank-2", decision: "commit" }]);
      tx = step.next;
      gaps.push((tx.dueAt ?? 0) - now);
    }
    expect(gaps).toEqual([2_000, 4_000, 8_000, 8_000, 8_000, 8_000]);
    expect(tx.state).toBe("committing");
    expect(tx.events.filter((e) => e.type === "decision_stalled")).toHaveLength(1);
  });
});

describe("requestAbort", () => {
  it("aborts an undecided transaction", () => {
    const step = requestAbort(started(), "aborted_by_operator", T0, policy);
    expect("next" in step && step.next.state).toBe("aborting");
  });

  it("refuses once decided", () => {
    const committing = run(started(["bank-1"]), (t) => onVote(t, yes("bank-1"), T0, policy));
    expect(requestAbort(committing, reasonOf("x"), T0, policy)).toEqual({
      rejected: "already_decided",
      state: "committing",
    });
  });
});

describe("bounded timeline", () => {
  it("keeps the first events and the latest, and counts what it dropped", () => {
    let tx = started(["bank-1"]);
    for (let i = 0; i < 60; i++) tx = onSweep(tx, tx.dueAt ?? 0, { ...policy, prepareRetryMs: 1 }).next;
    expect(tx.events.length).toBeLessThanOrEqual(policy.maxEvents);
    expect(tx.events[0]?.type).toBe("created");
    expect(tx.eventsDropped).toBeGreaterThan(0);
  });
});

describe("any order, any duplication", () => {
  type Msg = { kind: "vote"; v: VoteInput } | { kind: "ack"; a: AckInput };
  const names = ["bank-1", "bank-2", "bank-3"];

  it("reaches one outcome, never both, and a commit only with every vote yes", () => {
    fc.assert(
      fc.property(
        fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }),
        fc.array(fc.nat(20), { minLength: 1, maxLength: 40 }),
        (votesYes, order) => {
          const votes: Msg[] = names.map((p, i) => ({ kind: "vote", v: votesYes[i] ? yes(p) : no(p) }));
          const acks: Msg[] = names.flatMap((p) => [
            { kind: "ack", a: { participant: p, decision: "commit" } } as Msg,
            { kind: "ack", a: { participant: p, decision: "abort" } } as Msg,
          ]);
          const pool = [...votes, ...acks];
          let tx = started(names);
          const decisions = new Set<string>();
          // Deliver in the generated order (with repeats), then everything once more.
          const sequence = [...order.map((i) => pool[i % pool.length] as Msg), ...pool];
          for (const m of sequence) {
            const step = m.kind === "vote" ? onVote(tx, m.v, T0, policy) : onAck(tx, m.a, T0, policy);
            for (const e of step.effects) if (e.kind === "decision") decisions.add(e.decision);
            tx = step.next;
          }
          expect(decisions.size).toBeLessThanOrEqual(1);
          const allYes = votesYes.every(Boolean);
          expect(tx.state).toBe(allYes ? "committed" : "aborted");
          if (tx.state === "committed") expect(tx.participants.every((p) => p.vote === "yes")).toBe(true);
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe("waiting participants", () => {
  it("records the wait-for edge and drops it on the vote", () => {
    const waiting = onWaiting(started(), { participant: "bank-2", holder: "t0" }, T0, policy).next;
    expect(waiting.waits).toEqual({ "bank-2": "t0" });
    const voted = onVote(waiting, yes("bank-2"), T0 + 1, policy).next;
    expect(voted.waits).toBeUndefined();
  });

  // Its re-queued PREPARE may be lost (an SQS outage loses messages): without
  // another copy it never votes, and the others hold their locks until the deadline.
  it("keeps sending PREPARE to a waiter, every waiting interval, until the deadline", () => {
    const waiting = run(
      started(),
      (t) => onVote(t, yes("bank-1"), T0, policy),
      (t) => onWaiting(t, { participant: "bank-2", holder: "t0" }, T0 + 100, policy),
    );
    // A healthy waiter holds a copy: the next one waits for the waiting interval.
    expect(waiting.dueAt).toBe(T0 + 100 + policy.waitingRetryMs);
    expect(onSweep(waiting, T0 + 100 + policy.waitingRetryMs - 1, policy).changed).toBe(false);
    let tx = waiting;
    const sentAt: number[] = [];
    while (tx.state === "preparing") {
      const at = tx.dueAt ?? 0;
      const step = onSweep(tx, at, policy);
      if (step.next.state === "preparing") {
        expect(step.effects).toEqual([{ kind: "prepare", participant: "bank-2" }]);
        sentAt.push(at);
      }
      tx = step.next;
    }
    expect(tx).toMatchObject({ state: "aborting", reason: "timeout" });
    // Copies all along the 60 s, never closer together than the waiting interval.
    expect(sentAt.length).toBeGreaterThanOrEqual(5);
    for (const [i, at] of sentAt.entries()) {
      if (i > 0) expect(at - (sentAt[i - 1] ?? 0)).toBeGreaterThanOrEqual(policy.waitingRetryMs);
    }
    expect(tx.deadline - (sentAt.at(-1) ?? 0)).toBeLessThanOrEqual(policy.backoffCapMs);
  });

  it("a waiter beside a silent participant gets PREPARE with the silent one's re-sends", () => {
    const waiting = onWaiting(started(), { participant: "bank-2", holder: "t0" }, T0 + 100, policy).next;
    // bank-1 is silent: its re-send keeps its own, sooner, due time.
    expect(waiting.dueAt).toBe(T0 + policy.prepareRetryMs);
    const swept = onSweep(waiting, T0 + policy.prepareRetryMs, policy);
    expect(swept.effects).toEqual([
      { kind: "prepare", participant: "bank-1" },
      { kind: "prepare", participant: "bank-2" },
    ]);
  });

  it("an operator's retry sends PREPARE to a waiter too", () => {
    const waiting = run(
      started(),
      (t) => onVote(t, yes("bank-1"), T0, policy),
      (t) => onWaiting(t, { participant: "bank-2", holder: "t0" }, T0 + 100, policy),
    );
    const retried = requestRetry(waiting, T0 + 200, policy);
    if ("rejected" in retried) throw new Error("rejected");
    expect(retried.effects).toEqual([{ kind: "prepare", participant: "bank-2" }]);
    expect(retried.next.dueAt).toBe(T0 + 200 + policy.waitingRetryMs);
  });

  it("answers a yes from a participant that already acknowledged with the decision again", () => {
    const done = run(
      started(["bank-1"]),
      (t) => onVote(t, yes("bank-1"), T0, policy),
      (t) => onAck(t, { participant: "bank-1", decision: "commit" }, T0, policy),
    );
    expect(done.state).toBe("committed");
    expect(onVote(done, yes("bank-1"), T0 + 5, policy).effects).toEqual([
      { kind: "decision", participant: "bank-1", decision: "commit" },
    ]);
  });
});
