import { createHash, randomUUID } from "node:crypto";
import { DuplicateTransactionError } from "../adapters/errors.ts";
import type { BranchSpec, TxRecord } from "../core/transaction.ts";
import { begin, type Policy } from "../core/two-phase-commit.ts";
import type { CoordinatorDeps } from "./advance.ts";
import { dispatch } from "./dispatch.ts";

export interface BeginRequest {
  readonly id?: string;
  readonly protocol: "2pc";
  readonly timeoutMs: number;
  readonly branches: readonly BranchSpec[];
}

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

export const requestHash = (request: BeginRequest): string =>
  createHash("sha256")
    .update(
      canonical({ protocol: request.protocol, timeoutMs: request.timeoutMs, branches: request.branches }),
    )
    .digest("base64url");

/**
 * Writes the record (attribute_not_exists, so a repeated id never makes a second
 * transaction), then sends PREPARE to each participant. A crash between the two
 * leaves a due record: the sweeper sends the PREPAREs.
 */
export async function beginTransaction(
  deps: CoordinatorDeps & { readonly policy: Policy },
  request: BeginRequest,
): Promise<{ readonly tx: TxRecord; readonly created: boolean }> {
  const id = request.id ?? randomUUID();
  const hash = requestHash(request);
  const step = begin(
    { id, branches: request.branches, timeoutMs: request.timeoutMs, requestHash: hash },
    deps.clock(),
    deps.policy,
  );
  try {
    await deps.store.create(step.next);
  } catch (err) {
    if (!(err instanceof DuplicateTransactionError)) throw err;
    if (err.existing.requestHash !== hash) throw new IdempotencyConflictError(id);
    return { tx: err.existing, created: false };
  }
  deps.crash?.("after-record-before-prepare");
  await dispatch(step.next, step.effects, deps.bus, deps.log);
  return { tx: step.next, created: true };
}
