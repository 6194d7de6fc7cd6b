/** Moving backward: compensating what was attempted, latest stage first. */
import type { SagaStep } from "../transaction.ts";
import { type Draft, event, participantOf, setStep } from "./draft.ts";

/** The branch's action was attempted (or its atomic group committed) and is not undone yet. */
export const owesCompensation = (step: SagaStep | undefined): boolean =>
  step !== undefined && step.status !== "pending" && step.status !== "compensated";

/**
 * Sends the compensations of the latest stage that still owes some; earlier
 * stages wait until it is undone. An atomic stage's branch is undone only once
 * its participant acknowledged the commit: a compensation must not overtake the
 * COMMIT that applies what it undoes.
 */
export function compensateNext(d: Draft): void {
  for (let i = d.tx.current; i >= 0; i--) {
    const stage = d.tx.stages[i];
    if (!stage) continue;
    const owed = stage.branches.filter((b) => owesCompensation(d.tx.steps[b]));
    if (owed.length === 0) continue;
    const applied = new Set(stage.atomic?.participants.filter((p) => p.acked).map((p) => p.name));
    const ready = owed.filter(
      (b) =>
        d.tx.steps[b]?.status !== "compensating" &&
        (stage.atomic === undefined || applied.has(participantOf(d.tx, b))),
    );
    if (ready.length === 0) return;
    for (const b of ready) {
      const before = d.tx.steps[b];
      // A failed action stays known as failed: its compensation undoes nothing.
      const actionFailed = before?.status === "failed" ? (before.reason ?? "action_failed") : undefined;
      setStep(d, b, {
        status: "compensating",
        attempts: 0,
        dueAt: d.now + d.policy.decisionRetryMs,
        ...(actionFailed !== undefined ? { actionFailed } : {}),
      });
    }
    event(d, { type: "compensation_sent", stage: stage.stage, branches: ready });
    d.effects.push(
      ...ready.map((branch) => ({
        kind: "compensate" as const,
        participant: participantOf(d.tx, branch),
        branch,
      })),
    );
    return;
  }
}
