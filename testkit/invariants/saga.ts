/**
 * The saga invariants, per branch, from the ledger of effects in the order they
 * became durable: a committed saga applied every step once; a compensated one
 * undid every attempted step once, never applied a step after its compensation,
 * and undid its stages in reverse order; an atomic stage applied at all of its
 * participants or at none; and the view a client reads agrees with what the
 * participants hold.
 */
import { isFinal, type SagaRecord, type TxRecord } from "../../src/core/transaction.ts";
import { type BranchState, toView } from "../../src/core/view.ts";
import type { Entry, Violate } from "./snapshot.ts";

/** Where one branch's effects stand, from the ledger: positions of its applications and compensations. */
interface BranchEffects {
  readonly applied: number[];
  readonly undone: number[];
  /** Every compensation write, with or without effect: when the barrier closed. */
  readonly closed: number[];
}

/** A ledger entry and its position in the whole ledger (the order effects became durable). */
export interface Positioned {
  readonly at: number;
  readonly entry: Entry;
}

function effectsOf(tx: SagaRecord, entries: readonly Positioned[]): BranchEffects[] {
  const effects = tx.branches.map((): BranchEffects => ({ applied: [], undone: [], closed: [] }));
  for (const { at, entry: e } of entries) {
    if (e.kind === "commit") {
      // An atomic stage's commit applies the branches it prepared.
      for (const b of e.branches)
        if (tx.branches[b]?.participant === e.participant) effects[b]?.applied.push(at);
      continue;
    }
    const mine = effects[e.branch];
    if (!mine || e.kind === "failed") continue;
    if (e.kind === "action") {
      if (e.applied) mine.applied.push(at);
      continue;
    }
    mine.closed.push(at);
    if (e.applied) mine.undone.push(at);
  }
  return effects;
}

const APPLIED_IN_VIEW: ReadonlySet<BranchState> = new Set(["done", "committed"]);

export function checkSaga(
  tx: SagaRecord,
  entries: readonly Positioned[],
  agree: (tx: TxRecord, names: readonly string[], decision: "commit" | "abort", what: string) => void,
  violate: Violate,
): void {
  if (!isFinal(tx.state)) return;
  const effects = effectsOf(tx, entries);
  const committed = tx.state === "committed";
  effects.forEach((e, b) => {
    const at = `${tx.id}#${b} (${tx.branches[b]?.participant} ${tx.branches[b]?.action})`;
    if (e.applied.length > 1 || e.undone.length > 1 || e.closed.length > 1) {
      violate(
        "saga-exactly-once",
        `${at} applied ${e.applied.length}x, compensated ${e.undone.length}x, compensation recorded ${e.closed.length}x`,
      );
    }
    const firstClosed = e.closed[0];
    if (firstClosed !== undefined && e.applied.some((a) => a > firstClosed)) {
      violate("saga-barrier", `${at} applied after its compensation was recorded`);
    }
    if (committed && (e.applied.length !== 1 || e.closed.length > 0)) {
      violate(
        "saga-committed",
        `${at}: saga committed, step applied ${e.applied.length}x, compensation recorded ${e.closed.length}x`,
      );
    }
    if (!committed && e.applied.length !== e.undone.length) {
      violate(
        "saga-compensated",
        `${at}: saga compensated, step applied ${e.applied.length}x, undone ${e.undone.length}x`,
      );
    }
  });
  // Compensations in reverse stage order: a stage's are all recorded before any of an earlier stage's.
  if (!committed) {
    let latestLater = Number.NEGATIVE_INFINITY;
    let laterStage: number | undefined;
    for (let i = tx.stages.length - 1; i >= 0; i--) {
      const stage = tx.stages[i];
      if (!stage) continue;
      const closed = stage.branches.flatMap((b) => effects[b]?.closed ?? []);
      if (closed.length === 0) continue;
      if (Math.min(...closed) < latestLater) {
        violate(
          "saga-order",
          `${tx.id}: stage ${stage.stage}'s compensation began before stage ${laterStage}'s was done`,
        );
      }
      if (Math.max(...closed) > latestLater) {
        latestLater = Math.max(...closed);
        laterStage = stage.stage;
      }
    }
  }
  // Atomic stages: applied at every participant or at none, as their decision says.
  for (const stage of tx.stages) {
    const group = stage.atomic;
    if (!group) continue;
    const names = group.participants.map((p) => p.name);
    const applied = stage.branches.filter((b) => (effects[b]?.applied.length ?? 0) > 0).length;
    if (applied !== 0 && applied !== stage.branches.length) {
      violate(
        "atomic-stage",
        `${tx.id}: ${applied} of stage ${stage.stage}'s ${stage.branches.length} branches applied`,
      );
    }
    if (applied > 0 !== (group.decision === "commit")) {
      violate(
        "atomic-stage",
        `${tx.id}: stage ${stage.stage} decided ${group.decision ?? "nothing"}, ${applied} branches applied`,
      );
    }
    agree(tx, names, group.decision === "commit" ? "commit" : "abort", `${tx.id} stage ${stage.stage}`);
  }
  // What a client reads: the outcome, and each branch applied exactly when it says so.
  const view = toView(tx);
  if (view.status !== (committed ? "committed" : "aborted")) {
    violate("view-agreement", `${tx.id} is ${tx.state}, the view says ${view.status}`);
  }
  view.branches.forEach((branch, b) => {
    const e = effects[b];
    const net = (e?.applied.length ?? 0) - (e?.undone.length ?? 0);
    if (APPLIED_IN_VIEW.has(branch.state) !== (net === 1)) {
      violate(
        "view-agreement",
        `${tx.id}#${b} reads ${branch.state}, its effect stands ${net}x at ${branch.participant}`,
      );
    }
  });
}
