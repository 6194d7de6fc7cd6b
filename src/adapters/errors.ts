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
