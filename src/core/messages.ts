/**
 * Messages that travel through SQS between the coordinator and participants.
 * Parsed with the schemas below at every handler boundary: a queue is input too.
 */
import * as z from "zod";

const txId = z.string().min(1).max(128);
const participant = z.string().min(1).max(64);
/**
 * The incarnation of the id: the transaction record's `createdAt`. An id may be
 * used again once its record expired, while a participant still holds the old
 * incarnation's barriers; every message names its incarnation so that one is
 * never taken for the other. Optional where messages of an older version, sent
 * without it, may still be in flight (they are read as the barrier's own).
 */
const startedAt = z.number();
/**
 * The attempt of a 2PC transaction restarted for contention (absent: the
 * first). Barriers record it: a message of an earlier attempt never acts on a
 * later one's barrier, nor the other way round.
 */
const attempt = z.number().int().nonnegative().optional();

export const prepareMessage = z.object({
  type: z.literal("prepare"),
  txId,
  participant,
  deadline: z.number(),
  /** The transaction's start, for age-based lock policies; its incarnation. Kept by restarts. */
  startedAt,
  attempt,
  /** An atomic stage of a saga: its committed barrier is kept until the saga is finished. */
  sagaStage: z.boolean().optional(),
  /**
   * One-phase commit: every branch of the transaction is here. The participant
   * applies them in one write with its barrier written as committed (and answers
   * with the ack of that commit), or refuses (and votes no). Never sent to HTTP services.
   */
  onePhase: z.boolean().optional(),
  /**
   * 2PC: how many participants vote on the transaction. A participant writes its
   * vote with its prepare only in a small one (absent, as from an older
   * coordinator: it does not).
   */
  voters: z.number().int().positive().optional(),
  /** Times this PREPARE was put back on the queue to wait for a lock. */
  waits: z.number().int().nonnegative().optional(),
  /** HTTP participants: times the dispatcher put this copy back after a failed call. */
  retries: z.number().int().nonnegative().optional(),
  branches: z
    .array(z.object({ index: z.number().int().nonnegative(), action: z.string(), input: z.unknown() }))
    .min(1),
});

export const decisionMessage = z.object({
  type: z.enum(["commit", "rollback"]),
  txId,
  participant,
  /** The incarnation decided; absent on messages of an older version. */
  startedAt: startedAt.optional(),
  /**
   * A ROLLBACK that asks a one-phase participant how the transaction ended. Where
   * another transaction's barrier holds the id it answers no (`id_reused`), not an
   * ack: nothing of this transaction is there, but nothing durable says so either.
   */
  onePhase: z.boolean().optional(),
  /**
   * That one-phase ROLLBACK's transaction deadline: an `id_reused` answer given
   * from the deadline on is final (the vote's `final`).
   */
  deadline: z.number().optional(),
  attempt,
  /** HTTP participants: times the dispatcher put this copy back after a failed call. */
  retries: z.number().int().nonnegative().optional(),
});

const branch = z.number().int().nonnegative();

/** Saga: run one branch's action. Its outcome comes back as a `result` (step "action"). */
export const actionMessage = z.object({
  type: z.literal("action"),
  txId,
  participant,
  /** Index of the branch in the transaction's request. */
  branch,
  action: z.string(),
  input: z.unknown(),
  deadline: z.number(),
  startedAt,
});

/**
 * Saga: undo one branch. The barrier makes it a no-op when the action never ran
 * or failed, and blocks the action if it arrives later.
 */
export const compensateMessage = z.object({
  type: z.literal("compensate"),
  txId,
  participant,
  branch,
  action: z.string(),
  input: z.unknown(),
  startedAt,
  /**
   * The branch belonged to an atomic stage: its action was applied by that
   * stage's 2PC commit (the participant's 2PC barrier), not as a saga step.
   */
  atomic: z.boolean().optional(),
});

/**
 * Saga: the saga (this incarnation) is final, nothing more will be sent for its
 * branches here. The participant gives the barriers it kept for them (a `done`
 * step barrier, an atomic stage's committed barrier) their expiry. Idempotent;
 * nothing answers it.
 */
export const finishedMessage = z.object({
  type: z.literal("finished"),
  txId,
  participant,
  startedAt,
  /** Every branch of this participant in the saga. */
  branches: z.array(branch).min(1),
});

export const participantMessage = z.discriminatedUnion("type", [
  prepareMessage,
  decisionMessage,
  actionMessage,
  compensateMessage,
  finishedMessage,
]);

export const voteMessage = z.object({
  type: z.literal("vote"),
  txId,
  participant,
  vote: z.enum(["yes", "no"]),
  reason: z.string().max(200).optional(),
  failedBranch: z.number().int().nonnegative().optional(),
  /** A yes vote sent again by a participant in doubt, asking for the decision. */
  inquiry: z.boolean().optional(),
  /**
   * One-phase, `id_reused`: the answer to the resolving ROLLBACK, given at or after
   * the deadline. Another transaction's barrier still holds the slot, so no copy of
   * the PREPARE has committed, and from the deadline on every copy refuses: the
   * refusal is final. The PREPARE's own `id_reused` never is (the barrier may expire
   * and a copy still in flight commit).
   */
  final: z.boolean().optional(),
  attempt,
  /** A no for contention under wait-die (it died): the coordinator may restart it. */
  restart: z.boolean().optional(),
  /** With `restart`: the lock's holder; the participant registered it to be woken by its release. */
  holder: txId.optional(),
});

/** A participant waits for `holder` to release a lock (the detect policy's wait-for edges). */
export const waitingMessage = z.object({
  type: z.literal("waiting"),
  txId,
  participant,
  holder: txId,
  /**
   * The holder's attempt that holds the lock (absent: the first): once that
   * attempt released it, a late copy of this report is no wait for the next.
   */
  holderAttempt: attempt,
});

export const ackMessage = z.object({
  type: z.literal("ack"),
  txId,
  participant,
  decision: z.enum(["commit", "abort"]),
  attempt,
});

/**
 * A lock `txId` waited for at `participant` was released (the holder's commit or
 * rollback): the coordinator sends that participant this transaction's PREPARE
 * again at once, rather than at the next re-send.
 */
export const releasedMessage = z.object({
  type: z.literal("released"),
  txId,
  participant,
  holder: txId,
});

/**
 * Saga: what became of one branch's action or compensation. `done` and `failed`
 * are durable at the participant (its step barrier); `retry` is a transient
 * failure (a lock held by a 2PC transaction, an unreachable service): nothing
 * was written, and the coordinator sends the step again after a backoff.
 */
export const resultMessage = z.object({
  type: z.literal("result"),
  txId,
  participant,
  branch,
  step: z.enum(["action", "compensation"]),
  outcome: z.enum(["done", "failed", "retry"]),
  reason: z.string().max(200).optional(),
});

export const coordinatorMessage = z.discriminatedUnion("type", [
  voteMessage,
  ackMessage,
  waitingMessage,
  releasedMessage,
  resultMessage,
]);

export type PrepareMessage = z.infer<typeof prepareMessage>;
export type DecisionMessage = z.infer<typeof decisionMessage>;
export type ParticipantMessage = z.infer<typeof participantMessage>;
export type VoteMessage = z.infer<typeof voteMessage>;
export type AckMessage = z.infer<typeof ackMessage>;
export type WaitingMessage = z.infer<typeof waitingMessage>;
export type ReleasedMessage = z.infer<typeof releasedMessage>;
export type CoordinatorMessage = z.infer<typeof coordinatorMessage>;
export type ActionMessage = z.infer<typeof actionMessage>;
export type CompensateMessage = z.infer<typeof compensateMessage>;
export type FinishedMessage = z.infer<typeof finishedMessage>;
export type ResultMessage = z.infer<typeof resultMessage>;
