/**
 * Two-phase commit with presumed abort, as pure transitions. Each function takes
 * the current record and an event and returns the next record plus the messages
 * to send once that record is durable. Nothing here does I/O.
 */
import {
  type AckInput,
  ackable,
  ackEvent,
  decided,
  decisionEffects,
  decisionOf,
  decisionTargets,
  groupByParticipant,
  prepareEffects,
  tally,
  toldAgain,
  type VoteInput,
  voteEvent,
  type WaitingInput,
  waitingEvent,
  withoutWait,
  withoutWaits,
  withVote,
  withWait,
} from "./atomic-group.ts";
import { backoffMs } from "./backoff.ts";
import { isReason, type Reason } from "./reasons.ts";
import { lockReleased, released, resendRollbacks, restart, withoutRestart } from "./restart.ts";
import { type Step as AnyStep, appendEvents, type Policy, unchanged } from "./step.ts";
import {
  attemptOf,
  type BranchSpec,
  type Decision,
  type ParticipantState,
  type TwoPcRecord,
  type TwoPcState,
  type TxEvent,
} from "./transaction.ts";

// Callers configure the policy beside the 2PC transitions.
export type { Policy } from "./step.ts";

export type Step = AnyStep<TwoPcRecord>;

export interface BeginInput {
  readonly id: string;
  readonly branches: readonly BranchSpec[];
  readonly timeoutMs: number;
  readonly requestHash: string;
  /**
   * The caller knows every participant named can commit in one phase (the
   * participant kit's, not an HTTP service). Taken only when the branches are
   * all at one participant.
   */
  readonly onePhase?: boolean;
}

export function begin(input: BeginInput, now: number, policy: Policy): Step {
  const participants = groupByParticipant(input.branches);
  const deadline = now + input.timeoutMs;
  const tx: TwoPcRecord = {
    id: input.id,
    protocol: "2pc",
    state: "preparing",
    createdAt: now,
    timeoutMs: input.timeoutMs,
    deadline,
    branches: input.branches,
    participants,
    events: [],
    eventsDropped: 0,
    attempts: 0,
    dueAt: Math.min(deadline, now + policy.prepareRetryMs),
    requestHash: input.requestHash,
    version: 1,
    ...(input.onePhase && participants.length === 1 ? { onePhase: true as const } : {}),
  };
  const names = participants.map((p) => p.name);
  return {
    next: appendEvents(
      tx,
      [
        { at: now, type: "created" },
        { at: now, type: "prepare_sent", participants: names },
      ],
      policy.maxEvents,
    ),
    effects: prepareEffects(names),
    changed: true,
  };
}

function decide(
  tx: TwoPcRecord,
  decision: Decision,
  reason: Reason | undefined,
  now: number,
  policy: Policy,
): Step {
  const next: TwoPcRecord = {
    ...withoutUndecided(tx),
    state: decision === "commit" ? "committing" : "aborting",
    decidedAt: now,
    participants: decided(tx.participants, decision),
    attempts: 0,
    dueAt: firstDecisionDue(tx.dueAt, now, policy),
    ...(reason !== undefined ? { reason } : {}),
  };
  const targets = decisionTargets(next.participants);
  const events: TxEvent[] = [
    { at: now, type: "decision", decision, ...(reason !== undefined ? { reason } : {}) },
  ];
  if (targets.length === 0) {
    return {
      next: complete(appendEvents(next, events, policy.maxEvents), now, policy),
      effects: [],
      changed: true,
    };
  }
  events.push({ at: now, type: "decision_sent", decision, participants: targets });
  return {
    next: appendEvents(next, events, policy.maxEvents),
    effects: decisionEffects(targets, decision),
    changed: true,
  };
}

/**
 * When an unacknowledged decision is first sent again: `decisionRetryMs` after
 * it, or when the record was due already if that is in the second half of that
 * interval. A quick decision then leaves the record's place in the due index
 * as it is, which spares the index a delete and a put at every decision.
 */
function firstDecisionDue(dueAt: number | undefined, now: number, policy: Policy): number {
  const full = now + policy.decisionRetryMs;
  return dueAt !== undefined && dueAt <= full && dueAt >= now + policy.decisionRetryMs / 2 ? dueAt : full;
}

/**
 * Decided: nothing waits for a lock on its behalf any more, a restart it was in
 * is over, and a one-phase outcome asked for is no longer awaited.
 */
function withoutUndecided(tx: TwoPcRecord): TwoPcRecord {
  const { resolving: _resolving, ...rest } = withoutRestart(withoutWaits(tx));
  return rest;
}

function complete(tx: TwoPcRecord, now: number, policy: Policy): TwoPcRecord {
  const { dueAt: _dueAt, ...rest } = tx;
  const finished: TwoPcRecord = {
    ...rest,
    state: tx.state === "committing" ? "committed" : "aborted",
    completedAt: now,
  };
  return appendEvents(finished, [{ at: now, type: "completed" }], policy.maxEvents);
}

export function onVote(tx: TwoPcRecord, vote: VoteInput, now: number, policy: Policy): Step {
  const index = tx.participants.findIndex((p) => p.name === vote.participant);
  const participant = tx.participants[index];
  if (!participant) return unchanged(tx);

  // A vote of an earlier attempt: that attempt is rolled back, or being rolled back.
  if ((vote.attempt ?? 0) !== attemptOf(tx)) return unchanged(tx);
  const decision = decisionOf(tx.state);
  if (decision !== undefined) return unchanged(tx, toldAgain(vote, decision));
  // Rolling this attempt back for a restart: a copy of its no changes nothing (nor, one-phase, decides).
  if (tx.restarting !== undefined) return unchanged(tx);
  if (tx.onePhase && vote.vote === "no") return onOnePhaseRefusal(tx, index, vote, now, policy);
  if (participant.vote !== undefined) return unchanged(tx);
  // Asked to roll back: a prepared participant's yes no longer commits, its ROLLBACK's answer settles it.
  if (tx.resolving !== undefined && vote.vote === "yes") return unchanged(tx);

  const voted = withVoteRecorded(tx, index, participant, vote, now, policy);
  switch (tally(voted.participants, vote)) {
    case "abort":
      // Died for contention with time left: the client sees a restart, not an abort.
      if (restartable(tx, vote, now)) return restart(voted, "lock_conflict", now, policy, vote.holder);
      return decide(voted, "abort", refusalReason(tx, vote), now, policy);
    case "commit":
      return decide(voted, "commit", undefined, now, policy);
    case undefined:
      return { next: voted, effects: [], changed: true };
  }
}

/** The vote on its participant, that participant's wait-for edge gone, the vote in the log. */
function withVoteRecorded(
  tx: TwoPcRecord,
  index: number,
  participant: ParticipantState,
  vote: VoteInput,
  now: number,
  policy: Policy,
): TwoPcRecord {
  return appendEvents(
    {
      ...withoutWait(tx, participant.name),
      participants: tx.participants.with(index, withVote(participant, vote)),
    },
    [{ at: now, ...voteEvent(vote) }],
    policy.maxEvents,
  );
}

/**
 * A one-phase participant's refusal. Most are durable: its barrier of this
 * transaction says `refused` or `rolled_back`, so no copy of the PREPARE can
 * commit later, and the refusal aborts. Not `id_reused`: another transaction's
 * barrier under the id answered, and once it expires a copy of the PREPARE
 * still in flight would commit — even a refusal received after the deadline
 * may have been given before it, while a copy committed since. It settles the
 * transaction only as the `final` answer to the resolving ROLLBACK (given at or
 * after the deadline, when every copy refuses); until then the coordinator waits
 * (a copy that commits meanwhile is reported and counts), then asks.
 */
function onOnePhaseRefusal(
  tx: TwoPcRecord,
  index: number,
  vote: VoteInput,
  now: number,
  policy: Policy,
): Step {
  const participant = tx.participants[index];
  if (!participant) return unchanged(tx);
  const voted = withVoteRecorded(tx, index, participant, vote, now, policy);
  // Died at a lock: its refused barrier holds nothing and no copy of this attempt commits, so it restarts.
  if (restartable(tx, vote, now)) return restart(voted, "lock_conflict", now, policy, vote.holder);
  if (!isReason(vote.reason, "id_reused") || vote.final === true) {
    return decide(voted, "abort", refusalReason(tx, vote), now, policy);
  }
  if (participant.vote !== undefined) return unchanged(tx);
  // Asking already: the ROLLBACK's re-sends keep their schedule; else wait until the deadline.
  const dueAt = tx.resolving !== undefined ? tx.dueAt : tx.deadline;
  return { next: { ...voted, ...(dueAt !== undefined ? { dueAt } : {}) }, effects: [], changed: true };
}

/**
 * A no that died for contention (wait-die) with time left restarts the
 * transaction rather than abort it; not once a one-phase transaction was asked
 * to roll back (that refusal is the answer it awaits).
 */
const restartable = (tx: TwoPcRecord, vote: VoteInput, now: number): boolean =>
  vote.restart === true &&
  now < tx.deadline &&
  tx.resolving === undefined &&
  isReason(vote.reason, "lock_conflict");

/**
 * Why a no vote aborts. A one-phase participant that refuses with `rolled_back`
 * met the ROLLBACK sent to resolve it: the reason that ROLLBACK was sent for is the transaction's.
 */
function refusalReason(tx: TwoPcRecord, vote: VoteInput): Reason {
  if (tx.resolving !== undefined && vote.reason === "rolled_back") return tx.resolving;
  return vote.reason ?? "vote_no";
}

/** A participant waits for another transaction's lock: an edge of the wait-for graph. */
export function onWaiting(tx: TwoPcRecord, waiting: WaitingInput, now: number, policy: Policy): Step {
  if (tx.state !== "preparing" || tx.resolving !== undefined || tx.restarting !== undefined) {
    return unchanged(tx);
  }
  const participant = tx.participants.find((p) => p.name === waiting.participant);
  if (!participant || participant.vote !== undefined) return unchanged(tx);
  const waits = withWait(tx, waiting);
  if (!waits) return unchanged(tx);
  // Once every participant without a vote waits to be woken, the next copy waits
  // for the waiting interval; a silent one keeps its own, sooner, re-send.
  const dueAt = allWait(waits)
    ? Math.max(tx.dueAt ?? 0, prepareDueAt(waits, tx.attempts, now, policy))
    : tx.dueAt;
  const next = appendEvents(
    { ...waits, ...(dueAt !== undefined ? { dueAt } : {}) },
    [{ at: now, ...waitingEvent(waiting) }],
    policy.maxEvents,
  );
  return { next, effects: [], changed: true };
}

/**
 * A lock the participant waited for was released: its PREPARE goes again now
 * (the copy that waited was not kept), and the wait-for edge to that holder goes:
 * deadlock detection must not count a lock that is no longer held.
 */
export function onReleased(tx: TwoPcRecord, released: WaitingInput, now: number, policy: Policy): Step {
  // One-phase and asked to roll back: no PREPARE goes again, the ROLLBACK's answer settles it.
  if (tx.state !== "preparing" || tx.resolving !== undefined) return unchanged(tx);
  if (tx.restarting !== undefined) {
    // The lock the restart died at is free: the next attempt need not wait for it.
    return tx.restartAfter === released.holder && tx.restartWoken !== true
      ? lockReleased(tx, now, policy)
      : unchanged(tx);
  }
  const p = tx.participants.find((q) => q.name === released.participant);
  if (!p || p.vote !== undefined) return unchanged(tx);
  const effects = prepareEffects([released.participant]);
  // The edge is stale now: the woken PREPARE reports a new one if it must wait again.
  if (tx.waits?.[released.participant] !== released.holder) return unchanged(tx, effects);
  return { next: withoutWait(tx, released.participant), effects, changed: true };
}

/**
 * Who gets PREPARE again: every participant without a vote. One that reported
 * waiting for a lock is included: its wake-up may have been lost (an SQS outage
 * loses messages), and without a copy it never votes while the others hold
 * their locks until the deadline.
 */
const unvoted = (tx: TwoPcRecord): string[] =>
  tx.participants.filter((p) => p.vote === undefined).map((p) => p.name);

/**
 * When PREPARE goes out again: after the capped backoff, and while every
 * participant without a vote waits for a lock, no sooner than the waiting
 * interval (a healthy waiter holds its copy and is not flooded with more).
 * Never past the deadline, when the sweep aborts.
 */
function prepareDueAt(tx: TwoPcRecord, attempts: number, now: number, policy: Policy): number {
  const delay = backoffMs(policy.prepareRetryMs, attempts, policy.backoffCapMs);
  return Math.min(tx.deadline, now + (allWait(tx) ? Math.max(delay, policy.waitingRetryMs) : delay));
}

function allWait(tx: TwoPcRecord): boolean {
  const pending = tx.participants.filter((p) => p.vote === undefined);
  return pending.length > 0 && pending.every((p) => tx.waits?.[p.name] !== undefined);
}

/**
 * One-phase: the participant's report of what it did, as one write. A commit is
 * the decision and the completion at once (it applied everything in the write
 * that decided). A rollback counts only once the coordinator asked for it: it is
 * the answer to the resolving ROLLBACK.
 */
function onOutcome(tx: TwoPcRecord, ack: AckInput, now: number, policy: Policy): Step {
  const participant = tx.participants[0];
  if (!participant || participant.name !== ack.participant) return unchanged(tx);
  if (ack.decision === "abort" && tx.resolving === undefined) return unchanged(tx);
  const commit = ack.decision === "commit";
  const reason = commit ? undefined : tx.resolving;
  const { dueAt: _dueAt, ...rest } = withoutUndecided(tx);
  const next: TwoPcRecord = {
    ...rest,
    state: commit ? "committed" : "aborted",
    decidedAt: now,
    completedAt: now,
    attempts: 0,
    participants: [
      commit
        ? { name: participant.name, branches: participant.branches, vote: "yes", acked: true }
        : { ...participant, acked: true },
    ],
    ...(reason !== undefined ? { reason } : {}),
  };
  const events: TxEvent[] = [
    { at: now, ...ackEvent(ack) },
    { at: now, type: "decision", decision: ack.decision, ...(reason !== undefined ? { reason } : {}) },
    { at: now, type: "completed" },
  ];
  return { next: appendEvents(next, events, policy.maxEvents), effects: [], changed: true };
}

/** Why a one-phase transaction still undecided at its deadline aborts, if its participant says so. */
const deadlineReason = (tx: TwoPcRecord): Reason =>
  tx.participants.some((p) => isReason(p.reason, "id_reused")) ? "id_reused" : "timeout";

/**
 * One-phase, past the deadline or aborted: the coordinator may not decide abort
 * while the participant may still commit, so it asks the participant to roll
 * back. The ROLLBACK writes a rolled_back barrier where none is (a late one-phase
 * PREPARE then refuses), or is answered with the commit made before it. Sent
 * again with backoff until answered, like a decision.
 */
function resolve(tx: TwoPcRecord, reason: Reason, now: number, policy: Policy, restart = false): Step {
  const targets = tx.participants.map((p) => p.name);
  const again = tx.resolving !== undefined;
  const attempts = again && !restart ? tx.attempts + 1 : 0;
  // A restart it was in ends here: the answer to this ROLLBACK is the outcome.
  const next: TwoPcRecord = {
    ...withoutRestart(withoutWaits(tx)),
    resolving: tx.resolving ?? reason,
    attempts,
    dueAt: now + backoffMs(policy.decisionRetryMs, attempts, policy.backoffCapMs),
  };
  const event: TxEvent = again
    ? { at: now, type: "outcome_asked_again", participants: targets, attempt: attempts }
    : { at: now, type: "outcome_asked", participants: targets, reason };
  return {
    next: appendEvents(next, [event], policy.maxEvents),
    effects: decisionEffects(targets, "abort"),
    changed: true,
  };
}

export function onAck(tx: TwoPcRecord, ack: AckInput, now: number, policy: Policy): Step {
  // An ack of an earlier attempt's ROLLBACK: that attempt was released already.
  if ((ack.attempt ?? 0) !== attemptOf(tx)) return unchanged(tx);
  const restarting = tx.state === "preparing" && tx.restarting !== undefined;
  // One-phase: a commit is the outcome, restarting or not; a rollback is one only when asked
  // to resolve, else (restarting) it releases the attempt like any participant's.
  if (tx.onePhase && tx.state === "preparing" && !(restarting && ack.decision === "abort")) {
    return onOutcome(tx, ack, now, policy);
  }
  if (tx.state !== "committing" && tx.state !== "aborting" && !restarting) return unchanged(tx);
  const index = ackable(tx.participants, restarting ? "abort" : decisionOf(tx.state), ack);
  const participant = index === undefined ? undefined : tx.participants[index];
  if (index === undefined || !participant) return unchanged(tx);

  const participants = tx.participants.with(index, { ...participant, acked: true });
  const acked = appendEvents({ ...tx, participants }, [{ at: now, ...ackEvent(ack) }], policy.maxEvents);
  if (restarting && participants.every((p) => p.acked)) return released(acked, now, policy);
  if (participants.every((p) => p.acked))
    return { next: complete(acked, now, policy), effects: [], changed: true };
  return { next: acked, effects: [], changed: true };
}

/** What the sweeper does with a transaction whose due time has come. */
export function onSweep(tx: TwoPcRecord, now: number, policy: Policy): Step {
  if (tx.dueAt === undefined || tx.dueAt > now) return unchanged(tx);

  if (tx.state === "preparing") {
    // A restart still releasing its attempt at the deadline: the contention is the reason.
    if (tx.onePhase && (tx.resolving !== undefined || now >= tx.deadline)) {
      return resolve(tx, tx.restarting ?? deadlineReason(tx), now, policy);
    }
    if (now >= tx.deadline) return decide(tx, "abort", tx.restarting ?? "timeout", now, policy);
    if (tx.restarting !== undefined) return resendRollbacks(tx, now, policy);
    const targets = unvoted(tx);
    const attempts = tx.attempts + 1;
    const next = appendEvents(
      { ...tx, attempts, dueAt: prepareDueAt(tx, attempts, now, policy) },
      [{ at: now, type: "prepare_resent", participants: targets, attempt: attempts }],
      policy.maxEvents,
    );
    return { next, effects: prepareEffects(targets), changed: true };
  }

  const decision = decisionOf(tx.state);
  if (decision === undefined || tx.state === "committed" || tx.state === "aborted") return unchanged(tx);
  const targets = decisionTargets(tx.participants);
  const attempts = tx.attempts + 1;
  const events: TxEvent[] = [
    { at: now, type: "decision_resent", decision, participants: targets, attempt: attempts },
  ];
  if (attempts === policy.stalledAfterAttempts) {
    events.push({ at: now, type: "decision_stalled", decision, participants: targets, attempt: attempts });
  }
  const next = appendEvents(
    { ...tx, attempts, dueAt: now + backoffMs(policy.decisionRetryMs, attempts, policy.backoffCapMs) },
    events,
    policy.maxEvents,
  );
  return { next, effects: decisionEffects(targets, decision), changed: true };
}

export type AbortRequest = Step | { readonly rejected: "already_decided"; readonly state: TwoPcState };

/** An operator's abort: only an undecided transaction can still be aborted. */
export function requestAbort(tx: TwoPcRecord, reason: Reason, now: number, policy: Policy): AbortRequest {
  if (tx.state !== "preparing") return { rejected: "already_decided", state: tx.state };
  // One-phase and already asked: the participant's answer will settle it.
  if (tx.resolving !== undefined) return unchanged(tx);
  const requested = appendEvents(tx, [{ at: now, type: "abort_requested", reason }], policy.maxEvents);
  if (tx.onePhase) return resolve(requested, reason, now, policy);
  return decide(requested, "abort", reason, now, policy);
}

/**
 * A deadlock victim: restarted (same id, same age) while its deadline has time
 * left, else aborted with `deadlock`. Only an undecided attempt, not one already
 * being rolled back, can be a victim.
 */
export function requestRestart(tx: TwoPcRecord, reason: Reason, now: number, policy: Policy): AbortRequest {
  if (tx.state !== "preparing") return { rejected: "already_decided", state: tx.state };
  if (tx.restarting !== undefined || tx.resolving !== undefined) return unchanged(tx);
  if (now >= tx.deadline) return requestAbort(tx, reason, now, policy);
  return restart(tx, reason, now, policy);
}

export type RetryRequest = Step | { readonly rejected: "final"; readonly state: TwoPcState };

/**
 * An operator's retry: re-deliver now whatever the transaction waits for (PREPARE
 * to every participant without a vote, waiting or not, or the decision to those that have not acknowledged it)
 * and start the backoff over. The retry is itself the delivery, so the next due
 * time is one base interval away, as after a first send: due "now" would only make
 * the next sweep send the same messages again and count it as attempt 1.
 */
export function requestRetry(tx: TwoPcRecord, now: number, policy: Policy): RetryRequest {
  switch (tx.state) {
    case "committed":
    case "aborted":
      return { rejected: "final", state: tx.state };
    case "preparing": {
      const requested: TxEvent = { at: now, type: "retry_requested" };
      if (tx.onePhase && (tx.resolving !== undefined || now >= tx.deadline)) {
        // As the next sweep would: ask for the outcome (again), the backoff started over.
        const asked = resolve(tx, tx.restarting ?? deadlineReason(tx), now, policy, true);
        return { ...asked, next: appendEvents(asked.next, [requested], policy.maxEvents) };
      }
      // Past the deadline no vote can count any more: do what the next sweep would, abort.
      if (now >= tx.deadline) {
        const reason = tx.restarting ?? "timeout";
        return decide(appendEvents(tx, [requested], policy.maxEvents), "abort", reason, now, policy);
      }
      if (tx.restarting !== undefined) {
        const targets = decisionTargets(tx.participants);
        const next = appendEvents(
          { ...tx, attempts: 0, dueAt: Math.min(tx.deadline, now + policy.decisionRetryMs) },
          [{ ...requested, decision: "abort", participants: targets }],
          policy.maxEvents,
        );
        return { next, effects: decisionEffects(targets, "abort"), changed: true };
      }
      const targets = unvoted(tx);
      const next = appendEvents(
        { ...tx, attempts: 0, dueAt: prepareDueAt(tx, 0, now, policy) },
        [{ ...requested, participants: targets }],
        policy.maxEvents,
      );
      return { next, effects: prepareEffects(targets), changed: true };
    }
    case "committing":
    case "aborting": {
      const decision: Decision = tx.state === "committing" ? "commit" : "abort";
      const targets = decisionTargets(tx.participants);
      const next = appendEvents(
        { ...tx, attempts: 0, dueAt: now + policy.decisionRetryMs },
        [{ at: now, type: "retry_requested", decision, participants: targets }],
        policy.maxEvents,
      );
      return { next, effects: decisionEffects(targets, decision), changed: true };
    }
  }
}
