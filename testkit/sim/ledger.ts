/**
 * Every effect the bank store (and the simulated HTTP participant) made durable, in the order it did: a saga step's
 * action or compensation (applied, or recorded without writes), a 2PC commit (in two phases or one).
 * Balances say whether money moved right in total; the ledger says which step
 * moved it, how often, and in what order, so the saga invariants can be
 * checked per branch.
 */
import type { Barrier } from "../../src/participant-kit/barriers.ts";
import type { ResourceState } from "../../src/participant-kit/resource-model.ts";
import type { BankStore } from "../../src/participants/bank/bank-store.ts";
import type { Alongside } from "../../src/ports/alongside.ts";
import { asMemory, type MemoryAlongside } from "../memory/memory-alongside.ts";

/** Every entry names its transaction's incarnation (`startedAt`): an id may be used again. */
export type Entry =
  | {
      readonly kind: "action" | "compensation";
      readonly txId: string;
      readonly startedAt: number;
      readonly branch: number;
      /** Resources changed; false for a failed action, or a compensation with nothing to undo. */
      readonly applied: boolean;
    }
  | { readonly kind: "failed"; readonly txId: string; readonly startedAt: number; readonly branch: number }
  | {
      readonly kind: "commit";
      readonly txId: string;
      readonly startedAt: number;
      readonly participant: string;
      readonly branches: readonly number[];
    };

/** Participants' writes made in the record's own write (ports/alongside.ts), by kind. */
export interface AlongsideCounts {
  /** The last voter's commit, with its decision. */
  ownCommits: number;
  /** A vote with its prepare. */
  prepared: number;
  /** A vote with its branches applied at once, with the decision it makes. */
  committed: number;
}

export interface Ledger {
  readonly entries: readonly Entry[];
  readonly alongside: Readonly<AlongsideCounts>;
  /** The store, recording each write once it is durable. */
  wrap(store: BankStore): BankStore;
  /** An effect made durable elsewhere (the simulated HTTP participant). */
  record(entry: Entry): void;
}

const commitEntry = (barrier: Barrier<ResourceState>): Entry => ({
  kind: "commit",
  txId: barrier.txId,
  startedAt: barrier.txStartedAt ?? 0,
  participant: barrier.participant,
  branches: barrier.branches ?? [],
});

export function createLedger(): Ledger {
  const entries: Entry[] = [];
  const alongside: AlongsideCounts = { ownCommits: 0, prepared: 0, committed: 0 };
  return {
    entries,
    alongside,
    record: (entry) => {
      entries.push(entry);
    },
    wrap: (store) => wrapped(store, entries, alongside),
  };
}

/** `build`'s part, running `then` once the record's write applies it (not when it is built). */
const onApply =
  <B>(build: (barrier: B, now: number) => Alongside, then: (barrier: B) => void) =>
  (barrier: B, now: number): MemoryAlongside => {
    const part = asMemory(build(barrier, now));
    return {
      ...part,
      apply: () => {
        part.apply();
        then(barrier);
      },
    };
  };

/** `store`, recording each effect in `entries` once it is durable. */
function wrapped(store: BankStore, entries: Entry[], counts: AlongsideCounts): BankStore {
  const { commitAlongside, prepareAlongside, commitOnePhaseAlongside } = store;
  return {
    ...store,
    async writeStep(step, from, planned, now) {
      await store.writeStep(step, from, planned, now);
      const at = { txId: step.txId, startedAt: step.txStartedAt, branch: step.branch };
      const applied = planned.some((p) => p.next !== undefined || p.moves !== undefined);
      if (step.state === "failed") entries.push({ kind: "failed", ...at });
      else entries.push({ kind: step.state === "done" ? "action" : "compensation", ...at, applied });
    },
    async commitOnePhase(barrier, now) {
      await store.commitOnePhase(barrier, now);
      entries.push(commitEntry(barrier));
    },
    async commit(barrier, now) {
      await store.commit(barrier, now);
      entries.push(commitEntry(barrier));
    },
    ...(commitAlongside
      ? {
          commitAlongside: onApply(commitAlongside.bind(store), (barrier) => {
            entries.push(commitEntry(barrier));
            counts.ownCommits++;
          }),
        }
      : {}),
    ...(prepareAlongside && commitOnePhaseAlongside
      ? {
          prepareAlongside: onApply(prepareAlongside.bind(store), () => {
            counts.prepared++;
          }),
          commitOnePhaseAlongside: onApply(commitOnePhaseAlongside.bind(store), (barrier) => {
            entries.push(commitEntry(barrier));
            counts.committed++;
          }),
        }
      : {}),
  };
}
