/**
 * A record's update with a participant's commit alongside (ports/alongside.ts):
 * both or neither, whatever stores them. Run on DynamoDB (the transactions and
 * a participant table, one TransactWriteItems) and in memory.
 */
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { Barrier } from "../../src/participant-kit/barriers.ts";
import type { ParticipantStore } from "../../src/participant-kit/participant-store.ts";
import { AlongsideRefusedError } from "../../src/ports/alongside.ts";
import type { TransactionStore } from "../../src/ports/transaction-store.ts";
import type { CounterState } from "./participant-store.contract.ts";
import { record } from "./transaction-store.contract.ts";

const T0 = 1_700_000_000_000;

export interface Stores {
  readonly transactions: TransactionStore;
  readonly participants: ParticipantStore<CounterState>;
}

export function alongsideContract(name: string, fresh: () => Promise<Stores>): void {
  /** A created record, a counter `a` at 100 on a fresh participant, and a barrier reserving 30 of it, not written. */
  async function counterAndBarrier() {
    const { transactions, participants } = await fresh();
    const tx = record();
    await transactions.create(tx);
    const p = `p-${randomUUID().slice(0, 8)}`;
    await participants.putResource(p, "a", { count: 100 });
    const barrier: Barrier<CounterState> = {
      participant: p,
      txId: tx.id,
      state: "prepared",
      planned: [{ id: "a", version: 1, moves: { count: -30 } }],
      createdAt: T0,
      txStartedAt: tx.createdAt,
    };
    return { transactions, participants, tx, p, barrier };
  }

  describe(`a record's update with a participant's commit alongside: ${name}`, () => {
    /** A created record, a counter `a` at 100 on a fresh participant, and a barrier reserving 30 of it, prepared. */
    async function setup() {
      const { transactions, participants, tx, p, barrier } = await counterAndBarrier();
      await participants.prepare(barrier, T0);
      const part = participants.commitAlongside;
      if (!part) throw new Error(`${name}: the participant store offers no commit alongside`);
      const alongside = (b: Barrier<CounterState>) => part.call(participants, b, T0 + 1);
      const next = { ...tx, version: tx.version + 1, state: "committing" as const, decidedAt: T0 + 1 };
      return { transactions, participants, tx, next, p, barrier, alongside };
    }

    it("writes both: the record, and the participant's barrier committed with its move applied", async () => {
      const { transactions, participants, tx, next, p, barrier, alongside } = await setup();
      expect(await transactions.update(tx, next, alongside(barrier))).toEqual({ saved: true });
      expect(await transactions.get(tx.id)).toMatchObject({ state: "committing", version: next.version });
      expect(await participants.getBarrier(p, tx.id)).toMatchObject({ state: "committed" });
      const a = await participants.getResource(p, "a");
      expect(a?.state).toEqual({ count: 70 });
      expect(a?.holds?.count?.reserved ?? 0).toBe(0);
    });

    it("a lost race on the record writes neither and returns the record that won", async () => {
      const { transactions, participants, tx, next, p, barrier, alongside } = await setup();
      const won = { ...tx, version: tx.version + 1, state: "aborting" as const, decidedAt: T0 };
      expect(await transactions.update(tx, won)).toEqual({ saved: true });
      const outcome = await transactions.update(tx, next, alongside(barrier));
      expect(outcome.saved).toBe(false);
      expect(!outcome.saved && outcome.current).toMatchObject({ state: "aborting" });
      expect(await participants.getBarrier(p, tx.id)).toMatchObject({ state: "prepared" });
      expect((await participants.getResource(p, "a"))?.state).toEqual({ count: 100 });
    });

    it("a refused part (its barrier no longer prepared) writes neither and throws AlongsideRefusedError", async () => {
      const { transactions, participants, tx, next, p, barrier, alongside } = await setup();
      await participants.commit(barrier, T0 + 1);
      const err = await transactions.update(tx, next, alongside(barrier)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AlongsideRefusedError);
      expect(await transactions.get(tx.id)).toMatchObject({ state: "preparing", version: tx.version });
      // Applied once, by the commit alone.
      expect((await participants.getResource(p, "a"))?.state).toEqual({ count: 70 });
    });

    it("a part of another incarnation's barrier is refused: the condition names the incarnation", async () => {
      const { transactions, participants, tx, next, p, barrier, alongside } = await setup();
      const err = await transactions
        .update(tx, next, alongside({ ...barrier, txStartedAt: tx.createdAt + 1 }))
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AlongsideRefusedError);
      expect(await transactions.get(tx.id)).toMatchObject({ state: "preparing" });
      expect(await participants.getBarrier(p, tx.id)).toMatchObject({ state: "prepared" });
    });
  });

  describe(`a record's update with a participant's prepare alongside (a vote with its prepare): ${name}`, () => {
    /** The same, the barrier not written. */
    async function setup() {
      const { transactions, participants, tx, p, barrier } = await counterAndBarrier();
      const { prepareAlongside, commitOnePhaseAlongside } = participants;
      if (!prepareAlongside || !commitOnePhaseAlongside)
        throw new Error(`${name}: the participant store offers no prepare alongside`);
      const voted = { ...tx, version: tx.version + 1 };
      return {
        transactions,
        participants,
        tx,
        voted,
        p,
        barrier,
        prepare: (b: Barrier<CounterState>) => prepareAlongside.call(participants, b, T0),
        commit: (b: Barrier<CounterState>) =>
          commitOnePhaseAlongside.call(participants, { ...b, state: "committed", decidedAt: T0 }, T0),
      };
    }

    it("writes both: the vote's record, and the barrier prepared with its reservation", async () => {
      const { transactions, participants, tx, voted, p, barrier, prepare } = await setup();
      expect(await transactions.update(tx, voted, prepare(barrier))).toEqual({ saved: true });
      expect(await transactions.get(tx.id)).toMatchObject({ version: voted.version });
      expect(await participants.getBarrier(p, tx.id)).toMatchObject({ state: "prepared" });
      const a = await participants.getResource(p, "a");
      expect(a?.state).toEqual({ count: 100 });
      expect(a?.holds?.count?.reserved).toBe(30);
      // Prepared as `prepare` prepares: it may be in doubt, and its commit takes it.
      expect((await participants.preparedBefore(p, T0 + 1, 10)).map((b) => b.txId)).toEqual([tx.id]);
      await participants.commit(barrier, T0 + 1);
      expect((await participants.getResource(p, "a"))?.state).toEqual({ count: 70 });
    });

    it("the deciding vote writes the barrier committed and the move applied at once, never in doubt", async () => {
      const { transactions, participants, tx, voted, p, barrier, commit } = await setup();
      const deciding = { ...voted, state: "committing" as const, decidedAt: T0 };
      expect(await transactions.update(tx, deciding, commit(barrier))).toEqual({ saved: true });
      expect(await transactions.get(tx.id)).toMatchObject({ state: "committing" });
      expect(await participants.getBarrier(p, tx.id)).toMatchObject({ state: "committed" });
      const a = await participants.getResource(p, "a");
      expect(a?.state).toEqual({ count: 70 });
      expect(a?.holds?.count?.reserved ?? 0).toBe(0);
      expect(await participants.preparedBefore(p, T0 + 1, 10)).toEqual([]);
    });

    it("a lost race on the record writes neither: no barrier, no reservation", async () => {
      const { transactions, participants, tx, voted, p, barrier, prepare } = await setup();
      const won = { ...tx, version: tx.version + 1, state: "aborting" as const, decidedAt: T0 };
      expect(await transactions.update(tx, won)).toEqual({ saved: true });
      const outcome = await transactions.update(tx, voted, prepare(barrier));
      expect(outcome.saved).toBe(false);
      expect(!outcome.saved && outcome.current).toMatchObject({ state: "aborting" });
      expect(await participants.getBarrier(p, tx.id)).toBeUndefined();
      expect((await participants.getResource(p, "a"))?.holds?.count?.reserved ?? 0).toBe(0);
    });

    it("a refused part writes neither: a barrier there already, or a move that no longer fits", async () => {
      const { transactions, participants, tx, voted, p, barrier, prepare, commit } = await setup();
      // The funds went to another transaction meanwhile: 80 of the 100 reserved.
      await participants.prepare(
        { ...barrier, txId: `${tx.id}-other`, planned: [{ id: "a", version: 1, moves: { count: -80 } }] },
        T0,
      );
      for (const part of [prepare(barrier), commit(barrier)]) {
        const err = await transactions.update(tx, voted, part).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(AlongsideRefusedError);
      }
      expect(await transactions.get(tx.id)).toMatchObject({ version: tx.version });
      expect(await participants.getBarrier(p, tx.id)).toBeUndefined();
      // A duplicate PREPARE that prepared on its own first: the barrier is there.
      const again = await setup();
      await again.participants.prepare(again.barrier, T0);
      const err = await again.transactions
        .update(again.tx, again.voted, again.prepare(again.barrier))
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AlongsideRefusedError);
      expect(await again.transactions.get(again.tx.id)).toMatchObject({ version: again.tx.version });
    });
  });
}
