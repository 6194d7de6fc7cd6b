/**
 * Messages that travel through SQS between the coordinator and participants.
 * Parsed with the schemas below at every handler boundary: a queue is input too.
 */
import * as z from "zod";

const txId = z.string().min(1).max(128);
const participant = z.string().min(1).max(64);

export const prepareMessage = z.object({
  type: z.literal("prepare"),
  txId,
  participant,
  deadline: z.number(),
  /** The transaction's start, for age-based lock policies. */
  startedAt: z.number(),
  /** Times this PREPARE was put back on the queue to wait for a lock. */
  waits: z.number().int().nonnegative().optional(),
  branches: z
    .array(z.object({ index: z.number().int().nonnegative(), action: z.string(), input: z.unknown() }))
    .min(1),
});

export const decisionMessage = z.object({
  type: z.enum(["commit", "rollback"]),
  txId,
  participant,
});

export const participantMessage = z.discriminatedUnion("type", [prepareMessage, decisionMessage]);

export const voteMessage = z.object({
  type: z.literal("vote"),
  txId,
  participant,
  vote: z.enum(["yes", "no"]),
  reason: z.string().max(200).optional(),
  failedBranch: z.number().int().nonnegative().optional(),
  /** A yes vote sent again by a participant in doubt, asking for the decision. */
  inquiry: z.boolean().optional(),
});

/** A participant waits for `holder` to release a lock (the detect policy's wait-for edges). */
export const waitingMessage = z.object({
  type: z.literal("waiting"),
  txId,
  participant,
  holder: txId,
});

export const ackMessage = z.object({
  type: z.literal("ack"),
  txId,
  participant,
  decision: z.enum(["commit", "abort"]),
});

export const coordinatorMessage = z.discriminatedUnion("type", [voteMessage, ackMessage, waitingMessage]);

export type PrepareMessage = z.infer<typeof prepareMessage>;
export type DecisionMessage = z.infer<typeof decisionMessage>;
export type ParticipantMessage = z.infer<typeof participantMessage>;
export type VoteMessage = z.infer<typeof voteMessage>;
export type AckMessage = z.infer<typeof ackMessage>;
export type WaitingMessage = z.infer<typeof waitingMessage>;
export type CoordinatorMessage = z.infer<typeof coordinatorMessage>;
