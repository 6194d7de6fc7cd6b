/**
 * A transaction record as an item of the transactions table: the record's own
 * attributes plus the keys of the sparse indexes it belongs to. Shared by the
 * store, which writes items, and the listing, which reads them.
 */
import type { TxRecord } from "../core/transaction.ts";
import { isFinal, isWaiting } from "../core/transaction.ts";
import { type Status, statusOf } from "../core/view.ts";
import { shardOf } from "../ports/transaction-store.ts";

export type TxItem = TxRecord & {
  dueShard?: string;
  waitShard?: string;
  statusShard?: string;
  expiresAt?: number;
  /** Unique per write: tells our own write, retried by the SDK after a lost response, from another's. */
  writeToken?: string;
};

/** Key of the status index's partition: the client-facing status, spread over the shards. */
export const statusShardOf = (status: Status, shard: number): string => `${status}#${shard}`;

export function toItem(tx: TxRecord, writeToken: string, shards: number, retentionSeconds: number): TxItem {
  const shard = shardOf(tx.id, shards);
  const item: TxItem = { ...tx, writeToken };
  // Only records the sweeper must look at carry the index keys: the index stays sparse.
  if (tx.dueAt !== undefined) item.dueShard = String(shard);
  item.statusShard = statusShardOf(statusOf(tx.state), shard);
  if (isWaiting(tx)) item.waitShard = String(shard);
  if (isFinal(tx.state))
    item.expiresAt = Math.floor((tx.completedAt ?? Date.now()) / 1000) + retentionSeconds;
  return item;
}

export function fromItem(item: Record<string, unknown>): TxRecord {
  const {
    dueShard: _s,
    waitShard: _w,
    statusShard: _t,
    expiresAt: _e,
    writeToken: _k,
    ...tx
  } = item as unknown as TxItem;
  return tx;
}
