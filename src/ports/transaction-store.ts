import type { TxRecord } from "../core/transaction.ts";
import type { Alongside } from "./alongside.ts";

/**
 * Durable home of transaction records, as the coordinator, the sweeper and the
 * API's begin and wait use it. Every write is conditional. Served by the
 * DynamoDB adapter and the in-memory store, which pass the same contract suite;
 * listing is a port of its own (transaction-listing.ts).
 */
export interface TransactionStore {
  get(id: string): Promise<TxRecord | undefined>;
  /**
   * Writes a new record, and the listing's items of its participants beyond the
   * first two; throws DuplicateTransactionError carrying the existing one.
   * `meanwhile` runs once the record is durable, while those items may still be
   * written (the first messages: a PREPARE need not wait for the listing); both
   * are awaited.
   */
  create(tx: TxRecord, meanwhile?: () => Promise<void>): Promise<void>;
  /**
   * Writes `next` over `before` if the record is still at `before.version`,
   * changing only what differs. One call: a lost race returns the record that
   * won (undefined when there is none), so the caller needs no read to retry.
   * With `alongside` (a participant's commit or prepare, ports/alongside.ts),
   * both or neither: its failed condition writes nothing and throws
   * AlongsideRefusedError.
   */
  update(before: TxRecord, next: TxRecord, alongside?: Alongside): Promise<UpdateOutcome>;
  /** Ids of transactions in one shard of the due index whose due time is at or before `now`. */
  due(shard: number, now: number, limit: number): Promise<string[]>;
  /** Undecided transactions in one shard that wait for another's lock, with their edges. */
  waiting(shard: number): Promise<WaitingTx[]>;
  readonly shards: number;
}

export type UpdateOutcome =
  | { readonly saved: true }
  | { readonly saved: false; readonly current: TxRecord | undefined };

export interface WaitingTx {
  readonly id: string;
  readonly createdAt: number;
  readonly waits: Readonly<Record<string, string>>;
}

/**
 * The shard of `id` among `shards`, for `due` and `waiting`: every backend
 * spreads records by this one function, so a caller knows which shard holds a
 * record. FNV-1a: stable and cheap.
 */
export function shardOf(id: string, shards: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    hash ^= id.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % shards;
}
