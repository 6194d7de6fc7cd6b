/**
 * What every BarrierStore must do: read back what was written, write only on
 * the version read — the one guarantee the barrier rests on — keep each
 * incarnation of an id apart, and commit a rule's writes with the barrier's
 * transition, all or nothing.
 */
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { BarrierRecord, BarrierStore } from "../src/store.ts";

export function barrierStoreContract(name: string, make: () => Promise<BarrierStore> | BarrierStore) {
  const key = () => `2pc#loyalty#${randomUUID()}`;
  const INC = "2026-01-01T00:00:00.000Z";
  const record = (k: string, version: number, extra: Partial<BarrierRecord> = {}): BarrierRecord => ({
    key: k,
    incarnation: INC,
    version,
    state: "preparing",
    ...extra,
  });

  describe(`BarrierStore: ${name}`, () => {
    it("has nothing for a key never written", async () => {
      expect(await (await make()).get(key(), INC)).toBeUndefined();
    });

    it("creates a record once: a second create of the key is refused and changes nothing", async () => {
      const store = await make();
      const k = key();
      const first = record(k, 1, {
        lease: { token: "a", until: 5 },
      });
      expect(await store.put(first, 0)).toEqual({ written: true });
      expect(await store.put(record(k, 1, { state: "rolled_back" }), 0)).toEqual({ written: false });
      expect(await store.get(k, INC)).toEqual(first);
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
      expect(await store.get(k, INC)).toEqual(prepared);
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
      expect(await store.get(k, INC)).toEqual(settled);
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
    it("keeps each incarnation of a key apart, and finds the newest", async () => {
      const store = await make();
      const k = key();
      const later = "2026-03-01T00:00:00.000Z";
      const none = record(k, 1, { state: "rolled_back", neverPrepared: true, incarnation: undefined });
      const { incarnation: _dropped, ...withoutIncarnation } = none;
      expect(await store.put(withoutIncarnation, 0)).toEqual({ written: true });
      expect(await store.newest(k)).toEqual(withoutIncarnation);
      expect(await store.put(record(k, 1, { state: "committed" }), 0)).toEqual({ written: true });
      expect(await store.put(record(k, 1, { incarnation: later }), 0)).toEqual({ written: true });
      expect(await store.get(k, INC)).toMatchObject({ state: "committed", incarnation: INC });
      expect(await store.get(k, undefined)).toEqual(withoutIncarnation);
      expect(await store.newest(k)).toMatchObject({ state: "preparing", incarnation: later });
      expect(await store.newest(key())).toBeUndefined();
    });

    it("commits a rule's writes with the barrier's transition", async () => {
      const store = await make();
      const k = key();
      const member = `member#${randomUUID()}`;
      const gone = `gone#${randomUUID()}`;
      await store.put(record(k, 1, { state: "committed" }), 0, [{ kind: "put", key: gone, item: { n: 1 } }]);
      const written = await store.put(record(k, 2, { state: "committed" }), 1, [
        { kind: "put", key: `${member}#profile`, item: { name: "Ada" }, ifAbsent: true },
        { kind: "add", key: member, field: "points", amount: 5, atLeast: 0 },
        { kind: "delete", key: gone },
      ]);
      expect(written).toEqual({ written: true });
      expect(await store.readItem(member)).toEqual({ points: 5 });
      expect(await store.readItem(`${member}#profile`)).toEqual({ name: "Ada" });
      expect(await store.readItem(gone)).toBeUndefined();
    });

    it("writes nothing at all when the barrier's version moved", async () => {
      const store = await make();
      const k = key();
      const member = `member#${randomUUID()}`;
      await store.put(record(k, 1), 0);
      const stale = await store.put(record(k, 1, { state: "prepared" }), 0, [
        { kind: "add", key: member, field: "points", amount: 5 },
      ]);
      expect(stale).toEqual({ written: false });
      expect(await store.readItem(member)).toBeUndefined();
      expect(await store.get(k, INC)).toMatchObject({ version: 1, state: "preparing" });
    });

    it("writes nothing at all, the barrier included, when a write's condition fails", async () => {
      const store = await make();
      const k = key();
      const member = `member#${randomUUID()}`;
      const other = `member#${randomUUID()}`;
      await store.put(record(k, 1, { state: "committed" }), 0, [
        { kind: "add", key: member, field: "points", amount: 3 },
        { kind: "put", key: other, item: { points: 1 } },
      ]);
      for (const w of [
        { kind: "add", key: member, field: "points", amount: -4, atLeast: 0 },
        { kind: "add", key: `member#${randomUUID()}`, field: "points", amount: -1, atLeast: 0 },
        { kind: "put", key: other, item: { points: 9 }, ifAbsent: true },
      ] as const) {
        const result = await store.put(record(k, 2, { state: "compensated" }), 1, [
          { kind: "add", key: other, field: "points", amount: 10 },
          w,
        ]);
        expect(result).toEqual({ written: false });
      }
      expect(await store.get(k, INC)).toMatchObject({ version: 1, state: "committed" });
      expect(await store.readItem(member)).toEqual({ points: 3 });
      expect(await store.readItem(other)).toEqual({ points: 1 });
      // The same take that leaves enough is written.
      expect(
        await store.put(record(k, 2), 1, [
          { kind: "add", key: member, field: "points", amount: -3, atLeast: 0 },
        ]),
      ).toEqual({ written: true });
      expect(await store.readItem(member)).toEqual({ points: 0 });
    });
  });
}
