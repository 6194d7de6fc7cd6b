/** Moving forward: starting a stage, and deciding an atomic stage's 2PC group. */
import { decided, decisionEffects, decisionTargets, prepareEffects, withoutWaits } from "../atomic-group.ts";
import type { Reason } from "../reasons.ts";
import type { AtomicParticipant, Decision, SagaRecord } from "../transaction.ts";
import { type Draft, event, participantOf, setGroup, setStep, withoutDue } from "./draft.ts";

export function startStage(d: Draft, index: number): void {
  const stage = d.tx.stages[index];
  if (!stage) return;
  const { now, policy } = d;
  d.tx = { ...d.tx, current: index };
  event(d, { type: "stage_started", stage: stage.stage, branches: stage.branches });
  if (stage.atomic) {
    const participants = stage.atomic.participants.map((p) => ({
      ...p,
      attempts: 0,
      dueAt: now + policy.prepareRetryMs,
    }));
    setGroup(d, index, { ...stage.atomic, participants });
    const names = participants.map((p) => p.name);
    event(d, { type: "prepare_sent", stage: stage.stage, participants: names });
    d.effects.push(...prepareEffects(names));
    return;
  }
  for (const b of stage.branches) {
    setStep(d, b, { status: "running", attempts: 0, dueAt: now + policy.prepareRetryMs });
  }
  event(d, { type: "action_sent", stage: stage.stage, branches: stage.branches });
  d.effects.push(
    ...stage.branches.map((branch) => ({
      kind: "action" as const,
      participant: participantOf(d.tx, branch),
      branch,
    })),
  );
}

export function stageSucceeded(tx: SagaRecord, index: number): boolean {
  const stage = tx.stages[index];
  if (!stage) return false;
  if (stage.atomic) return stage.atomic.decision === "commit";
  return stage.branches.every((b) => tx.steps[b]?.status === "done");
}

export function decideGroup(d: Draft, index: number, decision: Decision, reason?: Reason): void {
  const stage = d.tx.stages[index];
  if (!stage?.atomic) return;
  const { now, policy } = d;
  // Those that hear the decision get it on a fresh schedule; the others are owed nothing.
  const participants = decided(stage.atomic.participants, decision).map(
    (p): AtomicParticipant =>
      p.acked ? withoutDue(p) : { ...p, attempts: 0, dueAt: now + policy.decisionRetryMs },
  );
  setGroup(d, index, { participants, decision, decidedAt: now });
  // Only the open atomic stage can wait for locks: once it is decided, nothing waits.
  d.tx = withoutWaits(d.tx);
  event(d, {
    type: "stage_decision",
    stage: stage.stage,
    decision,
    ...(reason !== undefined ? { reason } : {}),
  });
  const targets = decisionTargets(participants);
  if (targets.length > 0) {
    event(d, { type: "decision_sent", stage: stage.stage, decision, participants: targets });
    d.effects.push(...decisionEffects(targets, decision));
  }
  if (decision === "commit") for (const b of stage.branches) setStep(d, b, { status: "done", attempts: 0 });
}
