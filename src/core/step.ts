/**
 * What every protocol's transitions share: the policy they run under, the
 * messages they ask for, and the step they return. Pure.
 */
import type { Decision, TxEvent, TxRecord } from "./transaction.ts";

export interface Policy {
  /** First re-send delay of a message that asks for work: PREPARE, a saga action. */
  readonly prepareRetryMs: number;
  /** First re-send delay of a message that must land: a decision, a compensation. */
  readonly decisionRetryMs: number;
  readonly backoffCapMs: number;
  readonly stalledAfterAttempts: number;
  /** Upper bound on the timeline kept in the record. */
  readonly maxEvents: number;
}

/** A message to send once the record that asks for it is durable. */
export type Effect =
  | { readonly kind: "prepare"; readonly participant: string }
  | { readonly kind: "decision"; readonly participant: string; readonly decision: Decision }
  /** Saga: run branch `branch`'s action. */
  | { readonly kind: "action"; readonly participant: string; readonly branch: number }
  /** Saga: run branch `branch`'s compensation. */
  | { readonly kind: "compensate"; readonly participant: string; readonly branch: number }
  /** Saga, once final: the participant may let the barriers it kept for it expire. */
  | { readonly kind: "finished"; readonly participant: string };

export interface Step<R extends TxRecord = TxRecord> {
  readonly next: R;
  readonly effects: readonly Effect[];
  /** False when the record is unchanged and must not be written. */
  readonly changed: boolean;
}

export const unchanged = <R extends TxRecord>(tx: R, effects: readonly Effect[] = []): Step<R> => ({
  next: tx,
  effects,
  changed: false,
});

/** Keeps the first events (how it started) and the latest ones (where it is now). */
export function appendEvents<R extends TxRecord>(tx: R, events: readonly TxEvent[], maxEvents: number): R {
  const all = [...tx.events, ...events];
  if (all.length <= maxEvents) return { ...tx, events: all };
  const head = Math.min(10, Math.floor(maxEvents / 4));
  const drop = all.length - maxEvents;
  return {
    ...tx,
    events: [...all.slice(0, head), ...all.slice(head + drop)],
    eventsDropped: tx.eventsDropped + drop,
  };
}
