/**
 * A 2PC group: participants that vote on their branches, one decision (commit
 * on every yes, abort on the first no), and the acknowledgements of it. Two-phase
 * commit runs one group for the whole transaction, a saga one for each atomic
 * stage; each keeps its group where its record does and says what the decision
 * means for it. Pure.
 */

import type { Reason } from "./reasons.ts";
import type { Effect } from "./step.ts";
import type { BranchSpec, Decision, ParticipantState, TxEvent, TxState, Vote } from "./transaction.ts";

export interface VoteInput {
  readonly participant: string;
  readonly vote: Vote;
  readonly reason?: Reason;
  readonly failedBranch?: number;
  /** One-phase: an `id_reused` answer that settles the transaction (the vote message's `final`). */
  readonly final?: boolean;
  /** The attempt voted on (2PC restarts); absent: the first. */
  readonly attempt?: number;
  /** A no for contention (wait-die's die): the coordinator may restart rather than abort. */
  readonly restart?: boolean;
  /** With `restart`: the holder of the lock it died at, whose release wakes the next attempt. */
  readonly holder?: string;
}

export interface WaitingInput {
  readonly participant: string;
  readonly holder: string;
  /**
   * The holder's attempt that held the lock (absent: the first). A report is
   * about one attempt's lock: once that attempt released it, a late copy of the
   * report must not count as a wait for the holder's next attempt.
   */
  readonly holderAttempt?: number;
}

export interface AckInput {
  readonly participant: string;
  readonly decision: Decision;
  /** The attempt whose decision is acknowledged (2PC restarts); absent: the first. */
  readonly attempt?: number;
}

type GroupEvent = Omit<TxEvent, "at">;
/** Which group an event is about: a saga names the atomic stage; 2PC has one group. */
type Where = { readonly stage?: number };

/** The group's participants: one per name among the branches `members` (all by default), in request order. */
export function groupByParticipant(
  branches: readonly BranchSpec[],
  members: readonly number[] = branches.map((_, i) => i),
): ParticipantState[] {
  const byName = new Map<string, number[]>();
  for (const i of members) {
    const name = branches[i]?.participant ?? "";
    byName.set(name, [...(byName.get(name) ?? []), i]);
  }
  return [...byName].map(([name, indexes]) => ({ name, branches: indexes }));
}

/**
 * A vote reaching a group that has decided: a yes means the participant may
 * hold locks, so it is told the decision again, at once (even if it acknowledged
 * before: a barrier written anew must hear it too). A no holds nothing.
 */
export const toldAgain = (vote: VoteInput, decision: Decision): Effect[] =>
  vote.vote === "yes" ? [{ kind: "decision", participant: vote.participant, decision }] : [];

/** The participant with its vote recorded. */
export const withVote = <P extends ParticipantState>(p: P, vote: VoteInput): P => ({
  ...p,
  vote: vote.vote,
  ...(vote.reason !== undefined ? { reason: vote.reason } : {}),
  ...(vote.failedBranch !== undefined ? { failedBranch: vote.failedBranch } : {}),
});

export const voteEvent = (vote: VoteInput, where: Where = {}): GroupEvent => ({
  type: "vote",
  ...where,
  participant: vote.participant,
  vote: vote.vote,
  ...(vote.reason !== undefined ? { reason: vote.reason } : {}),
});

/** What the votes so far decide: abort on a no, commit once every participant said yes. */
export function tally(participants: readonly ParticipantState[], vote: VoteInput): Decision | undefined {
  if (vote.vote === "no") return "abort";
  return participants.every((p) => p.vote === "yes") ? "commit" : undefined;
}

/** The participants under a decision: one that voted no holds nothing and has nothing to hear. */
export const decided = <P extends ParticipantState>(participants: readonly P[], decision: Decision): P[] =>
  participants.map((p) => (decision === "abort" && p.vote === "no" ? { ...p, acked: true } : p));

/** Participants that may hold locks for the group and so must hear its decision. */
export const decisionTargets = (participants: readonly ParticipantState[]): string[] =>
  participants.filter((p) => !p.acked).map((p) => p.name);

export const decisionEffects = (targets: readonly string[], decision: Decision): Effect[] =>
  targets.map((participant) => ({ kind: "decision", participant, decision }));

export const prepareEffects = (targets: readonly string[]): Effect[] =>
  targets.map((participant) => ({ kind: "prepare", participant }));

/** The index of the participant an ack is for, when the group still waits for it. */
export function ackable(
  participants: readonly ParticipantState[],
  decision: Decision | undefined,
  ack: AckInput,
): number | undefined {
  if (decision !== ack.decision) return undefined;
  const index = participants.findIndex((p) => p.name === ack.participant);
  return index >= 0 && !participants[index]?.acked ? index : undefined;
}

export const ackEvent = (ack: AckInput, where: Where = {}): GroupEvent => ({
  type: "ack",
  ...where,
  participant: ack.participant,
  decision: ack.decision,
});

/**
 * A record that may hold wait-for edges: participant → the transaction whose
 * lock it waits for, and beside it the attempt of that holder the lock was
 * taken by (absent: the first).
 */
interface Waits {
  readonly waits?: Readonly<Record<string, string>>;
  readonly holderAttempts?: Readonly<Record<string, number>>;
}

/**
 * The record with a new wait-for edge, or undefined when it holds that edge
 * already, or one about a later attempt of the same holder (this report is a
 * late copy about an attempt that released the lock since).
 */
export function withWait<T extends Waits>(tx: T, waiting: WaitingInput): T | undefined {
  const { participant, holder } = waiting;
  const attempt = waiting.holderAttempt ?? 0;
  if (tx.waits?.[participant] === holder && (tx.holderAttempts?.[participant] ?? 0) >= attempt) {
    return undefined;
  }
  const { [participant]: _earlier, ...others } = tx.holderAttempts ?? {};
  const holderAttempts = attempt > 0 ? { ...others, [participant]: attempt } : others;
  const { holderAttempts: _all, ...rest } = tx;
  return {
    ...rest,
    waits: { ...tx.waits, [participant]: holder },
    ...(Object.keys(holderAttempts).length > 0 ? { holderAttempts } : {}),
  } as T;
}

export const waitingEvent = (waiting: WaitingInput, where: Where = {}): GroupEvent => ({
  type: "waiting",
  ...where,
  participant: waiting.participant,
  holder: waiting.holder,
});

/** A participant that voted waits for nothing any more. */
export function withoutWait<T extends Waits>(tx: T, participant: string): T {
  if (tx.waits?.[participant] === undefined) return tx;
  const { [participant]: _gone, ...waits } = tx.waits;
  const { [participant]: _attempt, ...holderAttempts } = tx.holderAttempts ?? {};
  const { waits: _all, holderAttempts: _allAttempts, ...rest } = tx;
  return {
    ...rest,
    ...(Object.keys(waits).length > 0 ? { waits } : {}),
    ...(Object.keys(holderAttempts).length > 0 ? { holderAttempts } : {}),
  } as T;
}

/** Once a group is decided, nothing waits for a lock on its behalf. */
export function withoutWaits<T extends Waits>(tx: T): T {
  const { waits: _waits, holderAttempts: _attempts, ...rest } = tx;
  return rest as T;
}

/**
 * The decision a record's state stands for as a 2PC group: a 2PC record's own.
 * A saga's atomic groups keep theirs; its states stand for none but its commit.
 */
export function decisionOf(state: TxState): Decision | undefined {
  switch (state) {
    case "preparing":
    case "running":
    case "compensating":
    case "compensated":
      return undefined;
    case "committing":
    case "committed":
      return "commit";
    case "aborting":
    case "aborted":
      return "abort";
  }
}
