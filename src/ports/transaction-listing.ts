import type { TxRecord } from "../core/transaction.ts";
import type { Status } from "../core/view.ts";

/**
 * Pages of transactions for operators (`GET /v1/transactions`), called by the
 * API. A port of its own: a backend that cannot list (the in-memory store the
 * simulation runs on) still serves the whole TransactionStore.
 */
export interface TransactionListing {
  /**
   * One page of transactions: with a status, newest first; without, in storage
   * order. Throws InvalidCursorError for a cursor this listing did not make.
   */
  list(query: ListQuery): Promise<ListPage>;
}

export interface ListQuery {
  readonly status?: Status;
  readonly limit: number;
  /** `nextCursor` of the previous page. */
  readonly cursor?: string;
}

export interface ListPage {
  readonly items: readonly TxRecord[];
  /** Absent on the last page. */
  readonly nextCursor?: string;
}
