/**
 * The barrier records that make every message's effect happen once, whatever
 * the order and number of deliveries: one 2PC barrier per (participant, txId),
 * one step barrier per (participant, txId, branch) for saga steps.
 */
import type { ResourceState } from "./resource-model.ts";

export const BARRIER_STATES = ["prepared", "committed", "rolled_back", "refused"] as const;
/**
 * prepared: voted yes, locks held. committed / rolled_back: decision applied.
 * refused: voted no; nothing held, and a re-delivered PREPARE votes no again.
 * A ROLLBACK that finds no barrier writes rolled_back, so a late PREPARE refuses.
 */
export type BarrierState = (typeof BARRIER_STATES)[number];

/**
 * One resource a prepared transaction holds, in one of two ways:
 *
 * - locked at `version`, and set to `next` at commit. Without `next` the
 *   resource was only read: commit unlocks it unchanged (or drops its
 *   placeholder, when it did not exist).
 * - with `moves` (the escrow method): the net change per quantity field, held
 *   without a lock. A PREPARE reserves each debit against what is available and
 *   records each credit as pending; commit applies and releases them, rollback
 *   releases them. `version` is then the version as read, checked by nothing.
 *   A saga step applies `moves` at once, under the same availability condition.
 */
export interface PlannedResource<S extends ResourceState> {
  readonly id: string;
  readonly version: number;
  readonly next?: S;
  readonly moves?: Readonly<Record<string, number>>;
}

export interface Barrier<S extends ResourceState> {
  readonly participant: string;
  readonly txId: string;
  readonly state: BarrierState;
  readonly planned: readonly PlannedResource<S>[];
  /** The branch indexes this barrier votes for: a PREPARE for others is not its to answer. */
  readonly branches?: readonly number[];
  readonly reason?: string;
  readonly failedBranch?: number;
  readonly createdAt: number;
  /**
   * The transaction's start (from its PREPARE): stored on each lock for wait-die,
   * and the incarnation of the id this barrier belongs to. Absent only on a
   * rolled_back barrier written for a ROLLBACK that named no incarnation.
   */
  readonly txStartedAt?: number;
  /**
   * The attempt of a restarted 2PC transaction this barrier is for (absent: the
   * first). A PREPARE of a later attempt replaces a barrier of an earlier one
   * that holds nothing (rolled_back, refused); one that holds stays until its
   * ROLLBACK, which the coordinator sends and awaits before the next attempt.
   */
  readonly attempt?: number;
  /** Refused because it died under wait-die: the vote lets the coordinator restart it. */
  readonly restart?: boolean;
  /** With `restart`: the lock's holder, whose release wakes the restart (registered as a waiter). */
  readonly holder?: string;
  readonly decidedAt?: number;
  /**
   * Prepared for an atomic stage of a saga: once committed, the stage's
   * compensations read it, so it is kept until the saga is finished.
   */
  readonly sagaStage?: boolean;
  /**
   * Committed in one phase: the participant decided, in the write that applied
   * the branches. A ROLLBACK sent to resolve the transaction is answered with this commit.
   */
  readonly onePhase?: boolean;
  /** When the store may delete it (seconds since the epoch, as DynamoDB's TTL); see `keptUntilFinished`. */
  readonly expiresAt?: number;
}

export const STEP_STATES = ["done", "failed", "compensated"] as const;
/**
 * done: the action applied. failed: the action refused for a business reason,
 * nothing applied. compensated: the compensation ran, or was a no-op because
 * the action never applied; a late action is blocked from then on.
 */
export type StepState = (typeof STEP_STATES)[number];

export interface StepBarrier {
  readonly participant: string;
  readonly txId: string;
  readonly branch: number;
  readonly state: StepState;
  /** The action that ran or failed (absent when a compensation came first). */
  readonly action?: string;
  readonly reason?: string;
  /** The transaction's start: a barrier of an earlier transaction under the same id is never taken. */
  readonly txStartedAt: number;
  readonly createdAt: number;
  readonly compensatedAt?: number;
  /** When the store may delete it (seconds since the epoch, as DynamoDB's TTL); see `keptUntilFinished`. */
  readonly expiresAt?: number;
}

/**
 * A barrier lives as long as anything may still be sent for it. Most are final
 * when written (only duplicates, which SQS keeps at most 14 days, can follow), so
 * they expire a retention after the write. Two are not: a `done` step barrier,
 * whose compensation may come at any time until its saga is finished (a later
 * stage's compensation can be blocked for longer than any retention), and the
 * committed 2PC barrier of a saga's atomic stage, for the same reason. Those are
 * written without an expiry and get one when the compensation is recorded, or
 * when the coordinator says the saga is finished (the `finished` message).
 */
export function keptUntilFinished(
  barrier: { readonly state: BarrierState; readonly sagaStage?: boolean } | { readonly state: StepState },
): boolean {
  return (
    barrier.state === "done" ||
    (barrier.state === "committed" && "sagaStage" in barrier && barrier.sagaStage === true)
  );
}
