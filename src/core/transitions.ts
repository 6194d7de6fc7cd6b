/**
 * The transitions of any transaction, whatever its protocol: each picks the
 * protocol's own by the record's `protocol`, so the use cases need not. Pure.
 */
import type { AckInput, VoteInput, WaitingInput } from "./atomic-group.ts";
import type { Reason } from "./reasons.ts";
import * as saga from "./saga.ts";
import type { Policy, Step } from "./step.ts";
import type { TxRecord, TxState } from "./transaction.ts";
import * as twoPc from "./two-phase-commit.ts";

export type { Policy, Step } from "./step.ts";

export function onVote(tx: TxRecord, vote: VoteInput, now: number, policy: Policy): Step {
  return tx.protocol === "2pc" ? twoPc.onVote(tx, vote, now, policy) : saga.onVote(tx, vote, now, policy);
}

export function onAck(tx: TxRecord, ack: AckInput, now: number, policy: Policy): Step {
  return tx.protocol === "2pc" ? twoPc.onAck(tx, ack, now, policy) : saga.onAck(tx, ack, now, policy);
}

export function onWaiting(tx: TxRecord, waiting: WaitingInput, now: number, policy: Policy): Step {
  return tx.protocol === "2pc"
    ? twoPc.onWaiting(tx, waiting, now, policy)
    : saga.onWaiting(tx, waiting, now, policy);
}

/** A lock the transaction waited for at `participant` was released: wake its PREPARE. */
export function onReleased(tx: TxRecord, released: WaitingInput, now: number, policy: Policy): Step {
  return tx.protocol === "2pc" ? twoPc.onReleased(tx, released, now, policy) : saga.onReleased(tx, released);
}

/** A saga step's result; a 2PC transaction has no steps, so it ignores one. */
export function onResult(tx: TxRecord, result: saga.ResultInput, now: number, policy: Policy): Step {
  return tx.protocol === "2pc"
    ? { next: tx, effects: [], changed: false }
    : saga.onResult(tx, result, now, policy);
}

export function onSweep(tx: TxRecord, now: number, policy: Policy): Step {
  return tx.protocol === "2pc" ? twoPc.onSweep(tx, now, policy) : saga.onSweep(tx, now, policy);
}

export type AbortRequest = Step | { readonly rejected: "already_decided"; readonly state: TxState };

export function requestAbort(tx: TxRecord, reason: Reason, now: number, policy: Policy): AbortRequest {
  return tx.protocol === "2pc"
    ? twoPc.requestAbort(tx, reason, now, policy)
    : saga.requestAbort(tx, reason, now, policy);
}

/** A deadlock victim: a 2PC transaction is restarted while its deadline allows; a saga aborts (compensates). */
export function requestRestart(tx: TxRecord, reason: Reason, now: number, policy: Policy): AbortRequest {
  return tx.protocol === "2pc"
    ? twoPc.requestRestart(tx, reason, now, policy)
    : saga.requestAbort(tx, reason, now, policy);
}

export type RetryRequest = Step | { readonly rejected: "final"; readonly state: TxState };

export function requestRetry(tx: TxRecord, now: number, policy: Policy): RetryRequest {
  return tx.protocol === "2pc" ? twoPc.requestRetry(tx, now, policy) : saga.requestRetry(tx, now, policy);
}

/**
 * Whether writing `after` over `before` makes a decision: 2PC's commit or abort;
 * a saga's outcome (its commit, or the start of its compensation) or an atomic
 * stage's. Crash points fire around such writes.
 */
export function decides(before: TxRecord, after: TxRecord): boolean {
  if (before.protocol === "2pc") return before.state === "preparing" && after.state !== "preparing";
  return after.protocol === "saga" && saga.decides(before, after);
}
