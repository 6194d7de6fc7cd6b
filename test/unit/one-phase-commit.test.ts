import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { AckInput, VoteInput } from "../../src/core/atomic-group.ts";
import { reasonOf } from "../../src/core/reasons.ts";
import type { TwoPcRecord } from "../../src/core/transaction.ts";
import { decides } from "../../src/core/transitions.ts";
import {
  begin,
  onAck,
  onReleased,
  onSweep,
  onVote,
  onWaiting,
  requestAbort,
  requestRestart,
  requestRetry,
  type Step,
} from "../../src/core/two-phase-commit.ts";
import { TEST_POLICY } from "../helpers/policy.ts";

const policy = TEST_POLICY;

const T0 = 1_000_000;
const TIMEOUT = 10_000;
const DEADLINE = T0 + TIMEOUT;

function started(participants = ["bank-1"], onePhase = true): TwoPcRecord {
  return begin(
    {
      id: "t1",
      requestHash: "h",
      timeoutMs: TIMEOUT,
      onePhase,
      branches: participants.map((p) => ({
        participant: p,
        action: "transfer",
        input: { account: "a", to_account: "b", amount: 1 },
      })),
    },
    T0,
    policy,
  ).next;
}

const committed: AckInput = { participant: "bank-1", decision: "commit" };
const rolledBack: AckInput = { participant: "bank-1", decision: "abort" };
const refused = (reason: string): VoteInput => ({
  participant: "bank-1",
  vote: "no",
  reason: reasonOf(reason),
});

const sweep = (at: number) => (tx: TwoPcRecord) => onSweep(tx, at, policy);
const ack =
  (a: AckInput, at = T0 + 10) =>
  (tx: TwoPcRecord) =>
    onAck(tx, a, at, policy);
const vote =
  (v: VoteInput, at = T0 + 10) =>
  (tx: TwoPcRecord) =>
    onVote(tx, v, at, policy);

function run(tx: TwoPcRecord, ...events: ((tx: TwoPcRecord) => Step)[]): TwoPcRecord {
  return events.reduce((t, e) => e(t).next, tx);
}

describe("one-phase commit: begin", () => {
  it("takes one phase when every branch is at one participant that can", () => {
    const tx = started();
    expect(tx.onePhase).toBe(true);
    expect(tx.state).toBe("preparing");
  });

  it.each([
    { what: "two participants", participants: ["bank-1", "bank-2"], onePhase: true },
    { what: "a participant that cannot (an HTTP service)", participants: ["bank-1"], onePhase: false },
  ])("keeps two phases with $what", ({ participants, onePhase }) => {
    expect(started(participants, onePhase).onePhase).toBeUndefined();
  });
});

describe("one-phase commit: the participant's report", () => {
  it("a commit report decides and completes in one write, with nothing to send", () => {
    const before = started();
    const step = onAck(before, committed, T0 + 10, policy);
    expect(step.changed).toBe(true);
    expect(step.effects).toEqual([]);
    expect(step.next).toMatchObject({ state: "committed", decidedAt: T0 + 10, completedAt: T0 + 10 });
    expect(step.next.dueAt).toBeUndefined();
    expect(step.next.participants[0]).toMatchObject({ vote: "yes", acked: true });
    expect(decides(before, step.next)).toBe(true);
    expect(step.next.events.map((e) => e.type)).toEqual([
      "created",
      "prepare_sent",
      "ack",
      "decision",
      "completed",
    ]);
  });

  it("a refusal aborts with the participant's business reason, nothing to send", () => {
    const step = onVote(started(), refused("insufficient_funds"), T0 + 10, policy);
    expect(step.effects).toEqual([]);
    expect(step.next).toMatchObject({ state: "aborted", reason: "insufficient_funds" });
  });

  it("a rollback the coordinator never asked for changes nothing", () => {
    expect(onAck(started(), rolledBack, T0 + 10, policy).changed).toBe(false);
  });

  it("a report from another participant changes nothing", () => {
    expect(onAck(started(), { participant: "bank-2", decision: "commit" }, T0 + 10, policy).changed).toBe(
      false,
    );
  });

  it("a duplicate report after the outcome changes nothing", () => {
    const done = run(started(), ack(committed));
    expect(onAck(done, committed, T0 + 20, policy)).toMatchObject({ changed: false, effects: [] });
  });

  it("before the deadline, the sweep sends the one-phase PREPARE again", () => {
    const step = onSweep(started(), T0 + 1_000, policy);
    expect(step.effects).toEqual([{ kind: "prepare", participant: "bank-1" }]);
    expect(step.next.state).toBe("preparing");
  });
});

describe("one-phase commit: the deadline", () => {
  it("asks the participant to roll back instead of deciding abort", () => {
    const before = started();
    const step = onSweep(before, DEADLINE, policy);
    expect(step.next.state).toBe("preparing");
    expect(step.next.resolving).toBe("timeout");
    expect(step.next.decidedAt).toBeUndefined();
    expect(step.effects).toEqual([{ kind: "decision", participant: "bank-1", decision: "abort" }]);
    expect(decides(before, step.next)).toBe(false);
    expect(step.next.events.at(-1)).toMatchObject({ type: "outcome_asked", reason: "timeout" });
  });

  it("the answer 'rolled back' aborts with the reason it was asked for", () => {
    const tx = run(started(), sweep(DEADLINE), ack(rolledBack, DEADLINE + 5));
    expect(tx).toMatchObject({ state: "aborted", reason: "timeout", completedAt: DEADLINE + 5 });
    expect(tx.resolving).toBeUndefined();
  });

  it("the answer 'committed before the ROLLBACK' commits: the participant's outcome wins the race", () => {
    const tx = run(started(), sweep(DEADLINE), ack(committed, DEADLINE + 5));
    expect(tx).toMatchObject({ state: "committed" });
    expect(tx.reason).toBeUndefined();
  });

  it("a late one-phase PREPARE refused by the ROLLBACK's barrier aborts with the timeout", () => {
    const tx = run(started(), sweep(DEADLINE), vote(refused("rolled_back"), DEADLINE + 5));
    expect(tx).toMatchObject({ state: "aborted", reason: "timeout" });
  });

  it("a refusal for a business reason made before the deadline keeps its reason", () => {
    const tx = run(started(), sweep(DEADLINE), vote(refused("insufficient_funds"), DEADLINE + 5));
    expect(tx).toMatchObject({ state: "aborted", reason: "insufficient_funds" });
  });

  it("a prepared participant's yes no longer commits once the ROLLBACK is out", () => {
    const asked = run(started(), sweep(DEADLINE));
    expect(onVote(asked, { participant: "bank-1", vote: "yes" }, DEADLINE + 5, policy)).toMatchObject({
      changed: false,
      effects: [],
    });
  });

  it("sends the ROLLBACK again with backoff until answered, never deciding alone", () => {
    let tx = run(started(), sweep(DEADLINE));
    const sent: number[] = [];
    for (let i = 0; i < 6; i++) {
      const at = tx.dueAt ?? 0;
      const step = onSweep(tx, at, policy);
      expect(step.effects).toEqual([{ kind: "decision", participant: "bank-1", decision: "abort" }]);
      expect(step.next.state).toBe("preparing");
      sent.push(at);
      tx = step.next;
    }
    const gaps = sent.slice(1).map((t, i) => t - (sent[i] ?? 0));
    // Doubling from the decision re-send interval up to the cap, never shorter.
    expect(gaps).toEqual([2_000, 4_000, 8_000, 8_000, 8_000]);
    expect(tx.events.filter((e) => e.type === "outcome_asked_again")).toHaveLength(6);
  });

  it("a lock wait reported after the ROLLBACK went out changes nothing", () => {
    const asked = run(started(), sweep(DEADLINE));
    expect(onWaiting(asked, { participant: "bank-1", holder: "t0" }, DEADLINE + 1, policy).changed).toBe(
      false,
    );
  });

  it("any order of report, refusal and sweeps after the deadline agrees with the participant", () => {
    // The participant either committed (its report says so, and a ROLLBACK is answered the same)
    // or rolled back (the ROLLBACK's barrier refuses the PREPARE): the record ends as it did.
    const events = fc.array(fc.constantFrom("sweep", "report", "late-prepare", "duplicate"), {
      maxLength: 8,
    });
    fc.assert(
      fc.property(fc.boolean(), events, (didCommit, order) => {
        let tx = run(started(), sweep(DEADLINE));
        let at = DEADLINE + 1;
        for (const e of [...order, "report"]) {
          at += 100;
          const answer = didCommit ? ack(committed, at) : ack(rolledBack, at);
          const step =
            e === "sweep"
              ? sweep(at)
              : e === "late-prepare"
                ? didCommit
                  ? answer
                  : vote(refused("rolled_back"), at)
                : answer;
          tx = step(tx).next;
        }
        expect(tx.state).toBe(didCommit ? "committed" : "aborted");
        if (!didCommit) expect(tx.reason).toBe("timeout");
      }),
    );
  });
});

describe("one-phase commit: a reused id's barrier answers", () => {
  // The participant holds another transaction's barrier under the id: it refuses (`id_reused`)
  // without writing anything of this one, and that barrier may expire while a copy of the
  // PREPARE is still in flight, which would then commit.
  const reused = refused("id_reused");

  it("before the deadline, the refusal is recorded but decides nothing", () => {
    const step = onVote(started(), reused, T0 + 10, policy);
    expect(step.next.state).toBe("preparing");
    expect(step.next.decidedAt).toBeUndefined();
    expect(step.next.dueAt).toBe(DEADLINE);
    expect(step.effects).toEqual([]);
  });

  it("a copy of the PREPARE that committed meanwhile is reported and commits", () => {
    const tx = run(started(), vote(reused), ack(committed, T0 + 500));
    expect(tx).toMatchObject({ state: "committed" });
    expect(tx.participants[0]).toEqual({ name: "bank-1", branches: [0], vote: "yes", acked: true });
  });

  it("a durable refusal meanwhile (a later copy met no barrier and refused) aborts at once", () => {
    const tx = run(started(), vote(reused), vote(refused("insufficient_funds"), T0 + 500));
    expect(tx).toMatchObject({ state: "aborted", reason: "insufficient_funds" });
  });

  it("at the deadline the participant is asked, and its answer settles it", () => {
    const asked = onSweep(run(started(), vote(reused)), DEADLINE, policy);
    expect(asked.next).toMatchObject({ state: "preparing", resolving: "id_reused" });
    expect(asked.effects).toEqual([{ kind: "decision", participant: "bank-1", decision: "abort" }]);
    // The old barrier still there when the ROLLBACK came, past the deadline: final.
    expect(run(asked.next, vote({ ...reused, final: true }, DEADLINE + 5))).toMatchObject({
      state: "aborted",
      reason: "id_reused",
    });
    // Gone, and a copy committed before the deadline: that commit is the answer.
    expect(run(asked.next, ack(committed, DEADLINE + 5)).state).toBe("committed");
    // Gone, nothing committed: the ROLLBACK's barrier is durable.
    expect(run(asked.next, ack(rolledBack, DEADLINE + 5))).toMatchObject({
      state: "aborted",
      reason: "id_reused",
    });
  });

  it("past the deadline, a refusal that is not the ROLLBACK's final answer settles nothing: it may have been given before a copy committed", () => {
    const late = onVote(started(), reused, DEADLINE + 5, policy);
    expect(late.next.state).toBe("preparing");
    expect(late.effects).toEqual([]);
    // The commit of a copy that ran after the old barrier expired, reported in the same batch: it counts.
    expect(run(started(), vote(reused, DEADLINE + 5), ack(committed, DEADLINE + 5)).state).toBe("committed");
    // Still asked for at the sweep, and settled by the answer.
    const asked = onSweep(late.next, DEADLINE + 6, policy);
    expect(asked.next).toMatchObject({ state: "preparing", resolving: "id_reused" });
    // A ROLLBACK's non-final answer (given before the deadline) leaves the re-sends on their schedule.
    const again = onVote(asked.next, reused, DEADLINE + 7, policy);
    expect(again.next.state).toBe("preparing");
    expect(again.next.dueAt).toBe(asked.next.dueAt);
  });
});

describe("one-phase commit: operators", () => {
  it("an abort asks the participant, and an operator learns the outcome from its answer", () => {
    const step = requestAbort(started(), "aborted_by_operator", T0 + 100, policy);
    if ("rejected" in step) throw new Error("rejected");
    expect(step.next).toMatchObject({ state: "preparing", resolving: "aborted_by_operator" });
    expect(step.effects).toEqual([{ kind: "decision", participant: "bank-1", decision: "abort" }]);
    expect(run(step.next, ack(rolledBack, T0 + 200))).toMatchObject({
      state: "aborted",
      reason: "aborted_by_operator",
    });
  });

  it("an abort once the participant has been asked changes nothing", () => {
    const asked = run(started(), sweep(DEADLINE));
    const step = requestAbort(asked, "aborted_by_operator", DEADLINE + 1, policy);
    expect(step).toMatchObject({ changed: false, effects: [] });
  });

  it("a retry past the deadline asks for the outcome, with the backoff started over", () => {
    const asked = run(started(), sweep(DEADLINE), sweep(DEADLINE + 1_000), sweep(DEADLINE + 3_000));
    expect(asked.attempts).toBe(2);
    const step = requestRetry(asked, DEADLINE + 4_000, policy);
    if ("rejected" in step) throw new Error("rejected");
    expect(step.effects).toEqual([{ kind: "decision", participant: "bank-1", decision: "abort" }]);
    expect(step.next).toMatchObject({ state: "preparing", attempts: 0, dueAt: DEADLINE + 5_000 });
  });

  it("a retry before the deadline sends the one-phase PREPARE again", () => {
    const step = requestRetry(started(), T0 + 100, policy);
    if ("rejected" in step) throw new Error("rejected");
    expect(step.effects).toEqual([{ kind: "prepare", participant: "bank-1" }]);
  });
});

describe("two phases, unchanged", () => {
  it("a transaction over two participants still aborts on its own at the deadline", () => {
    const step = onSweep(started(["bank-1", "bank-2"]), DEADLINE, policy);
    expect(step.next.state).toBe("aborting");
  });
});

describe("one-phase commit: contention (wake-ups and restarts)", () => {
  const died: VoteInput = { ...refused("lock_conflict"), restart: true, holder: "holder" };
  const released =
    (at = T0 + 100) =>
    (tx: TwoPcRecord) =>
      onReleased(tx, { participant: "bank-1", holder: "holder" }, at, policy);
  const restarted = () => run(started(), vote(died));

  it("a PREPARE that died at a lock restarts with its age (nothing to roll back) once the lock is released", () => {
    const step = onVote(started(), died, T0 + 10, policy);
    expect(step.next).toMatchObject({
      state: "preparing",
      restarting: "lock_conflict",
      restartAfter: "holder",
    });
    expect(step.effects).toEqual([]);
    const next = released()(step.next);
    expect(next.next).toMatchObject({ state: "preparing", attempt: 1, onePhase: true, createdAt: T0 });
    expect(next.next.restarting).toBeUndefined();
    expect(next.effects).toEqual([{ kind: "prepare", participant: "bank-1" }]);
  });

  it("a copy of the died attempt's refusal during the restart decides nothing", () => {
    const tx = restarted();
    expect(onVote(tx, died, T0 + 20, policy)).toMatchObject({ changed: false, effects: [] });
    expect(onVote(tx, refused("lock_conflict"), T0 + 20, policy).changed).toBe(false);
  });

  it("the next attempt's commit report commits; a report naming no attempt is the died attempt's", () => {
    const tx = run(restarted(), released());
    expect(onAck(tx, committed, T0 + 200, policy).changed).toBe(false);
    const done = run(tx, ack({ ...committed, attempt: 1 }, T0 + 200));
    expect(done).toMatchObject({ state: "committed", attempt: 1 });
    expect(done.restarting).toBeUndefined();
  });

  it("a die after the participant was asked for the outcome is that outcome, not a restart", () => {
    const asked = requestAbort(started(), "aborted_by_operator", T0 + 10, policy);
    if ("rejected" in asked) throw new Error("rejected");
    expect(run(asked.next, vote(died, T0 + 20))).toMatchObject({ state: "aborted" });
  });

  it("at the deadline during a restart it asks the participant, and the contention is the reason", () => {
    const asked = onSweep(restarted(), DEADLINE, policy);
    expect(asked.next).toMatchObject({ state: "preparing", resolving: "lock_conflict" });
    expect(asked.next.restarting).toBeUndefined();
    expect(asked.effects).toEqual([{ kind: "decision", participant: "bank-1", decision: "abort" }]);
    expect(run(asked.next, ack(rolledBack, DEADLINE + 5))).toMatchObject({
      state: "aborted",
      reason: "lock_conflict",
    });
    // On a later attempt, the participant's answer names that attempt.
    const later = onSweep(run(restarted(), released()), DEADLINE, policy).next;
    expect(run(later, ack(rolledBack, DEADLINE + 5)).state).toBe("preparing");
    expect(run(later, ack({ ...rolledBack, attempt: 1 }, DEADLINE + 5)).state).toBe("aborted");
  });

  it("a released lock wakes a waiting one-phase PREPARE, but not once the participant was asked", () => {
    const waiting = run(started(), (tx) =>
      onWaiting(tx, { participant: "bank-1", holder: "holder" }, T0 + 10, policy),
    );
    expect(released()(waiting).effects).toEqual([{ kind: "prepare", participant: "bank-1" }]);
    const asked = requestAbort(waiting, "aborted_by_operator", T0 + 50, policy);
    if ("rejected" in asked) throw new Error("rejected");
    expect(released()(asked.next)).toMatchObject({ changed: false, effects: [] });
  });

  it("a deadlock victim is asked to roll back its attempt: a commit made first is the outcome", () => {
    const step = requestRestart(started(), "deadlock", T0 + 10, policy);
    if ("rejected" in step) throw new Error("rejected");
    expect(step.effects).toEqual([{ kind: "decision", participant: "bank-1", decision: "abort" }]);
    expect(run(step.next, ack(committed, T0 + 20)).state).toBe("committed");
    const next = onAck(step.next, rolledBack, T0 + 20, policy);
    expect(next.next).toMatchObject({ state: "preparing", attempt: 1 });
    expect(next.effects).toEqual([{ kind: "prepare", participant: "bank-1" }]);
  });
});
