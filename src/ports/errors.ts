/** Domain errors the adapters raise in place of AWS errors. */
import type { TxRecord } from "../core/transaction.ts";

/** A conditional write lost a race: reload and decide again. */
export class StaleRecordError extends Error {
  override name = "StaleRecordError";
  constructor(
    readonly id: string,
    options?: ErrorOptions,
  ) {
    super(`record ${id} changed since it was read`, options);
  }
}

/** A transaction with this id exists already; it is carried so the caller can answer with it. */
export class DuplicateTransactionError extends Error {
  override name = "DuplicateTransactionError";
  constructor(
    readonly existing: TxRecord,
    options?: ErrorOptions,
  ) {
    super(`transaction ${existing.id} exists already`, options);
  }
}

/** A listing cursor this listing did not produce, or can no longer continue from. */
export class InvalidCursorError extends Error {
  override name = "InvalidCursorError";
  constructor(reason: string, options?: ErrorOptions) {
    super(`the cursor is not valid: ${reason}`, options);
  }
}

/**
 * DynamoDB kept refusing a write that applied nothing and is safe to repeat
 * (a transaction cancelled by a conflict or throttling). Raised after the
 * store's own retries: the caller's message goes back to its queue and the
 * write is tried again later.
 */
export class TransientStoreError extends Error {
  override name = "TransientStoreError";
  constructor(
    readonly attempts: number,
    options?: ErrorOptions,
  ) {
    super(`DynamoDB refused the write ${attempts} times with a transient cancellation`, options);
  }
}
