/**
 * The last voter's own commit, written with the decision (ports/alongside.ts).
 * A new path is a new transition: the step that decides, with the voter's ack
 * applied and its COMMIT dropped. Pure.
 */
import type { Effect, Policy, Step } from "./step.ts";
import { attemptOf, type TxRecord } from "./transaction.ts";
import { onAck } from "./transitions.ts";

/**
 * When `step` (taken on `before`) decides a 2PC transaction to commit and asks
 * for a COMMIT to `own.participant` at `own.attempt`, `before` being the
 * incarnation the participant prepared for (`own.startedAt`): the same step, with that
 * participant acknowledged and that COMMIT left out, for a write that also
 * applies the commit there. Otherwise undefined: the step goes as it is.
 */
export function withOwnCommit(
  before: TxRecord,
  step: Step,
  own: { readonly participant: string; readonly attempt: number; readonly startedAt: number },
  now: number,
  policy: Policy,
): Step | undefined {
  const { next } = step;
  if (next.protocol !== "2pc" || before.state !== "preparing" || next.state !== "committing")
    return undefined;
  // Its barrier is of this incarnation (an id may serve again) and this attempt.
  if (before.createdAt !== own.startedAt || attemptOf(next) !== own.attempt) return undefined;
  const isOwn = (e: Effect) =>
    e.kind === "decision" && e.participant === own.participant && e.decision === "commit";
  if (!step.effects.some(isOwn)) return undefined;
  const acked = onAck(
    next,
    { participant: own.participant, decision: "commit", attempt: own.attempt },
    now,
    policy,
  );
  if (!acked.changed) return undefined;
  return {
    next: acked.next,
    effects: [...step.effects.filter((e) => !isOwn(e)), ...acked.effects],
    changed: true,
  };
}
