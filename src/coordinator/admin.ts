/**
 * Operators' actions on one transaction. Like every other change they go through
 * `advance`: the record is written (conditionally) before any message leaves, so
 * an abort that races a vote either is the decision or finds the decision made.
 */
import type { KnownReason } from "../core/reasons.ts";
import type { Policy, Step } from "../core/step.ts";
import type { TxRecord, TxState } from "../core/transaction.ts";
import { requestAbort, requestRetry } from "../core/transitions.ts";
import { advance, type CoordinatorDeps } from "./advance.ts";

/** Recorded as the transaction's reason when an operator aborts it. */
export const OPERATOR_ABORT_REASON: KnownReason = "aborted_by_operator";

export type AdminOutcome =
  | { readonly outcome: "done"; readonly tx: TxRecord }
  | { readonly outcome: "not_found" }
  /** The action does not apply in the transaction's current phase; nothing changed. */
  | { readonly outcome: "conflict"; readonly phase: TxState; readonly tx: TxRecord };

type AdminDeps = CoordinatorDeps & { readonly policy: Policy };
type Request = Step | { readonly rejected: string; readonly state: TxState };

async function act(
  deps: AdminDeps,
  id: string,
  request: (tx: TxRecord, now: number) => Request,
): Promise<AdminOutcome> {
  // Set by the last run of the transition: `advance` may run it again after a lost race.
  let rejected: TxState | undefined;
  const tx = await advance(deps, id, (tx, now) => {
    const step = request(tx, now);
    rejected = "rejected" in step ? step.state : undefined;
    return "rejected" in step ? { next: tx, effects: [], changed: false } : step;
  });
  if (!tx) return { outcome: "not_found" };
  return rejected === undefined ? { outcome: "done", tx } : { outcome: "conflict", phase: rejected, tx };
}

/**
 * Aborts an undecided transaction: a 2PC one sends ROLLBACK to every participant
 * that may hold locks; a saga still running forward starts its compensation.
 */
export async function abortTransaction(deps: AdminDeps, id: string): Promise<AdminOutcome> {
  const result = await act(deps, id, (tx, now) => requestAbort(tx, OPERATOR_ABORT_REASON, now, deps.policy));
  if (result.outcome === "done") deps.log.info("transaction aborted by an operator", { txId: id });
  return result;
}

/** Re-delivers now what an unfinished transaction waits for, and starts its backoff over. */
export async function retryTransaction(deps: AdminDeps, id: string): Promise<AdminOutcome> {
  const result = await act(deps, id, (tx, now) => requestRetry(tx, now, deps.policy));
  if (result.outcome === "done") {
    deps.log.info("transaction retried by an operator", { txId: id, state: result.tx.state });
  }
  return result;
}
