/**
 * The saga's outcome: the abort decision, the commit once every stage
 * succeeded, and completion. Every way a saga becomes final passes through
 * `complete` here.
 */
import { withoutWaits } from "../atomic-group.ts";
import type { Reason } from "../reasons.ts";
import type { SagaRecord, SagaState } from "../transaction.ts";
import { compensateNext, owesCompensation } from "./backward.ts";
import { type Draft, event, participantOf } from "./draft.ts";
import { decideGroup, stageSucceeded, startStage } from "./forward.ts";

/**
 * The abort decision: undo everything attempted. The open atomic group, if
 * undecided, is rolled back (never compensated: it applied nothing).
 */
export function startCompensation(d: Draft, reason: Reason, failedBranch?: number): void {
  d.tx = {
    ...withoutWaits(d.tx),
    state: "compensating",
    decidedAt: d.now,
    reason,
    ...(failedBranch !== undefined ? { failedBranch } : {}),
  };
  event(d, { type: "decision", decision: "abort", reason });
  const open = d.tx.stages[d.tx.current];
  if (open?.atomic && open.atomic.decision === undefined) decideGroup(d, d.tx.current, "abort", reason);
  settle(d);
}

/** Every decided atomic group is acknowledged by all who had to hear it. */
const groupsSettled = (tx: SagaRecord): boolean =>
  tx.stages.every((s) => s.atomic?.decision === undefined || s.atomic.participants.every((p) => p.acked));

function complete(d: Draft, state: Extract<SagaState, "committed" | "compensated">): void {
  d.tx = { ...d.tx, state, completedAt: d.now };
  event(d, { type: "completed" });
  // Participants keep a `done` step barrier and an atomic stage's committed barrier
  // for as long as a compensation may come; now none can. A committed saga left
  // every step done; a compensated one only its committed atomic stages' barriers
  // (each compensation recorded gave its step barrier an expiry already).
  const holders = new Set<string>();
  for (const stage of d.tx.stages) {
    if (state === "committed" || stage.atomic?.decision === "commit") {
      for (const b of stage.branches) holders.add(participantOf(d.tx, b));
    }
  }
  d.effects.push(...[...holders].map((participant) => ({ kind: "finished" as const, participant })));
}

/** After any change: start what can start, finish what is finished. */
export function settle(d: Draft): void {
  if (d.tx.state === "running") {
    if (!stageSucceeded(d.tx, d.tx.current)) return;
    if (d.tx.current + 1 < d.tx.stages.length) {
      startStage(d, d.tx.current + 1);
      return;
    }
    // Every stage succeeded: that is the saga's commit.
    d.tx = { ...d.tx, state: "committing", decidedAt: d.now };
    event(d, { type: "decision", decision: "commit" });
  }
  if (d.tx.state === "committing") {
    if (groupsSettled(d.tx)) complete(d, "committed");
    return;
  }
  if (d.tx.state === "compensating") {
    compensateNext(d);
    if (groupsSettled(d.tx) && !d.tx.steps.some(owesCompensation)) complete(d, "compensated");
  }
}
