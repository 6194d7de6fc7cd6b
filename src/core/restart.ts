/**
 * Restarts of a 2PC transaction that died for contention (wait-die's die, a
 * deadlock victim) while its deadline has time left: the current attempt is
 * rolled back at every participant that may hold anything for it, and once
 * every one has acknowledged, the next attempt's PREPAREs go out under the same
 * id and the same age (`startedAt` is the record's `createdAt`, never renewed),
 * so wait-die keeps ranking it by when it first started and it cannot starve
 * (Rosenkrantz, Stearns, Lewis 1978). Pure.
 */
import { decided, decisionEffects, decisionTargets, prepareEffects, withoutWaits } from "./atomic-group.ts";
import { backoffMs } from "./backoff.ts";
import type { Reason } from "./reasons.ts";
import { appendEvents, type Policy, type Step } from "./step.ts";
import { attemptOf, type TwoPcRecord } from "./transaction.ts";

/** The first back-off of a die with no wake-up registered; it doubles with each attempt. */
const RESTART_BACKOFF_BASE_MS = 50;

/**
 * Ends the current attempt for `reason` and starts the next: ROLLBACK to every
 * participant that did not vote no (it may hold locks or reservations), or at
 * once the next attempt's PREPAREs when none did.
 */
export function restart(
  tx: TwoPcRecord,
  reason: Reason,
  now: number,
  policy: Policy,
  after?: string,
): Step<TwoPcRecord> {
  const participants = decided(tx.participants, "abort").map(({ name, branches, acked }) => ({
    name,
    branches,
    ...(acked ? { acked } : {}),
  }));
  const targets = decisionTargets(participants);
  const restarted = appendEvents(
    { ...withoutWaits(tx), participants, attempts: 0 },
    [{ at: now, type: "restarted", reason, attempt: attemptOf(tx) + 1, participants: targets }],
    policy.maxEvents,
  );
  const waiting: TwoPcRecord = {
    ...restarted,
    restarting: reason,
    ...(after !== undefined ? { restartAfter: after } : {}),
  };
  if (targets.length === 0) return released(waiting, now, policy);
  return {
    next: { ...waiting, dueAt: Math.min(tx.deadline, now + policy.decisionRetryMs) },
    effects: decisionEffects(targets, "abort"),
    changed: true,
  };
}

/**
 * Every participant released the attempt: the next one starts now, or, when it
 * died at a lock whose release is awaited, once that comes (or the sweep after
 * the PREPARE re-send interval, should the wake-up be lost).
 */
export function released(tx: TwoPcRecord, now: number, policy: Policy): Step<TwoPcRecord> {
  if (tx.restartWoken === true) return nextAttempt(tx, now, policy);
  if (tx.restartAfter === undefined) {
    // A die whose wake-up could not be registered (the lock changed hands, or the
    // conflict was not a lock a waiter can queue on) backs off before its next
    // attempt: restarting at once would meet the same holder again and again.
    if (tx.restarting !== "lock_conflict") return nextAttempt(tx, now, policy);
    const delay = backoffMs(RESTART_BACKOFF_BASE_MS, attemptOf(tx), policy.prepareRetryMs);
    return { next: { ...tx, dueAt: Math.min(tx.deadline, now + delay) }, effects: [], changed: true };
  }
  return {
    next: { ...tx, dueAt: Math.min(tx.deadline, now + policy.prepareRetryMs) },
    effects: [],
    changed: true,
  };
}

/** The restart the record was in is over: its next attempt starts, or it is decided or resolved instead. */
export function withoutRestart(tx: TwoPcRecord): TwoPcRecord {
  const { restarting: _r, restartAfter: _a, restartWoken: _w, ...rest } = tx;
  return rest;
}

/**
 * The lock the restart waits for is free: the next attempt starts now, or as
 * soon as the last participant has released this one (not after the back-off of
 * a die that registered no wake-up: this one came).
 */
export function lockReleased(tx: TwoPcRecord, now: number, policy: Policy): Step<TwoPcRecord> {
  if (decisionTargets(tx.participants).length === 0) return nextAttempt(tx, now, policy);
  return { next: { ...tx, restartWoken: true }, effects: [], changed: true };
}

/** Every participant released the attempt: PREPARE the next one everywhere. */
export function nextAttempt(tx: TwoPcRecord, now: number, policy: Policy): Step<TwoPcRecord> {
  const rest = withoutRestart(tx);
  const attempt = attemptOf(tx) + 1;
  const names = tx.participants.map((p) => p.name);
  const next: TwoPcRecord = {
    ...rest,
    attempt,
    participants: tx.participants.map(({ name, branches }) => ({ name, branches })),
    attempts: 0,
    dueAt: Math.min(tx.deadline, now + policy.prepareRetryMs),
  };
  return {
    next: appendEvents(next, [{ at: now, type: "prepare_sent", participants: names }], policy.maxEvents),
    effects: prepareEffects(names),
    changed: true,
  };
}

/** The sweep of a restart whose ROLLBACKs are not all acknowledged yet: send them again. */
export function resendRollbacks(tx: TwoPcRecord, now: number, policy: Policy): Step<TwoPcRecord> {
  const targets = decisionTargets(tx.participants);
  // All released, the wake-up awaited did not come within the interval: start anyway.
  if (targets.length === 0) return nextAttempt(tx, now, policy);
  const attempts = tx.attempts + 1;
  const next = appendEvents(
    {
      ...tx,
      attempts,
      dueAt: Math.min(tx.deadline, now + backoffMs(policy.decisionRetryMs, attempts, policy.backoffCapMs)),
    },
    [{ at: now, type: "decision_resent", decision: "abort", participants: targets, attempt: attempts }],
    policy.maxEvents,
  );
  return { next, effects: decisionEffects(targets, "abort"), changed: true };
}
