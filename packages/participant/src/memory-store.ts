/** The store port in memory, with the DynamoDB store's conditional and all-or-nothing semantics: for tests and single-process tools. */
import type { BarrierRecord, BarrierStore, Item, PutResult, Write } from "./store.ts";

export interface MemoryBarrierStore extends BarrierStore {
  /** Every record, by `<key>|<incarnation>`, for assertions in tests. */
  readonly records: ReadonlyMap<string, BarrierRecord>;
  /** The service's items, for assertions in tests. */
  readonly items: ReadonlyMap<string, Item>;
}

/** Applies writes to a copy of the items, or says which condition failed: nothing is half-applied. */
export function applyWrites(
  items: ReadonlyMap<string, Item>,
  writes: readonly Write[],
): Map<string, Item> | undefined {
  const next = new Map(items);
  for (const w of writes) {
    const current = next.get(w.key);
    switch (w.kind) {
      case "put":
        if (w.ifAbsent && current !== undefined) return undefined;
        next.set(w.key, { ...w.item });
        break;
      case "add": {
        const had = current?.[w.field];
        if (had !== undefined && typeof had !== "number") return undefined;
        const result = (had ?? 0) + w.amount;
        if (w.atLeast !== undefined && result < w.atLeast) return undefined;
        next.set(w.key, { ...current, [w.field]: result });
        break;
      }
      case "delete":
        next.delete(w.key);
        break;
    }
  }
  return next;
}

const NO_INCARNATION = "-";
const idOf = (key: string, incarnation: string | undefined) => `${key}|${incarnation ?? NO_INCARNATION}`;

export function createMemoryBarrierStore(): MemoryBarrierStore {
  const records = new Map<string, BarrierRecord>();
  let items = new Map<string, Item>();
  // Copies in and out, as a real store would: a caller never holds the stored object.
  const copy = <T>(r: T): T => structuredClone(r);
  return {
    records,
    get items() {
      return items;
    },
    async get(key, incarnation) {
      const r = records.get(idOf(key, incarnation));
      return r ? copy(r) : undefined;
    },
    async newest(key) {
      let best: BarrierRecord | undefined;
      for (const r of records.values()) {
        if (r.key !== key) continue;
        // ISO 8601 times order as text; the incarnation-less record is the oldest.
        if (!best || (r.incarnation ?? NO_INCARNATION) > (best.incarnation ?? NO_INCARNATION)) best = r;
      }
      return best ? copy(best) : undefined;
    },
    async put(record, expectedVersion, writes = []): Promise<PutResult> {
      const id = idOf(record.key, record.incarnation);
      const current = records.get(id)?.version ?? 0;
      if (current !== expectedVersion) return { written: false };
      const next = applyWrites(items, copy(writes));
      if (!next) return { written: false };
      // One synchronous step: the barrier and the writes land together or not at all.
      records.set(id, copy(record));
      items = next;
      return { written: true };
    },
    async readItem(key) {
      const item = items.get(key);
      return item ? copy(item) : undefined;
    },
  };
}
