/**
 * What every BarrierStore must do: read back what was written, and write only
 * on the version read — the one guarantee the barrier rests on.
 */
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { BarrierRecord, BarrierStore } from "../src/store.ts";

export function barrierStoreContract(name: string, make: () => Promise<BarrierStore> | BarrierStore) {
  const key = () => `2pc#loyalty#${randomUUID()}`;
  const record = (k: string, version: number, extra: Partial<BarrierRecord> = {}): BarrierRecord => ({
    key: k,
    version,
    state: "preparing",
    ...extra,
  });

  describe(`BarrierStore: ${name}`, () => {
    it("has nothing for a key never written", async () => {
      expect(await (await make()).get(key())).toBeUndefined();
    });

    it("creates a record once: a second create of the key is refused and changes nothing", async () => {
      const store = await make();
      const k = key();
      const first = record(k, 1, {
        incarnation: "2026-01-01T00:00:00.000Z",
        lease: { token: "a", until: 5 },
      });
      expect(await store.put(first, 0)).toEqual({ written: true });
      expect(await store.put(record(k, 1, { state: "rolled_back" }), 0)).toEqual({ written: false });
      expect(await store.get(k)).toEqual(first);
    });

    it("writes on the version read, and refuses a write on a stale version", async () => {
      const store = await make();
      const k = key();
      await store.put(record(k, 1), 0);
      const prepared = record(k, 2, {
        state: "prepared",
        branches: [{ branch: 0, action: "earn", input: { member: "ada", points: 5 } }],
        data: { points: 5, note: "" },
      });
      expect(await store.put(prepared, 1)).toEqual({ written: true });
      expect(await store.put(record(k, 2, { state: "rolled_back" }), 1)).toEqual({ written: false });
      expect(await store.get(k)).toEqual(prepared);
    });

    it("keeps every field of a settled record, its expiry included", async () => {
      const store = await make();
      const k = key();
      const settled = record(k, 1, {
        state: "rolled_back",
        neverPrepared: true,
        reason: "timeout",
        expiresAt: 1_900_000_000,
      });
      await store.put(settled, 0);
      expect(await store.get(k)).toEqual(settled);
    });

    it("lets exactly one of many racing writers win", async () => {
      const store = await make();
      const k = key();
      const results = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          store.put(record(k, 1, { lease: { token: `t${i}`, until: 1 } }), 0),
        ),
      );
      expect(results.filter((r) => r.written)).toHaveLength(1);
    });
  });
}
