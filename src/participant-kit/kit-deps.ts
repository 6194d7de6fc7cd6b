/** What the 2PC and saga halves of a participant share, filled in once by createParticipant. */

import type { Logger } from "@aws-lambda-powertools/logger";
import type { Crash } from "../crash-points.ts";
import type { Metrics } from "../metrics/metrics.ts";
import type { OwnCommit } from "../ports/alongside.ts";
import type { VoteWithPrepare } from "../ports/coordinator-inbox.ts";
import type { MessageBus } from "../ports/message-bus.ts";
import type { LockMode } from "./lock-mode.ts";
import type { ParticipantStore } from "./participant-store.ts";
import type { BranchRequest } from "./planning.ts";
import type { ResourceModel, ResourceState } from "./resource-model.ts";

/**
 * One call to the external service a participant fronts (a payment provider),
 * made before a new effect is recorded. `txId` + `startedAt` (+ branch) is the
 * idempotency key to hand such a service: a crash after the call and before the
 * write makes the redelivered message call it again, and `startedAt` tells a
 * reused id's transaction from the earlier one.
 */
export interface ServiceCall {
  readonly step: "prepare" | "action" | "compensation";
  readonly participant: string;
  readonly txId: string;
  /** The transaction's incarnation (its record's createdAt). */
  readonly startedAt: number;
  readonly branches: readonly BranchRequest[];
}

/** Resolves when the service agreed; throws RetryLaterError for a transient failure. */
export type ExternalService = (call: ServiceCall) => Promise<void>;

export interface KitDeps<S extends ResourceState> {
  /** The participant's name: its queue, and the middle part of its keys. */
  readonly name: string;
  readonly model: ResourceModel<S>;
  readonly store: ParticipantStore<S>;
  readonly bus: MessageBus;
  readonly clock: () => number;
  readonly log: Logger;
  readonly crash: Crash;
  readonly sleep: (ms: number) => Promise<void>;
  /** Waits before re-reading after a lost race on a barrier (jittered, growing with the attempt). */
  readonly pause: (attempt: number) => Promise<void>;
  readonly service?: ExternalService;
  /** How a PREPARE holds quantities, and whether a saga step moves them without a version check. */
  readonly lockMode: LockMode;
  readonly metrics?: Metrics;
  /** Lost races on one message before it goes back to its queue. */
  readonly maxRaces: number;
  /** Whether a lock holder's attempt is decided to commit (see ParticipantDeps.holderCommits). */
  readonly holderCommits?: HolderCommits;
  /** Errors that end the invocation (ParticipantDeps.fatal): never caught on the way. */
  readonly fatal?: (err: unknown) => boolean;
  readonly offerCommit?: OfferCommit;
  /**
   * Applies a yes vote with the prepare it stands on, in this invocation
   * (ports/coordinator-inbox.ts, `VoteWithPrepare`); absent where answers do
   * not reach the coordinator's handling here.
   */
  readonly voteWithPrepare?: VoteWithPrepare["voteWithPrepare"];
}

/** Offers `commit` for the write that applies the vote on `txId`; returns the withdrawal. */
export type OfferCommit = (txId: string, commit: OwnCommit) => () => void;

/**
 * Whether transaction `txId` (the incarnation started at `startedAt`), at
 * `attempt`, is decided to commit: its locks then only wait to be released,
 * it takes no other.
 */
export type HolderCommits = (txId: string, startedAt: number, attempt: number) => Promise<boolean>;
