/**
 * What every ParticipantStore must do: the DynamoDB adapter and the in-memory
 * store (the simulation's, and the one a team can unit-test with) both run this
 * suite. Each write is one atomic operation with stated preconditions; a failed
 * precondition raises a named error and writes nothing.
 */
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import * as z from "zod";
import type { Barrier, StepBarrier } from "../../src/participant-kit/barriers.ts";
import {
  BarrierConflictError,
  ResourceLockedError,
  ResourceReservedError,
} from "../../src/participant-kit/errors.ts";
import type { ParticipantStore } from "../../src/participant-kit/participant-store.ts";
import { accept, defineModel, type ResourceModel } from "../../src/participant-kit/resource-model.ts";

const T0 = 1_700_000_000_000;

/** A resource with a required and an optional attribute; the store never runs its action. */
const counterState = z.object({ count: z.number().int(), note: z.string().optional() });
export type CounterState = z.infer<typeof counterState>;
export const counterModel: ResourceModel<CounterState> = defineModel({
  kind: "counter",
  state: counterState,
  // `count` is a quantity: planned moves on it are held (escrow), planned states lock.
  quantities: { count: { insufficient: "insufficient_count", overflow: "count_overflow" } },
  actions: (action) => ({
    add: action({
      input: z.object({ id: z.string(), by: z.number().int() }),
      touches: (i) => [i.id],
      apply: (i, r) => accept({ id: i.id, state: { count: (r.get(i.id).state?.count ?? 0) + i.by } }),
    }),
  }),
});

type Store = ParticipantStore<CounterState>;
type CounterBarrier = Barrier<CounterState>;

/** How the backend keeps barriers: the retention it was built with, and its TTL deletion. */
export interface Expiry {
  readonly retentionSeconds: number;
  /** Deletes what DynamoDB's TTL may delete at `now` (`expiresAt` at or before it) of this participant. */
  expire(participant: string, now: number): Promise<void>;
}

/** Runs the suite; `store` may be shared between tests: each test uses its own participant name. */
export function participantStoreContract(name: string, store: () => Store, expiry: Expiry): void {
  const expiresFrom = (now: number) => Math.ceil(now / 1000) + expiry.retentionSeconds;
  /** Far past any retention: whatever may expire has. */
  const muchLater = T0 + 1_000 * expiry.retentionSeconds * 10;
  describe(`ParticipantStore contract: ${name}`, () => {
    const participant = () => `p-${randomUUID().slice(0, 8)}`;
    const txId = () => `tx-${randomUUID()}`;

    /** Counters a (100) and b (50) of a fresh participant, and a prepared-barrier draft moving 30 from a to b. */
    async function setup() {
      const p = participant();
      const s = store();
      const a = await s.putResource(p, "a", { count: 100 });
      const b = await s.putResource(p, "b", { count: 50 });
      const barrier: CounterBarrier = {
        participant: p,
        txId: txId(),
        state: "prepared",
        planned: [
          { id: "a", version: a.version, next: { count: 70 } },
          { id: "b", version: b.version, next: { count: 80 } },
        ],
        branches: [0, 1],
        createdAt: T0,
        txStartedAt: T0 - 5,
      };
      return { p, s, barrier };
    }

    const expectConflict = async (promise: Promise<unknown>, barrierChanged: boolean) => {
      const err = await promise.catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BarrierConflictError);
      expect((err as BarrierConflictError).barrierChanged).toBe(barrierChanged);
    };

    describe("resources", () => {
      it("putResource creates at version 1, each reset bumps the version and replaces the state", async () => {
        const p = participant();
        const s = store();
        expect(await s.getResource(p, "a")).toBeUndefined();
        expect(await s.putResource(p, "a", { count: 10, note: "first" })).toEqual({
          id: "a",
          version: 1,
          state: { count: 10, note: "first" },
        });
        expect(await s.putResource(p, "a", { count: 20 })).toEqual({
          id: "a",
          version: 2,
          state: { count: 20 },
        });
        expect(await s.getResource(p, "a")).toEqual({ id: "a", version: 2, state: { count: 20 } });
      });

      it("putResource on a locked resource throws ResourceLockedError and changes nothing", async () => {
        const { p, s, barrier } = await setup();
        await s.prepare(barrier, T0);
        const err = await s.putResource(p, "a", { count: 1 }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ResourceLockedError);
        expect((err as ResourceLockedError).lockedBy).toBe(barrier.txId);
        expect(await s.getResource(p, "a")).toMatchObject({
          state: { count: 100 },
          version: 1,
          lockedBy: barrier.txId,
        });
      });

      it("participants sharing a store never see each other's resources", async () => {
        const s = store();
        const [p, q] = [participant(), participant()];
        await s.putResource(p, "a", { count: 1 });
        expect(await s.getResource(q, "a")).toBeUndefined();
      });
    });

    describe("2PC barriers", () => {
      it("loadForPrepare returns the barrier, if any, and the resources that exist", async () => {
        const { p, s, barrier } = await setup();
        const before = await s.loadForPrepare(p, barrier.txId, ["a", "b", "ghost"]);
        expect(before.barrier).toBeUndefined();
        expect([...before.resources.keys()].sort()).toEqual(["a", "b"]);
        expect(before.resources.get("a")).toMatchObject({ state: { count: 100 }, version: 1 });
        await s.prepare(barrier, T0);
        const after = await s.loadForPrepare(p, barrier.txId, ["a"]);
        expect(after.barrier).toMatchObject({ txId: barrier.txId, state: "prepared", branches: [0, 1] });
        expect(after.resources.get("a")?.lockedBy).toBe(barrier.txId);
      });

      it("prepare writes the prepared barrier and locks every resource with the owner and its age", async () => {
        const { p, s, barrier } = await setup();
        await s.prepare(barrier, T0 + 1);
        expect(await s.getBarrier(p, barrier.txId)).toEqual({
          participant: p,
          txId: barrier.txId,
          state: "prepared",
          planned: barrier.planned,
          branches: [0, 1],
          createdAt: T0,
          txStartedAt: T0 - 5,
        });
        for (const id of ["a", "b"]) {
          expect(await s.getResource(p, id)).toMatchObject({
            lockedBy: barrier.txId,
            lockedAt: T0 + 1,
            lockedByStartedAt: T0 - 5,
            version: 1,
          });
        }
      });

      it("a restarted transaction's lock names its attempt, which a waiter reports; the release clears it", async () => {
        const { p, s, barrier } = await setup();
        const second: CounterBarrier = { ...barrier, attempt: 2 };
        await s.prepare(second, T0 + 1);
        for (const id of ["a", "b"]) {
          expect(await s.getResource(p, id)).toMatchObject({ lockedBy: barrier.txId, lockedByAttempt: 2 });
        }
        await s.rollback(second, T0 + 2);
        const released = await s.getResource(p, "a");
        expect(released?.lockedBy).toBeUndefined();
        expect(released?.lockedByAttempt).toBeUndefined();
        // A first attempt's lock names none (absent: the first).
        await s.prepare({ ...barrier, txId: txId() }, T0 + 3);
        expect((await s.getResource(p, "b"))?.lockedByAttempt).toBeUndefined();
      });

      it("prepare over an existing barrier is a conflict on the barrier and locks nothing", async () => {
        const { p, s, barrier } = await setup();
        await s.refuse({ ...barrier, state: "refused", planned: [], reason: "insufficient_funds" });
        await expectConflict(s.prepare(barrier, T0), true);
        expect((await s.getResource(p, "a"))?.lockedBy).toBeUndefined();
        expect((await s.getBarrier(p, barrier.txId))?.state).toBe("refused");
      });

      it("prepare at a stale version writes nothing at all", async () => {
        const { p, s, barrier } = await setup();
        await s.putResource(p, "b", { count: 50 });
        await expectConflict(s.prepare(barrier, T0), false);
        expect(await s.getBarrier(p, barrier.txId)).toBeUndefined();
        expect((await s.getResource(p, "a"))?.lockedBy).toBeUndefined();
      });

      it("prepare over a resource locked by another transaction writes nothing", async () => {
        const { p, s, barrier } = await setup();
        const other: CounterBarrier = { ...barrier, txId: txId(), planned: barrier.planned.slice(1) };
        await s.prepare(other, T0);
        await expectConflict(s.prepare(barrier, T0), false);
        expect(await s.getBarrier(p, barrier.txId)).toBeUndefined();
        expect((await s.getResource(p, "a"))?.lockedBy).toBeUndefined();
        expect((await s.getResource(p, "b"))?.lockedBy).toBe(other.txId);
      });

      it("prepare of a resource that is gone (planned at a version it never had) writes nothing", async () => {
        const { p, s, barrier } = await setup();
        const ghost: CounterBarrier = {
          ...barrier,
          planned: [...barrier.planned, { id: "ghost", version: 3, next: { count: 1 } }],
        };
        await expectConflict(s.prepare(ghost, T0), false);
        expect(await s.getBarrier(p, barrier.txId)).toBeUndefined();
        expect(await s.getResource(p, "ghost")).toBeUndefined();
      });

      it("a resource the transaction creates is locked as a placeholder, created by commit", async () => {
        const { p, s, barrier } = await setup();
        const creating: CounterBarrier = {
          ...barrier,
          planned: [{ id: "new", version: 0, next: { count: 7 } }],
        };
        await s.prepare(creating, T0);
        expect(await s.getResource(p, "new")).toEqual({
          id: "new",
          version: 0,
          lockedBy: barrier.txId,
          lockedAt: T0,
          lockedByStartedAt: T0 - 5,
        });
        // A second transaction creating it meets the lock.
        await expectConflict(s.prepare({ ...creating, txId: txId() }, T0), false);
        await expect(s.putResource(p, "new", { count: 1 })).rejects.toBeInstanceOf(ResourceLockedError);
        await s.commit(creating, T0 + 1);
        expect(await s.getResource(p, "new")).toEqual({ id: "new", version: 1, state: { count: 7 } });
      });

      it("rollback of a creation drops the placeholder", async () => {
        const { p, s, barrier } = await setup();
        const creating: CounterBarrier = {
          ...barrier,
          planned: [{ id: "new", version: 0, next: { count: 7 } }],
        };
        await s.prepare(creating, T0);
        await s.rollback(creating, T0 + 1);
        expect(await s.getResource(p, "new")).toBeUndefined();
        expect((await s.getBarrier(p, barrier.txId))?.state).toBe("rolled_back");
      });

      it("a resource planned without a next state is locked, then unlocked unchanged by commit", async () => {
        const { p, s, barrier } = await setup();
        const reading: CounterBarrier = {
          ...barrier,
          planned: [
            { id: "a", version: 1 },
            { id: "absent", version: 0 },
            barrier.planned[1] ?? { id: "b", version: 1 },
          ],
        };
        await s.prepare(reading, T0);
        expect((await s.getResource(p, "a"))?.lockedBy).toBe(barrier.txId);
        expect((await s.getResource(p, "absent"))?.lockedBy).toBe(barrier.txId);
        await s.commit(reading, T0 + 1);
        expect(await s.getResource(p, "a")).toEqual({ id: "a", version: 1, state: { count: 100 } });
        expect(await s.getResource(p, "absent")).toBeUndefined();
        expect(await s.getResource(p, "b")).toEqual({ id: "b", version: 2, state: { count: 80 } });
      });

      it("refuse writes a refused barrier once; a second refuse is a conflict", async () => {
        const { p, s, barrier } = await setup();
        const refused: CounterBarrier = {
          ...barrier,
          state: "refused",
          planned: [],
          reason: "lock_conflict",
          failedBranch: 1,
        };
        await s.refuse(refused);
        expect(await s.getBarrier(p, barrier.txId)).toMatchObject({
          state: "refused",
          reason: "lock_conflict",
          failedBranch: 1,
        });
        await expectConflict(s.refuse(refused), true);
      });

      it("commit sets every next state, bumps versions, unlocks and marks the barrier committed", async () => {
        const { p, s, barrier } = await setup();
        await s.prepare(barrier, T0);
        await s.commit(barrier, T0 + 10);
        expect(await s.getBarrier(p, barrier.txId)).toMatchObject({ state: "committed", decidedAt: T0 + 10 });
        expect(await s.getResource(p, "a")).toEqual({ id: "a", version: 2, state: { count: 70 } });
        expect(await s.getResource(p, "b")).toEqual({ id: "b", version: 2, state: { count: 80 } });
      });

      it("commit removes a state attribute the next state does not have", async () => {
        const p = participant();
        const s = store();
        const a = await s.putResource(p, "a", { count: 1, note: "old" });
        const barrier: CounterBarrier = {
          participant: p,
          txId: txId(),
          state: "prepared",
          planned: [{ id: "a", version: a.version, next: { count: 2 } }],
          createdAt: T0,
        };
        await s.prepare(barrier, T0);
        await s.commit(barrier, T0);
        expect(await s.getResource(p, "a")).toEqual({ id: "a", version: 2, state: { count: 2 } });
      });

      it("commit or rollback of a barrier that is not prepared is a conflict and applies nothing", async () => {
        const { p, s, barrier } = await setup();
        await expectConflict(s.commit(barrier, T0), true);
        await s.prepare(barrier, T0);
        await s.commit(barrier, T0);
        await expectConflict(s.commit(barrier, T0), true);
        await expectConflict(s.rollback(barrier, T0), true);
        expect(await s.getResource(p, "a")).toMatchObject({ state: { count: 70 }, version: 2 });
        expect((await s.getBarrier(p, barrier.txId))?.state).toBe("committed");
      });

      it("commit or rollback names the incarnation and attempt it decides: another's prepared barrier is a conflict", async () => {
        // A decision may be written from a copy of the barrier remembered since its PREPARE:
        // the store, not the copy, says whether that barrier is still the one prepared.
        const { p, s, barrier } = await setup();
        await s.prepare(barrier, T0);
        const otherIncarnation = { ...barrier, txStartedAt: (barrier.txStartedAt ?? 0) + 1 };
        await expectConflict(s.commit(otherIncarnation, T0), true);
        await expectConflict(s.rollback(otherIncarnation, T0), true);
        await expectConflict(s.commit({ ...barrier, attempt: 1 }, T0), true);
        await expectConflict(s.rollback({ ...barrier, attempt: 1 }, T0), true);
        expect((await s.getBarrier(p, barrier.txId))?.state).toBe("prepared");
        expect(await s.getResource(p, "a")).toMatchObject({
          state: { count: 100 },
          version: 1,
          lockedBy: barrier.txId,
        });
        await s.commit(barrier, T0 + 1);
        expect(await s.getResource(p, "a")).toEqual({ id: "a", version: 2, state: { count: 70 } });
      });

      it("a late decision of an earlier attempt never releases a later attempt's reservations", async () => {
        const { p, s, barrier } = await setup();
        const later: CounterBarrier = {
          ...barrier,
          attempt: 2,
          planned: [{ id: "a", version: 1, moves: { count: -30 } }],
        };
        await s.prepare(later, T0);
        const { attempt: _a, ...first } = later;
        await expectConflict(s.rollback(first, T0 + 1), true);
        await expectConflict(s.rollback({ ...later, attempt: 1 }, T0 + 1), true);
        expect((await s.getResource(p, "a"))?.holds).toEqual({ count: { reserved: 30, pending: 0 } });
        await s.rollback(later, T0 + 2);
        expect((await s.getResource(p, "a"))?.holds).toBeUndefined();
      });

      it("commit whose locks are not the barrier's is a conflict and applies nothing", async () => {
        const { p, s, barrier } = await setup();
        await s.prepare({ ...barrier, planned: barrier.planned.slice(0, 1) }, T0);
        await expectConflict(s.commit(barrier, T0), false);
        expect((await s.getBarrier(p, barrier.txId))?.state).toBe("prepared");
        expect(await s.getResource(p, "a")).toMatchObject({
          state: { count: 100 },
          version: 1,
          lockedBy: barrier.txId,
        });
        expect(await s.getResource(p, "b")).toEqual({ id: "b", version: 1, state: { count: 50 } });
      });

      it("rollback unlocks without applying and marks the barrier rolled_back", async () => {
        const { p, s, barrier } = await setup();
        await s.prepare(barrier, T0);
        await s.rollback(barrier, T0 + 7);
        expect(await s.getBarrier(p, barrier.txId)).toMatchObject({
          state: "rolled_back",
          decidedAt: T0 + 7,
        });
        expect(await s.getResource(p, "a")).toEqual({ id: "a", version: 1, state: { count: 100 } });
      });

      it("rollbackUnprepared writes a rolled_back barrier where none exists, so a late prepare conflicts", async () => {
        const { p, s, barrier } = await setup();
        await s.rollbackUnprepared(p, barrier.txId, T0 + 3);
        expect(await s.getBarrier(p, barrier.txId)).toMatchObject({
          state: "rolled_back",
          planned: [],
          decidedAt: T0 + 3,
        });
        await expectConflict(s.prepare(barrier, T0 + 4), true);
        await expectConflict(s.rollbackUnprepared(p, barrier.txId, T0 + 5), true);
        expect((await s.getResource(p, "a"))?.lockedBy).toBeUndefined();
      });

      it("preparedBefore lists this participant's barriers prepared before the time, and only while prepared", async () => {
        const { p, s, barrier } = await setup();
        await s.prepare(barrier, T0 + 100);
        const c = await s.putResource(p, "c", { count: 5 });
        const second: CounterBarrier = {
          ...barrier,
          txId: txId(),
          planned: [{ id: "c", version: c.version, next: { count: 6 } }],
        };
        await s.prepare(second, T0 + 500);
        const ids = async (before: number) =>
          (await s.preparedBefore(p, before, 10)).map((b) => b.txId).sort();
        expect(await ids(T0 + 100)).toEqual([]);
        expect(await ids(T0 + 101)).toEqual([barrier.txId]);
        expect(await ids(T0 + 501)).toEqual([barrier.txId, second.txId].sort());
        expect(await s.preparedBefore(p, T0 + 501, 1)).toHaveLength(1);
        expect(await s.preparedBefore(participant(), T0 + 501, 10)).toEqual([]);
        await s.commit(barrier, T0 + 600);
        expect(await ids(T0 + 1_000)).toEqual([second.txId]);
        expect((await s.preparedBefore(p, T0 + 1_000, 10))[0]).toMatchObject({
          state: "prepared",
          participant: p,
        });
      });
    });

    describe("restarted attempts: a later attempt's barrier replaces only an earlier one that holds nothing", () => {
      it("a later attempt prepares over an earlier attempt's rolled_back or refused barrier, never over its own", async () => {
        const { p, s, barrier } = await setup();
        await s.rollbackUnprepared(p, barrier.txId, T0, barrier.txStartedAt);
        await s.prepare({ ...barrier, attempt: 1 }, T0 + 1);
        expect(await s.getBarrier(p, barrier.txId)).toMatchObject({ state: "prepared", attempt: 1 });
        await s.rollback({ ...barrier, attempt: 1 }, T0 + 2);
        // The same attempt again: a conflict, whatever the barrier's state.
        await expectConflict(s.prepare({ ...barrier, attempt: 1 }, T0 + 3), true);
        await expectConflict(s.rollbackUnprepared(p, barrier.txId, T0 + 3, barrier.txStartedAt, 1), true);
        await s.refuse({ ...barrier, state: "refused", planned: [], reason: "lock_conflict", attempt: 2 });
        await s.rollbackUnprepared(p, barrier.txId, T0 + 4, barrier.txStartedAt, 3);
        expect(await s.getBarrier(p, barrier.txId)).toMatchObject({ state: "rolled_back", attempt: 3 });
        // An earlier attempt never replaces a later one's.
        await expectConflict(s.prepare({ ...barrier, attempt: 2 }, T0 + 5), true);
        expect((await s.getResource(p, "a"))?.lockedBy).toBeUndefined();
      });

      it("a later attempt never replaces an earlier one that still holds its locks", async () => {
        const { p, s, barrier } = await setup();
        await s.prepare(barrier, T0);
        await expectConflict(s.prepare({ ...barrier, attempt: 1 }, T0 + 1), true);
        await expectConflict(s.rollbackUnprepared(p, barrier.txId, T0 + 1, barrier.txStartedAt, 1), true);
        expect(await s.getBarrier(p, barrier.txId)).toMatchObject({ state: "prepared" });
        expect((await s.getBarrier(p, barrier.txId))?.attempt).toBeUndefined();
      });
    });

    describe("waiters: registered on a lock, taken when its holder releases it", () => {
      it("registers only while the holder still holds the lock", async () => {
        const { p, s, barrier } = await setup();
        const waiter = { txId: txId(), startedAt: T0 - 10 };
        expect(await s.addWaiter(p, "a", barrier.txId, waiter)).toBe(false);
        await s.prepare(barrier, T0);
        expect(await s.addWaiter(p, "a", "someone-else", waiter)).toBe(false);
        expect(await s.addWaiter(p, "a", barrier.txId, waiter)).toBe(true);
        await s.rollback(barrier, T0 + 1);
        // Released: a registration now would never be woken, so it is refused.
        expect(await s.addWaiter(p, "a", barrier.txId, { txId: txId(), startedAt: T0 })).toBe(false);
        expect(await s.takeWaiters(p, ["a", "b"], barrier.txId)).toEqual([waiter.txId]);
      });

      it("takes the holder's waiters once, oldest first, and leaves one that waits for a later holder", async () => {
        const { p, s, barrier } = await setup();
        await s.prepare(barrier, T0);
        const young = { txId: txId(), startedAt: T0 - 1 };
        const old = { txId: txId(), startedAt: T0 - 9 };
        const later = { txId: txId(), startedAt: T0 - 5 };
        expect(await s.addWaiter(p, "a", barrier.txId, young)).toBe(true);
        expect(await s.addWaiter(p, "b", barrier.txId, old)).toBe(true);
        await s.rollback(barrier, T0 + 1);
        const next = { ...barrier, txId: txId() };
        await s.prepare(next, T0 + 2);
        expect(await s.addWaiter(p, "a", next.txId, later)).toBe(true);
        expect(await s.takeWaiters(p, ["a", "b"], barrier.txId)).toEqual([old.txId, young.txId]);
        expect(await s.takeWaiters(p, ["a", "b"], barrier.txId)).toEqual([]);
        await s.rollback(next, T0 + 3);
        expect(await s.takeWaiters(p, ["a", "b"], next.txId)).toEqual([later.txId]);
        expect(await s.getResource(p, "a")).toEqual({ id: "a", version: 1, state: { count: 100 } });
      });
    });

    describe("reservations (escrow): held at prepare, applied at commit, never past what is available", () => {
      /** A barrier holding `moves` on counters of `p`, without a lock. */
      const holding = (p: string, moves: Record<string, number>): CounterBarrier => ({
        participant: p,
        txId: txId(),
        state: "prepared",
        planned: Object.entries(moves).map(([id, count]) => ({ id, version: 1, moves: { count } })),
        createdAt: T0,
        txStartedAt: T0,
      });

      it("prepares on one resource at once reserve debits and record credits, without a lock or a new version", async () => {
        const { p, s } = await setup();
        const [t1, t2, t3] = [holding(p, { a: -60, b: 5 }), holding(p, { a: -40 }), holding(p, { a: 7 })];
        for (const t of [t1, t2, t3]) await s.prepare(t, T0);
        expect(await s.getResource(p, "a")).toEqual({
          id: "a",
          version: 1,
          state: { count: 100 },
          holds: { count: { reserved: 100, pending: 7 } },
        });
        expect(await s.getResource(p, "b")).toEqual({
          id: "b",
          version: 1,
          state: { count: 50 },
          holds: { count: { reserved: 0, pending: 5 } },
        });
        // Nothing is left to take from a, whatever its pending credit: a fourth debit writes nothing.
        const t4 = holding(p, { a: -1 });
        await expectConflict(s.prepare(t4, T0), false);
        expect(await s.getBarrier(p, t4.txId)).toBeUndefined();
      });

      it("commits in any order apply each move once and release its hold; rollback only releases", async () => {
        const { p, s } = await setup();
        const [t1, t2, t3] = [holding(p, { a: -60, b: 60 }), holding(p, { a: -40 }), holding(p, { a: 25 })];
        for (const t of [t1, t2, t3]) await s.prepare(t, T0);
        await s.commit(t2, T0 + 1);
        await s.rollback(t3, T0 + 2);
        await s.commit(t1, T0 + 3);
        // A decision delivered again changes nothing.
        await expectConflict(s.commit(t1, T0 + 4), true);
        await expectConflict(s.rollback(t2, T0 + 4), true);
        expect(await s.getResource(p, "a")).toEqual({ id: "a", version: 3, state: { count: 0 } });
        expect(await s.getResource(p, "b")).toEqual({ id: "b", version: 2, state: { count: 110 } });
        expect((await s.getBarrier(p, t3.txId))?.state).toBe("rolled_back");
      });

      it("a lock waits for holds to go, and a hold for a lock: neither is taken over the other", async () => {
        const { p, s, barrier } = await setup();
        const held = holding(p, { a: -1 });
        await s.prepare(held, T0);
        await expectConflict(s.prepare(barrier, T0), false);
        expect((await s.getResource(p, "b"))?.lockedBy).toBeUndefined();
        await s.commit(held, T0);
        const locked: CounterBarrier = { ...barrier, planned: [{ id: "b", version: 1, next: { count: 1 } }] };
        await s.prepare(locked, T0);
        await expectConflict(s.prepare(holding(p, { b: 1 }), T0), false);
        await expectConflict(
          s.writeStep(
            { participant: p, txId: txId(), branch: 0, state: "done", txStartedAt: T0, createdAt: T0 },
            undefined,
            [{ id: "b", version: 1, moves: { count: -1 } }],
            T0,
          ),
          false,
        );
        expect(await s.getResource(p, "b")).toMatchObject({ state: { count: 50 }, lockedBy: barrier.txId });
      });

      it("a hold on a resource that does not exist writes nothing", async () => {
        const { p, s } = await setup();
        const ghost = holding(p, { ghost: 5 });
        await expectConflict(s.prepare(ghost, T0), false);
        expect(await s.getResource(p, "ghost")).toBeUndefined();
        expect(await s.getBarrier(p, ghost.txId)).toBeUndefined();
      });

      it("credits never promise past a safe integer, counting the pending ones", async () => {
        const { p, s } = await setup();
        const half = Math.floor((Number.MAX_SAFE_INTEGER - 100) / 2);
        await s.prepare(holding(p, { a: half }), T0);
        await s.prepare(holding(p, { a: half }), T0);
        await expectConflict(s.prepare(holding(p, { a: 2 }), T0), false);
        expect((await s.getResource(p, "a"))?.holds).toEqual({ count: { reserved: 0, pending: 2 * half } });
      });

      it("a reset of a resource that holds anything is refused", async () => {
        const { p, s } = await setup();
        const held = holding(p, { a: 3 });
        await s.prepare(held, T0);
        await expect(s.putResource(p, "a", { count: 1 })).rejects.toBeInstanceOf(ResourceReservedError);
        await s.rollback(held, T0);
        expect(await s.putResource(p, "a", { count: 1 })).toEqual({
          id: "a",
          version: 2,
          state: { count: 1 },
        });
      });

      it("a saga step moves at once, never taking what is reserved", async () => {
        const { p, s } = await setup();
        await s.prepare(holding(p, { a: -70 }), T0);
        const stepOf = (branch: number): StepBarrier => ({
          participant: p,
          txId: txId(),
          branch,
          state: "done",
          txStartedAt: T0,
          createdAt: T0,
        });
        const over = stepOf(0);
        await expectConflict(
          s.writeStep(over, undefined, [{ id: "a", version: 1, moves: { count: -31 } }], T0),
          false,
        );
        expect(await s.getStep(p, over.txId, 0)).toBeUndefined();
        await s.writeStep(stepOf(1), undefined, [{ id: "a", version: 1, moves: { count: -30 } }], T0);
        await s.writeStep(stepOf(2), undefined, [{ id: "b", version: 1, moves: { count: 5 } }], T0);
        expect(await s.getResource(p, "a")).toEqual({
          id: "a",
          version: 2,
          state: { count: 70 },
          holds: { count: { reserved: 70, pending: 0 } },
        });
        expect(await s.getResource(p, "b")).toEqual({ id: "b", version: 2, state: { count: 55 } });
      });
    });

    describe("one-phase commit: the branches and a committed barrier in one write", () => {
      const committedDraft = (barrier: CounterBarrier): CounterBarrier => ({
        ...barrier,
        state: "committed",
        onePhase: true,
        decidedAt: T0 + 1,
      });

      it("applies every planned state and writes the barrier committed, locking nothing", async () => {
        const { p, s, barrier } = await setup();
        const one = committedDraft(barrier);
        await s.commitOnePhase(one, T0 + 1);
        expect(await s.getResource(p, "a")).toEqual({ id: "a", version: 2, state: { count: 70 } });
        expect(await s.getResource(p, "b")).toEqual({ id: "b", version: 2, state: { count: 80 } });
        expect(await s.getBarrier(p, one.txId)).toMatchObject({
          state: "committed",
          onePhase: true,
          branches: [0, 1],
          txStartedAt: T0 - 5,
          expiresAt: expiresFrom(T0 + 1),
        });
        // Final when written: never in doubt.
        expect(await s.preparedBefore(p, T0 + 1_000, 10)).toEqual([]);
      });

      it("applies moves at once, never taking what is reserved", async () => {
        const { p, s } = await setup();
        const held: CounterBarrier = {
          participant: p,
          txId: txId(),
          state: "prepared",
          planned: [{ id: "a", version: 1, moves: { count: -70 } }],
          createdAt: T0,
          txStartedAt: T0,
        };
        await s.prepare(held, T0);
        const moving = (count: number): CounterBarrier => ({
          participant: p,
          txId: txId(),
          state: "committed",
          onePhase: true,
          planned: [
            { id: "a", version: 1, moves: { count } },
            { id: "b", version: 1, moves: { count: -count } },
          ],
          createdAt: T0,
          txStartedAt: T0,
          decidedAt: T0,
        });
        const over = moving(-31);
        await expectConflict(s.commitOnePhase(over, T0), false);
        expect(await s.getBarrier(p, over.txId)).toBeUndefined();
        await s.commitOnePhase(moving(-30), T0);
        expect(await s.getResource(p, "a")).toEqual({
          id: "a",
          version: 2,
          state: { count: 70 },
          holds: { count: { reserved: 70, pending: 0 } },
        });
        expect(await s.getResource(p, "b")).toEqual({ id: "b", version: 2, state: { count: 80 } });
      });

      it("over an existing barrier (a ROLLBACK came first) is a conflict on the barrier and applies nothing", async () => {
        const { p, s, barrier } = await setup();
        await s.rollbackUnprepared(p, barrier.txId, T0, barrier.txStartedAt);
        await expectConflict(s.commitOnePhase(committedDraft(barrier), T0 + 1), true);
        expect(await s.getResource(p, "a")).toEqual({ id: "a", version: 1, state: { count: 100 } });
        expect((await s.getBarrier(p, barrier.txId))?.state).toBe("rolled_back");
        // And the other way round: once committed, a ROLLBACK finds the barrier.
        const { p: q, s: t, barrier: other } = await setup();
        await t.commitOnePhase(committedDraft(other), T0 + 1);
        await expectConflict(t.rollbackUnprepared(q, other.txId, T0 + 2), true);
        await expectConflict(t.commitOnePhase(committedDraft(other), T0 + 3), true);
        expect(await t.getResource(q, "a")).toEqual({ id: "a", version: 2, state: { count: 70 } });
      });

      it("at a stale version, or over another transaction's lock, writes nothing at all", async () => {
        const { p, s, barrier } = await setup();
        await s.putResource(p, "b", { count: 51 });
        await expectConflict(s.commitOnePhase(committedDraft(barrier), T0), false);
        expect(await s.getBarrier(p, barrier.txId)).toBeUndefined();
        expect(await s.getResource(p, "a")).toEqual({ id: "a", version: 1, state: { count: 100 } });
        const locker: CounterBarrier = {
          ...barrier,
          txId: txId(),
          planned: [{ id: "a", version: 1, next: { count: 1 } }],
        };
        await s.prepare(locker, T0);
        const fresh = { ...barrier, planned: [{ id: "a", version: 1, next: { count: 99 } }] };
        await expectConflict(s.commitOnePhase(committedDraft(fresh), T0), false);
        expect(await s.getResource(p, "a")).toMatchObject({ state: { count: 100 }, lockedBy: locker.txId });
      });
    });

    describe("saga step barriers", () => {
      const step = (
        p: string,
        tx: string,
        state: StepBarrier["state"],
        extra: Partial<StepBarrier> = {},
      ) => ({
        participant: p,
        txId: tx,
        branch: 2,
        state,
        action: "add",
        txStartedAt: T0 - 5,
        createdAt: T0,
        ...extra,
      });

      it("writeStep writes the step barrier and the new states at once; a second first write conflicts", async () => {
        const { p, s } = await setup();
        const tx = txId();
        await s.writeStep(
          step(p, tx, "done"),
          undefined,
          [
            { id: "a", version: 1, next: { count: 90 } },
            { id: "made", version: 0, next: { count: 1 } },
            { id: "b", version: 1 },
          ],
          T0,
        );
        expect(await s.getStep(p, tx, 2)).toEqual(step(p, tx, "done"));
        expect(await s.getStep(p, tx, 3)).toBeUndefined();
        expect(await s.getResource(p, "a")).toEqual({ id: "a", version: 2, state: { count: 90 } });
        expect(await s.getResource(p, "made")).toEqual({ id: "made", version: 1, state: { count: 1 } });
        expect(await s.getResource(p, "b")).toEqual({ id: "b", version: 1, state: { count: 50 } });
        await expectConflict(s.writeStep(step(p, tx, "failed"), undefined, [], T0), true);
        await expectConflict(
          s.writeStep(step(p, tx, "done"), undefined, [{ id: "a", version: 2, next: { count: 0 } }], T0),
          true,
        );
        expect(await s.getResource(p, "a")).toMatchObject({ version: 2, state: { count: 90 } });
      });

      it("writeStep at a stale version, over a lock, or creating what exists writes nothing", async () => {
        const { p, s, barrier } = await setup();
        await s.prepare({ ...barrier, planned: barrier.planned.slice(1) }, T0);
        const tx = txId();
        for (const planned of [
          [{ id: "a", version: 9, next: { count: 1 } }],
          [{ id: "b", version: 1, next: { count: 1 } }],
          [{ id: "a", version: 0, next: { count: 1 } }],
          [{ id: "b", version: 1 }],
          [
            { id: "a", version: 1, next: { count: 1 } },
            { id: "a2", version: 3 },
          ],
        ]) {
          await expectConflict(s.writeStep(step(p, tx, "done"), undefined, planned, T0), false);
        }
        expect(await s.getStep(p, tx, 2)).toBeUndefined();
        expect(await s.getResource(p, "a")).toEqual({ id: "a", version: 1, state: { count: 100 } });
      });

      it("writeStep moves a step barrier only from the state it names", async () => {
        const { p, s } = await setup();
        const tx = txId();
        const read = { txStartedAt: T0 - 5 };
        await s.writeStep(step(p, tx, "done"), undefined, [{ id: "a", version: 1, next: { count: 90 } }], T0);
        await expectConflict(
          s.writeStep(step(p, tx, "compensated"), { ...read, state: "failed" }, [], T0),
          true,
        );
        const compensated = step(p, tx, "compensated", { compensatedAt: T0 + 1 });
        await s.writeStep(
          compensated,
          { ...read, state: "done" },
          [{ id: "a", version: 2, next: { count: 100 } }],
          T0 + 1,
        );
        expect(await s.getStep(p, tx, 2)).toEqual({ ...compensated, expiresAt: expiresFrom(T0 + 1) });
        expect(await s.getResource(p, "a")).toEqual({ id: "a", version: 3, state: { count: 100 } });
        await expectConflict(s.writeStep(compensated, { ...read, state: "done" }, [], T0 + 2), true);
      });

      it("writeStep replaces an earlier incarnation's step barrier only as read, incarnation included", async () => {
        // A reused id's compensation writes its own `compensated` over the earlier transaction's;
        // a second copy that read the same old barrier must find it gone, not write again.
        const { p, s } = await setup();
        const tx = txId();
        const earlier = step(p, tx, "compensated", { txStartedAt: T0 - 50, compensatedAt: T0 - 40 });
        await s.writeStep(earlier, undefined, [], T0 - 40);
        const read = { state: "compensated", txStartedAt: T0 - 50 } as const;
        const mine = step(p, tx, "compensated", { txStartedAt: T0 - 5, compensatedAt: T0 });
        await expectConflict(s.writeStep(mine, { ...read, txStartedAt: T0 - 49 }, [], T0), true);
        expect(await s.getStep(p, tx, 2)).toMatchObject({ txStartedAt: T0 - 50 });
        await s.writeStep(mine, read, [], T0);
        expect(await s.getStep(p, tx, 2)).toEqual({ ...mine, expiresAt: expiresFrom(T0) });
        await expectConflict(s.writeStep({ ...mine, compensatedAt: T0 + 1 }, read, [], T0 + 1), true);
        expect(await s.getStep(p, tx, 2)).toEqual({ ...mine, expiresAt: expiresFrom(T0) });
      });

      it("loadForStep reads the step barrier, the 2PC barrier when asked, and the resources", async () => {
        const { p, s, barrier } = await setup();
        await s.prepare(barrier, T0);
        await s.writeStep(step(p, barrier.txId, "failed", { reason: "nope" }), undefined, [], T0);
        const all = await s.loadForStep(p, barrier.txId, 2, ["a", "ghost"], true);
        expect(all.step).toEqual({
          ...step(p, barrier.txId, "failed", { reason: "nope" }),
          expiresAt: expiresFrom(T0),
        });
        expect(all.barrier).toMatchObject({ txId: barrier.txId, state: "prepared" });
        expect([...all.resources.keys()]).toEqual(["a"]);
        const without = await s.loadForStep(p, barrier.txId, 2, [], false);
        expect(without.barrier).toBeUndefined();
        expect(without.resources.size).toBe(0);
        expect((await s.loadForStep(p, barrier.txId, 5, [], true)).step).toBeUndefined();
      });
    });

    describe("barrier lifetime: kept while anything may still be sent for it", () => {
      const step = (p: string, tx: string, state: StepBarrier["state"], branch = 2): StepBarrier => ({
        participant: p,
        txId: tx,
        branch,
        state,
        action: "add",
        txStartedAt: T0 - 5,
        createdAt: T0,
      });

      it("a done step barrier written long ago is still there, so its late compensation undoes the action", async () => {
        const { p, s } = await setup();
        const tx = txId();
        await s.writeStep(step(p, tx, "done"), undefined, [{ id: "a", version: 1, next: { count: 90 } }], T0);
        expect((await s.getStep(p, tx, 2))?.expiresAt).toBeUndefined();
        // A later stage's compensation was blocked for longer than the retention.
        await expiry.expire(p, muchLater);
        expect(await s.getStep(p, tx, 2)).toMatchObject({ state: "done" });
        const compensated = { ...step(p, tx, "compensated"), compensatedAt: muchLater };
        await s.writeStep(
          compensated,
          { state: "done", txStartedAt: T0 - 5 },
          [{ id: "a", version: 2, next: { count: 100 } }],
          muchLater,
        );
        expect(await s.getStep(p, tx, 2)).toEqual({ ...compensated, expiresAt: expiresFrom(muchLater) });
        expect(await s.getResource(p, "a")).toMatchObject({ version: 3, state: { count: 100 } });
      });

      it("failed and compensated step barriers are final when written: they expire a retention later", async () => {
        const { p, s } = await setup();
        const tx = txId();
        await s.writeStep({ ...step(p, tx, "failed"), reason: "nope" }, undefined, [], T0 + 10);
        await s.writeStep(step(p, tx, "compensated", 3), undefined, [], T0 + 20);
        expect((await s.getStep(p, tx, 2))?.expiresAt).toBe(expiresFrom(T0 + 10));
        expect((await s.getStep(p, tx, 3))?.expiresAt).toBe(expiresFrom(T0 + 20));
        await expiry.expire(p, muchLater);
        expect(await s.getStep(p, tx, 2)).toBeUndefined();
        expect(await s.getStep(p, tx, 3)).toBeUndefined();
      });

      it("an atomic stage's committed barrier is kept until finished; a plain 2PC one expires at its decision", async () => {
        const { p, s, barrier } = await setup();
        const stage: CounterBarrier = { ...barrier, sagaStage: true };
        await s.prepare(stage, T0);
        await s.commit(stage, T0 + 7);
        expect(await s.getBarrier(p, stage.txId)).toMatchObject({ state: "committed", sagaStage: true });
        expect((await s.getBarrier(p, stage.txId))?.expiresAt).toBeUndefined();
        const c = await s.putResource(p, "c", { count: 1 });
        const plain: CounterBarrier = {
          ...barrier,
          txId: txId(),
          planned: [{ id: "c", version: c.version, next: { count: 2 } }],
        };
        await s.prepare(plain, T0);
        await s.commit(plain, T0 + 8);
        expect((await s.getBarrier(p, plain.txId))?.expiresAt).toBe(expiresFrom(T0 + 8));
        const rolled: CounterBarrier = { ...barrier, txId: txId(), planned: [], sagaStage: true };
        await s.prepare(rolled, T0);
        await s.rollback(rolled, T0 + 9);
        expect((await s.getBarrier(p, rolled.txId))?.expiresAt).toBe(expiresFrom(T0 + 9));
        await expiry.expire(p, muchLater);
        expect(await s.getBarrier(p, stage.txId)).toMatchObject({ state: "committed" });
        expect(await s.getBarrier(p, plain.txId)).toBeUndefined();
      });

      it("finish gives this incarnation's kept barriers an expiry, once, and touches nothing else", async () => {
        const { p, s, barrier } = await setup();
        const tx = barrier.txId;
        const stage: CounterBarrier = { ...barrier, sagaStage: true };
        await s.prepare(stage, T0);
        await s.commit(stage, T0 + 1);
        await s.writeStep(step(p, tx, "done", 4), undefined, [], T0 + 2);
        await s.writeStep(step(p, tx, "compensated", 5), undefined, [], T0 + 3);
        // A step barrier of an earlier incarnation of the same id.
        await s.writeStep({ ...step(p, tx, "done", 6), txStartedAt: T0 - 99 }, undefined, [], T0 + 4);
        await s.finish(p, tx, T0 - 5, [2, 3, 4, 5, 6], T0 + 1_000);
        expect((await s.getBarrier(p, tx))?.expiresAt).toBe(expiresFrom(T0 + 1_000));
        expect((await s.getStep(p, tx, 4))?.expiresAt).toBe(expiresFrom(T0 + 1_000));
        expect((await s.getStep(p, tx, 5))?.expiresAt).toBe(expiresFrom(T0 + 3));
        expect((await s.getStep(p, tx, 6))?.expiresAt).toBeUndefined();
        expect(await s.getStep(p, tx, 2)).toBeUndefined();
        // Delivered again much later: the first expiry stands.
        await s.finish(p, tx, T0 - 5, [4], muchLater);
        expect((await s.getStep(p, tx, 4))?.expiresAt).toBe(expiresFrom(T0 + 1_000));
        // Another incarnation's finish leaves this one's barriers kept.
        const other = txId();
        await s.writeStep({ ...step(p, other, "done"), txStartedAt: T0 + 50 }, undefined, [], T0 + 60);
        await s.finish(p, other, T0 - 5, [2], T0 + 70);
        expect((await s.getStep(p, other, 2))?.expiresAt).toBeUndefined();
      });

      it("finish leaves a prepared barrier alone: it waits for its decision", async () => {
        const { p, s, barrier } = await setup();
        await s.prepare({ ...barrier, sagaStage: true }, T0);
        await s.finish(p, barrier.txId, T0 - 5, [0, 1], T0 + 1);
        expect(await s.getBarrier(p, barrier.txId)).toMatchObject({ state: "prepared" });
        expect((await s.getBarrier(p, barrier.txId))?.expiresAt).toBeUndefined();
      });

      it("rollbackUnprepared records the incarnation the ROLLBACK named, and expires a retention later", async () => {
        const { p, s } = await setup();
        const tx = txId();
        await s.rollbackUnprepared(p, tx, T0 + 3, T0 - 5);
        expect(await s.getBarrier(p, tx)).toMatchObject({
          state: "rolled_back",
          txStartedAt: T0 - 5,
          expiresAt: expiresFrom(T0 + 3),
        });
      });
    });
  });
}
