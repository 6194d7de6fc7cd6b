import type { Protocol, TxRecord } from "../core/transaction.ts";
import type { Status } from "../core/view.ts";

/**
 * Pages of transactions for operators (`GET /v1/transactions`), called by the
 * API. A port of its own: a backend that cannot list (the in-memory store the
 * simulation runs on) still serves the whole TransactionStore.
 */
export interface TransactionListing {
  /**
   * One page of transactions, newest first, each matching every filter given.
   * A page may hold fewer than `limit` while more follow (`nextCursor`): filters
   * no index serves are checked on the records. Throws InvalidCursorError for a
   * cursor this listing (these filters) did not make.
   */
  list(query: ListQuery): Promise<ListPage>;
}

export interface ListQuery {
  readonly status?: Status;
  readonly protocol?: Protocol;
  /** Transactions with a branch at this participant. */
  readonly participant?: string;
  /** Created at or after (ms since the epoch). */
  readonly since?: number;
  /** Created before (ms since the epoch). */
  readonly until?: number;
  readonly limit: number;
  /** `nextCursor` of the previous page. */
  readonly cursor?: string;
}

export interface ListPage {
  readonly items: readonly TxRecord[];
  /** Absent on the last page. */
  readonly nextCursor?: string;
}
