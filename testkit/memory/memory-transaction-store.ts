/**
 * An in-memory TransactionStore with the DynamoDB adapter's conditional
 * semantics (attribute_not_exists on create, version condition on update, the
 * sparse due and waiting indexes as scans). For the deterministic simulation
 * and for tests; it passes the same contract suite as the DynamoDB store.
 */

import { isFinal, isWaiting, type TxRecord } from "../../src/core/transaction.ts";
import { BarrierConflictError } from "../../src/participant-kit/errors.ts";
import { AlongsideRefusedError } from "../../src/ports/alongside.ts";
import { DuplicateTransactionError } from "../../src/ports/errors.ts";
import { shardOf, type TransactionStore, type WaitingTx } from "../../src/ports/transaction-store.ts";
import { asMemory } from "./memory-alongside.ts";

export interface MemoryTransactionStore extends TransactionStore {
  /** Every record, for invariant checks. */
  all(): TxRecord[];
  /**
   * DynamoDB's TTL on final records: deletes those completed at or before
   * `completedBy` and returns them (the id may then be used again).
   */
  expire(completedBy: number): TxRecord[];
}

/**
 * Records are kept by reference: the use cases treat them as immutable
 * (every transition returns a new object), and copying each write would cost
 * the simulation most of its speed.
 */
export function createMemoryTransactionStore(options: { shards?: number } = {}): MemoryTransactionStore {
  const shards = options.shards ?? 4;
  const records = new Map<string, TxRecord>();

  return {
    shards,

    async get(id) {
      return records.get(id);
    },

    async create(tx, meanwhile) {
      const existing = records.get(tx.id);
      if (existing) throw new DuplicateTransactionError(existing);
      records.set(tx.id, tx);
      await meanwhile?.();
    },

    async update(before, next, alongside) {
      const current = records.get(before.id);
      // The same id and version may be another incarnation's (an id used again after its record expired).
      if (!current || current.version !== before.version || current.createdAt !== before.createdAt)
        return { saved: false, current };
      // Both or neither, as one TransactWriteItems: the participant's condition before any write.
      const part = alongside && asMemory(alongside);
      try {
        part?.check();
      } catch (err) {
        if (err instanceof BarrierConflictError) throw new AlongsideRefusedError(next.id, { cause: err });
        throw err;
      }
      records.set(next.id, next);
      part?.apply();
      return { saved: true };
    },

    async due(shard, now, limit) {
      const found: TxRecord[] = [];
      for (const tx of records.values()) {
        if (tx.dueAt !== undefined && tx.dueAt <= now && shardOf(tx.id, shards) === shard) found.push(tx);
      }
      // The due index is sorted by dueAt, so a limited query returns the most overdue first.
      found.sort((a, b) => (a.dueAt ?? 0) - (b.dueAt ?? 0));
      return found.slice(0, limit).map((tx) => tx.id);
    },

    async waiting(shard) {
      const found: WaitingTx[] = [];
      for (const tx of records.values()) {
        if (isWaiting(tx) && tx.waits && shardOf(tx.id, shards) === shard) {
          found.push({ id: tx.id, createdAt: tx.createdAt, waits: tx.waits });
        }
      }
      return found;
    },

    all: () => [...records.values()],

    expire(completedBy) {
      const gone = [...records.values()].filter(
        (tx) => isFinal(tx.state) && tx.completedAt !== undefined && tx.completedAt <= completedBy,
      );
      for (const tx of gone) records.delete(tx.id);
      return gone;
    },
  };
}
