/**
 * The last voter's own commit, written with the decision (ports/alongside.ts).
 * A new path is a new transition: the step that decides, with the voter's ack
 * applied and its COMMIT dropped. Pure.
 */
import type { Effect, Policy, Step } from "./step.ts";
import { attemptOf, type TxEvent, type TxRecord } from "./transaction.ts";
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
    next: { ...acked.next, events: notSentTo(acked.next.events, own.participant) },
    effects: [...step.effects.filter((e) => !isOwn(e)), ...acked.effects],
    changed: true,
  };
}

/**
 * The timeline with the decision's `decision_sent` not naming `participant`:
 * its commit was written with the decision, no COMMIT was sent to it. Where the
 * event named only it, the event goes; where it named it among those it counts
 * but does not name (`participantsOmitted`), the count drops by one.
 */
function notSentTo(events: readonly TxEvent[], participant: string): TxEvent[] {
  const at = events.findLastIndex((e) => e.type === "decision_sent");
  const sent = events[at];
  if (sent === undefined) return [...events];
  const named = sent.participants ?? [];
  const omitted = sent.participantsOmitted ?? 0;
  let event: TxEvent | undefined;
  if (named.includes(participant)) {
    const participants = named.filter((p) => p !== participant);
    event = participants.length > 0 || omitted > 0 ? { ...sent, participants } : undefined;
  } else if (omitted > 0) {
    const { participantsOmitted: _o, ...rest } = sent;
    event = omitted > 1 ? { ...rest, participantsOmitted: omitted - 1 } : rest;
  } else return [...events];
  return [...events.slice(0, at), ...(event ? [event] : []), ...events.slice(at + 1)];
}
