/**
 * Two-phase commit with presumed abort, as pure transitions. Each function takes
 * the current record and an event and returns the next record plus the messages
 * to send once that record is durable. Nothing here does I/O.
 */
import { backoffMs } from "./backoff.ts";
import type { Reason } from "./reasons.ts";
import { type Step as AnyStep, appendEvents, type Policy, unchanged } from "./step.ts";
import type {
  BranchSpec,
  Decision,
  ParticipantState,
  TwoPcRecord,
  TwoPcState,
  TxEvent,
  TxState,
  Vote,
} from "./transaction.ts";

// Shared with the saga; still importable from here, where they were born.
export { appendEvents, type Effect, type Policy } from "./step.ts";

export type Step = AnyStep<TwoPcRecord>;

export interface BeginInput {
  readonly id: string;
  readonly branches: readonly BranchSpec[];
  readonly timeoutMs: number;
  readonly requestHash: string;
}

export interface VoteInput {
  readonly participant: string;
  readonly vote: Vote;
  readonly reason?: Reason;
  readonly failedBranch?: number;
}

export interface WaitingInput {
  readonly participant: string;
  readonly holder: string;
}

export interface AckInput {
  readonly participant: string;
  readonly decision: Decision;
}

export const decisionOf = (state: TxState): Decision | undefined =>
  state === "committing" || state === "committed"
    ? "commit"
    : state === "aborting" || state === "aborted"
      ? "abort"
      : undefined;

function groupByParticipant(branches: readonly BranchSpec[]): ParticipantState[] {
  const byName = new Map<string, number[]>();
  branches.forEach((b, i) => {
    const list = byName.get(b.participant);
    if (list) list.push(i);
    else byName.set(b.participant, [i]);
  });
  return [...byName].map(([name, indexes]) => ({ name, branches: indexes }));
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
    effects: names.map((participant) => ({ kind: "prepare", participant })),
    changed: true,
  };
}

/** Participants that may hold locks for this transaction and so must hear the decision. */
function decisionTargets(tx: TwoPcRecord): ParticipantState[] {
  return tx.participants.filter((p) => !p.acked);
}

function decide(
  tx: TwoPcRecord,
  decision: Decision,
  reason: Reason | undefined,
  now: number,
  policy: Policy,
): Step {
  // A participant that voted no holds nothing and has nothing to hear.
  const participants = tx.participants.map((p) =>
    decision === "abort" && p.vote === "no" ? { ...p, acked: true } : p,
  );
  const { waits: _waits, ...rest } = tx;
  const decided: TwoPcRecord = {
    ...rest,
    state: decision === "commit" ? "committing" : "aborting",
    decidedAt: now,
    participants,
    attempts: 0,
    dueAt: now + policy.decisionRetryMs,
    ...(reason !== undefined ? { reason } : {}),
  };
  const targets = decisionTargets(decided).map((p) => p.name);
  const events: TxEvent[] = [
    { at: now, type: "decision", decision, ...(reason !== undefined ? { reason } : {}) },
  ];
  if (targets.length === 0) {
    return {
      next: complete(appendEvents(decided, events, policy.maxEvents), now, policy),
      effects: [],
      changed: true,
    };
  }
  events.push({ at: now, type: "decision_sent", decision, participants: targets });
  return {
    next: appendEvents(decided, events, policy.maxEvents),
    effects: targets.map((participant) => ({ kind: "decision", participant, decision })),
    changed: true,
  };
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

  const decision = decisionOf(tx.state);
  if (decision !== undefined) {
    // Decided already: a yes means it may hold locks, so it is told again, at once
    // (even if it acknowledged before: a barrier written anew must hear it too).
    if (vote.vote === "yes") {
      return unchanged(tx, [{ kind: "decision", participant: participant.name, decision }]);
    }
    return unchanged(tx);
  }
  if (participant.vote !== undefined) return unchanged(tx);

  const participants = tx.participants.with(index, {
    ...participant,
    vote: vote.vote,
    ...(vote.reason !== undefined ? { reason: vote.reason } : {}),
    ...(vote.failedBranch !== undefined ? { failedBranch: vote.failedBranch } : {}),
  });
  const voted = appendEvents(
    { ...withoutWait(tx, participant.name), participants },
    [
      {
        at: now,
        type: "vote",
        participant: participant.name,
        vote: vote.vote,
        ...(vote.reason !== undefined ? { reason: vote.reason } : {}),
      },
    ],
    policy.maxEvents,
  );
  if (vote.vote === "no") return decide(voted, "abort", vote.reason ?? "vote_no", now, policy);
  if (participants.every((p) => p.vote === "yes")) return decide(voted, "commit", undefined, now, policy);
  return { next: voted, effects: [], changed: true };
}

function withoutWait(tx: TwoPcRecord, participant: string): TwoPcRecord {
  if (tx.waits?.[participant] === undefined) return tx;
  const { [participant]: _gone, ...waits } = tx.waits;
  const { waits: _all, ...rest } = tx;
  return Object.keys(waits).length > 0 ? { ...rest, waits } : rest;
}

/** A participant waits for another transaction's lock: an edge of the wait-for graph. */
export function onWaiting(tx: TwoPcRecord, waiting: WaitingInput, now: number, policy: Policy): Step {
  if (tx.state !== "preparing") return unchanged(tx);
  const participant = tx.participants.find((p) => p.name === waiting.participant);
  if (!participant || participant.vote !== undefined) return unchanged(tx);
  if (tx.waits?.[waiting.participant] === waiting.holder) return unchanged(tx);
  const waits = { ...tx.waits, [waiting.participant]: waiting.holder };
  // Once every participant without a vote holds its PREPARE, the next copy waits
  // for the waiting interval; a silent one keeps its own, sooner, re-send.
  const dueAt = allWait({ ...tx, waits })
    ? Math.max(tx.dueAt ?? 0, prepareDueAt({ ...tx, waits }, tx.attempts, now, policy))
    : tx.dueAt;
  const next = appendEvents(
    { ...tx, waits, ...(dueAt !== undefined ? { dueAt } : {}) },
    [{ at: now, type: "waiting", participant: waiting.participant, holder: waiting.holder }],
    policy.maxEvents,
  );
  return { next, effects: [], changed: true };
}

/**
 * Who gets PREPARE again: every participant without a vote. One that reported
 * waiting for a lock is included: its re-queued copy may have been lost (an SQS
 * outage loses messages), and without a copy it never votes while the others
 * hold their locks until the deadline.
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

export function onAck(tx: TwoPcRecord, ack: AckInput, now: number, policy: Policy): Step {
  if (tx.state !== "committing" && tx.state !== "aborting") return unchanged(tx);
  if (decisionOf(tx.state) !== ack.decision) return unchanged(tx);
  const index = tx.participants.findIndex((p) => p.name === ack.participant);
  const participant = tx.participants[index];
  if (!participant || participant.acked) return unchanged(tx);

  const participants = tx.participants.with(index, { ...participant, acked: true });
  const acked = appendEvents(
    { ...tx, participants },
    [{ at: now, type: "ack", participant: participant.name, decision: ack.decision }],
    policy.maxEvents,
  );
  if (participants.every((p) => p.acked))
    return { next: complete(acked, now, policy), effects: [], changed: true };
  return { next: acked, effects: [], changed: true };
}

/** What the sweeper does with a transaction whose due time has come. */
export function onSweep(tx: TwoPcRecord, now: number, policy: Policy): Step {
  if (tx.dueAt === undefined || tx.dueAt > now) return unchanged(tx);

  if (tx.state === "preparing") {
    if (now >= tx.deadline) return decide(tx, "abort", "timeout", now, policy);
    const targets = unvoted(tx);
    const attempts = tx.attempts + 1;
    const next = appendEvents(
      { ...tx, attempts, dueAt: prepareDueAt(tx, attempts, now, policy) },
      [{ at: now, type: "prepare_resent", participants: targets, attempt: attempts }],
      policy.maxEvents,
    );
    return { next, effects: targets.map((participant) => ({ kind: "prepare", participant })), changed: true };
  }

  const decision = decisionOf(tx.state);
  if (decision === undefined || tx.state === "committed" || tx.state === "aborted") return unchanged(tx);
  const targets = decisionTargets(tx).map((p) => p.name);
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
  return {
    next,
    effects: targets.map((participant) => ({ kind: "decision", participant, decision })),
    changed: true,
  };
}

export type AbortRequest = Step | { readonly rejected: "already_decided"; readonly state: TwoPcState };

/** An operator's abort: only an undecided transaction can still be aborted. */
export function requestAbort(tx: TwoPcRecord, reason: Reason, now: number, policy: Policy): AbortRequest {
  if (tx.state !== "preparing") return { rejected: "already_decided", state: tx.state };
  const requested = appendEvents(tx, [{ at: now, type: "abort_requested", reason }], policy.maxEvents);
  return decide(requested, "abort", reason, now, policy);
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
      // Past the deadline no vote can count any more: do what the next sweep would, abort.
      if (now >= tx.deadline) {
        return decide(appendEvents(tx, [requested], policy.maxEvents), "abort", "timeout", now, policy);
      }
      const targets = unvoted(tx);
      const next = appendEvents(
        { ...tx, attempts: 0, dueAt: prepareDueAt(tx, 0, now, policy) },
        [{ ...requested, participants: targets }],
        policy.maxEvents,
      );
      return {
        next,
        effects: targets.map((participant) => ({ kind: "prepare", participant })),
        changed: true,
      };
    }
    case "committing":
    case "aborting": {
      const decision: Decision = tx.state === "committing" ? "commit" : "abort";
      const targets = decisionTargets(tx).map((p) => p.name);
      const next = appendEvents(
        { ...tx, attempts: 0, dueAt: now + policy.decisionRetryMs },
        [{ at: now, type: "retry_requested", decision, participants: targets }],
        policy.maxEvents,
      );
      return {
        next,
        effects: targets.map((participant) => ({ kind: "decision", participant, decision })),
        changed: true,
      };
    }
  }
}
