/** The store port in memory, with the DynamoDB store's conditional semantics: for tests and single-process tools. */
import type { BarrierRecord, BarrierStore, PutResult } from "./store.ts";

export interface MemoryBarrierStore extends BarrierStore {
  /** Every record, for assertions in tests. */
  readonly records: ReadonlyMap<string, BarrierRecord>;
}

export function createMemoryBarrierStore(): MemoryBarrierStore {
  const records = new Map<string, BarrierRecord>();
  // Copies in and out, as a real store would: a caller never holds the stored object.
  const copy = (r: BarrierRecord): BarrierRecord => structuredClone(r);
  return {
    records,
    async get(key) {
      const r = records.get(key);
      return r ? copy(r) : undefined;
    },
    async put(record, expectedVersion): Promise<PutResult> {
      const current = records.get(record.key)?.version ?? 0;
      if (current !== expectedVersion) return { written: false };
      records.set(record.key, copy(record));
      return { written: true };
    },
  };
}
