/** Sending again what a saga waits on: at its due time, or all of it on an operator's retry. */
import { backoffMs } from "../backoff.ts";
import type { TxEvent } from "../transaction.ts";
import { type Draft, event, participantOf, setParticipant, setStep } from "./draft.ts";

export type Resend = "due" | "all";

/**
 * Sends again what the saga waits on: with `due`, what is due at `now`, with the
 * backoff growing; with `all` (an operator's retry), everything outstanding, with
 * the backoff starting over. Returns whether anything went out.
 */
export function resend(d: Draft, which: Resend): boolean {
  const { now, policy } = d;
  const pick = (dueAt: number | undefined) => dueAt !== undefined && (which === "all" || dueAt <= now);
  const next = (attempts: number) => (which === "all" ? 0 : attempts + 1);
  const delay = (base: number, attempts: number) =>
    which === "all" ? base : backoffMs(base, attempts, policy.backoffCapMs);
  // One event per kind, stage and attempt, however many messages it covers.
  const grouped = new Map<string, { e: Omit<TxEvent, "at">; branches: number[]; participants: string[] }>();
  const note = (e: Omit<TxEvent, "at">, member: { branch: number } | { participant: string }) => {
    const key = `${e.type}:${e.stage}:${e.attempt}`;
    const entry = grouped.get(key) ?? { e, branches: [], participants: [] };
    if ("branch" in member) entry.branches.push(member.branch);
    else entry.participants.push(member.participant);
    grouped.set(key, entry);
  };
  let sent = false;
  for (const [branch, step] of d.tx.steps.entries()) {
    if (step.status !== "running" && step.status !== "compensating") continue;
    if (!pick(step.dueAt)) continue;
    const action = step.status === "running";
    const attempts = next(step.attempts);
    const base = action ? policy.prepareRetryMs : policy.decisionRetryMs;
    setStep(d, branch, { ...step, attempts, dueAt: now + delay(base, attempts) });
    const participant = participantOf(d.tx, branch);
    d.effects.push(
      action ? { kind: "action", participant, branch } : { kind: "compensate", participant, branch },
    );
    sent = true;
    if (which === "all") {
      note({ type: "retry_requested" }, { branch });
      continue;
    }
    note({ type: action ? "action_resent" : "compensation_resent", attempt: attempts }, { branch });
    if (!action && attempts === policy.stalledAfterAttempts) {
      note({ type: "compensation_stalled", attempt: attempts }, { branch });
    }
  }
  for (const [index, stage] of d.tx.stages.entries()) {
    const group = stage.atomic;
    if (!group) continue;
    for (const p of group.participants) {
      if (!pick(p.dueAt)) continue;
      const attempts = next(p.attempts);
      const decision = group.decision;
      const base = decision === undefined ? policy.prepareRetryMs : policy.decisionRetryMs;
      // A waiter holds a copy of its PREPARE: more come no sooner than the waiting interval.
      const waits = decision === undefined && d.tx.waits?.[p.name] !== undefined;
      const after = waits ? Math.max(delay(base, attempts), policy.waitingRetryMs) : delay(base, attempts);
      setParticipant(d, index, { ...p, attempts, dueAt: now + after });
      d.effects.push(
        decision === undefined
          ? { kind: "prepare", participant: p.name }
          : { kind: "decision", participant: p.name, decision },
      );
      sent = true;
      if (which === "all") {
        note({ type: "retry_requested" }, { participant: p.name });
        continue;
      }
      const about = {
        stage: stage.stage,
        attempt: attempts,
        ...(decision !== undefined ? { decision } : {}),
      };
      note(
        { type: decision === undefined ? "prepare_resent" : "decision_resent", ...about },
        { participant: p.name },
      );
      if (decision !== undefined && attempts === policy.stalledAfterAttempts) {
        note({ type: "decision_stalled", ...about }, { participant: p.name });
      }
    }
  }
  for (const { e, branches, participants } of grouped.values()) {
    event(d, {
      ...e,
      ...(branches.length > 0 ? { branches } : {}),
      ...(participants.length > 0 ? { participants } : {}),
    });
  }
  return sent;
}
