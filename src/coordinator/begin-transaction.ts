import { createHash, randomUUID } from "node:crypto";
import { begin as beginSaga } from "../core/saga.ts";
import type { Policy, Step } from "../core/step.ts";
import type { BranchSpec, TxRecord } from "../core/transaction.ts";
import { begin as beginTwoPc } from "../core/two-phase-commit.ts";
import { DuplicateTransactionError } from "../ports/errors.ts";
import { currentTraceparent } from "../trace-context.ts";
import type { CoordinatorDeps } from "./advance.ts";
import { dispatch } from "./dispatch.ts";

export type BeginRequest =
  | {
      readonly id?: string;
      readonly protocol: "2pc";
      readonly timeoutMs: number;
      readonly branches: readonly BranchSpec[];
      /**
       * Every participant named runs on the participant kit (not an HTTP service):
       * when they are one, it commits in one phase. Not part of the request's
       * identity: it follows from the participants, not from what the client asked.
       */
      readonly onePhase?: boolean;
    }
  | {
      readonly id?: string;
      readonly protocol: "saga";
      readonly timeoutMs: number;
      /** Each with a compensation, and either every one with a stage or none. */
      readonly branches: readonly BranchSpec[];
      /** Stage numbers whose branches run as one 2PC group. */
      readonly atomicStages?: readonly number[];
    };

/** The id was used before for a different request. */
export class IdempotencyConflictError extends Error {
  override name = "IdempotencyConflictError";
  constructor(readonly id: string) {
    super(`transaction ${id} exists with a different request; use a new id`);
  }
}

/** Stable JSON: object keys sorted, so equal requests hash equal whatever their key order. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

/**
 * Everything that shapes the transaction, so a reused id with another body is
 * told apart. A 2PC request hashes as it always has (absent fields drop out).
 */
export const requestHash = (request: BeginRequest): string =>
  createHash("sha256")
    .update(
      canonical({
        protocol: request.protocol,
        timeoutMs: request.timeoutMs,
        branches: request.branches,
        // Order-free: the stages listed are a set.
        atomicStages:
          request.protocol === "saga" && request.atomicStages?.length
            ? [...request.atomicStages].sort((a, b) => a - b)
            : undefined,
      }),
    )
    .digest("base64url");

function firstStep(request: BeginRequest, id: string, hash: string, now: number, policy: Policy): Step {
  const common = { id, branches: request.branches, timeoutMs: request.timeoutMs, requestHash: hash };
  return request.protocol === "2pc"
    ? beginTwoPc({ ...common, ...(request.onePhase ? { onePhase: true } : {}) }, now, policy)
    : beginSaga({ ...common, atomicStages: request.atomicStages ?? [] }, now, policy);
}

/**
 * Writes the record (attribute_not_exists, so a repeated id never makes a second
 * transaction), then sends the first messages: PREPARE to each participant of a
 * 2PC, a saga's first stage, while the listing's items of a third participant
 * and beyond are still being written. A crash between the record and the sends
 * leaves a due record: the sweeper sends them.
 */
export async function beginTransaction(
  deps: CoordinatorDeps & { readonly policy: Policy },
  request: BeginRequest,
): Promise<{ readonly tx: TxRecord; readonly created: boolean }> {
  const id = request.id ?? randomUUID();
  const hash = requestHash(request);
  const first = firstStep(request, id, hash, deps.clock(), deps.policy);
  // The record keeps the trace it was begun in, for the sweeper's work on it.
  const traceparent = currentTraceparent();
  const step = traceparent === undefined ? first : { ...first, next: { ...first.next, traceparent } };
  try {
    // The first messages leave once the record is durable, while the listing's items are written.
    await deps.store.create(step.next, async () => {
      deps.records?.remember(step.next);
      deps.metrics?.count("concord_transactions_begun_total", { protocol: request.protocol });
      deps.crash?.("after-record-before-prepare");
      await dispatch(step.next, step.effects, deps.bus, deps.log);
    });
  } catch (err) {
    if (!(err instanceof DuplicateTransactionError)) throw err;
    if (err.existing.requestHash !== hash) throw new IdempotencyConflictError(id);
    return { tx: err.existing, created: false };
  }
  return { tx: step.next, created: true };
}
