/**
 * Restarts of a 2PC transaction that died for contention: the attempt is
 * rolled back everywhere before the next one prepares, the age is kept, and
 * the client sees an abort only once the deadline has passed.
 */
import { describe, expect, it } from "vitest";
import { messageFor } from "../../src/coordinator/dispatch.ts";
import type { VoteInput } from "../../src/core/atomic-group.ts";
import type { TwoPcRecord } from "../../src/core/transaction.ts";
import {
  onAck,
  onReleased,
  onSweep,
  onVote,
  onWaiting,
  requestRestart,
  requestRetry,
  type Step,
} from "../../src/core/two-phase-commit.ts";
import { cycleHolds, stillWaitsFor } from "../../src/core/wait-for-graph.ts";
import { begunTwoPc, TEST_POLICY } from "../helpers/policy.ts";

const policy = TEST_POLICY;
const T0 = 1_000_000;

const started = (participants = ["bank-1", "bank-2"], timeoutMs = 10_000): TwoPcRecord =>
  begunTwoPc({ participants, timeoutMs, action: "withdraw", at: T0 });

const yes = (participant: string, attempt?: number): VoteInput => ({
  participant,
  vote: "yes",
  ...(attempt !== undefined ? { attempt } : {}),
});
const died = (participant: string, attempt?: number): VoteInput => ({
  participant,
  vote: "no",
  reason: "lock_conflict",
  restart: true,
  ...(attempt !== undefined ? { attempt } : {}),
});
const run = (tx: TwoPcRecord, ...events: ((tx: TwoPcRecord) => Step)[]) =>
  events.reduce((t, e) => e(t).next, tx);

describe("a wait-die die before the deadline", () => {
  it("rolls the attempt back where it may hold, then prepares the next attempt everywhere, same age", () => {
    const voted = onVote(started(), yes("bank-1"), T0 + 10, policy).next;
    const step = onVote(voted, died("bank-2"), T0 + 20, policy);
    expect(step.next).toMatchObject({ state: "preparing", restarting: "lock_conflict" });
    expect(step.next.reason).toBeUndefined();
    expect(step.effects).toEqual([{ kind: "decision", participant: "bank-1", decision: "abort" }]);
    // The ROLLBACK names the attempt it ends: 0.
    expect(messageFor(step.next, step.effects[0] as never)).toMatchObject({ type: "rollback" });
    expect(messageFor(step.next, step.effects[0] as never)).not.toHaveProperty("attempt");

    // Released everywhere; no wake-up was registered for the lock, so it backs off first (50 ms).
    const released = onAck(step.next, { participant: "bank-1", decision: "abort" }, T0 + 30, policy);
    expect(released.next).toMatchObject({ state: "preparing", restarting: "lock_conflict", dueAt: T0 + 80 });
    expect(released.effects).toEqual([]);
    const again = onSweep(released.next, T0 + 80, policy);
    expect(again.next).toMatchObject({ state: "preparing", attempt: 1 });
    expect(again.next.restarting).toBeUndefined();
    expect(again.next.participants.every((p) => p.vote === undefined && !p.acked)).toBe(true);
    expect(again.effects).toEqual([
      { kind: "prepare", participant: "bank-1" },
      { kind: "prepare", participant: "bank-2" },
    ]);
    const prepare = messageFor(again.next, { kind: "prepare", participant: "bank-2" });
    expect(prepare).toMatchObject({ type: "prepare", attempt: 1, startedAt: T0 });
    expect(again.next.events.map((e) => e.type)).toContain("restarted");
  });

  it("with no participant holding anything and no wake-up registered, backs off, then prepares the next attempt", () => {
    const step = onVote(started(["bank-1"]), died("bank-1"), T0 + 10, policy);
    // Not at once: the same holder would refuse it again and again (a hot loop of restarts).
    expect(step.next).toMatchObject({ state: "preparing", restarting: "lock_conflict", dueAt: T0 + 60 });
    expect(step.effects).toEqual([]);
    const next = onSweep(step.next, T0 + 60, policy);
    expect(next.next).toMatchObject({ state: "preparing", attempt: 1 });
    expect(next.effects).toEqual([{ kind: "prepare", participant: "bank-1" }]);
    // Dying again on attempt 1 backs off twice as long.
    const again = onVote(next.next, died("bank-1", 1), T0 + 70, policy);
    expect(again.next).toMatchObject({ restarting: "lock_conflict", dueAt: T0 + 170 });
  });

  it("commits on the next attempt's votes and ignores the earlier attempt's", () => {
    const restarted = run(
      started(),
      (t) => onVote(t, yes("bank-1"), T0 + 10, policy),
      (t) => onVote(t, died("bank-2"), T0 + 20, policy),
    );
    // A late vote of attempt 0 while its rollback is out counts for nothing.
    expect(onVote(restarted, yes("bank-2"), T0 + 25, policy).changed).toBe(false);
    const released = onAck(restarted, { participant: "bank-1", decision: "abort" }, T0 + 30, policy).next;
    const next = onSweep(released, T0 + 80, policy).next;
    expect(onVote(next, yes("bank-1", 0), T0 + 85, policy).changed).toBe(false);
    // An ack of attempt 0's ROLLBACK again: nothing.
    expect(onAck(next, { participant: "bank-1", decision: "abort" }, T0 + 36, policy).changed).toBe(false);
    const committed = run(
      next,
      (t) => onVote(t, yes("bank-1", 1), T0 + 40, policy),
      (t) => onVote(t, yes("bank-2", 1), T0 + 50, policy),
    );
    expect(committed.state).toBe("committing");
    const commit = messageFor(committed, { kind: "decision", participant: "bank-1", decision: "commit" });
    expect(commit).toMatchObject({ type: "commit", attempt: 1 });
    const done = run(
      committed,
      (t) => onAck(t, { participant: "bank-1", decision: "commit", attempt: 1 }, T0 + 60, policy),
      (t) => onAck(t, { participant: "bank-2", decision: "commit", attempt: 1 }, T0 + 61, policy),
    );
    expect(done.state).toBe("committed");
  });

  it("aborts with lock_conflict once the deadline has passed, not before", () => {
    const tx = started(["bank-1", "bank-2"], 1_000);
    const voted = onVote(tx, yes("bank-1"), T0, policy).next;
    // A millisecond before the deadline it restarts; at the deadline it aborts.
    const before = onVote(voted, died("bank-2"), T0 + 999, policy);
    expect(before.next).toMatchObject({ state: "preparing", restarting: "lock_conflict" });
    expect(before.next.reason).toBeUndefined();
    const late = onVote(voted, died("bank-2"), T0 + 1_000, policy);
    expect(late.next).toMatchObject({ state: "aborting", reason: "lock_conflict" });
  });

  it("re-sends the ROLLBACKs until acknowledged, and at the deadline aborts for the contention", () => {
    const restarting = run(
      started(),
      (t) => onVote(t, yes("bank-1"), T0, policy),
      (t) => onVote(t, died("bank-2"), T0 + 10, policy),
    );
    const swept = onSweep(restarting, restarting.dueAt ?? 0, policy);
    expect(swept.effects).toEqual([{ kind: "decision", participant: "bank-1", decision: "abort" }]);
    expect(swept.next.restarting).toBe("lock_conflict");
    const retried = requestRetry(restarting, T0 + 20, policy);
    if ("rejected" in retried) throw new Error("rejected");
    expect(retried.effects).toEqual([{ kind: "decision", participant: "bank-1", decision: "abort" }]);
    const end = onSweep(restarting, restarting.deadline, policy);
    expect(end.next).toMatchObject({ state: "aborting", reason: "lock_conflict" });
    expect(end.next.restarting).toBeUndefined();
    expect(end.effects).toEqual([{ kind: "decision", participant: "bank-1", decision: "abort" }]);
  });

  it("a no-wait refusal (no restart asked) still aborts at once", () => {
    const step = onVote(
      started(),
      { participant: "bank-1", vote: "no", reason: "lock_conflict" },
      T0,
      policy,
    );
    expect(step.next).toMatchObject({ state: "aborting", reason: "lock_conflict" });
  });
});

describe("a deadlock victim", () => {
  it("is restarted while its deadline allows, aborted with deadlock after", () => {
    const tx = onVote(started(), yes("bank-1"), T0, policy).next;
    const restarted = requestRestart(tx, "deadlock", T0 + 10, policy);
    if ("rejected" in restarted) throw new Error("rejected");
    expect(restarted.next).toMatchObject({ state: "preparing", restarting: "deadlock" });
    expect(restarted.effects).toEqual([
      { kind: "decision", participant: "bank-1", decision: "abort" },
      { kind: "decision", participant: "bank-2", decision: "abort" },
    ]);
    const late = requestRestart(tx, "deadlock", tx.deadline, policy);
    if ("rejected" in late) throw new Error("rejected");
    expect(late.next).toMatchObject({ state: "aborting", reason: "deadlock" });
  });
});

describe("a released lock", () => {
  it("sends the waiting participant its PREPARE again at once and drops the wait-for edge to that holder", () => {
    const voted = onVote(started(), yes("bank-1"), T0, policy).next;
    const waiting = onWaiting(voted, { participant: "bank-2", holder: "t0" }, T0 + 1, policy).next;
    const step = onReleased(waiting, { participant: "bank-2", holder: "t0" }, T0 + 2, policy);
    expect(step.effects).toEqual([{ kind: "prepare", participant: "bank-2" }]);
    expect(step.next.waits).toBeUndefined();
    // A release of another holder's lock leaves a newer edge and writes nothing.
    const other = onReleased(waiting, { participant: "bank-2", holder: "t9" }, T0 + 2, policy);
    expect(other.changed).toBe(false);
    expect(other.effects).toEqual([{ kind: "prepare", participant: "bank-2" }]);
    expect(onReleased(step.next, { participant: "bank-1", holder: "t0" }, T0 + 3, policy).effects).toEqual(
      [],
    );
  });
});

describe("a restart that died at a lock", () => {
  it("starts its next attempt when that lock is released, not at once", () => {
    const voted = onVote(started(), yes("bank-1"), T0, policy).next;
    const dying = { ...died("bank-2"), holder: "t0" };
    const restarting = onVote(voted, dying, T0 + 10, policy).next;
    const acked = onAck(restarting, { participant: "bank-1", decision: "abort" }, T0 + 20, policy);
    expect(acked.effects).toEqual([]);
    expect(acked.next).toMatchObject({ restarting: "lock_conflict", restartAfter: "t0" });
    const woken = onReleased(acked.next, { participant: "bank-2", holder: "t0" }, T0 + 30, policy);
    expect(woken.next).toMatchObject({ attempt: 1 });
    expect(woken.effects).toHaveLength(2);
    // A lost wake-up: the sweep starts it after the re-send interval.
    const swept = onSweep(acked.next, acked.next.dueAt ?? 0, policy);
    expect(swept.next).toMatchObject({ attempt: 1 });
  });

  it("starts at once when that lock was released before every participant let go of the attempt", () => {
    const voted = onVote(started(), yes("bank-1"), T0, policy).next;
    const restarting = onVote(voted, { ...died("bank-2"), holder: "t0" }, T0 + 10, policy).next;
    // The holder commits while bank-1's ROLLBACK is still on its way.
    const woken = onReleased(restarting, { participant: "bank-2", holder: "t0" }, T0 + 15, policy);
    expect(woken.effects).toEqual([]);
    expect(woken.next).toMatchObject({ restarting: "lock_conflict" });
    expect(woken.next.attempt).toBeUndefined();
    // A copy of that wake-up changes nothing.
    expect(onReleased(woken.next, { participant: "bank-2", holder: "t0" }, T0 + 16, policy).changed).toBe(
      false,
    );
    const acked = onAck(woken.next, { participant: "bank-1", decision: "abort" }, T0 + 20, policy);
    expect(acked.next).toMatchObject({ attempt: 1 });
    expect(acked.next.restarting).toBeUndefined();
    expect(acked.next.restartWoken).toBeUndefined();
    expect(acked.effects).toEqual([
      { kind: "prepare", participant: "bank-1" },
      { kind: "prepare", participant: "bank-2" },
    ]);
  });

  it("backs off when the die registered no wake-up, so it does not meet the same holder at once", () => {
    const voted = onVote(started(), yes("bank-1"), T0, policy).next;
    const restarting = onVote(voted, died("bank-2"), T0 + 10, policy).next;
    const acked = onAck(restarting, { participant: "bank-1", decision: "abort" }, T0 + 20, policy);
    expect(acked.effects).toEqual([]);
    expect(acked.next.dueAt).toBeGreaterThan(T0 + 20);
    expect(acked.next.dueAt).toBeLessThan(T0 + 20 + policy.prepareRetryMs);
  });
});

describe("a late copy of a waiting report, after the holder's attempt released the lock", () => {
  // t1 holds bank-1 and waits at bank-2 for t0's attempt 0; t0 is restarted (a
  // deadlock victim elsewhere), which releases bank-2 and wakes t1. A duplicate of
  // t1's report about t0's attempt 0 arrives after that. t0's attempt 1 then waits
  // at bank-1 for t1: a real edge, but t1 no longer waits for t0 at all.
  const holder = (): TwoPcRecord => {
    const t0 = { ...started(), id: "t0", createdAt: T0 - 1 };
    const voted = onVote(t0, yes("bank-2"), T0, policy).next;
    const restarted = requestRestart(voted, "deadlock", T0 + 1, policy);
    if ("rejected" in restarted) throw new Error("rejected");
    return run(
      restarted.next,
      (t) => onAck(t, { participant: "bank-1", decision: "abort" }, T0 + 2, policy),
      (t) => onAck(t, { participant: "bank-2", decision: "abort" }, T0 + 2, policy),
      (t) => onWaiting(t, { participant: "bank-1", holder: "t1", holderAttempt: 0 }, T0 + 4, policy),
    );
  };
  const waiter = (): TwoPcRecord =>
    run(
      started(),
      (t) => onVote(t, yes("bank-1"), T0, policy),
      (t) => onWaiting(t, { participant: "bank-2", holder: "t0", holderAttempt: 0 }, T0 + 1, policy),
      (t) => onReleased(t, { participant: "bank-2", holder: "t0" }, T0 + 2, policy),
      (t) => onWaiting(t, { participant: "bank-2", holder: "t0", holderAttempt: 0 }, T0 + 3, policy),
    );

  it("closes no cycle: the edge is about an attempt that holds nothing any more", () => {
    const t0 = holder();
    const t1 = waiter();
    expect(t0).toMatchObject({ state: "preparing", attempt: 1, waits: { "bank-1": "t1" } });
    expect(stillWaitsFor(t0, t1)).toBe(true);
    expect(stillWaitsFor(t1, t0)).toBe(false);
    expect(cycleHolds([t1, t0])).toBe(false);
  });

  it("still counts a wait reported for the holder's current attempt", () => {
    const t1 = onWaiting(waiter(), { participant: "bank-2", holder: "t0", holderAttempt: 1 }, T0 + 5, policy);
    expect(t1.changed).toBe(true);
    expect(cycleHolds([t1.next, holder()])).toBe(true);
    // An earlier attempt's report, later still, does not take the current one's place.
    const late = onWaiting(
      t1.next,
      { participant: "bank-2", holder: "t0", holderAttempt: 0 },
      T0 + 6,
      policy,
    );
    expect(late.changed).toBe(false);
    expect(cycleHolds([late.next, holder()])).toBe(true);
  });
});
