import type { BankStore } from "../../src/participants/bank/bank-store.ts";

/**
 * Deliberately broken stores, to show the simulation catches real bugs.
 * - rollback-applies: a ROLLBACK applies the reservation as a COMMIT would.
 * - no-rollback-barrier: a ROLLBACK before its PREPARE leaves no barrier, so the late PREPARE hangs.
 * - no-compensation-barrier: a saga compensation for an action that has not run records
 *   nothing, so the late action applies after its compensation.
 * - expires-at-write: a done step barrier, and an atomic stage's committed barrier,
 *   expire a retention after they are written (as they once did), not after the saga ends.
 * - decision-ignores-incarnation: a decision is judged on the barrier as if it were always
 *   its own incarnation's (as before decisions named one).
 * - reused-id-compensation-records-nothing: a compensation with nothing to undo that meets an
 *   earlier transaction's step barrier under a reused id records nothing (as it once did), so
 *   once that barrier expires a copy records it late, or a late copy of the action applies.
 * - decision-ignores-attempt: a barrier is read without its attempt, so a late ROLLBACK of a
 *   restarted transaction's earlier attempt releases the later attempt's locks and holds.
 */
export const MUTANTS = {
  "rollback-applies": (store: BankStore): BankStore => ({ ...store, rollback: store.commit }),
  "expires-at-write": (store: BankStore): BankStore => ({
    ...store,
    async writeStep(step, from, planned, now) {
      await store.writeStep(step, from, planned, now);
      if (step.state === "done") {
        await store.finish(step.participant, step.txId, step.txStartedAt, [step.branch], now);
      }
    },
    async commit(barrier, now) {
      await store.commit(barrier, now);
      await store.finish(barrier.participant, barrier.txId, barrier.txStartedAt ?? 0, [], now);
    },
  }),
  "decision-ignores-incarnation": (store: BankStore): BankStore => {
    // The decision reads the barrier without its incarnation; what it writes is the stored barrier.
    const stored = async <B extends { participant: string; txId: string }>(barrier: B): Promise<B> => ({
      ...barrier,
      ...(await store.getBarrier(barrier.participant, barrier.txId)),
    });
    return {
      ...store,
      async getBarrier(participant, txId) {
        const barrier = await store.getBarrier(participant, txId);
        if (!barrier) return undefined;
        const { txStartedAt: _s, ...rest } = barrier;
        return rest;
      },
      commit: async (barrier, now) => store.commit(await stored(barrier), now),
      rollback: async (barrier, now) => store.rollback(await stored(barrier), now),
    };
  },
  "decision-ignores-attempt": (store: BankStore): BankStore => ({
    ...store,
    async getBarrier(participant, txId) {
      const barrier = await store.getBarrier(participant, txId);
      if (!barrier) return undefined;
      const { attempt: _a, ...rest } = barrier;
      return rest;
    },
  }),
  "no-rollback-barrier": (store: BankStore): BankStore => ({ ...store, rollbackUnprepared: async () => {} }),
  "no-compensation-barrier": (store: BankStore): BankStore => ({
    ...store,
    async writeStep(step, from, planned, now) {
      const nothingToUndo = step.state === "compensated" && from === undefined && planned.length === 0;
      if (!nothingToUndo) await store.writeStep(step, from, planned, now);
    },
  }),
  "reused-id-compensation-records-nothing": (store: BankStore): BankStore => ({
    ...store,
    async writeStep(step, from, planned, now) {
      const overEarlier =
        step.state === "compensated" && from !== undefined && from.txStartedAt !== step.txStartedAt;
      if (!overEarlier || planned.length > 0) await store.writeStep(step, from, planned, now);
    },
  }),
} as const satisfies Record<string, (store: BankStore) => BankStore>;
export type BankMutant = keyof typeof MUTANTS;

/**
 * A dispatcher broken the way it once was, to show the simulation catches it.
 * - late-prepare-votes-no: a PREPARE past its deadline votes no (`timeout`), which
 *   excuses the participant from the ROLLBACK though an earlier copy may have prepared it.
 * - bare-404-acknowledges: any 404 to a ROLLBACK acknowledges it, a gateway's too.
 */
export const HTTP_MUTANTS = ["late-prepare-votes-no", "bare-404-acknowledges"] as const;
export type HttpMutant = (typeof HTTP_MUTANTS)[number];
/**
 * A coordinator broken the way a naive one-phase commit would be, to show the simulation catches it.
 * - one-phase-aborts-alone: at the deadline (or an operator's abort) a one-phase transaction is
 *   decided abort at once instead of asking its participant, which may have committed already.
 */
export const COORDINATOR_MUTANTS = ["one-phase-aborts-alone"] as const;
export type CoordinatorMutant = (typeof COORDINATOR_MUTANTS)[number];

/**
 * Direct answers broken on purpose (they need a seed with direct answers).
 * - direct-blind-write: a participant's direct answer writes the record over whatever
 *   version is stored (read, then write without the version condition), as a
 *   "cheaper" direct vote might: a concurrent writer's change (another vote, a
 *   deadline abort) is lost.
 * - self-delivery-before-durable: a deciding write's message to the answering participant
 *   itself is held before the write, not after it is durable: when the write fails or loses
 *   its race (a deadline abort), the participant applies a decision nothing durable backs.
 * - commit-alongside-apart: the last voter's commit, offered for the decision's write, is
 *   written before it and apart from it, as two writes: when the decision's write then fails
 *   or loses its race (a deadline abort), the commit stands with nothing durable behind it.
 * - vote-before-its-prepare: a participant's part of the record's write (a vote's prepare,
 *   the last voter's commit) is written after the record's and apart from it: when the
 *   process dies between the two, or the part's condition then fails (the funds went to
 *   another transfer meanwhile), a yes vote stands on a prepare that is not there.
 */
export const DIRECT_MUTANTS = [
  "direct-blind-write",
  "self-delivery-before-durable",
  "commit-alongside-apart",
  "vote-before-its-prepare",
] as const;
export type DirectMutant = (typeof DIRECT_MUTANTS)[number];

export type Mutant = BankMutant | HttpMutant | CoordinatorMutant | DirectMutant;
export const isHttpMutant = (m: Mutant | undefined): m is HttpMutant =>
  HTTP_MUTANTS.includes(m as HttpMutant);
/** Mutants of the bank store. */
export const isBankMutant = (m: Mutant | undefined): m is BankMutant =>
  m !== undefined && Object.hasOwn(MUTANTS, m);
