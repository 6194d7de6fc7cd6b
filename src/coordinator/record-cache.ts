import type { TxRecord } from "../core/transaction.ts";

/**
 * The last version of each record this process wrote or read, so the next
 * event for it can skip the read. Only ever a hint: every write is conditional
 * on the version, and a write on a stale hint fails and returns the current
 * record (see `advance`), so the worst a stale entry costs is that failed write.
 */
export interface RecordCache {
  get(id: string): TxRecord | undefined;
  remember(tx: TxRecord): void;
  forget(id: string): void;
}

/**
 * Bounded: the least recently remembered entries go first. Records of a few KB
 * each, so the default holds some tens of MB at most; a transaction's events
 * come within seconds, and final records are not kept (see `advance`).
 */
export function createRecordCache(capacity = 10_000): RecordCache {
  const entries = new Map<string, TxRecord>();
  return {
    get: (id) => entries.get(id),
    remember(tx) {
      const held = entries.get(tx.id);
      // An older version never replaces a newer one (writes may finish out of order).
      if (held && held.version > tx.version) return;
      entries.delete(tx.id);
      entries.set(tx.id, tx);
      if (entries.size > capacity) {
        const oldest = entries.keys().next().value;
        if (oldest !== undefined) entries.delete(oldest);
      }
    },
    forget: (id) => void entries.delete(id),
  };
}
