/**
 * What every TransactionStore must do, whatever it stores in: the DynamoDB
 * adapter and the simulation's in-memory store both run this suite, so the
 * simulation's results say something about the real system.
 */
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { begin as beginSaga } from "../../src/core/saga.ts";
import type { SagaRecord, TwoPcRecord } from "../../src/core/transaction.ts";
import { begin, type Policy } from "../../src/core/two-phase-commit.ts";
import { DuplicateTransactionError } from "../../src/ports/errors.ts";
import { shardOf, type TransactionStore } from "../../src/ports/transaction-store.ts";

const policy: Policy = {
  prepareRetryMs: 1_000,
  decisionRetryMs: 1_000,
  waitingRetryMs: 4_000,
  backoffCapMs: 4_000,
  stalledAfterAttempts: 5,
  maxEvents: 50,
};

const T0 = 1_700_000_000_000;

export function record(id = `tx-${randomUUID()}`, now = T0): TwoPcRecord {
  return begin(
    {
      id,
      requestHash: "hash",
      timeoutMs: 10_000,
      branches: [
        { participant: "bank-1", action: "withdraw", input: { account: "a", amount: 5 } },
        { participant: "bank-2", action: "deposit", input: { account: "b", amount: 5 } },
      ],
    },
    now,
    policy,
  ).next;
}

/** A saga whose first stage (bank-1, bank-2) is atomic and whose second is a plain step. */
export function sagaRecord(id = `saga-${randomUUID()}`, now = T0): SagaRecord {
  const compensation = { action: "deposit", input: { account: "a", amount: 5 } };
  return beginSaga(
    {
      id,
      requestHash: "hash",
      timeoutMs: 10_000,
      atomicStages: [0],
      branches: [
        {
          participant: "bank-1",
          action: "withdraw",
          input: { account: "a", amount: 5 },
          stage: 0,
          compensation,
        },
        {
          participant: "bank-2",
          action: "withdraw",
          input: { account: "a", amount: 5 },
          stage: 0,
          compensation,
        },
        {
          participant: "bank-3",
          action: "withdraw",
          input: { account: "a", amount: 5 },
          stage: 1,
          compensation,
        },
      ],
    },
    now,
    policy,
  ).next;
}

/** Runs the suite; `fresh` gives a store with nothing in it (its own table, for DynamoDB). */
export function transactionStoreContract(name: string, fresh: () => Promise<TransactionStore>): void {
  describe(`TransactionStore contract: ${name}`, () => {
    it("get of an unknown id is undefined", async () => {
      const store = await fresh();
      expect(await store.get("nope")).toBeUndefined();
    });

    it("create then get returns the record as written", async () => {
      const store = await fresh();
      const tx = record();
      await store.create(tx);
      expect(await store.get(tx.id)).toEqual(tx);
    });

    it("create of an existing id throws DuplicateTransactionError carrying the existing record, and keeps it", async () => {
      const store = await fresh();
      const tx = record();
      await store.create(tx);
      const other = { ...record(tx.id), requestHash: "other" };
      const err = await store.create(other).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DuplicateTransactionError);
      expect((err as DuplicateTransactionError).existing).toEqual(tx);
      expect((await store.get(tx.id))?.requestHash).toBe("hash");
    });

    it("create runs `meanwhile` once the record is durable, and resolves only after it", async () => {
      const store = await fresh();
      const tx = record();
      const order: string[] = [];
      await store.create(tx, async () => {
        order.push((await store.get(tx.id)) ? "record there" : "no record");
        await new Promise((resolve) => setTimeout(resolve, 20));
        order.push("meanwhile done");
      });
      order.push("created");
      expect(order).toEqual(["record there", "meanwhile done", "created"]);
    });

    it("a failed `meanwhile` fails the create; the record stays", async () => {
      const store = await fresh();
      const tx = record();
      const err = await store
        .create(tx, async () => {
          throw new Error("send failed");
        })
        .catch((e: unknown) => e);
      expect((err as Error).message).toBe("send failed");
      expect(await store.get(tx.id)).toEqual(tx);
    });

    it("a duplicate create runs no `meanwhile`", async () => {
      const store = await fresh();
      const tx = record();
      await store.create(tx);
      let ran = false;
      const err = await store
        .create(tx, async () => {
          ran = true;
        })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DuplicateTransactionError);
      expect(ran).toBe(false);
    });

    it("update writes the next record over the one it was made from, fields it drops included", async () => {
      const store = await fresh();
      const tx: TwoPcRecord = { ...record(), dueAt: T0, waits: { "bank-1": "other" } };
      await store.create(tx);
      const { dueAt: _d, waits: _w, ...rest } = tx;
      const next: TwoPcRecord = {
        ...rest,
        state: "aborted",
        reason: "timeout",
        completedAt: T0,
        events: [...tx.events, { at: T0, type: "decision", decision: "abort" }],
        version: 2,
      };
      expect(await store.update(tx, next)).toEqual({ saved: true });
      expect(await store.get(tx.id)).toEqual(next);
      const due = await Promise.all(
        Array.from({ length: store.shards }, (_, s) => store.due(s, T0 + 60_000, 100)),
      );
      expect(due.flat()).not.toContain(tx.id);
    });

    it("update from a stale version writes nothing and returns the record that won", async () => {
      const store = await fresh();
      const tx = record();
      await store.create(tx);
      const won: TwoPcRecord = { ...tx, attempts: 1, version: 2 };
      await store.update(tx, won);
      const outcome = await store.update(tx, { ...tx, state: "committing", version: 2 });
      expect(outcome).toEqual({ saved: false, current: won });
      expect(await store.get(tx.id)).toEqual(won);
    });

    it("update from an earlier incarnation of the id (same version) writes nothing and returns the current record", async () => {
      // A process still holds a record whose id expired and was used again; the new
      // transaction's record has reached the same version.
      const store = await fresh();
      const current = record();
      const earlier: TwoPcRecord = { ...current, createdAt: T0 - 86_400_000, requestHash: "earlier" };
      await store.create(current);
      const outcome = await store.update(earlier, { ...earlier, state: "committing", version: 2 });
      expect(outcome).toEqual({ saved: false, current });
      expect(await store.get(current.id)).toEqual(current);
    });

    it("update of a record that does not exist creates nothing and returns no current record", async () => {
      const store = await fresh();
      const tx = record();
      expect(await store.update(tx, { ...tx, version: 2 })).toEqual({ saved: false, current: undefined });
      expect(await store.get(tx.id)).toBeUndefined();
    });

    it("due lists, per shard, the records due at or before now, most overdue first, up to the limit", async () => {
      const store = await fresh();
      const txs = Array.from({ length: 6 }, (_, i) => ({ ...record(), dueAt: T0 + i * 1_000 }));
      for (const tx of txs) await store.create(tx);
      const now = T0 + 3_000;
      const dueIds = async (limit: number) =>
        (await Promise.all(Array.from({ length: store.shards }, (_, s) => store.due(s, now, limit)))).flat();
      expect((await dueIds(100)).sort()).toEqual(
        txs
          .filter((tx) => (tx.dueAt ?? Infinity) <= now)
          .map((tx) => tx.id)
          .sort(),
      );
      for (let s = 0; s < store.shards; s++) {
        const inShard = txs.filter((tx) => shardOf(tx.id, store.shards) === s && (tx.dueAt ?? 0) <= now);
        const first = await store.due(s, now, 1);
        const mostOverdue = [...inShard].sort((a, b) => (a.dueAt ?? 0) - (b.dueAt ?? 0))[0];
        expect(first).toEqual(mostOverdue ? [mostOverdue.id] : []);
      }
    });

    it("a record without dueAt (final) leaves the due index", async () => {
      const store = await fresh();
      const tx = { ...record(), dueAt: T0 };
      await store.create(tx);
      const { dueAt: _d, ...finished } = tx;
      expect(await store.update(tx, { ...finished, state: "aborted", completedAt: T0, version: 2 })).toEqual({
        saved: true,
      });
      const all = await Promise.all(
        Array.from({ length: store.shards }, (_, s) => store.due(s, T0 + 60_000, 100)),
      );
      expect(all.flat()).not.toContain(tx.id);
    });

    it("waiting lists preparing records with wait-for edges, and only those", async () => {
      const store = await fresh();
      const waits = { ...record(), waits: { "bank-1": "holder-1" } };
      const plain = record();
      const decided: TwoPcRecord = { ...record(), state: "aborting", waits: { "bank-2": "holder-2" } };
      for (const tx of [waits, plain, decided]) await store.create(tx);
      const found = (
        await Promise.all(Array.from({ length: store.shards }, (_, s) => store.waiting(s)))
      ).flat();
      expect(found).toEqual([{ id: waits.id, createdAt: waits.createdAt, waits: { "bank-1": "holder-1" } }]);
      const shard = shardOf(waits.id, store.shards);
      expect((await store.waiting(shard)).map((w) => w.id)).toEqual([waits.id]);
    });

    it("a saga record round-trips whole: stages, atomic group and steps", async () => {
      const store = await fresh();
      const tx = sagaRecord();
      await store.create(tx);
      expect(await store.get(tx.id)).toEqual(tx);
      const { dueAt: _d, ...rest } = tx;
      const finished: SagaRecord = { ...rest, state: "compensated", completedAt: T0, version: 2 };
      expect(await store.update(tx, finished)).toEqual({ saved: true });
      expect(await store.get(tx.id)).toEqual(finished);
      const due = await Promise.all(
        Array.from({ length: store.shards }, (_, s) => store.due(s, T0 + 60_000, 100)),
      );
      expect(due.flat()).not.toContain(tx.id);
    });

    it("waiting lists a running saga whose atomic stage waits, not one already compensating", async () => {
      const store = await fresh();
      const running = { ...sagaRecord(), waits: { "bank-1": "holder-1" } };
      const compensating: SagaRecord = { ...sagaRecord(), state: "compensating", waits: { "bank-2": "h" } };
      for (const tx of [running, compensating]) await store.create(tx);
      const found = (
        await Promise.all(Array.from({ length: store.shards }, (_, s) => store.waiting(s)))
      ).flat();
      expect(found).toEqual([
        { id: running.id, createdAt: running.createdAt, waits: { "bank-1": "holder-1" } },
      ]);
    });

    it("serves every one of its shards: a due record is listed in its own shard and no other", async () => {
      const store = await fresh();
      expect(Number.isInteger(store.shards) && store.shards >= 1).toBe(true);
      // One record per shard: ids tried in turn until one hashes to the shard.
      const base = randomUUID();
      const ids = Array.from({ length: store.shards }, (_, s) => {
        let n = 0;
        while (shardOf(`${base}-${n}`, store.shards) !== s) n++;
        return `${base}-${n}`;
      });
      for (const id of ids) await store.create({ ...record(id), dueAt: T0 });
      for (let s = 0; s < store.shards; s++) {
        const listed = (await store.due(s, T0, 100)).filter((id) => id.startsWith(base));
        expect(listed, `shard ${s}`).toEqual([ids[s]]);
      }
    });
  });
}
