/**
 * A transaction record as an item of the transactions table: the record's own
 * attributes plus the keys of the sparse indexes it belongs to. Shared by the
 * store, which writes items, and the listing, which reads them.
 */
import type { Protocol, TxRecord } from "../core/transaction.ts";
import { isFinal, isWaiting } from "../core/transaction.ts";
import { type Status, statusOf } from "../core/view.ts";
import { shardOf } from "../ports/transaction-store.ts";
import { decodeEvents, encodeEvents } from "./stored-events.ts";

type Stored<T> = T extends TxRecord
  ? Omit<T, "events" | "eventsDropped" | "attempts"> & {
      events: string;
      eventsDropped?: number;
      attempts?: number;
    }
  : never;

/**
 * The record as stored: its timeline in the compact form (`stored-events.ts`),
 * and the counters that are nearly always 0 left out while they are.
 */
export type TxItem = Stored<TxRecord> & {
  dueShard?: string;
  waitShard?: string;
  statusShard?: string;
  protocolShard?: string;
  participant1Shard?: string;
  participant2Shard?: string;
  expiresAt?: number;
  /** Unique per write: tells our own write, retried by the SDK after a lost response, from another's. */
  writeToken?: string;
};

/** Key of the status index's partition: the client-facing status, spread over the shards. */
export const statusShardOf = (status: Status, shard: number): string => `${status}#${shard}`;
/** Key of the protocol index's partition. */
export const protocolShardOf = (protocol: Protocol, shard: number): string => `${protocol}#${shard}`;
/** Key of the participant index's partition (in the transaction-participants table). */
export const participantShardOf = (participant: string, shard: number): string => `${participant}#${shard}`;

/** The key of the item that lists `txId` under `participant`; ids and names never hold a `/`. */
export const participantItemKey = (txId: string, participant: string): string => `${txId}/${participant}`;
export const txIdOfParticipantItemKey = (key: string): string => key.slice(0, key.indexOf("/"));

/** The participants a transaction's branches name, in the order they first appear. */
const namesOf = (tx: Pick<TxRecord, "branches">): string[] => [
  ...new Set(tx.branches.map((b) => b.participant)),
];
/** The same, sorted: the first two the record indexes itself. */
const participantsOf = (tx: TxRecord): string[] => namesOf(tx).sort();

/**
 * The participant index's items of a transaction: one per participant beyond
 * the two the record indexes itself, so a transaction of one or two participants
 * has none. They expire with the retention after the deadline,
 * whatever becomes of the record; the record is the truth, they only point to it.
 */
export function participantItems(tx: TxRecord, shards: number, retentionSeconds: number) {
  const shard = shardOf(tx.id, shards);
  return participantsOf(tx)
    .slice(2)
    .map((participant) => ({
      key: participantItemKey(tx.id, participant),
      participantShard: participantShardOf(participant, shard),
      createdAt: tx.createdAt,
      expiresAt: Math.ceil(tx.deadline / 1000) + retentionSeconds,
    }));
}

export function toItem(tx: TxRecord, writeToken: string, shards: number, retentionSeconds: number): TxItem {
  const shard = shardOf(tx.id, shards);
  const { events, eventsDropped, attempts, ...rest } = tx;
  const item: TxItem = { ...rest, events: encodeEvents(events, tx.createdAt, namesOf(tx)), writeToken };
  if (eventsDropped !== 0) item.eventsDropped = eventsDropped;
  if (attempts !== 0) item.attempts = attempts;
  // Only records the sweeper must look at carry the index keys: the index stays sparse.
  if (tx.dueAt !== undefined) item.dueShard = String(shard);
  item.statusShard = statusShardOf(statusOf(tx.state), shard);
  item.protocolShard = protocolShardOf(tx.protocol, shard);
  // The participant1/2 indexes: set at create, never changed (a record's branches are fixed).
  const [first, second] = participantsOf(tx);
  if (first !== undefined) item.participant1Shard = participantShardOf(first, shard);
  if (second !== undefined) item.participant2Shard = participantShardOf(second, shard);
  if (isWaiting(tx)) item.waitShard = String(shard);
  if (isFinal(tx.state)) item.expiresAt = Math.ceil((tx.completedAt ?? Date.now()) / 1000) + retentionSeconds;
  return item;
}

export function fromItem(item: Record<string, unknown>): TxRecord {
  const {
    dueShard: _s,
    waitShard: _w,
    statusShard: _t,
    protocolShard: _p,
    participant1Shard: _p1,
    participant2Shard: _p2,
    expiresAt: _e,
    writeToken: _k,
    events,
    eventsDropped,
    attempts,
    ...rest
  } = item as unknown as TxItem;
  return {
    ...rest,
    events: decodeEvents(events, rest.createdAt, namesOf(rest)),
    eventsDropped: eventsDropped ?? 0,
    attempts: attempts ?? 0,
  } as unknown as TxRecord;
}
