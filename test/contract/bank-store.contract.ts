/**
 * What every BankStore must do: the DynamoDB adapter and the simulation's
 * in-memory store both run this suite. Each method is one atomic operation
 * with stated preconditions; a failed precondition raises a named error and
 * writes nothing.
 */
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  AccountLockedError,
  type BankStore,
  type Barrier,
  BarrierConflictError,
} from "../../src/participants/bank/bank-store.ts";

const T0 = 1_700_000_000_000;

/** Runs the suite; `store` may be shared between tests: each test uses its own server name. */
export function bankStoreContract(name: string, store: () => BankStore): void {
  describe(`BankStore contract: ${name}`, () => {
    const server = () => `s-${randomUUID().slice(0, 8)}`;
    const txId = () => `tx-${randomUUID()}`;

    /** Two accounts a (100) and b (50) on a fresh server, and a prepared-barrier draft moving 30 from a to b. */
    async function setup() {
      const s = server();
      const bank = store();
      const a = await bank.putAccount(s, "a", 100);
      const b = await bank.putAccount(s, "b", 50);
      const barrier: Barrier = {
        server: s,
        txId: txId(),
        state: "prepared",
        effects: [
          { account: "a", delta: -30, version: a.version },
          { account: "b", delta: 30, version: b.version },
        ],
        createdAt: T0,
        txStartedAt: T0 - 5,
      };
      return { s, bank, barrier };
    }

    const expectConflict = async (p: Promise<unknown>, barrierChanged: boolean) => {
      const err = await p.catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BarrierConflictError);
      expect((err as BarrierConflictError).barrierChanged).toBe(barrierChanged);
    };

    it("putAccount creates at version 1 and each reset bumps the version", async () => {
      const s = server();
      const bank = store();
      expect(await bank.getAccount(s, "a")).toBeUndefined();
      expect(await bank.putAccount(s, "a", 10)).toMatchObject({
        server: s,
        account: "a",
        balance: 10,
        version: 1,
      });
      expect(await bank.putAccount(s, "a", 20)).toMatchObject({ balance: 20, version: 2 });
      const read = await bank.getAccount(s, "a");
      expect(read).toMatchObject({ server: s, account: "a", balance: 20, version: 2 });
      expect(read?.lockedBy).toBeUndefined();
    });

    it("putAccount on a locked account throws AccountLockedError and changes nothing", async () => {
      const { s, bank, barrier } = await setup();
      await bank.prepare(barrier, T0);
      const err = await bank.putAccount(s, "a", 1).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AccountLockedError);
      expect((err as AccountLockedError).lockedBy).toBe(barrier.txId);
      expect(await bank.getAccount(s, "a")).toMatchObject({
        balance: 100,
        version: 1,
        lockedBy: barrier.txId,
      });
    });

    it("loadForPrepare returns the barrier, if any, and the accounts that exist", async () => {
      const { s, bank, barrier } = await setup();
      const before = await bank.loadForPrepare(s, barrier.txId, ["a", "b", "ghost"]);
      expect(before.barrier).toBeUndefined();
      expect([...before.accounts.keys()].sort()).toEqual(["a", "b"]);
      expect(before.accounts.get("a")).toMatchObject({ balance: 100, version: 1 });
      await bank.prepare(barrier, T0);
      const after = await bank.loadForPrepare(s, barrier.txId, ["a"]);
      expect(after.barrier).toMatchObject({ txId: barrier.txId, state: "prepared" });
      expect(after.accounts.get("a")?.lockedBy).toBe(barrier.txId);
    });

    it("prepare writes the prepared barrier and locks every account with the owner and its age", async () => {
      const { s, bank, barrier } = await setup();
      await bank.prepare(barrier, T0 + 1);
      expect(await bank.getBarrier(s, barrier.txId)).toMatchObject({
        state: "prepared",
        effects: barrier.effects,
        createdAt: T0,
        txStartedAt: T0 - 5,
      });
      for (const id of ["a", "b"]) {
        expect(await bank.getAccount(s, id)).toMatchObject({
          lockedBy: barrier.txId,
          lockedAt: T0 + 1,
          lockedByStartedAt: T0 - 5,
          version: 1,
        });
      }
    });

    it("prepare over an existing barrier is a conflict on the barrier and locks nothing", async () => {
      const { s, bank, barrier } = await setup();
      await bank.refuse({ ...barrier, state: "refused", effects: [], reason: "insufficient_funds" });
      await expectConflict(bank.prepare(barrier, T0), true);
      expect((await bank.getAccount(s, "a"))?.lockedBy).toBeUndefined();
      expect((await bank.getBarrier(s, barrier.txId))?.state).toBe("refused");
    });

    it("prepare at a stale account version writes nothing at all", async () => {
      const { s, bank, barrier } = await setup();
      await bank.putAccount(s, "b", 50);
      await expectConflict(bank.prepare(barrier, T0), false);
      expect(await bank.getBarrier(s, barrier.txId)).toBeUndefined();
      expect((await bank.getAccount(s, "a"))?.lockedBy).toBeUndefined();
    });

    it("prepare over an account locked by another transaction writes nothing", async () => {
      const { s, bank, barrier } = await setup();
      const other: Barrier = {
        ...barrier,
        txId: txId(),
        effects: [barrier.effects[1] as Barrier["effects"][number]],
      };
      await bank.prepare(other, T0);
      await expectConflict(bank.prepare(barrier, T0), false);
      expect(await bank.getBarrier(s, barrier.txId)).toBeUndefined();
      expect((await bank.getAccount(s, "a"))?.lockedBy).toBeUndefined();
      expect((await bank.getAccount(s, "b"))?.lockedBy).toBe(other.txId);
    });

    it("prepare of an account that does not exist writes nothing", async () => {
      const { s, bank, barrier } = await setup();
      const ghost: Barrier = {
        ...barrier,
        effects: [...barrier.effects, { account: "ghost", delta: 1, version: 0 }],
      };
      await expectConflict(bank.prepare(ghost, T0), false);
      expect(await bank.getBarrier(s, barrier.txId)).toBeUndefined();
      expect(await bank.getAccount(s, "ghost")).toBeUndefined();
    });

    it("refuse writes a refused barrier once; a second refuse is a conflict", async () => {
      const { s, bank, barrier } = await setup();
      const refused: Barrier = {
        ...barrier,
        state: "refused",
        effects: [],
        reason: "lock_conflict",
        failedBranch: 1,
      };
      await bank.refuse(refused);
      expect(await bank.getBarrier(s, barrier.txId)).toMatchObject({
        state: "refused",
        reason: "lock_conflict",
        failedBranch: 1,
      });
      await expectConflict(bank.refuse(refused), true);
    });

    it("commit applies every effect, bumps versions, unlocks and marks the barrier committed", async () => {
      const { s, bank, barrier } = await setup();
      await bank.prepare(barrier, T0);
      await bank.commit(barrier, T0 + 10);
      expect(await bank.getBarrier(s, barrier.txId)).toMatchObject({
        state: "committed",
        decidedAt: T0 + 10,
      });
      const a = await bank.getAccount(s, "a");
      const b = await bank.getAccount(s, "b");
      expect(a).toMatchObject({ balance: 70, version: 2 });
      expect(b).toMatchObject({ balance: 80, version: 2 });
      expect([a?.lockedBy, a?.lockedAt, a?.lockedByStartedAt, b?.lockedBy]).toEqual([
        undefined,
        undefined,
        undefined,
        undefined,
      ]);
    });

    it("commit or rollback of a barrier that is not prepared is a conflict and applies nothing", async () => {
      const { s, bank, barrier } = await setup();
      await expectConflict(bank.commit(barrier, T0), true);
      await bank.prepare(barrier, T0);
      await bank.commit(barrier, T0);
      await expectConflict(bank.commit(barrier, T0), true);
      await expectConflict(bank.rollback(barrier, T0), true);
      expect(await bank.getAccount(s, "a")).toMatchObject({ balance: 70, version: 2 });
      expect((await bank.getBarrier(s, barrier.txId))?.state).toBe("committed");
    });

    it("commit whose locks are not the barrier's is a conflict and applies nothing", async () => {
      const { s, bank, barrier } = await setup();
      await bank.prepare({ ...barrier, effects: [barrier.effects[0] as Barrier["effects"][number]] }, T0);
      await expectConflict(bank.commit(barrier, T0), false);
      expect((await bank.getBarrier(s, barrier.txId))?.state).toBe("prepared");
      expect(await bank.getAccount(s, "a")).toMatchObject({
        balance: 100,
        version: 1,
        lockedBy: barrier.txId,
      });
      expect(await bank.getAccount(s, "b")).toMatchObject({ balance: 50, version: 1 });
    });

    it("rollback unlocks without applying and marks the barrier rolled_back", async () => {
      const { s, bank, barrier } = await setup();
      await bank.prepare(barrier, T0);
      await bank.rollback(barrier, T0 + 7);
      expect(await bank.getBarrier(s, barrier.txId)).toMatchObject({
        state: "rolled_back",
        decidedAt: T0 + 7,
      });
      const a = await bank.getAccount(s, "a");
      expect(a).toMatchObject({ balance: 100, version: 1 });
      expect(a?.lockedBy).toBeUndefined();
    });

    it("rollbackUnprepared writes a rolled_back barrier where none exists, so a late prepare conflicts", async () => {
      const { s, bank, barrier } = await setup();
      await bank.rollbackUnprepared(s, barrier.txId, T0 + 3);
      expect(await bank.getBarrier(s, barrier.txId)).toMatchObject({
        state: "rolled_back",
        effects: [],
        decidedAt: T0 + 3,
      });
      await expectConflict(bank.prepare(barrier, T0 + 4), true);
      await expectConflict(bank.rollbackUnprepared(s, barrier.txId, T0 + 5), true);
      expect((await bank.getAccount(s, "a"))?.lockedBy).toBeUndefined();
    });

    it("preparedBefore lists this server's barriers prepared before the time, and only while prepared", async () => {
      const { s, bank, barrier } = await setup();
      await bank.prepare(barrier, T0 + 100);
      const early = await bank.putAccount(s, "c", 5);
      const second: Barrier = {
        ...barrier,
        txId: txId(),
        effects: [{ account: "c", delta: 1, version: early.version }],
      };
      await bank.prepare(second, T0 + 500);
      const ids = async (before: number) =>
        (await bank.preparedBefore(s, before, 10)).map((b) => b.txId).sort();
      expect(await ids(T0 + 100)).toEqual([]);
      expect(await ids(T0 + 101)).toEqual([barrier.txId]);
      expect(await ids(T0 + 501)).toEqual([barrier.txId, second.txId].sort());
      expect(await bank.preparedBefore(s, T0 + 501, 1)).toHaveLength(1);
      expect(await bank.preparedBefore(server(), T0 + 501, 10)).toEqual([]);
      await bank.commit(barrier, T0 + 600);
      expect(await ids(T0 + 1_000)).toEqual([second.txId]);
      expect((await bank.preparedBefore(s, T0 + 1_000, 10))[0]).toMatchObject({
        state: "prepared",
        server: s,
      });
    });
  });
}
